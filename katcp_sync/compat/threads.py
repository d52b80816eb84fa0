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
