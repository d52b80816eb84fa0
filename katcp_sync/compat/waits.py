"""Precise, Ctrl-C-interruptible waits on Python 2: ``Event``,
``TimedLock`` (a lock whose ``acquire`` takes a timeout) and ``Condition``
(with ``wait_for``).

Python 2's ``Condition.wait(timeout)`` and ``Event.wait(timeout)`` poll with
sleeps of up to 50 ms and its ``Lock.acquire`` cannot be interrupted; here a
waiter sleeps in ``select()`` on its thread's pipe (:class:`_PipeWaiter`)
until woken. On Python 3 the names are the ``threading`` classes
themselves, bound at import: nothing costs more there.
"""
from __future__ import absolute_import, division, print_function

import collections
import errno
import os
import select
import threading
from typing import TYPE_CHECKING, Any, Callable, List, Optional  # noqa: F401

from .clock import monotonic
from .language import PY2


#: Longest timeout a wait takes as given, in seconds (about 31 years). A
#: longer one (``inf``, ``1e300``) means no limit: threading's waits overflow
#: on it ("timestamp out of range for platform time_t").
LONGEST_WAIT = 1e9


def wait_timeout(timeout):
    # type: (Optional[float]) -> Optional[float]
    """``timeout`` as the waits of ``threading`` take it: None (no limit) for
    None and for any timeout over :data:`LONGEST_WAIT`, 0.0 for a negative
    one (or NaN). Any thread."""
    if timeout is None or timeout > LONGEST_WAIT:
        return None
    return timeout if timeout > 0 else 0.0


class _PipeWaiter(object):
    """One per thread: a non-blocking pipe that set() writes a byte to.

    select() on it wakes within ~0.1 ms of set(), and in the main thread
    Ctrl-C raises KeyboardInterrupt at once (select fails with EINTR).
    Python 2's Condition.wait(timeout) polls with sleeps of up to 50 ms
    instead, and Lock.acquire() cannot be interrupted at all.
    """

    _local = threading.local()

    def __init__(self):
        # type: () -> None
        import fcntl
        self.rfd, self.wfd = os.pipe()
        for fd in (self.rfd, self.wfd):
            fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | os.O_NONBLOCK)
            fcntl.fcntl(fd, fcntl.F_SETFD, fcntl.FD_CLOEXEC)

    def __del__(self):
        for fd in (self.rfd, self.wfd):
            try:
                os.close(fd)
            except OSError:
                pass

    @classmethod
    def current(cls):
        # type: () -> _PipeWaiter
        waiter = getattr(cls._local, "waiter", None)
        if waiter is None:
            waiter = cls._local.waiter = cls()
        return waiter

    def wake(self):
        # type: () -> None
        try:
            os.write(self.wfd, b"x")
        except OSError as exc:   # full: a wake-up is pending anyway
            if exc.errno != errno.EAGAIN:
                raise

    def sleep(self, timeout):
        # type: (Optional[float]) -> None
        """Sleep until woken or ``timeout``; spurious wake-ups are allowed."""
        try:
            ready = select.select([self.rfd], [], [], timeout)[0]
        except (select.error, OSError) as exc:  # EINTR from a signal that did not raise
            if exc.args[0] != errno.EINTR:
                raise
            return
        if ready:
            try:
                os.read(self.rfd, 4096)
            except OSError as exc:
                if exc.errno != errno.EAGAIN:
                    raise

    def sleep_until(self, done, timeout):
        # type: (Callable[[], Any], Optional[float]) -> bool
        """Sleep until ``done()`` is true (True) or ``timeout`` passes (False;
        None waits forever). Whoever makes ``done()`` true then calls :meth:`wake`."""
        deadline = None if timeout is None else monotonic() + timeout
        while not done():
            remaining = None if deadline is None else deadline - monotonic()
            if remaining is not None and remaining <= 0:
                return False
            self.sleep(remaining)
        return True


class _FastEvent(object):
    """threading.Event with precise, Ctrl-C-interruptible waits on Python 2."""

    def __init__(self):
        # type: () -> None
        self._lock = threading.Lock()
        self._flag = False
        # Bumped by each set(): a waiter returns True once it changed, even
        # if clear() came before it looked (as threading.Event does), and
        # set() is the only one who takes waiters off the list.
        self._sets = 0
        self._waiters = []  # type: List[_PipeWaiter]

    def is_set(self):
        # type: () -> bool
        return self._flag

    isSet = is_set

    def set(self):
        # type: () -> None
        with self._lock:
            self._flag = True
            self._sets += 1
            waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            waiter.wake()

    def clear(self):
        # type: () -> None
        with self._lock:
            self._flag = False

    def wait(self, timeout=None):
        # type: (Optional[float]) -> bool
        if self._flag:
            return True
        waiter = _PipeWaiter.current()
        with self._lock:
            if self._flag:
                return True
            sets = self._sets
            self._waiters.append(waiter)
        try:
            waiter.sleep_until(lambda: self._sets != sets, timeout)
            return self._sets != sets or self._flag
        finally:
            with self._lock:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)


if PY2:
    Event = _FastEvent  # type: Callable[[], Any]
else:
    Event = threading.Event


class _TimedLock(object):
    """A lock whose ``acquire(True, timeout)`` is precise and interruptible.

    Python 2's ``Lock.acquire`` takes no timeout and ignores Ctrl-C. Waiters
    sleep on their thread's :class:`_PipeWaiter`; ``release()`` wakes them.
    """

    __slots__ = ("_lock", "_waiters")

    def __init__(self):
        # type: () -> None
        self._lock = threading.Lock()
        self._waiters = []  # type: List[_PipeWaiter]

    def acquire(self, blocking=True, timeout=-1):
        # type: (bool, float) -> bool
        """As Python 3's ``Lock.acquire``: ``timeout`` -1 waits forever."""
        lock = self._lock
        if lock.acquire(False):
            return True
        if not blocking:
            return False
        if timeout == 0:
            return False
        waiter = _PipeWaiter.current()
        waiters = self._waiters
        waiters.append(waiter)   # before the next try: a release meanwhile wakes us
        try:
            return waiter.sleep_until(lambda: lock.acquire(False),
                                      None if timeout is None or timeout < 0 else timeout)
        finally:
            try:
                waiters.remove(waiter)
            except ValueError:
                pass

    def release(self):
        # type: () -> None
        self._lock.release()
        for waiter in list(self._waiters):
            waiter.wake()

    def locked(self):
        # type: () -> bool
        return self._lock.locked()

    def __enter__(self):
        # type: () -> bool
        return self.acquire()

    def __exit__(self, *exc_info):
        # type: (*Any) -> None
        self.release()


#: ``TimedLock()``: Python 3's ``threading.Lock`` (acquire with a timeout) on every Python.
if TYPE_CHECKING or not PY2:
    from threading import Lock as TimedLock
else:
    TimedLock = _TimedLock


if PY2:
    class _Condition27(threading._Condition):  # type: ignore[name-defined,misc]
        """Python 2: ``threading.Condition`` with 3.x's ``wait_for`` and precise,
        Ctrl-C-interruptible ``wait(timeout)`` (2.7's polls with sleeps up to 50 ms)."""

        def __init__(self, lock=None):
            # type: (Any) -> None
            super(_Condition27, self).__init__(lock)
            self._pipe_waiters = collections.deque()  # type: Any

        def wait(self, timeout=None):
            # type: (Optional[float]) -> bool
            if not self._is_owned():
                raise RuntimeError("cannot wait on un-acquired lock")
            token = [_PipeWaiter.current(), False]   # [waiter, notified]
            self._pipe_waiters.append(token)
            saved = self._release_save()
            try:
                token[0].sleep_until(lambda: token[1], timeout)
            finally:
                self._acquire_restore(saved)
                if not token[1]:
                    try:
                        self._pipe_waiters.remove(token)
                    except ValueError:
                        pass
            return token[1]

        def wait_for(self, predicate, timeout=None):
            # type: (Callable[[], Any], Optional[float]) -> Any
            deadline = None if timeout is None else monotonic() + timeout
            result = predicate()
            while not result:
                remaining = None
                if deadline is not None:
                    remaining = deadline - monotonic()
                    if remaining <= 0:
                        break
                self.wait(remaining)
                result = predicate()
            return result

        def notify(self, n=1):
            # type: (int) -> None
            if not self._is_owned():
                raise RuntimeError("cannot notify on un-acquired lock")
            waiters = self._pipe_waiters
            while waiters and n > 0:
                token = waiters.popleft()
                token[1] = True
                token[0].wake()
                n -= 1

        def notify_all(self):
            # type: () -> None
            self.notify(len(self._pipe_waiters))

        notifyAll = notify_all


#: ``threading.Condition`` (with ``wait_for``, precise waits on Python 2 too).
if TYPE_CHECKING or not PY2:
    from threading import Condition
else:
    Condition = _Condition27
