"""katcp-python's ``katcp.resource_client`` names, for porting by changing the import.

``from katcp_sync import resource_client`` then
``resource_client.KATCPClientResource(dict(name=..., address=(host, port),
controlled=True))`` works as in the katcp-python tutorial, except that calls
block and return results instead of tornado futures (``.future()`` gives a
:class:`concurrent.futures.Future` where you want one).

Compatibility notes:

* :func:`ThreadSafeKATCPClientResourceWrapper` returns the resource itself
  (after the calls queued on the ioloop before it have run): katcp_sync
  resources are already thread-safe and blocking, which is what that
  wrapper provided.
* There is no ``IOLoopManager``: there is no ioloop to manage. Each resource
  (or container) runs its own reactor thread, started by ``start()`` and
  ended by ``stop()``.
"""

from __future__ import absolute_import, division, print_function

from typing import Any, Callable, Iterator, List, Mapping

from . import compat
from .errors import (
    KATCPResourceError, KATCPResourceInactive, KATCPSensorError, KatcpTimeoutError, TimeoutException,
)
from .inspecting_client import DISCONNECTED, STATES, SYNCED, SYNCING
from .resource import KATCPClientResource
from .resource_base import KATCPSensor
from .resource_types import (
    KATCPClientResourceRequest, KATCPDummyRequest, KATCPReply, KATCPRequest, KATCPSensorReading,
    SensorResultTuple, escape_name, normalize_strategy_parameters,
)
from .resource_container import ClientGroup, GroupResults, KATCPClientResourceContainer

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
    """Return ``resource`` unchanged, once the calls already queued on the
    ioloop wrapper's reactor have run.

    In katcp-python this wrapper made a tornado-based resource blocking and
    callable from other threads. katcp_sync resources already are both, so
    ported code that wraps a resource keeps working. Calls through
    katcp-python's wrapper ran on the ioloop after the callbacks queued
    there before them, so code may queue the start and wait at once::

        ioloop.add_callback(resource.start)
        wrapped = ThreadSafeKATCPClientResourceWrapper(resource, IOLoopThreadWrapper(ioloop))
        wrapped.until_synced()

    Hence the wait here for the reactor of ``ioloop_wrapper`` (an
    :class:`~katcp_sync.ioloop_manager.IOLoopThreadWrapper`) to run what it
    has queued, if it is running, for up to its ``default_timeout``. Other
    arguments are ignored. Any thread.
    """
    reactor = getattr(ioloop_wrapper, "reactor", None)
    if reactor is not None and reactor.running():
        try:
            reactor.run_sync(_nothing, timeout=getattr(ioloop_wrapper, "default_timeout", None))
        except (KatcpTimeoutError, RuntimeError):
            pass  # stuck or stopping: the resource's own calls say what is wrong
    return resource


def _nothing():
    # type: () -> None
    pass


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
