"""The write side of a :class:`~katcp_sync.connection.Connection`: ordered
writes from any thread, flushed by the reactor.

Each write takes the connection's lock, and every ``send()`` on the socket
is made while holding it, so the byte stream is exactly the order of the
``write`` calls; the connection module's docstring tells when bytes leave
(directly from the caller, or in the reactor's flush at the end of its
iteration) and how bursts are batched. :class:`OrderedWrites` is a part of
:class:`~katcp_sync.connection.Connection` (its base class), sharing its
state; it is a module of its own because reading and writing are two jobs.
"""

from __future__ import absolute_import, division, print_function

import logging
import threading
from typing import TYPE_CHECKING, Deque, Optional, Sequence, Tuple, Union, cast

from . import compat
from .compat import monotonic as _monotonic

if TYPE_CHECKING:   # the state OrderedWrites shares with its Connection
    import socket

    from .borrow import ReadBorrow
    from .reactor import Reactor, TimerHandle

__all__ = ["OrderedWrites", "DEFAULT_MAX_WRITE_BUFFER", "writer_waited"]

# The connection's logger: configurations that quiet it cover its writes.
logger = logging.getLogger("katcp_sync.connection")
_SOCKET_ERRORS = compat.SOCKET_ERRORS
_would_block = compat.would_block
_to_bytes = compat.to_bytes
_join_bytes = compat.join_bytes

#: Default bound on the bytes a connection may have waiting to be sent.
DEFAULT_MAX_WRITE_BUFFER = 4 * 1024 * 1024

# Small buffered pieces are joined into sends of up to this size.
_SEND_CHUNK = 256 * 1024
# A write from another thread sends directly unless the same thread wrote
# less than this long ago: a burst is left to the reactor, which sends it in
# few large send()s (measured: ~8x the messages per second of one send()
# each, with the same request/reply latency). Per thread, not per
# connection: a sensor update fanned out to many clients is a burst too.
_BURST_GAP = 50e-6
# Where a lock acquire lets the GIL go (Python 2), the reactor woken by a burst
# ran at the writer's next lock, sent a few bytes, and was woken again (a context
# switch every 5 informs of a fan-out). There, having sent a burst's writes, it
# waits this long before writers may wake it again, as Python 3's GIL does.
_BURST_HOLD = 1e-3 if compat.LOCKS_YIELD_GIL else 0.0


class _WriterThread(threading.local):
    #: When this thread (not the reactor) last wrote (see _BURST_GAP).
    last = 0.0


_writer_thread = _WriterThread()


def writer_waited():
    # type: () -> None
    """Tell the write path that the calling thread has just waited for work
    (a worker starting a request): its next write is no burst and may be
    sent directly (see :data:`_BURST_GAP`). Any thread."""
    _writer_thread.last = 0.0


class OrderedWrites(object):
    """The write half of :class:`~katcp_sync.connection.Connection` (its
    base class): :meth:`write` and :meth:`write_lines` from any thread, the
    reactor's flush. The attributes below are the connection's."""

    if TYPE_CHECKING:  # pragma: no cover
        # What this half uses of Connection, for the type checker only.
        address = cast(str, None)  # type: str
        max_write_buffer = cast(int, None)  # type: int
        _lock = cast(threading.Lock, None)  # type: threading.Lock
        _sock = cast(socket.socket, None)  # type: socket.socket
        _reactor = cast(Reactor, None)  # type: Reactor
        _borrow = None  # type: Optional[ReadBorrow]
        _wbuf = cast(Deque[Union[bytes, memoryview]], None)  # type: Deque[Union[bytes, memoryview]]
        _wbytes = 0
        _flush_pending = False
        _burst_written = False
        _closing = False
        _close_reason = ""
        _finished = False
        _dispatching = False
        _writer_registered = False
        _close_timer = None  # type: Optional[TimerHandle]
        _hold_timer = None  # type: Optional[TimerHandle]

        def _finish(self):
            # type: () -> None
            pass

        def _lose(self, reason, flush):
            # type: (str, bool) -> None
            pass

    @property
    def buffered_bytes(self):
        # type: () -> int
        """Bytes written but not yet handed to the kernel. Any thread."""
        return self._wbytes

    def write(self, data):
        # type: (bytes) -> bool
        """Queue ``data`` to be sent, in order with every other write.

        Safe from any thread and never blocks. See the module docstring for
        when the bytes actually leave.

        Returns:
            True if accepted; False if the connection is closed or closing
            (the data is dropped silently), or if this write overflowed the
            buffer (the connection is then closed).
        """
        if type(data) is not bytes:
            data = _to_bytes(data)  # the caller may reuse a bytearray or memoryview
        size = len(data)
        if not size:
            return not self._closing
        direct = not self._reactor.in_reactor_thread()
        with self._lock:
            if self._closing:
                return False
            borrow = self._borrow
            if borrow is not None and borrow.parked:
                borrow.unpark()
            # An empty buffer takes a write of any size: the peer has read
            # everything so far. The bound is on data queued behind unsent data.
            wbytes = self._wbytes
            if wbytes and wbytes + size > self.max_write_buffer:
                error = (
                    "client not reading: write buffer of %d bytes exceeded"
                    % self.max_write_buffer)  # type: Optional[str]
            else:
                error = None
                unsent = data  # type: Union[bytes, memoryview]
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
                    if direct:
                        self._burst_written = True
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

    def _send_now(self, data):
        # type: (bytes) -> Tuple[Union[bytes, memoryview], Optional[str]]
        """Non-blocking send from the caller's thread (lock held).

        Returns what is left to send and an error description or None.
        """
        try:
            sent = self._sock.send(data)
        except _SOCKET_ERRORS as exc:
            if _would_block(exc):
                return data, None
            return b"", "send failed: %s" % (exc,)
        return (memoryview(data)[sent:] if sent < len(data) else b""), None

    def write_lines(self, lines):
        # type: (Sequence[bytes]) -> bool
        """Send each of ``lines`` followed by ``b"\\n"``, as one :meth:`write`.

        ``lines`` are lines *without* their end-of-line byte (as
        ``bytes(message)``); they stay together and in order. Any thread.
        """
        if not lines:
            return not self._closing
        return self.write(b"\n".join(lines) + b"\n")

    def _flush(self, held=False):
        # type: (bool) -> None
        """Send what the kernel will take; writer callback too (``held``:
        the end of a _BURST_HOLD). Reactor thread.

        The lock is let go around each ``send()``: a writer on another
        thread then waits for no syscall, only for a deque append. (Held
        across the send, a thread fanning informs out to many connections
        and the reactor flushing them took turns, one inform per send.)
        Order still holds: the piece being sent stays at the head of the
        buffer and counted in ``_wbytes``, so no writer sends directly
        meanwhile, and only this thread flushes.
        """
        if held:
            self._hold_timer = None
        if self._finished:
            return
        error = None  # type: Optional[OSError]
        lock = self._lock
        buf = self._wbuf
        send = self._sock.send
        lock.acquire()
        try:
            while buf:
                data = buf[0]
                if len(buf) > 1 and len(data) < _SEND_CHUNK:
                    data = self._coalesce_head()
                sent = 0
                lock.release()
                try:
                    sent = send(data)
                except _SOCKET_ERRORS as exc:
                    if not _would_block(exc):
                        error = exc
                finally:
                    lock.acquire()
                if error is not None or not buf or buf[0] is not data:
                    break   # (emptied meanwhile by a write that overflowed it)
                self._wbytes -= sent
                if sent < len(data):
                    if sent:
                        buf[0] = memoryview(data)[sent:]
                    break
                buf.popleft()
            remaining = self._wbytes
            closing = self._closing
            # Hold (see _BURST_HOLD): writers keep appending without a wake-up.
            hold = _BURST_HOLD > 0 and self._burst_written and not (remaining or closing or error)
            self._burst_written = False
            self._flush_pending = (bool(remaining) or hold) and error is None
        finally:
            lock.release()
        if hold:
            if self._hold_timer is None:
                self._hold_timer = self._reactor.call_later(_BURST_HOLD, self._flush, True)
            return
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

    def _coalesce_head(self):
        # type: () -> bytes
        """Join small pieces at the head of the buffer (lock held)."""
        buf = self._wbuf
        pieces = [buf.popleft()]
        size = len(pieces[0])
        while buf and size + len(buf[0]) <= _SEND_CHUNK:
            piece = buf.popleft()
            pieces.append(piece)
            size += len(piece)
        data = _join_bytes(pieces)
        buf.appendleft(data)
        return data
