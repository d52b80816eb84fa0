"""Tests for katcp_sync.scheduler.ManualScheduler, the virtual clock of the sans-IO tests."""

from __future__ import absolute_import, division, print_function


import threading

import pytest

from katcp_sync.scheduler import ManualScheduler


def test_time_starts_where_asked_and_moves_only_on_advance():
    sched = ManualScheduler(start=100.0)
    assert sched.time() == 100.0
    sched.advance(2.5)
    assert sched.time() == 102.5
    assert ManualScheduler().time() == 0.0


def test_calls_run_in_deadline_order_with_ties_in_scheduling_order():
    sched = ManualScheduler()
    ran = []
    sched.call_at(3.0, ran.append, "c")
    sched.call_at(1.0, ran.append, "a1")
    sched.call_at(1.0, ran.append, "a2")
    sched.call_later(2.0, ran.append, "b")
    assert sched.advance(10.0) == 4
    assert ran == ["a1", "a2", "b", "c"]
    assert sched.time() == 10.0


def test_calls_see_their_deadline_as_the_time():
    sched = ManualScheduler()
    seen = []
    for when in (0.5, 1.25, 3.0):
        sched.call_at(when, lambda: seen.append(sched.time()))
    sched.advance(5.0)
    assert seen == [0.5, 1.25, 3.0]


def test_calls_not_yet_due_stay_pending():
    sched = ManualScheduler()
    ran = []
    sched.call_at(1.0, ran.append, 1)
    sched.call_at(2.0, ran.append, 2)
    assert sched.advance(1.5) == 1
    assert ran == [1]
    assert sched.pending() == [2.0]
    assert sched.pending_count() == 1
    sched.advance(0.5)  # exactly at the deadline: due
    assert ran == [1, 2]
    assert sched.pending() == []


def test_calls_scheduled_during_advance_run_if_inside_the_window():
    sched = ManualScheduler()
    ran = []

    def tick(n):
        ran.append((n, sched.time()))
        sched.call_later(1.0, tick, n + 1)

    sched.call_at(1.0, tick, 0)
    sched.advance(3.5)
    assert ran == [(0, 1.0), (1, 2.0), (2, 3.0)]
    assert sched.pending() == [4.0]


def test_past_deadline_runs_on_next_advance():
    sched = ManualScheduler(start=5.0)
    ran = []
    sched.call_at(1.0, ran.append, "late")
    assert ran == []
    sched.advance(0)
    assert ran == ["late"]
    assert sched.time() == 5.0  # time never goes backwards


def test_cancel_prevents_the_call_and_is_idempotent():
    sched = ManualScheduler()
    ran = []
    handle = sched.call_at(1.0, ran.append, "x")
    keep = sched.call_at(1.0, ran.append, "y")
    handle.cancel()
    handle.cancel()
    assert handle.cancelled and not keep.cancelled
    assert sched.pending_count() == 1
    assert sched.pending() == [1.0]
    sched.advance(2.0)
    assert ran == ["y"]
    keep.cancel()  # after it ran: harmless
    assert sched.pending_count() == 0


def test_a_call_may_cancel_a_later_one():
    sched = ManualScheduler()
    ran = []
    later = sched.call_at(2.0, ran.append, "later")
    sched.call_at(1.0, later.cancel)
    sched.advance(3.0)
    assert ran == []


def test_stall_moves_time_without_running_calls():
    sched = ManualScheduler()
    seen = []
    sched.call_at(1.0, lambda: seen.append(sched.time()))
    sched.stall(3.0)
    assert seen == [] and sched.time() == 3.0
    sched.advance(0)
    assert seen == [3.0]  # ran late, and saw the late time


def test_negative_times_are_refused():
    sched = ManualScheduler()
    with pytest.raises(ValueError, match="backwards"):
        sched.advance(-1)
    with pytest.raises(ValueError, match="backwards"):
        sched.stall(-1)


def test_advance_from_inside_a_call_is_refused():
    sched = ManualScheduler()
    errors = []

    def nested():
        try:
            sched.advance(1.0)
        except RuntimeError as exc:
            errors.append(exc)

    sched.call_at(1.0, nested)
    sched.advance(1.0)
    assert len(errors) == 1 and "already running" in str(errors[0])
    sched.advance(1.0)  # and advancing works again afterwards


def test_exception_in_a_call_propagates_and_keeps_later_calls():
    sched = ManualScheduler()
    ran = []

    def boom():
        raise KeyError("boom")

    sched.call_at(1.0, boom)
    sched.call_at(2.0, ran.append, "after")
    with pytest.raises(KeyError):
        sched.advance(5.0)
    assert sched.time() == 1.0
    assert sched.pending() == [2.0]
    sched.advance(4.0)
    assert ran == ["after"] and sched.time() == 5.0


def test_call_at_and_cancel_from_many_threads():
    sched = ManualScheduler()
    count = 500
    ran = []
    lock = threading.Lock()

    def record(i):
        with lock:
            ran.append(i)

    def schedule(offset):
        for i in range(count):
            handle = sched.call_at(float(i % 7), record, offset + i)
            if i % 2:
                handle.cancel()

    threads = [threading.Thread(target=schedule, args=(n * count,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert sched.pending_count() == 4 * count // 2
    sched.advance(10.0)
    assert sorted(ran) == sorted(n * count + i for n in range(4) for i in range(0, count, 2))
    assert sched.pending_count() == 0
