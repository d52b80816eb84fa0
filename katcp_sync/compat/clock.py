"""The monotonic clock: ``time.monotonic`` itself on Python 3; on Python 2,
``clock_gettime(CLOCK_MONOTONIC)`` through ctypes (~0.3 us per call).

And ``thread_time``, the processor time of the calling thread (not counting
time spent waiting for the GIL): ``time.thread_time`` on 3.7+, the same
clock through ``time.clock_gettime`` on 3.6 and ctypes on Python 2 (Linux);
the monotonic clock where there is no such clock."""
from __future__ import absolute_import, division, print_function

import sys
import time
from typing import Any  # noqa: F401

if hasattr(time, "monotonic"):
    monotonic = time.monotonic
else:  # Python 2 on Linux/BSD/macOS
    import ctypes
    import ctypes.util
    import os

    class _Timespec(ctypes.Structure):
        _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]

    _CLOCK_MONOTONIC = {"darwin": 6, "freebsd": 4, "openbsd": 3, "netbsd": 3}.get(
        sys.platform.rstrip("0123456789"), 1)
    # PyDLL, not CDLL: the call keeps the GIL. clock_gettime never blocks,
    # and letting the GIL go on every call (as CDLL does) woke the reactor
    # thread on every write of a thread writing in a burst.
    _libc = ctypes.PyDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    try:
        _clock_gettime = _libc.clock_gettime
    except AttributeError:  # glibc < 2.17 keeps it in librt
        _clock_gettime = ctypes.PyDLL(ctypes.util.find_library("rt"), use_errno=True).clock_gettime
    # No argtypes: ctypes then converts the two arguments without checking
    # them, half the cost of a call (both are right by construction).

    def monotonic(_new=_Timespec, _call=_clock_gettime, _byref=ctypes.byref,  # type: ignore[misc]
                  _clock=_CLOCK_MONOTONIC):
        # type: (Any, Any, Any, int) -> float
        """Seconds of CLOCK_MONOTONIC (the clock of Python 3's time.monotonic).

        (The arguments are bound at definition, for speed: call it with none.)
        """
        ts = _new()
        if _call(_clock, _byref(ts)) != 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err))
        return ts.tv_sec + ts.tv_nsec * 1e-9


if hasattr(time, "thread_time"):
    thread_time = time.thread_time
elif hasattr(time, "CLOCK_THREAD_CPUTIME_ID"):   # Python 3.6
    def thread_time(_get=time.clock_gettime, _clock=time.CLOCK_THREAD_CPUTIME_ID):  # type: ignore[misc]
        # type: (Any, int) -> float
        """Seconds of processor time of the calling thread."""
        return _get(_clock)
elif not hasattr(time, "monotonic") and sys.platform.startswith("linux"):   # Python 2
    def thread_time(_new=_Timespec, _call=_clock_gettime, _byref=ctypes.byref):  # type: ignore[misc]
        # type: (Any, Any, Any) -> float
        """Seconds of processor time of the calling thread (CLOCK_THREAD_CPUTIME_ID)."""
        ts = _new()
        if _call(3, _byref(ts)) != 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err))
        return ts.tv_sec + ts.tv_nsec * 1e-9
else:
    thread_time = monotonic
