"""Servers for the client tests: aiokatcp in a thread, and scripted raw sockets.

No tests here; the client test modules import these helpers.
"""

import asyncio
import queue
import random
import socket
import threading
from typing import Callable, List, Optional

import pytest

from katcp_sync.client import BlockingClient
from katcp_sync.message import Message
from optional import optional_import, skip_without

aiokatcp, needs_aiokatcp = optional_import("aiokatcp", "the aiokatcp device in client tests")

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


class AioServer(aiokatcp.DeviceServer if aiokatcp else object):  # type: ignore[misc]
    """An aiokatcp device (5.1-MIB) with a few requests for client tests."""

    VERSION = "client-test-1.0"
    BUILD_STATE = "client-test-1.0.0"

    async def request_echo(self, ctx, *args: bytes) -> tuple:
        """Reply with the arguments."""
        return tuple(args)

    async def request_slow(self, ctx, delay: float) -> None:
        """Reply after delay seconds."""
        await asyncio.sleep(delay)

    async def request_jitter(self, ctx, tag: bytes) -> bytes:
        """Reply with tag after a random short delay (out of order)."""
        await asyncio.sleep(random.random() * 0.002)
        return tag

    async def request_listing(self, ctx, count: int) -> None:
        """Send count informs, then reply ok count."""
        ctx.informs([(b"item", i) for i in range(count)])

    async def request_broadcast(self, ctx, text: str) -> None:
        """Send #news text to every client, then reply."""
        self.mass_inform("news", text)


class AioServerThread:
    """Runs an :class:`AioServer` on an asyncio loop in a helper thread."""

    def __init__(self, port: int = 0, server_class=AioServer) -> None:
        skip_without(aiokatcp, "aiokatcp", "the aiokatcp device in client tests")
        self._server_class = server_class
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="asyncio_client_test")
        self._thread.start()
        self.server = None
        self.port = port
        self.start()

    def _call(self, coro_fn):
        return asyncio.run_coroutine_threadsafe(coro_fn(), self._loop).result(WAIT)

    def start(self) -> None:
        """(Re)start the server on ``self.port`` (a free one the first time)."""
        async def start():
            self.server = self._server_class("127.0.0.1", self.port)
            await self.server.start()
            self.port = self.server.sockets[0].getsockname()[1]
        self._call(start)

    def stop(self) -> None:
        """Stop the server (closes client connections)."""
        async def stop():
            await self.server.stop()
        self._call(stop)

    def close(self) -> None:
        """Stop the server and its thread."""
        try:
            self.stop()
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(WAIT)
            self._loop.close()


class ScriptedServer:
    """A raw TCP server whose behaviour is a Python function per connection.

    ``script(conn)`` runs in a thread for each accepted connection; ``conn``
    is a :class:`ScriptedConnection`. All lines received by every connection
    are also put in :attr:`received`.
    """

    def __init__(self, script: Callable[["ScriptedConnection"], None], port: int = 0) -> None:
        self._script = script
        self.received: "queue.Queue[bytes]" = queue.Queue()
        self.connections: List[ScriptedConnection] = []
        self._sock = socket.socket()
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", port))
        self._sock.listen(16)
        self.port = self._sock.getsockname()[1]
        self._threads: List[threading.Thread] = []
        self._closed = False
        self._accepter = threading.Thread(target=self._accept, name="scripted-accept")
        self._accepter.start()

    def _accept(self) -> None:
        while True:
            try:
                sock, _ = self._sock.accept()
            except OSError:
                return
            if self._closed:
                sock.close()
                return
            conn = ScriptedConnection(sock, self.received)
            self.connections.append(conn)
            thread = threading.Thread(target=self._run, args=(conn,), name="scripted-conn")
            self._threads.append(thread)
            thread.start()

    def _run(self, conn: "ScriptedConnection") -> None:
        try:
            self._script(conn)
        except (OSError, EOFError):
            pass
        finally:
            conn.close()

    def close(self) -> None:
        """Stop accepting, close every connection and join the threads."""
        self._closed = True
        try:
            # Wake accept() so that its thread ends.
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
        except OSError:
            pass
        self._sock.close()
        self._accepter.join(WAIT)
        for conn in list(self.connections):
            conn.close()
        for thread in self._threads:
            thread.join(WAIT)


class ScriptedConnection:
    """One accepted socket with line helpers (blocking, bounded by WAIT)."""

    def __init__(self, sock: socket.socket, received: "queue.Queue[bytes]") -> None:
        self.sock = sock
        self.sock.settimeout(WAIT)
        self._received = received
        self._buf = b""
        self._lock = threading.Lock()

    def send(self, *lines: bytes) -> None:
        """Send lines (end of line added)."""
        with self._lock:
            self.sock.sendall(b"".join(line + b"\n" for line in lines))

    def send_raw(self, data: bytes) -> None:
        """Send bytes as they are."""
        with self._lock:
            self.sock.sendall(data)

    def read_line(self) -> bytes:
        """Return the next line received (EOFError when the peer closes)."""
        while b"\n" not in self._buf:
            data = self.sock.recv(65536)
            if not data:
                raise EOFError
            self._buf += data
        line, self._buf = self._buf.split(b"\n", 1)
        self._received.put(line)
        return line

    def pending_bytes(self) -> bytes:
        """Bytes received but not yet read as lines, without blocking."""
        import select
        readable, _, _ = select.select([self.sock], [], [], 0)
        waiting = self.sock.recv(65536, socket.MSG_PEEK) if readable else b""
        return self._buf + waiting

    def close(self) -> None:
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


def v5_greeting(flags: bytes = b"5.1-MI") -> List[bytes]:
    """The #version-connect lines of a v5 device."""
    return [b"#version-connect katcp-protocol " + flags,
            b"#version-connect katcp-library scripted-1.0 scripted-1.0.0"]


def request_parts(line: bytes):
    """Split a request line into (name, mid or None, args)."""
    head, *args = line.split(b" ")
    name = head[1:]
    mid = None
    if b"[" in name:
        name, mid = name[:-1].split(b"[")
    return name, mid, args


def reply_line(line: bytes, *args: bytes, inform: bool = False) -> bytes:
    """Build a reply (or inform) line answering request ``line``."""
    name, mid, _ = request_parts(line)
    head = (b"#" if inform else b"!") + name + (b"[" + mid + b"]" if mid else b"")
    return b" ".join([head, *args])


def echo_script(greeting: Optional[List[bytes]] = None, informs: int = 0):
    """A script: send ``greeting``, then answer each request ``ok <args>``."""
    def script(conn: ScriptedConnection) -> None:
        if greeting:
            conn.send(*greeting)
        while True:
            line = conn.read_line()
            _, _, args = request_parts(line)
            conn.send(*[reply_line(line, b"i%d" % i, inform=True) for i in range(informs)],
                      reply_line(line, b"ok", *args))
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


class SelectorEchoServer:
    """A one-thread ``selectors`` device for many connections: it greets each
    client with ``greeting`` and answers every request ``ok <args>``."""

    def __init__(self, greeting: Optional[List[bytes]] = None) -> None:
        import selectors
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

    def _run(self) -> None:
        import selectors
        while True:
            for key, _ in self._selector.select():
                if key.data == "wake":
                    return
                if key.data is None:
                    try:
                        conn, _ = self._sock.accept()
                    except BlockingIOError:
                        continue
                    conn.sendall(self._greeting)
                    conn.setblocking(False)
                    self._buffers[conn] = b""
                    self._selector.register(conn, selectors.EVENT_READ, "conn")
                    continue
                conn = key.fileobj
                try:
                    data = conn.recv(65536)
                except OSError:
                    data = b""
                if not data:
                    self._selector.unregister(conn)
                    conn.close()
                    del self._buffers[conn]
                    continue
                *lines, self._buffers[conn] = (self._buffers[conn] + data).split(b"\n")
                replies = []
                for line in lines:
                    _, _, args = request_parts(line)
                    replies.append(reply_line(line, b"ok", *args) + b"\n")
                conn.setblocking(True)
                conn.sendall(b"".join(replies))
                conn.setblocking(False)

    def close(self) -> None:
        """Stop the thread and close every socket."""
        self._wake_w.send(b"x")
        self._thread.join(WAIT)
        for conn in self._buffers:
            conn.close()
        self._selector.close()
        for sock in (self._sock, self._wake_r, self._wake_w):
            sock.close()


def jitter_from_threads(client, threads: int, requests: int) -> list:
    """Make ``requests`` ``?jitter <tag>`` requests from each of ``threads``
    threads at once; return the errors (a reply with another's tag is one)."""
    errors = []

    def worker(n: int) -> None:
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
