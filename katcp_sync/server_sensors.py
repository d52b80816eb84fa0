"""A device server's sensor table: the sensors it offers its clients.

:class:`SensorTable` is mixed into :class:`~katcp_sync.server.DeviceServer`.
It keeps the sensors by name under a lock, tells clients about changes
(``#interface-changed``, spec 4.2) and cancels every client's strategy on a
sensor that is replaced or removed.
"""

from __future__ import absolute_import, division, print_function

import threading
from typing import TYPE_CHECKING, Dict, List, Optional, Union, cast

from .compat import is_text
from .errors import UnknownSensorError
from .sensor import Sensor

if TYPE_CHECKING:  # pragma: no cover
    from .server_connection import ClientConnection

__all__ = ["SensorTable"]


class SensorTable(object):
    """Mixin: the sensors of a server. Every method may be called from any thread.

    Needs ``get_clients()`` and ``_interface_changed(*args)`` of the server.
    """

    if TYPE_CHECKING:  # pragma: no cover
        def get_clients(self):
            # type: () -> List["ClientConnection"]
            pass

        def _interface_changed(self, *args):

            # type: (*str) -> None

            pass

    def _init_sensors(self):
        # type: () -> None
        self._sensors = {}  # type: Dict[str, Sensor]
        self._sensor_table_lock = threading.Lock()

    def add_sensor(self, sensor):
        # type: (Sensor) -> None
        """Add a sensor (replacing one of the same name). Any thread.

        While clients are connected they get ``#interface-changed sensor
        <name> added`` (or ``modified`` for a replacement; spec 4.2). Adding
        the sensor that is already there changes nothing and says nothing.
        """
        with self._sensor_table_lock:
            old = self._sensors.get(sensor.name)
            self._sensors[sensor.name] = sensor
        if old is sensor:
            return
        if old is not None:
            for client in self.get_clients():
                client.sampling.cancel(sensor.name)
        self._interface_changed("sensor", sensor.name, "added" if old is None else "modified")

    def remove_sensor(self, sensor):
        # type: (Union[Sensor, str]) -> None
        """Remove a sensor (object or name); every client's strategy on it stops.

        Raises:
            UnknownSensorError: no such sensor; a :exc:`KeyError` as
                katcp-python's was, and a :exc:`ValueError`.
        """
        # a name is text (unicode too on Python 2); anything else is a sensor
        name = cast(str, sensor) if is_text(sensor) else cast(Sensor, sensor).name
        with self._sensor_table_lock:
            if self._sensors.pop(name, None) is None:
                raise UnknownSensorError("Unknown sensor %r" % name)
        for client in self.get_clients():
            client.sampling.cancel(name)
        self._interface_changed("sensor", name, "removed")

    def get_sensor(self, sensor_name):
        # type: (str) -> Sensor
        """The sensor called ``sensor_name``.

        Raises:
            UnknownSensorError: no such sensor (a :exc:`ValueError`, as in
                katcp-python, and a :exc:`KeyError`).
        """
        sensor = self._sensors.get(sensor_name)
        if sensor is None:
            raise UnknownSensorError("Unknown sensor %r" % sensor_name)
        return sensor

    def has_sensor(self, sensor_name):
        # type: (str) -> bool
        """True if a sensor of that name exists."""
        return sensor_name in self._sensors

    def get_sensors(self):
        # type: () -> List[Sensor]
        """All sensors (a snapshot list)."""
        with self._sensor_table_lock:
            return list(self._sensors.values())

    def _sensor_or_none(self, name):
        # type: (str) -> Optional[Sensor]
        return self._sensors.get(name)

    def clear_strategies(self, client_conn,
                         remove_client=False):
        # type: ("ClientConnection", bool) -> None
        """Set every sampling strategy of one client to ``none``
        (``remove_client``: and refuse new ones, the client is leaving)."""
        if remove_client:
            client_conn.sampling.close()
        else:
            client_conn.sampling.clear()
