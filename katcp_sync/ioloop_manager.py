"""katcp-python's ``katcp.ioloop_manager``, on a :class:`~katcp_sync.reactor.Reactor`.

In katcp-python, :class:`IOLoopManager` ran a tornado ioloop in a thread
and :class:`IOLoopThreadWrapper` moved calls onto it. Here the loop is a
:class:`~katcp_sync.reactor.Reactor`: ``get_ioloop()`` returns one that
``start()`` runs in its own thread, and ``set_ioloop(manager.get_ioloop())``
on servers and clients makes them share that thread. Code that does not
share a thread needs none of this: katcp_sync servers and clients start
their own reactor.
"""

from __future__ import absolute_import, division, print_function

import functools
import logging
from typing import Any, Callable, Dict, Optional, Sequence

from . import compat
from .deadline import Deadline
from .errors import KatcpTimeoutError, KatcpWrapperTimeoutError
from .formatting import format_seconds
from .reactor import Reactor

__all__ = ["IOLoopManager", "IOLoopThreadWrapper", "ThreadSafeMethodAttrWrapper"]

logger = logging.getLogger(__name__)


class IOLoopManager(object):
    """Owns a reactor thread: ``get_reactor()`` (katcp-python: ``get_ioloop()``),
    ``start()``, ``stop()``, ``join()``.

    Args:
        managed_default: accepted for katcp-python's signature; the reactor
            is always the manager's own (there is no process-wide default).
        logger: accepted for katcp-python's signature (the reactor logs as
            ``katcp_sync.reactor``).

    All methods may be called from any thread.
    """

    def __init__(self, managed_default=False, logger=logger):
        # type: (bool, logging.Logger) -> None
        self._reactor = None  # type: Optional[Reactor]

    def get_reactor(self):
        # type: () -> Reactor
        """Return the managed reactor, creating it on the first call."""
        if self._reactor is None:
            self._reactor = Reactor()
        return self._reactor

    def get_ioloop(self):
        # type: () -> Reactor
        """katcp-python's name for :meth:`get_reactor`."""
        return self.get_reactor()

    def setDaemon(self, daemonic):  # noqa: N802 (katcp-python's name)
        # type: (bool) -> None
        """Accepted for katcp-python's API; the reactor thread is a daemon already."""

    def start(self, timeout=None):
        # type: (Optional[float]) -> None
        """Start the reactor thread (``timeout`` is accepted and unused: start is quick)."""
        self.get_reactor().start()

    def stop(self, timeout=None, callback=None):
        # type: (Optional[float], Optional[Callable[[], Any]]) -> None
        """Stop the reactor, waiting up to ``timeout`` seconds; then call ``callback``."""
        if self._reactor is not None:
            self._reactor.stop(timeout)
        if callback is not None:
            callback()

    def join(self, timeout=None):
        # type: (Optional[float]) -> None
        """Wait up to ``timeout`` seconds for the reactor thread to end."""
        if self._reactor is not None:
            self._reactor.join(timeout)


class IOLoopThreadWrapper(object):
    """Runs calls on a reactor's thread and blocks for their result.

    Args:
        ioloop: the :class:`~katcp_sync.reactor.Reactor` to run calls on.
    """

    #: Seconds a call may take when none is given.
    default_timeout = None  # type: Optional[float]

    def __init__(self, ioloop=None):
        # type: (Optional[Reactor]) -> None
        #: The reactor calls run on.
        self.reactor = ioloop if ioloop is not None else Reactor()

    @property
    def ioloop(self):
        # type: () -> Reactor
        """katcp-python's name for :attr:`reactor`."""
        return self.reactor

    def call_in_ioloop(self, fn, args=(),
                       kwargs=None,
                       timeout=None):
        # type: (Callable[..., Any], Sequence[Any], Optional[Dict[str, Any]], Optional[float]) -> Any
        """Return ``fn(*args, **kwargs)`` run on the reactor thread.

        A :class:`concurrent.futures.Future` result is waited for too.

        Raises:
            KatcpWrapperTimeoutError: no result within ``timeout`` (default
                :attr:`default_timeout`) seconds (a :class:`KatcpTimeoutError`
                and katcp-python's :exc:`concurrent.futures.TimeoutError`).
            Exception: whatever ``fn`` raised.
        """
        kwargs = kwargs or {}
        limit = self.default_timeout if timeout is None else timeout
        deadline = Deadline(limit)
        try:
            result = self.reactor.run_sync(functools.partial(fn, *args, **kwargs),
                                           timeout=deadline.remaining())
        except KatcpTimeoutError as exc:
            if not deadline.expired():
                raise       # fn's own
            raise compat.chained(KatcpWrapperTimeoutError(str(exc)), None)
        if hasattr(result, "result") and hasattr(result, "add_done_callback"):
            try:
                return compat.future_result(result, deadline.remaining())
            except compat.ResultTimeout:
                raise compat.chained(KatcpWrapperTimeoutError("No result from %r within %s"
                                        % (fn, format_seconds(limit))), None)
        return result

    def decorate_callable(self, callable_):
        # type: (Callable[..., Any]) -> Callable[..., Any]
        """Return ``callable_`` made to run through :meth:`call_in_ioloop`.

        The wrapper takes an extra ``timeout`` keyword argument.
        """
        @functools.wraps(callable_)
        def decorated(*args, **kwargs):
            # type: (*Any, **Any) -> Any
            timeout = kwargs.pop("timeout", None)
            return self.call_in_ioloop(callable_, args, kwargs, timeout=timeout)
        return decorated


class ThreadSafeMethodAttrWrapper(object):
    """Wraps an object so that its methods run on a reactor's thread.

    Callable attributes are returned decorated by the wrapper's
    :meth:`IOLoopThreadWrapper.decorate_callable`; other attributes are
    read directly. Subclasses read an attribute on the reactor thread with
    ``self._getattr(name)``.
    """

    def __init__(self, subject, ioloop_wrapper):
        # type: (Any, IOLoopThreadWrapper) -> None
        self.__subject = subject
        self._ioloop_wrapper = ioloop_wrapper

    def __getattr__(self, name):
        # type: (str) -> Any
        value = getattr(self.__subject, name)
        if callable(value):
            return self._ioloop_wrapper.decorate_callable(value)
        return value

    def _getattr(self, name):
        # type: (str) -> Any
        return self._ioloop_wrapper.call_in_ioloop(getattr, (self.__subject, name))
