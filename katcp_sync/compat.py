"""Everything that depends on the Python version (2.7 or 3.6+), in one place.

Other modules import these names and never test ``sys.version_info``
themselves. Also katcp-python's ``katcp.compat`` helpers (``ensure_native_str``
and friends), which exist for the same reason. Runtime dependencies: six, and
on Python 2 the stdlib backports futures, selectors34, enum34 and typing.
Every function here may be called from any thread.
"""
from __future__ import absolute_import, division, print_function

import collections
import ctypes
import ctypes.util
import errno
import math
import os
import select
import shutil
import socket
import sys
import threading
import time
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Text, Tuple, Type, Union  # noqa: F401

import six

PY2 = six.PY2

try:
    import selectors  # noqa: F401
except ImportError:  # Python 2: the PyPI backport of the 3.4 stdlib module (PSF licence)
    import selectors34 as selectors  # type: ignore  # noqa: F401

if PY2:
    import collections as collections_abc  # type: ignore  # noqa: F401
else:
    import collections.abc as collections_abc  # noqa: F401

queue = six.moves.queue

# ------------------------------------------------------------------ monotonic clock
if hasattr(time, "monotonic"):
    monotonic = time.monotonic
else:  # Python 2 on Linux/BSD/macOS: clock_gettime(CLOCK_MONOTONIC), ~1 us per call
    class _Timespec(ctypes.Structure):
        _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]

    _CLOCK_MONOTONIC = {"darwin": 6, "freebsd": 4, "openbsd": 3, "netbsd": 3}.get(
        sys.platform.rstrip("0123456789"), 1)
    _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    try:
        _clock_gettime = _libc.clock_gettime
    except AttributeError:  # glibc < 2.17 keeps it in librt
        _clock_gettime = ctypes.CDLL(ctypes.util.find_library("rt"), use_errno=True).clock_gettime
    _clock_gettime.argtypes = [ctypes.c_int, ctypes.POINTER(_Timespec)]

    def monotonic():  # type: ignore[misc]
        # type: () -> float
        """Seconds of CLOCK_MONOTONIC (the clock of Python 3's time.monotonic)."""
        ts = _Timespec()
        if _clock_gettime(_CLOCK_MONOTONIC, ctypes.byref(ts)) != 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err))
        return ts.tv_sec + ts.tv_nsec * 1e-9

# ------------------------------------------------------------------ text and bytes
if PY2:
    def native_str(data, errors="strict"):
        # type: (bytes, str) -> str
        """Bytes from the wire -> native str (Python 2: the bytes themselves)."""
        return data

    def wire_bytes(text):
        # type: (Any) -> bytes
        """Native str/unicode -> bytes (Python 2: str unchanged, unicode as UTF-8)."""
        return text.encode("utf-8") if isinstance(text, six.text_type) else text

    def decode_lossless(data):
        # type: (bytes) -> str
        return data       # "surrogateescape" does not exist on 2.7: keep the bytes
else:
    def native_str(data, errors="strict"):
        # type: (bytes, str) -> str
        """Bytes from the wire -> native str (Python 3: decoded as UTF-8)."""
        return data.decode("utf-8", errors)

    def wire_bytes(text):
        # type: (Any) -> bytes
        return text.encode("utf-8", "surrogateescape") if isinstance(text, str) else text

    def decode_lossless(data):
        # type: (bytes) -> str
        return data.decode("utf-8", "surrogateescape")


def byte_const(char):
    # type: (bytes) -> Any
    """One byte as ``data[i]`` yields it (int on 3.x, 1-char str on 2.7).

    ``X in data`` and ``data[i] == X`` then work on both, and stay memchr-fast
    on 3.x (an int needle is ~4x faster there than a bytes needle).
    """
    return char[0]


# ------------------------------------------------------------------ exceptions
if PY2:
    class ConnectionError(OSError):  # noqa: A001
        """Python 3's ConnectionError (a plain OSError subclass on Python 2)."""

    class BrokenPipeError(ConnectionError):  # noqa: A001
        pass

    class ConnectionResetError(ConnectionError):  # noqa: A001
        pass

    class TimeoutError(OSError):  # noqa: A001
        pass

    class FileNotFoundError(IOError):  # noqa: A001
        pass
else:
    ConnectionError = ConnectionError  # noqa: A001
    BrokenPipeError = BrokenPipeError  # noqa: A001
    ConnectionResetError = ConnectionResetError  # noqa: A001
    TimeoutError = TimeoutError  # noqa: A001
    FileNotFoundError = FileNotFoundError  # noqa: A001

#: Catch these around socket calls (socket.error is an IOError on 2.7, not an OSError).
SOCKET_ERRORS = (socket.error, OSError)  # type: Tuple[Type[OSError], ...]
_RETRY = frozenset([errno.EAGAIN, errno.EWOULDBLOCK, errno.EINTR])


def would_block(exc):
    # type: (BaseException) -> bool
    """True for what 3.x raises as BlockingIOError or InterruptedError."""
    return getattr(exc, "errno", None) in _RETRY


def chained(exc, cause):
    # type: (BaseException, Optional[BaseException]) -> BaseException
    """``raise chained(X, Y)`` is ``raise X from Y`` (3.x); 2.7 keeps no chain."""
    exc.__cause__ = cause
    exc.__suppress_context__ = True
    return exc


# ------------------------------------------------------------------ keyword-only args


class _Required(object):
    def __repr__(self):
        # type: () -> str
        return "<required>"


REQUIRED = _Required()  # type: Any


def kwonly_pop(kwargs, name, default):
    # type: (Dict[str, Any], str, Any) -> Any
    """Pop keyword-only argument ``name`` (``def f(*args, name=default)`` on 3.x)."""
    try:
        return kwargs.pop(name)
    except KeyError:
        if default is REQUIRED:
            raise TypeError("missing required keyword-only argument %r" % (name,))
        return default


def kwonly_done(func_name, kwargs):
    # type: (str, Dict[str, Any]) -> None
    """Raise the TypeError 3.x raises for an unexpected keyword argument."""
    if kwargs:
        raise TypeError("%s() got an unexpected keyword argument %r"
                        % (func_name, sorted(kwargs)[0]))


# ------------------------------------------------------------------ waiting
class _PipeWaiter(object):
    """One per thread: a non-blocking pipe that set() writes a byte to.

    select() on it wakes within ~0.1 ms of set(), and in the main thread
    Ctrl-C raises KeyboardInterrupt at once (select fails with EINTR).
    Python 2's Condition.wait(timeout) polls with sleeps of up to 50 ms
    instead, and Lock.acquire() cannot be interrupted at all.
    """

    _local = threading.local()

    def __init__(self):
        # type: () -> None
        import fcntl
        self.rfd, self.wfd = os.pipe()
        for fd in (self.rfd, self.wfd):
            fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | os.O_NONBLOCK)
            fcntl.fcntl(fd, fcntl.F_SETFD, fcntl.FD_CLOEXEC)

    def __del__(self):
        for fd in (self.rfd, self.wfd):
            try:
                os.close(fd)
            except OSError:
                pass

    @classmethod
    def current(cls):
        # type: () -> _PipeWaiter
        waiter = getattr(cls._local, "waiter", None)
        if waiter is None:
            waiter = cls._local.waiter = cls()
        return waiter

    def wake(self):
        # type: () -> None
        try:
            os.write(self.wfd, b"x")
        except OSError as exc:   # full: a wake-up is pending anyway
            if exc.errno != errno.EAGAIN:
                raise

    def sleep(self, timeout):
        # type: (Optional[float]) -> None
        """Sleep until woken or ``timeout``; spurious wake-ups are allowed."""
        try:
            ready = select.select([self.rfd], [], [], timeout)[0]
        except (select.error, OSError) as exc:  # EINTR from a signal that did not raise
            if exc.args[0] != errno.EINTR:
                raise
            return
        if ready:
            try:
                os.read(self.rfd, 4096)
            except OSError as exc:
                if exc.errno != errno.EAGAIN:
                    raise


class _FastEvent(object):
    """threading.Event with precise, Ctrl-C-interruptible waits on Python 2."""

    def __init__(self):
        # type: () -> None
        self._lock = threading.Lock()
        self._flag = False
        # Bumped by each set(): a waiter returns True once it changed, even
        # if clear() came before it looked (as threading.Event does), and
        # set() is the only one who takes waiters off the list.
        self._sets = 0
        self._waiters = []  # type: List[_PipeWaiter]

    def is_set(self):
        # type: () -> bool
        return self._flag

    isSet = is_set

    def set(self):
        # type: () -> None
        with self._lock:
            self._flag = True
            self._sets += 1
            waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            waiter.wake()

    def clear(self):
        # type: () -> None
        with self._lock:
            self._flag = False

    def wait(self, timeout=None):
        # type: (Optional[float]) -> bool
        if self._flag:
            return True
        waiter = _PipeWaiter.current()
        with self._lock:
            if self._flag:
                return True
            sets = self._sets
            self._waiters.append(waiter)
        try:
            deadline = None if timeout is None else monotonic() + timeout
            while self._sets == sets:
                remaining = None if deadline is None else deadline - monotonic()
                if remaining is not None and remaining <= 0:
                    break
                waiter.sleep(remaining)
            return self._sets != sets or self._flag
        finally:
            with self._lock:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)


if PY2:
    Event = _FastEvent  # type: Callable[[], Any]
else:
    Event = threading.Event


def wait_future(future, timeout=None):
    # type: (Any, Optional[float]) -> bool
    """Wait until ``future`` is done (True) or ``timeout`` passes (False).

    On Python 2 the futures backport's result(timeout) polls (up to 50 ms late);
    this waits precisely and can be interrupted by Ctrl-C.
    """
    if future.done():
        return True
    if not PY2:
        import concurrent.futures
        done, _ = concurrent.futures.wait([future], timeout)
        return bool(done)
    waiter = getattr(future, "_wait_done", None)   # compat.Future: no callback left behind
    if waiter is not None:
        return waiter(timeout)
    event = _FastEvent()
    future.add_done_callback(lambda _: event.set())
    return event.wait(timeout)


# ------------------------------------------------------------------ typing introspection
def get_origin(tp):
    # type: (Any) -> Any
    """typing.get_origin for 3.6-3.7 too (annotated.py)."""
    import typing
    if hasattr(typing, "get_origin"):
        return typing.get_origin(tp)
    origin = getattr(tp, "__origin__", None)
    return {typing.Tuple: tuple, typing.List: list, typing.Dict: dict}.get(origin, origin)


def get_args(tp):
    # type: (Any) -> Tuple[Any, ...]
    import typing
    if hasattr(typing, "get_args"):
        return typing.get_args(tp)
    return tuple(getattr(tp, "__args__", None) or ())


# ------------------------------------------------------------------ katcp-python's katcp.compat
def ensure_native_str(value):
    # type: (Union[str, bytes, Text]) -> str
    """Return ``value`` as the native ``str`` (text on Python 3, bytes on 2).

    Bytes are decoded as UTF-8 on Python 3; text is encoded as UTF-8 on 2.

    Raises:
        TypeError = None  # type: ``value`` is neither bytes nor text.
    """
    if isinstance(value, str):
        return value
    if isinstance(value, (bytes, six.text_type)):
        return native_str(value) if isinstance(value, bytes) else wire_bytes(value)  # type: ignore
    raise TypeError("Invalid type for string conversion: {}".format(type(value)))


def byte_chars(byte_string):
    # type: (bytes) -> List[bytes]
    """Return the one-byte ``bytes`` objects of ``byte_string``."""
    return [byte_string[i:i + 1] for i in range(len(byte_string))]


def is_bytes(value):
    # type: (object) -> bool
    """True for ``bytes`` (``str`` on Python 2)."""
    return isinstance(value, bytes)


def is_text(value):
    # type: (object) -> bool
    """True for text (``str`` on Python 3, ``str`` or ``unicode`` on 2)."""
    return isinstance(value, six.string_types)


# ------------------------------------------------------------------ typing
if TYPE_CHECKING or sys.version_info >= (3, 8):
    from typing import Protocol
else:
    class Protocol(object):
        """Stand-in for ``typing.Protocol`` (3.8+): structural types are for
        the type checker, which runs on a newer Python."""


# ------------------------------------------------------------------ futures
try:
    from concurrent.futures import InvalidStateError
except ImportError:  # before 3.8 (and the Python 2 backport)
    from concurrent.futures import _base as _futures_base

    class InvalidStateError(_futures_base.Error):  # type: ignore[no-redef]
        """The future is already done (3.8's concurrent.futures.InvalidStateError)."""


def cpu_count():
    # type: () -> int
    """Number of CPUs (1 when unknown)."""
    try:
        return os.cpu_count() or 1  # type: ignore[attr-defined]
    except AttributeError:  # Python 2
        import multiprocessing
        try:
            return multiprocessing.cpu_count()
        except NotImplementedError:
            return 1


def main_thread():
    # type: () -> threading.Thread
    """The main thread (threading.main_thread on 3.4+)."""
    try:
        return threading.main_thread()  # type: ignore[attr-defined]
    except AttributeError:  # Python 2
        return threading._shutdown.__self__ if hasattr(threading._shutdown, "__self__") else [  # type: ignore
            t for t in threading.enumerate() if isinstance(t, threading._MainThread)][0]  # type: ignore


# ------------------------------------------------------------------ networking
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


if PY2:
    class BaseHTTPRequestHandler(six.moves.BaseHTTPServer.BaseHTTPRequestHandler, object):  # type: ignore
        """BaseHTTPServer's handler as a new-style class (super() works)."""

        def header_content_type(self):
            # type: () -> str
            return self.headers.gettype()
else:
    class BaseHTTPRequestHandler(six.moves.BaseHTTPServer.BaseHTTPRequestHandler):  # type: ignore
        """http.server's handler, with :meth:`header_content_type` on every Python."""

        def header_content_type(self):
            # type: () -> str
            """The request's media type, lower case (``text/plain`` if none)."""
            return self.headers.get_content_type()

if sys.version_info >= (3, 7):
    from http.server import ThreadingHTTPServer
else:
    class ThreadingHTTPServer(six.moves.socketserver.ThreadingMixIn,  # type: ignore[no-redef]
                              six.moves.BaseHTTPServer.HTTPServer, object):
        """http.server.ThreadingHTTPServer (3.7+): one thread per connection.

        With ``daemon_threads`` False and ``block_on_close`` True (3.7's
        default for ThreadingMixIn), :meth:`server_close` joins the
        connection threads, as 3.7+ does.
        """

        daemon_threads = True
        block_on_close = True

        def process_request(self, request, client_address):
            # type: (Any, Any) -> None
            thread = threading.Thread(target=self.process_request_thread,
                                      args=(request, client_address))
            thread.daemon = self.daemon_threads
            if not thread.daemon and self.block_on_close:
                threads = self.__dict__.setdefault("_threads", [])
                threads[:] = [t for t in threads if t.is_alive()]
                threads.append(thread)
            thread.start()

        def server_close(self):
            # type: () -> None
            six.moves.BaseHTTPServer.HTTPServer.server_close(self)
            threads = self.__dict__.pop("_threads", [])
            if self.block_on_close:
                for thread in threads:
                    thread.join()


# ------------------------------------------------------------------ command line and web view (p2-tools)
if PY2:
    class PermissionError(OSError):  # noqa: A001
        """Python 3's PermissionError (the web view's refusal of requests)."""
else:
    PermissionError = PermissionError  # noqa: A001

if PY2:
    import codecs

    def _backslash_escape_bytes(exc):
        # type: (UnicodeDecodeError) -> Tuple[Text, int]
        bad = exc.object[exc.start:exc.end]
        return u"".join(u"\\x%02x" % ord(c) for c in bad), exc.end

    # Python 2 knows "backslashreplace" for encoding only.
    codecs.register_error("katcp_sync.backslashreplace", _backslash_escape_bytes)

    def readable_text(data):
        # type: (bytes) -> str
        """Bytes as native text to show: UTF-8 (as bytes on Python 2), other bytes as ``\\xNN``."""
        return data.decode("utf-8", "katcp_sync.backslashreplace").encode("utf-8")
else:
    def readable_text(data):
        # type: (bytes) -> str
        """Bytes as native text to show: UTF-8 decoded, other bytes as ``\\xNN``."""
        return data.decode("utf-8", "backslashreplace")


try:
    from math import isfinite
except ImportError:  # Python 2
    def isfinite(number):  # type: ignore[misc]
        # type: (float) -> bool
        """math.isfinite (3.2+): neither infinite nor NaN."""
        return not (math.isinf(number) or math.isnan(number))


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


# ------------------------------------------------------------------ p2-core: futures that resolve once
# Python 3.8's Future.set_result/set_exception raise InvalidStateError on a
# done (finished or cancelled) future; before 3.8, and in the Python 2
# backport, they overwrite the outcome and run the done-callbacks again.
# katcp_sync resolves futures from racing threads and relies on the 3.8
# behaviour: call these instead of the methods.
if TYPE_CHECKING or sys.version_info >= (3, 8):
    import concurrent.futures as _cf

    if TYPE_CHECKING:
        def set_future_result(future, result):
            # type: (_cf.Future[Any], Any) -> None
            """``future.set_result(result)``, with InvalidStateError if done."""

        def set_future_exception(future, exc):
            # type: (_cf.Future[Any], Optional[BaseException]) -> None
            """``future.set_exception(exc)``, with InvalidStateError if done."""
    else:  # the methods themselves: no indirection on 3.8+
        set_future_result = _cf.Future.set_result
        set_future_exception = _cf.Future.set_exception
else:
    from concurrent.futures import _base as _cf_base

    _DONE_STATES = frozenset([_cf_base.CANCELLED, _cf_base.CANCELLED_AND_NOTIFIED,
                              _cf_base.FINISHED])

    def set_future_result(future, result):
        # type: (Any, Any) -> None
        """``future.set_result(result)``; InvalidStateError if already done (as 3.8).

        The callbacks run on the calling thread, after the future's lock is released.
        """
        with future._condition:
            if future._state in _DONE_STATES:
                raise InvalidStateError("%s: %r" % (future._state, future))
            future._result = result
            future._state = _cf_base.FINISHED
            for waiter in future._waiters:
                waiter.add_result(future)
            future._condition.notify_all()
        future._invoke_callbacks()

    def set_future_exception(future, exc):
        # type: (Any, BaseException) -> None
        """``future.set_exception(exc)``; InvalidStateError if already done (as 3.8)."""
        with future._condition:
            if future._state in _DONE_STATES:
                raise InvalidStateError("%s: %r" % (future._state, future))
            future._exception = exc
            if hasattr(future, "_traceback"):   # the Python 2 backport
                future._traceback = getattr(exc, "__traceback__", None)
            future._state = _cf_base.FINISHED
            for waiter in future._waiters:
                waiter.add_exception(future)
            future._condition.notify_all()
        future._invoke_callbacks()


# ------------------------------------------------------------------ p2-core: text and bytes of the codec
if PY2:
    def native_ascii(data):
        # type: (Union[bytes, bytearray, Text]) -> str
        """ASCII bytes or text -> native str; UnicodeError if not ASCII."""
        if isinstance(data, six.text_type):
            return data.encode("ascii")
        data = bytes(data)
        data.decode("ascii")   # validates
        return data

    def native_latin1(data):
        # type: (bytes) -> str
        """Bytes -> native str, one character per byte (for error messages)."""
        return data

    _UTF8_SURROGATE_RE = None  # type: Any

    def encode_utf8(text):
        # type: (Text) -> bytes
        """Text -> UTF-8; lone surrogates (not UTF-8) become ``?`` as on 3.x."""
        global _UTF8_SURROGATE_RE
        data = text.encode("utf-8")
        if b"\xed" in data:   # Python 2 encodes lone surrogates: 0xED 0xA0-0xBF ...
            if _UTF8_SURROGATE_RE is None:
                import re
                _UTF8_SURROGATE_RE = re.compile(b"\xed[\xa0-\xbf][\x80-\xbf]")
            data = _UTF8_SURROGATE_RE.sub(b"?", data)
        return data

    def native_text(value):
        # type: (Union[bytes, bytearray, Text]) -> str
        """bytes or text -> native str, losslessly (2.7: unicode as UTF-8)."""
        if isinstance(value, six.text_type):
            return value.encode("utf-8")
        return bytes(value)

    def join_bytes(pieces):
        # type: (List[Union[bytes, bytearray]]) -> bytes
        """``b"".join(pieces)`` that also takes bytearrays and memoryviews (2.7's does not)."""
        return b"".join([p if type(p) is bytes else to_bytes(p) for p in pieces])
else:
    def native_ascii(data):
        # type: (Union[bytes, bytearray, Text]) -> str
        """ASCII bytes or text -> native str; UnicodeError if not ASCII."""
        if isinstance(data, str):
            data.encode("ascii")   # validates
            return data
        return bytes(data).decode("ascii")

    def native_latin1(data):
        # type: (bytes) -> str
        """Bytes -> native str, one character per byte (for error messages)."""
        return data.decode("latin-1")

    def encode_utf8(text):
        # type: (Text) -> bytes
        """Text -> UTF-8; lone surrogates (not UTF-8) become ``?``."""
        try:
            return text.encode("utf-8")
        except UnicodeEncodeError:
            return text.encode("utf-8", "replace")

    def native_text(value):
        # type: (Union[bytes, bytearray, Text]) -> str
        """bytes or text -> native str, losslessly (bytes decoded with surrogateescape)."""
        if isinstance(value, str):
            return value
        return bytes(value).decode("utf-8", "surrogateescape")

    join_bytes = b"".join


# ------------------------------------------------------------------ p2-core: handler signatures
def positional_parameters(func):
    # type: (Callable[..., Any]) -> List[str]
    """Names of ``func``'s positional parameters, then its ``*args`` name if any.

    As ``inspect.signature`` sees them: wrappers are followed through
    ``__wrapped__`` (wrapt, functools.wraps) and a bound method has no ``self``.
    """
    import inspect
    if hasattr(inspect, "signature"):
        names = []
        for param in inspect.signature(func).parameters.values():
            if param.kind in (param.POSITIONAL_ONLY, param.POSITIONAL_OR_KEYWORD):
                names.append(param.name)
            elif param.kind is param.VAR_POSITIONAL:
                names.append(param.name)
                break
            else:
                break
        return names
    # Python 2: getargspec, on the innermost wrapped function
    bound = False
    while True:
        if inspect.ismethod(func):
            bound = bound or func.__self__ is not None
            func = func.__func__
        elif hasattr(func, "__wrapped__"):
            func = func.__wrapped__  # type: ignore[attr-defined]
        else:
            break
    spec = inspect.getargspec(func)  # type: ignore[attr-defined]
    names = list(spec.args)
    if bound:
        del names[:1]
    if spec.varargs:
        names.append(spec.varargs)
    return names


# ------------------------------------------------------------------ p2-core: collections
#: A dict that keeps insertion order (dict itself from 3.6 on, CPython).
ordered_dict = collections.OrderedDict if PY2 else dict  # type: Type[Dict[Any, Any]]


# ------------------------------------------------------------------ p2-core: numbers
if PY2:
    import math as _math

    def round_int(value):
        # type: (float) -> int
        """``round(value)`` as Python 3 does it: an int, ties to even
        (Python 2's round returns a float and rounds ties away from zero)."""
        floor = _math.floor(value)
        diff = value - floor
        result = int(floor)
        if diff > 0.5 or (diff == 0.5 and result % 2):
            result += 1
        return result
else:
    round_int = round  # type: ignore[assignment]


# ------------------------------------------------------------------ p2-bench: client needs
try:
    from types import SimpleNamespace  # noqa: F401
except ImportError:  # Python 2
    class SimpleNamespace(object):  # type: ignore[no-redef]
        """Python 3's types.SimpleNamespace: attributes from keyword arguments."""

        def __init__(self, **kwargs):
            # type: (**Any) -> None
            self.__dict__.update(kwargs)


def function_of(method):
    # type: (Any) -> Any
    """The plain function behind a method looked up on a class.

    Python 2 makes a new unbound method at every class attribute access, so
    ``Sub.meth is Base.meth`` is always False there; compare
    ``function_of(Sub.meth) is function_of(Base.meth)`` instead.
    """
    return getattr(method, "__func__", method)


# ------------------------------------------------------------------ clients: waits and futures (p2-client)
# Precise, Ctrl-C-interruptible waits on Python 2 for the client's blocking
# paths (blocking_request, ReplyFuture.result(timeout), wait_protocol ...),
# and 3.8's "set_result on a done future raises InvalidStateError" before 3.8.
# On Python 3 the names are the stdlib ones (or a subclass only before 3.8),
# bound at import time: nothing costs more on 3.x.


class _TimedLock(object):
    """A lock whose ``acquire(True, timeout)`` is precise and interruptible.

    Python 2's ``Lock.acquire`` takes no timeout and ignores Ctrl-C. Waiters
    sleep on their thread's :class:`_PipeWaiter`; ``release()`` wakes them.
    """

    __slots__ = ("_lock", "_waiters")

    def __init__(self):
        # type: () -> None
        self._lock = threading.Lock()
        self._waiters = []  # type: List[_PipeWaiter]

    def acquire(self, blocking=True, timeout=-1):
        # type: (bool, float) -> bool
        """As Python 3's ``Lock.acquire``: ``timeout`` -1 waits forever."""
        lock = self._lock
        if lock.acquire(False):
            return True
        if not blocking:
            return False
        if timeout == 0:
            return False
        waiter = _PipeWaiter.current()
        waiters = self._waiters
        waiters.append(waiter)   # before the next try: a release meanwhile wakes us
        try:
            deadline = None if timeout is None or timeout < 0 else monotonic() + timeout
            while not lock.acquire(False):
                if deadline is None:
                    waiter.sleep(None)
                else:
                    remaining = deadline - monotonic()
                    if remaining <= 0:
                        return False
                    waiter.sleep(remaining)
            return True
        finally:
            try:
                waiters.remove(waiter)
            except ValueError:
                pass

    def release(self):
        # type: () -> None
        self._lock.release()
        for waiter in list(self._waiters):
            waiter.wake()

    def locked(self):
        # type: () -> bool
        return self._lock.locked()

    def __enter__(self):
        # type: () -> bool
        return self.acquire()

    def __exit__(self, *exc_info):
        # type: (*Any) -> None
        self.release()


import concurrent.futures as _cf  # noqa: E402
from concurrent.futures import _base as _cf_base  # noqa: E402


class _Future38(_cf.Future):
    """``concurrent.futures.Future`` with 3.8's set_result/set_exception:
    InvalidStateError when the future is already done (before 3.8 they
    overwrote the outcome, even of a cancelled future). The methods are
    p2-core's :func:`set_future_result` and :func:`set_future_exception`."""

    def set_result(self, result):
        # type: (Any) -> None
        set_future_result(self, result)

    def set_exception(self, exception):
        # type: (Optional[BaseException]) -> None
        set_future_exception(self, exception)


class _Future27(_Future38):
    """Python 2: also precise, Ctrl-C-interruptible ``result(timeout)`` and
    ``exception(timeout)`` (the backport's poll with sleeps up to 50 ms, and
    its untimed wait ignores Ctrl-C)."""

    def _wait_done(self, timeout):
        # type: (Optional[float]) -> bool
        if self.done():
            return True
        waiter = _PipeWaiter.current()
        with self._condition:
            if self._state in (_cf_base.CANCELLED, _cf_base.CANCELLED_AND_NOTIFIED,
                               _cf_base.FINISHED):
                return True
            pipes = self.__dict__.setdefault("_pipe_waiters", [])
            pipes.append(waiter)
        try:
            deadline = None if timeout is None else monotonic() + timeout
            while not self.done():
                remaining = None if deadline is None else deadline - monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                waiter.sleep(remaining)
            return True
        finally:
            with self._condition:
                pipes.remove(waiter)

    def _invoke_callbacks(self):
        # type: () -> None
        with self._condition:
            pipes = list(self.__dict__.get("_pipe_waiters", ()))
        for waiter in pipes:
            waiter.wake()
        super(_Future27, self)._invoke_callbacks()  # type: ignore[misc]

    def result(self, timeout=None):
        # type: (Optional[float]) -> Any
        self._wait_done(timeout)
        return super(_Future27, self).result(0)

    def exception(self, timeout=None):
        # type: (Optional[float]) -> Optional[BaseException]
        self._wait_done(timeout)
        return super(_Future27, self).exception(0)


#: ``TimedLock()``: Python 3's ``threading.Lock`` (acquire with a timeout) on every Python.
#: ``Future``: ``concurrent.futures.Future`` with 3.8+ semantics and precise waits.
if TYPE_CHECKING or sys.version_info >= (3, 8):
    from threading import Lock as TimedLock
    from concurrent.futures import Future
elif PY2:
    TimedLock = _TimedLock
    Future = _Future27
else:
    from threading import Lock as TimedLock
    Future = _Future38


if PY2:
    class _Condition27(threading._Condition):  # type: ignore[name-defined,misc]
        """Python 2: ``threading.Condition`` with 3.x's ``wait_for`` and precise,
        Ctrl-C-interruptible ``wait(timeout)`` (2.7's polls with sleeps up to 50 ms)."""

        def __init__(self, lock=None):
            # type: (Any) -> None
            super(_Condition27, self).__init__(lock)
            self._pipe_waiters = collections.deque()  # type: Any

        def wait(self, timeout=None):
            # type: (Optional[float]) -> bool
            if not self._is_owned():
                raise RuntimeError("cannot wait on un-acquired lock")
            token = [_PipeWaiter.current(), False]   # [waiter, notified]
            self._pipe_waiters.append(token)
            saved = self._release_save()
            try:
                deadline = None if timeout is None else monotonic() + timeout
                while not token[1]:
                    remaining = None if deadline is None else deadline - monotonic()
                    if remaining is not None and remaining <= 0:
                        break
                    token[0].sleep(remaining)
            finally:
                self._acquire_restore(saved)
                if not token[1]:
                    try:
                        self._pipe_waiters.remove(token)
                    except ValueError:
                        pass
            return token[1]

        def wait_for(self, predicate, timeout=None):
            # type: (Callable[[], Any], Optional[float]) -> Any
            deadline = None if timeout is None else monotonic() + timeout
            result = predicate()
            while not result:
                remaining = None
                if deadline is not None:
                    remaining = deadline - monotonic()
                    if remaining <= 0:
                        break
                self.wait(remaining)
                result = predicate()
            return result

        def notify(self, n=1):
            # type: (int) -> None
            if not self._is_owned():
                raise RuntimeError("cannot notify on un-acquired lock")
            waiters = self._pipe_waiters
            while waiters and n > 0:
                token = waiters.popleft()
                token[1] = True
                token[0].wake()
                n -= 1

        def notify_all(self):
            # type: () -> None
            self.notify(len(self._pipe_waiters))

        notifyAll = notify_all


#: ``threading.Condition`` (with ``wait_for``, precise waits on Python 2 too).
if TYPE_CHECKING or not PY2:
    from threading import Condition
else:
    Condition = _Condition27
# ------------------------------------------------------------------ I/O and server (reactor,
# connection, workers, lifecycle): socket errors, EINTR, threads, joins.
# Each name is bound once here; on 3.x it is the stdlib callable itself
# or a one-line function, so hot paths pay nothing for the indirection.
get_ident = six.moves._thread.get_ident  # type: Callable[[], int]

#: Catch these around select()/poll() (select.error is no OSError on 2.7).
SELECT_ERRORS = (select.error, OSError)  # type: Tuple[Type[BaseException], ...]


def is_eintr(exc):
    # type: (BaseException) -> bool
    """True for an EINTR failure (3.5+ retries those itself, PEP 475; 2.7 does not)."""
    err = getattr(exc, "errno", None)
    if err is None and getattr(exc, "args", None):
        err = exc.args[0]   # select.error on 2.7 has no errno attribute
    return err == errno.EINTR


if PY2:
    def to_bytes(data):
        # type: (Any) -> bytes
        """bytes of a bytes-like object (2.7: ``bytes(memoryview)`` is its repr)."""
        return data.tobytes() if isinstance(data, memoryview) else bytes(data)
else:
    to_bytes = bytes  # type: ignore  # noqa


def daemon_thread(target, name, args=()):
    # type: (Callable[..., Any], str, Tuple[Any, ...]) -> threading.Thread
    """A daemon thread (not started) running ``target(*args)``; join it
    with :func:`join_thread` (2.7's ``Thread`` takes no ``daemon=``)."""
    if not PY2:
        return threading.Thread(target=target, name=name, args=args, daemon=True)
    ended = _FastEvent()

    def run():
        # type: () -> None
        try:
            target(*args)
        finally:
            ended.set()

    thread = threading.Thread(target=run, name=name)
    thread.daemon = True
    thread._katcp_ended = ended  # type: ignore[attr-defined]
    return thread


if PY2:
    def join_thread(thread, timeout=None):
        # type: (threading.Thread, Optional[float]) -> None
        """``thread.join(timeout)``, precise and Ctrl-C-interruptible on 2.7.

        2.7's join() without a timeout cannot be interrupted, and with one it
        polls (up to 50 ms late). Threads made by :func:`daemon_thread` say
        when they end through a pipe; others are joined in slices."""
        ended = getattr(thread, "_katcp_ended", None)
        if ended is not None:
            if ended.wait(timeout):
                thread.join(1.0)   # only the thread's own exit bookkeeping is left
            return
        deadline = None if timeout is None else monotonic() + timeout
        while thread.is_alive():
            remaining = 0.25 if deadline is None else min(0.25, deadline - monotonic())
            if remaining <= 0:
                return
            thread.join(remaining)
else:
    join_thread = threading.Thread.join  # type: ignore  # noqa


if PY2:
    def future_result(future, timeout=None):
        # type: (Any, Optional[float]) -> Any
        """``future.result(timeout)``, without the futures backport's 50 ms polls."""
        if not wait_future(future, timeout):
            import concurrent.futures
            raise concurrent.futures.TimeoutError()
        return future.result(0)
else:
    def future_result(future, timeout=None):
        # type: (Any, Optional[float]) -> Any
        return future.result(timeout)


if PY2:
    class ConnectionAbortedError(ConnectionError):  # noqa: A001
        """Python 3's ConnectionAbortedError."""

    class ConnectionRefusedError(ConnectionError):  # noqa: A001
        """Python 3's ConnectionRefusedError."""
else:
    ConnectionAbortedError = ConnectionAbortedError  # noqa: A001
    ConnectionRefusedError = ConnectionRefusedError  # noqa: A001


if PY2:
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
    os_error = OSError  # type: ignore  # noqa

    def as_os_error(exc):
        # type: (BaseException) -> BaseException
        return exc
