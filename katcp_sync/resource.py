"""The high-level client: one KATCP device as an object with ``req`` and ``sensor``.

:class:`KATCPClientResource` connects to a device, inspects it (see
:mod:`katcp_sync.inspecting_client`) and presents its requests as methods
(``client.req.add(3, 6)``) and its sensors as objects
(``client.sensor.fruit_result``). Names have ``.`` and ``-`` mapped to
``_``; the objects keep the original names.

Everything blocks by default and may be called from any thread except the
reactor thread (where blocking would deadlock; listeners run there). Where
work should overlap, ``client.req.pick_fruit.future()`` returns a
:class:`concurrent.futures.Future`. There is no event loop to run: the
reactor is a background thread that :meth:`KATCPClientResource.start`
starts and :meth:`KATCPClientResource.stop` ends.

Sampling strategies and listeners you set are remembered: they are
re-applied after a reconnect and after every re-sync (``#interface-changed``),
and applied when a sensor that did not exist yet appears.
"""

from __future__ import absolute_import, division, print_function

import concurrent.futures
import functools
import logging
import re
import threading
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterable, List, Optional, Tuple

from . import compat
from .client import DeviceClient, hinted_timeout
from .errors import KatcpClientError, KATCPResourceInactive, KATCPSensorError, SensorTimeoutError
from .inspecting_client import (
    DISCONNECTED, SYNCED, DeviceModel, InspectingClient, all_done, chain_future, wait_future,
)
from .message import Message
from .protocol import ProtocolFlags
from .reactor import Reactor
from .resource_base import KATCPSensor, value_parser
from .resource_sampling import NO_STRATEGY, Strategy, StrategyCache, sampling_futures
from .resource_spec import DEFAULT_REQUEST_TIMEOUT, ResourceDescription
from .resource_types import (
    AttrDict, KATCPClientResourceRequest, KATCPDummyRequest, KATCPReply, KATCPRequest,
    KATCPSensorReading, SensorResultTuple, StrategyLike, escape_name, normalize_strategy_parameters,
)

if TYPE_CHECKING:   # for annotations only: resource_container imports this module
    from .resource_container import KATCPClientResourceContainer

__all__ = ["KATCPClientResource", "DEFAULT_REQUEST_TIMEOUT"]

logger = logging.getLogger(__name__)

#: Extra time a blocking call waits beyond the request's own timeout, so that
#: the client's timeout (a clear KatcpTimeoutError) always fires first.
_WAIT_MARGIN = 2.0


class KATCPClientResource(ResourceDescription):
    """A KATCP device seen through a high-level client.

    Args:
        resource_spec: a dict with keys

            * ``name`` (required): the resource's name;
            * ``address`` (required): ``(host, port)``;
            * ``description``: free text;
            * ``controlled`` (default False): whether requests may be sent;
            * ``always_allowed_requests``: requests allowed even when not
              controlled; ``always_excluded_requests``: requests never shown
              (``-`` and ``_`` are treated alike);
            * ``auto_reconnect`` (default True); ``auto_reconnect_delay``:
              the first reconnect delay in seconds (default 0.5, doubling);
            * ``preset_protocol_flags``: a :class:`~katcp_sync.protocol.ProtocolFlags`
              to assume instead of detecting the device's protocol;
            * ``dummy_unknown_requests`` (default False): ``req.<unknown>()``
              gives a local ``ok`` reply instead of AttributeError;
            * ``timeout`` (default 5 s): request timeout when the device
              gives no hint.
        parent: the container this resource belongs to, if any.
        logger: where to log.
        reactor: a :class:`~katcp_sync.reactor.Reactor` to share (started
            and stopped by its owner); by default the client makes its own.

    Every public method may be called from any thread. Blocking methods
    raise :class:`~katcp_sync.errors.KatcpClientError` when called on the
    reactor thread.
    """

    def __init__(self, resource_spec,
                 parent=None,
                 logger=logger, reactor=None):
        # type: (Dict[str, Any], Optional["KATCPClientResourceContainer"], logging.Logger, Optional[Reactor]) -> None
        super(KATCPClientResource, self).__init__(resource_spec, parent)
        self._logger = logger
        self._reactor = reactor
        self._active = True
        self._lock = threading.Lock()
        self._inspector = None  # type: Optional[InspectingClient]
        self._model = DeviceModel({}, {})
        #: every sensor ever seen, by KATCP name: the objects (and their
        #: listeners) survive re-syncs and reconnects.
        self._all_sensors = {}  # type: Dict[str, KATCPSensor]
        self._strategies = StrategyCache()   # guarded by self._lock
        self._pending_listeners = {}  # type: Dict[str, List[Tuple[Callable, bool]]]
        self._state_callbacks = []  # type: List[Callable[[str], None]]
        # Until the first sync: a request or sensor looked up says why none is known.
        unsynced = "the resource has not synced yet (start(), then until_synced())"
        self._req = AttrDict(what="request", missing=self._dummy_request if self._dummy_unknown else None,
                             unknown=unsynced)
        self._sensor = AttrDict(what="sensor", unknown=unsynced)

    # -- the device's requests and sensors ----------------------------------------

    @property
    def children(self):
        # type: () -> AttrDict
        """Always empty: a device resource has no sub-resources."""
        return AttrDict(what="child")

    @property
    def req(self):
        # type: () -> AttrDict
        """The device's requests as :class:`KATCPRequest` objects, by escaped name.

        Empty until the first sync. A snapshot: a re-sync replaces it.
        """
        return self._req

    @property
    def sensor(self):
        # type: () -> AttrDict
        """The device's sensors as :class:`KATCPSensor` objects, by escaped name."""
        return self._sensor

    @property
    def sensors(self):
        # type: () -> AttrDict
        """Alias of :attr:`sensor` (katcp-python has both)."""
        return self._sensor

    # -- life cycle and state -------------------------------------------------

    @property
    def state(self):
        # type: () -> str
        """``"disconnected"``, ``"syncing"`` or ``"synced"``."""
        return DISCONNECTED if self._inspector is None else self._inspector.state

    @property
    def synced(self):
        # type: () -> bool
        """True if the state is ``"synced"``."""
        return self.state == SYNCED

    @property
    def client(self):
        # type: () -> Optional[DeviceClient]
        """The underlying :class:`~katcp_sync.client.DeviceClient` (None before :meth:`start`)."""
        return None if self._inspector is None else self._inspector.client

    def start(self):
        # type: () -> None
        """Connect to the device in the background; syncing follows.

        Returns at once; use :meth:`until_synced` to wait.

        Raises:
            KatcpClientError: already started.
        """
        with self._lock:
            if self._inspector is not None:
                raise KatcpClientError("resource %s was already started" % self._name)
            client = DeviceClient(self._address[0], self._address[1], timeout=self.default_timeout,
                                  logger=self._logger, auto_reconnect=self._auto_reconnect,
                                  reactor=self._reactor)
            if self._auto_reconnect_delay is not None:
                client.auto_reconnect_delay = float(self._auto_reconnect_delay)
            if self._preset_protocol_flags is not None:
                client.preset_protocol_flags(self._preset_protocol_flags)
            client.add_inform_callback("sensor-status", self._sensor_informs)
            self._inspector = InspectingClient(client, self._apply_model, name=self._name)
            for callback in self._state_callbacks:
                self._inspector.add_state_callback(callback)
        self._inspector.start()

    def stop(self):
        # type: () -> None
        """Disconnect and stop the background work. Idempotent; call :meth:`join` to wait."""
        if self._inspector is not None:
            self._inspector.stop()

    def join(self, timeout=None):
        # type: (Optional[float]) -> bool
        """Wait until the threads started by :meth:`start` have ended.

        Returns True if they all have, False if ``timeout`` passed first."""
        if self._inspector is not None:
            return self._inspector.join(timeout)
        return True

    until_stopped = join

    @property
    def versions(self):
        # type: () -> Dict[str, Tuple[str, ...]]
        """The device's ``#version-connect`` versions, as the client's
        :attr:`~katcp_sync.client.DeviceClient.versions`.

        Raises:
            KATCPResourceInactive: not started (a RuntimeError, as katcp-python raised).
        """
        return self._check_started().client.versions

    @property
    def last_connect_time(self):
        # type: () -> Optional[float]
        """When the client last connected (``time.time()``), or None.

        Raises:
            KATCPResourceInactive: not started (a RuntimeError, as katcp-python raised).
        """
        return self._check_started().client.last_connect_time

    def is_connected(self):
        # type: () -> bool
        """True if connected to the device and its protocol is known."""
        return self._inspector is not None and self._inspector.client.is_connected()

    def wait_connected(self, timeout=None):
        # type: (Optional[float]) -> bool
        """Block until connected; True if connected, False on timeout."""
        try:
            self._check_started().until_not_state(DISCONNECTED, timeout)
        except KatcpClientError:
            return False
        return self.state != DISCONNECTED

    def add_state_callback(self, callback):
        # type: (Callable[[str], None]) -> None
        """Call ``callback(state)`` on every change of :attr:`state`.

        It runs on the reactor thread (or the thread calling :meth:`stop`)
        and must not block.
        """
        with self._lock:
            self._state_callbacks.append(callback)
            inspector = self._inspector
        if inspector is not None:
            inspector.add_state_callback(callback)

    def remove_state_callback(self, callback):
        # type: (Callable[[str], None]) -> None
        """Forget a callback given to :meth:`add_state_callback`."""
        with self._lock:
            self._state_callbacks = [c for c in self._state_callbacks if c != callback]
            inspector = self._inspector
        if inspector is not None:
            inspector.remove_state_callback(callback)

    def until_state(self, state, timeout=None):
        # type: (str, Optional[float]) -> None
        """Block until :attr:`state` is ``state``.

        Raises:
            KatcpTimeoutError: not reached in ``timeout`` seconds.
            KATCPResourceInactive: not started, or stopped while waiting.
        """
        self._check_started().until_state(state, timeout)

    def until_synced(self, timeout=None):
        # type: (Optional[float]) -> None
        """Block until synced: ``req`` and ``sensor`` are complete and strategies set."""
        self.until_state(SYNCED, timeout)

    def until_not_synced(self, timeout=None):
        # type: (Optional[float]) -> None
        """Block until the state is anything but ``"synced"``."""
        self._check_started().until_not_state(SYNCED, timeout)

    @property
    def reactor(self):
        # type: () -> Optional[Reactor]
        """The reactor the resource's client runs on: its own once started, else
        the shared one given (``reactor=`` or :meth:`set_reactor`), else None."""
        inspector = self._inspector
        return self._reactor if inspector is None else inspector.client.reactor

    def set_reactor(self, reactor):
        # type: (Optional[Reactor]) -> None
        """Use a shared :class:`~katcp_sync.reactor.Reactor` (call before :meth:`start`).

        The owner of the reactor starts and stops it; None: the client makes
        its own.

        Raises:
            KatcpClientError: already started.
        """
        if self._inspector is not None:
            raise KatcpClientError("resource %s: set_reactor() must come before start()" % self._name)
        self._reactor = reactor

    def set_ioloop(self, ioloop=None):
        # type: (Optional[Reactor]) -> None
        """katcp-python's name of :meth:`set_reactor`."""
        self.set_reactor(ioloop)

    def set_active(self, active):
        # type: (bool) -> None
        """Allow (True) or refuse (False) requests on this resource."""
        self._active = bool(active)

    def is_active(self):
        # type: () -> bool
        """True unless :meth:`set_active` (False) was called."""
        return self._active

    def _check_started(self):
        # type: () -> InspectingClient
        inspector = self._inspector
        if inspector is None:
            raise KATCPResourceInactive("resource %s is not started: call start() first" % self._name)
        return inspector

    @staticmethod
    def _protocol_flags(inspector):
        # type: (InspectingClient) -> ProtocolFlags
        """The device's protocol flags; the client's assumption until the
        device has announced them (an inform can come before that)."""
        flags = inspector.client.protocol_flags
        return flags if flags is not None else inspector.client.ASSUMED_PROTOCOL

    # -- the model -------------------------------------------------------------

    def _apply_model(self, model):
        # type: (DeviceModel) -> concurrent.futures.Future
        """Build ``req``/``sensor`` from a fresh inspection; re-apply strategies.

        Runs on the reactor thread; returns the future of the strategy requests.
        """
        inspector = self._inspector
        assert inspector is not None  # the model comes from it
        major = self._protocol_flags(inspector).major
        sensors = AttrDict(what="sensor")
        requests = AttrDict(what="request", missing=self._dummy_request if self._dummy_unknown else None)
        for name, info in model.requests.items():
            key = escape_name(name)
            if key in self._always_excluded:
                continue
            requests[key] = KATCPClientResourceRequest(info._asdict(), self, self._allowed_check(name))
        with self._lock:
            for name, sensor_info in model.sensors.items():
                parse = value_parser(sensor_info.type, major)
                sensor = self._all_sensors.get(name)
                if sensor is None:
                    sensor = KATCPSensor(name, sensor_info.description, sensor_info.units, sensor_info.type,
                                         sensor_info.params, parse, self)
                    self._all_sensors[name] = sensor
                else:
                    sensor._update_info(sensor_info.description, sensor_info.units, sensor_info.type,
                                        sensor_info.params, parse)
                for listener, with_reading in self._pending_listeners.pop(escape_name(name), ()):
                    sensor.register_listener(listener, with_reading)
                sensors[escape_name(name)] = sensor
            self._model = model
            self._req = requests
            self._sensor = sensors
            by_strategy = self._strategies.by_strategy(sensors)
        return self._send_remembered(by_strategy)

    def _send_remembered(self, by_strategy, timeout=None):
        # type: (Dict[Strategy, List[str]], Optional[float]) -> concurrent.futures.Future
        """Send remembered strategies, ``{strategy: [sensor names]}``: one
        bulk ``?sensor-sampling`` per strategy where the device has flag
        ``B``, else one request per sensor, all in flight at once. A refusal
        is logged, not raised. Returns a future done once every reply is in.
        Any thread."""
        futures = {}
        for strategy, names in by_strategy.items():
            for name, future in self._sampling_futures(names, strategy, timeout).items():
                futures[name] = future
                future.add_done_callback(functools.partial(self._log_refusal, name=name, strategy=strategy))
        return all_done(futures.values())

    def _log_refusal(self, future, name, strategy):
        # type: (concurrent.futures.Future, str, Tuple[str, ...]) -> None
        error = future.exception()
        if error is None and not future.result().succeeded:
            error = future.result().reply
        if error is not None:
            self._logger.warning("%s: re-applying strategy %s to sensor %s failed: %s",
                                 self._name, " ".join(strategy), name, error)

    # -- requests ----------------------------------------------------------------

    def is_request_allowed(self, request_name):
        # type: (str) -> bool
        """True if ``?request_name`` may be sent (active, and controlled or always allowed)."""
        return self._active and (self._controlled or escape_name(request_name) in self._always_allowed)

    def _allowed_check(self, request_name):
        # type: (str) -> Callable[[], bool]
        """The ``is_active`` of a request object: :meth:`is_request_allowed` for it."""
        return functools.partial(self.is_request_allowed, request_name)

    def _timeout(self, timeout, hint):
        # type: (Optional[float], Optional[float]) -> float
        return hinted_timeout(timeout, hint, self.default_timeout)

    def request_future(self, name, args, timeout=None, mid=None,
                       timeout_hint=None):
        # type: (str, tuple, Optional[float], Any, Optional[float]) -> concurrent.futures.Future
        """Send ``?name *args`` and return a future of :class:`KATCPReply`.

        Does not check :meth:`is_request_allowed` (the request objects do).
        """
        client = self._check_started().client
        msg = Message.request(name, *args, mid=mid)
        future = client.future_request(msg, timeout=self._timeout(timeout, timeout_hint))
        return chain_future(future, lambda reply_informs: KATCPReply(*reply_informs))

    def wrapped_request(self, request, *args, **kwargs):
        # type: (str, *Any, **Any) -> KATCPReply
        """Send ``?request *args`` and block until the reply (katcp-python's name).

        What each ``req.<name>(...)`` call does once it found the request
        active; this does not check :meth:`is_request_allowed`.

        Args:
            request: the KATCP request name.
            args: request arguments (``str``, ``bytes``, numbers, bools).
            timeout: seconds to wait for the reply. ``None``, or the value
                of the device's timeout hint for this request (which is what
                the request objects pass when given none), mean that hint
                plus ``TIMEOUT_HINT_MARGIN``, else :attr:`default_timeout`.
            mid: a message id to use instead of an automatic one.

        Returns:
            the :class:`KATCPReply` (falsy for a ``fail`` or ``invalid`` reply).

        Raises:
            KatcpClientError: called on the reactor thread (use :meth:`request_future`).
            KatcpTimeoutError, KatcpClientDisconnected.

        Any thread but the reactor thread.
        """
        timeout = compat.kwonly_pop(kwargs, 'timeout', None)  # type: Optional[float]
        mid = compat.kwonly_pop(kwargs, 'mid', None)  # type: Any
        compat.kwonly_done('wrapped_request', kwargs)
        self.check_may_block("?%s" % request)
        info = self._model.requests.get(request)
        hint = info.timeout_hint if info is not None else None
        if timeout is not None and timeout == hint:
            timeout = None  # the hint: its margin applies
        future = self.request_future(request, args, timeout, mid, hint)
        return self.wait_future(future, self.wait_bound(timeout, hint), "?" + request)

    def wait_bound(self, timeout, timeout_hint):
        # type: (Optional[float], Optional[float]) -> float
        """How long a blocking call waits: the request timeout plus a margin.

        The margin lets the client's own timeout (a clear KatcpTimeoutError)
        fire first; the bound only guards against a lost future.
        """
        return self._timeout(timeout, timeout_hint) + _WAIT_MARGIN

    def wait_future(self, future, timeout, what):
        # type: (concurrent.futures.Future, Optional[float], str) -> Any
        """Block until ``future`` is done and return its result (re-raising its error)."""
        return wait_future(future, timeout, "%s on %s" % (what, self._name))

    def check_may_block(self, what):
        # type: (str) -> None
        """Raise KatcpClientError if called on the reactor thread, where blocking deadlocks."""
        inspector = self._inspector
        if inspector is not None and inspector.client.reactor.in_reactor_thread():
            raise KatcpClientError(
                "%s on %s would block the reactor thread (e.g. inside a listener or callback);"
                " use the .future() form and add_done_callback instead" % (what, self._name))

    # -- sensors: strategies ---------------------------------------------------

    def _sampling_futures(self, names, strategy, timeout):
        # type: (List[str], Tuple[str, ...], Optional[float]) -> Dict[str, concurrent.futures.Future]
        """Send ``?sensor-sampling`` for ``names`` (one bulk request if the device has flag ``B``)."""
        bulk = self._protocol_flags(self._check_started()).bulk_set_sensor_sampling
        return sampling_futures(self.request_future, names, strategy, timeout, bulk)

    def get_sampling_strategy(self, sensor_name):
        # type: (str) -> Tuple[str, ...]
        """The strategy set for a sensor through this resource, or ``("none",)``."""
        return self._strategies.get(escape_name(sensor_name))   # one dict read: no lock

    def set_strategies_future(self, sensor_names, strategy_and_params,
                               timeout=None):
        # type: (Iterable[str], StrategyLike, Optional[float]) -> concurrent.futures.Future
        """Cache and send a strategy; a future of ``{normalised_name: (success, info)}``.

        ``info`` is the strategy tuple on success, else the error. Sensors not
        (yet) on the device are cached only and reported as successes.
        """
        strategy = normalize_strategy_parameters(strategy_and_params)
        keys = [escape_name(n) for n in sensor_names]
        with self._lock:
            previous = self._strategies.set(keys, strategy)
            present = {key: self._sensor[key].name for key in keys if key in self._sensor}
        results = {key: (True, strategy) for key in keys}  # type: Dict[str, Tuple[bool, Any]]
        if not present or not self.is_connected():
            done = compat.Future()  # type: concurrent.futures.Future
            done.set_result(results)
            return done
        futures = self._sampling_futures(list(present.values()), strategy, timeout)

        def collect(_f):
            # type: (concurrent.futures.Future) -> Dict[str, Tuple[bool, Any]]
            for key, name in present.items():
                future = futures[name]
                error = future.exception()
                if error is None and not future.result().succeeded:
                    error = KATCPSensorError("device refused strategy %s for sensor %s: %s"
                                             % (" ".join(strategy), name, future.result().reply))
                if error is not None:
                    results[key] = (False, error)
                    with self._lock:
                        self._strategies.forget_refused(key, strategy, previous[key])
            return results

        return chain_future(all_done(futures.values()), collect)

    def set_sensor_strategy(self, sensor_name, strategy, timeout=None):
        # type: (str, StrategyLike, Optional[float]) -> Tuple[str, ...]
        """Set one sensor's strategy, blocking; used by :meth:`KATCPSensor.set_sampling_strategy`.

        Raises:
            KATCPSensorError (or the request's error) if the device refused it.
        """
        (success, info), = self.set_sampling_strategies_of([sensor_name], strategy, timeout).values()
        if not success:
            raise info
        return info

    def set_sampling_strategy(self, sensor_name, strategy_and_params,
                              timeout=None):
        # type: (str, StrategyLike, Optional[float]) -> Dict[str, Tuple[bool, Any]]
        """Set (and remember) a sensor's strategy, e.g. ``("period", 1)`` or ``"event"``.

        The sensor need not exist yet: the strategy is applied when it appears.

        Returns:
            ``{normalised_name: (success, info)}`` (info: the strategy, or the
            exception on failure), as katcp-python did.
        """
        return self.set_sampling_strategies_of([sensor_name], strategy_and_params, timeout)

    def set_sampling_strategies_of(self, sensor_names, strategy_and_params,
                                   timeout=None):
        # type: (Iterable[str], StrategyLike, Optional[float]) -> Dict[str, Tuple[bool, Any]]
        """Set one strategy on many sensors (one bulk request if the device has flag B)."""
        self.check_may_block("set_sampling_strategy")
        future = self.set_strategies_future(sensor_names, strategy_and_params, timeout)
        return self.wait_future(future, self._sampling_wait_bound(timeout), "?sensor-sampling")

    def set_sampling_strategies(self, filter, strategy_and_params,
                                timeout=None):
        # type: (str, StrategyLike, Optional[float]) -> Dict[str, Tuple[bool, Any]]
        """Set a strategy on every sensor whose escaped name matches the regex ``filter``."""
        names = [result.name for result in self.list_sensors(filter)]
        return self.set_sampling_strategies_of(names, strategy_and_params, timeout)

    def drop_sampling_strategy(self, sensor_name):
        # type: (str) -> None
        """Forget a sensor's strategy and set ``none`` on the device (without waiting)."""
        future = self.set_strategies_future([sensor_name], NO_STRATEGY)

        def log_failure(f):
            # type: (concurrent.futures.Future) -> None
            if f.exception():
                self._logger.warning("%s: dropping strategy of %s failed: %s",
                                     self._name, sensor_name, f.exception())
        future.add_done_callback(log_failure)

    def reapply_sampling_strategies(self, timeout=None):
        # type: (Optional[float]) -> None
        """Send every remembered strategy again, as a sync does automatically,
        and wait for the replies.

        Sensors sharing a strategy are set together: one bulk
        ``?sensor-sampling`` per strategy if the device has flag ``B``,
        otherwise one request per sensor, all sent before the first reply is
        awaited. Strategies of sensors the device does not have are kept for
        when they appear. As in katcp-python, a strategy the device refuses
        is logged (a warning) and the others are still applied.

        Args:
            timeout: for each request; default the resource's.

        Raises:
            KatcpClientError: called on the reactor thread (a listener or
                callback), where waiting would deadlock.

        Any thread but the reactor's.
        """
        self.check_may_block("reapply_sampling_strategies")
        if not self.is_connected():
            return
        with self._lock:
            by_strategy = self._strategies.by_strategy(self._sensor)
        future = self._send_remembered(by_strategy, timeout)
        self.wait_future(future, self._sampling_wait_bound(timeout), "reapply_sampling_strategies")

    def _sampling_wait_bound(self, timeout):
        # type: (Optional[float]) -> float
        """How long to wait for strategies to be set: a refused bulk request
        is followed by one request per sensor, so two request timeouts."""
        return self.wait_bound(timeout, None) + self._timeout(timeout, None)

    def set_sensor_listener(self, sensor_name, listener, reading=False):
        # type: (str, Callable, bool) -> None
        """Register a listener on a sensor, now or as soon as the sensor appears."""
        key = escape_name(sensor_name)
        with self._lock:
            sensor = self._sensor.get(key)
            if sensor is None:
                self._pending_listeners.setdefault(key, []).append((listener, reading))
                return
        sensor.register_listener(listener, reading)

    # -- sensors: readings ---------------------------------------------------------

    def _sensor_informs(self, msg):
        # type: (Message) -> None
        """Store the readings of a ``#sensor-status`` or ``#sensor-value`` inform."""
        args = msg.arguments
        try:
            count = int(args[1])
            if len(args) != 2 + 3 * count:
                raise ValueError("expected %d sensors, got %d arguments" % (count, len(args)))
        except (IndexError, ValueError) as exc:
            self._logger.warning("%s: bad #%s inform %r: %s", self._name, msg.name, msg, exc)
            return
        inspector = self._inspector
        assert inspector is not None  # informs come through its client
        major = self._protocol_flags(inspector).major
        polled = msg.name == "sensor-value"
        for i in range(2, len(args), 3):
            name = compat.wire_text(args[i])
            sensor = self._all_sensors.get(name)
            if sensor is None:
                self._logger.debug("%s: #%s for unknown sensor %s", self._name, msg.name, name)
                continue
            try:
                sensor.set_formatted(args[0], args[i + 1], args[i + 2], major, polled=polled)
            except ValueError as exc:
                self._logger.warning("%s: bad reading for sensor %s in %r: %s", self._name, name, msg, exc)

    def poll_sensor_future(self, sensor_name, timeout=None):
        # type: (str, Optional[float]) -> concurrent.futures.Future
        """``?sensor-value name``: a future of the fresh :class:`KATCPSensorReading`.

        The reading is stored and listeners are called; the future fails with
        KATCPSensorError if the device refuses.
        """
        sensor = self._all_sensors.get(sensor_name) or self._sensor.get(escape_name(sensor_name))
        if sensor is None:
            raise KATCPSensorError("resource %s has no sensor %r" % (self._name, sensor_name))

        def store(reply):
            # type: (KATCPReply) -> KATCPSensorReading
            if not reply.succeeded:
                raise KATCPSensorError("?sensor-value %s failed: %s" % (sensor.name, reply.reply))
            for inform in reply.informs:
                self._sensor_informs(inform)
            return sensor.reading

        return chain_future(self.request_future("sensor-value", (sensor.name,), timeout), store)

    def list_sensors(self, filter="", strategy=False, status="",
                     use_python_identifiers=True, tuple=False, refresh=False):
        # type: (str, bool, str, bool, bool, bool) -> list
        """Sensors whose name matches the regex ``filter`` (``re.search``).

        Args:
            filter: matched against escaped names, or KATCP names if
                ``use_python_identifiers`` is False.
            strategy: only sensors with a strategy set.
            status: regex the status name must match.
            tuple: return plain tuples instead of :class:`SensorResultTuple`.
            refresh: poll every matching sensor first (blocking).

        Returns:
            A list of :class:`SensorResultTuple`, sorted by name.
        """
        pattern = re.compile(filter)
        status_pattern = re.compile(status)
        sensors = sorted(self._sensor.values(), key=lambda s: s.name)
        found = [s for s in sensors
                 if pattern.search(s.normalised_name if use_python_identifiers else s.name)
                 and (not strategy or s.sampling_strategy != NO_STRATEGY)]
        if refresh and found:
            self.check_may_block("list_sensors(refresh=True)")
            futures = [self.poll_sensor_future(s.name) for s in found]
            self.wait_future(all_done(futures), self.wait_bound(None, None), "?sensor-value")
        results = [SensorResultTuple(s, s.name, s.normalised_name, s.description, s.type, s.units, s.reading)
                   for s in found if status_pattern.search(s.status)]
        return [r[1:] for r in results] if tuple else results

    def wait(self, sensor_name, condition_or_value, timeout=5):
        # type: (str, Any, Optional[float]) -> bool
        """Wait for a sensor to satisfy a condition; True if it did, False on timeout.

        Raises:
            KATCPSensorError: no such sensor, or no strategy set on it.
        """
        sensor = self._sensor.get(escape_name(sensor_name))
        if sensor is None:
            raise KATCPSensorError("resource %s has no sensor %r" % (self._name, sensor_name))
        try:
            return sensor.wait(condition_or_value, timeout)
        except SensorTimeoutError:
            return False

    def _dummy_request(self, name):
        # type: (str) -> KATCPRequest
        """A request the device lacks, answered locally with ``ok`` (``dummy_unknown_requests``)."""
        description = dict(name=name, description="dummy request (not on the device)", timeout_hint=None)
        return KATCPDummyRequest(description, self._allowed_check(name))

    def __repr__(self):
        # type: () -> str
        return "<KATCPClientResource %s at %s: %s>" % (self._name, self.address_string, self.state)
