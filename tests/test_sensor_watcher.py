"""SensorWatcher: a proxy mirrors a device's sensors (aiokatcp's SensorWatcher, F154)."""

from __future__ import absolute_import, division, print_function


import pytest

from katcp_sync.sensor import Sensor
from katcp_sync.sensor_watcher import SensorWatcher
from katcp_sync.server import DeviceServer
from katcp_sync.testutils import BlockingTestClient, start_server, wait_sensor

from conftest import load_example
from ordering_support import Gate, StoreOrderSensor, hammer, late_notification

WAIT = 5.0


class Proxy(DeviceServer):
    VERSION_INFO = ("proxy", 1, 0)
    BUILD_INFO = ("proxy", 1, 0, "")

    def setup_sensors(self):
        pass


@pytest.fixture
def tutorial():
    return load_example("tutorial_server")


def test_proxy_mirrors_values_types_and_follows_the_device(tutorial):
    device = tutorial.MyServer("127.0.0.1", 0)
    device.start()
    try:
        with start_server(Proxy) as proxy:
            watcher = SensorWatcher(device.bind_address[0], device.bind_address[1], proxy,
                                    prefix="dev1.")
            watcher.start()
            try:
                watcher.until_synced(WAIT)
                assert set(watcher.sensors) == {"dev1.add.result", "dev1.time.result",
                                                "dev1.eval.result", "dev1.fruit.result"}
                fruit = proxy.get_sensor("dev1.fruit.result")
                assert fruit.stype == "discrete" and fruit.params == list(tutorial.MyServer.FRUIT)
                # A reading on the device reaches the proxy's sensor...
                local = proxy.get_sensor("dev1.add.result")
                device._add_result.set_value(12.5)
                assert wait_sensor(local, 12.5, timeout=WAIT)
                assert local.status() == Sensor.NOMINAL
                # ...and the proxy's own clients, as any sensor of the proxy.
                with BlockingTestClient(None, *proxy.bind_address) as client:
                    client.assert_sensor_equals("dev1.add.result", 12.5, float)
                # The device goes away: every mirrored sensor is unreachable.
                device.stop(timeout=WAIT)
                assert wait_sensor(local, 12.5, status=Sensor.UNREACHABLE, timeout=WAIT)
                # A device comes back on the same port: the strategies are set again.
                device = tutorial.MyServer(*device.bind_address)
                device._add_result.set_value(13.5)
                device.start()
                assert wait_sensor(local, 13.5, status=Sensor.NOMINAL, timeout=WAIT)
            finally:
                watcher.stop()
                watcher.join(WAIT)
    finally:
        device.stop(timeout=WAIT)


def test_filter_and_new_sensors_after_an_interface_change(tutorial):
    device = tutorial.MyServer("127.0.0.1", 0)
    device.start()
    try:
        with start_server(Proxy) as proxy:
            watcher = SensorWatcher(device.bind_address[0], device.bind_address[1], proxy,
                                    sensor_filter=lambda name: name != "eval.result")
            watcher.start()
            try:
                watcher.until_synced(WAIT)
                assert "eval.result" not in watcher.sensors and "add.result" in watcher.sensors
                late = Sensor.integer("late.counter", "Added at run time", "", default=3,
                                      initial_status=Sensor.NOMINAL)
                device.add_sensor(late)        # #interface-changed: the proxy re-syncs
                assert wait_for_sensor(proxy, "late.counter")
                late.set_value(4)
                assert wait_sensor(proxy.get_sensor("late.counter"), 4, timeout=WAIT)
                device.remove_sensor("late.counter")
                assert wait_for_sensor(proxy, "late.counter", present=False)
            finally:
                watcher.stop()
                watcher.join(WAIT)
    finally:
        device.stop(timeout=WAIT)


def wait_for_sensor(server, name, present=True):
    """Wait (on the server's #interface-changed, via a client) for a sensor to come or go."""
    with BlockingTestClient(None, *server.bind_address) as client:
        recorder = client.message_recorder(whitelist=["interface-changed"])
        if server.has_sensor(name) == present:
            return True
        return bool(recorder.get_msgs(1, WAIT)) and server.has_sensor(name) == present


# -- reading order (issue #11, point 1) -------------------------------------------


class BusyDevice(DeviceServer):
    """A device with one sensor set by many threads, and a marker sensor."""

    VERSION_INFO = ("busy", 1, 0)
    BUILD_INFO = ("busy", 1, 0, "")

    def setup_sensors(self):
        self.busy = StoreOrderSensor(Sensor.INTEGER, "busy", default=-10,
                                     initial_status=Sensor.NOMINAL)
        self.gate = Gate(-1)   # hammer() writes values >= 0
        self.busy.attach(self.gate)     # before any strategy: may hold up a writer
        self.marker = Sensor.integer("marker", default=0, initial_status=Sensor.NOMINAL)
        self.add_sensor(self.busy)
        self.add_sensor(self.marker)

    def flush(self, proxy, mark):
        """Return once the proxy has applied everything the device sent before."""
        self.marker.set_value(mark)
        return wait_sensor(proxy.get_sensor("marker"), mark, timeout=WAIT)


@pytest.mark.parametrize("strategy", ["auto", "event"])
def test_mirrors_never_go_back_and_end_on_the_final_reading(strategy):
    with start_server(BusyDevice) as device, start_server(Proxy) as proxy:
        watcher = SensorWatcher(device.bind_address[0], device.bind_address[1], proxy,
                                strategy=strategy)
        watcher.start()
        try:
            watcher.until_synced(WAIT)
            local = proxy.get_sensor("busy")
            assert wait_sensor(local, -10, timeout=WAIT)
            seen = []

            class Record(object):
                def update(self, sensor, reading):
                    seen.append(reading.value)

            local.attach(Record())
            # A device writer held up between its store and its notification.
            late_notification(device.busy, device.gate, -2)
            assert device.flush(proxy, 1)
            assert local.value() == -2
            # Eight writers at once.
            hammer(device.busy.set_value)
            assert device.flush(proxy, 2)
            assert local.value() == device.busy.value()
            positions = device.busy.positions(seen)
            assert positions == sorted(positions), "a mirrored value went back in time"
        finally:
            watcher.stop()
            watcher.join(WAIT)


def test_until_synced_returns_once_the_sensors_are_mirrored():
    """until_synced waits for the mirroring too, which runs in the state
    callback after the resource is already SYNCED (Python 2's thread
    switching showed the race: the proxy had no sensors yet)."""
    import time

    class SlowWatcher(SensorWatcher):
        def _mirror(self):
            time.sleep(0.2)
            super(SlowWatcher, self)._mirror()

    with start_server(BusyDevice) as device, start_server(Proxy) as proxy:
        watcher = SlowWatcher(device.bind_address[0], device.bind_address[1], proxy)
        watcher.start()
        try:
            watcher.until_synced(WAIT)
            assert proxy.has_sensor("busy") and set(watcher.sensors) == {"busy", "marker"}
        finally:
            watcher.stop()
            watcher.join(WAIT)
