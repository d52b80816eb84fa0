"""Fake devices behind high-level clients, for tests (katcp-python's ``fake_clients``).

``resource, manager = fake_KATCP_client_resource_factory(KATCPClientResource,
{}, spec)`` gives a resource whose device is a fake that the test shapes
through the manager: ``manager.add_sensors({name: (description, units,
type, *params)})`` and ``manager.add_request_handlers_object(obj)`` (its
``request_*`` methods) or ``add_request_handlers_dict({name: handler})``.
The resource resyncs (``#interface-changed``) after each change.

katcp-python's fakes replaced the client's network layer with tornado
futures. Here the fake device is a real, in-process
:class:`~katcp_sync.server.DeviceServer` listening on 127.0.0.1 (port 0)
that the resource connects to instead of the spec's address, so every
request, sensor and sampling strategy behaves as with a real device. The
differences: the fake device also has the standard requests
(``?watchdog``...), and its sensors have values (``manager.sensors[name]``
is the :class:`~katcp_sync.sensor.Sensor`, ready for ``set_value``).
Stopping the resource stops its fake devices (``manager.stop()`` does it
alone). katcp-python's ``fake_inspecting_client_factory`` has no
equivalent: katcp_sync's inspecting client is internal to the resource.
"""

from __future__ import absolute_import, division, print_function

from typing import Any, Callable, Dict, Mapping, Optional, Sequence, Tuple, TypeVar

from .resource_types import escape_name
from .sensor import Sensor
from .server import DeviceServer

__all__ = [
    "FakeDevice", "FakeKATCPClientResourceManager", "FakeKATCPClientResourceContainerManager",
    "fake_KATCP_client_resource_factory", "fake_KATCP_client_resource_container_factory",
]


#: ``{name: (description, units, type, *params)}``, as in katcp-python.
SensorInfos = Mapping[str, Sequence[Any]]

_STOP_TIMEOUT = 5.0


class FakeDevice(DeviceServer):
    """The fake device: a :class:`~katcp_sync.server.DeviceServer` with no own sensors.

    Made and started by the factories on 127.0.0.1, port 0; shaped through
    its manager. As any DeviceServer: every method may be called from any
    thread, and its request handlers run on its worker threads.
    """

    VERSION_INFO = ("fake-device", 1, 0)
    BUILD_INFO = ("katcp-sync-fake-device", 1, 0, "")


class FakeKATCPClientResourceManager(object):
    """Shapes the fake device behind one resource. Any thread.

    Attributes:
        device: the running :class:`FakeDevice`.
        sensors: ``{name: Sensor}`` added with :meth:`add_sensors`.
    """

    def __init__(self, device):
        # type: (FakeDevice) -> None
        self.device = device
        self.sensors = {}  # type: Dict[str, Sensor]

    @property
    def address(self):
        # type: () -> Tuple[str, int]
        """``(host, port)`` the fake device listens on."""
        return self.device.bind_address

    def add_sensors(self, sensor_infos):
        # type: (SensorInfos) -> None
        """Add sensors described as ``{name: (description, units, type, *params)}``.

        Each becomes a :class:`~katcp_sync.sensor.Sensor` (see
        :meth:`Sensor.from_sensor_list <katcp_sync.sensor.Sensor.from_sensor_list>`),
        kept in :attr:`sensors`; the resource resyncs. Any thread.

        Raises:
            KatcpValueError: an unknown type or a param that does not parse.
            ValueError: a bad name, or params the type does not take.
        """
        for name, info in sensor_infos.items():
            description, units, type_name = info[:3]
            sensor = Sensor.from_sensor_list(name, description, units, type_name, info[3:])
            self.sensors[sensor.name] = sensor
            self.device.add_sensor(sensor)

    def add_request_handlers_object(self, rh_obj):
        # type: (Any) -> None
        """Add the ``request_*`` methods of ``rh_obj`` as requests (``request_do_it``
        handles ``?do-it``); they run on the fake device's worker threads. Any thread."""
        for attr in dir(rh_obj):
            if attr.startswith("request_") and callable(getattr(rh_obj, attr)):
                self.device.add_request(attr[len("request_"):].replace("_", "-"),
                                        getattr(rh_obj, attr))

    def add_request_handlers_dict(self, rh_dict):
        # type: (Mapping[str, Callable[..., Any]]) -> None
        """Add requests from ``{name: handler(req, msg)}``; the handlers run on
        the fake device's worker threads. Any thread."""
        for name, handler in rh_dict.items():
            self.device.add_request(name, handler)

    def stop(self, timeout=_STOP_TIMEOUT):
        # type: (Optional[float]) -> None
        """Stop the fake device and wait up to ``timeout`` seconds for it to end.
        Any thread but the device's own (a handler's)."""
        if self.device.running():
            self.device.stop()
        self.device.join(timeout)


def _start_device():
    # type: () -> FakeKATCPClientResourceManager
    device = FakeDevice("127.0.0.1", 0)
    device.start()
    return FakeKATCPClientResourceManager(device)


#: The resource (or container) class a factory is given, and so what it returns.
ResourceT = TypeVar("ResourceT")


def _stop_with(resource, managers):
    # type: (Any, Sequence[FakeKATCPClientResourceManager]) -> None
    """Make ``resource.stop()`` also stop the fake devices."""
    resource_stop = resource.stop

    def stop(*args, **kwargs):
        # type: (*Any, **Any) -> Any
        try:
            return resource_stop(*args, **kwargs)
        finally:
            for manager in managers:
                manager.stop()

    resource.stop = stop


def fake_KATCP_client_resource_factory(  # noqa: N802 (katcp-python's name)
        KATCPClientResourceClass, fake_options,  # noqa: N803
        resource_spec, *args, **kwargs):
    # type: (Callable[..., ResourceT], Mapping[str, Any], Dict[str, Any], *Any, **Any) -> Tuple[ResourceT, FakeKATCPClientResourceManager]
    """Return ``(resource, manager)``: a resource talking to a fake device.

    Args:
        KATCPClientResourceClass: the resource class (e.g.
            :class:`~katcp_sync.resource.KATCPClientResource`).
        fake_options: accepted for katcp-python's signature; unused.
        resource_spec: the resource's spec; its ``address`` is replaced by
            the fake device's.
        args, kwargs: passed on to the resource class.
    """
    manager = _start_device()
    spec = dict(resource_spec, address=manager.address)
    try:
        resource = KATCPClientResourceClass(spec, *args, **kwargs)
    except BaseException:
        manager.stop()
        raise
    _stop_with(resource, [manager])
    return resource, manager


class FakeKATCPClientResourceContainerManager(object):
    """Shapes the fake devices of a container's children, named as in its spec.

    A child may be named as in the spec (``"client-2"``) or escaped
    (``"client_2"``); an unknown name raises KeyError. Any thread, as
    :class:`FakeKATCPClientResourceManager`.
    """

    def __init__(self, child_managers):
        # type: (Dict[str, FakeKATCPClientResourceManager]) -> None
        self.child_managers = child_managers

    def _child(self, child_name):
        # type: (str) -> FakeKATCPClientResourceManager
        return self.child_managers[escape_name(child_name)]

    def add_sensors(self, child_name, sensor_infos):
        # type: (str, SensorInfos) -> None
        """:meth:`FakeKATCPClientResourceManager.add_sensors` for one child."""
        self._child(child_name).add_sensors(sensor_infos)

    def add_request_handlers_object(self, child_name, rh_obj):
        # type: (str, Any) -> None
        """:meth:`FakeKATCPClientResourceManager.add_request_handlers_object` for one child."""
        self._child(child_name).add_request_handlers_object(rh_obj)

    def add_request_handlers_dict(self, child_name,
                                  rh_dict):
        # type: (str, Mapping[str, Callable[..., Any]]) -> None
        """:meth:`FakeKATCPClientResourceManager.add_request_handlers_dict` for one child."""
        self._child(child_name).add_request_handlers_dict(rh_dict)

    def stop(self, timeout=_STOP_TIMEOUT):
        # type: (Optional[float]) -> None
        """Stop every fake device (as :meth:`FakeKATCPClientResourceManager.stop`)."""
        for manager in self.child_managers.values():
            manager.stop(timeout)


def fake_KATCP_client_resource_container_factory(  # noqa: N802 (katcp-python's name)
        KATCPClientResourceContainerClass,  # noqa: N803
        fake_options, resources_spec, *args, **kwargs):
    # type: (Callable[..., ResourceT], Mapping[str, Any], Dict[str, Any], *Any, **Any) -> Tuple[ResourceT, FakeKATCPClientResourceContainerManager]
    """Return ``(container, manager)``: each child talks to its own fake device.

    Arguments as :func:`fake_KATCP_client_resource_factory`, with a
    container spec (``clients={name: spec}``).
    """
    child_managers = {}  # type: Dict[str, FakeKATCPClientResourceManager]
    clients = {}
    try:
        for name, child_spec in resources_spec.get("clients", {}).items():
            manager = child_managers[escape_name(name)] = _start_device()
            clients[name] = dict(child_spec, address=manager.address)
        container = KATCPClientResourceContainerClass(
            dict(resources_spec, clients=clients), *args, **kwargs)
    except BaseException:
        for manager in child_managers.values():
            manager.stop()
        raise
    _stop_with(container, list(child_managers.values()))
    return container, FakeKATCPClientResourceContainerManager(child_managers)
