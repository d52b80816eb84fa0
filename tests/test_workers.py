"""Tests for katcp_sync.workers.HandlerPool."""

from __future__ import absolute_import, division, print_function


import logging
import threading

import pytest

from katcp_sync.workers import HandlerPool

from ordering_support import Barrier, acquire_within

TIMEOUT = 5.0


@pytest.fixture
def pool_factory():
    pools = []

    def make(*args, **kwargs):
        pool = HandlerPool(*args, **kwargs)
        pools.append(pool)
        return pool

    yield make
    for pool in pools:
        pool.shutdown(wait=True, timeout=TIMEOUT)


def drain(pool, keys):
    """Wait until markers submitted after everything so far have run (the pool
    is FIFO: with one worker, every earlier item has run too)."""
    markers = []
    for key in keys:
        marker = threading.Event()
        pool.submit(key, marker.set)
        markers.append(marker)
    for marker in markers:
        assert marker.wait(TIMEOUT), "pool did not drain"


def test_items_start_in_submission_order(pool_factory):
    """A plain FIFO: with one worker, items run in the order submitted, keys
    or not (per-client order is the server's turn's job, not the pool's)."""
    pool = pool_factory(max_workers=1)
    seen = []
    for i in range(300):
        pool.submit(i % 7, seen.append, i)
    drain(pool, [None])
    assert seen == list(range(300))


def test_same_key_may_run_in_parallel(pool_factory):
    """The key is accepted for compatibility only: a second item of the same
    key runs on a free worker while the first still runs."""
    pool = pool_factory(max_workers=2)
    release = threading.Event()
    first_running = threading.Event()
    second = threading.Event()

    def first():
        first_running.set()
        release.wait(TIMEOUT)

    pool.submit("conn", first)
    assert first_running.wait(TIMEOUT)
    pool.submit("conn", second.set)
    try:
        assert second.wait(TIMEOUT)
    finally:
        release.set()


def test_pending_counts_queued_and_running_items(pool_factory):
    pool = pool_factory(max_workers=1)
    release = threading.Event()
    running = threading.Event()

    def block():
        running.set()
        release.wait(TIMEOUT)

    pool.submit(None, block)
    assert running.wait(TIMEOUT)
    pool.submit(None, lambda: None)
    assert pool.pending() == 2
    release.set()
    drain(pool, [None])


def test_different_keys_run_in_parallel(pool_factory):
    pool = pool_factory(max_workers=2)
    barrier = Barrier(2, timeout=TIMEOUT)
    passed = []
    done = [threading.Event(), threading.Event()]

    def meet(index):
        passed.append(barrier.wait())
        done[index].set()

    pool.submit("a", meet, 0)
    pool.submit("b", meet, 1)
    assert all(event.wait(TIMEOUT) for event in done)
    assert sorted(passed) == [0, 1]  # the barrier only opens if both ran at once


def test_max_workers_is_respected(pool_factory):
    pool = pool_factory(max_workers=2)
    release = threading.Event()
    started = threading.Semaphore(0)
    running = [0]
    peak = [0]
    lock = threading.Lock()

    def job():
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        started.release()
        release.wait(TIMEOUT)
        with lock:
            running[0] -= 1

    for key in range(5):
        pool.submit(key, job)
    assert acquire_within(started, TIMEOUT) and acquire_within(started, TIMEOUT)
    assert not acquire_within(started, 0.05)
    assert pool.pending() == 5
    release.set()
    drain(pool, range(5))
    assert peak[0] == 2
    assert len(pool._threads) == 2


def test_threads_are_lazy_and_named(pool_factory):
    pool = pool_factory(max_workers=3, name="my-handler")
    assert pool._threads == []
    names = []
    done = threading.Event()
    pool.submit("k", lambda: (names.append(threading.current_thread().name), done.set()))
    assert done.wait(TIMEOUT)
    drain(pool, "k")
    assert names == ["my-handler-0"]
    assert len(pool._threads) == 1  # one key at a time never needs a second thread


def test_exception_is_logged_and_pool_carries_on(pool_factory, caplog):
    pool = pool_factory()
    seen = []

    def bad():
        raise ValueError("handler exploded")

    with caplog.at_level(logging.ERROR, logger="katcp_sync.workers"):
        pool.submit("k", bad)
        pool.submit("k", seen.append, "after")
        drain(pool, "k")
    assert seen == ["after"]
    assert any(r.exc_info and "handler exploded" in str(r.exc_info[1]) for r in caplog.records)


def test_shutdown_lets_running_item_finish_and_drops_queued(pool_factory):
    pool = pool_factory(max_workers=1)
    running = threading.Event()
    release = threading.Event()
    seen = []

    def slow():
        running.set()
        release.wait(TIMEOUT)
        seen.append("slow finished")

    pool.submit("a", slow)
    pool.submit("a", seen.append, "queued")
    pool.submit("b", seen.append, "other queued")
    assert running.wait(TIMEOUT)
    assert pool.shutdown(wait=False) is False  # a thread still runs ``slow``
    with pytest.raises(RuntimeError):
        pool.submit("c", seen.append, "refused")
    assert pool.pending() == 1  # only the running item is left
    assert pool.shutdown(wait=True, timeout=0.05) is False
    release.set()
    assert pool.shutdown(wait=True, timeout=TIMEOUT) is True  # every thread ended
    assert seen == ["slow finished"]
    assert pool.pending() == 0
    assert not any(t.is_alive() for t in pool._threads)


def test_shutdown_from_inside_a_handler_does_not_deadlock(pool_factory):
    pool = pool_factory(max_workers=2)
    done = threading.Event()

    def halt():
        pool.shutdown(wait=True, timeout=TIMEOUT)
        done.set()

    pool.submit("a", halt)
    assert done.wait(TIMEOUT)
    for t in pool._threads:
        t.join(TIMEOUT)
        assert not t.is_alive()


def test_shutdown_idempotent_and_without_threads(pool_factory):
    pool = pool_factory()
    pool.shutdown()
    pool.shutdown(wait=False)
    with pytest.raises(RuntimeError):
        pool.submit("k", print)


def test_invalid_max_workers():
    with pytest.raises(ValueError):
        HandlerPool(0)


def test_an_idle_worker_is_woken_not_doubled(pool_factory):
    """Idle workers sleep on a lock each: an item submitted while one sleeps
    wakes it (no second thread), items keep coming through, and shutdown
    wakes every sleeper."""
    pool = pool_factory(max_workers=4)
    for round_ in range(50):
        done = threading.Event()
        pool.submit(None, done.set)
        assert done.wait(TIMEOUT)
        # wait until the worker is asleep again before the next item
        for _ in range(1000):
            with pool._lock:
                if pool._sleepers and not pool._running:
                    break
            threading.Event().wait(0.001)
    assert len(pool._threads) == 1
    assert len(pool._sleepers) == 1
    threads = list(pool._threads)
    assert pool.shutdown(wait=True, timeout=TIMEOUT)
    assert not any(thread.is_alive() for thread in threads)


def test_many_submitters_every_item_runs_once(pool_factory):
    pool = pool_factory(max_workers=3)
    ran = []
    lock = threading.Lock()

    def job(i):
        with lock:
            ran.append(i)

    def submitter(base):
        for i in range(200):
            pool.submit(None, job, base + i)

    threads = [threading.Thread(target=submitter, args=(k * 1000,)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT)
    drain(pool, [None] * 3)
    assert sorted(ran) == sorted(k * 1000 + i for k in range(4) for i in range(200))
    assert len(pool._threads) <= 3


def test_signal_is_readable_while_items_wait_for_a_watcher(pool_factory):
    """HandlerPool.watch: a thread sleeping in poll() on something else (a
    server's worker waiting for a client's next request) is woken by work
    submitted meanwhile, and the signal clears once the queue is empty."""
    import select
    pool = pool_factory(1)
    fd = pool.signal_fileno()
    entered, gate = threading.Event(), threading.Event()
    pool.submit(None, lambda: (entered.set(), gate.wait(TIMEOUT)))
    assert entered.wait(TIMEOUT)               # the one worker is busy
    pool.watch()
    try:
        assert not select.select([fd], [], [], 0)[0]
        done = threading.Event()
        pool.submit(None, done.set)            # waits for the worker
        assert select.select([fd], [], [], TIMEOUT)[0]
        gate.set()
        assert done.wait(TIMEOUT)
        assert not select.select([fd], [], [], 0)[0]   # taken: cleared
    finally:
        gate.set()
        pool.unwatch()
    pool.submit(None, lambda: None)            # nobody watches: no signal
    drain(pool, [None])
    assert not select.select([fd], [], [], 0)[0]
    assert pool.shutdown(wait=True, timeout=TIMEOUT)
    assert pool.signal_fileno() == -1   # closed with the pool
