"""Sensors: named, typed values with a status and a timestamp (spec section 7).

A :class:`Sensor` holds its current :class:`Reading` -- a ``(timestamp,
status, value)`` triple -- and a list of observers. Setting a value replaces
the reading with a new immutable tuple in a single store, so a reader on any
thread sees one whole reading, never parts of two, without taking a lock.
Then every observer's ``update(sensor, reading)`` is called on the setting
thread, with no lock held: an observer may set sensors, attach or detach.

The per-sensor lock only serialises changes to the observer list, which is
an immutable tuple replaced on each change (copy on write), so notifying
iterates over a snapshot while other threads attach and detach.

Observers of a sensor set concurrently from several threads are called
concurrently, and may see the readings in a different order than the
sensor stored them (a thread may be preempted between its store and its
notification): call :meth:`Sensor.read` in the observer if the latest value
matters, as the sampling strategies do (see "Ordering" in
:mod:`katcp_sync.sampling`). (katcp-python's contract: updates are
thread-safe provided the observers are.)

Values are checked by :meth:`Sensor.set_value` with the sensor's kattype:
the Python type for every sensor type, membership for discrete sensors.
Integer and float ``params`` ranges are *not* enforced, as in katcp-python:
spec 7.2 makes them informational (clients must accept values outside them)
and leaves the status to the device.
"""

from __future__ import absolute_import, division, print_function

import collections
import logging
import re
import threading
import time
from typing import Any, Callable, Dict, FrozenSet, List, Optional, Sequence, Text, Tuple, Type, Union, cast

import six
from six.moves import builtins

from . import compat
from .argtypes import (
    Address,
    Bool,
    Discrete,
    Float,
    Int,
    KatcpType,
    Lru,
    Str,
    Timestamp,
)
from .errors import KatcpValueError
from .escaping import escape_argument
from .observers import Observer, Reading
from .protocol import DEFAULT_KATCP_MAJOR
from .sampling import check_auto_strategy

__all__ = ["Reading", "Sensor"]

logger = logging.getLogger(__name__)

# Spec 7: "a-z A-Z 0-9 . - _" only.
_SENSOR_NAME_RE = re.compile(r"[a-zA-Z0-9._-]+\Z")

_NO_PARAMS = ()  # type: Tuple[Any, ...]
_new_tuple = tuple.__new__


class _FactoryOrAccessor(object):
    """A name that is a factory classmethod on the class and a method on instances.

    katcp-python's ``Sensor.timestamp(name, ...)`` creates a timestamp sensor,
    while ``sensor.timestamp()`` reads the timestamp of its current reading,
    next to ``value()`` and ``status()``.
    """

    def __init__(self, factory, accessor):
        # type: (Any, Any) -> None
        self._factory = factory
        self._accessor = accessor
        self.__doc__ = "%s\n\nOn an instance: %s" % (factory.__doc__, accessor.__doc__)

    def __get__(self, instance, owner):
        # type: (Any, type) -> Any
        if instance is None:
            return self._factory.__get__(owner, type(owner))
        return self._accessor.__get__(instance, owner)


def _decoded(value):
    # type: (Any) -> Any
    """``bytes`` or text as the native ``str`` (bytes decoded as UTF-8 on
    Python 3, ``unicode`` encoded as UTF-8 on 2); anything else as it is."""
    if type(value) is not str and isinstance(value, (bytes, six.text_type)):
        return compat.native_text(value)
    return value


class Sensor(object):
    """A KATCP sensor.

    Args:
        sensor_type: one of the type constants (``Sensor.INTEGER`` ...
            ``Sensor.ADDRESS``) or a shortcut ``int``, ``float``, ``str``,
            ``bool``.
        name: the sensor name; only ``a-z A-Z 0-9 . - _`` (spec 7).
            ``name``, ``description`` and ``units`` are stored as the native
            ``str``; ``bytes`` (decoded as UTF-8, as in katcp-python) and,
            on Python 2, ``unicode`` (encoded as UTF-8) are accepted.
        description: one-line description; generated when ``None``.
        units: units of the value (``None`` or ``""``: none). Timestamp
            sensors take none (their unit is fixed by the protocol).
        params: integer/float: ``[min, max]`` or ``[nominal-min, nominal-max,
            warn-min, warn-max]`` (spec 7.2, informational; not enforced);
            discrete: the allowed values (required); other types: none.
        default: initial value; by type 0, 0.0, ``False``, ``LRU_NOMINAL``,
            the first discrete value, ``""``, 0.0, ``Address.NULL``. A numeric
            default of 0 outside ``[params[0], params[1]]`` becomes ``params[0]``.
        initial_status: initial status (``None``: ``Sensor.UNKNOWN``).
        status_func: ``status_func(value)`` gives the status of a value set
            without one (``set_value(value)``); ``None``: ``Sensor.NOMINAL``
            (aiokatcp's option).
        auto_strategy: what ``auto`` sampling means for this sensor: a
            strategy constant (``SampleStrategy.EVENT_RATE``) or name
            (``"event-rate"``); ``None``: every update (aiokatcp's option,
            e.g. to keep a fast sensor from flooding its clients).
        auto_strategy_parameters: its parameters, in seconds for periods.

    Raises:
        ValueError: bad name, type, params, units, status or auto strategy.
        KatcpTypeError: ``default`` has the wrong type.

    All methods may be called from any thread.
    """

    # Define the constants before the factory classmethods named int, float,
    # ... would shadow the builtins in this class body.
    INTEGER, FLOAT, BOOLEAN, LRU, DISCRETE, STRING, TIMESTAMP, ADDRESS = range(8)

    #: Sensor type -> (kattype class, default value).
    SENSOR_TYPES = {
        INTEGER: (Int, 0),
        FLOAT: (Float, 0.0),
        BOOLEAN: (Bool, False),
        LRU: (Lru, Lru.LRU_NOMINAL),
        DISCRETE: (Discrete, None),  # the first allowed value
        STRING: (Str, ""),
        TIMESTAMP: (Timestamp, 0.0),
        ADDRESS: (Address, Address.NULL),
    }  # type: Dict[int, Tuple[Type[KatcpType], Any]]

    #: Python types accepted as sensor types.
    SENSOR_SHORTCUTS = dict.fromkeys(six.integer_types, INTEGER)  # type: Dict[object, int]
    SENSOR_SHORTCUTS.update({float: FLOAT, str: STRING, six.text_type: STRING, bool: BOOLEAN})

    #: KATCP type name (``"integer"``...) -> sensor type.
    SENSOR_TYPE_LOOKUP = {kattype.name: stype for stype, (kattype, _) in SENSOR_TYPES.items()}

    UNKNOWN, NOMINAL, WARN, ERROR, FAILURE, UNREACHABLE, INACTIVE = range(7)

    #: Status -> name (spec Table 8).
    STATUSES = {
        UNKNOWN: "unknown",
        NOMINAL: "nominal",
        WARN: "warn",
        ERROR: "error",
        FAILURE: "failure",
        UNREACHABLE: "unreachable",
        INACTIVE: "inactive",
    }
    #: Status name -> status.
    STATUS_NAMES = {name: status for status, name in STATUSES.items()}
    #: Status -> name as ``bytes``, as on the wire.
    STATUSES_RAW = {status: name.encode("ascii") for status, name in STATUSES.items()}
    #: Wire status name (``bytes``) -> status.
    STATUS_NAMES_RAW = {name: status for status, name in STATUSES_RAW.items()}

    LRU_NOMINAL, LRU_ERROR = Lru.LRU_NOMINAL, Lru.LRU_ERROR
    LRU_VALUES = Lru.LRU_VALUES
    LRU_CONSTANTS = Lru.LRU_CONSTANTS

    #: Kattype that formats and parses reading timestamps.
    TIMESTAMP_TYPE = Timestamp()

    def __init__(self, sensor_type, name, description=None,
                 units=None, params=None,
                 default=None, initial_status=None, status_func=None,
                 auto_strategy=None,
                 auto_strategy_parameters=()):
        # type: (Union[int, type], str, Optional[str], Optional[str], Optional[Sequence[Any]], Any, Optional[int], Optional[Callable[[Any], int]], Union[int, str, None], Sequence[Any]) -> None
        # as katcp-python, bytes are accepted and decoded (UTF-8)
        name, description, units = _decoded(name), _decoded(description), _decoded(units)
        if not isinstance(name, str) or not _SENSOR_NAME_RE.match(name):
            raise ValueError("Invalid sensor name %r: use only the characters "
                             "a-z A-Z 0-9 . - _ (KATCP spec section 7)." % (name,))
        # an int constant from here on (checked just below)
        sensor_type = cast(int, self.SENSOR_SHORTCUTS.get(sensor_type, sensor_type))
        if sensor_type not in self.SENSOR_TYPES:
            raise ValueError("Invalid sensor type %r for sensor %r: use Sensor.INTEGER ... "
                             "Sensor.ADDRESS or int, float, str, bool." % (sensor_type, name))
        units = units or ""
        params = list(params) if params else []
        if initial_status is None:
            initial_status = self.UNKNOWN
        if initial_status not in self.STATUSES:
            raise ValueError("Invalid initial status %r for sensor %r." % (initial_status, name))

        kattype_class, type_default = self.SENSOR_TYPES[sensor_type]
        if sensor_type in (self.INTEGER, self.FLOAT):
            if len(params) not in (0, 2, 4):
                raise ValueError("Sensor %r: numeric params are [min, max] or "
                                 "[min, max, warn-min, warn-max], got %r." % (name, params))
            if params and not params[0] <= type_default <= params[1]:
                type_default = params[0]
            kattype = kattype_class()
        elif sensor_type == self.DISCRETE:
            if not params:
                raise ValueError("Discrete sensor %r needs its allowed values as params."
                                 % (name,))
            kattype = kattype_class(params)
            params = cast(Discrete, kattype).values  # bytes values decoded to str
            type_default = params[0]
        else:
            if params:
                raise ValueError("Sensor %r: %s sensors take no params, got %r."
                                 % (name, kattype_class.name, params))
            if sensor_type == self.TIMESTAMP and units:
                raise ValueError("Sensor %r: timestamp sensors take no units (the protocol "
                                 "fixes them: seconds, or milliseconds before v5)." % (name,))
            kattype = kattype_class()
        if default is None:
            default = type_default
        else:
            kattype.check(default)

        self._kattype = kattype  # type: KatcpType
        self._sensor_type = sensor_type
        self.name = name
        #: KATCP type name, e.g. ``"float"``; ``type`` is an alias.
        self.stype = self.type = kattype.name
        self.units = units
        self.params = params
        #: Params as ``#sensor-list`` sends them (list of ``bytes``).
        self.formatted_params = [kattype.pack(p, nocheck=True) for p in params]
        if description is None:
            description = "%s sensor %r %s" % (
                self.stype.capitalize(), name,
                "in unit " + units if units else "with no unit")
        self.description = description

        # The lock guards only the observer tuple; see the module docstring.
        self._lock = threading.Lock()
        # Observers by identity, in attach order. notify() iterates a tuple
        # snapshot, rebuilt lazily after a change so that attaching or
        # detaching n observers costs O(n), not O(n^2).
        self._observer_map = compat.ordered_dict()  # type: Dict[int, Observer]
        self._observer_snapshot = ()  # type: Optional[Tuple[Observer, ...]]
        self._reading = Reading(time.time(), initial_status, default)
        # major -> (reading, its #sensor-status line): see status_line().
        self._status_lines = {}  # type: Dict[int, Tuple[Reading, bytes]]

        self.status_func = status_func
        self.auto_strategy = auto_strategy
        self.auto_strategy_parameters = tuple(auto_strategy_parameters)
        if auto_strategy is not None:
            check_auto_strategy(self)

    def __repr__(self):
        # type: () -> str
        return "<%s %s %r>" % (type(self).__name__, self.stype, self.name)

    # -- factories (katcp-python signatures) --------------------------------

    @classmethod
    def integer(cls, name, description=None, unit="",
                params=None, default=None,
                initial_status=None):
        # type: (str, Optional[str], str, Optional[Sequence[int]], Optional[int], Optional[int]) -> "Sensor"
        """Create an integer sensor; ``params`` is ``[min, max]`` (informational)."""
        return cls(cls.INTEGER, name, description, unit, params, default, initial_status)

    @classmethod
    def float(cls, name, description=None, unit="",
              params=None, default=None,
              initial_status=None):
        # type: (str, Optional[str], str, Optional[Sequence[float]], Optional[float], Optional[int]) -> "Sensor"
        """Create a float sensor; ``params`` is ``[min, max]`` (informational)."""
        return cls(cls.FLOAT, name, description, unit, params, default, initial_status)

    @classmethod
    def boolean(cls, name, description=None, unit="",
                default=None, initial_status=None):
        # type: (str, Optional[str], str, Optional[bool], Optional[int]) -> "Sensor"
        """Create a boolean sensor."""
        return cls(cls.BOOLEAN, name, description, unit, None, default, initial_status)

    @classmethod
    def lru(cls, name, description=None, unit="",
            default=None, initial_status=None):
        # type: (str, Optional[str], str, Optional[int], Optional[int]) -> "Sensor"
        """Create an lru sensor (deprecated in KATCP v5: prefer boolean)."""
        return cls(cls.LRU, name, description, unit, None, default, initial_status)

    @classmethod
    def string(cls, name, description=None, unit="",
               default=None, initial_status=None):
        # type: (str, Optional[str], str, Optional[str], Optional[int]) -> "Sensor"
        """Create a string sensor."""
        return cls(cls.STRING, name, description, unit, None, default, initial_status)

    @classmethod
    def discrete(cls, name, description=None, unit="",
                 params=None, default=None,
                 initial_status=None):
        # type: (str, Optional[str], str, Optional[Sequence[str]], Optional[str], Optional[int]) -> "Sensor"
        """Create a discrete sensor; ``params`` lists the allowed values."""
        return cls(cls.DISCRETE, name, description, unit, params, default, initial_status)

    def _timestamp_factory(cls, name, description=None, unit="",
                           default=None,
                           initial_status=None):
        # type: (Any, str, Optional[str], str, Optional[builtins.float], Optional[int]) -> "Sensor"
        """Create a timestamp sensor (value in seconds since the Unix epoch)."""
        return cls(cls.TIMESTAMP, name, description, unit, None, default, initial_status)

    @classmethod
    def address(cls, name, description=None, unit="",
                default=None,
                initial_status=None):
        # type: (str, Optional[str], str, Optional[Tuple[str, Optional[int]]], Optional[int]) -> "Sensor"
        """Create an address sensor; the value is ``(host, port or None)``."""
        return cls(cls.ADDRESS, name, description, unit, None, default, initial_status)

    #: The values of a ``device-status`` sensor and the status each implies
    #: (spec appendix B.2, table 14).
    DEVICE_STATUS = collections.OrderedDict([("ok", NOMINAL), ("degraded", WARN), ("fail", ERROR)])

    @classmethod
    def device_status(cls, name="device-status",
                      description="Health of the device: ok, degraded or fail",
                      default="ok"):
        # type: (str, str, str) -> "Sensor"
        """Create the unit health sensor of spec appendix B.2.

        A discrete sensor with values ``ok``, ``degraded`` and ``fail``,
        whose status follows the value (``nominal``, ``warn``, ``error``):
        ``sensor.set_value("degraded")`` is enough.
        """
        return cls(cls.DISCRETE, name, description, "", list(cls.DEVICE_STATUS), default,
                   cls.DEVICE_STATUS[default], status_func=cls.DEVICE_STATUS.__getitem__)

    # -- observers ------------------------------------------------------------

    def attach(self, observer):
        # type: (Observer) -> None
        """Call ``observer.update(sensor, reading)`` on every later set.

        Attaching the same observer (by identity) twice has no further effect.
        May be called from any thread.
        """
        with self._lock:
            if id(observer) not in self._observer_map:
                self._observer_map[id(observer)] = observer
                self._observer_snapshot = None

    def detach(self, observer):
        # type: (Observer) -> None
        """Stop notifying ``observer``; no error if it is not attached.

        A notification already in progress on another thread may still reach it.
        May be called from any thread.
        """
        with self._lock:
            if self._observer_map.pop(id(observer), None) is not None:
                self._observer_snapshot = None

    def observers(self):
        # type: () -> Tuple[Observer, ...]
        """The attached observers, in attach order (a snapshot)."""
        snapshot = self._observer_snapshot
        if snapshot is None:
            with self._lock:
                snapshot = self._observer_snapshot
                if snapshot is None:
                    snapshot = self._observer_snapshot = tuple(self._observer_map.values())
        return snapshot

    @property
    def _observers(self):
        # type: () -> FrozenSet[Observer]
        """katcp-python's set of observers, read-only: :meth:`observers` as a
        frozenset (for ported tests that look at it; observers must then be
        hashable, as in katcp-python). Change it with :meth:`attach`/:meth:`detach`."""
        return frozenset(self.observers())

    def notify(self, reading):
        # type: (Reading) -> None
        """Call ``update(self, reading)`` on every observer, on this thread.

        An observer that raises is logged with its traceback; the others are
        still called.
        """
        for observer in self.observers():
            try:
                observer.update(self, reading)
            except Exception:
                logger.exception("Observer %r of sensor %r raised", observer, self.name)

    # -- setting and reading --------------------------------------------------

    def set(self, timestamp, status, value):
        # type: (builtins.float, int, Any) -> None
        """Store a reading without checking it, then notify the observers.

        Args:
            timestamp: seconds since the Unix epoch.
            status: a status constant (``Sensor.NOMINAL`` ...).
            value: a value of the sensor's type.
        """
        # A single store of an immutable tuple: atomic, no lock needed.
        # (tuple.__new__ skips the namedtuple's Python-level __new__: half the cost.)
        self._reading = reading = _new_tuple(Reading, (timestamp, status, value))
        self.notify(reading)

    def set_value(self, value, status=None,
                  timestamp=None):
        # type: (Any, Optional[int], Optional[builtins.float]) -> None
        """Check a value, then set it (see :meth:`set`).

        Args:
            value: the new value.
            status: ``None`` for ``status_func(value)`` if the sensor has
                one, else ``Sensor.NOMINAL``.
            timestamp: ``None`` for ``time.time()``.

        Raises:
            KatcpTypeError: the value has the wrong Python type.
            KatcpValueError: the value is not allowed (discrete set, lru),
                or the status is not a status constant.
        """
        self._kattype.check(value)
        if status is None and self.status_func is None:
            status = self.NOMINAL       # the common case: nothing to check
        else:
            if status is None:
                status = self.status_func(value)  # type: ignore[misc]
            if status not in self.STATUSES:
                raise KatcpValueError("Invalid status %r for sensor %r: use Sensor.UNKNOWN ... "
                                      "Sensor.INACTIVE." % (status, self.name))
        if timestamp is None:
            timestamp = time.time()
        self.set(timestamp, status, value)

    def read(self):
        # type: () -> Reading
        """Return the current :class:`Reading` (one consistent triple)."""
        return self._reading

    def value(self):
        # type: () -> Any
        """Return the current value."""
        return self._reading.value

    def status(self):
        # type: () -> int
        """Return the current status constant."""
        return self._reading.status

    def _reading_timestamp(self):
        # type: () -> builtins.float
        """Return the timestamp of the current reading (seconds)."""
        return self._reading.timestamp

    #: ``Sensor.timestamp(name, ...)`` creates a timestamp sensor (katcp-python);
    #: ``sensor.timestamp()`` returns the current reading's timestamp.
    timestamp = _FactoryOrAccessor(_timestamp_factory, _reading_timestamp)

    # katcp-python's deprecated read-only views of the reading, kept for old code
    _value = property(lambda self: self._reading.value, doc="Deprecated: use value().")
    _status = property(lambda self: self._reading.status, doc="Deprecated: use status().")
    _timestamp = property(lambda self: self._reading.timestamp,
                          doc="Deprecated: use read().timestamp.")

    # -- wire formats ---------------------------------------------------------

    def format_reading(self, reading=None,
                       major=DEFAULT_KATCP_MAJOR):
        # type: (Optional[Reading], int) -> Tuple[bytes, bytes, bytes]
        """Format a reading as ``#sensor-status``/``#sensor-value`` arguments.

        Args:
            reading: a reading of this sensor (``None``: the current one).
            major: KATCP major version (timestamps: seconds from v5,
                milliseconds before).

        Returns:
            ``(timestamp, status, value)`` as ``bytes``.
        """
        timestamp, status, value = self._reading if reading is None else reading
        return (self.TIMESTAMP_TYPE.encode(timestamp, major),
                self.STATUSES_RAW[status],
                self._kattype.encode(value, major))

    def status_line(self, reading, major=DEFAULT_KATCP_MAJOR):
        # type: (Reading, int) -> bytes
        """The ``#sensor-status`` inform line (end of line included) of ``reading``.

        The last line formatted for each protocol version is kept, so a
        reading sent to many clients (one sampling strategy each) is
        formatted once. Any thread: two threads racing may format the same
        line twice, never a wrong one (the cache holds the reading itself,
        compared by identity).

        Args:
            reading: a reading of this sensor (e.g. :meth:`read`).
            major: KATCP major version (see :meth:`format_reading`).
        """
        cached = self._status_lines.get(major)
        if cached is None or cached[0] is not reading:
            timestamp, status, value = self.format_reading(reading, major)
            cached = self._status_lines[major] = (reading, b"#sensor-status %s 1 %s %s %s\n" % (
                timestamp, escape_argument(self.name.encode()), status, escape_argument(value)))
        return cached[1]

    def read_formatted(self, major=DEFAULT_KATCP_MAJOR):
        # type: (int) -> Tuple[bytes, bytes, bytes]
        """Format the current reading; see :meth:`format_reading`."""
        return self.format_reading(None, major)

    def parse_value(self, raw_value, major=DEFAULT_KATCP_MAJOR):
        # type: (Union[bytes, Text], int) -> Any
        """Parse a formatted value of this sensor's type.

        Raises:
            KatcpValueError: the value does not parse or is not allowed.
        """
        return self._kattype.unpack(raw_value, major)

    def set_formatted(self, raw_timestamp, raw_status, raw_value,
                      major=DEFAULT_KATCP_MAJOR):
        # type: (bytes, bytes, bytes, int) -> None
        """Parse a formatted reading (as from ``#sensor-status``) and :meth:`set` it.

        Raises:
            KatcpValueError: a part does not parse.
        """
        timestamp = self.TIMESTAMP_TYPE.unpack(raw_timestamp, major)
        if isinstance(raw_status, six.text_type):
            raw_status = raw_status.encode("ascii", "replace")
        try:
            status = self.STATUS_NAMES_RAW[raw_status]
        except KeyError:
            raise compat.chained(KatcpValueError("Invalid sensor status %r for sensor %r." %
                                  (raw_status, self.name)), None)
        self.set(timestamp, status, self.parse_value(raw_value, major))

    @classmethod
    def parse_type(cls, type_string):
        # type: (Union[str, bytes]) -> int
        """Return the sensor type constant of a KATCP type name (``"integer"``...).

        Raises:
            KatcpValueError: unknown type name.
        """
        if isinstance(type_string, bytes):
            type_string = compat.wire_text(type_string)
        try:
            return cls.SENSOR_TYPE_LOOKUP[type_string]
        except KeyError:
            raise compat.chained(KatcpValueError("Invalid sensor type string %r." % (type_string,)), None)

    @classmethod
    def parse_params(cls, sensor_type, formatted_params,
                     major=DEFAULT_KATCP_MAJOR):
        # type: (int, Sequence[Union[bytes, str]], int) -> List[Any]
        """Parse ``#sensor-list`` params of a sensor type into Python values.

        Raises:
            KatcpValueError: a param does not parse.
        """
        kattype_class, _ = cls.SENSOR_TYPES[sensor_type]
        kattype = kattype_class(_NO_PARAMS) if sensor_type == cls.DISCRETE else kattype_class()
        return [kattype.decode(compat.wire_bytes(p) if isinstance(p, six.text_type) else p, major)
                for p in formatted_params]

    @classmethod
    def from_sensor_list(cls, name, description, units, type_name,
                         params=(), major=DEFAULT_KATCP_MAJOR):
        # type: (str, str, str, Union[str, bytes], Sequence[Any], int) -> Sensor
        """Make a sensor as a ``#sensor-list`` inform describes it (spec 7.2):
        ``name description units type params...``.

        Args:
            name, description, units, type_name: as in the inform (text, or
                bytes decoded as UTF-8 as by the constructor).
            params: the type's params as on the wire (bytes or text), or as
                Python values (numbers, taken as their ``str``).
            major: the KATCP major version the params are written for.

        Returns:
            a new sensor of that type, with the default reading.

        Raises:
            KatcpValueError: unknown type, or a param that does not parse.
            ValueError: a bad name, or params the type does not take.

        Any thread (it touches nothing shared).
        """
        sensor_type = cls.parse_type(type_name)
        formatted = [p if isinstance(p, (bytes, six.text_type)) else str(p) for p in params]
        return cls(sensor_type, name, description, units,
                   cls.parse_params(sensor_type, formatted, major))
