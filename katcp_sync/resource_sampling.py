"""Sampling strategies of the high-level client: the ones remembered, and ``?sensor-sampling``.

A :class:`~katcp_sync.resource.KATCPClientResource` remembers each strategy
set through it (:class:`StrategyCache`), so that it can set them again after
a reconnect or a re-sync, and sends them with :func:`sampling_futures`: one
bulk request for many sensors when the device has protocol flag ``B``, with a
per-sensor fallback. No threads or locks of its own.
"""

from __future__ import absolute_import, division, print_function

import concurrent.futures
from typing import Callable, Dict, Iterable, List, Mapping, Optional, Tuple

from . import compat
from .inspecting_client import chain_future
from .resource_base import KATCPSensor

__all__ = ["NO_STRATEGY", "Strategy", "StrategyCache", "sampling_futures"]

#: A strategy and its parameters, normalised (``("period", "0.5")``).
Strategy = Tuple[str, ...]
#: The strategy of a sensor nobody asked for updates of.
NO_STRATEGY = ("none",)  # type: Strategy

#: ``request_future(name, args, timeout)``: sends a request, returns a future
#: of its :class:`~katcp_sync.resource_types.KATCPReply`.
RequestFuture = Callable[[str, tuple, Optional[float]], concurrent.futures.Future]


def sampling_futures(request_future, names, strategy,
                     timeout, bulk):
    # type: (RequestFuture, List[str], Strategy, Optional[float], bool) -> Dict[str, concurrent.futures.Future]
    """Send ``?sensor-sampling`` for ``names``; futures of KATCPReply by name.

    With ``bulk`` (the device has flag ``B``) and two names or more, one
    request sets them all; if the device refuses it, each sensor is asked
    alone, so that the others are set and the culprits found. Any thread.
    """
    if len(names) < 2 or not bulk:
        return {name: request_future("sensor-sampling", (name,) + strategy, timeout) for name in names}
    first = request_future("sensor-sampling", (",".join(names),) + strategy, timeout)
    targets = {name: compat.Future() for name in names}  # type: Dict[str, concurrent.futures.Future]

    def bulk_done(future):
        # type: (concurrent.futures.Future) -> None
        if future.exception() is None and future.result().succeeded:
            for target in targets.values():
                target.set_result(future.result())
            return
        # A bulk request is atomic (spec 7.2): one bad sensor refuses all,
        # so ask one by one to set the rest and find the culprits.
        for name, target in targets.items():
            try:
                single = request_future("sensor-sampling", (name,) + strategy, timeout)
            except Exception as exc:
                target.set_exception(exc)
            else:
                chain_future(single, lambda reply: reply, target)

    first.add_done_callback(bulk_done)
    return targets


class StrategyCache(object):
    """The strategies set through a resource, by escaped sensor name.

    Not thread-safe on its own: the resource holds its lock around every
    call, together with its sensor map, so that a strategy set while a sync
    swaps the sensors is applied by one side or the other.
    """

    def __init__(self):
        # type: () -> None
        self._strategies = {}  # type: Dict[str, Strategy]

    def get(self, key):
        # type: (str) -> Strategy
        """The strategy of ``key``, or :data:`NO_STRATEGY`."""
        return self._strategies.get(key, NO_STRATEGY)

    def set(self, keys, strategy):
        # type: (Iterable[str], Strategy) -> Dict[str, Optional[Strategy]]
        """Remember ``strategy`` for ``keys`` (forget them for ``none``);
        return what each had before (None: nothing)."""
        previous = {}
        for key in keys:
            previous[key] = self._strategies.get(key)
            if strategy == NO_STRATEGY:
                self._strategies.pop(key, None)
            else:
                self._strategies[key] = strategy
        return previous

    def forget_refused(self, key, strategy, previous):
        # type: (str, Strategy, Optional[Strategy]) -> None
        """The device refused ``strategy`` for ``key``: restore ``previous``,
        unless the strategy was changed meanwhile."""
        if self.get(key) == strategy:
            if previous is None:
                self._strategies.pop(key, None)
            else:
                self._strategies[key] = previous

    def by_strategy(self, sensors):
        # type: (Mapping[str, KATCPSensor]) -> Dict[Strategy, List[str]]
        """The KATCP names of the ``sensors`` (by escaped name) that have a
        remembered strategy, grouped by strategy."""
        groups = {}  # type: Dict[Strategy, List[str]]
        for key, strategy in self._strategies.items():
            if key in sensors:
                groups.setdefault(strategy, []).append(sensors[key].name)
        return groups

    def snapshot(self):
        # type: () -> Dict[str, Strategy]
        """A copy of every remembered strategy."""
        return dict(self._strategies)
