"""``katcp-sync shell HOST:PORT``: an interactive KATCP session.

Type a request as KATCP text, with or without the leading ``?``
(``?add 3 6`` or ``add 3 6``; escapes such as ``\\_`` work). Its informs and
reply are printed as they arrive, then the next prompt appears. Informs the
device sends on its own (``#sensor-status``, ``#log``, ...) are printed
whenever they come, without disturbing the line being typed.

On a terminal the session has readline editing, a history file
(``~/.katcp_sync_history``) and tab completion of request names (from
``?help``) and sensor names (from ``?sensor-list``); ``fail`` and
``invalid`` replies and error ``#log`` informs are coloured (unless
``NO_COLOR`` is set); a request that takes more than a second shows a
pending indicator. Ctrl-C clears a half-typed line, or abandons a pending
request (its reply is not shown) and keeps the session. ``exit``, ``quit``
or Ctrl-D end the session. When stdin is not a terminal, lines are read
from it one by one without readline, which is how scripts and tests drive
it; there Ctrl-C ends the session.
"""

from __future__ import absolute_import, division, print_function

import argparse
import concurrent.futures
import os
import signal
import socket
import sys
import threading
import time
from typing import Any, Callable, List, Optional

import six

from .. import compat
from ..client import BlockingClient
from ..client_requests import FutureRequest, ReplyFuture
from ..connection import format_address
from ..deadline import Deadline
from ..display import format_message, parse_line
from ..errors import KatcpClientError, KatcpSyntaxError
from ..message import Message
from .common import EXIT_CONNECTION, EXIT_OK, error_line, open_client

__all__ = ["run", "ShellClient"]

HISTORY_FILE = os.path.join("~", ".katcp_sync_history")
_QUIT_WORDS = ("exit", "quit", "\\q")
#: Seconds before a pending request gets its indicator.
PENDING_AFTER = 1.0
#: ANSI SGR codes: errors, warnings, the pending indicator.
RED, YELLOW, DIM = "31", "33", "2"
_LOG_COLOURS = {b"fatal": RED, b"error": RED, b"warn": YELLOW}


def message_colour(msg):
    # type: (Message) -> Optional[str]
    """The colour of a message on a terminal: red for a ``fail`` or
    ``invalid`` reply and an error ``#log``, yellow for a warning ``#log``;
    None for the rest."""
    if msg.mtype == Message.REPLY:
        return None if msg.arguments[:1] == [b"ok"] else RED
    if msg.mtype == Message.INFORM and msg.name == "log" and msg.arguments:
        return _LOG_COLOURS.get(msg.arguments[0])
    return None


class _Output(object):
    """Prints lines from any thread without breaking the line being typed.

    While the main thread sits in ``input()`` with readline, a line printed
    by the reactor thread would land in the middle of the prompt. So the
    current input line is erased, the message printed, and the prompt with
    the user's unfinished text drawn again.
    """

    def __init__(self, readline, prompt, readable=True,
                 colour=False):
        # type: (Any, str, bool, bool) -> None
        self._readline = readline
        self._readable = readable
        self._prompt = prompt
        self._colour = colour
        self._lock = threading.Lock()
        self._status = ""
        #: True while the main thread waits for the user to type.
        self.prompting = False

    def _paint(self, text, colour):
        # type: (str, Optional[str]) -> str
        return "\x1b[%sm%s\x1b[0m" % (colour, text) if colour and self._colour else text

    def show(self, msg):
        # type: (Message) -> None
        """Print a message as KATCP text (see :func:`katcp_sync.cli.format_message`)."""
        self.print(format_message(msg, self._readable), message_colour(msg))

    def error(self, text):
        # type: (str) -> None
        """Print one of the shell's own errors (never a made-up KATCP reply)."""
        self.print(error_line(text), RED)

    def print(self, text, colour=None):
        # type: (str, Optional[str]) -> None
        """Print a line (any thread), keeping the prompt or indicator below it."""
        text = self._paint(text, colour)
        with self._lock:
            if self.prompting and self._readline is not None:
                sys.stdout.write("\r\x1b[K" + text + "\n")
                sys.stdout.write(self._prompt + self._readline.get_line_buffer())
            elif self._status:
                sys.stdout.write("\r\x1b[K" + text + "\n" + self._status)
            else:
                sys.stdout.write(text + "\n")
            sys.stdout.flush()

    def status(self, text):
        # type: (str) -> None
        """Show (or with ``""`` erase) the one-line pending indicator; on a
        terminal only."""
        if self._readline is None:
            return
        with self._lock:
            self._status = self._paint(text, DIM) if text else ""
            sys.stdout.write("\r\x1b[K" + self._status)
            sys.stdout.flush()


class _LiveRequest(FutureRequest):
    """A request whose informs are shown as they arrive (reactor thread);
    its reply or failure goes to the future, as for ``future_request``."""

    __slots__ = ("inform_cb",)

    def __init__(self, msg, future,
                 inform_cb):
        # type: (Message, ReplyFuture, Callable[[Message], Any]) -> None
        super(_LiveRequest, self).__init__(msg, compat.monotonic(), None, future)
        self.inform_cb = inform_cb

    def add_inform(self, msg):
        # type: (Message) -> None
        self.informs.append(msg)
        self.inform_cb(msg)


class ShellClient(BlockingClient):
    """The shell's client: prints every message the device sends on its own.

    Its handlers run on the reactor thread; printing goes through
    :class:`_Output`, which does not disturb the line being typed.
    """

    def __init__(self, *args, **kwargs):
        # type: (*Any, **Any) -> None
        super(ShellClient, self).__init__(*args, **kwargs)
        #: Where messages are printed (set by :func:`run`).
        self.output = None  # type: Optional[_Output]
        #: Set when the device closes the connection.
        self.closed = threading.Event()
        self.add_disconnected_callback(self.closed.set)

    def _show(self, msg):
        # type: (Message) -> None
        if self.output is not None:
            self.output.show(msg)

    def unhandled_inform(self, msg):
        # type: (Message) -> None
        self._show(msg)

    def unhandled_reply(self, msg):
        # type: (Message) -> None
        self._show(msg)

    def inform_version_connect(self, msg):
        # type: (Message) -> None
        super(ShellClient, self).inform_version_connect(msg)
        self._show(msg)

    def inform_disconnect(self, msg):
        # type: (Message) -> None
        super(ShellClient, self).inform_disconnect(msg)
        self._show(msg)

    def live_request(self, msg, inform_cb,
                     timeout=None):
        # type: (Message, Callable[[Message], Any], Optional[float]) -> ReplyFuture
        """Send ``msg``; ``inform_cb(inform)`` runs as each inform arrives.

        Returns a future of ``(reply, informs)`` that fails (timeout,
        disconnection) with an exception rather than with a made-up reply.
        ``timeout`` None: the device's hint for ``msg``, else the client's.
        """
        future = self._new_future()
        self._submit(_LiveRequest(msg, future, inform_cb), self._timeout_for(msg, timeout))
        return future


class _Completer(object):
    """readline completer: request names first, then sensor names."""

    def __init__(self, readline):
        # type: (Any) -> None
        self._readline = readline
        self.requests = []  # type: List[str]
        self.sensors = []  # type: List[str]
        self._matches = []  # type: List[str]

    def complete(self, text, state):
        # type: (str, int) -> Optional[str]
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


def _names(client, request, timeout):
    # type: (BlockingClient, str, float) -> List[str]
    """First arguments of the informs of ``?request`` (empty on any failure)."""
    try:
        reply, informs = client.blocking_request(Message.request(request), timeout=timeout)
    except KatcpClientError:
        return []
    return sorted(compat.wire_text(m.arguments[0]) for m in informs if m.arguments)


def _setup_readline(prompt):
    # type: (str) -> Any
    """Import and configure readline on a terminal; None otherwise."""
    if not sys.stdin.isatty():
        return None
    try:
        # Imported here, only on a terminal: it may be missing, and once imported
        # it changes how input() reads even from a pipe.
        import readline
    except ImportError:
        return None
    readline.parse_and_bind("tab: complete")
    readline.set_completer_delims(" \t")
    try:
        readline.read_history_file(os.path.expanduser(HISTORY_FILE))
    except EnvironmentError:   # IOError on Python 2
        pass
    return readline


class _PromptInterrupts(object):
    """Make Ctrl-C at the readline prompt act at once.

    CPython's readline loop looks for signals only when its ``select()`` is
    interrupted, so a SIGINT that lands while readline is busy with a key
    (echoing, redrawing) stays pending until the line is entered. Here the
    signal's C handler writes its number to a wakeup socket, and a helper
    thread then interrupts the main thread's ``select()`` with a no-op
    SIGUSR1 until the SIGINT handler has run (for at most a second).
    Made and closed on the main thread.
    """

    #: Seconds between two nudges, and how long to keep trying.
    NUDGE_INTERVAL, NUDGE_FOR = 0.02, 1.0

    def __init__(self):
        # type: () -> None
        self._main = threading.get_ident()
        self._arrived = self._handled = 0
        self._handled_event = threading.Event()
        self._reader, self._writer = socket.socketpair()
        self._writer.setblocking(False)
        self._old_wakeup = signal.set_wakeup_fd(self._writer.fileno())
        self._old_sigint = signal.signal(signal.SIGINT, self._on_sigint)
        self._old_sigusr1 = signal.signal(signal.SIGUSR1, lambda signum, frame: None)
        self._thread = threading.Thread(target=self._run, name="katcp-shell-interrupts")
        self._thread.daemon = True
        self._thread.start()

    def _on_sigint(self, signum, frame):
        # type: (int, Any) -> None
        self._handled += 1
        self._handled_event.set()
        raise KeyboardInterrupt

    def _run(self):
        # type: () -> None
        while True:
            try:
                data = self._reader.recv(64)
            except compat.SOCKET_ERRORS:
                return
            if not data:
                return
            self._arrived += data.count(signal.SIGINT)
            deadline = Deadline(self.NUDGE_FOR)
            while self._handled < self._arrived and not deadline.expired():
                self._handled_event.clear()
                signal.pthread_kill(self._main, signal.SIGUSR1)
                self._handled_event.wait(self.NUDGE_INTERVAL)

    def close(self):
        # type: () -> None
        """Restore the signal handlers and end the helper thread."""
        signal.set_wakeup_fd(self._old_wakeup)
        signal.signal(signal.SIGINT, self._old_sigint)
        signal.signal(signal.SIGUSR1, self._old_sigusr1)
        self._writer.close()
        self._thread.join()
        self._reader.close()


def _read_line(readline, prompt, output):
    # type: (Any, str, _Output) -> Optional[str]
    """Next line from the user or stdin; None at end of input.

    On a terminal Ctrl-C drops the line being typed (an empty line is
    returned) rather than ending the session.
    """
    if readline is None:
        line = sys.stdin.readline()
        return line if line else None
    output.prompting = True
    try:
        return six.moves.input(prompt)
    except EOFError:
        sys.stdout.write("\n")
        return None
    except KeyboardInterrupt:
        sys.stdout.write("^C\n")
        return ""
    finally:
        output.prompting = False


def _send(client, msg, output, terminal,
          timeout=None):
    # type: ("ShellClient", Message, _Output, bool, Optional[float]) -> None
    """Send one request; show its informs as they come, then its reply.

    On a terminal a request pending for more than :data:`PENDING_AFTER`
    seconds shows an indicator, and Ctrl-C abandons it: the session goes
    on and its late informs and reply are not shown.
    """
    abandoned = threading.Event()

    def inform(msg):
        # type: (Message) -> None
        if not abandoned.is_set():
            output.show(msg)

    future = client.live_request(msg, inform, timeout)
    started = compat.monotonic()
    try:
        while not concurrent.futures.wait([future], 0.25).done:
            waited = compat.monotonic() - started
            if terminal and waited >= PENDING_AFTER:
                output.status("?%s pending for %d s (Ctrl-C abandons it)" % (msg.name, waited))
    except KeyboardInterrupt:
        if not terminal:
            raise
        abandoned.set()
        output.status("")
        output.error("?%s abandoned; its reply will not be shown" % msg.name)
        return
    output.status("")
    error = future.exception()
    if error is not None:
        output.error(str(error))
    else:
        output.show(future.result()[0])


def run(args):
    # type: (argparse.Namespace) -> int
    """Run the shell for parsed ``args`` (``endpoint``, ``timeout``)."""
    host, port = args.endpoint
    prompt = format_address((host, port)) + "> "
    readline = _setup_readline(prompt)
    colour = readline is not None and sys.stdout.isatty() and "NO_COLOR" not in os.environ
    output = _Output(readline, prompt, readable=not args.raw, colour=colour)
    status = EXIT_OK
    with open_client(host, port, args.timeout, client_class=ShellClient) as client:
        assert isinstance(client, ShellClient)
        client.output = output
        interrupts = (_PromptInterrupts() if readline is not None and compat.READLINE_NUDGE
                      else None)
        try:
            if readline is not None:
                completer = _Completer(readline)
                completer.requests = _names(client, "help", args.timeout)
                completer.sensors = _names(client, "sensor-list", args.timeout)
                readline.set_completer(completer.complete)
                print("Connected to %s (KATCP %s). Tab completes names; Ctrl-C clears the "
                      "line or abandons a request; Ctrl-D quits."
                      % (format_address((host, port)), client.protocol_flags))
            status = _loop(client, readline, prompt, output, args.request_timeout)
        except KeyboardInterrupt:
            sys.stdout.write("\n")
        finally:
            if interrupts is not None:
                interrupts.close()
            if readline is not None:
                try:
                    readline.write_history_file(os.path.expanduser(HISTORY_FILE))
                except EnvironmentError:
                    pass
    return status


def _loop(client, readline, prompt, output,
          timeout):
    # type: (ShellClient, Any, str, _Output, Optional[float]) -> int
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
            output.error(str(exc))
            continue
        _send(client, msg, output, readline is not None, timeout)
    print(error_line("connection closed by the device"), file=sys.stderr)
    return EXIT_CONNECTION
