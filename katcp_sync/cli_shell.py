"""``katcp-sync shell HOST:PORT``: an interactive KATCP session.

Type a request as KATCP text, with or without the leading ``?``
(``?add 3 6`` or ``add 3 6``; escapes such as ``\\_`` work). Its informs and
reply are printed as they arrive, then the next prompt appears. Informs the
device sends on its own (``#sensor-status``, ``#log``, ...) are printed
whenever they come, without disturbing the line being typed.

On a terminal the session has readline editing, a history file
(``~/.katcp_sync_history``) and tab completion of request names (from
``?help``) and sensor names (from ``?sensor-list``). When stdin is not a
terminal, lines are read from it one by one without readline, which is how
scripts and tests drive it. ``exit``, ``quit``, end of file or Ctrl-C end
the session.
"""

import argparse
import os
import sys
import threading
from typing import Any, List, Optional

from .cli import EXIT_CONNECTION, EXIT_OK, PROG, format_message, open_client
from .client import BlockingClient
from .errors import KatcpClientError, KatcpSyntaxError
from .message import Message, parse

__all__ = ["run", "ShellClient"]

HISTORY_FILE = os.path.join("~", ".katcp_sync_history")
_QUIT_WORDS = ("exit", "quit", "\\q")


class _Output:
    """Prints lines from any thread without breaking the line being typed.

    While the main thread sits in ``input()`` with readline, a line printed
    by the reactor thread would land in the middle of the prompt. So the
    current input line is erased, the message printed, and the prompt with
    the user's unfinished text drawn again.
    """

    def __init__(self, readline: Any, prompt: str, readable: bool = True) -> None:
        self._readline = readline
        self._readable = readable
        self._prompt = prompt
        self._lock = threading.Lock()
        #: True while the main thread waits for the user to type.
        self.prompting = False

    def show(self, msg: Message) -> None:
        """Print a message as KATCP text (see :func:`katcp_sync.cli.format_message`)."""
        self.print(format_message(msg, self._readable))

    def print(self, text: str) -> None:
        with self._lock:
            if self.prompting and self._readline is not None:
                sys.stdout.write("\r\x1b[K" + text + "\n")
                sys.stdout.write(self._prompt + self._readline.get_line_buffer())
            else:
                sys.stdout.write(text + "\n")
            sys.stdout.flush()


class ShellClient(BlockingClient):
    """The shell's client: prints every message the device sends on its own.

    Its handlers run on the reactor thread; printing goes through
    :class:`_Output`, which does not disturb the line being typed.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: Where messages are printed (set by :func:`run`).
        self.output: Optional[_Output] = None
        #: Set when the device closes the connection.
        self.closed = threading.Event()
        self.add_disconnected_callback(self.closed.set)

    def _show(self, msg: Message) -> None:
        if self.output is not None:
            self.output.show(msg)

    def unhandled_inform(self, msg: Message) -> None:
        self._show(msg)

    def unhandled_reply(self, msg: Message) -> None:
        self._show(msg)

    def inform_version_connect(self, msg: Message) -> None:
        super().inform_version_connect(msg)
        self._show(msg)

    def inform_disconnect(self, msg: Message) -> None:
        super().inform_disconnect(msg)
        self._show(msg)


class _Completer:
    """readline completer: request names first, then sensor names."""

    def __init__(self, readline: Any) -> None:
        self._readline = readline
        self.requests: List[str] = []
        self.sensors: List[str] = []
        self._matches: List[str] = []

    def complete(self, text: str, state: int) -> Optional[str]:
        if state == 0:
            line = self._readline.get_line_buffer()
            first_word = not line[:self._readline.get_begidx()].strip()
            if first_word:
                prefix = "?" if text.startswith("?") else ""
                bare = text[len(prefix):]
                self._matches = [prefix + name + " " for name in self.requests
                                 if name.startswith(bare)]
            else:
                self._matches = [name + " " for name in self.sensors if name.startswith(text)]
        return self._matches[state] if state < len(self._matches) else None


def _names(client: BlockingClient, request: str, timeout: float) -> List[str]:
    """First arguments of the informs of ``?request`` (empty on any failure)."""
    try:
        reply, informs = client.blocking_request(Message.request(request), timeout=timeout)
    except KatcpClientError:
        return []
    return sorted(m.arguments[0].decode("utf-8", "replace") for m in informs if m.arguments)


def _setup_readline(prompt: str) -> Any:
    """Import and configure readline on a terminal; None otherwise."""
    if not sys.stdin.isatty():
        return None
    try:
        import readline
    except ImportError:
        return None
    readline.parse_and_bind("tab: complete")
    readline.set_completer_delims(" \t")
    try:
        readline.read_history_file(os.path.expanduser(HISTORY_FILE))
    except OSError:
        pass
    return readline


def parse_line(line: str) -> Message:
    """Turn a typed line (``?add 3 6`` or ``add 3 6``) into a request.

    Raises:
        KatcpSyntaxError: not valid KATCP, or not a request.
    """
    text = line.strip()
    if not text.startswith(("?", "!", "#")):
        text = "?" + text
    msg = parse(text.encode("utf-8"))
    if msg.mtype != Message.REQUEST:
        raise KatcpSyntaxError("only requests can be sent (start with '?' or a name)")
    return msg


def _read_line(readline: Any, prompt: str, output: _Output) -> Optional[str]:
    """Next line from the user or stdin; None at end of input."""
    if readline is None:
        line = sys.stdin.readline()
        return line if line else None
    output.prompting = True
    try:
        return input(prompt)
    except EOFError:
        sys.stdout.write("\n")
        return None
    finally:
        output.prompting = False


def run(args: argparse.Namespace) -> int:
    """Run the shell for parsed ``args`` (``endpoint``, ``timeout``)."""
    host, port = args.endpoint
    prompt = "%s:%d> " % (host, port)
    readline = _setup_readline(prompt)
    output = _Output(readline, prompt, readable=not args.raw)
    client = open_client(host, port, args.timeout, client_class=ShellClient)
    assert isinstance(client, ShellClient)
    client.output = output
    status = EXIT_OK
    try:
        if readline is not None:
            completer = _Completer(readline)
            completer.requests = _names(client, "help", args.timeout)
            completer.sensors = _names(client, "sensor-list", args.timeout)
            readline.set_completer(completer.complete)
            print("Connected to %s:%d (KATCP %s). Tab completes names; Ctrl-D quits."
                  % (host, port, client.protocol_flags))
        status = _loop(client, readline, prompt, output, args.timeout)
    except KeyboardInterrupt:
        sys.stdout.write("\n")
    finally:
        client.stop()
        client.join()
        if readline is not None:
            try:
                readline.write_history_file(os.path.expanduser(HISTORY_FILE))
            except OSError:
                pass
    return status


def _loop(client: ShellClient, readline: Any, prompt: str, output: _Output,
          timeout: float) -> int:
    while not client.closed.is_set():
        line = _read_line(readline, prompt, output)
        if line is None:
            return EXIT_OK
        if not line.strip():
            continue
        if line.strip() in _QUIT_WORDS:
            return EXIT_OK
        try:
            msg = parse_line(line)
        except KatcpSyntaxError as exc:
            output.print("%s: %s" % (PROG, exc))
            continue
        future = client.callback_request(msg, reply_cb=output.show, inform_cb=output.show,
                                         timeout=timeout)
        try:
            future.result(timeout + 1.0)
        except Exception as exc:  # the reply callback already showed a fail reply
            output.print("%s: %s" % (PROG, exc))
    print("%s: connection closed by the device" % PROG, file=sys.stderr)
    return EXIT_CONNECTION
