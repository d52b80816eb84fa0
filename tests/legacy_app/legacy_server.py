#!/usr/bin/env python
"""A device server written for katcp-python; only the import lines changed.

``tests/test_legacy_app.py`` also runs these files under katcp-python 0.9.3,
with the imports changed back.
"""

from __future__ import print_function

import logging
import sys
import threading
import time

from katcp_sync import AsyncReply, DeviceServer, FailReply, Message, ProtocolFlags, Sensor
from katcp_sync.kattypes import Float, Int, Str, request, return_reply

log = logging.getLogger("legacy_server")


class LegacyServer(DeviceServer):

    VERSION_INFO = ("legacy-api", 2, 1)
    BUILD_INFO = ("legacy-build", 0, 1, "")
    PROTOCOL_INFO = ProtocolFlags(5, 0, set([
        ProtocolFlags.MULTI_CLIENT,
        ProtocolFlags.MESSAGE_IDS,
    ]))

    def setup_sensors(self):
        self._temperature = Sensor.float(
            "temperature", "The temperature.", "degC", [-50.0, 150.0])
        self._temperature.set_value(21.5, timestamp=1000.0)
        self.add_sensor(self._temperature)
        self._mode = Sensor.discrete(
            "mode", "The operating mode.", "", ["idle", "busy", "error"])
        self._mode.set_value("idle")
        self.add_sensor(self._mode)
        self._counter = Sensor.integer("counter", "Requests served.", "", [0, 1000000])
        self._counter.set_value(0)
        self.add_sensor(self._counter)

    def _count(self):
        self._counter.set_value(self._counter.value() + 1)

    @request(Float(), Float())
    @return_reply(Float())
    def request_add(self, req, x, y):
        """Add two numbers."""
        self._count()
        return ("ok", x + y)

    @request(Float(min=0, max=5))
    @return_reply()
    def request_settle(self, req, seconds):
        """Block the handler thread for a while (a blocking handler)."""
        self._mode.set_value("busy")
        time.sleep(seconds)
        self._mode.set_value("idle")
        self._count()
        return ("ok",)

    @request(Float())
    @return_reply()
    def request_set_temperature(self, req, value):
        """Set the temperature sensor."""
        self._temperature.set_value(value)
        return ("ok",)

    @request(Int(min=0, max=100))
    @return_reply(Int())
    def request_list_items(self, req, count):
        """Send one inform per item, then the count."""
        for i in range(count):
            req.inform(i, "item-%d" % i)
        return ("ok", count)

    def request_later(self, req, msg):
        """Reply from another thread (AsyncReply)."""
        def finish():
            time.sleep(0.05)
            req.reply("ok", "later")
        threading.Thread(target=finish).start()
        raise AsyncReply()

    @request(Str())
    @return_reply()
    def request_fail_with(self, req, text):
        """Fail with the given text."""
        raise FailReply(text)

    def request_raw(self, req, msg):
        """Reply with the arguments, by hand."""
        return req.make_reply("ok", *msg.arguments)


def main(argv):
    logging.basicConfig(level=logging.INFO)
    host, port = "127.0.0.1", int(argv[1]) if len(argv) > 1 else 0
    server = LegacyServer(host, port)
    server.set_restart_queue(None)
    server.start()
    print("listening on %s:%d" % server.bind_address)
    sys.stdout.flush()
    try:
        # katcp-python's main loop: join with a timeout so ^C works
        while server.running():
            server.join(timeout=0.5)
    except KeyboardInterrupt:
        server.stop()
        server.join()


if __name__ == "__main__":
    main(sys.argv)
