"""Keep a local model of a device's requests and sensors in step with it.

:class:`InspectingClient` wraps a :class:`~katcp_sync.client.DeviceClient`.
Whenever the client becomes "connected" (its protocol is known) and
whenever the device sends ``#interface-changed``, it *inspects* the device:
``?help``, ``?sensor-list`` and, when the device advertises flag ``T``,
``?request-timeout-hint`` are sent together (pipelined). From their informs
it builds a :class:`DeviceModel` and hands it to the owner's ``on_model``
hook, which may return a future (e.g. for re-applying sampling strategies);
once that future is done the state becomes ``synced``.

Theory of operation
-------------------
Nothing here blocks and no thread is created: the sync is a chain of
``concurrent.futures`` done-callbacks, which run on the client's reactor
thread. That is what lets hundreds of resources share one reactor. Each
sync round gets a *generation* number; a disconnect or a newer
``#interface-changed`` bumps it, and the callbacks of an older round see
that they are stale and do nothing. A failed round is retried after an
exponentially growing, jittered delay (reactor timer) while connected.

States are plain strings: ``"disconnected"``, ``"syncing"``, ``"synced"``.
Threads may wait for a state with :meth:`InspectingClient.until_state`
(a :class:`threading.Condition` with a bounded timeout).
"""

from __future__ import absolute_import, division, print_function

import concurrent.futures
import logging
import random  # noqa: F401 (katcp-python code patches inspecting_client.random.random)
import threading
from typing import Any, Callable, Dict, Iterable, List, NamedTuple, Optional, Tuple

from . import compat
from .backoff import ExponentialRandomBackoff
from .client import DeviceClient
from .client_base import parse_timeout_hint
from .deadline import Deadline
from .errors import FailReply, KATCPResourceInactive, KatcpTimeoutError
from .formatting import format_seconds
from .futures import chain_future
from .message import Message
from .reactor import TimerHandle

__all__ = [
    "DISCONNECTED",
    "SYNCING",
    "SYNCED",
    "STATES",
    "RequestInfo",
    "SensorInfo",
    "DeviceModel",
    "InspectingClient",
    "InspectingClientAsync",
    "ExponentialRandomBackoff",
    "all_done",
    "chain_future",
    "wait_future",
]

DISCONNECTED = "disconnected"
SYNCING = "syncing"
SYNCED = "synced"
#: Every state a resource can be in, in the order they are reached.
STATES = (DISCONNECTED, SYNCING, SYNCED)

logger = logging.getLogger(__name__)

#: A request's ``(reply, informs)``, and the futures of one inspection round by request name.
_Reply = Tuple[Message, List[Message]]
_ReplyFutures = Dict[str, "concurrent.futures.Future[_Reply]"]


class RequestInfo(NamedTuple('RequestInfo', [('name', str), ('description', str), ('timeout_hint', Optional[float])])):
    """What the device told us about one request.

    Attributes:
        name: the KATCP request name (e.g. ``"pick-fruit"``).
        description: the ``#help`` text.
        timeout_hint: ``?request-timeout-hint`` in seconds, or ``None``.

    Immutable: any thread may read it.
    """
    __slots__ = ()


class SensorInfo(NamedTuple('SensorInfo', [('name', str), ('description', str), ('units', str), ('type', str), ('params', Tuple[str, ...])])):
    """One ``#sensor-list`` inform, decoded to text.

    Attributes:
        name, description, units, type: as on the wire (type e.g. ``"float"``).
        params: the type parameters (``list[str]``), e.g. discrete values.

    Immutable: any thread may read it.
    """
    __slots__ = ()


class DeviceModel(NamedTuple('DeviceModel', [('requests', Dict[str, RequestInfo]), ('sensors', Dict[str, SensorInfo])])):
    """The inspected interface of a device: ``{name: info}`` for each kind.

    Made whole on the reactor thread and never changed after (a new one
    replaces it on each inspection): any thread may read it.
    """
    __slots__ = ()


def all_done(futures):
    # type: (Iterable[concurrent.futures.Future]) -> concurrent.futures.Future
    """Return a future that completes (with ``None``) once every future is done.

    It never fails: the caller inspects the individual futures. Unlike
    :func:`concurrent.futures.wait` it does not block.
    """
    futures = list(futures)
    result = compat.Future()  # type: concurrent.futures.Future
    remaining = [len(futures)]
    lock = threading.Lock()

    def one_done(_fut):
        # type: (concurrent.futures.Future) -> None
        with lock:
            remaining[0] -= 1
            last = remaining[0] == 0
        if last:
            result.set_result(None)

    if not futures:
        result.set_result(None)
    for fut in futures:
        fut.add_done_callback(one_done)
    return result


def wait_future(future, timeout, what):
    # type: (concurrent.futures.Future, Optional[float], str) -> Any
    """Block until ``future`` is done and return its result.

    Raises:
        KatcpTimeoutError: not done within ``timeout`` seconds (``None``:
            wait for as long as it takes).
        Exception: whatever the future failed with.
    """
    try:
        return compat.future_result(future, timeout)
    except compat.ResultTimeout:
        raise compat.chained(KatcpTimeoutError("%s timed out after %s s" % (what, format_seconds(timeout))), None)


class InspectingClientAsync(object):
    """Not provided: katcp-python's tornado-based inspecting client.

    The name exists so that modules which import it still load (as
    katcp-python's own test module does); making one raises
    :exc:`NotImplementedError`, which names what to use instead:
    :class:`~katcp_sync.resource.KATCPClientResource` (the high-level client,
    with ``req``/``sensor`` and ``until_synced``) or :class:`InspectingClient`
    (the device model kept in step, over a :class:`~katcp_sync.client.DeviceClient`).
    Any thread (it only raises).
    """

    def __init__(self, *args, **kwargs):
        # type: (*Any, **Any) -> None
        raise NotImplementedError(
            "katcp_sync has no InspectingClientAsync (katcp-python's tornado inspecting client):"
            " use katcp_sync.KATCPClientResource, or katcp_sync.inspecting_client.InspectingClient"
            " over a DeviceClient")


class InspectingClient(object):
    """A device client plus a synced model of the device's interface.

    Args:
        client: a not-yet-started :class:`~katcp_sync.client.DeviceClient`.
        on_model: called as ``on_model(model)`` on the reactor thread after
            every successful inspection. It may return a future; the state
            becomes ``synced`` once that future is done. Must not block.
        sync_timeout: timeout in seconds of each inspection request.
        retry_delay: first retry delay after a failed inspection (doubles
            up to ``max_retry_delay``; each delay is jittered down by up to
            half, see :class:`~katcp_sync.backoff.ExponentialRandomBackoff`).
        name: used in log messages.

    All public methods may be called from any thread.
    """

    def __init__(
        self,
        client,
        on_model,
        sync_timeout=20.0,
        retry_delay=0.5,
        max_retry_delay=30.0,
        name=""):
        # type: (DeviceClient, Callable[[DeviceModel], Optional[concurrent.futures.Future]], float, float, float, str) -> None
        self.client = client
        self._on_model = on_model
        self._sync_timeout = sync_timeout
        # katcp-python's jitter was a factor of 0.05 to 1; half to all keeps
        # retries of many resources apart without retrying far too early.
        self._backoff = ExponentialRandomBackoff(retry_delay, max_retry_delay, exp_fac=2.0, randomicity=0.5)
        self._name = name
        self._cond = compat.Condition()
        self._state = DISCONNECTED
        self._generation = 0
        self._stopped = False
        self._retry_handle = None  # type: Optional[TimerHandle]
        # The generation whose inspection replies are awaited, and whether the
        # device announced a change since that round was asked for.
        self._inspecting = None  # type: Optional[int]
        self._changed_meanwhile = False
        self._state_callbacks = []  # type: List[Callable[[str], None]]
        self.model = DeviceModel({}, {})
        client.add_connected_callback(self._connected)
        client.add_disconnected_callback(self._disconnected)
        client.add_inform_callback("interface-changed", self._interface_changed)
        client.add_inform_callback("device-changed", self._interface_changed)

    # -- state ---------------------------------------------------------------

    @property
    def state(self):
        # type: () -> str
        """The current state: ``"disconnected"``, ``"syncing"`` or ``"synced"``."""
        return self._state

    def add_state_callback(self, callback):
        # type: (Callable[[str], None]) -> None
        """Call ``callback(state)`` after every state change.

        It runs on the thread that made the change (usually the reactor
        thread), with no lock held, and must not block.
        """
        with self._cond:
            self._state_callbacks = self._state_callbacks + [callback]

    def remove_state_callback(self, callback):
        # type: (Callable[[str], None]) -> None
        """Forget a callback given to :meth:`add_state_callback`."""
        with self._cond:
            self._state_callbacks = [c for c in self._state_callbacks if c != callback]

    def _set_state(self, generation, state, new_generation=False,
                   stop=False):
        # type: (Optional[int], str, bool, bool) -> Optional[int]
        """Move to ``state`` unless ``generation`` is stale; return the current generation.

        ``new_generation`` starts a new sync round (abandoning the old one);
        returns None if nothing changed.
        """
        with self._cond:
            if stop:
                self._stopped = True
            elif self._stopped or (generation is not None and generation != self._generation):
                return None
            if new_generation:
                self._generation += 1
            self._state = state
            self._cond.notify_all()
            generation = self._generation
            callbacks = self._state_callbacks
        for callback in callbacks:
            try:
                callback(state)
            except Exception:
                logger.exception("%s: state callback %r failed", self._name, callback)
        return generation

    def until_state(self, state, timeout=None):
        # type: (str, Optional[float]) -> None
        """Block until the state is ``state``.

        Raises:
            ValueError: ``state`` is not one of :data:`STATES`.
            KatcpTimeoutError: not reached within ``timeout`` seconds.
            KATCPResourceInactive: the client was stopped while waiting
                (unless waiting for ``"disconnected"``).
        """
        if state not in STATES:
            raise ValueError("unknown state %r (expected one of %s)" % (state, ", ".join(STATES)))
        deadline = Deadline(timeout)
        with self._cond:
            while self._state != state:
                if self._stopped and state != DISCONNECTED:
                    raise KATCPResourceInactive("%s was stopped while waiting for %r" % (self._name, state))
                remaining = deadline.remaining()
                if remaining is not None and remaining <= 0:
                    raise KatcpTimeoutError(
                        "%s: state still %r, not %r, after %s s"
                        % (self._name, self._state, state, format_seconds(timeout))
                    )
                self._cond.wait(remaining)

    def until_not_state(self, state, timeout=None):
        # type: (str, Optional[float]) -> None
        """Block until the state is anything but ``state`` (same errors as :meth:`until_state`)."""
        deadline = Deadline(timeout)
        with self._cond:
            while self._state == state and not self._stopped:
                remaining = deadline.remaining()
                if remaining is not None and remaining <= 0:
                    raise KatcpTimeoutError("%s: state still %r after %s s"
                                            % (self._name, state, format_seconds(timeout)))
                self._cond.wait(remaining)

    # -- life cycle ----------------------------------------------------------

    def start(self):
        # type: () -> None
        """Start the client; syncing begins once its protocol is known."""
        self.client.start()

    def stop(self):
        # type: () -> None
        """Stop the client and abandon any sync in progress. Idempotent."""
        self._set_state(None, DISCONNECTED, new_generation=True, stop=True)
        with self._cond:
            handle, self._retry_handle = self._retry_handle, None
        if handle is not None:
            handle.cancel()
        self.client.stop()

    def join(self, timeout=None):
        # type: (Optional[float]) -> bool
        """Wait for the client's threads to end after :meth:`stop`.

        Returns True if they all have, False if ``timeout`` passed first."""
        return self.client.join(timeout)

    # -- client callbacks (reactor thread) -------------------------------------

    def _connected(self):
        # type: () -> None
        self.resync()

    def _disconnected(self):
        # type: () -> None
        self._failures = 0
        self._set_state(None, DISCONNECTED, new_generation=True)

    def _interface_changed(self, msg):
        # type: (Message) -> None
        logger.debug("%s: #%s %r, re-inspecting", self._name, msg.name, msg.arguments)
        if msg.name == "device-changed":
            logger.warning("%s: device sent deprecated #device-changed", self._name)
        with self._cond:
            if self._inspecting is not None and self._inspecting == self._generation:
                # The round in flight may have been answered before the change:
                # one more round follows it, however many changes come meanwhile
                # (a new round per inform would flood the device with requests).
                self._changed_meanwhile = True
                return
        self.resync()

    # -- syncing -------------------------------------------------------------

    def resync(self):
        # type: () -> None
        """Start a new inspection round now (abandoning any round in progress).

        Does nothing while disconnected or stopped. Never blocks.
        """
        if not self.client.is_connected():
            return
        generation = self._set_state(None, SYNCING, new_generation=True)
        if generation is None:
            return
        with self._cond:
            self._inspecting = generation
            self._changed_meanwhile = False
        names = ["help", "sensor-list"]
        if getattr(self.client.protocol_flags, "request_timeout_hints", False):
            names.append("request-timeout-hint")
        futures = {}  # type: _ReplyFutures
        for name in names:
            try:
                futures[name] = self.client.future_request(Message.request(name), timeout=self._sync_timeout)
            except Exception as exc:  # e.g. disconnected in between: treat as a failed round
                failed = compat.Future()  # type: "concurrent.futures.Future[_Reply]"
                failed.set_exception(exc)
                futures[name] = failed
        all_done(futures.values()).add_done_callback(lambda _f: self._inspected(generation, futures))

    def _inspected(self, generation, futures):
        # type: (int, _ReplyFutures) -> None
        if generation != self._generation:
            return
        with self._cond:
            if self._inspecting == generation:
                self._inspecting = None
            again, self._changed_meanwhile = self._changed_meanwhile, False
        if again:
            self.resync()
            return
        try:
            model = self._build_model(futures, self._name)
        except Exception as exc:
            self._retry_later(generation, exc)
            return
        self.model = model
        try:
            extra = self._on_model(model)
        except Exception:
            logger.exception("%s: error applying inspected model", self._name)
            extra = None
        if extra is None:
            self._synced(generation)
        else:
            extra.add_done_callback(lambda _f: self._synced(generation))

    def _synced(self, generation):
        # type: (int) -> None
        if self._set_state(generation, SYNCED) is not None:
            with self._cond:
                self._backoff.success()
            logger.debug("%s: synced", self._name)

    def _retry_later(self, generation, exc):
        # type: (int, BaseException) -> None
        with self._cond:
            if generation != self._generation or self._stopped:
                return
            delay = self._backoff.delay
            self._backoff.failed()
            logger.warning("%s: inspection failed (%s); retrying in %s s",
                           self._name, exc, format_seconds(delay))
            self._retry_handle = self.client.reactor.call_later(delay, self._retry, generation)

    def _retry(self, generation):
        # type: (int) -> None
        if generation == self._generation:
            self.resync()

    @staticmethod
    def _replies(futures, name):
        # type: (_ReplyFutures, str) -> List[Message]
        """The informs of a successful request, raising on any failure."""
        reply, informs = futures[name].result()
        if not reply.reply_ok():
            raise FailReply("?%s failed: %r"
                            % (name, [compat.wire_text(a) for a in reply.arguments]))
        return informs

    @classmethod
    def _build_model(cls, futures, name=""):
        # type: (_ReplyFutures, str) -> DeviceModel
        """The model from one round's replies. A malformed inform is logged
        and skipped: one bad line of the device's must not hide the rest."""
        hints = {}  # type: Dict[str, float]
        if "request-timeout-hint" in futures:
            for inform in cls._replies(futures, "request-timeout-hint"):
                try:
                    request, hint = parse_timeout_hint(inform)
                except ValueError as exc:
                    logger.warning("%s: %s (ignored)", name, exc)
                    continue
                if hint is not None:
                    hints[request] = hint
        requests = {}
        for inform in cls._replies(futures, "help"):
            if not inform.arguments:
                logger.warning("%s: #help inform without a request name (ignored)", name)
                continue
            request = compat.wire_text(inform.arguments[0])
            description = compat.wire_text(inform.arguments[1]) if len(inform.arguments) > 1 else ""
            requests[request] = RequestInfo(request, description, hints.get(request))
        sensors = {}
        for inform in cls._replies(futures, "sensor-list"):
            args = [compat.wire_text(a) for a in inform.arguments]
            if len(args) < 4:
                logger.warning("%s: short #sensor-list inform %r: needs a name, description, "
                               "units and type (ignored)", name, args)
                continue
            sensors[args[0]] = SensorInfo(args[0], args[1], args[2], args[3], tuple(args[4:]))
        return DeviceModel(requests, sensors)
