"""Start, stop and join of restartable components: the rules written once.

A server (or client, or anything that owns threads and can be started
again after it stopped) goes through the states of :class:`Lifecycle`::

    STOPPED --begin_start--> STARTING --finish_start--> RUNNING
       ^                         |                          |
       |                         | request_stop             | request_stop
       |                         v                          v
       +------mark_stopped---- STOPPING <--------------------+

Each start opens a new *run* (:attr:`Lifecycle.run_id`, a counter) with its
own stop future. The race rules, in one place:

- ``start`` while not STOPPED is an error (a run still stopping counts,
  except with ``overtake``, below).
- ``stop`` during STARTING is recorded, not carried out: the starter finds
  it in :meth:`Lifecycle.finish_start` and stops the run itself, so a stop
  never sees half a run.
- the stop's second half runs once per run (:meth:`Lifecycle.begin_finish`),
  however many paths (last client gone, timer, no client, a shared
  reactor's stop hook) reach it.
- with ``overtake=True`` (the client's rule), ``start`` may open a new run
  while the last one is still STOPPING: that run goes on finishing under
  its own id (``begin_finish(run_id)``, ``mark_stopped(run_id)``) without
  touching the new one. Callbacks of a run ask :meth:`Lifecycle.is_current`
  whether they still belong to a live run.

:func:`join_threads` is the one "join every thread within a timeout" loop:
it returns True only when every thread has ended. L0: no package imports
beyond :mod:`katcp_sync.compat` and :mod:`katcp_sync.deadline`.
"""

from __future__ import absolute_import, division, print_function

import concurrent.futures
import threading
from typing import Dict, Iterable, Optional

from . import compat
from .deadline import Deadline

__all__ = ["Lifecycle", "join_threads", "STOPPED", "STARTING", "RUNNING", "STOPPING"]

STOPPED = "stopped"
STARTING = "starting"
RUNNING = "running"
STOPPING = "stopping"


def join_threads(threads, timeout=None,
                 deadline=None):
    # type: (Iterable[threading.Thread], Optional[float], Optional[Deadline]) -> bool
    """Join every thread in ``threads`` within one time budget.

    The calling thread is skipped (a component stopped from one of its own
    threads cannot wait for itself), but still counts as not ended.

    Args:
        threads: the threads (an iterable taken once).
        timeout: most seconds in total (None: no limit); ignored when
            ``deadline`` is given.
        deadline: a :class:`~katcp_sync.deadline.Deadline` shared with other
            waits of the same join.

    Returns:
        True if every thread has ended. Any thread may call it.
    """
    if deadline is None:
        deadline = Deadline(timeout)
    threads = list(threads)
    current = threading.current_thread()
    for thread in threads:
        if thread is not current:
            compat.join_thread(thread, deadline.remaining())
    return not any(thread.is_alive() for thread in threads)


class _Run(object):
    """What a run keeps of its own until it has stopped."""

    __slots__ = ("future", "finishing")

    def __init__(self):
        # type: () -> None
        self.future = compat.Future()  # type: "concurrent.futures.Future[None]"
        self.finishing = False


class Lifecycle(object):
    """The state of a restartable component, and its start/stop race rules.

    The owner calls, in order: :meth:`begin_start` (raises if not stopped),
    then either :meth:`finish_start` (False: a stop came meanwhile, carry it
    out now) or, if starting failed, :meth:`mark_stopped`. :meth:`request_stop`
    from any thread says whether the caller must begin the stop; the code
    that ends the run calls :meth:`begin_finish` (True once per run) and
    finally :meth:`mark_stopped`, which completes the run's stop future.

    :meth:`request_stop`, :meth:`begin_finish` and :meth:`mark_stopped` take
    an optional ``run_id`` (default: the current run): a call for a run that
    is over, or was overtaken by a newer one, then leaves the current run
    alone.

    Args:
        overtake: a :meth:`begin_start` while the last run is still STOPPING
            opens the new run instead of raising; the last run finishes on
            its own (a client restarted on a shared reactor before the
            reactor has torn its last connection down).

    Every method may be called from any thread; none calls user code.

    Attributes:
        lock: the lock guarding the state; an owner may hold it (``with
            lifecycle.lock``) to change its own per-run state atomically
            with a transition, using the ``*_locked`` methods.
    """

    def __init__(self, overtake=False):
        # type: (bool) -> None
        self.lock = threading.Lock()
        self._overtake = overtake
        self._state = STOPPED
        self._run_id = 0
        self._stop_pending = False  # a stop() came during STARTING
        self._run = _Run()  # run 0: none yet, so already stopped
        self._run.future.set_result(None)
        # Overtaken runs still finishing, by id (only with overtake=True).
        self._overtaken = {}  # type: Dict[int, _Run]
        self._running = compat.Event()
        self._stopped = compat.Event()
        self._stopped.set()

    @property
    def state(self):
        # type: () -> str
        """One of STOPPED, STARTING, RUNNING, STOPPING."""
        return self._state

    @property
    def run_id(self):
        # type: () -> int
        """The number of the current (or last) run; 0 before the first start."""
        return self._run_id

    @property
    def stop_future(self):
        # type: () -> "concurrent.futures.Future[None]"
        """Done when the current (or last) run has stopped."""
        return self._run.future

    def begin_start_locked(self):
        # type: () -> int
        """:meth:`begin_start`, with :attr:`lock` already held."""
        if self._state == STOPPING and self._overtake:
            self._overtaken[self._run_id] = self._run
        elif self._state != STOPPED:
            raise RuntimeError("already started")
        self._state = STARTING
        self._run_id += 1
        self._stop_pending = False
        self._run = _Run()
        self._stopped.clear()
        return self._run_id

    def begin_start(self):
        # type: () -> int
        """Open a new run. Returns its id.

        Raises:
            RuntimeError: not stopped (running, starting, or still stopping
                unless ``overtake``).
        """
        with self.lock:
            return self.begin_start_locked()

    def finish_start(self):
        # type: () -> bool
        """The start has succeeded. Returns True if the run is now RUNNING,
        False if a stop came while starting: the caller must begin it."""
        with self.lock:
            if self._stop_pending:
                self._state = STOPPING
                return False
            self._state = RUNNING
            self._running.set()
            return True

    def request_stop_locked(self, run_id=None):
        # type: (Optional[int]) -> bool
        """:meth:`request_stop`, with :attr:`lock` already held."""
        if run_id is not None and run_id != self._run_id:
            return False
        if self._state == RUNNING:
            self._state = STOPPING
            self._running.clear()
            return True
        if self._state == STARTING:
            self._stop_pending = True
        return False

    def request_stop(self, run_id=None):
        # type: (Optional[int]) -> bool
        """Ask the run (``run_id``, default the current one) to stop.

        Returns:
            True if the caller must begin the stop now (the run was RUNNING);
            False if there is no such run, it is already stopping, or it is
            starting (the starter then stops it).
        """
        with self.lock:
            return self.request_stop_locked(run_id)

    def begin_finish(self, run_id=None):
        # type: (Optional[int]) -> bool
        """True the first time the stop of run ``run_id`` (default: the
        current run) is finished; False after, and for unknown runs."""
        with self.lock:
            if run_id is None or run_id == self._run_id:
                run = self._run  # type: Optional[_Run]
            else:
                run = self._overtaken.get(run_id)
            if run is None or run.finishing:
                return False
            run.finishing = True
            return True

    def mark_stopped(self, run_id=None):
        # type: (Optional[int]) -> None
        """Run ``run_id`` (default: the current run) has ended, or its start
        failed: its stop future is done and, if it is the current run, the
        state is STOPPED. No-op for unknown runs."""
        with self.lock:
            if run_id is None or run_id == self._run_id:
                run = self._run  # type: Optional[_Run]
                self._state = STOPPED
                self._running.clear()
                self._stopped.set()
            else:
                run = self._overtaken.pop(run_id, None)
        if run is not None and not run.future.done():
            run.future.set_result(None)

    def is_current(self, run_id):
        # type: (int) -> bool
        """True if ``run_id`` is the current run and no stop was asked for it:
        how a run's timers and callbacks tell they are stale."""
        return (run_id == self._run_id and not self._stop_pending
                and self._state in (STARTING, RUNNING))

    @property
    def stopping(self):
        # type: () -> bool
        """True once a stop was asked for this run (or no run is on)."""
        return self._state == STOPPING or self._stop_pending or self._state == STOPPED

    @property
    def running_event(self):
        # type: () -> threading.Event
        """The event set while RUNNING (for owners that must show one)."""
        return self._running

    def is_running(self):
        # type: () -> bool
        """True while RUNNING."""
        return self._running.is_set()

    def wait_running(self, timeout=None):
        # type: (Optional[float]) -> bool
        """Wait until RUNNING; returns whether it is."""
        return self._running.wait(compat.wait_timeout(timeout))

    def wait_stopped(self, timeout=None):
        # type: (Optional[float]) -> bool
        """Wait until STOPPED; returns whether it is."""
        return self._stopped.wait(compat.wait_timeout(timeout))
