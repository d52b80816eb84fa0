"""Device server throughput: katcp_sync against aiokatcp and katcp-python 0.9.3.

Every server runs in its own process (so the load generator never shares a
GIL with it) and offers the same interface: the standard ``?watchdog``, an
integer sensor ``bench.counter`` and ``?bench-spam N``, which sets that
sensor to 1..N. The load generator uses raw sockets only, so it works
against any KATCP server. Measures:

* ``watchdog seq``: one client, one ``?watchdog`` round trip at a time;
* ``watchdog pipelined``: one client, ``?watchdog[id]`` with up to 200 in flight;
* ``user handler seq``: one client, one ``?bench-echo`` round trip at a time,
  through a handler written by the user (katcp_sync runs it on its worker
  pool, aiokatcp as a coroutine on its loop);
* ``user handler pipelined``: the same through ``?bench-echo``, a handler
  written by the user (katcp_sync runs it on its worker pool);
* ``watchdog 10 clients``: ten clients, each one round trip at a time;
* ``sensor fan-out``: ten clients with the ``event`` strategy on
  ``bench.counter``; ``#sensor-status`` informs received per second while
  ``?bench-spam`` runs.

``vs X`` is katcp_sync's rate divided by X's (above 1: katcp_sync is faster).

Run ``python3 bench/run.py server`` (or ``--quick``), or serve one side by
hand with ``python3 bench/bench_server.py --serve katcp_sync|aiokatcp``.
"""

import selectors
import socket
import subprocess
import sys
import time
from typing import Any, Callable, Dict, List, Optional

HERE = __file__

WINDOW = 200
CLIENTS = 10
#: Full runs measure every server this many times, round-robin, and keep the best.
ROUNDS = 5
#: ... each measurement taking about this long (see measure_servers).
SECONDS = 1.0
MIN_COUNT = 1000


# -- the servers -----------------------------------------------------------------------------

#: Python 2.7 compatible too (bench_py27 runs it there, katcp-python's on 2.7 and 3.9).
KATCP_SYNC_SERVER = r'''
from __future__ import print_function
import sys
from katcp_sync import DeviceServer, Sensor

class BenchServer(DeviceServer):
    VERSION_INFO = ("bench-api", 1, 0)
    BUILD_INFO = ("bench", 1, 0, "")

    def setup_sensors(self):
        self.counter = Sensor.integer("bench.counter", "Counter", "", [0, 2 ** 31])
        self.add_sensor(self.counter)

    def request_bench_spam(self, req, msg):
        """Set bench.counter to 1..N."""
        for i in range(1, int(msg.arguments[0]) + 1):
            self.counter.set_value(i)
        return req.make_reply("ok")

    def request_bench_echo(self, req, msg):
        """Reply ok with the arguments (a user handler: katcp_sync's worker pool)."""
        return req.make_reply("ok", *msg.arguments)

server = BenchServer("127.0.0.1", 0)
server.start()
print("PORT %d" % server.bind_address[1])
sys.stdout.flush()
sys.stdin.read()
server.stop()
server.join()
'''

AIOKATCP_SERVER = r'''
import asyncio
import sys
from typing import Tuple
import aiokatcp

class BenchServer(aiokatcp.DeviceServer):
    VERSION = "bench-api-1.0"
    BUILD_STATE = "bench-1.0"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.counter = aiokatcp.Sensor(int, "bench.counter", "Counter")
        self.sensors.add(self.counter)

    async def request_bench_spam(self, ctx, n: int) -> None:
        """Set bench.counter to 1..N."""
        counter = self.counter
        for i in range(1, n + 1):
            counter.value = i

    async def request_bench_echo(self, ctx, *args: bytes) -> Tuple[bytes, ...]:
        """Reply ok with the arguments (a user handler)."""
        return args

async def main():
    server = BenchServer("127.0.0.1", 0)
    await server.start()
    print("PORT %d" % server.sockets[0].getsockname()[1], flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    await server.stop()

asyncio.run(main())
'''

#: The same server on katcp-python: porting is a change of import.
KATCP_PYTHON_SERVER = KATCP_SYNC_SERVER.replace("from katcp_sync import", "from katcp import")


class ServerProcess:
    """A server in a subprocess; it prints ``PORT n`` and stops when stdin closes."""

    def __init__(self, python: str, source: str, env: Optional[Dict[str, str]] = None,
                 cwd: Optional[str] = None) -> None:
        self.proc = subprocess.Popen([python, "-c", source], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     env=env, cwd=cwd)
        line = self.proc.stdout.readline().decode()
        if not line.startswith("PORT "):
            self.close()
            raise RuntimeError("server did not start (printed %r)" % line)
        self.port = int(line.split()[1])

    def close(self) -> None:
        try:
            self.proc.stdin.close()
            self.proc.wait(10)
        except Exception:
            self.proc.kill()
            self.proc.wait()
        self.proc.stdout.close()


# -- the load generator ------------------------------------------------------------------------


class Counter:
    """Counts occurrences of a marker in a byte stream split into chunks."""

    def __init__(self, marker: bytes) -> None:
        self.marker = marker
        self.carry = b""
        self.count = 0

    def feed(self, data: bytes) -> int:
        joined = self.carry + data
        found = joined.count(self.marker)
        self.count += found
        self.carry = joined[-(len(self.marker) - 1):]
        return found


def open_client(port: int) -> socket.socket:
    """Connect and wait for the answer to a first ``?watchdog`` (skips the connect informs)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.sendall(b"?watchdog\n")
    counter = Counter(b"!watchdog")
    while not counter.count:
        counter.feed(sock.recv(65536))
    return sock


def watchdog_sequential(port: int, count: int, name: bytes = b"watchdog") -> float:
    sock = open_client(port)
    try:
        recv, send = sock.recv, sock.sendall
        request, reply = b"?%s\n" % name, b"!%s" % name
        start = time.perf_counter()
        for _ in range(count):
            send(request)
            while reply not in recv(65536):
                pass
        return count / (time.perf_counter() - start)
    finally:
        sock.close()


def watchdog_pipelined(port: int, count: int, name: bytes = b"watchdog") -> float:
    sock = open_client(port)
    try:
        counter = Counter(b"!%s[" % name)
        sent = 0
        start = time.perf_counter()
        while counter.count < count:
            window = min(count, counter.count + WINDOW) - sent
            if window > 0:
                sock.sendall(b"".join(b"?%s[%d]\n" % (name, sent + i + 1)
                                     for i in range(window)))
                sent += window
            counter.feed(sock.recv(262144))
        return count / (time.perf_counter() - start)
    finally:
        sock.close()


def user_handler_sequential(port: int, count: int) -> float:
    """One round trip at a time through a user-written handler (``?bench-echo``):
    the common case of a script driving a device whose handlers may block."""
    return watchdog_sequential(port, count, b"bench-echo")


def user_handler_pipelined(port: int, count: int) -> float:
    """As watchdog_pipelined, through a user-written handler (``?bench-echo``)."""
    return watchdog_pipelined(port, count, b"bench-echo")


def watchdog_clients(port: int, count: int) -> float:
    """CLIENTS clients, one request in flight each, driven by one selector."""
    socks = [open_client(port) for _ in range(CLIENTS)]
    selector = selectors.DefaultSelector()
    try:
        counters = {}
        for sock in socks:
            sock.setblocking(False)
            counters[sock] = Counter(b"!watchdog")
            selector.register(sock, selectors.EVENT_READ)
        total = 0
        start = time.perf_counter()
        for sock in socks:
            sock.send(b"?watchdog\n")
        while total < count:
            for key, _ in selector.select(10):
                sock = key.fileobj
                got = counters[sock].feed(sock.recv(65536))
                total += got
                if got:
                    sock.send(b"?watchdog\n")
        return total / (time.perf_counter() - start)
    finally:
        selector.close()
        for sock in socks:
            sock.close()


def sensor_fanout(port: int, count: int) -> float:
    """CLIENTS clients sample bench.counter with `event`; one ?bench-spam sets it count times."""
    socks = [open_client(port) for _ in range(CLIENTS)]
    selector = selectors.DefaultSelector()
    try:
        for sock in socks:
            sock.sendall(b"?sensor-sampling bench.counter event\n")
            reply = Counter(b"!sensor-sampling")
            while not reply.count:
                reply.feed(sock.recv(65536))
        counters = {}
        for sock in socks:
            sock.setblocking(False)
            counters[sock] = Counter(b"#sensor-status")
            selector.register(sock, selectors.EVENT_READ)
        expected = CLIENTS * count
        total = 0
        start = time.perf_counter()
        socks[0].send(b"?bench-spam %d\n" % count)
        deadline = time.monotonic() + 120
        while total < expected and time.monotonic() < deadline:
            for key, _ in selector.select(5):
                total += counters[key.fileobj].feed(key.fileobj.recv(262144))
        elapsed = time.perf_counter() - start
        if total < expected:
            raise RuntimeError("only %d of %d #sensor-status arrived" % (total, expected))
        return total / elapsed
    finally:
        selector.close()
        for sock in socks:
            sock.close()


MEASURES: List[Any] = [
    ("watchdog seq (req/s)", watchdog_sequential, 3000, 20000),
    ("watchdog pipelined (req/s)", watchdog_pipelined, 20000, 200000),
    ("user handler seq (req/s)", user_handler_sequential, 3000, 20000),
    ("user handler pipelined (req/s)", user_handler_pipelined, 10000, 100000),
    ("watchdog %d clients (req/s)" % CLIENTS, watchdog_clients, 5000, 50000),
    ("sensor fan-out %d clients (informs/s)" % CLIENTS, sensor_fanout, 2000, 20000),
]


def servers() -> Dict[str, Callable[[], ServerProcess]]:
    import _side  # bench/ is on sys.path under bench/run.py

    def kp() -> ServerProcess:
        return ServerProcess(_side.katcp_python_env(), KATCP_PYTHON_SERVER)

    def ak() -> ServerProcess:
        _side.import_optional("aiokatcp")
        return ServerProcess(sys.executable, AIOKATCP_SERVER)

    return {"katcp_sync": lambda: ServerProcess(sys.executable, KATCP_SYNC_SERVER),
            "aiokatcp": ak, "katcp 0.9.3": kp}


def measure_servers(starters: Dict[str, Callable[[], ServerProcess]],
                    quick: bool) -> Dict[str, Dict[str, Optional[float]]]:
    """Best rate of every measure on every server: ``{server: {label: rate}}``.

    Every server runs at once (each idle in its own process while another is
    measured), and each round measures every server in turn before the next
    round, so a burst of load from elsewhere on the machine hits all of them
    alike; the best round counts. A full run first times each measure with
    its quick count (a warm-up) and sizes the rounds to last about
    ``SECONDS`` each, at most the measure's full count, so that slow servers
    don't take minutes.
    """
    import _side
    running: Dict[str, ServerProcess] = {}
    results: Dict[str, Dict[str, Optional[float]]] = {}
    counts: Dict[Any, int] = {}
    try:
        for name, start in starters.items():
            try:
                running[name] = start()
            except (_side.Skipped, RuntimeError, OSError) as exc:
                print("%s: skipped: %s" % (name, exc))
                continue
            results[name] = {label: None for label, *_ in MEASURES}
        for round_ in range(1 if quick else ROUNDS + 1):
            for label, fn, quick_count, full_count in MEASURES:
                for name, server in running.items():
                    count = counts.get((name, label), quick_count)
                    start = time.perf_counter()
                    try:
                        rate = fn(server.port, count)
                    except (RuntimeError, OSError) as exc:
                        print("%s: %s: failed: %s" % (name, label, exc))
                        continue
                    if round_ == 0 and not quick:  # the warm-up: size the rounds
                        elapsed = time.perf_counter() - start
                        counts[name, label] = int(min(full_count, max(
                            MIN_COUNT, count * SECONDS / elapsed)))
                        continue
                    results[name][label] = max(rate, results[name][label] or 0.0)
    finally:
        for server in running.values():
            server.close()
    return results


def run(quick: bool) -> List[Dict[str, Any]]:
    """bench/run.py entry point: one row per measure, one column per server."""
    results = measure_servers(servers(), quick)
    rows = []
    for label, *_ in MEASURES:
        row: Dict[str, Any] = {"measure": label}
        for name in results:
            row[name] = results[name].get(label) or "-"
        ours = results.get("katcp_sync", {}).get(label)
        for name in results:
            if name != "katcp_sync":
                theirs = results[name].get(label)
                row["vs " + name] = ("%.2fx" % (ours / theirs)) if ours and theirs else "-"
        rows.append(row)
    return rows


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--serve":
        source = {"katcp_sync": KATCP_SYNC_SERVER, "aiokatcp": AIOKATCP_SERVER}[sys.argv[2]]
        exec(compile(source, "<%s server>" % sys.argv[2], "exec"))
    else:
        sys.path.insert(0, __import__("os").path.dirname(__import__("os").path.abspath(HERE)))
        from run import format_table
        print(format_table(run("--quick" in sys.argv)))
