"""Servers for the client tests: aiokatcp in a thread (aio_support), and scripted raw sockets.

No tests here; the client test modules import these helpers.
"""

from __future__ import absolute_import, division, print_function



import random
import socket
import threading
import time
from typing import Any, Callable, List, Optional

import pytest

from katcp_sync import compat
from katcp_sync.client import BlockingClient
from katcp_sync.compat import queue
from katcp_sync.errors import AsyncReply
from katcp_sync.message import Message
from katcp_sync.protocol import ProtocolFlags
from katcp_sync.server import DeviceServer

WAIT = 5.0  # upper bound of every wait in the client tests


@pytest.fixture
def make_client():
    """Factory for started clients that are stopped and joined after the test.

    ``make(port, cls=BlockingClient, wait=True, detect=1.0, **client_kwargs)``:
    reconnects after 20 ms, ``detect`` is the protocol detection timeout.
    """
    clients = []

    def make(port, cls=BlockingClient, wait=True, **kwargs):
        detect = kwargs.pop("detect", 1.0)
        client = cls("127.0.0.1", port, **kwargs)
        client.auto_reconnect_delay = 0.02
        client.protocol_detect_timeout = detect
        clients.append(client)
        client.start()
        if wait:
            assert client.wait_protocol(WAIT)
        return client
    yield make
    for client in clients:
        client.stop()
        client.join(WAIT)


class StandInServer(DeviceServer):
    """katcp_sync's stand-in for :class:`aio_support.AioServer` where aiokatcp
    cannot run (it needs Python 3.8+): the same 5.1-MIB device with the same
    requests, versions and message ids, so the client tests run there too."""

    PROTOCOL_INFO = ProtocolFlags(5, 1, {ProtocolFlags.MULTI_CLIENT, ProtocolFlags.MESSAGE_IDS,
                                         ProtocolFlags.BULK_SET_SENSOR_SAMPLING})
    VERSION_INFO = ("client-test", 1, 0)
    BUILD_INFO = ("client-test", 1, 0, ".0")

    def setup_sensors(self):
        pass

    def request_echo(self, req, msg):
        """Reply with the arguments."""
        return Message.reply("echo", "ok", *msg.arguments)

    def request_slow(self, req, msg):
        """Reply after delay seconds."""
        self.ioloop.call_later(float(msg.arguments[0]), req.reply, "ok")
        raise AsyncReply

    def request_jitter(self, req, msg):
        """Reply with tag after a random short delay (out of order)."""
        self.ioloop.call_later(random.random() * 0.002, req.reply, "ok", msg.arguments[0])
        raise AsyncReply

    def request_listing(self, req, msg):
        """Send count informs, then reply ok count."""
        count = int(msg.arguments[0])
        for i in range(count):
            req.inform("item", i)
        return Message.reply("listing", "ok", count)

    def request_broadcast(self, req, msg):
        """Send #news text to every client, then reply."""
        self.mass_inform(Message.inform("news", msg.arguments[0]))
        return Message.reply("broadcast", "ok")


class StandInServerThread(object):
    """:class:`aio_support.AioServerThread`'s interface over a
    :class:`StandInServer` (which has its own threads)."""

    def __init__(self, port=0, server_class=StandInServer):
        # type: (int, Any) -> None
        self._server_class = server_class
        self.server = None  # type: Any
        self.port = port
        self.start()

    def start(self):
        # type: () -> None
        """(Re)start the server on ``self.port`` (a free one the first time)."""
        self.server = self._server_class("127.0.0.1", self.port)
        self.server.start()
        assert self.server.wait_running(WAIT)
        self.port = self.server.bind_address[1]

    def stop(self):
        # type: () -> None
        """Stop the server (closes client connections)."""
        self.server.stop()
        self.server.join(WAIT)

    def close(self):
        # type: () -> None
        self.stop()


try:
    import aiokatcp  # noqa: F401  (needs Python 3.8+)
except ImportError:
    AioServerThread = StandInServerThread
else:
    from aio_support import AioServer, AioServerThread  # noqa: F401


class ScriptedServer(object):
    """A raw TCP server whose behaviour is a Python function per connection.

    ``script(conn)`` runs in a thread for each accepted connection; ``conn``
    is a :class:`ScriptedConnection`. All lines received by every connection
    are also put in :attr:`received`.
    """

    def __init__(self, script, port=0):
        # type: (Callable[["ScriptedConnection"], None], int) -> None
        self._script = script
        self.received = queue.Queue()  # type: "queue.Queue[bytes]"
        self.connections = []  # type: List[ScriptedConnection]
        self._sock = socket.socket()
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", port))
        self._sock.listen(16)
        self.port = self._sock.getsockname()[1]
        self._threads = []  # type: List[threading.Thread]
        self._closed = False
        self._accepter = threading.Thread(target=self._accept, name="scripted-accept")
        self._accepter.start()

    def _accept(self):
        # type: () -> None
        while True:
            try:
                sock, _ = self._sock.accept()
            except compat.SOCKET_ERRORS:
                return
            if self._closed:
                sock.close()
                return
            conn = ScriptedConnection(sock, self.received)
            self.connections.append(conn)
            thread = threading.Thread(target=self._run, args=(conn,), name="scripted-conn")
            self._threads.append(thread)
            thread.start()

    def _run(self, conn):
        # type: ("ScriptedConnection") -> None
        try:
            self._script(conn)
        except compat.SOCKET_ERRORS + (EOFError,):
            pass
        finally:
            conn.close()

    def close(self):
        # type: () -> None
        """Stop accepting, close every connection and join the threads."""
        self._closed = True
        try:
            # Wake accept() so that its thread ends.
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
        except compat.SOCKET_ERRORS:
            pass
        self._sock.close()
        self._accepter.join(WAIT)
        for conn in list(self.connections):
            conn.close()
        for thread in self._threads:
            thread.join(WAIT)


class ScriptedConnection(object):
    """One accepted socket with line helpers (blocking, bounded by WAIT)."""

    def __init__(self, sock, received):
        # type: (socket.socket, "queue.Queue[bytes]") -> None
        self.sock = sock
        self.sock.settimeout(WAIT)
        self._received = received
        self._buf = b""
        self._lock = threading.Lock()

    def send(self, *lines):
        # type: (*bytes) -> None
        """Send lines (end of line added)."""
        with self._lock:
            self.sock.sendall(b"".join(line + b"\n" for line in lines))

    def send_raw(self, data):
        # type: (bytes) -> None
        """Send bytes as they are."""
        with self._lock:
            self.sock.sendall(data)

    def read_line(self):
        # type: () -> bytes
        """Return the next line received (EOFError when the peer closes)."""
        while b"\n" not in self._buf:
            data = self.sock.recv(65536)
            if not data:
                raise EOFError
            self._buf += data
        line, self._buf = self._buf.split(b"\n", 1)
        self._received.put(line)
        return line

    def pending_bytes(self):
        # type: () -> bytes
        """Bytes received but not yet read as lines, without blocking."""
        import select
        readable, _, _ = select.select([self.sock], [], [], 0)
        waiting = self.sock.recv(65536, socket.MSG_PEEK) if readable else b""
        return self._buf + waiting

    def close(self):
        # type: () -> None
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except compat.SOCKET_ERRORS:
            pass
        self.sock.close()


def wait_for(predicate, timeout=WAIT):
    """Poll ``predicate`` (every millisecond) until true; False after ``timeout``."""
    deadline = compat.monotonic() + timeout
    while not predicate():
        if compat.monotonic() > deadline:
            return False
        time.sleep(0.001)
    return True


def v5_greeting(flags=b"5.1-MI"):
    # type: (bytes) -> List[bytes]
    """The #version-connect lines of a v5 device."""
    return [b"#version-connect katcp-protocol " + flags,
            b"#version-connect katcp-library scripted-1.0 scripted-1.0.0"]


def request_parts(line):
    # type: (bytes) -> Any
    """Split a request line into (name, mid or None, args)."""
    parts = line.split(b" ")
    head, args = parts[0], parts[1:]
    name = head[1:]
    mid = None
    if b"[" in name:
        name, mid = name[:-1].split(b"[")
    return name, mid, args


def reply_line(line, *args, **kwargs):
    # type: (bytes, *bytes, **Any) -> bytes
    """Build a reply (or inform) line answering request ``line``."""
    inform = compat.kwonly_pop(kwargs, 'inform', False)  # type: bool
    compat.kwonly_done('reply_line', kwargs)
    name, mid, _ = request_parts(line)
    head = (b"#" if inform else b"!") + name + (b"[" + mid + b"]" if mid else b"")
    return b" ".join([head] + list(args))


def echo_script(greeting=None, informs=0):
    # type: (Optional[List[bytes]], int) -> Any
    """A script: send ``greeting``, then answer each request ``ok <args>``."""
    def script(conn):
        # type: (ScriptedConnection) -> None
        if greeting:
            conn.send(*greeting)
        while True:
            line = conn.read_line()
            _, _, args = request_parts(line)
            conn.send(*([reply_line(line, b"i%d" % i, inform=True) for i in range(informs)]
                        + [reply_line(line, b"ok", *args)]))
    return script


def first_hang_ignored_script(greeting):
    """Never answers the first ?hang; answers everything else ok."""
    def script(conn):
        conn.send(*greeting)
        hung = False
        while True:
            line = conn.read_line()
            if line.startswith(b"?hang") and not hung:
                hung = True
                continue
            conn.send(reply_line(line, b"ok"))
    return script


class SelectorEchoServer(object):
    """A one-thread ``selectors`` device for many connections: it greets each
    client with ``greeting`` and answers every request ``ok <args>``."""

    def __init__(self, greeting=None):
        # type: (Optional[List[bytes]]) -> None
        from katcp_sync.compat import selectors
        self._greeting = b"".join(line + b"\n" for line in (greeting or v5_greeting()))
        self._selector = selectors.DefaultSelector()
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(1024)
        self._sock.setblocking(False)
        self.port = self._sock.getsockname()[1]
        self._selector.register(self._sock, selectors.EVENT_READ, None)
        self._wake_r, self._wake_w = socket.socketpair()
        self._selector.register(self._wake_r, selectors.EVENT_READ, "wake")
        self._buffers = {}
        self._thread = threading.Thread(target=self._run, name="selector-echo")
        self._thread.start()

    def _run(self):
        # type: () -> None
        from katcp_sync.compat import selectors
        while True:
            for key, _ in self._selector.select():
                if key.data == "wake":
                    return
                if key.data is None:
                    try:
                        conn, _ = self._sock.accept()
                    except compat.SOCKET_ERRORS as exc:
                        if compat.would_block(exc):
                            continue
                        raise
                    conn.sendall(self._greeting)
                    conn.setblocking(False)
                    self._buffers[conn] = b""
                    self._selector.register(conn, selectors.EVENT_READ, "conn")
                    continue
                conn = key.fileobj
                try:
                    data = conn.recv(65536)
                except compat.SOCKET_ERRORS:
                    data = b""
                if not data:
                    self._selector.unregister(conn)
                    conn.close()
                    del self._buffers[conn]
                    continue
                lines = (self._buffers[conn] + data).split(b"\n")
                self._buffers[conn] = lines.pop()
                replies = []
                for line in lines:
                    _, _, args = request_parts(line)
                    replies.append(reply_line(line, b"ok", *args) + b"\n")
                conn.setblocking(True)
                conn.sendall(b"".join(replies))
                conn.setblocking(False)

    def close(self):
        # type: () -> None
        """Stop the thread and close every socket."""
        self._wake_w.send(b"x")
        self._thread.join(WAIT)
        for conn in self._buffers:
            conn.close()
        self._selector.close()
        for sock in (self._sock, self._wake_r, self._wake_w):
            sock.close()


def jitter_from_threads(client, threads, requests):
    # type: (Any, int, int) -> list
    """Make ``requests`` ``?jitter <tag>`` requests from each of ``threads``
    threads at once; return the errors (a reply with another's tag is one)."""
    errors = []

    def worker(n):
        # type: (int) -> None
        try:
            for i in range(requests):
                tag = b"%d-%d" % (n, i)
                reply, _ = client.blocking_request(Message.request("jitter", tag))
                assert reply.arguments == [b"ok", tag], (reply, tag)
        except BaseException as exc:
            errors.append(exc)
    workers = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
    for worker_thread in workers:
        worker_thread.start()
    for worker_thread in workers:
        worker_thread.join(30)
    return errors
