"""How messages write addresses and durations: one style for every log and error.

:func:`format_address` writes ``host:port`` (IPv6 hosts in brackets) and
:func:`format_seconds` a duration rounded for reading (``"3.0"``,
``"0.25"``); messages add the unit (``"timed out after 3.0 seconds"``,
``"idle for 0.5 s"``). L0: no package imports, so every layer (the sans-IO
core included) can use them; :mod:`katcp_sync.tcp` re-exports both.
Pure functions; any thread.
"""

from __future__ import absolute_import, division, print_function

from typing import Optional

__all__ = ["format_address", "format_seconds"]


def format_address(addr):
    # type: (object) -> str
    """Format a socket address as ``"host:port"`` (IPv6 as ``"[::1]:port"``)."""
    if isinstance(addr, tuple) and len(addr) >= 2:
        host, port = addr[0], addr[1]
        if ":" in host:
            return "[%s]:%d" % (host, port)
        return "%s:%d" % (host, port)
    return str(addr) if addr else "unknown"


def format_seconds(seconds):
    # type: (Optional[float]) -> str
    """A duration as people read it: ``"3.0"`` rather than ``"3.003591"``.

    One decimal from a second up, two significant digits below (``"0.25"``);
    used in every message that states a time (timeouts, retries). ``None``
    (a wait without a limit, which never times out) gives ``"None"``, so a
    message is always built.
    """
    if seconds is None:
        return "None"
    if seconds >= 1.0:
        return "%.1f" % seconds
    return "%.2g" % seconds
