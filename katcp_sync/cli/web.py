"""``katcp-sync web HOST:PORT [HOST:PORT ...]``: a live web page of devices' sensors.

Serves, on ``--listen`` (``127.0.0.1:8080`` by default: loopback only), a
page showing every sensor of every device -- name, value, units, status
(coloured as in ``monitor``), timestamp, description on hover, and a small
plot of the last minutes of numeric sensors -- with a filter box and a
connection banner per device. Values are pushed to the browser as they
arrive (Server-Sent Events). ``--allow-requests`` adds a panel to send
requests to the devices; without it the page is read-only. The devices are
watched with the high-level client (see :mod:`katcp_sync.web`). Ctrl-C stops it.
"""

from __future__ import absolute_import, division, print_function

import argparse
import signal
import sys
import threading
from typing import Tuple

from .. import compat
from ..formatting import format_address
from ..web import SensorBoard, WebView
from .common import EXIT_CONNECTION, EXIT_OK, PROG, client_logger, die, endpoint, parse_endpoint

__all__ = ["add_arguments", "run"]


def _listen(text):
    # type: (str) -> Tuple[str, int]
    """argparse type for ``--listen``: ``[HOST:]PORT``, port 0 for any free port."""
    host, _, port = text.rpartition(":")
    if port.strip() == "0":
        return host.strip("[]") or "127.0.0.1", 0
    try:
        return parse_endpoint(text, default_host="127.0.0.1")
    except ValueError as exc:
        raise compat.chained(argparse.ArgumentTypeError(str(exc)), None)


def add_arguments(parser):
    # type: (argparse.ArgumentParser) -> None
    """Add the ``web`` command's arguments to its sub-parser."""
    parser.add_argument("endpoints", type=endpoint, nargs="+", metavar="HOST:PORT")
    parser.add_argument("--listen", type=_listen, default=("127.0.0.1", 8080),
                        metavar="[HOST:]PORT",
                        help="where the page is served (default 127.0.0.1:8080; "
                        "0.0.0.0:PORT to allow other machines)")
    # One argument, split into words (the CLI joins ``--strategy period 1``
    # into ``--strategy='period 1'``), as for ``monitor``.
    parser.add_argument("--strategy", type=str.split, default=["event"],
                        metavar="'STRATEGY [PARAMS]'",
                        help="sampling strategy and parameters for every sensor, e.g. "
                        "--strategy 'period 1' (default: event)")
    parser.add_argument("--allow-requests", action="store_true",
                        help="add a panel to send requests to the devices (off by default)")
    parser.add_argument("--timeout", type=float, default=5.0, metavar="SECONDS",
                        help="request timeout (default 5)")


def run(args):
    # type: (argparse.Namespace) -> int
    """Run the web view for parsed ``args`` until Ctrl-C or SIGTERM."""
    board = SensorBoard(args.endpoints, strategy=args.strategy,
                        allow_requests=args.allow_requests, timeout=args.timeout,
                        client_logger=client_logger)   # quiet unless --verbose
    host, port = args.listen
    view = WebView(board, host, port)
    try:
        view.start()
    except EnvironmentError as exc:     # socket.error is one on 2.7
        die(EXIT_CONNECTION, "cannot listen on %s: %s"
            % (format_address((host, port)), exc.strerror or exc))
    stop = threading.Event()
    previous = {}
    for signum in (signal.SIGINT, signal.SIGTERM):
        previous[signum] = signal.signal(signum, lambda *_: stop.set())
    board.start()
    try:
        print("%s: web view of %s on %s (Ctrl-C to stop)" % (
            PROG, " ".join(format_address(e) for e in args.endpoints), view.url))
        sys.stdout.flush()
        while not stop.wait(0.2):   # wake now and then so that signals are handled
            pass
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        view.stop()
        board.stop()
        board.join(5.0)
    return EXIT_OK
