"""KATCP argument types: one Python value <-> the ``bytes`` of one argument (sans-IO).

A :class:`KatcpType` converts between a Python value and the ``bytes`` of one
KATCP argument, in the formats of spec section 3 (Table 6).
``pack(value) -> bytes`` validates (:meth:`KatcpType.check`) then encodes;
``unpack(bytes) -> value`` decodes then validates. Encoders and decoders get
the protocol ``major`` version, which only matters for timestamps (seconds
from v5, milliseconds before).

Error conventions: a value of the wrong Python type raises
:class:`~katcp_sync.errors.KatcpTypeError` (a ``TypeError``); a value of the
right type that is not allowed, or bytes that do not parse, raise
:class:`~katcp_sync.errors.KatcpValueError` (a ``ValueError``).

Lists of arguments are packed and unpacked by :mod:`katcp_sync.arguments`;
the handler decorators are in :mod:`katcp_sync.handlers`;
:mod:`katcp_sync.kattypes` is katcp-python's face for all three. Types are
stateless after construction and may be used from any thread.
"""

from __future__ import absolute_import, division, print_function

import numbers
import re
import struct
from typing import Any, Iterable, List, Optional, Sequence, Text, Tuple, Union, cast

import six

from . import compat
from .errors import KatcpTypeError, KatcpValueError
from .protocol import DEFAULT_KATCP_MAJOR, SEC_TO_MS_FAC, SEC_TS_KATCP_MAJOR

__all__ = ["KatcpType", "Int", "Float", "Bool", "Str", "Discrete", "DiscreteMulti", "Lru",
           "Address", "Timestamp", "TimestampOrNow", "StrictTimestamp", "Struct", "Regex"]

#: A KATCP integer on the wire (Table 6).
INT_RE = re.compile(br"[-+]?[0-9]+\Z")
#: A KATCP float on the wire: decimal only, as C99 strtod reads it without
#: leading spaces (Table 6); Python's float() would also take "1_0" and hex
#: forms, which KATCP does not.
FLOAT_RE = re.compile(
    br"[-+]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?|inf|infinity|nan)\Z",
    re.IGNORECASE,
)
_STRICT_TIMESTAMP_RE = re.compile(br"[0-9]+(?:\.[0-9]+)?\Z")
_IPV6_ADDRESS_RE = re.compile(r"\[(?P<host>[^\[\]]+)\](?::(?P<port>[0-9]+))?\Z")
_IPV4_ADDRESS_RE = re.compile(r"(?P<host>[^:\[\]]+)(?::(?P<port>[0-9]+))?\Z")

#: Longest raw value quoted in an error message.
_MAX_SHOWN = 60


def show_value(value):
    # type: (object) -> str
    """Quote a value (raw bytes or Python object) for an error message."""
    if isinstance(value, (bytes, bytearray)):
        # (Python 2: the bytes themselves, which repr() shows as 3.x does text)
        value = compat.native_str(bytes(value), "backslashreplace")
    text = repr(value)
    if len(text) > _MAX_SHOWN:
        text = text[:_MAX_SHOWN] + "..."
    return text


def _parse_error(raw, what):
    # type: (bytes, str) -> KatcpValueError
    return KatcpValueError("could not parse %s as %s" % (show_value(raw), what))


class KatcpPackTypeError(KatcpTypeError, ValueError):
    """A value of the wrong type to pack or check.

    A :class:`TypeError`, and a :class:`ValueError` as katcp-python's pack
    errors were, so that ``except ValueError`` in code written for it works.
    """


def _wrong_type(value, expected):
    # type: (object, str) -> KatcpTypeError
    return KatcpPackTypeError("expected %s, got %s (%s)"
                              % (expected, show_value(value), type(value).__name__))


def text_of(value):
    # type: (Union[Text, bytes, bytearray]) -> str
    """The native ``str`` of a text/``bytes`` value, losslessly.

    Python 3: bytes decoded as UTF-8, undecodable bytes surviving as
    surrogates. Python 2: bytes as they are, ``unicode`` as UTF-8.
    """
    if type(value) is str or not isinstance(value, (bytes, bytearray, six.text_type)):
        return value
    return compat.native_text(value)


class KatcpType(object):
    """Base of the KATCP types: converts one argument to and from ``bytes``.

    Subclasses set :attr:`name` and implement :meth:`encode` (value to
    ``bytes``, no validation) and :meth:`decode` (``bytes`` to value, raising
    :class:`KatcpValueError` if the bytes do not parse); they override
    :meth:`check` to validate values.

    Args:
        default: value used when an argument is missing (``None``: none).
        optional: a missing argument without a default unpacks to ``None``
            instead of failing, and is left out when packing.
        multiple: this type takes all remaining arguments; only allowed on
            the last type of a decorator.

    Not changed after it is made: one instance may pack and unpack on any
    threads at once (the decorators share theirs between workers).
    """

    #: The KATCP type name (as in ``#sensor-list``).
    name = "unknown"

    def __init__(self, default=None, optional=False,
                 multiple=False):
        # type: (Any, bool, bool) -> None
        self._default = default
        self._optional = optional
        self._multiple = multiple

    @property
    def default(self):
        # type: () -> Any
        """The default value, or ``None``."""
        return self._default

    @property
    def optional(self):
        # type: () -> bool
        """Whether a missing value without a default is allowed."""
        return self._optional

    @property
    def multiple(self):
        # type: () -> bool
        """Whether this type takes all remaining arguments."""
        return self._multiple

    def get_default(self):
        # type: () -> Any
        """Return the default value.

        Raises:
            KatcpValueError: there is no default and the type is not optional.
        """
        if self._default is None and not self._optional:
            raise KatcpValueError("No value or default given")
        return self._default

    def check(self, value, major=DEFAULT_KATCP_MAJOR):
        # type: (object, int) -> None
        """Validate a Python value; return nothing if it is valid.

        Raises:
            KatcpTypeError: the value has the wrong Python type.
            KatcpValueError: the value is not allowed (range, set, pattern).
        """

    def encode(self, value, major):
        # type: (Any, int) -> bytes
        """Format a valid value as the bytes of an argument (no checks)."""
        raise NotImplementedError

    def decode(self, value, major):
        # type: (bytes, int) -> Any
        """Parse the bytes of an argument (no range checks).

        Raises:
            KatcpValueError: the bytes do not parse as this type.
        """
        raise NotImplementedError

    def pack(self, value, nocheck=False,
             major=DEFAULT_KATCP_MAJOR):
        # type: (Any, bool, int) -> bytes
        """Return ``value`` formatted as a KATCP argument (unescaped bytes).

        Args:
            value: the value; ``None`` means "use the default".
            nocheck: skip :meth:`check`.
            major: KATCP major version of the peer.

        Raises:
            KatcpTypeError, KatcpValueError: the value is not valid, or it is
                ``None`` and there is no default.
        """
        if value is None:
            value = self.get_default()
            if value is None:
                raise KatcpValueError("Cannot pack a None value")
        if not nocheck:
            self.check(value, major)
        return self.encode(value, major)

    def unpack(self, packed_value,
               major=DEFAULT_KATCP_MAJOR):
        # type: (Optional[Union[bytes, str]], int) -> Any
        """Parse a KATCP argument (unescaped bytes) into a checked value.

        Args:
            packed_value: the argument; ``None`` (missing) gives the default.
                Text (``str``; ``unicode`` on Python 2) is accepted and treated
                as its UTF-8 bytes.
            major: KATCP major version of the peer.

        Raises:
            KatcpValueError: the bytes do not parse, the value is not allowed,
                or the argument is missing and there is no default.
        """
        if packed_value is None:
            value = self.get_default()
        else:
            if isinstance(packed_value, six.text_type):
                packed_value = compat.wire_bytes(packed_value)
            value = self.decode(packed_value, major)
        if value is not None:
            self.check(value, major)
        return value

    def __repr__(self):
        # type: () -> str
        return "<%s %s>" % (type(self).__name__, self.name)


# Exact-type fast paths: isinstance() against a numbers ABC costs ~10x more,
# and check() sits on the Sensor.set_value hot path.
_INTEGRAL_FAST = six.integer_types
_REAL_FAST = (float,) + six.integer_types


def _check_range(value, minimum, maximum, what):
    # type: (Any, Any, Any, str) -> None
    if minimum is not None and value < minimum:
        raise KatcpValueError("%s %s is lower than minimum %s." % (what, value, minimum))
    if maximum is not None and value > maximum:
        raise KatcpValueError("%s %s is higher than maximum %s." % (what, value, maximum))


class Int(KatcpType):
    """KATCP ``integer``: ``%d`` (Table 6). Values must be ``numbers.Integral``.

    Args:
        min, max: inclusive bounds checked by :meth:`check` (``None``: none).
    """

    name = "integer"

    def __init__(self, min=None, max=None,
                 **kwargs):
        # type: (Optional[int], Optional[int], **Any) -> None
        super(Int, self).__init__(**kwargs)
        self._min = min
        self._max = max

    def encode(self, value, major):
        # type: (int, int) -> bytes
        return b"%d" % value

    def decode(self, value, major):
        # type: (bytes, int) -> int
        if not INT_RE.match(value):
            raise _parse_error(value, "integer")
        return int(value)

    def check(self, value, major=DEFAULT_KATCP_MAJOR):
        # type: (object, int) -> None
        if type(value) not in _INTEGRAL_FAST and not isinstance(value, numbers.Integral):
            raise _wrong_type(value, "an integer")
        if self._min is not None or self._max is not None:
            _check_range(value, self._min, self._max, "Integer")


class Float(KatcpType):
    """KATCP ``float``: ``repr`` of the float, which round-trips exactly.

    Values must be ``numbers.Real`` (ints are promoted).

    Args:
        min, max: inclusive bounds checked by :meth:`check` (``None``: none).
    """

    name = "float"

    def __init__(self, min=None, max=None,
                 **kwargs):
        # type: (Optional[float], Optional[float], **Any) -> None
        super(Float, self).__init__(**kwargs)
        self._min = min
        self._max = max

    def encode(self, value, major):
        # type: (float, int) -> bytes
        return repr(float(value)).encode("ascii")

    def decode(self, value, major):
        # type: (bytes, int) -> float
        if not FLOAT_RE.match(value):
            raise _parse_error(value, "float")
        return float(value)

    def check(self, value, major=DEFAULT_KATCP_MAJOR):
        # type: (object, int) -> None
        if type(value) not in _REAL_FAST and not isinstance(value, numbers.Real):
            raise _wrong_type(value, "a real number")
        if self._min is not None or self._max is not None:
            _check_range(value, self._min, self._max, "Float")


class Bool(KatcpType):
    """KATCP ``boolean``: ``1`` / ``0``; only those two bytes decode.

    Packs any value by its truthiness, as katcp-python did (``"a"`` packs
    as ``1``); only a value without a single truth value (an array) is
    refused.
    """

    name = "boolean"

    def encode(self, value, major):
        # type: (Any, int) -> bytes
        return b"1" if value else b"0"

    def decode(self, value, major):
        # type: (bytes, int) -> bool
        if value == b"1":
            return True
        if value == b"0":
            return False
        raise KatcpValueError("could not parse %s as boolean (expected '0' or '1')"
                              % show_value(value))

    def check(self, value, major=DEFAULT_KATCP_MAJOR):
        # type: (object, int) -> None
        """Any value with a truth value (packed by truthiness, as katcp-python)."""
        try:
            bool(value)
        except (TypeError, ValueError):  # e.g. an array: no single truth value
            raise compat.chained(_wrong_type(value, "a value with a single truth value"), None)


class Str(KatcpType):
    """KATCP ``string``: raw bytes on the wire; the native ``str`` in Python.

    Encodes text (``str``; ``unicode`` on Python 2) as UTF-8, passes
    ``bytes`` through and packs any other value as its ``str()`` (as
    katcp-python). Decodes to ``str``: on Python 3 with the
    ``surrogateescape`` error handler, so that bytes that are not UTF-8
    (allowed by Table 6) survive a decode/encode round trip; on Python 2 the
    bytes themselves, as katcp-python did there.
    """

    name = "string"

    def encode(self, value, major):
        # type: (Any, int) -> bytes
        if isinstance(value, (bytes, bytearray)):
            return bytes(value)
        if not isinstance(value, six.text_type):
            value = str(value)
            if isinstance(value, bytes):  # Python 2
                return value
        return compat.wire_bytes(value)

    def decode(self, value, major):
        # type: (bytes, int) -> str
        return compat.decode_lossless(value)

    def check(self, value, major=DEFAULT_KATCP_MAJOR):
        # type: (object, int) -> None
        """Any value: one that is not ``str``/``bytes`` is packed as ``str(value)``."""


def _checked_text(value):
    # type: (object) -> str
    """Native ``str`` of a text/``bytes`` value, or raise KatcpTypeError."""
    if not isinstance(value, (str, six.text_type, bytes, bytearray)):
        raise _wrong_type(value, "a str or bytes")
    return text_of(value)


class Discrete(Str):
    """KATCP ``discrete``: one of a fixed set of strings.

    Args:
        values: the allowed values (``str``; ``bytes`` are decoded).
        case_insensitive: compare values ignoring case.
    """

    name = "discrete"

    def __init__(self, values,
                 case_insensitive=False, **kwargs):
        # type: (Iterable[Union[str, bytes]], bool, **Any) -> None
        super(Discrete, self).__init__(**kwargs)
        self._values = [text_of(v) for v in values]
        self._case_insensitive = case_insensitive
        if case_insensitive:
            self._valid_values = frozenset(v.lower() for v in self._values)
        else:
            self._valid_values = frozenset(self._values)

    @property
    def values(self):
        # type: () -> List[str]
        """The allowed values, in the order given."""
        return list(self._values)

    def check(self, value, major=DEFAULT_KATCP_MAJOR):
        # type: (object, int) -> None
        key = _checked_text(value)
        if self._case_insensitive:
            key = key.lower()
        if key not in self._valid_values:
            raise KatcpValueError("Discrete value %s is not one of %s%s."
                                  % (show_value(value), self._values,
                                     " (case-insensitive)" if self._case_insensitive else ""))


class DiscreteMulti(Discrete):
    """A list of values from a discrete set, packed as ``a,b,c``.

    The list is sorted case-insensitively when packed and unpacked;
    ``all_keyword`` unpacks to every allowed value.

    Args:
        values: the allowed values.
        all_keyword: the argument meaning "all values" (``None``: none).
        separator: separator between values on the wire.
        case_insensitive: compare values ignoring case.
    """

    name = "discretemulti"

    def __init__(self, values, all_keyword="all",
                 separator=",", **kwargs):
        # type: (Iterable[Union[str, bytes]], Optional[str], str, **Any) -> None
        super(DiscreteMulti, self).__init__(values, **kwargs)
        self.all_keyword = all_keyword
        self.separator = separator

    # A list type on top of Discrete's checks (as in katcp-python), so its
    # encode/decode deliberately take and give lists, not single strings.
    def encode(self, value, major):  # type: ignore[override]
        # type: (Iterable[str], int) -> bytes
        items = sorted((text_of(v) for v in value), key=str.lower)
        return super(DiscreteMulti, self).encode(self.separator.join(items), major)

    def decode(self, value, major):  # type: ignore[override]
        # type: (bytes, int) -> List[str]
        text = super(DiscreteMulti, self).decode(value, major)
        if self.all_keyword and text == self.all_keyword:
            return sorted(self._values, key=str.lower)
        return sorted((v.strip() for v in text.split(self.separator)), key=str.lower)

    def check(self, value, major=DEFAULT_KATCP_MAJOR):
        # type: (object, int) -> None
        if isinstance(value, (str, six.text_type, bytes)) or not isinstance(value, Iterable):
            raise _wrong_type(value, "a list of discrete values")
        for item in value:
            super(DiscreteMulti, self).check(item, major)


class Lru(KatcpType):
    """KATCP ``lru`` (deprecated in v5): ``LRU_NOMINAL``/``LRU_ERROR`` <-> ``nominal``/``error``."""

    name = "lru"

    LRU_NOMINAL, LRU_ERROR = range(2)
    #: LRU constant -> wire name.
    LRU_VALUES = {LRU_NOMINAL: "nominal", LRU_ERROR: "error"}
    #: Wire name -> LRU constant.
    LRU_CONSTANTS = {"nominal": LRU_NOMINAL, "error": LRU_ERROR}
    _RAW_CONSTANTS = {b"nominal": LRU_NOMINAL, b"error": LRU_ERROR}

    def encode(self, value, major):
        # type: (int, int) -> bytes
        return self.LRU_VALUES[value].encode("ascii")

    def decode(self, value, major):
        # type: (bytes, int) -> int
        try:
            return self._RAW_CONSTANTS[value]
        except KeyError:
            raise compat.chained(KatcpValueError("could not parse %s as lru (expected 'nominal' or 'error')"
                                  % show_value(value)), None)

    def check(self, value, major=DEFAULT_KATCP_MAJOR):
        # type: (object, int) -> None
        if isinstance(value, bool) or value not in self.LRU_VALUES:
            raise KatcpValueError("Lru value must be Lru.LRU_NOMINAL (0) or Lru.LRU_ERROR (1), "
                                  "got %s" % show_value(value))


class Address(KatcpType):
    """KATCP ``address``: ``(host, port)`` <-> ``host[:port]``.

    IPv6 hosts (those containing ``:``) are written in brackets,
    ``[::1]:80``; ``port`` may be ``None`` (no port). Host names are not
    resolved or validated beyond the syntax.
    """

    name = "address"

    #: Null address, the default value of address sensors.
    NULL = ("0.0.0.0", None)

    def encode(self, value, major):
        # type: (Tuple[str, Optional[int]], int) -> bytes
        host, port = value
        host = text_of(host)
        if ":" in host:
            host = "[%s]" % host
        if port is not None:
            host = "%s:%d" % (host, port)
        return compat.wire_bytes(host)

    def decode(self, value, major):
        # type: (bytes, int) -> Tuple[str, Optional[int]]
        text = compat.decode_lossless(value)
        address_re = _IPV6_ADDRESS_RE if text.startswith("[") else _IPV4_ADDRESS_RE
        match = address_re.match(text)
        if match is None:
            raise _parse_error(value, "address")
        port = match.group("port")
        return match.group("host"), None if port is None else int(port)

    def check(self, value, major=DEFAULT_KATCP_MAJOR):
        # type: (object, int) -> None
        pair = value  # type: Any  # unpacking it is the check
        try:
            host, port = pair
        except (TypeError, ValueError):
            raise compat.chained(_wrong_type(value, "a (host, port) tuple"), None)
        if not isinstance(host, (str, six.text_type, bytes)) or not host:
            raise _wrong_type(host, "a non-empty host string")
        if port is not None:
            if not isinstance(port, numbers.Integral) or isinstance(port, bool):
                raise _wrong_type(port, "an integer port or None")
            _check_range(port, 0, 65535, "Port")


class Timestamp(KatcpType):
    """KATCP ``timestamp``: float seconds since the Unix epoch (UTC).

    On the wire (Table 6 and its notes): from v5 seconds as ``%.6f``
    (microseconds, about what a float holds for current dates); before v5
    integer milliseconds, rounded to the nearest millisecond. Decoding
    accepts a fractional part in both and divides v4 values by 1000.
    """

    name = "timestamp"

    def encode(self, value, major):
        # type: (float, int) -> bytes
        if major >= SEC_TS_KATCP_MAJOR:
            return b"%.6f" % value
        return b"%d" % compat.round_int(value * SEC_TO_MS_FAC)

    def decode(self, value, major):
        # type: (bytes, int) -> float
        if not FLOAT_RE.match(value):
            raise _parse_error(value, "timestamp")
        decoded = float(value)
        if major < SEC_TS_KATCP_MAJOR:
            decoded /= SEC_TO_MS_FAC
        return decoded

    def check(self, value, major=DEFAULT_KATCP_MAJOR):
        # type: (object, int) -> None
        if type(value) not in _REAL_FAST and not isinstance(value, numbers.Real):
            raise _wrong_type(value, "a timestamp in seconds (a real number)")


class _Now(object):
    """Type of :attr:`TimestampOrNow.NOW`."""

    def __repr__(self):
        # type: () -> str
        return "TimestampOrNow.NOW"


class TimestampOrNow(Timestamp):
    """A :class:`Timestamp` or the word ``now`` (spec appendix A.4).

    ``now`` unpacks to the sentinel :attr:`NOW`, which packs back to ``now``.
    """

    name = "timestamp_or_now"

    #: Sentinel value meaning "now".
    NOW = _Now()

    def encode(self, value, major):
        # type: (Union[float, "_Now"], int) -> bytes
        if value is self.NOW:
            return b"now"
        return super(TimestampOrNow, self).encode(cast(float, value), major)

    def decode(self, value, major):  # type: ignore[override]
        # type: (bytes, int) -> Union[float, "_Now"]
        if value == b"now":
            return self.NOW
        return super(TimestampOrNow, self).decode(value, major)

    def check(self, value, major=DEFAULT_KATCP_MAJOR):
        # type: (object, int) -> None
        if value is not self.NOW:
            super(TimestampOrNow, self).check(value, major)


class StrictTimestamp(KatcpType):
    """A non-negative timestamp in seconds, strictly ``digits[.digits]``.

    Unlike :class:`Timestamp` it ignores the protocol version and rejects
    signs, exponents and ``nan``. Packs as ``repr()`` (as katcp-python),
    or ``%.6f`` where ``repr()`` would use an exponent.
    """

    name = "strict_timestamp"

    def encode(self, value, major):
        # type: (float, int) -> bytes
        # repr, as katcp-python; fixed point where repr would use an exponent
        text = repr(float(value))
        return (b"%.6f" % value) if "e" in text else text.encode("ascii")

    def decode(self, value, major):
        # type: (bytes, int) -> float
        if not _STRICT_TIMESTAMP_RE.match(value):
            raise _parse_error(value, "strict timestamp (digits[.digits])")
        return float(value)

    def check(self, value, major=DEFAULT_KATCP_MAJOR):
        # type: (object, int) -> None
        if type(value) not in _REAL_FAST and not isinstance(value, numbers.Real):
            raise _wrong_type(value, "a timestamp in seconds (a real number)")
        if not cast(float, value) >= 0:
            raise KatcpValueError("Strict timestamps may not be negative (got %s)." % value)


class Struct(KatcpType):
    """Binary data packed with :mod:`struct`: a tuple <-> ``struct.pack(fmt, *value)``.

    Args:
        fmt: a :mod:`struct` format string.
    """

    name = "struct"

    def __init__(self, fmt, **kwargs):
        # type: (str, **Any) -> None
        super(Struct, self).__init__(**kwargs)
        self._fmt = fmt

    def encode(self, value, major):
        # type: (Sequence[Any], int) -> bytes
        try:
            return struct.pack(self._fmt, *value)
        except (struct.error, TypeError) as error:
            raise compat.chained(KatcpValueError("could not pack %s with struct format %r: %s"
                                  % (show_value(value), self._fmt, error)), None)

    def decode(self, value, major):
        # type: (bytes, int) -> Tuple[Any, ...]
        try:
            return struct.unpack(self._fmt, value)
        except struct.error as error:
            raise compat.chained(KatcpValueError("could not unpack %s with struct format %r: %s"
                                  % (show_value(value), self._fmt, error)), None)


class Regex(Str):
    """A string that must match a regular expression (``re.match``, anchored at the start).

    Args:
        regex: pattern string or compiled ``str`` pattern.
    """

    name = "regex"

    def __init__(self, regex, **kwargs):
        # type: (Union[str, "re.Pattern[str]"], **Any) -> None
        super(Regex, self).__init__(**kwargs)
        self._compiled = (
            cast("re.Pattern[str]", regex) if hasattr(regex, "pattern") else re.compile(regex))  # type: "re.Pattern[str]"
        self._pattern = self._compiled.pattern

    def check(self, value, major=DEFAULT_KATCP_MAJOR):
        # type: (object, int) -> None
        if not self._compiled.match(_checked_text(value)):
            raise KatcpValueError("Value %s does not match regex %r."
                                  % (show_value(value), self._pattern))
