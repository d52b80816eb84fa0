"""Tests for katcp_sync.sensor (spec section 7, Tables 6 and 8)."""

from __future__ import absolute_import, division, print_function


import logging
import threading
import time

import pytest
from six.moves import _thread

from katcp_sync.errors import KatcpTypeError, KatcpValueError
from katcp_sync.kattypes import Address
from katcp_sync.sensor import Reading, Sensor

WAIT = 10.0  # upper bound for any wait on another thread


class Recorder(object):
    """An observer that records every update, from any thread."""

    def __init__(self):
        self.updates = []  # list.append is atomic

    def update(self, sensor, reading):
        self.updates.append((sensor, reading, _thread.get_ident()))

    @property
    def readings(self):
        return [reading for _, reading, _ in self.updates]


def run_threads(targets):
    threads = [threading.Thread(target=t, name="test-sensor-%d" % i)
               for i, t in enumerate(targets)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT)
        assert not thread.is_alive(), "thread did not finish"


# ---------------------------------------------------------------------------
# Constants

def test_constants_match_katcp_python():
    assert [Sensor.INTEGER, Sensor.FLOAT, Sensor.BOOLEAN, Sensor.LRU, Sensor.DISCRETE,
            Sensor.STRING, Sensor.TIMESTAMP, Sensor.ADDRESS] == list(range(8))
    assert [Sensor.UNKNOWN, Sensor.NOMINAL, Sensor.WARN, Sensor.ERROR, Sensor.FAILURE,
            Sensor.UNREACHABLE, Sensor.INACTIVE] == list(range(7))
    assert Sensor.SENSOR_TYPE_LOOKUP == {
        "integer": 0, "float": 1, "boolean": 2, "lru": 3, "discrete": 4, "string": 5,
        "timestamp": 6, "address": 7}
    # Table 8
    assert Sensor.STATUSES == {0: "unknown", 1: "nominal", 2: "warn", 3: "error",
                               4: "failure", 5: "unreachable", 6: "inactive"}
    assert Sensor.STATUS_NAMES["inactive"] == Sensor.INACTIVE
    assert Sensor.STATUSES_RAW[Sensor.WARN] == b"warn"
    assert Sensor.STATUS_NAMES_RAW[b"unreachable"] == Sensor.UNREACHABLE
    assert (Sensor.LRU_NOMINAL, Sensor.LRU_ERROR) == (0, 1)


# ---------------------------------------------------------------------------
# Construction, factories and defaults

FACTORY_DEFAULTS = [
    (lambda: Sensor.integer("s"), "integer", 0),
    (lambda: Sensor.float("s"), "float", 0.0),
    (lambda: Sensor.boolean("s"), "boolean", False),
    (lambda: Sensor.lru("s"), "lru", Sensor.LRU_NOMINAL),
    (lambda: Sensor.discrete("s", params=["b", "a"]), "discrete", "b"),
    (lambda: Sensor.string("s"), "string", ""),
    (lambda: Sensor.timestamp("s"), "timestamp", 0.0),
    (lambda: Sensor.address("s"), "address", Address.NULL),
]


@pytest.mark.parametrize("make, stype, default", FACTORY_DEFAULTS)
def test_factory_defaults(make, stype, default):
    before = time.time()
    sensor = make()
    assert sensor.stype == sensor.type == stype
    assert sensor.value() == default
    assert sensor.status() == Sensor.UNKNOWN
    assert before <= sensor.timestamp() <= time.time()
    assert sensor.read() == Reading(sensor.timestamp(), Sensor.UNKNOWN, default)
    assert sensor.units == ""


def test_tutorial_sensors():
    add = Sensor.float("add.result", "Last ?add result.", "", [-10000, 10000])
    fruit = Sensor.discrete("fruit.result", "Last ?pick-fruit result.", "",
                            ["apple", "banana", "pear", "kiwi"])
    assert add.description == "Last ?add result."
    assert add.params == [-10000, 10000]
    assert add.formatted_params == [b"-10000.0", b"10000.0"]
    assert fruit.value() == "apple"
    assert fruit.formatted_params == [b"apple", b"banana", b"pear", b"kiwi"]
    assert Sensor.timestamp("time.result", "Last ?time result.", "").units == ""


def test_constructor_and_shortcuts():
    assert Sensor(int, "a").stype == "integer"
    assert Sensor(float, "a").stype == "float"
    assert Sensor(str, "a").stype == "string"
    assert Sensor(bool, "a").stype == "boolean"
    sensor = Sensor(Sensor.INTEGER, "a", "desc", "m", [0, 10], 5, Sensor.NOMINAL)
    assert (sensor.name, sensor.description, sensor.units, sensor.params) == (
        "a", "desc", "m", [0, 10])
    assert sensor.read()[1:] == (Sensor.NOMINAL, 5)
    assert sensor.formatted_params == [b"0", b"10"]
    assert "a" in repr(sensor) and "integer" in repr(sensor)


def test_numeric_default_clamps_to_params():
    assert Sensor.integer("a", params=[1, 5]).value() == 1
    assert Sensor.integer("a", params=[-1, 5]).value() == 0
    assert Sensor.float("a", params=[2.5, 3.5]).value() == 2.5
    assert Sensor.float("a", params=[2.5, 3.5, 2.0, 4.0]).value() == 2.5  # 5.1 warn range
    assert Sensor.integer("a", params=[1, 5], default=3).value() == 3


def test_auto_description():
    assert Sensor.float("temp", unit="degC").description == "Float sensor 'temp' in unit degC"
    assert Sensor.boolean("ok").description == "Boolean sensor 'ok' with no unit"


@pytest.mark.parametrize("name", ["", "has space", "slash/name", "tab\tname", "caf\u00e9", "a,b"])
def test_name_validation(name):
    with pytest.raises(ValueError, match=r"Invalid sensor name .*a-z A-Z 0-9 \. - _"):
        Sensor.integer(name)


def test_valid_names():
    for name in ["pump.pressure", "cold-chamber", "under_score", "CAPS.09"]:
        assert Sensor.integer(name).name == name


@pytest.mark.parametrize("make, text", [
    (lambda: Sensor.timestamp("t", unit="s"), "timestamp sensors take no units"),
    (lambda: Sensor.discrete("d"), "needs its allowed values"),
    (lambda: Sensor("nonsense", "x"), "Invalid sensor type 'nonsense'"),
    (lambda: Sensor(list, "x"), "Invalid sensor type"),
    (lambda: Sensor.integer("i", params=[1]), "numeric params are"),
    (lambda: Sensor(Sensor.STRING, "s", params=["x"]), "string sensors take no params"),
    (lambda: Sensor.integer("i", initial_status=99), "Invalid initial status 99"),
    (lambda: Sensor.discrete("d", params=["a"], default="b"), "Discrete value 'b' is not one of"),
])
def test_construction_errors(make, text):
    with pytest.raises(ValueError, match=text):
        make()


def test_default_of_wrong_type():
    with pytest.raises(KatcpTypeError, match="expected an integer"):
        Sensor.integer("i", default="3")


# ---------------------------------------------------------------------------
# set / set_value / read

def test_set_value_defaults_status_and_timestamp():
    sensor = Sensor.integer("i")
    before = time.time()
    sensor.set_value(3)
    reading = sensor.read()
    assert reading.value == 3 and reading.status == Sensor.NOMINAL
    assert before <= reading.timestamp <= time.time()
    sensor.set_value(4, Sensor.WARN, 123.0)
    assert sensor.read() == Reading(123.0, Sensor.WARN, 4)
    assert (sensor.value(), sensor.status(), sensor.timestamp()) == (4, Sensor.WARN, 123.0)


def test_set_does_not_validate():
    sensor = Sensor.discrete("d", params=["a"])
    sensor.set(1.0, Sensor.ERROR, "not-in-set")
    assert sensor.read() == Reading(1.0, Sensor.ERROR, "not-in-set")


@pytest.mark.parametrize("sensor, value, error, text", [
    (Sensor.integer("i"), 1.5, KatcpTypeError, "expected an integer, got 1.5"),
    (Sensor.integer("i"), "1", KatcpTypeError, "expected an integer"),
    (Sensor.float("f"), "abc", KatcpTypeError, "expected a real number, got 'abc'"),
    (Sensor.discrete("d", params=["a", "b"]), "c",
     KatcpValueError, r"Discrete value 'c' is not one of \['a', 'b'\]"),
    (Sensor.lru("l"), 7, KatcpValueError, "Lru value must be"),
    (Sensor.address("a"), "1.2.3.4", KatcpTypeError, r"a \(host, port\) tuple"),
    (Sensor.timestamp("t"), None, KatcpTypeError, "a timestamp in seconds"),
])
def test_set_value_validates(sensor, value, error, text):
    before = sensor.read()
    with pytest.raises(error, match=text):
        sensor.set_value(value)
    assert sensor.read() is before


def test_set_value_rejects_bad_status():
    with pytest.raises(KatcpValueError, match="Invalid status 42"):
        Sensor.integer("i").set_value(1, 42)


def test_numeric_params_are_informational_not_enforced():
    # Spec 7.2: ranges are informational; katcp-python does not enforce them either.
    sensor = Sensor.integer("i", params=[0, 10])
    sensor.set_value(11, Sensor.ERROR)
    assert sensor.value() == 11
    sensor = Sensor.float("f", params=[0, 1])
    sensor.set_value(-5.0)
    assert sensor.value() == -5.0


def test_lenient_values():
    Sensor.float("f").set_value(3)  # ints are real numbers
    Sensor.boolean("b").set_value(1)
    Sensor.string("s").set_value(b"\xff raw bytes")
    Sensor.integer("i").set_value(True)  # bool is an int, as in Python


# ---------------------------------------------------------------------------
# Wire formats

FORMATS = [
    # (sensor, value, v5 bytes, v4 bytes)
    (Sensor.integer("i"), -546, b"-546", b"-546"),
    (Sensor.float("f"), -1.234e-05, b"-1.234e-05", b"-1.234e-05"),
    (Sensor.float("f"), 0.1, b"0.1", b"0.1"),
    (Sensor.boolean("b"), True, b"1", b"1"),
    (Sensor.lru("l"), Sensor.LRU_ERROR, b"error", b"error"),
    (Sensor.discrete("d", params=["initialise", "operate"]), "operate", b"operate", b"operate"),
    (Sensor.string("s"), "hello world", b"hello world", b"hello world"),
    (Sensor.timestamp("t"), 1222180721.25, b"1222180721.250000", b"1222180721250"),
    (Sensor.address("a"), ("::1", 80), b"[::1]:80", b"[::1]:80"),
    (Sensor.address("a"), ("10.0.0.1", None), b"10.0.0.1", b"10.0.0.1"),
]


@pytest.mark.parametrize("sensor, value, v5, v4", FORMATS)
def test_formatting_per_type_and_major(sensor, value, v5, v4):
    sensor.set_value(value, Sensor.WARN, 1234.5)
    assert sensor.read_formatted() == (b"1234.500000", b"warn", v5)
    assert sensor.read_formatted(5) == (b"1234.500000", b"warn", v5)
    assert sensor.read_formatted(4) == (b"1234500", b"warn", v4)
    assert sensor.format_reading(Reading(1.0, Sensor.NOMINAL, value), 4) == (
        b"1000", b"nominal", v4)
    assert sensor.format_reading() == sensor.read_formatted()
    # and back
    assert sensor.parse_value(v5) == value
    assert sensor.parse_value(v4, 4) == value


@pytest.mark.parametrize("sensor, value, v5, v4", FORMATS)
def test_set_formatted(sensor, value, v5, v4):
    sensor.set_formatted(b"1500", b"error", v4, major=4)
    assert sensor.read() == Reading(1.5, Sensor.ERROR, value)
    sensor.set_formatted(b"1500.25", b"nominal", v5)
    assert sensor.read() == Reading(1500.25, Sensor.NOMINAL, value)


def test_set_formatted_errors():
    sensor = Sensor.integer("i")
    with pytest.raises(KatcpValueError, match="Invalid sensor status b?'fine'"):
        sensor.set_formatted(b"1.0", b"fine", b"1")
    with pytest.raises(KatcpValueError, match="could not parse 'x' as integer"):
        sensor.set_formatted(b"1.0", b"nominal", b"x")
    with pytest.raises(KatcpValueError, match="could not parse 'soon' as timestamp"):
        sensor.set_formatted(b"soon", b"nominal", b"1")


def test_parse_type():
    assert Sensor.parse_type("discrete") == Sensor.DISCRETE
    assert Sensor.parse_type(b"address") == Sensor.ADDRESS
    with pytest.raises(KatcpValueError, match="Invalid sensor type string 'complex'"):
        Sensor.parse_type("complex")


def test_parse_params():
    assert Sensor.parse_params(Sensor.INTEGER, [b"-5", b"5"]) == [-5, 5]
    assert Sensor.parse_params(Sensor.FLOAT, [b"-1.5", b"2"]) == [-1.5, 2.0]
    assert Sensor.parse_params(Sensor.DISCRETE, [b"on", b"off"]) == ["on", "off"]
    assert Sensor.parse_params(Sensor.BOOLEAN, []) == []
    with pytest.raises(KatcpValueError):
        Sensor.parse_params(Sensor.INTEGER, [b"low", b"high"])


def test_from_sensor_list_makes_the_sensor_a_listing_describes():
    """Spec 7.2: ``#sensor-list name description units type params...``;
    the fake device and the sensor watcher both build their sensors so."""
    sensor = Sensor.from_sensor_list(b"psu.voltage", b"PSU voltage.", b"V", b"float",
                                     [b"0.0", b"5.0"])
    assert (sensor.name, sensor.description, sensor.units, sensor.stype, sensor.params) == (
        "psu.voltage", "PSU voltage.", "V", "float", [0.0, 5.0])
    mode = Sensor.from_sensor_list("mode", "Mode.", "", "discrete", ["on", "off"])
    assert mode.params == ["on", "off"] and mode.value() == "on"
    ranged = Sensor.from_sensor_list("count", "Count.", "", "integer", [-5, 5])   # Python values
    assert ranged.params == [-5, 5]
    assert Sensor.from_sensor_list("ok", "Ok.", "", "boolean").params == []
    with pytest.raises(KatcpValueError, match="complex"):
        Sensor.from_sensor_list("x", "X.", "", "complex")


# ---------------------------------------------------------------------------
# Observers

def test_observers_are_notified_in_attach_order():
    """(A plain dict keyed by id() loses the order on Python 2.)"""
    sensor = Sensor.integer("i")
    order = []

    class Named(object):
        def __init__(self, index):
            self.index = index

        def update(self, sensor, reading):
            order.append(self.index)

    observers = [Named(i) for i in range(64)]
    for observer in observers:
        sensor.attach(observer)
    for observer in observers[::3]:
        sensor.detach(observer)
    kept = [o for i, o in enumerate(observers) if i % 3]
    assert sensor.observers() == tuple(kept)
    sensor.set_value(1)
    assert order == [o.index for o in kept]


def test_attach_detach_notify():
    sensor = Sensor.integer("i")
    first, second = Recorder(), Recorder()
    sensor.attach(first)
    sensor.attach(first)  # twice: still notified once
    sensor.attach(second)
    sensor.set_value(1, timestamp=10.0)
    assert first.readings == second.readings == [Reading(10.0, Sensor.NOMINAL, 1)]
    assert first.updates[0][0] is sensor
    assert first.updates[0][2] == _thread.get_ident()  # called on the setting thread
    sensor.detach(first)
    sensor.detach(first)  # not attached: no error
    sensor.set(11.0, Sensor.WARN, 2)
    assert len(first.updates) == 1
    assert second.readings[-1] == Reading(11.0, Sensor.WARN, 2)
    sensor.notify(Reading(12.0, Sensor.ERROR, 3))
    assert second.readings[-1] == Reading(12.0, Sensor.ERROR, 3)


def test_observer_exception_is_logged_and_others_still_called(caplog):
    class Broken(object):
        def update(self, sensor, reading):
            raise RuntimeError("observer bug")

    sensor = Sensor.integer("i")
    before, after = Recorder(), Recorder()
    sensor.attach(before)
    sensor.attach(Broken())
    sensor.attach(after)
    with caplog.at_level(logging.ERROR, logger="katcp_sync.sensor"):
        sensor.set_value(5)
    assert len(before.updates) == len(after.updates) == 1
    assert sensor.value() == 5
    [record] = [r for r in caplog.records if r.name == "katcp_sync.sensor"]
    assert "'i'" in record.getMessage() and record.exc_info[0] is RuntimeError


def test_observer_is_called_without_the_lock():
    """An observer may attach, detach and set the same sensor without deadlock."""
    sensor = Sensor.integer("i")
    late = Recorder()

    class Reentrant(object):
        def update(self, sensor, reading):
            sensor.detach(self)
            sensor.attach(late)
            sensor.set_value(reading.value + 1)

    sensor.attach(Reentrant())
    sensor.set_value(1)
    assert sensor.value() == 2
    assert late.readings[-1].value == 2


def test_attach_detach_during_notify_from_other_threads():
    sensor = Sensor.integer("i")
    steady = Recorder()
    sensor.attach(steady)
    stop = threading.Event()
    errors = []

    def churn():
        try:
            while not stop.is_set():
                observer = Recorder()
                sensor.attach(observer)
                sensor.detach(observer)
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)

    def setter():
        try:
            for value in range(3000):
                sensor.set_value(value)
        finally:
            stop.set()

    run_threads([churn, churn, setter])
    assert not errors
    assert [r.value for r in steady.readings] == list(range(3000))


def test_concurrent_set_value_never_loses_or_tears_readings():
    threads, per_thread = 8, 2000
    sensor = Sensor.integer("i")
    observers = [Recorder(), Recorder()]
    for observer in observers:
        sensor.attach(observer)
    written = set()
    # a barrier (threading.Barrier is 3.2+): the last writer ready starts all
    start, ready, lock = threading.Event(), [], threading.Lock()

    def writer(index):
        def run():
            with lock:
                ready.append(index)
                if len(ready) == threads:
                    start.set()
            start.wait(WAIT)
            for i in range(per_thread):
                value = index * per_thread + i
                # status and timestamp derived from the value: a torn reading would mismatch
                sensor.set_value(value, Sensor.NOMINAL + value % 3, float(value))
        return run

    for index in range(threads):
        for i in range(per_thread):
            value = index * per_thread + i
            written.add(Reading(float(value), Sensor.NOMINAL + value % 3, value))

    run_threads([writer(index) for index in range(threads)])
    for observer in observers:
        assert len(observer.readings) == threads * per_thread
        assert set(observer.readings) == written  # every reading exactly once
    assert sensor.read() in written


def test_timestamp_is_factory_on_class_and_accessor_on_instance():
    class MySensor(Sensor):
        pass

    sensor = MySensor.timestamp("t", "a time")
    assert type(sensor) is MySensor and sensor.stype == "timestamp"
    sensor.set_value(5.0, timestamp=7.0)
    assert sensor.timestamp() == 7.0
    assert "timestamp sensor" in Sensor.timestamp.__doc__


def test_numpy_values_are_accepted():
    numpy = pytest.importorskip("numpy")
    integer, real, boolean = Sensor.integer("i"), Sensor.float("f"), Sensor.boolean("b")
    integer.set_value(numpy.int64(3))
    real.set_value(numpy.float32(0.5))
    boolean.set_value(numpy.bool_(True))
    assert integer.read_formatted()[2] == b"3"
    assert real.read_formatted()[2] == b"0.5"
    assert boolean.read_formatted()[2] == b"1"


def test_status_func_gives_the_status_of_a_value_set_without_one():
    def status(value):
        return Sensor.NOMINAL if value < 10 else Sensor.ERROR
    sensor = Sensor(Sensor.INTEGER, "temp", status_func=status)
    sensor.set_value(5)
    assert sensor.status() == Sensor.NOMINAL
    sensor.set_value(50)
    assert sensor.status() == Sensor.ERROR
    sensor.set_value(50, Sensor.WARN)           # an explicit status wins
    assert sensor.status() == Sensor.WARN
    broken = Sensor(Sensor.INTEGER, "broken", status_func=lambda value: 42)
    with pytest.raises(KatcpValueError):
        broken.set_value(1)


def test_device_status_sensor_of_spec_appendix_b2():
    sensor = Sensor.device_status()
    assert (sensor.name, sensor.stype, sensor.params) == (
        "device-status", "discrete", ["ok", "degraded", "fail"])
    assert (sensor.value(), sensor.status()) == ("ok", Sensor.NOMINAL)
    for value, status in (("degraded", Sensor.WARN), ("fail", Sensor.ERROR),
                          ("ok", Sensor.NOMINAL)):
        sensor.set_value(value)                 # the status follows (table 14)
        assert sensor.status() == status
    with pytest.raises(KatcpValueError):
        sensor.set_value("broken")


def test_bytes_name_description_and_units_become_str():
    """katcp-python accepted bytes here; ported code still passes them."""
    sensor = Sensor.integer(b"an.int", b"An integer.", b"count", [-4, 3])
    assert (sensor.name, sensor.description, sensor.units) == ("an.int", "An integer.", "count")
    assert all(type(v) is str for v in (sensor.name, sensor.description, sensor.units))


def test_string_sensor_takes_any_value_and_formats_it_with_str():
    sensor = Sensor.string("s")
    sensor.set_value([1, 2, 3])
    assert sensor.value() == [1, 2, 3]
    assert sensor.read_formatted()[2] == b"[1, 2, 3]"


def test_status_line_is_the_whole_inform_and_formatted_once_per_reading():
    # spec 7.3: #sensor-status timestamp count name status value
    sensor = Sensor.string("s.1")
    sensor.set_value("a b", Sensor.WARN, 1234.5)
    reading = sensor.read()
    line = sensor.status_line(reading)
    assert line == b"#sensor-status 1234.500000 1 s.1 warn a\\_b\n"
    assert sensor.status_line(reading, 4) == b"#sensor-status 1234500 1 s.1 warn a\\_b\n"
    # The same reading again (the next client) gets the same bytes, not a copy.
    assert sensor.status_line(reading) is line
    # An equal but different reading is formatted anew: the cache goes by identity.
    sensor.set_value("a b", Sensor.WARN, 1234.5)
    assert sensor.read() is not reading
    assert sensor.status_line(sensor.read()) == line
    assert sensor.status_line(sensor.read()) is not line
