"""The monotonic clock: ``time.monotonic`` itself on Python 3; on Python 2,
``clock_gettime(CLOCK_MONOTONIC)`` through ctypes (~1 us per call)."""
from __future__ import absolute_import, division, print_function

import time

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
