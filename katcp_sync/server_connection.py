"""A device server's view of one client, and of one request from it.

:class:`ClientConnection` wraps the I/O layer's ``Connection`` for a single
client: it sends messages, keeps the client's queue of requests waiting for
their turn (replies to one client come in request order) and holds the
client's sampling strategies. :class:`ClientRequestConnection` is the ``req``
object handed to request handlers.

Everything here may be called from any thread: sending is an append to the
connection's write buffer under its lock, and the request queue has its own
lock.
"""

import collections
import logging
import threading
from typing import Any, Iterable, List, Optional, Sequence, Tuple

from .message import Message

__all__ = ["ClientConnection", "ClientRequestConnection"]

logger = logging.getLogger("katcp_sync.server")


def wire(msg: Message) -> bytes:
    """``msg`` as it goes on the wire, end of line included."""
    return msg.encode()


class ClientConnection:
    """One connected client, as the device server sees it.

    Created by the server when a client connects; handed to
    ``on_client_connect``/``on_client_disconnect`` and reachable from a
    request as ``req.client_connection``. All methods are thread-safe.

    Attributes:
        address: the peer as ``"host:port"`` (IPv6 hosts in brackets).
        sampling: this client's :class:`~katcp_sync.server_sampling.SamplingTable`.
    """

    #: Queued messages at which the server stops reading from this client
    #: (it resumes at half as many), so a client that pipelines without end
    #: is held back by TCP instead of growing the queue.
    MAX_PENDING = 1000

    def __init__(self, server: Any, address: str) -> None:
        self._server = server
        self.address = address
        self.sampling: Any = None
        self._conn: Any = None
        self._lock = threading.Lock()
        self._pending: "collections.deque[Tuple[Message, Any]]" = collections.deque()
        self._busy = False
        # The message handed to another thread and not yet started, in a
        # one-item list (empty once started); see _start.
        self._in_hand: Optional[List[Message]] = None
        self._paused = False
        self._accepted = False  # in the server's client list once
        self.closed = False
        #: True once the server has run ``on_client_disconnect`` for this client.
        self.client_disconnect_called = False
        #: How many malformed lines this client sent (see the server's log limit).
        self.bad_lines = 0
        #: ``#log error`` answers to unexpected replies this client may get
        #: now, and when that was computed (see the server's rate limit).
        self.log_allowance = 0.0
        self.log_allowance_time = float("-inf")  # a full allowance at first

    def __repr__(self) -> str:
        return "<ClientConnection %s>" % self.address

    # -- callbacks from the I/O layer (reactor thread) ----------------------

    def lines_received(self, conn: Any, lines: List[Any]) -> None:
        """Connection handler callback: pass received lines to the server.
        Reactor thread only."""
        self._server._lines_received(self, lines)

    def connection_lost(self, conn: Any, reason: str) -> None:
        """Connection handler callback: the socket is closed. Reactor thread only."""
        self.closed = True
        self._server._connection_lost(self, reason)

    # -- sending -------------------------------------------------------------

    def write(self, data: bytes) -> None:
        """Queue raw wire bytes (whole lines, ends of line included)."""
        self._conn.write(data)

    def write_lines(self, lines: List[bytes]) -> None:
        """Queue several lines, given *without* their end of line, in one go."""
        self._conn.write_lines(lines)

    def send_message(self, msg: Message) -> None:
        """Send any message to this client. Any thread."""
        self._conn.write(wire(msg))

    def inform(self, msg: Message) -> None:
        """Send an asynchronous inform to this client only. Any thread."""
        self.send_message(msg)

    def reply(self, reply: Message, orig_req: Message) -> None:
        """Send ``reply`` to the request ``orig_req``, with its message id."""
        reply.mid = orig_req.mid
        self._conn.write(wire(reply))

    def reply_inform(self, inform: Message, orig_req: Message) -> None:
        """Send an inform that belongs to the request ``orig_req`` (spec 2.3)."""
        inform.mid = orig_req.mid
        self._conn.write(wire(inform))

    def mass_inform(self, msg: Message) -> None:
        """Send an inform to every client of the server."""
        self._server.mass_inform(msg)

    def disconnect(self, reason: str) -> None:
        """Send ``#disconnect reason`` (spec 4.2), then close once it is sent."""
        if self._conn is None:
            return
        self._conn.write(wire(Message.inform("disconnect", reason)))
        self._conn.close(reason, flush=True)

    def close(self, reason: str) -> None:
        """Close without a ``#disconnect`` (pending output is still flushed)."""
        if self._conn is not None:
            self._conn.close(reason, flush=True)

    # -- the client's turn (used by the server's dispatcher) -------------------
    #
    # The thread holding the turn owns one message at a time: the one it
    # claimed (_claim) or took from the queue (_next), with its handler.
    # It either runs it at once, on this thread, or hands it to another (a
    # worker or the reactor), which starts it (_start). A handed message is
    # "in hand" until started: a stopping server fails it, as the queue,
    # and _start then says not to run it but to pass the turn on. A message run where it was taken
    # counts as started when taken, so the common path takes no extra lock.

    def _claim(self, msg: Message, handler: Any, here: bool) -> bool:
        """Queue ``msg`` behind the message in progress, or claim the turn.

        ``handler`` is the server's handler record for ``msg``; ``here``
        says whether a handler that is not ``inline`` runs on this thread.

        Returns True when the caller now holds the turn and must handle
        ``msg``; False when ``msg`` was queued.
        """
        with self._lock:
            if not self._busy:
                self._busy = True
                if not (here or handler.inline):
                    self._in_hand = [msg]
                return True
            self._pending.append((msg, handler))
            pause = not self._paused and len(self._pending) >= self.MAX_PENDING
            if pause:
                self._paused = True
        if pause:
            self._conn.pause_reading()  # _claim runs on the reactor thread
        return False

    def _next(self, here: bool) -> Optional[Tuple[Message, Any]]:
        """Finish the message in progress: return the next queued one and
        its handler (``here`` as for :meth:`_claim`), or None and give the
        turn up if none is queued."""
        with self._lock:
            if not self._pending:
                self._busy = False
                return None
            item = self._pending.popleft()
            if not (here or item[1].inline):
                self._in_hand = [item[0]]
            resume = self._paused and len(self._pending) <= self.MAX_PENDING // 2
            if resume:
                self._paused = False
        if resume:
            self._server.ioloop.add_callback(self._conn.resume_reading)
        return item

    def _start(self, msg: Message) -> bool:
        """Start handling ``msg``, handed over by the thread holding the turn.
        False if it was failed meanwhile (:meth:`fail_queued_requests`):
        the caller must not run it, only pass the turn on. Any thread."""
        # No lock: list.pop() is atomic, so exactly one of this and
        # fail_queued_requests gets the message out of its one-item list.
        hand = self._in_hand
        if hand:
            try:
                hand.pop()
                return True
            except IndexError:
                pass
        return False

    def fail_queued_requests(self, reason: str) -> int:
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
        with self._lock:
            queued = [msg for msg, _ in self._pending]
            hand, self._in_hand = self._in_hand, None
            if hand:
                try:
                    queued.insert(0, hand.pop())
                except IndexError:  # started meanwhile
                    pass
            self._pending.clear()
        requests = [msg for msg in queued if msg.mtype == Message.REQUEST]
        if requests and self._conn is not None:
            self._conn.write(b"".join(
                wire(Message.reply_to_request(msg, "fail", reason)) for msg in requests))
        return len(requests)

    def _drop_pending(self) -> None:
        """The connection is gone: forget the queue (a message already
        handed to a worker still runs, as one already running does)."""
        with self._lock:
            self._pending.clear()

    @property
    def pending_requests(self) -> int:
        """Number of received messages still waiting for their turn. Any thread."""
        return len(self._pending)


class ClientRequestConnection:
    """The ``req`` argument of a request handler: one request from one client.

    Replies and informs sent through it carry the request's name and message
    id (spec 2.2, 2.3). Exactly one reply may be sent: any reply or inform
    after it raises :class:`RuntimeError`. All methods may be called from any
    thread, so a handler that raised ``AsyncReply`` can reply from wherever
    its work finishes.

    Attributes:
        msg: the request :class:`~katcp_sync.message.Message`.
        client_connection: the :class:`ClientConnection` it came from.
    """

    __slots__ = ("client_connection", "msg", "_token")

    def __init__(self, client_connection: ClientConnection, req_msg: Message) -> None:
        self.client_connection = client_connection
        self.msg = req_msg
        # One-element list: list.pop() is atomic, so two threads racing to
        # reply cannot both succeed.
        self._token = [True]

    def __repr__(self) -> str:
        return "<ClientRequestConnection ?%s from %s>" % (
            self.msg.name, self.client_connection.address)

    @property
    def replied(self) -> bool:
        """True once the reply has been sent."""
        return not self._token

    def _check_open(self, what: str) -> None:
        if not self._token:
            raise RuntimeError("Cannot send %s: ?%s was already replied to"
                               % (what, self.msg.name))

    def make_reply(self, *args: Any) -> Message:
        """Build (without sending) the reply to this request."""
        return Message.reply_to_request(self.msg, *args)

    def inform(self, *args: Any) -> None:
        """Send ``#name[mid] args...`` before the reply.

        Raises:
            RuntimeError: the reply was already sent.
        """
        self._check_open("an inform")
        # through the connection's inform(), as katcp-python (code mocks it)
        self.client_connection.inform(Message.reply_inform(self.msg, *args))

    def informs(self, rows: Iterable[Sequence[Any]], send_reply: bool = True) -> int:
        """Send one inform per row of arguments, then (by default) ``ok N``.

        All lines go out in a single write. Returns the number of informs.

        Raises:
            RuntimeError: the reply was already sent.
        """
        self._check_open("informs")
        req = self.msg
        lines = [wire(Message.reply_inform(req, *row)) for row in rows]
        count = len(lines)
        if send_reply:
            try:
                self._token.pop()
            except IndexError:
                raise RuntimeError("?%s was already replied to" % req.name) from None
            lines.append(wire(Message.reply_to_request(req, "ok", str(count))))
        self.client_connection.write(b"".join(lines))
        return count

    def reply(self, *args: Any) -> None:
        """Send ``!name[mid] args...``.

        Raises:
            RuntimeError: the reply was already sent.
        """
        msg = Message.reply_to_request(self.msg, *args)
        try:
            self._token.pop()
        except IndexError:
            raise RuntimeError("Cannot send %r: ?%s was already replied to"
                               % (msg, self.msg.name)) from None
        self.client_connection.reply(msg, self.msg)

    def reply_with_message(self, msg: Message) -> None:
        """Send a prepared reply message (its id is set to the request's).

        Raises:
            RuntimeError: the reply was already sent.
            ValueError: ``msg`` is not a reply with the request's name.
        """
        if msg.mtype != Message.REPLY or msg.name != self.msg.name:
            raise ValueError("Reply to ?%s must be a !%s reply, not %r"
                             % (self.msg.name, self.msg.name, msg))
        try:
            self._token.pop()
        except IndexError:
            raise RuntimeError("Cannot send %r: ?%s was already replied to"
                               % (msg, self.msg.name)) from None
        self.client_connection.reply(msg, self.msg)

    def mass_inform(self, msg: Message) -> None:
        """Send an inform to every client of the server."""
        self.client_connection.mass_inform(msg)
