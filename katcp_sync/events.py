"""Thread-safe events and future helpers under katcp-python's ``katcp.core`` names.

katcp-python's ``AsyncEvent``, ``AsyncState``, ``until_any``, ``until_some``
and ``until_later`` returned tornado futures and had to be used on the
ioloop's thread. Here they return :class:`concurrent.futures.Future` objects
and every method may be called from any thread. A future with a timeout
fails with :exc:`concurrent.futures.TimeoutError` when the time runs out
first (the timing runs on a short-lived timer thread).
"""

from __future__ import absolute_import, division, print_function

import concurrent.futures
import threading
from typing import Any, Dict, Iterable, List, Optional, Tuple

from . import compat
from .formatting import format_seconds

__all__ = ["AsyncEvent", "AsyncState", "until_any", "until_some", "until_later"]

Future = compat.Future  # resolve-once, precise result(timeout) on Python 2


def _resolve(future, value):
    # type: ("Future[Any]", Any) -> None
    if not future.done():
        try:
            compat.set_future_result(future, value)
        except compat.InvalidStateError:
            pass  # resolved by another thread meanwhile


def _fail(future, exc):
    # type: ("Future[Any]", BaseException) -> None
    if not future.done():
        try:
            compat.set_future_exception(future, exc)
        except compat.InvalidStateError:
            pass  # resolved by another thread meanwhile


def _with_timeout(future, timeout):
    # type: ("Future[Any]", Optional[float]) -> "Future[Any]"
    """Return a future resolved like ``future``, or failed after ``timeout``."""
    if not timeout or future.done():
        return future
    outer = Future()  # type: "Future[Any]"

    def expire():
        # type: () -> None
        if not outer.done():
            try:
                compat.set_future_exception(outer, concurrent.futures.TimeoutError(
                    "not done within %s seconds" % format_seconds(timeout)))
            except compat.InvalidStateError:
                pass

    timer = threading.Timer(timeout, expire)
    timer.daemon = True
    timer.name = "katcp_sync-future-timeout"

    def done(inner):
        # type: ("Future[Any]") -> None
        timer.cancel()
        if outer.done():
            return
        try:
            if inner.cancelled():
                outer.cancel()
            elif inner.exception() is not None:
                compat.set_future_exception(outer, inner.exception())
            else:
                compat.set_future_result(outer, inner.result())
        except compat.InvalidStateError:
            pass

    timer.start()
    future.add_done_callback(done)
    return outer


class AsyncEvent(object):
    """A :class:`threading.Event` that also hands out futures.

    ``set``/``clear``/``is_set``/``wait`` behave as :class:`threading.Event`'s;
    :meth:`until_set` returns a future resolved (with True) when the event
    is set. Any thread. The ``ioloop`` argument is accepted for
    katcp-python's signature and ignored.
    """

    def __init__(self, ioloop=None):
        # type: (object) -> None
        self._lock = threading.Lock()
        self._event = compat.Event()  # (precise and Ctrl-C-interruptible waits on 2.7)
        self._waiting = Future()  # type: "Future[bool]"

    def is_set(self):
        # type: () -> bool
        """True if the event is set."""
        return self._event.is_set()

    isSet = is_set

    def set(self):
        # type: () -> None
        """Set the flag and resolve the futures from :meth:`until_set`."""
        with self._lock:
            self._event.set()
            waiting, self._waiting = self._waiting, Future()
        _resolve(waiting, True)

    def clear(self):
        # type: () -> None
        """Reset the flag."""
        self._event.clear()

    def wait(self, timeout=None):
        # type: (Optional[float]) -> bool
        """Block until the flag is set; return it (False after ``timeout``)."""
        return self._event.wait(timeout)

    def wait_with_ioloop(self, ioloop, timeout=None):
        # type: (object, Optional[float]) -> bool
        """katcp-python's name for :meth:`wait` (the ``ioloop`` is ignored)."""
        return self.wait(timeout)

    def until_set(self, timeout=None):
        # type: (Optional[float]) -> "Future[bool]"
        """Return a future resolved with True once the flag is set."""
        with self._lock:
            if self._event.is_set():
                done = Future()  # type: "Future[bool]"
                compat.set_future_result(done, True)
                return done
            waiting = self._waiting
        return _with_timeout(waiting, timeout)


class AsyncState(object):
    """A state from a fixed set, with futures that wait for a given state.

    Args:
        valid_states: the allowed states.
        initial_state: the state to start in (default: the first valid one).
        ioloop: accepted for katcp-python's signature and ignored.

    Raises:
        ValueError: ``initial_state`` is not valid.

    Every method may be called from any thread; the futures resolve on the
    thread that sets the state (or a timer thread, for a timeout).
    """

    def __init__(self, valid_states, initial_state=None,
                 ioloop=None):
        # type: (Iterable[Any], Any, object) -> None
        self._valid_states = tuple(valid_states)
        if initial_state is None:
            initial_state = self._valid_states[0]
        self._check(initial_state)
        self._lock = threading.Lock()
        self._state = initial_state
        self._waiting = {
            state: Future() for state in self._valid_states}  # type: Dict[Any, "Future[bool]"]

    @property
    def state(self):
        # type: () -> Any
        """The current state."""
        return self._state

    @property
    def valid_states(self):
        # type: () -> Tuple[Any, ...]
        """The allowed states."""
        return self._valid_states

    def _check(self, state):
        # type: (Any) -> None
        if state not in self._valid_states:
            raise ValueError("State must be one of {0}, not {1}".format(
                self._valid_states, state))

    def set_state(self, state):
        # type: (Any) -> None
        """Change the state and resolve the futures waiting for it. Any thread.

        Raises:
            ValueError: ``state`` is not valid.
        """
        self._check(state)
        with self._lock:
            self._state = state
            waiting = self._waiting[state]
            self._waiting[state] = Future()
        _resolve(waiting, True)

    def until_state(self, state, timeout=None):
        # type: (Any, Optional[float]) -> "Future[bool]"
        """Return a future resolved with True once the state is ``state``.

        Raises:
            ValueError: ``state`` is not valid.
        """
        self._check(state)
        with self._lock:
            if self._state == state:
                done = Future()  # type: "Future[bool]"
                compat.set_future_result(done, True)
                return done
            waiting = self._waiting[state]
        return _with_timeout(waiting, timeout)

    def until_state_in(self, *states, **kwargs):
        # type: (*Any, **Any) -> "Future[Any]"
        """Return a future resolved once the state is any of ``states``."""
        timeout = kwargs.get("timeout")
        return until_any(*[self.until_state(s) for s in states], timeout=timeout)


def until_later(delay, ioloop=None):
    # type: (float, object) -> "Future[None]"
    """Return a future resolved with None after ``delay`` seconds."""
    future = Future()  # type: "Future[None]"
    timer = threading.Timer(delay, _resolve, (future, None))
    timer.daemon = True
    timer.name = "katcp_sync-until-later"
    timer.start()
    return future


def until_any(*futures, **kwargs):
    # type: (*"Future[Any]", **Any) -> "Future[Any]"
    """Return a future resolved like the first of ``futures`` to finish.

    Keyword Args:
        timeout: seconds before the returned future fails with
            :exc:`concurrent.futures.TimeoutError`.
    """
    any_future = Future()  # type: "Future[Any]"

    def done(fut):
        # type: ("Future[Any]") -> None
        if any_future.done():
            return
        try:
            if fut.exception() is not None:
                compat.set_future_exception(any_future, fut.exception())
            else:
                compat.set_future_result(any_future, fut.result())
        except (compat.InvalidStateError, concurrent.futures.CancelledError):
            pass

    for future in futures:
        future.add_done_callback(done)
    return _with_timeout(any_future, kwargs.get("timeout"))


def until_some(*args, **kwargs):
    # type: (*"Future[Any]", **Any) -> "Future[List[Tuple[Any, Any]]]"
    """Return a future of ``[(key, result), ...]`` once enough futures are done.

    Positional futures are keyed by their index, keyword futures (other than
    ``done_at_least`` and ``timeout``) by their name.

    Keyword Args:
        done_at_least: how many must finish (default: all of them).
        timeout: seconds before the returned future fails with
            :exc:`concurrent.futures.TimeoutError`.
    """
    done_at_least = kwargs.pop("done_at_least", None)
    timeout = kwargs.pop("timeout", None)
    keyed = list(enumerate(args)) + list(kwargs.items())
    if done_at_least is None:
        done_at_least = len(keyed)
    lock = threading.Lock()
    results = []  # type: List[Tuple[Any, Any]]
    some = Future()  # type: "Future[List[Tuple[Any, Any]]]"

    def watcher(key):
        # type: (Any) -> Any
        def done(fut):
            # type: ("Future[Any]") -> None
            try:
                value = fut.result()
            except BaseException as exc:  # passed on to the waiter
                _fail(some, exc)
                return
            with lock:
                results.append((key, value))
                complete = len(results) >= done_at_least and not some.done()
                snapshot = list(results)
            if complete:
                _resolve(some, snapshot)
        return done

    if done_at_least <= 0:
        compat.set_future_result(some, [])
    for key, future in keyed:
        future.add_done_callback(watcher(key))
    return _with_timeout(some, timeout)
