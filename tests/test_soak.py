"""Load: many clients, many sensors, many requests; nothing lost, nothing leaked.

The scenarios live in ``bench/bench_soak.py`` (one implementation: the
bench runs them bigger and prints rates). Here they are sized to finish in
well under 90 s on 2 cores; the big ones are marked ``slow``.

* fan-out: 1000 raw-socket clients with event sampling on 1000 sensors,
  ~1 kHz of updates in total for a bounded soak; every client receives
  every update of its sensors, in order (spec 7.1: ``event`` reports every
  change);
* memory: 200k mixed requests (built-in, worker pool, failing, unknown,
  sampling, malformed lines) over fresh connections, after a warm-up: the
  memory allocated by katcp_sync (tracemalloc) stays flat;
* descriptors and threads: connection churn, abrupt resets and client
  start/stop cycles leave ``/proc/self/fd`` and ``threading.enumerate()``
  as they were.
"""

from __future__ import absolute_import, division, print_function


import gc
import logging
import os
import socket
import struct
import sys
import threading
import types

import pytest

try:
    import tracemalloc
except ImportError:  # Python 2
    tracemalloc = None

from katcp_sync.client import BlockingClient
from katcp_sync.message import Message

TIMEOUT = 10.0
BENCH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                     "bench", "bench_soak.py")


def _load_bench():
    module = types.ModuleType("bench_soak")
    module.__file__ = BENCH
    sys.modules["bench_soak"] = module   # (dataclasses and pickling look it up)
    with open(BENCH, "rb") as source:
        exec(compile(source.read(), BENCH, "exec"), module.__dict__)
    return module


soak = _load_bench()


@pytest.fixture(autouse=True)
def quiet_bad_line_warnings():
    """The request mix has thousands of malformed lines, each logged as a warning."""
    logger = logging.getLogger("katcp_sync")
    level = logger.level
    logger.setLevel(logging.ERROR)
    yield
    logger.setLevel(level)


def open_fds():
    return len(os.listdir("/proc/self/fd"))


def our_threads():
    return {t for t in threading.enumerate() if t.name.startswith("katcp")}


def check_fanout(row):
    assert row["lost"] == 0, "updates never delivered: %s" % row
    assert row["disorder"] == 0, "updates out of order or duplicated: %s" % row
    assert row["received"] == row["expected"], row


# -- fan-out --------------------------------------------------------------------------------


def test_fanout_smoke():
    """100 clients x 10 sensors each, 1 kHz for 1 s (runs with the fast suite)."""
    with soak.soak_server(100) as server:
        row = soak.fanout(server, clients=100, per_client=10, rate=1000.0, duration=1.0)
    check_fanout(row)
    assert row["expected"] >= 5000


@pytest.mark.slow
def test_fanout_1000_clients_1000_sensors_1khz():
    """1000 clients, each with event sampling on 10 of 1000 sensors (10,000
    strategies, every sensor watched by 10 clients), 1 kHz of updates for 8 s:
    ~80,000 #sensor-status informs, none lost, none out of order."""
    fds = open_fds()
    with soak.soak_server(1000) as server:
        row = soak.fanout(server, clients=1000, per_client=10, rate=1000.0, duration=8.0)
        assert row["fds_loaded"] >= fds + 2000   # both ends of 1000 connections
    check_fanout(row)
    assert row["expected"] >= 50000
    assert open_fds() == fds
    assert not our_threads()


# -- memory ---------------------------------------------------------------------------------


def katcp_sync_bytes(snapshot):
    return sum(stat.size for stat in snapshot.statistics("filename"))


@pytest.mark.slow
@pytest.mark.skipif(tracemalloc is None, reason="tracemalloc is Python 3.4+")
def test_memory_stays_flat_over_200k_requests():
    """200k requests after a 20k warm-up; katcp_sync's heap grows < 256 kB."""
    filters = [tracemalloc.Filter(True, "*katcp_sync*")]
    tracemalloc.start(1)
    try:
        with soak.soak_server(100) as server:
            soak.requests(server, 20000)                 # warm-up: caches, pools
            gc.collect()
            first = tracemalloc.take_snapshot().filter_traces(filters)
            for _ in range(4):                            # fresh connections each time
                row = soak.requests(server, 50000, connections=4)
                assert row["ops"] == 50000
            gc.collect()
            second = tracemalloc.take_snapshot().filter_traces(filters)
            growth = katcp_sync_bytes(second) - katcp_sync_bytes(first)
            top = second.compare_to(first, "lineno")[:8]
            assert growth < 256 * 1024, "katcp_sync grew by %d bytes:\n%s" % (
                growth, "\n".join(str(stat) for stat in top))
    finally:
        tracemalloc.stop()


# -- descriptors and threads ---------------------------------------------------------------


def test_no_fd_or_thread_leak_over_connection_churn():
    """300 connections (a third reset abruptly, with sampling and requests in
    flight) and 10 client start/stop cycles: every fd and thread is returned."""
    fds = open_fds()
    threads = our_threads()
    with soak.soak_server(50) as server:
        for i in range(300):
            sock = socket.create_connection(server.bind_address, TIMEOUT)
            sock.sendall(b"?sensor-sampling s.%05d,s.%05d event\n?echo x\n?watchdog\n"
                         % (i % 50, (i + 1) % 50))
            if i % 3 == 0:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            elif i % 3 == 1:
                sock.recv(100)
            sock.close()
        for _ in range(10):
            client = BlockingClient(*server.bind_address)
            client.start()
            assert client.wait_protocol(TIMEOUT)
            assert client.blocking_request(Message.request("watchdog"))[0].reply_ok()
            client.stop()
            client.join(TIMEOUT)
        # Every connection is gone from the server once a fresh one sees only itself.
        probe = BlockingClient(*server.bind_address)
        probe.start()
        try:
            assert probe.wait_protocol(TIMEOUT)
            assert server.wait_client_count(1, TIMEOUT)
            for sensor in server.soak_sensors:
                assert not sensor.observers(), "a strategy survived its client"
        finally:
            probe.stop()
            probe.join(TIMEOUT)
    assert open_fds() == fds
    assert our_threads() == threads
