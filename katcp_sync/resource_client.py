"""katcp-python's ``katcp.resource_client`` names, for porting by changing the import.

``from katcp_sync import resource_client`` then
``resource_client.KATCPClientResource(dict(name=..., address=(host, port),
controlled=True))`` works as in the katcp-python tutorial, except that calls
block and return results instead of tornado futures (``.future()`` gives a
:class:`concurrent.futures.Future` where you want one).

Compatibility notes:

* :func:`ThreadSafeKATCPClientResourceWrapper` returns the resource behind
  a proxy that only bounds its blocking calls by the ioloop wrapper's
  ``default_timeout`` (after the calls queued on the ioloop before it have
  run): katcp_sync resources are already thread-safe and blocking, which
  is what the rest of that wrapper provided.
* There is no ``IOLoopManager``: there is no ioloop to manage. Each resource
  (or container) runs its own reactor thread, started by ``start()`` and
  ended by ``stop()``.
"""

from __future__ import absolute_import, division, print_function

import functools
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional, Tuple

import wrapt

from . import compat
from .deadline import Deadline
from .errors import (
    KATCPResourceError, KATCPResourceInactive, KATCPSensorError, KatcpTimeoutError,
    KatcpWrapperTimeoutError, TimeoutException,
)
from .formatting import format_seconds
from .inspecting_client import DISCONNECTED, STATES, SYNCED, SYNCING
from .resource import KATCPClientResource
from .resource_base import KATCPSensor
from .resource_types import (
    KATCPClientResourceRequest, KATCPDummyRequest, KATCPReply, KATCPRequest, KATCPSensorReading,
    SensorResultTuple, escape_name, normalize_strategy_parameters,
)
from .resource_container import (
    ClientGroup, GroupRequest, GroupResults, KATCPClientResourceContainer,
)

__all__ = [
    "KATCPClientResource",
    "KATCPClientResourceContainer",
    "ClientGroup",
    "GroupResults",
    "KATCPReply",
    "KATCPRequest",
    "KATCPClientResourceRequest",
    "KATCPDummyRequest",
    "KATCPSensor",
    "KATCPSensorReading",
    "SensorResultTuple",
    "KATCPResourceError",
    "KATCPResourceInactive",
    "KATCPSensorError",
    "TimeoutException",
    "ThreadSafeKATCPClientResourceWrapper",
    "AttrMappingProxy",
    "escape_name",
    "normalize_strategy_parameters",
    "DISCONNECTED",
    "SYNCING",
    "SYNCED",
    "STATES",
]


def ThreadSafeKATCPClientResourceWrapper(resource, ioloop_wrapper=None, *args, **kwargs):  # noqa: N802
    # type: (Any, Any, *Any, **Any) -> Any
    """Return ``resource`` (a resource or container) behind a proxy that
    bounds its blocking calls by ``ioloop_wrapper.default_timeout``, once the
    calls already queued on the ioloop wrapper's reactor have run.

    In katcp-python this wrapper made a tornado-based resource blocking and
    callable from other threads. katcp_sync resources already are both;
    what the wrapper still does is katcp-python's bound: a call made
    through it -- of the resource, of its ``sensor``, ``req``,
    ``children``, ``groups`` and ``parent`` -- without a ``timeout`` ends
    after the ioloop wrapper's ``default_timeout`` (read at each call; None
    means no bound) with :class:`~katcp_sync.errors.KatcpWrapperTimeoutError`,
    katcp-python's :exc:`concurrent.futures.TimeoutError`. A request
    (``wrapped.req.add(1, 2)``, a group's) is waited for that long, keeping
    its own timeout, as katcp-python did. Any other call is made on the
    calling thread with ``timeout=default_timeout``, if it takes a timeout
    and has no shorter one of its own: ``until_synced()``,
    ``wait_connected()``, ``join()``/``until_stopped()``, ``until_state``,
    a sensor's ``get_value()``... A wait that answers False when its time
    is up (``wait_connected``, ``join``) raises instead, as katcp-python's
    did. Everything else passes through unchanged (``isinstance`` sees the
    resource's class).

    Calls through katcp-python's wrapper ran on the ioloop after the
    callbacks queued there before them, so code may queue the start and
    wait at once::

        ioloop.add_callback(resource.start)
        wrapped = ThreadSafeKATCPClientResourceWrapper(resource, IOLoopThreadWrapper(ioloop))
        wrapped.until_synced()

    Hence the wait here for the reactor of ``ioloop_wrapper`` (an
    :class:`~katcp_sync.ioloop_manager.IOLoopThreadWrapper`) to run what it
    has queued, if it is running, for up to its ``default_timeout``.
    Without ``ioloop_wrapper``, ``resource`` itself is returned. Other
    arguments are ignored. Any thread.
    """
    reactor = getattr(ioloop_wrapper, "reactor", None)
    if reactor is not None and reactor.running():
        try:
            reactor.run_sync(_nothing, timeout=getattr(ioloop_wrapper, "default_timeout", None))
        except (KatcpTimeoutError, RuntimeError):
            pass  # stuck or stopping: the resource's own calls say what is wrong
    if ioloop_wrapper is None:
        return resource
    return _BoundedProxy(resource, ioloop_wrapper)


def _nothing():
    # type: () -> None
    pass


class _BoundedProxy(wrapt.ObjectProxy):  # type: ignore[misc]
    """A resource, container, group or sensor whose calls are bounded by
    ``ioloop_wrapper.default_timeout`` (see
    :func:`ThreadSafeKATCPClientResourceWrapper`). Any thread."""

    def __init__(self, wrapped, ioloop_wrapper):
        # type: (Any, Any) -> None
        super(_BoundedProxy, self).__init__(wrapped)
        self._self_ioloop_wrapper = ioloop_wrapper

    def __getattr__(self, name):
        # type: (str) -> Any
        if name.startswith("_self_"):
            raise AttributeError(name)
        value = getattr(self.__wrapped__, name)
        ioloop_wrapper = self._self_ioloop_wrapper
        if name in _PROXIED_MAPPINGS and isinstance(value, compat.collections_abc.Mapping):
            return AttrMappingProxy(value, functools.partial(_bound, ioloop_wrapper=ioloop_wrapper))
        return _bound(value, ioloop_wrapper)


class _BoundedRequest(_BoundedProxy):
    """A request (of a resource or a group) whose call, made without a
    timeout, is waited for up to the ioloop wrapper's ``default_timeout``,
    as katcp-python's wrapper did: the request keeps its own timeout (and
    goes on after the caller gave up). Any thread."""

    def __call__(self, *args, **kwargs):
        # type: (*Any, **Any) -> Any
        request = self.__wrapped__
        limit = getattr(self._self_ioloop_wrapper, "default_timeout", None)
        if limit is None or kwargs.get("timeout") is not None:
            return request(*args, **kwargs)
        future = request.future(*args, **kwargs)
        try:
            return compat.future_result(future, limit)
        except compat.ResultTimeout:
            raise compat.chained(_wrapper_timeout("?" + request.name, limit, None), None)


#: The attributes of a resource, container or group that map names to
#: sensors, requests, resources or groups.
_PROXIED_MAPPINGS = frozenset(("sensor", "sensors", "req", "children", "groups"))

_RESOURCE_TYPES = (KATCPClientResource, KATCPClientResourceContainer, ClientGroup, KATCPSensor)


def _bound(value, ioloop_wrapper):
    # type: (Any, Any) -> Any
    """``value`` behind the proxy it needs: requests, resources and
    sensors are proxied, methods bounded, anything else as it is."""
    if isinstance(value, (KATCPRequest, GroupRequest)):
        return _BoundedRequest(value, ioloop_wrapper)
    if isinstance(value, _RESOURCE_TYPES):
        return _BoundedProxy(value, ioloop_wrapper)
    if callable(value) and not isinstance(value, type):
        try:
            timeout_param = compat.parameter_default(value, "timeout")
        except (TypeError, ValueError):
            return value        # no signature to read (a builtin)
        if timeout_param is None:
            return value        # takes no timeout: quick, or bounded its own way

        @functools.wraps(value)
        def bounded(*args, **kwargs):
            # type: (*Any, **Any) -> Any
            return _call_bounded(value, getattr(value, "__name__", "call") + "()",
                                 ioloop_wrapper, timeout_param, args, kwargs)
        return bounded
    return value


def _call_bounded(fn, what, ioloop_wrapper, timeout_param, args, kwargs):
    # type: (Callable[..., Any], str, Any, Tuple[int, Any], Tuple[Any, ...], Dict[str, Any]) -> Any
    """Call ``fn`` (``what`` names it in errors). If the call gives no
    timeout (by keyword, or at ``timeout_param``'s position, -1 for none),
    with ``timeout=`` the ioloop wrapper's ``default_timeout`` unless
    ``fn``'s own (``timeout_param``'s default) is shorter, and raise
    :class:`KatcpWrapperTimeoutError` when that time runs out (an error, or
    False returned)."""
    limit = getattr(ioloop_wrapper, "default_timeout", None)
    position, own = timeout_param
    positional = 0 <= position < len(args)
    given = args[position] if positional else kwargs.get("timeout")
    if own is compat.NO_DEFAULT:
        own = None
    if limit is None or given is not None or (own is not None and own <= limit):
        return fn(*args, **kwargs)
    if positional:
        args = args[:position] + (limit,) + args[position + 1:]
    else:
        kwargs["timeout"] = limit
    deadline = Deadline(limit)
    try:
        result = fn(*args, **kwargs)
    except compat.TimeoutError as exc:
        raise compat.chained(_wrapper_timeout(what, limit, exc), exc)
    if result is False and deadline.expired():
        raise _wrapper_timeout(what, limit, None)
    return result


def _wrapper_timeout(what, limit, cause):
    # type: (str, float, Optional[BaseException]) -> KatcpWrapperTimeoutError
    return KatcpWrapperTimeoutError(
        "%s did not finish within the ioloop wrapper's default_timeout (%s s)%s"
        % (what, format_seconds(limit), "" if cause is None else ": %s" % (cause,)))


class AttrMappingProxy(compat.collections_abc.Mapping):  # type: ignore[type-arg]
    """A read-only view of ``mapping`` whose values pass through ``wrapper``.

    Keys are also attributes (``proxy.name`` is ``wrapper(mapping.name)``),
    as katcp-python's proxy over an ``AttrDict``. Any thread.
    """

    def __init__(self, mapping, wrapper):
        # type: (Mapping[str, Any], Callable[[Any], Any]) -> None
        self._mapping = mapping
        self._wrapper = wrapper

    def __getitem__(self, key):
        # type: (str) -> Any
        return self._wrapper(self._mapping[key])

    def __iter__(self):
        # type: () -> Iterator[str]
        return iter(self._mapping)

    def __len__(self):
        # type: () -> int
        return len(self._mapping)

    def __getattr__(self, attr):
        # type: (str) -> Any
        if attr.startswith("_"):
            raise AttributeError(attr)
        return self._wrapper(getattr(self._mapping, attr))

    def __dir__(self):
        # type: () -> List[str]
        return list(self.keys())
