"""Sensor sampling strategies (KATCP spec section 7.1, Table 9), sans-IO.

A strategy watches one sensor for one client and decides when that client
must get a ``#sensor-status``; it says so by calling
``inform_callback(sensor, reading)``. It never formats a message or touches
a socket, and it reads time and sets timers only through an injected
:class:`~katcp_sync.scheduler.Scheduler`.

Theory of operation
-------------------
Every strategy is a preset of one parameterised sampler with four knobs:

``trigger``
    Which sensor updates may cause a report: every update, only *changes*,
    or none (the report is then driven by the timer only).
``difference``
    What a change is: ``None`` means any change of value; a number means
    ``|value - last reported value| > difference``. A status change is
    always a change. Changes are measured against the last *reported*
    reading, so slow drifts are reported once they add up.
``shortest``
    Minimum seconds between reports. A change that comes sooner is not lost:
    one deferred report is scheduled for ``last report + shortest``, and it
    reports the sensor's reading at that time.
``longest``
    Maximum seconds between reports (``None``: no limit). After every report
    a timer is armed for ``base + longest``, where ``base`` is the deadline
    for timer-driven reports (an absolute schedule that does not drift) and
    the report time otherwise. A timer that fires more than a whole period
    late restarts the schedule from now instead of sending a burst.

=======================  =======  ==========  ========  =======
strategy                 trigger  difference  shortest  longest
=======================  =======  ==========  ========  =======
none                     never    --          0         None
auto                     update   --          0         None
period p                 never    --          0         p
event                    change   None        0         None
differential d           change   d           0         None
event-rate s l           change   None        s         l
differential-rate d s l  change   d           s         l
=======================  =======  ==========  ========  =======

Every strategy except ``none`` reports the current reading as soon as it is
started (spec 7.1); ``none`` reports nothing at all.

Threads and locks
-----------------
Each strategy's state is guarded by a re-entrant lock: its own, or the one
given as ``lock=``. The server, whose callback only appends to a buffer,
gives each its sensor's :func:`stripe_lock` (shared with the strategies on
the sensors of that stripe), so a strategy costs no lock (a server may
hold a million).
:meth:`SampleStrategy.update` may be called from any thread (sensor
observers run on the thread that set the value) while timers fire on the
scheduler's thread. ``inform_callback`` is called *while holding that lock*,
which gives two guarantees: reports for one strategy reach the callback in
order, and once :meth:`SampleStrategy.cancel` has returned the callback is
never called again. In return the callback must be quick and must not
block; it may call ``cancel()`` on the strategy that is calling it. With a
shared lock it must also not set sensors nor start or cancel other
strategies (defer such work, e.g. with the reactor's ``add_callback``):
two threads doing that in opposite orders could deadlock. The strategy's lock is taken before the sensor's and
the scheduler's internal locks, never after.

Ordering
--------
Sensor observers are called on the thread that set the value, so when
several threads set one sensor their notifications may reach a strategy in
any order, and late: the reading a notification carries may already be
older than the sensor's. A strategy therefore never reports the reading it
is handed. On every notification (and every timer) it reads the sensor's
*current* reading under its lock and decides on that one; a reading it
has reported already (a notification that arrives after a newer one, or
after a timer, reported it) is not reported again. Two guarantees follow,
for every strategy:

* **Monotonic**: the readings reported to one client never go back in the
  order the sensor stored them (each report reads the sensor later than
  the one before, under the same lock).
* **Convergent**: once the writers stop, the client's last report is the
  sensor's final reading (or, for ``differential``, one within the
  threshold of it): the notification of the final store reads it, and
  reports it unless it was reported already or is not a change. Rate
  strategies report it at most ``shortest`` later, ``period`` at its next
  tick.

Intermediate readings may be skipped under contention (a slow notification
finds a newer reading), exactly as if the updates had come closer together.
"""

from __future__ import absolute_import, division, print_function

import logging
import threading
from typing import Any, Callable, List, Optional, Tuple, Union

from . import compat
from .errors import KatcpValueError
from .observers import ObservedSensor, Reading, SampledSensor
from .sampling_params import (
    AGE_OF_UNIVERSE,
    EVERY_UPDATE,
    EVERY_UPDATE_KNOBS,
    NEVER,
    NONE_KNOBS,
    ON_CHANGE,
    ON_CHANGE_KNOBS,
    Knobs,
    TIMER_PARAMS,
    Param,
    as_bytes,
    as_text,
    check_count,
    format_seconds,
    parse_difference,
    parse_positive,
    parse_rates,
    parse_seconds,
)
from .scheduler import Scheduler, TimerHandle
from .strategies import (
    AUTO,
    DIFFERENTIAL,
    DIFFERENTIAL_RATE,
    EVENT,
    EVENT_RATE,
    NONE,
    PERIOD,
    SAMPLING_LOOKUP,
    SAMPLING_LOOKUP_REV,
    STRATEGIES_V4,
    STRATEGY_BY_CODE,
    strategy_info,
)

__all__ = [
    "SampleStrategy",
    "SampleNone",
    "SampleAuto",
    "SamplePeriod",
    "SampleEvent",
    "SampleDifferential",
    "SampleEventRate",
    "SampleDifferentialRate",
    "AGE_OF_UNIVERSE",
    "strategy_code",
    "check_auto_strategy",
]

logger = logging.getLogger(__name__)

#: ``inform_callback(sensor, reading)``: report ``reading`` to the client.
InformCallback = Callable[[Any, Reading], None]

# A strategy's life: built, started (sampling), cancelled (for good).
_NEW, _LIVE, _CANCELLED = "new", "live", "cancelled"


def _stype(sensor):
    # type: (SampledSensor) -> Optional[str]
    """The sensor's type name; ``None`` for a duck-typed sensor without one
    (the differential strategies then refuse it with a clear error)."""
    return getattr(sensor, "stype", None)


#: The lock stripes (see "Threads and locks").
_LOCK_STRIPES = tuple(compat.RLock() for _ in range(256))


def stripe_lock(sensor):
    # type: (SampledSensor) -> "threading.RLock"
    """The shared lock for strategies on ``sensor`` (``lock=``), for callers
    whose callbacks neither block nor set sensors. Any thread."""
    return _LOCK_STRIPES[(id(sensor) >> 4) % len(_LOCK_STRIPES)]


class SampleStrategy(object):
    """Base class of the sampling strategies, and their factory.

    Build strategies with :meth:`get_strategy` (or one of the subclasses
    directly, with the same arguments after the name). A strategy does
    nothing until :meth:`start` and nothing after :meth:`cancel`.

    Args:
        inform_callback: ``inform_callback(sensor, reading)`` is called for
            every report. It is called while the strategy's lock is held: it
            must be quick, must not block and must not start or cancel other
            strategies (see the module docstring).
        sensor: the sensor to sample (``attach``, ``detach``, ``read``,
            ``name`` and, for the differential strategies, ``stype``).
        *params: the strategy parameters, as ``bytes`` off the wire (or
            ``str``/numbers); they are validated here and echoed by
            :meth:`get_sampling_formatted` unchanged, unless ``min_period``
            raised them.
        scheduler: a :class:`~katcp_sync.scheduler.Scheduler`. Required by
            ``period``, ``event-rate`` and ``differential-rate``; the other
            strategies never read the time.
        major: the KATCP major version of the connection. Before 5, times
            are in milliseconds and only none, auto, period, event and
            differential exist.
        min_period: the shortest effective timer period, in seconds: a
            ``period`` and the longest period of ``event-rate`` and
            ``differential-rate`` below it are raised to it (a device's
            defence against a client asking for reports every microsecond;
            ``auto`` on a sensor with a timed ``auto_strategy`` too), and
            :meth:`get_sampling_formatted` gives the raised values. The
            shortest period is left alone: it only holds back reports of
            changes.
        lock: its re-entrant lock (default: its own; "Threads and locks").

    Raises:
        KatcpValueError: (a ``ValueError``) bad parameters, or a strategy that
            is not available for this sensor or protocol version; the message
            says which.
        TypeError: a strategy that needs a scheduler was given none.

    Threads (the module's "Threads and locks"): every method may be called
    from any thread; :meth:`update` runs on the thread that set the sensor,
    timers on the scheduler's thread, ``inform_callback`` under the lock.
    The subclasses (one per strategy) are the same.
    """

    # The constants and names are the strategy table's (katcp_sync.strategies).
    NONE, AUTO, PERIOD, EVENT = NONE, AUTO, PERIOD, EVENT
    DIFFERENTIAL, EVENT_RATE, DIFFERENTIAL_RATE = DIFFERENTIAL, EVENT_RATE, DIFFERENTIAL_RATE
    #: Strategy constant -> KATCP name.
    SAMPLING_LOOKUP = SAMPLING_LOOKUP
    #: KATCP name -> strategy constant.
    SAMPLING_LOOKUP_REV = SAMPLING_LOOKUP_REV

    # No __dict__: a server keeps one strategy per client per sensor.
    __slots__ = ("_inform_callback", "_sensor", "_params", "_scheduler", "_knobs", "_lock",
                 "_state", "_attached", "_last_reading", "_last_status",
                 "_last_value", "_last_report", "_timer", "_timer_when", "_generation")

    #: This class's strategy constant (set by each concrete strategy).
    STRATEGY = -1
    #: The names of this strategy's parameters, in wire order.
    PARAMS = ()  # type: Tuple[str, ...]

    @classmethod
    def get_strategy(cls, strategy_name, inform_callback,
                     sensor, *params, **kwargs):
        # type: (Union[bytes, str], InformCallback, SampledSensor, *Param, **Any) -> "SampleStrategy"
        """Build the strategy called ``strategy_name`` (bytes or str, e.g. from the wire).

        The other arguments are those of :class:`SampleStrategy`.

        Returns:
            A new, not yet started strategy.

        Raises:
            KatcpValueError: (a ``ValueError``) unknown name, bad parameters,
                strategy not valid for the sensor type or protocol version.
            TypeError: the strategy needs a scheduler and none was given.
        """
        scheduler = compat.kwonly_pop(kwargs, 'scheduler', None)  # type: Optional[Scheduler]
        major = compat.kwonly_pop(kwargs, 'major', 5)  # type: int
        min_period = compat.kwonly_pop(kwargs, 'min_period', 0.0)  # type: float
        lock = compat.kwonly_pop(kwargs, 'lock', None)  # type: Optional["threading.RLock"]
        compat.kwonly_done('get_strategy', kwargs)
        name = as_text(as_bytes(strategy_name))
        strategy = cls.SAMPLING_LOOKUP_REV.get(name)
        if strategy is None:
            raise KatcpValueError("Unknown strategy name: %s." % name)
        return _STRATEGY_CLASSES[strategy](inform_callback, sensor, *params,
                                           scheduler=scheduler, major=major,
                                           min_period=min_period, lock=lock)

    def __init__(self, inform_callback, sensor, *params,
                 **kwargs):
        # type: (InformCallback, SampledSensor, *Param, **Any) -> None
        scheduler = compat.kwonly_pop(kwargs, 'scheduler', None)  # type: Optional[Scheduler]
        major = compat.kwonly_pop(kwargs, 'major', 5)  # type: int
        min_period = compat.kwonly_pop(kwargs, 'min_period', 0.0)  # type: float
        lock = compat.kwonly_pop(kwargs, 'lock', None)  # type: Optional["threading.RLock"]
        compat.kwonly_done('__init__', kwargs)
        name = self.SAMPLING_LOOKUP.get(self.STRATEGY)
        if name is None:
            raise TypeError("SampleStrategy is abstract: use SampleStrategy.get_strategy()")
        raw = [as_bytes(p) for p in params]
        # v4's strategies are also those of any older version
        if name not in STRATEGIES_V4 and major < STRATEGY_BY_CODE[self.STRATEGY].since_major:
            raise KatcpValueError("The %r strategy is not available in KATCP v%d" % (name, major))
        check_count(self.STRATEGY, raw)
        preset = self._preset(sensor, raw, major)
        if min_period > 0:
            preset = self._raise_periods(preset, raw, min_period, major)
        if scheduler is None and (preset.shortest or preset.longest is not None):
            raise TypeError("The %r strategy needs a scheduler" % name)

        self._inform_callback = inform_callback
        self._sensor = sensor
        self._params = tuple(raw)
        self._scheduler = scheduler
        self._knobs = preset
        self._lock = compat.RLock() if lock is None else lock  # callback may cancel()
        self._state = _NEW
        self._attached = False
        self._last_reading = None  # type: Optional[Reading]  # the last reported reading itself
        self._last_status = None  # type: Any
        self._last_value = None  # type: Any
        self._last_report = 0.0
        self._timer = None  # type: Optional[TimerHandle]
        self._timer_when = 0.0
        # Bumped whenever the timer changes, so that a timer callback that
        # was already on its way when it was cancelled can tell it is stale.
        self._generation = 0

    def _now(self):
        # type: () -> float
        """The scheduler's time; 0.0 for a strategy that needs no clock."""
        scheduler = self._scheduler
        return 0.0 if scheduler is None or self._knobs.untimed else scheduler.time()

    @staticmethod
    def _preset(sensor, params, major):
        # type: (SampledSensor, List[bytes], int) -> Knobs
        """Validate ``params`` (the right number of them) and return the knobs."""
        raise NotImplementedError

    @classmethod
    def _raise_periods(cls, preset, raw, min_period,
                       major):
        # type: (Knobs, List[bytes], float, int) -> Knobs
        """Raise a timer period below ``min_period`` to it, in the preset and
        in ``raw`` (formatted in the connection's unit); return the preset."""
        if preset.longest is None or preset.longest >= min_period:
            return preset
        for index, name in enumerate(cls.PARAMS):
            if name in TIMER_PARAMS:
                raw[index] = format_seconds(min_period, major)
        return Knobs(preset.trigger, preset.difference, preset.shortest, min_period,
                     preset.report_on_start)

    # -- public API ---------------------------------------------------------

    def start(self):
        # type: () -> None
        """Start sampling: attach to the sensor, report now, arm timers.

        Reports the current reading immediately, except for ``none``
        (spec 7.1). Does nothing if already started or cancelled. Any thread.
        """
        with self._lock:
            if self._state is not _NEW:
                return
            self._state = _LIVE
            if self._knobs.trigger is not NEVER:
                self._attach_locked()
            if self._knobs.report_on_start:
                self._report(self._sensor.read(), self._now(), None)

    def cancel(self):
        # type: () -> None
        """Stop sampling for good: detach from the sensor and cancel timers.

        Idempotent; any thread. Once it returns, ``inform_callback`` is never
        called again by this strategy.
        """
        with self._lock:
            if self._state is _CANCELLED:
                return
            self._state = _CANCELLED
            self._disarm()
            self._detach_locked()

    def update(self, sensor, reading):
        # type: (ObservedSensor, Reading) -> None
        """Observer hook: the sensor has a new ``reading``. Any thread.

        Ignored before :meth:`start` and after :meth:`cancel`.
        """
        knobs = self._knobs
        trigger = knobs.trigger
        if trigger is NEVER:
            return
        with self._lock:
            if self._state is not _LIVE:
                return
            # The reading handed in may be stale: notifications of concurrent
            # set_value calls arrive in any order. Decide on the sensor's
            # current reading instead, read under this lock, so that reports
            # follow the order the sensor stored its readings and the last
            # notification always sees the last reading (see "Ordering").
            reading = sensor.read()
            if trigger is ON_CHANGE:
                # A reading reported already is no change. (event's test,
                # _changed() inlined: this is the fan-out's hot path.)
                if knobs.difference is None:
                    if not (reading.status != self._last_status
                            or reading.value != self._last_value):
                        return
                elif not self._changed(reading):
                    return
            elif reading is self._last_reading:
                return  # reported already (by a newer notification or a timer)
            if knobs.untimed:
                # auto, event, differential: no timer, no clock (see _report).
                self._last_reading = reading
                self._last_status = reading.status
                self._last_value = reading.value
                try:  # _call_back(), inlined: this is the fan-out's hot path
                    self._inform_callback(sensor, reading)
                except Exception:
                    logger.exception("sampling %r: inform callback failed", self)
                return
            now = self._now()
            if knobs.shortest:
                due = self._last_report + knobs.shortest
                if now < due:
                    # Too soon: make sure one report happens at `due`.
                    if self._timer is None or self._timer_when > due:
                        self._arm(due)
                    return
            self._report(reading, now, None)

    def inform(self, reading):
        # type: (Reading) -> None
        """Report ``reading`` now, as if the strategy had decided to. Any thread.

        Ignored after :meth:`cancel`.
        """
        with self._lock:
            if self._state is not _CANCELLED:
                self._report(reading, self._now(), None)

    def get_sampling(self):
        # type: () -> int
        """Return this strategy's constant (e.g. ``SampleStrategy.EVENT``). Any thread."""
        return self.STRATEGY

    def get_sampling_formatted(self):
        # type: () -> Tuple[bytes, List[bytes]]
        """Return ``(name, params)`` as bytes: the parameters as given, except
        the periods that ``min_period`` raised, which are the raised values.

        This is what ``!sensor-sampling ok`` carries: "the new sampling
        strategy parameters" (spec 7.2), i.e. the effective ones. Any thread.
        """
        return self.SAMPLING_LOOKUP[self.STRATEGY].encode("ascii"), list(self._params)

    def attach(self):
        # type: () -> None
        """Register as an observer of the sensor (:meth:`start` does this). Any thread."""
        with self._lock:
            self._attach_locked()

    def detach(self):
        # type: () -> None
        """Unregister from the sensor (:meth:`cancel` does this). Any thread."""
        with self._lock:
            self._detach_locked()

    def __repr__(self):
        # type: () -> str
        name, params = self.get_sampling_formatted()
        return "<%s %s %r params=%r>" % (type(self).__name__, as_text(name),
                                         getattr(self._sensor, "name", self._sensor), params)

    # -- the sampler (all called with the lock held) ------------------------

    def _attach_locked(self):
        # type: () -> None
        if not self._attached:
            self._sensor.attach(self)
            self._attached = True

    def _detach_locked(self):
        # type: () -> None
        if self._attached:
            self._sensor.detach(self)
            self._attached = False

    def _changed(self, reading):
        # type: (Reading) -> bool
        if reading.status != self._last_status:
            return True
        difference = self._knobs.difference
        if difference is None:
            return bool(reading.value != self._last_value)
        try:
            return abs(reading.value - self._last_value) > difference
        except TypeError:  # e.g. a value of None: can't measure, so any change counts
            return bool(reading.value != self._last_value)

    def _report(self, reading, now, deadline):
        # type: (Reading, float, Optional[float]) -> None
        """Record ``reading`` as reported, re-arm the timer, call the callback.

        ``deadline`` is the timer deadline for timer-driven reports, which
        keeps the periodic schedule absolute.
        """
        self._last_reading = reading
        self._last_status = reading.status
        self._last_value = reading.value
        self._last_report = now
        longest = self._knobs.longest
        if longest is not None:
            when = (now if deadline is None else deadline) + longest
            if when < now:
                # More than a period behind: restart rather than send a burst.
                when = now + longest
            self._arm(when)
        else:
            self._disarm()
        # Last, so that a cancel() from inside the callback sees final state.
        self._call_back(reading)

    def _call_back(self, reading):
        # type: (Reading) -> None
        try:
            self._inform_callback(self._sensor, reading)
        except Exception:
            logger.exception("sampling %r: inform callback failed", self)

    def _arm(self, when):
        # type: (float) -> None
        self._disarm()
        self._timer_when = when
        scheduler = self._scheduler
        assert scheduler is not None  # __init__ insists on one for timed strategies
        self._timer = scheduler.call_at(when, self._on_timer, self._generation, when)

    def _disarm(self):
        # type: () -> None
        self._generation += 1
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _on_timer(self, generation, when):
        # type: (int, float) -> None
        """Scheduler callback: a deferred or periodic report is due."""
        with self._lock:
            if self._state is _CANCELLED or generation != self._generation:
                return  # cancelled or superseded after it was already queued
            self._timer = None
            self._report(self._sensor.read(), self._now(), when)


class SampleNone(SampleStrategy):
    """``none``: never report (no parameters)."""

    __slots__ = ()
    STRATEGY = SampleStrategy.NONE

    @staticmethod
    def _preset(sensor, params, major):
        # type: (SampledSensor, List[bytes], int) -> Knobs
        return NONE_KNOBS


class SampleAuto(SampleStrategy):
    """``auto``: the device decides (no parameters).

    By default every update of the sensor is reported, changed or not
    (when threads set the sensor concurrently, an update whose notification
    finds a newer reading already stored is reported by that newer one; see
    "Ordering" in the module docstring). A
    sensor made with ``auto_strategy`` (aiokatcp's option, e.g. an
    ``event-rate`` that keeps a fast sensor from flooding its clients) is
    sampled that way instead; the strategy still reports itself as ``auto``.
    """

    __slots__ = ()
    STRATEGY = SampleStrategy.AUTO

    @staticmethod
    def _preset(sensor, params, major):
        # type: (SampledSensor, List[bytes], int) -> Knobs
        if getattr(sensor, "auto_strategy", None) is None:
            return EVERY_UPDATE_KNOBS
        return _auto_preset(sensor)


class SamplePeriod(SampleStrategy):
    """``period p``: report the current reading every ``p`` seconds (v4: ms), ``p > 0``."""

    __slots__ = ()
    STRATEGY = SampleStrategy.PERIOD
    PARAMS = STRATEGY_BY_CODE[PERIOD].params

    @staticmethod
    def _preset(sensor, params, major):
        # type: (SampledSensor, List[bytes], int) -> Knobs
        period = parse_seconds("period", params[0], major)
        return Knobs(NEVER, longest=parse_positive("period", params[0], period))


class SampleEvent(SampleStrategy):
    """``event``: report when the value or status changes (timestamp-only updates are not)."""

    __slots__ = ()
    STRATEGY = SampleStrategy.EVENT

    @staticmethod
    def _preset(sensor, params, major):
        # type: (SampledSensor, List[bytes], int) -> Knobs
        return ON_CHANGE_KNOBS


class SampleDifferential(SampleStrategy):
    """``differential d``: report when ``|value - last reported| > d`` or the status changes.

    For integer (``d`` an integer) and float sensors only (spec Table 9),
    ``d > 0``.
    """

    __slots__ = ()
    STRATEGY = SampleStrategy.DIFFERENTIAL
    PARAMS = STRATEGY_BY_CODE[DIFFERENTIAL].params

    @staticmethod
    def _preset(sensor, params, major):
        # type: (SampledSensor, List[bytes], int) -> Knobs
        difference = parse_difference(DIFFERENTIAL, _stype(sensor), params[0])
        return Knobs(ON_CHANGE, difference=difference)


class SampleEventRate(SampleStrategy):
    """``event-rate shortest longest``: report changes, rate-limited both ways.

    At most one report every ``shortest`` seconds, at least one every
    ``longest`` seconds; ``0 <= shortest <= longest``, ``longest > 0``; a ``longest`` of
    :data:`AGE_OF_UNIVERSE` or more means no periodic report. New in v5.
    """

    __slots__ = ()
    STRATEGY = SampleStrategy.EVENT_RATE
    PARAMS = STRATEGY_BY_CODE[EVENT_RATE].params

    @staticmethod
    def _preset(sensor, params, major):
        # type: (SampledSensor, List[bytes], int) -> Knobs
        shortest, longest = parse_rates(params[0], params[1], major)
        return Knobs(ON_CHANGE, shortest=shortest, longest=longest)


class SampleDifferentialRate(SampleStrategy):
    """``differential-rate d shortest longest``: event-rate with the differential change test.

    Integer and float sensors only. New in v5.
    """

    __slots__ = ()
    STRATEGY = SampleStrategy.DIFFERENTIAL_RATE
    PARAMS = STRATEGY_BY_CODE[DIFFERENTIAL_RATE].params

    @staticmethod
    def _preset(sensor, params, major):
        # type: (SampledSensor, List[bytes], int) -> Knobs
        difference = parse_difference(DIFFERENTIAL_RATE, _stype(sensor), params[0])
        shortest, longest = parse_rates(params[1], params[2], major)
        return Knobs(ON_CHANGE, difference=difference, shortest=shortest, longest=longest)


_STRATEGY_CLASSES = {cls.STRATEGY: cls for cls in (
    SampleNone, SampleAuto, SamplePeriod, SampleEvent, SampleDifferential,
    SampleEventRate, SampleDifferentialRate)}


def strategy_code(strategy):
    # type: (Union[int, bytes, str]) -> int
    """The constant of a strategy given as a constant or a name (``"event-rate"``).

    Raises:
        KatcpValueError: not a strategy.
    """
    return strategy_info(strategy).code


def check_auto_strategy(sensor):
    # type: (SampledSensor) -> None
    """Check a sensor's ``auto_strategy`` and ``auto_strategy_parameters``.

    :class:`~katcp_sync.sensor.Sensor` calls this when it is made, so that a
    bad choice fails there rather than when a client asks for ``auto``.

    Raises:
        KatcpValueError: the strategy or its parameters are not valid for
            the sensor.
    """
    _auto_preset(sensor)


def _auto_preset(sensor):
    # type: (SampledSensor) -> Knobs
    """The knobs of ``auto`` for a sensor with an ``auto_strategy``. Its
    parameters are in seconds whatever the client's protocol version (they
    are the device author's, not the client's)."""
    strategy = sensor.auto_strategy
    cls = SampleAuto if strategy is None else _STRATEGY_CLASSES[strategy_code(strategy)]
    if cls is SampleAuto:
        return EVERY_UPDATE_KNOBS
    raw = [as_bytes(p) for p in sensor.auto_strategy_parameters]
    check_count(cls.STRATEGY, raw)
    return cls._preset(sensor, raw, 5)
