"""Everything that depends on the Python version (2.7 or 3.6+), in one place.

Other modules import these names as ``compat.X`` and never test
``sys.version_info`` themselves. On Python 3 each name is the standard
library's object or a one-line function, bound at import time, so hot paths
pay nothing for the indirection (but for the web view's two http.server
classes, which load when first used: see ``http_server``). Also
katcp-python's ``katcp.compat`` helpers (``ensure_native_str`` and
friends), which exist for the same reason. Runtime dependencies: six, and on Python 2 the stdlib backports
futures, selectors34, enum34 and typing. Every function here may be called
from any thread.

One job per module (each imports only the ones listed before it):
``clock`` (``monotonic``, ``thread_time``), ``language`` (the language and moved stdlib
modules), ``text`` (bytes and the native str), ``net`` (OS errors, sockets),
``http_server`` (``ThreadingHTTPServer``, ``BaseHTTPRequestHandler``; not
imported with the package), ``waits`` (``wait_timeout``, ``Event``, ``TimedLock``,
``Condition``), ``futures`` (resolve-once ``Future``, ``wait_future``),
``threads`` and ``console`` (terminal, stderr).
"""
from __future__ import absolute_import, division, print_function

from typing import TYPE_CHECKING

from .clock import monotonic, thread_time
from .language import (
    MODULE_GETATTR, NO_DEFAULT, PY2, REQUIRED, Protocol, SimpleNamespace, chained,
    collections_abc, function_of, get_args, get_origin, isfinite, kwonly_done, kwonly_pop,
    lazy_names, ordered_dict, parameter_default, positional_parameters, queue, round_int,
    selectors)
from .text import (
    byte_chars, byte_const, decode_lossless, encode_utf8, ensure_native_str, is_bytes, is_text,
    join_bytes, native_ascii, native_latin1, native_str, native_text, readable_text, to_bytes,
    wire_bytes, wire_text)
from .net import (  # noqa: A004 (Python 2 has none of these exceptions)
    SELECT_ERRORS, SOCKET_ERRORS, BrokenPipeError, ConnectionAbortedError, ConnectionError,
    ConnectionRefusedError, ConnectionResetError, FileNotFoundError, PermissionError,
    TimeoutError, as_os_error, is_eintr, is_ip_address, os_error, would_block)
from .waits import LONGEST_WAIT, Condition, Event, TimedLock, _FastEvent, wait_timeout
from .futures import (
    Future, InvalidStateError, ResultTimeout, future_result, set_future_exception,
    set_future_result, wait_future)
from .threads import LOCKS_YIELD_GIL, RLock, cpu_count, daemon_thread, get_ident, join_thread, main_thread
from .console import READLINE_NUDGE, terminal_columns

# The web view's http.server (slow to import: email, html, ssl...) loads
# when compat.ThreadingHTTPServer or compat.BaseHTTPRequestHandler is first used.
if TYPE_CHECKING or not MODULE_GETATTR:
    from .http_server import BaseHTTPRequestHandler, ThreadingHTTPServer
else:
    __getattr__ = lazy_names(__name__, __package__, {
        "BaseHTTPRequestHandler": ".http_server", "ThreadingHTTPServer": ".http_server"})
