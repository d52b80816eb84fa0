"""Mirror the sensors of a remote device into local sensors (a proxy's job).

:class:`SensorWatcher` connects to a device with a high-level client
(:class:`~katcp_sync.resource.KATCPClientResource`), creates one local
:class:`~katcp_sync.sensor.Sensor` per remote sensor (same type, params,
description and units; the name optionally prefixed or filtered), adds it to
a local server and keeps it current with a sampling strategy (``auto`` by
default). It follows the device through reconnects and interface changes:
new remote sensors are mirrored, vanished ones removed, and while the device
is unreachable every mirrored sensor has the status ``unreachable`` (spec
table 8: "only for proxies of another KATCP device"). aiokatcp calls the
same idea ``SensorWatcher``.

Example, a proxy that re-exports a device's sensors under ``dev1.``::

    proxy = DeviceServer("", 7147)
    watcher = SensorWatcher("device-host", 7148, proxy, prefix="dev1.")
    proxy.start()
    watcher.start()

Threads: the watcher's work runs on the client's reactor thread (state
changes and sensor updates), with no lock held while it touches the server.
A local sensor takes the device's readings in the order the device sent
them (and :class:`~katcp_sync.resource_base.KATCPSensor` never hands over an
older reading after a newer one), so a mirror never goes back in time and
ends on the device's final reading.
``start``, ``stop``, ``join`` and ``until_synced`` may be called from any
other thread.
"""

from __future__ import absolute_import, division, print_function

import threading
from typing import Callable, Dict, Optional, Union

from . import compat
from .compat import Protocol
from .deadline import Deadline
from .errors import KatcpTimeoutError
from .inspecting_client import DISCONNECTED, SYNCED
from .reactor import Reactor
from .resource import KATCPClientResource
from .resource_base import KATCPSensor
from .resource_types import KATCPSensorReading, StrategyLike
from .sensor import Sensor

__all__ = ["SensorWatcher", "SensorHost"]


class SensorHost(Protocol):
    """Where a :class:`SensorWatcher` puts its copies (a :class:`~katcp_sync.server.DeviceServer`).

    The watcher calls both methods on its client's reactor thread, with no
    lock of its own held, while other threads may use the host: they must
    be thread-safe and must not block for long (a DeviceServer's are).
    """

    def add_sensor(self, sensor):
        # type: (Sensor) -> None
        """Add ``sensor`` (replacing one of the same name). Called on the
        watcher's reactor thread."""

    def remove_sensor(self, sensor):
        # type: (Union[Sensor, str]) -> None
        """Remove a sensor, given as the object or its name. Called on the
        watcher's reactor thread.

        Raises:
            ValueError: no such sensor (a DeviceServer's; the watcher only
                removes sensors it added).
        """


class SensorWatcher(object):
    """Keep local copies of a remote device's sensors in ``server``.

    Args:
        host, port: the device.
        server: where the copies go: anything with ``add_sensor`` and
            ``remove_sensor`` (a :class:`~katcp_sync.server.DeviceServer`).
        prefix: put before each remote name to make the local one.
        sensor_filter: ``sensor_filter(remote_name) -> bool``; only sensors
            it accepts are mirrored (default: all).
        strategy: the sampling strategy asked of the device for each sensor.
        reactor: a shared reactor for the client (default: its own thread).
        name: the client's name (for logs).
    """

    def __init__(self, host, port, server, prefix="",
                 sensor_filter=None,
                 strategy="auto", reactor=None,
                 name=None):
        # type: (str, int, SensorHost, str, Optional[Callable[[str], bool]], StrategyLike, Optional[Reactor], Optional[str]) -> None
        self._server = server
        self._prefix = prefix
        self._filter = sensor_filter or (lambda _name: True)
        self._strategy = strategy
        self._lock = threading.Lock()
        self._mirrored = {}  # type: Dict[str, Sensor]  # remote name -> local sensor
        # Set once the local sensors match a synced device (after the state
        # callback, which runs after the resource announces SYNCED).
        self._in_step = compat.Event()
        self._resource = KATCPClientResource(
            dict(name=name or "sensor-watcher-%s-%d" % (host, port), address=(host, port),
                 controlled=False))
        if reactor is not None:
            self._resource.set_reactor(reactor)
        self._resource.add_state_callback(self._state_changed)

    @property
    def sensors(self):
        # type: () -> Dict[str, Sensor]
        """The local sensors, by local name (a snapshot)."""
        with self._lock:
            return {sensor.name: sensor for sensor in self._mirrored.values()}

    @property
    def resource(self):
        # type: () -> KATCPClientResource
        """The high-level client that watches the device."""
        return self._resource

    def start(self):
        # type: () -> None
        """Connect to the device and start mirroring."""
        self._resource.start()

    def stop(self):
        # type: () -> None
        """Stop watching; the local sensors stay, marked ``unreachable``."""
        self._resource.stop()

    def join(self, timeout=None):
        # type: (Optional[float]) -> bool
        """Wait for the client to finish after :meth:`stop`.

        Returns True if its threads have ended, False if ``timeout`` passed first."""
        return self._resource.join(timeout)

    def until_synced(self, timeout=None):
        # type: (Optional[float]) -> None
        """Block until the device's sensors are mirrored (KatcpTimeoutError otherwise)."""
        deadline = Deadline(timeout)
        self._resource.until_synced(timeout)
        if not self._in_step.wait(deadline.remaining()):
            raise KatcpTimeoutError("sensors of %s not mirrored within %s s"
                                    % (self._resource.name, timeout))

    # -- on the client's reactor thread -------------------------------------------

    def _state_changed(self, state):
        # type: (str) -> None
        if state == SYNCED:
            self._mirror()
            self._in_step.set()
            return
        self._in_step.clear()
        if state == DISCONNECTED:
            with self._lock:
                mirrored = list(self._mirrored.values())
            for local in mirrored:
                reading = local.read()   # once: timestamp and value of one reading
                local.set(reading.timestamp, Sensor.UNREACHABLE, reading.value)

    def _mirror(self):
        # type: () -> None
        """Make the local sensors match the remote ones (after each sync)."""
        remote = {sensor.name: sensor for sensor in self._resource.sensor.values()
                  if self._filter(sensor.name)}
        added = []
        with self._lock:
            gone = [self._mirrored.pop(name) for name in list(self._mirrored)
                    if name not in remote]
            for name, sensor in remote.items():
                if name not in self._mirrored:
                    local = self._copy_of(sensor)
                    self._mirrored[name] = local
                    added.append((sensor, local))
        for local in gone:
            self._server.remove_sensor(local.name)
        for sensor, local in added:
            self._server.add_sensor(local)
            sensor.register_listener(self._updater(local), reading=True)
        if added:
            self._resource.set_strategies_future(
                [sensor.name for sensor, _ in added], self._strategy)

    def _copy_of(self, sensor):
        # type: (KATCPSensor) -> Sensor
        return Sensor.from_sensor_list(self._prefix + sensor.name, sensor.description,
                                       sensor.units, sensor.type, sensor.params)

    @staticmethod
    def _updater(local):
        # type: (Sensor) -> Callable[[KATCPSensor, KATCPSensorReading], None]
        def update(_sensor, reading):
            # type: (KATCPSensor, KATCPSensorReading) -> None
            local.set(reading.timestamp, reading.istatus, reading.value)
        return update

