"""Waiting in tests: for a local sensor's value, a sequence of values, or a callback.

:func:`wait_sensor`, :class:`SensorTransitionWaiter` and
:class:`SensorTransitionStatusWaiter` observe a local
:class:`~katcp_sync.sensor.Sensor` (no polling); :func:`counting_callback`
lets a test wait until a callback was called enough times;
:func:`start_thread_with_cleanup` hands a server or client to a
:class:`unittest.TestCase`'s cleanups. Re-exported by
:mod:`katcp_sync.testutils` (katcp-python's names).
"""

from __future__ import absolute_import, division, print_function

import functools
import threading
from typing import Any, Callable, List, Optional, Sequence

from .. import compat
from ..compat import queue
from ..compat import Protocol
from ..deadline import Deadline
from ..sensor import Reading

__all__ = ["wait_sensor", "counting_callback", "SensorTransitionWaiter",
           "SensorTransitionStatusWaiter", "start_thread_with_cleanup"]


class ObservableSensor(Protocol):
    """What the waiters need of a sensor (a :class:`~katcp_sync.sensor.Sensor` has it)."""

    def attach(self, observer):
        # type: (Any) -> None
        """Call ``observer.update(sensor, reading)`` on every update from now on."""

    def detach(self, observer):
        # type: (Any) -> None
        """Stop calling ``observer``."""

    def read(self):
        # type: () -> Reading
        """The current reading."""


def wait_sensor(sensor, value, status=None,
                timeout=5.0):
    # type: (ObservableSensor, Any, Optional[int], float) -> bool
    """Wait until a local :class:`~katcp_sync.sensor.Sensor` has ``value``.

    Waits on the sensor's updates (as an observer), no polling. Args:
    ``status``: also wait for this status (e.g. ``Sensor.NOMINAL``).

    Returns:
        True if reached within ``timeout`` seconds, else False.
    """
    reached = compat.Event()

    def check(reading):
        # type: (Reading) -> None
        if reading.value == value and (status is None or reading.status == status):
            reached.set()

    class _Observer(object):
        def update(self, _sensor, reading):
            # type: (Any, Reading) -> None
            check(reading)

    observer = _Observer()
    sensor.attach(observer)
    try:
        check(sensor.read())
        return reached.wait(timeout)
    finally:
        sensor.detach(observer)


def counting_callback(event=None,
                      number_of_calls=1):
    # type: (Optional[threading.Event], int) -> Callable[[Callable[..., Any]], Any]
    """Decorate a callback so that tests can wait until it was called enough.

    The decorated callback gains ``done`` (the event, set after
    ``number_of_calls`` calls), ``wait(timeout)``, ``assert_wait(timeout=1)``
    (raises :class:`AssertionError` on timeout), ``get_no_calls()`` and
    ``reset()``. Calls may come from any thread.

    Raises:
        ValueError: ``number_of_calls`` is not positive.
    """
    if number_of_calls < 1:
        raise ValueError("number_of_calls must be at least 1, not %r" % (number_of_calls,))
    done = event if event is not None else compat.Event()

    def decorator(callback):
        # type: (Callable[..., Any]) -> Any
        lock = threading.Lock()
        calls = [0]

        @functools.wraps(callback)
        def counted(*args, **kwargs):
            # type: (*Any, **Any) -> Any
            result = callback(*args, **kwargs)
            with lock:
                calls[0] += 1
                enough = calls[0] >= number_of_calls
            if enough:
                done.set()
            return result

        def assert_wait(timeout=1.0):
            # type: (Optional[float]) -> bool
            assert done.wait(timeout), "callback %s called %d times, expected %d" % (
                callback.__name__, calls[0], number_of_calls)
            return True

        def reset():
            # type: () -> None
            with lock:
                calls[0] = 0
                done.clear()

        counted.done = done                              # type: ignore[attr-defined]
        counted.wait = done.wait                         # type: ignore[attr-defined]
        counted.assert_wait = assert_wait                # type: ignore[attr-defined]
        counted.get_no_calls = lambda: calls[0]          # type: ignore[attr-defined]
        counted.reset = reset                            # type: ignore[attr-defined]
        return counted
    return decorator


class SensorTransitionWaiter(object):
    """Check that a local sensor goes through a sequence of values.

    Make it *before* whatever changes the sensor, then call :meth:`wait`.

    Args:
        sensor: a :class:`~katcp_sync.sensor.Sensor` (anything with
            ``attach``/``detach``/``read``).
        value_sequence: the values to see, in order, starting with the
            current one. An item may be a callable test ``f(value) -> bool``
            instead of a value. Repeated readings of one value count once.
            A value that passes neither the current nor the next test makes
            the transition fail. ``None``: only record (see
            :meth:`get_received_values`).

    Raises:
        ValueError: the current value does not pass the first test.

    Attributes:
        received_values: the values seen so far, the current one first.
        timed_out: True if :meth:`wait` ran out of time.

    Threads: the sensor may be set from any threads (:meth:`update` runs on
    the setting thread and only queues the value). :meth:`wait`,
    :meth:`get_received_values` and :meth:`teardown` are for one thread at
    a time (the test's), and :meth:`wait` not on a thread that must set the
    sensor meanwhile.
    """

    def __init__(self, sensor, value_sequence=None):
        # type: (ObservableSensor, Optional[Sequence[Any]]) -> None
        self.sensor = sensor
        self.desired_value_sequence = value_sequence
        self.timed_out = False
        self._values = queue.Queue()  # type: "queue.Queue[Any]"
        self._done = False
        self._torn_down = False
        current = self._value_of(sensor.read())
        if value_sequence and not self._passes(current, value_sequence[0]):
            raise ValueError("Sensor value %r does not satisfy the initial condition"
                             % (current,))
        self.received_values = [current]  # type: List[Any]
        sensor.attach(self)

    def _value_of(self, reading):
        # type: (Reading) -> Any
        return reading.value

    def update(self, sensor, reading):
        # type: (Any, Reading) -> None
        """Sensor observer callback (any thread)."""
        self._values.put(self._value_of(reading))

    # katcp-python's names, for ported tests: its waiter attached a separate
    # observer object whose update was _sensor_callback; here the waiter is
    # that observer.
    _sensor_callback = update

    @property
    def _observer(self):
        # type: () -> SensorTransitionWaiter
        return self

    @staticmethod
    def _passes(value, test):
        # type: (Any, Any) -> bool
        return bool(test(value)) if callable(test) else value == test

    def _next_different(self, deadline):
        # type: (Deadline) -> Any
        """The next value that differs from the last one received; raises
        queue.Empty at the deadline."""
        while True:
            value = self._values.get(timeout=deadline.remaining())
            if value != self.received_values[-1]:
                self.received_values.append(value)
                return value

    def wait(self, timeout=5.0):
        # type: (Optional[float]) -> bool
        """Wait for the sequence; True if it was seen within ``timeout`` seconds.

        False if a value broke the sequence or time ran out (then
        :attr:`timed_out` is True). Observing stops either way. Blocks: the
        test's thread (see the class's Threads).

        Raises:
            RuntimeError: called twice, after :meth:`teardown`, or without a
                ``value_sequence``.
        """
        if self._done or self._torn_down:
            raise RuntimeError("This SensorTransitionWaiter was used already: make a new one")
        if not self.desired_value_sequence:
            raise RuntimeError("No value_sequence to wait for")
        deadline = Deadline(timeout)
        tests = self.desired_value_sequence
        try:
            for current_test, next_test in zip(tests[:-1], tests[1:]):
                while not self._passes(self.received_values[-1], next_test):
                    value = self._next_different(deadline)
                    if not (self._passes(value, next_test)
                            or self._passes(value, current_test)):
                        return False
            return True
        except queue.Empty:
            self.timed_out = True
            return False
        finally:
            self._done = True
            self.teardown()

    def get_received_values(self, stop=True, reset=True):
        # type: (bool, bool) -> List[Any]
        """The values received so far (with repeats), optionally stopping and clearing.

        Args:
            stop: stop observing the sensor (:meth:`teardown`).
            reset: forget the values returned.

        Returns:
            the values, the sensor's value when the waiter was made first.

        The test's thread (see the class's Threads); does not block.
        """
        while True:
            try:
                self.received_values.append(self._values.get_nowait())
            except queue.Empty:
                break
        values = self.received_values
        if reset:
            self.received_values = []
        if stop:
            self.teardown()
        return values

    def teardown(self):
        # type: () -> None
        """Stop observing the sensor (idempotent). The test's thread; an
        update already running on another thread may still queue its value."""
        if not self._torn_down:
            self._torn_down = True
            self.sensor.detach(self)


class SensorTransitionStatusWaiter(SensorTransitionWaiter):
    """:class:`SensorTransitionWaiter` on ``(status, value)`` pairs (the same
    arguments, with pairs for values; the same threads)."""

    def _value_of(self, reading):
        # type: (Reading) -> Any
        return (reading.status, reading.value)


def start_thread_with_cleanup(test_instance, thread_object, timeout=1.0,
                              start_timeout=None):
    # type: (Any, Any, float, Optional[float]) -> None
    """Start a server or client and have a :class:`unittest.TestCase` stop it.

    ``thread_object.stop()`` then ``thread_object.join(timeout=timeout)``
    run as the test's cleanups (katcp-python's helper; :func:`start_server`
    is the context-manager way).
    """
    test_instance.addCleanup(thread_object.join, timeout=timeout)
    test_instance.addCleanup(thread_object.stop)
    if start_timeout is None:
        thread_object.start()
    else:
        thread_object.start(timeout=start_timeout)
