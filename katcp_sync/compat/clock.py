"""The monotonic clock: ``time.monotonic`` itself on Python 3; on Python 2,
``clock_gettime(CLOCK_MONOTONIC)`` through ctypes (~0.3 us per call)."""
from __future__ import absolute_import, division, print_function

import time
from typing import Any  # noqa: F401

if hasattr(time, "monotonic"):
    monotonic = time.monotonic
else:  # Python 2 on Linux/BSD/macOS
    import ctypes
    import ctypes.util
    import os
    import sys

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
