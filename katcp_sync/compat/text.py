"""Bytes and text across Pythons: the wire is bytes, the native ``str`` is
text on Python 3 and bytes on 2.7 (where users may also pass ``unicode``).

Decoding wire bytes to the native str (``native_str``, ``native_ascii``,
``native_latin1``, lossless ``decode_lossless``/``native_text``, readable
``readable_text``, lenient ``wire_text`` for names and arguments),
encoding back (``wire_bytes``, ``encode_utf8``), byte values
(``byte_const``), bytes-like objects (``to_bytes``, ``join_bytes``),
and katcp-python's ``katcp.compat`` helpers (``ensure_native_str``,
``byte_chars``, ``is_bytes``, ``is_text``).
"""
from __future__ import absolute_import, division, print_function

from typing import Any, List, Text, Tuple, Union  # noqa: F401

import six

from .language import PY2

if PY2:
    import codecs
    import re

    def native_str(data, errors="strict"):
        # type: (bytes, str) -> str
        """Bytes from the wire -> native str (Python 2: the bytes themselves)."""
        return data

    def wire_bytes(text):
        # type: (Any) -> bytes
        """Native str/unicode -> bytes (Python 2: str unchanged, unicode as UTF-8)."""
        return text.encode("utf-8") if isinstance(text, six.text_type) else text

    def decode_lossless(data):
        # type: (bytes) -> str
        return data       # "surrogateescape" does not exist on 2.7: keep the bytes

    def native_text(value):
        # type: (Union[bytes, bytearray, Text]) -> str
        """bytes or text -> native str, losslessly (2.7: unicode as UTF-8)."""
        if isinstance(value, six.text_type):
            return value.encode("utf-8")
        return bytes(value)

    def native_ascii(data):
        # type: (Union[bytes, bytearray, Text]) -> str
        """ASCII bytes or text -> native str; UnicodeError if not ASCII."""
        if isinstance(data, six.text_type):
            return data.encode("ascii")
        data = bytes(data)
        data.decode("ascii")   # validates
        return data

    def native_latin1(data):
        # type: (bytes) -> str
        """Bytes -> native str, one character per byte (for error messages)."""
        return data

    def wire_text(data):
        # type: (bytes) -> str
        """Wire bytes (a name, an argument) as the native str to read or
        compare (Python 2: the bytes themselves)."""
        return data

    # Python 2 encodes lone surrogates: 0xED 0xA0-0xBF ...
    _UTF8_SURROGATE_RE = re.compile(b"\xed[\xa0-\xbf][\x80-\xbf]")

    def encode_utf8(text):
        # type: (Text) -> bytes
        """Text -> UTF-8; lone surrogates (not UTF-8) become ``?`` as on 3.x."""
        data = text.encode("utf-8")
        if b"\xed" in data:
            data = _UTF8_SURROGATE_RE.sub(b"?", data)
        return data

    def _backslash_escape_bytes(exc):
        # type: (UnicodeDecodeError) -> Tuple[Text, int]
        bad = exc.object[exc.start:exc.end]
        return u"".join(u"\\x%02x" % ord(c) for c in bad), exc.end

    # Python 2 knows "backslashreplace" for encoding only.
    codecs.register_error("katcp_sync.backslashreplace", _backslash_escape_bytes)

    def readable_text(data):
        # type: (bytes) -> str
        """Bytes as native text to show: UTF-8 (as bytes on Python 2), other bytes as ``\\xNN``."""
        return data.decode("utf-8", "katcp_sync.backslashreplace").encode("utf-8")

    def to_bytes(data):
        # type: (Any) -> bytes
        """bytes of a bytes-like object (2.7: ``bytes(memoryview)`` is its repr)."""
        return data.tobytes() if isinstance(data, memoryview) else bytes(data)

    def join_bytes(pieces):
        # type: (List[Union[bytes, bytearray]]) -> bytes
        """``b"".join(pieces)`` that also takes bytearrays and memoryviews (2.7's does not)."""
        return b"".join([p if type(p) is bytes else to_bytes(p) for p in pieces])
else:
    def native_str(data, errors="strict"):
        # type: (bytes, str) -> str
        """Bytes from the wire -> native str (Python 3: decoded as UTF-8)."""
        return data.decode("utf-8", errors)

    def wire_bytes(text):
        # type: (Any) -> bytes
        """Native str -> bytes: UTF-8, surrogate escapes back to their bytes (bytes unchanged)."""
        return text.encode("utf-8", "surrogateescape") if isinstance(text, str) else text

    def decode_lossless(data):
        # type: (bytes) -> str
        """Bytes -> native str that :func:`wire_bytes` turns back into the same
        bytes (UTF-8, other bytes as surrogate escapes)."""
        return data.decode("utf-8", "surrogateescape")

    def native_text(value):
        # type: (Union[bytes, bytearray, Text]) -> str
        """bytes or text -> native str, losslessly (bytes decoded with surrogateescape)."""
        if isinstance(value, str):
            return value
        return bytes(value).decode("utf-8", "surrogateescape")

    def native_ascii(data):
        # type: (Union[bytes, bytearray, Text]) -> str
        """ASCII bytes or text -> native str; UnicodeError if not ASCII."""
        if isinstance(data, str):
            data.encode("ascii")   # validates
            return data
        return bytes(data).decode("ascii")

    def native_latin1(data):
        # type: (bytes) -> str
        """Bytes -> native str, one character per byte (for error messages)."""
        return data.decode("latin-1")

    def wire_text(data):
        # type: (bytes) -> str
        """Wire bytes (a name, an argument) as the native str to read or
        compare: UTF-8, bytes that are not UTF-8 replaced by U+FFFD."""
        return data.decode("utf-8", "replace")

    def encode_utf8(text):
        # type: (Text) -> bytes
        """Text -> UTF-8; lone surrogates (not UTF-8) become ``?``."""
        try:
            return text.encode("utf-8")
        except UnicodeEncodeError:
            return text.encode("utf-8", "replace")

    def readable_text(data):
        # type: (bytes) -> str
        """Bytes as native text to show: UTF-8 decoded, other bytes as ``\\xNN``."""
        return data.decode("utf-8", "backslashreplace")

    to_bytes = bytes  # type: ignore  # noqa
    join_bytes = b"".join


def byte_const(char):
    # type: (bytes) -> Any
    """One byte as ``data[i]`` yields it (int on 3.x, 1-char str on 2.7).

    ``X in data`` and ``data[i] == X`` then work on both, and stay memchr-fast
    on 3.x (an int needle is ~4x faster there than a bytes needle).
    """
    return char[0]


# ------------------------------------------------------------------ katcp-python's katcp.compat
def ensure_native_str(value):
    # type: (Union[str, bytes, Text]) -> str
    """Return ``value`` as the native ``str`` (text on Python 3, bytes on 2).

    Bytes are decoded as UTF-8 on Python 3; text is encoded as UTF-8 on 2.

    Raises:
        TypeError: ``value`` is neither bytes nor text.
    """
    if isinstance(value, str):
        return value
    if isinstance(value, (bytes, six.text_type)):
        return native_str(value) if isinstance(value, bytes) else wire_bytes(value)  # type: ignore
    raise TypeError("Invalid type for string conversion: {}".format(type(value)))


def byte_chars(byte_string):
    # type: (bytes) -> List[bytes]
    """Return the one-byte ``bytes`` objects of ``byte_string``."""
    return [byte_string[i:i + 1] for i in range(len(byte_string))]


def is_bytes(value):
    # type: (object) -> bool
    """True for ``bytes`` (``str`` on Python 2)."""
    return isinstance(value, bytes)


def is_text(value):
    # type: (object) -> bool
    """True for text (``str`` on Python 3, ``str`` or ``unicode`` on 2)."""
    return isinstance(value, six.string_types)
