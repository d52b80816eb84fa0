"""What every server of the interop matrix shares, and the checks of our clients.

Used by ``test_interop_aiokatcp.py`` (Python 3.8+) and
``test_interop_katcp_python.py`` (every Python): our
:class:`InteropServer`, the constants every server in the matrix follows and
the ``check_*`` functions that drive one of our clients against any of them.
No tests here. Spec sections cited are those of ``katcp-spec-5.1.txt``.
"""

from __future__ import absolute_import, division, print_function

import contextlib
import time

import pytest

from katcp_sync import compat
from katcp_sync.client import BlockingClient, CallbackClient
from katcp_sync.compat import queue
from katcp_sync.kattypes import request_timeout_hint
from katcp_sync.message import Message
from katcp_sync.sensor import Sensor
from katcp_sync.server import DeviceServer

TIMEOUT = 5.0

#: Sensor name -> KATCP type name; the same on every server in the matrix
#: (aiokatcp has no ``lru`` type, so its server leaves ``lru.s`` out).
SENSOR_TYPES = {
    "int.s": "integer",
    "float.s": "float",
    "bool.s": "boolean",
    "discrete.s": "discrete",
    "string.s": "string",
    "timestamp.s": "timestamp",
    "address.s": "address",
    "lru.s": "lru",
}
DISCRETE_VALUES = ("idle", "busy", "broken")
ADDRESS = ("127.0.0.1", 7147)
STAMP = 1700000000.25

#: Arguments that need every escape of spec 2.1, plus empty arguments and
#: bytes that are not UTF-8 (spec 3: strings are bytes with no encoding).
ESCAPE_ARGS = (
    b"two words", b"tab\there", b"new\nline", b"carriage\rreturn",
    b"back\\slash", b"nul\0byte", b"esc\x1bape", b"", b"\\@", b"\xff\xfe\x80 not utf-8",
    b"[1]", b"a\\_b", b"",
)

#: Requests every KATCP device implements (spec 4.1, 6.2, 7.2, 8.1).
CORE_REQUESTS = ("halt", "help", "watchdog", "version-list", "log-level", "client-list",
                 "sensor-list", "sensor-value", "sensor-sampling")

#: (sensor, ?sensor-sampling arguments, value set before the strategy,
#: updates after the first #sensor-status, values the updates must report)
#: for the strategies whose reports follow from the updates alone (spec 7.1,
#: Table 9). Timed strategies (period, the rate strategies' longest period)
#: have their own tests.
STRATEGY_CASES = [
    ("int.s", ("auto",), b"0", [b"5", b"5"], [5, 5]),
    ("int.s", ("event",), b"0", [b"5", b"5", b"6"], [5, 6]),
    ("int.s", ("differential", "5"), b"0", [b"3", b"10", b"12"], [10]),
    ("discrete.s", ("event",), b"idle", [b"busy", b"busy", b"broken"], ["busy", "broken"]),
    ("string.s", ("auto",), b"", [b"x y", b"x y"], ["x y", "x y"]),
    ("float.s", ("event-rate", "0", "100"), b"0.0", [b"1.5", b"1.5", b"2.5"], [1.5, 2.5]),
    ("float.s", ("differential-rate", "1.0", "0", "100"), b"0.0", [b"0.5", b"2.0"], [2.0]),
    ("bool.s", ("event",), b"1", [b"0", b"1"], [False, True]),
]


def decode_value(sensor_name, raw):
    """A #sensor-status value as a Python value, to compare across servers."""
    kind = SENSOR_TYPES[sensor_name]
    if kind == "integer":
        return int(raw)
    if kind in ("float", "timestamp"):
        return float(raw)
    if kind == "boolean":
        return raw == b"1"
    return raw.decode()


# ---------------------------------------------------------------------------
# Our server

class InteropServer(DeviceServer):
    """A katcp_sync server with a sensor of every type and a few requests."""

    VERSION_INFO = ("interop-api", 2, 1)
    BUILD_INFO = ("interop-build", 0, 1, "")

    def setup_sensors(self):
        nominal = Sensor.NOMINAL
        sensors = [
            Sensor.integer("int.s", "An integer", "count", [0, 100], default=0,
                           initial_status=nominal),
            Sensor.float("float.s", "A float", "V", [-10.0, 10.0], default=0.0,
                         initial_status=nominal),
            Sensor.boolean("bool.s", "A boolean", "", default=True, initial_status=nominal),
            Sensor.discrete("discrete.s", "A discrete", "", list(DISCRETE_VALUES),
                            default="idle", initial_status=nominal),
            Sensor.string("string.s", "A string", "", default="hello world",
                          initial_status=nominal),
            Sensor.timestamp("timestamp.s", "A timestamp", "", default=STAMP,
                             initial_status=nominal),
            Sensor.address("address.s", "An address", "", default=ADDRESS,
                           initial_status=nominal),
            Sensor.lru("lru.s", "An lru", "", default=Sensor.LRU_NOMINAL,
                       initial_status=nominal),
        ]
        for sensor in sensors:
            self.add_sensor(sensor)

    def request_echo(self, req, msg):
        """Reply with the arguments, after one #echo inform per argument."""
        for arg in msg.arguments:
            req.inform(arg)
        return req.make_reply("ok", *msg.arguments)

    def request_set_sensor(self, req, msg):
        """?set-sensor name value -- set a sensor from its wire form."""
        name, raw = msg.arguments
        sensor = self.get_sensor(name.decode())
        sensor.set_value(sensor.parse_value(raw))
        return req.make_reply("ok")

    @request_timeout_hint(7.5)
    def request_slow(self, req, msg):
        """A request with a timeout hint of 7.5 s."""
        return req.make_reply("ok")


@pytest.fixture
def our_server():
    server = InteropServer("127.0.0.1", 0)
    server.start(TIMEOUT)
    yield server
    server.stop(TIMEOUT)
    server.join(TIMEOUT)


# ---------------------------------------------------------------------------
# Our clients: checks shared by the interop modules

@contextlib.contextmanager
def our_client(address, cls=BlockingClient, **kwargs):
    """A started client of ours that knows the device's protocol; stopped after."""
    client = cls(address[0], address[1], timeout=TIMEOUT, **kwargs)
    client.start()
    try:
        assert client.wait_protocol(TIMEOUT)
        yield client
    finally:
        client.stop()
        client.join(TIMEOUT)


def ok(client, name, *args):
    """Make a request that must succeed; return (reply arguments after ok, informs)."""
    reply, informs = client.blocking_request(Message.request(name, *args), timeout=TIMEOUT)
    assert reply.arguments[:1] == [b"ok"], reply
    return reply.arguments[1:], informs


def refused(client, name, *args):
    """Make a request that must fail; return the reply."""
    reply, _ = client.blocking_request(Message.request(name, *args), timeout=TIMEOUT)
    assert reply.arguments[0] in (b"fail", b"invalid"), reply
    return reply


def status_queue(client):
    """A queue.Queue fed with every asynchronous #sensor-status the client gets."""
    received = queue.Queue()
    client.add_inform_callback("sensor-status", received.put)
    return received


def drain_queue(received):
    items = []
    while True:
        try:
            items.append(received.get_nowait())
        except queue.Empty:
            return items


def check_core_requests(client, sensor_names, our_address):
    """The core requests, seen through our BlockingClient (spec 4.1, 6.2, 7.2, 8.1)."""
    assert ok(client, "watchdog") == ([], [])
    (count,), informs = ok(client, "help")
    names = {i.arguments[0].decode() for i in informs}
    assert int(count) == len(informs) and set(CORE_REQUESTS) | {"echo", "set-sensor"} <= names
    assert all(i.name == "help" for i in informs)
    (count,), informs = ok(client, "help", "watchdog")
    assert count == b"1" and informs[0].arguments[0] == b"watchdog"
    refused(client, "help", "no-such-request")
    assert refused(client, "no-such-request").name == "no-such-request"

    (count,), informs = ok(client, "version-list")
    roles = {i.arguments[0] for i in informs}
    assert int(count) == len(informs) and {b"katcp-protocol", b"katcp-library"} <= roles

    assert ok(client, "log-level", "info") == ([b"info"], [])
    assert ok(client, "log-level") == ([b"info"], [])
    refused(client, "log-level", "chatty")

    (count,), informs = ok(client, "client-list")
    assert int(count) == len(informs) >= 1
    assert our_address.encode() in [i.arguments[0] for i in informs]

    (count,), informs = ok(client, "sensor-list")
    rows = {i.arguments[0].decode(): i.arguments[1:] for i in informs}
    assert int(count) == len(informs) and set(rows) == set(sensor_names)
    assert {n: r[2].decode() for n, r in rows.items()} == \
        {n: SENSOR_TYPES[n] for n in sensor_names}
    assert rows["discrete.s"][3:] == [v.encode() for v in DISCRETE_VALUES]
    refused(client, "sensor-list", "no.such.sensor")

    (count,), informs = ok(client, "sensor-value")
    assert int(count) == len(informs) == len(sensor_names)
    values = {}
    for inform in informs:
        _timestamp, one, name, status, value = inform.arguments
        assert (one, status) == (b"1", b"nominal")
        values[name.decode()] = value
    assert decode_value("int.s", values["int.s"]) == 0
    assert decode_value("bool.s", values["bool.s"]) is True
    assert values["discrete.s"] == b"idle" and values["string.s"] == b"hello world"
    assert float(values["timestamp.s"]) == STAMP
    assert values["address.s"] == b"127.0.0.1:7147"
    (count,), informs = ok(client, "sensor-value", "int.s")
    assert count == b"1" and informs[0].arguments[2] == b"int.s"
    refused(client, "sensor-value", "no.such.sensor")


def check_strategies(client, cases):
    """Each strategy's #sensor-status informs reach our inform callbacks (spec 7.1, 7.3).

    ``?watchdog`` after the updates is a barrier: the device sent what the
    updates caused before its reply.
    """
    received = status_queue(client)
    for name, strategy, start, updates, expected in cases:
        ok(client, "set-sensor", name, start)
        reply, _ = ok(client, "sensor-sampling", name, *strategy)
        assert reply[:2] == [name.encode(), strategy[0].encode()]
        assert [float(p) for p in reply[2:]] == [float(p) for p in strategy[1:]]
        first = received.get(timeout=TIMEOUT)
        assert first.name == "sensor-status" and first.mid is None
        assert first.arguments[1:4] == [b"1", name.encode(), b"nominal"]
        for raw in updates:
            ok(client, "set-sensor", name, raw)
        ok(client, "watchdog")
        got = [decode_value(name, msg.arguments[4]) for msg in drain_queue(received)]
        assert got == expected, (name, strategy)
        assert ok(client, "sensor-sampling", name, "none")[0] == [name.encode(), b"none"]
    ok(client, "set-sensor", "int.s", "1")
    ok(client, "watchdog")
    assert received.empty()
    assert ok(client, "sensor-sampling", "int.s") == ([b"int.s", b"none"], [])
    refused(client, "sensor-sampling", "int.s", "bogus")
    refused(client, "sensor-sampling", "no.such.sensor", "event")


def check_period(client):
    """``period`` reports again and again without any update (spec 7.1, Table 9)."""
    received = status_queue(client)
    ok(client, "sensor-sampling", "float.s", "period", "0.05")
    started = compat.monotonic()
    for _ in range(4):
        assert received.get(timeout=TIMEOUT).arguments[2] == b"float.s"
    assert compat.monotonic() - started >= 0.1
    ok(client, "sensor-sampling", "float.s", "none")


def check_bulk_sampling(client):
    """Bulk ?sensor-sampling a,b,c sets all or none (spec 7.2, flag B)."""
    received = status_queue(client)
    names = "int.s,float.s,discrete.s"
    assert ok(client, "sensor-sampling", names, "event")[0] == [names.encode(), b"event"]
    first = sorted(received.get(timeout=TIMEOUT).arguments[2] for _ in range(3))
    assert first == [b"discrete.s", b"float.s", b"int.s"]
    refused(client, "sensor-sampling", "bool.s,no.such.sensor", "auto")
    assert ok(client, "sensor-sampling", "bool.s")[0] == [b"bool.s", b"none"]


def check_message_ids(client):
    """Our client gives requests ids when the device has flag I (spec 2.2, 2.3)."""
    reply, informs = client.blocking_request(Message.request("echo", "a", "b"), timeout=TIMEOUT)
    assert reply.mid is not None and [i.mid for i in informs] == [reply.mid, reply.mid]
    futures = [client.future_request(Message.request("echo", str(n))) for n in range(30)]
    mids = set()
    for n, future in enumerate(futures):
        reply, informs = future.result(TIMEOUT)
        assert reply.arguments == [b"ok", str(n).encode()]
        assert [i.arguments for i in informs] == [[str(n).encode()]]
        assert informs[0].mid == reply.mid
        mids.add(reply.mid)
    assert len(mids) == 30


def check_escapes(client, args=ESCAPE_ARGS):
    """Every escape of spec 2.1, empty arguments and non-UTF-8 bytes survive ?echo."""
    reply, informs = ok(client, "echo", *args)
    assert tuple(reply) == tuple(args)
    assert tuple(i.arguments[0] for i in informs) == tuple(args)


def check_callback_client(address):
    """CallbackClient: reply_cb/inform_cb per request, and asynchronous informs (spec 2.3, 7.3)."""
    seen = queue.Queue()
    with our_client(address, CallbackClient) as client:
        statuses = status_queue(client)
        future = client.callback_request(
            Message.request("echo", "x y", ""), reply_cb=lambda m: seen.put(("reply", m)),
            inform_cb=lambda m: seen.put(("inform", m)))
        reply, informs = future.result(TIMEOUT)
        assert reply.arguments == [b"ok", b"x y", b""]
        kinds = [seen.get(timeout=TIMEOUT) for _ in range(3)]
        assert [k for k, _ in kinds] == ["inform", "inform", "reply"]
        assert [m.arguments for _, m in kinds[:2]] == [[b"x y"], [b""]]
        done = queue.Queue()
        client.callback_request(Message.request("sensor-sampling", "int.s", "event"),
                                reply_cb=done.put)
        assert done.get(timeout=TIMEOUT).arguments[:2] == [b"ok", b"int.s"]
        assert statuses.get(timeout=TIMEOUT).arguments[2] == b"int.s"
        client.callback_request(Message.request("set-sensor", "int.s", "42"))
        assert statuses.get(timeout=TIMEOUT).arguments[2:] == [b"int.s", b"nominal", b"42"]


def check_halt(address, server_stopped):
    """?halt is answered, then the device drops the connection (spec 4.1)."""
    with our_client(address, auto_reconnect=False) as client:
        assert ok(client, "halt") == ([], [])
        assert client.wait_disconnected(TIMEOUT)
        assert server_stopped(TIMEOUT)


def client_address(client):
    """Our client's local host:port, as the device lists it in #client-list."""
    return "%s:%d" % client.sockname[:2]


def check_resource(address, sensor_names, add_sensor):
    """KATCPClientResource inspects a foreign device and follows its sensors.

    Covers ?help/?sensor-list inspection (spec 4.1, 7.2), requests as
    methods, sampling with #sensor-status (spec 7.1, 7.3; in bulk when the
    device has flag B) and a re-sync on #interface-changed (spec 4.2).
    """
    from katcp_sync.resource import KATCPClientResource

    resource = KATCPClientResource(dict(name="foreign", address=address, controlled=True))
    resource.start()
    try:
        resource.until_synced(TIMEOUT)
        assert set(resource.sensor.keys()) == {n.replace(".", "_") for n in sensor_names}
        reply = resource.req.echo("a b", "")
        assert reply.succeeded and reply.reply.arguments == [b"ok", b"a b", b""]
        assert resource.sensor.discrete_s.get_value() == "idle"
        assert resource.sensor.address_s.get_value() == ADDRESS
        assert resource.sensor.timestamp_s.get_value() == STAMP
        sensor = resource.sensor.int_s
        sensor.set_strategy("event")
        resource.req.set_sensor("int.s", 17)
        assert sensor.wait(17, timeout=TIMEOUT)
        assert sensor.get_value() == 17 and sensor.get_status() == "nominal"
        results = resource.set_sampling_strategies("^(float|bool|string)_s$", "auto")
        assert sorted(results) == ["bool_s", "float_s", "string_s"]
        assert all(succeeded for succeeded, _ in results.values()), results
        resource.req.set_sensor("float.s", "2.5")
        assert resource.sensor.float_s.wait(2.5, timeout=TIMEOUT)
        add_sensor()
        deadline = compat.monotonic() + TIMEOUT
        while "new_s" not in resource.sensor and compat.monotonic() < deadline:
            time.sleep(0.01)   # re-sync runs on the reactor; nothing to wait on here
        assert "new_s" in resource.sensor
        resource.until_synced(TIMEOUT)
        assert resource.sensor.int_s.sampling_strategy == ("event",)
    finally:
        resource.stop()
        resource.join(TIMEOUT)


def check_client_connected(client, address):
    """Another client connecting is announced with #client-connected (spec 8, 8.2)."""
    announced = queue.Queue()
    client.add_inform_callback("client-connected", announced.put)
    with our_client(address) as other:
        msg = announced.get(timeout=TIMEOUT)
        assert client_address(other).encode() in msg.arguments[0]
        assert msg.mid is None


def check_large_arguments(client):
    """A 300 kB request and reply cross partial reads and writes intact (spec 2.1)."""
    big = bytes(range(128)) * 2400     # every ASCII byte, escapes included
    reply, informs = ok(client, "echo", big, b"tail")
    assert reply == [big, b"tail"] and informs[0].arguments == [big]
