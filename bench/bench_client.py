"""Client benchmark: ``?watchdog`` round trips per second, one client.

The device runs in a subprocess (so it does not share the clients' GIL):
katcp_sync's tutorial server, and aiokatcp's ``DeviceServer``. Against each,
in the same run:

* katcp_sync: ``BlockingClient.blocking_request``, as it comes (a lone
  caller spins up to ``SPIN_TIME`` for its reply) and with
  ``SPIN_TIME = 0`` ("no spin");
* aiokatcp: ``await Client.request("watchdog")`` on an asyncio loop;
* katcp-python 0.9.3 (its own Python 3.9 venv, see _side.py):
  ``BlockingClient.blocking_request``;
* a bare socket (sequential: a send/recv loop; N threads: the cheapest
  thread-per-caller client, a reader thread releasing each caller's lock),
  for scale: ``vs bare socket`` is how close katcp_sync comes to the floor
  of a client of its kind (sequential) and of its threading model (threads).

``sequential`` is one caller issuing requests back to back; ``N threads``
is N callers (each of :data:`THREADS`) sharing the client, each making its
share of the requests back to back (N asyncio tasks for aiokatcp).
``N threads, one core`` is the same with every client process pinned to
one CPU and the device to the others (Linux, 2+ CPUs): the GIL runs one
thread at a time anyway, and a thread woken on the CPU it last ran on costs
a fraction of one woken across CPUs -- what ``taskset`` buys a threaded
application (docs/concurrency.rst). Rates
are the best of several repeats; the three libraries take turns, repeat by
repeat and in rotating order, so that a busy machine slows them alike.
``vs X`` is katcp_sync's rate divided by X's (above 1 = katcp_sync is
faster).
"""

import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

import _side

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
#: Numbers of threads (asyncio tasks for aiokatcp) sharing one client.
THREADS = (8, 100)
#: Callers of the "one core" mode: the clients' processes pinned to one CPU,
#: the device to the others (Linux with 2+ CPUs only).
PINNED_THREADS = 8


def _can_pin() -> bool:
    return (hasattr(os, "sched_setaffinity") and os.path.isdir("/proc/self/task")
            and len(os.sched_getaffinity(0)) >= 2)


#: The modes measured: "sequential", then "threads:N" for each of THREADS,
#: then "pinned:N".
MODES = (["sequential"] + ["threads:%d" % n for n in THREADS]
         + (["pinned:%d" % PINNED_THREADS] if _can_pin() else []))


def pin_process(pid: int, cpus: Any) -> None:
    """Set the CPU affinity of every thread of process ``pid`` (Linux: an
    affinity is per thread; threads started later inherit their parent's)."""
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            os.sched_setaffinity(int(tid), cpus)
        except OSError:
            pass   # the thread ended meanwhile

#: Devices, started in a subprocess that prints its port, then serves until
#: its stdin closes.
SERVERS = {
    "katcp_sync tutorial server": '''
import importlib.util, sys
spec = importlib.util.spec_from_file_location("ts", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
server = module.MyServer("127.0.0.1", 0)
server.start()
server.wait_running(10)
print(server.bind_address[1], flush=True)
sys.stdin.read()
server.stop()
server.join(5)
''',
    "aiokatcp server": '''
import asyncio, sys
import aiokatcp

class Server(aiokatcp.DeviceServer):
    VERSION = "bench-1.0"
    BUILD_STATE = "bench-1.0.0"

async def main():
    server = Server("127.0.0.1", 0)
    await server.start()
    print(server.sockets[0].getsockname()[1], flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    await server.stop()

asyncio.run(main())
''',
}

#: Shared by this process and the katcp-python snippet.
TIMING_SOURCE = '''
import threading, time

def best_rate(fn, count, repeats):
    """Best requests/s of fn(count) over repeats."""
    best = 0.0
    for _ in range(repeats):
        start = time.perf_counter()
        fn(count)
        best = max(best, count / (time.perf_counter() - start))
    return best

def in_threads(one, threads):
    """fn(count): run one(count // threads) in each of threads threads."""
    def fn(count):
        workers = [threading.Thread(target=one, args=(count // threads,))
                   for _ in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
    return fn
'''
exec(TIMING_SOURCE)
best_rate: Callable[..., float]
in_threads: Callable[..., Callable[[int], None]]

#: katcp-python's side of a turn-taking run: connects, then for every line
#: ``MODE COUNT`` on stdin (MODE "sequential" or "threads:N") makes COUNT
#: requests and prints the rate.
KP_SNIPPET = TIMING_SOURCE + '''
import sys
import katcp
port = int(sys.argv[1])
client = katcp.BlockingClient("127.0.0.1", port)
client.start()
client.wait_protocol(10)

def sequential(n):
    for _ in range(n):
        reply, _ = client.blocking_request(katcp.Message.request("watchdog"))
        assert reply.reply_ok()

sequential(100)
print("ready", flush=True)
for line in sys.stdin:
    mode, count = line.split()
    fn = (sequential if mode == "sequential"
          else in_threads(sequential, int(mode.split(":")[1])))
    print(best_rate(fn, int(count), 1), flush=True)
client.stop()
client.join()
'''


def _threads(mode: str) -> int:
    """The number of callers of mode "threads:N"."""
    return int(mode.split(":")[1])


class DeviceProcess:
    """A device in a subprocess, for the duration of a ``with`` block."""

    def __init__(self, source: str) -> None:
        self._source = source

    def __enter__(self) -> int:
        self._stderr = tempfile.TemporaryFile()
        self._proc = subprocess.Popen(
            [sys.executable, "-c", self._source, os.path.join(ROOT, "examples",
                                                              "tutorial_server.py")],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr, cwd=ROOT)
        line = self._proc.stdout.readline()
        if not line:
            self._proc.kill()
            self._proc.wait()
            self._stderr.seek(0)
            tail = self._stderr.read().decode("utf-8", "replace").strip().splitlines()[-3:]
            self._stderr.close()
            raise RuntimeError("device process did not start: %s" % " | ".join(tail))
        return int(line)

    @property
    def pid(self) -> int:
        return self._proc.pid

    def __exit__(self, *exc: Any) -> None:
        self._proc.stdin.close()
        try:
            self._proc.wait(10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._stderr.close()


class _Ours:
    """katcp_sync's BlockingClient: ``fn(mode)(count)`` makes ``count`` requests."""

    def __init__(self, port: int, spin: bool = True) -> None:
        if not os.environ.get("PYTHONPATH"):
            # (An A/B run of bench/run.py sets PYTHONPATH to the tree measured.)
            sys.path.insert(0, ROOT)
        from katcp_sync.client import BlockingClient
        from katcp_sync.message import Message
        self._client = BlockingClient("127.0.0.1", port)
        if not spin:
            self._client.SPIN_TIME = 0.0
        self._client.start()
        if not self._client.wait_protocol(10):
            self.close()
            raise RuntimeError("katcp_sync client did not connect")
        msg = Message.request("watchdog")

        def sequential(n: int) -> None:
            request = self._client.blocking_request
            for _ in range(n):
                request(msg)

        sequential(100)
        self._sequential = sequential

    def fn(self, mode: str) -> Callable[[int], None]:
        if mode == "sequential":
            return self._sequential
        return in_threads(self._sequential, _threads(mode))

    def close(self) -> None:
        self._client.stop()
        self._client.join(10)


class _Aiokatcp:
    """aiokatcp's Client on an asyncio loop driven by ``fn(mode)(count)``."""

    def __init__(self, port: int) -> None:
        self._side = _side.AiokatcpClient(port)
        request = self._side.client.request

        async def sequential(n: int) -> None:
            for _ in range(n):
                await request("watchdog")

        async def concurrent(n: int, tasks: int) -> None:
            await asyncio.gather(*[sequential(n // tasks) for _ in range(tasks)])

        self._side.run(sequential(100))
        self._sequential = sequential
        self._concurrent = concurrent

    def fn(self, mode: str) -> Callable[[int], None]:
        if mode == "sequential":
            return lambda n: self._side.run(self._sequential(n))
        tasks = _threads(mode)
        return lambda n: self._side.run(self._concurrent(n, tasks))

    def close(self) -> None:
        self._side.close()


class _BareSocket:
    """The floor of what any client can cost, for scale: no parsing beyond
    finding the line end and message id, no timeouts, no error handling.

    * sequential: one blocking socket that sends ``?watchdog`` and reads
      until a line ends -- it sleeps in ``recv()`` like any client that
      does not spin;
    * N threads: the cheapest *thread-per-caller* client there is -- each
      caller registers a pre-acquired lock under a message id, sends
      ``?watchdog[id]`` and blocks on the lock; one reader thread splits
      the replies and releases each caller's lock. It pays what every
      threaded client pays per request (one thread wake-up, the GIL) and
      nothing else, so "vs bare socket" is how close katcp_sync comes to
      the ceiling of its threading model.
    """

    def __init__(self, port: int) -> None:
        self._sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        recv = self._sock.recv
        send = self._sock.send

        def sequential(n: int) -> None:
            for _ in range(n):
                send(b"?watchdog\n")
                while not recv(65536).endswith(b"\n"):
                    pass

        self._sock.recv(65536)   # the device's greeting informs
        sequential(100)
        waiting: Dict[bytes, Any] = {}
        ids = iter(range(1, 1 << 62))
        ids_lock = threading.Lock()
        send_lock = threading.Lock()
        sendall = self._sock.sendall

        def request() -> None:
            lock = threading.Lock()
            lock.acquire()
            with ids_lock:
                mid = b"%d" % next(ids)
            waiting[mid] = lock
            with send_lock:
                sendall(b"?watchdog[" + mid + b"]\n")
            lock.acquire()

        def one_caller(n: int) -> None:
            for _ in range(n):
                request()

        def read_replies() -> None:
            partial = b""
            while True:
                try:
                    data = recv(65536)
                except OSError:
                    return
                if not data:
                    return
                lines = (partial + data).split(b"\n")
                partial = lines.pop()
                for line in lines:
                    if line.startswith(b"!watchdog["):
                        waiting.pop(line[10:line.index(b"]")]).release()

        # Started by the first threaded turn (modes run in order, sequential
        # first): from then on the reader thread owns the socket's input.
        self._reader = threading.Thread(target=read_replies, daemon=True)
        self._sequential = sequential
        self._one_caller = one_caller

    def fn(self, mode: str) -> Optional[Callable[[int], None]]:
        if mode == "sequential":
            return None if self._reader.is_alive() else self._sequential
        if not self._reader.is_alive():
            self._sock.settimeout(None)
            self._reader.start()
        return in_threads(self._one_caller, _threads(mode))

    def close(self) -> None:
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._sock.close()
        if self._reader.is_alive():
            self._reader.join(5)


class _KatcpPython:
    """katcp-python 0.9.3's BlockingClient in its own environment (a
    subprocess that makes ``count`` requests per line sent to it)."""

    def __init__(self, port: int) -> None:
        python = _side.katcp_python_env()
        self._proc = subprocess.Popen(
            [python, "-c", KP_SNIPPET, str(port)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            text=True)
        if self._proc.stdout.readline().strip() != "ready":
            self.close()
            raise RuntimeError("katcp-python client did not start")

    @property
    def pid(self) -> int:
        return self._proc.pid

    def fn(self, mode: str) -> Callable[[int], None]:
        def run(count: int) -> None:
            self._proc.stdin.write("%s %d\n" % (mode, count))
            self._proc.stdin.flush()
            float(self._proc.stdout.readline())  # its own timing, for the record
        return run

    def close(self) -> None:
        _side.end_process(self._proc)


def rotating_turns(runners: Dict[str, Any], modes: List[str],
                   repeats: int) -> Iterator[Tuple[str, str, Any]]:
    """Yield ``(mode, name, runner)``: each runner once per repeat of each
    mode, the order rotating repeat by repeat so nobody goes first every time."""
    turns = list(runners.items())
    for mode in modes:
        for _ in range(repeats):
            turns.append(turns.pop(0))
            for name, runner in turns:
                yield mode, name, runner


class _Pinning:
    """Pins this process (and katcp 0.9.3's client process) to one CPU and
    the device to the others while a "pinned" mode runs; restores after."""

    def __init__(self, device_pid: int, runners: Dict[str, Any]) -> None:
        self._all = sorted(os.sched_getaffinity(0))
        self._pids = [os.getpid()] + [r.pid for r in runners.values() if hasattr(r, "pid")]
        self._device_pid = device_pid
        self.pinned = False

    def set(self, mode: str) -> None:
        pinned = mode.startswith("pinned:")
        if pinned == self.pinned:
            return
        clients = {self._all[-1]} if pinned else set(self._all)
        device = set(self._all[:-1]) if pinned else set(self._all)
        for pid in self._pids:
            pin_process(pid, clients)
        pin_process(self._device_pid, device)
        self.pinned = pinned


def _in_process(port: int, device_pid: int, count: int, repeats: int) -> Dict[str, Any]:
    """katcp_sync, aiokatcp and katcp 0.9.3 taking turns repeat by repeat
    (in rotating order) so that load from other processes weighs on all
    alike; best rate of each. Rates are timed here, around each turn (the
    katcp-python turn includes one pipe round trip, negligible next to
    ``count`` requests)."""
    runners: Dict[str, Any] = {"katcp_sync": _Ours(port),
                               "katcp_sync no spin": _Ours(port, spin=False)}
    results: Dict[str, Any] = {}
    pinning: Optional[_Pinning] = None
    try:
        for lib, factory in (("aiokatcp", _Aiokatcp), ("katcp 0.9.3", _KatcpPython),
                             ("bare socket", _BareSocket)):
            try:
                runners[lib] = factory(port)
            except _side.Skipped as exc:
                results[lib] = "skipped: %s" % exc
            except Exception as exc:  # a comparison must never fail the bench
                results[lib] = "failed: %r" % (exc,)
        for lib in runners:
            results[lib] = dict.fromkeys(MODES, 0.0)
        if _can_pin():   # (MODES has a pinned mode only then)
            pinning = _Pinning(device_pid, runners)
        for mode, lib, runner in rotating_turns(runners, MODES, repeats):
            if pinning is not None:
                pinning.set(mode)
            fn = runner.fn(mode)
            if fn is None:
                continue
            cpu = time.process_time()
            rate = best_rate(fn, count, 1)
            cpu = (time.process_time() - cpu) / count * 1e6
            if rate > results[lib][mode]:
                results[lib][mode] = rate
                results[lib][mode + " cpu"] = cpu
    finally:
        if pinning is not None:
            pinning.set("sequential")
        for runner in runners.values():
            runner.close()
    return results


def run(quick: bool) -> List[Dict[str, Any]]:
    """One row per (device, mode)."""
    count, repeats = (400, 1) if quick else (4000, 6)
    rows = []
    for server_name, source in SERVERS.items():
        device = DeviceProcess(source)
        with device as port:
            results = _in_process(port, device.pid, count, repeats)
        for lib, result in results.items():
            if isinstance(result, str):
                print("%s against %s: %s" % (lib, server_name, result))
        for mode in MODES:
            label = (mode if mode == "sequential" else "%d threads%s" % (
                _threads(mode), ", one core" if mode.startswith("pinned:") else ""))
            row: Dict[str, Any] = {"device": server_name, "callers": label}
            ours = results["katcp_sync"][mode]
            for lib, result in results.items():
                row[lib + " req/s"] = (result[mode] or "-") if isinstance(result, dict) else "-"
            for lib in ("aiokatcp", "katcp 0.9.3"):
                other = results[lib]
                row["vs " + lib] = ("%.2fx" % (ours / other[mode])
                                    if isinstance(other, dict) else "-")
            bare = results.get("bare socket")
            row["vs bare socket"] = ("%.2fx" % (ours / bare[mode])
                                     if isinstance(bare, dict) and bare[mode] else "-")
            # Without spinning, against the same two.
            quiet = results["katcp_sync no spin"][mode]
            row["no spin vs aiokatcp, katcp 0.9.3"] = ", ".join(
                "%.2fx" % (quiet / results[lib][mode]) if isinstance(results[lib], dict) else "-"
                for lib in ("aiokatcp", "katcp 0.9.3"))
            for lib in ("katcp_sync", "aiokatcp"):
                result = results[lib]
                row[lib + " CPU us/req"] = (result.get(mode + " cpu", "-")
                                            if isinstance(result, dict) else "-")
            rows.append(row)
    return rows


if __name__ == "__main__":
    sys.path.insert(0, HERE)
    from run import format_table
    print(format_table(run("--quick" in sys.argv)))
