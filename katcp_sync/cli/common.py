"""What every ``katcp-sync`` command shares: exit statuses, error lines, endpoints, connecting.

Errors (unknown host, refused connection, failed request) are reported as
one line on stderr (:func:`error_line`) and a non-zero exit status
(:func:`die`), never a traceback. Exit statuses: 0 ok, 1 the device cannot
be reached or does not answer in time, 2 a usage error, 3 the device
replied ``fail`` or ``invalid``.
"""

from __future__ import absolute_import, division, print_function

import argparse
import logging
import re
import socket
import sys
import threading
from typing import Any, Callable, NoReturn, Tuple

from .. import compat
from ..client import BlockingClient, DeviceClient
from ..connection import format_address, format_seconds
from ..message import Message
from ..tcp import check_port

__all__ = ["PROG", "EXIT_OK", "EXIT_CONNECTION", "EXIT_USAGE", "EXIT_FAILED", "client_logger",
           "error_line", "die", "parse_endpoint", "endpoint", "listen_port", "open_client",
           "reply_error"]

PROG = "katcp-sync"

#: Exit statuses (docs/cli.rst): ok; connection failure or timeout; usage
#: error (argparse's status); a ``fail``/``invalid`` reply from the device.
EXIT_OK, EXIT_CONNECTION, EXIT_USAGE, EXIT_FAILED = 0, 1, 2, 3

#: Logger of the clients the tool makes; see :class:`_ConnectWatcher`.
client_logger = logging.getLogger("katcp_sync.cli.client")


def error_line(text):
    # type: (str) -> str
    """``katcp-sync: error: text``, in one style whatever the text's source:
    a library message's sentence case and final full stop are dropped
    (``Request help timed out after 5.0 seconds.`` becomes ``request help
    timed out after 5.0 seconds``), as in argparse's own errors."""
    text = text.strip()
    if text.endswith(".") and not text.endswith(".."):
        text = text[:-1]
    if len(text) > 1 and text[0].isupper() and text[1].islower():
        text = text[0].lower() + text[1:]
    return "%s: error: %s" % (PROG, text)


def die(status, text):
    # type: (int, str) -> NoReturn
    """Print :func:`error_line` ``(text)`` on stderr and exit with ``status``."""
    print(error_line(text), file=sys.stderr)
    sys.stderr.flush()
    raise SystemExit(status)


def parse_endpoint(text, default_host="localhost"):
    # type: (str, str) -> Tuple[str, int]
    """Parse ``HOST:PORT`` (``[::1]:PORT`` for IPv6, ``:PORT`` or ``PORT`` alone
    for ``default_host``).

    Raises:
        ValueError: no valid port number.
    """
    host, sep, port_text = text.rpartition(":")
    if not sep:
        host, port_text = "", text
    host = host.strip("[]") or default_host
    try:
        port = int(port_text)
    except ValueError:
        raise compat.chained(ValueError("%r is not HOST:PORT (bad port %r)" % (text, port_text)), None)
    if not 0 < port < 65536:
        raise ValueError("%r is not HOST:PORT (port out of range)" % (text,))
    return host, port


def endpoint(text):
    # type: (str) -> Tuple[str, int]
    """argparse type for HOST:PORT (:func:`parse_endpoint`'s error as argparse's)."""
    try:
        return parse_endpoint(text)
    except ValueError as exc:
        raise compat.chained(argparse.ArgumentTypeError(str(exc)), None)


def listen_port(text):
    # type: (str) -> int
    """argparse type for a port to listen on, 0 for any (:func:`check_port`'s
    error as argparse's)."""
    try:
        return check_port(text)
    except ValueError as exc:
        raise compat.chained(argparse.ArgumentTypeError(str(exc)), None)


class _ConnectWatcher(logging.Handler):
    """Learns from a client's log why a connection attempt failed.

    The client reports a failed connect only by logging it (a warning), so
    the tool gives its clients a logger with this handler: the first warning
    or error keeps its text for the error line and calls ``on_failure``.
    The records are not printed (unless ``--verbose``), so no library noise
    or traceback reaches the terminal.
    """

    def __init__(self, on_failure):
        # type: (Callable[[], None]) -> None
        super(_ConnectWatcher, self).__init__(logging.WARNING)
        self.reason = ""
        self._on_failure = on_failure

    def emit(self, record):
        # type: (logging.LogRecord) -> None
        if not self.reason:
            self.reason = record.getMessage()
            self._on_failure()


def _check_resolvable(host, port):
    # type: (str, int) -> None
    try:
        socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)   # no keywords on 2.7
    except (socket.gaierror, UnicodeError) as exc:
        die(EXIT_CONNECTION, "cannot resolve host %r: %s"
            % (host, getattr(exc, "strerror", exc) or exc))


def open_client(host, port, timeout,
                client_class=BlockingClient,
                **kwargs):
    # type: (str, int, float, Callable[..., DeviceClient], **Any) -> DeviceClient
    """Start a client and wait until the device's protocol is known.

    The client makes a single connection attempt (no auto-reconnect).
    Blocks: any thread but a reactor thread (the tool calls it from main).

    Returns:
        the running client; the caller must ``stop()`` and ``join()`` it, best
        by using it as a context manager (``with open_client(...) as client:``).

    Raises:
        SystemExit: (after a one-line message on stderr) the host cannot be
            resolved, or the connection failed or timed out.
    """
    _check_resolvable(host, port)
    settled = compat.Event()      # protocol known, or the attempt failed
    watcher = _ConnectWatcher(settled.set)
    client_logger.addHandler(watcher)
    client = client_class(host, port, timeout=timeout, logger=client_logger,
                          auto_reconnect=False, **kwargs)
    client.add_connected_callback(settled.set)
    try:
        client.start()
        settled.wait(timeout)
    finally:
        client.remove_connected_callback(settled.set)
        client_logger.removeHandler(watcher)
    if client.is_connected() and not client.wait_protocol(0):
        # A device that says nothing on connect: the client assumes a
        # protocol after its detection timeout, which may exceed ours.
        client.wait_protocol(client.protocol_detect_timeout + timeout)
    if not client.wait_protocol(0):
        client.stop()
        client.join()
        reason = re.sub(r" \(attempt \d+\)$", "", watcher.reason)
        die(EXIT_CONNECTION, reason or "could not connect to %s within %s seconds"
            % (format_address((host, port)), format_seconds(timeout)))
    return client


def reply_error(reply):
    # type: (Message) -> str
    """A one-line error for a non-``ok`` reply: ``?name replied fail: text``
    (the arguments decoded, as the device meant them)."""
    status = compat.readable_text(reply.arguments[0]) if reply.arguments else ""
    text = " ".join(compat.readable_text(a) for a in reply.arguments[1:])
    return "?%s replied %s%s" % (reply.name, status or "nothing", ": " + text if text else "")
