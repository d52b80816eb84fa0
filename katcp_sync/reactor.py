"""The reactor: one thread that owns every socket, timer and I/O callback.

Theory of operation
-------------------
A :class:`Reactor` runs a loop on its own daemon thread. Each iteration:

1. Under the state lock, decide how long to sleep: zero if callbacks are
   ready, until the earliest live timer if there is one, forever otherwise
   (never a polling interval). Mark the reactor as *sleeping*.
2. ``select()`` on the sockets registered with :meth:`add_reader` /
   :meth:`add_writer`, plus the read end of a socketpair (the *waker*).
3. Run the I/O callbacks of the ready sockets, then the timers that are due,
   then the callbacks that were ready when this step began (callbacks queued
   by step 3 itself run in the next iteration, so a callback that re-queues
   itself cannot starve I/O).

Other threads hand work over only through :meth:`add_callback`,
:meth:`call_at` and :meth:`call_later`: they queue it and write one byte to
the waker, but only if the reactor is sleeping. While it is busy it will
look at the queue anyway, so no byte (and no syscall) is needed; that keeps
a burst of cross-thread calls cheap.

:meth:`add_callback` takes no lock at all, so it is safe in a signal
handler (which runs on the main thread between two bytecodes, possibly
while that thread holds the reactor's lock in :meth:`call_at` or
``cancel()``). It relies only on operations that are atomic under the GIL:
``deque.append``, reading and writing one attribute, a ``send()`` on the
non-blocking waker. The reactor announces that it is about to sleep
(``_sleeping = True``) *before* it looks at the queue, and a caller appends
*before* it reads ``_sleeping``, so one of the two always sees the other: a
callback is never left waiting while the loop sleeps. (At worst both act,
and the loop wakes once for nothing.) Closing is handled the same way: a
caller checks the state again after appending, and if the reactor closed
meanwhile it takes its own item back out (each item carries a unique
token, so it is its own and nobody else's) -- unless the reactor's final
drain took it first, in which case it runs. So ``add_callback`` returns
True exactly when the call will run.

Timers are a :mod:`heapq` of ``(when, sequence, handle)``; cancelling only
flags the handle, and flagged entries are dropped when they reach the top (the
heap is rebuilt when most of it is cancelled, so it cannot grow without
bound). Equal deadlines run in the order they were scheduled.

An exception in any callback is logged with its traceback on the
``katcp_sync.reactor`` logger and the loop carries on.

Stopping: :meth:`stop` sets a flag and wakes the loop. The loop finishes its
iteration, runs the stop hooks (which, for example, close connections), runs
the callbacks that were already queued, and closes the selector and the
waker. Work queued after that is dropped with a debug log, never an
exception, because teardown paths call :meth:`add_callback` freely.
"""

from __future__ import absolute_import, division, print_function

import collections
import heapq
import itertools
import logging
import socket
import threading
import time
from concurrent.futures import Future
from typing import Any, Callable, Deque, Dict, List, Optional, Tuple, TypeVar, Union

from .compat import selectors
from .compat import Protocol
from . import compat
from .errors import KatcpTimeoutError
from .formatting import format_seconds

__all__ = ["Reactor", "TimerHandle", "FileLike"]

logger = logging.getLogger(__name__)

_T = TypeVar("_T")
_get_ident = compat.get_ident


class _HasFileno(Protocol):
    def fileno(self):
        # type: () -> int
        pass


#: What the reactor can watch: a file descriptor or an object with
#: ``fileno()`` (a socket, an epoll object).
FileLike = Union[int, _HasFileno]

_Callback = Tuple[Callable[..., Any], Tuple[Any, ...]]
# A queued callback: (unique token, fn, args); see add_callback.
_Queued = Tuple[int, Callable[..., Any], Tuple[Any, ...]]

# Rebuild the timer heap when this many entries, and more than half of it,
# are cancelled (asyncio uses the same rule of thumb).
_MIN_CANCELLED_TO_PURGE = 100

# select() cannot sleep for ever on every platform (epoll's timeout is an int
# of milliseconds): far timers are reached in steps of at most this.
_MAX_SELECT_TIMEOUT = 3600.0

# States of a reactor; it only ever moves forwards through them.
_NEW, _RUNNING, _STOPPING, _CLOSED = "new", "running", "stopping", "closed"


class TimerHandle(object):
    """A call scheduled by :meth:`Reactor.call_at` or :meth:`Reactor.call_later`.

    The call runs on the reactor thread; :meth:`cancel` may be called from any thread.

    Attributes:
        when: the :meth:`Reactor.time` at which the call is due.
    """

    __slots__ = ("when", "_fn", "_args", "_reactor", "_in_heap")

    def __init__(self, when, fn, args,
                 reactor):
        # type: (float, Callable[..., Any], Tuple[Any, ...], "Reactor") -> None
        self.when = when
        self._fn = fn  # type: Optional[Callable[..., Any]]
        self._args = args
        self._reactor = reactor
        self._in_heap = False

    def cancel(self):
        # type: () -> None
        """Stop the call from happening, if it has not started yet.

        Safe from any thread and idempotent. Cancelling a timer that already
        ran does nothing.
        """
        self._reactor._cancel_timer(self)

    def __repr__(self):
        # type: () -> str
        state = "pending" if self._fn is not None else "done-or-cancelled"
        return "<TimerHandle when=%.6f %s>" % (self.when, state)


class Reactor(object):
    """One thread running ``selectors`` for sockets plus a timer heap.

    Args:
        name: the name of the reactor thread.

    Thread safety: :meth:`start`, :meth:`stop`, :meth:`join`, :meth:`running`,
    :meth:`time`, :meth:`in_reactor_thread`, :meth:`add_callback`,
    :meth:`call_at`, :meth:`call_later`, :meth:`run_sync` and
    :meth:`add_stop_hook`/:meth:`remove_stop_hook` may be called from any
    thread. :meth:`add_reader`, :meth:`remove_reader`, :meth:`add_writer` and
    :meth:`remove_writer` only from the reactor thread (a callback).

    The reactor satisfies the sampling ``Scheduler`` protocol
    (:meth:`time`, :meth:`call_at`).
    """

    def __init__(self, name="katcp-reactor"):
        # type: (str) -> None
        self.name = name
        self._lock = threading.Lock()
        self._state = _NEW
        self._ready = collections.deque()  # type: Deque[_Queued]
        self._tokens = itertools.count()
        self._timers = []  # type: List[Tuple[float, int, TimerHandle]]
        self._cancelled_timers = 0
        self._sequence = itertools.count()
        self._stop_hooks = {}  # type: Dict[object, _Callback]
        self._sleeping = False
        self._thread = None  # type: Optional[threading.Thread]
        self._thread_id = None  # type: Optional[int]
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._selector.register(self._wake_r, selectors.EVENT_READ, [self._drain_waker, None])

    # ------------------------------------------------------------------
    # Life cycle (any thread)

    def start(self):
        # type: () -> None
        """Start the reactor thread. Work queued before this runs now.

        Raises:
            RuntimeError: the reactor is running, or was stopped (a reactor
                cannot be restarted).
        """
        with self._lock:
            if self._state != _NEW:
                raise RuntimeError("reactor %r is %s; it cannot be started again"
                                   % (self.name, self._state))
            self._state = _RUNNING
            self._thread = compat.daemon_thread(self._run, self.name)
        self._thread.start()

    def stop(self, timeout=None):
        # type: (Optional[float]) -> None
        """Stop the loop and wait (up to ``timeout`` seconds) for its thread to end.

        The loop finishes its current iteration, runs the stop hooks and the
        callbacks already queued, then closes its selector and waker. Pending
        timers are dropped. Idempotent; from the reactor thread it only asks
        for the stop and returns at once. A reactor that was never started
        does this teardown on the caller's thread.
        """
        with self._lock:
            state = self._state
            if state == _RUNNING:
                self._state = _STOPPING
            elif state == _NEW:
                self._state = _CLOSED
        if state == _NEW:
            # Never started: the caller stands in for the reactor thread to
            # run the stop hooks and queued work, so sockets are released.
            self._thread_id = _get_ident()
            try:
                self._finish()
            finally:
                self._thread_id = None
            return
        if state == _RUNNING:
            self._wake()
        if not self.in_reactor_thread():
            self.join(timeout)

    def join(self, timeout=None):
        # type: (Optional[float]) -> bool
        """Wait up to ``timeout`` seconds for the reactor thread to end.

        Returns:
            True if it has ended (or was never started), False on timeout.

        Raises:
            RuntimeError: called from the reactor thread.
        """
        if self.in_reactor_thread():
            raise RuntimeError("a reactor cannot join its own thread")
        thread = self._thread
        if thread is not None:
            compat.join_thread(thread, timeout)
            return not thread.is_alive()
        return True

    def running(self):
        # type: () -> bool
        """Return True between :meth:`start` and the end of :meth:`stop`."""
        return self._state in (_RUNNING, _STOPPING)

    @staticmethod
    def time():
        # type: () -> float
        """The reactor's clock: :func:`compat.monotonic`, in seconds."""
        return compat.monotonic()

    def fileno(self):
        # type: () -> int
        """A descriptor that is readable while I/O waits for this reactor
        (its selector's): a thread spinning for something else polls it to
        give way. -1 where the selector has none. Any thread."""
        fileno = getattr(self._selector, "fileno", None)
        return fileno() if fileno is not None else -1

    def in_reactor_thread(self):
        # type: () -> bool
        """Return True if the caller is running on the reactor thread."""
        return self._thread_id == _get_ident()

    # ------------------------------------------------------------------
    # Handing work to the reactor (any thread)

    def add_callback(self, fn, *args):
        # type: (Callable[..., Any], *Any) -> bool
        """Run ``fn(*args)`` on the reactor thread, soon.

        Callbacks run in the order they were added. Safe from any thread,
        and from a signal handler: it takes no lock (see the module
        docstring), so it cannot deadlock with the thread it interrupted.

        Returns:
            True if the call will run; False if the reactor is closed (the
            call is dropped with a debug log, never an exception).
        """
        if self._state != _CLOSED:
            item = (next(self._tokens), fn, args)
            self._ready.append(item)
            if self._state != _CLOSED:
                if self._sleeping:
                    self._sleeping = False
                    self._wake()
                return True
            # Closed while we appended: take our item back, unless the final
            # drain in _finish already took it (then it runs).
            try:
                self._ready.remove(item)
            except ValueError:
                return True
        logger.debug("reactor %r is closed: dropped callback %r", self.name, fn)
        return False

    def call_at(self, when, fn, *args):
        # type: (float, Callable[..., Any], *Any) -> TimerHandle
        """Run ``fn(*args)`` on the reactor thread at reactor time ``when``.

        Safe from any thread. Calls due at the same time run in the order
        they were scheduled. If the reactor is closed the call is dropped
        (debug log) and the returned handle does nothing.

        Returns:
            a :class:`TimerHandle`; its ``cancel()`` may be called from any
            thread.
        """
        handle = TimerHandle(when, fn, args, self)
        with self._lock:
            if self._state == _CLOSED:
                wake = None
            else:
                handle._in_heap = True
                entry = (when, next(self._sequence), handle)
                heapq.heappush(self._timers, entry)
                wake = self._sleeping and self._timers[0] is entry
                if wake:
                    self._sleeping = False
        if wake is None:
            logger.debug("reactor %r is closed: dropped timer %r", self.name, fn)
            handle._fn = None
        elif wake:
            self._wake()
        return handle

    def call_later(self, delay, fn, *args):
        # type: (float, Callable[..., Any], *Any) -> TimerHandle
        """Run ``fn(*args)`` on the reactor thread after ``delay`` seconds.

        Same as ``call_at(self.time() + delay, fn, *args)``.
        """
        return self.call_at(compat.monotonic() + delay, fn, *args)

    def run_sync(self, fn, *args, **kwargs):
        # type: (Callable[..., _T], *Any, **Any) -> _T
        """Run ``fn(*args)`` on the reactor thread and return its result.

        Runs ``fn`` directly when called on the reactor thread. If the
        reactor has not been started yet, waits for it to start.

        Raises:
            KatcpTimeoutError: ``fn`` did not finish within ``timeout`` seconds
                (it may still run later).
            RuntimeError: the reactor is closed.
            Exception: whatever ``fn`` raised.
        """
        timeout = compat.kwonly_pop(kwargs, 'timeout', None)  # type: Optional[float]
        compat.kwonly_done('run_sync', kwargs)
        if self.in_reactor_thread():
            return fn(*args)
        future = Future()  # type: "Future[_T]"

        def call():
            # type: () -> None
            if not future.set_running_or_notify_cancel():
                return
            try:
                result = fn(*args)
            except BaseException as exc:
                future.set_exception(exc)
            else:
                future.set_result(result)

        if not self.add_callback(call):
            raise RuntimeError("reactor %r is closed" % self.name)
        try:
            return compat.future_result(future, timeout)
        except compat.ResultTimeout:
            future.cancel()
            raise compat.chained(KatcpTimeoutError("%r did not run on reactor %r within %s s"
                                    % (fn, self.name, format_seconds(timeout))), None)

    def add_stop_hook(self, fn, *args):
        # type: (Callable[..., Any], *Any) -> object
        """Arrange for ``fn(*args)`` to run on the reactor thread when it stops.

        Hooks run in the order they were added, after the last iteration and
        before the queued callbacks are drained. Safe from any thread.

        Returns:
            a token for :meth:`remove_stop_hook`.
        """
        token = object()
        with self._lock:
            self._stop_hooks[token] = (fn, args)
        return token

    def remove_stop_hook(self, token):
        # type: (object) -> None
        """Forget a hook added by :meth:`add_stop_hook` (no error if unknown)."""
        with self._lock:
            self._stop_hooks.pop(token, None)

    # ------------------------------------------------------------------
    # Socket readiness (reactor thread only)

    def add_reader(self, fileobj, callback):
        # type: (FileLike, Callable[[], Any]) -> None
        """Call ``callback()`` whenever ``fileobj`` is readable (replaces any
        previous reader). Reactor thread only.

        Raises:
            RuntimeError: not called on the reactor thread.
        """
        self._set_handler(fileobj, 0, callback)

    def remove_reader(self, fileobj):
        # type: (FileLike) -> bool
        """Stop watching ``fileobj`` for readability. Reactor thread only.

        Returns:
            True if a reader was registered.
        """
        return self._set_handler(fileobj, 0, None)

    def add_writer(self, fileobj, callback):
        # type: (FileLike, Callable[[], Any]) -> None
        """Call ``callback()`` whenever ``fileobj`` is writable (replaces any
        previous writer). Reactor thread only.

        Raises:
            RuntimeError: not called on the reactor thread.
        """
        self._set_handler(fileobj, 1, callback)

    def remove_writer(self, fileobj):
        # type: (FileLike) -> bool
        """Stop watching ``fileobj`` for writability. Reactor thread only.

        Returns:
            True if a writer was registered.
        """
        return self._set_handler(fileobj, 1, None)

    def _set_handler(self, fileobj, slot,
                     callback):
        # type: (FileLike, int, Optional[Callable[[], Any]]) -> bool
        if not self.in_reactor_thread():
            raise RuntimeError("reactor %r: socket registration is only allowed on the "
                               "reactor thread (use add_callback)" % self.name)
        try:
            key = self._selector.get_key(fileobj)
        except (KeyError, ValueError):
            key = None
        if key is None:
            if callback is None:
                return False
            handlers = [None, None]  # type: List[Optional[Callable[[], Any]]]
            handlers[slot] = callback
            self._selector.register(fileobj, _EVENTS[slot], handlers)
            return True
        handlers = key.data
        previous = handlers[slot]
        # Mutated in place: a stale SelectorKey from the current select() batch
        # then sees the change and does not call a removed handler.
        handlers[slot] = callback
        events = (selectors.EVENT_READ if handlers[0] else 0) | (
            selectors.EVENT_WRITE if handlers[1] else 0)
        if events:
            if events != key.events:
                self._selector.modify(fileobj, events, handlers)
        else:
            self._selector.unregister(fileobj)
        return previous is not None

    # ------------------------------------------------------------------
    # The loop (reactor thread)

    def _run(self):
        # type: () -> None
        self._thread_id = _get_ident()
        try:
            while self._state == _RUNNING:
                self._run_once()
        except BaseException:  # pragma: no cover - a bug in the loop itself
            logger.exception("reactor %r crashed", self.name)
            raise
        finally:
            self._finish()
            self._thread_id = None

    def _run_once(self):
        # type: () -> None
        with self._lock:
            # Announce the sleep before looking at the queue: add_callback
            # (lock-free) appends before it looks at _sleeping.
            self._sleeping = True
            if self._ready or self._state != _RUNNING:
                timeout = 0  # type: Optional[float]
                self._sleeping = False
            else:
                timers = self._timers
                while timers and timers[0][2]._fn is None:
                    heapq.heappop(timers)[2]._in_heap = False
                    self._cancelled_timers -= 1
                if timers:
                    timeout = min(_MAX_SELECT_TIMEOUT,
                                  max(0.0, timers[0][0] - compat.monotonic()))
                else:
                    timeout = None
                if timeout == 0:
                    self._sleeping = False
        events = self._selector.select(timeout)
        self._sleeping = False

        for key, mask in events:
            handlers = key.data
            if mask & selectors.EVENT_READ and handlers[0] is not None:
                self._call(handlers[0], ())
            if mask & selectors.EVENT_WRITE and handlers[1] is not None:
                self._call(handlers[1], ())

        for fn, args in self._pop_due_timers():
            self._call(fn, args)

        ready = self._ready
        for _ in range(len(ready)):
            # popleft() without the lock: appends from other threads go to the
            # other end of the deque, and both operations are atomic.
            _, fn, args = ready.popleft()
            self._call(fn, args)

    def _pop_due_timers(self):
        # type: () -> List[_Callback]
        """Take the calls of the timers that are due off the heap."""
        if not self._timers:
            return []
        now = compat.monotonic()
        due = []
        with self._lock:
            timers = self._timers
            while timers and timers[0][0] <= now:
                handle = heapq.heappop(timers)[2]
                handle._in_heap = False
                if handle._fn is None:
                    self._cancelled_timers -= 1
                else:
                    due.append((handle._fn, handle._args))
                    handle._fn = None
                    handle._args = ()
        return due

    def _cancel_timer(self, handle):
        # type: (TimerHandle) -> None
        with self._lock:
            if handle._fn is None:
                return
            handle._fn = None
            handle._args = ()
            if not handle._in_heap:
                return
            self._cancelled_timers += 1
            if (self._cancelled_timers > _MIN_CANCELLED_TO_PURGE
                    and self._cancelled_timers * 2 > len(self._timers)):
                live = []
                for entry in self._timers:
                    if entry[2]._fn is None:
                        entry[2]._in_heap = False
                    else:
                        live.append(entry)
                heapq.heapify(live)
                self._timers = live
                self._cancelled_timers = 0

    def _call(self, fn, args):
        # type: (Callable[..., Any], Tuple[Any, ...]) -> None
        try:
            fn(*args)
        except Exception:
            logger.exception("reactor %r: exception in callback %r", self.name, fn)

    def _finish(self):
        # type: () -> None
        """Run stop hooks, drain what was queued, close. Reactor thread."""
        self._run_stop_hooks()
        with self._lock:
            self._state = _CLOSED
            for entry in self._timers:
                entry[2]._fn = None
            self._timers = []
        # Until empty: an add_callback that appended before it saw _CLOSED
        # either finds its item here (it runs) or takes it back (dropped).
        ready = self._ready
        while True:
            try:
                _, fn, args = ready.popleft()
            except IndexError:
                break
            self._call(fn, args)
        # Hooks added by the leftover callbacks (e.g. a connection created
        # while stopping) still get to release their resources.
        self._run_stop_hooks()
        self._shutdown()

    def _run_stop_hooks(self):
        # type: () -> None
        with self._lock:
            hooks = list(self._stop_hooks.values())
            self._stop_hooks.clear()
        for fn, args in hooks:
            self._call(fn, args)

    def _shutdown(self):
        # type: () -> None
        self._selector.close()
        self._wake_r.close()
        self._wake_w.close()

    def _wake(self):
        # type: () -> None
        # May race with _shutdown() closing the socket: then send() raises
        # OSError and there is nobody left to wake anyway.
        try:
            self._wake_w.send(b"\0")
        except compat.SOCKET_ERRORS:
            pass

    def _drain_waker(self):
        # type: () -> None
        try:
            while self._wake_r.recv(4096):
                pass
        except compat.SOCKET_ERRORS as exc:
            if not compat.would_block(exc):
                raise

    def __repr__(self):
        # type: () -> str
        return "<Reactor %r %s>" % (self.name, self._state)


_EVENTS = (selectors.EVENT_READ, selectors.EVENT_WRITE)
