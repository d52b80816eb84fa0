"""Threads across Pythons: ``get_ident``, ``main_thread``, ``cpu_count``,
and ``daemon_thread``/``join_thread`` (a join that is precise and
Ctrl-C-interruptible on Python 2; ``Thread.join`` itself on Python 3)."""
from __future__ import absolute_import, division, print_function

import os
import threading
from typing import Any, Callable, Optional, Tuple  # noqa: F401

import six

from .clock import monotonic
from .language import PY2
from .waits import _FastEvent

get_ident = six.moves._thread.get_ident  # type: Callable[[], int]


def main_thread():
    # type: () -> threading.Thread
    """The main thread (threading.main_thread on 3.4+)."""
    try:
        return threading.main_thread()  # type: ignore[attr-defined]
    except AttributeError:  # Python 2
        return threading._shutdown.__self__ if hasattr(threading._shutdown, "__self__") else [  # type: ignore
            t for t in threading.enumerate() if isinstance(t, threading._MainThread)][0]  # type: ignore


def cpu_count():
    # type: () -> int
    """Number of CPUs (1 when unknown)."""
    try:
        return os.cpu_count() or 1  # type: ignore[attr-defined]
    except AttributeError:  # Python 2
        import multiprocessing
        try:
            return multiprocessing.cpu_count()
        except NotImplementedError:
            return 1


def daemon_thread(target, name, args=()):
    # type: (Callable[..., Any], str, Tuple[Any, ...]) -> threading.Thread
    """A daemon thread (not started) running ``target(*args)``; join it
    with :func:`join_thread` (2.7's ``Thread`` takes no ``daemon=``)."""
    if not PY2:
        return threading.Thread(target=target, name=name, args=args, daemon=True)
    ended = _FastEvent()

    def run():
        # type: () -> None
        try:
            target(*args)
        finally:
            ended.set()

    thread = threading.Thread(target=run, name=name)
    thread.daemon = True
    thread._katcp_ended = ended  # type: ignore[attr-defined]
    return thread


if PY2:
    def join_thread(thread, timeout=None):
        # type: (threading.Thread, Optional[float]) -> None
        """``thread.join(timeout)``, precise and Ctrl-C-interruptible on 2.7.

        2.7's join() without a timeout cannot be interrupted, and with one it
        polls (up to 50 ms late). Threads made by :func:`daemon_thread` say
        when they end through a pipe; others are joined in slices."""
        ended = getattr(thread, "_katcp_ended", None)
        if ended is not None:
            if ended.wait(timeout):
                thread.join(1.0)   # only the thread's own exit bookkeeping is left
            return
        deadline = None if timeout is None else monotonic() + timeout
        while thread.is_alive():
            remaining = 0.25 if deadline is None else min(0.25, deadline - monotonic())
            if remaining <= 0:
                return
            thread.join(remaining)
else:
    join_thread = threading.Thread.join  # type: ignore  # noqa


if PY2:
    _allocate_lock = six.moves._thread.allocate_lock

    class RLock(object):
        """A re-entrant lock for the hot paths of Python 2.

        2.7's ``threading.RLock`` is written in Python with debug notes on
        every call (~1.6 us per ``with``); this one does the same job in
        about half that. ``acquire(blocking=True)``, ``release()`` and the
        context manager, as ``threading.RLock``. Any thread.
        """

        __slots__ = ("_block", "_owner", "_count")

        def __init__(self):
            # type: () -> None
            self._block = _allocate_lock()
            self._owner = None  # type: Optional[int]
            self._count = 0

        def acquire(self, blocking=True):
            # type: (bool) -> bool
            """Take the lock (again, if this thread holds it); False if
            ``blocking`` is false and another thread holds it."""
            me = get_ident()
            # Only this thread can have stored its own id: no race on reading it.
            if self._owner == me:
                self._count += 1
                return True
            if not self._block.acquire(blocking):
                return False
            self._owner = me
            self._count = 1
            return True

        __enter__ = acquire

        def release(self):
            # type: () -> None
            """Let go once; the lock is free when every acquire is matched.

            Raises:
                RuntimeError: this thread does not hold the lock.
            """
            if self._owner != get_ident():
                raise RuntimeError("cannot release un-acquired lock")
            count = self._count = self._count - 1
            if not count:
                self._owner = None
                self._block.release()

        def __exit__(self, *exc_info):
            # type: (*Any) -> None
            self.release()

        def __repr__(self):
            # type: () -> str
            return "<compat.RLock owner=%r count=%d>" % (self._owner, self._count)
else:
    RLock = threading.RLock  # type: ignore  # noqa


#: True where every lock acquire lets the GIL go, even an uncontended one
#: (Python 2): a thread woken meanwhile (the reactor) then runs at once
#: rather than at the next GIL switch interval.
LOCKS_YIELD_GIL = PY2
