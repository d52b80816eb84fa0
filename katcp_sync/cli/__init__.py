"""The ``katcp-sync`` command line tool (also ``python -m katcp_sync``).

Sub-commands:

``request HOST:PORT NAME [ARGS...]``
    Send one request, print its informs and reply as KATCP text.
``shell HOST:PORT``
    An interactive session (see :mod:`katcp_sync.cli.shell`).
``monitor HOST:PORT [REGEX]``
    A live table of sensors (see :mod:`katcp_sync.cli.monitor`).
``web HOST:PORT [HOST:PORT ...]``
    A live web page of the devices' sensors (see :mod:`katcp_sync.cli.web`).
``serve [--host H] [--port P] [--unsafe-eval]``
    Run the tutorial's example device server (``examples/tutorial_server.py``)
    on ``127.0.0.1``, without its ``?eval`` unless ``--unsafe-eval`` is given.
``demo``
    Start the example server on a free loopback port and drive it with the
    blocking and high-level clients (see :mod:`katcp_sync.cli.demo`).

Errors (unknown host, refused connection, failed request) are reported as
one line on stderr and a non-zero exit status, never a traceback. Exit
statuses: 0 ok, 1 the device cannot be reached or does not answer in time,
2 a usage error, 3 the device replied ``fail`` or ``invalid``
(:mod:`katcp_sync.cli.common`).

Messages are printed as KATCP text, decoded as UTF-8 (bytes that are not
UTF-8 as ``\\xNN``), the same way by every command: the last argument with
its escapes decoded, the others as on the wire (``\\_`` kept, so that each
stays one word); see :func:`katcp_sync.display.format_message`.

This module holds the argument parser and :func:`main`; each command has
its own module (:mod:`~katcp_sync.cli.request`, :mod:`~katcp_sync.cli.shell`,
...) and the helpers they share are in :mod:`katcp_sync.cli.common` and
:mod:`katcp_sync.cli.examples`.
"""

from __future__ import absolute_import, division, print_function

import argparse
import errno
import logging
import os
import sys
import types
from typing import Any, List, Optional, Sequence

from ..display import format_message
from ..strategies import STRATEGY_BY_NAME, STRATEGY_TABLE
from ..version import __version__
from . import demo, monitor, request, serve, shell, web
from .common import (EXIT_CONNECTION, EXIT_FAILED, EXIT_OK, EXIT_USAGE, PROG, client_logger, endpoint,
                     listen_port, open_client, parse_endpoint)
from .examples import example_server_class, load_example

__all__ = ["main", "build_parser", "format_message", "parse_endpoint", "open_client",
           "load_example", "example_server_class",
           "EXIT_OK", "EXIT_CONNECTION", "EXIT_USAGE", "EXIT_FAILED"]

# -- argument parsing -------------------------------------------------------------

#: Seconds for connecting, and for requests the device gives no hint for.
DEFAULT_TIMEOUT = 5.0


def _add_timeout(parser):
    # type: (argparse.ArgumentParser) -> None
    parser.add_argument("--timeout", type=float, default=None, metavar="SECONDS",
                        help="connection and request timeout (default %g; a request then "
                        "waits as long as the device's timeout hint for it, when the "
                        "device gives one)" % DEFAULT_TIMEOUT)


def _add_raw(parser):
    # type: (argparse.ArgumentParser) -> None
    parser.add_argument("--raw", action="store_true",
                        help="print messages exactly as on the wire (by default the last "
                        "argument of a message is shown with its escapes decoded)")


class _Version(argparse.Action):
    """``--version`` on stdout (argparse's own prints on stderr on Python 2)."""

    def __call__(self, parser, namespace, values, option_string=None):
        # type: (argparse.ArgumentParser, argparse.Namespace, Any, Optional[str]) -> None
        print("%s %s" % (parser.prog, __version__))
        parser.exit()


def build_parser():
    # type: () -> argparse.ArgumentParser
    """Return the ``katcp-sync`` argument parser."""
    parser = argparse.ArgumentParser(
        prog=PROG, description="Talk to KATCP devices; run the example device server.",
        epilog="Exit status: 0 ok, 1 connection failure or timeout, 2 usage error, "
        "3 the device replied fail or invalid.")
    parser.add_argument("--version", action=_Version, nargs=0, default=argparse.SUPPRESS,
                        help="show program's version number and exit")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="show katcp_sync's log messages (before or after COMMAND)")
    # -v also after the command; SUPPRESS keeps a -v given before it.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                        help="show katcp_sync's log messages")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True

    def add_command(name, **kwargs):
        # type: (str, **Any) -> argparse.ArgumentParser
        return commands.add_parser(name, parents=[common], **kwargs)

    p = add_command("request", help="send one request and print the reply",
                    description="Send one request; print its informs and reply. "
                    "Exit status: 0 ok, 1 connection failure or timeout, 2 usage "
                    "error, 3 the device replied fail or invalid.")
    p.add_argument("endpoint", type=endpoint, metavar="HOST:PORT")
    p.add_argument("name", metavar="NAME", help="request name ('?' optional)")
    p.add_argument("arguments", nargs="*", metavar="ARG")
    _add_timeout(p)
    _add_raw(p)
    p.set_defaults(run=request.run)

    p = add_command("shell", help="interactive session with a device",
                    description=_summary(shell))
    p.add_argument("endpoint", type=endpoint, metavar="HOST:PORT")
    _add_timeout(p)
    _add_raw(p)
    p.set_defaults(run=shell.run)

    p = add_command("monitor", help="live table of a device's sensors",
                    description=_summary(monitor))
    p.add_argument("endpoint", type=endpoint, metavar="HOST:PORT")
    p.add_argument("regex", nargs="?", default="", metavar="REGEX",
                   help="only sensors whose name matches (Python re.search)")
    p.add_argument("--strategy", type=str.split, default=["event"],
                   metavar="'STRATEGY [PARAMS]'",
                   help="sampling strategy and its parameters as one argument, e.g. "
                   "--strategy 'period 1' or --strategy=event-rate 0.5 10 "
                   "(default: event)")
    p.add_argument("--once", action="store_true", help="print the table once and exit")
    p.add_argument("--count", type=int, default=0, metavar="N",
                   help="exit after N refreshes (the first is the full table)")
    p.add_argument("--interval", type=float, default=0.5, metavar="SECONDS",
                   help="least time between two redraws on a terminal (default 0.5)")
    _add_timeout(p)
    p.set_defaults(run=monitor.run)

    p = add_command("web", help="live web page of devices' sensors",
                    description=_summary(web))
    web.add_arguments(p)
    p.set_defaults(run=web.run)

    p = add_command("serve", help="run the tutorial's example device server",
                    description="Run MyServer from examples/tutorial_server.py. "
                    "-v logs connections and requests.")
    p.add_argument("--host", default="127.0.0.1",
                   help="interface to listen on (default 127.0.0.1; '' for all)")
    p.add_argument("--port", type=listen_port, default=5000,
                   help="TCP port, 0 for any (default 5000)")
    p.add_argument("--unsafe-eval", action="store_true",
                   help="UNSAFE: keep the example's ?eval, which runs any client's "
                   "Python code as this user")
    p.set_defaults(run=serve.run)

    p = add_command("demo", help="run the example server and talk to it",
                    description=_summary(demo))
    _add_timeout(p)
    p.set_defaults(run=demo.run)
    return parser


#: Most parameters a sampling strategy takes (spec 7.1, Table 9): how many
#: numbers an unknown strategy name collects before it is refused.
_MOST_PARAMS = max(len(row.params) for row in STRATEGY_TABLE)


def gather_strategy(argv):
    # type: (Sequence[str]) -> List[str]
    """Rewrite ``--strategy NAME PARAMS...`` as one ``--strategy=NAME PARAMS``.

    ``--strategy`` takes the strategy and its parameters as one argument
    (``--strategy 'period 1'``); so that ``--strategy period 1`` works too,
    in any position, the words after a lone strategy name are joined to it
    while the strategy takes parameters and they are numbers.
    """
    out = []  # type: List[str]
    words = list(argv)
    i = 0
    while i < len(words):
        word = words[i]
        i += 1
        if word == "--":
            out.extend(words[i - 1:])
            break
        if word.startswith("--strategy=") or (word == "--strategy" and i < len(words)
                                              and not words[i].startswith("--")):
            value = word[len("--strategy="):] if "=" in word else words[i]
            if "=" not in word:
                i += 1
            parts = value.split()
            row = STRATEGY_BY_NAME.get(parts[0])
            wanted = (_MOST_PARAMS if row is None else len(row.params)) if len(parts) == 1 else 0
            while wanted and i < len(words) and _is_number(words[i]):
                parts.append(words[i])
                i += 1
                wanted -= 1
            word = "--strategy=" + " ".join(parts)
        out.append(word)
    return out


def _is_number(text):
    # type: (str) -> bool
    try:
        float(text)
    except ValueError:
        return False
    return True


def _summary(module):
    # type: (types.ModuleType) -> str
    """A sub-command module's first docstring line, as plain text for --help."""
    return (module.__doc__ or "").splitlines()[0].split(": ", 1)[-1].replace("``", "")


def main(argv=None):
    # type: (Optional[Sequence[str]]) -> int
    """Run the tool; return its exit status (the console-script entry point)."""
    parser = build_parser()
    try:
        args = parser.parse_args(gather_strategy(sys.argv[1:] if argv is None else argv))
        if "timeout" in args:
            # An explicit --timeout bounds requests too; by default a
            # request gets the device's hint, if any (client.hinted_timeout).
            args.request_timeout = args.timeout
            if args.timeout is None:
                args.timeout = DEFAULT_TIMEOUT
        if args.verbose:
            logging.basicConfig(level=logging.DEBUG,
                                format="%(asctime)s %(name)s %(levelname)s %(message)s")
        else:
            client_logger.propagate = False
            client_logger.addHandler(logging.NullHandler())
        return args.run(args)
    except SystemExit as exc:
        code = exc.code
        if code is None:
            return 0
        if isinstance(code, int):
            return code
        print(code, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except EnvironmentError as exc:     # BrokenPipeError on 3.x, IOError on 2.7
        if exc.errno != errno.EPIPE:
            raise
        # Output piped into e.g. `head`, which exited: not an error.
        try:
            sys.stdout = open(os.devnull, "w")
        except EnvironmentError:
            pass
        return EXIT_OK
