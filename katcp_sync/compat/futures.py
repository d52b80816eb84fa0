"""``concurrent.futures`` with Python 3.8's rules and precise waits everywhere.

3.8's ``Future.set_result``/``set_exception`` raise ``InvalidStateError``
on a done (finished or cancelled) future; before 3.8, and in the Python 2
backport, they overwrite the outcome and run the done-callbacks again.
katcp_sync resolves futures from racing threads and relies on the 3.8
behaviour: ``set_future_result``/``set_future_exception`` give it on every
Python, and ``Future`` is a future whose own methods do. ``wait_future`` and
``future_result`` wait without the Python 2 backport's 50 ms polls. On 3.8+
the names are the standard ones, bound at import.
"""
from __future__ import absolute_import, division, print_function

import concurrent.futures as _cf
import sys
from concurrent.futures import _base as _cf_base
from typing import TYPE_CHECKING, Any, Optional  # noqa: F401

from .language import PY2
from .waits import _FastEvent, _PipeWaiter, wait_timeout

try:
    from concurrent.futures import InvalidStateError
except ImportError:  # before 3.8 (and the Python 2 backport)
    class InvalidStateError(_cf_base.Error):  # type: ignore[no-redef]
        """The future is already done (3.8's concurrent.futures.InvalidStateError)."""

_DONE_STATES = frozenset([_cf_base.CANCELLED, _cf_base.CANCELLED_AND_NOTIFIED,
                          _cf_base.FINISHED])

# ------------------------------------------------------------------ futures that resolve once
if TYPE_CHECKING or sys.version_info >= (3, 8):
    if TYPE_CHECKING:
        def set_future_result(future, result):
            # type: (_cf.Future[Any], Any) -> None
            """``future.set_result(result)``, with InvalidStateError if done."""

        def set_future_exception(future, exc):
            # type: (_cf.Future[Any], Optional[BaseException]) -> None
            """``future.set_exception(exc)``, with InvalidStateError if done."""
    else:  # the methods themselves: no indirection on 3.8+
        set_future_result = _cf.Future.set_result
        set_future_exception = _cf.Future.set_exception
else:
    def set_future_result(future, result):
        # type: (Any, Any) -> None
        """``future.set_result(result)``; InvalidStateError if already done (as 3.8).

        The callbacks run on the calling thread, after the future's lock is released.
        """
        with future._condition:
            if future._state in _DONE_STATES:
                raise InvalidStateError("%s: %r" % (future._state, future))
            future._result = result
            future._state = _cf_base.FINISHED
            for waiter in future._waiters:
                waiter.add_result(future)
            future._condition.notify_all()
        future._invoke_callbacks()

    def set_future_exception(future, exc):
        # type: (Any, BaseException) -> None
        """``future.set_exception(exc)``; InvalidStateError if already done (as 3.8)."""
        with future._condition:
            if future._state in _DONE_STATES:
                raise InvalidStateError("%s: %r" % (future._state, future))
            future._exception = exc
            if hasattr(future, "_traceback"):   # the Python 2 backport
                future._traceback = getattr(exc, "__traceback__", None)
            future._state = _cf_base.FINISHED
            for waiter in future._waiters:
                waiter.add_exception(future)
            future._condition.notify_all()
        future._invoke_callbacks()


class _Future38(_cf.Future):
    """``concurrent.futures.Future`` with 3.8's set_result/set_exception:
    InvalidStateError when the future is already done (before 3.8 they
    overwrote the outcome, even of a cancelled future)."""

    def set_result(self, result):
        # type: (Any) -> None
        set_future_result(self, result)

    def set_exception(self, exception):
        # type: (Optional[BaseException]) -> None
        set_future_exception(self, exception)


class _Future27(_Future38):
    """Python 2: also precise, Ctrl-C-interruptible ``result(timeout)`` and
    ``exception(timeout)`` (the backport's poll with sleeps up to 50 ms, and
    its untimed wait ignores Ctrl-C)."""

    def _wait_done(self, timeout):
        # type: (Optional[float]) -> bool
        if self.done():
            return True
        waiter = _PipeWaiter.current()
        with self._condition:
            if self._state in _DONE_STATES:
                return True
            pipes = self.__dict__.setdefault("_pipe_waiters", [])
            pipes.append(waiter)
        try:
            return waiter.sleep_until(self.done, timeout)
        finally:
            with self._condition:
                pipes.remove(waiter)

    def _invoke_callbacks(self):
        # type: () -> None
        with self._condition:
            pipes = list(self.__dict__.get("_pipe_waiters", ()))
        for waiter in pipes:
            waiter.wake()
        super(_Future27, self)._invoke_callbacks()  # type: ignore[misc]

    def result(self, timeout=None):
        # type: (Optional[float]) -> Any
        self._wait_done(timeout)
        return super(_Future27, self).result(0)

    def exception(self, timeout=None):
        # type: (Optional[float]) -> Optional[BaseException]
        self._wait_done(timeout)
        return super(_Future27, self).exception(0)


#: ``concurrent.futures.Future`` with 3.8+ semantics and precise waits.
if TYPE_CHECKING or sys.version_info >= (3, 8):
    from concurrent.futures import Future
elif PY2:
    Future = _Future27
else:
    Future = _Future38


# ------------------------------------------------------------------ waiting for a future
def wait_future(future, timeout=None):
    # type: (Any, Optional[float]) -> bool
    """Wait until ``future`` is done (True) or ``timeout`` passes (False).

    On Python 2 the futures backport's result(timeout) polls (up to 50 ms late);
    this waits precisely and can be interrupted by Ctrl-C.
    """
    if future.done():
        return True
    if not PY2:
        done, _ = _cf.wait([future], timeout)
        return bool(done)
    waiter = getattr(future, "_wait_done", None)   # compat.Future: no callback left behind
    if waiter is not None:
        return waiter(timeout)
    event = _FastEvent()
    future.add_done_callback(lambda _: event.set())
    return event.wait(timeout)


class ResultTimeout(Exception):
    """:func:`future_result`'s wait ran out: the future is not done yet.

    Not a ``TimeoutError``, so it cannot be mistaken for the outcome of a
    future that failed with one.
    """


def future_result(future, timeout=None):
    # type: (Any, Optional[float]) -> Any
    """``future.result(timeout)``, but only the wait running out raises
    :exc:`ResultTimeout`.

    A future that failed with a ``TimeoutError`` raises that error,
    unchanged: on 3.11+ ``concurrent.futures.TimeoutError`` *is* the
    built-in ``TimeoutError``, so catching it around ``result(timeout)``
    also catches, say, a request's own ``KatcpTimeoutError``. ``timeout``
    is taken as :func:`~katcp_sync.compat.wait_timeout` takes it (None or
    longer than ``LONGEST_WAIT``: no limit). Waits precisely on Python 2
    too (no 50 ms polls). Any thread.
    """
    if not wait_future(future, wait_timeout(timeout)):
        raise ResultTimeout("the future is not done after %r s" % (timeout,))
    return future.result()
