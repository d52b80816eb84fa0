"""A small thread pool for blocking request handlers, ordered per key.

Items submitted with the same *key* (in practice a connection) run strictly
one after another, in submission order, so replies to one client keep the
order of its requests. Items with different keys may run in parallel, up to
``max_workers`` threads.

State, all under one lock: ``_queues`` maps a key to the deque
of its waiting items; a key has a deque exactly while it is either waiting
in ``_ready`` or being run by a worker, and it is never in ``_ready`` while
running. A worker takes the first ready key, runs one of its items with the
lock released, and puts the key back at the end of ``_ready`` if it has
more, which also keeps a busy key from starving the others. Idle workers
wait on a condition of that lock, counted in ``_idle``; a new item only
notifies when one is waiting.
"""

import collections
import logging
import threading
import time
from typing import Any, Callable, Deque, Dict, Hashable, List, Optional, Tuple

__all__ = ["HandlerPool"]

logger = logging.getLogger(__name__)

_Item = Tuple[Callable[..., Any], Tuple[Any, ...]]


class HandlerPool:
    """Runs blocking callables on worker threads, in order per key.

    Args:
        max_workers: most threads running items at once. Threads are
            started lazily, when work is waiting and none is idle.
        name: prefix of the worker thread names (``name-0``, ``name-1``, ...).

    Every method is safe from any thread.
    """

    def __init__(self, max_workers: int = 1, name: str = "katcp-handler") -> None:
        if max_workers < 1:
            raise ValueError("max_workers must be at least 1")
        self.max_workers = max_workers
        self.name = name
        # Code holds the plain lock (`with self._lock`, in C) and uses the
        # condition only to wait and notify: Condition.__enter__ is Python.
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._queues: Dict[Hashable, Deque[_Item]] = {}
        self._ready: Deque[Hashable] = collections.deque()
        self._threads: List[threading.Thread] = []
        self._idle = 0
        self._pending = 0
        self._shutdown = False

    def submit(self, key: Hashable, fn: Callable[..., Any], *args: Any) -> None:
        """Queue ``fn(*args)`` to run after every item already queued for ``key``.

        An exception raised by ``fn`` is logged with its traceback (logger
        ``katcp_sync.workers``) and the pool carries on.

        Raises:
            RuntimeError: the pool was shut down.
        """
        with self._lock:
            if self._shutdown:
                raise RuntimeError("cannot submit to HandlerPool %r after shutdown" % self.name)
            queue = self._queues.get(key)
            if queue is None:
                queue = self._queues[key] = collections.deque()
                self._ready.append(key)
            queue.append((fn, args))
            self._pending += 1
            if len(self._ready) > self._idle and len(self._threads) < self.max_workers:
                thread = threading.Thread(
                    target=self._work, name="%s-%d" % (self.name, len(self._threads)),
                    daemon=True)
                self._threads.append(thread)
                thread.start()
            elif self._idle:
                self._cond.notify()

    def pending(self) -> int:
        """Number of items submitted and not yet finished (queued or running)."""
        with self._lock:
            return self._pending

    def shutdown(self, wait: bool = True, timeout: Optional[float] = None) -> bool:
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
            dropped = sum(len(queue) for queue in self._queues.values())
            for queue in self._queues.values():
                queue.clear()
            self._ready.clear()
            self._pending -= dropped
            threads = list(self._threads)
            self._cond.notify_all()
        if dropped:
            logger.debug("HandlerPool %r: dropped %d queued items at shutdown", self.name, dropped)
        if wait:
            deadline = None if timeout is None else time.monotonic() + timeout
            current = threading.current_thread()
            for thread in threads:
                if thread is not current:
                    thread.join(None if deadline is None
                                else max(0.0, deadline - time.monotonic()))
        return not any(thread.is_alive() for thread in threads)

    def _work(self) -> None:
        cond = self._cond
        lock = self._lock
        while True:
            with lock:
                while not self._ready and not self._shutdown:
                    self._idle += 1
                    cond.wait()
                    self._idle -= 1
                if not self._ready:
                    return  # shut down
                key = self._ready.popleft()
                queue = self._queues[key]
                fn, args = queue.popleft()
            try:
                fn(*args)
            except Exception:
                logger.exception("HandlerPool %r: exception in %r", self.name, fn)
            # Let the item and its arguments go before waiting for more work.
            del fn, args
            with lock:
                self._pending -= 1
                if queue:
                    self._ready.append(key)
                    if self._idle:
                        cond.notify()
                else:
                    del self._queues[key]

    def __repr__(self) -> str:
        return "<HandlerPool %r workers=%d pending=%d%s>" % (
            self.name, len(self._threads), self._pending, " shut down" if self._shutdown else "")
