"""The tutorial's "Writing your own Async Server" example, ported to katcp_sync.

As in the tutorial, the server of tutorial_server.py becomes an
AsyncDeviceServer (handlers run on the event-loop thread and must not block)
and the main block runs the loop itself. katcp_sync has no tornado: the
loop is a katcp_sync Reactor, ``ioloop.add_callback_from_signal`` becomes
``ioloop.add_callback`` (safe from a signal handler) and the coroutine
``on_shutdown`` waits for ``server.stop()``'s future with a callback.
Optional port on the command line (default 5000). It listens on ``localhost``
only (the tutorial's ``""`` means every interface, and ``?eval`` runs any
client's Python code)::

    python examples/tutorial_async_server.py [port]
"""

from __future__ import print_function  # print() on Python 2.7 too

import threading
import time
import random
import signal
import sys

from katcp_sync import DeviceServer, Sensor, ProtocolFlags, AsyncReply
from katcp_sync import AsyncDeviceServer
from katcp_sync.kattypes import (Str, Float, Timestamp, Discrete,
                                 request, return_reply)
from katcp_sync.reactor import Reactor

server_host = "localhost"  # "" would listen on every interface
server_port = 5000


class MyServer(AsyncDeviceServer):

    VERSION_INFO = ("example-api", 1, 0)
    BUILD_INFO = ("example-implementation", 0, 1, "")

    # Optionally set the KATCP protocol version and features. Defaults to
    # the latest implemented version of KATCP, with all supported optional
    # features
    PROTOCOL_INFO = ProtocolFlags(5, 0, set([
        ProtocolFlags.MULTI_CLIENT,
        ProtocolFlags.MESSAGE_IDS,
    ]))

    FRUIT = [
        "apple", "banana", "pear", "kiwi",
    ]

    def setup_sensors(self):
        """Setup some server sensors."""
        self._add_result = Sensor.float("add.result",
            "Last ?add result.", "", [-10000, 10000])

        self._time_result = Sensor.timestamp("time.result",
            "Last ?time result.", "")

        self._eval_result = Sensor.string("eval.result",
            "Last ?eval result.", "")

        self._fruit_result = Sensor.discrete("fruit.result",
            "Last ?pick-fruit result.", "", self.FRUIT)

        self.add_sensor(self._add_result)
        self.add_sensor(self._time_result)
        self.add_sensor(self._eval_result)
        self.add_sensor(self._fruit_result)

    @request(Float(), Float())
    @return_reply(Float())
    def request_add(self, req, x, y):
        """Add two numbers"""
        r = x + y
        self._add_result.set_value(r)
        return ("ok", r)

    @request()
    @return_reply(Timestamp())
    def request_time(self, req):
        """Return the current time in seconds since the Unix Epoch."""
        r = time.time()
        self._time_result.set_value(r)
        return ("ok", r)

    @request(Str())
    @return_reply(Str())
    def request_eval(self, req, expression):
        """Evaluate a Python expression."""
        r = str(eval(expression))
        self._eval_result.set_value(r)
        return ("ok", r)

    @request()
    @return_reply(Discrete(FRUIT))
    def request_pick_fruit(self, req):
        """Pick a random fruit."""
        r = random.choice(self.FRUIT + [None])
        if r is None:
            return ("fail", "No fruit.")
        delay = random.randrange(1,5)
        req.inform("Picking will take %d seconds" % delay)

        def pick_handler():
            self._fruit_result.set_value(r)
            req.reply("ok", r)

        self.ioloop.add_callback(
          self.ioloop.call_later, delay, pick_handler)

        raise AsyncReply

    def request_raw_reverse(self, req, msg):
        """
        A raw request handler to demonstrate the calling convention if
        @request decorator are not used. Reverses the message arguments.
        """
        # msg is a katcp.Message.request object
        reversed_args = msg.arguments[::-1]
        # req.make_reply() makes a katcp.Message.reply using the correct request
        # name and message ID
        return req.make_reply('ok', *reversed_args)


def on_shutdown(ioloop, server):
    print('Shutting down')
    server.stop().add_done_callback(lambda future: ioloop.stop())


if __name__ == "__main__":
    if len(sys.argv) > 1:
        server_port = int(sys.argv[1])

    ioloop = Reactor()
    server = MyServer(server_host, server_port)
    server.set_ioloop(ioloop)
    # Hook up to SIGINT so that ctrl-C results in a clean shutdown
    signal.signal(signal.SIGINT, lambda sig, frame: ioloop.add_callback(
        on_shutdown, ioloop, server))
    ioloop.add_callback(server.start)
    ioloop.start()
    ioloop.join()
