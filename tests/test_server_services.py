"""Service threads: work that lives as long as the server (aiokatcp's service tasks, F63)."""

from __future__ import absolute_import, division, print_function


import threading

import pytest

from katcp_sync import compat
from katcp_sync.sensor import Sensor
from katcp_sync.server import DeviceServer

from server_support import TIMEOUT, ChildTimeout, wait_child


class Poller(DeviceServer):
    """A device whose service thread copies a 'hardware' value into a sensor."""

    VERSION_INFO = ("poller", 1, 0)
    BUILD_INFO = ("poller", 1, 0, "")

    def setup_sensors(self):
        self.reading = Sensor.integer("hw.reading", "Polled value", "", default=0)
        self.add_sensor(self.reading)


def poll(stopping, server, hardware, polled):
    while not stopping.wait(0.001):
        server.reading.set_value(hardware[0])
        polled.set()


def test_service_runs_while_the_server_runs_and_again_after_a_restart():
    server = Poller("127.0.0.1", 0)
    hardware, polled = [7], threading.Event()
    server.add_service_thread(poll, server, hardware, polled, name="hw-poller")
    assert not polled.wait(0.05)                 # not before start()
    server.start()
    try:
        assert polled.wait(TIMEOUT) and [t for t in threading.enumerate()
                                         if t.name == "hw-poller"]
        assert server.reading.value() == 7
    finally:
        server.stop(timeout=TIMEOUT)
    assert server.join(TIMEOUT) is True
    assert not [t for t in threading.enumerate() if t.name == "hw-poller"]
    polled.clear()
    hardware[0] = 8
    server.start()                               # a restart runs it again
    try:
        assert polled.wait(TIMEOUT)
    finally:
        server.stop(timeout=TIMEOUT)
    assert server.reading.value() == 8


def test_service_added_while_running_starts_at_once(make_server):
    server = make_server(Poller)
    polled = threading.Event()
    server.add_service_thread(poll, server, [1], polled)
    assert polled.wait(TIMEOUT)


def test_a_failing_service_stops_the_server_and_join_raises_it(caplog):
    server = Poller("127.0.0.1", 0)
    go = threading.Event()

    def broken(stopping):
        assert go.wait(TIMEOUT)
        raise OSError("hardware unplugged")
    server.add_service_thread(broken, name="broken-service")
    server.start()
    go.set()
    with pytest.raises(OSError, match="hardware unplugged"):
        server.join(TIMEOUT)
    assert not server.running()
    assert "Service thread broken-service failed" in caplog.text
    server.stop(timeout=TIMEOUT)                 # already stopped: nothing to do


def test_a_service_may_stop_the_server_itself():
    server = Poller("127.0.0.1", 0)

    def one_shot(stopping):
        server.stop()                            # returns at once on a service thread
        assert stopping.wait(TIMEOUT)
    server.add_service_thread(one_shot)
    server.start()
    assert server.join(TIMEOUT) is True


CTRL_C_SCRIPT = r"""
import sys
import threading
from katcp_sync import compat
from katcp_sync.server import DeviceServer

def main_thread_in_join():
    frame = sys._current_frames().get(compat.main_thread().ident)
    while frame is not None and frame.f_code.co_name != "_wait_stopped":
        frame = frame.f_back
    return frame is not None

def service(stopping):
    ready = False
    while not stopping.wait(0.01):
        if not ready and main_thread_in_join():
            print("ready")  # the signal must find the main thread in join()
            sys.stdout.flush()
            ready = True
    print("service stopped")
    sys.stdout.flush()

server = DeviceServer("127.0.0.1", 0)
server.add_service_thread(service, name="hw-poller")
server.start()
try:
    server.join()
except KeyboardInterrupt:
    print("interrupted; running=%s" % server.running())
    sys.stdout.flush()
    raise
"""


def test_one_ctrl_c_ends_a_process_blocked_in_join():
    """A server with a service thread, the main thread in join(): a single
    SIGINT stops the server (the service sees ``stopping``) and the process
    ends within a second -- no non-daemon thread keeps the interpreter alive."""
    import os
    import select
    import signal
    import subprocess
    import sys
    import time
    proc = subprocess.Popen([sys.executable, "-c", CTRL_C_SCRIPT], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=dict(os.environ))
    try:
        ready, _, _ = select.select([proc.stdout], [], [], 30.0)
        assert ready and proc.stdout.readline() == b"ready\n", os.read(proc.stderr.fileno(), 4096)
        sent = compat.monotonic()
        proc.send_signal(signal.SIGINT)
        try:
            wait_child(proc, TIMEOUT)
        except ChildTimeout:
            pytest.fail("the process was still alive %.0f s after Ctrl-C" % TIMEOUT)
        elapsed = compat.monotonic() - sent
        out, err = proc.stdout.read().decode(), proc.stderr.read().decode()
    finally:
        if proc.poll() is None:
            proc.kill()
            wait_child(proc, TIMEOUT)
        proc.stdout.close()
        proc.stderr.close()
    assert elapsed < 1.0, elapsed
    assert "service stopped" in out and "interrupted; running=False" in out, out
    assert proc.returncode in (-signal.SIGINT, 130, 1), proc.returncode
    # Cleanly: the KeyboardInterrupt's own traceback, and nothing from any thread.
    assert err.rstrip().endswith("KeyboardInterrupt") and "Exception in thread" not in err, err
