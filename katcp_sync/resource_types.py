"""The plain objects of the high-level client: names, strategies, replies, readings, requests.

These know nothing of sockets. Each :class:`KATCPClientResourceRequest` (and each
:class:`~katcp_sync.resource_base.KATCPSensor`) talks to a *manager* (in
practice a :class:`~katcp_sync.resource.KATCPClientResource`) through a
handful of methods, listed in :class:`ResourceManager`, which makes them easy
to test with a fake. Re-exported by :mod:`katcp_sync.resource_base`.

The default API is blocking (``client.req.add(3, 6)`` returns a
:class:`KATCPReply`); where work should overlap, ``.future(...)`` returns a
:class:`concurrent.futures.Future` instead.
"""

from __future__ import absolute_import, division, print_function

import concurrent.futures
from typing import TYPE_CHECKING, Any, Callable, Mapping, NamedTuple, Optional, Sequence, Tuple, Union

from .compat import Protocol
from . import compat
from .errors import KATCPResourceInactive, KATCPSensorError
from .message import Message
from .sensor import Sensor

if TYPE_CHECKING:   # for annotations only: resource_base imports this module
    from .resource_base import KATCPSensor

__all__ = [
    "AttrDict",
    "escape_name",
    "normalize_strategy_parameters",
    "KATCPReply",
    "KATCPSensorReading",
    "SensorResultTuple",
    "ResourceManager",
    "KATCPRequest",
    "KATCPClientResourceRequest",
    "KATCPDummyRequest",
    "StrategyLike",
    "make_condition",
]

StrategyLike = Union[str, Sequence[Any]]


def escape_name(name):
    # type: (str) -> str
    """Turn a KATCP request or sensor name into a Python identifier (``.``/``-`` -> ``_``)."""
    return name.replace(".", "_").replace("-", "_")


def normalize_strategy_parameters(strategy_and_params):
    # type: (StrategyLike) -> Tuple[str, ...]
    """Return a strategy and its parameters as a tuple of strings.

    ``"period 0.5"`` and ``("period", 0.5)`` both give ``("period", "0.5")``.
    Numbers are rendered with ``str(float(x))`` as katcp-python did, so that
    equal strategies compare equal (``"1"`` -> ``"1.0"``).

    Raises:
        KATCPSensorError: the strategy is empty.
    """

    def fix_number(value):
        # type: (Any) -> str
        try:
            return str(float(value))
        except (TypeError, ValueError):
            return compat.native_str(value) if isinstance(value, bytes) else str(value)

    if isinstance(strategy_and_params, (str, bytes)):
        if isinstance(strategy_and_params, bytes):
            strategy_and_params = compat.native_str(strategy_and_params)
        parts = strategy_and_params.split()
    else:
        parts = list(strategy_and_params)
    if not parts:
        raise KATCPSensorError("empty sampling strategy")
    return (str(parts[0]),) + tuple(fix_number(p) for p in parts[1:])


class AttrDict(dict):
    """A dict whose items are also attributes (``ns.add`` is ``ns["add"]``).

    Lookup also accepts the original KATCP name: ``ns["pick-fruit"]`` finds
    ``ns.pick_fruit``. A missing attribute raises :class:`AttributeError`
    naming what is known, which is more useful in an interactive session,
    unless ``missing`` is given: then ``missing(name)`` is returned. An
    empty namespace's error ends with ``unknown``, if given (why nothing is
    known yet, e.g. a resource that has not synced).

    No lock of its own: as a dict, reads from any thread are safe; the
    resources build a new one on each resync (on the reactor thread) rather
    than change the one they handed out.
    """

    __slots__ = ("_what", "_missing", "_unknown")

    def __init__(self, *args, **kwargs):
        # type: (*Any, **Any) -> None
        what = compat.kwonly_pop(kwargs, 'what', "item")  # type: str
        missing = compat.kwonly_pop(kwargs, 'missing', None)  # type: Optional[Callable[[str], Any]]
        unknown = compat.kwonly_pop(kwargs, 'unknown', None)  # type: Optional[str]
        super(AttrDict, self).__init__(*args, **kwargs)
        self._what = what
        self._missing = missing
        self._unknown = unknown

    def __getattr__(self, name):
        # type: (str) -> Any
        try:
            return self[name]
        except KeyError:
            if name.startswith("_"):
                raise compat.chained(AttributeError(name), None)
            if self._missing is not None:
                return self._missing(name)
            if not self and self._unknown:
                known = "none: %s" % self._unknown
            else:
                known = ", ".join(sorted(self)) or "none"
            raise compat.chained(AttributeError(
                "no %s %r (known: %s)" % (self._what, name, known)), None)

    def __missing__(self, key):
        # type: (str) -> Any
        escaped = escape_name(key)
        if escaped != key and escaped in self:
            return self[escaped]
        raise KeyError(key)

    def __dir__(self):
        return sorted(set(dir(type(self))) | set(getattr(self, "__dict__", ())) | set(self))


class KATCPReply(NamedTuple('KATCPReply', [('reply', Any), ('informs', list)])):
    """A request's reply and informs.

    Truthy iff the reply is ``ok``. As in katcp-python, ``str()`` gives the
    wire lines of :attr:`messages` (the reply first, then the informs) and
    ``repr()`` the same lines readably: unescaped, without message ids.
    Immutable (the informs list is the caller's once returned): any thread.

    Attributes:
        reply: the reply :class:`~katcp_sync.message.Message`.
        informs: the inform messages, in order.
    """
    __slots__ = ()

    @property
    def messages(self):
        # type: () -> list
        """The reply followed by the informs (katcp-python's order)."""
        return [self.reply] + list(self.informs)

    @property
    def succeeded(self):
        # type: () -> bool
        """True iff the reply code is ``ok``."""
        return self.reply.reply_ok()

    def __bool__(self):
        # type: () -> bool
        return self.succeeded

    __nonzero__ = __bool__   # Python 2

    def __str__(self):
        # type: () -> str
        return "\n".join(str(m) for m in self.messages)

    def __repr__(self):
        # type: () -> str
        # katcp-python's readable form: no message ids, arguments unescaped
        return "\n".join(
            "%s%s %s" % (compat.native_str(Message.TYPE_SYMBOLS[m.mtype]), m.name,
                         " ".join(compat.wire_text(a) for a in m.arguments))
            for m in self.messages)


class KATCPSensorReading(NamedTuple('KATCPSensorReading', [('received_timestamp', float), ('timestamp', float), ('istatus', int), ('value', Any)])):
    """One reading of a remote sensor.

    Attributes:
        received_timestamp: local time (``time.time()``) the reading arrived.
        timestamp: the device's timestamp of the reading (seconds, UTC).
        istatus: the status code (0 unknown ... 6 inactive).
        value: the value, converted to the sensor's Python type.

    Immutable: any thread may read it.
    """
    __slots__ = ()

    @property
    def status(self):
        # type: () -> str
        """The status name, e.g. ``"nominal"``."""
        return Sensor.STATUSES.get(self.istatus, "unknown")


class SensorResultTuple(NamedTuple('SensorResultTuple', [('object', "KATCPSensor"), ('name', str), ('python_identifier', str), ('description', str), ('type', str), ('units', str), ('reading', KATCPSensorReading)])):
    """One sensor found by ``list_sensors()``.

    Attributes:
        object: the :class:`~katcp_sync.resource_base.KATCPSensor`.
        name: its KATCP name; python_identifier: its escaped name.
        description, type, units: from ``#sensor-list``.
        reading: the most recent :class:`KATCPSensorReading`.

    Immutable: any thread may read it.
    """
    __slots__ = ()


class ResourceManager(Protocol):
    """What :class:`KATCPClientResourceRequest` and
    :class:`~katcp_sync.resource_base.KATCPSensor` need from their resource.

    Documentation only (katcp_sync.resource.KATCPClientResource implements it).
    Every method must be callable from any thread; ``wait_future`` blocks, so
    callers use :meth:`check_may_block` first.
    """

    @property
    def name(self):
        # type: () -> str
        """The resource's name."""
        raise NotImplementedError

    def wrapped_request(self, request, *args, **kwargs):
        # type: (str, *Any, **Any) -> KATCPReply
        """Send ``?request args`` (keywords ``timeout``, ``mid``) and block until the reply."""
        raise NotImplementedError

    def request_future(self, name, args, timeout, mid,
                       timeout_hint):
        # type: (str, tuple, Optional[float], Any, Optional[float]) -> concurrent.futures.Future
        """Send ``?name args`` and return a future of :class:`KATCPReply`."""
        raise NotImplementedError

    def wait_future(self, future, timeout, what):
        # type: (concurrent.futures.Future, Optional[float], str) -> Any
        """Block (not on the reactor thread) until ``future`` is done; return its result."""
        raise NotImplementedError

    def wait_bound(self, timeout, timeout_hint):
        # type: (Optional[float], Optional[float]) -> float
        """How long a blocking call may wait for a request with this timeout and hint."""
        raise NotImplementedError

    def get_sampling_strategy(self, sensor_name):
        # type: (str) -> Tuple[str, ...]
        """The strategy remembered for ``sensor_name``, or ``("none",)``."""
        raise NotImplementedError

    def set_sensor_strategy(self, sensor_name, strategy,
                            timeout):
        # type: (str, StrategyLike, Optional[float]) -> Tuple[str, ...]
        """Set and remember a strategy, blocking until the device accepts it."""
        raise NotImplementedError

    def drop_sampling_strategy(self, sensor_name):
        # type: (str) -> None
        """Forget a strategy and set ``none`` on the device, without waiting."""
        raise NotImplementedError

    def poll_sensor_future(self, sensor_name, timeout):
        # type: (str, Optional[float]) -> concurrent.futures.Future
        """Send ``?sensor-value``; a future of the stored :class:`KATCPSensorReading`."""
        raise NotImplementedError

    def check_may_block(self, what):
        # type: (str) -> None
        """Raise if the calling thread must not block (the reactor thread)."""
        raise NotImplementedError


def _always_active():
    # type: () -> bool
    return True


class KATCPRequest(object):
    """One request of a device, callable like a method: katcp-python's base class.

    Calling it sends nothing itself: if :meth:`is_active` is false it raises
    :exc:`~katcp_sync.errors.KATCPResourceInactive`, else it returns
    ``self.issue_request(*args, **kwargs)``, which subclasses provide. The
    ``?help`` text is the object's docstring (``help(client.req.add)``).

    Args:
        request_description: a mapping with the keys ``name`` (the KATCP
            request name), ``description`` (its help text) and
            ``timeout_hint`` (the device's ``?request-timeout-hint`` in
            seconds, or ``None``).
        is_active: called with no arguments before each request; the request
            is refused while it returns false. Default: always active.

    Raises:
        ValueError: a key of ``request_description`` is missing.

    Immutable once made: any thread (but see the subclass for blocking).
    """

    def __init__(self, request_description, is_active=_always_active):
        # type: (Mapping[str, Any], Callable[[], bool]) -> None
        missing = [key for key in ("name", "description", "timeout_hint")
                   if key not in request_description]
        if missing:
            raise ValueError("request_description has no %s" % ", ".join(repr(k) for k in missing))
        self.name = request_description["name"]  # type: str
        self.description = request_description["description"]  # type: str
        self.timeout_hint = request_description["timeout_hint"]  # type: Optional[float]
        self._is_active = is_active
        self.__doc__ = self.description

    def is_active(self):
        # type: () -> bool
        """True if the request may be sent now (for a resource's requests:
        the resource is active, and controlled or the request always allowed)."""
        return bool(self._is_active())

    def _check_active(self):
        # type: () -> None
        if not self.is_active():
            raise KATCPResourceInactive(self._inactive_text())

    def _inactive_text(self):
        # type: () -> str
        return "cannot send ?%s: its resource is not active" % self.name

    def issue_request(self, *args, **kwargs):
        # type: (*Any, **Any) -> Any
        """Send the request without checking :meth:`is_active` (subclasses implement it).

        Takes what ``__call__`` takes and returns what it returns.
        """
        raise NotImplementedError("%s does not implement issue_request" % type(self).__name__)

    def __call__(self, *args, **kwargs):
        # type: (*Any, **Any) -> Any
        """Send the request: ``self.issue_request(*args, **kwargs)`` if active.

        Raises:
            KATCPResourceInactive: :meth:`is_active` is false (nothing is sent).
        """
        self._check_active()
        return self.issue_request(*args, **kwargs)

    def __repr__(self):
        # type: () -> str
        return "<%s ?%s>" % (type(self).__name__, self.name)


class KATCPClientResourceRequest(KATCPRequest):
    """A request of a :class:`~katcp_sync.resource.KATCPClientResource`'s device.

    ``req(*args, timeout=None, mid=None)`` sends ``?name args`` and blocks
    until the reply, a :class:`KATCPReply`: it calls
    ``client.wrapped_request(name, *args, timeout=timeout, mid=mid)``, with
    the device's timeout hint as ``timeout`` when none is given (``mid`` is
    passed only if given). :meth:`future` returns a future instead.

    Args:
        request_description: as :class:`KATCPRequest`.
        client: what sends it, in practice the resource (see
            :class:`ResourceManager`: ``wrapped_request``, ``request_future``
            and ``name``).
        is_active: as :class:`KATCPRequest`; the resource passes its
            ``is_request_allowed`` for this request.

    Any thread; the blocking call (not :meth:`future`) not from the reactor thread.
    """

    def __init__(self, request_description, client, is_active=_always_active):
        # type: (Mapping[str, Any], "ResourceManager", Callable[[], bool]) -> None
        super(KATCPClientResourceRequest, self).__init__(request_description, is_active)
        self._client = client

    def _inactive_text(self):
        # type: () -> str
        return ("cannot send ?%s: resource %r is not controlled or not active (create it with"
                " controlled=True, or list the request in always_allowed_requests)"
                % (self.name, getattr(self._client, "name", "?")))

    def issue_request(self, *args, **kwargs):
        # type: (*Any, **Any) -> KATCPReply
        """Send the request and block until its reply (see the class); no active check.

        Not callable from the reactor thread (e.g. in a sensor listener).

        Raises:
            KatcpTimeoutError, KatcpClientDisconnected.
        """
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.timeout_hint
        return self._client.wrapped_request(self.name, *args, **kwargs)

    def future(self, *args, **kwargs):
        # type: (*Any, **Any) -> concurrent.futures.Future
        """Send the request and return a :class:`concurrent.futures.Future` of :class:`KATCPReply`.

        Callable from any thread, including the reactor thread (add a done
        callback rather than waiting there).

        Args:
            args: request arguments (``str``, ``bytes``, numbers, bools).
            timeout: seconds to wait for the reply; default: the device's
                timeout hint for this request, else the resource's default.
            mid: a message id to use instead of an automatic one.

        Raises:
            KATCPResourceInactive: the resource is not controlled or not active.

        The future fails with :class:`~katcp_sync.errors.KatcpTimeoutError`
        or :class:`~katcp_sync.errors.KatcpClientDisconnected`; a ``fail``
        or ``invalid`` reply is a falsy :class:`KATCPReply`, not an error.
        """
        timeout = compat.kwonly_pop(kwargs, 'timeout', None)  # type: Optional[float]
        mid = compat.kwonly_pop(kwargs, 'mid', None)  # type: Any
        compat.kwonly_done('future', kwargs)
        self._check_active()
        return self._client.request_future(self.name, args, timeout, mid, self.timeout_hint)

    def __repr__(self):
        # type: () -> str
        return "<KATCPRequest %s of %s>" % (self.name, getattr(self._client, "name", "?"))


class KATCPDummyRequest(KATCPRequest):
    """A request the device does not have, that always "succeeds" locally.

    Used for unknown requests when a resource has ``dummy_unknown_requests``:
    calling it returns an ``ok`` :class:`KATCPReply` at once (sending
    nothing), :meth:`future` a future done with it. Any thread.
    """

    def _reply(self):
        # type: () -> KATCPReply
        return KATCPReply(Message.reply(self.name.replace("_", "-"), "ok"), [])

    def issue_request(self, *args, **kwargs):
        # type: (*Any, **Any) -> KATCPReply
        """Return an ``ok`` reply; nothing is sent."""
        return self._reply()

    def future(self, *args, **kwargs):
        # type: (*Any, **Any) -> concurrent.futures.Future
        """A future already done with an ``ok`` reply.

        Raises:
            KATCPResourceInactive: :meth:`is_active` is false.
        """
        self._check_active()
        result = compat.Future()  # type: concurrent.futures.Future
        result.set_result(self._reply())
        return result


def make_condition(condition_or_value):
    # type: (Any) -> Callable[[KATCPSensorReading], bool]
    """A predicate on readings: the callable itself, or "value equals this"."""
    if callable(condition_or_value):
        return condition_or_value
    return lambda reading: reading.value == condition_or_value
