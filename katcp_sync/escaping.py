"""KATCP argument escaping (spec 2.1), for one argument or many at once (sans-IO).

Escapes: ``\\\\ \\_ \\0 \\n \\r \\e \\t`` stand for backslash, space,
NUL, LF, CR, ESC and TAB; ``\\@`` stands for the empty string, so a lone
``\\@`` is an empty argument and ``a\\@b`` is ``ab``.

:func:`escape_argument` and :func:`unescape_argument` work on one argument;
:func:`escape_joined` and :func:`unescape_all` do a whole message's
arguments in a few C-level ``bytes.replace`` passes, which is what
:mod:`katcp_sync.message` uses on its hot paths. Stateless; any thread.
"""

from __future__ import absolute_import, division, print_function

import re
from typing import Dict, List, NoReturn, Optional

from . import compat
from .errors import KatcpSyntaxError

__all__ = [
    "escape_argument",
    "unescape_argument",
    "escape_joined",
    "unescape_checked",
    "unescape_all",
    "ESCAPE_LOOKUP",
    "REVERSE_ESCAPE_LOOKUP",
    "GENERAL_PATH_BYTES",
]

#: Raw special byte -> the escape code that follows the backslash (spec 2.1).
ESCAPE_LOOKUP = {
    b"\\": b"\\",
    b" ": b"_",
    b"\0": b"0",
    b"\n": b"n",
    b"\r": b"r",
    b"\x1b": b"e",
    b"\t": b"t",
}  # type: Dict[bytes, bytes]

#: Escape code -> the bytes it stands for; ``@`` is the empty string.
REVERSE_ESCAPE_LOOKUP = {v: k for k, v in ESCAPE_LOOKUP.items()}  # type: Dict[bytes, bytes]
REVERSE_ESCAPE_LOOKUP[b"@"] = b""

#: Bytes that may not appear raw in an argument (spec 2.1 <special>).
_SPECIALS = b"".join(ESCAPE_LOOKUP)
#: A line with escapes but none of these is still split with
#: ``bytes.split()``: no end of line, no forbidden raw bytes, and no VT/FF
#: (which ``split()`` would take as separators although the spec makes them
#: plain characters).
GENERAL_PATH_BYTES = b"\0\x1b\n\r\x0b\x0c"
#: Special bytes that may not appear raw in an argument (backslash escapes).
_RAW_FORBIDDEN_RE = re.compile(br"[\0\x1b\n\r \t]")
#: The valid start of an argument: plain runs and known escapes (an unrolled
#: loop, so a plain run is one tight repeat in C). Where its match ends is the
#: first error: a Python loop over a 2 MB argument took 0.2 s of the reactor.
_PLAIN_RUN = b"[^" + re.escape(_SPECIALS) + b"]*"
_VALID_PREFIX_RE = re.compile(_PLAIN_RUN + br"(?:\\[" + re.escape(b"".join(REVERSE_ESCAPE_LOOKUP))
                              + b"]" + _PLAIN_RUN + b")*")
#: Two-byte marks standing for a backslash, NUL or ESC while one argument is
#: unescaped (see :func:`_unescape_to_marks`); NUL is never raw there.
_BACKSLASH_MARK = b"\0\1"
_NUL_MARK = b"\0\2"
_ESC_MARK = b"\0\3"
#: While many arguments are unescaped at once (:func:`unescape_all`) they
#: are joined with VT, and escaped backslashes are parked as FF: on that path
#: neither byte is ever raw (see GENERAL_PATH_BYTES) nor the result of an
#: escape, so one byte each will do.
_JOIN = b"\x0b"
_BACKSLASH_PARK = b"\x0c"

#: Byte values, for ``in`` tests (an int needle is much faster than bytes on
#: Python 3; see compat.byte_const).
_BACKSLASH = compat.byte_const(b"\\")
_NUL = compat.byte_const(b"\0")
_FF = compat.byte_const(b"\x0c")

#: Joins the arguments while they are escaped together (see escape_joined),
#: and a translate() table that turns it into a space.
_SEPARATOR = b"\xff"
_SEPARATOR_BYTE = compat.byte_const(_SEPARATOR)
_SEPARATOR_TO_SPACE = bytes(bytearray(range(255))) + b" "


def escape_argument(arg):
    # type: (bytes) -> bytes
    """Escape one argument for the wire (spec 2.1).

    Every special byte becomes its backslash escape, and the empty argument
    becomes ``\\@``.

    Args:
        arg: the raw argument.

    Returns:
        The escaped argument, which holds no space, tab or other special byte.
    """
    if not arg:
        return b"\\@"
    if len(arg.translate(None, _SPECIALS)) == len(arg):
        return arg
    return _escape_specials(arg)


def _escape_specials(text):
    # type: (bytes) -> bytes
    """Escape every special byte in ``text``."""
    # Backslash first, so that the escapes added later are not escaped again.
    return (text.replace(b"\\", b"\\\\").replace(b" ", b"\\_")
            .replace(b"\0", b"\\0").replace(b"\n", b"\\n").replace(b"\r", b"\\r")
            .replace(b"\x1b", b"\\e").replace(b"\t", b"\\t"))


def escape_joined(args, spaced=None):
    # type: (List[bytes], Optional[bytes]) -> bytes
    """Escape ``args`` and join them with spaces (spec 2.1).

    Args:
        args: the raw arguments.
        spaced: ``b" ".join(args)``, if the caller has it at hand: one
            memchr in it then shows that no argument holds the byte that
            joins them here.

    Returns:
        The arguments escaped and joined by single spaces, as they follow the
        message name on the wire.
    """
    # Escape in bulk, joined by 0xFF: not special, and never in UTF-8 text.
    body = _SEPARATOR.join(args)
    # (memchr: count() would compare byte by byte, slow on long arguments)
    if (_SEPARATOR_BYTE in spaced if spaced is not None
            else any(_SEPARATOR_BYTE in arg for arg in args)):
        return b" ".join([escape_argument(arg) for arg in args])
    body = _escape_specials(body)
    if b"" in args:
        if len(args) == 1:
            return b"\\@"
        # An empty argument leaves two separators side by side (or one at
        # either end of the body). replace() does not overlap its matches:
        # of three separators in a row (two empty arguments side by side)
        # the first pass takes the first two, the second pass the last two.
        body = (body.replace(b"\xff\xff", b"\xff\\@\xff")
                .replace(b"\xff\xff", b"\xff\\@\xff"))
        if not args[0]:
            body = b"\\@" + body
        if not args[-1]:
            body += b"\\@"
    return body.translate(_SEPARATOR_TO_SPACE)


def unescape_argument(arg):
    # type: (bytes) -> bytes
    """Undo :func:`escape_argument` (spec 2.1).

    ``\\@`` is accepted anywhere and stands for the empty string.

    Args:
        arg: one escaped argument, without surrounding whitespace.

    Returns:
        The raw argument bytes.

    Raises:
        KatcpSyntaxError: on an unknown escape, a trailing backslash, or a raw
            special byte (the message says which, and at which byte).
    """
    return unescape_checked(arg, arg, 0)


def unescape_checked(arg, line, offset):
    # type: (bytes, bytes, int) -> bytes
    """Unescape one argument found at ``offset`` in ``line``, or raise."""
    if _RAW_FORBIDDEN_RE.search(arg) is None:
        if _BACKSLASH not in arg:
            return arg
        value = _unescape_to_marks(arg)
        if value is not None:
            return _unmark(value) if _NUL in value else value
    _raise_argument_error(arg, line, offset)


def _unescape_to_marks(text):
    # type: (bytes) -> Optional[bytes]
    """Replace every escape in ``text``, which must hold no raw NUL.

    Escapes for backslash, NUL and ESC become two-byte marks (see
    :func:`_unmark`); the others become their byte. Returns ``None`` if a
    backslash is left over: an unknown escape code or a lone trailing
    backslash.
    """
    return _replace_escapes(text, _BACKSLASH_MARK, _NUL_MARK, _ESC_MARK)


def _replace_escapes(text, backslash, nul, esc):
    # type: (bytes, bytes, bytes, bytes) -> Optional[bytes]
    """Replace every escape in ``text``; ``None`` if a backslash is left over.

    Escaped backslashes become ``backslash``, ``\\0`` becomes ``nul`` and
    ``\\e`` becomes ``esc`` (marks the caller turns into the real bytes
    later, when those could be confused with bytes of ``text``); the other
    escapes become their byte.
    """
    # Escaped backslashes first: replace() scans left to right without
    # overlap, which is how the grammar reads "\\\\". After that no two
    # backslashes touch, so each one left starts a one-code escape and no
    # replacement below can form a new escape.
    text = text.replace(b"\\\\", backslash)
    if _BACKSLASH in text:
        # The escapes most lines hold (spaces, empty arguments) first: a
        # memchr is much cheaper than a replace() that finds nothing.
        text = text.replace(b"\\_", b" ").replace(b"\\@", b"")
        if _BACKSLASH in text:
            text = (text.replace(b"\\t", b"\t").replace(b"\\n", b"\n")
                    .replace(b"\\r", b"\r").replace(b"\\0", nul).replace(b"\\e", esc))
            if _BACKSLASH in text:
                return None
    return text


def _unmark(arg):
    # type: (bytes) -> bytes
    """Turn the marks left by :func:`_unescape_to_marks` into their bytes."""
    # Every NUL starts a mark, so the marks cannot be confused with the
    # bytes around them, and no replacement output starts a new mark.
    return (arg.replace(_BACKSLASH_MARK, b"\\").replace(_ESC_MARK, b"\x1b")
            .replace(_NUL_MARK, b"\0"))


def unescape_all(raw_args):
    # type: (List[bytes]) -> Optional[List[bytes]]
    """Unescape many arguments in a few C-level passes; ``None`` if one is invalid.

    The arguments must hold none of GENERAL_PATH_BYTES (NUL, ESC, LF, CR,
    VT, FF). They are joined with VT and unescaped together, escaped
    backslashes parked as FF until the end; no escape produces VT, so VT
    still marks only the joins. A trailing backslash meets the joining VT:
    an unknown escape code.
    """
    if not raw_args:
        return []
    joined = _replace_escapes(_JOIN.join(raw_args), _BACKSLASH_PARK, b"\0", b"\x1b")
    if joined is None:
        return None
    if _FF in joined:  # a parked backslash
        joined = joined.replace(_BACKSLASH_PARK, b"\\")
    return joined.split(_JOIN)


def _raise_argument_error(arg, line, offset):
    # type: (bytes, bytes, int) -> NoReturn
    """Raise a :class:`KatcpSyntaxError` naming what is wrong in ``arg``.

    Args:
        arg: the bad argument.
        line: the whole line, attached to the error.
        offset: where ``arg`` starts in ``line``, so the error gives the
            byte position within the line.
    """
    valid = _VALID_PREFIX_RE.match(arg)  # always a match, if only an empty one
    i = valid.end() if valid is not None else 0
    byte = arg[i:i + 1]
    if byte == b"\\":
        code = arg[i + 1:i + 2]
        if not code:
            raise KatcpSyntaxError(
                "trailing backslash at byte %d" % (offset + i), raw=line)
        raise KatcpSyntaxError(
            "invalid escape sequence %r at byte %d"
            % ("\\" + compat.native_latin1(code), offset + i), raw=line)
    if byte:
        raise KatcpSyntaxError(
            "raw special character %r in argument at byte %d"
            % (compat.native_latin1(byte), offset + i), raw=line)
    raise KatcpSyntaxError("invalid argument at byte %d" % offset, raw=line)  # pragma: no cover
