"""Tests for katcp_sync.sampling: the strategies of spec 7.1 Table 9, under virtual time.

Most tests use a small fake sensor (:class:`FakeSensor`) holding only what a
strategy relies on; the report sequences, type checks and the concurrency
test also run against the real katcp_sync.sensor.Sensor.
"""

from __future__ import absolute_import, division, print_function


import collections
import logging
import threading

import pytest

from katcp_sync.sampling import AGE_OF_UNIVERSE, SampleStrategy, stripe_lock
from katcp_sync.scheduler import ManualScheduler
from katcp_sync.sensor import Sensor

from ordering_support import StoreOrderSensor, hammer

Reading = collections.namedtuple("Reading", "timestamp status value")

UNKNOWN, NOMINAL, WARN, ERROR = 0, 1, 2, 3


class FakeSensor(object):
    """The Sensor interface a strategy uses: attach/detach/read/name/stype.

    Observers are called outside the lock, on the thread that set the value,
    as the real Sensor does.
    """

    def __init__(self, stype="integer", value=0, status=NOMINAL, name="fake"):
        self.name = name
        self.stype = stype
        self._lock = threading.Lock()
        self._reading = Reading(0.0, status, value)
        self.observers = set()

    def attach(self, observer):
        with self._lock:
            self.observers.add(observer)

    def detach(self, observer):
        with self._lock:
            self.observers.discard(observer)

    def read(self):
        with self._lock:
            return self._reading

    def set_value(self, value, status=NOMINAL, timestamp=0.0):
        with self._lock:
            self._reading = reading = Reading(timestamp, status, value)
            observers = list(self.observers)
        for observer in observers:
            observer.update(self, reading)


class Recorder(object):
    """An inform_callback that records (virtual time, value, status) of each report."""

    def __init__(self, sched):
        self.sched = sched
        self.sent = []

    def __call__(self, sensor, reading):
        self.sent.append((self.sched.time(), reading.value, reading.status))

    def values(self):
        """The reports as (time, value) pairs."""
        return [(t, v) for t, v, _ in self.sent]


def real_sensor(stype="integer", value=0):
    """A katcp_sync Sensor of type ``stype`` holding ``value`` with nominal status."""
    return getattr(Sensor, stype)("real", default=value, initial_status=Sensor.NOMINAL)


SENSOR_KINDS = {"fake": FakeSensor, "real": real_sensor}


def make(name, *params, **kwargs):
    """Build and start a strategy on a fresh sensor; return (sched, sensor, strategy, rec).

    Keyword arguments: stype="integer", value=0, major=5, kind="fake".
    """
    stype = kwargs.pop("stype", "integer")
    value = kwargs.pop("value", 0)
    major = kwargs.pop("major", 5)
    kind = kwargs.pop("kind", "fake")
    assert not kwargs, kwargs
    sched = ManualScheduler()
    sensor = SENSOR_KINDS[kind](stype, value)
    rec = Recorder(sched)
    strategy = SampleStrategy.get_strategy(name, rec, sensor, *params,
                                           scheduler=sched, major=major)
    strategy.start()
    return sched, sensor, strategy, rec


def run_script(sched, sensor, script, until):
    """Apply ``(time, value[, status])`` updates in order, then run the clock to ``until``."""
    for item in script:
        t, update = item[0], item[1:]
        sched.advance(t - sched.time())
        sensor.set_value(*update)
    sched.advance(until - sched.time())


# Each case: strategy name, params, sensor type, initial value, updates
# ``(time, value[, status])``, end time, expected reports ``(time, value)``.
# Time 0 is when the strategy starts: every strategy but none reports then.
SCRIPT_CASES = {
    "none": ("none", [], "integer", 0, [(1, 5), (2, 6, WARN)], 10, []),
    "auto reports every update, even unchanged": (
        "auto", [], "integer", 0, [(1, 5), (2, 5), (2, 5), (3.5, 6)], 10,
        [(0, 0), (1, 5), (2, 5), (2, 5), (3.5, 6)]),
    "event reports changes of value or status only": (
        "event", [], "integer", 0, [(1, 5), (2, 5), (3, 5, WARN), (4, 5, WARN), (5, 4, WARN)], 10,
        [(0, 0), (1, 5), (3, 5), (5, 4)]),
    "event on strings": (
        "event", [], "string", "a", [(1, "a"), (2, "b"), (3, "b"), (4, "a")], 5,
        [(0, "a"), (2, "b"), (4, "a")]),
    "differential compares with the last REPORTED value": (
        "differential", [b"2"], "integer", 10,
        [(1, 11), (2, 12), (3, 13), (4, 11), (5, 10), (6, 8)], 10,
        [(0, 10), (3, 13), (5, 10)]),
    "differential on floats": (
        "differential", [b"0.5"], "float", 1.0, [(1, 1.3), (2, 1.6), (3, 1.0), (4, 1.2)], 5,
        [(0, 1.0), (2, 1.6), (3, 1.0)]),
    "differential reports status changes within the threshold": (
        "differential", [b"2"], "integer", 10, [(1, 11, WARN), (2, 11, WARN), (3, 11, ERROR)], 5,
        [(0, 10), (1, 11), (3, 11)]),
    "period reports the latest reading on an absolute schedule": (
        "period", [b"1.5"], "integer", 0, [(0.5, 1), (0.7, 2), (3.2, 3)], 6.5,
        [(0, 0), (1.5, 2), (3.0, 2), (4.5, 3), (6.0, 3)]),
    "event-rate defers a change that comes within shortest, with the latest value": (
        "event-rate", [b"1", b"5"], "integer", 0, [(0.2, 1), (0.5, 2), (2.5, 3), (13.0, 4)], 14,
        [(0, 0), (1.0, 2), (2.5, 3), (7.5, 3), (12.5, 3), (13.5, 4)]),
    "event-rate sends one deferred report for many changes": (
        "event-rate", [b"2", b"100"], "integer", 0, [(0.1, 1), (0.5, 2), (1.0, 3), (1.9, 4)], 10,
        [(0, 0), (2.0, 4)]),
    "event-rate with shortest 0 reports changes at once and then every longest": (
        "event-rate", [b"0", b"2"], "integer", 0, [(0.5, 1), (0.5, 1), (1.0, 2)], 6,
        [(0, 0), (0.5, 1), (1.0, 2), (3.0, 2), (5.0, 2)]),
    "event-rate ignores timestamp-only updates": (
        "event-rate", [b"0", b"100"], "integer", 7, [(1, 7), (2, 7)], 3, [(0, 7)]),
    "event-rate with shortest == longest is periodic": (
        "event-rate", [b"1", b"1"], "integer", 0, [(0.3, 1), (1.5, 2)], 3.5,
        [(0, 0), (1.0, 1), (2.0, 2), (3.0, 2)]),
    "event-rate with an age-of-the-universe longest never reports periodically": (
        "event-rate", [b"0", b"4.4e17"], "integer", 0, [(1, 1)], 1e6, [(0, 0), (1, 1)]),
    "differential-rate: threshold, then rate limits": (
        "differential-rate", [b"2", b"1", b"10"], "integer", 0,
        [(0.5, 1), (0.6, 3), (0.8, 2), (3, 3), (4, 6), (4.5, 9)], 15,
        [(0, 0), (1.0, 2), (4, 6), (5.0, 9), (15.0, 9)]),
}


@pytest.mark.parametrize("kind", list(SENSOR_KINDS))
@pytest.mark.parametrize("case", list(SCRIPT_CASES.values()), ids=list(SCRIPT_CASES))
def test_report_sequences(case, kind):
    """Spec 7.1 Table 9: exact reports for each strategy under virtual time."""
    name, params, stype, initial, script, until, expected = case
    sched, sensor, strategy, rec = make(name, *params, stype=stype, value=initial, kind=kind)
    run_script(sched, sensor, script, until)
    assert rec.values() == expected


@pytest.mark.parametrize("name, params", [
    ("auto", []), ("period", [b"1"]), ("event", []), ("differential", [b"1"]),
    ("event-rate", [b"1", b"2"]), ("differential-rate", [b"1", b"1", b"2"]),
])
def test_every_strategy_but_none_reports_at_once(name, params):
    """Spec 7.1: a #sensor-status is sent immediately after a strategy is set."""
    sched, sensor, strategy, rec = make(name, *params, value=42)
    assert rec.sent == [(0.0, 42, NOMINAL)]


def test_none_reports_nothing_and_does_not_observe():
    sched, sensor, strategy, rec = make("none")
    sensor.set_value(3)
    sched.advance(100)
    assert rec.sent == [] and sensor.observers == set() and sched.pending_count() == 0


def test_nothing_is_reported_before_start():
    """Spec 7.1: no #sensor-status until the client asks."""
    sched = ManualScheduler()
    sensor = FakeSensor()
    rec = Recorder(sched)
    strategy = SampleStrategy.get_strategy("auto", rec, sensor, scheduler=sched)
    strategy.update(sensor, Reading(0, NOMINAL, 1))
    sensor.set_value(2)
    assert rec.sent == [] and sensor.observers == set()
    strategy.start()
    strategy.start()  # a second start does nothing
    assert rec.values() == [(0, 2)]
    assert sensor.observers == {strategy}


def test_period_catches_up_after_a_stall_without_a_burst():
    """A period timer that fires more than a period late restarts from now."""
    sched, sensor, strategy, rec = make("period", b"1")
    sched.advance(2)          # reports at 1, 2; next due at 3
    sched.stall(2.5)          # busy until 4.5: more than a period behind
    sched.advance(0)          # the overdue report, late
    sched.advance(2)
    assert [t for t, _ in rec.values()] == [0, 1, 2, 4.5, 5.5, 6.5]


def test_period_keeps_its_absolute_schedule_when_slightly_late():
    sched, sensor, strategy, rec = make("period", b"1")
    sched.stall(1.25)        # the first tick runs 0.25 s late...
    sched.advance(0)
    sched.advance(1.0)       # ...but the next one is still due at 2.0
    assert [t for t, _ in rec.values()] == [0, 1.25, 2.0]


def test_reports_carry_status_changes():
    sched, sensor, strategy, rec = make("event")
    sensor.set_value(0, WARN)
    sensor.set_value(0, ERROR)
    assert [s for _, _, s in rec.sent] == [NOMINAL, WARN, ERROR]


def test_differential_with_unmeasurable_value_reports():
    sched, sensor, strategy, rec = make("differential", b"1", stype="float", value=1.0)
    sensor.set_value(None, UNKNOWN)
    sensor.set_value(None, UNKNOWN)
    sensor.set_value(1.0, NOMINAL)
    assert rec.values() == [(0, 1.0), (0, None), (0, 1.0)]


# -- parameters ---------------------------------------------------------------

@pytest.mark.parametrize("name, params, stype, major, message", [
    ("foo", [], "integer", 5, r"Unknown strategy name: foo\.$"),
    (b"Event", [], "integer", 5, "Unknown strategy name: Event"),
    ("none", [b"1"], "integer", 5, "'none' strategy takes no parameters, 1 given"),
    ("auto", [b"1"], "integer", 5, "'auto' strategy takes no parameters, 1 given"),
    ("event", [b"1"], "integer", 5, "'event' strategy takes no parameters, 1 given"),
    ("period", [], "integer", 5, r"'period' strategy takes 1 parameter \(period\), 0 given"),
    ("period", [b"1", b"2"], "integer", 5, "takes 1 parameter"),
    ("period", [b"abc"], "integer", 5, "Invalid period 'abc': expected a number"),
    ("period", [b"1_0"], "integer", 5, "Invalid period '1_0': expected a number"),
    ("period", [b" 1"], "integer", 5, "expected a number"),
    ("period", [b"nan"], "integer", 5, "Invalid period 'nan': must be finite"),
    ("period", [b"1e999"], "integer", 5, "Invalid period '1e999': must be finite"),
    ("period", [b"0"], "integer", 5, "Invalid period '0': must be positive"),
    ("period", [b"-1"], "integer", 5, "Invalid period '-1': must be positive"),
    ("differential", [], "integer", 5, r"takes 1 parameter \(difference\), 0 given"),
    ("differential", [b"1"], "string", 5,
     "'differential' strategy is only valid for integer/float sensors, not 'string'"),
    ("differential", [b"1"], "boolean", 5, "only valid for"),
    ("differential", [b"1.5"], "integer", 5, "Invalid difference '1.5': expected an integer"),
    ("differential", [b"0"], "integer", 5, "Invalid difference '0': must be positive"),
    ("differential", [b"-0.5"], "float", 5, "Invalid difference '-0.5': must be positive"),
    ("differential", [b"x"], "float", 5, "Invalid difference 'x': expected a number"),
    ("event-rate", [b"1"], "integer", 5,
     r"'event-rate' strategy takes 2 parameters \(shortest-period longest-period\), 1 given"),
    ("event-rate", [b"-1", b"2"], "integer", 5,
     "Invalid shortest period '-1': must not be negative"),
    ("event-rate", [b"0", b"0"], "integer", 5, "Invalid longest period '0': must be positive"),
    ("event-rate", [b"3", b"2"], "integer", 5,
     r"shortest period \(3\) must not be greater than longest period \(2\)"),
    ("event-rate", [b"1", b"y"], "integer", 5, "Invalid longest period 'y'"),
    ("differential-rate", [b"1", b"2"], "integer", 5, "takes 3 parameters"),
    ("differential-rate", [b"1", b"0", b"1"], "timestamp", 5,
     "'differential-rate' strategy is only valid for integer/float sensors, not 'timestamp'"),
    ("differential-rate", [b"0.5", b"0", b"1"], "integer", 5, "expected an integer"),
    ("differential-rate", [b"1", b"2", b"1"], "float", 5, "must not be greater than"),
    ("event-rate", [b"1", b"2"], "integer", 4,
     "'event-rate' strategy is not available in KATCP v4"),
    ("differential-rate", [b"1", b"1", b"2"], "integer", 4,
     "'differential-rate' strategy is not available in KATCP v4"),
])
def test_bad_parameters_are_refused_clearly(name, params, stype, major, message):
    """Spec 7.2 / F119: bad strategies and parameters raise ValueError with a clear message."""
    sensor = FakeSensor(stype)
    with pytest.raises(ValueError, match=message):
        SampleStrategy.get_strategy(name, Recorder(None), sensor, *params,
                                    scheduler=ManualScheduler(), major=major)
    assert sensor.observers == set()


@pytest.mark.parametrize("stype, differential, differential_rate", [
    ("integer", True, True), ("float", True, True), ("timestamp", False, False),
    ("boolean", False, False), ("string", False, False), ("discrete", False, False),
    ("lru", False, False), ("address", False, False),
])
def test_differential_strategies_check_the_real_sensor_type(stype, differential, differential_rate):
    """Spec Table 9: differential strategies only for integer and float sensors
    (katcp-python also took timestamp sensors for differential: issue #11 point 14)."""
    factory = getattr(Sensor, stype)
    sensor = factory("s", params=["a", "b"]) if stype == "discrete" else factory("s")
    for name, params, allowed in (("differential", [b"1"], differential),
                                  ("differential-rate", [b"1", b"0", b"1"], differential_rate)):
        if allowed:
            SampleStrategy.get_strategy(name, Recorder(None), sensor, *params,
                                        scheduler=ManualScheduler())
        else:
            with pytest.raises(ValueError, match="only valid for"):
                SampleStrategy.get_strategy(name, Recorder(None), sensor, *params,
                                            scheduler=ManualScheduler())


def test_strategies_needing_time_require_a_scheduler():
    with pytest.raises(TypeError, match="'period' strategy needs a scheduler"):
        SampleStrategy.get_strategy("period", Recorder(None), FakeSensor(), b"1")
    with pytest.raises(TypeError, match="abstract"):
        SampleStrategy(Recorder(None), FakeSensor())


def test_strategies_without_timers_work_without_a_scheduler():
    sensor = FakeSensor()
    sent = []
    strategy = SampleStrategy.get_strategy(b"differential", lambda s, r: sent.append(r.value),
                                           sensor, b"1")
    strategy.start()
    sensor.set_value(1)
    sensor.set_value(2)
    assert sent == [0, 2]


@pytest.mark.parametrize("name, params", [
    ("none", []), ("auto", []), ("period", [b"500"]), ("event", []), ("differential", [b"3"]),
])
def test_v4_strategies_are_accepted(name, params):
    make(name, *params, major=4)


def test_v4_period_is_in_milliseconds():
    """Spec Table 9: the period is in seconds from v5, in milliseconds before."""
    sched, sensor, strategy, rec = make("period", b"250", major=4)
    sched.advance(1)
    assert [t for t, _ in rec.values()] == [0, 0.25, 0.5, 0.75, 1.0]
    assert strategy.get_sampling_formatted() == (b"period", [b"250"])


def test_v4_difference_is_a_value_not_milliseconds():
    """Spec Table 9: the difference is formatted as the sensor's type (a float
    for float sensors), not as a time, in v4 too."""
    sched, sensor, strategy, rec = make("differential", b"1.5", stype="float",
                                        value=10.0, major=4)
    sensor.set_value(11.0)
    sensor.set_value(11.6)
    assert rec.values() == [(0, 10.0), (0, 11.6)]


def test_names_and_params_may_be_str_or_bytes_or_numbers():
    for name, params in (("event-rate", ("1", "2.5")), (b"event-rate", (b"1", b"2.5")),
                         ("event-rate", (1, 2.5)), (u"event-rate", (u"1", u"2.5")),
                         (u"event-rate", (2 ** 70 // 2 ** 70, 2.5))):  # long on Python 2
        strategy = SampleStrategy.get_strategy(name, Recorder(None), FakeSensor(), *params,
                                               scheduler=ManualScheduler())
        assert strategy.get_sampling_formatted() == (b"event-rate", [b"1", b"2.5"])


@pytest.mark.parametrize("name, params, const", [
    ("none", [], SampleStrategy.NONE),
    ("auto", [], SampleStrategy.AUTO),
    ("period", [b"0.5"], SampleStrategy.PERIOD),
    ("event", [], SampleStrategy.EVENT),
    ("differential", [b"+3"], SampleStrategy.DIFFERENTIAL),
    ("event-rate", [b"0", b"1e3"], SampleStrategy.EVENT_RATE),
    ("differential-rate", [b"2", b".5", b"10."], SampleStrategy.DIFFERENTIAL_RATE),
])
def test_get_sampling_and_formatted_echo_the_request(name, params, const):
    """F120: the reply echoes the strategy and its parameters exactly as received."""
    strategy = SampleStrategy.get_strategy(name, Recorder(None), FakeSensor(), *params,
                                           scheduler=ManualScheduler())
    assert strategy.get_sampling() == const
    assert strategy.get_sampling_formatted() == (name.encode(), params)
    assert SampleStrategy.SAMPLING_LOOKUP[const] == name
    assert SampleStrategy.SAMPLING_LOOKUP_REV[name] == const
    assert name in repr(strategy)


def test_lookup_tables_cover_the_seven_strategies():
    assert sorted(SampleStrategy.SAMPLING_LOOKUP) == list(range(7))
    assert len(SampleStrategy.SAMPLING_LOOKUP_REV) == 7
    assert AGE_OF_UNIVERSE == pytest.approx(4.3e17)


# -- cancel -------------------------------------------------------------------

@pytest.mark.parametrize("name, params", [
    ("auto", []), ("period", [b"1"]), ("event", []), ("differential", [b"1"]),
    ("event-rate", [b"1", b"2"]), ("differential-rate", [b"1", b"1", b"2"]),
])
def test_cancel_stops_reports_detaches_and_cancels_timers(name, params):
    sched, sensor, strategy, rec = make(name, *params)
    sensor.set_value(10)  # may leave a deferred report pending
    strategy.cancel()
    strategy.cancel()  # idempotent
    before = list(rec.sent)
    assert sensor.observers == set()
    assert sched.pending_count() == 0
    sensor.set_value(20)
    strategy.update(sensor, Reading(0, WARN, 30))
    strategy.inform(Reading(0, WARN, 30))
    strategy.start()
    sched.advance(100)
    assert rec.sent == before


def test_timer_that_was_already_on_its_way_is_ignored():
    """A scheduler may run a callback whose handle was cancelled too late."""

    class LateCancelScheduler(ManualScheduler):
        def call_at(self, when, fn, *args):
            handle = super(LateCancelScheduler, self).call_at(when, fn, *args)
            self.last = (fn, args)
            return handle

    sched = LateCancelScheduler()
    sensor = FakeSensor()
    rec = Recorder(sched)
    strategy = SampleStrategy.get_strategy("event-rate", rec, sensor, b"1", b"2", scheduler=sched)
    strategy.start()
    fn, args = sched.last              # the longest-period timer
    sensor.set_value(5)                # re-arms a deferred report, superseding it
    fn(*args)                          # the stale timer fires anyway: ignored
    assert rec.values() == [(0, 0)]
    fn, args = sched.last
    strategy.cancel()
    fn(*args)                          # fires after cancel: ignored
    assert rec.values() == [(0, 0)]


def test_cancel_from_inside_the_callback():
    sched = ManualScheduler()
    sensor = FakeSensor()
    sent = []

    def callback(sensor, reading):
        sent.append(reading.value)
        if reading.value == 2:
            strategy.cancel()

    strategy = SampleStrategy.get_strategy("period", callback, sensor, b"1", scheduler=sched)
    strategy.start()
    sensor.set_value(2)
    sched.advance(10)
    assert sent == [0, 2]
    assert sched.pending_count() == 0


def test_a_failing_callback_is_logged_and_sampling_goes_on(caplog):
    sched = ManualScheduler()
    sensor = FakeSensor()
    calls = []

    def callback(sensor, reading):
        calls.append(reading.value)
        raise RuntimeError("buffer gone")

    strategy = SampleStrategy.get_strategy("period", callback, sensor, b"1", scheduler=sched)
    with caplog.at_level(logging.ERROR, logger="katcp_sync.sampling"):
        strategy.start()
        sched.advance(2)
    assert calls == [0, 0, 0]
    assert "inform callback failed" in caplog.text
    strategy.cancel()


@pytest.mark.parametrize("kind", list(SENSOR_KINDS))
@pytest.mark.parametrize("name, params", [("auto", []), ("event-rate", [b"0.001", b"0.002"])])
def test_no_report_after_cancel_returns_with_concurrent_updates(name, params, kind):
    """Four threads update the sensor and a fifth drives timers while the strategy is cancelled.

    Once cancel() has returned, the callback must never run again (the server
    relies on this for ``?sensor-sampling x none``).
    """
    sched = ManualScheduler()
    sensor = SENSOR_KINDS[kind]()
    cancelled = threading.Event()
    enough = threading.Event()
    stop = threading.Event()
    late = []
    count = [0]

    def callback(sensor, reading):
        if cancelled.is_set():
            late.append(reading)
        count[0] += 1  # safe: called under the strategy's lock
        if count[0] >= 200:
            enough.set()

    strategy = SampleStrategy.get_strategy(name, callback, sensor, *params, scheduler=sched)
    strategy.start()

    def updater(offset):
        i = 0
        while not stop.is_set():
            sensor.set_value(offset + i)
            i += 1

    def ticker():
        while not stop.is_set():
            sched.advance(0.0005)

    threads = [threading.Thread(target=updater, args=(n * 10**9,)) for n in range(4)]
    threads.append(threading.Thread(target=ticker))
    for t in threads:
        t.start()
    try:
        assert enough.wait(timeout=10)
        strategy.cancel()
        cancelled.set()
        # Keep hammering for a while after the cancel.
        done = count[0]
        for _ in range(2000):
            sensor.set_value(-1)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=10)
    assert not any(t.is_alive() for t in threads)
    assert late == []
    assert count[0] == done
    assert sched.pending_count() == 0


# -- a sensor's own "auto" (aiokatcp's auto_strategy) ------------------------

def test_auto_follows_the_sensors_auto_strategy_and_reports_itself_as_auto():
    sched = ManualScheduler()
    sensor = Sensor(Sensor.INTEGER, "fast", default=0, initial_status=Sensor.NOMINAL,
                    auto_strategy="event-rate", auto_strategy_parameters=(0.5, 10))
    rec = Recorder(sched)
    strategy = SampleStrategy.get_strategy("auto", rec, sensor, scheduler=sched)
    strategy.start()
    for value in range(1, 50):          # a burst: at most one report per 0.5 s
        sensor.set_value(value, timestamp=0.0)
    sched.advance(0.5)
    assert rec.values() == [(0, 0), (0.5, 49)]
    sched.advance(10)                   # nothing changed: the longest period
    assert rec.values()[-1] == (10.5, 49)
    assert strategy.get_sampling() == SampleStrategy.AUTO
    assert strategy.get_sampling_formatted() == (b"auto", [])


def test_auto_without_an_auto_strategy_reports_every_update():
    sched, sensor, strategy, rec = make("auto", kind="real")
    sensor.set_value(0)
    sensor.set_value(0)
    assert len(rec.sent) == 3


@pytest.mark.parametrize("strategy, params, error", [
    ("event-rate", (2, 1), "shortest period"),                  # shortest > longest
    ("event-rate", (1,), "takes 2 parameters"),
    ("differential", (1,), "only valid for integer/float sensors"),  # a string sensor
    ("no-such", (), "Unknown strategy"),
])
def test_a_bad_auto_strategy_fails_when_the_sensor_is_made(strategy, params, error):
    with pytest.raises(ValueError, match=error):
        Sensor(Sensor.STRING, "bad", auto_strategy=strategy, auto_strategy_parameters=params)


def test_auto_strategy_by_constant_and_period_parameters_in_seconds_for_v4():
    sched = ManualScheduler()
    sensor = Sensor(Sensor.FLOAT, "slow", auto_strategy=SampleStrategy.PERIOD,
                    auto_strategy_parameters=(2,))
    rec = Recorder(sched)
    strategy = SampleStrategy.get_strategy("auto", rec, sensor, scheduler=sched, major=4)
    strategy.start()
    sched.advance(4)                    # 2 s, not 2 ms, even for a v4 client
    assert [t for t, _ in rec.values()] == [0, 2, 4]


# -- ordering under concurrent writers (issue #11, point 1) ---------------------

ORDERING_STRATEGIES = [
    ("auto", []), ("event", []), ("differential", [b"1"]),
    ("event-rate", [b"0", b"10"]), ("differential-rate", [b"1", b"0", b"10"]),
]


@pytest.mark.parametrize("kind", list(SENSOR_KINDS))
@pytest.mark.parametrize("name, params", ORDERING_STRATEGIES)
def test_a_late_notification_never_reports_an_older_reading(name, params, kind):
    """A notification that arrives after a newer reading was stored and reported
    (a writer thread preempted between its store and its notify) must not
    report its older reading: the client would end on a stale value."""
    sched, sensor, strategy, rec = make(name, *params, kind=kind)
    sensor.detach(strategy)         # writer A stores 10; its notification is delayed
    sensor.set_value(10)
    late = sensor.read()
    sensor.attach(strategy)
    sensor.set_value(20)            # writer B stores 20 and notifies at once
    strategy.update(sensor, late)   # A's notification arrives at last
    assert [v for _, v in rec.values()] == [0, 20]


@pytest.mark.parametrize("name, params", ORDERING_STRATEGIES + [("period", [b"0.001"])])
def test_reports_follow_the_store_order_and_end_on_the_final_reading(name, params):
    """Eight threads set one sensor as fast as they can (with a tiny GIL switch
    interval to shuffle them): every strategy's reports keep the order in which
    the sensor stored its readings, and the last one is the final reading."""
    sched = ManualScheduler()
    sensor = StoreOrderSensor(Sensor.INTEGER, "busy", default=-10, initial_status=NOMINAL)
    rec = Recorder(sched)
    strategy = SampleStrategy.get_strategy(name, rec, sensor, *params, scheduler=sched)
    strategy.start()

    def ticker(writers):
        while any(t.is_alive() for t in writers):
            sched.advance(0.0005)

    hammer(sensor.set_value, per_writer=1000, extra=[ticker])
    sched.advance(1)
    strategy.cancel()
    positions = sensor.positions(v for _, v in rec.values())
    assert positions == sorted(positions), "a report went back in time"
    assert rec.values()[-1][1] == sensor.value()


# -- the minimum period (issue #11, point 11) -----------------------------------

@pytest.mark.parametrize("name, params, major, effective", [
    ("period", [b"0.000001"], 5, [b"0.001"]),
    ("period", [b"0.001"], 5, [b"0.001"]),                 # not below: as given
    ("period", [b"1e-3"], 5, [b"1e-3"]),
    ("period", [b"0.0001"], 4, [b"1"]),                    # v4: milliseconds
    ("event-rate", [b"0", b"0.0000001"], 5, [b"0", b"0.001"]),
    ("event-rate", [b"0.00001", b"0.5"], 5, [b"0.00001", b"0.5"]),   # shortest left alone
    ("event-rate", [b"0", b"4.4e17"], 5, [b"0", b"4.4e17"]),         # no periodic report
    ("differential-rate", [b"1", b"0", b"1e-9"], 5, [b"1", b"0", b"0.001"]),
])
def test_min_period_raises_timer_periods_and_says_so(name, params, major, effective):
    sched, sensor, strategy, rec = make(name, *params, major=major)
    strategy.cancel()
    strategy = SampleStrategy.get_strategy(name, rec, sensor, *params, scheduler=sched,
                                           major=major, min_period=0.001)
    assert strategy.get_sampling_formatted() == (name.encode(), effective)


def test_min_period_bounds_the_reports_of_a_tiny_period():
    sched = ManualScheduler()
    rec = Recorder(sched)
    strategy = SampleStrategy.get_strategy("period", rec, FakeSensor(), b"1e-9",
                                           scheduler=sched, min_period=0.01)
    strategy.start()
    sched.advance(1.005)
    assert len(rec.sent) == 101       # at start, then every 10 ms
    strategy.cancel()


def test_one_strategy_table_serves_sampling_and_protocol():
    """Issue 12: the strategy constants, names, parameters, versions and
    sensor types are defined once (katcp_sync.strategies); the strategy
    classes and protocol's STRATEGIES_V4/V5 are read from it."""
    from katcp_sync import protocol, strategies
    from katcp_sync.sampling import _STRATEGY_CLASSES
    assert SampleStrategy.SAMPLING_LOOKUP is strategies.SAMPLING_LOOKUP
    assert protocol.STRATEGIES_V4 is strategies.STRATEGIES_V4
    assert protocol.STRATEGIES_V5 is strategies.STRATEGIES_V5
    assert protocol.STRATEGIES_V4 == {"none", "auto", "period", "event", "differential"}
    assert protocol.STRATEGIES_V5 == protocol.STRATEGIES_V4 | {"event-rate",
                                                               "differential-rate"}
    for row in strategies.STRATEGY_TABLE:
        cls = _STRATEGY_CLASSES[row.code]
        assert cls.STRATEGY == row.code == getattr(SampleStrategy, row.name.upper()
                                                   .replace("-", "_"))
        assert cls.PARAMS == row.params
        flags = protocol.ProtocolFlags(4, 0)
        assert flags.strategy_allowed(row.name) == (row.since_major <= 4)
    # Versions before v4 get v4's strategies, as before the table.
    sensor = Sensor.float("x")
    assert SampleStrategy.get_strategy("event", lambda s, r: None, sensor, major=3)
    with pytest.raises(ValueError, match="not available in KATCP v3"):
        SampleStrategy.get_strategy("event-rate", lambda s, r: None, sensor, b"1", b"2",
                                    major=3)


def test_strategies_are_small():
    # A server holds one strategy per client per sensor (a million of them in
    # bench/run.py soak): no __dict__, and given the sensor's stripe lock no
    # lock of their own. The bench measures the bytes; this only guards the shape.
    sensor = Sensor.integer("i")
    scheduler = ManualScheduler()
    strategies = [SampleStrategy.get_strategy(name, lambda s, r: None, sensor, *params,
                                              scheduler=scheduler, lock=stripe_lock(sensor))
                  for name, params in (("event", ()), ("event", ()), ("auto", ()),
                                       ("period", ("1",)), ("differential", ("1",)))]
    assert not any(hasattr(strategy, "__dict__") for strategy in strategies)
    assert len({id(strategy._lock) for strategy in strategies}) == 1


def test_a_strategy_without_a_given_lock_has_its_own():
    """Outside the server, a callback may set other sensors: strategies then
    share no lock, so two of them cannot deadlock each other."""
    sensor = Sensor.integer("i")
    one, two = (SampleStrategy.get_strategy("event", lambda s, r: None, sensor)
                for _ in range(2))
    assert one._lock is not two._lock
