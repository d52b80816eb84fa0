"""Helpers for the device server tests: a raw line client and a demo server.

No tests here; the server test modules import from this one.
"""

from __future__ import absolute_import, division, print_function

import concurrent.futures
import socket
import threading
import time

import pytest

from katcp_sync import compat

from katcp_sync.errors import AsyncReply, FailReply, InvalidReply
from katcp_sync.kattypes import concurrent_reply, request_timeout_hint
from katcp_sync.message import Message, parse
from katcp_sync.sensor import Sensor
from katcp_sync.server import DeviceServer

TIMEOUT = 5.0


def wait_for(cond, predicate, timeout):
    """``cond.wait_for(predicate, timeout)`` (3.2+); ``cond`` held by the caller."""
    deadline = compat.monotonic() + timeout
    result = predicate()
    while not result:
        remaining = deadline - compat.monotonic()
        if remaining <= 0:
            break
        cond.wait(remaining)
        result = predicate()
    return result


def socket_closed(sock):
    """True once ``sock`` was closed (2.7's closed socket raises EBADF from fileno())."""
    try:
        return sock.fileno() == -1
    except compat.SOCKET_ERRORS:
        return True


class ChildTimeout(AssertionError):
    """A child process did not end in time (subprocess.TimeoutExpired is 3.3+)."""


def wait_child(proc, timeout):
    """``proc.wait(timeout)`` on Python 2.7 too: the return code, or
    :class:`ChildTimeout` (the child is left running)."""
    deadline = compat.monotonic() + timeout
    while proc.poll() is None:
        if compat.monotonic() > deadline:
            raise ChildTimeout("process %d still running after %s s" % (proc.pid, timeout))
        time.sleep(0.005)
    return proc.returncode


def communicate_child(proc, timeout, data=None):
    """``proc.communicate(data, timeout)`` on Python 2.7 too: ``(out, err)``;
    after ``timeout`` seconds the child is killed and :class:`ChildTimeout` raised."""
    expired = []

    def kill():
        expired.append(True)
        try:
            proc.kill()
        except compat.SOCKET_ERRORS:  # already gone
            pass

    timer = threading.Timer(timeout, kill)
    timer.daemon = True
    timer.start()
    try:
        out, err = proc.communicate(data)
    finally:
        timer.cancel()
        timer.join()
    if expired:
        raise ChildTimeout("process %d killed after %s s" % (proc.pid, timeout))
    return out, err


class LineClient(object):
    """A blocking raw-socket KATCP client for tests (every read is bounded)."""

    def __init__(self, address, timeout=TIMEOUT):
        host, port = address[:2]
        self.sock = socket.create_connection((host if host not in ("", "0.0.0.0") else "127.0.0.1", port),
                                             timeout)
        self.sock.settimeout(timeout)
        self.timeout = timeout
        self._buf = b""
        self.address = "%s:%d" % self.sock.getsockname()[:2]

    def close(self):
        self.sock.close()

    def send(self, *lines):
        self.sock.sendall(b"".join(
            compat.wire_bytes(line) + b"\n" for line in lines))

    def read_line(self, timeout=None):
        """Next non-empty line (bytes, no end of line); raises on timeout/EOF."""
        deadline = compat.monotonic() + (timeout if timeout is not None else self.timeout)
        while True:
            cut = self._buf.find(b"\n")
            if cut >= 0:
                line, self._buf = self._buf[:cut], self._buf[cut + 1:]
                if line.strip():
                    return line
                continue
            remaining = deadline - compat.monotonic()
            if remaining <= 0:
                raise compat.TimeoutError("no line within the timeout; buffered %r" % self._buf[:200])
            self.sock.settimeout(remaining)
            try:
                data = self.sock.recv(65536)
            except socket.timeout:  # not a TimeoutError before Python 3.10
                raise compat.chained(compat.TimeoutError("no line within the timeout; buffered %r"
                                   % self._buf[:200]), None)
            if not data:
                raise EOFError("connection closed; buffered %r" % self._buf[:200])
            self._buf += data

    def read_message(self, timeout=None):
        return parse(self.read_line(timeout))

    def read_until(self, predicate, timeout=None):
        """Messages up to and including the first one matching ``predicate``."""
        deadline = compat.monotonic() + (timeout if timeout is not None else self.timeout)
        messages = []
        while True:
            msg = self.read_message(max(0.0, deadline - compat.monotonic()))
            messages.append(msg)
            if predicate(msg):
                return messages

    def request(self, line, timeout=None):
        """Send a request line; return (informs of that name, reply)."""
        name = parse(compat.wire_bytes(line)).name
        self.send(line)
        messages = self.read_until(
            lambda m: m.mtype == Message.REPLY and m.name == name, timeout)
        informs = [m for m in messages if m.mtype == Message.INFORM and m.name == name]
        return informs, messages[-1]

    def read_connect_informs(self, count=3):
        return [self.read_message() for _ in range(count)]

    def read_all_until_closed(self, timeout=None):
        """Every message until the server closes the connection."""
        messages = []
        while True:
            try:
                messages.append(self.read_message(timeout))
            except EOFError:
                return messages

    def no_message(self, wait=0.2):
        """True if nothing arrives within ``wait`` seconds."""
        try:
            line = self.read_line(wait)
        except compat.TimeoutError:
            return True
        self._buf = line + b"\n" + self._buf
        return False


def record_read_next(server):
    """The list of clients a worker of ``server`` goes on to read ahead for
    (``Dispatcher._read_next``, the fast path), from now on."""
    dispatcher = server.dispatcher
    read_next = dispatcher._read_next
    taken = []
    dispatcher._read_next = lambda c: taken.append(c) or read_next(c)
    return taken


def args(msg):
    """A message's arguments as str."""
    return [compat.native_str(a) for a in msg.arguments]


class DemoServer(DeviceServer):
    """A server exercising the handler rules."""

    VERSION_INFO = ("demo-api", 2, 3)
    BUILD_INFO = ("demo-build", 4, 5, "rc1")

    def __init__(self, *a, **kw):
        self.gate = threading.Event()
        self.entered = threading.Event()
        self.later = []
        self.calls = []
        self.errors = []
        self.informs_seen = []
        self.replies_seen = []
        self.handler_threads = []
        super(DemoServer, self).__init__(*a, **kw)

    def setup_sensors(self):
        self.int_sensor = Sensor.integer("demo.int", "An integer", "count", [0, 100])
        self.float_sensor = Sensor.float("demo.float", "A float", "V", [-1.0, 1.0])
        self.str_sensor = Sensor.string("demo.str", "A string", "")
        self.discrete_sensor = Sensor.discrete("other.discrete", "A discrete", "",
                                               ["on", "off"])
        for sensor in (self.int_sensor, self.float_sensor, self.str_sensor,
                       self.discrete_sensor):
            self.add_sensor(sensor)

    def request_echo(self, req, msg):
        """Echo the arguments, with one inform per argument."""
        self.handler_threads.append(threading.current_thread().name)
        for arg in msg.arguments:
            req.inform(arg)
        return req.make_reply("ok", *msg.arguments)

    def request_block(self, req, msg):
        """Block until the test opens the gate."""
        self.entered.set()
        if not self.gate.wait(TIMEOUT):
            raise FailReply("gate never opened")
        return req.make_reply("ok", "unblocked")

    def request_later(self, req, msg):
        """Reply later from the test thread."""
        self.later.append(req)
        raise AsyncReply()

    def request_future(self, req, msg):
        """Reply when a future completes."""
        future = concurrent.futures.Future()
        self.later.append((req, future))
        return future

    @concurrent_reply
    def request_concurrent_future(self, req, msg):
        """Reply when a future completes, without holding the client's turn."""
        future = concurrent.futures.Future()
        self.later.append((req, future))
        return future

    def request_fail(self, req, msg):
        """Fail on purpose."""
        raise FailReply("it failed")

    def request_invalid(self, req, msg):
        """Be invalid on purpose."""
        raise InvalidReply("bad args")

    def request_crash(self, req, msg):
        """Raise an unexpected exception."""
        raise ZeroDivisionError("crash on purpose")

    def request_twice(self, req, msg):
        """Reply, then try to reply and inform again."""
        req.reply("ok")
        for attempt in (lambda: req.reply("ok"), lambda: req.inform("x")):
            try:
                attempt()
            except RuntimeError as exc:
                self.errors.append(exc)

    @request_timeout_hint(12.5)
    def request_slow_hinted(self, req, msg):
        """A request with a timeout hint."""
        return req.make_reply("ok")

    def inform_hello(self, conn, msg):
        """Record an inform from a client."""
        self.informs_seen.append((conn, msg))

    def reply_thing(self, conn, msg):
        """Record a reply from a client."""
        self.replies_seen.append((conn, msg))


@pytest.fixture
def make_server():
    """Factory of started servers (class, **kwargs), all stopped afterwards."""
    servers = []

    def make(cls=DemoServer, **kwargs):
        server = cls("127.0.0.1", 0, **kwargs)
        server.start()
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.gate.set() if hasattr(server, "gate") else None
        server.stop(timeout=TIMEOUT)


@pytest.fixture
def server(make_server):
    return make_server()


@pytest.fixture
def connect():
    """Factory of LineClients (closed afterwards); reads the connect informs."""
    clients = []

    def make(server, skip_connect=True):
        client = LineClient(server.bind_address)
        clients.append(client)
        if skip_connect:
            informs = client.read_connect_informs(
                3 if server.PROTOCOL_INFO.major >= 5 else 2)
            client.connect_informs = informs
        return client

    yield make
    for client in clients:
        client.close()
