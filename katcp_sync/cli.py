"""The ``katcp-sync`` command line tool (also ``python -m katcp_sync``).

Sub-commands:

``request HOST:PORT NAME [ARGS...]``
    Send one request, print its informs and reply as KATCP text.
``shell HOST:PORT``
    An interactive session (see :mod:`katcp_sync.cli_shell`).
``monitor HOST:PORT [REGEX]``
    A live table of sensors (see :mod:`katcp_sync.cli_monitor`).
``web HOST:PORT [HOST:PORT ...]``
    A live web page of the devices' sensors (see :mod:`katcp_sync.cli_web`).
``serve [--host H] [--port P] [--unsafe-eval]``
    Run the tutorial's example device server (``examples/tutorial_server.py``)
    on ``127.0.0.1``, without its ``?eval`` unless ``--unsafe-eval`` is given.
``demo``
    Start the example server on a free loopback port and drive it with the
    blocking and high-level clients (see :mod:`katcp_sync.cli_demo`).

Errors (unknown host, refused connection, failed request) are reported as
one line on stderr and a non-zero exit status, never a traceback. Exit
statuses: 0 ok, 1 the device cannot be reached or does not answer in time,
2 a usage error, 3 the device replied ``fail`` or ``invalid``.

Messages are printed as KATCP text, decoded as UTF-8 (bytes that are not
UTF-8 as ``\\xNN``), the same way by every command: the last argument with
its escapes decoded, the others as on the wire (``\\_`` kept, so that each
stays one word); see :func:`format_message`.
"""

import argparse
import logging
import os
import pathlib
import re
import signal
import site
import socket
import sys
import sysconfig
import threading
import time
import types
from typing import Any, Callable, List, NoReturn, Optional, Sequence, Tuple

from .version import __version__
from .client import BlockingClient, DeviceClient
from .connection import format_address, format_seconds
from .errors import KatcpClientError, KatcpSyntaxError
from .message import Message

__all__ = ["main", "format_message", "parse_endpoint", "open_client", "load_example"]

PROG = "katcp-sync"

#: Exit statuses (docs/cli.rst): ok; connection failure or timeout; usage
#: error (argparse's status); a ``fail``/``invalid`` reply from the device.
EXIT_OK, EXIT_CONNECTION, EXIT_USAGE, EXIT_FAILED = 0, 1, 2, 3

#: The example scripts of a source checkout (the package's sibling directory).
SOURCE_EXAMPLES_DIR = pathlib.Path(__file__).resolve().parent.parent / "examples"
#: Where the example scripts are installed, relative to a prefix, for when
#: the package is not run from a source checkout (``[options.data_files]``).
EXAMPLES_DATA_DIR = pathlib.Path("share", "katcp_sync", "examples")

#: Logger of the clients the tool makes; see :class:`_ConnectWatcher`.
client_logger = logging.getLogger("katcp_sync.cli.client")


def error_line(text: str) -> str:
    """``katcp-sync: error: text``, in one style whatever the text's source:
    a library message's sentence case and final full stop are dropped
    (``Request help timed out after 5.0 seconds.`` becomes ``request help
    timed out after 5.0 seconds``), as in argparse's own errors."""
    text = text.strip()
    if text.endswith(".") and not text.endswith(".."):
        text = text[:-1]
    if len(text) > 1 and text[0].isupper() and text[1].islower():
        text = text[0].lower() + text[1:]
    return "%s: error: %s" % (PROG, text)


def die(status: int, text: str) -> NoReturn:
    """Print :func:`error_line` ``(text)`` on stderr and exit with ``status``."""
    print(error_line(text), file=sys.stderr)
    sys.stderr.flush()
    raise SystemExit(status)


def format_message(msg: Message, readable: bool = True) -> str:
    """Return ``msg`` as KATCP text, UTF-8 decoded (bad bytes as ``\\xNN``).

    With ``readable`` False this is the exact wire form. With ``readable``
    True (the default) the *last* argument, which runs to the end of the
    line so that nothing can be confused with a following argument, has its
    escapes decoded: ``#help add Add two numbers`` rather than
    ``#help add Add\\_two\\_numbers``; a newline in it continues on an
    indented line. It stays escaped when decoding would hide something: an
    empty argument (``\\@``), leading or trailing blanks, or control
    characters other than newline and tab.
    """
    wire = bytes(msg).decode("utf-8", "backslashreplace")
    if not readable or not msg.arguments:
        return wire
    last = msg.arguments[-1].decode("utf-8", "backslashreplace")
    if (not last or last != last.strip() or " " not in last and "\n" not in last
            or any(ord(c) < 32 and c not in "\n\t" for c in last)):
        return wire
    head = wire[:wire.rindex(" ")]   # the last argument has no raw space
    first, *more = last.split("\n")
    return "\n".join([head + " " + first] + [("    " + line).rstrip() for line in more])


def parse_endpoint(text: str, default_host: str = "localhost") -> Tuple[str, int]:
    """Parse ``HOST:PORT`` (``[::1]:PORT`` for IPv6, ``:PORT`` or ``PORT`` alone
    for ``default_host``).

    Raises:
        ValueError: no valid port number.
    """
    host, sep, port_text = text.rpartition(":")
    if not sep:
        host, port_text = "", text
    host = host.strip("[]") or default_host
    try:
        port = int(port_text)
    except ValueError:
        raise ValueError("%r is not HOST:PORT (bad port %r)" % (text, port_text)) from None
    if not 0 < port < 65536:
        raise ValueError("%r is not HOST:PORT (port out of range)" % (text,))
    return host, port


def _endpoint(text: str) -> Tuple[str, int]:
    """argparse type for HOST:PORT."""
    try:
        return parse_endpoint(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


class _ConnectWatcher(logging.Handler):
    """Learns from a client's log why a connection attempt failed.

    The client reports a failed connect only by logging it (a warning), so
    the tool gives its clients a logger with this handler: the first warning
    or error keeps its text for the error line and calls ``on_failure``.
    The records are not printed (unless ``--verbose``), so no library noise
    or traceback reaches the terminal.
    """

    def __init__(self, on_failure: Callable[[], Any]) -> None:
        super().__init__(logging.WARNING)
        self.reason = ""
        self._on_failure = on_failure

    def emit(self, record: logging.LogRecord) -> None:
        if not self.reason:
            self.reason = record.getMessage()
            self._on_failure()


def _check_resolvable(host: str, port: int) -> None:
    try:
        socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        die(EXIT_CONNECTION, "cannot resolve host %r: %s"
            % (host, getattr(exc, "strerror", exc) or exc))


def open_client(host: str, port: int, timeout: float,
                client_class: Callable[..., DeviceClient] = BlockingClient,
                **kwargs: Any) -> DeviceClient:
    """Start a client and wait until the device's protocol is known.

    The client makes a single connection attempt (no auto-reconnect).
    Blocks: any thread but a reactor thread (the tool calls it from main).

    Returns:
        the running client; the caller must ``stop()`` and ``join()`` it.

    Raises:
        SystemExit: (after a one-line message on stderr) the host cannot be
            resolved, or the connection failed or timed out.
    """
    _check_resolvable(host, port)
    settled = threading.Event()      # protocol known, or the attempt failed
    watcher = _ConnectWatcher(settled.set)
    client_logger.addHandler(watcher)
    client = client_class(host, port, timeout=timeout, logger=client_logger,
                          auto_reconnect=False, **kwargs)
    client.add_connected_callback(settled.set)
    try:
        client.start()
        settled.wait(timeout)
    finally:
        client.remove_connected_callback(settled.set)
        client_logger.removeHandler(watcher)
    if client.is_connected() and not client.wait_protocol(0):
        # A device that says nothing on connect: the client assumes a
        # protocol after its detection timeout, which may exceed ours.
        client.wait_protocol(client.protocol_detect_timeout + timeout)
    if not client.wait_protocol(0):
        client.stop()
        client.join()
        reason = re.sub(r" \(attempt \d+\)$", "", watcher.reason)
        die(EXIT_CONNECTION, reason or "could not connect to %s within %s seconds"
            % (format_address((host, port)), format_seconds(timeout)))
    return client


def _request(args: argparse.Namespace) -> int:
    host, port = args.endpoint
    try:
        msg = Message.request(args.name, *args.arguments)
    except KatcpSyntaxError as exc:
        die(EXIT_USAGE, str(exc))
    client = open_client(host, port, args.timeout)
    try:
        reply, informs = client.blocking_request(msg, timeout=args.request_timeout)
    except KatcpClientError as exc:
        die(EXIT_CONNECTION, str(exc))
    finally:
        client.stop()
        client.join()
    for msg in informs + [reply]:
        print(format_message(msg, readable=not args.raw))
    sys.stdout.flush()
    if not reply.reply_ok():
        die(EXIT_FAILED, reply_error(reply))
    return EXIT_OK


def reply_error(reply: Message) -> str:
    """A one-line error for a non-``ok`` reply: ``?name replied fail: text``
    (the arguments decoded, as the device meant them)."""
    status = reply.arguments[0].decode("utf-8", "backslashreplace") if reply.arguments else ""
    text = " ".join(a.decode("utf-8", "backslashreplace") for a in reply.arguments[1:])
    return "?%s replied %s%s" % (reply.name, status or "nothing", ": " + text if text else "")


# -- the example server ------------------------------------------------------

def example_paths(name: str) -> List[pathlib.Path]:
    """Where ``examples/<name>.py`` may be, best first.

    The source checkout (``<repo>/examples``, next to this package) comes
    first, then the copies installed as data files under
    ``share/katcp_sync/examples`` of ``sys.prefix``, the ``data`` path of the
    running interpreter's install scheme and the user base (``pip install
    --user``).
    """
    filename = name + ".py"
    prefixes = [sys.prefix, sysconfig.get_path("data"), getattr(site, "USER_BASE", None)]
    paths = [SOURCE_EXAMPLES_DIR / filename]
    for prefix in prefixes:
        if prefix:
            path = pathlib.Path(prefix) / EXAMPLES_DATA_DIR / filename
            if path not in paths:
                paths.append(path)
    return paths


def load_example(name: str) -> Any:
    """Run the example script ``examples/<name>.py`` as a new module.

    No bytecode is cached next to the script (it may be in an installed,
    read-only ``share/`` folder).

    Raises:
        FileNotFoundError: no copy of it found (see :func:`example_paths`).
    """
    for path in example_paths(name):
        if path.is_file():
            # Compiled here rather than imported: an import would write a
            # __pycache__ into the installed share/ folder (issue 15).
            code = compile(path.read_bytes(), str(path), "exec")
            module = types.ModuleType("katcp_sync_example_" + name)
            module.__file__ = str(path)
            exec(code, module.__dict__)
            return module
    raise FileNotFoundError("example %s.py not found in %s" % (
        name, ", ".join(str(p.parent) for p in example_paths(name))))


def example_server_class(allow_eval: bool = False, module: Any = None) -> type:
    """Return ``MyServer`` from the tutorial's example server script.

    Args:
        allow_eval: keep the example's ``?eval``, which runs any client's
            Python expression; by default it is left out (a subclass
            without it).
        module: the loaded example module (default: load it).
    """
    try:
        server_class = (module or load_example("tutorial_server")).MyServer
    except FileNotFoundError as exc:
        die(EXIT_CONNECTION, str(exc))
    if allow_eval:
        return server_class
    # A request attribute that is not callable is no handler (server.py).
    return type(server_class.__name__, (server_class,), {"request_eval": None})


def _serve(args: argparse.Namespace) -> int:
    server_class = example_server_class(allow_eval=args.unsafe_eval)
    server = server_class(args.host, args.port)
    try:
        server.start()
    except OSError as exc:     # its text names the address
        die(EXIT_CONNECTION, exc.strerror or str(exc))
    # The handler only appends to a list: it takes no lock, so it cannot
    # deadlock with the main thread it interrupts (Event.set() could: the
    # main thread may hold the Event's lock inside wait()).
    stop: List[int] = []
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


# -- argument parsing -------------------------------------------------------------

#: Seconds for connecting, and for requests the device gives no hint for.
DEFAULT_TIMEOUT = 5.0


def _add_timeout(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--timeout", type=float, default=None, metavar="SECONDS",
                        help="connection and request timeout (default %g; a request then "
                        "waits as long as the device's timeout hint for it, when the "
                        "device gives one)" % DEFAULT_TIMEOUT)


def _add_raw(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--raw", action="store_true",
                        help="print messages exactly as on the wire (by default the last "
                        "argument of a message is shown with its escapes decoded)")


def build_parser() -> argparse.ArgumentParser:
    """Return the ``katcp-sync`` argument parser."""
    from . import cli_demo, cli_monitor, cli_shell, cli_web

    parser = argparse.ArgumentParser(
        prog=PROG, description="Talk to KATCP devices; run the example device server.",
        epilog="Exit status: 0 ok, 1 connection failure or timeout, 2 usage error, "
        "3 the device replied fail or invalid.")
    parser.add_argument("--version", action="version", version="%(prog)s " + __version__)
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="show katcp_sync's log messages (before or after COMMAND)")
    # -v also after the command; SUPPRESS keeps a -v given before it.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                        help="show katcp_sync's log messages")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True

    def add_command(name: str, **kwargs: Any) -> argparse.ArgumentParser:
        return commands.add_parser(name, parents=[common], **kwargs)

    p = add_command("request", help="send one request and print the reply",
                    description="Send one request; print its informs and reply. "
                    "Exit status: 0 ok, 1 connection failure or timeout, 2 usage "
                    "error, 3 the device replied fail or invalid.")
    p.add_argument("endpoint", type=_endpoint, metavar="HOST:PORT")
    p.add_argument("name", metavar="NAME", help="request name, without '?'")
    p.add_argument("arguments", nargs="*", metavar="ARG")
    _add_timeout(p)
    _add_raw(p)
    p.set_defaults(run=_request)

    p = add_command("shell", help="interactive session with a device",
                    description=_summary(cli_shell))
    p.add_argument("endpoint", type=_endpoint, metavar="HOST:PORT")
    _add_timeout(p)
    _add_raw(p)
    p.set_defaults(run=cli_shell.run)

    p = add_command("monitor", help="live table of a device's sensors",
                    description=_summary(cli_monitor))
    p.add_argument("endpoint", type=_endpoint, metavar="HOST:PORT")
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
    p.set_defaults(run=cli_monitor.run)

    p = add_command("web", help="live web page of devices' sensors",
                    description=_summary(cli_web))
    cli_web.add_arguments(p, _endpoint)
    p.set_defaults(run=cli_web.run)

    p = add_command("serve", help="run the tutorial's example device server",
                    description="Run MyServer from examples/tutorial_server.py. "
                    "-v logs connections and requests.")
    p.add_argument("--host", default="127.0.0.1",
                   help="interface to listen on (default 127.0.0.1; '' for all)")
    p.add_argument("--port", type=int, default=5000, help="TCP port, 0 for any (default 5000)")
    p.add_argument("--unsafe-eval", action="store_true",
                   help="UNSAFE: keep the example's ?eval, which runs any client's "
                   "Python code as this user")
    p.set_defaults(run=_serve)

    p = add_command("demo", help="run the example server and talk to it",
                    description=_summary(cli_demo))
    _add_timeout(p)
    p.set_defaults(run=cli_demo.run)
    return parser


#: Number of parameters of each sampling strategy (spec 7.3).
_STRATEGY_PARAMS = {"none": 0, "auto": 0, "event": 0, "period": 1, "differential": 1,
                    "event-rate": 2, "differential-rate": 3}


def gather_strategy(argv: Sequence[str]) -> List[str]:
    """Rewrite ``--strategy NAME PARAMS...`` as one ``--strategy=NAME PARAMS``.

    ``--strategy`` takes the strategy and its parameters as one argument
    (``--strategy 'period 1'``); so that ``--strategy period 1`` works too,
    in any position, the words after a lone strategy name are joined to it
    while the strategy takes parameters and they are numbers.
    """
    out: List[str] = []
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
            wanted = _STRATEGY_PARAMS.get(parts[0], 3) if len(parts) == 1 else 0
            while wanted and i < len(words) and _is_number(words[i]):
                parts.append(words[i])
                i += 1
                wanted -= 1
            word = "--strategy=" + " ".join(parts)
        out.append(word)
    return out


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _summary(module) -> str:
    """A sub-command module's first docstring line, as plain text for --help."""
    return module.__doc__.splitlines()[0].split(": ", 1)[-1].replace("``", "")


def main(argv: Optional[Sequence[str]] = None) -> int:
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
    except BrokenPipeError:
        # Output piped into e.g. `head`, which exited: not an error.
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:
            pass
        return EXIT_OK
