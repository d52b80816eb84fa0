"""Many devices: one process following 200 device servers x 100 sensors each.

The devices are katcp_sync ``DeviceServer`` objects in ONE separate process
(sharing one reactor, handlers on it; ``DEVICE_SOURCE``), driven by
commands on its stdin: ``update RATE SECONDS`` has its main thread set
sensors round-robin
across all devices at ``RATE`` updates/s in total for ``SECONDS``, and
reports how many it set, when it started and ended (``time.monotonic``,
which is system-wide on Linux) and the running total. Update number ``u``
(counted from the start) sets sensor ``u % N`` to ``u // N + 1``, so from
the total every follower knows every sensor's final value.

Two followers take turns against the same devices, each with its library's
high-level container (``KATCPClientResourceContainer``), one child per
device:

* katcp_sync's, in this process;
* katcp-python 0.9.3's, in a subprocess of its side environment (see
  ``_side.py``; ``KP_SNIPPET``), its ioloop on an ``IOLoopManager`` thread
  and driven from the main thread through ``IOLoopThreadWrapper``.

Each follower puts a listener on every sensor (counting readings and keeping
the last value) and measures:

* ``sync``: seconds from ``start()`` until ``until_synced()`` returns for
  all devices; the followers alternate, a fresh container each turn, best of
  ``repeats``;
* ``event``: seconds to set the ``event`` strategy on every sensor:
  katcp_sync's ``container.set_sampling_strategies(".", "event")`` (one bulk
  ``?sensor-sampling`` per device); katcp-python's container does one
  sensor at a time, so its children are asked concurrently instead
  (``child.set_sampling_strategies`` of every child at once, its fastest
  high-level way);
* a ladder of offered rates (``RATES``): each step runs ``update`` for the
  window, then waits (at most ``drain`` seconds) until every sensor shows
  its final value. ``lost`` is updates whose reading never arrived,
  ``stale`` sensors whose final value did not arrive within the drain,
  ``lag`` how long after the device's last update the follower had them
  all. A step passes when nothing is lost or stale and ``lag`` stays within
  ``lag_limit`` (the follower kept up); a failed step that the follower
  caught up with is tried once more, and the ladder stops at the first step
  that fails, or when the device itself cannot offer the rate (then the best
  rate is a lower bound, marked ``>=``);
* ``CPU``: the follower process's CPU time from just before the window until
  all final values arrived, as % of one core per 1,000 updates/s
  delivered (``cpu / seconds / (delivered / 1000) * 100``), compared at the
  highest rate both passed; and the updates per CPU second at each one's
  best rate, what a whole core would carry (the device process, which
  shares the machine, caps the ladder itself).

``vs katcp 0.9.3`` is how many times better katcp_sync is: katcp-python's
seconds (or CPU) over katcp_sync's, katcp_sync's rate over katcp-python's.
"""

import json
import os
import select
import subprocess
import sys
import tempfile
import time
from typing import Any, Dict, List, Optional

import _side

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

#: Offered rates (updates/s, all devices together), climbed until a follower fails.
RATES = [1000, 2000, 3000, 5000, 7000, 10000, 15000, 20000, 30000, 50000, 70000, 100000,
         150000, 200000, 300000]
#: Longest wait for any answer from a subprocess (a sync of 200 devices included).
ANSWER_TIMEOUT = 300.0
#: The device "cannot offer" a rate when it achieves less than this fraction of it.
DEVICE_SHORTFALL = 0.9

#: The devices: ``argv = [n_devices, n_sensors, bench_dir]``. Prints the ports
#: (a JSON list), then serves commands on stdin until ``quit`` or EOF.
DEVICE_SOURCE = '''
import json, sys, time
sys.path.insert(0, sys.argv[3])
from bench_soak import raise_fd_limit
from katcp_sync.reactor import Reactor
from katcp_sync.sensor import Sensor
from katcp_sync.server import DeviceServer

n_devices, n_sensors = int(sys.argv[1]), int(sys.argv[2])
raise_fd_limit(4 * n_devices + 256)


class Device(DeviceServer):
    VERSION_INFO = ("bench-device", 1, 0)
    BUILD_INFO = ("bench-device", 1, 0, "")
    DISCONNECT_TIMEOUT = 0.2

    def setup_sensors(self):
        for i in range(n_sensors):
            self.add_sensor(Sensor.integer("s.%03d" % i, "Bench sensor.", "", [0, 2 ** 31 - 1]))


reactor = Reactor("bench-devices")
reactor.start()
servers = []
for _ in range(n_devices):
    server = Device("127.0.0.1", 0)
    server.set_ioloop(reactor)
    server.set_concurrency_options(handler_thread=False)
    server.start()
    servers.append(server)
# Sensor k = sensor i of device j with k = i * n_devices + j: consecutive
# updates go to different devices.
sensors = [servers[k % n_devices].get_sensor("s.%03d" % (k // n_devices))
           for k in range(n_devices * n_sensors)]
n = len(sensors)
total = 0
print(json.dumps([s.bind_address[1] for s in servers]), flush=True)
try:
    for line in sys.stdin:
        words = line.split()
        if not words or words[0] == "quit":
            break
        rate, seconds = float(words[1]), float(words[2])
        planned = int(rate * seconds)
        done = 0
        start = time.monotonic()
        while done < planned:
            now = time.monotonic()
            if now - start >= seconds:
                break
            due = min(planned, int((now - start) * rate) + 1)
            while done < due:
                u = total + done
                sensors[u % n].set_value(u // n + 1)
                done += 1
                if not done % 256 and time.monotonic() - start >= seconds:
                    break   # a device that fell behind must not overrun the window
            time.sleep(0.0005)
        end = time.monotonic()
        total += done
        print(json.dumps({"n": done, "total": total, "t_start": start, "t_end": end}), flush=True)
finally:
    for server in servers:
        server.stop(0)
    for server in servers:
        server.join(5)
    reactor.stop()
    reactor.join(5)
'''

#: The followers' bookkeeping, the same code in this process and in
#: katcp-python's (Python 3.9) subprocess.
FOLLOW_SOURCE = '''
import time


class Tally:
    """Readings received by the listeners: how many, and each sensor's last value.

    Listeners run on one thread (the reactor / the ioloop), so plain
    updates are safe; other threads only read.
    """

    def __init__(self, n_devices, n_sensors):
        self.n_devices = n_devices
        self.n = n_devices * n_sensors
        self.last = [0] * self.n
        self.count = 0

    def listener(self, device, sensor):
        """A ``listener(sensor, reading)`` for sensor ``sensor`` of device ``device``."""
        k = sensor * self.n_devices + device
        last = self.last

        def on_reading(_sensor, reading):
            last[k] = reading.value
            self.count += 1
        return on_reading

    def settle(self, count, timeout):
        """Wait until ``count`` readings have arrived (at most ``timeout`` s)."""
        deadline = time.monotonic() + timeout
        while self.count < count and time.monotonic() < deadline:
            time.sleep(0.01)


def expected_values(n, total):
    """Every sensor's value after ``total`` round-robin updates of ``n`` sensors."""
    base, extra = divmod(total, n)
    return [base + 1] * extra + [base] * (n - extra)


class Window:
    """One step of the ladder, seen by a follower: arm before the updates start."""

    def __init__(self, tally):
        self.tally = tally
        self.count = tally.count
        self.cpu = time.process_time()

    def finish(self, update, drain):
        """Wait for the final values of ``update`` (the device's report); the step's numbers."""
        expected = expected_values(self.tally.n, update["total"])
        deadline = update["t_end"] + drain
        matched = None
        while True:
            now = time.monotonic()
            if self.tally.last == expected:
                matched = now
                break
            if now > deadline:
                break
            time.sleep(0.005)
        cpu = time.process_time() - self.cpu
        received = self.tally.count - self.count
        end = matched if matched is not None else now
        return {"received": received, "lost": max(0, update["n"] - received),
                "stale": sum(1 for a, b in zip(self.tally.last, expected) if a != b),
                "lag": None if matched is None else max(0.0, matched - update["t_end"]),
                "seconds": end - update["t_start"], "cpu": cpu}
'''
exec(FOLLOW_SOURCE)
Tally: Any
Window: Any

#: katcp-python 0.9.3's follower: ``argv = [ports (JSON), n_sensors]``; one
#: JSON line answers each command on stdin: ``sync``, ``subscribe``, ``arm``,
#: ``finish DRAIN UPDATE-JSON``, ``quit``.
KP_SNIPPET = FOLLOW_SOURCE + '''
import json, logging, sys
import tornado.gen
from katcp.ioloop_manager import IOLoopManager, IOLoopThreadWrapper
from katcp.resource_client import KATCPClientResourceContainer

logging.basicConfig(level=logging.ERROR)
ports = json.loads(sys.argv[1])
n_sensors = int(sys.argv[2])
manager = IOLoopManager()
ioloop = manager.get_ioloop()
manager.setDaemon(True)
manager.start(10)
wrapper = IOLoopThreadWrapper(ioloop)
call = wrapper.call_in_ioloop
container = None
tally = window = None


def reply(obj):
    print(json.dumps(obj), flush=True)


@tornado.gen.coroutine
def stop_and_wait():
    container.stop()
    yield list(container.until_stopped(30).values())


def stop_container():
    """Stop the container and wait until every child has closed its connection."""
    if container is not None:
        call(stop_and_wait, (), {}, 40)


@tornado.gen.coroutine
def subscribe():
    for j in range(len(ports)):
        child = container.children["dev%03d" % j]
        for i in range(n_sensors):
            child.sensor["s_%03d" % i].register_listener(tally.listener(j, i), reading=True)
    results = yield [child.set_sampling_strategies(".", "event")
                     for child in dict.values(container.children)]
    # Each child maps sensor -> the strategy set, or None / the error text.
    raise tornado.gen.Return(sum(1 for per_child in results for outcome in per_child.values()
                                 if outcome != "event"))


for line in sys.stdin:
    command, _, rest = line.strip().partition(" ")
    if command == "sync":
        stop_container()
        container = KATCPClientResourceContainer(dict(
            name="bench", clients={"dev%03d" % j: dict(address=("127.0.0.1", port))
                                   for j, port in enumerate(ports)}))
        container.set_ioloop(ioloop)
        start = time.perf_counter()
        call(container.start, (), {}, 60)
        call(container.until_synced, (), {"timeout": 300}, 310)
        reply({"seconds": time.perf_counter() - start})
    elif command == "subscribe":
        tally = Tally(len(ports), n_sensors)
        start = time.perf_counter()
        refused = call(subscribe, (), {}, 300)
        seconds = time.perf_counter() - start
        tally.settle(tally.n, 30)
        reply({"seconds": seconds, "initial": tally.count, "refused": refused})
    elif command == "arm":
        window = Window(tally)
        reply({})
    elif command == "finish":
        drain, update = rest.split(" ", 1)
        reply(window.finish(json.loads(update), float(drain)))
    elif command == "quit":
        break
stop_container()
manager.stop()
manager.join(10)
reply({"bye": True})
'''


def _kill(proc: subprocess.Popen, grace: float) -> None:
    """End ``proc``: wait ``grace`` seconds after its stdin closed, then kill it."""
    try:
        if proc.stdin and not proc.stdin.closed:
            proc.stdin.close()
    except OSError:
        pass
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class _Pipe:
    """A subprocess that answers each line on its stdin with one JSON line.

    Every wait for an answer is bounded (``timeout``); a subprocess that ends
    or stays silent raises RuntimeError with the tail of its stderr.
    """

    def __init__(self, argv: List[str], what: str, env: Optional[Dict[str, str]] = None) -> None:
        self.what = what
        self._stderr = tempfile.TemporaryFile()
        self._buffer = b""
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self._stderr, env=env, cwd=ROOT)
        self._stdin: Any = self.proc.stdin
        self._stdout: Any = self.proc.stdout

    def _failed(self, why: str) -> RuntimeError:
        self._stderr.seek(0)
        tail = self._stderr.read().decode("utf-8", "replace").strip().splitlines()[-3:]
        return RuntimeError("%s %s: %s" % (self.what, why, " | ".join(tail)))

    def read(self, timeout: Optional[float] = None) -> Any:
        """The next JSON line from the subprocess, within ``timeout`` seconds
        (default :data:`ANSWER_TIMEOUT`)."""
        timeout = ANSWER_TIMEOUT if timeout is None else timeout
        deadline = time.monotonic() + timeout
        fd = self._stdout.fileno()
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
                raise self._failed("did not answer within %s s" % timeout)
            chunk = os.read(fd, 65536)
            if not chunk:
                raise self._failed("ended")
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return json.loads(line)

    def ask(self, command: str, timeout: Optional[float] = None) -> Any:
        """Send one command line; its JSON answer."""
        try:
            self._stdin.write(command.encode() + b"\n")
            self._stdin.flush()
        except OSError as exc:
            raise self._failed("cannot be written to (%s)" % exc) from None
        return self.read(timeout)

    def close(self, grace: float = 20.0) -> None:
        _kill(self.proc, grace)
        self._stdout.close()
        self._stderr.close()


class Devices(_Pipe):
    """The device process: ``n_devices`` servers of ``n_sensors`` sensors each."""

    def __init__(self, n_devices: int, n_sensors: int) -> None:
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(
            p for p in (ROOT, os.environ.get("PYTHONPATH")) if p))
        super().__init__([sys.executable, "-c", DEVICE_SOURCE, str(n_devices), str(n_sensors), HERE],
                         "device process", env)
        try:
            self.ports = self.read()
        except BaseException:
            self.close()
            raise

    def update(self, rate: float, seconds: float) -> Dict[str, Any]:
        """Set sensors at ``rate`` updates/s for ``seconds``; the device's report."""
        return self.ask("update %s %s" % (rate, seconds))

    def close(self, grace: float = 20.0) -> None:
        try:
            self._stdin.write(b"quit\n")
            self._stdin.flush()
        except OSError:
            pass
        super().close(grace)


class _Ours:
    """katcp_sync's KATCPClientResourceContainer, in this process."""

    name = "katcp_sync"

    def __init__(self, ports: List[int], n_sensors: int) -> None:
        self._ports = ports
        self._n_sensors = n_sensors
        self._container: Any = None
        self._tally: Any = None
        self._window: Any = None

    def sync(self) -> float:
        from katcp_sync.resource_container import KATCPClientResourceContainer
        self._stop()
        self._container = KATCPClientResourceContainer(dict(
            name="bench", clients={"dev%03d" % j: dict(address=("127.0.0.1", port))
                                   for j, port in enumerate(self._ports)}))
        start = time.perf_counter()
        self._container.start()
        self._container.until_synced(timeout=300)
        return time.perf_counter() - start

    def subscribe(self) -> Dict[str, Any]:
        tally = self._tally = Tally(len(self._ports), self._n_sensors)
        children = self._container.children
        for j in range(len(self._ports)):
            child = children["dev%03d" % j]
            for i in range(self._n_sensors):
                child.set_sensor_listener("s.%03d" % i, tally.listener(j, i), reading=True)
        start = time.perf_counter()
        results = self._container.set_sampling_strategies(".", "event", timeout=60)
        seconds = time.perf_counter() - start
        refused = [name for name, (ok, _info) in results.items() if not ok]
        if refused:
            raise RuntimeError("event strategy refused for %d sensors, e.g. %s"
                               % (len(refused), refused[0]))
        tally.settle(tally.n, 30)
        return {"seconds": seconds, "initial": tally.count}

    def arm(self) -> None:
        self._window = Window(self._tally)

    def finish(self, update: Dict[str, Any], drain: float) -> Dict[str, Any]:
        return self._window.finish(update, drain)

    def _stop(self) -> None:
        if self._container is not None:
            self._container.stop()
            self._container.join(30)
            self._container = None

    def close(self) -> None:
        self._stop()


class _KatcpPython(_Pipe):
    """katcp-python 0.9.3's KATCPClientResourceContainer, in its side environment."""

    name = "katcp 0.9.3"

    def __init__(self, ports: List[int], n_sensors: int) -> None:
        python = _side.katcp_python_env()
        super().__init__([python, "-c", KP_SNIPPET, json.dumps(ports), str(n_sensors)],
                         "katcp-python follower")

    def sync(self) -> float:
        return self.ask("sync")["seconds"]

    def subscribe(self) -> Dict[str, Any]:
        result = self.ask("subscribe")
        if result["refused"]:
            raise RuntimeError("event strategy refused for %d sensors" % result["refused"])
        return result

    def arm(self) -> None:
        self.ask("arm")

    def finish(self, update: Dict[str, Any], drain: float) -> Dict[str, Any]:
        return self.ask("finish %s %s" % (drain, json.dumps(update)))

    def close(self, grace: float = 30.0) -> None:
        try:
            self.ask("quit")
        except (OSError, RuntimeError, ValueError):
            grace = 0.0   # it did not answer: no point waiting for it
        super().close(grace)


class Ladder:
    """The steps one follower climbed, by offered rate, and how the climb ended.

    Each step has the follower's numbers (see :class:`Window`) plus
    ``delivered`` (readings/s), ``achieved`` (what the device offered, /s),
    ``ok`` and ``why`` (what is wrong with it, if anything). ``ended`` says
    what stopped the climb; ``own_limit`` is True when the follower itself
    failed (not the device, the top rung or the time budget), so that its
    best rate is its limit rather than a lower bound.
    """

    def __init__(self) -> None:
        self.steps: Dict[int, Dict[str, Any]] = {}
        self.ended = "top of the ladder"
        self.own_limit = False

    def best(self) -> Optional[Dict[str, Any]]:
        """The step with the highest delivered rate among those that passed."""
        passed = [s for s in self.steps.values() if s["ok"]]
        return max(passed, key=lambda s: s["delivered"]) if passed else None


def _step(follower: Any, devices: Devices, rate: int, window: float, drain: float,
          lag_limit: float) -> Dict[str, Any]:
    """Offer ``rate`` for ``window`` seconds; the follower's numbers, judged."""
    follower.arm()
    update = devices.update(rate, window)
    step = follower.finish(update, drain)
    step["achieved"] = update["n"] / max(1e-9, update["t_end"] - update["t_start"])
    step["delivered"] = step["received"] / max(1e-9, step["seconds"])
    lag = step["lag"]
    if step["lost"] or step["stale"]:
        step["why"] = "lost %d, stale %d" % (step["lost"], step["stale"])
    elif lag is None or lag > lag_limit:
        step["why"] = "never caught up" if lag is None else "fell behind"
    elif step["achieved"] < DEVICE_SHORTFALL * rate:
        step["why"] = "device offered only %s/s" % "{:,.0f}".format(step["achieved"])
    else:
        step["why"] = ""
    step["ok"] = not step["why"] or step["why"].startswith("device")
    return step


def climb(follower: Any, devices: Devices, rates: List[int], window: float, drain: float,
          lag_limit: float, budget: float) -> Ladder:
    """Offer each rate in turn for ``window`` seconds until a step fails (twice)."""
    ladder = Ladder()
    deadline = time.monotonic() + budget
    for rate in rates:
        if time.monotonic() > deadline:
            ladder.ended = "time budget spent before %s/s" % "{:,}".format(rate)
            break
        # A step the follower fails but recovers from (it caught up within the
        # drain, so no backlog is left) gets a second try: one burst of load
        # from elsewhere on the machine should not end its climb.
        for _attempt in range(2):
            step = _step(follower, devices, rate, window, drain, lag_limit)
            if step["ok"] or step["lag"] is None:
                break
        ladder.steps[rate] = step
        if step["why"]:
            ladder.ended = "%s at %s/s" % (step["why"], "{:,}".format(rate))
            ladder.own_limit = not step["ok"]
            break
    print("%s: ladder ended: %s" % (follower.name, ladder.ended), flush=True)
    return ladder


def _cpu_percent(step: Dict[str, Any]) -> float:
    """CPU as % of one core per 1,000 updates/s delivered."""
    return step["cpu"] / step["seconds"] / (step["delivered"] / 1000.0) * 100.0


def _ratio(ours: Any, theirs: Any, lower_is_better: bool, bound: bool = False) -> str:
    if not isinstance(ours, (int, float)) or not isinstance(theirs, (int, float)) \
            or not ours or not theirs:
        return "-"
    return "%s%.2fx" % (">= " if bound else "", theirs / ours if lower_is_better else ours / theirs)


NAMES = ("katcp_sync", "katcp 0.9.3")


def _row(measure: str, values: Dict[str, Any], lower_is_better: bool, bound: bool = False,
         extra: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """A table row: both followers' values (``-`` if missing) and the ratio."""
    ours, theirs = (values.get(n, "-") for n in NAMES)
    row: Dict[str, Any] = {"measure": measure, "katcp_sync": ours, "katcp 0.9.3": theirs,
                           "vs katcp 0.9.3": _ratio(ours, theirs, lower_is_better, bound)}
    row.update(extra or {})
    return row


def _detail(step: Optional[Dict[str, Any]]) -> str:
    """``lost / lag / CPU`` of one step, and what went wrong with it."""
    if step is None:
        return "-"
    lag = "-" if step["lag"] is None else "%.2f s" % step["lag"]
    text = "%d / %s / %.1f%%" % (step["lost"] + step["stale"], lag, _cpu_percent(step))
    return text + (" (%s)" % step["why"] if step["why"] else "")


def _table(n_devices: int, n_sensors: int, sync: Dict[str, List[float]],
           event: Dict[str, Any], ladders: Dict[str, Ladder]) -> List[Dict[str, Any]]:
    best = {n: ladder.best() for n, ladder in ladders.items()}
    ours = ladders.get("katcp_sync")
    rows = [
        _row("sync %d x %d (s, best of %d)" % (n_devices, n_sensors, max(map(len, sync.values()), default=0)),
             {n: min(times) for n, times in sync.items()}, lower_is_better=True),
        _row("event on %s sensors (s)" % "{:,}".format(n_devices * n_sensors),
             {n: e["seconds"] for n, e in event.items()}, lower_is_better=True),
        # A lower bound when katcp_sync's climb was stopped by anything but itself.
        _row("best lossless rate (updates/s)",
             {n: b["delivered"] for n, b in best.items() if b is not None}, lower_is_better=False,
             bound=ours is not None and not ours.own_limit),
    ]
    # CPU compared at the same offered load: the highest rate both passed.
    both = [r for r, step in (ours.steps.items() if ours else ())
            if step["ok"] and all(l.steps.get(r, {}).get("ok") for l in ladders.values())]
    if both and len(ladders) == len(NAMES):
        rate = max(both)
        rows.append(_row("CPU %% of a core per 1k updates/s (at %s/s)" % "{:,}".format(rate),
                         {n: _cpu_percent(l.steps[rate]) for n, l in ladders.items()},
                         lower_is_better=True))
    # What one core would carry: not capped by the device process.
    rows.append(_row("updates per CPU second at the best rate",
                     {n: b["received"] / b["cpu"] for n, b in best.items() if b and b["cpu"]},
                     lower_is_better=False))
    rows.append(_row("ladder ended by", {n: l.ended for n, l in ladders.items()},
                     lower_is_better=False))
    for rate in sorted(set(r for ladder in ladders.values() for r in ladder.steps)):
        steps = {n: l.steps.get(rate) for n, l in ladders.items()}
        rows.append(_row(
            "delivered at %s/s offered (updates/s)" % "{:,}".format(rate),
            {n: step["delivered"] for n, step in steps.items() if step is not None},
            lower_is_better=False,
            extra={"%s lost / lag / CPU per 1k/s" % n: _detail(steps.get(n)) for n in NAMES}))
    return rows


def run(quick: bool) -> List[Dict[str, Any]]:
    """Sync time, best lossless rate and CPU of both containers; one row per measure."""
    import logging
    from bench_soak import raise_fd_limit
    if quick:
        n_devices, n_sensors, repeats = 20, 20, 1
        rates, window, drain, lag_limit, budget = [1000, 5000, 20000], 1.0, 2.0, 0.5, 10.0
    else:
        n_devices, n_sensors, repeats = 200, 100, 3
        rates, window, drain, lag_limit, budget = RATES, 2.0, 5.0, 0.5, 60.0
    raise_fd_limit(4 * n_devices + 256)
    quiet = logging.getLogger("katcp_sync")
    level = quiet.level
    quiet.setLevel(logging.ERROR)   # disconnects at the end of each turn are expected
    sync: Dict[str, List[float]] = {}
    event: Dict[str, Any] = {}
    ladders: Dict[str, Ladder] = {}
    followers: List[Any] = []
    failed: List[Any] = []
    devices = Devices(n_devices, n_sensors)
    try:
        followers.append(_Ours(devices.ports, n_sensors))
        try:
            followers.append(_KatcpPython(devices.ports, n_sensors))
        except _side.Skipped as exc:
            print("katcp 0.9.3: skipped: %s" % exc, flush=True)
        # Sync: the followers alternate (a fresh container each turn), best of repeats.
        for turn in range(repeats):
            for follower in followers[::-1] if turn % 2 else followers:
                if follower in failed:
                    continue
                try:
                    seconds = follower.sync()
                except Exception as exc:  # katcp-python's failure must not fail the bench
                    if isinstance(follower, _Ours):
                        raise
                    print("%s: sync failed: %s" % (follower.name, exc), flush=True)
                    failed.append(follower)
                    continue
                sync.setdefault(follower.name, []).append(seconds)
                print("%s: synced %d devices in %.2f s" % (follower.name, n_devices, seconds),
                      flush=True)
        # The ladders: one follower at a time, the other idle (no strategies) or closed.
        for follower in list(followers):
            if follower in failed:
                continue
            try:
                event[follower.name] = subscribed = follower.subscribe()
                print("%s: event on %d sensors in %.2f s (%d initial readings)"
                      % (follower.name, n_devices * n_sensors, subscribed["seconds"],
                         subscribed["initial"]), flush=True)
                ladders[follower.name] = climb(follower, devices, rates, window, drain,
                                               lag_limit, budget)
            except Exception as exc:
                if isinstance(follower, _Ours):
                    raise
                print("%s: failed: %s" % (follower.name, exc), flush=True)
            finally:
                follower.close()
                followers.remove(follower)
    finally:
        for follower in followers:
            follower.close()
        devices.close()
        quiet.setLevel(level)
    return _table(n_devices, n_sensors, sync, event, ladders)


if __name__ == "__main__":
    sys.path.insert(0, HERE)
    from run import format_table
    print(format_table(run("--quick" in sys.argv)))
