"""A small bounded thread pool for blocking request handlers.

Items run in submission order on up to ``max_workers`` threads, started
lazily. The pool keeps no order per client: the server's per-client turn
(:mod:`katcp_sync.server_dispatch`) hands it at most one message of a
client at a time, which is what keeps replies in request order.

State, all under one lock: ``_queue`` holds the waiting items; each idle
worker sleeps on a lock of its own, listed in ``_sleepers``; a new item
wakes one (takes it off the list and releases its lock) only when one
sleeps. A lock per worker rather than a ``threading.Condition``: waiting on
and notifying a condition runs several Python-level steps each time, and a
server calling one handler at a time pays them on every request. It also
keeps Python 2.7 fast: its ``Lock.acquire()`` without a timeout is a real
blocking wait, where ``Condition.wait(timeout)`` polls with sleeps.
"""

from __future__ import absolute_import, division, print_function

import collections
import logging
import socket
import threading
from typing import Any, Callable, Deque, Hashable, List, Optional, Tuple

from . import compat
from .lifecycle import join_threads

__all__ = ["HandlerPool"]

logger = logging.getLogger(__name__)

_Item = Tuple[Callable[..., Any], Tuple[Any, ...]]
_local = threading.local()


class HandlerPool(object):
    """Runs blocking callables on worker threads, first come first served.

    Args:
        max_workers: most threads running items at once. Threads are
            started lazily, when work is waiting and none is idle.
        name: prefix of the worker thread names (``name-0``, ``name-1``, ...).

    Every method is safe from any thread.
    """

    def __init__(self, max_workers=1, name="katcp-handler"):
        # type: (int, str) -> None
        if max_workers < 1:
            raise ValueError("max_workers must be at least 1")
        self.max_workers = max_workers
        self.name = name
        self._lock = threading.Lock()
        self._queue = collections.deque()  # type: Deque[_Item]
        self._threads = []  # type: List[threading.Thread]
        # The wake-up locks (held) of the idle workers; the one who takes a
        # lock off this list releases it, exactly once.
        self._sleepers = []  # type: List[threading.Lock]
        self._running = 0
        self._shutdown = False
        # The signal of waiting work for threads sleeping in poll() (see
        # watch()): made when first asked for; set by submit() while someone
        # watches, cleared when the queue empties.
        self._signal = None  # type: Optional[Tuple[socket.socket, socket.socket]]
        self._watchers = 0
        self._signalled = False

    def submit(self, key, fn, *args):
        # type: (Optional[Hashable], Callable[..., Any], *Any) -> None
        """Queue ``fn(*args)``; it runs after every item submitted before it has started.

        ``key`` is accepted for compatibility and ignored: items of one key
        may run in parallel when there are several workers (order per client
        is the server's turn's job). An exception raised by ``fn`` is logged
        with its traceback (logger ``katcp_sync.workers``) and the pool
        carries on.

        Raises:
            RuntimeError: the pool was shut down.
        """
        with self._lock:
            if self._shutdown:
                raise RuntimeError("cannot submit to HandlerPool %r after shutdown" % self.name)
            self._queue.append((fn, args))
            if self._watchers and not self._signalled:
                self._set_signal(True)
            sleepers = self._sleepers
            if sleepers:
                sleepers.pop().release()
            elif len(self._threads) < self.max_workers:
                thread = compat.daemon_thread(
                    self._work, "%s-%d" % (self.name, len(self._threads)))
                self._threads.append(thread)
                thread.start()

    def pending(self):
        # type: () -> int
        """Number of items submitted and not yet finished (queued or running)."""
        with self._lock:
            return len(self._queue) + self._running

    def has_waiting(self):
        # type: () -> bool
        """True while items wait for a worker (a hint: no lock taken). Any thread."""
        return bool(self._queue)

    def signal_fileno(self):
        # type: () -> int
        """A descriptor that is readable, between :meth:`watch` and
        :meth:`unwatch`, while items wait: for a thread sleeping in
        ``poll()`` on something else (a worker waiting for a client's next
        request) that should give way to waiting work; -1 once shut down.
        Any thread."""
        with self._lock:
            if self._shutdown:
                return -1
            if self._signal is None:
                pair = socket.socketpair()
                for sock in pair:
                    sock.setblocking(False)
                self._signal = (pair[0], pair[1])
            return self._signal[0].fileno()

    def watch(self):
        # type: () -> None
        """Make :meth:`signal_fileno` readable while items wait, until
        :meth:`unwatch` (calls nest). Any thread."""
        with self._lock:
            self._watchers += 1
            if self._queue and not self._signalled:
                self._set_signal(True)

    def unwatch(self):
        # type: () -> None
        """End one :meth:`watch`. Any thread."""
        with self._lock:
            self._watchers -= 1
            if self._shutdown:
                self._close_signal()

    def _close_signal(self):
        # type: () -> None
        """Close the signal once nobody watches it (lock held)."""
        if self._signal is not None and not self._watchers:
            for sock in self._signal:
                sock.close()
            self._signal = None

    def _set_signal(self, on):
        # type: (bool) -> None
        """Make the watched descriptor readable or not (lock held)."""
        self._signalled = on
        if self._signal is None:
            return
        try:
            if on:
                self._signal[1].send(b"x")
            else:
                self._signal[0].recv(64)
        except compat.SOCKET_ERRORS:
            pass

    def in_worker_thread(self):
        # type: () -> bool
        """True when called from one of this pool's worker threads."""
        return getattr(_local, "pool", None) is self

    def shutdown(self, wait=True, timeout=None):
        # type: (bool, Optional[float]) -> bool
        """Refuse new work, drop queued items and end every thread.

        Items already running are left to finish. Idempotent. Called from
        one of the pool's own threads (a handler shutting its server down),
        it does not wait for that thread.

        Args:
            wait: wait for the threads to end.
            timeout: most seconds to wait in total (None: no limit).

        Returns:
            True if every thread of the pool has ended (so never from one
            of them, nor with ``wait=False`` while one still runs).
        """
        with self._lock:
            self._shutdown = True
            dropped = len(self._queue)
            self._queue.clear()
            threads = list(self._threads)
            for wake in self._sleepers:
                wake.release()
            del self._sleepers[:]
            if self._watchers and not self._signalled:
                self._set_signal(True)   # wake the watchers: nothing will wait any more
            self._close_signal()
        if dropped:
            logger.debug("HandlerPool %r: dropped %d queued items at shutdown", self.name, dropped)
        if wait:
            return join_threads(threads, timeout)
        return not any(thread.is_alive() for thread in threads)

    def _work(self):
        # type: () -> None
        _local.pool = self
        lock = self._lock
        queue = self._queue
        sleepers = self._sleepers
        wake = threading.Lock()
        wake.acquire()
        while True:
            with lock:
                while not queue and not self._shutdown:
                    sleepers.append(wake)
                    lock.release()
                    try:
                        wake.acquire()   # released by submit() or shutdown()
                    finally:
                        lock.acquire()
                if not queue:
                    return  # shut down
                fn, args = queue.popleft()
                if self._signalled and not queue:
                    self._set_signal(False)
                self._running += 1
            try:
                fn(*args)
            except Exception:
                logger.exception("HandlerPool %r: exception in %r", self.name, fn)
            # Let the item and its arguments go before waiting for more work.
            del fn, args
            with lock:
                self._running -= 1

    def __repr__(self):
        # type: () -> str
        return "<HandlerPool %r workers=%d pending=%d%s>" % (
            self.name, len(self._threads), len(self._queue) + self._running,
            " shut down" if self._shutdown else "")
