"""KATCP messages and their wire format (sans-IO).

A :class:`Message` is one KATCP line: a type (request ``?``, reply ``!`` or
inform ``#``), a name, an optional message id and a list of byte-string
arguments. :func:`parse` turns a line into a message and
:meth:`Message.encode` turns a message back into a line. Neither touches a
socket or a thread, so every object here may be used from any thread, but a
single :class:`Message` is not locked: don't mutate one while another thread
encodes it.

Theory of operation
-------------------
The grammar (spec 2.1) is simple enough that most real lines need no
character-by-character work:

* **Parsing.** If a line holds no backslash and none of the bytes that
  ``bytes.split()`` would wrongly treat as separators or that are forbidden
  raw, ``line.split()`` gives exactly the spec's arguments; a few ``in``
  tests (memchr) decide that, and message type and name are cached. Lines
  with escapes are split the same way and unescaped all at once with
  ``bytes.replace`` chains. Only lines that fail are parsed again one
  argument at a time, to say what is wrong and at which byte.
* **Formatting.** Arguments are joined with spaces; only when some argument
  is empty or holds a special byte are they escaped, in bulk.

Escapes (spec 2.1): ``\\\\ \\_ \\0 \\n \\r \\e \\t`` stand for backslash,
space, NUL, LF, CR, ESC and TAB; ``\\@`` stands for the empty string, so a lone
``\\@`` is an empty argument and ``a\\@b`` is ``ab``.
"""

from __future__ import absolute_import, division, print_function

import numbers
import re
from typing import Any, Dict, List, NoReturn, Optional, Sequence, Text, Tuple, Union

import six

from . import compat
from .errors import KatcpSyntaxError, KatcpTypeError
from .escaping import (
    ESCAPE_LOOKUP,
    GENERAL_PATH_BYTES,
    REVERSE_ESCAPE_LOOKUP,
    escape_argument,
    escape_joined,
    unescape_all,
    unescape_argument,
    unescape_checked,
)
from .linebuffer import split_bytes

__all__ = [
    "Message",
    "MessageParser",
    "parse",
    "escape_argument",
    "unescape_argument",
    "ESCAPE_LOOKUP",
    "REVERSE_ESCAPE_LOOKUP",
    "MAX_MID",
]

#: Largest message id allowed by spec 2.2.
MAX_MID = 2 ** 31 - 1

#: Lines at least this long are split into words with find() (memchr) rather
#: than bytes.split(), which tests every byte (see linebuffer.split_bytes).
_LONG_LINE = 2048

#: Parsed message types and names: ``b"#sensor-status"`` ->
#: ``(mtype, name, None)``. Plain dict operations are atomic, so threads
#: may share it; it is cleared when full.
_HEADER_CACHE = {}  # type: Dict[bytes, Tuple[int, str, Optional[bytes]]]
_HEADER_CACHE_SIZE = 512
#: Message heads as encoded, per type: ``"sensor-status"`` ->
#: ``b"#sensor-status"``; shared as _HEADER_CACHE is, and cleared when full.
_HEADS = {0: {}, 1: {}, 2: {}}  # type: Dict[int, Dict[str, bytes]]

_HEADER_RE = re.compile(br"([?!#])([A-Za-z][A-Za-z0-9-]*)(?:\[([1-9][0-9]*)\])?\Z")
_NAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9-]*\Z")
_MID_RE = re.compile(br"[1-9][0-9]*\Z")
_ARGUMENT_RE = re.compile(br"[^ \t]+")

_REQUEST, _REPLY, _INFORM = 0, 1, 2
_TYPE_SYMBOLS = {_REQUEST: b"?", _REPLY: b"!", _INFORM: b"#"}  # type: Dict[int, bytes]
_TYPE_BY_CHAR = {compat.byte_const(s): t for t, s in _TYPE_SYMBOLS.items()}  # type: Dict[Any, int]

# Byte values as ``line[i]`` gives them (int on Python 3, where an int needle
# makes ``in`` a memchr; a 1-byte str on 2.7): see compat.byte_const.
_BACKSLASH = compat.byte_const(b"\\")
_NUL = compat.byte_const(b"\0")
_LF = compat.byte_const(b"\n")
_CR = compat.byte_const(b"\r")
_ESC = compat.byte_const(b"\x1b")
_TAB = compat.byte_const(b"\t")
_SPACE = compat.byte_const(b" ")
_VT = compat.byte_const(b"\x0b")
_FF = compat.byte_const(b"\x0c")
_BLANKS = (_SPACE, _TAB)
_CLOSE_BRACKET = compat.byte_const(b"]")
_ZERO = compat.byte_const(b"0")


def _check_mid_range(mid, line):
    # type: (bytes, Optional[bytes]) -> None
    if len(mid) > 10 or (len(mid) == 10 and int(mid) > MAX_MID):
        raise KatcpSyntaxError(
            "invalid message id %s: must be at most %d" % (compat.native_str(mid), MAX_MID),
            raw=line)


def _normalise_mid(mid):
    # type: (Union[int, Text, bytes, None]) -> Optional[bytes]
    """Convert a user-supplied mid to ASCII digit bytes (spec 2.2)."""
    if mid is None:
        return None
    if isinstance(mid, numbers.Integral) and not isinstance(mid, bool):
        if not 1 <= mid <= MAX_MID:
            raise KatcpSyntaxError(
                "invalid message id %d: must be in 1..%d" % (mid, MAX_MID))
        return b"%d" % mid
    if isinstance(mid, six.text_type):
        try:
            mid = mid.encode("ascii")
        except UnicodeEncodeError:
            raise compat.chained(KatcpSyntaxError("invalid message id %r" % (mid,)), None)
    if isinstance(mid, (bytes, bytearray)):
        mid = bytes(mid)
        if _MID_RE.match(mid) is None:
            raise KatcpSyntaxError(
                "invalid message id %r: must be digits without a leading zero" % (mid,))
        _check_mid_range(mid, None)
        return mid
    raise KatcpTypeError("message id must be int, str or bytes, not %s"
                         % type(mid).__name__)


class Message(object):
    """One KATCP message (spec 2).

    Args:
        mtype: :attr:`REQUEST`, :attr:`REPLY` or :attr:`INFORM`.
        name: the message name, ``[A-Za-z][A-Za-z0-9-]*``: a ``str``, or
            ASCII ``bytes`` or text (``unicode`` on Python 2), stored as the
            native ``str``.
        arguments: values converted with :meth:`format_argument`; stored as
            a list of ``bytes``.
        mid: message id, an int in 1..2**31-1 or its decimal digits as
            ``str``/``bytes``; stored as ``bytes`` or ``None`` (spec 2.2).

    Raises:
        KatcpSyntaxError: bad type, name or message id.
        KatcpTypeError: name or mid of a type that cannot be one.

    Messages are plain values: compare with ``==``, copy with :meth:`copy`.
    They are not hashable, because they are mutable. No locking: a message
    may be passed between threads but not mutated by one while another uses
    it.
    """

    __slots__ = ("mtype", "name", "arguments", "mid")

    REQUEST = _REQUEST
    REPLY = _REPLY
    INFORM = _INFORM

    #: Message type -> upper-case name, as in katcp-python.
    TYPE_NAMES = {_REQUEST: "REQUEST", _REPLY: "REPLY", _INFORM: "INFORM"}
    #: Message type -> its type character on the wire.
    TYPE_SYMBOLS = dict(_TYPE_SYMBOLS)
    #: Type character (``bytes``) -> message type.
    TYPE_SYMBOL_LOOKUP = {v: k for k, v in _TYPE_SYMBOLS.items()}
    #: katcp-python's class attributes: escape code -> the bytes it stands for
    #: (``b"@"`` -> ``b""``), and the reverse. (The module-level
    #: :data:`ESCAPE_LOOKUP` maps the other way, bytes -> code.)
    ESCAPE_LOOKUP = dict(REVERSE_ESCAPE_LOOKUP)
    REVERSE_ESCAPE_LOOKUP = {v: k for k, v in REVERSE_ESCAPE_LOOKUP.items()}

    #: Reply codes (spec 2, table 4).
    OK = b"ok"
    FAIL = b"fail"
    INVALID = b"invalid"

    def __init__(self, mtype, name,
                 arguments=None,
                 mid=None):
        # type: (int, Union[Text, bytes], Optional[Sequence[Any]], Union[int, Text, bytes, None]) -> None
        if isinstance(mtype, bool) or mtype not in (_REQUEST, _REPLY, _INFORM):
            raise KatcpSyntaxError("invalid message type %r" % (mtype,))
        if not isinstance(name, str):
            name = _native_name(name)
        if _NAME_RE.match(name) is None:
            raise KatcpSyntaxError(
                "invalid message name %r: must match [A-Za-z][A-Za-z0-9-]*" % (name,))
        self.mtype = mtype
        self.name = name
        self.mid = _normalise_mid(mid)
        if arguments:
            fmt = self.format_argument
            self.arguments = [fmt(arg) for arg in arguments]
        else:
            self.arguments = []

    # -- construction -----------------------------------------------------

    @staticmethod
    def format_argument(arg):
        # type: (Any) -> bytes
        """Convert a Python value to argument bytes (spec 3, table 6).

        ``bool`` -> ``b"1"``/``b"0"``; integers (including numpy ones) ->
        decimal; other real numbers -> ``repr`` of the ``float``, which
        parses back to the same value; ``bytes`` unchanged; text (``str``,
        ``unicode`` on Python 2) -> UTF-8 (unencodable characters such as
        lone surrogates are replaced by ``?``); anything else -> ``str(arg)``
        in UTF-8.
        """
        kind = type(arg)
        if kind is bytes:
            return arg
        if kind is str:
            return _encode_str(arg)
        if kind is bool:
            return b"1" if arg else b"0"
        if kind is int:
            return b"%d" % arg
        if kind is float:
            return repr(arg).encode("ascii")
        return _format_other(arg)

    @classmethod
    def request(cls, name, *args, **kwargs):
        # type: (str, *Any, **Any) -> "Message"
        """Build a request ``?name [args]``."""
        mid = compat.kwonly_pop(kwargs, 'mid', None)  # type: Union[int, str, bytes, None]
        compat.kwonly_done('request', kwargs)
        return cls(_REQUEST, name, args, mid)

    @classmethod
    def reply(cls, name, *args, **kwargs):
        # type: (str, *Any, **Any) -> "Message"
        """Build a reply ``!name [args]``; the first argument should be a reply code."""
        mid = compat.kwonly_pop(kwargs, 'mid', None)  # type: Union[int, str, bytes, None]
        compat.kwonly_done('reply', kwargs)
        return cls(_REPLY, name, args, mid)

    @classmethod
    def inform(cls, name, *args, **kwargs):
        # type: (str, *Any, **Any) -> "Message"
        """Build an inform ``#name [args]``."""
        mid = compat.kwonly_pop(kwargs, 'mid', None)  # type: Union[int, str, bytes, None]
        compat.kwonly_done('inform', kwargs)
        return cls(_INFORM, name, args, mid)

    @classmethod
    def reply_to_request(cls, req_msg, *args):
        # type: ("Message", *Any) -> "Message"
        """Build the reply to ``req_msg``: same name and message id (spec 2.2)."""
        mid = req_msg.mid
        if cls is Message and type(req_msg) is Message and (mid is None or type(mid) is bytes):
            # Name and id were checked when req_msg was made: don't again
            # (this is every reply a server sends).
            fmt = _format_argument
            return _make(_REPLY, req_msg.name, [fmt(arg) for arg in args], mid)
        return cls(_REPLY, req_msg.name, args, mid)

    @classmethod
    def reply_inform(cls, req_msg, *args):
        # type: ("Message", *Any) -> "Message"
        """Build an inform that is part of the reply to ``req_msg`` (spec 2.3).

        It carries the request's name and message id.
        """
        return cls(_INFORM, req_msg.name, args, req_msg.mid)

    def copy(self):
        # type: () -> "Message"
        """Return a new message with the same fields and its own argument list.

        Unlike katcp-python's ``Message.copy``, which dropped the message id,
        the copy keeps ``mid``: a copy is equal to its original.
        """
        return _make(self.mtype, self.name, list(self.arguments), self.mid)

    # -- inspection -------------------------------------------------------

    def reply_ok(self):
        # type: () -> bool
        """Return True if this is a reply whose first argument is ``ok``."""
        return self.mtype == _REPLY and bool(self.arguments) and self.arguments[0] == b"ok"

    def __eq__(self, other):
        # type: (object) -> bool
        if type(other) is not type(self):
            return NotImplemented
        return (self.mtype == other.mtype and self.name == other.name  # type: ignore[attr-defined]
                and self.mid == other.mid  # type: ignore[attr-defined]
                and self.arguments == other.arguments)  # type: ignore[attr-defined]

    def __ne__(self, other):
        # type: (object) -> bool
        equal = self.__eq__(other)
        return equal if equal is NotImplemented else not equal

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self):
        # type: () -> str
        # Without the message id, as katcp-python's: tests compare
        # repr(reply) with repr(Message.reply(...)). str() shows the id.
        args = []
        for arg in self.arguments:
            text = compat.wire_text(escape_argument(arg))
            if len(text) > 1000:
                text = text[:1000] + "..."
            args.append(text)
        return "<Message %s %s (%s)>" % (
            self.TYPE_NAMES.get(self.mtype, "?").lower(), self.name, ", ".join(args))

    # -- wire form --------------------------------------------------------

    def encode(self):
        # type: () -> bytes
        """Return the wire form of the message, ending with ``b"\\n"``.

        This is what connections write. Every special byte in an argument is
        escaped and an empty argument is sent as ``\\@`` (spec 2.1).
        """
        head = _HEADS[self.mtype].get(self.name)
        if head is None:
            head = _encode_head(self.mtype, self.name)
        mid = self.mid
        args = self.arguments
        if not args:
            if mid is None:
                return head + b"\n"
            return b"".join((head, b"[", mid, b"]\n"))
        if len(args[-1]) >= _LONG_LINE:
            return _encode_long(head if mid is None else b"%s[%s]" % (head, mid), args)
        body = b" ".join(args)
        # Joined by single spaces, the body needs no escaping exactly when it
        # holds no special byte but those spaces and no argument is empty.
        # One memchr per byte value beats a translate() pass, by far on long
        # arguments: backslash, NUL, LF, CR, ESC, TAB.
        if (_BACKSLASH in body or _NUL in body or _LF in body or _CR in body or _ESC in body
                or _TAB in body or b"" in args):
            body = escape_joined(args, body)
        elif len(body) < _LONG_LINE:
            if body.count(b" ") != len(args) - 1:
                body = escape_joined(args, body)
        elif any(_SPACE in arg for arg in args):
            # (count() compares byte by byte, ~25x slower than memchr on
            # long arguments)
            body = escape_joined(args, body)
        # (join copies at memcpy speed; bytes % formatting ~20x slower on
        # long bodies, as fast on short ones)
        if mid is None:
            return b"".join((head, b" ", body, b"\n"))
        return b"".join((head, b"[", mid, b"] ", body, b"\n"))

    def __bytes__(self):
        # type: () -> bytes
        """The wire form without the end-of-line byte."""
        return self.encode()[:-1]

    def __str__(self):
        # type: () -> str
        """The wire form (without end of line) as the native ``str``.

        Decoded as UTF-8 with bad bytes replaced on Python 3; the bytes
        themselves on Python 2.
        """
        return compat.wire_text(self.encode()[:-1])

    def __unicode__(self):
        # type: () -> Text
        """Python 2's ``unicode(msg)``: the wire form decoded as UTF-8, bad bytes replaced."""
        return self.encode()[:-1].decode("utf-8", "replace")


def _encode_head(mtype, name):
    # type: (int, str) -> bytes
    """``b"?name"`` for a message type and name, remembered in :data:`_HEADS`."""
    head = _TYPE_SYMBOLS[mtype] + name.encode("ascii")
    heads = _HEADS[mtype]
    if len(heads) >= _HEADER_CACHE_SIZE:
        heads.clear()
    heads[name] = head
    return head


def _encode_long(head, args):
    # type: (bytes, List[bytes]) -> bytes
    """:meth:`Message.encode` for a message whose last argument is long.

    Each argument is checked where it lies and the line is joined in one
    copy (joining the body first, then the line, would copy a long argument
    twice, each time into memory the process has to fault in anew).
    """
    for arg in args:
        if (not arg or _BACKSLASH in arg or _SPACE in arg or _NUL in arg or _LF in arg
                or _CR in arg or _ESC in arg or _TAB in arg):
            return b"".join((head, b" ", escape_joined(args), b"\n"))
    pieces = [head]
    for arg in args:
        pieces.append(b" ")
        pieces.append(arg)
    pieces.append(b"\n")
    return b"".join(pieces)


# Lone surrogates cannot be UTF-8; send a visible replacement rather than
# fail the whole message.
_encode_str = compat.encode_utf8


def _native_name(name):
    # type: (Any) -> str
    """A message name given as bytes or (Python 2) unicode -> native str."""
    if isinstance(name, (bytes, bytearray, six.text_type)):
        try:
            return compat.native_ascii(name)
        except UnicodeError:
            raise compat.chained(KatcpSyntaxError("invalid message name %r" % (name,)), None)
    raise KatcpTypeError("message name must be str, not %s" % type(name).__name__)


def _format_other(arg):
    # type: (Any) -> bytes
    """format_argument for the types not handled by its fast checks."""
    if isinstance(arg, bytes):
        return bytes(arg)
    if isinstance(arg, six.text_type):
        return _encode_str(arg)
    # numpy.bool_ (numpy.bool in numpy 2) is neither a bool nor Integral.
    kind = type(arg)
    if isinstance(arg, bool) or (kind.__module__ == "numpy" and kind.__name__ in ("bool_", "bool")):
        return b"1" if arg else b"0"
    if isinstance(arg, numbers.Integral):
        return b"%d" % int(arg)
    if isinstance(arg, numbers.Real):
        return repr(float(arg)).encode("ascii")
    try:
        text = str(arg)  # type: Union[str, Text]
    except UnicodeError:   # Python 2: a __str__ returning non-ASCII unicode
        text = six.text_type(arg)
    return text if isinstance(text, bytes) else _encode_str(text)


_new_message = object.__new__
_format_argument = Message.format_argument


def _make(mtype, name, arguments, mid):
    # type: (int, str, List[bytes], Optional[bytes]) -> Message
    """Build a Message from fields already validated (skips ``__init__``)."""
    msg = _new_message(Message)
    msg.mtype = mtype
    msg.name = name
    msg.arguments = arguments
    msg.mid = mid
    return msg


def parse(line):
    # type: (bytes) -> Message
    """Parse one KATCP line into a :class:`Message` (spec 2.1).

    Args:
        line: the line, normally without its end-of-line byte; one trailing
            ``\\n``, ``\\r`` or ``\\r\\n`` is tolerated and ignored.

    Returns:
        The message. Arguments are unescaped bytes; bytes >= 0x80 are kept
        as they are.

    Raises:
        KatcpSyntaxError: the line is not a valid message; the error message
            says what is wrong and at which byte, and ``raw`` holds the line.
        KatcpTypeError: ``line`` is not ``bytes`` (e.g. a ``str``).
    """
    if type(line) is not bytes:
        if not isinstance(line, (bytes, bytearray, memoryview)):
            raise KatcpTypeError("line must be bytes, not %s" % type(line).__name__)
        line = line.tobytes() if isinstance(line, memoryview) else bytes(line)
    # Escapes (backslash) or GENERAL_PATH_BYTES (NUL, ESC, LF, CR, VT, FF)
    # need the slow path. One memchr per byte value beats a translate()
    # pass, by far on long lines.
    if _BACKSLASH in line or _NUL in line or _ESC in line or _LF in line or _CR in line:
        return _parse_slow(line)
    if len(line) < _LONG_LINE:
        if _VT in line or _FF in line:
            return _parse_slow(line)
        parts = line.split()  # type: Optional[List[bytes]]
    else:
        # (VT and FF matter only where split() would take them for spaces)
        parts = _split_words(line)
        if parts is None:
            return _parse_slow(line)
    if not parts:
        raise KatcpSyntaxError("empty line", raw=line)
    header = _HEADER_CACHE.get(parts[0])
    if header is None or line[0] in _BLANKS:
        header = _parse_header(parts[0], line)
    del parts[0]
    # (_make inlined: the call is ~10% of parsing a short line)
    msg = _new_message(Message)
    msg.mtype, msg.name, msg.mid = header
    msg.arguments = parts
    return msg


def _split_words(line):
    # type: (bytes) -> Optional[List[bytes]]
    """The words of a long line that holds no LF or CR, split at spaces and
    tabs only (spec 2.1); ``None`` if it holds a tab and a VT or FF (which
    ``bytes.split()`` would take for separators too)."""
    if _TAB in line:
        return None if _VT in line or _FF in line else line.split()
    # A few short words (name, codes) may come before a long argument.
    words = split_bytes(line, b" ", 8)
    if b"" in words:  # runs of spaces, or spaces at either end
        return [word for word in words if word]
    return words


def _parse_slow(line):
    # type: (bytes) -> Message
    """parse() for lines with escapes, an end of line or unusual bytes."""
    # (memchr for each of GENERAL_PATH_BYTES beats a translate() copy)
    if _LF in line or _CR in line or _NUL in line or _ESC in line or _VT in line or _FF in line:
        if line[-1:] in (b"\n", b"\r"):
            line = line[:-2] if line[-2:] == b"\r\n" else line[:-1]
        if len(line.translate(None, GENERAL_PATH_BYTES)) != len(line):
            return _parse_general(line)
    parts = line.split() if len(line) < _LONG_LINE else _split_words(line)
    if not parts:
        raise KatcpSyntaxError("empty line", raw=line)
    header = _HEADER_CACHE.get(parts[0])
    if header is None or line[0] in _BLANKS:
        header = _parse_header(parts[0], line)
    del parts[0]
    arguments = unescape_all(parts)
    if arguments is None:
        return _parse_general(line)  # raises, saying what is wrong where
    return _make(header[0], header[1], arguments, header[2])


def _parse_header(word, line):
    # type: (bytes, bytes) -> Tuple[int, str, Optional[bytes]]
    """Parse ``word``, the first word of ``line``: ``(mtype, name, mid)``, or raise.

    Type and name are cached by their bytes (``b"?add"``), also for words
    that carry a message id, which is then checked without a regex.
    """
    if line[0] not in _BLANKS and word[-1] == _CLOSE_BRACKET:
        head, _, mid = word[:-1].partition(b"[")
        header = _HEADER_CACHE.get(head)
        if header is not None and mid.isdigit() and mid[0] != _ZERO:
            if len(mid) >= 10:
                _check_mid_range(mid, line)
            return (header[0], header[1], mid)
    match = _HEADER_RE.match(word)
    if match is None or line[0] in _BLANKS:
        _raise_header_error(line)
    mid = match.group(3)
    if mid is not None:
        _check_mid_range(mid, line)
    header = (_TYPE_BY_CHAR[word[0]], compat.native_str(match.group(2)), None)
    if len(_HEADER_CACHE) >= _HEADER_CACHE_SIZE:
        _HEADER_CACHE.clear()
    _HEADER_CACHE[word[:match.end(2)]] = header
    return header if mid is None else (header[0], header[1], mid)


def _parse_general(line):
    # type: (bytes) -> Message
    """parse() for any line: one argument at a time, with precise errors.

    Used for lines the fast path cannot split (VT/FF, forbidden raw bytes)
    and to explain why a line with escapes is invalid.
    """
    args = _ARGUMENT_RE.finditer(line)
    first = next(args, None)
    if first is None:
        raise KatcpSyntaxError("empty line", raw=line)
    if first.start() != 0:
        _raise_header_error(line)
    header = _parse_header(first.group(), line)
    arguments = [unescape_checked(found.group(), line, found.start()) for found in args]
    return _make(header[0], header[1], arguments, header[2])


def _raise_header_error(line):
    # type: (bytes) -> NoReturn
    """Raise a :class:`KatcpSyntaxError` naming what is wrong in the header."""
    if not line.strip(b" \t"):
        raise KatcpSyntaxError("empty line", raw=line)
    first = line[:1]
    if first in (b" ", b"\t"):
        raise KatcpSyntaxError("whitespace before the message type at byte 0", raw=line)
    if line[0] not in _TYPE_BY_CHAR:
        raise KatcpSyntaxError(
            "bad message type character %r at byte 0: expected '?', '!' or '#'"
            % compat.native_latin1(first), raw=line)
    header = _ARGUMENT_RE.match(line)
    word = header.group() if header is not None else b""
    name = re.match(br".[A-Za-z][A-Za-z0-9-]*", word)
    if name is None:
        raise KatcpSyntaxError(
            "invalid message name at byte 1: must match [A-Za-z][A-Za-z0-9-]*", raw=line)
    rest = word[name.end():]
    if rest.startswith(b"["):
        mid = re.match(br"\[([1-9][0-9]*)\]\Z", rest)
        if mid is None:
            raise KatcpSyntaxError(
                "invalid message id %r at byte %d: must be [digits] without a leading zero"
                % (compat.native_latin1(rest), name.end()), raw=line)
        _check_mid_range(mid.group(1), line)
    raise KatcpSyntaxError(
        "invalid message name at byte 1: unexpected %r at byte %d"
        % (compat.native_latin1(rest[:1]), name.end()), raw=line)


class MessageParser(object):
    """Parses KATCP lines into messages (katcp-python's API).

    Stateless: one parser may be shared by any number of threads.
    """

    #: Escape code -> the bytes it stands for, as katcp-python's.
    ESCAPE_LOOKUP = Message.ESCAPE_LOOKUP

    def parse(self, line):
        # type: (bytes) -> Message
        """Parse one line, given without its end of line; see :func:`parse`.

        Raises:
            KatcpSyntaxError: as :func:`parse`, and (as katcp-python's
                parser) for a line that still ends with an end of line (LF or CR).
        """
        if isinstance(line, bytes) and line[-1:] in (b"\n", b"\r"):
            raise KatcpSyntaxError("line %r ends with an end-of-line character: "
                                   "pass the line without it" % (line[:80],))
        return parse(line)
