"""The sensor/observer seam: :class:`Reading` and what each side needs of the other (sans-IO).

A sensor keeps its current :class:`Reading` and calls
``observer.update(sensor, reading)`` on every set (see
:mod:`katcp_sync.sensor`). The sampling strategies, sensor trees and the
server's sensor plumbing are observers; they need only a few things of a
sensor, named here as Protocols so that those modules are typed without
importing :class:`~katcp_sync.sensor.Sensor` (which imports them):

* :class:`Observer`: anything with ``update(sensor, reading)``.
* :class:`ObservedSensor`: what an observer needs of a sensor: ``name``,
  ``stype``, ``read()``, ``attach()``/``detach()``.
* :class:`SampledSensor`: what a sampling strategy needs besides: the
  sensor's ``auto_strategy`` and its parameters.

:class:`~katcp_sync.sensor.Sensor` satisfies all three.
"""

from __future__ import absolute_import, division, print_function

from collections import namedtuple
from typing import Any, Optional, Sequence, Union

from .compat import Protocol

__all__ = ["Reading", "Observer", "ObservedSensor", "SampledSensor"]

#: A sensor reading: timestamp (float seconds), status (``Sensor.NOMINAL``...)
#: and value (of the sensor's type). Immutable: any thread may read it.
Reading = namedtuple("Reading", "timestamp status value")


class Observer(Protocol):
    """Anything that can watch a sensor (:meth:`katcp_sync.sensor.Sensor.attach`).

    ``update`` runs on whichever thread sets the sensor, with no sensor lock
    held, possibly on several threads at once: it must be thread-safe and quick.
    """

    def update(self, sensor, reading):
        # type: ("ObservedSensor", Reading) -> None
        """The sensor has a new ``reading``; called on the thread that set it."""


class ObservedSensor(Protocol):
    """What an observer needs of a sensor; every member may be used from any thread."""

    @property
    def name(self):
        # type: () -> str
        """The sensor name."""

    @property
    def stype(self):
        # type: () -> str
        """Its KATCP type name (``"integer"``, ``"float"`` ...)."""

    def read(self):
        # type: () -> Reading
        """The current reading (one consistent triple)."""

    def attach(self, observer):
        # type: (Observer) -> None
        """Call ``observer.update(sensor, reading)`` on every later set."""

    def detach(self, observer):
        # type: (Observer) -> None
        """Stop notifying ``observer``."""


class SampledSensor(ObservedSensor, Protocol):
    """What a sampling strategy needs of a sensor (any thread, as :class:`ObservedSensor`)."""

    @property
    def auto_strategy(self):
        # type: () -> Optional[Union[int, str]]
        """What ``auto`` sampling means for it: a strategy constant or name
        (``None``: every update)."""

    @property
    def auto_strategy_parameters(self):
        # type: () -> Sequence[Any]
        """The parameters of ``auto_strategy``, in seconds for periods."""
