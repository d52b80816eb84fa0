"""katcp_sync.lifecycle: the start/stop race rules and the join, written once (issue #12)."""

from __future__ import absolute_import, division, print_function


import threading
import time

import pytest

from katcp_sync.deadline import Deadline
from katcp_sync.lifecycle import (RUNNING, STARTING, STOPPED, STOPPING, Lifecycle,
                                  join_threads)

from ordering_support import Barrier

TIMEOUT = 5.0


def test_a_run_goes_stopped_starting_running_stopping_stopped():
    life = Lifecycle()
    assert life.state == STOPPED and life.run_id == 0 and life.stop_future.done()
    assert life.begin_start() == 1
    assert life.state == STARTING and not life.stop_future.done()
    assert life.finish_start() and life.state == RUNNING
    assert life.is_running() and life.wait_running(0)
    assert life.request_stop() and life.state == STOPPING and not life.is_running()
    assert not life.request_stop()  # only the first stop begins it
    assert life.begin_finish() and not life.begin_finish()  # one finish per run
    future = life.stop_future
    life.mark_stopped()
    assert life.state == STOPPED and future.done() and life.wait_stopped(0)
    assert life.begin_start() == 2  # a restart is a new run


def test_start_while_not_stopped_is_an_error():
    life = Lifecycle()
    life.begin_start()
    with pytest.raises(RuntimeError):
        life.begin_start()  # starting
    life.finish_start()
    with pytest.raises(RuntimeError):
        life.begin_start()  # running
    life.request_stop()
    with pytest.raises(RuntimeError):
        life.begin_start()  # still stopping


def test_a_stop_during_start_is_left_to_the_starter():
    life = Lifecycle()
    life.begin_start()
    assert not life.request_stop()  # recorded, not carried out
    assert life.stopping
    assert not life.finish_start()  # the starter must stop the run now
    assert life.state == STOPPING and not life.is_running()


def test_stop_without_a_run_does_nothing():
    life = Lifecycle()
    assert not life.request_stop()
    assert life.state == STOPPED and life.stop_future.done()


def test_a_failed_start_marks_the_run_stopped():
    life = Lifecycle()
    life.begin_start()
    life.mark_stopped()
    assert life.state == STOPPED and life.stop_future.done()
    life.begin_start()


def test_starts_racing_from_many_threads_open_one_run():
    life = Lifecycle()
    barrier = Barrier(8, timeout=TIMEOUT)
    won = []

    def start():
        barrier.wait()
        try:
            won.append(life.begin_start())
        except RuntimeError:
            pass

    threads = [threading.Thread(target=start) for _ in range(8)]
    for thread in threads:
        thread.start()
    assert join_threads(threads, TIMEOUT)
    assert won == [1]


def test_join_threads_is_true_only_when_every_thread_ended():
    release = threading.Event()
    quick = threading.Thread(target=lambda: None)
    slow = threading.Thread(target=release.wait, args=(TIMEOUT,))
    quick.start()
    slow.start()
    try:
        assert not join_threads([quick, slow], 0.05)
    finally:
        release.set()
    assert join_threads([quick, slow], deadline=Deadline(TIMEOUT))


def test_join_threads_skips_the_calling_thread_but_counts_it_alive():
    result = []
    thread = threading.Thread(target=lambda: result.append(join_threads([thread], TIMEOUT)))
    thread.start()
    thread.join(TIMEOUT)
    assert result == [False]


def test_an_overtaking_start_leaves_the_stopping_run_to_finish_on_its_own():
    """The client's rule: a restart before the last run's teardown ran."""
    life = Lifecycle(overtake=True)
    first = life.begin_start()
    life.finish_start()
    assert life.request_stop()
    old_future = life.stop_future
    second = life.begin_start()  # overtakes the run still stopping
    assert second == first + 1 and life.state == STARTING
    assert not life.is_current(first) and life.is_current(second)
    assert not life.request_stop(first)  # a stale stop leaves the new run alone
    life.finish_start()
    assert life.begin_finish(first) and not life.begin_finish(first)
    life.mark_stopped(first)
    assert old_future.done() and not life.stop_future.done()
    assert life.state == RUNNING and not life.wait_stopped(0)
    assert life.request_stop(second) and life.begin_finish(second)
    life.mark_stopped(second)
    assert life.state == STOPPED and life.stop_future.done()
    assert not life.begin_finish(first)  # an unknown run: nothing to finish


def test_without_overtake_a_start_while_stopping_is_still_an_error():
    life = Lifecycle()
    life.begin_start()
    life.finish_start()
    life.request_stop()
    with pytest.raises(RuntimeError):
        life.begin_start()


def test_is_current_is_false_once_a_stop_was_asked():
    life = Lifecycle()
    run = life.begin_start()
    assert life.is_current(run)
    life.request_stop()  # during STARTING: pending
    assert not life.is_current(run)
    life.finish_start()
    assert not life.is_current(run)


def test_a_stop_wait_sees_a_stop_that_a_new_start_already_cleared():
    """A thread in wait_stopped() returns True for a stop even if a start
    cleared the event again before it looked (threading.Event's rule;
    compat's Python 2 event kept waiting, unregistered, until its timeout:
    a stop() racing start() took 5 s there)."""
    from katcp_sync import compat
    event = compat.Event()
    waiting = threading.Event()
    results = []

    def waiter():
        waiting.set()
        results.append(event.wait(TIMEOUT))

    thread = threading.Thread(target=waiter)
    thread.start()
    assert waiting.wait(TIMEOUT)
    deadline = compat.monotonic() + TIMEOUT
    while not getattr(event, "_waiters", True) and compat.monotonic() < deadline:
        time.sleep(0.001)   # (2.7: until it is registered)
    time.sleep(0.01)
    start = compat.monotonic()
    event.set()
    event.clear()
    thread.join(TIMEOUT)
    assert results == [True]
    assert compat.monotonic() - start < TIMEOUT / 2
