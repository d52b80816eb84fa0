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

import pytest

from katcp_sync.client import BlockingClient, CallbackClient
from katcp_sync.protocol import ProtocolFlags
from katcp_sync.sensor import Sensor
from katcp_sync.server import DeviceServer
from optional import optional_import

aiokatcp, needs_aiokatcp = optional_import("aiokatcp", "the aiokatcp interop matrix")
#: Every test here talks to aiokatcp; the check_* helpers are shared with
#: test_interop_katcp_python, which runs without it.
pytestmark = needs_aiokatcp

from interop_support import (  # noqa: F401 (shared with test_interop_katcp_python)
    TIMEOUT,
    SENSOR_TYPES,
    DISCRETE_VALUES,
    ADDRESS,
    STAMP,
    ESCAPE_ARGS,
    CORE_REQUESTS,
    STRATEGY_CASES,
    decode_value,
    InteropServer,
    our_server,
    our_client,
    ok,
    refused,
    status_queue,
    drain_queue,
    check_core_requests,
    check_strategies,
    check_period,
    check_bulk_sampling,
    check_message_ids,
    check_escapes,
    check_callback_client,
    check_halt,
    client_address,
    check_resource,
    check_client_connected,
    check_large_arguments,
)


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


def test_ak_client_rate_limits(our_server):
    """event-rate holds changes back for shortest-period, then sends the latest (spec 7.1, Table 9).

    period reports only on its timer, never on a change.
    """
    async def main():
        async with ak_client(our_server.bind_address) as client:
            loop = asyncio.get_running_loop()
            received = ak_statuses(client)
            await client.request("sensor-sampling", "int.s", "event-rate", "0.3", "100")
            first_at = loop.time()
            assert (await ak_next(received))[4] == b"0"
            for value in ("1", "2", "3"):
                await client.request("set-sensor", "int.s", value)
            await client.request("watchdog")
            assert received.empty()
            update = await ak_next(received)
            assert update[4] == b"3" and loop.time() - first_at >= 0.25
            await client.request("sensor-sampling", "int.s", "period", "100")
            assert (await ak_next(received))[4] == b"3"
            await client.request("set-sensor", "int.s", "4")
            await client.request("watchdog")
            assert received.empty()
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


def test_ak_client_client_connected(our_server):
    """Our #client-connected goes to the clients already connected (spec 8, 8.2)."""
    async def main():
        async with ak_client(our_server.bind_address) as first:
            announced = asyncio.Queue()
            first.add_inform_callback("client-connected", lambda *a: announced.put_nowait(a))
            before = {c.address for c in our_server.get_clients()}
            async with ak_client(our_server.bind_address):
                (text,) = await ak_next(announced)
                (newest,) = {c.address for c in our_server.get_clients()} - before
                assert newest.encode() in text
    run(main())


def test_ak_sensor_watcher_statuses_and_interface_changes(our_server):
    """Every status reaches aiokatcp (spec 7, Table 8).

    #interface-changed makes its SensorWatcher list the sensors again (spec 4.2).
    """
    async def main():
        async with ak_client(our_server.bind_address) as client:
            watcher = aiokatcp.SensorWatcher(client)
            client.add_sensor_watcher(watcher)
            await asyncio.wait_for(watcher.synced.wait(), TIMEOUT)
            sensor = our_server.get_sensor("int.s")
            for status in ("warn", "error", "failure", "unreachable", "inactive", "unknown"):
                sensor.set_value(7, status=Sensor.STATUS_NAMES[status])
                await client.request("watchdog")
                assert watcher.sensors["int.s"].status.name.lower() == status
            our_server.add_sensor(Sensor.integer("new.s", "Added", "", default=3,
                                                 initial_status=Sensor.NOMINAL))
            for _ in range(int(TIMEOUT / 0.01)):
                if "new.s" in watcher.sensors and watcher.synced.is_set():
                    break
                await asyncio.sleep(0.01)   # re-sync happens inside aiokatcp
            assert watcher.sensors["new.s"].value == 3
            our_server.remove_sensor("new.s")
            for _ in range(int(TIMEOUT / 0.01)):
                if "new.s" not in watcher.sensors:
                    break
                await asyncio.sleep(0.01)
            assert "new.s" not in watcher.sensors
    run(main())


def test_ak_client_binary_string_sensor(our_server):
    """A string sensor may hold non-UTF-8 bytes (spec 3 notes); they reach aiokatcp intact."""
    async def main():
        async with ak_client(our_server.bind_address) as client:
            received = ak_statuses(client)
            await client.request("sensor-sampling", "string.s", "event")
            await ak_next(received)
            await client.request("set-sensor", "string.s", b"\xff\xfe bin\0")
            update = await ak_next(received)
            assert update[2:] == (b"string.s", b"nominal", b"\xff\xfe bin\0")
            _, informs = await client.request("sensor-value", "string.s")
            assert informs[0].arguments[4] == b"\xff\xfe bin\0"
    run(main())


def test_ak_client_errors_keep_message_ids(our_server):
    """fail and invalid replies, even to unknown requests, carry the request's id (spec 2, 2.2)."""
    async def main():
        async with ak_client(our_server.bind_address) as client:
            for name, args, code in [("no-such-request", (), b"invalid"),
                                     ("sensor-value", ("no.such",), b"fail"),
                                     ("set-sensor", (), b"fail")]:
                reply, informs = await client.request_raw(name, *args)
                assert reply.name == name and reply.mid is not None
                assert reply.arguments[0] == code and len(reply.arguments) == 2
                assert informs == []
    run(main())


def test_ak_client_non_ascii_metadata(our_server):
    """UTF-8 descriptions and units, and discrete values with spaces, survive (spec 2.1, 7.2)."""
    async def main():
        description = "Mode \u00e9t\u00e9 \u2013 d\u00e9j\u00e0"
        our_server.add_sensor(Sensor.discrete("mode.s", description, "\u00b0C",
                                              ["first one", "second"], default="first one",
                                              initial_status=Sensor.NOMINAL))
        async with ak_client(our_server.bind_address) as client:
            _, informs = await client.request("sensor-list", "mode.s")
            assert informs[0].arguments == [
                b"mode.s", description.encode(), "\u00b0C".encode(),
                b"discrete", b"first one", b"second"]
            _, informs = await client.request("sensor-value", "mode.s")
            assert informs[0].arguments[2:] == [b"mode.s", b"nominal", b"first one"]
    run(main())


class SingleClientServer(InteropServer):
    """Our interop server without flag M: a single-client device (spec 9)."""

    PROTOCOL_INFO = ProtocolFlags(5, 1, "IBT")


def test_ak_clients_on_single_client_server():
    """A second client displaces the first with #disconnect naming it; no ?client-list (spec 9)."""
    server = SingleClientServer("127.0.0.1", 0)
    server.start(TIMEOUT)

    async def main():
        async with ak_client(server.bind_address, auto_reconnect=False) as first:
            assert first.protocol_flags == frozenset("IBT")
            reasons = asyncio.Queue()
            first.add_inform_callback("disconnect", lambda *a: reasons.put_nowait(a))
            with pytest.raises(aiokatcp.InvalidReply):
                await first.request("client-list")
            async with ak_client(server.bind_address) as second:
                (reason,) = await ak_next(reasons)
                # The server promises that a displaced client has left the
                # list when it is displaced: seeing #disconnect is enough.
                (address,) = [c.address for c in server.get_clients()]
                assert address.encode() in reason
                await asyncio.wait_for(first.wait_disconnected(), TIMEOUT)
                assert await second.request("watchdog") == ([], [])
    try:
        run(main())
    finally:
        server.stop(TIMEOUT)
        server.join(TIMEOUT)


def test_ak_client_large_arguments(our_server):
    """A 300 kB request and reply cross partial reads and writes intact (spec 2.1)."""
    async def main():
        async with ak_client(our_server.bind_address) as client:
            big = bytes(range(256)) * 1200
            reply, informs = await client.request("echo", big, b"tail")
            assert reply == [big, b"tail"] and informs[0].arguments == [big]
    run(main())


# ---------------------------------------------------------------------------
# 2. Our clients -> aiokatcp's server

class AkDiscrete(enum.Enum):
    IDLE = "idle"
    BUSY = "busy"
    BROKEN = "broken"


class AkServer(aiokatcp.DeviceServer if aiokatcp else object):  # type: ignore[misc]
    """aiokatcp's server with the matrix's interface (no lru: aiokatcp lacks it)."""

    VERSION = "ak-interop-1.0"
    BUILD_STATE = "ak-interop-1.0.0"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        nominal = aiokatcp.Sensor.Status.NOMINAL
        for stype, name, default in [
                (int, "int.s", 0), (float, "float.s", 0.0), (bool, "bool.s", True),
                (AkDiscrete, "discrete.s", AkDiscrete.IDLE), (bytes, "string.s", b"hello world"),
                (aiokatcp.Timestamp, "timestamp.s", aiokatcp.Timestamp(STAMP)),
                (aiokatcp.Address, "address.s",
                 aiokatcp.Address(ipaddress.ip_address(ADDRESS[0]), ADDRESS[1]))]:
            self.sensors.add(aiokatcp.Sensor(stype, name, "The %s" % name, "",
                                             default=default, initial_status=nominal))

    async def request_echo(self, ctx, *args: bytes):
        """Reply with the arguments, after one #echo inform per argument."""
        for arg in args:
            ctx.inform(arg)
        return tuple(args)

    async def request_set_sensor(self, ctx, name: str, value: bytes) -> None:
        """?set-sensor name value -- set a sensor from its wire form."""
        sensor = self.sensors[name]
        sensor.value = aiokatcp.decode(sensor.stype, value)


class AkServerThread:
    """An aiokatcp server on its own asyncio loop in a background thread."""

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever,
                                       name="asyncio_aiokatcp_server", daemon=True)
        self.server = None

    def call(self, coro):
        """Run ``coro`` on the server's loop; return its result (bounded wait)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(TIMEOUT)

    def start(self):
        self.thread.start()

        async def make():
            server = AkServer("127.0.0.1", 0, loop=self.loop)
            await server.start()
            return server
        self.server = self.call(make())
        self.address = self.server.sockets[0].getsockname()[:2]

    def stop(self):
        if self.server is not None:
            self.call(self.server.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(TIMEOUT)
        assert not self.thread.is_alive()
        self.loop.close()


@pytest.fixture
def ak_server():
    runner = AkServerThread()
    runner.start()
    yield runner
    runner.stop()


AK_SENSORS = [name for name in SENSOR_TYPES if name != "lru.s"]


def test_our_client_detects_aiokatcp_protocol(ak_server):
    """Our client reads aiokatcp's #version-connect katcp-protocol 5.1-MIB (spec 4.2)."""
    with our_client(ak_server.address) as client:
        flags = client.protocol_flags
        assert (flags.major, flags.minor, flags.flags) == (5, 1, frozenset("MIB"))
        ok(client, "watchdog")   # the later #version-connect informs are in by its reply
        assert client.versions["katcp-device"][0] == "ak-interop-1.0"


def test_our_client_core_requests_on_aiokatcp(ak_server):
    with our_client(ak_server.address) as client:
        check_core_requests(client, AK_SENSORS, client_address(client))
        # No flag T: the request does not exist there (spec 5.1).
        refused(client, "request-timeout-hint")


def test_our_client_strategies_on_aiokatcp(ak_server):
    with our_client(ak_server.address) as client:
        check_strategies(client, STRATEGY_CASES)
        check_period(client)


def test_our_client_bulk_sampling_on_aiokatcp(ak_server):
    with our_client(ak_server.address) as client:
        check_bulk_sampling(client)


def test_our_client_message_ids_on_aiokatcp(ak_server):
    with our_client(ak_server.address) as client:
        check_message_ids(client)


def test_our_client_escapes_on_aiokatcp(ak_server):
    with our_client(ak_server.address) as client:
        check_escapes(client)


def test_our_callback_client_on_aiokatcp(ak_server):
    check_callback_client(ak_server.address)


def test_our_resource_client_on_aiokatcp(ak_server):
    def add_sensor():
        async def add():
            ak_server.server.sensors.add(aiokatcp.Sensor(int, "new.s", "Added", ""))
            ak_server.server.mass_inform("interface-changed", "sensor-list")
        ak_server.call(add())
    check_resource(ak_server.address, AK_SENSORS, add_sensor)


def test_our_client_gets_aiokatcp_client_connected(ak_server):
    with our_client(ak_server.address) as client:
        check_client_connected(client, ak_server.address)


def test_our_client_large_arguments_on_aiokatcp(ak_server):
    with our_client(ak_server.address) as client:
        check_large_arguments(client)


def test_our_client_halt_on_aiokatcp_last(ak_server):
    def stopped(timeout):
        ak_server.call(asyncio.wait_for(ak_server.server.join(), timeout))
        return True
    check_halt(ak_server.address, stopped)
