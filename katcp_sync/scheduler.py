"""Time sources for sans-IO code: the ``Scheduler`` protocol and a virtual clock.

Sans-IO modules (sampling strategies in particular) never read a clock or
start a timer themselves. They are handed a *scheduler*: any object with

* ``time() -> float``: monotonic seconds (not wall-clock time);
* ``call_at(when, fn, *args) -> handle``: run ``fn(*args)`` once, at or after
  ``time() >= when``; ``handle.cancel()`` stops a call that has not started.

The reactor (``katcp_sync.reactor.Reactor``) is the scheduler used in
production. :class:`ManualScheduler` is a deterministic virtual clock for
tests: time only moves when the test calls :meth:`ManualScheduler.advance`.
"""

from __future__ import absolute_import, division, print_function

import heapq
import itertools
import threading
from typing import Any, Callable, List, Optional

from six.moves import _thread

from .compat import Protocol

__all__ = ["TimerHandle", "Scheduler", "ManualTimerHandle", "ManualScheduler"]


class TimerHandle(Protocol):
    """What ``Scheduler.call_at`` returns; :meth:`cancel` from any thread."""

    def cancel(self):
        # type: () -> None
        """Stop the call if it has not started yet; harmless if it has. Any thread."""


class Scheduler(Protocol):
    """Anything that can tell the time and run a function later.

    Implementations must allow both methods to be called from any thread.
    ``fn`` runs on the scheduler's own thread (the reactor thread in
    production); the caller must not assume which one.
    """

    def time(self):
        # type: () -> float
        """Return the current monotonic time in seconds."""

    def call_at(self, when, fn, *args):
        # type: (float, Callable[..., Any], *Any) -> TimerHandle
        """Run ``fn(*args)`` once when ``time() >= when``; return a handle.

        A ``when`` in the past means "as soon as possible".
        """


class ManualTimerHandle(object):
    """A call scheduled on a :class:`ManualScheduler`.

    The call runs on the thread that advances the scheduler; :meth:`cancel`
    may be called from any thread (the scheduler's lock guards it).

    Attributes:
        when: the virtual time at which the call is due.
        cancelled: ``True`` once :meth:`cancel` was called.
    """

    __slots__ = ("when", "cancelled", "_fn", "_args", "_scheduler", "_done")

    def __init__(self, scheduler, when,
                 fn, args):
        # type: ("ManualScheduler", float, Callable[..., Any], tuple) -> None
        self.when = when
        self.cancelled = False
        self._fn = fn
        self._args = args
        self._scheduler = scheduler
        self._done = False  # ran or cancelled; guarded by the scheduler's lock

    def cancel(self):
        # type: () -> None
        """Stop the call if it has not run yet. Any thread; idempotent."""
        self._scheduler._cancel(self)

    def __repr__(self):
        # type: () -> str
        state = " cancelled" if self.cancelled else ""
        return "<ManualTimerHandle when=%r fn=%r%s>" % (self.when, self._fn, state)


class ManualScheduler(object):
    """A :class:`Scheduler` on a virtual clock, for deterministic tests.

    Time starts at ``start`` and moves only in :meth:`advance` (running due
    calls) or :meth:`stall` (not running them, like a reactor that was busy).
    Every method may be called from any thread; calls run on the thread that
    calls :meth:`advance`, outside the scheduler's lock, so they may schedule
    or cancel further calls.

    Args:
        start: the initial value of :meth:`time`.
    """

    def __init__(self, start=0.0):
        # type: (float) -> None
        self._now = float(start)
        self._lock = threading.Lock()
        # Heap of (when, sequence, handle); the sequence keeps equal deadlines
        # in the order they were scheduled. Cancelled entries are dropped lazily.
        self._heap = []  # type: List[tuple]
        self._sequence = itertools.count()
        self._live = 0
        self._advancing = None  # type: Optional[int]

    def time(self):
        # type: () -> float
        """Return the current virtual time in seconds. Any thread."""
        return self._now

    def call_at(self, when, fn, *args):
        # type: (float, Callable[..., Any], *Any) -> ManualTimerHandle
        """Schedule ``fn(*args)`` for virtual time ``when``. Any thread.

        Returns:
            A :class:`ManualTimerHandle`; its ``cancel()`` unschedules the call.
        """
        handle = ManualTimerHandle(self, float(when), fn, args)
        with self._lock:
            heapq.heappush(self._heap, (handle.when, next(self._sequence), handle))
            self._live += 1
        return handle

    def call_later(self, delay, fn, *args):
        # type: (float, Callable[..., Any], *Any) -> ManualTimerHandle
        """Schedule ``fn(*args)`` ``delay`` seconds from now. Any thread."""
        return self.call_at(self._now + delay, fn, *args)

    def _cancel(self, handle):
        # type: (ManualTimerHandle) -> None
        with self._lock:
            if not handle._done:
                handle._done = handle.cancelled = True
                self._live -= 1

    def pending(self):
        # type: () -> List[float]
        """Return the deadlines of the calls still due to run, in time order. Any thread."""
        with self._lock:
            return sorted(h.when for _, _, h in self._heap if not h._done)

    def pending_count(self):
        # type: () -> int
        """Return how many calls are scheduled and not cancelled or run. Any thread."""
        return self._live

    def advance(self, seconds):
        # type: (float) -> int
        """Move the clock forward by ``seconds``, running every call that falls due.

        Calls run in deadline order (ties in scheduling order). While one
        runs, :meth:`time` returns its deadline (or the current time, if that
        is later because of :meth:`stall`), so code that reads the clock in a
        callback sees the time it was due. Calls scheduled during the advance
        that fall inside the window also run. At the end, ``time()`` is the
        old time plus ``seconds``. Any thread, one at a time.

        An exception from a call propagates to the caller; the clock then
        stays at that call's deadline and later calls stay scheduled.

        Args:
            seconds: how far to move, ``>= 0``.

        Returns:
            The number of calls that ran.

        Raises:
            ValueError: ``seconds`` is negative.
            RuntimeError: called from inside a call that ``advance`` is running,
                or while another thread is advancing.
        """
        if seconds < 0:
            raise ValueError("cannot move time backwards (advance(%r))" % (seconds,))
        me = _thread.get_ident()
        with self._lock:
            if self._advancing is not None:
                raise RuntimeError("ManualScheduler.advance() is already running")
            self._advancing = me
            target = self._now + seconds
        ran = 0
        try:
            while True:
                handle = self._pop_due(target)
                if handle is None:
                    break
                handle._fn(*handle._args)
                ran += 1
            with self._lock:
                self._now = max(self._now, target)
        finally:
            with self._lock:
                self._advancing = None
        return ran

    def _pop_due(self, target):
        # type: (float) -> Optional[ManualTimerHandle]
        """Remove and return the next live call due by ``target``, moving the clock to it."""
        with self._lock:
            while self._heap and self._heap[0][0] <= target:
                when, _, handle = heapq.heappop(self._heap)
                if handle._done:
                    continue  # cancelled
                handle._done = True
                self._live -= 1
                self._now = max(self._now, when)
                return handle
        return None

    def stall(self, seconds):
        # type: (float) -> None
        """Move the clock forward by ``seconds`` WITHOUT running due calls.

        This simulates a scheduler thread that was busy: the overdue calls run
        at the next :meth:`advance` (``advance(0)`` is enough), late, and see
        the late time from :meth:`time`. Any thread.

        Raises:
            ValueError: ``seconds`` is negative.
        """
        if seconds < 0:
            raise ValueError("cannot move time backwards (stall(%r))" % (seconds,))
        with self._lock:
            self._now += seconds
