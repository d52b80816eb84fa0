"""The objects a high-level client hands out: replies, readings, requests, sensors.

These wrappers know nothing of sockets. Each :class:`KATCPRequest` and
:class:`KATCPSensor` talks to a *manager* (in practice a
:class:`~katcp_sync.resource.KATCPClientResource`) through a handful of
methods, listed in :class:`ResourceManager`, which makes them easy to test
with a fake.

The default API is blocking (``client.req.add(3, 6)`` returns a
:class:`KATCPReply`); where work should overlap, ``.future(...)`` returns a
:class:`concurrent.futures.Future` instead.
"""

import collections.abc
import concurrent.futures
import logging
import threading
import time
from typing import Any, Callable, Dict, NamedTuple, Optional, Protocol, Sequence, Tuple, Union

from katcp_sync.errors import KATCPResourceInactive, KATCPSensorError, SensorTimeoutError
from katcp_sync.message import Message
from katcp_sync.sensor import Sensor

__all__ = [
    "AttrDict",
    "escape_name",
    "normalize_strategy_parameters",
    "KATCPReply",
    "KATCPSensorReading",
    "SensorResultTuple",
    "KATCPRequest",
    "KATCPDummyRequest",
    "KATCPSensor",
    "make_condition",
]

logger = logging.getLogger(__name__)

_UNKNOWN = Sensor.UNKNOWN

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
        object: the :class:`KATCPSensor`.
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
    """What :class:`KATCPRequest` and :class:`KATCPSensor` need from their resource.

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


def _listener_key(listener: Callable) -> Any:
    try:
        hash(listener)
        return listener  # bound methods compare equal when self and function match
    except TypeError:
        return id(listener)


class KATCPSensor:
    """A sensor of a remote device: its description and latest reading.

    ``reading``/``value``/``status`` are kept current by the sampling strategy
    you set (:meth:`set_strategy`); :meth:`get_reading` and friends poll the
    device with ``?sensor-value``. Listeners are called on the reactor thread
    (for strategy updates) or the polling thread, never under a lock; they must
    not block.

    Args:
        name, description, units, type: from ``#sensor-list``;
        params: the type parameters (tuple of str);
        parse_value: converts a raw value (bytes) to a Python value;
        manager: the owning resource.

    Every method may be called from any thread; those that block
    (``get_*``, ``set_strategy``, ``wait``) not from the reactor thread.
    """

    def __init__(self, name: str, description: str, units: str, type: str, params: Tuple[str, ...],
                 parse_value: Callable[[bytes], Any], manager: "ResourceManager") -> None:
        self._name = name
        self._manager = manager
        self._lock = threading.Lock()
        self._listeners: Dict[Any, Tuple[Callable, bool]] = {}
        self._reading = KATCPSensorReading(0.0, 0.0, _UNKNOWN, None)
        self._polled = False        # the stored reading answered a poll
        self._delivering = False    # a thread is calling the listeners
        self._update_info(description, units, type, params, parse_value)

    def _update_info(self, description: str, units: str, type: str, params: Tuple[str, ...],
                     parse_value: Callable[[bytes], Any]) -> None:
        """Take a newer ``#sensor-list`` description (after a re-sync)."""
        self.description = description
        self.units = units
        self.type = type
        self.params = tuple(params)
        self._parse_value = parse_value

    # -- description -----------------------------------------------------------

    @property
    def name(self) -> str:
        """The KATCP name, e.g. ``"fruit.result"``."""
        return self._name

    @property
    def normalised_name(self) -> str:
        """The Python identifier, e.g. ``"fruit_result"``."""
        return escape_name(self._name)

    @property
    def parent(self) -> "ResourceManager":
        """The resource this sensor belongs to."""
        return self._manager

    @property
    def parent_name(self) -> str:
        """The name of the resource this sensor belongs to."""
        return self._manager.name

    @property
    def sampling_strategy(self) -> Tuple[str, ...]:
        """The strategy set through this client, e.g. ``("event",)``, or ``("none",)``."""
        return self._manager.get_sampling_strategy(self._name)

    def parse_value(self, raw: Union[bytes, str]) -> Any:
        """Convert a raw value as on the wire to this sensor's Python type."""
        return self._parse_value(raw.encode() if isinstance(raw, str) else raw)

    # -- the latest reading ------------------------------------------------------

    @property
    def reading(self) -> KATCPSensorReading:
        """The most recent reading received (status ``unknown`` before any)."""
        return self._reading

    @property
    def value(self) -> Any:
        """The value of :attr:`reading`."""
        return self._reading.value

    @property
    def status(self) -> str:
        """The status name of :attr:`reading`, e.g. ``"nominal"``."""
        return self._reading.status

    def set(self, timestamp: float, status: Union[int, str], value: Any, *,
            polled: bool = False) -> None:
        """Store a reading and call the listeners.

        Readings are stored in the order they are given (a device's sampled
        ``#sensor-status`` stream is in order), except that a reading never
        replaces a newer one that came from the other source: a ``polled``
        reading (``?sensor-value``) older, by its timestamp, than the
        stored one is dropped, and so is the first sampled reading older
        than a stored polled one (a sample the device read before the poll
        but sent after its reply).

        Listeners see the stored readings in order, never an older one
        after a newer: a call that finds another thread calling the
        listeners leaves its reading to that thread (which calls them again
        with the newest reading before it returns) and returns at once.
        Listeners are called without any lock held.

        Args:
            timestamp: the device's timestamp (seconds).
            status: a status code or name.
            value: the value.
            polled: the reading answers a poll, not a sampling strategy.
        """
        if isinstance(status, str):
            status = Sensor.STATUS_NAMES.get(status, _UNKNOWN)
        reading = KATCPSensorReading(time.time(), timestamp, status, value)
        with self._lock:
            if (polled or self._polled) and timestamp < self._reading.timestamp:
                if not polled:
                    # One stale sample dropped; then arrival order again, so
                    # a device clock that steps back cannot freeze the cache.
                    self._polled = False
                return
            self._reading = reading
            self._polled = polled
            if self._delivering:
                return
            self._delivering = True
        self._deliver(reading)

    def _deliver(self, reading: KATCPSensorReading) -> None:
        """Call the listeners with ``reading``, then with any newer reading
        stored meanwhile, until none is left (the delivering thread)."""
        try:
            while True:
                with self._lock:
                    listeners = list(self._listeners.values())
                for listener, with_reading in listeners:
                    try:
                        if with_reading:
                            listener(self, reading)
                        else:
                            listener(reading.received_timestamp, reading.timestamp,
                                     reading.status, reading.value)
                    except Exception:
                        logger.exception("sensor %s: listener %r failed", self._name, listener)
                with self._lock:
                    if self._reading is reading:
                        self._delivering = False
                        return
                    reading = self._reading
        except BaseException:
            with self._lock:
                self._delivering = False
            raise

    def set_value(self, value: Any, status: Union[int, str] = Sensor.NOMINAL, timestamp: Optional[float] = None) -> None:
        """Store a value locally (status nominal, timestamp now by default)."""
        self.set(time.time() if timestamp is None else timestamp, status, value)

    def set_formatted(self, raw_timestamp: bytes, raw_status: bytes, raw_value: bytes,
                      major: int = 5, *, polled: bool = False) -> None:
        """Store a reading given as raw wire fields (as in ``#sensor-status``).

        ``polled``: it came from ``?sensor-value`` (see :meth:`set`).

        Raises:
            ValueError: a field cannot be parsed (the reading is not stored).
        """
        timestamp = Sensor.TIMESTAMP_TYPE.unpack(raw_timestamp, major)
        try:
            status = Sensor.STATUS_NAMES_RAW[raw_status]
        except KeyError:
            raise ValueError("unknown sensor status %r" % (raw_status,)) from None
        self.set(timestamp, status, self._parse_value(raw_value), polled=polled)

    # -- polling -------------------------------------------------------------------

    def get_reading(self, timeout: Optional[float] = None) -> KATCPSensorReading:
        """Poll the device (``?sensor-value``), store and return the fresh reading.

        Listeners are called. Raises :class:`~katcp_sync.errors.KATCPSensorError`
        if the device refuses, KatcpTimeoutError / KatcpClientDisconnected.
        """
        self._manager.check_may_block("get_reading")
        return self._manager.wait_future(self.get_reading_future(timeout), self._manager.wait_bound(timeout, None),
                                         "?sensor-value " + self._name)

    def get_reading_future(self, timeout: Optional[float] = None) -> concurrent.futures.Future:
        """Poll the device; a future of the fresh reading (any thread, never blocks)."""
        return self._manager.poll_sensor_future(self._name, timeout)

    def get_value(self, timeout: Optional[float] = None) -> Any:
        """Poll the device and return the fresh value (see :meth:`get_reading`)."""
        return self.get_reading(timeout).value

    def get_status(self, timeout: Optional[float] = None) -> str:
        """Poll the device and return the fresh status name (see :meth:`get_reading`)."""
        return self.get_reading(timeout).status

    # -- strategies --------------------------------------------------------------

    def set_sampling_strategy(self, strategy: StrategyLike, timeout: Optional[float] = None,
                              ) -> Tuple[str, ...]:
        """Set the sampling strategy, e.g. ``"event"`` or ``("period", 0.5)``.

        The strategy is remembered: it is re-applied after a reconnect or
        re-sync, and applied when the sensor appears if it is not there yet.
        Blocks until the device accepts it (if connected).

        Returns:
            The normalised strategy tuple.

        Raises:
            KATCPSensorError: the device refused it (it is then forgotten).
        """
        return self._manager.set_sensor_strategy(self._name, strategy, timeout)

    def set_strategy(self, strategy: str, params: Any = None, timeout: Optional[float] = None,
                     ) -> Tuple[str, ...]:
        """Set the strategy from a name and parameters (str, number or sequence).

        ``set_strategy("period", 0.5)`` equals ``set_sampling_strategy(("period", 0.5))``.
        """
        if params is None:
            params = ()
        elif isinstance(params, str):
            params = params.split()
        elif not isinstance(params, collections.abc.Iterable):
            params = (params,)
        return self.set_sampling_strategy((strategy,) + tuple(params), timeout)

    def drop_sampling_strategy(self) -> None:
        """Forget the strategy (and set ``none`` on the device if connected)."""
        self._manager.drop_sampling_strategy(self._name)

    # -- listeners -----------------------------------------------------------------

    def register_listener(self, listener: Callable, reading: bool = False) -> None:
        """Call ``listener`` on every new reading.

        With ``reading=True`` it is called as ``listener(sensor, reading)``,
        else as ``listener(received_timestamp, timestamp, status, value)``.
        Listeners survive reconnects and re-syncs.
        """
        with self._lock:
            self._listeners[_listener_key(listener)] = (listener, reading)

    def unregister_listener(self, listener: Callable) -> None:
        """Remove a listener (no error if it was not registered)."""
        with self._lock:
            self._listeners.pop(_listener_key(listener), None)

    def is_listener(self, listener: Callable) -> bool:
        """True if ``listener`` is registered."""
        with self._lock:
            return _listener_key(listener) in self._listeners

    def clear_listeners(self) -> None:
        """Remove every listener."""
        with self._lock:
            self._listeners.clear()

    # -- waiting ---------------------------------------------------------------------

    def wait(self, condition_or_value: Any, timeout: Optional[float] = 5) -> bool:
        """Block until the reading satisfies a condition.

        Args:
            condition_or_value: a callable taking a :class:`KATCPSensorReading`
                and returning true when satisfied, or a value the sensor's
                value must equal.
            timeout: seconds (``None``: no limit).

        Returns:
            True (checked against the current reading first).

        Raises:
            KATCPSensorError: no sampling strategy is set, so no update could come.
            SensorTimeoutError (``errors.TimeoutException``): not satisfied in time.
        """
        if self.sampling_strategy[0] == "none":
            raise KATCPSensorError(
                "sensor %s has no sampling strategy: set one (e.g. set_strategy('event')) before wait()"
                % self._name)
        self._manager.check_may_block("wait")
        condition = make_condition(condition_or_value)
        satisfied = threading.Event()

        def check(_sensor: "KATCPSensor", reading: KATCPSensorReading) -> None:
            if condition(reading):
                satisfied.set()

        self.register_listener(check, reading=True)
        try:
            check(self, self._reading)
            if not satisfied.wait(timeout):
                raise SensorTimeoutError(
                    "sensor %s: condition %r not met within %s s (last reading %r)"
                    % (self._name, condition_or_value, timeout, self._reading))
        finally:
            self.unregister_listener(check)
        return True

    def __repr__(self) -> str:
        return "<KATCPSensor %s of %s: %s %r>" % (self._name, self._manager.name, self.status, self.value)
