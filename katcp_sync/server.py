"""KATCP device servers: :class:`DeviceServer` and :class:`AsyncDeviceServer`.

Theory of operation
-------------------
A server owns (or shares) a :class:`~katcp_sync.reactor.Reactor`. The
reactor thread accepts clients, reads and parses their lines and writes
every reply; nothing on it ever blocks.

Request handlers (``request_<name>(self, req, msg)``) run on a
:class:`~katcp_sync.workers.HandlerPool` for :class:`DeviceServer`, so they
may block, or on the reactor thread for :class:`AsyncDeviceServer`. Each
client has a turn: a message is handled only once the previous handler of
that client has finished -- returned, raised, or (when it returned a future)
seen its future resolve -- so replies to one client come in request order.
The turn is a loop (``_drive``): a handler that
finishes at once, even with a future already done, lets the thread holding
the turn go on to the next message, so deep pipelines take a bounded stack.
A handler that raises :class:`~katcp_sync.errors.AsyncReply`, or is marked
``@concurrent_reply``, gives the turn back at once and replies later from
any thread. Different clients' handlers run in parallel when the pool has
more than one worker (``handler_workers``); the default is one, so handlers
written for katcp-python, which serialised every request, stay correct.

The built-in requests (``?watchdog``, ``?help``, ``?sensor-value``, ...)
never block, so they run directly on the thread that holds the client's turn
-- normally the reactor, which then answers without any thread hop. A
subclass that overrides one gets ordinary pool dispatch for it.

Sensor sampling is per client (:mod:`katcp_sync.server_sampling`): strategy
timers run on the reactor, sensor updates run the strategies on the thread
that set the value, and the resulting ``#sensor-status`` lines go straight
into the client's write buffer, so a blocking handler never delays them.

Every public method may be called from any thread.
"""

import concurrent.futures
import logging
import threading
import time
import traceback
import types
from typing import Any, Callable, Dict, List, Optional, Tuple

from .version import __version__
from .connection import DEFAULT_MAX_WRITE_BUFFER, Connection, Listener
from .errors import AsyncReply, FailReply, InvalidReply, KatcpSyntaxError
from .linebuffer import DEFAULT_MAX_LINE_LENGTH
from .logger import DeviceLogger, LogHandler, log_timestamp
from .message import Message, parse
from .metaclass import DeviceServerMetaclass
from .protocol import DEFAULT_PROTOCOL_INFO
from .reactor import Reactor
from .server_connection import ClientConnection, ClientRequestConnection, wire
from .server_requests import BuiltinRequests, help_text
from .server_sampling import SamplingTable
from .workers import HandlerPool

__all__ = [
    "DeviceServerMetaclass",
    "DeviceServerBase",
    "DeviceServer",
    "AsyncDeviceServer",
    "ClientConnection",
    "ClientRequestConnection",
]

log = logging.getLogger("katcp_sync.server")

#: Version of katcp_sync, as announced in ``#version-connect katcp-library``.
LIBRARY_VERSION = "katcp-sync-%s" % __version__

_REQUEST, _REPLY, _INFORM = Message.REQUEST, Message.REPLY, Message.INFORM


class _Handler:
    """How to run one message handler (built once per name and server)."""

    __slots__ = ("fn", "inline", "concurrent", "doc", "timeout_hint", "is_request")

    def __init__(self, fn: Callable[..., Any], marked: Any, is_request: bool = True) -> None:
        self.fn = fn
        self.inline = bool(getattr(marked, "_katcp_sync_inline", False))
        self.concurrent = bool(getattr(marked, "_concurrent_reply", False))
        self.doc = help_text(marked) if is_request else ""
        self.timeout_hint = getattr(marked, "request_timeout_hint", None)
        self.is_request = is_request


class DeviceServerBase(metaclass=DeviceServerMetaclass):
    """The machinery of a KATCP device server, without the standard requests.

    Args:
        host: interface to listen on (``""`` for every IPv4 interface).
        port: TCP port; 0 picks a free one (see :attr:`bind_address`).
        tb_limit: most traceback frames in the ``fail`` reply to a handler
            that raised an unexpected exception.
        logger: Python logger for server events.
        handler_workers: threads running request handlers; handlers of
            different clients run in parallel when more than 1.
        max_line_length: longest accepted request line; a longer one gets
            ``#log error`` and the client is disconnected.
        max_write_buffer: most bytes waiting to be sent to one client; a
            client that does not read beyond that is disconnected.

    Class attributes:
        PROTOCOL_INFO: the KATCP version and flags spoken (default 5.1 with
            M, I, B and T); major version 4 or 5, else :exc:`ValueError`.
        AUTO_INTERFACE_CHANGED: send ``#interface-changed`` on interface
            changes (default True).
        DISCONNECT_TIMEOUT: seconds :meth:`stop` waits for ``#disconnect``
            to reach the clients.
        PARTIAL_LINE_TIMEOUT: seconds a client may take to finish a line
            it has started; then it is disconnected with a logged reason
            (against clients that trickle a line byte by byte). ``None``
            (default): no limit.
        IDLE_TIMEOUT: seconds a client may send nothing at all before it is
            disconnected with a logged reason. ``None`` (default): no limit
            (KATCP clients often listen quietly for hours).
        INTERRUPT_TIMEOUT: seconds :meth:`join` waits for the server to stop
            when interrupted by Ctrl-C.
    """

    PROTOCOL_INFO = DEFAULT_PROTOCOL_INFO
    DISCONNECT_TIMEOUT = 1.0
    INTERRUPT_TIMEOUT = 0.5
    #: Send ``#interface-changed`` (spec 4.2) when requests or sensors are
    #: added or removed. Set it to False, on the class or one server, for
    #: code written for katcp-python that sends its own.
    AUTO_INTERFACE_CHANGED = True
    MAX_MSG_SIZE = DEFAULT_MAX_LINE_LENGTH
    MAX_WRITE_BUFFER_SIZE = DEFAULT_MAX_WRITE_BUFFER
    PARTIAL_LINE_TIMEOUT: Optional[float] = None
    IDLE_TIMEOUT: Optional[float] = None

    #: ``logging.Handler`` sending Python log records as ``#log`` (aiokatcp's
    #: ``DeviceServer.LogHandler``): ``logging.getLogger().addHandler(
    #: server.LogHandler(server))``.
    LogHandler = LogHandler

    #: Whether handlers run on the worker pool (False: on the reactor thread).
    _default_handler_thread = True

    def __init__(self, host: str, port: int, tb_limit: int = 20,
                 logger: logging.Logger = log, handler_workers: int = 1,
                 max_line_length: Optional[int] = None,
                 max_write_buffer: Optional[int] = None) -> None:
        self._host = host
        self._port = port
        self._tb_limit = tb_limit
        self._logger = logger
        self._handler_workers = handler_workers
        self._max_line_length = max_line_length or self.MAX_MSG_SIZE
        self._max_write_buffer = max_write_buffer or self.MAX_WRITE_BUFFER_SIZE
        self._handler_thread = self._default_handler_thread
        self._major = self.PROTOCOL_INFO.major
        if self._major not in (4, 5):
            # as katcp-python: only KATCP v4 and v5 are spoken
            raise ValueError("PROTOCOL_INFO %s: only KATCP major versions 4 and 5 are supported"
                             % (self.PROTOCOL_INFO,))
        self._mids = self.PROTOCOL_INFO.message_ids
        self._multi_client = self.PROTOCOL_INFO.multi_client

        self._reactor = Reactor("katcp-server-reactor")
        self._own_reactor = True
        self._reactor_used = False  # started once: a restart needs a new reactor
        self._pool: Optional[HandlerPool] = None
        self._listener: Optional[Listener] = None
        self._clients: Dict[ClientConnection, None] = {}
        self._clients_lock = threading.Lock()
        self._state_lock = threading.Lock()
        self._started = False
        self._starting = False  # start() is binding: a stop() is left to it
        self._stopping = False
        self._finished = False  # this run's _finish_stop has run
        self._running = threading.Event()
        self._stopped = threading.Event()
        self._stopped.set()
        self._stop_future: "concurrent.futures.Future[None]" = concurrent.futures.Future()
        self._stop_future.set_result(None)
        self._stop_timer: Any = None
        self._tls = threading.local()
        # Service threads (add_service_thread): what to run, and this run's
        # threads (by index in _services), stop signal and first error.
        self._services: List[Tuple[Callable[..., Any], Tuple[Any, ...], Optional[str]]] = []
        self._service_threads: Dict[int, threading.Thread] = {}
        self._service_stopping = threading.Event()
        self._service_error: Optional[BaseException] = None

        self.log = DeviceLogger(self, python_logger=logging.getLogger("katcp_sync.device"))
        self._handlers: Dict[str, _Handler] = {}
        self._inform_handlers_bound: Dict[str, _Handler] = {}
        self._reply_handlers_bound: Dict[str, _Handler] = {}
        self._bind_handlers()

    # -- handler tables ----------------------------------------------------------

    def _bind_handlers(self) -> None:
        cls = type(self)
        self._handlers = {
            name: _Handler(types.MethodType(fn, self), fn)
            for name, fn in cls._request_handlers.items()}
        self._inform_handlers_bound = {
            name: _Handler(types.MethodType(fn, self), fn, is_request=False)
            for name, fn in cls._inform_handlers.items()}
        self._reply_handlers_bound = {
            name: _Handler(types.MethodType(fn, self), fn, is_request=False)
            for name, fn in cls._reply_handlers.items()}
        unhandled = cls.unhandled_request
        self._unknown = _Handler(self.unhandled_request, unhandled)
        self._unknown.inline = unhandled is DeviceServerBase.unhandled_request
        # an overridden handle_message sees every message, even unhandled informs
        self._hooked = cls.handle_message is not DeviceServerBase.handle_message
        # What an overridden handle_message() is given for informs and replies
        # that have no handler.
        self._ignored = _Handler(self._ignore_message, None, is_request=False)
        self._unexpected = _Handler(self._unexpected_reply, None, is_request=False)

    def add_request(self, name: str, handler: Callable[[Any, Message], Any]) -> None:
        """Add (or replace) the handler of ``?name`` while the server runs.

        ``handler(req, msg)`` follows the same rules as a ``request_*``
        method (it is called without ``self``), and its docstring is its
        ``?help`` text. Clients get ``#interface-changed request name added``
        (spec 4.2). A request is matched to its handler when it is received:
        requests already queued keep theirs.

        Raises:
            TypeError: the handler has no docstring.
        """
        if not (getattr(handler, "__doc__", None) or "").strip():
            raise TypeError("request handler for %r needs a docstring: ?help sends it" % name)
        handlers = dict(self._handlers)
        handlers[name] = _Handler(handler, handler)
        self._handlers = handlers
        self._interface_changed("request", name, "added")

    def remove_request(self, name: str) -> None:
        """Remove the handler of ``?name``; clients get ``#interface-changed``.

        Raises:
            KeyError: there is no such request.
        """
        handlers = dict(self._handlers)
        del handlers[name]
        self._handlers = handlers
        self._interface_changed("request", name, "removed")

    def _interface_changed(self, *args: str) -> None:
        if self._major >= 5 and self.AUTO_INTERFACE_CHANGED:
            self.mass_inform(Message.inform("interface-changed", *args))

    def _request_docs(self) -> Dict[str, str]:
        return {name: h.doc for name, h in self._handlers.items()}

    def _request_timeout_hints(self) -> Dict[str, float]:
        return {name: h.timeout_hint for name, h in self._handlers.items()
                if h.timeout_hint}

    # -- configuration -----------------------------------------------------------

    @property
    def ioloop(self) -> Reactor:
        """The server's reactor (katcp-python's ``ioloop``): ``add_callback``,
        ``call_later``, ``call_at``, ``time``, ``run_sync``."""
        return self._reactor

    def set_ioloop(self, ioloop: Optional[Reactor] = None) -> None:
        """Run on a reactor shared with other servers or clients (before start).

        The server then neither starts nor stops that reactor.
        """
        with self._state_lock:
            if self._started:
                raise RuntimeError("set_ioloop() must be called before start()")
            if ioloop is None:
                self._reactor = Reactor("katcp-server-reactor")
                self._own_reactor = True
            else:
                self._reactor = ioloop
                self._own_reactor = False

    def set_concurrency_options(self, thread_safe: bool = True,
                                handler_thread: bool = True) -> None:
        """katcp-python's concurrency switches (before start).

        Args:
            thread_safe: accepted for compatibility; every public method of
                katcp_sync is thread-safe anyway.
            handler_thread: True runs request handlers on the worker pool
                (they may block); False runs them on the reactor thread
                (they must not block), as :class:`AsyncDeviceServer` does.
        """
        with self._state_lock:
            if self._started:
                raise RuntimeError("set_concurrency_options() must be called before start()")
            self._handler_thread = bool(handler_thread)

    def setDaemon(self, daemonic: bool) -> None:
        """Accepted for katcp-python compatibility; server threads are daemons."""

    # -- life cycle ----------------------------------------------------------------

    def start(self, timeout: Optional[float] = None) -> None:
        """Start listening and serving; returns once the port is bound.

        May be called again after :meth:`stop` has finished (``?restart``);
        it then listens on the same port as before, even if port 0 chose it.
        ``timeout`` is accepted for katcp-python compatibility: binding is
        synchronous, so there is nothing to wait for.

        Raises:
            RuntimeError: the server is already running.
            OSError: the address cannot be bound.
        """
        # Everything this run uses is made under the state lock, so a stop()
        # racing this start() sees either no run or all of it; a stop() that
        # comes while the listener is still being bound is carried out by
        # this call once it is (see stop()).
        with self._state_lock:
            if self._started:
                raise RuntimeError("server already started")
            self._started = True
            self._starting = True
            self._stopping = False
            self._finished = False
            self._stopped.clear()
            self._stop_future = concurrent.futures.Future()
            self._service_threads = {}
            self._service_stopping = threading.Event()
            self._service_error = None
            if self._own_reactor and self._reactor_used:
                self._reactor = Reactor("katcp-server-reactor")
            self._reactor_used = True
            self._pool = (HandlerPool(self._handler_workers, name="katcp-server-handler")
                          if self._handler_thread else None)
            self._listener = None
            reactor = self._reactor
        try:
            if self._own_reactor:
                reactor.start()
            listener = Listener(reactor, self._host, self._port, self._on_accept)
        except BaseException:
            with self._state_lock:
                self._starting = False
            self._release_threads()
            raise
        with self._state_lock:
            self._listener = listener
            # A restart (?restart, or start() after stop()) binds the same
            # port, where clients will reconnect, even when port 0 picked it.
            self._port = listener.address[1]
            self._starting = False
            stop_now = self._stopping
            if not stop_now:
                self._running.set()
        if stop_now:
            self._begin_stop()
        else:
            self._start_services()

    def _release_threads(self) -> None:
        """Let the pool and (our own) reactor end; mark the server stopped."""
        self._service_stopping.set()
        if self._pool is not None:
            self._pool.shutdown(wait=False)
        if self._own_reactor:
            self._reactor.stop()
        with self._state_lock:
            self._started = False
            future = self._stop_future
            self._stopped.set()
        future.set_result(None)

    def running(self) -> bool:
        """True while the server accepts and serves clients."""
        return self._running.is_set()

    def wait_running(self, timeout: Optional[float] = None) -> bool:
        """Wait until the server is running; returns whether it is."""
        return self._running.wait(timeout)

    @property
    def bind_address(self) -> Tuple[str, int]:
        """The ``(host, port)`` listened on (the real port when 0 was asked)."""
        if self._listener is None:
            return (self._host, self._port)
        return self._listener.address

    def stop(self, timeout: Optional[float] = None) -> "concurrent.futures.Future[None]":
        """Stop serving: ``#disconnect`` to every client, close, end the threads.

        Idempotent and callable from any thread. From an outside thread it
        waits up to ``timeout`` seconds for the threads to end. From a
        handler or the reactor (``?halt``) it returns at once; :meth:`join`
        from another thread then waits for the end.

        Returns:
            A future that completes when every connection is closed.
        """
        with self._state_lock:
            future = self._stop_future
            begin = self._started and not self._stopping
            if begin:
                self._stopping = True
                self._running.clear()
                # A start() still binding its listener carries the stop out
                # itself when it has finished.
                begin = not self._starting
        if begin:
            self._begin_stop()
        if not self._on_server_thread():
            self._wait_stopped(timeout)
        return future

    def _begin_stop(self) -> None:
        self._service_stopping.set()
        if not self._reactor.add_callback(self._stop_on_reactor):
            self._finish_stop()

    def join(self, timeout: Optional[float] = None) -> bool:
        """Wait until the server has stopped and every thread it started has ended.

        Those are its reactor (unless shared, see :meth:`set_ioloop`), its
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
        error = self._service_error
        if stopped and error is not None:
            raise error
        return stopped

    def _wait_stopped(self, timeout: Optional[float]) -> bool:
        """:meth:`join` without raising a service thread's error."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._state_lock:  # this run's threads, even if a restart follows
            reactor = self._reactor if self._own_reactor else None
            pool = self._pool
            services = self._service_threads
        if not self._stopped.wait(timeout):
            return False

        def remaining() -> Optional[float]:
            return None if deadline is None else max(0.0, deadline - time.monotonic())
        ended = True
        if reactor is not None:
            ended = reactor.join(remaining())
        if pool is not None:
            ended = pool.shutdown(wait=True, timeout=remaining()) and ended
        with self._state_lock:
            threads = list(services.values())
        for thread in threads:
            thread.join(remaining())
        return ended and not any(thread.is_alive() for thread in threads)

    def add_service_thread(self, target: Callable[..., Any], *args: Any,
                           name: Optional[str] = None) -> None:
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
        with self._state_lock:
            self._services.append((target, args, name))
        self._start_services()

    def _start_services(self) -> None:
        """Start the services not yet running in this run of the server."""
        started = []
        with self._state_lock:
            if not self._started or self._stopping:
                return
            stopping = self._service_stopping
            for index, (target, args, name) in enumerate(self._services):
                if index not in self._service_threads:
                    # A daemon, as every thread of ours: a process whose main
                    # thread is interrupted in join() must be able to exit.
                    thread = threading.Thread(
                        target=self._run_service, args=(target, stopping, args),
                        name=name or "katcp-server-service-%d" % index, daemon=True)
                    self._service_threads[index] = thread
                    started.append(thread)
        for thread in started:
            thread.start()

    def _run_service(self, target: Callable[..., Any], stopping: threading.Event,
                     args: Tuple[Any, ...]) -> None:
        self._tls.service = True
        try:
            target(stopping, *args)
        except BaseException as exc:
            self._logger.exception("Service thread %s failed: stopping the server",
                                   threading.current_thread().name)
            with self._state_lock:
                if self._service_error is None:
                    self._service_error = exc
            self.stop()

    def _on_server_thread(self) -> bool:
        return (self._reactor.in_reactor_thread() or getattr(self._tls, "worker", False)
                or getattr(self._tls, "service", False))

    def _stop_on_reactor(self) -> None:
        """First half of stop: say goodbye to every client. Reactor thread."""
        if self._listener is not None:
            self._listener.close()
        clients = self.get_clients()
        if not clients:
            self._finish_stop()
            return
        for client in clients:
            client.fail_queued_requests("Device server shutting down.")
            client.disconnect("Device server shutting down.")
        self._stop_timer = self._reactor.call_later(self.DISCONNECT_TIMEOUT, self._finish_stop)

    def _finish_stop(self) -> None:
        """Second half of stop, once the clients are gone (or timed out)."""
        with self._state_lock:
            if self._finished:
                return
            self._finished = True
        if self._stop_timer is not None:
            self._stop_timer.cancel()
            self._stop_timer = None
        for client in self.get_clients():
            client._conn.close("device server stopped", flush=False)
        self._release_threads()

    def sync_with_ioloop(self, timeout: Optional[float] = None) -> None:
        """Wait until the reactor has run everything queued before this call."""
        self._reactor.run_sync(lambda: None, timeout=timeout)

    # -- clients -------------------------------------------------------------------

    def get_clients(self) -> List[ClientConnection]:
        """The connected clients, in connection order (a snapshot)."""
        with self._clients_lock:
            return list(self._clients)

    def _on_accept(self, sock: Any, addr: Any) -> None:
        """Listener callback: a client connected. Reactor thread."""
        client = ClientConnection(self, "")
        conn = Connection(self._reactor, sock, client, self._max_line_length,
                          self._max_write_buffer, partial_line_timeout=self.PARTIAL_LINE_TIMEOUT,
                          idle_timeout=self.IDLE_TIMEOUT)
        client._conn = conn
        client.address = conn.address
        client.sampling = SamplingTable(client, self._reactor, self._major)
        if self._stopping:
            client.disconnect("Device server shutting down.")
            return
        with self._clients_lock:
            others = list(self._clients)
            if not self._multi_client:
                # Displaced clients leave the list now, before their sockets
                # close: get_clients() never shows two clients at once.
                self._clients.clear()
            self._clients[client] = None
            client._accepted = True
        self._logger.info("%s: client connected", client.address)
        client.write_lines([bytes(m) for m in self._connect_informs()])
        if self._multi_client:
            line = wire(Message.inform("client-connected", client.address))
            for other in others:
                other.write(line)
        else:
            reason = "New client connected from %s" % client.address
            for other in others:
                other.sampling.close()
                other.fail_queued_requests(reason)
                other.disconnect(reason)
        try:
            self.on_client_connect(client)
        except Exception:
            text = traceback.format_exc(limit=self._tb_limit)
            self._logger.error("on_client_connect failed for %s:\n%s", client.address, text)
            client.write(wire(self.create_log_inform("error", text, "root")))
            client.close("on_client_connect failed")

    def _connection_lost(self, client: ClientConnection, reason: str) -> None:
        """A client's connection ended. Reactor thread."""
        with self._clients_lock:
            self._clients.pop(client, None)
        if client._accepted:
            self._logger.info("%s: client disconnected: %s", client.address, reason)
        client.sampling.close()
        client._drop_pending()
        if client._accepted and not client.client_disconnect_called:
            client.client_disconnect_called = True
            try:
                self.on_client_disconnect(client, reason, False)
            except Exception:
                self._logger.exception("on_client_disconnect failed for %s", client.address)
        if self._stopping and not self._clients:
            self._finish_stop()

    def _connect_informs(self) -> List[Message]:
        """Informs every new client gets first (spec 4.2); none in the base."""
        return []

    def on_client_connect(self, client_conn: ClientConnection) -> None:
        """Hook: a client connected (reactor thread; must not block).

        The ``#version-connect`` informs were already sent. Raising an
        exception sends the traceback as ``#log error`` and disconnects.
        """

    def on_client_disconnect(self, client_conn: ClientConnection, msg: str,
                             connection_valid: bool) -> None:
        """Hook: a client's connection ended (reactor thread; must not block).

        Args:
            client_conn: the client.
            msg: why it ended.
            connection_valid: always False here: the socket is already closed.
        """

    # -- sending ---------------------------------------------------------------------

    def mass_inform(self, msg: Message) -> None:
        """Send an inform to every connected client. Any thread."""
        line = wire(msg)
        for client in self.get_clients():
            client.write(line)

    def inform(self, client_conn: ClientConnection, msg: Message) -> None:
        """Send an asynchronous inform to one client. Any thread."""
        client_conn.inform(msg)

    def reply(self, client_conn: ClientConnection, reply: Message, orig_req: Message) -> None:
        """Send a reply to ``orig_req`` (its message id is copied). Any thread."""
        client_conn.reply(reply, orig_req)

    def reply_inform(self, client_conn: ClientConnection, inform: Message,
                     orig_req: Message) -> None:
        """Send an inform belonging to ``orig_req``. Any thread."""
        client_conn.reply_inform(inform, orig_req)

    def create_log_inform(self, level_name: str, msg: str, name: str,
                          timestamp: Optional[float] = None) -> Message:
        """Build ``#log level timestamp name message`` (spec 6.3)."""
        return Message.inform("log", level_name, log_timestamp(timestamp, self._major),
                              name, msg)

    #: Malformed lines of one client logged locally at WARNING; later ones go
    #: to DEBUG, so that a hostile client cannot flood the operator's logs.
    #: The client itself is told about every one (spec 2).
    BAD_LINES_LOGGED = 10

    def _log_to_client(self, client: ClientConnection, text: str) -> None:
        """``#log error`` to one client about its own bad input (spec 2)."""
        client.bad_lines += 1
        if client.bad_lines <= self.BAD_LINES_LOGGED:
            self._logger.warning("%s: %s", client.address, text)
            if client.bad_lines == self.BAD_LINES_LOGGED:
                self._logger.warning("%s: further malformed lines are logged at DEBUG level",
                                     client.address)
        else:
            self._logger.debug("%s: %s", client.address, text)
        client.write(wire(self.create_log_inform("error", text, "root")))

    #: ``#log error`` answers to unexpected replies (spec 2), per client: up
    #: to this many at once, then one more per ``UNEXPECTED_REPLY_INTERVAL``
    #: seconds. The rest are only logged locally at DEBUG level, so that a
    #: corrupted stream cannot make the two sides flood each other.
    UNEXPECTED_REPLY_BURST = 10
    UNEXPECTED_REPLY_INTERVAL = 1.0

    def _unexpected_reply(self, client: ClientConnection, msg: Message) -> None:
        """A reply nobody asked for: ``#log error``, rate-limited (spec 2).

        Reactor thread; in the client's turn on a server that overrides
        :meth:`handle_message`.
        """
        text = "Unexpected reply %r" % (bytes(msg)[:200],)
        now = time.monotonic()
        limit = self.UNEXPECTED_REPLY_BURST
        allowance = min(limit, client.log_allowance
                        + (now - client.log_allowance_time) / self.UNEXPECTED_REPLY_INTERVAL)
        client.log_allowance_time = now
        if allowance < 1.0:
            client.log_allowance = allowance
            self._logger.debug("%s: %s (not answered: rate limit)", client.address, text)
            return
        client.log_allowance = allowance - 1.0
        self._logger.warning("%s: %s", client.address, text)
        client.write(wire(self.create_log_inform("error", text, "root")))

    # -- receiving and dispatch ----------------------------------------------------------

    def _lines_received(self, client: ClientConnection, lines: List[Any]) -> None:
        """Parse and dispatch a batch of lines from a client. Reactor thread."""
        debug = self._logger.isEnabledFor(logging.DEBUG)   # once per batch: hot path
        here = not self._handler_thread  # where a user handler runs, seen from here
        handler: Optional[_Handler]
        for line in lines:
            if type(line) is not bytes:  # LineTooLongError
                self._log_to_client(client, "%s; disconnecting" % (line,))
                client.close("line too long")
                return
            try:
                msg = parse(line)
            except KatcpSyntaxError as exc:
                self._log_to_client(client, "Bad message %r: %s" % (line[:200], exc))
                continue
            if msg.mtype == _REQUEST:
                if not self._mids:
                    msg.mid = None
                if debug:
                    self._logger.debug("%s: %s", client.address, msg)
                handler = self._handlers.get(msg.name) or self._unknown
            elif msg.mtype == _INFORM:
                handler = self._inform_handlers_bound.get(msg.name)
                if handler is None:
                    if not self._hooked:
                        self._logger.debug("%s: ignoring unhandled %r", client.address, msg)
                        continue
                    handler = self._ignored
            else:
                handler = self._reply_handlers_bound.get(msg.name)
                if handler is None:
                    if not self._hooked:
                        self._unexpected_reply(client, msg)
                        continue
                    handler = self._unexpected
            if client._claim(msg, handler, here):
                self._drive(client, msg, handler, here)

    def _lookup(self, msg: Message) -> _Handler:
        mtype = msg.mtype
        if mtype == _REQUEST:
            return self._handlers.get(msg.name) or self._unknown
        table = self._inform_handlers_bound if mtype == _INFORM else self._reply_handlers_bound
        return table.get(msg.name) or self._ignored

    def _ignore_message(self, client: ClientConnection, msg: Message) -> None:
        self._logger.debug("%s: ignoring unhandled %r", client.address, msg)

    def _drive(self, client: ClientConnection, msg: Message, handler: _Handler,
               here: bool) -> None:
        """Handle ``msg`` and then the client's queued messages (holding its turn).

        Built-in handlers run right here; others go to the pool, or to the
        reactor for reactor-thread servers (``here``: this is the reactor
        thread of such a server). Returns when the turn is handed over (to
        the pool, a future or a callback) or the queue is empty. This is
        the one loop over a client's messages: a handler that finishes at
        once -- also by returning a future that is already done -- lets it
        go on to the next message, so any number of queued messages take a
        bounded stack.
        """
        while True:
            if not (handler.inline or here):
                if self._handler_thread:
                    pool = self._pool
                    assert pool is not None  # start() makes it for handler-thread servers
                    try:
                        pool.submit(client, self._job, client, msg, handler)
                    except RuntimeError:  # pool shut down: the server is stopping
                        pass
                else:
                    self._reactor.add_callback(self._job, client, msg, handler)
                return
            if not self._dispatch(client, msg, handler):
                return
            item = client._next(here)
            if item is None:
                return
            msg, handler = item

    def _job(self, client: ClientConnection, msg: Message, handler: _Handler) -> None:
        """Run a message handed to a worker (or the reactor), then drive on."""
        self._tls.worker = True
        if not client._start(msg) or self._dispatch(client, msg, handler):
            self._release(client)  # failed meanwhile, or done: the turn moves on

    def _release(self, client: ClientConnection) -> None:
        """The message in progress is done: pass the client's turn on. Any thread."""
        here = not self._handler_thread and self._reactor.in_reactor_thread()
        item = client._next(here)
        if item is not None:
            self._drive(client, item[0], item[1], here)

    def _dispatch(self, client: ClientConnection, msg: Message, handler: _Handler) -> bool:
        """Run one message's handler, through :meth:`handle_message` if overridden."""
        if not self._hooked:
            return self._run(client, msg, handler)
        pending = self._tls.dispatch = [handler, True]
        try:
            self.handle_message(client, msg)
        except Exception:
            self._logger.exception("%s: handle_message failed for %r", client.address, msg)
        finally:
            self._tls.dispatch = None
        return pending[1]

    def handle_message(self, client_conn: ClientConnection, msg: Message) -> None:
        """Handle one message from a client: run its handler and send the reply.

        Called for every request and every inform or reply with a handler
        -- once overridden, for every inform and reply -- on the thread that
        runs the handler (a worker, or the reactor for reactor-thread
        servers). Override it, as in
        katcp-python, to see or intercept messages; call the base method to
        have the message handled. A handler that replies later keeps the
        client's later requests waiting as usual.
        """
        pending = getattr(self._tls, "dispatch", None)
        if pending is None:
            self._run(client_conn, msg, self._lookup(msg))
            return
        self._tls.dispatch = None
        pending[1] = self._run(client_conn, msg, pending[0])
        self._tls.dispatch = pending

    def handle_request(self, req: ClientRequestConnection) -> None:
        """Run the handler of ``req.msg`` on the calling thread, replying through ``req``.

        This is what the server does with every request, minus the client's
        queue and the worker pool: a way to drive handlers without a network
        (see :func:`katcp_sync.testutils.handle_mock_req`); the server need not
        be started. A handler that replies later (``AsyncReply``, a returned
        future) replies later, from wherever it finishes. Any thread.
        """
        self._run(req.client_connection, req.msg, self._lookup(req.msg), req)

    def _run(self, client: ClientConnection, msg: Message, handler: _Handler,
             req: Optional[ClientRequestConnection] = None) -> bool:
        """Run one handler. Returns True if the client's turn is free again."""
        if not handler.is_request:
            try:
                handler.fn(client, msg)
            except Exception:
                self._logger.exception("%s: handler for %r failed", client.address, msg)
            return True
        if req is None:
            req = ClientRequestConnection(client, msg)
        try:
            result = handler.fn(req, msg)
        except AsyncReply:
            return True
        except Exception as exc:
            self._reply_error(req, exc)
            return True
        if result is None:
            if not req.replied:
                self._reply_error(req, RuntimeError(
                    "request handler for ?%s returned no reply" % msg.name))
            return True
        if isinstance(result, concurrent.futures.Future):
            return self._await_reply(client, req, result, release=not handler.concurrent)
        self._send_reply(req, result)
        return True

    def _await_reply(self, client: ClientConnection, req: ClientRequestConnection,
                     future: "concurrent.futures.Future[Any]", release: bool) -> bool:
        """Reply when ``future`` is done. Returns True if the turn is free now.

        With ``release`` the turn stays with the request until the future
        is done. Whoever comes second of this call returning and the
        future's callback passes the turn on: a future done already (its
        callback runs inside ``add_done_callback``) frees the turn through
        the return value, so the caller's loop goes on instead of the
        callback recursing into the next request.
        """
        if not release:
            future.add_done_callback(lambda done: self._future_done(req, done))
            return True
        handoff = [True]  # list.pop() is atomic: exactly one side gets it

        def done(finished: "concurrent.futures.Future[Any]") -> None:
            self._future_done(req, finished)
            try:
                handoff.pop()
            except IndexError:  # _await_reply has returned: pass the turn on
                self._release(client)
        future.add_done_callback(done)
        try:
            handoff.pop()
        except IndexError:  # done already: the reply is sent, the turn free
            return True
        return False

    def _future_done(self, req: ClientRequestConnection,
                     future: "concurrent.futures.Future[Any]") -> None:
        try:
            result = future.result()
        except AsyncReply:
            pass
        except BaseException as exc:
            self._reply_error(req, exc)
        else:
            if result is not None or not req.replied:
                self._send_reply(req, result)

    def _send_reply(self, req: ClientRequestConnection, result: Any) -> None:
        if not isinstance(result, Message):
            self._reply_error(req, TypeError(
                "request handler for ?%s returned %r, not a reply Message"
                % (req.msg.name, result)))
            return
        try:
            req.reply_with_message(result)
        except (RuntimeError, ValueError) as exc:
            self._logger.error("%s: cannot send reply to %r: %s",
                               req.client_connection.address, req.msg, exc)

    def _reply_error(self, req: ClientRequestConnection, exc: BaseException) -> None:
        """Turn a handler's exception into its reply (spec 2: fail / invalid)."""
        if isinstance(exc, FailReply):
            args: Tuple[str, ...] = ("fail", str(exc))
        elif isinstance(exc, InvalidReply):
            args = ("invalid", str(exc))
        else:
            text = "".join(traceback.format_exception(
                type(exc), exc, exc.__traceback__, limit=self._tb_limit))
            self._logger.error("%s: request %r failed:\n%s",
                               req.client_connection.address, req.msg, text)
            args = ("fail", text)
        if req.replied:
            self._logger.error("%s: ?%s raised after replying: %s",
                               req.client_connection.address, req.msg.name, args[1])
            return
        req.reply(*args)

    def unhandled_request(self, req: ClientRequestConnection, msg: Message) -> Any:
        """Handle a request nobody handles: ``!name invalid Unknown request.``

        Override for dynamic requests; same rules as a ``request_*`` handler.
        """
        raise InvalidReply("Unknown request.")


class DeviceServer(DeviceServerBase, BuiltinRequests):
    """A KATCP device server with sensors and every standard request.

    Subclass it, set :attr:`VERSION_INFO` and :attr:`BUILD_INFO`, add
    sensors in :meth:`setup_sensors` and requests as ``request_<name>``
    methods (see the module docstring for threads). Constructor arguments
    are those of :class:`DeviceServerBase`.

    Attributes:
        VERSION_INFO: ``(api-name, major, minor)`` of the device API.
        BUILD_INFO: ``(name, major, minor, build-suffix)`` of the software.
        PROTOCOL_INFO: KATCP version and flags; with major 4 the server
            speaks v4 (``#version``/``#build-state``, millisecond
            timestamps, no message ids, v4 strategies, ``period`` in ms).
    """

    VERSION_INFO = ("device_stub", 0, 1)
    BUILD_INFO = ("name", 0, 1, "")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._sensors: Dict[str, Any] = {}
        self._sensors_lock = threading.Lock()
        self._restart_queue: Any = None
        #: ``name -> (version, build_state or None)`` for ``?version-list``.
        self.extra_versions: Dict[str, Tuple[str, Optional[str]]] = {}
        self.setup_sensors()

    def setup_sensors(self) -> None:
        """Hook: create sensors and :meth:`add_sensor` them (called by ``__init__``)."""

    # -- identity ------------------------------------------------------------------

    def version(self) -> str:
        """The device API version, e.g. ``"example-api-1.0"``."""
        return "%s-%s.%s" % tuple(self.VERSION_INFO[:3])

    def build_state(self) -> str:
        """The build state, e.g. ``"example-implementation-0.1"``."""
        name, major, minor = self.BUILD_INFO[:3]
        suffix = self.BUILD_INFO[3] if len(self.BUILD_INFO) > 3 else ""
        return "%s-%s.%s%s" % (name, major, minor, suffix or "")

    def _version_rows(self) -> List[Tuple[str, ...]]:
        rows: List[Tuple[str, ...]] = [
            ("katcp-protocol", str(self.PROTOCOL_INFO)),
            ("katcp-library", LIBRARY_VERSION, __version__),
            ("katcp-device", self.version(), self.build_state()),
        ]
        for name, (version, build) in sorted(self.extra_versions.items()):
            rows.append((name, version) if build is None else (name, version, build))
        return rows

    def _connect_informs(self) -> List[Message]:
        if self._major >= 5:
            return [Message.inform("version-connect", *row) for row in self._version_rows()]
        return [Message.inform("version", self.version()),
                Message.inform("build-state", self.build_state())]

    def set_restart_queue(self, restart_queue: Any) -> None:
        """Where ``?restart`` puts this server (anything with ``put_nowait``)."""
        self._restart_queue = restart_queue

    # -- sensors ---------------------------------------------------------------------

    def add_sensor(self, sensor: Any) -> None:
        """Add a sensor (replacing one of the same name). Any thread.

        While clients are connected they get ``#interface-changed sensor
        <name> added`` (or ``modified`` for a replacement; spec 4.2). Adding
        the sensor that is already there changes nothing and says nothing.
        """
        with self._sensors_lock:
            old = self._sensors.get(sensor.name)
            self._sensors[sensor.name] = sensor
        if old is sensor:
            return
        if old is not None:
            for client in self.get_clients():
                client.sampling.cancel(sensor.name)
        self._interface_changed("sensor", sensor.name, "added" if old is None else "modified")

    def remove_sensor(self, sensor: Any) -> None:
        """Remove a sensor (object or name); every client's strategy on it stops.

        Raises:
            ValueError: no such sensor.
        """
        name = sensor if isinstance(sensor, str) else sensor.name
        with self._sensors_lock:
            if self._sensors.pop(name, None) is None:
                raise ValueError("Unknown sensor %r" % name)
        for client in self.get_clients():
            client.sampling.cancel(name)
        self._interface_changed("sensor", name, "removed")

    def get_sensor(self, sensor_name: str) -> Any:
        """The sensor called ``sensor_name``.

        Raises:
            ValueError: no such sensor.
        """
        sensor = self._sensors.get(sensor_name)
        if sensor is None:
            raise ValueError("Unknown sensor %r" % sensor_name)
        return sensor

    def has_sensor(self, sensor_name: str) -> bool:
        """True if a sensor of that name exists."""
        return sensor_name in self._sensors

    def get_sensors(self) -> List[Any]:
        """All sensors (a snapshot list)."""
        with self._sensors_lock:
            return list(self._sensors.values())

    def _sensor_or_none(self, name: str) -> Optional[Any]:
        return self._sensors.get(name)

    def clear_strategies(self, client_conn: ClientConnection, remove_client: bool = False) -> None:
        """Set every sampling strategy of one client to ``none``."""
        if remove_client:
            client_conn.sampling.close()
        else:
            client_conn.sampling.clear()


class AsyncDeviceServer(DeviceServer):
    """A :class:`DeviceServer` whose handlers run on the reactor thread.

    Handlers must not block; slow work raises ``AsyncReply`` and replies
    later (e.g. from ``self.ioloop.call_later``), or returns a
    :class:`concurrent.futures.Future`. Equivalent to
    ``set_concurrency_options(handler_thread=False)``.
    """

    _default_handler_thread = False
