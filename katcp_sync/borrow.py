"""Borrowed reading: a waiting caller reads replies itself (the fast path).

A thread that sends a request and then only waits for its reply would be
woken twice: the reactor wakes to read the reply, then wakes the caller. A
:class:`~katcp_sync.connection.Connection` made with ``borrowable=True``
(Linux: it needs ``epoll``) owns a :class:`ReadBorrow`, which lets such a
thread read for itself instead, so the reply reaches it with one wake-up.
Connections made without it (every server connection) have none and pay
nothing for it: their reactor reads take no lock.

The reactor then watches a private epoll object holding only this socket
rather than the socket itself. :meth:`ReadBorrow.borrow` takes the socket
out of that inner epoll -- the reactor's level-triggered loop simply stops
seeing it, without running anything -- and takes the *read lock*, which the
reactor holds whenever it reads. While borrowed, :meth:`ReadBorrow.read`
polls and reads on the caller's thread and offers each line to a ``claim``
function; the first line not claimed, and every line after it, is *handed
over*: queued and dispatched on the reactor thread by ``lines_received`` as
usual, before anything the reactor reads later. (The client's ``claim``
takes the replies of every thread blocked in ``blocking_request``, so the
borrower also reads for the callers that came after it.) A borrower waiting for data may first
*spin* -- poll without sleeping -- for up to
:attr:`ReadBorrow.spin_time` (200 us by default), and only then blocks in
``poll()``. On a fast link the reply then arrives while the thread is still
running: no sleep, no wake-up, no cold caches, which more than doubles the
rate of back-to-back requests on loopback. The borrow keeps a moving
average of how long borrowers waited; while it is above ``spin_time`` (a
slow or distant device) nobody spins, so the processor time spent this way
stays bounded by what it saves. Spinning can also cost more than it saves:
on a busy host (or a device that hands each request to another thread) the
spinning core is the one the peer needed, and its reply comes later than
it would to a sleeping caller. So a :class:`SpinPolicy` keeps one moving
average of the round trip per mode and spins only while spinning is
faster; now and then a borrow tries the other mode, so each average follows
the host as its load changes.

:meth:`ReadBorrow.give_back` puts the socket back into the inner epoll, so
data that arrived meanwhile wakes the reactor at once -- unless the borrow
ended cleanly (the caller got what it waited for). Then the socket is
*parked*: it stays out of the inner epoll for a few milliseconds, so that a
caller making requests back to back pays for no epoll changes at all.
Parking ends when the next borrow takes the socket, when anything else is
written to the connection (its reply must not wait), or when a reactor
timer finds it parked for :data:`PARK_TIME`; an unsolicited message from
the peer may wait that long.

The reactor never waits for a borrower: if it finds the read lock taken it
returns (the socket is out of its epoll, so nothing spins). A borrow only
starts when nothing handed over is waiting, so claimed lines are always the
oldest unprocessed ones. EOF is left in the socket for the reactor (it
stays readable); a read error is handed over. Closing a borrowed
connection wakes the borrower (``shutdown(SHUT_RD)``), and the socket is
closed when the borrow ends, never under the borrower's feet.

A :class:`ReadBorrow` is part of its connection: it shares the
connection's lock and calls the connection's reactor-side methods
(``_read``, ``_dispatch``, ``_lose``, ``_update_reader``,
``_close_socket``), and the connection calls it only where borrowing
changes something (write unparks, close wakes the borrower, finish takes
what was handed over).
"""

from __future__ import absolute_import, division, print_function

import collections
import logging
import math
import os
import select
import socket
import threading
from typing import TYPE_CHECKING, Callable, Deque, List, Optional, Tuple

from . import compat
from .compat import monotonic as _monotonic
from .linebuffer import Line

if TYPE_CHECKING:   # the connection owns its ReadBorrow; only its type is needed here
    from .connection import Connection

__all__ = ["ReadBorrow", "SpinPolicy", "BORROW_SUPPORTED", "DEFAULT_SPIN_TIME", "PARK_TIME"]

logger = logging.getLogger(__name__)

#: Borrowed reading needs epoll (an inner epoll the caller can edit) and poll.
BORROW_SUPPORTED = hasattr(select, "epoll") and hasattr(select, "poll")
#: Longest a socket stays parked after a borrow (see the module docstring).
PARK_TIME = 0.005


def _cpu_count():
    # type: () -> int
    try:
        return len(os.sched_getaffinity(0))   # type: ignore[attr-defined]
    except (AttributeError, OSError):
        return compat.cpu_count()


#: Default :attr:`ReadBorrow.spin_time`: how long a borrower polls without
#: sleeping before it blocks. Zero on a single CPU, where spinning would
#: only keep the peer (or the thread that would answer) off the processor.
DEFAULT_SPIN_TIME = 200e-6 if _cpu_count() > 1 else 0.0


class SpinPolicy(object):
    """Whether a borrower spins, from what it measured (module docstring).

    Keeps a moving average of a borrow's round trip while spinning and one
    while sleeping -- from the borrow, before the request is sent, to the
    end of the read, so that a sleeper's wake-up and cold start count; only
    borrows that read one line, their own reply -- and spins while the
    first is the smaller, but never while replies take longer than
    ``spin_time`` on average (a slow device). Now and then a borrow *probes*
    the other mode, whose round trip then stands for that mode: after
    :data:`MIN_PROBE_INTERVAL` borrows, and twice as many after each probe
    that confirmed the choice (up to :data:`MAX_PROBE_INTERVAL`; a probe
    costs at most ``spin_time``). Not locked: only the borrowing thread
    uses it (one at a time).
    """

    __slots__ = ("reply_wait", "_spinning", "_sleeping", "_countdown", "_interval",
                 "_probing")

    #: Borrows between probes of the mode not chosen: at first, and at most.
    MIN_PROBE_INTERVAL = 16
    MAX_PROBE_INTERVAL = 1024

    def __init__(self):
        # type: () -> None
        #: Moving average of a borrower's wait for data, in seconds.
        self.reply_wait = 0.0
        self._spinning = 0.0
        self._sleeping = -1.0   # unknown until a borrow sleeps
        self._interval = self._countdown = self.MIN_PROBE_INTERVAL
        self._probing = False

    def _spin_wins(self):
        # type: () -> bool
        return self._sleeping < 0 or self._spinning <= self._sleeping

    def spin(self, spin_time):
        # type: (float) -> bool
        """Should the next borrower spin (for up to ``spin_time`` seconds)?"""
        self._probing = False
        if not self.reply_wait < spin_time:
            return False
        self._countdown -= 1
        if self._countdown > 0:
            return self._spin_wins()
        self._countdown = self._interval
        self._probing = True
        return not self._spin_wins()

    def record_wait(self, wait):
        # type: (float) -> None
        """A borrower waited ``wait`` seconds for the first data of a reply."""
        self.reply_wait += (wait - self.reply_wait) / 4

    def record(self, spun, wait):
        # type: (bool, float) -> None
        """A borrow that did (``spun``) or did not spin took ``wait`` seconds."""
        before = self._spin_wins()
        # A probe's time replaces its mode's average: probes are rare, and a
        # mode that now wins should win at once (if the probe was lucky, the
        # many borrows that follow soon say so).
        if spun:
            self._spinning = (wait if self._probing
                              else self._spinning + (wait - self._spinning) / 4)
        elif self._sleeping < 0 or self._probing:
            self._sleeping = wait
        else:
            self._sleeping += (wait - self._sleeping) / 4
        if self._probing:
            self._probing = False
            if self._spin_wins() == before:
                self._interval = min(2 * self._interval, self.MAX_PROBE_INTERVAL)
            else:
                self._interval = self.MIN_PROBE_INTERVAL
            self._countdown = self._interval


class ReadBorrow(object):
    """The borrowable reading of one connection (module docstring).

    Args:
        conn: the connection it belongs to (it creates this in its
            constructor, before it registers with the reactor).
        sock: the connection's socket.
        spin_time: initial :attr:`spin_time`.

    Made only where :data:`BORROW_SUPPORTED`. :meth:`borrow`, :meth:`read`
    and :meth:`give_back` are called by the borrowing thread (through the
    connection's ``borrow_reading`` / ``read_borrowed`` /
    ``return_reading``); the rest on the reactor thread or with the
    connection's lock held, as each says.
    """

    def __init__(self, conn, sock, spin_time):
        # type: ("Connection", socket.socket, float) -> None
        self._conn = conn
        self._sock = sock
        self._lock = conn._lock
        self._fd = sock.fileno()
        #: The epoll the reactor watches instead of the socket.
        self.inner = select.epoll()
        self.inner.register(self._fd, select.EPOLLIN)
        self._poller = select.poll()
        self._poller.register(self._fd, select.POLLIN)
        # The reactor holds _read_lock while it reads, a borrower for the
        # whole borrow. The rest is guarded by the connection's lock.
        self._read_lock = threading.Lock()
        self.borrowed = False
        self._handover = collections.deque()  # type: Deque[Line]  # read by a borrower, not claimed
        self._read_error = None  # type: Optional[OSError]  # ... and its recv() error
        self._quiet = False           # the borrower got what it waited for: may park
        self._borrowed_at = 0.0
        #: Decides whether a borrower spins, from the waits it measures.
        self.spin_policy = SpinPolicy()
        #: Seconds a borrower polls without sleeping before it blocks; 0 turns it off.
        self.spin_time = spin_time
        #: Out of the inner epoll, nobody reading (guarded by the lock).
        self.parked = False
        self._parked_at = 0.0
        self._reclaim_scheduled = False

    # ------------------------------------------------------------------
    # The borrowing thread

    def borrow(self):
        # type: () -> bool
        """Take reading over from the reactor, for the calling thread.

        Call from a thread that is not the reactor's, typically just before
        sending a request whose reply it will wait for. On success the
        caller must call :meth:`give_back` (in a ``finally``), and may call
        :meth:`read` in between; nothing else reads meanwhile.

        Returns:
            True if borrowed; False if the connection is closing, already
            borrowed, has handed-over (or held) lines still to be
            dispatched, or the reactor is reading it right now. The caller
            then simply waits as usual.
        """
        conn = self._conn
        if self.borrowed or conn._reactor.in_reactor_thread():
            # (A hint read without the lock, so that many callers finding
            # reading borrowed do not queue up on the lock.)
            return False
        with self._lock:
            if (conn._closing or self.borrowed or self._handover or self._read_error
                    or conn._held is not None):
                return False
            if self.parked:
                if not self._read_lock.acquire(False):
                    return False   # the reactor is delivering: reading stays parked
                self.parked = False
            else:
                # Out of the reactor's sight first, so that it never sees the
                # socket readable while it cannot take the read lock.
                self.inner.unregister(self._fd)
                if not self._read_lock.acquire(False):
                    self.inner.register(self._fd, select.EPOLLIN)   # the reactor is reading
                    return False
            self.borrowed = True
            self._quiet = False
        self._borrowed_at = _monotonic()
        return True

    def read(self, claim, done,
             timeout, batch_done=None,
             poll=None):
        # type: (Callable[[Line], bool], Callable[[], bool], Optional[float], Optional[Callable[[], None]], Optional[Callable[[Optional[int]], List[Tuple[int, int]]]]) -> None
        """Read on the calling thread until ``done()``; only while borrowed.

        Each complete line is offered, in order, to ``claim(line)``, on this
        thread; it returns True if it consumed the line. The first line it
        does not claim, and all lines after it, are handed over to the
        reactor (dispatched with ``lines_received`` there, in order) and the
        read ends. ``claim`` must not block or raise (an exception is logged
        and counts as not claimed). ``batch_done()``, if given, is called
        once the lines of one ``recv()`` have been offered, even if ``claim``
        raised (the client wakes the callers whose replies they were).

        It spins first as :attr:`spin_time` and :attr:`spin_policy` say.
        ``poll``: a ``poll()`` watching this socket and others (a reader
        giving way to other work checks ``done()`` whenever one of them is
        ready); default: this socket only.

        Returns (never raises) when ``done()`` is true, a line was handed
        over, ``timeout`` seconds passed (``None``: no limit), the peer sent
        EOF or an error (left for the reactor to report), or the connection
        is closing.
        """
        conn = self._conn
        if poll is None:
            poll = self._poller.poll
        recv = self._sock.recv
        recv_into = self._sock.recv_into
        read_from = conn._splitter.read_from
        start = _monotonic()
        end = None if timeout is None else start + timeout
        spin_until = 0.0
        policy = self.spin_policy
        spun = policy.spin(self.spin_time)
        if spun:
            spin_until = start + self.spin_time
            if end is not None and end < spin_until:
                spin_until = end
        measured = False
        claimed = 0
        wait = None  # type: Optional[int]
        self._quiet = False
        while not done():
            try:
                if spin_until and _monotonic() < spin_until:
                    if not poll(0):
                        continue
                else:
                    spin_until = 0.0
                    if end is not None:
                        remaining = end - _monotonic()
                        if remaining <= 0:
                            return
                        wait = int(math.ceil(remaining * 1000))
                    if not poll(wait):
                        continue
            except compat.SELECT_ERRORS as exc:   # EINTR: 2.7 does not retry (PEP 475)
                if compat.is_eintr(exc):
                    continue
                raise
            if not measured:
                measured = True
                policy.record_wait(_monotonic() - start)
            if conn._closing:
                return
            try:
                count, _, lines = read_from(recv, recv_into)
            except compat.SOCKET_ERRORS as exc:
                if compat.would_block(exc):
                    continue
                self._read_error = exc
                return
            except BaseException as exc:
                # Interrupted (a signal handler raised) while splitting: the
                # splitter's state is unknown, so the reactor drops us.
                self._read_error = OSError("borrowed read interrupted: %r" % (exc,))
                raise
            if not count:
                return  # EOF stays readable: the reactor will see it
            index = 0
            try:
                for line in lines:
                    if not claim(line):
                        break
                    index += 1
                else:
                    claimed += index
                    continue
            except BaseException as exc:
                # claim() failed, or this thread was interrupted (a signal
                # handler raised): the lines not yet claimed still belong to
                # the stream, so they are handed over before re-raising.
                with self._lock:
                    self._handover.extend(lines[index:])
                if not isinstance(exc, Exception):
                    raise
                logger.exception("%s: exception in a borrowed read's claim", conn.address)
                return
            finally:
                if batch_done is not None:
                    batch_done()
            with self._lock:
                self._handover.extend(lines[index:])
            return
        if claimed == 1:
            # Only a borrow that read nothing but its own reply times a mode:
            # one that also read for other callers took as long as they did.
            policy.record(spun, _monotonic() - self._borrowed_at)
        self._quiet = True

    def give_back(self, park):
        # type: (bool) -> None
        """End a borrow started by :meth:`borrow` (calling thread).

        The reactor reads again; handed-over lines are dispatched on it.
        With ``park`` (the caller expects nothing it did not read), a borrow
        that ended cleanly parks the socket instead (module docstring).
        """
        conn = self._conn
        schedule = False
        with self._lock:
            self.borrowed = False
            self._read_lock.release()
            deliver = bool(self._handover) or self._read_error is not None
            if conn._finished:
                conn._close_socket()  # deferred by the connection's _finish while borrowed
                return
            if park and self._quiet and not deliver and not conn._closing:
                self.parked = True
                self._parked_at = _monotonic()
                schedule = not self._reclaim_scheduled
                self._reclaim_scheduled = True
            else:
                self.inner.register(self._fd, select.EPOLLIN)
        if schedule:
            conn._reactor.call_later(PARK_TIME, self._reclaim)
        if deliver:
            conn._reactor.add_callback(self._deliver_handover)

    # ------------------------------------------------------------------
    # Connection lock held

    def unpark(self):
        # type: () -> None
        """Give a parked socket back to the reactor (connection lock held)."""
        self.parked = False
        self.inner.register(self._fd, select.EPOLLIN)

    def wake(self):
        # type: () -> None
        """Make a borrower's poll() return: reading is over (connection lock held)."""
        if self.borrowed:
            try:
                self._sock.shutdown(socket.SHUT_RD)
            except compat.SOCKET_ERRORS:
                pass

    def finish(self):
        # type: () -> Tuple[List[Line], bool]
        """The connection is finishing (connection lock held): wake a
        borrower and return ``(handed-over lines, borrowed)``; if borrowed,
        the borrower closes the socket when it gives reading back."""
        handover = list(self._handover)
        self._handover.clear()
        self.wake()
        return handover, self.borrowed

    # ------------------------------------------------------------------
    # Reactor thread

    def on_readable(self):
        # type: () -> None
        """The inner epoll is readable: read unless a borrower holds the read lock."""
        conn = self._conn
        if conn._closing:
            conn._update_reader()  # close() was called on another thread
            return
        if not self._read_lock.acquire(False):
            return  # borrowed: the socket is out of the inner epoll, no spin
        try:
            if (self._handover or self._read_error) and not self._deliver_locked():
                return
            if conn._held is None:  # else the handler left lines for later
                conn._read()
        finally:
            self._read_lock.release()

    def _deliver_handover(self):
        # type: () -> None
        """Dispatch what a borrower handed over."""
        if self._conn._finished or not self._read_lock.acquire(False):
            return  # _finish delivered it / a new borrow means it was delivered
        try:
            self._deliver_locked()
        finally:
            self._read_lock.release()

    def _deliver_locked(self):
        # type: () -> bool
        """Dispatch handed-over lines, then report a handed-over error.
        Read lock held; returns False if the connection was lost."""
        conn = self._conn
        with self._lock:
            lines = list(self._handover)
            self._handover.clear()
            error, self._read_error = self._read_error, None
        if lines:
            conn._dispatch(lines)
        if error is not None:
            conn._lose("connection error: %s" % (error,), flush=False)
            return False
        return True

    def _reclaim(self):
        # type: () -> None
        """Timer: end parking that has lasted PARK_TIME.

        One timer covers a run of quick borrows: it puts itself off while
        the socket is parked again and again, rather than being scheduled
        per borrow. Not parked (borrowed, or given back): it ends, and the
        next park schedules it again."""
        with self._lock:
            delay = self._parked_at + PARK_TIME - _monotonic()
            parked = self.parked and not self._conn._finished
            if not (parked and delay > 0):
                self._reclaim_scheduled = False
                if parked:
                    self.unpark()
                return
        self._conn._reactor.call_later(delay, self._reclaim)

    def close(self):
        # type: () -> None
        """Close the inner epoll (with the connection's socket)."""
        self.inner.close()
