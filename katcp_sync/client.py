"""KATCP clients: :class:`DeviceClient` and the request-making clients.

Theory of operation
-------------------
A client owns at most one :class:`~katcp_sync.connection.Connection` to its
server at a time and lives on a :class:`~katcp_sync.reactor.Reactor`: its own
(one thread per client, katcp-python's model) or one shared by many clients
(``reactor=``), which the client then never starts or stops.

Life of a connection, all on the reactor thread:

1. ``start()`` schedules a connect. While it is in progress, and until the
   server's protocol is known, new requests are *held* (not failed).
2. The protocol is known when ``#version-connect katcp-protocol`` arrives
   (spec 4.2); ``#version`` / ``#build-state`` mean a v4 server (spec 4.2.1);
   a server that says nothing within :attr:`DeviceClient.protocol_detect_timeout`
   is assumed to speak :attr:`DeviceClient.ASSUMED_PROTOCOL` (no message ids,
   which is what spec 2.2 allows a client to assume). Then held requests are
   sent, and the "connected" hooks run.
3. When the connection drops, outstanding requests fail at once with
   :class:`~katcp_sync.errors.KatcpClientDisconnected`, the "disconnected"
   hooks run, and (with ``auto_reconnect``) a new attempt is made after a
   randomised exponential backoff (0.5 s doubling, capped at
   ``auto_reconnect_max_delay``, 1 s by default, so a device that comes
   back is reconnected within about a second). Requests made while no
   attempt is in progress fail at once.

Requests go through one :class:`~katcp_sync.client_requests.RequestTable`
(message ids, reply and inform matching, per-name serialisation when the
server has no ids). ``blocking_request`` needs no reactor timer: the
calling thread waits on a lock with its own timeout and takes its request
back out of the table if it gives up. Writes from user threads go straight
to the socket when nothing is buffered (see the connection module).

When a ``blocking_request`` is the only request outstanding, the calling
thread *borrows* the connection's reading (see "Borrowed reading" in the
connection module): it sends, reads and parses the reply itself and so
wakes up once, not after the reactor. It claims only its own informs and
reply, through the same table; every other line (asynchronous informs,
other threads' replies, bad lines) is handed to the reactor and dispatched
there in order, as always, and the caller then waits on its lock as usual.
Subclasses that override ``handle_message``, ``handle_reply`` or
``handle_inform`` see every message, so they never borrow.

Messages that are not replies to requests made here are dispatched as in
katcp-python: :meth:`~DeviceClient.handle_message` ->
``handle_reply``/``handle_inform``/``handle_request`` ->
``reply_<name>``/``inform_<name>``/``request_<name>`` or
``unhandled_*``. Handler exceptions are logged and nothing is sent back,
and so are malformed lines (spec 2: a client never answers bad input).
"""

import functools
import logging
import random
import sys
import threading
import time
import traceback
import types
from typing import Any, Callable, Dict, List, Optional, Tuple

from .client_requests import (CLOSED, BlockingRequest, CallbackRequest, FutureRequest,
                              PendingRequest, ReplyFuture, RequestTable, UntrackedMessage)
from .connection import DEFAULT_SPIN_TIME, Connection, connect, format_address, format_seconds
from .errors import (KatcpClientDisconnected, KatcpSyntaxError, KatcpTimeoutError,
                     KatcpTypeError, KatcpVersionError, LineTooLongError)
from .message import Message, parse
from .protocol import (FLOAT_TS_KATCP_MAJOR, SEC_TO_MS_FAC, SEC_TS_KATCP_MAJOR,
                       ProtocolFlags)
from .reactor import Reactor

__all__ = [
    "DeviceClient",
    "AsyncClient",
    "CallbackClient",
    "BlockingClient",
    "request_check",
    "ReplyFuture",
]

log = logging.getLogger("katcp_sync.client")

_INFORM, _REPLY, _REQUEST = Message.INFORM, Message.REPLY, Message.REQUEST
_HANDLER_PREFIX = {_REQUEST: "request_", _REPLY: "reply_", _INFORM: "inform_"}
_monotonic = time.monotonic    # the reactor's clock
_STOPPED_REASON = "Client stopped before reply was received"


def _format_exc(tb_limit: int) -> str:
    return "".join(traceback.format_exception(*sys.exc_info(), limit=tb_limit))


#: Seconds added to a device's request timeout hint (``?request-timeout-hint``,
#: flag ``T``): the hint covers the handler, not the network or a busy client.
TIMEOUT_HINT_MARGIN = 1.0


def hinted_timeout(timeout: Optional[float], hint: Optional[float], default: float) -> float:
    """The timeout of one request: ``timeout`` if given, else the device's
    ``hint`` for that request plus :data:`TIMEOUT_HINT_MARGIN`, else
    ``default``. Shared by the clients and the high-level resource."""
    if timeout is not None:
        return timeout
    if hint:
        return hint + TIMEOUT_HINT_MARGIN
    return default


def _not_a_message(msg: Any, method: str) -> TypeError:
    """A clear TypeError for ``blocking_request("watchdog")`` and the like."""
    if isinstance(msg, str):
        how = "Message.request(%r)" % (msg,)
    else:
        how = "Message.request(name, *arguments)"
    return TypeError("%s() takes a Message, not %s %r: pass %s"
                     % (method, type(msg).__name__, msg, how))


# ---------------------------------------------------------------------------

class DeviceClient:
    """A client for one KATCP device, with katcp-python's API.

    Subclass it and add ``reply_<name>``, ``inform_<name>`` (and, rarely,
    ``request_<name>``) methods taking ``(self, msg)`` to act on messages
    from the device; :func:`katcp_sync.kattypes.unpack_message` works on them.
    The request APIs (:meth:`future_request`, :meth:`blocking_request`,
    :meth:`callback_request`) deliver replies to their callers instead.

    Args:
        host: device host name or address (``""`` means ``"0.0.0.0"``).
        port: device port.
        tb_limit: most stack frames logged for a handler's exception.
        timeout: default request timeout in seconds, for requests the device
            gives no timeout hint for (see :attr:`request_timeout_hints`).
        logger: where the client logs.
        auto_reconnect: reconnect (with backoff) when the connection drops
            or cannot be made; otherwise a single attempt is made per
            :meth:`start` and after a disconnection the client stays idle
            until stopped.
        reactor: a running (or soon started) :class:`Reactor` to share with
            other clients and servers; the client never starts or stops it.
            By default the client runs its own reactor thread, started by
            :meth:`start` and ended by :meth:`stop`.

    Thread safety: every public method may be called from any thread,
    except the blocking ones (:meth:`blocking_request`, the ``wait_*``
    methods with a timeout, unpacking a :class:`ReplyFuture`), which raise
    :class:`RuntimeError` on the reactor thread instead of deadlocking.
    Handlers, hooks and callbacks run on the reactor thread and must not
    block.
    """

    #: Longest line accepted from the device (katcp-python: 2 MiB).
    MAX_MSG_SIZE = 2 * 1024 * 1024
    #: Most bytes buffered for sending before the connection is dropped.
    MAX_WRITE_BUFFER_SIZE = 2 * MAX_MSG_SIZE
    #: Protocol assumed for a device that announces none (spec 2.2: no ids).
    ASSUMED_PROTOCOL = ProtocolFlags(5, 0, "")
    #: Seconds to wait for a connect() to complete.
    CONNECT_TIMEOUT = 5.0
    #: While connecting fails, a WARNING is logged on the first failed
    #: attempt and then at most once per this many seconds (DEBUG between).
    CONNECT_WARNING_INTERVAL = 30.0
    #: Default of :attr:`auto_reconnect_max_delay`, the cap of the
    #: reconnect back-off in seconds.
    AUTO_RECONNECT_MAX_DELAY = 1.0
    #: Seconds a lone ``blocking_request`` caller polls for its reply before
    #: it sleeps (the fast path in :doc:`concurrency`); ``0`` never spins.
    #: Adaptive: nobody spins while replies take longer than this.
    SPIN_TIME = DEFAULT_SPIN_TIME

    def __init__(self, host: str, port: int, tb_limit: int = 20, timeout: float = 5.0,
                 logger: logging.Logger = log, auto_reconnect: bool = True,
                 reactor: Optional[Reactor] = None) -> None:
        if not host:
            host = "0.0.0.0"
        self._bindaddr = (host, int(port))
        self._address_string = format_address(self._bindaddr)
        self._tb_limit = tb_limit
        self._logger = logger
        #: Default request timeout in seconds.
        self.timeout = timeout
        #: Reconnect automatically (may be changed at any time).
        self.auto_reconnect = auto_reconnect
        #: First reconnect delay in seconds; doubles per failure (randomised
        #: to [d/2, d]) up to :attr:`auto_reconnect_max_delay`.
        self.auto_reconnect_delay = 0.5
        #: Cap of the reconnect delay in seconds (default 1: a device that
        #: comes back is found within about a second, however long it was
        #: away; katcp-python retries every 0.5 s). Raise it for a client
        #: of a device that is often away for long, to try less often.
        self.auto_reconnect_max_delay = self.AUTO_RECONNECT_MAX_DELAY
        #: Seconds to wait for the device to announce its protocol.
        self.protocol_detect_timeout = 1.0
        #: ``#version-connect`` name -> tuple of the remaining arguments (str).
        self.versions: Dict[str, Tuple[str, ...]] = {}
        #: ``time.time()`` of the last successful connect, or None.
        self.last_connect_time: Optional[float] = None
        #: Ask a device with flag ``T`` for its request timeout hints on
        #: each connection (before :meth:`wait_protocol` returns).
        self.use_timeout_hints = True
        #: Request name -> the device's timeout hint in seconds (flag ``T``,
        #: ``?request-timeout-hint``); a request made without a timeout
        #: waits that long plus :data:`TIMEOUT_HINT_MARGIN`.
        self.request_timeout_hints: Dict[str, float] = {}
        self._last_connect_warning = 0.0

        self._own_reactor = reactor is None
        self._reactor = reactor
        self._reactor_started = False
        self._table = RequestTable()
        self._table.close(lambda: KatcpClientDisconnected(
            "Not connected to %s: the client is not started (call start() first)"
            % self._address_string))
        self._life_lock = threading.Lock()
        self._handler_cache: Dict[Tuple[int, str], Any] = {}
        self._callbacks_lock = threading.Lock()
        self._inform_callbacks: Dict[str, List[Callable[[Message], Any]]] = {}
        self._connected_callbacks: List[Callable[[], Any]] = []
        self._disconnected_callbacks: List[Callable[[], Any]] = []
        self._failed_connect_callbacks: List[Callable[[BaseException], Any]] = []

        self._protocol_flags: Optional[ProtocolFlags] = None
        self._preset_flags: Optional[ProtocolFlags] = None
        # Per-run state (reset by start()).
        self._running = threading.Event()
        self._stopped = threading.Event()
        self._stopped.set()
        self._connected = threading.Event()
        self._disconnected = threading.Event()
        self._disconnected.set()
        self._received_protocol_info = threading.Event()
        self._run_id = 0               # changes on start/stop: stale timers ignore themselves
        # Reactor-thread state.
        self._conn: Optional[Connection] = None
        self._conn_ready = False       # protocol known for the current connection
        self._protocol_assumed = False  # ... but only guessed (the device said nothing)
        self._attempt: Any = None
        self._timer: Any = None        # reconnect or protocol-detect timer
        self._backoff = 0.0
        self._failures = 0
        self._stop_hook: Any = None
        self._handler = types.SimpleNamespace(
            lines_received=self._lines_received, connection_lost=self._connection_lost)
        # A blocking request may read its own reply only if no override
        # expects to see every message.
        cls = type(self)
        self._may_borrow = all(getattr(cls, name) is getattr(DeviceClient, name) for name in (
            "handle_message", "handle_reply", "handle_inform", "_lines_received"))
        # One item per thread inside blocking_request (list append/pop are
        # atomic): a caller borrows only when it is alone, as a borrower
        # would otherwise read, and hand over, the others' replies.
        self._blocking_callers: List[None] = []
        # Name-resolving threads started for connection attempts (join()).
        self._helper_threads: List[threading.Thread] = []

    # ------------------------------------------------------------------
    # Properties

    @property
    def reactor(self) -> Reactor:
        """The reactor the client runs on (its own one is created on demand)."""
        reactor = self._reactor
        if reactor is None:
            with self._life_lock:
                if self._reactor is None:
                    self._reactor = Reactor(name="katcp-client-" + self._address_string)
                reactor = self._reactor
        return reactor

    @property
    def ioloop(self) -> Reactor:
        """katcp-python's name for :attr:`reactor`."""
        return self.reactor

    @property
    def bind_address(self) -> Tuple[str, int]:
        """``(host, port)`` of the device."""
        return self._bindaddr

    @property
    def bind_address_string(self) -> str:
        """The device address as ``"host:port"``."""
        return self._address_string

    @property
    def sockname(self) -> Tuple[Any, ...]:
        """The local ``(host, port)`` of the connection (port -1 if none)."""
        conn = self._conn
        if conn is not None and conn.sockname:
            return conn.sockname
        return (self._bindaddr[0], -1)

    @property
    def protocol_flags(self) -> Optional[ProtocolFlags]:
        """The device's :class:`ProtocolFlags` (the last known), or None."""
        return self._protocol_flags

    @protocol_flags.setter
    def protocol_flags(self, flags: ProtocolFlags) -> None:
        self._protocol_flags = flags

    def preset_protocol_flags(self, protocol_flags: ProtocolFlags) -> None:
        """Use ``protocol_flags`` for the device and turn off detection.

        Call before :meth:`start`, from any thread. Informs announcing a
        different version are then only warned about.
        """
        self._preset_flags = protocol_flags
        self._protocol_flags = protocol_flags

    def convert_seconds(self, time_seconds: float) -> float:
        """Convert seconds to the device's timestamp unit.

        KATCP v5 timestamps are seconds, v4 ones milliseconds (integers
        before v4). Before the protocol is known, seconds are assumed.
        """
        flags = self._protocol_flags
        if flags is None or flags.major >= SEC_TS_KATCP_MAJOR:
            return time_seconds
        device_time = time_seconds * SEC_TO_MS_FAC
        if flags.major < FLOAT_TS_KATCP_MAJOR:
            device_time = int(device_time)
        return device_time

    # ------------------------------------------------------------------
    # Life cycle

    def start(self, timeout: Optional[float] = None) -> None:
        """Start connecting to the device (and the client's own reactor).

        Args:
            timeout: seconds to wait for the client to be running (it is
                running when this returns in any case).

        Raises:
            RuntimeError: the client is already running.
        """
        with self._life_lock:
            if self._running.is_set():
                raise RuntimeError("client for %s already started" % self._address_string)
            if self._own_reactor and (self._reactor is None or self._reactor_started):
                # A reactor cannot be restarted: each run gets a fresh one.
                self._reactor = Reactor(name="katcp-client-" + self._address_string)
                self._reactor_started = False
            reactor = self._reactor
            assert reactor is not None
            self._run_id += 1
            run_id = self._run_id
            self._stopped.clear()
            self._running.set()
            # Requests made from now until the first connection are held.
            self._table.hold()
        if self._own_reactor:
            self._reactor_started = True
            reactor.start()
        else:
            self._stop_hook = reactor.add_stop_hook(self._uninstall, run_id)
        reactor.add_callback(self._install, run_id)

    def stop(self, timeout: Optional[float] = None) -> None:
        """Stop the client: close the connection, fail outstanding requests.

        Requests still waiting fail with :class:`KatcpClientDisconnected`
        ("Client stopped before reply was received"). Idempotent. The
        client's own reactor thread is stopped (waiting up to ``timeout``
        for it unless called on it); a shared reactor keeps running.
        """
        with self._life_lock:
            if not self._running.is_set():
                return
            self._running.clear()
            self._run_id += 1
            reactor = self._reactor
        assert reactor is not None
        if reactor.in_reactor_thread() or not reactor.add_callback(self._uninstall, None):
            self._uninstall(None)
        if self._own_reactor:
            reactor.stop(timeout)

    def join(self, timeout: Optional[float] = None) -> bool:
        """Wait up to ``timeout`` seconds for a stopped client to finish.

        Waits for every thread the client started: its own reactor thread
        (or, on a shared reactor, for its teardown there) and any helper
        thread still resolving the device's host name.

        Returns:
            True if all of them have ended, False if ``timeout`` passed first
            (or if called on the client's own reactor thread, which cannot
            end while it runs this).
        """
        deadline = None if timeout is None else _monotonic() + timeout
        reactor = self._reactor
        if self._own_reactor and reactor is not None:
            if reactor.in_reactor_thread():
                return False
            ended = reactor.join(timeout)
        else:
            ended = self._stopped.wait(timeout)
        for thread in list(self._helper_threads):
            thread.join(None if deadline is None else max(0.0, deadline - _monotonic()))
            if thread.is_alive():
                ended = False
        return ended

    def running(self) -> bool:
        """Return True between :meth:`start` and :meth:`stop`."""
        return self._running.is_set()

    def wait_running(self, timeout: Optional[float] = None) -> bool:
        """Wait until the client is running; return whether it is."""
        return self._running.wait(timeout)

    def is_connected(self) -> bool:
        """Return True while a TCP connection to the device is open."""
        return self._connected.is_set()

    def wait_connected(self, timeout: Optional[float] = None) -> bool:
        """Wait until connected (TCP); return whether it is."""
        return self._wait(self._connected, timeout)

    def wait_disconnected(self, timeout: Optional[float] = None) -> bool:
        """Wait until not connected; return whether it is disconnected."""
        return self._wait(self._disconnected, timeout)

    def wait_protocol(self, timeout: Optional[float] = None) -> bool:
        """Wait until the current connection's protocol is known (and, for a
        device with flag ``T``, its request timeout hints: see
        :attr:`request_timeout_hints`).

        Returns:
            True if it is; then :attr:`protocol_flags` describes the device
            and requests go out with message ids if it supports them.
        """
        return self._wait(self._received_protocol_info, timeout)

    def _wait(self, event: threading.Event, timeout: Optional[float]) -> bool:
        if not event.is_set() and self._on_reactor():
            raise RuntimeError("cannot wait on the client's reactor thread")
        return event.wait(timeout)

    def _on_reactor(self) -> bool:
        reactor = self._reactor
        return reactor is not None and reactor.in_reactor_thread()

    def disconnect(self) -> None:
        """Close the current connection; reconnect if auto-reconnect is on."""
        self.reactor.add_callback(self._close_connection, "disconnect requested")

    def notify_connected(self, connected: bool) -> None:
        """Hook called on the reactor thread when the connection comes or goes.

        ``True`` once the device's protocol is known, ``False`` when that
        connection is lost. Override it; it must not block.
        """

    def add_connected_callback(self, callback: Callable[[], Any]) -> None:
        """Call ``callback()`` (reactor thread) whenever the client is ready.

        Ready means connected with the protocol known, as for
        :meth:`notify_connected`.
        """
        self._add_to("_connected_callbacks", callback)

    def remove_connected_callback(self, callback: Callable[[], Any]) -> None:
        """Forget a callback given to :meth:`add_connected_callback`."""
        self._remove_from("_connected_callbacks", callback)

    def add_disconnected_callback(self, callback: Callable[[], Any]) -> None:
        """Call ``callback()`` (reactor thread) when a ready connection is lost."""
        self._add_to("_disconnected_callbacks", callback)

    def remove_disconnected_callback(self, callback: Callable[[], Any]) -> None:
        """Forget a callback given to :meth:`add_disconnected_callback`."""
        self._remove_from("_disconnected_callbacks", callback)

    def add_failed_connect_callback(self, callback: Callable[[BaseException], Any]) -> None:
        """Call ``callback(exc)`` (reactor thread) whenever a connection attempt
        fails, with the reason (aiokatcp's ``add_failed_connect_callback``)."""
        self._add_to("_failed_connect_callbacks", callback)

    def remove_failed_connect_callback(self, callback: Callable[[BaseException], Any]) -> None:
        """Forget a callback given to :meth:`add_failed_connect_callback`."""
        self._remove_from("_failed_connect_callbacks", callback)

    def _add_to(self, name: str, callback: Callable[..., Any]) -> None:
        # Lists are replaced, never changed, so the reactor iterates a snapshot.
        with self._callbacks_lock:
            setattr(self, name, getattr(self, name) + [callback])

    def _remove_from(self, name: str, callback: Callable[..., Any]) -> None:
        with self._callbacks_lock:
            setattr(self, name, [c for c in getattr(self, name) if c != callback])

    def add_inform_callback(self, name: str, callback: Callable[[Message], Any]) -> None:
        """Call ``callback(msg)`` (reactor thread) for each ``#name`` inform.

        Only informs that are not part of a reply to a request made with the
        request APIs (asynchronous informs such as ``#sensor-status``) are
        passed, after the ``inform_<name>`` handler.
        """
        with self._callbacks_lock:
            callbacks = self._inform_callbacks.get(name, [])
            self._inform_callbacks[name] = callbacks + [callback]

    def remove_inform_callback(self, name: str, callback: Callable[[Message], Any]) -> None:
        """Forget a callback given to :meth:`add_inform_callback`."""
        with self._callbacks_lock:
            callbacks = [c for c in self._inform_callbacks.get(name, []) if c != callback]
            if callbacks:
                self._inform_callbacks[name] = callbacks
            else:
                self._inform_callbacks.pop(name, None)

    def enable_thread_safety(self) -> None:
        """No-op: katcp_sync clients are always thread-safe."""

    def setDaemon(self, daemonic: bool) -> None:  # noqa: N802 (katcp-python name)
        """No-op: reactor threads are always daemon threads."""

    def __enter__(self) -> "DeviceClient":
        if not self.running():
            self.start()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()
        self.join()

    def __repr__(self) -> str:
        state = ("connected" if self.is_connected() else "running") if self.running() \
            else "stopped"
        return "<%s %s %s>" % (type(self).__name__, self._address_string, state)

    # ------------------------------------------------------------------
    # Sending

    def send_message(self, msg: Message) -> None:
        """Send any message as it is. Never raises on a dead connection: logs.

        The tutorial's rule: the protocol is asynchronous, so only a reply
        tells whether a request worked; check :meth:`is_connected` first if
        it matters. While a connection is being made (e.g. just after
        :meth:`start`) the message waits for it, in order with requests.

        Raises:
            KatcpVersionError: a request with a message id, and the device
                does not support them.
        """
        self._send_untracked(msg, False)

    def send_request(self, msg: Message) -> None:
        """Send a request message as it is (see :meth:`send_message`).

        Raises:
            KatcpTypeError: ``msg`` is not a request.
            KatcpVersionError: ``msg`` has a message id and the device does
                not support them.
        """
        if not isinstance(msg, Message):
            raise _not_a_message(msg, "send_request")
        if msg.mtype != _REQUEST:
            raise KatcpTypeError("send_request needs a request, not %r" % (msg,))
        self._send_untracked(msg, False)

    def request(self, msg: Message, use_mid: Optional[bool] = None) -> Optional[bytes]:
        """Send a request, giving it a message id if the device supports them.

        The reply and informs go to the ``reply_<name>``/``inform_<name>``
        handlers. With ``use_mid`` None an id is used when the device has
        flag ``I``; True forces one, False none. An id already in
        ``msg.mid`` is kept; a new one is stored in ``msg.mid``.

        Returns:
            the message id used (``bytes``), or None (none used, or the
            request waits for the connection and has none yet).

        Raises:
            KatcpVersionError: an id was asked for and the device does not
                support them.
        """
        if not isinstance(msg, Message):
            raise _not_a_message(msg, "request")
        if msg.mtype != _REQUEST:
            raise KatcpTypeError("request needs a request, not %r" % (msg,))
        self._send_untracked(msg, use_mid)
        return msg.mid

    def _send_untracked(self, msg: Message, use_mid: Optional[bool]) -> None:
        data, error = self._table.submit(UntrackedMessage(msg, use_mid, self._logger,
                                                              self._address_string))
        if error is not None:
            if isinstance(error, KatcpVersionError):
                raise error
            self._logger.warning("Not connected to %s: dropped %s %s",
                                 self._address_string,
                                 Message.TYPE_NAMES[msg.mtype].lower(), msg.name)
        elif data is not None:
            if self._logger.isEnabledFor(logging.DEBUG):
                self._logger.debug("Sending to %s: %r", self._address_string, data)
            self._write(data)

    # ------------------------------------------------------------------
    # Request APIs

    def future_request(self, msg: Message, timeout: Optional[float] = None,
                       use_mid: Optional[bool] = None) -> ReplyFuture:
        """Send a request; return a future of ``(reply, informs)``.

        Args:
            msg: the request. It is not modified: a message id is put on a
                copy.
            timeout: seconds to wait for the reply (default :attr:`timeout`).
            use_mid: use a message id (None: if the device supports them).

        Returns:
            a :class:`ReplyFuture` (a ``concurrent.futures.Future``). Its
            exception is :class:`KatcpTimeoutError` on timeout,
            :class:`KatcpClientDisconnected` if the connection is lost (or
            there is none and no attempt is in progress), or
            :class:`KatcpVersionError` for a message id the device does not
            support. A non-``ok`` reply is a result, not an exception.

        Raises:
            TypeError: ``msg`` is not a :class:`Message`.
        """
        if not isinstance(msg, Message):
            raise _not_a_message(msg, "future_request")
        future = self._new_future()
        pending = FutureRequest(msg, _monotonic(), use_mid, future)
        self._submit(pending, self._timeout_for(msg, timeout))
        return future

    def callback_request(self, msg: Message, reply_cb: Optional[Callable[..., Any]] = None,
                         inform_cb: Optional[Callable[..., Any]] = None,
                         user_data: Optional[tuple] = None, timeout: Optional[float] = None,
                         use_mid: Optional[bool] = None) -> ReplyFuture:
        """Send a request; call ``reply_cb``/``inform_cb`` on the reactor thread.

        Callbacks are called as ``cb(msg, *user_data)``. On timeout or
        disconnection ``reply_cb`` gets a synthesised ``!name fail <reason>``
        reply, e.g. ``Request help timed out after 5.0 seconds.``
        (katcp-python's behaviour).

        Returns:
            a :class:`ReplyFuture` that resolves, after the callbacks, with
            ``(reply, informs)`` -- the synthesised reply on failure. Unpacking
            it (``reply, informs = client.callback_request(...)``, as in the
            tutorial) waits for that.
        """
        if not isinstance(msg, Message):
            raise _not_a_message(msg, "callback_request")
        future = self._new_future()
        pending = CallbackRequest(msg, _monotonic(), use_mid, future, reply_cb, inform_cb,
                                   user_data, self._logger)
        self._submit(pending, self._timeout_for(msg, timeout))
        return future

    def blocking_request(self, msg: Message, timeout: Optional[float] = None,
                         use_mid: Optional[bool] = None) -> Tuple[Message, List[Message]]:
        """Send a request and wait for its reply.

        Args: as :meth:`future_request`.

        Returns:
            ``(reply, informs)``; a failed request is a reply whose first
            argument is not ``ok``.

        Raises:
            KatcpTimeoutError: no reply within ``timeout`` (a
                :class:`RuntimeError`, as the tutorial says).
            KatcpClientDisconnected: not connected, or the connection was
                lost or the client stopped before the reply.
            KatcpVersionError: a message id the device does not support.
            RuntimeError: called on the client's reactor thread (it would
                deadlock).
            TypeError: ``msg`` is not a :class:`Message`.
        """
        if not isinstance(msg, Message):
            raise _not_a_message(msg, "blocking_request")
        if self._on_reactor():
            raise RuntimeError("blocking_request() cannot be called on the client's "
                               "reactor thread (it would deadlock)")
        timeout = self._timeout_for(msg, timeout)
        pending = BlockingRequest(msg, _monotonic(), use_mid)
        callers = self._blocking_callers
        callers.append(None)
        try:
            if self._submit_and_read(pending, timeout, len(callers) == 1) and timeout is not None:
                timeout = pending.started + timeout - _monotonic()
            if not pending.wait(timeout):
                if self._abandon(pending):
                    raise KatcpTimeoutError(self._timeout_reason(pending))
                pending.wait(None)     # the reply won the race: it is being delivered
        except BaseException:
            # A timeout, or this thread was interrupted while it waited
            # (KeyboardInterrupt, an exception raised by a signal handler or
            # injected into the thread): either way the request is given up
            # exactly as on a timeout, so nothing of it stays in the table.
            self._abandon(pending)
            raise
        finally:
            callers.pop()
        if pending.error is not None:
            raise pending.error
        return pending.reply, pending.informs  # type: ignore[return-value]

    def _submit_and_read(self, pending: BlockingRequest, timeout: Optional[float],
                         alone: bool) -> bool:
        """Submit a blocking request; if this caller is ``alone`` on the client
        and nothing else is outstanding, read its reply on this thread (the
        fast path in the module docstring). Returns True if it borrowed."""
        conn = self._conn
        if not (alone and conn is not None and self._may_borrow and self._table.is_idle()
                and conn.borrow_reading()):
            self._submit(pending, None)
            return False
        try:
            if self._submit(pending, None) and conn is self._conn:
                conn.read_borrowed(functools.partial(self._claim, pending),
                                   pending.finished, timeout)
        finally:
            # Park only if no other request's reply is on its way.
            conn.return_reading(park=self._table.is_idle())
        return True

    def _timeout_for(self, msg: Message, timeout: Optional[float]) -> float:
        """The timeout of request ``msg`` (see :func:`hinted_timeout`)."""
        hints = self.request_timeout_hints
        if timeout is None and hints:
            return hinted_timeout(None, hints.get(msg.name), self.timeout)
        return self.timeout if timeout is None else timeout

    def _new_future(self) -> ReplyFuture:
        future = ReplyFuture()
        future._on_reactor = self._on_reactor
        future._on_cancel = self._future_cancelled
        return future

    def _future_cancelled(self, future: ReplyFuture) -> None:
        """A request's future was cancelled (any thread): give it up."""
        pending = self._table.find(lambda p: getattr(p, "future", None) is future)
        if pending is not None:
            self._abandon(pending)

    def _submit(self, pending: PendingRequest, timeout: Optional[float]) -> bool:
        """Put a request in the table and write it (or fail it). Any thread.

        Returns True if it was written now (not held, queued or failed).
        """
        if pending.msg.mtype != _REQUEST:
            self._fail(pending, KatcpTypeError("not a request: %r" % (pending.msg,)))
            return False
        if timeout is not None and self._table.state != CLOSED:
            pending.timer = self.reactor.call_later(timeout, self._request_timed_out, pending)
        data, error = self._table.submit(pending)
        if error is not None:
            if pending.timer is not None:
                pending.timer.cancel()
            self._fail(pending, error)
        elif data is not None:
            if "send_message" in self.__dict__ or type(self).send_message is not _SEND_MESSAGE:
                return self._send_through_hook(pending)
            self._write(data)
            return True
        return False

    def _send_through_hook(self, pending: PendingRequest) -> bool:
        """Send a request with an overridden or mocked :meth:`send_message`.

        As in katcp-python, an exception from it fails the request (a
        callback request's ``reply_cb`` gets ``!name fail <exception>``).
        """
        try:
            self.send_message(pending.msg)
        except Exception as exc:
            claimed, data = self._table.remove(pending)
            if data is not None:
                self._write(data)
            if pending.timer is not None:
                pending.timer.cancel()
            if claimed:
                self._fail(pending, exc)
            return False
        return True

    def _claim(self, pending: BlockingRequest, line: Any) -> bool:
        """A borrowed read offers ``line`` (caller's thread): take it if it is
        ``pending``'s inform or reply, matched exactly as the reactor would."""
        if type(line) is not bytes:
            return False
        try:
            msg = parse(line)
        except KatcpSyntaxError:
            return False    # the reactor logs it
        mtype = msg.mtype
        if mtype == _REPLY:
            taken, data = self._table.match_reply(msg, pending)
            if taken is None:
                return False
            if data is not None:
                self._write(data)
            self._log_received(msg)
            pending.set_reply(msg)
        elif mtype == _INFORM and self._table.match_inform(msg) is pending:
            self._log_received(msg)
            pending.add_inform(msg)
        else:
            return False
        return True

    def _log_received(self, msg: Message) -> None:
        if self._logger.isEnabledFor(logging.DEBUG):
            self._logger.debug("Received from %s: %s", self._address_string, msg)

    def _write(self, data: bytes) -> None:
        conn = self._conn
        if conn is not None:
            conn.write(data)

    def _fail(self, pending: PendingRequest, exc: BaseException) -> None:
        """Fail a request that is out of the table, on the right thread."""
        if (pending.ON_REACTOR and self._running.is_set()
                and not self._on_reactor()
                and self.reactor.add_callback(pending.set_error, exc)):
            return
        pending.set_error(exc)

    def _abandon(self, pending: PendingRequest) -> bool:
        """Give a request up (timed out, or its caller went away). Any thread.

        Takes it out of the table and sends the next request of its name
        that was held behind it. Returns False if it was not there any more
        (its reply or failure won the race). Idempotent.
        """
        claimed, data = self._table.remove(pending)
        if data is not None:
            self._write(data)
        if claimed and pending.timer is not None:
            pending.timer.cancel()
        return claimed

    def _request_timed_out(self, pending: PendingRequest) -> None:
        if self._abandon(pending):
            pending.set_error(KatcpTimeoutError(self._timeout_reason(pending)))

    def _timeout_reason(self, pending: PendingRequest) -> str:
        return "Request %s timed out after %s seconds." % (
            pending.msg.name, format_seconds(_monotonic() - pending.started))

    def _finish_all(self, taken: List[PendingRequest], exc_factory: Callable[[], BaseException]
                    ) -> None:
        for pending in taken:
            if pending.timer is not None:
                pending.timer.cancel()
            self._fail(pending, exc_factory())

    # ------------------------------------------------------------------
    # Receiving and dispatch (reactor thread)

    def _lines_received(self, conn: Connection, lines: List[Any]) -> None:
        if conn is not self._conn:
            return
        handle = self.handle_message
        for line in lines:
            if type(line) is not bytes:
                if isinstance(line, LineTooLongError):
                    self._logger.error("Line from %s too long: %s", self._address_string, line)
                continue
            try:
                msg = parse(line)
            except KatcpSyntaxError as exc:
                # Spec 2: a client logs bad input and sends nothing back.
                self._logger.error("Malformed message from %s: %s", self._address_string, exc)
                continue
            try:
                handle(msg)
            except Exception:
                self._logger.error("Unhandled exception handling %r from %s:\n%s",
                                   msg, self._address_string, _format_exc(self._tb_limit))

    def handle_message(self, msg: Message) -> None:
        """Dispatch a message from the device by type (reactor thread)."""
        self._log_received(msg)
        mtype = msg.mtype
        if mtype == _REPLY:
            self.handle_reply(msg)
        elif mtype == _INFORM:
            self.handle_inform(msg)
        else:
            self.handle_request(msg)

    def handle_reply(self, msg: Message) -> None:
        """Deliver a reply to its request, else to ``reply_<name>``/``unhandled_reply``.

        Reactor thread.
        """
        pending, data = self._table.match_reply(msg)
        if data is not None:
            self._write(data)
        if pending is not None:
            if pending.timer is not None:
                pending.timer.cancel()
            pending.set_reply(msg)
            return
        if msg.mid is not None:
            name = self._table.request_name(msg.mid)
            if name is not None:
                # Spec 2.3: a reply has its request's name. The request keeps
                # waiting for its own reply (or its timeout).
                self._logger.warning("Reply %s from %s has the message id of ?%s: "
                                     "not taken as its reply", msg, self._address_string, name)
        self._dispatch(msg, self.unhandled_reply)

    def handle_inform(self, msg: Message) -> None:
        """Deliver an inform to its request, else to ``inform_<name>``/``unhandled_inform``
        and the callbacks of :meth:`add_inform_callback`. Reactor thread."""
        pending = self._table.match_inform(msg)
        if pending is not None:
            pending.add_inform(msg)
            return
        self._dispatch(msg, self.unhandled_inform)
        callbacks = self._inform_callbacks.get(msg.name)
        if callbacks:
            for callback in callbacks:
                try:
                    callback(msg)
                except Exception:
                    self._logger.error("Inform callback %r for #%s failed:\n%s", callback,
                                       msg.name, _format_exc(self._tb_limit))

    def handle_request(self, msg: Message) -> None:
        """Dispatch a request from the device to ``request_<name>``/``unhandled_request``.

        A handler may return a reply :class:`Message`; it is sent with the
        request's message id. Reactor thread.
        """
        reply = self._dispatch(msg, self.unhandled_request)
        if isinstance(reply, Message):
            reply.mid = msg.mid
            self.send_message(reply)

    def _dispatch(self, msg: Message, fallback: Callable[[Message], Any]) -> Any:
        key = (msg.mtype, msg.name)
        try:
            method = self._handler_cache[key]
        except KeyError:
            method = getattr(self, _HANDLER_PREFIX[msg.mtype] + msg.name.replace("-", "_"),
                             None)
            self._handler_cache[key] = method
        try:
            return (method or fallback)(msg)
        except Exception:
            self._logger.error("%s handler for %s from %s failed:\n%s",
                               Message.TYPE_NAMES[msg.mtype].capitalize(), msg.name,
                               self._address_string, _format_exc(self._tb_limit))
            return None

    def unhandled_reply(self, msg: Message) -> None:
        """Called (reactor thread) for a reply with no handler and no waiting request."""
        self._logger.debug("Unhandled reply from %s: %s", self._address_string, msg)

    def unhandled_inform(self, msg: Message) -> None:
        """Called (reactor thread) for an inform with no ``inform_<name>`` handler."""

    def unhandled_request(self, msg: Message) -> None:
        """Called (reactor thread) for a request from the device with no handler."""
        self._logger.debug("Unhandled request from %s: %s", self._address_string, msg)

    # -- protocol detection (spec 4.2, 4.2.1) --------------------------------

    def inform_version_connect(self, msg: Message) -> None:
        """Record ``#version-connect``; ``katcp-protocol`` gives the protocol (reactor thread)."""
        if len(msg.arguments) < 2:
            return
        name = msg.arguments[0].decode("utf-8", "replace")
        self.versions[name] = tuple(a.decode("utf-8", "replace") for a in msg.arguments[1:])
        if name == "katcp-protocol":
            try:
                flags = ProtocolFlags.parse_version(msg.arguments[1])
            except ValueError as exc:
                self._logger.error("Bad protocol version from %s (%s): %s",
                                   self._address_string, exc, msg)
                return
            self._protocol_announced(flags, msg, legacy=False)

    def inform_version(self, msg: Message) -> None:
        """A v4 device's ``#version``: the device speaks KATCP v4 (reactor thread)."""
        self._protocol_announced(ProtocolFlags(4, 0, ""), msg, legacy=True)

    def inform_build_state(self, msg: Message) -> None:
        """A v4 device's ``#build-state``: the device speaks KATCP v4 (reactor thread)."""
        self._protocol_announced(ProtocolFlags(4, 0, ""), msg, legacy=True)

    def inform_disconnect(self, msg: Message) -> None:
        """The device is about to close the connection (spec 4.2). Reactor thread."""
        self._logger.info("%s is disconnecting: %s", self._address_string,
                          b" ".join(msg.arguments).decode("utf-8", "replace"))

    def _protocol_announced(self, flags: ProtocolFlags, inform: Message, legacy: bool) -> None:
        if self._conn is None:
            return
        if self._conn_ready:
            current = self._protocol_flags
            if self._protocol_assumed and flags != current:
                # A slow device: its word replaces our guess.
                self._logger.info("%s announced protocol %s after it was assumed to be %s",
                                  self._address_string, flags, current)
                self._protocol_assumed = False
                self._protocol_flags = flags
                self._table.open(flags.message_ids)
                return
            if flags == current or legacy:
                return   # v5 devices may also send the v4 informs
            if self._preset_flags is not None:
                self._logger.warning("%s announced protocol %s, ignored: preset to %s",
                                     self._address_string, flags, current)
                return
            self._logger.error("%s announced protocol %s after %s; disconnecting and "
                               "turning auto-reconnect off", self._address_string, flags, current)
            self.auto_reconnect = False
            self._close_connection("inconsistent protocol version")
            return
        self._protocol_ready(flags)

    def _protocol_timed_out(self, run_id: int, conn: Connection) -> None:
        if run_id != self._run_id or conn is not self._conn or self._conn_ready:
            return
        self._logger.info("%s announced no protocol version; assuming %s",
                          self._address_string, self.ASSUMED_PROTOCOL)
        self._protocol_ready(self.ASSUMED_PROTOCOL)
        self._protocol_assumed = True

    # ------------------------------------------------------------------
    # Connection management (reactor thread)

    def _install(self, run_id: int) -> None:
        if run_id != self._run_id:
            return
        self._backoff = self.auto_reconnect_delay
        self._failures = 0
        self._connect(run_id)

    def _connect(self, run_id: int) -> None:
        self._timer = None
        if run_id != self._run_id:
            return
        self._table.hold()
        host, port = self._bindaddr
        self._attempt = connect(self.reactor, host, port, self.CONNECT_TIMEOUT,
                                lambda sock, exc: self._connect_done(run_id, sock, exc))
        if self._attempt.thread is not None:
            # Kept for join(); the list is replaced, never changed in place.
            self._helper_threads = [t for t in self._helper_threads if t.is_alive()] + [
                self._attempt.thread]

    def _connect_done(self, run_id: int, sock: Any, exc: Optional[BaseException]) -> None:
        self._attempt = None
        if run_id != self._run_id:
            if sock is not None:
                sock.close()
            return
        if exc is not None:
            self._failures += 1
            # Keep telling whoever waits (e.g. wait_protocol() without a
            # timeout): the first failure, then one per interval.
            now = _monotonic()
            if (self._failures == 1
                    or now - self._last_connect_warning >= self.CONNECT_WARNING_INTERVAL):
                self._last_connect_warning = now
                level = logging.WARNING
            else:
                level = logging.DEBUG
            self._logger.log(level, "Failed to connect to %s: %s (attempt %d)",
                             self._address_string, exc, self._failures)
            reason = "Could not connect to %s: %s" % (self._address_string, exc)
            self._finish_all(self._table.close(lambda: KatcpClientDisconnected(
                "Not connected to %s" % self._address_string)),
                lambda: KatcpClientDisconnected(reason))
            for callback in self._failed_connect_callbacks:
                try:
                    callback(exc)
                except Exception:
                    self._logger.error("Failed-connect callback failed:\n%s",
                                       _format_exc(self._tb_limit))
            self._schedule_reconnect(run_id)
            return
        if self._failures:
            self._logger.info("Connected to %s after %d failed attempts",
                              self._address_string, self._failures)
        self._failures = 0
        self.versions = {}
        self._conn_ready = False
        self._conn = Connection(self.reactor, sock, self._handler,
                                self.MAX_MSG_SIZE, self.MAX_WRITE_BUFFER_SIZE,
                                borrowable=self._may_borrow, spin_time=self.SPIN_TIME)
        self.last_connect_time = time.time()
        self._disconnected.clear()
        self._connected.set()
        if self._preset_flags is not None:
            self._protocol_ready(self._preset_flags)
        else:
            self._timer = self.reactor.call_later(
                self.protocol_detect_timeout, self._protocol_timed_out, run_id, self._conn)

    def _protocol_ready(self, flags: ProtocolFlags) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._protocol_flags = flags
        self._protocol_assumed = False
        self._conn_ready = True
        self._backoff = self.auto_reconnect_delay
        data = self._table.open(flags.message_ids)
        if data:
            self._write(data)
        if self.use_timeout_hints and flags.request_timeout_hints:
            self._fetch_timeout_hints(self._conn)
        else:
            self._announce_ready()

    def _announce_ready(self) -> None:
        self._received_protocol_info.set()
        self._run_hooks(True, self._connected_callbacks)

    def _fetch_timeout_hints(self, conn: Optional[Connection]) -> None:
        """Ask for ``?request-timeout-hint`` (spec 5.1, flag ``T``); the
        protocol is announced ready once the answer (or a failure) is in.
        No message id: the ids the user sees start at 1 as before."""
        future = self._new_future()
        pending = FutureRequest(Message.request("request-timeout-hint"), _monotonic(), False,
                                future)

        def done(_future: Any) -> None:
            if self.reactor.in_reactor_thread():
                self._hints_received(conn, future)
            else:
                self.reactor.add_callback(self._hints_received, conn, future)

        future.add_done_callback(done)
        self._submit(pending, self.timeout)

    def _hints_received(self, conn: Optional[Connection], future: ReplyFuture) -> None:
        if conn is not self._conn or conn is None:
            return      # that connection is gone; a new one fetches again
        hints: Dict[str, float] = {}
        error = future.exception()
        if error is None:
            reply, informs = future.result()
            for inform in informs if reply.reply_ok() else ():
                try:
                    hint = float(inform.arguments[1])
                    name = inform.arguments[0].decode("ascii")
                except (IndexError, ValueError):
                    continue
                if hint > 0:
                    hints[name] = hint
        else:
            self._logger.info("No request timeout hints from %s: %s",
                              self._address_string, error)
        self.request_timeout_hints = hints
        self._announce_ready()

    def _run_hooks(self, connected: bool, callbacks: List[Callable[[], Any]]) -> None:
        for hook in [lambda: self.notify_connected(connected)] + callbacks:
            try:
                hook()
            except Exception:
                self._logger.error("%s hook failed:\n%s",
                                   "Connected" if connected else "Disconnected",
                                   _format_exc(self._tb_limit))

    def _close_connection(self, reason: str) -> None:
        conn = self._conn
        if conn is not None:
            conn.close(reason)

    def _connection_lost(self, conn: Connection, reason: str) -> None:
        if conn is not self._conn:
            return
        self._logger.info("Connection to %s lost: %s", self._address_string, reason)
        if self._running.is_set():
            self._drop_connection("Connection closed before reply was received")
            self._schedule_reconnect(self._run_id)
        else:
            self._drop_connection(_STOPPED_REASON)

    def _drop_connection(self, reason: str) -> None:
        """Forget the connection; fail its requests with ``reason``."""
        was_ready = self._conn_ready
        self._conn = None
        self._conn_ready = False
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._connected.clear()
        self._received_protocol_info.clear()
        self._disconnected.set()
        if self._running.is_set():
            closed = "Not connected to %s" % self._address_string
        else:
            closed = "Client for %s is stopped" % self._address_string
        taken = self._table.close(lambda: KatcpClientDisconnected(closed))
        self._finish_all(taken, lambda: KatcpClientDisconnected(reason))
        if was_ready:
            self._run_hooks(False, self._disconnected_callbacks)

    def _schedule_reconnect(self, run_id: int) -> None:
        if run_id != self._run_id or not self.auto_reconnect:
            return
        ceiling = self._backoff
        self._backoff = min(ceiling * 2, self.auto_reconnect_max_delay)
        delay = random.uniform(ceiling / 2, ceiling)
        self._timer = self.reactor.call_later(delay, self._connect, run_id)

    def _uninstall(self, run_id: Optional[int]) -> None:
        """Stop hook / stop(): tear down. Reactor thread (or after it ended)."""
        if run_id is not None:
            # Called as a shared reactor's stop hook: the reactor is going away.
            if run_id != self._run_id:
                return
            self._running.clear()
            self._run_id += 1
        if self._stop_hook is not None:
            self.reactor.remove_stop_hook(self._stop_hook)
            self._stop_hook = None
        if self._attempt is not None:
            self._attempt.cancel()
            self._attempt = None
        conn = self._conn
        self._drop_connection(_STOPPED_REASON)
        if conn is not None:
            conn.close("client stopped")
        self._stopped.set()


_SEND_MESSAGE = DeviceClient.send_message


class AsyncClient(DeviceClient):
    """katcp-python's name for the client with request APIs (all in :class:`DeviceClient`)."""


class CallbackClient(AsyncClient):
    """katcp-python's thread-safe callback client; the same as :class:`DeviceClient`."""


class BlockingClient(CallbackClient):
    """katcp-python's blocking client; the same as :class:`DeviceClient`."""


def request_check(client: DeviceClient, exception: Callable[[str], BaseException],
                  *msg_parms: Any, timeout: Optional[float] = None,
                  mid: Any = None) -> Tuple[Message, List[Message]]:
    """Make a blocking request; raise ``exception`` unless the reply is ``ok``.

    Args:
        client: the client to use.
        exception: exception class raised (with a description) on failure.
        msg_parms: the request name and arguments, as for ``Message.request``.
        timeout: request timeout (default: the client's).
        mid: message id for the request.

    Returns:
        ``(reply, informs)``.

    Any thread but the client's reactor thread (it blocks).
    """
    req_msg = Message.request(*msg_parms, mid=mid)
    reply, informs = client.blocking_request(req_msg, timeout=timeout)
    if not reply.reply_ok():
        raise exception('Unexpected failure reply "%s"\n with device at %s, request \n"%s"'
                        % (reply, client.bind_address_string, req_msg))
    return reply, informs
