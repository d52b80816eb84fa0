#!/usr/bin/env python
"""A BlockingClient script written for katcp-python; only the import changed.

Usage: legacy_client.py HOST PORT
"""

from __future__ import print_function

import sys

from katcp_sync import BlockingClient, Message


def main(argv):
    host, port = argv[1], int(argv[2])
    client = BlockingClient(host, port)
    client.start()
    try:
        if not client.wait_protocol(timeout=5):
            print("no protocol information from %s:%d" % (host, port))
            return 1
        reply, informs = client.blocking_request(Message.request("add", 2, 3), timeout=5)
        print("add:", reply.arguments[1].decode())
        reply, informs = client.blocking_request(Message.request("list-items", 3), timeout=5)
        print("items:", len(informs), reply.arguments[1].decode())
        reply, informs = client.blocking_request(
            Message.request("sensor-value", "temperature"), timeout=5)
        print("temperature:", informs[0].arguments[4].decode())
        reply, informs = client.blocking_request(Message.request("later"), timeout=5)
        print("later:", reply.arguments[1].decode())
        reply, informs = client.blocking_request(Message.request("fail-with", "broken"),
                                                 timeout=5)
        print("fail-with:", reply.arguments[0].decode(), reply.arguments[1].decode())
    finally:
        client.stop()
        client.join()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
