"""Large messages: sequential ``?bench-echo`` throughput against message size.

katcp-python's own benchmark scenario 3: one client echoes one argument of
``size`` bytes through the device and back, one request at a time, and the
rate is the argument bytes moved per second (one way). A parser or buffer
that scales badly with line length shows as throughput falling with size.

Each library's client talks to the same library's server (the device in a
subprocess, bench_server's ``BenchServer``, whose ``?bench-echo`` replies
with its arguments), with line limits raised to 16 MiB everywhere:

* katcp_sync: ``BlockingClient.blocking_request``;
* aiokatcp: ``await Client.request("bench-echo", payload)``;
* katcp 0.9.3 (its own Python 3.9 venv): ``BlockingClient.blocking_request``.

The libraries take turns size by size, in rotating order; the best of
several repeats counts. ``vs X`` is katcp_sync's MB/s over X's.
"""

import subprocess
import sys
import time
from typing import Any, Dict, List

import _side
import bench_server

SIZES = [1024, 16 * 1024, 64 * 1024, 256 * 1024, 1024 * 1024, 4 * 1024 * 1024]
LIMIT = 16 * 1024 * 1024
#: Bytes echoed per timed turn (so small sizes make many round trips).
TURN_BYTES = 16 * 1024 * 1024
MAX_TURN_COUNT = 2000

_RAISE_LIMITS = ("import katcp_sync.server as _ks\n"
                 "_ks.DeviceServer.MAX_MSG_SIZE = %d\n" % LIMIT)
_KP_RAISE_LIMITS = ("import katcp.server as _kp\n_kp.KATCPServer.MAX_MSG_SIZE = %d\n"
                    "_kp.KATCPServer.MAX_WRITE_BUFFER_SIZE = %d\n" % (LIMIT, 2 * LIMIT))


def _after_future_import(source, lines):
    """``source`` with ``lines`` run first (after its ``__future__`` import, which must lead)."""
    future = "from __future__ import print_function\n"
    head, found, tail = source.partition(future)
    return head + future + lines + tail if found else lines + source


KATCP_SYNC_SERVER = _after_future_import(bench_server.KATCP_SYNC_SERVER, _RAISE_LIMITS)
KATCP_PYTHON_SERVER = _after_future_import(bench_server.KATCP_PYTHON_SERVER, _KP_RAISE_LIMITS)

KP_SNIPPET = '''
import sys, time
import katcp
katcp.BlockingClient.MAX_MSG_SIZE = %d
katcp.BlockingClient.MAX_WRITE_BUFFER_SIZE = %d
client = katcp.BlockingClient("127.0.0.1", int(sys.argv[1]))
client.start()
client.wait_protocol(10)
print("ready", flush=True)
for line in sys.stdin:
    size, count = map(int, line.split())
    msg = katcp.Message.request("bench-echo", b"a" * size)
    for _ in range(count):
        reply, _ = client.blocking_request(msg, timeout=60)
        assert reply.reply_ok() and len(reply.arguments[1]) == size, reply
    print("done", flush=True)
client.stop()
client.join()
''' % (LIMIT, 2 * LIMIT)


class _Ours:
    def __init__(self, port: int) -> None:
        from katcp_sync.client import BlockingClient
        from katcp_sync.message import Message
        self._message = Message

        class Client(BlockingClient):
            MAX_MSG_SIZE = LIMIT
            MAX_WRITE_BUFFER_SIZE = 2 * LIMIT

        self._client = Client("127.0.0.1", port)
        self._client.start()
        if not self._client.wait_protocol(10):
            self.close()
            raise RuntimeError("katcp_sync client did not connect")

    def echo(self, size: int, count: int) -> None:
        msg = self._message.request("bench-echo", b"a" * size)
        for _ in range(count):
            reply, _ = self._client.blocking_request(msg, timeout=60)
            assert reply.reply_ok() and len(reply.arguments[1]) == size, reply

    def close(self) -> None:
        self._client.stop()
        self._client.join(10)


class _Aiokatcp(_side.AiokatcpClient):
    def __init__(self, port: int) -> None:
        super().__init__(port, limit=LIMIT)

    def echo(self, size: int, count: int) -> None:
        payload = b"a" * size

        async def turn() -> None:
            for _ in range(count):
                reply, _ = await self.client.request("bench-echo", payload)
                assert len(reply[0]) == size

        self.run(turn())


class _KatcpPython:
    def __init__(self, port: int) -> None:
        self._proc = subprocess.Popen([_side.katcp_python_env(), "-c", KP_SNIPPET, str(port)],
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                      stderr=subprocess.DEVNULL, text=True)
        if self._proc.stdout.readline().strip() != "ready":
            self.close()
            raise RuntimeError("katcp-python client did not start")

    def echo(self, size: int, count: int) -> None:
        self._proc.stdin.write("%d %d\n" % (size, count))
        self._proc.stdin.flush()
        if self._proc.stdout.readline().strip() != "done":
            raise RuntimeError("katcp-python client failed at %d bytes" % size)

    def close(self) -> None:
        _side.end_process(self._proc)


LIBRARIES: Dict[str, Any] = {
    "katcp_sync": (lambda: bench_server.ServerProcess(sys.executable, KATCP_SYNC_SERVER), _Ours),
    "aiokatcp": (lambda: (_side.import_optional("aiokatcp"), bench_server.ServerProcess(
        sys.executable, bench_server.AIOKATCP_SERVER))[1], _Aiokatcp),
    "katcp 0.9.3": (lambda: bench_server.ServerProcess(_side.katcp_python_env(),
                                                       KATCP_PYTHON_SERVER), _KatcpPython),
}


def run(quick: bool) -> List[Dict[str, Any]]:
    """One row per size: MB/s per library and katcp_sync's ratios."""
    sizes = SIZES[::2] if quick else SIZES
    repeats = 1 if quick else 3
    servers: Dict[str, Any] = {}
    clients: Dict[str, Any] = {}
    try:
        for lib, (start_server, make_client) in LIBRARIES.items():
            try:
                servers[lib] = start_server()
                clients[lib] = make_client(servers[lib].port)
            except (_side.Skipped, RuntimeError, OSError) as exc:
                print("%s: skipped: %s" % (lib, exc))
        best: Dict[str, Dict[int, float]] = {lib: {} for lib in clients}
        turns: List[Any] = list(clients.items())
        for size in sizes:
            count = max(2, min(MAX_TURN_COUNT, TURN_BYTES // size // (8 if quick else 1)))
            for lib, client in turns:
                client.echo(size, min(count, 20))   # warm-up
            for _ in range(repeats):
                turns.append(turns.pop(0))
                for lib, client in turns:
                    start = time.perf_counter()
                    client.echo(size, count)
                    rate = size * count / (time.perf_counter() - start) / 1e6
                    best[lib][size] = max(rate, best[lib].get(size, 0.0))
    finally:
        for client in clients.values():
            client.close()
        for server in servers.values():
            server.close()
    rows = []
    for size in sizes:
        row: Dict[str, Any] = {"size": "%d KiB" % (size // 1024)}
        for lib in best:
            row[lib + " MB/s"] = best[lib][size]
        ours = best.get("katcp_sync", {}).get(size)
        for lib in best:
            if lib != "katcp_sync":
                row["vs " + lib] = "%.2fx" % (ours / best[lib][size]) if ours else "-"
        rows.append(row)
    return rows

