"""Operating-system errors and sockets across Pythons.

Python 3's OSError subclasses (``ConnectionError`` & co) on 2.7 and
``os_error``/``as_os_error`` to raise them as 3.3+ does; what to catch
around socket and select calls (``SOCKET_ERRORS``, ``SELECT_ERRORS``: on
2.7 ``socket.error`` is an IOError, ``select.error`` no OSError) and errno
tests (``would_block``, ``is_eintr``); ``is_ip_address``.
http.server's ``ThreadingHTTPServer`` and ``BaseHTTPRequestHandler`` are in
:mod:`katcp_sync.compat.http_server`, imported when first used: their old
names here still work.
"""
from __future__ import absolute_import, division, print_function

import errno
import select
import socket
from typing import TYPE_CHECKING, Any, Dict, Optional, Tuple, Type  # noqa: F401

from .language import MODULE_GETATTR, PY2, lazy_names

# ------------------------------------------------------------------ exceptions
if PY2:
    class ConnectionError(OSError):  # noqa: A001
        """Python 3's ConnectionError (a plain OSError subclass on Python 2)."""

    class BrokenPipeError(ConnectionError):  # noqa: A001
        pass

    class ConnectionResetError(ConnectionError):  # noqa: A001
        pass

    class ConnectionAbortedError(ConnectionError):  # noqa: A001
        """Python 3's ConnectionAbortedError."""

    class ConnectionRefusedError(ConnectionError):  # noqa: A001
        """Python 3's ConnectionRefusedError."""

    class TimeoutError(OSError):  # noqa: A001
        pass

    class FileNotFoundError(IOError):  # noqa: A001
        pass

    class PermissionError(OSError):  # noqa: A001
        """Python 3's PermissionError (the web view's refusal of requests)."""

    _ERRNO_ERRORS = {
        errno.ECONNREFUSED: ConnectionRefusedError, errno.ECONNRESET: ConnectionResetError,
        errno.ECONNABORTED: ConnectionAbortedError, errno.EPIPE: BrokenPipeError,
        errno.ETIMEDOUT: TimeoutError,
    }  # type: Dict[int, Type[OSError]]

    def os_error(err, message):
        # type: (Optional[int], str) -> OSError
        """``OSError(err, message)``, which 3.3+ turns into the subclass of
        ``err`` (ConnectionRefusedError for ECONNREFUSED ...); 2.7 too."""
        return _ERRNO_ERRORS.get(err, OSError)(err, message)  # type: ignore

    def as_os_error(exc):
        # type: (BaseException) -> BaseException
        """A socket error as 3.x raises it: an OSError (2.7's socket.error,
        gaierror and herror are IOErrors), of the errno's subclass."""
        if isinstance(exc, OSError) or not isinstance(exc, socket.error):
            return exc
        err = getattr(exc, "errno", None)
        return os_error(err, getattr(exc, "strerror", None) or str(exc))
else:
    ConnectionError = ConnectionError  # noqa: A001
    BrokenPipeError = BrokenPipeError  # noqa: A001
    ConnectionResetError = ConnectionResetError  # noqa: A001
    ConnectionAbortedError = ConnectionAbortedError  # noqa: A001
    ConnectionRefusedError = ConnectionRefusedError  # noqa: A001
    TimeoutError = TimeoutError  # noqa: A001
    FileNotFoundError = FileNotFoundError  # noqa: A001
    PermissionError = PermissionError  # noqa: A001
    os_error = OSError  # type: ignore  # noqa

    def as_os_error(exc):
        # type: (BaseException) -> BaseException
        return exc

#: Catch these around socket calls (socket.error is an IOError on 2.7, not an OSError).
SOCKET_ERRORS = (socket.error, OSError)  # type: Tuple[Type[OSError], ...]

#: Catch these around select()/poll() (select.error is no OSError on 2.7).
SELECT_ERRORS = (select.error, OSError)  # type: Tuple[Type[BaseException], ...]

_RETRY = frozenset([errno.EAGAIN, errno.EWOULDBLOCK, errno.EINTR])


def would_block(exc):
    # type: (BaseException) -> bool
    """True for what 3.x raises as BlockingIOError or InterruptedError."""
    return getattr(exc, "errno", None) in _RETRY


def is_eintr(exc):
    # type: (BaseException) -> bool
    """True for an EINTR failure (3.5+ retries those itself, PEP 475; 2.7 does not)."""
    err = getattr(exc, "errno", None)
    if err is None and getattr(exc, "args", None):
        err = exc.args[0]   # select.error on 2.7 has no errno attribute
    return err == errno.EINTR


def is_ip_address(text):
    # type: (str) -> bool
    """True if ``text`` is an IPv4 or IPv6 address literal (not a host name)."""
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, text)
        except (socket.error, ValueError, UnicodeError):
            continue
        if family == socket.AF_INET and text.count(".") != 3:
            continue   # inet_pton accepts no short forms, but be explicit
        return True
    return False


# http.server's classes moved to .http_server, loaded when first used (PEP 562).
if TYPE_CHECKING or not MODULE_GETATTR:
    from .http_server import BaseHTTPRequestHandler, ThreadingHTTPServer  # noqa: F401
else:
    __getattr__ = lazy_names(__name__, __package__, {
        "BaseHTTPRequestHandler": ".http_server", "ThreadingHTTPServer": ".http_server"})
