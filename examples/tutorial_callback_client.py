"""The tutorial's "Using the Callback Client" example, ported to katcp_sync.

Only the import changed (``katcp`` -> ``katcp_sync``) and ``print`` became a
function, plus an optional host and port on the command line. The
device defaults to ``localhost`` port 5000 (``katcp-sync serve``), where the
tutorial has ``www.example.com``, which runs no KATCP device::

    python examples/tutorial_callback_client.py [HOST PORT]

``callback_request`` returns a future of ``(reply, informs)``; unpacking it,
as the tutorial does, waits until the callbacks have run.
"""

from __future__ import print_function  # print() on Python 2.7 too

import sys

from katcp_sync import CallbackClient, Message

device_host = "localhost"
device_port = 5000

if len(sys.argv) > 2:
    device_host, device_port = sys.argv[1], int(sys.argv[2])

def reply_cb(msg):
    print("Reply:", msg)

def inform_cb(msg):
    print("Inform:", msg)

client = CallbackClient(device_host, device_port)
client.start()

reply, informs = client.callback_request(
    Message.request("help"),
    reply_cb=reply_cb,
    inform_cb=inform_cb,
)

client.stop()
client.join()
