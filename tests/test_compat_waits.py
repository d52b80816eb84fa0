"""compat's waits for the clients (issue 13): TimedLock, Future, Condition.

On Python 2 they sleep on a per-thread pipe (precise, Ctrl-C-interruptible);
on Python 3 they are the standard classes (Future with 3.8's rules).
"""

from __future__ import absolute_import, division, print_function

import concurrent.futures
import threading

import pytest

from katcp_sync import compat

SLACK = 0.04   # well under Python 2's 50 ms polling steps


def later(delay, func, *args):
    timer = threading.Timer(delay, func, args)
    timer.start()
    return timer


def timed(func, *args):
    start = compat.monotonic()
    result = func(*args)
    return result, compat.monotonic() - start


def test_timed_lock_times_out_and_wakes_precisely():
    lock = compat.TimedLock()
    assert lock.acquire()
    got, took = timed(lock.acquire, True, 0.02)
    assert not got and 0.02 <= took < 0.02 + SLACK
    assert not lock.acquire(False)
    timer = later(0.01, lock.release)
    got, took = timed(lock.acquire, True, 5.0)
    timer.join()
    assert got and took < 0.01 + SLACK
    lock.release()


def test_future_resolves_once_as_in_python_3_8():
    future = compat.Future()
    future.set_result(1)
    with pytest.raises(compat.InvalidStateError):
        future.set_result(2)
    with pytest.raises(compat.InvalidStateError):
        future.set_exception(ValueError("late"))
    assert future.result() == 1
    cancelled = compat.Future()
    assert cancelled.cancel()
    with pytest.raises(compat.InvalidStateError):
        cancelled.set_result(1)
    assert cancelled.cancelled()


def test_future_waits_precisely():
    future = compat.Future()
    with pytest.raises(concurrent.futures.TimeoutError):
        future.result(0.02)
    timer = later(0.01, future.set_exception, ValueError("x"))
    exc, took = timed(future.exception, 5.0)
    timer.join()
    assert isinstance(exc, ValueError) and took < 0.01 + SLACK
    assert compat.wait_future(future, 0)


def test_condition_wait_for_and_notify():
    cond = compat.Condition()
    box = []

    def put():
        with cond:
            box.append(1)
            cond.notify_all()
    with cond:
        assert not cond.wait_for(lambda: box, 0.02)
        timer = later(0.01, put)
        ok, took = timed(cond.wait_for, lambda: box, 5.0)
    timer.join()
    assert ok and took < 0.01 + SLACK
