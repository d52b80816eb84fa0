"""TCP plumbing on the reactor: a listener, a non-blocking connect, addresses.

:class:`Listener` binds a listening socket (bind errors raise to the caller)
and accepts connections on the reactor thread, backing off while the
process is out of file descriptors or memory. :func:`connect` opens a
connection without blocking the reactor: numeric addresses connect at once,
names are resolved in a short-lived helper thread, and every address of a
name is tried in turn; the :class:`ConnectAttempt` it returns can be
cancelled. Both hand over plain sockets: wrapping one in a
:class:`~katcp_sync.connection.Connection` is the caller's business.

Also the small helpers every layer above uses to talk about the network:
:func:`format_address`, :func:`format_seconds` (from
:mod:`katcp_sync.formatting`) and :func:`call_on_reactor`.
"""

from __future__ import absolute_import, division, print_function

import errno
import logging
import os
import socket
import threading
from typing import Any, Callable, List, Optional, Tuple

from . import compat
from .compat import ConnectionAbortedError  # noqa: A004 (not on Python 2)
from .compat import monotonic as _monotonic
from .errors import KatcpTimeoutError
from .formatting import format_address, format_seconds
from .reactor import Reactor, TimerHandle

__all__ = [
    "Listener",
    "ConnectAttempt",
    "connect",
    "format_address",
    "format_seconds",
    "call_on_reactor",
    "check_address",
    "check_port",
    "set_nodelay",
]

logger = logging.getLogger(__name__)

# accept() errors that mean "out of resources": back off instead of spinning.
_ACCEPT_RESOURCE_ERRORS = frozenset(
    getattr(errno, name) for name in ("EMFILE", "ENFILE", "ENOBUFS", "ENOMEM")
    if hasattr(errno, name))
_ACCEPT_RETRY_DELAY = 0.5
# While they last, such failures are logged once, then summed up at most this
# often (seconds), then once more when accepting works again.
_ACCEPT_ERROR_LOG_INTERVAL = 60.0


def check_port(port):
    # type: (Any) -> int
    """``port`` as an int, checked to be a TCP port number (0 to 65535).

    getaddrinfo() would take 70000 as 4464 without a word, so servers and
    clients check their port when they are made. Any thread.

    Raises:
        ValueError: not a number, or out of that range.
    """
    try:
        number = int(port)
    except (TypeError, ValueError):
        number = -1
    if not 0 <= number <= 65535:
        raise ValueError("port must be a number from 0 to 65535, not %r" % (port,))
    return number


def check_address(host, port):
    # type: (Any, Any) -> Tuple[str, int]
    """``(host, port)`` checked where servers and clients are made: the
    port as :func:`check_port` says, and the host a string that is not
    itself ``"name:port"`` (which would fail only at name lookup, at the
    first connect). Any thread.

    Raises:
        ValueError: either is wrong; the message says how.
    """
    if host is None:
        host = ""
    elif isinstance(host, bytes) and not compat.is_text(host):
        host = host.decode("utf-8", "replace")  # (getaddrinfo took bytes too)
    if not compat.is_text(host):
        raise ValueError("host must be a name or address string, not %r" % (host,))
    name, colon, tail = host.rpartition(":")
    if colon and tail.isdigit() and ":" not in name:  # (an IPv6 address has several)
        raise ValueError("host %r includes a port: pass them apart, as (%r, %s)"
                         % (host, name, tail))
    return host, check_port(port)


def call_on_reactor(reactor, fn, *args):
    # type: (Reactor, Callable[..., Any], *Any) -> bool
    """Run ``fn(*args)`` now if on the reactor thread, else queue it there.

    Returns False if the reactor is closed and the call was dropped.
    """
    if reactor.in_reactor_thread():
        fn(*args)
        return True
    return reactor.add_callback(fn, *args)


def set_nodelay(sock):
    # type: (socket.socket) -> None
    """Turn Nagle's algorithm off on a TCP socket (no-op for other sockets)."""
    if sock.family in (socket.AF_INET, getattr(socket, "AF_INET6", None)):
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except compat.SOCKET_ERRORS:
            pass


class Listener(object):
    """A listening TCP socket that accepts connections on the reactor.

    Args:
        reactor: the reactor that accepts.
        host: address to bind; ``""`` or ``"0.0.0.0"`` means every IPv4
            interface, ``"::"`` every IPv6 one; names are resolved (the
            first address is used).
        port: port to bind; 0 picks a free one (see :attr:`address`).
        on_accept: called as ``on_accept(sock, addr)`` on the reactor thread
            for each new connection. It owns ``sock`` (typically wraps it in a
            :class:`~katcp_sync.connection.Connection`).
        backlog: ``listen()`` backlog.

    May be created on any thread: binding happens in the constructor, so bind
    errors raise :class:`OSError` to the caller; accepting starts on the
    reactor.
    """

    def __init__(self, reactor, host, port,
                 on_accept, backlog=128):
        # type: (Reactor, str, int, Callable[[socket.socket, Any], Any], int) -> None
        self._reactor = reactor
        self._on_accept = on_accept
        sockaddr = ()  # type: Tuple[Any, ...]
        if host in ("", "0.0.0.0"):
            family, sockaddr = socket.AF_INET, ("0.0.0.0", port)
        else:
            try:
                info = socket.getaddrinfo(host, port, socket.AF_UNSPEC, socket.SOCK_STREAM,
                                          0, socket.AI_PASSIVE)[0]
            except socket.gaierror as exc:
                raise OSError(exc.errno, "Cannot listen on %s: %s" % (
                    format_address((host, port)), exc.strerror or exc))
            family, sockaddr = info[0], info[4]
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(sockaddr)
            sock.listen(backlog)
            sock.setblocking(False)
        except compat.SOCKET_ERRORS as exc:
            sock.close()
            # The address in the error: "Address already in use" alone does
            # not say which (issue 15). OSError(errno, ...) keeps the subclass.
            raise OSError(exc.errno, "Cannot listen on %s: %s" % (
                format_address(sockaddr), exc.strerror or exc))
        except BaseException:
            sock.close()
            raise
        self._sock = sock
        self._backlog = max(backlog, 1)
        #: The bound ``(host, port)``, with the real port when 0 was asked.
        self.address = sock.getsockname()[:2]  # type: Tuple[str, int]
        self._closed = False
        self._paused_timer = None  # type: Optional[TimerHandle]
        # A run of out-of-resources accept failures (reactor thread): how
        # many, when it began, how many since the last log line and when.
        self._failures = 0
        self._failing_since = 0.0
        self._unlogged = 0
        self._logged_at = 0.0
        self._stop_hook = reactor.add_stop_hook(self._do_close)
        if not call_on_reactor(reactor, self._register):
            self._closed = True
            sock.close()

    @property
    def closed(self):
        # type: () -> bool
        """True once :meth:`close` was called. Any thread."""
        return self._closed

    def close(self):
        # type: () -> None
        """Stop accepting and close the listening socket; any thread, idempotent.

        Already accepted connections are not affected.
        """
        if self._closed:
            return
        self._closed = True
        if not call_on_reactor(self._reactor, self._do_close):
            self._sock.close()

    def _register(self):
        # type: () -> None
        if not self._closed:
            self._reactor.add_reader(self._sock, self._on_readable)

    def _on_readable(self):
        # type: () -> None
        accept = self._sock.accept
        for _ in range(self._backlog):  # then let other sockets have a turn
            try:
                sock, addr = accept()
            except compat.SOCKET_ERRORS as exc:
                if compat.would_block(exc):
                    return
                if exc.errno == errno.ECONNABORTED:   # ConnectionAbortedError on 3.x
                    continue  # the peer gave up while queued: not our problem
                if exc.errno in _ACCEPT_RESOURCE_ERRORS:
                    self._log_resource_failure(exc)
                    self._reactor.remove_reader(self._sock)
                    self._paused_timer = self._reactor.call_later(
                        _ACCEPT_RETRY_DELAY, self._register)
                else:
                    logger.error("listener %s: accept failed: %s",
                                 format_address(self.address), exc)
                return
            if self._failures:
                logger.warning("listener %s: accepting again after %d failed accepts in %s s",
                               format_address(self.address), self._failures,
                               format_seconds(_monotonic() - self._failing_since))
                self._failures = 0
            try:
                self._on_accept(sock, addr)
            except Exception:
                logger.exception("listener %s: exception in on_accept",
                                 format_address(self.address))
                sock.close()

    def _log_resource_failure(self, exc):
        # type: (OSError) -> None
        """Log an out-of-resources accept failure, rate-limited: the first of
        a run, then a count at most every _ACCEPT_ERROR_LOG_INTERVAL seconds
        (retries come every _ACCEPT_RETRY_DELAY: thousands an hour)."""
        now = _monotonic()
        self._failures += 1
        if self._failures == 1:
            self._failing_since = self._logged_at = now
            self._unlogged = 0
            logger.error("listener %s: cannot accept (%s); retrying every %s s "
                         "(repeats are counted and logged at most every %s s)",
                         format_address(self.address), exc, format_seconds(_ACCEPT_RETRY_DELAY),
                         format_seconds(_ACCEPT_ERROR_LOG_INTERVAL))
            return
        self._unlogged += 1
        if now - self._logged_at >= _ACCEPT_ERROR_LOG_INTERVAL:
            logger.error("listener %s: %d more accept failures in %s s (%s); still retrying",
                         format_address(self.address), self._unlogged,
                         format_seconds(now - self._logged_at), exc)
            self._logged_at = now
            self._unlogged = 0

    def _do_close(self):
        # type: () -> None
        self._closed = True
        if self._sock.fileno() == -1:
            return
        if self._paused_timer is not None:
            self._paused_timer.cancel()
        self._reactor.remove_reader(self._sock)
        self._reactor.remove_stop_hook(self._stop_hook)
        self._sock.close()

    def __repr__(self):
        # type: () -> str
        return "<Listener %s%s>" % (format_address(self.address),
                                     " closed" if self._closed else "")


class ConnectAttempt(object):
    """A connection being opened by :func:`connect`; lets it be cancelled.

    Made by :func:`connect` (any thread); :meth:`cancel` may be called from
    any thread, everything else runs on the reactor thread.
    """

    def __init__(self, reactor, host, port, timeout,
                 on_done):
        # type: (Reactor, str, int, Optional[float], Callable[[Optional[socket.socket], Optional[BaseException]], Any]) -> None
        self._reactor = reactor
        self._host = host
        self._port = port
        self._timeout = timeout
        self._on_done = on_done  # type: Optional[Callable[..., Any]]
        self._sock = None  # type: Optional[socket.socket]
        self._addresses = []  # type: List[Tuple[Any, ...]]
        self._last_error = None  # type: Optional[BaseException]
        self._timer = None  # type: Optional[TimerHandle]
        #: The helper thread resolving the host name, once started (numeric
        #: addresses need none); whoever started the attempt may join it.
        self.thread = None  # type: Optional[threading.Thread]
        self._stop_hook = reactor.add_stop_hook(
            self._fail, ConnectionAbortedError("reactor stopped"))

    def cancel(self):
        # type: () -> None
        """Abandon the attempt; any thread. ``on_done`` then receives a
        :class:`ConnectionAbortedError` (unless it was already called)."""
        self._reactor.add_callback(self._fail, ConnectionAbortedError("connect cancelled"))

    # Reactor thread from here on.

    def _start(self):
        # type: () -> None
        if self._on_done is None:
            return
        if self._timeout is not None:
            self._timer = self._reactor.call_later(
                self._timeout, self._fail,
                KatcpTimeoutError("connect to %s timed out after %s s"
                                  % (format_address((self._host, self._port)),
                                     format_seconds(self._timeout))))
        infos = _numeric_addrinfo(self._host, self._port)
        if infos is not None:
            self._resolved(infos, None)
        else:
            self.thread = compat.daemon_thread(self._resolve, "katcp-resolve")
            self.thread.start()

    def _resolve(self):
        # type: () -> None
        """Helper thread: blocking name lookup, then back to the reactor."""
        try:
            infos = socket.getaddrinfo(self._host, self._port, socket.AF_UNSPEC,
                                       socket.SOCK_STREAM)
        except compat.SOCKET_ERRORS as exc:
            self._reactor.add_callback(self._resolved, [], compat.as_os_error(exc))
        else:
            self._reactor.add_callback(self._resolved, infos, None)

    def _resolved(self, infos, error):
        # type: (List[Tuple[Any, ...]], Optional[BaseException]) -> None
        if self._on_done is None:
            return
        if error is not None:
            self._fail(error)
            return
        self._addresses = [(info[0], info[4]) for info in infos]
        self._try_next()

    def _try_next(self):
        # type: () -> None
        while self._addresses:
            family, sockaddr = self._addresses.pop(0)
            try:
                sock = socket.socket(family, socket.SOCK_STREAM)
            except compat.SOCKET_ERRORS as exc:  # e.g. no IPv6 support on this host
                self._last_error = compat.as_os_error(exc)
                continue
            sock.setblocking(False)
            err = sock.connect_ex(sockaddr)
            if err in (0, errno.EINPROGRESS, errno.EWOULDBLOCK, errno.EAGAIN):
                self._sock = sock
                self._reactor.add_writer(sock, self._on_writable)
                return
            sock.close()
            self._last_error = compat.os_error(err, os.strerror(err))
        self._fail(self._last_error or OSError("no address for %s" % self._host))

    def _on_writable(self):
        # type: () -> None
        sock = self._sock
        assert sock is not None
        self._reactor.remove_writer(sock)
        self._sock = None
        err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err:
            sock.close()
            self._last_error = compat.os_error(err, os.strerror(err))
            self._try_next()
        else:
            self._done(sock, None)

    def _fail(self, exc):
        # type: (BaseException) -> None
        if self._sock is not None:
            self._reactor.remove_writer(self._sock)
            self._sock.close()
            self._sock = None
        self._done(None, exc)

    def _done(self, sock, exc):
        # type: (Optional[socket.socket], Optional[BaseException]) -> None
        on_done, self._on_done = self._on_done, None
        if on_done is None:
            if sock is not None:
                sock.close()
            return
        self._addresses = []
        if self._timer is not None:
            self._timer.cancel()
        self._reactor.remove_stop_hook(self._stop_hook)
        try:
            on_done(sock, exc)
        except Exception:
            logger.exception("exception in connect callback %r", on_done)


def _numeric_addrinfo(host, port):
    # type: (str, int) -> Optional[List[Tuple[Any, ...]]]
    """getaddrinfo() for a numeric host without any lookup; None for a name."""
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, host)
        except compat.SOCKET_ERRORS + (ValueError,):
            continue
        sockaddr = (host, port) if family == socket.AF_INET else (host, port, 0, 0)  # type: Tuple[Any, ...]
        return [(family, socket.SOCK_STREAM, 0, "", sockaddr)]
    return None


def connect(reactor, host, port, timeout,
            on_done):
    # type: (Reactor, str, int, Optional[float], Callable[[Optional[socket.socket], Optional[BaseException]], Any]) -> ConnectAttempt
    """Open a TCP connection without blocking the reactor.

    Any thread. ``on_done(sock, None)`` (a connected, non-blocking socket that
    the callee now owns) or ``on_done(None, exc)`` is called exactly once on
    the reactor thread. ``exc`` is :class:`~katcp_sync.errors.KatcpTimeoutError`
    after ``timeout`` seconds (``None``: no limit), an :class:`OSError` such
    as :class:`ConnectionRefusedError`, or :class:`ConnectionAbortedError` if
    cancelled or the reactor stopped. Numeric addresses connect at once;
    names are resolved in a short-lived helper thread so the reactor never
    blocks on DNS. Every address of a name is tried in turn.

    Returns:
        a :class:`ConnectAttempt` whose ``cancel()`` abandons the attempt.
    """
    attempt = ConnectAttempt(reactor, host, port, timeout, on_done)
    call_on_reactor(reactor, attempt._start)
    return attempt
