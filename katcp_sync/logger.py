"""Device-side logging: ``#log`` informs to every client (spec section 6).

Two ways into the same ``#log`` stream, both filtered by the one global
level that ``?log-level`` sets (spec 6: the level is global to the device
and survives client reconnects):

* :class:`DeviceLogger` -- katcp-python's ``server.log`` object, with
  ``trace``/``debug``/``info``/``warn``/``error``/``fatal`` methods. Every
  message also goes to a Python logger.
* :class:`LogHandler` -- a :class:`logging.Handler` that turns records of the
  standard :mod:`logging` module into ``#log`` informs (aiokatcp's idea).

The server object is duck-typed (the Protocols :class:`LogServer` and
:class:`LoggingServer`): it needs ``mass_inform(msg)``,
``create_log_inform(level_name, msg, name, timestamp=None)`` and, for
:class:`LogHandler`, ``log`` (the :class:`DeviceLogger`).
"""

from __future__ import absolute_import, division, print_function

import logging
import threading
import time
from typing import Any, Optional

from .compat import Protocol
from . import compat
from .argtypes import Timestamp
from .message import Message

__all__ = ["DeviceLogger", "LogHandler", "LogServer", "LoggingServer"]

#: Python logger of :class:`DeviceLogger` messages. It lives under
#: ``katcp_sync`` so that :class:`LogHandler` does not send them twice.
DEVICE_PYTHON_LOGGER = "katcp_sync.device"


class DeviceLogger(object):
    """katcp-python's device logger: ``#log`` informs filtered by a level.

    Level numbers grow with severity (``ALL`` = 0 ... ``OFF`` = 7); a message
    is sent to the clients when its level is at least the current level,
    which starts at ``WARN``. Every method may be called from any thread.

    Args:
        device_server: the server whose clients receive the informs.
        root_logger: name used in ``#log`` informs when a call gives none.
        python_logger: Python logger that also receives every message (the
            default is ``logging.getLogger("katcp_sync.device")``).
    """

    ALL, TRACE, DEBUG, INFO, WARN, ERROR, FATAL, OFF = range(8)
    LEVELS = ["all", "trace", "debug", "info", "warn", "error", "fatal", "off"]
    PYTHON_LEVEL = {
        ALL: 0,
        TRACE: 5,
        DEBUG: logging.DEBUG,
        INFO: logging.INFO,
        WARN: logging.WARNING,
        ERROR: logging.ERROR,
        FATAL: logging.CRITICAL,
        OFF: logging.CRITICAL + 10,
    }

    def __init__(self, device_server, root_logger="root",
                 python_logger=None):
        # type: ("LogServer", str, Optional[logging.Logger]) -> None
        self._device_server = device_server
        self._root_logger_name = root_logger
        self._python_logger = python_logger or logging.getLogger(DEVICE_PYTHON_LOGGER)
        self._log_level = self.WARN

    @property
    def current_level(self):
        # type: () -> int
        """The current level number (read from any thread)."""
        return self._log_level

    def level_name(self, level=None):
        # type: (Optional[int]) -> str
        """Name of ``level``, or of the current level when ``None``."""
        if level is None:
            level = self._log_level
        return self.LEVELS[level]

    def level_from_name(self, level_name):
        # type: ("str | bytes") -> int
        """Level number for a name such as ``"warn"``.

        Raises:
            ValueError: the name is not one of :attr:`LEVELS`.
        """
        if isinstance(level_name, bytes):
            level_name = level_name.decode("ascii", "replace")
        try:
            return self.LEVELS.index(level_name)
        except ValueError:
            raise compat.chained(ValueError("Unknown logging level name '%s'" % level_name), None)

    def set_log_level(self, level):
        # type: (int) -> None
        """Set the level number below which messages are not sent."""
        if level not in range(len(self.LEVELS)):
            raise ValueError("Unknown logging level %r" % (level,))
        self._log_level = level

    def set_log_level_by_name(self, level_name):
        # type: ("str | bytes") -> None
        """Set the level by name (``"off"``, ``"fatal"``, ... ``"all"``)."""
        self._log_level = self.level_from_name(level_name)

    def log(self, level, msg, *args, **kwargs):
        # type: (int, str, *Any, **Any) -> None
        """Log ``msg % args`` at ``level``.

        Keyword args:
            name: dotted logger name for the inform (default ``root_logger``).
            timestamp: seconds since the Unix epoch (default now).
        """
        name = kwargs.pop("name", None) or self._root_logger_name
        timestamp = kwargs.pop("timestamp", None)
        text = (msg % args) if args else msg
        self._python_logger.log(self.PYTHON_LEVEL[level], "%s", text)
        if level >= self._log_level and level != self.OFF:
            server = self._device_server
            server.mass_inform(server.create_log_inform(
                self.LEVELS[level], text, name, timestamp=timestamp))

    def trace(self, msg, *args, **kwargs):
        # type: (str, *Any, **Any) -> None
        """Log at TRACE level."""
        self.log(self.TRACE, msg, *args, **kwargs)

    def debug(self, msg, *args, **kwargs):
        # type: (str, *Any, **Any) -> None
        """Log at DEBUG level."""
        self.log(self.DEBUG, msg, *args, **kwargs)

    def info(self, msg, *args, **kwargs):
        # type: (str, *Any, **Any) -> None
        """Log at INFO level."""
        self.log(self.INFO, msg, *args, **kwargs)

    def warn(self, msg, *args, **kwargs):
        # type: (str, *Any, **Any) -> None
        """Log at WARN level."""
        self.log(self.WARN, msg, *args, **kwargs)

    warning = warn

    def error(self, msg, *args, **kwargs):
        # type: (str, *Any, **Any) -> None
        """Log at ERROR level."""
        self.log(self.ERROR, msg, *args, **kwargs)

    def fatal(self, msg, *args, **kwargs):
        # type: (str, *Any, **Any) -> None
        """Log at FATAL level."""
        self.log(self.FATAL, msg, *args, **kwargs)

    @classmethod
    def log_to_python(cls, logger, msg):
        # type: (logging.Logger, Message) -> None
        """Replay a received ``#log level timestamp name text`` inform on ``logger``.

        For clients that want a device's log in their own Python logging.
        """
        args = [compat.wire_text(a) if isinstance(a, bytes) else str(a)
                for a in msg.arguments]
        if len(args) < 4:
            logger.warning("Malformed #log inform: %r", args)
            return
        level_name, timestamp, name, text = args[:4]
        try:
            level = cls.PYTHON_LEVEL[cls.LEVELS.index(level_name)]
        except ValueError:
            level = logging.INFO
        logger.log(level, "%s", text, extra={"katcp_name": name, "katcp_timestamp": timestamp})


class LogServer(Protocol):
    """What :class:`DeviceLogger` and :class:`LogHandler` need of a device server.

    Both methods are called on whichever thread logs: they must be thread-safe.
    """

    def mass_inform(self, msg):
        # type: (Message) -> None
        """Send ``msg`` to every client."""

    def create_log_inform(self, level_name, msg, name,
                          timestamp=None):
        # type: (str, str, str, Optional[float]) -> Message
        """Build ``#log level timestamp name message`` (spec 6.3)."""


class LoggingServer(LogServer, Protocol):
    """A :class:`LogServer` with its :class:`DeviceLogger` (``server.log``); any thread."""

    @property
    def log(self):
        # type: () -> DeviceLogger
        """The server's device logger (its ``?log-level``)."""


def katcp_level_of(levelno):
    # type: (int) -> int
    """The :class:`DeviceLogger` level for a Python :mod:`logging` level."""
    if levelno >= logging.CRITICAL:
        return DeviceLogger.FATAL
    if levelno >= logging.ERROR:
        return DeviceLogger.ERROR
    if levelno >= logging.WARNING:
        return DeviceLogger.WARN
    if levelno >= logging.INFO:
        return DeviceLogger.INFO
    if levelno >= logging.DEBUG:
        return DeviceLogger.DEBUG
    return DeviceLogger.TRACE


class LogHandler(logging.Handler):
    """Send Python log records to a device server's clients as ``#log``.

    Install it on any logger (``logging.getLogger().addHandler(LogHandler(server))``).
    Records are filtered by the server's ``?log-level`` on top of the usual
    handler level. Records of katcp_sync's own loggers are skipped, and a
    record logged while this handler is sending is dropped, so a problem in
    sending can never feed itself. May be used from any thread.

    Args:
        server: the device server whose clients receive the informs.
        level: the usual :class:`logging.Handler` level.
    """

    def __init__(self, server, level=logging.NOTSET):
        # type: (LoggingServer, int) -> None
        super(LogHandler, self).__init__(level)
        self._server = server
        self._busy = threading.local()

    def emit(self, record):
        # type: (logging.LogRecord) -> None
        """Send ``record`` if it passes the server's level (any thread)."""
        if record.name == "katcp_sync" or record.name.startswith("katcp_sync."):
            return
        if getattr(self._busy, "on", False):
            return
        level = katcp_level_of(record.levelno)
        if level < self._server.log.current_level:
            return
        self._busy.on = True
        try:
            server = self._server
            server.mass_inform(server.create_log_inform(
                DeviceLogger.LEVELS[level], self.format(record), record.name,
                timestamp=record.created))
        except Exception:
            self.handleError(record)
        finally:
            self._busy.on = False


def log_timestamp(timestamp, major):
    # type: (Optional[float], int) -> bytes
    """Format a ``#log`` timestamp (``None``: now) as the ``timestamp`` type
    does: seconds (v5) or integer milliseconds (v4). Any thread."""
    return _TIMESTAMP.encode(time.time() if timestamp is None else timestamp, major)


_TIMESTAMP = Timestamp()
