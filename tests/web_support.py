"""Helpers for the web view tests: a device with varied sensors, a running
view, and a bounded reader of Server-Sent Events. No tests here."""

from __future__ import absolute_import, division, print_function


import contextlib
import json
import os
import socket
import subprocess
import sys
import threading

from six.moves.urllib.error import HTTPError
from six.moves.urllib.request import Request, urlopen

from katcp_sync import compat
from katcp_sync.server import DeviceServer
from katcp_sync.sensor import Sensor
from katcp_sync.web import WebView
from katcp_sync.web.model import SensorBoard
from script_support import communicate, script_env

TIMEOUT = 5.0
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class WebDevice(DeviceServer):
    """A device with one sensor of each common type, and ``extra`` float sensors."""

    VERSION_INFO = ("web-test", 1, 0)
    BUILD_INFO = ("web-test", 0, 1, "")

    def __init__(self, *args, **kwargs):
        self._extra = kwargs.pop("extra", 0)
        super(WebDevice, self).__init__(*args, **kwargs)

    def setup_sensors(self):
        self.add_sensor(Sensor.float("cryo.temperature", "Cold head temperature", "K",
                                     [0, 400], default=20.5))
        self.add_sensor(Sensor.integer("fan.speed", "Fan speed", "rpm", [0, 10000],
                                       default=1200))
        self.add_sensor(Sensor.string("mode", "Operating mode", "", default="observing"))
        self.add_sensor(Sensor.discrete("dish.state", "Where the dish is",
                                        "", ["stowed", "slewing", "tracking"],
                                        default="tracking"))
        self.add_sensor(Sensor.boolean("rfe.ok", "Receiver OK", "", default=True))
        for index in range(self._extra):
            self.add_sensor(Sensor.float("extra.%04d" % index, "Extra sensor %d" % index,
                                         "V", [-100, 100], default=0.0))
        for sensor in self.get_sensors():
            sensor.set_value(sensor.value())      # nominal, not unknown


def start_view(addresses, allow_requests=False, frame=0.05, **kwargs):
    """A started (board, view) pair on a free loopback port."""
    board = SensorBoard(addresses, allow_requests=allow_requests, **kwargs)
    view = WebView(board, "127.0.0.1", 0, frame=frame)
    view.start()
    board.start()
    return board, view


def stop_view(board, view):
    view.stop()
    board.stop()
    board.join(TIMEOUT)


def http(view, path, method="GET", body=None, headers=None):
    """(status, headers, body) of one request to the view."""
    request = Request(view.url.rstrip("/") + path, data=body, headers=headers or {})
    request.get_method = lambda: method      # Python 2's Request has no method=
    try:
        response = urlopen(request, timeout=TIMEOUT)
    except HTTPError as error:
        try:
            return error.code, error.headers, error.read()
        finally:
            error.close()
    with contextlib.closing(response):
        return response.getcode(), response.headers, response.read()


class EventReader(object):
    """Reads ``GET /events`` over a raw socket; every read is bounded."""

    def __init__(self, view, rcvbuf=None):
        self.sock = socket.socket()
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(TIMEOUT)
        self.sock.connect(view.address)
        self.sock.sendall(b"GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        self._buf = b""
        head = self._until(b"\r\n\r\n", TIMEOUT)
        self.status_line = head.split(b"\r\n", 1)[0]
        self.headers = head

    def close(self):
        self.sock.close()

    def _until(self, mark, timeout):
        deadline = compat.monotonic() + timeout
        while mark not in self._buf:
            remaining = deadline - compat.monotonic()
            if remaining <= 0:
                raise compat.TimeoutError("no %r within %s s; buffered %r" % (mark, timeout, self._buf[-300:]))
            self.sock.settimeout(remaining)
            try:
                data = self.sock.recv(1 << 16)
            except socket.timeout:
                continue
            if not data:
                raise EOFError("stream closed; buffered %r" % self._buf[-300:])
            self._buf += data
        chunk, self._buf = self._buf.split(mark, 1)
        return chunk

    def event(self, timeout=TIMEOUT):
        """The next event as ``(name, data)``; comments and ``retry:`` are skipped."""
        deadline = compat.monotonic() + timeout
        while True:
            block = self._until(b"\n\n", max(0.0, deadline - compat.monotonic()))
            name, data = None, None
            for line in block.decode("utf-8").split("\n"):
                if line.startswith("event: "):
                    name = line[7:]
                elif line.startswith("data: "):
                    data = json.loads(line[6:])
            if name is not None:
                return name, data

    def wait_for(self, predicate, timeout=TIMEOUT):
        """Events up to and including the first with ``predicate(name, data)`` true."""
        deadline = compat.monotonic() + timeout
        seen = []
        while True:
            name, data = self.event(max(0.0, deadline - compat.monotonic()))
            seen.append((name, data))
            if predicate(name, data):
                return seen


def sensor_ids(snapshot_or_device):
    """``{sensor name: id}`` of a device description (or a snapshot's first device)."""
    device = snapshot_or_device.get("devices", [snapshot_or_device])[0]
    return {s["name"]: s["id"] for s in device["sensors"]}


def row_of(events, sensor_id):
    """The last row for ``sensor_id`` in update events, or None."""
    found = None
    for name, data in events:
        if name == "update":
            for row in data["rows"]:
                if row[0] == sensor_id:
                    found = row
    return found


@contextlib.contextmanager
def katcp_sync_command(*args):
    """``python -m katcp_sync args`` with pipes, killed afterwards if still running."""
    proc = subprocess.Popen([sys.executable, "-m", "katcp_sync"] + list(args), env=script_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        communicate(proc, TIMEOUT)


def read_line(stream, timeout):
    """The next line of a pipe, as text; AssertionError if none within ``timeout``."""
    result = []
    thread = threading.Thread(target=lambda: result.append(stream.readline().decode()),
                              name="read-line")
    thread.start()
    thread.join(timeout)
    assert result, "no output within %s s" % timeout
    return result[0]
