"""The tutorial's "Using the Blocking Client" example, ported to katcp_sync.

Only the import changed (``katcp`` -> ``katcp_sync``) and ``print`` became a
function, plus an optional host and port on the command line. The
device defaults to ``localhost`` port 5000 (``katcp-sync serve``), where the
tutorial has ``www.example.com``, which runs no KATCP device::

    python examples/tutorial_blocking_client.py [HOST PORT]
"""

from __future__ import print_function  # print() on Python 2.7 too

import sys

from katcp_sync import BlockingClient, Message

device_host = "localhost"
device_port = 5000

if len(sys.argv) > 2:
    device_host, device_port = sys.argv[1], int(sys.argv[2])

client = BlockingClient(device_host, device_port)
client.start()
client.wait_protocol() # Optional

reply, informs = client.blocking_request(
    Message.request("help"))

print(reply)
for msg in informs:
    print(msg)

client.stop()
client.join()
