"""A katcp-python 0.9.3 DeviceServer with the interop matrix's interface (Python 3.9).

Usage: ``python kp_server.py [PROTOCOL]``, e.g. ``4.0-M`` or ``5.0-M``
(default: katcp-python's own, 5.0-IM). Listens on 127.0.0.1 with a free port and
prints ``{"port": N}`` on one line once it accepts connections. Runs until
stdin is closed or a client sends ``?halt``.

Interface (the same as the other servers of the matrix): a sensor of every
type, ``?echo`` (replies with its arguments after one ``#echo`` inform per
argument) and ``?set-sensor name value`` (sets a sensor from its wire form);
plus ``?add-sensor`` (adds ``new.s``, then ``#interface-changed sensor-list``).
"""

from __future__ import absolute_import, division, print_function

import json
import sys
import threading

import katcp
from katcp import Sensor

STAMP = 1700000000.25


class KpServer(katcp.DeviceServer):
    VERSION_INFO = ("kp-interop-api", 1, 0)
    BUILD_INFO = ("kp-interop-build", 1, 0, "")

    def setup_sensors(self):
        nominal = Sensor.NOMINAL
        for sensor in [
                Sensor.integer("int.s", "An integer", "count", [0, 100], default=0,
                               initial_status=nominal),
                Sensor.float("float.s", "A float", "V", [-10.0, 10.0], default=0.0,
                             initial_status=nominal),
                Sensor.boolean("bool.s", "A boolean", "", default=True, initial_status=nominal),
                Sensor.discrete("discrete.s", "A discrete", "", ["idle", "busy", "broken"],
                                default="idle", initial_status=nominal),
                Sensor.string("string.s", "A string", "", default="hello world",
                              initial_status=nominal),
                Sensor.timestamp("timestamp.s", "A timestamp", "", default=STAMP,
                                 initial_status=nominal),
                Sensor.address("address.s", "An address", "", default=("127.0.0.1", 7147),
                               initial_status=nominal),
                Sensor.lru("lru.s", "An lru", "", default=Sensor.LRU_NOMINAL,
                           initial_status=nominal)]:
            self.add_sensor(sensor)

    def request_echo(self, req, msg):
        """Reply with the arguments, after one #echo inform per argument."""
        for arg in msg.arguments:
            req.inform(arg)
        return req.make_reply("ok", *msg.arguments)

    def request_set_sensor(self, req, msg):
        """?set-sensor name value -- set a sensor from its wire form."""
        name, raw = msg.arguments
        sensor = self.get_sensor(name.decode())
        sensor.set_value(sensor.parse_value(raw))
        return req.make_reply("ok")

    def request_add_sensor(self, req, msg):
        """Add the integer sensor new.s and announce #interface-changed."""
        self.add_sensor(Sensor.integer("new.s", "Added", "", default=3,
                                       initial_status=Sensor.NOMINAL))
        self.mass_inform(katcp.Message.inform("interface-changed", "sensor-list"))
        return req.make_reply("ok")


def main():
    cls = KpServer
    if len(sys.argv) > 1:
        flags = katcp.ProtocolFlags.parse_version(sys.argv[1].encode())
        cls = type("KpServer", (KpServer,), {"PROTOCOL_INFO": flags})
    server = cls("127.0.0.1", 0)
    server.set_concurrency_options(thread_safe=False, handler_thread=False)
    server.start(timeout=5.0)
    sys.stdout.write(json.dumps({"port": server.bind_address[1]}) + "\n")
    sys.stdout.flush()

    def stop_on_eof():
        sys.stdin.read()
        server.stop()
    threading.Thread(target=stop_on_eof, daemon=True).start()
    server.join()


if __name__ == "__main__":
    main()
