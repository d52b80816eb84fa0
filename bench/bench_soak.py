"""Soak: a DeviceServer under many clients, many sensors and many requests.

Two scenarios, both against a real server on 127.0.0.1 port 0 in this
process, with raw-socket clients read by one selector loop (so the numbers
are the server's, not a client library's):

* ``fanout``: ``clients`` connections, each with event sampling on
  ``per_client`` of ``sensors`` sensors (one bulk ``?sensor-sampling``
  each); a thread updates the sensors round-robin at ``rate`` Hz in total
  for ``duration`` seconds. Every client must receive every update of its
  sensors, in order: ``lost`` counts the ones that never arrived.
* ``requests``: ``total`` requests pipelined over a few connections in
  windows, a mix of built-in, user (worker pool), failing, unknown and
  sampling requests plus malformed lines. Every request must be answered.

Each row also gives the process's resident memory and open file
descriptors before and after, and the threads left once the server has
stopped. ``tests/test_soak.py`` runs the same scenarios, smaller.
"""

from __future__ import absolute_import, division, print_function

from katcp_sync import compat

import contextlib
import logging
import os
from katcp_sync.compat import selectors
import socket
import threading
import time
from typing import Any, Callable, Dict, Iterator, List, Optional

from katcp_sync.sensor import Sensor
from katcp_sync.server import DeviceServer

TIMEOUT = 30.0


class SoakServer(DeviceServer):
    """``n_sensors`` integer sensors ``s.00000``... and a user request ``?echo``."""

    VERSION_INFO = ("soak-api", 1, 0)
    BUILD_INFO = ("soak-build", 1, 0, "")

    def __init__(self, *args, **kwargs):
        # type: (*Any, **Any) -> None
        n_sensors = compat.kwonly_pop(kwargs, 'n_sensors', 1000)  # type: int
        self.n_sensors = n_sensors
        self.clients_changed = compat.Condition()
        super(SoakServer, self).__init__(*args, **kwargs)

    def on_client_connect(self, client_conn):
        # type: (Any) -> None
        with self.clients_changed:
            self.clients_changed.notify_all()

    def on_client_disconnect(self, client_conn, msg, connection_valid):
        # type: (Any, str, bool) -> None
        with self.clients_changed:
            self.clients_changed.notify_all()

    def wait_client_count(self, count, timeout=TIMEOUT):
        # type: (int, float) -> bool
        """Wait until exactly ``count`` clients are connected; True if they are."""
        with self.clients_changed:
            return self.clients_changed.wait_for(
                lambda: len(self.get_clients()) == count, timeout)

    def setup_sensors(self):
        # type: () -> None
        self.soak_sensors = [Sensor.integer(sensor_name(i), "Soak sensor.", "", [0, 2 ** 31])
                             for i in range(self.n_sensors)]
        for sensor in self.soak_sensors:
            self.add_sensor(sensor)

    def request_echo(self, req, msg):
        # type: (Any, Any) -> Any
        """Echo the arguments (a user handler, on the worker pool)."""
        return req.make_reply("ok", *msg.arguments)


def sensor_name(index):
    # type: (int) -> str
    return "s.%05d" % index


def resources():
    # type: () -> Dict[str, int]
    """Resident memory (kB), open file descriptors and threads of this process."""
    rss = 0
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
    return {"rss_kb": rss, "fds": len(os.listdir("/proc/self/fd")),
            "threads": threading.active_count()}


def raise_fd_limit(needed):
    # type: (int) -> None
    """Raise the soft RLIMIT_NOFILE towards the hard one if ``needed`` fds may not fit."""
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


@contextlib.contextmanager
def soak_server(n_sensors=1000, **kwargs):
    # type: (int, **Any) -> Iterator[SoakServer]
    """A started SoakServer, stopped (and joined) on exit."""
    server = SoakServer("127.0.0.1", 0, n_sensors=n_sensors, **kwargs)
    server.start()
    try:
        yield server
    finally:
        server.stop(TIMEOUT)
        if not server.join(TIMEOUT):
            raise RuntimeError("soak server did not stop")


class Swarm(object):
    """Many raw client sockets, read by one selector loop on the calling thread.

    Args:
        address: the server.
        count: how many connections.
        on_line: ``on_line(index, line)`` for every complete line received.
    """

    def __init__(self, address, count, on_line):
        # type: (Any, int, Callable[[int, bytes], None]) -> None
        raise_fd_limit(4 * count + 256)
        self.on_line = on_line
        self.selector = selectors.DefaultSelector()
        self.socks = []  # type: List[socket.socket]
        self.buffers = []  # type: List[bytes]
        try:
            for index in range(count):
                sock = socket.create_connection(address, TIMEOUT)
                sock.setblocking(False)
                self.selector.register(sock, selectors.EVENT_READ, index)
                self.socks.append(sock)
                self.buffers.append(b"")
        except BaseException:
            self.close()
            raise

    def send(self, index, data):
        # type: (int, bytes) -> None
        """Send all of ``data`` on one connection (reading meanwhile, so it cannot jam)."""
        sock = self.socks[index]
        view = memoryview(data)
        deadline = compat.monotonic() + TIMEOUT
        while view:
            try:
                view = view[sock.send(view):]
            except BlockingIOError:
                if compat.monotonic() > deadline:
                    raise TimeoutError("could not send to client %d" % index)
                self.poll(0.001)

    def poll(self, timeout):
        # type: (float) -> None
        """Read whatever is ready within ``timeout`` seconds and dispatch the lines."""
        for key, _ in self.selector.select(timeout):
            index = key.data
            try:
                data = key.fileobj.recv(1 << 18)
            except BlockingIOError:
                continue
            if not data:
                raise ConnectionError("server closed client %d" % index)
            buf = self.buffers[index] + data
            cut = buf.rfind(b"\n")
            if cut < 0:
                self.buffers[index] = buf
                continue
            self.buffers[index] = buf[cut + 1:]
            on_line = self.on_line
            for line in buf[:cut].split(b"\n"):
                on_line(index, line)

    def pump_until(self, done, timeout=TIMEOUT):
        # type: (Callable[[], bool], float) -> None
        """Poll until ``done()``; raise TimeoutError after ``timeout`` seconds."""
        deadline = compat.monotonic() + timeout
        while not done():
            if compat.monotonic() > deadline:
                raise TimeoutError("swarm: condition not reached within %s s" % timeout)
            self.poll(0.05)

    def close(self):
        # type: () -> None
        self.selector.close()
        for sock in self.socks:
            sock.close()


# -- fan-out: sensors to many clients ------------------------------------------------------


def fanout(server, clients, per_client, rate,
           duration):
    # type: (SoakServer, int, int, float, float) -> Dict[str, Any]
    """Event sampling fan-out; see the module docstring. Returns the metrics row."""
    n_sensors = server.n_sensors
    subscriptions = [[(c * per_client + k) % n_sensors for k in range(per_client)]
                     for c in range(clients)]
    # received[c][sensor] -> last value seen; lost/out-of-order updates are counted.
    last_seen = [dict() for _ in range(clients)]  # type: List[Dict[bytes, int]]
    counts = {"informs": 0, "replies": 0, "disorder": 0}

    def on_line(index, line):
        # type: (int, bytes) -> None
        if line.startswith(b"#sensor-status"):
            _, _, _, name, _, value = line.split(b" ")
            seen = last_seen[index]
            value = int(value)
            if value != seen.get(name, -1) + 1:
                counts["disorder"] += 1
            seen[name] = value
            counts["informs"] += 1
        elif line.startswith(b"!"):
            counts["replies"] += 1

    before = resources()
    swarm = Swarm(server.bind_address, clients, on_line)
    attached = resources()   # clients connected, no strategy yet
    try:
        for index, subscribed in enumerate(subscriptions):
            names = ",".join(sensor_name(i) for i in subscribed)
            swarm.send(index, b"?sensor-sampling %s event\n" % names.encode())
        # Each strategy costs an initial #sensor-status: allow for a million.
        setup_timeout = TIMEOUT + clients * per_client / 5000.0
        swarm.pump_until(lambda: counts["replies"] == clients, setup_timeout)
        connected = resources()
        counts["informs"] = 0
        values = [0] * n_sensors
        stop = threading.Event()
        updates = [0]

        def update():
            # type: () -> None
            start = compat.monotonic()
            sensors = server.soak_sensors
            n = 0
            while not stop.is_set():
                due = start + n / rate
                now = compat.monotonic()
                if due > now:
                    stop.wait(due - now)
                    continue
                i = n % n_sensors
                values[i] += 1
                sensors[i].set_value(values[i])
                n += 1
            updates[0] = n

        updater = threading.Thread(target=update, name="soak-updater")
        started = compat.monotonic()
        updater.start()
        try:
            swarm.pump_until(lambda: compat.monotonic() - started >= duration, duration + TIMEOUT)
        finally:
            stop.set()
            updater.join(TIMEOUT)
        elapsed = compat.monotonic() - started
        expected = sum(values[i] for subscribed in subscriptions for i in subscribed)
        # Drain: a watchdog behind everything on every connection.
        counts["replies"] = 0
        for index in range(clients):
            swarm.send(index, b"?watchdog\n")
        swarm.pump_until(lambda: counts["replies"] == clients, setup_timeout)
        lost = sum(max(0, values[i] - last_seen[c].get(sensor_name(i).encode(), 0))
                   for c, subscribed in enumerate(subscriptions) for i in subscribed)
    finally:
        swarm.close()
    return {
        "scenario": "fanout",
        "clients": clients,
        "sensors": n_sensors,
        "strategies": clients * per_client,
        "seconds": elapsed,
        "ops": updates[0],
        "ops/s": updates[0] / elapsed,
        "informs/s": counts["informs"] / elapsed,
        "expected": expected,
        "received": counts["informs"],
        "lost": lost,
        "disorder": counts["disorder"],
        "rss_MB_before": before["rss_kb"] / 1024.0,
        "rss_MB_loaded": connected["rss_kb"] / 1024.0,
        # What the strategies alone cost: connections and their buffers are
        # already in ``attached``.
        "B/strategy": (connected["rss_kb"] - attached["rss_kb"]) * 1024.0 / (clients * per_client),
        "fds_before": before["fds"],
        "fds_loaded": connected["fds"],
    }


# -- requests ----------------------------------------------------------------------------

#: One cycle of the request mix; ``%d`` is the message id. ``None`` entries
#: are malformed lines: a ``#log error``, no reply.
REQUEST_MIX = [
    b"?watchdog[%d]",
    b"?echo[%d] soak",
    b"?sensor-value[%d] s.00001",
    b"?sensor-sampling[%d] s.00002 event",
    b"?sensor-sampling[%d] s.00002 none",
    b"?no-such-request[%d]",
    b"?sensor-sampling[%d] s.00003 bogus",
    b"?sensor-list[%d] s.00004",
    b"?watchdog",
    None,
]
MALFORMED = b"?watchdog[0] malformed"


def request_windows(total, connections, window):
    # type: (int, int, int) -> List[List[bytes]]
    """The request lines of each connection, ``total`` requests in all."""
    per = [[] for _ in range(connections)]
    mid = 0
    i = 0
    while mid < total:
        template = REQUEST_MIX[i % len(REQUEST_MIX)]
        i += 1
        if template is None:
            per[mid % connections].append(MALFORMED)
            continue
        mid += 1
        line = template % mid if b"%d" in template else template
        per[mid % connections].append(line)
    return per


def requests(server, total, connections=4, window=500,
             on_progress=None):
    # type: (SoakServer, int, int, int, Optional[Callable[[int], None]]) -> Dict[str, Any]
    """Pipeline ``total`` requests in windows; every one must be answered."""
    replies = [0] * connections
    logs = [0]

    def on_line(index, line):
        # type: (int, bytes) -> None
        first = line[:1]
        if first == b"!":
            replies[index] += 1
        elif line.startswith(b"#log error"):
            logs[0] += 1

    lines = request_windows(total, connections, window)
    before = resources()
    swarm = Swarm(server.bind_address, connections, on_line)
    started = compat.monotonic()
    sent_replies = [0] * connections
    done = 0
    try:
        offsets = [0] * connections
        while any(offsets[c] < len(lines[c]) for c in range(connections)):
            for c in range(connections):
                chunk = lines[c][offsets[c]:offsets[c] + window]
                offsets[c] += len(chunk)
                sent_replies[c] += sum(1 for line in chunk if line is not MALFORMED)
                if chunk:
                    swarm.send(c, b"\n".join(chunk) + b"\n")
            swarm.pump_until(lambda: replies == sent_replies)
            done = sum(replies)
            if on_progress is not None:
                on_progress(done)
        elapsed = compat.monotonic() - started
        loaded = after = resources()
    finally:
        swarm.close()
    return {
        "scenario": "requests",
        "clients": connections,
        "sensors": server.n_sensors,
        "seconds": elapsed,
        "ops": done,
        "ops/s": done / elapsed,
        "log_errors": logs[0],
        "rss_MB_before": before["rss_kb"] / 1024.0,
        "rss_MB_loaded": after["rss_kb"] / 1024.0,
        "fds_before": before["fds"],
        "fds_loaded": loaded["fds"],
    }


# -- bench/run.py plug-in --------------------------------------------------------------------


def run(quick):
    # type: (bool) -> List[Dict[str, Any]]
    """The soak scenarios; quick: a few seconds in all."""
    rows = []
    start = resources()
    # A bad line is logged per occurrence; the request mix has thousands.
    quiet = logging.getLogger("katcp_sync")
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    if quick:
        plans = [("fanout", dict(clients=100, per_client=10, rate=1000.0, duration=1.0),
                  100),
                 ("requests", dict(total=20000), 100)]
    else:
        # Heaviest last: 1,000,000 strategies take minutes to set up and tear down.
        plans = [("requests", dict(total=1000000, connections=8), 1000),
                 ("fanout", dict(clients=1000, per_client=10, rate=1000.0, duration=10.0),
                  1000),
                 ("fanout", dict(clients=1000, per_client=100, rate=1000.0, duration=10.0),
                  1000),
                 ("fanout", dict(clients=1000, per_client=1000, rate=1000.0, duration=10.0),
                  1000)]
    try:
        for kind, params, n_sensors in plans:
            try:
                with soak_server(n_sensors) as server:
                    if kind == "fanout":
                        row = fanout(server, **params)
                    else:
                        row = requests(server, **params)
            except (OSError, RuntimeError) as exc:   # TimeoutError is an OSError
                print("%s %s: skipped: %s" % (kind, params, exc), flush=True)
                continue
            end = resources()
            row["rss_MB_after_stop"] = end["rss_kb"] / 1024.0
            row["fds_after_stop"] = end["fds"]
            row["threads_after_stop"] = end["threads"]
            rows.append(row)
            print("%s done: %.0f ops/s" % (kind, row["ops/s"]), flush=True)
    finally:
        quiet.setLevel(level)
    print("process at start: rss %.1f MB, %d fds, %d threads"
          % (start["rss_kb"] / 1024.0, start["fds"], start["threads"]))
    return rows
