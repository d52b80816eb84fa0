"""KATCP device servers: :class:`DeviceServer` and :class:`AsyncDeviceServer`.

Theory of operation
-------------------
A server owns (or shares) a :class:`~katcp_sync.reactor.Reactor`. The
reactor thread accepts clients, reads and parses their lines and writes
every reply; nothing on it ever blocks.

Request handlers (``request_<name>(self, req, msg)``) run on a
:class:`~katcp_sync.workers.HandlerPool` for :class:`DeviceServer`, so they
may block, or on the reactor thread for :class:`AsyncDeviceServer`. Each
client has a turn (:mod:`katcp_sync.server_dispatch`, the one dispatch path
from a line to its reply): a message is handled only once the previous
handler of that client has finished -- returned, raised, or (when it
returned a future) seen its future resolve -- so replies to one client come
in request order. A handler that raises :class:`~katcp_sync.errors.AsyncReply`,
or is marked ``@concurrent_reply``, gives the turn back at once and replies
later from any thread. Different clients' handlers run in parallel when the
pool has more than one worker (``handler_workers``); the default is one, so
handlers written for katcp-python, which serialised every request, stay
correct.

The built-in requests (``?watchdog``, ``?help``, ``?sensor-value``, ...)
never block, so they run directly on the thread that holds the client's turn
-- normally the reactor, which then answers without any thread hop. A
subclass that overrides one gets ordinary pool dispatch for it.

Sensor sampling is per client (:mod:`katcp_sync.server_sampling`): strategy
timers run on the reactor, sensor updates run the strategies on the thread
that set the value, and the resulting ``#sensor-status`` lines go straight
into the client's write buffer, so a blocking handler never delays them.

This module keeps the server's configuration, its clients and its
identity; the rest lives in one module per job: the dispatch path
(:mod:`katcp_sync.server_dispatch`, handler tables in
:mod:`katcp_sync.server_handlers`), start/stop/join
(:mod:`katcp_sync.server_lifecycle`, service threads in
:mod:`katcp_sync.server_services`), the sensor table
(:mod:`katcp_sync.server_sensors`) and the standard requests
(:mod:`katcp_sync.server_requests`). Every public method may be called
from any thread.
"""

from __future__ import absolute_import, division, print_function

import logging
import socket
import threading
import time  # noqa: F401  (suites written for katcp-python patch katcp.server.time.time)
import traceback
import warnings
from typing import Any, Callable, Dict, List, Optional, Set, Tuple, Union

import six

from . import compat
from .connection import DEFAULT_MAX_WRITE_BUFFER, DEFAULT_SPIN_TIME
from .errors import InvalidReply
from .lifecycle import STOPPED
from .linebuffer import DEFAULT_MAX_LINE_LENGTH
from .logger import DeviceLogger, LogHandler, log_timestamp
from .message import Message
from .metaclass import DeviceServerMetaclass
from .protocol import DEFAULT_PROTOCOL_INFO, ProtocolFlags
from .reactor import Reactor
from .server_connection import ClientConnection, ClientRequestConnection
from .server_dispatch import Dispatcher
from .server_lifecycle import SHUTDOWN_REASON, ServerLifecycle
from .server_request import wire
from .server_requests import BuiltinRequests, RestartQueue
from .server_sensors import SensorTable
from .tcp import check_address
from .version import __version__

__all__ = [
    "DeviceServerMetaclass",
    "DeviceServerBase",
    "DeviceServer",
    "AsyncDeviceServer",
    "ClientConnection",
    "ClientRequestConnection",
]

logger = logging.getLogger(__name__)
#: katcp-python's name of this module's logger.
log = logger

#: Version of katcp_sync, as announced in ``#version-connect katcp-library``.
LIBRARY_VERSION = "katcp-sync-%s" % __version__


#: The methods a subclass overrides to change how messages are handled
#: (katcp-python's names); the dispatcher calls only those overridden.
_HOOKS = ("handle_message", "handle_request", "handle_inform", "handle_reply",
          "unhandled_request", "create_exception_reply_and_log")
#: The KATCP major versions katcp_sync speaks.
_SPOKEN_MAJORS = (4, 5)


def _check_major(protocol, supported):
    # type: (ProtocolFlags, Tuple[int, ...]) -> int
    """``protocol``'s major version, if katcp_sync speaks it and it is in
    ``supported`` (a server's ``SUPPORTED_PROTOCOL_MAJOR_VERSIONS``), else
    :exc:`ValueError`."""
    major = protocol.major
    if major not in _SPOKEN_MAJORS:
        raise ValueError("PROTOCOL_INFO %s: katcp_sync speaks only KATCP major versions "
                         "4 and 5" % (protocol,))
    if major not in supported:
        raise ValueError("PROTOCOL_INFO %s: major version %s is not in the server's "
                         "SUPPORTED_PROTOCOL_MAJOR_VERSIONS %r" % (protocol, major, supported))
    return major


def _client_of(conn, method):
    # type: (Union[ClientConnection, ClientRequestConnection], str) -> ClientConnection
    """The client connection behind ``conn``, which may be a handler's ``req``.

    katcp-python's ``server.inform(req, ...)`` (and ``reply``,
    ``reply_inform``) took the ``req`` a handler was given, as code written
    for older versions passes it, with a deprecation warning.
    """
    if isinstance(conn, ClientRequestConnection):
        warnings.warn("server.%s(req, ...) in a handler is deprecated: use req.inform "
                      "or req.reply" % method, DeprecationWarning, stacklevel=3)
        return conn.client_connection
    return conn


@six.add_metaclass(DeviceServerMetaclass)
class DeviceServerBase(ServerLifecycle):
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
            M, I, B and T); its major version must be in
            ``SUPPORTED_PROTOCOL_MAJOR_VERSIONS`` (4 and 5), else the
            constructor raises :exc:`ValueError`.
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
        READ_AHEAD_TIME: seconds a worker that has replied to a client
            waiting for each reply waits for that client's next request (see
            :doc:`concurrency`); 0 turns it off.
        SPIN_TIME: how much of that wait the worker spins (the rest it
            sleeps); 0 never spins.
    """

    PROTOCOL_INFO = DEFAULT_PROTOCOL_INFO
    #: The KATCP major versions this server may be given in ``PROTOCOL_INFO``
    #: (katcp-python's name); a subclass may narrow it, e.g. to ``(5,)``.
    #: katcp_sync speaks 4 and 5 only.
    SUPPORTED_PROTOCOL_MAJOR_VERSIONS = (4, 5)  # type: Tuple[int, ...]
    DISCONNECT_TIMEOUT = 1.0
    INTERRUPT_TIMEOUT = 0.5
    #: Send ``#interface-changed`` (spec 4.2) when requests or sensors are
    #: added or removed. Set it to False, on the class or one server, for
    #: code written for katcp-python that sends its own.
    AUTO_INTERFACE_CHANGED = True
    MAX_MSG_SIZE = DEFAULT_MAX_LINE_LENGTH
    MAX_WRITE_BUFFER_SIZE = DEFAULT_MAX_WRITE_BUFFER
    PARTIAL_LINE_TIMEOUT = None  # type: Optional[float]
    IDLE_TIMEOUT = None  # type: Optional[float]
    #: Seconds a worker that has just replied to a client waiting for that
    #: reply waits for the client's next request, reading its socket itself
    #: (the fast path in :doc:`concurrency`); 0 turns it off. Adaptive: not
    #: while the client takes longer than this, nor while it pipelines, nor
    #: while the server has other work.
    READ_AHEAD_TIME = 0.002
    #: How much of that wait the worker spins rather than sleeps (adaptive,
    #: as a client's ``SPIN_TIME``); 0 never spins.
    SPIN_TIME = DEFAULT_SPIN_TIME

    #: Malformed lines of one client logged locally at WARNING; later ones go
    #: to DEBUG, so that a hostile client cannot flood the operator's logs.
    #: The client itself is told about every one (spec 2).
    BAD_LINES_LOGGED = 10

    #: ``#log error`` answers to unexpected replies (spec 2), per client: up
    #: to this many at once, then one more per ``UNEXPECTED_REPLY_INTERVAL``
    #: seconds. The rest are only logged locally at DEBUG level, so that a
    #: corrupted stream cannot make the two sides flood each other.
    UNEXPECTED_REPLY_BURST = 10
    UNEXPECTED_REPLY_INTERVAL = 1.0

    #: ``logging.Handler`` sending Python log records as ``#log`` (aiokatcp's
    #: ``DeviceServer.LogHandler``): ``logging.getLogger().addHandler(
    #: server.LogHandler(server))``.
    LogHandler = LogHandler

    #: Whether handlers run on the worker pool (False: on the reactor thread).
    _default_handler_thread = True

    def __init__(self, host, port, tb_limit=20,
                 logger=logger, handler_workers=1,
                 max_line_length=None,
                 max_write_buffer=None):
        # type: (str, int, int, logging.Logger, int, Optional[int], Optional[int]) -> None
        # Subclasses written for katcp-python keep state in their own
        # attributes (self._host of the hardware they wrap, self._clients of
        # downstream devices...): ours are named so as not to collide.
        self._bind_host, self._bind_port = check_address(host, port)
        self._logger = logger
        self._handler_worker_count = handler_workers
        self._client_max_line_length = max_line_length or self.MAX_MSG_SIZE
        self._client_max_write_buffer = max_write_buffer or self.MAX_WRITE_BUFFER_SIZE
        self._handler_thread = self._default_handler_thread
        self._katcp_major = _check_major(self.PROTOCOL_INFO,
                                         self.SUPPORTED_PROTOCOL_MAJOR_VERSIONS)
        self._katcp_multi_client = self.PROTOCOL_INFO.multi_client

        self._init_lifecycle()
        self._client_conns = {}  # type: Dict[ClientConnection, None]
        self._client_conns_lock = threading.Lock()

        self.log = DeviceLogger(self, python_logger=logging.getLogger("katcp_sync.device"))
        cls, fn = type(self), compat.function_of
        overridden = [name for name in _HOOKS
                      if fn(getattr(cls, name)) is not fn(getattr(DeviceServerBase, name))]
        self._message_dispatcher = Dispatcher(self, self._logger, tb_limit, overridden)

    # -- handler tables ----------------------------------------------------------

    def add_request(self, name, handler):
        # type: (str, Callable[[ClientRequestConnection, Message], Any]) -> None
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
        self._message_dispatcher.handlers.add_request(name, handler)
        self._interface_changed("request", name, "added")

    def remove_request(self, name):
        # type: (str) -> None
        """Remove the handler of ``?name``; clients get ``#interface-changed``.

        Raises:
            KeyError: there is no such request.
        """
        self._message_dispatcher.handlers.remove_request(name)
        self._interface_changed("request", name, "removed")

    def _interface_changed(self, *args):
        # type: (*str) -> None
        if self._katcp_major >= 5 and self.AUTO_INTERFACE_CHANGED:
            self.mass_inform(Message.inform("interface-changed", *args))

    def _request_docs(self):
        # type: () -> Dict[str, str]
        return self._message_dispatcher.handlers.request_docs()

    def _request_timeout_hints(self):
        # type: () -> Dict[str, float]
        return self._message_dispatcher.handlers.request_timeout_hints()

    # -- configuration -----------------------------------------------------------

    @property
    def reactor(self):
        # type: () -> Reactor
        """The server's reactor: ``add_callback``, ``call_later``, ``call_at``,
        ``time``, ``run_sync``."""
        return self._server_reactor

    def set_reactor(self, reactor=None):
        # type: (Optional[Reactor]) -> None
        """Run on a reactor shared with other servers or clients (before start).

        The server then neither starts nor stops that reactor; None goes
        back to a reactor of its own.

        Raises:
            RuntimeError: the server was started.
        """
        with self._server_life.lock:
            if self._server_life.state != STOPPED:
                raise RuntimeError("set_reactor() must be called before start()")
            if reactor is None:
                self._server_reactor = Reactor("katcp-server-reactor")
                self._server_owns_reactor = True
            else:
                self._server_reactor = reactor
                self._server_owns_reactor = False

    @property
    def ioloop(self):
        # type: () -> Reactor
        """katcp-python's name of :attr:`reactor`."""
        return self.reactor

    def set_ioloop(self, ioloop=None):
        # type: (Optional[Reactor]) -> None
        """katcp-python's name of :meth:`set_reactor`."""
        self.set_reactor(ioloop)

    @property
    def dispatcher(self):
        # type: () -> Dispatcher
        """The server's :class:`~katcp_sync.server_dispatch.Dispatcher`
        (what its clients hand their lines to)."""
        return self._message_dispatcher

    def set_concurrency_options(self, thread_safe=True,
                                handler_thread=True):
        # type: (bool, bool) -> None
        """katcp-python's concurrency switches (before start).

        Args:
            thread_safe: accepted for compatibility; every public method of
                katcp_sync is thread-safe anyway.
            handler_thread: True runs request handlers on the worker pool
                (they may block); False runs them on the reactor thread
                (they must not block), as :class:`AsyncDeviceServer` does.
        """
        with self._server_life.lock:
            if self._server_life.state != STOPPED:
                raise RuntimeError("set_concurrency_options() must be called before start()")
            self._handler_thread = bool(handler_thread)

    def setDaemon(self, daemonic):
        # type: (bool) -> None
        """Accepted for katcp-python compatibility; server threads are daemons."""

    def sync_with_reactor(self, timeout=None):
        # type: (Optional[float]) -> None
        """Wait until the reactor has run everything queued before this call."""
        self._server_reactor.run_sync(lambda: None, timeout=timeout)

    def sync_with_ioloop(self, timeout=None):
        # type: (Optional[float]) -> None
        """katcp-python's name of :meth:`sync_with_reactor`."""
        self.sync_with_reactor(timeout)

    # -- clients -------------------------------------------------------------------

    def get_clients(self):
        # type: () -> List[ClientConnection]
        """The connected clients, in connection order (a snapshot)."""
        with self._client_conns_lock:
            return list(self._client_conns)

    def _on_accept(self, sock, addr):
        # type: (socket.socket, Any) -> None
        """Listener callback: a client connected. Reactor thread."""
        client = ClientConnection(
            self, sock=sock, max_line_length=self._client_max_line_length,
            max_write_buffer=self._client_max_write_buffer,
            partial_line_timeout=self.PARTIAL_LINE_TIMEOUT, idle_timeout=self.IDLE_TIMEOUT,
            read_ahead=self.READ_AHEAD_TIME if self._handler_thread else 0.0,
            spin_time=self.SPIN_TIME)
        if self._server_life.stopping:
            client.disconnect(SHUTDOWN_REASON)
            return
        with self._client_conns_lock:
            others = list(self._client_conns)
            if not self._katcp_multi_client:
                # Displaced clients leave the list now, before their sockets
                # close: get_clients() never shows two clients at once.
                self._client_conns.clear()
            self._client_conns[client] = None
            client.accepted = True
        self._logger.info("%s: client connected", client.address)
        client.write_lines([bytes(m) for m in self._connect_informs()])
        if self._katcp_multi_client:
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
            self._logger.error("%s: on_client_connect failed:\n%s", client.address, text)
            client.write(wire(self.create_log_inform("error", text, "root")))
            client.close("on_client_connect failed")

    def client_connection_lost(self, client, reason):
        # type: (ClientConnection, str) -> None
        """A client's connection ended: unlist it and run :meth:`on_client_disconnect`.

        Called by the :class:`ClientConnection` itself (reactor thread).
        """
        with self._client_conns_lock:
            self._client_conns.pop(client, None)
        if client.accepted:
            self._logger.info("%s: client disconnected: %s", client.address, reason)
            if not client.client_disconnect_called:
                client.client_disconnect_called = True
                try:
                    self.on_client_disconnect(client, reason, False)
                except Exception:
                    self._logger.exception("%s: on_client_disconnect failed", client.address)
        if self._server_life.stopping and not self._client_conns:
            self._finish_stop()

    def _connect_informs(self):
        # type: () -> List[Message]
        """Informs every new client gets first (spec 4.2); none in the base."""
        return []

    def on_client_connect(self, client_conn):
        # type: (ClientConnection) -> None
        """Hook: a client connected (reactor thread; must not block).

        The ``#version-connect`` informs were already sent. Raising an
        exception sends the traceback as ``#log error`` and disconnects.
        """

    def on_client_disconnect(self, client_conn, msg,
                             connection_valid):
        # type: (ClientConnection, str, bool) -> None
        """Hook: a client's connection ended (reactor thread; must not block).

        Args:
            client_conn: the client.
            msg: why it ended.
            connection_valid: always False here: the socket is already closed.
        """

    # -- sending ---------------------------------------------------------------------

    def mass_inform(self, msg):
        # type: (Message) -> None
        """Send an inform to every connected client. Any thread."""
        line = wire(msg)
        for client in self.get_clients():
            client.write(line)

    def inform(self, client_conn, msg):
        # type: (Union[ClientConnection, ClientRequestConnection], Message) -> None
        """Send an asynchronous inform to one client. Any thread.

        ``client_conn`` may also be a handler's ``req`` (deprecated, as in
        katcp-python: use ``req.inform``); its client gets the message.
        """
        _client_of(client_conn, "inform").inform(msg)

    def reply(self, client_conn, reply, orig_req):
        # type: (Union[ClientConnection, ClientRequestConnection], Message, Message) -> None
        """Send a reply to ``orig_req`` (its message id is copied). Any thread.

        ``client_conn`` may also be a handler's ``req`` (deprecated, as in
        katcp-python: use ``req.reply``).
        """
        _client_of(client_conn, "reply").reply(reply, orig_req)

    def reply_inform(self, client_conn, inform,
                     orig_req):
        # type: (Union[ClientConnection, ClientRequestConnection], Message, Message) -> None
        """Send an inform belonging to ``orig_req``. Any thread.

        ``client_conn`` may also be a handler's ``req`` (deprecated, as in
        katcp-python: use ``req.inform``).
        """
        _client_of(client_conn, "reply_inform").reply_inform(inform, orig_req)

    def create_log_inform(self, level_name, msg, name,
                          timestamp=None):
        # type: (str, str, str, Optional[float]) -> Message
        """Build ``#log level timestamp name message`` (spec 6.3)."""
        return Message.inform("log", level_name, log_timestamp(timestamp, self._katcp_major),
                              name, msg)

    # -- handling ------------------------------------------------------------------------

    def handle_message(self, client_conn, msg):
        # type: (ClientConnection, Message) -> None
        """Handle one message from a client: run its handler and send the reply.

        Called for every request and every inform or reply with a handler
        -- once overridden, for every inform and reply -- on a worker (the
        reactor for reactor-thread servers; overridden, built-in requests
        too go through it on a worker). Override it, as in katcp-python,
        to see or intercept messages; call the base method to have the
        message handled (a request through :meth:`handle_request`, an
        inform through :meth:`handle_inform`, a reply through
        :meth:`handle_reply`, if overridden). A handler that
        replies later keeps the client's later requests waiting as usual.
        Overriding it turns off the workers' read-ahead of a client's next
        request (see :doc:`concurrency`).
        """
        self._message_dispatcher.handle_message(client_conn, msg)

    def handle_inform(self, connection, msg):
        # type: (ClientConnection, Message) -> None
        """Handle an inform from a client: run its ``inform_<name>`` method.

        An exception from that method is logged; an inform without one is
        logged at DEBUG level. Once overridden (katcp-python's hook), it is
        called for every inform from a client, handled or not, in the
        client's turn on the thread that would run a request handler (a
        worker, or the reactor for reactor-thread servers); call the base
        method to have the inform handled. Any thread may call it.
        """
        self._message_dispatcher.handle_inform(connection, msg)

    def handle_reply(self, connection, msg):
        # type: (ClientConnection, Message) -> None
        """Handle a reply from a client: run its ``reply_<name>`` method.

        An exception from that method is logged; a reply without one gets
        ``#log error`` (spec 2; rate-limited, see ``UNEXPECTED_REPLY_BURST``).
        Once overridden, it is called for every reply from a client, with
        the thread rules of :meth:`handle_inform`. Any thread may call it.
        """
        self._message_dispatcher.handle_reply(connection, msg)

    def create_exception_reply_and_log(self, req_msg, exc_info):
        # type: (Message, Any) -> Message
        """The reply to ``req_msg`` whose handler raised an unexpected exception.

        ``exc_info`` is ``(type, value, traceback)``, as from
        :func:`sys.exc_info`. Returns ``!name fail <traceback>`` (at most
        ``tb_limit`` frames) and logs the traceback as an error. Not called
        for :exc:`~katcp_sync.errors.FailReply` or ``InvalidReply``, which
        become ``fail``/``invalid`` with their message.

        Override it (katcp-python's hook) to send something else: the server
        sends the reply it returns, with the request's message id; if it
        raises or returns no reply of that name, the server logs that and
        sends its own. Called on the thread where the handler raised or its
        future failed. Any thread may call it.
        """
        return self._message_dispatcher.replies.exception_reply(req_msg, exc_info)

    @property
    def _tb_limit(self):
        # type: () -> int
        """katcp-python's name of the ``tb_limit`` the server was made with."""
        return self._message_dispatcher.replies.tb_limit

    def handle_request(self, req, msg=None):
        # type: (Any, Optional[Message]) -> None
        """Run the handler of ``req.msg`` on the calling thread, replying through ``req``.

        This is what the server does with every request, minus the client's
        queue and the worker pool: a way to drive handlers without a network
        (see :func:`katcp_sync.testutils.handle_mock_req`); the server need not
        be started. A handler that replies later (``AsyncReply``, a returned
        future) replies later, from wherever it finishes. Any thread.

        katcp-python's form ``handle_request(client_conn, msg)`` is accepted
        too: the reply goes to ``client_conn``. Overridden (katcp-python's
        hook), it is called in that form for every request from a client,
        in the client's turn on a worker thread (on the reactor for
        reactor-thread servers); call the base method to have the request
        handled. Overriding it does not turn the workers' read-ahead off.
        """
        dispatcher = self._message_dispatcher
        if msg is not None:
            dispatcher.handle_request(req, msg)
            return
        dispatcher.run(req.client_connection, req.msg, dispatcher.handlers.lookup(req.msg), req)

    def unhandled_request(self, req, msg):
        # type: (ClientRequestConnection, Message) -> Any
        """Handle a request nobody handles: ``!name invalid Unknown request.``

        Override for dynamic requests; same rules as a ``request_*`` handler.
        """
        raise InvalidReply("Unknown request.")


class DeviceServer(DeviceServerBase, SensorTable, BuiltinRequests):
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
    #: katcp-python's table of the standard requests a KATCP major version
    #: lacks. Information only, as there: the requests' protocol markers
    #: (:func:`~katcp_sync.kattypes.minimum_katcp_version`) leave them out.
    UNSUPPORTED_REQUESTS_BY_MAJOR_VERSION = {4: {"version-list"}}  # type: Dict[int, Set[str]]

    def __init__(self, *args, **kwargs):
        # type: (*Any, **Any) -> None
        super(DeviceServer, self).__init__(*args, **kwargs)
        self._init_sensors()
        self._restart_queue = None  # type: Optional[RestartQueue]
        #: ``name -> (version, build_state or None)`` for ``?version-list``.
        self.extra_versions = {}  # type: Dict[str, Tuple[str, Optional[str]]]
        self.setup_sensors()

    def setup_sensors(self):
        # type: () -> None
        """Hook: create sensors and :meth:`add_sensor` them (called by ``__init__``)."""

    # -- identity ------------------------------------------------------------------

    def version(self):
        # type: () -> str
        """The device API version, e.g. ``"example-api-1.0"``."""
        return "%s-%s.%s" % tuple(self.VERSION_INFO[:3])

    def build_state(self):
        # type: () -> str
        """The build state, e.g. ``"example-implementation-0.1"``."""
        name, major, minor = self.BUILD_INFO[:3]
        suffix = self.BUILD_INFO[3] if len(self.BUILD_INFO) > 3 else ""
        return "%s-%s.%s%s" % (name, major, minor, suffix or "")

    def _version_rows(self):
        # type: () -> List[Tuple[str, ...]]
        rows = [
            ("katcp-protocol", str(self.PROTOCOL_INFO)),
            ("katcp-library", LIBRARY_VERSION, __version__),
            ("katcp-device", self.version(), self.build_state()),
        ]  # type: List[Tuple[str, ...]]
        for name, (version, build) in sorted(self.extra_versions.items()):
            rows.append((name, version) if build is None else (name, version, build))
        return rows

    def _connect_informs(self):
        # type: () -> List[Message]
        if self._katcp_major >= 5:
            return [Message.inform("version-connect", *row) for row in self._version_rows()]
        return [Message.inform("version", self.version()),
                Message.inform("build-state", self.build_state())]

    def set_restart_queue(self, restart_queue):
        # type: (Optional[RestartQueue]) -> None
        """Where ``?restart`` puts this server (anything with ``put_nowait``)."""
        self._restart_queue = restart_queue

class AsyncDeviceServer(DeviceServer):
    """A :class:`DeviceServer` whose handlers run on the reactor thread.

    Handlers must not block; slow work raises ``AsyncReply`` and replies
    later (e.g. from ``self.reactor.call_later``), or returns a
    :class:`concurrent.futures.Future`. Equivalent to
    ``set_concurrency_options(handler_thread=False)``.
    """

    _default_handler_thread = False
