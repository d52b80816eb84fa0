"""How people see KATCP: messages as readable text, typed lines as requests.

Shared by the command line tool (:mod:`katcp_sync.cli`) and the web view
(:mod:`katcp_sync.web`), so that both show a message, read a typed request
and colour a sensor status the same way. Pure functions and constants: no
I/O, no threads.
"""

from __future__ import absolute_import, division, print_function

from . import compat
from .errors import KatcpSyntaxError
from .message import Message, parse

__all__ = ["format_message", "parse_line", "STATUS_COLOURS"]

#: ANSI SGR codes per status name, by severity.
STATUS_COLOURS = {
    "nominal": "32",        # green
    "warn": "33",           # yellow
    "error": "31",          # red
    "failure": "1;31",      # bold red
    "unreachable": "35",    # magenta
    "unknown": "2",         # dim
    "inactive": "2",
}


def format_message(msg, readable=True):
    # type: (Message, bool) -> str
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
    wire = compat.readable_text(msg.encode()[:-1])
    if not readable or not msg.arguments:
        return wire
    last = compat.readable_text(msg.arguments[-1])
    if (not last or last != last.strip() or " " not in last and "\n" not in last
            or any(ord(c) < 32 and c not in "\n\t" for c in last)):
        return wire
    head = wire[:wire.rindex(" ")]   # the last argument has no raw space
    lines = last.split("\n")
    first, more = lines[0], lines[1:]
    return "\n".join([head + " " + first] + [("    " + line).rstrip() for line in more])


def parse_line(line):
    # type: (str) -> Message
    """Turn a typed line (``?add 3 6`` or ``add 3 6``) into a request.

    Raises:
        KatcpSyntaxError: not valid KATCP, or not a request.
    """
    text = compat.ensure_native_str(line).strip()
    if not text.startswith(("?", "!", "#")):
        text = "?" + text
    msg = parse(compat.wire_bytes(text))
    if msg.mtype != Message.REQUEST:
        raise KatcpSyntaxError("only requests can be sent (start with '?' or a name)")
    return msg
