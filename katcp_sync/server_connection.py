"""A device server's view of one client.

:class:`ClientConnection` owns the I/O layer's ``Connection`` for a single
client (it builds it from the accepted socket), its
:class:`~katcp_sync.server_turn.Turn` (the queue of its messages
waiting to be handled) and its sampling strategies. It passes what the
socket brings to its server through the small :class:`ClientServer`
interface. :class:`ClientRequestConnection` (the ``req`` object handed to
request handlers) lives in :mod:`katcp_sync.server_request` and is
re-exported here, where katcp-python code looks for it.

Everything here may be called from any thread: sending is an append to the
connection's write buffer under its lock, and the turn has its own lock.
"""

from __future__ import absolute_import, division, print_function

import socket
from typing import TYPE_CHECKING, Callable, List, Optional, Sequence, Tuple, Union, cast

from .compat import Protocol
from .connection import DEFAULT_MAX_WRITE_BUFFER, Connection
from .errors import LineTooLongError
from .linebuffer import DEFAULT_MAX_LINE_LENGTH
from .message import Message
from .protocol import ProtocolFlags
from .reactor import Reactor
from .server_dispatch import fail_queued_requests
from .server_turn import Turn
from .server_request import ClientRequestConnection, wire
from .server_sampling import SamplingTable

if TYPE_CHECKING:  # pragma: no cover
    from .server_dispatch import Dispatcher

__all__ = ["ClientConnection", "ClientRequestConnection", "ClientServer", "ClientTransport"]

_Line = Union[bytes, LineTooLongError]


class ClientServer(Protocol):
    """What a :class:`ClientConnection` needs from its server
    (:class:`~katcp_sync.server.DeviceServerBase` provides it).

    Each member says the thread it is used on; ``mass_inform`` any thread.
    """

    PROTOCOL_INFO = cast(ProtocolFlags, None)  # type: ProtocolFlags

    @property
    def reactor(self):
        # type: () -> Reactor
        """The reactor reading the client's socket and running its timers."""

    @property
    def dispatcher(self):
        # type: () -> "Dispatcher"
        """Where the client's lines go (reactor thread)."""

    def client_connection_lost(self, client, reason):
        # type: ("ClientConnection", str) -> None
        """The client's socket is closed (reactor thread)."""

    def mass_inform(self, msg):
        # type: (Message) -> None
        """Send an inform to every client of the server."""


class ClientTransport(Protocol):
    """The part of :class:`~katcp_sync.connection.Connection` a client uses.

    Every method is called from any thread (replies come from workers): an
    implementation must be thread-safe and must not block for long.
    """

    def write(self, data):
        # type: (bytes) -> bool
        """Queue whole wire lines without blocking; False if dropped (closed). Any thread."""

    def write_lines(self, lines):
        # type: (Sequence[bytes]) -> bool
        """Queue ``lines`` (without their end of line) together, in order. Any thread."""

    def close(self, reason="", flush=True, timeout=1.0, last=b""):
        # type: (str, bool, float, bytes) -> None
        """Close, after sending what is queued and then ``last`` if ``flush``;
        idempotent, does not wait. Any thread."""


class _NoSocket(object):
    """The transport of a connection made without a socket: drops everything."""

    def write(self, data):
        # type: (bytes) -> bool
        return False

    def write_lines(self, lines):
        # type: (Sequence[bytes]) -> bool
        return False

    def close(self, reason="", flush=True, timeout=1.0, last=b""):
        # type: (str, bool, float, bytes) -> None
        pass


class ClientConnection(object):
    """One connected client, as the device server sees it.

    Created by the server when a client connects; handed to
    ``on_client_connect``/``on_client_disconnect`` and reachable from a
    request as ``req.client_connection``. All methods are thread-safe.

    Args:
        server: the server it belongs to (None for a stand-alone test double).
        address: the peer as ``"host:port"``, for a connection made without
            a socket (with one, the socket's peer is used).
        sock: the accepted socket; the client owns it from now on, and the
            server's reactor reads it. Without one, what is sent goes to
            ``transport`` (test doubles such as
            :class:`~katcp_sync.testutils.RecordingClientConnection`).
        max_line_length: longest accepted incoming line.
        max_write_buffer: most bytes waiting to be sent before the client
            is disconnected.
        partial_line_timeout: see ``DeviceServerBase.PARTIAL_LINE_TIMEOUT``.
        idle_timeout: see ``DeviceServerBase.IDLE_TIMEOUT``.
        transport: where a connection without a socket sends (a test
            double's recorder); default: nowhere.
        read_ahead: see :attr:`read_ahead` (``DeviceServerBase.READ_AHEAD_TIME``);
            0 (default) turns it off.
        spin_time: how much of that wait is spent spinning rather than
            sleeping (``DeviceServerBase.SPIN_TIME``).

    Attributes:
        address: the peer as ``"host:port"`` (IPv6 hosts in brackets).
        sampling: this client's :class:`~katcp_sync.server_sampling.SamplingTable`.
        turn: this client's :class:`~katcp_sync.server_turn.Turn`.
        closed: True once the socket is closed.
        client_disconnect_called: True once the server has run
            ``on_client_disconnect`` for this client.
        accepted: True once the server has listed this client (a client
            refused while the server stops never is).
        read_ahead: seconds a worker that has just replied to this client
            may wait, reading the client's socket, for its next request (the
            server dispatcher's fast path); 0 when this connection cannot be
            borrowed (no socket, no epoll, a time limit, or no ``read_ahead``).
    """

    #: Queued messages at which the server stops reading from this client
    #: (it resumes at half as many), so a client that pipelines without end
    #: is held back by TCP instead of growing the queue.
    MAX_PENDING = Turn.MAX_PENDING

    def __init__(self, server, address="",
                 sock=None,
                 max_line_length=DEFAULT_MAX_LINE_LENGTH,
                 max_write_buffer=DEFAULT_MAX_WRITE_BUFFER,
                 partial_line_timeout=None,
                 idle_timeout=None,
                 transport=None,
                 read_ahead=0.0, spin_time=0.0):
        # type: (Optional[ClientServer], str, Optional[socket.socket], int, int, Optional[float], Optional[float], Optional[ClientTransport], float, float) -> None
        self._server = server
        self.closed = False
        self.accepted = False
        self.client_disconnect_called = False
        self.turn = Turn(self, self.MAX_PENDING)
        self.read_ahead = 0.0
        if sock is None:
            self._conn = transport if transport is not None else _NoSocket()  # type: ClientTransport
            self.address = address
        else:
            assert server is not None, "a socket needs a server"
            conn = Connection(server.reactor, sock, self, max_line_length, max_write_buffer,
                              partial_line_timeout=partial_line_timeout,
                              idle_timeout=idle_timeout,
                              borrowable=(read_ahead > 0 and partial_line_timeout is None
                                          and idle_timeout is None),
                              spin_time=spin_time)
            self._conn = conn
            self.address = conn.address
            if conn.borrowable:
                self.read_ahead = read_ahead
        self._lines_received = server.dispatcher.lines_received if server is not None else None
        major = server.PROTOCOL_INFO.major if server is not None else 5
        self.sampling = SamplingTable(self, server.reactor if server is not None else None,
                                      major)

    def __repr__(self):
        # type: () -> str
        return "<ClientConnection %s>" % self.address

    # -- callbacks from the I/O layer (reactor thread) ----------------------

    def lines_received(self, conn, lines):
        # type: (Connection, List[_Line]) -> Optional[List[_Line]]
        """Connection handler callback: pass received lines to the server's
        dispatcher; return those it left for later. Reactor thread only."""
        if self._lines_received is not None:
            return self._lines_received(self, lines)
        return None

    def connection_lost(self, conn, reason):
        # type: (Connection, str) -> None
        """Connection handler callback: the socket is closed. Reactor thread only."""
        self.closed = True
        self.sampling.close()
        self.turn.drop()
        if self._server is not None:
            self._server.client_connection_lost(self, reason)

    # -- reading control (used by the turn) ------------------------------------

    def pause_reading(self):
        # type: () -> None
        """Stop reading this client's socket. Reactor thread."""
        if isinstance(self._conn, Connection):
            self._conn.pause_reading()

    def resume_reading(self):
        # type: () -> None
        """Read this client's socket again. Any thread."""
        conn = self._conn
        if isinstance(conn, Connection) and self._server is not None:
            self._server.reactor.add_callback(conn.resume_reading)

    # -- reading on a worker (the dispatcher's fast path) ------------------------

    def borrow_reading(self):
        # type: () -> bool
        """Take this client's reading over from the reactor, for the calling
        thread (:meth:`Connection.borrow_reading
        <katcp_sync.connection.Connection.borrow_reading>`); False if it
        cannot be borrowed now. On success the caller must call
        :meth:`return_reading`. Not the reactor thread."""
        return self.read_ahead > 0 and cast(Connection, self._conn).borrow_reading()

    def fileno(self):
        # type: () -> int
        """The client's socket descriptor (-1 without a socket). Any thread."""
        conn = self._conn
        return conn.fileno() if isinstance(conn, Connection) else -1

    def read_borrowed(self, claim, done,
                      poll):
        # type: (Callable[[_Line], bool], Callable[[], bool], Callable[[Optional[int]], List[Tuple[int, int]]]) -> None
        """While borrowed: wait up to :attr:`read_ahead` seconds (spinning
        first, up to the connection's ``spin_time``) reading lines, each
        offered to ``claim`` until it declines one (see :meth:`ReadBorrow.read
        <katcp_sync.borrow.ReadBorrow.read>`), or until ``done()``. ``poll``
        waits for this client's socket (:meth:`fileno`) and may watch others:
        ``done()`` is asked whenever it returns. Returns at once if output
        waits to be sent: the reactor, which sends it, should not wait for
        this thread."""
        conn = cast(Connection, self._conn)
        if not conn.buffered_bytes:
            conn.read_borrowed(claim, done, self.read_ahead, poll=poll)

    def return_reading(self):
        # type: () -> None
        """End a borrow: the reactor reads again, lines not claimed first."""
        cast(Connection, self._conn).return_reading(park=False)

    # -- sending -------------------------------------------------------------

    def write(self, data):
        # type: (bytes) -> None
        """Queue raw wire bytes (whole lines, ends of line included)."""
        self._conn.write(data)

    def write_lines(self, lines):
        # type: (List[bytes]) -> None
        """Queue several lines, given *without* their end of line, in one go."""
        self._conn.write_lines(lines)

    def send_message(self, msg):
        # type: (Message) -> None
        """Send any message to this client. Any thread."""
        self._conn.write(wire(msg))

    def inform(self, msg):
        # type: (Message) -> None
        """Send an asynchronous inform to this client only. Any thread."""
        self.send_message(msg)

    def reply(self, reply, orig_req):
        # type: (Message, Message) -> None
        """Send ``reply`` to the request ``orig_req``, with its message id."""
        reply.mid = orig_req.mid
        self._conn.write(wire(reply))

    def reply_inform(self, inform, orig_req):
        # type: (Message, Message) -> None
        """Send an inform that belongs to the request ``orig_req`` (spec 2.3)."""
        inform.mid = orig_req.mid
        self._conn.write(wire(inform))

    def mass_inform(self, msg):
        # type: (Message) -> None
        """Send an inform to every client of the server."""
        if self._server is not None:
            self._server.mass_inform(msg)

    def disconnect(self, reason):
        # type: (str) -> None
        """Send ``#disconnect reason`` (spec 4.2), then close once it is sent."""
        # One step: a sensor update on another thread cannot follow it.
        self._conn.close(reason, flush=True, last=wire(Message.inform("disconnect", reason)))

    def close(self, reason):
        # type: (str) -> None
        """Close without a ``#disconnect`` (pending output is still flushed)."""
        self._conn.close(reason, flush=True)

    def abort(self, reason):
        # type: (str) -> None
        """Close at once, dropping output not yet sent (a server that gave up waiting)."""
        self._conn.close(reason, flush=False)

    # -- the queue -------------------------------------------------------------

    def fail_queued_requests(self, reason):
        # type: (str) -> int
        """Reply ``fail reason`` to every request of this client not yet started.

        Those are the requests waiting for their turn and the one handed to
        a worker (or the reactor) that has not begun. Used when the server
        stops, or displaces this client: a request that never started gets
        a reply (spec 2: every request gets one) before the
        ``#disconnect``. A handler already running is not interrupted.
        Any thread.

        Returns:
            How many requests were failed.
        """
        return fail_queued_requests(self, reason)

    @property
    def pending_requests(self):
        # type: () -> int
        """Number of received messages still waiting for their turn. Any thread."""
        return len(self.turn)

    @property
    def bad_lines(self):
        # type: () -> int
        """How many malformed lines this client sent (see the server's log limit)."""
        return self.turn.bad_lines
