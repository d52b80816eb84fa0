"""A device server's service threads (``add_service_thread``).

:class:`ServiceThreads` keeps the targets registered on a server and, per
run of the server, the threads running them, the event telling them to stop
and the first error one raised. The server opens a run when it starts
(:meth:`ServiceThreads.new_run`), starts what is registered
(:meth:`ServiceThreads.start_missing`), and on stop sets the event and
joins the run's threads (:meth:`ServiceThreads.join`).
"""

from __future__ import absolute_import, division, print_function

import logging
import threading
from typing import Any, Callable, Dict, List, Optional, Tuple

from . import compat
from .deadline import Deadline
from .lifecycle import join_threads

__all__ = ["ServiceThreads"]

_Service = Tuple[Callable[..., Any], Tuple[Any, ...], Optional[str]]


class _Run(object):
    """One run's threads (by index of their service), stop event and error."""

    __slots__ = ("threads", "stopping", "error")

    def __init__(self):
        # type: () -> None
        self.threads = {}  # type: Dict[int, threading.Thread]
        self.stopping = compat.Event()  # precise waits on Python 2 too
        self.error = None  # type: Optional[BaseException]


class ServiceThreads(object):
    """Service threads of one server, restarted with each run.

    Args:
        failed: called (on the service's thread) after a target raised; the
            server stops itself there.
        logger: where a failing service is logged (the server's logger).

    Every method may be called from any thread.
    """

    def __init__(self, failed, logger):
        # type: (Callable[[], Any], logging.Logger) -> None
        self._failed = failed
        self._logger = logger
        self._lock = threading.Lock()
        self._services = []  # type: List[_Service]
        self._run = _Run()
        self._run.stopping.set()  # no run yet
        self._tls = threading.local()

    def add(self, target, args,
            name):
        # type: (Callable[..., Any], Tuple[Any, ...], Optional[str]) -> None
        """Register ``target(stopping, *args)``; it starts with the next
        :meth:`start_missing`."""
        with self._lock:
            self._services.append((target, args, name))

    def new_run(self):
        # type: () -> None
        """Forget the last run's threads and error; the next ones start afresh."""
        with self._lock:
            self._run = _Run()

    def start_missing(self):
        # type: () -> None
        """Start the services not yet running in this run (none once it is stopping)."""
        started = []
        with self._lock:
            run = self._run
            if run.stopping.is_set():
                return
            for index, (target, args, name) in enumerate(self._services):
                if index not in run.threads:
                    # A daemon, as every thread of ours: a process whose main
                    # thread is interrupted in join() must be able to exit.
                    thread = compat.daemon_thread(
                        self._serve, name or "katcp-server-service-%d" % index,
                        (run, target, args))
                    run.threads[index] = thread
                    started.append(thread)
        for thread in started:
            thread.start()

    def stop(self):
        # type: () -> None
        """Tell this run's services to return (sets their ``stopping`` event)."""
        self._run.stopping.set()

    def current_run(self):
        # type: () -> object
        """A handle on this run, for :meth:`join` even after a restart."""
        return self._run

    def join(self, run, deadline):
        # type: (object, Deadline) -> bool
        """Wait for the threads of ``run`` (from :meth:`current_run`); True if all ended."""
        assert isinstance(run, _Run)
        with self._lock:
            threads = list(run.threads.values())
        return join_threads(threads, deadline=deadline)

    @property
    def error(self):
        # type: () -> Optional[BaseException]
        """The first error a service of this run raised, or None."""
        return self._run.error

    def on_service_thread(self):
        # type: () -> bool
        """True when called from one of the service threads."""
        return getattr(self._tls, "service", False)

    def _serve(self, run, target, args):
        # type: (_Run, Callable[..., Any], Tuple[Any, ...]) -> None
        self._tls.service = True
        try:
            target(run.stopping, *args)
        except BaseException as exc:
            self._logger.exception("Service thread %s failed: stopping the server",
                                   threading.current_thread().name)
            with self._lock:
                if run.error is None:
                    run.error = exc
            self._failed()
