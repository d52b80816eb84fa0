"""Line-oriented connections on the reactor: ordered writes from any thread, reads on the reactor.

Theory of operation
-------------------
A :class:`Connection` owns one connected stream socket. All *reads* happen on
the reactor thread: when the socket is readable it ``recv()``\\ s in a loop (up
to a budget, so one busy peer cannot starve the others), splits the bytes
into lines with :class:`~katcp_sync.linebuffer.LineSplitter`, and hands the
whole list to ``handler.lines_received(conn, lines)`` once per readiness.

*Writes* may come from any thread and keep their order. Each write takes the
connection's lock, and every ``send()`` on the socket is made while holding
that lock, so the byte stream is exactly the order of the ``write`` calls:

* on the reactor thread, data is appended to the buffer and one deferred
  flush is queued with :meth:`Reactor.add_callback`. It runs at the end of
  the current reactor iteration, so every reply and inform produced in that
  iteration leaves in a single ``send()``;
* on any other thread, if nothing is buffered the caller sends directly
  (a non-blocking ``send()``, no thread hop, lowest latency); whatever the
  kernel does not take is buffered and the reactor takes over with the same
  deferred flush. If data is already buffered the caller only appends: the
  reactor is already committed to sending it, so no wake-up is needed.
  A thread writing in a burst (its previous write, to any connection, less
  than 50 us ago) also only appends, so a flood of informs -- to one client
  or fanned out to many -- leaves in large sends rather than one syscall per
  message.
  On Python 2 the reactor then holds the flush a while (``_BURST_HOLD``).
  A thread that has just waited for work (a server worker starting a
  request alone in its client's queue) says so with :func:`writer_waited`,
  so its reply is sent at once even if it wrote a moment ago.

When the kernel buffer is full the reactor registers a writer and continues
when the peer reads. The buffer is bounded: a write that would take it past
``max_write_buffer`` closes the connection (the peer is not reading), so a
stuck peer never blocks a caller or stalls the reactor.

``handler.connection_lost(conn, reason)`` is called exactly once, on the
reactor thread, however the connection ends (peer EOF, error, local
:meth:`Connection.close`, buffer overflow, reactor stop).

The write side is :class:`~katcp_sync.connection_writes.OrderedWrites`,
the connection's base class.

A connection made with ``borrowable=True`` lets a lone thread waiting for a
reply read it itself (one wake-up instead of two): that fast path lives in
:mod:`katcp_sync.borrow`, and only such connections carry it.
:class:`~katcp_sync.tcp.Listener` and :func:`~katcp_sync.tcp.connect`
(importable from here too) make the sockets a connection wraps.
"""

from __future__ import absolute_import, division, print_function

import collections
import logging
import socket
import threading
from typing import Any, Callable, Deque, List, Optional, Tuple, Union

from . import compat
from .compat import Protocol
from .borrow import BORROW_SUPPORTED, DEFAULT_SPIN_TIME, ReadBorrow
from .connection_writes import DEFAULT_MAX_WRITE_BUFFER, OrderedWrites, writer_waited
from .linebuffer import DEFAULT_MAX_LINE_LENGTH, Line, LineSplitter
from .reactor import FileLike, Reactor, TimerHandle
from .read_limits import ReadLimits
from .tcp import (ConnectAttempt, Listener, call_on_reactor, connect, format_address,
                  format_seconds, set_nodelay)

__all__ = [
    "Connection",
    "ConnectionHandler",
    "Line",
    "Listener",
    "ConnectAttempt",
    "connect",
    "format_address",
    "format_seconds",
    "DEFAULT_MAX_WRITE_BUFFER",
    "DEFAULT_SPIN_TIME",
    "writer_waited",
]

logger = logging.getLogger(__name__)
_SOCKET_ERRORS = compat.SOCKET_ERRORS
_would_block = compat.would_block

# The most read from one socket per readiness event (more if one recv() asks
# more: LineSplitter.recv_size); at least one read.
_READ_BUDGET = 256 * 1024
# How long a connection whose peer sent EOF keeps trying to send its buffer.
_EOF_FLUSH_TIMEOUT = 1.0


class ConnectionHandler(Protocol):
    """What a :class:`Connection` calls; both methods run on the reactor thread.

    They must not block: hand slow work to a worker pool.
    """

    def lines_received(self, conn, lines):
        # type: ("Connection", List[Line]) -> Optional[List[Line]]
        """Called once per socket read with the complete lines it produced.

        Returns None when all were handled, or the lines it left for later
        (a tail of ``lines``): the connection then reads no more and hands
        them back in a later reactor iteration, after the reactor has
        served others, so one peer's flood of lines cannot hold it up."""

    def connection_lost(self, conn, reason):
        # type: ("Connection", str) -> None
        """Called exactly once when the connection ends, for whatever reason."""


class Connection(OrderedWrites):
    """A line-oriented, non-blocking stream socket served by a reactor.

    Args:
        reactor: the :class:`~katcp_sync.reactor.Reactor` that reads and
            flushes this socket.
        sock: a connected stream socket; the connection owns it from now on
            (it is made non-blocking, with ``TCP_NODELAY`` for TCP).
        handler: receives ``handler.lines_received(conn, lines)`` (``lines``
            a list of ``bytes`` without end-of-line, or
            :class:`~katcp_sync.errors.LineTooLongError`) and
            ``handler.connection_lost(conn, reason: str)``, both on the reactor
            thread. ``connection_lost`` is called exactly once.
        max_line_length: longest accepted incoming line, in bytes.
        max_write_buffer: most bytes that may wait to be sent. A write that
            would take a non-empty buffer past it closes the connection (a
            single write into an empty buffer is always accepted, so one large
            reply can go to a peer that reads).
        borrowable: allow :meth:`borrow_reading` (see
            :mod:`katcp_sync.borrow`). Ignored where epoll is missing; costs
            one extra file descriptor.
        spin_time: seconds a borrower polls before it sleeps (``None``:
            :data:`DEFAULT_SPIN_TIME`; ``0``: never spin). Also settable
            later as the ``spin_time`` attribute.
        partial_line_timeout: seconds an unfinished incoming line may wait
            for its end of line; the connection is then closed, with a
            logged reason (a peer trickling a line byte by byte). ``None``
            (default): no limit.
        idle_timeout: seconds without any incoming byte after which the
            connection is closed, with a logged reason. ``None`` (default):
            no limit. Neither limit is allowed with ``borrowable`` (they
            watch the reactor's reads).

    Raises:
        ValueError: a limit that is not positive, or a limit with
            ``borrowable``.

    May be created on any thread; it starts reading once the reactor runs.
    If the reactor is already closed, the socket is closed at once and the
    handler is never called.
    """

    def __init__(self, reactor, sock, handler,
                 max_line_length=DEFAULT_MAX_LINE_LENGTH,
                 max_write_buffer=DEFAULT_MAX_WRITE_BUFFER,
                 borrowable=False, spin_time=None,
                 partial_line_timeout=None,
                 idle_timeout=None):
        # type: (Reactor, socket.socket, ConnectionHandler, int, int, bool, Optional[float], Optional[float], Optional[float]) -> None
        for limit in (partial_line_timeout, idle_timeout):
            if limit is not None and (limit <= 0 or borrowable):
                sock.close()
                raise ValueError("a connection's time limits must be positive and not "
                                 "used with borrowable=True")
        self._reactor = reactor
        self._sock = sock
        self._handler = handler
        self.max_write_buffer = max_write_buffer
        self._splitter = LineSplitter(max_line_length)
        sock.setblocking(False)
        set_nodelay(sock)
        try:
            self.peer = sock.getpeername()  # type: Optional[Tuple[Any, ...]]
        except compat.SOCKET_ERRORS:
            self.peer = None
        try:
            self.sockname = sock.getsockname()  # type: Optional[Tuple[Any, ...]]
        except compat.SOCKET_ERRORS:
            self.sockname = None
        #: The peer as ``"host:port"`` (``"[host]:port"`` for IPv6).
        self.address = format_address(self.peer)

        self._lock = threading.Lock()
        # Guarded by _lock (shared with writers on other threads):
        self._wbuf = collections.deque()  # type: Deque[Union[bytes, memoryview]]
        self._wbytes = 0
        self._flush_pending = False  # a _flush is queued or a writer registered
        self._burst_written = False  # another thread appended since the last _flush
        self._closing = False
        self._close_reason = ""
        # Reactor thread only:
        self._finished = False
        self._dispatching = False  # inside _dispatch: its writes are flushed at its end
        self._reading = True
        # Lines the handler left for later (see ConnectionHandler): not read
        # past, and not borrowed past, until they are dispatched.
        self._held = None  # type: Optional[List[Line]]
        self._reader_registered = False
        self._writer_registered = False
        self._close_timer = None  # type: Optional[TimerHandle]
        self._hold_timer = None  # type: Optional[TimerHandle]  # see _BURST_HOLD
        # Time limits on incoming data (katcp_sync.read_limits), if any.
        self._limits = None  # type: Optional[ReadLimits]
        if partial_line_timeout is not None or idle_timeout is not None:
            self._limits = ReadLimits(reactor, self._splitter, partial_line_timeout,
                                      idle_timeout, lambda: self._closing, self._limit_expired)
        # Borrowed reading (katcp_sync.borrow), only where asked for: the
        # reactor then watches the borrow's inner epoll and reads through it.
        self._spin_time = DEFAULT_SPIN_TIME if spin_time is None else spin_time
        self._borrow = None  # type: Optional[ReadBorrow]
        self._watched = sock  # type: FileLike
        self._on_readable = self._read_now  # type: Callable[[], None]
        if borrowable and BORROW_SUPPORTED:
            borrow = self._borrow = ReadBorrow(self, sock, self._spin_time)
            self._watched = borrow.inner
            self._on_readable = borrow.on_readable

        self._stop_hook = reactor.add_stop_hook(self._on_reactor_stop)
        if not call_on_reactor(reactor, self._register):
            self._closing = True
            self._close_reason = "reactor closed"
            self._finished = True
            self._close_socket()

    # ------------------------------------------------------------------
    # Public API

    @property
    def closed(self):
        # type: () -> bool
        """True once :meth:`close` was called or the connection was lost. Any thread."""
        return self._closing

    def close(self, reason="", flush=True, timeout=1.0, last=b""):
        # type: (str, bool, float, bytes) -> None
        """Close the connection; safe from any thread and idempotent.

        Reading stops at once and later writes are dropped. With ``flush``,
        what is already buffered is sent first, for at most ``timeout``
        seconds; then the socket is closed and ``connection_lost(conn,
        reason)`` is called on the reactor thread. Returns without waiting.

        ``last`` (with ``flush``) is queued in the same step as the close:
        no write from another thread can come after it (a ``#disconnect``).
        """
        with self._lock:
            if self._closing:
                return
            self._closing = True
            self._close_reason = reason or "closed locally"
            if last and flush:
                self._wbuf.append(last)
                self._wbytes += len(last)
        # If the reactor is closed, its stop hook already finished us.
        call_on_reactor(self._reactor, self._begin_close, flush, timeout)

    def pause_reading(self):
        # type: () -> None
        """Stop reading from the socket (back-pressure). Reactor thread only."""
        self._reading = False
        self._update_reader()

    def resume_reading(self):
        # type: () -> None
        """Read again after :meth:`pause_reading`. Reactor thread only."""
        self._reading = True
        self._update_reader()

    # ------------------------------------------------------------------
    # Borrowed reading (katcp_sync.borrow)

    @property
    def borrowable(self):
        # type: () -> bool
        """True if :meth:`borrow_reading` may succeed (made ``borrowable`` where
        epoll exists). Any thread."""
        return self._borrow is not None

    @property
    def spin_time(self):
        # type: () -> float
        """Seconds a borrower polls without sleeping before it blocks (see
        :mod:`katcp_sync.borrow`); 0 turns spinning off. Any thread."""
        borrow = self._borrow
        return self._spin_time if borrow is None else borrow.spin_time

    @spin_time.setter
    def spin_time(self, value):
        # type: (float) -> None
        self._spin_time = value
        if self._borrow is not None:
            self._borrow.spin_time = value

    def borrow_reading(self):
        # type: () -> bool
        """Take reading over from the reactor, for the calling thread
        (:meth:`ReadBorrow.borrow <katcp_sync.borrow.ReadBorrow.borrow>`);
        False if not borrowable."""
        borrow = self._borrow
        return borrow is not None and borrow.borrow()

    def read_borrowed(self, claim, done,
                      timeout,
                      batch_done=None,
                      poll=None):
        # type: (Callable[[Line], bool], Callable[[], bool], Optional[float], Optional[Callable[[], None]], Optional[Callable[[Optional[int]], List[Tuple[int, int]]]]) -> None
        """Read on the calling thread until ``done()``; only while borrowed
        (:meth:`ReadBorrow.read <katcp_sync.borrow.ReadBorrow.read>`)."""
        assert self._borrow is not None, "read_borrowed() without borrow_reading()"
        self._borrow.read(claim, done, timeout, batch_done, poll)

    def fileno(self):
        # type: () -> int
        """The socket's descriptor (-1 once closed). Any thread."""
        return self._sock.fileno()

    def return_reading(self, park=True):
        # type: (bool) -> None
        """End a borrow started by :meth:`borrow_reading` (calling thread;
        :meth:`ReadBorrow.give_back <katcp_sync.borrow.ReadBorrow.give_back>`)."""
        # This thread waited for the peer: its next write is no burst.
        writer_waited()
        assert self._borrow is not None, "return_reading() without borrow_reading()"
        self._borrow.give_back(park)

    def __repr__(self):
        # type: () -> str
        return "<Connection %s%s>" % (self.address, " closed" if self._closing else "")

    # ------------------------------------------------------------------
    # Reactor side

    def _register(self):
        # type: () -> None
        if not self._closing:
            self._update_reader()
            if self._limits is not None:
                self._limits.start()

    def _limit_expired(self, reason):
        # type: (str) -> None
        """A time limit passed (reactor thread)."""
        logger.warning("%s: closing connection: %s", self.address, reason)
        self.close(reason)

    def _update_reader(self):
        # type: () -> None
        want = (self._reading and self._held is None
                and not self._closing and not self._finished)
        if want and not self._reader_registered:
            self._reactor.add_reader(self._watched, self._on_readable)
            self._reader_registered = True
        elif not want and self._reader_registered:
            self._reactor.remove_reader(self._watched)
            self._reader_registered = False

    def _read_now(self):
        # type: () -> None
        """The socket is readable (a connection that is not borrowable)."""
        if self._closing:
            self._update_reader()  # close() was called on another thread
            return
        if self._held is None:  # (a readiness seen before lines were held)
            self._read()

    def _dispatch(self, lines):
        # type: (List[Line]) -> None
        # Replies written while handling the batch go out in one send at its
        # end, without a trip through the reactor's callback queue.
        self._dispatching = True
        rest = None  # type: Optional[List[Line]]
        try:
            rest = self._handler.lines_received(self, lines)
        except Exception:
            logger.exception("%s: exception in lines_received", self.address)
        finally:
            self._dispatching = False
        if rest and not self._finished:
            self._held = rest
            self._update_reader()
            self._reactor.add_callback(self._dispatch_held)
        else:
            self._held = None
        if self._flush_pending:
            self._flush()

    def _dispatch_held(self):
        # type: () -> None
        """Hand the handler the lines it left for later, then read again
        (unless it leaves some again). Reactor thread."""
        lines = self._held
        if lines is None:
            return
        if self._closing or self._finished:
            self._held = None   # the connection ends: as for unread lines
            return
        self._dispatch(lines)
        self._update_reader()

    def _read(self):
        # type: () -> None
        """Read what is there (up to a budget) and dispatch it.

        Reactor thread (holding the borrow's read lock, if borrowable)."""
        sock = self._sock
        recv = sock.recv
        recv_into = sock.recv_into
        # Split read by read (a long line is gathered in the splitter's buffer,
        # which recv_into fills, so each read is split before the next).
        read_from = self._splitter.read_from
        lines = []  # type: List[Line]
        total = 0
        eof = False
        error = None  # type: Optional[OSError]
        while True:
            try:
                count, asked, new = read_from(recv, recv_into)
            except _SOCKET_ERRORS as exc:
                if not _would_block(exc):
                    error = exc
                break
            if not count:
                eof = True
                break
            if new:
                lines += new
            total += count
            # (drained: save the recv() that would say EAGAIN)
            if count < asked or total >= _READ_BUDGET:
                break
        if total:
            limits = self._limits
            if limits is not None:
                limits.note_data(bool(lines))
            if lines:
                self._dispatch(lines)
        if error is not None:
            self._lose("connection error: %s" % (error,), flush=False)
        elif eof and self._held is None:
            # (With lines held, the end is read again once they are handled.)
            self._lose("connection closed by peer", flush=True)

    def _lose(self, reason, flush):
        # type: (str, bool) -> None
        """The socket failed or the peer hung up. Reactor thread."""
        with self._lock:
            if not self._closing:
                self._closing = True
                self._close_reason = reason
        if flush:
            self._begin_close(True, _EOF_FLUSH_TIMEOUT)
        else:
            self._finish()

    def _begin_close(self, flush, timeout):
        # type: (bool, float) -> None
        """Stop reading; flush (bounded) or finish. Reactor thread."""
        if self._finished:
            return
        borrow = self._borrow
        if borrow is not None:
            with self._lock:
                borrow.wake()
        self._update_reader()
        if flush and self._wbytes:
            if self._close_timer is None:
                self._close_timer = self._reactor.call_later(timeout, self._finish)
            if not self._flush_pending:
                self._flush_pending = True
                self._flush()
        else:
            # Deferred, so that connection_lost never runs inside the caller
            # (for instance inside lines_received).
            self._reactor.add_callback(self._finish)

    def _finish(self):
        # type: () -> None
        """Close the socket and tell the handler, once. Reactor thread."""
        if self._finished:
            return
        with self._lock:
            self._finished = True
            self._closing = True
            reason = self._close_reason
            self._wbuf.clear()
            self._wbytes = 0
            self._flush_pending = False
            # Lines a borrower read before the end still come before it; a
            # borrower closes the socket when it returns.
            borrow = self._borrow
            handover, borrowed = ([], False) if borrow is None else borrow.finish()
        for timer in (self._close_timer, self._hold_timer):
            if timer is not None:
                timer.cancel()
        if self._limits is not None:
            self._limits.cancel()
        if self._reader_registered:
            self._reactor.remove_reader(self._watched)
            self._reader_registered = False
        if self._writer_registered:
            self._reactor.remove_writer(self._sock)
            self._writer_registered = False
        self._reactor.remove_stop_hook(self._stop_hook)
        if not borrowed:
            self._close_socket()
        if handover:
            self._dispatch(handover)
        logger.debug("%s: connection closed: %s", self.address, reason)
        try:
            self._handler.connection_lost(self, reason)
        except Exception:
            logger.exception("%s: exception in connection_lost", self.address)

    def _close_socket(self):
        # type: () -> None
        self._sock.close()
        if self._borrow is not None:
            self._borrow.close()

    def _on_reactor_stop(self):
        # type: () -> None
        """Reactor is stopping: one last non-blocking send, then close."""
        with self._lock:
            if not self._closing:
                self._closing = True
                self._close_reason = "reactor stopped"
        if self._wbytes and not self._finished:
            self._flush()
        self._finish()
