"""Sockets on the reactor: line connections, a listener and a non-blocking connect.

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

When the kernel buffer is full the reactor registers a writer and continues
when the peer reads. The buffer is bounded: a write that would take it past
``max_write_buffer`` closes the connection (the peer is not reading), so a
stuck peer never blocks a caller or stalls the reactor.

``handler.connection_lost(conn, reason)`` is called exactly once, on the
reactor thread, however the connection ends (peer EOF, error, local
:meth:`Connection.close`, buffer overflow, reactor stop).

Borrowed reading
----------------
A thread that sends a request and then only waits for its reply would be
woken twice: the reactor wakes to read the reply, then wakes the caller. A
connection made with ``borrowable=True`` (Linux: it needs ``epoll``) lets
such a thread read for itself instead, so the reply reaches it with one
wake-up. The reactor then watches a private epoll object holding only this
socket rather than the socket itself. :meth:`Connection.borrow_reading`
takes the socket out of that inner epoll -- the reactor's level-triggered
loop simply stops seeing it, without running anything -- and takes the
*read lock*, which the reactor holds whenever it reads. While borrowed,
:meth:`Connection.read_borrowed` polls and reads on the caller's thread
and offers each line to a ``claim`` function; the first line not claimed,
and every line after it, is *handed over*: queued and dispatched on the
reactor thread by ``lines_received`` as usual, before anything the reactor
reads later. A borrower waiting for data first *spins* -- polls without
sleeping -- for up to :attr:`Connection.spin_time` (200 us by default),
and only then blocks in ``poll()``. On a fast link the reply then arrives
while the thread is still running: no sleep, no wake-up, no cold caches,
which more than doubles the rate of back-to-back requests on loopback. The
connection keeps a moving average of how long borrowers waited; while it
is above ``spin_time`` (a slow or distant device) nobody spins, so the
processor time spent this way stays bounded by what it saves.
:meth:`Connection.return_reading` puts the socket back into
the inner epoll, so data that arrived meanwhile wakes the reactor at once --
unless the borrow ended cleanly (the caller got what it waited for). Then
the socket is *parked*: it stays out of the inner epoll for a few
milliseconds, so that a caller making requests back to back pays for no
epoll changes at all. Parking ends when the next borrow takes the socket,
when anything else is written to the connection (its reply must not wait),
or when a reactor timer finds it parked for :data:`_PARK_TIME`; an
unsolicited message from the peer may wait that long.

The reactor never waits for a borrower: if it finds the read lock taken it
returns (the socket is out of its epoll, so nothing spins). A borrow only
starts when nothing handed over is waiting, so claimed lines are always the
oldest unprocessed ones. EOF is left in the socket for the reactor (it
stays readable); a read error is handed over. Closing a borrowed
connection wakes the borrower (``shutdown(SHUT_RD)``), and the socket is
closed when the borrow ends, never under the borrower's feet.

:class:`Listener` accepts connections and :func:`connect` opens one, both
driven by the reactor.
"""

import collections
import errno
import logging
import math
import os
import select
import socket
import threading
from time import monotonic as _monotonic
from typing import Any, Callable, Deque, List, Optional, Protocol, Sequence, Tuple, Union

from .errors import KatcpTimeoutError, LineTooLongError
from .linebuffer import DEFAULT_MAX_LINE_LENGTH, LineSplitter
from .reactor import Reactor, TimerHandle

__all__ = [
    "Connection",
    "ConnectionHandler",
    "Line",
    "Listener",
    "ConnectAttempt",
    "connect",
    "format_address",
    "DEFAULT_MAX_WRITE_BUFFER",
    "DEFAULT_SPIN_TIME",
]

logger = logging.getLogger(__name__)

#: Default bound on the bytes a connection may have waiting to be sent.
DEFAULT_MAX_WRITE_BUFFER = 4 * 1024 * 1024

# Size of one recv() and the most read from one socket per readiness event.
_RECV_SIZE = 65536
_READ_BUDGET = 256 * 1024
# Small buffered pieces are joined into sends of up to this size.
_SEND_CHUNK = 256 * 1024
# How long a connection whose peer sent EOF keeps trying to send its buffer.
_EOF_FLUSH_TIMEOUT = 1.0
# A write from another thread sends directly unless the same thread wrote
# less than this long ago: a burst is left to the reactor, which sends it in
# few large send()s (measured: ~8x the messages per second of one send()
# each, with the same request/reply latency). Per thread, not per
# connection: a sensor update fanned out to many clients is a burst too.
_BURST_GAP = 50e-6
# Borrowed reading needs epoll (an inner epoll the caller can edit) and poll.
_BORROW_SUPPORTED = hasattr(select, "epoll") and hasattr(select, "poll")
# Longest a socket stays parked after a borrow (see the module docstring).
_PARK_TIME = 0.005
# accept() errors that mean "out of resources": back off instead of spinning.
_ACCEPT_RESOURCE_ERRORS = frozenset(
    getattr(errno, name) for name in ("EMFILE", "ENFILE", "ENOBUFS", "ENOMEM")
    if hasattr(errno, name))
_ACCEPT_RETRY_DELAY = 0.5
# While they last, such failures are logged once, then summed up at most this
# often (seconds), then once more when accepting works again.
_ACCEPT_ERROR_LOG_INTERVAL = 60.0


class _WriterThread(threading.local):
    #: When this thread (not the reactor) last wrote (see _BURST_GAP).
    last = 0.0


_writer_thread = _WriterThread()


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))   # type: ignore[attr-defined]
    except (AttributeError, OSError):
        return os.cpu_count() or 1


#: Default :attr:`Connection.spin_time`: how long a borrower polls without
#: sleeping before it blocks. Zero on a single CPU, where spinning would
#: only keep the peer (or the thread that would answer) off the processor.
DEFAULT_SPIN_TIME = 200e-6 if _cpu_count() > 1 else 0.0


#: One item of ``lines_received``: a line without its end-of-line byte, or the
#: error standing for a line that was too long.
Line = Union[bytes, LineTooLongError]


class ConnectionHandler(Protocol):
    """What a :class:`Connection` calls; both methods run on the reactor thread.

    They must not block: hand slow work to a worker pool.
    """

    def lines_received(self, conn: "Connection", lines: List[Line]) -> None:
        """Called once per socket read with the complete lines it produced."""

    def connection_lost(self, conn: "Connection", reason: str) -> None:
        """Called exactly once when the connection ends, for whatever reason."""


def format_address(addr: Any) -> str:
    """Format a socket address as ``"host:port"`` (IPv6 as ``"[::1]:port"``)."""
    if isinstance(addr, tuple) and len(addr) >= 2:
        host, port = addr[0], addr[1]
        if ":" in host:
            return "[%s]:%d" % (host, port)
        return "%s:%d" % (host, port)
    return str(addr) if addr else "unknown"


def format_seconds(seconds: float) -> str:
    """A duration as people read it: ``"3.0"`` rather than ``"3.003591"``.

    One decimal from a second up, two significant digits below (``"0.25"``);
    used in every message that states a time (timeouts, retries).
    """
    if seconds >= 1.0:
        return "%.1f" % seconds
    return "%.2g" % seconds


def _on_reactor(reactor: Reactor, fn: Callable[..., Any], *args: Any) -> bool:
    """Run ``fn(*args)`` now if on the reactor thread, else queue it there.

    Returns False if the reactor is closed and the call was dropped.
    """
    if reactor.in_reactor_thread():
        fn(*args)
        return True
    return reactor.add_callback(fn, *args)


def _set_nodelay(sock: socket.socket) -> None:
    if sock.family in (socket.AF_INET, getattr(socket, "AF_INET6", None)):
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass


class Connection:
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
        borrowable: allow :meth:`borrow_reading` (see "Borrowed reading" in
            the module docstring). Ignored where epoll is missing; costs one
            extra file descriptor.
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

    def __init__(self, reactor: Reactor, sock: socket.socket, handler: ConnectionHandler,
                 max_line_length: int = DEFAULT_MAX_LINE_LENGTH,
                 max_write_buffer: int = DEFAULT_MAX_WRITE_BUFFER,
                 borrowable: bool = False, spin_time: Optional[float] = None,
                 partial_line_timeout: Optional[float] = None,
                 idle_timeout: Optional[float] = None) -> None:
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
        _set_nodelay(sock)
        try:
            self.peer: Any = sock.getpeername()
        except OSError:
            self.peer = None
        try:
            self.sockname: Any = sock.getsockname()
        except OSError:
            self.sockname = None
        #: The peer as ``"host:port"`` (``"[host]:port"`` for IPv6).
        self.address = format_address(self.peer)

        self._lock = threading.Lock()
        # Guarded by _lock (shared with writers on other threads):
        self._wbuf: Deque[Union[bytes, memoryview]] = collections.deque()
        self._wbytes = 0
        self._flush_pending = False  # a _flush is queued or a writer registered
        self._closing = False
        self._close_reason = ""
        # Reactor thread only:
        self._finished = False
        self._dispatching = False  # inside _dispatch: its writes are flushed at its end
        self._reading = True
        self._reader_registered = False
        self._writer_registered = False
        self._close_timer: Optional[TimerHandle] = None
        # Time limits (reactor thread): see _check_limits.
        self._partial_line_timeout = partial_line_timeout
        self._idle_timeout = idle_timeout
        self._limited = partial_line_timeout is not None or idle_timeout is not None
        self._last_data = _monotonic()           # when a byte last came in
        self._partial_since: Optional[float] = None  # when the partial line began
        self._limit_timer: Optional[TimerHandle] = None
        # Borrowed reading. The reactor holds _read_lock while it reads, a
        # borrower for the whole borrow. The rest is guarded by _lock.
        self._read_lock = threading.Lock()
        self._inner: Any = None        # the epoll the reactor watches, if borrowable
        self._borrowed = False
        self._handover: Deque[Line] = collections.deque()  # read by a borrower, not claimed
        self._read_error: Optional[OSError] = None         # ... and its recv() error
        self._quiet = False           # the borrower got what it waited for: may park
        self._reply_wait = 0.0        # moving average of a borrower's wait for data
        #: Seconds a borrower polls without sleeping before it blocks (see
        #: "Borrowed reading" in the module docstring); 0 turns it off.
        self.spin_time = DEFAULT_SPIN_TIME if spin_time is None else spin_time
        self._parked = False          # out of the inner epoll, nobody reading
        self._parked_at = 0.0
        self._reclaim_scheduled = False
        if borrowable and _BORROW_SUPPORTED:
            self._fd = sock.fileno()
            self._inner = select.epoll()
            self._inner.register(self._fd, select.EPOLLIN)
            self._poller = select.poll()
            self._poller.register(self._fd, select.POLLIN)
        self._watched: Any = self._inner if self._inner is not None else sock

        self._stop_hook = reactor.add_stop_hook(self._on_reactor_stop)
        if not _on_reactor(reactor, self._register):
            self._closing = True
            self._close_reason = "reactor closed"
            self._finished = True
            self._close_socket()

    # ------------------------------------------------------------------
    # Public API

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called or the connection was lost. Any thread."""
        return self._closing

    @property
    def buffered_bytes(self) -> int:
        """Bytes written but not yet handed to the kernel. Any thread."""
        return self._wbytes

    def write(self, data: bytes) -> bool:
        """Queue ``data`` to be sent, in order with every other write.

        Safe from any thread and never blocks. See the module docstring for
        when the bytes actually leave.

        Returns:
            True if accepted; False if the connection is closed or closing
            (the data is dropped silently), or if this write overflowed the
            buffer (the connection is then closed).
        """
        if type(data) is not bytes:
            data = bytes(data)  # the caller may reuse a bytearray or memoryview
        size = len(data)
        if not size:
            return not self._closing
        direct = not self._reactor.in_reactor_thread()
        with self._lock:
            if self._closing:
                return False
            if self._parked:
                self._unpark()
            # An empty buffer takes a write of any size: the peer has read
            # everything so far. The bound is on data queued behind unsent data.
            wbytes = self._wbytes
            if wbytes and wbytes + size > self.max_write_buffer:
                error: Optional[str] = (
                    "client not reading: write buffer of %d bytes exceeded"
                    % self.max_write_buffer)
            else:
                error = None
                unsent: Union[bytes, memoryview] = data
                if direct:
                    now = _monotonic()
                    if not wbytes and now - _writer_thread.last > _BURST_GAP:
                        unsent, error = self._send_now(data)
                    _writer_thread.last = now
                if error is None:
                    if not unsent:
                        return True
                    self._wbuf.append(unsent)
                    self._wbytes += len(unsent)
                    if self._flush_pending:
                        return True
                    self._flush_pending = True
                    if not direct and self._dispatching:
                        return True  # _dispatch flushes when the batch is handled
            if error is not None:
                self._closing = True
                self._close_reason = error
                self._wbuf.clear()
                self._wbytes = 0
        if error is not None:
            logger.warning("%s: closing connection: %s", self.address, error)
            # Deferred even on the reactor thread: connection_lost must not run
            # inside the caller's write().
            self._reactor.add_callback(self._finish)
            return False
        self._reactor.add_callback(self._flush)
        return True

    def _send_now(self, data: bytes) -> Tuple[Union[bytes, memoryview], Optional[str]]:
        """Non-blocking send from the caller's thread (lock held).

        Returns what is left to send and an error description or None.
        """
        try:
            sent = self._sock.send(data)
        except (BlockingIOError, InterruptedError):
            return data, None
        except OSError as exc:
            return b"", "send failed: %s" % (exc,)
        return (memoryview(data)[sent:] if sent < len(data) else b""), None

    def write_lines(self, lines: Sequence[bytes]) -> bool:
        """Send each of ``lines`` followed by ``b"\\n"``, as one :meth:`write`.

        ``lines`` are lines *without* their end-of-line byte (as
        ``bytes(message)``); they stay together and in order. Any thread.
        """
        if not lines:
            return not self._closing
        return self.write(b"\n".join(lines) + b"\n")

    def close(self, reason: str = "", flush: bool = True, timeout: float = 1.0) -> None:
        """Close the connection; safe from any thread and idempotent.

        Reading stops at once and later writes are dropped. With ``flush``,
        what is already buffered is sent first, for at most ``timeout``
        seconds; then the socket is closed and ``connection_lost(conn,
        reason)`` is called on the reactor thread. Returns without waiting.
        """
        with self._lock:
            if self._closing:
                return
            self._closing = True
            self._close_reason = reason or "closed locally"
        # If the reactor is closed, its stop hook already finished us.
        _on_reactor(self._reactor, self._begin_close, flush, timeout)

    def pause_reading(self) -> None:
        """Stop reading from the socket (back-pressure). Reactor thread only."""
        self._reading = False
        self._update_reader()

    def resume_reading(self) -> None:
        """Read again after :meth:`pause_reading`. Reactor thread only."""
        self._reading = True
        self._update_reader()

    # ------------------------------------------------------------------
    # Borrowed reading (see the module docstring)

    def borrow_reading(self) -> bool:
        """Take reading over from the reactor, for the calling thread.

        Call from a thread that is not the reactor's, typically just before
        sending a request whose reply it will wait for. On success the
        caller must call :meth:`return_reading` (in a ``finally``), and may
        call :meth:`read_borrowed` in between; nothing else reads meanwhile.

        Returns:
            True if borrowed; False if the connection is not borrowable,
            closing, already borrowed, has handed-over lines still to be
            dispatched, or the reactor is reading it right now. The caller
            then simply waits as usual.
        """
        inner = self._inner
        if inner is None or self._reactor.in_reactor_thread():
            return False
        with self._lock:
            if self._closing or self._borrowed or self._handover or self._read_error:
                return False
            if self._parked:
                if not self._read_lock.acquire(False):
                    return False   # the reactor is delivering: reading stays parked
                self._parked = False
            else:
                # Out of the reactor's sight first, so that it never sees the
                # socket readable while it cannot take the read lock.
                inner.unregister(self._fd)
                if not self._read_lock.acquire(False):
                    inner.register(self._fd, select.EPOLLIN)   # the reactor is reading
                    return False
            self._borrowed = True
            self._quiet = False
        return True

    def read_borrowed(self, claim: Callable[[Line], bool], done: Callable[[], bool],
                      timeout: Optional[float]) -> None:
        """Read on the calling thread until ``done()``; only while borrowed.

        Each complete line is offered, in order, to ``claim(line)``, on this
        thread; it returns True if it consumed the line. The first line it
        does not claim, and all lines after it, are handed over to the
        reactor (dispatched with ``lines_received`` there, in order) and the
        read ends. ``claim`` must not block or raise (an exception is logged
        and counts as not claimed).

        Returns (never raises) when ``done()`` is true, a line was handed
        over, ``timeout`` seconds passed (``None``: no limit), the peer sent
        EOF or an error (left for the reactor to report), or the connection
        is closing.
        """
        poll = self._poller.poll
        recv = self._sock.recv
        feed = self._splitter.feed
        start = _monotonic()
        deadline = None if timeout is None else start + timeout
        spin_until = 0.0
        if self._reply_wait < self.spin_time:
            spin_until = start + self.spin_time
            if deadline is not None and deadline < spin_until:
                spin_until = deadline
        measured = False
        wait: Optional[int] = None
        self._quiet = False
        while not done():
            if spin_until and _monotonic() < spin_until:
                if not poll(0):
                    continue
            else:
                spin_until = 0.0
                if deadline is not None:
                    remaining = deadline - _monotonic()
                    if remaining <= 0:
                        return
                    wait = math.ceil(remaining * 1000)
                if not poll(wait):
                    continue
            if not measured:
                measured = True
                self._reply_wait += (_monotonic() - start - self._reply_wait) / 4
            if self._closing:
                return
            try:
                data = recv(_RECV_SIZE)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError as exc:
                self._read_error = exc
                return
            if not data:
                return  # EOF stays readable: the reactor will see it
            index = 0
            lines: Optional[List[Line]] = None
            try:
                lines = feed(data)
                for line in lines:
                    if not claim(line):
                        break
                    index += 1
                else:
                    continue
            except BaseException as exc:
                # claim() failed, or this thread was interrupted (a signal
                # handler raised): the lines not yet claimed still belong to
                # the stream, so they are handed over before re-raising.
                if lines is None:
                    self._read_error = OSError("borrowed read interrupted: %r" % (exc,))
                    raise     # the splitter's state is unknown: the reactor drops us
                with self._lock:
                    self._handover.extend(lines[index:])
                if not isinstance(exc, Exception):
                    raise
                logger.exception("%s: exception in a borrowed read's claim", self.address)
                return
            with self._lock:
                self._handover.extend(lines[index:])
            return
        self._quiet = True

    def return_reading(self, park: bool = True) -> None:
        """End a borrow started by :meth:`borrow_reading` (calling thread).

        The reactor reads again; handed-over lines are dispatched on it.
        With ``park`` (the caller expects nothing it did not read), a borrow
        that ended cleanly parks the socket instead (module docstring).
        """
        # This thread waited for the peer: its next write is no burst.
        _writer_thread.last = 0.0
        schedule = False
        with self._lock:
            self._borrowed = False
            self._read_lock.release()
            deliver = bool(self._handover) or self._read_error is not None
            if self._finished:
                self._close_socket()  # deferred by _finish while borrowed
                return
            if park and self._quiet and not deliver and not self._closing:
                self._parked = True
                self._parked_at = _monotonic()
                schedule = not self._reclaim_scheduled
                self._reclaim_scheduled = True
            else:
                self._inner.register(self._fd, select.EPOLLIN)
        if schedule:
            self._reactor.call_later(_PARK_TIME, self._reclaim)
        if deliver:
            self._reactor.add_callback(self._deliver_handover)

    def _unpark(self) -> None:
        """Give a parked socket back to the reactor (lock held)."""
        self._parked = False
        self._inner.register(self._fd, select.EPOLLIN)

    def _reclaim(self) -> None:
        """Timer: end parking that has lasted _PARK_TIME. Reactor thread.

        One timer covers a run of quick borrows: it puts itself off while
        the socket is parked again and again, rather than being scheduled
        per borrow. Not parked (borrowed, or given back): it ends, and the
        next park schedules it again."""
        with self._lock:
            delay = self._parked_at + _PARK_TIME - _monotonic()
            parked = self._parked and not self._finished
            if not (parked and delay > 0):
                self._reclaim_scheduled = False
                if parked:
                    self._unpark()
                return
        self._reactor.call_later(delay, self._reclaim)

    def __repr__(self) -> str:
        return "<Connection %s%s>" % (self.address, " closed" if self._closing else "")

    # ------------------------------------------------------------------
    # Reactor side

    def _register(self) -> None:
        if not self._closing:
            self._update_reader()
            if self._idle_timeout is not None:
                self._last_data = _monotonic()
                self._schedule_limit_check(self._last_data + self._idle_timeout)

    def _note_data(self, line_ended: bool) -> None:
        """Bytes came in (and ``line_ended``: a line was completed): track
        idleness and the age of the partial line now held."""
        now = self._last_data = _monotonic()
        if not self._splitter.buffered:
            self._partial_since = None
        elif self._partial_since is None:
            self._partial_since = now
            if self._partial_line_timeout is not None:
                self._schedule_limit_check(now + self._partial_line_timeout)
        elif line_ended:
            self._partial_since = now   # the held bytes began a new line

    def _schedule_limit_check(self, when: float) -> None:
        timer = self._limit_timer
        if timer is not None:
            if timer.when <= when:
                return     # an earlier check comes first and reschedules
            timer.cancel()
        self._limit_timer = self._reactor.call_at(when, self._check_limits)

    def _check_limits(self) -> None:
        """Timer: close the connection if a time limit passed, else check
        again when the next one could. One timer per connection, and only
        while a limit can still expire."""
        self._limit_timer = None
        if self._closing:
            return
        now = _monotonic()
        next_check = []
        reason = None
        timeout = self._partial_line_timeout
        if timeout is not None and self._partial_since is not None:
            if now - self._partial_since >= timeout:
                reason = "no end of line within %g s (%d bytes of an unfinished line)" % (
                    timeout, self._splitter.buffered)
            else:
                next_check.append(self._partial_since + timeout)
        timeout = self._idle_timeout
        if timeout is not None and reason is None:
            if now - self._last_data >= timeout:
                reason = "idle for %g s" % timeout
            else:
                next_check.append(self._last_data + timeout)
        if reason is not None:
            logger.warning("%s: closing connection: %s", self.address, reason)
            self.close(reason)
        elif next_check:
            self._schedule_limit_check(min(next_check))

    def _update_reader(self) -> None:
        want = self._reading and not self._closing and not self._finished
        if want and not self._reader_registered:
            self._reactor.add_reader(self._watched, self._on_readable)
            self._reader_registered = True
        elif not want and self._reader_registered:
            self._reactor.remove_reader(self._watched)
            self._reader_registered = False

    def _on_readable(self) -> None:
        if self._closing:
            self._update_reader()  # close() was called on another thread
            return
        if not self._read_lock.acquire(False):
            return  # borrowed: the socket is out of the inner epoll, no spin
        try:
            if (self._handover or self._read_error) and not self._deliver_locked():
                return
            self._read()
        finally:
            self._read_lock.release()

    def _deliver_handover(self) -> None:
        """Dispatch what a borrower handed over. Reactor thread."""
        if self._finished or not self._read_lock.acquire(False):
            return  # _finish delivered it / a new borrow means it was delivered
        try:
            self._deliver_locked()
        finally:
            self._read_lock.release()

    def _deliver_locked(self) -> bool:
        """Dispatch handed-over lines, then report a handed-over error.
        Read lock held; returns False if the connection was lost."""
        with self._lock:
            lines = list(self._handover)
            self._handover.clear()
            error, self._read_error = self._read_error, None
        if lines:
            self._dispatch(lines)
        if error is not None:
            self._lose("connection error: %s" % (error,), flush=False)
            return False
        return True

    def _dispatch(self, lines: List[Line]) -> None:
        # Replies written while handling the batch go out in one send at its
        # end, without a trip through the reactor's callback queue.
        self._dispatching = True
        try:
            self._handler.lines_received(self, lines)
        except Exception:
            logger.exception("%s: exception in lines_received", self.address)
        finally:
            self._dispatching = False
        if self._flush_pending:
            self._flush()

    def _read(self) -> None:
        """Read what is there (up to a budget) and dispatch it. Read lock held."""
        recv = self._sock.recv
        chunks: List[bytes] = []
        total = 0
        eof = False
        error: Optional[OSError] = None
        while total < _READ_BUDGET:
            try:
                data = recv(_RECV_SIZE)
            except (BlockingIOError, InterruptedError):
                break
            except OSError as exc:
                error = exc
                break
            if not data:
                eof = True
                break
            chunks.append(data)
            total += len(data)
            if len(data) < _RECV_SIZE:
                break  # drained: save the recv() that would say EAGAIN
        if chunks:
            lines = self._splitter.feed(chunks[0] if len(chunks) == 1 else b"".join(chunks))
            if self._limited:
                self._note_data(bool(lines))
            if lines:
                self._dispatch(lines)
        if error is not None:
            self._lose("connection error: %s" % (error,), flush=False)
        elif eof:
            self._lose("connection closed by peer", flush=True)

    def _lose(self, reason: str, flush: bool) -> None:
        """The socket failed or the peer hung up. Reactor thread."""
        with self._lock:
            if not self._closing:
                self._closing = True
                self._close_reason = reason
        if flush:
            self._begin_close(True, _EOF_FLUSH_TIMEOUT)
        else:
            self._finish()

    def _flush(self) -> None:
        """Send what the kernel will take; writer callback too. Reactor thread."""
        if self._finished:
            return
        error: Optional[OSError] = None
        with self._lock:
            buf = self._wbuf
            send = self._sock.send
            while buf:
                data = buf[0]
                if len(buf) > 1 and len(data) < _SEND_CHUNK:
                    data = self._coalesce_head()
                try:
                    sent = send(data)
                except (BlockingIOError, InterruptedError):
                    break
                except OSError as exc:
                    error = exc
                    break
                self._wbytes -= sent
                if sent < len(data):
                    buf[0] = memoryview(data)[sent:]
                    break
                buf.popleft()
            remaining = self._wbytes
            self._flush_pending = bool(remaining) and error is None
            closing = self._closing
        if error is not None:
            self._lose("send failed: %s" % (error,), flush=False)
        elif remaining:
            if not self._writer_registered:
                self._reactor.add_writer(self._sock, self._flush)
                self._writer_registered = True
        else:
            if self._writer_registered:
                self._reactor.remove_writer(self._sock)
                self._writer_registered = False
            if closing and self._close_timer is not None:
                self._finish()

    def _coalesce_head(self) -> bytes:
        """Join small pieces at the head of the buffer (lock held)."""
        buf = self._wbuf
        pieces = [buf.popleft()]
        size = len(pieces[0])
        while buf and size + len(buf[0]) <= _SEND_CHUNK:
            piece = buf.popleft()
            pieces.append(piece)
            size += len(piece)
        data = b"".join(pieces)
        buf.appendleft(data)
        return data

    def _begin_close(self, flush: bool, timeout: float) -> None:
        """Stop reading; flush (bounded) or finish. Reactor thread."""
        if self._finished:
            return
        with self._lock:
            self._wake_borrower()
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

    def _finish(self) -> None:
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
            # Lines a borrower read before the end still come before it.
            handover = list(self._handover)
            self._handover.clear()
            borrowed = self._borrowed
            if borrowed:
                self._wake_borrower()  # it closes the socket when it returns
        if self._close_timer is not None:
            self._close_timer.cancel()
        if self._limit_timer is not None:
            self._limit_timer.cancel()
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

    def _wake_borrower(self) -> None:
        """Make a borrower's poll() return: reading is over (lock held)."""
        if self._borrowed:
            try:
                self._sock.shutdown(socket.SHUT_RD)
            except OSError:
                pass

    def _close_socket(self) -> None:
        self._sock.close()
        if self._inner is not None:
            self._inner.close()

    def _on_reactor_stop(self) -> None:
        """Reactor is stopping: one last non-blocking send, then close."""
        with self._lock:
            if not self._closing:
                self._closing = True
                self._close_reason = "reactor stopped"
        if self._wbytes and not self._finished:
            self._flush()
        self._finish()


class Listener:
    """A listening TCP socket that accepts connections on the reactor.

    Args:
        reactor: the reactor that accepts.
        host: address to bind; ``""`` or ``"0.0.0.0"`` means every IPv4
            interface, ``"::"`` every IPv6 one; names are resolved (the
            first address is used).
        port: port to bind; 0 picks a free one (see :attr:`address`).
        on_accept: called as ``on_accept(sock, addr)`` on the reactor thread
            for each new connection. It owns ``sock`` (typically wraps it in a
            :class:`Connection`).
        backlog: ``listen()`` backlog.

    May be created on any thread: binding happens in the constructor, so bind
    errors raise :class:`OSError` to the caller; accepting starts on the
    reactor.
    """

    def __init__(self, reactor: Reactor, host: str, port: int,
                 on_accept: Callable[[socket.socket, Any], Any], backlog: int = 128) -> None:
        self._reactor = reactor
        self._on_accept = on_accept
        sockaddr: Tuple[Any, ...]
        if host in ("", "0.0.0.0"):
            family, sockaddr = socket.AF_INET, ("0.0.0.0", port)
        else:
            try:
                info = socket.getaddrinfo(host, port, socket.AF_UNSPEC, socket.SOCK_STREAM,
                                          0, socket.AI_PASSIVE)[0]
            except socket.gaierror as exc:
                raise OSError(exc.errno, "Cannot listen on %s: %s" % (
                    format_address((host, port)), exc.strerror or exc))
            family, sockaddr = info[0], info[4]
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(sockaddr)
            sock.listen(backlog)
            sock.setblocking(False)
        except OSError as exc:
            sock.close()
            # The address in the error: "Address already in use" alone does
            # not say which (issue 15). OSError(errno, ...) keeps the subclass.
            raise OSError(exc.errno, "Cannot listen on %s: %s" % (
                format_address(sockaddr), exc.strerror or exc))
        except BaseException:
            sock.close()
            raise
        self._sock = sock
        self._backlog = max(backlog, 1)
        #: The bound ``(host, port)``, with the real port when 0 was asked.
        self.address: Tuple[str, int] = sock.getsockname()[:2]
        self._closed = False
        self._paused_timer: Optional[TimerHandle] = None
        # A run of out-of-resources accept failures (reactor thread): how
        # many, when it began, how many since the last log line and when.
        self._failures = 0
        self._failing_since = 0.0
        self._unlogged = 0
        self._logged_at = 0.0
        self._stop_hook = reactor.add_stop_hook(self._do_close)
        if not _on_reactor(reactor, self._register):
            self._closed = True
            sock.close()

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called. Any thread."""
        return self._closed

    def close(self) -> None:
        """Stop accepting and close the listening socket; any thread, idempotent.

        Already accepted connections are not affected.
        """
        if self._closed:
            return
        self._closed = True
        if not _on_reactor(self._reactor, self._do_close):
            self._sock.close()

    def _register(self) -> None:
        if not self._closed:
            self._reactor.add_reader(self._sock, self._on_readable)

    def _on_readable(self) -> None:
        accept = self._sock.accept
        for _ in range(self._backlog):  # then let other sockets have a turn
            try:
                sock, addr = accept()
            except (BlockingIOError, InterruptedError):
                return
            except ConnectionAbortedError:
                continue  # the peer gave up while queued: not our problem
            except OSError as exc:
                if exc.errno in _ACCEPT_RESOURCE_ERRORS:
                    self._log_resource_failure(exc)
                    self._reactor.remove_reader(self._sock)
                    self._paused_timer = self._reactor.call_later(
                        _ACCEPT_RETRY_DELAY, self._register)
                else:
                    logger.error("listener %s: accept failed: %s",
                                 format_address(self.address), exc)
                return
            if self._failures:
                logger.warning("listener %s: accepting again after %d failed accepts in %.1f s",
                               format_address(self.address), self._failures,
                               _monotonic() - self._failing_since)
                self._failures = 0
            try:
                self._on_accept(sock, addr)
            except Exception:
                logger.exception("listener %s: exception in on_accept",
                                 format_address(self.address))
                sock.close()

    def _log_resource_failure(self, exc: OSError) -> None:
        """Log an out-of-resources accept failure, rate-limited: the first of
        a run, then a count at most every _ACCEPT_ERROR_LOG_INTERVAL seconds
        (retries come every _ACCEPT_RETRY_DELAY: thousands an hour)."""
        now = _monotonic()
        self._failures += 1
        if self._failures == 1:
            self._failing_since = self._logged_at = now
            self._unlogged = 0
            logger.error("listener %s: cannot accept (%s); retrying every %.1f s "
                         "(repeats are counted and logged at most every %.0f s)",
                         format_address(self.address), exc, _ACCEPT_RETRY_DELAY,
                         _ACCEPT_ERROR_LOG_INTERVAL)
            return
        self._unlogged += 1
        if now - self._logged_at >= _ACCEPT_ERROR_LOG_INTERVAL:
            logger.error("listener %s: %d more accept failures in %.0f s (%s); still retrying",
                         format_address(self.address), self._unlogged, now - self._logged_at,
                         exc)
            self._logged_at = now
            self._unlogged = 0

    def _do_close(self) -> None:
        self._closed = True
        if self._sock.fileno() == -1:
            return
        if self._paused_timer is not None:
            self._paused_timer.cancel()
        self._reactor.remove_reader(self._sock)
        self._reactor.remove_stop_hook(self._stop_hook)
        self._sock.close()

    def __repr__(self) -> str:
        return "<Listener %s%s>" % (format_address(self.address),
                                     " closed" if self._closed else "")


class ConnectAttempt:
    """A connection being opened by :func:`connect`; lets it be cancelled.

    Made by :func:`connect` (any thread); :meth:`cancel` may be called from
    any thread, everything else runs on the reactor thread.
    """

    def __init__(self, reactor: Reactor, host: str, port: int, timeout: Optional[float],
                 on_done: Callable[[Optional[socket.socket], Optional[BaseException]], Any]
                 ) -> None:
        self._reactor = reactor
        self._host = host
        self._port = port
        self._timeout = timeout
        self._on_done: Optional[Callable[..., Any]] = on_done
        self._sock: Optional[socket.socket] = None
        self._addresses: List[Tuple[Any, ...]] = []
        self._last_error: Optional[BaseException] = None
        self._timer: Optional[TimerHandle] = None
        #: The helper thread resolving the host name, once started (numeric
        #: addresses need none); whoever started the attempt may join it.
        self.thread: Optional[threading.Thread] = None
        self._stop_hook = reactor.add_stop_hook(
            self._fail, ConnectionAbortedError("reactor stopped"))

    def cancel(self) -> None:
        """Abandon the attempt; any thread. ``on_done`` then receives a
        :class:`ConnectionAbortedError` (unless it was already called)."""
        self._reactor.add_callback(self._fail, ConnectionAbortedError("connect cancelled"))

    # Reactor thread from here on.

    def _start(self) -> None:
        if self._on_done is None:
            return
        if self._timeout is not None:
            self._timer = self._reactor.call_later(
                self._timeout, self._fail,
                KatcpTimeoutError("connect to %s timed out after %g s"
                                  % (format_address((self._host, self._port)), self._timeout)))
        infos = _numeric_addrinfo(self._host, self._port)
        if infos is not None:
            self._resolved(infos, None)
        else:
            self.thread = threading.Thread(target=self._resolve, name="katcp-resolve",
                                           daemon=True)
            self.thread.start()

    def _resolve(self) -> None:
        """Helper thread: blocking name lookup, then back to the reactor."""
        try:
            infos = socket.getaddrinfo(self._host, self._port, socket.AF_UNSPEC,
                                       socket.SOCK_STREAM)
        except OSError as exc:
            self._reactor.add_callback(self._resolved, [], exc)
        else:
            self._reactor.add_callback(self._resolved, infos, None)

    def _resolved(self, infos: List[Tuple[Any, ...]], error: Optional[BaseException]) -> None:
        if self._on_done is None:
            return
        if error is not None:
            self._fail(error)
            return
        self._addresses = [(info[0], info[4]) for info in infos]
        self._try_next()

    def _try_next(self) -> None:
        while self._addresses:
            family, sockaddr = self._addresses.pop(0)
            try:
                sock = socket.socket(family, socket.SOCK_STREAM)
            except OSError as exc:  # e.g. no IPv6 support on this host
                self._last_error = exc
                continue
            sock.setblocking(False)
            err = sock.connect_ex(sockaddr)
            if err in (0, errno.EINPROGRESS, errno.EWOULDBLOCK, errno.EAGAIN):
                self._sock = sock
                self._reactor.add_writer(sock, self._on_writable)
                return
            sock.close()
            self._last_error = OSError(err, os.strerror(err))
        self._fail(self._last_error or OSError("no address for %s" % self._host))

    def _on_writable(self) -> None:
        sock = self._sock
        assert sock is not None
        self._reactor.remove_writer(sock)
        self._sock = None
        err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err:
            sock.close()
            self._last_error = OSError(err, os.strerror(err))
            self._try_next()
        else:
            self._done(sock, None)

    def _fail(self, exc: BaseException) -> None:
        if self._sock is not None:
            self._reactor.remove_writer(self._sock)
            self._sock.close()
            self._sock = None
        self._done(None, exc)

    def _done(self, sock: Optional[socket.socket], exc: Optional[BaseException]) -> None:
        on_done, self._on_done = self._on_done, None
        if on_done is None:
            if sock is not None:
                sock.close()
            return
        self._addresses = []
        if self._timer is not None:
            self._timer.cancel()
        self._reactor.remove_stop_hook(self._stop_hook)
        try:
            on_done(sock, exc)
        except Exception:
            logger.exception("exception in connect callback %r", on_done)


def _numeric_addrinfo(host: str, port: int) -> Optional[List[Tuple[Any, ...]]]:
    """getaddrinfo() for a numeric host without any lookup; None for a name."""
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, host)
        except (OSError, ValueError):
            continue
        sockaddr: Tuple[Any, ...] = (host, port) if family == socket.AF_INET else (host, port, 0, 0)
        return [(family, socket.SOCK_STREAM, 0, "", sockaddr)]
    return None


def connect(reactor: Reactor, host: str, port: int, timeout: Optional[float],
            on_done: Callable[[Optional[socket.socket], Optional[BaseException]], Any]
            ) -> ConnectAttempt:
    """Open a TCP connection without blocking the reactor.

    Any thread. ``on_done(sock, None)`` (a connected, non-blocking socket that
    the callee now owns) or ``on_done(None, exc)`` is called exactly once on
    the reactor thread. ``exc`` is :class:`~katcp_sync.errors.KatcpTimeoutError`
    after ``timeout`` seconds (``None``: no limit), an :class:`OSError` such
    as :class:`ConnectionRefusedError`, or :class:`ConnectionAbortedError` if
    cancelled or the reactor stopped. Numeric addresses connect at once;
    names are resolved in a short-lived helper thread so the reactor never
    blocks on DNS. Every address of a name is tried in turn.

    Returns:
        a :class:`ConnectAttempt` whose ``cancel()`` abandons the attempt.
    """
    attempt = ConnectAttempt(reactor, host, port, timeout, on_done)
    _on_reactor(reactor, attempt._start)
    return attempt
