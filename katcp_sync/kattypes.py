"""KATCP argument types and the request/reply handler decorators (sans-IO).

Two halves, both free of sockets and threads:

* **Types.** A :class:`KatcpType` converts between a Python value and the
  ``bytes`` of one KATCP argument, in the formats of spec section 3 (Table 6).
  ``pack(value) -> bytes`` validates (:meth:`KatcpType.check`) then encodes;
  ``unpack(bytes) -> value`` decodes then validates. Encoders and decoders get
  the protocol ``major`` version, which only matters for timestamps
  (seconds from v5, milliseconds before).

* **Decorators.** :func:`request` unpacks a request message into typed
  handler arguments, :func:`return_reply` packs the handler's
  ``("ok", ...)`` tuple into a reply :class:`~katcp_sync.message.Message`;
  :func:`inform`/:func:`unpack_message` do the unpacking for client
  ``inform_*``/``reply_*`` handlers and :func:`send_reply` replies from a
  callback. They are built with ``wrapt`` so that a decorated handler keeps
  its name, docstring (``?help`` shows it) and ``inspect.signature``.
  Markers (:func:`concurrent_reply`, :func:`request_timeout_hint`,
  :func:`minimum_katcp_version`, :func:`has_katcp_protocol_flags`) only set an
  attribute that the server reads; wrapt forwards attribute access, so a
  marker is visible through any stack of decorators, in any order.

Error conventions: a value of the wrong Python type raises
:class:`~katcp_sync.errors.KatcpTypeError` (a ``TypeError``); a value of the
right type that is not allowed, or bytes that do not parse, raise
:class:`~katcp_sync.errors.KatcpValueError` (a ``ValueError``). Inside a
decorated request handler both become
``FailReply("Error in parameter <n> (<name>): <why>")``.

Everything here is stateless after construction and may be used from any
thread.
"""

import concurrent.futures
import inspect
import numbers
import re
import struct
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple, Union, cast

import wrapt

from katcp_sync.errors import FailReply, KatcpTypeError, KatcpValueError
from katcp_sync.futures import chain_future
from katcp_sync.message import Message
from katcp_sync.protocol import (
    DEFAULT_KATCP_MAJOR,
    SEC_TO_MS_FAC,
    SEC_TS_KATCP_MAJOR,
    convert_method_name,
)

__all__ = [
    "KatcpType",
    "Int",
    "Float",
    "Bool",
    "Str",
    "Discrete",
    "DiscreteMulti",
    "Lru",
    "Address",
    "Timestamp",
    "TimestampOrNow",
    "StrictTimestamp",
    "Struct",
    "Regex",
    "Parameter",
    "pack_types",
    "unpack_types",
    "make_reply",
    "request",
    "return_reply",
    "send_reply",
    "inform",
    "unpack_message",
    "concurrent_reply",
    "request_timeout_hint",
    "minimum_katcp_version",
    "has_katcp_protocol_flags",
]

#: A KATCP integer on the wire (Table 6).
INT_RE = re.compile(rb"[-+]?[0-9]+\Z")
#: A KATCP float on the wire: decimal only, as C99 strtod reads it without
#: leading spaces (Table 6); Python's float() would also take "1_0" and hex
#: forms, which KATCP does not.
FLOAT_RE = re.compile(
    rb"[-+]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?|inf|infinity|nan)\Z",
    re.IGNORECASE,
)
_STRICT_TIMESTAMP_RE = re.compile(rb"[0-9]+(?:\.[0-9]+)?\Z")
_IPV6_ADDRESS_RE = re.compile(r"\[(?P<host>[^\[\]]+)\](?::(?P<port>[0-9]+))?\Z")
_IPV4_ADDRESS_RE = re.compile(r"(?P<host>[^:\[\]]+)(?::(?P<port>[0-9]+))?\Z")

#: Longest raw value quoted in an error message.
_MAX_SHOWN = 60


def _show(value: Any) -> str:
    """Quote a value (raw bytes or Python object) for an error message."""
    if isinstance(value, (bytes, bytearray)):
        value = bytes(value).decode("utf-8", "backslashreplace")
    text = repr(value)
    if len(text) > _MAX_SHOWN:
        text = text[:_MAX_SHOWN] + "..."
    return text


def _parse_error(raw: bytes, what: str) -> KatcpValueError:
    return KatcpValueError("could not parse %s as %s" % (_show(raw), what))


class KatcpPackTypeError(KatcpTypeError, ValueError):
    """A value of the wrong type to pack or check.

    A :class:`TypeError`, and a :class:`ValueError` as katcp-python's pack
    errors were, so that ``except ValueError`` in code written for it works.
    """


def _wrong_type(value: Any, expected: str) -> KatcpTypeError:
    return KatcpPackTypeError("expected %s, got %s (%s)"
                              % (expected, _show(value), type(value).__name__))


def _as_text(value: Union[str, bytes]) -> str:
    """``str`` of a ``str``/``bytes`` value; undecodable bytes survive as surrogates."""
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", "surrogateescape")
    return value


class KatcpType:
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
    """

    #: The KATCP type name (as in ``#sensor-list``).
    name = "unknown"

    def __init__(self, default: Any = None, optional: bool = False,
                 multiple: bool = False) -> None:
        self._default = default
        self._optional = optional
        self._multiple = multiple

    @property
    def default(self) -> Any:
        """The default value, or ``None``."""
        return self._default

    @property
    def optional(self) -> bool:
        """Whether a missing value without a default is allowed."""
        return self._optional

    @property
    def multiple(self) -> bool:
        """Whether this type takes all remaining arguments."""
        return self._multiple

    def get_default(self) -> Any:
        """Return the default value.

        Raises:
            KatcpValueError: there is no default and the type is not optional.
        """
        if self._default is None and not self._optional:
            raise KatcpValueError("No value or default given")
        return self._default

    def check(self, value: Any, major: int = DEFAULT_KATCP_MAJOR) -> None:
        """Validate a Python value; return nothing if it is valid.

        Raises:
            KatcpTypeError: the value has the wrong Python type.
            KatcpValueError: the value is not allowed (range, set, pattern).
        """

    def encode(self, value: Any, major: int) -> bytes:
        """Format a valid value as the bytes of an argument (no checks)."""
        raise NotImplementedError

    def decode(self, value: bytes, major: int) -> Any:
        """Parse the bytes of an argument (no range checks).

        Raises:
            KatcpValueError: the bytes do not parse as this type.
        """
        raise NotImplementedError

    def pack(self, value: Any, nocheck: bool = False,
             major: int = DEFAULT_KATCP_MAJOR) -> bytes:
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

    def unpack(self, packed_value: Optional[Union[bytes, str]],
               major: int = DEFAULT_KATCP_MAJOR) -> Any:
        """Parse a KATCP argument (unescaped bytes) into a checked value.

        Args:
            packed_value: the argument; ``None`` (missing) gives the default.
                A ``str`` is accepted and treated as its UTF-8 bytes.
            major: KATCP major version of the peer.

        Raises:
            KatcpValueError: the bytes do not parse, the value is not allowed,
                or the argument is missing and there is no default.
        """
        if packed_value is None:
            value = self.get_default()
        else:
            if isinstance(packed_value, str):
                packed_value = packed_value.encode("utf-8", "surrogateescape")
            value = self.decode(packed_value, major)
        if value is not None:
            self.check(value, major)
        return value

    def __repr__(self) -> str:
        return "<%s %s>" % (type(self).__name__, self.name)


# Exact-type fast paths: isinstance() against a numbers ABC costs ~10x more,
# and check() sits on the Sensor.set_value hot path.
_INTEGRAL_FAST = (int,)
_REAL_FAST = (float, int)


def _check_range(value: Any, minimum: Any, maximum: Any, what: str) -> None:
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

    def __init__(self, min: Optional[int] = None, max: Optional[int] = None,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._min = min
        self._max = max

    def encode(self, value: Any, major: int) -> bytes:
        return b"%d" % value

    def decode(self, value: bytes, major: int) -> int:
        if not INT_RE.match(value):
            raise _parse_error(value, "integer")
        return int(value)

    def check(self, value: Any, major: int = DEFAULT_KATCP_MAJOR) -> None:
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

    def __init__(self, min: Optional[float] = None, max: Optional[float] = None,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._min = min
        self._max = max

    def encode(self, value: Any, major: int) -> bytes:
        return repr(float(value)).encode("ascii")

    def decode(self, value: bytes, major: int) -> float:
        if not FLOAT_RE.match(value):
            raise _parse_error(value, "float")
        return float(value)

    def check(self, value: Any, major: int = DEFAULT_KATCP_MAJOR) -> None:
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

    def encode(self, value: Any, major: int) -> bytes:
        return b"1" if value else b"0"

    def decode(self, value: bytes, major: int) -> bool:
        if value == b"1":
            return True
        if value == b"0":
            return False
        raise KatcpValueError("could not parse %s as boolean (expected '0' or '1')"
                              % _show(value))

    def check(self, value: Any, major: int = DEFAULT_KATCP_MAJOR) -> None:
        """Any value with a truth value (packed by truthiness, as katcp-python)."""
        try:
            bool(value)
        except (TypeError, ValueError):  # e.g. an array: no single truth value
            raise _wrong_type(value, "a value with a single truth value") from None


class Str(KatcpType):
    """KATCP ``string``: raw bytes on the wire; ``str`` in Python.

    Encodes ``str`` as UTF-8, passes ``bytes`` through and packs any other
    value as its ``str()`` (as katcp-python). Decodes to ``str``
    with the ``surrogateescape`` error handler, so that bytes that are not
    UTF-8 (allowed by Table 6) survive a decode/encode round trip.
    """

    name = "string"

    def encode(self, value: Any, major: int) -> bytes:
        if isinstance(value, str):
            return value.encode("utf-8", "surrogateescape")
        if isinstance(value, (bytes, bytearray)):
            return bytes(value)
        return str(value).encode("utf-8", "surrogateescape")

    def decode(self, value: bytes, major: int) -> str:
        return value.decode("utf-8", "surrogateescape")

    def check(self, value: Any, major: int = DEFAULT_KATCP_MAJOR) -> None:
        """Any value: one that is not ``str``/``bytes`` is packed as ``str(value)``."""


def _require_text(value: Any) -> None:
    if not isinstance(value, (str, bytes, bytearray)):
        raise _wrong_type(value, "a str or bytes")


class Discrete(Str):
    """KATCP ``discrete``: one of a fixed set of strings.

    Args:
        values: the allowed values (``str``; ``bytes`` are decoded).
        case_insensitive: compare values ignoring case.
    """

    name = "discrete"

    def __init__(self, values: Iterable[Union[str, bytes]],
                 case_insensitive: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._values = [_as_text(v) for v in values]
        self._case_insensitive = case_insensitive
        if case_insensitive:
            self._valid_values = frozenset(v.lower() for v in self._values)
        else:
            self._valid_values = frozenset(self._values)

    @property
    def values(self) -> List[str]:
        """The allowed values, in the order given."""
        return list(self._values)

    def check(self, value: Any, major: int = DEFAULT_KATCP_MAJOR) -> None:
        _require_text(value)
        key = _as_text(value)
        if self._case_insensitive:
            key = key.lower()
        if key not in self._valid_values:
            raise KatcpValueError("Discrete value %s is not one of %s%s."
                                  % (_show(value), self._values,
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

    def __init__(self, values: Iterable[Union[str, bytes]], all_keyword: Optional[str] = "all",
                 separator: str = ",", **kwargs: Any) -> None:
        super().__init__(values, **kwargs)
        self.all_keyword = all_keyword
        self.separator = separator

    # A list type on top of Discrete's checks (as in katcp-python), so its
    # encode/decode deliberately take and give lists, not single strings.
    def encode(self, value: Iterable[str], major: int) -> bytes:  # type: ignore[override]
        items = sorted((_as_text(v) for v in value), key=str.lower)
        return super().encode(self.separator.join(items), major)

    def decode(self, value: bytes, major: int) -> List[str]:  # type: ignore[override]
        text = super().decode(value, major)
        if self.all_keyword and text == self.all_keyword:
            return sorted(self._values, key=str.lower)
        return sorted((v.strip() for v in text.split(self.separator)), key=str.lower)

    def check(self, value: Any, major: int = DEFAULT_KATCP_MAJOR) -> None:
        if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
            raise _wrong_type(value, "a list of discrete values")
        for item in value:
            super().check(item, major)


class Lru(KatcpType):
    """KATCP ``lru`` (deprecated in v5): ``LRU_NOMINAL``/``LRU_ERROR`` <-> ``nominal``/``error``."""

    name = "lru"

    LRU_NOMINAL, LRU_ERROR = range(2)
    #: LRU constant -> wire name.
    LRU_VALUES = {LRU_NOMINAL: "nominal", LRU_ERROR: "error"}
    #: Wire name -> LRU constant.
    LRU_CONSTANTS = {"nominal": LRU_NOMINAL, "error": LRU_ERROR}
    _RAW_CONSTANTS = {b"nominal": LRU_NOMINAL, b"error": LRU_ERROR}

    def encode(self, value: int, major: int) -> bytes:
        return self.LRU_VALUES[value].encode("ascii")

    def decode(self, value: bytes, major: int) -> int:
        try:
            return self._RAW_CONSTANTS[value]
        except KeyError:
            raise KatcpValueError("could not parse %s as lru (expected 'nominal' or 'error')"
                                  % _show(value)) from None

    def check(self, value: Any, major: int = DEFAULT_KATCP_MAJOR) -> None:
        if isinstance(value, bool) or value not in self.LRU_VALUES:
            raise KatcpValueError("Lru value must be Lru.LRU_NOMINAL (0) or Lru.LRU_ERROR (1), "
                                  "got %s" % _show(value))


class Address(KatcpType):
    """KATCP ``address``: ``(host, port)`` <-> ``host[:port]``.

    IPv6 hosts (those containing ``:``) are written in brackets,
    ``[::1]:80``; ``port`` may be ``None`` (no port). Host names are not
    resolved or validated beyond the syntax.
    """

    name = "address"

    #: Null address, the default value of address sensors.
    NULL = ("0.0.0.0", None)

    def encode(self, value: Tuple[str, Optional[int]], major: int) -> bytes:
        host, port = value
        host = _as_text(host)
        if ":" in host:
            host = "[%s]" % host
        if port is not None:
            host = "%s:%d" % (host, port)
        return host.encode("utf-8", "surrogateescape")

    def decode(self, value: bytes, major: int) -> Tuple[str, Optional[int]]:
        text = value.decode("utf-8", "surrogateescape")
        address_re = _IPV6_ADDRESS_RE if text.startswith("[") else _IPV4_ADDRESS_RE
        match = address_re.match(text)
        if match is None:
            raise _parse_error(value, "address")
        port = match.group("port")
        return match.group("host"), None if port is None else int(port)

    def check(self, value: Any, major: int = DEFAULT_KATCP_MAJOR) -> None:
        try:
            host, port = value
        except (TypeError, ValueError):
            raise _wrong_type(value, "a (host, port) tuple") from None
        if not isinstance(host, (str, bytes)) or not host:
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

    def encode(self, value: float, major: int) -> bytes:
        if major >= SEC_TS_KATCP_MAJOR:
            return b"%.6f" % value
        return b"%d" % round(value * SEC_TO_MS_FAC)

    def decode(self, value: bytes, major: int) -> float:
        if not FLOAT_RE.match(value):
            raise _parse_error(value, "timestamp")
        decoded = float(value)
        if major < SEC_TS_KATCP_MAJOR:
            decoded /= SEC_TO_MS_FAC
        return decoded

    def check(self, value: Any, major: int = DEFAULT_KATCP_MAJOR) -> None:
        if type(value) not in _REAL_FAST and not isinstance(value, numbers.Real):
            raise _wrong_type(value, "a timestamp in seconds (a real number)")


class _Now:
    """Type of :attr:`TimestampOrNow.NOW`."""

    def __repr__(self) -> str:
        return "TimestampOrNow.NOW"


class TimestampOrNow(Timestamp):
    """A :class:`Timestamp` or the word ``now`` (spec appendix A.4).

    ``now`` unpacks to the sentinel :attr:`NOW`, which packs back to ``now``.
    """

    name = "timestamp_or_now"

    #: Sentinel value meaning "now".
    NOW = _Now()

    def encode(self, value: Any, major: int) -> bytes:
        if value is self.NOW:
            return b"now"
        return super().encode(value, major)

    def decode(self, value: bytes, major: int) -> Any:
        if value == b"now":
            return self.NOW
        return super().decode(value, major)

    def check(self, value: Any, major: int = DEFAULT_KATCP_MAJOR) -> None:
        if value is not self.NOW:
            super().check(value, major)


class StrictTimestamp(KatcpType):
    """A non-negative timestamp in seconds, strictly ``digits[.digits]``.

    Unlike :class:`Timestamp` it ignores the protocol version and rejects
    signs, exponents and ``nan``. Packs as ``repr()`` (as katcp-python),
    or ``%.6f`` where ``repr()`` would use an exponent.
    """

    name = "strict_timestamp"

    def encode(self, value: float, major: int) -> bytes:
        # repr, as katcp-python; fixed point where repr would use an exponent
        text = repr(float(value))
        return (b"%.6f" % value) if "e" in text else text.encode("ascii")

    def decode(self, value: bytes, major: int) -> float:
        if not _STRICT_TIMESTAMP_RE.match(value):
            raise _parse_error(value, "strict timestamp (digits[.digits])")
        return float(value)

    def check(self, value: Any, major: int = DEFAULT_KATCP_MAJOR) -> None:
        if type(value) not in _REAL_FAST and not isinstance(value, numbers.Real):
            raise _wrong_type(value, "a timestamp in seconds (a real number)")
        if not value >= 0:
            raise KatcpValueError("Strict timestamps may not be negative (got %s)." % value)


class Struct(KatcpType):
    """Binary data packed with :mod:`struct`: a tuple <-> ``struct.pack(fmt, *value)``.

    Args:
        fmt: a :mod:`struct` format string.
    """

    name = "struct"

    def __init__(self, fmt: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._fmt = fmt

    def encode(self, value: Sequence[Any], major: int) -> bytes:
        try:
            return struct.pack(self._fmt, *value)
        except (struct.error, TypeError) as error:
            raise KatcpValueError("could not pack %s with struct format %r: %s"
                                  % (_show(value), self._fmt, error)) from None

    def decode(self, value: bytes, major: int) -> Tuple[Any, ...]:
        try:
            return struct.unpack(self._fmt, value)
        except struct.error as error:
            raise KatcpValueError("could not unpack %s with struct format %r: %s"
                                  % (_show(value), self._fmt, error)) from None


class Regex(Str):
    """A string that must match a regular expression (``re.match``, anchored at the start).

    Args:
        regex: pattern string or compiled ``str`` pattern.
    """

    name = "regex"

    def __init__(self, regex: Union[str, "re.Pattern[str]"], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._compiled: "re.Pattern[str]" = (
            cast("re.Pattern[str]", regex) if hasattr(regex, "pattern") else re.compile(regex))
        self._pattern = self._compiled.pattern

    def check(self, value: Any, major: int = DEFAULT_KATCP_MAJOR) -> None:
        _require_text(value)
        if not self._compiled.match(_as_text(value)):
            raise KatcpValueError("Value %s does not match regex %r."
                                  % (_show(value), self._pattern))


# ---------------------------------------------------------------------------
# Packing and unpacking argument lists

class Parameter:
    """One handler parameter: its position, name and type, for error messages.

    Args:
        position: 1-based position in the message arguments.
        name: the handler's parameter name (``""`` if unknown).
        kattype: the :class:`KatcpType`.
        major: KATCP major version of the peer.
    """

    def __init__(self, position: int, name: str, kattype: KatcpType,
                 major: int = DEFAULT_KATCP_MAJOR) -> None:
        self.position = position
        self.name = name
        self._kattype = kattype
        self.major = major

    def pack(self, value: Any) -> bytes:
        """Pack ``value`` with the parameter's type (see :meth:`KatcpType.pack`)."""
        return self._kattype.pack(value, major=self.major)

    def unpack(self, value: Optional[bytes]) -> Any:
        """Unpack an argument (``None`` if missing) with the parameter's type.

        Raises:
            FailReply: ``"Error in parameter <n> (<name>): <why>"``.
        """
        try:
            return self._kattype.unpack(value, self.major)
        except (ValueError, KatcpTypeError) as error:
            raise FailReply("Error in parameter %d (%s): %s"
                            % (self.position, self.name, error)) from None


def _check_multiple_last(types: Sequence[KatcpType]) -> None:
    for kattype in types[:-1]:
        if kattype._multiple:
            raise TypeError("Only the last parameter type can accept multiple arguments.")


def _takes_rest(types: Sequence[KatcpType]) -> bool:
    return bool(types) and types[-1]._multiple


def unpack_types(types: Sequence[KatcpType], args: Sequence[bytes],
                 argnames: Sequence[str], major: int = DEFAULT_KATCP_MAJOR) -> List[Any]:
    """Unpack message arguments with a list of types.

    Missing arguments take their type's default (``None`` if optional);
    a last type with ``multiple=True`` takes all remaining arguments.

    Args:
        types: the types, in order.
        args: the raw arguments (``bytes``).
        argnames: handler parameter names, for error messages.
        major: KATCP major version of the peer.

    Returns:
        The list of values.

    Raises:
        FailReply: too many arguments (``"Too many parameters given."``), or
            one is missing or invalid (``"Error in parameter ..."``).
    """
    if len(args) > len(types) and not _takes_rest(types):
        raise FailReply("Too many parameters given.")
    values = []
    for i in range(max(len(types), len(args))):
        type_index = min(i, len(types) - 1)
        name = argnames[type_index] if type_index < len(argnames) else ""
        arg = args[i] if i < len(args) else None
        values.append(Parameter(i + 1, name, types[type_index], major).unpack(arg))
    return values


def pack_types(types: Sequence[KatcpType], args: Sequence[Any],
               major: int = DEFAULT_KATCP_MAJOR) -> List[bytes]:
    """Pack values with a list of types.

    A missing value takes its type's default; missing values of optional
    types without a default are left out (only at the end).

    Args:
        types: the types, in order; a last type with ``multiple=True`` packs
            all remaining values.
        args: the values.
        major: KATCP major version of the peer.

    Returns:
        The list of packed arguments (``bytes``).

    Raises:
        KatcpValueError, KatcpTypeError: too many values, or one is invalid
            (the message names its position).
    """
    if len(args) > len(types) and not _takes_rest(types):
        raise KatcpValueError("Too many arguments to pack: %d values for %d types."
                              % (len(args), len(types)))
    packed = []
    for i in range(max(len(types), len(args))):
        kattype = types[min(i, len(types) - 1)]
        if i >= len(args) and kattype._optional and kattype._default is None:
            break
        value = args[i] if i < len(args) else None
        try:
            packed.append(kattype.pack(value, major=major))
        except (KatcpValueError, KatcpTypeError) as error:
            raise type(error)("Cannot pack value %d (%s) as %s: %s"
                              % (i + 1, _show(value), kattype.name, error)) from None
    return packed


_REPLY_CODE = Str()
_STATUS_TYPES: Dict[str, Optional[Tuple[KatcpType, ...]]] = {
    "ok": None,  # (_REPLY_CODE,) + the decorator's types
    "fail": (_REPLY_CODE, Str()),
    "invalid": (_REPLY_CODE, Str()),
}


def make_reply(msgname: str, types: Sequence[KatcpType], arguments: Sequence[Any],
               major: int = DEFAULT_KATCP_MAJOR) -> Message:
    """Build a reply message from a handler's return value.

    Args:
        msgname: the request name.
        types: the types of the values after ``"ok"``.
        arguments: ``("ok", v1, v2, ...)``, ``("fail", "why")`` or
            ``("invalid", "why")`` (codes may also be ``bytes``).
        major: KATCP major version of the peer.

    Returns:
        A reply :class:`Message` without a message id (the server copies the
        request's id when sending it with ``req.reply_with_message``).

    Raises:
        KatcpValueError, KatcpTypeError: the return value is not such a tuple,
            or a value does not fit its type.
    """
    try:
        code = _as_text(arguments[0])
        reply_types = _STATUS_TYPES[code]
    except (TypeError, IndexError, KeyError):
        raise KatcpValueError("A reply handler must return a tuple starting with 'ok', "
                              "'fail' or 'invalid', not %s" % _show(arguments)) from None
    if reply_types is None:
        reply_types = (_REPLY_CODE,) + tuple(types)
    return Message.reply(msgname, *pack_types(reply_types, arguments, major))


# ---------------------------------------------------------------------------
# Handler decorators

def _positional_names(handler: Callable[..., Any], skip: int) -> List[str]:
    """Names of a handler's positional parameters after the first ``skip``.

    A ``*args`` parameter ends the list (its name serves the ``multiple``
    type). ``inspect.signature`` follows wrapt's ``__wrapped__``, so the user's
    names are found under any stack of our decorators.
    """
    names = []
    for param in list(inspect.signature(handler).parameters.values())[skip:]:
        if param.kind in (param.POSITIONAL_ONLY, param.POSITIONAL_OR_KEYWORD):
            names.append(param.name)
        elif param.kind is param.VAR_POSITIONAL:
            names.append(param.name)
            break
        else:
            break
    return names


def _unpacking_decorator(types: Tuple[KatcpType, ...], has_req: bool,
                         include_msg: bool, major: int) -> Callable[[Any], Any]:
    """Shared body of :func:`request`, :func:`inform` and :func:`unpack_message`.

    The wrapper is called with the message last: ``(self, [req,] msg)``. Whatever
    comes before the message is passed on unchanged, so the same code serves a
    method called bound (wrapt strips ``self``) or through the class.
    """
    _check_multiple_last(types)

    def decorate(handler: Callable[..., Any]) -> Any:
        # Skip self, req and msg when naming the parameters.
        argnames = _positional_names(handler, 1 + has_req + include_msg)

        @wrapt.decorator
        def unpack_arguments(wrapped, instance, args, kwargs):  # type: ignore[no-untyped-def]
            *head, msg = args
            values = unpack_types(types, msg.arguments, argnames, major)
            if include_msg:
                head.append(msg)
            return wrapped(*head, *values, **kwargs)

        decorated = unpack_arguments(handler)
        if has_req:
            setattr(decorated, "_request_decorated", True)
        return decorated

    return decorate


def request(*types: KatcpType, include_msg: bool = False,
            major: int = DEFAULT_KATCP_MAJOR) -> Callable[[Any], Any]:
    """Decorate a request handler so that it receives typed arguments.

    The server calls the decorated handler as ``handler(self, req, msg)``; the
    handler written by the user is ``request_x(self, req, [msg,] a, b, ...)``
    and receives ``msg.arguments`` unpacked with ``types``. Stacks with
    :func:`return_reply` in either order.

    Args:
        types: one :class:`KatcpType` per argument; only the last may have
            ``multiple=True`` (it then takes all remaining arguments, which the
            handler receives as extra positional arguments).
        include_msg: also pass the request message before the values.
        major: KATCP major version used to interpret the arguments.

    Raises:
        TypeError: at decoration time, ``multiple=True`` on a type that is not last.
        FailReply: at call time, too many arguments, or one missing or invalid.

    Example::

        @request(Float(), Float())
        @return_reply(Float())
        def request_add(self, req, x, y):
            '''Add two numbers.'''
            return ("ok", x + y)
    """
    return _unpacking_decorator(types, True, include_msg, major)


def inform(*types: KatcpType, include_msg: bool = False,
           major: int = DEFAULT_KATCP_MAJOR) -> Callable[[Any], Any]:
    """Decorate an inform handler ``inform_x(self, [msg,] a, b, ...)``.

    As :func:`request`, but the handler is called as ``handler(self, msg)``
    (no ``req``).
    """
    return _unpacking_decorator(types, False, include_msg, major)


def unpack_message(*types: KatcpType, include_msg: bool = False,
                   major: int = DEFAULT_KATCP_MAJOR) -> Callable[[Any], Any]:
    """Decorate a client ``reply_x``/``inform_x(self, [msg,] a, b, ...)`` handler.

    As :func:`request`, but the handler is called as ``handler(self, msg)``
    (no ``req``). For a reply, the first type is usually ``Str()`` for the
    reply code.
    """
    return _unpacking_decorator(types, False, include_msg, major)


def return_reply(*types: KatcpType, major: int = DEFAULT_KATCP_MAJOR) -> Callable[[Any], Any]:
    """Decorate a request handler so that its return value becomes a reply message.

    The handler returns ``("ok", v1, v2, ...)`` (values packed with ``types``),
    ``("fail", "why")`` or ``("invalid", "why")``; the decorated handler
    returns the reply :class:`Message` (named after ``req.msg.name``, else the
    method name), which the server sends with ``req.reply_with_message``.
    If the handler returns a :class:`concurrent.futures.Future`, the decorated
    handler returns a future of the reply message. Exceptions, including
    :class:`~katcp_sync.errors.AsyncReply` and
    :class:`~katcp_sync.errors.FailReply`, propagate unchanged.

    Args:
        types: the types of the values after ``"ok"``; only the last may have
            ``multiple=True``.
        major: KATCP major version used to format the values.

    Raises:
        ValueError: at decoration time, the method name does not start with
            ``request_``.
        TypeError: at decoration time, ``multiple=True`` on a type that is not last.
        KatcpValueError, KatcpTypeError: at call time, the return value is not
            a valid reply tuple.
    """
    _check_multiple_last(types)

    def decorate(handler: Callable[..., Any]) -> Any:
        method_name = handler.__name__
        if not method_name.startswith("request_"):
            raise ValueError("return_reply can only decorate a request handler: the method "
                             "name must start with 'request_' (got %r)." % (method_name,))
        default_name = convert_method_name("request_", method_name)

        @wrapt.decorator
        def build_reply(wrapped, instance, args, kwargs):  # type: ignore[no-untyped-def]
            result = wrapped(*args, **kwargs)
            # req is the first argument after self, which wrapt has removed
            # if the method was called bound.
            req_args = args[:1] if instance is not None else args[1:2]
            msg = getattr(req_args[0], "msg", None) if req_args else None
            msgname = msg.name if isinstance(msg, Message) else default_name
            if isinstance(result, concurrent.futures.Future):
                return chain_future(result, lambda value: make_reply(msgname, types, value, major))
            return make_reply(msgname, types, result, major)

        return build_reply(handler)

    return decorate


def send_reply(*types: KatcpType, major: int = DEFAULT_KATCP_MAJOR) -> Callable[[Any], Any]:
    """Decorate a callback so that its return value is sent as a reply.

    The callback returns ``(req, "ok", v1, ...)`` (or ``(req, "fail", why)``);
    the decorator builds the reply to ``req.msg`` and calls
    ``req.reply_with_message(reply)``. The decorated callback returns ``None``.

    Args:
        types: the types of the values after ``"ok"``.
        major: KATCP major version used to format the values.
    """
    _check_multiple_last(types)

    @wrapt.decorator
    def send(wrapped, instance, args, kwargs):  # type: ignore[no-untyped-def]
        req, *reply_args = wrapped(*args, **kwargs)
        req.reply_with_message(make_reply(req.msg.name, types, reply_args, major))

    return send


# ---------------------------------------------------------------------------
# Markers read by the server

def concurrent_reply(handler: Any) -> Any:
    """Mark a handler whose returned future need not finish before the next request.

    Sets ``handler._concurrent_reply = True``.
    """
    handler._concurrent_reply = True
    return handler


def request_timeout_hint(timeout_hint: Optional[float]) -> Callable[[Any], Any]:
    """Set the timeout hint reported by ``?request-timeout-hint`` (spec 5.1 ``T`` flag).

    Args:
        timeout_hint: seconds (stored as ``float``), or ``None`` for no hint.

    Raises:
        ValueError: the hint is negative.
    """
    if timeout_hint is not None:
        timeout_hint = float(timeout_hint)
        if timeout_hint < 0:
            raise ValueError("A request timeout hint may not be negative (got %r)."
                             % timeout_hint)

    def decorate(handler: Any) -> Any:
        handler.request_timeout_hint = timeout_hint
        return handler

    return decorate


def minimum_katcp_version(major: int, minor: int = 0) -> Callable[[Any], Any]:
    """Leave the handler out of servers whose ``PROTOCOL_INFO`` is older than ``major.minor``.

    Sets ``handler._minimum_katcp_version = (major, minor)``.
    """
    version = (major, minor)

    def decorate(handler: Any) -> Any:
        handler._minimum_katcp_version = version
        return handler

    return decorate


def has_katcp_protocol_flags(protocol_flags: Iterable[Union[str, bytes]]) -> Callable[[Any], Any]:
    """Leave the handler out of servers whose ``PROTOCOL_INFO`` lacks any of these flags.

    Args:
        protocol_flags: flag characters (``"M"``, ``b"I"``, ``ProtocolFlags.MULTI_CLIENT``,
            or a string such as ``"MI"``).

    Sets ``handler._has_katcp_protocol_flags`` to the list of one-character ``str`` flags.
    """
    if isinstance(protocol_flags, (str, bytes)):
        protocol_flags = [protocol_flags]
    flags = [char for flag in protocol_flags for char in _as_text(flag)]

    def decorate(handler: Any) -> Any:
        handler._has_katcp_protocol_flags = flags
        return handler

    return decorate
