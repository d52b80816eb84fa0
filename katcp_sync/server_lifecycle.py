"""A device server's life cycle: start, stop, join, restart, service threads.

:class:`ServerLifecycle` is mixed into
:class:`~katcp_sync.server.DeviceServerBase`. It follows the rules of
:class:`~katcp_sync.lifecycle.Lifecycle` (a stop racing a start, one
finish per run, a restart with fresh threads) for the server's reactor (if
its own), listener, worker pool (:class:`~katcp_sync.workers.HandlerPool`)
and service threads (:class:`~katcp_sync.server_services.ServiceThreads`).
Stopping says ``#disconnect`` to every client on the reactor, after failing
the requests that never started, and ends the run once the clients are
gone or ``DISCONNECT_TIMEOUT`` has passed.
"""

from __future__ import absolute_import, division, print_function

import concurrent.futures
import logging
from typing import TYPE_CHECKING, Any, Callable, List, Optional, Tuple, cast

from . import compat
from .connection import Listener
from .deadline import Deadline
from .lifecycle import Lifecycle
from .reactor import Reactor, TimerHandle
from .server_dispatch import Dispatcher
from .server_services import ServiceThreads
from .workers import HandlerPool

if TYPE_CHECKING:  # pragma: no cover
    import socket

    from .server_connection import ClientConnection

__all__ = ["ServerLifecycle", "SHUTDOWN_REASON"]

#: The reason given to clients (fail replies, ``#disconnect``) when the server stops.
SHUTDOWN_REASON = "Device server shutting down."


class ServerLifecycle(object):
    """Mixin: start, stop and join of a device server. Any thread, unless said."""

    if TYPE_CHECKING:  # pragma: no cover
        # What the mixin uses of DeviceServerBase, for the type checker only.
        DISCONNECT_TIMEOUT = cast(float, None)  # type: float
        INTERRUPT_TIMEOUT = cast(float, None)  # type: float
        _bind_host = cast(str, None)  # type: str
        _bind_port = cast(int, None)  # type: int
        _logger = cast(logging.Logger, None)  # type: logging.Logger
        _handler_thread = cast(bool, None)  # type: bool
        _handler_worker_count = cast(int, None)  # type: int
        _message_dispatcher = cast(Dispatcher, None)  # type: Dispatcher

        def get_clients(self):

            # type: () -> List["ClientConnection"]

            pass

        def _on_accept(self, sock, addr):

            # type: ("socket.socket", Any) -> None

            pass

    def _init_lifecycle(self):
        # type: () -> None
        self._server_reactor = Reactor("katcp-server-reactor")
        self._server_owns_reactor = True
        self._server_reactor_used = False  # started once: a restart needs a new reactor
        self._server_life = Lifecycle()
        # This run's pool (None for reactor-thread servers), listener and
        # timer for the end of stop(); all swapped under the lifecycle lock.
        self._handler_pool = None  # type: Optional[HandlerPool]
        self._tcp_listener = None  # type: Optional[Listener]
        self._disconnect_timer = None  # type: Optional[TimerHandle]
        self._service_threads = ServiceThreads(self.stop, self._logger)

    def start(self, timeout=None):
        # type: (Optional[float]) -> None
        """Start listening and serving; returns once the port is bound.

        May be called again after :meth:`stop` has finished (``?restart``);
        it then listens on the same port as before, even if port 0 chose it.
        ``timeout`` is accepted for katcp-python compatibility: binding is
        synchronous, so there is nothing to wait for.

        Raises:
            RuntimeError: the server is already running.
            OSError: the address cannot be bound.
        """
        # Everything this run uses is made under the lifecycle lock, so a
        # stop() racing this start() sees either no run or all of it; a stop()
        # that comes while the listener is still being bound is carried out
        # by this call once it is (Lifecycle.finish_start).
        with self._server_life.lock:
            try:
                self._server_life.begin_start_locked()
            except RuntimeError:
                raise compat.chained(RuntimeError("server already started"), None)
            self._service_threads.new_run()
            if self._server_owns_reactor and self._server_reactor_used:
                self._server_reactor = Reactor("katcp-server-reactor")
            self._server_reactor_used = True
            self._handler_pool = (HandlerPool(self._handler_worker_count, name="katcp-server-handler")
                                  if self._handler_thread else None)
            self._message_dispatcher.open_run(self._server_reactor, self._handler_pool)
            self._tcp_listener = None
            reactor = self._server_reactor
        try:
            if self._server_owns_reactor:
                reactor.start()
            listener = Listener(reactor, self._bind_host, self._bind_port, self._on_accept)
        except BaseException:
            self._release_threads()
            raise
        self._tcp_listener = listener
        # A restart (?restart, or start() after stop()) binds the same
        # port, where clients will reconnect, even when port 0 picked it.
        self._bind_port = listener.address[1]
        if self._server_life.finish_start():
            self._service_threads.start_missing()
        else:
            self._begin_stop()

    def _release_threads(self):
        # type: () -> None
        """Let the pool and (our own) reactor end; mark the server stopped."""
        self._service_threads.stop()
        if self._handler_pool is not None:
            self._handler_pool.shutdown(wait=False)
        if self._server_owns_reactor:
            self._server_reactor.stop()
        self._server_life.mark_stopped()

    def running(self):
        # type: () -> bool
        """True while the server accepts and serves clients."""
        return self._server_life.is_running()

    def wait_running(self, timeout=None):
        # type: (Optional[float]) -> bool
        """Wait until the server is running; returns whether it is."""
        return self._server_life.wait_running(timeout)

    @property
    def bind_address(self):
        # type: () -> Tuple[str, int]
        """The ``(host, port)`` listened on (the real port when 0 was asked)."""
        if self._tcp_listener is None:
            return (self._bind_host, self._bind_port)
        return self._tcp_listener.address

    def stop(self, timeout=1.0):
        # type: (Optional[float]) -> "concurrent.futures.Future[None]"
        """Stop serving: ``#disconnect`` to every client, close, end the threads.

        Idempotent and callable from any thread. From an outside thread it
        waits up to ``timeout`` seconds (``None``: as long as it takes) for
        the threads to end; the default, katcp-python's, does not wait for
        ever on a handler that never returns. From a handler or the reactor
        (``?halt``) it returns at once. :meth:`join` waits for the end.

        Returns:
            A future that completes when every connection is closed.
        """
        # The run to wait for is the one this call stops: a start() racing
        # this stop() must not make it wait for the next run instead.
        with self._server_life.lock:
            run = self._this_run_locked()
            begin = self._server_life.request_stop_locked()
        if begin:
            self._begin_stop()
        if not self._on_server_thread():
            self._wait_run(run, timeout)
        return run[0]

    def _begin_stop(self):
        # type: () -> None
        self._service_threads.stop()
        if not self._server_reactor.add_callback(self._stop_on_reactor):
            self._finish_stop()

    def join(self, timeout=None):
        # type: (Optional[float]) -> bool
        """Wait until the server has stopped and every thread it started has ended.

        Those are its reactor (unless shared, see :meth:`set_reactor`), its
        worker threads -- including one still running a handler -- and its
        service threads. A ``KeyboardInterrupt`` (Ctrl-C) while waiting
        stops the server, waiting for that at most ``INTERRUPT_TIMEOUT``
        seconds, and is raised again.

        Returns:
            True if all that happened within ``timeout`` seconds.

        Raises:
            RuntimeError: called from one of the server's own threads.
            Exception: the error of a service thread that failed (see
                :meth:`add_service_thread`), once the server has stopped.
        """
        if self._on_server_thread():
            raise RuntimeError("join() called from the server's own thread would deadlock")
        try:
            stopped = self._wait_stopped(timeout)
        except KeyboardInterrupt:
            self.stop(self.INTERRUPT_TIMEOUT)
            raise
        error = self._service_threads.error
        if stopped and error is not None:
            raise error
        return stopped

    def _wait_stopped(self, timeout):
        # type: (Optional[float]) -> bool
        """:meth:`join` without raising a service thread's error."""
        with self._server_life.lock:  # this run's threads, even if a restart follows
            run = self._this_run_locked()
        return self._wait_run(run, timeout)

    def _this_run_locked(self):
        # type: () -> Tuple[Any, Optional[Reactor], Optional[HandlerPool], object]
        """The current (or last) run's stop future and threads (lifecycle lock held)."""
        # A reactor not used yet is the next run's: a stop() of a server never
        # started must not wait for it while a racing start() runs it.
        reactor = (self._server_reactor if self._server_owns_reactor and self._server_reactor_used
                   else None)
        return (self._server_life.stop_future, reactor,
                self._handler_pool, self._service_threads.current_run())

    def _wait_run(self, run, timeout):
        # type: (Tuple[Any, Optional[Reactor], Optional[HandlerPool], object], Optional[float]) -> bool
        """Wait until ``run`` (from :meth:`_this_run_locked`) has stopped and its threads ended."""
        future, reactor, pool, services = run
        deadline = Deadline(timeout)
        if not compat.wait_future(future, timeout):
            return False
        ended = True
        if reactor is not None:
            ended = reactor.join(deadline.remaining())
        if pool is not None:
            ended = pool.shutdown(wait=True, timeout=deadline.remaining()) and ended
        return self._service_threads.join(services, deadline) and ended

    def add_service_thread(self, target, *args,
                           **kwargs):
        # type: (Callable[..., Any], *Any, **Any) -> None
        """Run ``target(stopping, *args)`` in a thread of its own while the server runs.

        For work that lives as long as the server, such as polling hardware
        into sensors (aiokatcp's service tasks). ``stopping`` is a
        :class:`threading.Event` set when the server stops: ``target`` must
        then return soon (e.g. loop on ``while not stopping.wait(period)``),
        because :meth:`join` waits for it. The thread starts now if the
        server is running, else with :meth:`start`, and again after each
        restart. If ``target`` raises, the error is logged, the server stops
        and :meth:`join` raises it. Any thread.
        """
        name = compat.kwonly_pop(kwargs, 'name', None)  # type: Optional[str]
        compat.kwonly_done('add_service_thread', kwargs)
        self._service_threads.add(target, args, name)
        if self._server_life.is_running():
            self._service_threads.start_missing()

    def _on_server_thread(self):
        # type: () -> bool
        return (self._server_reactor.in_reactor_thread() or self._message_dispatcher.in_worker_thread()
                or self._service_threads.on_service_thread())

    def _stop_on_reactor(self):
        # type: () -> None
        """First half of stop: say goodbye to every client. Reactor thread."""
        if self._tcp_listener is not None:
            self._tcp_listener.close()
        clients = self.get_clients()
        if not clients:
            self._finish_stop()
            return
        for client in clients:
            client.fail_queued_requests(SHUTDOWN_REASON)
            client.disconnect(SHUTDOWN_REASON)
        self._disconnect_timer = self._server_reactor.call_later(self.DISCONNECT_TIMEOUT, self._finish_stop)

    def _finish_stop(self):
        # type: () -> None
        """Second half of stop, once the clients are gone (or timed out)."""
        if not self._server_life.begin_finish():
            return
        if self._disconnect_timer is not None:
            self._disconnect_timer.cancel()
            self._disconnect_timer = None
        for client in self.get_clients():
            client.abort("device server stopped")
        self._release_threads()

