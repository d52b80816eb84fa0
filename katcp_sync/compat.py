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
import os
import select
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
SOCKET_ERRORS = (socket.error, OSError)  # type: Tuple[Type[BaseException], ...]
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
        self._waiters = []  # type: List[_PipeWaiter]

    def is_set(self):
        # type: () -> bool
        return self._flag

    isSet = is_set

    def set(self):
        # type: () -> None
        with self._lock:
            self._flag = True
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
            self._waiters.append(waiter)
        try:
            deadline = None if timeout is None else monotonic() + timeout
            while not self._flag:
                remaining = None if deadline is None else deadline - monotonic()
                if remaining is not None and remaining <= 0:
                    break
                waiter.sleep(remaining)
            return self._flag
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


BaseHTTPRequestHandler = six.moves.BaseHTTPServer.BaseHTTPRequestHandler

if sys.version_info >= (3, 7):
    from http.server import ThreadingHTTPServer
else:
    class ThreadingHTTPServer(six.moves.socketserver.ThreadingMixIn,  # type: ignore[no-redef]
                              six.moves.BaseHTTPServer.HTTPServer, object):
        """http.server.ThreadingHTTPServer (3.7+): one daemon thread per connection."""
        daemon_threads = True


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

_FUTURE_DONE = frozenset([_cf_base.CANCELLED, _cf_base.CANCELLED_AND_NOTIFIED, _cf_base.FINISHED])


class _Future38(_cf.Future):
    """``concurrent.futures.Future`` with 3.8's set_result/set_exception:
    InvalidStateError when the future is already done (before 3.8 they
    overwrote the outcome, even of a cancelled future)."""

    def set_result(self, result):
        # type: (Any) -> None
        self._resolve("_result", result, "add_result")

    def set_exception(self, exception):
        # type: (Optional[BaseException]) -> None
        self._resolve("_exception", exception, "add_exception")

    def _resolve(self, field, value, add):
        # type: (str, Any, str) -> None
        with self._condition:
            if self._state in _FUTURE_DONE:
                raise InvalidStateError("%r already done" % (self,))
            setattr(self, field, value)
            if field == "_exception" and hasattr(self, "_traceback"):
                # The Python 2 backport keeps the traceback apart.
                self._traceback = sys.exc_info()[2] if sys.exc_info()[1] is value else None
            self._state = _cf_base.FINISHED
            for waiter in self._waiters:
                getattr(waiter, add)(self)
            self._condition.notify_all()
        self._invoke_callbacks()  # type: ignore[attr-defined]


class _Future27(_Future38):
    """Python 2: also precise, Ctrl-C-interruptible ``result(timeout)`` and
    ``exception(timeout)`` (the backport's poll with sleeps up to 50 ms, and
    its untimed wait ignores Ctrl-C)."""

    def _wait_done(self, timeout):
        # type: (Optional[float]) -> bool
        if self._state in _FUTURE_DONE:
            return True
        waiter = _PipeWaiter.current()
        with self._condition:
            if self._state in _FUTURE_DONE:
                return True
            pipes = self.__dict__.setdefault("_pipe_waiters", [])
            pipes.append(waiter)
        try:
            deadline = None if timeout is None else monotonic() + timeout
            while self._state not in _FUTURE_DONE:
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
