"""Interop: aiokatcp's client drives a katcp_sync server (F174).

The asyncio loop runs inside the test thread with ``asyncio.run``.
"""

import asyncio

import pytest

from optional import optional_import
from server_support import TIMEOUT, DemoServer

aiokatcp, needs_aiokatcp = optional_import("aiokatcp", "driving our server with aiokatcp's client")
pytestmark = needs_aiokatcp


@pytest.fixture
def server():
    server = DemoServer("127.0.0.1", 0)
    server.start()
    yield server
    server.stop(TIMEOUT)


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, TIMEOUT))


def test_aiokatcp_client_requests(server):
    async def main():
        client = await aiokatcp.Client.connect(*server.bind_address)
        try:
            reply, informs = await client.request("watchdog")
            assert reply == [] and informs == []
            reply, informs = await client.request("echo", "a", "b")
            assert reply == [b"a", b"b"] and len(informs) == 2
            reply, informs = await client.request("help")
            assert int(reply[0]) == len(informs) > 10
            with pytest.raises(aiokatcp.FailReply, match="it failed"):
                await client.request("fail")
            with pytest.raises(aiokatcp.InvalidReply, match="Unknown request"):
                await client.request("no-such-request")
            reply, informs = await client.request("sensor-value", "demo.int")
            assert reply == [b"1"] and informs[0].arguments[2] == b"demo.int"
        finally:
            client.close()
            await client.wait_closed()

    run(main())


def test_aiokatcp_client_sampling(server):
    """aiokatcp parses our #sensor-status (spec 7.3) through its inform callbacks."""
    async def main():
        client = await aiokatcp.Client.connect(*server.bind_address)
        got = asyncio.Queue()
        client.add_inform_callback("sensor-status", lambda *a: got.put_nowait(a))
        try:
            await client.request("sensor-sampling", "demo.int,demo.float", "event")
            first = [await got.get(), await got.get()]
            assert sorted(a[2] for a in first) == [b"demo.float", b"demo.int"]
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(None, server.int_sensor.set_value, 17)
            update = await got.get()
            assert update[2:] == (b"demo.int", b"nominal", b"17")
        finally:
            client.close()
            await client.wait_closed()

    run(main())


def test_aiokatcp_sensor_watcher_mirrors_sensors(server):
    """aiokatcp's SensorWatcher syncs with ?sensor-list and bulk auto sampling."""
    async def main():
        client = await aiokatcp.Client.connect(*server.bind_address)
        watcher = aiokatcp.SensorWatcher(client)
        client.add_sensor_watcher(watcher)
        try:
            await asyncio.wait_for(watcher.synced.wait(), TIMEOUT)
            assert set(watcher.sensors.keys()) == {
                "demo.int", "demo.float", "demo.str", "other.discrete"}
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(None, server.int_sensor.set_value, 23)
            for _ in range(200):
                if watcher.sensors["demo.int"].value == 23:
                    break
                await asyncio.sleep(0.01)
            assert watcher.sensors["demo.int"].value == 23
        finally:
            client.close()
            await client.wait_closed()

    run(main())
