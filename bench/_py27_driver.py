"""A client load driver that runs on Python 2.7 as well as 3.x (bench_py27).

Run as ``python _py27_driver.py LIB PORT`` where ``LIB`` is ``katcp_sync`` or
``katcp`` (katcp-python 0.9.3): it connects a ``BlockingClient`` to the
device on 127.0.0.1 ``PORT``, warms up, prints ``ready``, then for each line
``MODE COUNT`` on stdin (``MODE`` is ``sequential`` or ``threads:N``) makes
``COUNT`` ``?watchdog`` requests with ``blocking_request`` (``threads:N``: N
threads sharing the client, each making its share back to back) and prints
the rate in requests per second. It stops when stdin closes.

Both libraries have the same API, so the same code drives both, under
whichever interpreter runs this file: keep it Python 2.7 compatible.
"""

from __future__ import absolute_import, division, print_function

import importlib
import sys
import threading
import time

clock = getattr(time, "perf_counter", time.time)


def main(lib, port):
    katcp = importlib.import_module(lib)
    client = katcp.BlockingClient("127.0.0.1", port)
    client.start()
    if not client.wait_protocol(10):
        raise RuntimeError("%s client did not connect to port %d" % (lib, port))
    msg = katcp.Message.request("watchdog")

    def sequential(count):
        request = client.blocking_request
        for _ in range(count):
            reply, _informs = request(msg)
            if not reply.reply_ok():
                raise RuntimeError("?watchdog failed: %s" % (reply,))

    def in_threads(count, threads):
        workers = [threading.Thread(target=sequential, args=(count // threads,))
                   for _ in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()

    try:
        sequential(200)
        print("ready")
        sys.stdout.flush()
        for line in iter(sys.stdin.readline, ""):
            mode, count = line.split()
            count = int(count)
            start = clock()
            if mode == "sequential":
                sequential(count)
            else:
                in_threads(count, int(mode.split(":")[1]))
            print(count / (clock() - start))
            sys.stdout.flush()
    finally:
        client.stop()
        client.join(10)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
