"""``katcp-sync serve``: run the tutorial's example device server until Ctrl-C."""

from __future__ import absolute_import, division, print_function

import argparse
import signal
import sys
import time
from typing import List

from ..connection import format_address
from .common import EXIT_CONNECTION, EXIT_OK, PROG, die
from .examples import example_server_class

__all__ = ["run"]


def run(args):
    # type: (argparse.Namespace) -> int
    server_class = example_server_class(allow_eval=args.unsafe_eval)
    server = server_class(args.host, args.port)
    try:
        server.start()
    except EnvironmentError as exc:     # socket.error is one on 2.7; its text names the address
        die(EXIT_CONNECTION, exc.strerror or str(exc))
    # The handler only appends to a list: it takes no lock, so it cannot
    # deadlock with the main thread it interrupts (Event.set() could: the
    # main thread may hold the Event's lock inside wait()).
    stop = []  # type: List[int]
    previous = {}
    for signum in (signal.SIGINT, signal.SIGTERM):
        previous[signum] = signal.signal(signum, lambda signum, frame: stop.append(signum))
    try:
        host, port = server.bind_address[:2]
        address = format_address((host or "0.0.0.0", port))
        print("%s: serving the tutorial's example server on %s (Ctrl-C to stop)"
              % (PROG, address))
        sys.stdout.flush()
        if args.unsafe_eval:
            print("%s: WARNING: ?eval is enabled: anyone who can connect to %s can run "
                  "Python code as this user" % (PROG, address), file=sys.stderr)
            sys.stderr.flush()
        # Wake up now and then so that signals are handled promptly on
        # every platform; the server also stops if a client sends ?halt.
        while not stop and server.running():
            time.sleep(0.2)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        server.stop()
        server.join(timeout=5.0)
    return EXIT_OK
