"""The tutorial's "Writing your own Client" example, ported to katcp_sync.

Only the import changed (``katcp`` -> ``katcp_sync``) and ``print`` became a
function, plus an optional host and port on the command line. The
device defaults to ``localhost`` port 5000 (``katcp-sync serve``), where the
tutorial has ``www.example.com``, which runs no KATCP device::

    python examples/tutorial_custom_client.py [HOST PORT]
"""

from __future__ import print_function  # print() on Python 2.7 too

import sys

from katcp_sync import DeviceClient, Message
import time

device_host = "localhost"
device_port = 5000

if len(sys.argv) > 2:
    device_host, device_port = sys.argv[1], int(sys.argv[2])

class MyClient(DeviceClient):

    def reply_help(self, msg):
        """Print out help replies."""
        print(msg.name, msg.arguments)

    def inform_help(self, msg):
        """Print out help inform messages."""
        meth, desc = msg.arguments[:2]
        print("---------", meth, "---------")
        print()
        print(desc)
        print("----------------------------")

    def unhandled_reply(self, msg):
        """Print out unhandled replies."""
        print("Unhandled reply", msg.name)

    def unhandled_inform(self, msg):
        "Print out unhandled informs."""
        print("Unhandled inform", msg.name)


client = MyClient(device_host, device_port)
client.start()

client.request(Message.request("help"))
client.request(Message.request("watchdog"))

time.sleep(0.5)

client.stop()
client.join()
