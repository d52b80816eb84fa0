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
   sent, and the "connected" hooks run. (Informs handed to
   ``handle_message`` with no connection, as katcp-python's tests do, and
   a preset on a client not running, only record the protocol.)
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
thread *borrows* the connection's reading (see :mod:`katcp_sync.borrow`):
it sends, reads and parses replies itself and so wakes up once, not after
the reactor. It claims its own informs and reply and those of other
threads that call ``blocking_request`` meanwhile (whom it wakes), through
the same table; every other line (asynchronous informs, replies to futures and
callbacks, bad lines) is handed to the reactor and dispatched there in
order, as always. A main thread reads only for itself, since a signal
could interrupt it holding another caller's reply.
Subclasses that override ``handle_message``, ``handle_reply`` or
``handle_inform`` see every message, so they never borrow.

Messages that are not replies to requests made here are dispatched as in
katcp-python: :meth:`~DeviceClient.handle_message` ->
``handle_reply``/``handle_inform``/``handle_request`` ->
``reply_<name>``/``inform_<name>``/``request_<name>`` or
``unhandled_*``. Handler exceptions are logged and nothing is sent back,
and so are malformed lines (spec 2: a client never answers bad input).

Modules
-------
:class:`DeviceClient` is built in three layers, one module each:
:mod:`katcp_sync.client_base` (state, settings, properties, ``wait_*``,
hook and callback registries), :mod:`katcp_sync.client_dispatch`
(sending, the request APIs, reply matching and message dispatch) and this
module (start/stop/join, connect and reconnect, protocol detection). Every
public name stays importable from here.
"""

from __future__ import absolute_import, division, print_function

import logging
import random
import socket
import time
from concurrent.futures import Future
from typing import Any, Callable, Dict, List, Optional, Tuple, TypeVar, Union

from . import compat
from .client_base import TIMEOUT_HINT_MARGIN, _format_exc, hinted_timeout, parse_timeout_hint
from .client_dispatch import ClientDispatch
from .client_requests import FutureRequest, ReplyFuture
from .connection import Connection, connect
from .deadline import Deadline
from .errors import KatcpClientDisconnected
from .lifecycle import join_threads
from .message import Message
from .protocol import ProtocolFlags
from .reactor import Reactor

__all__ = [
    "DeviceClient",
    "AsyncClient",
    "CallbackClient",
    "BlockingClient",
    "request_check",
    "ReplyFuture",
    "hinted_timeout",
    "TIMEOUT_HINT_MARGIN",
]

logger = logging.getLogger(__name__)

_monotonic = compat.monotonic    # the reactor's clock
_STOPPED_REASON = "Client stopped before reply was received"

#: A client class, for ``with`` (``__enter__`` returns the client, typed as it is).
_ClientT = TypeVar("_ClientT", bound="DeviceClient")


class DeviceClient(ClientDispatch):
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

    def __init__(self, host, port, tb_limit=20, timeout=5.0,
                 logger=logger, auto_reconnect=True,
                 reactor=None):
        # type: (str, int, int, float, logging.Logger, bool, Optional[Reactor]) -> None
        super(DeviceClient, self).__init__(host, port, tb_limit, timeout, logger, auto_reconnect, reactor)
        self._handler = compat.SimpleNamespace(
            lines_received=self._lines_received, connection_lost=self._connection_lost)
        # A blocking request may read its own reply only if no override
        # expects to see every message.
        cls = type(self)
        fn = compat.function_of
        self._may_borrow = all(fn(getattr(cls, name)) is fn(getattr(DeviceClient, name)) for name in (
            "handle_message", "handle_reply", "handle_inform", "_lines_received"))

    # ------------------------------------------------------------------
    # Life cycle

    def start(self, timeout=None):
        # type: (Optional[float]) -> None
        """Start connecting to the device (and the client's own reactor).

        May be called again after :meth:`stop`, even before the last run's
        teardown has run on a shared reactor: the new run overtakes it (see
        :mod:`katcp_sync.lifecycle`), and requests made before that teardown
        has run fail as the last run's do.

        Args:
            timeout: seconds to wait for the client to be running (it is
                running when this returns in any case).

        Raises:
            RuntimeError: the client is already running.
        """
        with self._life.lock:
            try:
                run_id = self._life.begin_start_locked()
            except RuntimeError:
                raise compat.chained(RuntimeError(
                    "client for %s already started" % self._address_string), None)
            if self._own_reactor and (self._reactor is None or self._reactor_started):
                # A reactor cannot be restarted: each run gets a fresh one.
                self._reactor = Reactor(name="katcp-client-" + self._address_string)
                self._reactor_started = False
            reactor = self._reactor
            assert reactor is not None
            if self._own_reactor:
                self._reactor_started = True
            else:
                self._stop_hooks[run_id] = (
                    reactor, reactor.add_stop_hook(self._reactor_stopping, run_id))
            # Requests made from now until the first connection are held.
            self._table.hold()
            # Until then the protocol is not known, whatever was preset or
            # handled before (see _protocol_ready).
            self._received_protocol_info.clear()
        if self._own_reactor:
            reactor.start()
        if self._life.finish_start():
            reactor.add_callback(self._install, run_id)
        else:
            self._begin_stop(run_id, reactor, timeout)

    def stop(self, timeout=None):
        # type: (Optional[float]) -> None
        """Stop the client: close the connection, fail outstanding requests.

        Requests still waiting fail with :class:`KatcpClientDisconnected`
        ("Client stopped before reply was received"). Idempotent. The
        client's own reactor thread is stopped (waiting up to ``timeout``
        for it unless called on it); a shared reactor keeps running.
        """
        with self._life.lock:
            stopping = self._life.request_stop_locked()
            run_id = self._life.run_id
            reactor = self._reactor
        # Threads in wait_protocol() and the like return now, not when the
        # reactor gets to the teardown.
        self._wake_waiters()
        if not stopping:
            return
        assert reactor is not None
        self._begin_stop(run_id, reactor, timeout)

    def _begin_stop(self, run_id, reactor, timeout):
        # type: (int, Reactor, Optional[float]) -> None
        """Tear run ``run_id`` down on the reactor (or here, if it cannot)."""
        if reactor.in_reactor_thread() or not reactor.add_callback(self._finish_stop, run_id):
            self._finish_stop(run_id)
        if self._own_reactor:
            reactor.stop(timeout)

    def join(self, timeout=None):
        # type: (Optional[float]) -> bool
        """Wait up to ``timeout`` seconds for a stopped client to finish.

        Waits for every thread the client started: its own reactor thread
        (or, on a shared reactor, for its teardown there) and any helper
        thread still resolving the device's host name.

        Returns:
            True if all of them have ended, False if ``timeout`` passed first
            (or if called on the client's own reactor thread, which cannot
            end while it runs this).
        """
        deadline = Deadline(timeout)
        reactor = self._reactor
        if self._own_reactor and reactor is not None:
            if reactor.in_reactor_thread():
                return False
            ended = reactor.join(timeout)
        else:
            ended = self._life.wait_stopped(timeout)
        return join_threads(self._helper_threads, deadline=deadline) and ended

    def disconnect(self):
        # type: () -> None
        """Close the current connection; reconnect if auto-reconnect is on."""
        self.reactor.add_callback(self._disconnect, "disconnect requested")

    def notify_connected(self, connected):
        # type: (bool) -> None
        """Hook called on the reactor thread when the connection comes or goes.

        ``True`` once the device's protocol is known, ``False`` when that
        connection is lost. Override it; it must not block.
        """

    def __enter__(self):
        # type: (_ClientT) -> _ClientT
        """``with client:`` starts the client unless it is running already.

        Returns:
            the client itself.

        Any thread but the client's reactor thread (as :meth:`start`).
        """
        if not self.running():
            self.start()
        return self

    def __exit__(self, *exc_info):
        # type: (*Any) -> None
        """Leaving the ``with`` block stops the client and joins it (waits
        for its threads to end), whether the block raised or not; an
        exception from the block propagates.

        Any thread but the client's reactor thread (as :meth:`join`).
        """
        self.stop()
        self.join()

    # -- protocol detection (spec 4.2, 4.2.1) --------------------------------

    def inform_version_connect(self, msg):
        # type: (Message) -> None
        """Record ``#version-connect``; ``katcp-protocol`` gives the protocol (reactor thread)."""
        if len(msg.arguments) < 2:
            return
        name = compat.wire_text(msg.arguments[0])
        self.versions[name] = tuple(compat.wire_text(a) for a in msg.arguments[1:])
        if name == "katcp-protocol":
            try:
                flags = ProtocolFlags.parse_version(msg.arguments[1])
            except ValueError as exc:
                self._logger.error("Bad protocol version from %s (%s): %s",
                                   self._address_string, exc, msg)
                return
            if flags.major == 0:
                self._logger.warning("%s announced protocol %r, which is not <major>.<minor>"
                                     "[-<flags>] (spec 4.2): taken as 0.0, without message ids",
                                     self._address_string, compat.wire_text(msg.arguments[1]))
            self._protocol_announced(flags, msg, legacy=False)

    def inform_version(self, msg):
        # type: (Message) -> None
        """A v4 device's ``#version``: the device speaks KATCP v4 (reactor thread)."""
        self._protocol_announced(ProtocolFlags(4, 0, ""), msg, legacy=True)

    def inform_build_state(self, msg):
        # type: (Message) -> None
        """A v4 device's ``#build-state``: the device speaks KATCP v4 (reactor thread)."""
        self._protocol_announced(ProtocolFlags(4, 0, ""), msg, legacy=True)

    def inform_disconnect(self, msg):
        # type: (Message) -> None
        """The device is about to close the connection (spec 4.2). Reactor thread."""
        self._logger.info("%s is disconnecting: %s", self._address_string,
                          compat.wire_text(b" ".join(msg.arguments)))

    def preset_protocol_flags(self, protocol_flags):
        # type: (ProtocolFlags) -> None
        """Use ``protocol_flags`` for the device and turn off detection.

        Call before :meth:`start`, from any thread. Informs announcing a
        different version are then only warned about. On a client not
        running the protocol is known at once (as in katcp-python:
        :attr:`protocol_flags`, :meth:`wait_protocol`), until :meth:`start`.
        """
        self._preset_flags = protocol_flags
        if self._conn is None and not self._life.is_running():
            self._protocol_ready(protocol_flags)
        else:
            self._protocol_flags = protocol_flags   # its next connection's

    def _protocol_announced(self, flags, inform, legacy):
        # type: (ProtocolFlags, Message, bool) -> None
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
                return   # v5 devices may also send the deprecated v4 ones (spec 4.2.1)
            if self._preset_flags is not None:
                self._logger.warning("Protocol Version Warning: %s announced protocol %s, "
                                     "ignored: preset to %s", self._address_string, flags,
                                     current)
                return
            self._logger.error("Protocol Version Error: %s announced protocol %s after %s; "
                               "disconnecting and turning auto-reconnect off",
                               self._address_string, flags, current)
            self.auto_reconnect = False
            self._disconnect("inconsistent protocol version")
            return
        self._protocol_ready(flags)

    def _protocol_timed_out(self, run_id, conn):
        # type: (int, Connection) -> None
        if not self._life.is_current(run_id) or conn is not self._conn or self._conn_ready:
            return
        self._logger.info("%s announced no protocol version; assuming %s",
                          self._address_string, self.ASSUMED_PROTOCOL)
        self._protocol_ready(self.ASSUMED_PROTOCOL)
        self._protocol_assumed = True

    # ------------------------------------------------------------------
    # Connection management (reactor thread)

    def _install(self, run_id):
        # type: (int) -> None
        if not self._life.is_current(run_id):
            return
        self._backoff = self.auto_reconnect_delay
        self._failures = 0
        self._connect(run_id)

    def _connect(self, run_id):
        # type: (int) -> None
        self._timer = None
        if not self._life.is_current(run_id):
            return
        self._table.hold()
        host, port = self._bindaddr
        self._attempt = connect(self.reactor, host, port, self.CONNECT_TIMEOUT,
                                lambda sock, exc: self._connect_done(run_id, sock, exc))
        if self._attempt.thread is not None:
            # Kept for join(); the list is replaced, never changed in place.
            self._helper_threads = [t for t in self._helper_threads if t.is_alive()] + [
                self._attempt.thread]

    def _connect_done(self, run_id, sock,
                      exc):
        # type: (int, Optional[socket.socket], Optional[BaseException]) -> None
        self._attempt = None
        if not self._life.is_current(run_id):
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
            # Requests made until the next attempt fail at once, with why.
            closed = "Not connected to %s: the last attempt failed: %s" % (
                self._address_string, exc)
            self._finish_all(self._table.close(lambda: KatcpClientDisconnected(closed)),
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
        assert sock is not None
        self._failures = 0
        self.versions = {}
        self._conn_ready = False
        self._received_protocol_info.clear()    # (set by informs handled meanwhile)
        self._bad_lines = 0
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

    def _protocol_ready(self, flags):
        # type: (ProtocolFlags) -> None
        """The device's protocol is known: record it; on a connection, send
        the held requests and announce the connection ready."""
        self._protocol_flags = flags
        self._protocol_assumed = False
        self._conn_ready = True
        if self._conn is None:
            # No connection: a preset on a client not running, or informs
            # given to handle_message() directly (katcp-python's tests do).
            # Nothing to send and no hooks to run; the table uses ids or not.
            self._table.server_ids = flags.message_ids
            self._received_protocol_info.set()
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._backoff = self.auto_reconnect_delay
        data = self._table.open(flags.message_ids)
        if data:
            self._write(data)
        if self.use_timeout_hints and flags.request_timeout_hints:
            self._fetch_timeout_hints(self._conn)
        else:
            self._announce_ready()

    def _announce_ready(self):
        # type: () -> None
        # The callbacks of this connection are those added before it was
        # announced: a thread woken by wait_protocol may add one meanwhile.
        callbacks = self._connected_callbacks
        self._received_protocol_info.set()
        self._run_hooks(True, callbacks)

    def _fetch_timeout_hints(self, conn):
        # type: (Optional[Connection]) -> None
        """Ask for ``?request-timeout-hint`` (spec 5.1, flag ``T``); the
        protocol is announced ready once the answer (or a failure) is in.
        No message id: the ids the user sees start at 1 as before."""
        future = self._new_future()
        pending = FutureRequest(Message.request("request-timeout-hint"), _monotonic(), False,
                                future)

        def done(_future):
            # type: ("Future[Tuple[Message, List[Message]]]") -> None
            if self.reactor.in_reactor_thread():
                self._hints_received(conn, future)
            else:
                self.reactor.add_callback(self._hints_received, conn, future)

        future.add_done_callback(done)
        self._submit(pending, self.timeout)

    def _hints_received(self, conn, future):
        # type: (Optional[Connection], ReplyFuture) -> None
        if conn is not self._conn or conn is None:
            return      # that connection is gone; a new one fetches again
        hints = {}  # type: Dict[str, float]
        error = future.exception()
        if error is None:
            reply, informs = future.result()
            for inform in informs if reply.reply_ok() else ():
                try:
                    name, hint = parse_timeout_hint(inform)
                except ValueError as exc:
                    self._logger.warning("%s: %s (ignored)", self._address_string, exc)
                    continue
                if hint is not None:
                    hints[name] = hint
        else:
            self._logger.info("No request timeout hints from %s: %s",
                              self._address_string, error)
        self.request_timeout_hints = hints
        self._announce_ready()

    def _run_hooks(self, connected, callbacks):
        # type: (bool, List[Callable[[], Any]]) -> None
        for hook in [lambda: self.notify_connected(connected)] + callbacks:
            try:
                hook()
            except Exception:
                self._logger.error("%s hook failed:\n%s",
                                   "Connected" if connected else "Disconnected",
                                   _format_exc(self._tb_limit))

    def _disconnect(self, reason="disconnect requested"):
        # type: (str) -> None
        """Close the current connection, if any (katcp-python's name);
        reconnect if :attr:`auto_reconnect`. Reactor thread."""
        conn = self._conn
        if conn is not None:
            conn.close(reason)

    def _connection_lost(self, conn, reason):
        # type: (Connection, str) -> None
        if conn is not self._conn:
            return
        self._logger.info("Connection to %s lost: %s", self._address_string, reason)
        if self._life.is_running():
            self._drop_connection("Connection closed before reply was received")
            self._schedule_reconnect(self._life.run_id)
        else:
            self._drop_connection(_STOPPED_REASON)

    def _drop_connection(self, reason):
        # type: (str) -> None
        """Forget the connection; fail its requests with ``reason``."""
        was_ready = self._conn_ready and self._conn is not None
        self._conn = None
        self._conn_ready = False
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._connected.clear()
        self._received_protocol_info.clear()
        self._disconnected.set()
        if self._life.is_running():
            closed = "Not connected to %s" % self._address_string
        else:
            closed = "Client for %s is stopped" % self._address_string
        taken = self._table.close(lambda: KatcpClientDisconnected(closed))
        self._finish_all(taken, lambda: KatcpClientDisconnected(reason))
        if was_ready:
            self._run_hooks(False, self._disconnected_callbacks)

    def _schedule_reconnect(self, run_id):
        # type: (int) -> None
        if not self._life.is_current(run_id) or not self.auto_reconnect:
            return
        ceiling = self._backoff
        self._backoff = min(ceiling * 2, self.auto_reconnect_max_delay)
        delay = random.uniform(ceiling / 2, ceiling)
        self._timer = self.reactor.call_later(delay, self._connect, run_id)

    def _reactor_stopping(self, run_id):
        # type: (int) -> None
        """A shared reactor's stop hook: the reactor is going away, so is the run."""
        if self._life.request_stop(run_id):
            self._wake_waiters()
            self._finish_stop(run_id)

    def _finish_stop(self, run_id):
        # type: (int) -> None
        """Tear run ``run_id`` down, once. Reactor thread (or after it ended)."""
        if not self._life.begin_finish(run_id):
            return
        hook = self._stop_hooks.pop(run_id, None)
        if hook is not None:
            hook[0].remove_stop_hook(hook[1])
        if self._attempt is not None:
            self._attempt.cancel()
            self._attempt = None
        conn = self._conn
        self._drop_connection(_STOPPED_REASON)
        if conn is not None:
            conn.close("client stopped")
        self._life.mark_stopped(run_id)
        self._wake_waiters()


class AsyncClient(DeviceClient):
    """katcp-python's name for the client with request APIs (all in :class:`DeviceClient`).

    Threads as :class:`DeviceClient`: any thread, blocking calls not on its reactor thread.
    """


class CallbackClient(AsyncClient):
    """katcp-python's thread-safe callback client; the same as :class:`DeviceClient`.

    Callbacks run on the reactor thread; methods may be called from any thread.
    """


class BlockingClient(CallbackClient):
    """katcp-python's blocking client; the same as :class:`DeviceClient`.

    Any thread may call it; the blocking calls (``blocking_request``,
    ``wait_*``) not its reactor thread (they raise RuntimeError there).
    """


def request_check(client, exception,
                  *msg_parms, **kwargs):
    # type: (DeviceClient, Callable[[str], BaseException], *Any, **Any) -> Tuple[Message, List[Message]]
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
    timeout = compat.kwonly_pop(kwargs, 'timeout', None)  # type: Optional[float]
    mid = compat.kwonly_pop(kwargs, 'mid', None)  # type: Union[int, str, bytes, None]
    compat.kwonly_done('request_check', kwargs)
    req_msg = Message.request(*msg_parms, mid=mid)
    reply, informs = client.blocking_request(req_msg, timeout=timeout)
    if not reply.reply_ok():
        raise exception('Unexpected failure reply "%s"\n with device at %s, request \n"%s"'
                        % (reply, client.bind_address_string, req_msg))
    return reply, informs
