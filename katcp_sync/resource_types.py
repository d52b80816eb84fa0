"""The plain objects of the high-level client: names, strategies, replies, readings, requests.

These know nothing of sockets. Each :class:`KATCPRequest` (and each
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
from typing import TYPE_CHECKING, Any, Callable, NamedTuple, Optional, Sequence, Tuple, Union

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
    """What :class:`KATCPRequest` and :class:`~katcp_sync.resource_base.KATCPSensor` need from
    their resource.

    Documentation only (katcp_sync.resource.KATCPClientResource implements it).
    Every method must be callable from any thread; ``wait_future`` blocks, so
    callers use :meth:`check_may_block` first.
    """

    @property
    def name(self):
        # type: () -> str
        """The resource's name."""
        raise NotImplementedError

    def is_request_allowed(self, request_name):
        # type: (str) -> bool
        """May ``request_name`` be sent now (controlled and active)?"""
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


class KATCPRequest(object):
    """One request of a device, callable like a method.

    ``req(*args, timeout=None, mid=None)`` sends ``?name args`` and blocks
    until the reply; :meth:`future` returns a future instead. The ``?help``
    text is the object's docstring (``help(client.req.add)``).

    Args:
        name: the KATCP request name; description: its help text;
        timeout_hint: the device's ``?request-timeout-hint`` or ``None``;
        manager: the owning resource.

    Any thread; the blocking call (not :meth:`future`) not from the reactor thread.
    """

    def __init__(self, name, description, timeout_hint,
                 manager):
        # type: (str, str, Optional[float], "ResourceManager") -> None
        self.name = name
        self.description = description
        self.timeout_hint = timeout_hint
        self._manager = manager
        self.__doc__ = description

    def is_active(self):
        # type: () -> bool
        """True if the request may be sent now (resource controlled and active)."""
        return self._manager.is_request_allowed(self.name)

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
        if not self.is_active():
            raise KATCPResourceInactive(
                "cannot send ?%s: resource %r is not controlled or not active (create it with"
                " controlled=True, or list the request in always_allowed_requests)"
                % (self.name, self._manager.name))
        return self._manager.request_future(self.name, args, timeout, mid, self.timeout_hint)

    def __call__(self, *args, **kwargs):
        # type: (*Any, **Any) -> KATCPReply
        """Send the request and block until its reply (see :meth:`future`).

        Not callable from the reactor thread (e.g. in a sensor listener).

        Raises:
            KATCPResourceInactive, KatcpTimeoutError, KatcpClientDisconnected.
        """
        timeout = compat.kwonly_pop(kwargs, 'timeout', None)  # type: Optional[float]
        mid = compat.kwonly_pop(kwargs, 'mid', None)  # type: Any
        compat.kwonly_done('__call__', kwargs)
        self._manager.check_may_block("?%s" % self.name)
        future = self.future(*args, timeout=timeout, mid=mid)
        return self._manager.wait_future(future, self._manager.wait_bound(timeout, self.timeout_hint), "?" + self.name)

    def __repr__(self):
        # type: () -> str
        return "<KATCPRequest %s of %s>" % (self.name, self._manager.name)


class KATCPDummyRequest(KATCPRequest):
    """A request the device does not have, that always "succeeds" locally.

    Used for unknown requests when a resource has ``dummy_unknown_requests``.
    Any thread, as :class:`KATCPRequest`.
    """

    def future(self, *args, **kwargs):
        # type: (*Any, **Any) -> concurrent.futures.Future
        timeout = compat.kwonly_pop(kwargs, 'timeout', None)  # type: Optional[float]
        mid = compat.kwonly_pop(kwargs, 'mid', None)  # type: Any
        compat.kwonly_done('future', kwargs)
        result = compat.Future()  # type: concurrent.futures.Future
        result.set_result(KATCPReply(Message.reply(self.name.replace("_", "-"), "ok"), []))
        return result


def make_condition(condition_or_value):
    # type: (Any) -> Callable[[KATCPSensorReading], bool]
    """A predicate on readings: the callable itself, or "value equals this"."""
    if callable(condition_or_value):
        return condition_or_value
    return lambda reading: reading.value == condition_or_value
