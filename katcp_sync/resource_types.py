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

import concurrent.futures
from typing import (TYPE_CHECKING, Any, Callable, NamedTuple, Optional, Protocol, Sequence, Tuple,
                    Union)

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


def escape_name(name: str) -> str:
    """Turn a KATCP request or sensor name into a Python identifier (``.``/``-`` -> ``_``)."""
    return name.replace(".", "_").replace("-", "_")


def normalize_strategy_parameters(strategy_and_params: StrategyLike) -> Tuple[str, ...]:
    """Return a strategy and its parameters as a tuple of strings.

    ``"period 0.5"`` and ``("period", 0.5)`` both give ``("period", "0.5")``.
    Numbers are rendered with ``str(float(x))`` as katcp-python did, so that
    equal strategies compare equal (``"1"`` -> ``"1.0"``).

    Raises:
        KATCPSensorError: the strategy is empty.
    """

    def fix_number(value: Any) -> str:
        try:
            return str(float(value))
        except (TypeError, ValueError):
            return value.decode() if isinstance(value, bytes) else str(value)

    if isinstance(strategy_and_params, (str, bytes)):
        if isinstance(strategy_and_params, bytes):
            strategy_and_params = strategy_and_params.decode()
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
    unless ``missing`` is given: then ``missing(name)`` is returned.
    """

    __slots__ = ("_what", "_missing")

    def __init__(self, *args: Any, what: str = "item", missing: Optional[Callable[[str], Any]] = None,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._what = what
        self._missing = missing

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            if name.startswith("_"):
                raise AttributeError(name) from None
            if self._missing is not None:
                return self._missing(name)
            raise AttributeError(
                "no %s %r (known: %s)" % (self._what, name, ", ".join(sorted(self)) or "none")
            ) from None

    def __missing__(self, key: str) -> Any:
        escaped = escape_name(key)
        if escaped != key and escaped in self:
            return self[escaped]
        raise KeyError(key)

    def __dir__(self):
        return list(super().__dir__()) + list(self)


class KATCPReply(NamedTuple):
    """A request's reply and informs.

    Truthy iff the reply is ``ok``. As in katcp-python, ``str()`` gives the
    wire lines of :attr:`messages` (the reply first, then the informs) and
    ``repr()`` the same lines readably: unescaped, without message ids.

    Attributes:
        reply: the reply :class:`~katcp_sync.message.Message`.
        informs: the inform messages, in order.
    """

    reply: Any
    informs: list

    @property
    def messages(self) -> list:
        """The reply followed by the informs (katcp-python's order)."""
        return [self.reply] + list(self.informs)

    @property
    def succeeded(self) -> bool:
        """True iff the reply code is ``ok``."""
        return self.reply.reply_ok()

    def __bool__(self) -> bool:
        return self.succeeded

    def __str__(self) -> str:
        return "\n".join(str(m) for m in self.messages)

    def __repr__(self) -> str:
        # katcp-python's readable form: no message ids, arguments unescaped
        return "\n".join(
            "%s%s %s" % (Message.TYPE_SYMBOLS[m.mtype].decode("ascii"), m.name,
                         " ".join(a.decode("utf-8", "replace") for a in m.arguments))
            for m in self.messages)


class KATCPSensorReading(NamedTuple):
    """One reading of a remote sensor.

    Attributes:
        received_timestamp: local time (``time.time()``) the reading arrived.
        timestamp: the device's timestamp of the reading (seconds, UTC).
        istatus: the status code (0 unknown ... 6 inactive).
        value: the value, converted to the sensor's Python type.
    """

    received_timestamp: float
    timestamp: float
    istatus: int
    value: Any

    @property
    def status(self) -> str:
        """The status name, e.g. ``"nominal"``."""
        return Sensor.STATUSES.get(self.istatus, "unknown")


class SensorResultTuple(NamedTuple):
    """One sensor found by ``list_sensors()``.

    Attributes:
        object: the :class:`~katcp_sync.resource_base.KATCPSensor`.
        name: its KATCP name; python_identifier: its escaped name.
        description, type, units: from ``#sensor-list``.
        reading: the most recent :class:`KATCPSensorReading`.
    """

    object: "KATCPSensor"
    name: str
    python_identifier: str
    description: str
    type: str
    units: str
    reading: KATCPSensorReading


class ResourceManager(Protocol):
    """What :class:`KATCPRequest` and :class:`~katcp_sync.resource_base.KATCPSensor` need from
    their resource.

    Documentation only (katcp_sync.resource.KATCPClientResource implements it).
    Every method must be callable from any thread; ``wait_future`` blocks, so
    callers use :meth:`check_may_block` first.
    """

    @property
    def name(self) -> str:
        """The resource's name."""
        raise NotImplementedError

    def is_request_allowed(self, request_name: str) -> bool:
        """May ``request_name`` be sent now (controlled and active)?"""
        raise NotImplementedError

    def request_future(self, name: str, args: tuple, timeout: Optional[float], mid: Any,
                       timeout_hint: Optional[float]) -> concurrent.futures.Future:
        """Send ``?name args`` and return a future of :class:`KATCPReply`."""
        raise NotImplementedError

    def wait_future(self, future: concurrent.futures.Future, timeout: Optional[float], what: str) -> Any:
        """Block (not on the reactor thread) until ``future`` is done; return its result."""
        raise NotImplementedError

    def wait_bound(self, timeout: Optional[float], timeout_hint: Optional[float]) -> float:
        """How long a blocking call may wait for a request with this timeout and hint."""
        raise NotImplementedError

    def get_sampling_strategy(self, sensor_name: str) -> Tuple[str, ...]:
        """The strategy remembered for ``sensor_name``, or ``("none",)``."""
        raise NotImplementedError

    def set_sensor_strategy(self, sensor_name: str, strategy: StrategyLike,
                            timeout: Optional[float]) -> Tuple[str, ...]:
        """Set and remember a strategy, blocking until the device accepts it."""
        raise NotImplementedError

    def drop_sampling_strategy(self, sensor_name: str) -> None:
        """Forget a strategy and set ``none`` on the device, without waiting."""
        raise NotImplementedError

    def poll_sensor_future(self, sensor_name: str, timeout: Optional[float]) -> concurrent.futures.Future:
        """Send ``?sensor-value``; a future of the stored :class:`KATCPSensorReading`."""
        raise NotImplementedError

    def check_may_block(self, what: str) -> None:
        """Raise if the calling thread must not block (the reactor thread)."""
        raise NotImplementedError


class KATCPRequest:
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

    def __init__(self, name: str, description: str, timeout_hint: Optional[float],
                 manager: "ResourceManager") -> None:
        self.name = name
        self.description = description
        self.timeout_hint = timeout_hint
        self._manager = manager
        self.__doc__ = description

    def is_active(self) -> bool:
        """True if the request may be sent now (resource controlled and active)."""
        return self._manager.is_request_allowed(self.name)

    def future(self, *args: Any, timeout: Optional[float] = None, mid: Any = None,
               ) -> concurrent.futures.Future:
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
        if not self.is_active():
            raise KATCPResourceInactive(
                "cannot send ?%s: resource %r is not controlled or not active (create it with"
                " controlled=True, or list the request in always_allowed_requests)"
                % (self.name, self._manager.name))
        return self._manager.request_future(self.name, args, timeout, mid, self.timeout_hint)

    def __call__(self, *args: Any, timeout: Optional[float] = None, mid: Any = None) -> KATCPReply:
        """Send the request and block until its reply (see :meth:`future`).

        Not callable from the reactor thread (e.g. in a sensor listener).

        Raises:
            KATCPResourceInactive, KatcpTimeoutError, KatcpClientDisconnected.
        """
        self._manager.check_may_block("?%s" % self.name)
        future = self.future(*args, timeout=timeout, mid=mid)
        return self._manager.wait_future(future, self._manager.wait_bound(timeout, self.timeout_hint), "?" + self.name)

    def __repr__(self) -> str:
        return "<KATCPRequest %s of %s>" % (self.name, self._manager.name)


class KATCPDummyRequest(KATCPRequest):
    """A request the device does not have, that always "succeeds" locally.

    Used for unknown requests when a resource has ``dummy_unknown_requests``.
    """

    def future(self, *args: Any, timeout: Optional[float] = None, mid: Any = None,
               ) -> concurrent.futures.Future:
        result: concurrent.futures.Future = concurrent.futures.Future()
        result.set_result(KATCPReply(Message.reply(self.name.replace("_", "-"), "ok"), []))
        return result


def make_condition(condition_or_value: Any) -> Callable[[KATCPSensorReading], bool]:
    """A predicate on readings: the callable itself, or "value equals this"."""
    if callable(condition_or_value):
        return condition_or_value
    return lambda reading: reading.value == condition_or_value
