"""Small helpers for :class:`concurrent.futures.Future` chains (no threads)."""

from __future__ import absolute_import, division, print_function

import concurrent.futures
from typing import Callable, Optional, TypeVar

from . import compat

__all__ = ["chain_future"]

_T = TypeVar("_T")
_U = TypeVar("_U")


def chain_future(source, convert,
                 target=None):
    # type: ("concurrent.futures.Future[_T]", Callable[[_T], _U], "Optional[concurrent.futures.Future[_U]]") -> "concurrent.futures.Future[_U]"
    """Resolve ``target`` (default: a new future) with ``convert(source.result())``.

    An exception from ``source``, or raised by ``convert``, is passed on; a
    cancelled ``source`` cancels ``target``; a ``target`` already done (its
    owner cancelled it, say) is left as it is. ``convert`` runs on the thread
    that completes ``source``. Any thread.

    Returns:
        ``target``.
    """
    if target is None:
        target = compat.Future()
    result = target

    def done(fut):
        # type: ("concurrent.futures.Future[_T]") -> None
        if fut.cancelled():
            result.cancel()
            return
        try:
            try:
                value = convert(fut.result())
            except BaseException as exc:  # passed on to whoever waits on the target
                compat.set_future_exception(result, exc)
            else:
                compat.set_future_result(result, value)
        except compat.InvalidStateError:
            pass  # the target was cancelled (or resolved) by its owner meanwhile

    source.add_done_callback(done)
    return result
