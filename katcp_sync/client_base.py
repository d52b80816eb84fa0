"""The state and plain accessors of a KATCP client (:class:`ClientBase`).

One of the three layers of :class:`~katcp_sync.client.DeviceClient`: this
one holds the client's state (built in one constructor), its settings,
properties, ``wait_*`` methods and the registries of hooks and callbacks.
:mod:`katcp_sync.client_dispatch` adds the request table, reply matching
and message dispatch on top, and :mod:`katcp_sync.client` the connect,
reconnect and protocol-detection machinery and the start/stop life cycle.
"""

from __future__ import absolute_import, division, print_function

import collections
import logging
import sys
import threading
import traceback
from typing import Any, Callable, Deque, Dict, List, Optional, Tuple

from . import compat
from .client_requests import BlockingRequest, RequestTable
from .connection import DEFAULT_SPIN_TIME, Connection, format_address
from .errors import KatcpClientDisconnected, KatcpTimeoutError
from .formatting import format_seconds
from .lifecycle import RUNNING, STARTING, STOPPED, Lifecycle
from .message import Message
from .protocol import FLOAT_TS_KATCP_MAJOR, SEC_TO_MS_FAC, SEC_TS_KATCP_MAJOR, ProtocolFlags
from .reactor import Reactor, TimerHandle
from .tcp import ConnectAttempt, check_address

__all__ = ["ClientBase", "hinted_timeout", "parse_timeout_hint", "TIMEOUT_HINT_MARGIN",
           "MAX_TIMEOUT_HINT"]


def _format_exc(tb_limit):
    # type: (int) -> str
    return "".join(traceback.format_exception(*sys.exc_info(), limit=tb_limit))


#: Seconds added to a device's request timeout hint (``?request-timeout-hint``,
#: flag ``T``): the hint covers the handler, not the network or a busy client.
TIMEOUT_HINT_MARGIN = 1.0

#: Longest device timeout hint taken as given, in seconds (11.6 days). A longer
#: one (``inf``, ``1e300``) is cut to it: waits that long overflow (threading's
#: TIMEOUT_MAX is 49.7 days on Windows), and it means "very slow" just as well.
MAX_TIMEOUT_HINT = 1e6


def parse_timeout_hint(inform):
    # type: (Message) -> Tuple[str, Optional[float]]
    """The request name and hint of a ``#request-timeout-hint name seconds``
    inform (spec 5.1): the hint is ``None`` for 0 (the device has none) and
    at most :data:`MAX_TIMEOUT_HINT`. Any thread.

    Raises:
        ValueError: the inform is malformed (says how).
    """
    args = inform.arguments
    if len(args) < 2:
        raise ValueError("#request-timeout-hint needs a request name and a timeout, got %r"
                         % ([compat.wire_text(a) for a in args],))
    name = compat.wire_text(args[0])
    try:
        hint = float(args[1])
    except ValueError:
        hint = float("nan")
    if not hint >= 0:  # also nan
        raise ValueError("timeout hint %r for ?%s is not a number of seconds"
                         % (compat.wire_text(args[1]), name))
    return name, min(hint, MAX_TIMEOUT_HINT) if hint else None


def hinted_timeout(timeout, hint, default):
    # type: (Optional[float], Optional[float], float) -> float
    """The timeout of one request: ``timeout`` if given, else the device's
    ``hint`` for that request plus :data:`TIMEOUT_HINT_MARGIN`, else
    ``default``. Shared by the clients and the high-level resource."""
    if timeout is not None:
        return timeout
    if hint:
        return hint + TIMEOUT_HINT_MARGIN
    return default


def _not_a_message(msg, method):
    # type: (Any, str) -> TypeError
    """A clear TypeError for ``blocking_request("watchdog")`` and the like."""
    if isinstance(msg, str):
        how = "Message.request(%r)" % (msg,)
    else:
        how = "Message.request(name, *arguments)"
    return TypeError("%s() takes a Message, not %s %r: pass %s"
                     % (method, type(msg).__name__, msg, how))


class _Flag(object):
    """A flag with the methods of :class:`threading.Event`, whose changes
    notify a condition it shares with the client's other flags and its
    stop: one sleep then ends on the flag or on a stop, whichever comes
    first, without polling (see :meth:`ClientBase._wait_while_running`).
    Any thread."""

    def __init__(self, cond, flag=False):
        # type: (threading.Condition, bool) -> None
        self._cond = cond
        self._flag = flag
        # Bumped by each set(): a waiter returns True once it changed, even
        # if clear() came before it woke (as threading.Event does).
        self._sets = 0

    def is_set(self):
        # type: () -> bool
        """True if the flag is set."""
        return self._flag

    isSet = is_set

    def set(self):
        # type: () -> None
        """Set the flag and wake its waiters."""
        with self._cond:
            self._flag = True
            self._sets += 1
            self._cond.notify_all()

    def clear(self):
        # type: () -> None
        """Reset the flag."""
        with self._cond:
            self._flag = False

    def wait(self, timeout=None, abort=None):
        # type: (Optional[float], Optional[Callable[[], bool]]) -> bool
        """Wait until the flag is set, ``timeout`` passes or ``abort()`` is
        true (checked whenever the condition is notified). Returns True if
        the flag is set, or was set meanwhile."""
        cond = self._cond
        with cond:
            sets = self._sets
            cond.wait_for(lambda: self._flag or self._sets != sets
                          or (abort is not None and abort()), compat.wait_timeout(timeout))
            return self._flag or self._sets != sets


class ClientBase(object):
    """State, settings and accessors shared by the client layers.

    Not used alone: :class:`~katcp_sync.client.DeviceClient` is the client.
    Arguments and threads as for it.
    """

    #: Longest line accepted from the device (katcp-python: 2 MiB).
    MAX_MSG_SIZE = 2 * 1024 * 1024
    #: Most bytes buffered for sending before the connection is dropped.
    MAX_WRITE_BUFFER_SIZE = 2 * MAX_MSG_SIZE
    #: Most informs kept for one request made with the request APIs. A
    #: device that sends more (a runaway loop, or a ``?sensor-value`` of a
    #: larger device than expected: raise it then, on the class or one
    #: client) fails that request with
    #: :class:`~katcp_sync.errors.KatcpTooManyInformsError`, logged at
    #: ERROR; its further informs and reply are dropped, while the
    #: connection and the other requests carry on. Neither katcp-python
    #: nor aiokatcp bounds them.
    MAX_INFORMS_PER_REQUEST = 50000
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
    #: Malformed or over-long lines of one connection logged at ERROR; later
    #: ones go to DEBUG, so that a device sending garbage cannot flood the
    #: logs (nor keep the reactor busy writing them). Nothing is sent back.
    BAD_LINES_LOGGED = 10

    def __init__(self, host, port, tb_limit, timeout,
                 logger, auto_reconnect,
                 reactor):
        # type: (str, int, int, float, logging.Logger, bool, Optional[Reactor]) -> None
        host, port = check_address(host, port)
        self._bindaddr = (host or "0.0.0.0", port)
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
        self.versions = {}  # type: Dict[str, Tuple[str, ...]]
        #: ``time.time()`` of the last successful connect, or None.
        self.last_connect_time = None  # type: Optional[float]
        #: Ask a device with flag ``T`` for its request timeout hints on
        #: each connection (before :meth:`wait_protocol` returns).
        self.use_timeout_hints = True
        #: Request name -> the device's timeout hint in seconds (flag ``T``,
        #: ``?request-timeout-hint``); a request made without a timeout
        #: waits that long plus :data:`TIMEOUT_HINT_MARGIN`.
        self.request_timeout_hints = {}  # type: Dict[str, float]
        self._last_connect_warning = 0.0

        self._own_reactor = reactor is None
        self._reactor = reactor
        self._reactor_started = False
        self._table = RequestTable()
        self._table.close(lambda: KatcpClientDisconnected(
            "Not connected to %s: the client is not started (call start() first)"
            % self._address_string))
        self._handler_cache = {}  # type: Dict[Tuple[int, str], Any]
        self._callbacks_lock = threading.Lock()
        self._inform_callbacks = {}  # type: Dict[str, List[Callable[[Message], Any]]]
        self._connected_callbacks = []  # type: List[Callable[[], Any]]
        self._disconnected_callbacks = []  # type: List[Callable[[], Any]]
        self._failed_connect_callbacks = []  # type: List[Callable[[BaseException], Any]]

        self._protocol_flags = None  # type: Optional[ProtocolFlags]
        self._preset_flags = None  # type: Optional[ProtocolFlags]
        # Runs (start to stop): run ids let stale timers ignore themselves.
        # A restart may overtake the last run's teardown still queued on a
        # shared reactor (see katcp_sync.lifecycle).
        self._life = Lifecycle(overtake=True)
        # Run id -> (reactor, token) of the run's stop hook on a shared reactor.
        self._stop_hooks = {}  # type: Dict[int, Tuple[Reactor, object]]
        # What threads wait for (connected, disconnected, protocol known)
        # and a stop notify one condition: a stop wakes every wait at once.
        self._state_changed = compat.Condition()
        self._connected = _Flag(self._state_changed)
        self._disconnected = _Flag(self._state_changed, True)
        self._received_protocol_info = _Flag(self._state_changed)
        # Reactor-thread state.
        self._conn = None  # type: Optional[Connection]
        self._conn_ready = False       # protocol known (for the current connection, if any)
        self._bad_lines = 0            # malformed lines from the current connection
        self._protocol_assumed = False  # ... but only guessed (the device said nothing)
        self._attempt = None  # type: Optional[ConnectAttempt]
        self._timer = None  # type: Optional[TimerHandle]  # reconnect or protocol-detect timer
        self._backoff = 0.0
        self._failures = 0
        # A blocking request may read its own reply (DeviceClient decides).
        self._may_borrow = False
        # One item per thread inside blocking_request (list append/pop are
        # atomic): a caller alone may spin while it reads its reply.
        self._blocking_callers = []  # type: List[None]
        # Reactor thread, while it handles a batch of lines: the blocking
        # requests whose replies it delivered, to wake in turn at its end.
        self._delivered = None  # type: Optional[List[BlockingRequest]]
        # The borrowing thread's (one at a time): its own request, and the
        # others' it delivered in this recv()'s lines, to wake in turn.
        self._reading_for = None  # type: Optional[BlockingRequest]
        self._read_delivered = []  # type: List[BlockingRequest]
        # Requests' wire bytes from other threads: one thread at a time
        # (the holder of _outbox_lock) writes them all (client_dispatch).
        self._outbox = collections.deque()  # type: Deque[Tuple[Optional[Connection], bytes]]
        self._outbox_lock = threading.Lock()
        # Name-resolving threads started for connection attempts (join()).
        self._helper_threads = []  # type: List[threading.Thread]

    # ------------------------------------------------------------------
    # Properties

    @property
    def reactor(self):
        # type: () -> Reactor
        """The reactor the client runs on (its own one is created on demand)."""
        reactor = self._reactor
        if reactor is None:
            with self._life.lock:
                if self._reactor is None:
                    self._reactor = Reactor(name="katcp-client-" + self._address_string)
                reactor = self._reactor
        return reactor

    @property
    def ioloop(self):
        # type: () -> Reactor
        """katcp-python's name for :attr:`reactor`."""
        return self.reactor

    def set_reactor(self, reactor=None):
        # type: (Optional[Reactor]) -> None
        """Run on ``reactor``, shared with other clients and servers, which
        the client then never starts or stops (as the ``reactor=`` argument);
        ``None``: the client's own reactor again. Any thread, before
        :meth:`start`.

        Raises:
            RuntimeError: the client is running.
        """
        with self._life.lock:
            if self._life.state in (STARTING, RUNNING):
                raise RuntimeError("set_reactor() must be called before start()")
            self._own_reactor = reactor is None
            self._reactor = reactor
            self._reactor_started = False

    def set_ioloop(self, ioloop=None):
        # type: (Optional[Reactor]) -> None
        """katcp-python's name for :meth:`set_reactor`."""
        self.set_reactor(ioloop)

    @property
    def bind_address(self):
        # type: () -> Tuple[str, int]
        """``(host, port)`` of the device."""
        return self._bindaddr

    @property
    def bind_address_string(self):
        # type: () -> str
        """The device address as ``"host:port"``."""
        return self._address_string

    @property
    def sockname(self):
        # type: () -> Tuple[Any, ...]
        """The local ``(host, port)`` of the connection (port -1 if none)."""
        conn = self._conn
        if conn is not None and conn.sockname:
            return conn.sockname
        return (self._bindaddr[0], -1)

    @property
    def protocol_flags(self):
        # type: () -> Optional[ProtocolFlags]
        """The device's :class:`ProtocolFlags` (the last known), or None."""
        return self._protocol_flags

    @protocol_flags.setter
    def protocol_flags(self, flags):
        # type: (ProtocolFlags) -> None
        self._protocol_flags = flags

    @property
    def _server_supports_ids(self):
        # type: () -> bool
        # katcp-python's name, which its tests read and set: whether requests
        # get message ids by default and may carry them (the request table's).
        return self._table.server_ids

    @_server_supports_ids.setter
    def _server_supports_ids(self, supported):
        # type: (bool) -> None
        self._table.server_ids = supported

    @property
    def _auto_reconnect(self):
        # type: () -> bool
        # katcp-python's name of the setting, which its tests read.
        return self.auto_reconnect

    @_auto_reconnect.setter
    def _auto_reconnect(self, auto_reconnect):
        # type: (bool) -> None
        self.auto_reconnect = auto_reconnect

    def convert_seconds(self, time_seconds):
        # type: (float) -> float
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

    @property
    def _running(self):
        # type: () -> threading.Event
        # Set while running; katcp-python's own tests read client._running.
        return self._life.running_event

    def running(self):
        # type: () -> bool
        """Return True between :meth:`start` and :meth:`stop`."""
        return self._life.is_running()

    def wait_running(self, timeout=None):
        # type: (Optional[float]) -> bool
        """Wait until the client is running; return whether it is."""
        return self._life.wait_running(timeout)

    def is_connected(self):
        # type: () -> bool
        """Return True while a TCP connection to the device is open."""
        return self._connected.is_set()

    def wait_connected(self, timeout=None):
        # type: (Optional[float]) -> bool
        """Wait until connected (TCP); return whether it is (False at once
        for a stopped client, and when it is stopped meanwhile). Any thread
        but the reactor's.

        Raises:
            RuntimeError: the client was never started, or this is its
                reactor thread.
        """
        return self._wait_while_running(self._connected, timeout, "wait_connected")

    def wait_disconnected(self, timeout=None):
        # type: (Optional[float]) -> bool
        """Wait until not connected; return whether it is disconnected."""
        return self._wait(self._disconnected, timeout)

    def wait_protocol(self, timeout=None):
        # type: (Optional[float]) -> bool
        """Wait until the current connection's protocol is known (and, for a
        device with flag ``T``, its request timeout hints: see
        :attr:`request_timeout_hints`). Any thread but the reactor's.

        Returns:
            True if it is; then :attr:`protocol_flags` describes the device
            and requests go out with message ids if it supports them. False
            if ``timeout`` passed first, or the client is stopped (or was
            stopped meanwhile).

        Raises:
            RuntimeError: the client was never started, or this is its
                reactor thread.
        """
        return self._wait_while_running(self._received_protocol_info, timeout, "wait_protocol")

    def until_running(self, timeout=None):
        # type: (Optional[float]) -> None
        """Block until the client is running (katcp-python's ``until_running``,
        which returned a tornado future). Any thread but the reactor's.

        Raises:
            KatcpTimeoutError: not running within ``timeout`` seconds.
            RuntimeError: called on the client's reactor thread.
        """
        if not self._life.is_running():
            self._refuse_on_reactor("until_running")
        if not self.wait_running(timeout):
            raise KatcpTimeoutError("until_running(): the client for %s is not running after %s "
                                    "seconds" % (self._address_string, format_seconds(timeout)))

    def until_connected(self, timeout=None):
        # type: (Optional[float]) -> None
        """Block until connected (TCP): :meth:`wait_connected` that raises
        instead of returning False (katcp-python's ``until_connected``,
        which returned a tornado future). Any thread but the reactor's.

        Raises:
            KatcpTimeoutError: not connected within ``timeout`` seconds.
            KatcpClientDisconnected: the client is stopped, or was stopped
                meanwhile.
            RuntimeError: the client was never started, or this is its
                reactor thread.
        """
        if not self._wait_while_running(self._connected, timeout, "until_connected"):
            raise self._wait_failed("until_connected", "connected", timeout)

    def until_protocol(self, timeout=None):
        # type: (Optional[float]) -> None
        """Block until the protocol is known: :meth:`wait_protocol` that
        raises instead of returning False (katcp-python's ``until_protocol``,
        which returned a tornado future), as :meth:`until_connected` does.
        Any thread but the reactor's."""
        if not self._wait_while_running(self._received_protocol_info, timeout, "until_protocol"):
            raise self._wait_failed("until_protocol", "connected with its protocol known", timeout)

    def until_stopped(self, timeout=None):
        # type: (Optional[float]) -> None
        """Block until the client has stopped: :meth:`stop` was called and
        its connection is closed (katcp-python's ``until_stopped``, which
        returned a tornado future). A client never started is stopped.
        :meth:`join` also waits for the client's threads to end. Any
        thread but the reactor's.

        Raises:
            KatcpTimeoutError: not stopped within ``timeout`` seconds.
            RuntimeError: called on the client's reactor thread (which must
                run the teardown).
        """
        if self._life.state != STOPPED:
            self._refuse_on_reactor("until_stopped")
        if not self._life.wait_stopped(timeout):
            raise KatcpTimeoutError("until_stopped(): the client for %s has not stopped after %s "
                                    "seconds" % (self._address_string, format_seconds(timeout)))

    def _wait_failed(self, method, state, timeout):
        # type: (str, str, Optional[float]) -> Exception
        """Why a wait of ``method`` for ``state`` returned False."""
        if self._life.stopping:
            return KatcpClientDisconnected("%s(): the client for %s was stopped"
                                           % (method, self._address_string))
        return KatcpTimeoutError("%s(): the client for %s is not %s after %s seconds"
                                 % (method, self._address_string, state,
                                    format_seconds(timeout)))

    def _refuse_on_reactor(self, method):
        # type: (str) -> None
        if self._on_reactor():
            raise RuntimeError("%s() cannot wait on the client's reactor thread" % method)

    def _wait(self, flag, timeout):
        # type: (_Flag, Optional[float]) -> bool
        if not flag.is_set() and self._on_reactor():
            raise RuntimeError("cannot wait on the client's reactor thread")
        return flag.wait(timeout)

    def _wait_while_running(self, flag, timeout, method):
        # type: (_Flag, Optional[float], str) -> bool
        """Wait for a flag that only a running client sets: refuse at once
        if the client was never started (katcp-python raises too; waiting
        would be forever without a timeout), answer at once for a stopped
        one, and give up as soon as it is stopped meanwhile (a stop
        notifies the flags' condition: :meth:`_wake_waiters`)."""
        if flag.is_set():
            return True
        life = self._life
        if life.stopping:
            if life.run_id:
                return False    # stopped (katcp-python: the flag, cleared on disconnect)
            raise RuntimeError("%s(): the client for %s is not running (call start() first)"
                               % (method, self._address_string))
        self._refuse_on_reactor(method)
        return flag.wait(timeout, abort=lambda: life.stopping)

    def _wake_waiters(self):
        # type: () -> None
        """A stop was asked for (or is done): wake the threads in a wait
        for a flag, which then look at the life cycle. Any thread."""
        with self._state_changed:
            self._state_changed.notify_all()

    def _on_reactor(self):
        # type: () -> bool
        reactor = self._reactor
        return reactor is not None and reactor.in_reactor_thread()

    def add_connected_callback(self, callback):
        # type: (Callable[[], Any]) -> None
        """Call ``callback()`` (reactor thread) whenever the client is ready.

        Ready means connected with the protocol known, as for
        :meth:`notify_connected`.
        """
        self._add_to("_connected_callbacks", callback)

    def remove_connected_callback(self, callback):
        # type: (Callable[[], Any]) -> None
        """Forget a callback given to :meth:`add_connected_callback`."""
        self._remove_from("_connected_callbacks", callback)

    def add_disconnected_callback(self, callback):
        # type: (Callable[[], Any]) -> None
        """Call ``callback()`` (reactor thread) when a ready connection is lost."""
        self._add_to("_disconnected_callbacks", callback)

    def remove_disconnected_callback(self, callback):
        # type: (Callable[[], Any]) -> None
        """Forget a callback given to :meth:`add_disconnected_callback`."""
        self._remove_from("_disconnected_callbacks", callback)

    def add_failed_connect_callback(self, callback):
        # type: (Callable[[BaseException], Any]) -> None
        """Call ``callback(exc)`` (reactor thread) whenever a connection attempt
        fails, with the reason (aiokatcp's ``add_failed_connect_callback``)."""
        self._add_to("_failed_connect_callbacks", callback)

    def remove_failed_connect_callback(self, callback):
        # type: (Callable[[BaseException], Any]) -> None
        """Forget a callback given to :meth:`add_failed_connect_callback`."""
        self._remove_from("_failed_connect_callbacks", callback)

    def _add_to(self, name, callback):
        # type: (str, Callable[..., Any]) -> None
        # Lists are replaced, never changed, so the reactor iterates a snapshot.
        with self._callbacks_lock:
            setattr(self, name, getattr(self, name) + [callback])

    def _remove_from(self, name, callback):
        # type: (str, Callable[..., Any]) -> None
        with self._callbacks_lock:
            setattr(self, name, [c for c in getattr(self, name) if c != callback])

    def add_inform_callback(self, name, callback):
        # type: (str, Callable[[Message], Any]) -> None
        """Call ``callback(msg)`` (reactor thread) for each ``#name`` inform.

        Only informs that are not part of a reply to a request made with the
        request APIs (asynchronous informs such as ``#sensor-status``) are
        passed, after the ``inform_<name>`` handler.
        """
        with self._callbacks_lock:
            callbacks = self._inform_callbacks.get(name, [])
            self._inform_callbacks[name] = callbacks + [callback]

    def remove_inform_callback(self, name, callback):
        # type: (str, Callable[[Message], Any]) -> None
        """Forget a callback given to :meth:`add_inform_callback`."""
        with self._callbacks_lock:
            callbacks = [c for c in self._inform_callbacks.get(name, []) if c != callback]
            if callbacks:
                self._inform_callbacks[name] = callbacks
            else:
                self._inform_callbacks.pop(name, None)

    def enable_thread_safety(self):
        # type: () -> None
        """No-op: katcp_sync clients are always thread-safe."""

    def setDaemon(self, daemonic):  # noqa: N802 (katcp-python name)
        # type: (bool) -> None
        """No-op: reactor threads are always daemon threads."""

    def __repr__(self):
        # type: () -> str
        state = ("connected" if self.is_connected() else "running") if self.running() \
            else "stopped"
        return "<%s %s %s>" % (type(self).__name__, self._address_string, state)
