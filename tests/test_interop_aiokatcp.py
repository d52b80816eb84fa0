"""Interop matrix, part 1: katcp_sync against aiokatcp 2.3 over real sockets.

* Our :class:`~katcp_sync.server.DeviceServer` driven by aiokatcp's
  ``Client`` (its asyncio loop runs in the test thread, ``asyncio.run``).
* Our ``BlockingClient``, ``CallbackClient`` and ``KATCPClientResource``
  driving an aiokatcp ``DeviceServer`` that runs on its own asyncio loop in a
  background thread (named ``asyncio_*``; stopped and joined by the fixture).

Every server in the matrix (ours, aiokatcp's here, katcp-python's in
``test_interop_katcp_python.py``) exposes the same interface: the sensors of
:data:`SENSOR_TYPES`, ``?echo`` (replies with its arguments and sends one
inform per argument) and ``?set-sensor name value`` (sets a sensor from its
wire form). The client-side checks are written once, as ``check_*``
functions over one of our clients, and reused by the katcp-python module.

Spec sections cited are those of ``katcp-spec-5.1.txt``.
"""

import asyncio
import contextlib
import enum
import ipaddress
import queue
import re
import threading
import time

import aiokatcp
import pytest

from katcp_sync.client import BlockingClient, CallbackClient
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


def run(coro):
    """Run ``coro`` on a fresh asyncio loop in this thread, bounded."""
    return asyncio.run(asyncio.wait_for(coro, 4 * TIMEOUT))


@contextlib.asynccontextmanager
async def ak_client(address, auto_reconnect=True):
    client = await asyncio.wait_for(
        aiokatcp.Client.connect(address[0], address[1], auto_reconnect=auto_reconnect), TIMEOUT)
    try:
        yield client
    finally:
        client.close()
        await asyncio.wait_for(client.wait_closed(), TIMEOUT)


def ak_statuses(client):
    """An asyncio queue receiving the arguments of every #sensor-status."""
    received = asyncio.Queue()
    client.add_inform_callback("sensor-status", lambda *args: received.put_nowait(args))
    return received


async def ak_next(received, timeout=TIMEOUT):
    return await asyncio.wait_for(received.get(), timeout)


def drain(received):
    items = []
    while not received.empty():
        items.append(received.get_nowait())
    return items


# ---------------------------------------------------------------------------
# 1. aiokatcp's client -> our server

def test_ak_client_connects_with_our_protocol_flags(our_server):
    """aiokatcp reads our #version-connect katcp-protocol 5.1-BIMT (spec 4.2)."""
    async def main():
        async with ak_client(our_server.bind_address) as client:
            assert client.protocol_flags == frozenset("BIMT")
            assert client._mid_support
    run(main())


def test_ak_client_help_and_watchdog(our_server):
    """?help lists every request, ?help name one, unknown names fail (spec 4.1)."""
    async def main():
        async with ak_client(our_server.bind_address) as client:
            assert await client.request("watchdog") == ([], [])
            reply, informs = await client.request("help")
            names = [inform.arguments[0].decode() for inform in informs]
            assert int(reply[0]) == len(informs)
            assert names == sorted(names)
            assert set(CORE_REQUESTS) | {"echo", "set-sensor", "slow",
                                         "request-timeout-hint"} <= set(names)
            reply, informs = await client.request("help", "echo")
            assert reply == [b"1"] and informs[0].arguments[0] == b"echo"
            assert b"#echo" in informs[0].arguments[1]
            with pytest.raises(aiokatcp.FailReply):
                await client.request("help", "no-such-request")
            with pytest.raises(aiokatcp.InvalidReply):
                await client.request("no-such-request")
    run(main())


def test_ak_client_version_list(our_server):
    """?version-list repeats the #version-connect roles (spec 4.1, 4.2)."""
    async def main():
        async with ak_client(our_server.bind_address) as client:
            reply, informs = await client.request("version-list")
            rows = {i.arguments[0]: i.arguments[1:] for i in informs}
            assert int(reply[0]) == len(informs) >= 3
            assert rows[b"katcp-protocol"] == [b"5.1-BIMT"]
            assert rows[b"katcp-device"][0] == b"interop-api-2.1"
            assert rows[b"katcp-library"][0].startswith(b"katcp-sync-")
    run(main())


def test_ak_client_log_level_and_log_informs(our_server):
    """?log-level queries and sets the shared level; #log follows it (spec 6.2, 6.3)."""
    async def main():
        async with ak_client(our_server.bind_address) as client:
            logs = asyncio.Queue()
            client.add_inform_callback("log", lambda *args: logs.put_nowait(args))
            (current,), _ = await client.request("log-level")
            assert current in (b"off", b"fatal", b"error", b"warn", b"info", b"debug",
                               b"trace", b"all")
            assert await client.request("log-level", "info") == ([b"info"], [])
            assert await client.request("log-level") == ([b"info"], [])
            with pytest.raises(aiokatcp.FailReply):
                await client.request("log-level", "chatty")
            our_server.log.info("interop log line")
            level, timestamp, _name, text = await ak_next(logs)
            assert (level, text) == (b"info", b"interop log line")
            assert abs(float(timestamp) - time.time()) < 60
            our_server.log.debug("below the level")
            await client.request("watchdog")
            assert logs.empty()
    run(main())


def test_ak_client_client_list(our_server):
    """?client-list has one #client-list per connection, addresses host:port (spec 8.1)."""
    async def main():
        async with ak_client(our_server.bind_address) as one, \
                ak_client(our_server.bind_address):
            reply, informs = await one.request("client-list")
            addresses = {i.arguments[0].decode() for i in informs}
            assert reply == [b"2"] and len(addresses) == 2
            assert all(re.match(r"^127\.0\.0\.1:\d+$", a) for a in addresses)
            assert addresses == {c.address for c in our_server.get_clients()}
    run(main())


def test_ak_client_sensor_list(our_server):
    """#sensor-list name description units type params, for every type (spec 7.2)."""
    async def main():
        async with ak_client(our_server.bind_address) as client:
            reply, informs = await client.request("sensor-list")
            rows = {i.arguments[0].decode(): i.arguments[1:] for i in informs}
            assert int(reply[0]) == len(informs) == len(SENSOR_TYPES)
            assert {n: r[2].decode() for n, r in rows.items()} == SENSOR_TYPES
            assert rows["int.s"] == [b"An integer", b"count", b"integer", b"0", b"100"]
            assert [float(p) for p in rows["float.s"][3:]] == [-10.0, 10.0]
            assert rows["discrete.s"][3:] == [v.encode() for v in DISCRETE_VALUES]
            reply, informs = await client.request("sensor-list", "/^(int|float)\\./")
            assert reply == [b"2"] and {i.arguments[0] for i in informs} == {b"int.s", b"float.s"}
            with pytest.raises(aiokatcp.FailReply):
                await client.request("sensor-list", "no.such.sensor")
    run(main())


def test_ak_client_sensor_value(our_server):
    """#sensor-value timestamp 1 name status value, for every type (spec 3, 7.2)."""
    async def main():
        async with ak_client(our_server.bind_address) as client:
            reply, informs = await client.request("sensor-value")
            assert int(reply[0]) == len(informs) == len(SENSOR_TYPES)
            values = {}
            for inform in informs:
                timestamp, count, name, status, value = inform.arguments
                assert count == b"1" and status == b"nominal"
                assert abs(float(timestamp) - time.time()) < 60
                values[name.decode()] = value
            assert values == {
                "int.s": b"0", "float.s": values["float.s"], "bool.s": b"1",
                "discrete.s": b"idle", "string.s": b"hello world",
                "timestamp.s": values["timestamp.s"], "address.s": b"127.0.0.1:7147",
                "lru.s": b"nominal"}
            assert float(values["float.s"]) == 0.0
            assert float(values["timestamp.s"]) == STAMP
            # aiokatcp decodes our values with its own type codecs.
            assert await client.sensor_value("int.s", int) == 0
            assert await client.sensor_value("bool.s", bool) is True
            assert await client.sensor_value("address.s", aiokatcp.Address) == \
                aiokatcp.Address(ipaddress.ip_address(ADDRESS[0]), ADDRESS[1])
            assert await client.sensor_value("timestamp.s", aiokatcp.Timestamp) == STAMP
            with pytest.raises(aiokatcp.FailReply):
                await client.request("sensor-value", "no.such.sensor")
    run(main())


def test_ak_client_request_timeout_hint(our_server):
    """?request-timeout-hint lists hinted requests; a named one may be 0 (spec 5.1)."""
    async def main():
        async with ak_client(our_server.bind_address) as client:
            reply, informs = await client.request("request-timeout-hint")
            assert reply == [b"1"] and informs[0].arguments == [b"slow", b"7.5"]
            reply, informs = await client.request("request-timeout-hint", "watchdog")
            assert reply == [b"1"] and informs[0].arguments[0] == b"watchdog"
            assert float(informs[0].arguments[1]) == 0.0
            with pytest.raises(aiokatcp.FailReply):
                await client.request("request-timeout-hint", "no-such-request")
    run(main())


def test_ak_client_strategies(our_server):
    """Each strategy's #sensor-status informs reach aiokatcp's inform callbacks (spec 7.1, 7.3).

    The first #sensor-status comes as soon as the strategy is set; the
    updates then report what Table 9 says. ?watchdog after the updates is a
    barrier: everything they sent is in before its reply.
    """
    async def main():
        async with ak_client(our_server.bind_address) as client:
            received = ak_statuses(client)
            for name, strategy, start, updates, expected in STRATEGY_CASES:
                await client.request("set-sensor", name, start)
                reply, _ = await client.request("sensor-sampling", name, *strategy)
                assert reply[:2] == [name.encode(), strategy[0].encode()]
                assert [float(p) for p in reply[2:]] == [float(p) for p in strategy[1:]]
                first = await ak_next(received)
                assert first[1:4] == (b"1", name.encode(), b"nominal")
                for raw in updates:
                    await client.request("set-sensor", name, raw)
                await client.request("watchdog")
                got = [decode_value(name, args[4]) for args in drain(received)]
                assert got == expected, (name, strategy)
                await client.request("sensor-sampling", name, "none")
    run(main())


def test_ak_client_strategy_none_and_query(our_server):
    """none sends nothing, not even a first value; a name alone queries (spec 7.1, 7.2)."""
    async def main():
        async with ak_client(our_server.bind_address) as client:
            received = ak_statuses(client)
            assert await client.request("sensor-sampling", "int.s") == \
                ([b"int.s", b"none"], [])
            await client.request("sensor-sampling", "int.s", "differential", "3")
            await ak_next(received)
            assert await client.request("sensor-sampling", "int.s") == \
                ([b"int.s", b"differential", b"3"], [])
            assert await client.request("sensor-sampling", "int.s", "none") == \
                ([b"int.s", b"none"], [])
            await client.request("set-sensor", "int.s", "50")
            await client.request("watchdog")
            assert received.empty()
            for bad in (("int.s", "bogus"), ("int.s", "period"), ("int.s", "period", "-1"),
                        ("string.s", "differential", "1"), ("no.such", "event")):
                with pytest.raises(aiokatcp.FailReply):
                    await client.request("sensor-sampling", *bad)
    run(main())


def test_ak_client_period_and_event_rate_timers(our_server):
    """period p reports every p seconds; event-rate's longest period re-reports (spec 7.1)."""
    async def main():
        async with ak_client(our_server.bind_address) as client:
            received = ak_statuses(client)
            loop = asyncio.get_running_loop()
            await client.request("sensor-sampling", "float.s", "period", "0.05")
            arrivals = []
            for _ in range(4):
                assert (await ak_next(received))[2] == b"float.s"
                arrivals.append(loop.time())
            # Three periods; the reading's own timestamp does not change.
            assert arrivals[-1] - arrivals[0] >= 0.1
            await client.request("sensor-sampling", "float.s", "none")
            await client.request("sensor-sampling", "string.s", "event-rate", "0", "0.05")
            names = {(await ak_next(received))[2] for _ in range(4)}
            assert b"string.s" in names
    run(main())


def test_ak_client_bulk_sampling(our_server):
    """Bulk ?sensor-sampling a,b,c is all-or-nothing (spec 7.2, flag B)."""
    async def main():
        async with ak_client(our_server.bind_address) as client:
            received = ak_statuses(client)
            names = "int.s,float.s,discrete.s"
            assert await client.request("sensor-sampling", names, "event") == \
                ([names.encode(), b"event"], [])
            first = [await ak_next(received) for _ in range(3)]
            assert sorted(args[2] for args in first) == [b"discrete.s", b"float.s", b"int.s"]
            with pytest.raises(aiokatcp.FailReply):
                await client.request("sensor-sampling", "bool.s,no.such", "auto")
            with pytest.raises(aiokatcp.FailReply):   # differential: not for strings
                await client.request("sensor-sampling", "int.s,string.s", "differential", "1")
            assert (await client.request("sensor-sampling", "bool.s"))[0] == [b"bool.s", b"none"]
            assert (await client.request("sensor-sampling", "int.s"))[0] == [b"int.s", b"event"]
            with pytest.raises(aiokatcp.FailReply):   # no query of several sensors
                await client.request("sensor-sampling", names)
            await client.request("watchdog")
            assert received.empty()
    run(main())


def test_ak_sensor_watcher_mirrors_every_type(our_server):
    """aiokatcp's SensorWatcher parses our #sensor-list and bulk auto sampling (spec 7.2, 7.3)."""
    async def main():
        async with ak_client(our_server.bind_address) as client:
            watcher = aiokatcp.SensorWatcher(client)
            client.add_sensor_watcher(watcher)
            await asyncio.wait_for(watcher.synced.wait(), TIMEOUT)
            mirrored = watcher.sensors
            # aiokatcp has no lru type and skips that sensor.
            assert set(mirrored.keys()) == set(SENSOR_TYPES) - {"lru.s"}
            assert mirrored["int.s"].value == 0
            assert mirrored["string.s"].value == b"hello world"
            assert mirrored["discrete.s"].value.katcp_value == b"idle"
            assert mirrored["address.s"].value == aiokatcp.Address(
                ipaddress.ip_address(ADDRESS[0]), ADDRESS[1])
            assert mirrored["timestamp.s"].value == STAMP
            assert mirrored["bool.s"].value is True
            await client.request("set-sensor", "float.s", "-2.5")
            await client.request("set-sensor", "string.s", "\xff")
            await client.request("watchdog")
            assert mirrored["float.s"].value == -2.5
            assert mirrored["float.s"].status == aiokatcp.Sensor.Status.NOMINAL
            assert mirrored["string.s"].value == "\xff".encode()
    run(main())


def test_ak_client_message_ids(our_server):
    """Replies and their informs carry the request's id; pipelined ids match (spec 2.2, 2.3)."""
    async def main():
        async with ak_client(our_server.bind_address) as client:
            reply, informs = await client.request_raw("echo", "a", "b")
            assert reply.mid is not None
            assert [i.mid for i in informs] == [reply.mid, reply.mid]
            results = await asyncio.gather(*(
                client.request_raw("echo", str(n)) for n in range(30)))
            for n, (reply, informs) in enumerate(results):
                assert reply.arguments == [b"ok", str(n).encode()]
                assert [i.arguments for i in informs] == [[str(n).encode()]]
                assert informs[0].mid == reply.mid
            assert len({reply.mid for reply, _ in results}) == 30
    run(main())


def test_ak_client_escapes_round_trip(our_server):
    """Every escape of spec 2.1, empty arguments and non-UTF-8 bytes survive ?echo."""
    async def main():
        async with ak_client(our_server.bind_address) as client:
            reply, informs = await client.request("echo", *ESCAPE_ARGS)
            assert tuple(reply) == ESCAPE_ARGS
            assert tuple(i.arguments[0] for i in informs) == ESCAPE_ARGS
            reply, informs = await client.request("echo", "")
            assert reply == [b""] and [i.arguments for i in informs] == [[b""]]
    run(main())


def test_ak_client_halt_last(our_server):
    """?halt replies ok, then the server disconnects its clients and stops (spec 4.1, 4.2)."""
    async def main():
        async with ak_client(our_server.bind_address, auto_reconnect=False) as client:
            disconnects = asyncio.Queue()
            client.add_inform_callback("disconnect", lambda *a: disconnects.put_nowait(a))
            assert await client.request("halt") == ([], [])
            await ak_next(disconnects)
            await asyncio.wait_for(client.wait_disconnected(), TIMEOUT)
    run(main())
    assert our_server.join(TIMEOUT)
    assert not our_server.running()
