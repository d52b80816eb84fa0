"""Tests for katcp_sync.reactor: callbacks, timers, socket readiness, life cycle."""

from __future__ import absolute_import, division, print_function


import logging
import socket
import threading
import time

import pytest

from katcp_sync import compat
from katcp_sync.compat import selectors

from katcp_sync import reactor as reactor_module
from katcp_sync.errors import KatcpTimeoutError
from katcp_sync.reactor import Reactor, TimerHandle

from ordering_support import Barrier, switch_interval
from server_support import ChildTimeout, communicate_child

TIMEOUT = 5.0



def wait(event):
    assert event.wait(TIMEOUT), "timed out waiting for the reactor"


def sync(reactor):
    """Return once everything queued before this call has run."""
    reactor.run_sync(lambda: None, timeout=TIMEOUT)


# ----------------------------------------------------------------------
# Callbacks


def test_callbacks_run_on_reactor_thread_in_order(reactor):
    seen = []
    for i in range(100):
        reactor.add_callback(lambda i=i: seen.append((i, reactor.in_reactor_thread())))
    sync(reactor)
    assert seen == [(i, True) for i in range(100)]
    assert not reactor.in_reactor_thread()


def test_callbacks_from_many_threads_all_run_in_per_thread_order(reactor):
    n_threads, per_thread = 8, 2000
    seen = []
    done = threading.Event()
    total = n_threads * per_thread

    def record(tid, i):
        seen.append((tid, i))
        if len(seen) == total:
            done.set()

    start = Barrier(n_threads, timeout=TIMEOUT)

    def producer(tid):
        start.wait()
        for i in range(per_thread):
            reactor.add_callback(record, tid, i)

    threads = [threading.Thread(target=producer, args=(t,)) for t in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(TIMEOUT)
    wait(done)
    for tid in range(n_threads):
        assert [i for t, i in seen if t == tid] == list(range(per_thread))


def test_fileno_is_readable_while_io_waits_for_the_reactor(reactor):
    """Reactor.fileno: a thread spinning for something else (a server's
    worker reading ahead) polls it to give way while the reactor has I/O."""
    import select
    a, b = socket.socketpair()
    entered, gate = threading.Event(), threading.Event()

    def on_readable():
        entered.set()
        gate.wait(TIMEOUT)   # the reactor is busy; b's data stays unread
        a.recv(100)
    try:
        reactor.run_sync(reactor.add_reader, a, on_readable, timeout=TIMEOUT)
        assert not select.select([reactor.fileno()], [], [], 0)[0]
        b.send(b"x")
        wait(entered)
        assert select.select([reactor.fileno()], [], [], TIMEOUT)[0]
        gate.set()
        reactor.run_sync(reactor.remove_reader, a, timeout=TIMEOUT)
        assert not select.select([reactor.fileno()], [], [], 0)[0]
    finally:
        gate.set()
        a.close()
        b.close()


def test_callbacks_queued_before_start_run_after_start():
    r = Reactor()
    ran = threading.Event()
    timer_ran = threading.Event()
    assert r.add_callback(ran.set)
    r.call_later(0, timer_ran.set)
    assert not ran.is_set()
    r.start()
    try:
        wait(ran)
        wait(timer_ran)
    finally:
        r.stop(TIMEOUT)


def test_exception_in_callback_is_logged_and_loop_continues(reactor, caplog):
    def boom():
        raise ValueError("boom in callback")

    after = threading.Event()
    with caplog.at_level(logging.ERROR, logger="katcp_sync.reactor"):
        reactor.add_callback(boom)
        reactor.call_later(0, boom)
        reactor.add_callback(after.set)
        wait(after)
        sync(reactor)
    errors = [rec for rec in caplog.records if rec.name == "katcp_sync.reactor"]
    assert len(errors) == 2
    assert all(rec.exc_info and "boom in callback" in str(rec.exc_info[1]) for rec in errors)
    assert reactor.running()


def test_callback_added_from_reactor_thread_runs_later(reactor):
    """A callback that re-queues itself must not starve timers."""
    timer_fired = threading.Event()
    count = [0]

    def spin():
        count[0] += 1
        if not timer_fired.is_set():
            reactor.add_callback(spin)

    reactor.add_callback(spin)
    reactor.call_later(0.01, timer_fired.set)
    wait(timer_fired)
    sync(reactor)
    assert count[0] > 1


# ----------------------------------------------------------------------
# Timers


def test_call_later_runs_in_deadline_order(reactor):
    seen = []
    done = threading.Event()
    for delay in (0.05, 0.01, 0.03, 0.02, 0.04):
        reactor.call_later(delay, seen.append, delay)
    reactor.call_later(0.06, done.set)
    wait(done)
    assert seen == [0.01, 0.02, 0.03, 0.04, 0.05]


def test_call_at_same_deadline_runs_in_scheduling_order(reactor):
    seen = []
    done = threading.Event()
    when = reactor.time() + 0.02
    for i in range(50):
        reactor.call_at(when, seen.append, i)
    reactor.call_at(when, done.set)
    wait(done)
    assert seen == list(range(50))


def test_timer_does_not_fire_early(reactor):
    fired_at = []
    done = threading.Event()
    when = reactor.time() + 0.05

    def fire():
        fired_at.append(reactor.time())
        done.set()

    handle = reactor.call_at(when, fire)
    assert isinstance(handle, TimerHandle) and handle.when == when
    wait(done)
    assert fired_at[0] >= when


def test_cancel_prevents_call(reactor):
    seen = []
    done = threading.Event()
    handles = [reactor.call_later(0.01, seen.append, i) for i in range(10)]
    for h in handles[::2]:
        h.cancel()
    handles[0].cancel()  # idempotent
    reactor.call_later(0.02, done.set)
    wait(done)
    assert seen == [1, 3, 5, 7, 9]


def test_many_cancelled_timers_are_purged(reactor):
    seen = []
    done = threading.Event()
    handles = [reactor.call_later(60 + i, seen.append, i) for i in range(1000)]
    for h in handles:
        h.cancel()
    reactor.call_later(0.01, done.set)
    wait(done)
    sync(reactor)
    assert len(reactor._timers) < 500
    assert seen == []


def test_cancel_from_reactor_thread_before_due(reactor):
    seen = []
    done = threading.Event()
    late = reactor.call_later(0.03, seen.append, "late")
    reactor.call_later(0.01, late.cancel)
    reactor.call_later(0.05, done.set)
    wait(done)
    assert seen == []


def test_far_future_timer_does_not_break_select(reactor):
    reactor.call_later(1e9, lambda: None)
    ran = threading.Event()
    reactor.call_later(0.01, ran.set)
    wait(ran)
    assert reactor.running()


def test_tutorial_add_callback_of_call_later(reactor):
    """The tutorial does ``ioloop.add_callback(ioloop.call_later, delay, handler)``."""
    fired = threading.Event()
    reactor.add_callback(reactor.call_later, 0.01, fired.set)
    wait(fired)


def test_reactor_satisfies_scheduler_protocol(reactor):
    t0 = reactor.time()
    fired = threading.Event()
    handle = reactor.call_at(t0 + 0.01, fired.set)
    assert hasattr(handle, "cancel")
    wait(fired)
    assert reactor.time() >= t0 + 0.01


# ----------------------------------------------------------------------
# run_sync


def test_run_sync_returns_result_and_raises(reactor):
    assert reactor.run_sync(lambda a, b: (a + b, reactor.in_reactor_thread()), 1, 2) == (3, True)
    with pytest.raises(KeyError):
        reactor.run_sync({}.__getitem__, "missing", timeout=TIMEOUT)


def test_run_sync_on_reactor_thread_runs_directly(reactor):
    inner = reactor.run_sync(lambda: reactor.run_sync(lambda: "nested"), timeout=TIMEOUT)
    assert inner == "nested"


def test_run_sync_timeout(reactor):
    release = threading.Event()
    reactor.add_callback(release.wait, TIMEOUT)
    try:
        with pytest.raises(KatcpTimeoutError):
            reactor.run_sync(lambda: None, timeout=0.05)
        with pytest.raises(compat.TimeoutError):
            reactor.run_sync(lambda: None, timeout=0.01)
    finally:
        release.set()


def test_run_sync_passes_on_a_timeout_error_of_its_function(reactor):
    """Only the wait running out is the reactor's timeout: a TimeoutError
    the function raises is passed on unchanged (on 3.11+ it is a
    ``concurrent.futures.TimeoutError`` too)."""
    own = KatcpTimeoutError("the function's own timeout")

    def fail():
        raise own
    with pytest.raises(KatcpTimeoutError) as raised:
        reactor.run_sync(fail, timeout=TIMEOUT)
    assert raised.value is own


def test_run_sync_after_stop_raises():
    r = Reactor()
    r.start()
    r.stop(TIMEOUT)
    with pytest.raises(RuntimeError):
        r.run_sync(lambda: None, timeout=TIMEOUT)


# ----------------------------------------------------------------------
# Socket readiness


def test_reader_and_writer_registration(reactor):
    a, b = socket.socketpair()
    a.setblocking(False)
    try:
        got = []
        readable = threading.Event()
        writable = threading.Event()

        def on_read():
            got.append(a.recv(100))
            readable.set()

        def on_write():
            reactor.remove_writer(a)
            writable.set()

        reactor.run_sync(reactor.add_reader, a, on_read)
        reactor.run_sync(reactor.add_writer, a, on_write)
        wait(writable)
        b.sendall(b"ping")
        wait(readable)
        assert got == [b"ping"]
        assert reactor.run_sync(reactor.remove_reader, a) is True
        assert reactor.run_sync(reactor.remove_reader, a) is False
        assert reactor.run_sync(reactor.remove_writer, a) is False
        b.sendall(b"more")
        sync(reactor)
        sync(reactor)
        assert got == [b"ping"]
    finally:
        a.close()
        b.close()


def test_removing_a_handler_inside_the_same_batch_is_honoured(reactor):
    """A callback that removes another socket's reader stops its call at once."""
    pairs = [socket.socketpair() for _ in range(2)]
    calls = []
    try:
        def make_reader(i, other):
            def on_read():
                calls.append(i)
                pairs[i][0].recv(10)
                reactor.remove_reader(pairs[other][0])
                reactor.remove_reader(pairs[i][0])
            return on_read

        def register():
            reactor.add_reader(pairs[0][0], make_reader(0, 1))
            reactor.add_reader(pairs[1][0], make_reader(1, 0))

        # Both become readable before the reactor looks at them.
        reactor.run_sync(lambda: (pairs[0][1].send(b"x"), pairs[1][1].send(b"x"), register()))
        sync(reactor)
        sync(reactor)
        assert len(calls) == 1
    finally:
        for a, b in pairs:
            a.close()
            b.close()


def test_registration_off_reactor_thread_raises(reactor):
    a, b = socket.socketpair()
    try:
        for method in (reactor.add_reader, reactor.add_writer):
            with pytest.raises(RuntimeError):
                method(a, lambda: None)
        for method in (reactor.remove_reader, reactor.remove_writer):
            with pytest.raises(RuntimeError):
                method(a)
    finally:
        a.close()
        b.close()


@pytest.mark.parametrize("selector_name", [
    name for name in ("SelectSelector", "PollSelector", "EpollSelector", "KqueueSelector")
    if hasattr(selectors, name)])
def test_every_selector_class(monkeypatch, selector_name):
    monkeypatch.setattr(reactor_module.selectors, "DefaultSelector",
                        getattr(selectors, selector_name))
    r = Reactor()
    a, b = socket.socketpair()
    a.setblocking(False)
    got = threading.Event()
    fired = threading.Event()
    r.start()
    try:
        r.run_sync(r.add_reader, a, lambda: a.recv(10) and got.set())
        r.call_later(0.01, fired.set)
        b.sendall(b"x")
        wait(got)
        wait(fired)
        r.run_sync(r.remove_reader, a)
    finally:
        r.stop(TIMEOUT)
        a.close()
        b.close()


# ----------------------------------------------------------------------
# Life cycle


def test_start_twice_raises(reactor):
    with pytest.raises(RuntimeError):
        reactor.start()


def test_stop_is_idempotent_and_restart_refused():
    r = Reactor()
    r.start()
    assert r.running()
    r.stop(TIMEOUT)
    r.stop(TIMEOUT)
    assert not r.running()
    with pytest.raises(RuntimeError):
        r.start()


def test_stop_never_started_reactor():
    r = Reactor()
    r.stop()
    assert not r.running()
    assert r.add_callback(lambda: None) is False


def test_stop_from_inside_a_callback():
    r = Reactor()
    r.start()
    r.add_callback(r.stop)
    r.join(TIMEOUT)
    assert not r.running()


def test_join_from_reactor_thread_raises(reactor):
    with pytest.raises(RuntimeError):
        reactor.run_sync(reactor.join, timeout=TIMEOUT)


def test_work_after_stop_is_dropped_quietly(caplog):
    r = Reactor()
    r.start()
    r.stop(TIMEOUT)
    with caplog.at_level(logging.DEBUG, logger="katcp_sync.reactor"):
        assert r.add_callback(lambda: None) is False
        handle = r.call_later(0.01, lambda: None)
        handle.cancel()
    assert any("dropped" in rec.getMessage() for rec in caplog.records)


def test_stop_runs_hooks_and_already_queued_callbacks_on_reactor_thread():
    r = Reactor()
    r.start()
    seen = []
    removed = r.add_stop_hook(seen.append, "removed")
    r.add_stop_hook(lambda: seen.append(("hook", r.in_reactor_thread())))
    r.remove_stop_hook(removed)
    release = threading.Event()
    r.add_callback(release.wait, TIMEOUT)
    r.add_callback(lambda: seen.append(("queued", r.in_reactor_thread())))
    timer = r.call_later(60, seen.append, "timer")
    stopper = threading.Thread(target=r.stop, args=(TIMEOUT,))
    stopper.start()
    release.set()
    stopper.join(TIMEOUT)
    assert not r.running()
    assert seen == [("queued", True), ("hook", True)] or seen == [("hook", True), ("queued", True)]
    timer.cancel()


def test_stop_closes_selector_and_waker():
    r = Reactor()
    r.start()
    r.stop(TIMEOUT)
    assert r._wake_r.fileno() == -1 and r._wake_w.fileno() == -1


def test_stop_from_many_threads_at_once():
    r = Reactor()
    r.start()
    threads = [threading.Thread(target=r.stop, args=(TIMEOUT,)) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(TIMEOUT)
    assert not r.running()


# ----------------------------------------------------------------------
# Signal safety

_SIGNAL_STORM = r"""
from __future__ import print_function
import signal, sys, time
from katcp_sync.compat import monotonic
from katcp_sync.reactor import Reactor

reactor = Reactor()
reactor.start()
counts = {"signals": 0, "ran": 0, "timers": 0}

def ran():
    counts["ran"] += 1

def on_signal(signum, frame):
    counts["signals"] += 1
    reactor.add_callback(ran)   # what the tutorial's SIGINT handler does

signal.signal(signal.SIGALRM, on_signal)
signal.setitimer(signal.ITIMER_REAL, 50e-6, 50e-6)
deadline = monotonic() + float(sys.argv[1])
while monotonic() < deadline or counts["signals"] < 200:
    # The main thread spends its time inside the reactor's lock (cancelling
    # many timers also purges the heap under it, a loop).
    for handle in [reactor.call_later(60.0, ran) for _ in range(150)]:
        handle.cancel()
    reactor.call_at(0.0, lambda: None)
    counts["timers"] += 1
signal.setitimer(signal.ITIMER_REAL, 0, 0)
signal.signal(signal.SIGALRM, signal.SIG_IGN)
reactor.run_sync(lambda: None, timeout=5.0)
reactor.stop(5.0)
print(counts["signals"], counts["ran"], counts["timers"])
"""


def test_add_callback_is_safe_in_a_signal_handler_during_a_signal_storm():
    """The tutorial calls add_callback from a SIGINT handler; the handler runs
    on the main thread between two bytecodes, possibly while that thread holds
    the reactor's lock (call_later, cancel). It must neither deadlock nor lose
    a callback. Run in a child process: a deadlock there is a bounded failure
    here."""
    import os
    import subprocess
    import sys
    proc = subprocess.Popen([sys.executable, "-c", _SIGNAL_STORM, "1.0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=dict(os.environ))
    try:
        out, err = communicate_child(proc, 30)
    except ChildTimeout:
        pytest.fail("add_callback from a signal handler deadlocked")
    assert proc.returncode == 0, err.decode()
    signals, ran, timers = map(int, out.split())
    assert signals >= 200 and timers > 0
    assert ran == signals   # every callback queued by a handler ran, none twice


def test_add_callback_racing_with_stop_returns_whether_it_runs():
    """Lock-free add_callback and stop(): True means the call runs, False
    that it was dropped -- never True for a call that is silently lost."""
    for _ in range(20):
        reactor = Reactor()
        reactor.start()
        ran = []
        accepted = []
        go = threading.Event()

        def adder(n):
            go.wait(TIMEOUT)
            for i in range(300):
                if reactor.add_callback(ran.append, (n, i)):
                    accepted.append((n, i))
        threads = [threading.Thread(target=adder, args=(n,)) for n in range(3)]
        for thread in threads:
            thread.start()
        go.set()
        reactor.stop(TIMEOUT)
        for thread in threads:
            thread.join(TIMEOUT)
        assert sorted(ran) == sorted(accepted)


def test_no_wake_up_is_lost_by_the_lock_free_add_callback(reactor):
    """The loop announces its sleep before it checks the queue, a caller
    appends before it checks for a sleep: a callback added just as the loop
    goes to sleep must still run at once (no timer would wake it for 600 s).
    The caller spins rather than blocks and the GIL changes hands every
    microsecond, to interleave the two as finely as the interpreter allows."""
    ran = []
    far = reactor.call_later(600.0, ran.append, None)   # the loop looks at the clock
    try:
        with switch_interval(1e-6):
            for i in range(2000):
                assert reactor.add_callback(ran.append, i)
                deadline = compat.monotonic() + TIMEOUT
                while len(ran) <= i:
                    assert compat.monotonic() < deadline, "callback %d was not run" % i
    finally:
        far.cancel()
