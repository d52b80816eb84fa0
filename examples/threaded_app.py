"""A legacy threaded application that embeds a KATCP device server.

The device model runs in its own thread and updates sensors at its own pace
(Sensor.set_value is thread-safe); request handlers, which run on the
server's handler thread, talk to the model through its lock-protected
methods and may block. This is the "model thread" pattern of the tutorial's
"Event Loops and Thread Safety" section.

    python examples/threaded_app.py [port]

Try ``?sensor-sampling heater.temperature period 0.5``, ``?set-target 80``
and ``?wait-stable 10``; ``?halt`` ends the program.
"""

from __future__ import print_function  # print() on Python 2.7 too

import sys
import threading
import time

from katcp_sync import DeviceServer, Sensor
from katcp_sync.kattypes import Bool, Float, request, return_reply


class HeaterModel(threading.Thread):
    """A heater whose temperature drifts towards a target (the "hardware")."""

    def __init__(self, temperature_sensor, target_sensor, step=0.1):
        super(HeaterModel, self).__init__(name="heater-model")
        self.daemon = True
        self._lock = threading.Lock()
        self._stable = threading.Condition(self._lock)
        self._temperature = 20.0
        self._target = 20.0
        self._step = step
        self._stop_event = threading.Event()
        self._temperature_sensor = temperature_sensor
        self._target_sensor = target_sensor

    def set_target(self, target):
        with self._lock:
            self._target = target
        self._target_sensor.set_value(target)

    def wait_stable(self, timeout):
        """Block until the temperature is within 0.5 degrees of the target."""
        deadline = time.time() + timeout
        with self._stable:
            while abs(self._temperature - self._target) >= 0.5:
                remaining = deadline - time.time()
                if remaining <= 0:
                    return False
                self._stable.wait(remaining)   # (Condition.wait_for is Python 3 only)
            return True

    def stop(self):
        self._stop_event.set()

    def run(self):
        while not self._stop_event.wait(self._step):
            with self._lock:
                self._temperature += (self._target - self._temperature) * 0.2
                temperature = self._temperature
                self._stable.notify_all()
            status = Sensor.NOMINAL if temperature < 90 else Sensor.WARN
            self._temperature_sensor.set_value(temperature, status)


class HeaterServer(DeviceServer):

    VERSION_INFO = ("heater-api", 1, 0)
    BUILD_INFO = ("heater-app", 0, 1, "")

    def setup_sensors(self):
        """Sensors, and the model thread that updates them."""
        self.temperature = Sensor.float("heater.temperature", "Heater temperature", "degC",
                                        [0.0, 100.0])
        self.target = Sensor.float("heater.target", "Target temperature", "degC",
                                   [0.0, 100.0])
        self.add_sensor(self.temperature)
        self.add_sensor(self.target)
        self.model = HeaterModel(self.temperature, self.target)

    @request(Float(min=0.0, max=100.0))
    @return_reply()
    def request_set_target(self, req, target):
        """Set the target temperature (degC)."""
        self.model.set_target(target)
        return ("ok",)

    @request(Float(min=0.0))
    @return_reply(Bool())
    def request_wait_stable(self, req, timeout):
        """Wait (blocking this handler only) until the temperature is stable."""
        return ("ok", self.model.wait_stable(timeout))


def main(port):
    server = HeaterServer("localhost", port)
    server.model.start()
    server.start()
    print("heater server listening on port %d" % server.bind_address[1])
    try:
        server.join()
    except KeyboardInterrupt:
        server.stop()
    finally:
        server.model.stop()
        server.model.join()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5000)
