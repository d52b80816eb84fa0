"""Helpers for the sensor ordering tests (issue #11): concurrent writers, store order.

No tests here; test modules import from this one.
"""

from __future__ import absolute_import, division, print_function

import contextlib
import sys
import threading
import time

from katcp_sync import compat
from katcp_sync.sensor import Reading, Sensor

WAIT = 30.0


class _SpinBarrier(object):
    """threading.Barrier (3.2+) for Python 2.7: the waiters spin, so that
    they all leave at once (2.7's Condition.wait(timeout) polls)."""

    def __init__(self, parties, timeout=None):
        self._parties = parties
        self._timeout = timeout
        self._lock = threading.Lock()
        self._count = 0
        self._generation = 0

    def wait(self, timeout=None):
        timeout = self._timeout if timeout is None else timeout
        with self._lock:
            generation = self._generation
            index = self._count
            self._count += 1
            if self._count == self._parties:
                self._count = 0
                self._generation += 1
                return index
        deadline = None if timeout is None else compat.monotonic() + timeout
        while self._generation == generation:
            if deadline is not None and compat.monotonic() > deadline:
                raise RuntimeError("barrier: %d of %d parties within %s s"
                                   % (self._count, self._parties, timeout))
            time.sleep(0)
        return index


Barrier = getattr(threading, "Barrier", _SpinBarrier)


def acquire_within(lock, timeout):
    """``lock.acquire(timeout=timeout)`` on Python 2.7 too (there: polled every ms)."""
    if not compat.PY2:
        return lock.acquire(timeout=timeout)
    deadline = compat.monotonic() + timeout
    while not lock.acquire(False):
        if compat.monotonic() > deadline:
            return False
        time.sleep(0.001)
    return True


class StoreOrderSensor(Sensor):
    """A Sensor that records the order in which its readings were stored.

    Its ``set`` stores and notifies as :meth:`Sensor.set` does (one store,
    then the observers, outside any lock); the store and its record are one
    atomic step, so ``store_order[value]`` is the position of that value in
    the sensor's history. Values must be distinct.
    """

    def __init__(self, *args, **kwargs):
        super(StoreOrderSensor, self).__init__(*args, **kwargs)
        self.order_lock = threading.Lock()
        self.store_order = {self.value(): 0}

    def set(self, timestamp, status, value):
        with self.order_lock:
            self._reading = reading = Reading(timestamp, status, value)
            self.store_order[value] = len(self.store_order)
        self.notify(reading)

    def positions(self, values):
        """The store positions of ``values`` (as reported somewhere), in order."""
        return [self.store_order[value] for value in values]


@contextlib.contextmanager
def shuffled_threads():
    """Switch threads every 10 us inside the block, to make races likely."""
    with switch_interval(1e-5):
        yield


@contextlib.contextmanager
def switch_interval(seconds):
    """Let the GIL change hands every ``seconds`` inside the block (2.7: every bytecode)."""
    if not hasattr(sys, "setswitchinterval"):   # Python 2: a check interval in bytecodes
        interval = sys.getcheckinterval()
        sys.setcheckinterval(1)
        try:
            yield
        finally:
            sys.setcheckinterval(interval)
        return
    interval = sys.getswitchinterval()
    sys.setswitchinterval(seconds)
    try:
        yield
    finally:
        sys.setswitchinterval(interval)


def hammer(set_value, writers=8, per_writer=300, extra=()):
    """Call ``set_value(v)`` from ``writers`` threads at once, ``per_writer``
    times each, with distinct integer values 10 apart; return when all are done.

    ``extra`` are more thread targets to run alongside (they get the list of
    writer threads, to stop when those are done).
    """
    barrier = Barrier(writers + len(extra))

    def writer(index):
        barrier.wait(WAIT)
        for k in range(per_writer):
            set_value((k * writers + index) * 10)

    def run_extra(target):
        barrier.wait(WAIT)
        target(threads)

    threads = [threading.Thread(target=writer, args=(i,), name="writer-%d" % i)
               for i in range(writers)]
    others = [threading.Thread(target=run_extra, args=(t,), name="extra-%d" % i)
              for i, t in enumerate(extra)]
    with shuffled_threads():
        for thread in threads + others:
            thread.start()
        for thread in threads + others:
            thread.join(WAIT)
    assert not any(t.is_alive() for t in threads + others), "writers did not finish"


class Gate(object):
    """A sensor observer that holds up the notification of one value.

    Attach it before the observers under test: a thread setting ``value``
    then stops in its notification, after the store, until :meth:`release`;
    that is a writer preempted between its store and its notify.
    """

    def __init__(self, value):
        self.value = value
        self.entered = threading.Event()
        self._released = threading.Event()

    def update(self, sensor, reading):
        if reading.value == self.value:
            self.entered.set()
            self._released.wait(WAIT)

    def release(self):
        self._released.set()


def late_notification(sensor, gate, newer_value, wait=WAIT):
    """Set ``gate.value`` on a thread whose notification ``gate`` (attached to
    ``sensor`` before the observers under test) holds up, set ``newer_value``
    meanwhile, then let the older notification go on."""
    writer = threading.Thread(target=sensor.set_value, args=(gate.value,), name="late-writer")
    writer.start()
    try:
        assert gate.entered.wait(wait)
        sensor.set_value(newer_value)
    finally:
        gate.release()
        writer.join(wait)
    assert not writer.is_alive()
