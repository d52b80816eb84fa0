"""The sensor of a remote device as the high-level client hands it out.

:class:`KATCPSensor` keeps a sensor's description and latest reading, calls
its listeners, polls it and sets its sampling strategy through its manager
(see :class:`~katcp_sync.resource_types.ResourceManager`). This module is
also the face of :mod:`katcp_sync.resource_types` (replies, readings,
requests, names), whose names it re-exports.
"""

from __future__ import absolute_import, division, print_function

import concurrent.futures
import logging
import threading
import time
from typing import Any, Callable, Dict, Optional, Tuple, Union

from . import compat
from .errors import KATCPSensorError, SensorTimeoutError
from .formatting import format_seconds
from .resource_types import (AttrDict, KATCPClientResourceRequest, KATCPDummyRequest, KATCPReply,
                             KATCPRequest, KATCPSensorReading, ResourceManager, SensorResultTuple,
                             StrategyLike, escape_name, make_condition, normalize_strategy_parameters)
from .sensor import Sensor

__all__ = [
    "AttrDict",
    "escape_name",
    "normalize_strategy_parameters",
    "KATCPReply",
    "KATCPSensorReading",
    "SensorResultTuple",
    "KATCPRequest",
    "KATCPClientResourceRequest",
    "KATCPDummyRequest",
    "KATCPSensor",
    "make_condition",
    "value_parser",
]

logger = logging.getLogger(__name__)

_UNKNOWN = Sensor.UNKNOWN


def value_parser(type_name, major):
    # type: (str, int) -> Callable[[bytes], Any]
    """Return a function converting a sensor's raw values to Python values.

    Values are decoded without range or membership checks: spec 7.2 makes
    the ``#sensor-list`` params informational, and a client must accept
    what the device reports. An unknown type is read as a string.
    """
    try:
        stype = Sensor.parse_type(type_name)
    except ValueError:
        stype = Sensor.STRING
    kattype_class = Sensor.SENSOR_TYPES[stype][0]
    kattype = kattype_class(()) if stype == Sensor.DISCRETE else kattype_class()
    return lambda raw: kattype.decode(raw, major)


def _listener_key(listener):
    # type: (Callable) -> Any
    try:
        hash(listener)
        return listener  # bound methods compare equal when self and function match
    except TypeError:
        return id(listener)


class KATCPSensor(object):
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

    def __init__(self, name, description, units, type, params,
                 parse_value, manager):
        # type: (str, str, str, str, Tuple[str, ...], Callable[[bytes], Any], "ResourceManager") -> None
        self._name = name
        self._manager = manager
        self._lock = threading.Lock()
        self._listeners = {}  # type: Dict[Any, Tuple[Callable, bool]]
        self._reading = KATCPSensorReading(0.0, 0.0, _UNKNOWN, None)
        self._polled = False        # the stored reading answered a poll
        self._delivering = False    # a thread is calling the listeners
        self._update_info(description, units, type, params, parse_value)

    def _update_info(self, description, units, type, params,
                     parse_value):
        # type: (str, str, str, Tuple[str, ...], Callable[[bytes], Any]) -> None
        """Take a newer ``#sensor-list`` description (after a re-sync)."""
        self.description = description
        self.units = units
        self.type = type
        self.params = tuple(params)
        self._parse_value = parse_value

    # -- description -----------------------------------------------------------

    @property
    def name(self):
        # type: () -> str
        """The KATCP name, e.g. ``"fruit.result"``."""
        return self._name

    @property
    def normalised_name(self):
        # type: () -> str
        """The Python identifier, e.g. ``"fruit_result"``."""
        return escape_name(self._name)

    @property
    def parent(self):
        # type: () -> "ResourceManager"
        """The resource this sensor belongs to."""
        return self._manager

    @property
    def parent_name(self):
        # type: () -> str
        """The name of the resource this sensor belongs to."""
        return self._manager.name

    @property
    def sampling_strategy(self):
        # type: () -> Tuple[str, ...]
        """The strategy set through this client, e.g. ``("event",)``, or ``("none",)``."""
        return self._manager.get_sampling_strategy(self._name)

    def parse_value(self, raw):
        # type: (Union[bytes, str]) -> Any
        """Convert a raw value as on the wire to this sensor's Python type."""
        return self._parse_value(raw.encode() if isinstance(raw, str) else raw)

    # -- the latest reading ------------------------------------------------------

    @property
    def reading(self):
        # type: () -> KATCPSensorReading
        """The most recent reading received (status ``unknown`` before any)."""
        return self._reading

    @property
    def value(self):
        # type: () -> Any
        """The value of :attr:`reading`."""
        return self._reading.value

    @property
    def status(self):
        # type: () -> str
        """The status name of :attr:`reading`, e.g. ``"nominal"``."""
        return self._reading.status

    def set(self, timestamp, status, value, polled=False):
        # type: (float, Union[int, str], Any, bool) -> None
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

    def _deliver(self, reading):
        # type: (KATCPSensorReading) -> None
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

    def set_value(self, value, status=Sensor.NOMINAL, timestamp=None):
        # type: (Any, Union[int, str], Optional[float]) -> None
        """Store a value locally (status nominal, timestamp now by default)."""
        self.set(time.time() if timestamp is None else timestamp, status, value)

    def set_formatted(self, raw_timestamp, raw_status, raw_value,
                      major=5, polled=False):
        # type: (bytes, bytes, bytes, int, bool) -> None
        """Store a reading given as raw wire fields (as in ``#sensor-status``).

        ``polled``: it came from ``?sensor-value`` (see :meth:`set`).

        Raises:
            ValueError: a field cannot be parsed (the reading is not stored).
        """
        timestamp = Sensor.TIMESTAMP_TYPE.unpack(raw_timestamp, major)
        try:
            status = Sensor.STATUS_NAMES_RAW[raw_status]
        except KeyError:
            raise compat.chained(ValueError("unknown sensor status %r" % (raw_status,)), None)
        self.set(timestamp, status, self._parse_value(raw_value), polled=polled)

    # -- polling -------------------------------------------------------------------

    def get_reading(self, timeout=None):
        # type: (Optional[float]) -> KATCPSensorReading
        """Poll the device (``?sensor-value``), store and return the fresh reading.

        Listeners are called. Raises :class:`~katcp_sync.errors.KATCPSensorError`
        if the device refuses, KatcpTimeoutError / KatcpClientDisconnected.
        """
        self._manager.check_may_block("get_reading")
        return self._manager.wait_future(self.get_reading_future(timeout), self._manager.wait_bound(timeout, None),
                                         "?sensor-value " + self._name)

    def get_reading_future(self, timeout=None):
        # type: (Optional[float]) -> concurrent.futures.Future
        """Poll the device; a future of the fresh reading (any thread, never blocks)."""
        return self._manager.poll_sensor_future(self._name, timeout)

    def get_value(self, timeout=None):
        # type: (Optional[float]) -> Any
        """Poll the device and return the fresh value (see :meth:`get_reading`)."""
        return self.get_reading(timeout).value

    def get_status(self, timeout=None):
        # type: (Optional[float]) -> str
        """Poll the device and return the fresh status name (see :meth:`get_reading`)."""
        return self.get_reading(timeout).status

    # -- strategies --------------------------------------------------------------

    def set_sampling_strategy(self, strategy, timeout=None):
        # type: (StrategyLike, Optional[float]) -> Tuple[str, ...]
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

    def set_strategy(self, strategy, params=None, timeout=None):
        # type: (str, Any, Optional[float]) -> Tuple[str, ...]
        """Set the strategy from a name and parameters (str, number or sequence).

        ``set_strategy("period", 0.5)`` equals ``set_sampling_strategy(("period", 0.5))``.
        """
        if params is None:
            params = ()
        elif isinstance(params, str):
            params = params.split()
        elif not isinstance(params, compat.collections_abc.Iterable):
            params = (params,)
        return self.set_sampling_strategy((strategy,) + tuple(params), timeout)

    def drop_sampling_strategy(self):
        # type: () -> None
        """Forget the strategy (and set ``none`` on the device if connected)."""
        self._manager.drop_sampling_strategy(self._name)

    # -- listeners -----------------------------------------------------------------

    def register_listener(self, listener, reading=False):
        # type: (Callable, bool) -> None
        """Call ``listener`` on every new reading.

        With ``reading=True`` it is called as ``listener(sensor, reading)``,
        else as ``listener(received_timestamp, timestamp, status, value)``.
        Listeners survive reconnects and re-syncs.
        """
        with self._lock:
            self._listeners[_listener_key(listener)] = (listener, reading)

    def unregister_listener(self, listener):
        # type: (Callable) -> None
        """Remove a listener (no error if it was not registered)."""
        with self._lock:
            self._listeners.pop(_listener_key(listener), None)

    def is_listener(self, listener):
        # type: (Callable) -> bool
        """True if ``listener`` is registered."""
        with self._lock:
            return _listener_key(listener) in self._listeners

    def clear_listeners(self):
        # type: () -> None
        """Remove every listener."""
        with self._lock:
            self._listeners.clear()

    # -- waiting ---------------------------------------------------------------------

    def wait(self, condition_or_value, timeout=5):
        # type: (Any, Optional[float]) -> bool
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
        satisfied = compat.Event()

        def check(_sensor, reading):
            # type: ("KATCPSensor", KATCPSensorReading) -> None
            if condition(reading):
                satisfied.set()

        self.register_listener(check, reading=True)
        try:
            check(self, self._reading)
            if not satisfied.wait(compat.wait_timeout(timeout)):
                raise SensorTimeoutError(
                    "sensor %s: condition %r not met within %s s (last reading %r)"
                    % (self._name, condition_or_value, format_seconds(timeout), self._reading))
        finally:
            self.unregister_listener(check)
        return True

    def __repr__(self):
        # type: () -> str
        return "<KATCPSensor %s of %s: %s %r>" % (self._name, self._manager.name, self.status, self.value)
