"""Sensor requests and sampling strategies over real sockets (spec section 7)."""

from __future__ import absolute_import, division, print_function


import threading
import time

import pytest

from katcp_sync import compat
from katcp_sync.message import Message
from katcp_sync.protocol import ProtocolFlags
from katcp_sync.sensor import Sensor

from ordering_support import Gate, StoreOrderSensor, hammer, late_notification
from server_support import TIMEOUT, DemoServer, args


def status_informs(client, wait):
    """Every #sensor-status received within ``wait`` seconds."""
    deadline = compat.monotonic() + wait
    found = []
    while True:
        remaining = deadline - compat.monotonic()
        if remaining <= 0:
            return found
        try:
            msg = client.read_message(remaining)
        except compat.TimeoutError:
            return found
        if msg.name == "sensor-status":
            found.append(msg)


def values(informs):
    return [args(m)[4] for m in informs]


# -- ?sensor-list / ?sensor-value (spec 7.2) ----------------------------------------


def test_sensor_list_all_sorted(server, connect):
    client = connect(server)
    informs, reply = client.request("?sensor-list")
    assert [args(m)[0] for m in informs] == [
        "demo.float", "demo.int", "demo.str", "other.discrete"]
    assert args(informs[1]) == ["demo.int", "An integer", "count", "integer", "0", "100"]
    assert informs[2].encode() == b"#sensor-list demo.str A\\_string \\@ string\n"
    assert args(informs[3])[3:] == ["discrete", "on", "off"]
    assert args(reply) == ["ok", "4"]


def test_sensor_list_name_regex_unknown(server, connect):
    client = connect(server)
    informs, reply = client.request("?sensor-list[9] demo.int")
    assert len(informs) == 1 and informs[0].mid == b"9" and args(reply) == ["ok", "1"]
    informs, reply = client.request("?sensor-list /^demo.(int|str)$/")
    assert [args(m)[0] for m in informs] == ["demo.int", "demo.str"]
    informs, reply = client.request("?sensor-list /nothing-matches/")
    assert informs == [] and args(reply) == ["ok", "0"]
    reply = client.request("?sensor-list nope")[1]
    assert reply.encode() == b"!sensor-list fail Unknown\\_sensor\\_name.\n"
    reply = client.request("?sensor-list /(/")[1]
    assert args(reply)[0] == "fail" and "regular expression" in args(reply)[1]
    # The pattern is quoted as the native str on every Python (2.7 said u'/(/').
    assert "expression '/(/'" in args(reply)[1]
    # A pattern that could backtrack catastrophically is refused, not run.
    reply = client.request("?sensor-value /(a+)+b/")[1]
    assert args(reply)[0] == "fail" and "nested repetition" in args(reply)[1]
    # A repetition count re cannot hold: a clear fail, not a traceback (spec 7.2:
    # ``?sensor-list`` fails with a message for a pattern it cannot use).
    for request in ("?sensor-list /a{99999999999}/", "?sensor-value /a{1,4294967296}/"):
        reply = client.request(request)[1]
        assert args(reply)[0] == "fail", reply
        assert args(reply)[1].startswith("Invalid regular expression") and "Traceback" not in (
            args(reply)[1]), reply


def test_sensor_value(server, connect):
    server.int_sensor.set_value(42, timestamp=1234.5)
    client = connect(server)
    informs, reply = client.request("?sensor-value demo.int")
    assert informs[0].encode() == b"#sensor-value 1234.500000 1 demo.int nominal 42\n" or \
        args(informs[0]) == ["1234.5", "1", "demo.int", "nominal", "42"]
    assert args(reply) == ["ok", "1"]
    informs, reply = client.request("?sensor-value")
    assert len(informs) == 4 and args(reply) == ["ok", "4"]
    informs, reply = client.request("?sensor-value /discrete/")
    assert [args(m)[2] for m in informs] == ["other.discrete"]
    assert args(client.request("?sensor-value nope")[1]) == ["fail", "Unknown sensor name."]


# -- ?sensor-sampling (spec 7.1, 7.2) ----------------------------------------------------


def test_no_sensor_status_before_sampling_is_set(server, connect):
    """Spec 7.1: nothing is sent until the client asks."""
    client = connect(server)
    server.int_sensor.set_value(1)
    assert client.no_message()


def test_query_default_is_none(server, connect):
    client = connect(server)
    assert args(client.request("?sensor-sampling demo.int")[1]) == ["ok", "demo.int", "none"]


def test_event_strategy(server, connect):
    """Spec 7.1: first value before the reply; then only on change."""
    client = connect(server)
    client.send("?sensor-sampling[3] demo.int event")
    first = client.read_message()
    assert first.name == "sensor-status" and first.mid is None
    assert args(first)[1:4] == ["1", "demo.int", "unknown"]
    assert client.read_message().encode() == b"!sensor-sampling[3] ok demo.int event\n"
    for value in (5, 5, 6, 6, 7):
        server.int_sensor.set_value(value)
    assert values(status_informs(client, 0.3)) == ["5", "6", "7"]
    assert args(client.request("?sensor-sampling demo.int")[1]) == ["ok", "demo.int", "event"]


def test_auto_strategy_sends_every_update(server, connect):
    client = connect(server)
    client.request("?sensor-sampling demo.int auto")
    for value in (1, 1, 2):
        server.int_sensor.set_value(value)
    assert values(status_informs(client, 0.3)) == ["1", "1", "2"]


def test_none_strategy_stops_sampling(server, connect):
    client = connect(server)
    client.request("?sensor-sampling demo.int auto")
    informs, reply = client.request("?sensor-sampling demo.int none")
    assert args(reply) == ["ok", "demo.int", "none"]
    server.int_sensor.set_value(3)
    assert status_informs(client, 0.2) == []


def test_period_strategy_timing(server, connect):
    """Spec 7.1 period: about one report per period (seconds in v5)."""
    client = connect(server)
    client.request("?sensor-sampling demo.float period 0.05")
    got = status_informs(client, 0.5)
    assert 6 <= len(got) <= 12


def test_differential_strategy(server, connect):
    """Spec 7.1 differential: report when the change since the last report exceeds d."""
    server.float_sensor.set_value(0.0)
    client = connect(server)
    client.request("?sensor-sampling demo.float differential 0.25")
    for value in (0.1, 0.2, 0.3, 0.4, 0.5, 0.9):
        server.float_sensor.set_value(value)
    assert values(status_informs(client, 0.3)) == ["0.3", "0.9"]


def test_event_rate_strategy(server, connect):
    """Spec 7.1 event-rate: changes, but not more often than shortest; also every longest."""
    client = connect(server)
    client.request("?sensor-sampling demo.int event-rate 0.2 0.5")
    start = compat.monotonic()
    for value in range(1, 11):  # a burst of changes well within `shortest`
        server.int_sensor.set_value(value)
    got = status_informs(client, 0.35)
    assert values(got) == ["10"]  # one deferred report of the latest value
    assert compat.monotonic() - start >= 0.2
    idle = status_informs(client, 0.7)  # no change: longest-period reports
    assert 1 <= len(idle) <= 2


def test_differential_rate_strategy(server, connect):
    server.int_sensor.set_value(0)  # nominal: later reports are value changes only
    client = connect(server)
    client.request("?sensor-sampling demo.int differential-rate 5 0 10")
    for value in (1, 3, 6, 7, 12):
        server.int_sensor.set_value(value)
    assert values(status_informs(client, 0.3)) == ["6", "12"]


@pytest.mark.parametrize("request_line, needle", [
    ("?sensor-sampling", "No sensor name given."),
    ("?sensor-sampling nope event", "Unknown sensor name: nope."),
    ("?sensor-sampling demo.int bogus", "Unknown strategy name"),
    ("?sensor-sampling demo.int period", "period"),
    ("?sensor-sampling demo.int period -1", "positive"),
    ("?sensor-sampling demo.int event 1", "no parameters"),
    ("?sensor-sampling demo.str differential 1", "differential"),
    ("?sensor-sampling demo.int event-rate 2 1", "shortest"),
])
def test_sampling_errors_fail_with_reason(server, connect, request_line, needle):
    """F48/F119: clear failure reasons; the old strategy is untouched."""
    client = connect(server)
    client.request("?sensor-sampling demo.int event")
    reply = client.request(request_line)[1]
    assert args(reply)[0] == "fail"
    assert needle in args(reply)[1]
    assert args(client.request("?sensor-sampling demo.int")[1]) == ["ok", "demo.int", "event"]


def test_bulk_sampling_sets_all(server, connect):
    """Spec 7.2 bulk (flag B): the reply echoes the list; one first value each."""
    client = connect(server)
    client.send("?sensor-sampling demo.int,demo.str event")
    messages = client.read_until(lambda m: m.mtype == Message.REPLY)
    assert sorted(args(m)[2] for m in messages[:-1]) == ["demo.int", "demo.str"]
    assert args(messages[-1]) == ["ok", "demo.int,demo.str", "event"]
    assert args(client.request("?sensor-sampling demo.str")[1]) == ["ok", "demo.str", "event"]


@pytest.mark.parametrize("request_line, needle", [
    ("?sensor-sampling demo.int,demo.str", "Cannot query multiple sensors."),
    ("?sensor-sampling demo.int,nope,gone event", "Unknown sensor names: nope, gone."),
    ("?sensor-sampling demo.int,demo.int event", "Duplicate sensor name: demo.int."),
    ("?sensor-sampling demo.int,demo.str differential 1", "differential"),
])
def test_bulk_sampling_is_atomic(server, connect, request_line, needle):
    """Spec 7.2: any failure sets nothing."""
    client = connect(server)
    reply = client.request(request_line)[1]
    assert args(reply) == ["fail", args(reply)[1]] and needle in args(reply)[1]
    for name in ("demo.int", "demo.str"):
        assert args(client.request("?sensor-sampling " + name)[1]) == ["ok", name, "none"]
    assert client.no_message(0.1)


def test_sensor_sampling_clear(server, connect):
    client = connect(server)
    client.request("?sensor-sampling demo.int,demo.float auto")
    assert args(client.request("?sensor-sampling-clear")[1]) == ["ok"]
    server.int_sensor.set_value(9)
    assert status_informs(client, 0.2) == []


def test_strategies_are_per_client(server, connect):
    """Spec 8: samples go only to the client that set the strategy."""
    watcher = connect(server)
    bystander = connect(server)
    watcher.read_message()  # #client-connected
    watcher.request("?sensor-sampling demo.int event")
    server.int_sensor.set_value(77)
    assert values(status_informs(watcher, 0.2)) == ["77"]
    assert bystander.no_message()


def test_disconnect_cancels_strategies(server, connect):
    """F122: strategies of a client are cancelled when it goes."""
    observers_before = len(server.int_sensor.observers())
    client = connect(server)
    client.request("?sensor-sampling demo.int event")
    client.request("?sensor-sampling demo.float period 0.01")
    assert len(server.int_sensor.observers()) == observers_before + 1
    client.close()
    deadline = compat.monotonic() + TIMEOUT
    while server.get_clients() and compat.monotonic() < deadline:
        time.sleep(0.01)
    assert len(server.int_sensor.observers()) == observers_before


def test_removed_sensor_stops_its_strategies(server, connect):
    client = connect(server)
    sensor = Sensor.integer("temp.sensor", "Temporary", "")
    server.add_sensor(sensor)
    client.read_message()  # #interface-changed
    client.request("?sensor-sampling temp.sensor auto")
    server.remove_sensor(sensor)
    assert args(client.read_message()) == ["sensor", "temp.sensor", "removed"]
    sensor.set_value(5)
    assert client.no_message()
    assert sensor.observers() == ()


# -- a sensor's own "auto" (aiokatcp's auto_strategy) ----------------------------


def test_auto_uses_the_sensors_auto_strategy_over_the_wire(server, connect):
    """A fast sensor with auto_strategy event-rate: ?sensor-sampling x auto is
    accepted as auto (spec 7.1: the device chooses), and a burst of updates
    gives one report, not one per update."""
    fast = Sensor(Sensor.INTEGER, "demo.fast", "A fast one", default=0,
                  initial_status=Sensor.NOMINAL,
                  auto_strategy="event-rate", auto_strategy_parameters=(60, 600))
    server.add_sensor(fast)
    client = connect(server)
    client.send("?sensor-sampling demo.fast auto")
    messages = client.read_until(lambda m: m.name == "sensor-sampling", TIMEOUT)
    assert args(messages[-1]) == ["ok", "demo.fast", "auto"]
    assert [args(m)[4] for m in messages if m.name == "sensor-status"] == ["0"]  # on start
    assert args(client.request("?sensor-sampling demo.fast")[1]) == ["ok", "demo.fast", "auto"]
    for value in range(1, 100):
        fast.set_value(value)
    # The updates were sampled before this request was sent: by the time its
    # reply is here, any report they caused has been sent before it.
    client.send("?watchdog")
    messages = client.read_until(lambda m: m.name == "watchdog", TIMEOUT)
    assert [m for m in messages if m.name == "sensor-status"] == []   # held back 60 s


# -- ordering under concurrent writers (issue #11, point 1) ------------------------

ORDERING_STRATEGIES = ["auto", "event", "differential 1", "event-rate 0.01 0.5",
                       "differential-rate 1 0.01 0.5", "period 0.05"]


def sampled_values(client, predicate, wait=TIMEOUT):
    """#sensor-status values read up to and including the first that matches."""
    found = []
    for msg in client.read_until(
            lambda m: m.name == "sensor-status" and predicate(args(m)[4]), wait):
        if msg.name == "sensor-status":
            found.append(args(msg)[4])
    return found


def settled_values(client, final, wait=TIMEOUT):
    """Values read until ``final`` arrives, then up to the reply of a ?watchdog
    sent after it: a client left on a stale value shows it last."""
    values_ = sampled_values(client, lambda value: value == final, wait)
    client.send("?watchdog")
    for msg in client.read_until(lambda m: m.name == "watchdog", wait):
        if msg.name == "sensor-status":
            values_.append(args(msg)[4])
    return values_


def test_a_late_notification_leaves_no_client_on_a_stale_value(server, connect):
    """A writer preempted between its store and its notification must not
    deliver its older reading after a newer one, on any strategy (spec 7.1:
    the client is told the sensor's value; a stale one would stay until the
    next change)."""
    sensor = server.int_sensor
    gate = Gate(10)
    sensor.attach(gate)   # before the strategies: it holds up their notification
    clients = []
    for strategy in ORDERING_STRATEGIES:
        client = connect(server)
        client.request("?sensor-sampling demo.int " + strategy)
        clients.append(client)
    late_notification(sensor, gate, 20)
    for client, strategy in zip(clients, ORDERING_STRATEGIES):
        values_ = settled_values(client, "20")
        assert values_[-1] == "20", strategy
        assert "10" not in values_[values_.index("20"):], strategy


def test_every_client_converges_under_concurrent_writers(server, connect):
    """Eight threads set one sensor as fast as they can while 24 clients sample
    it, four per strategy: each client's values keep the order in which the
    sensor stored them, and every client ends on the final value."""
    sensor = StoreOrderSensor(Sensor.INTEGER, "busy", default=-10,
                              initial_status=Sensor.NOMINAL)
    server.add_sensor(sensor)
    clients = []
    for strategy in ORDERING_STRATEGIES * 4:
        client = connect(server)
        client.request("?sensor-sampling busy " + strategy)
        clients.append((client, strategy))
    hammer(sensor.set_value)
    final = str(sensor.value())
    for client, strategy in clients:
        values_ = settled_values(client, final)
        positions = sensor.positions(int(value) for value in values_)
        assert positions == sorted(positions), "%s: a value went back in time" % strategy
        assert values_[-1] == final, strategy


# -- ?sensor-sampling racing remove_sensor (issue #11, point 6b) --------------------


class VanishingSensor(Sensor):
    """A sensor removed from its server while a ?sensor-sampling for it is
    being handled: right after the handler looked it up, when the strategy
    reads the sensor's auto_strategy (as if another thread removed it then)."""

    def __init__(self, *args, **kwargs):
        self.remove_from = None
        super(VanishingSensor, self).__init__(*args, **kwargs)

    @property
    def auto_strategy(self):
        server, self.remove_from = self.remove_from, None
        if server is not None:
            server.remove_sensor(self)
        return self._auto_strategy

    @auto_strategy.setter
    def auto_strategy(self, value):
        self._auto_strategy = value


@pytest.mark.parametrize("replace", [False, True])
def test_sampling_a_sensor_removed_meanwhile_leaves_no_strategy_on_it(server, connect, replace):
    """The handler looked the sensor up, then remove_sensor (or add_sensor of a
    replacement) ran on another thread before the strategy went in: the request
    fails and the removed sensor keeps no observer, so it never sends."""
    sensor = VanishingSensor(Sensor.INTEGER, "going", default=1, initial_status=Sensor.NOMINAL)
    server.add_sensor(sensor)
    client = connect(server)
    if replace:
        replacement = Sensor.integer("going", default=2, initial_status=Sensor.NOMINAL)
        sensor.remove_from = type("Replacer", (), {
            "remove_sensor": staticmethod(lambda _s: server.add_sensor(replacement))})()
    else:
        sensor.remove_from = server
    informs, reply = client.request("?sensor-sampling going auto")
    assert args(reply)[0] == "fail" and "going" in args(reply)[1]
    assert sensor.observers() == ()
    sensor.set_value(5)
    assert values(status_informs(client, 0.2)) == []
    if replace:
        assert args(client.request("?sensor-sampling going event")[1])[0] == "ok"
        replacement.set_value(7)
        assert values(status_informs(client, 1.0))[-1] == "7"


def test_sampling_requests_racing_remove_sensor_leave_no_strategy_behind(server, connect):
    """Bounded stress: one thread adds and removes sensors while a client keeps
    asking to sample them; afterwards no removed sensor has an observer."""
    client = connect(server)
    sensors = [Sensor.integer("churn.%d" % i, default=i, initial_status=Sensor.NOMINAL)
               for i in range(200)]
    churned = threading.Event()

    def churn():
        for sensor in sensors:
            server.add_sensor(sensor)
            server.remove_sensor(sensor)
        churned.set()

    churner = threading.Thread(target=churn)
    churner.start()
    try:
        client.send(*("?sensor-sampling %s event" % sensor.name for sensor in sensors))
        replies = 0
        while replies < len(sensors):
            msg = client.read_message()
            replies += msg.mtype == Message.REPLY
    finally:
        churner.join(TIMEOUT)
    assert churned.is_set()
    assert [s.name for s in sensors if s.observers()] == []


# -- differential strategies and sensor types (issue #11, point 14) ------------------


@pytest.mark.parametrize("strategy", ["differential 1", "differential-rate 1 1 2"])
@pytest.mark.parametrize("factory", ["timestamp", "boolean", "string", "address", "lru"])
def test_differential_strategies_fail_for_other_than_integer_and_float(
        server, connect, factory, strategy):
    """Spec Table 9: differential and differential-rate "may only be implemented
    for float and integer sensors": anything else gets a fail with the reason."""
    server.add_sensor(getattr(Sensor, factory)("typed." + factory))
    client = connect(server)
    reply = client.request("?sensor-sampling typed.%s %s" % (factory, strategy))[1]
    assert args(reply)[0] == "fail"
    assert "only valid for integer/float sensors, not '%s'" % factory in args(reply)[1]
    assert args(client.request("?sensor-sampling typed." + factory)[1])[2] == "none"


# -- the minimum sampling period (issue #11, point 11) -------------------------------


def count_status_informs(client, wait):
    """How many #sensor-status arrive within ``wait`` seconds (read in bulk)."""
    deadline = compat.monotonic() + wait
    client.sock.settimeout(0.05)
    count, tail = 0, b""
    while compat.monotonic() < deadline:
        try:
            data = client.sock.recv(1 << 16)
        except compat.SOCKET_ERRORS:          # socket.timeout: nothing right now
            continue
        if not data:
            break
        chunk = tail + data
        count += chunk.count(b"#sensor-status")
        tail = chunk[-len(b"#sensor-status") + 1:]
    return count


@pytest.mark.parametrize("request_args, reply_args", [
    ("period 0.000001", ["period", "0.001"]),
    ("event-rate 0 1e-7", ["event-rate", "0", "0.001"]),
    ("differential-rate 0.5 0 0.0000001", ["differential-rate", "0.5", "0", "0.001"]),
    ("period 0.25", ["period", "0.25"]),               # at or above: as asked
])
def test_tiny_periods_are_raised_and_the_reply_says_so(server, connect, request_args, reply_args):
    """Spec 7.2: the reply carries "the new sampling strategy parameters", so a
    period raised to DeviceServer.MIN_SAMPLING_PERIOD is given as raised."""
    client = connect(server)
    reply = client.request("?sensor-sampling demo.float " + request_args)[1]
    assert args(reply) == ["ok", "demo.float"] + reply_args
    assert args(client.request("?sensor-sampling demo.float")[1]) == ["ok", "demo.float"] + reply_args


def test_a_microsecond_period_does_not_flood_the_client(server, connect):
    """One client asking for a report every microsecond used to keep the
    server's reactor busy; at the 1 ms minimum it gets at most ~1000/s."""
    client = connect(server)
    client.send("?sensor-sampling demo.float period 0.000001")
    assert count_status_informs(client, 0.5) < 1000     # was ~15000 here
    assert server.MIN_SAMPLING_PERIOD == 0.001


class SlowSamplingServer(DemoServer):
    MIN_SAMPLING_PERIOD = 0.05


class SlowSamplingV4Server(SlowSamplingServer):
    PROTOCOL_INFO = ProtocolFlags(4, 0, "M")


@pytest.mark.parametrize("cls, request_args, reply_args", [
    (SlowSamplingServer, "period 0.01", ["period", "0.05"]),
    (SlowSamplingV4Server, "period 10", ["period", "50"]),      # v4: milliseconds
    (SlowSamplingV4Server, "period 100", ["period", "100"]),
])
def test_a_device_sets_its_own_minimum(make_server, connect, cls, request_args, reply_args):
    server = make_server(cls)
    client = connect(server)
    reply = client.request("?sensor-sampling demo.int " + request_args)[1]
    assert args(reply) == ["ok", "demo.int"] + reply_args
