"""The terminal and stderr across Pythons (the command line tool):
``terminal_columns``, ``READLINE_NUDGE``, and on Python 2 a stand-in for
Python 3's ``logging.lastResort`` on katcp_sync's loggers (installed at
import)."""
from __future__ import absolute_import, division, print_function

import os
import shutil
import sys
from typing import Any  # noqa: F401

from .language import PY2


def terminal_columns(default=80):
    # type: (int) -> int
    """Width of the terminal on stdout ($COLUMNS first), as shutil.get_terminal_size (3.3+)."""
    if hasattr(shutil, "get_terminal_size"):
        return shutil.get_terminal_size((default, 24)).columns
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    try:   # Python 2: ask the terminal
        import fcntl
        import struct
        import termios
        size = struct.unpack("hh", fcntl.ioctl(sys.stdout.fileno(), termios.TIOCGWINSZ, b"    "))
    except (IOError, OSError, ValueError, AttributeError):
        return default
    return size[1] or default


#: Whether ``katcp-sync shell`` may nudge a Ctrl-C out of readline with a no-op
#: signal: Python 2 has no signal.pthread_kill, and on 3.6 a signal handled
#: while readline returns with KeyboardInterrupt set ends input() in a
#: SystemError. Without it a Ctrl-C that lands on another thread, or while
#: readline is busy, acts when Enter is pressed.
READLINE_NUDGE = sys.version_info >= (3, 7)


if PY2:
    import logging

    class _LastResort(logging.Handler):
        """Python 3's ``logging.lastResort`` for katcp_sync's loggers on 2.7:
        warnings and errors (a failed connect, say) go to stderr as bare
        messages when the application has configured no handler, instead of
        Python 2's "No handlers could be found" once."""

        def __init__(self):
            # type: () -> None
            logging.Handler.__init__(self, logging.WARNING)

        def emit(self, record):
            # type: (logging.LogRecord) -> None
            logger = logging.getLogger(record.name)  # type: Any
            while logger is not None:
                if any(handler is not self for handler in logger.handlers):
                    return          # the application logs it
                if not logger.propagate:
                    break
                logger = logger.parent
            try:
                sys.stderr.write(record.getMessage() + "\n")
            except Exception:  # noqa: BLE001 (as logging's own handlers do)
                self.handleError(record)

    logging.getLogger("katcp_sync").addHandler(_LastResort())
