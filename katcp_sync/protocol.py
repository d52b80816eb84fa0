"""KATCP protocol versions and flags (sans-IO).

A device announces what it implements with
``#version-connect katcp-protocol <major>.<minor>[-<flags>]`` (spec 4.2):
:class:`ProtocolFlags` parses and formats that string and answers questions
such as "may I send message ids?" or "is this sampling strategy allowed?".

Flags (spec 4.2, 5.1, 7.2, 8): ``M`` multi-client, ``I`` message ids (v5+),
``B`` bulk ``?sensor-sampling`` (v5.1+), ``T`` ``?request-timeout-hint``
(v5.1+).
"""

from __future__ import absolute_import, division, print_function

import re
from typing import Iterable, Optional, Text, Tuple, Union

import six

from . import compat
from .strategies import STRATEGIES_V4, STRATEGIES_V5

__all__ = [
    "ProtocolFlags",
    "DEFAULT_PROTOCOL_INFO",
    "DEFAULT_KATCP_MAJOR",
    "SEC_TS_KATCP_MAJOR",
    "FLOAT_TS_KATCP_MAJOR",
    "MID_KATCP_MAJOR",
    "VERSION_CONNECT_KATCP_MAJOR",
    "INTERFACE_CHANGED_KATCP_MAJOR",
    "SEC_TO_MS_FAC",
    "MS_TO_SEC_FAC",
    "STRATEGIES_V4",
    "STRATEGIES_V5",
    "convert_method_name",
]

#: Protocol major version spoken by default.
DEFAULT_KATCP_MAJOR = 5
#: First major version whose timestamps are in seconds (v4: milliseconds).
SEC_TS_KATCP_MAJOR = 5
#: First major version whose timestamps may be floats.
FLOAT_TS_KATCP_MAJOR = 4
#: First major version with message ids (spec 2.2).
MID_KATCP_MAJOR = 5
#: First major version that sends ``#version-connect`` (spec 4.2).
VERSION_CONNECT_KATCP_MAJOR = 5
#: First major version with ``#interface-changed`` (spec 4.2).
INTERFACE_CHANGED_KATCP_MAJOR = 5
#: Seconds -> milliseconds, for v4 timestamps.
SEC_TO_MS_FAC = 1000
#: Milliseconds -> seconds.
MS_TO_SEC_FAC = 1 / 1000

# STRATEGIES_V4 and STRATEGIES_V5 (spec 7.1, Table 9) come from the strategy
# table, katcp_sync.strategies, and are re-exported here as katcp-python's.

_VERSION_RE = re.compile(r"^(\d+)\.(\d+)(-(.*))?$")

FlagLike = Union[Text, bytes]


def _flag_char(flag):
    # type: (FlagLike) -> str
    if isinstance(flag, str):
        return flag
    if isinstance(flag, (bytes, bytearray, six.text_type)):
        return compat.native_ascii(flag)
    return str(flag)


class ProtocolFlags(object):
    """A KATCP protocol version and its flags, e.g. ``5.1-BIMT``.

    Args:
        major: major version (None, an unknown version, is 0 as in katcp-python).
        minor: minor version (likewise).
        flags: flag characters as ``str`` or ``bytes`` (e.g. ``{"M", "I"}``
            or ``b"MI"``); stored as a set of one-character ``str``.

    Raises:
        ValueError: a flag needs a newer version (``I`` needs 5.0, ``B`` and
            ``T`` need 5.1).

    Instances are immutable values (hashable, comparable) and safe to share
    between threads.
    """

    MULTI_CLIENT = "M"
    MESSAGE_IDS = "I"
    BULK_SET_SENSOR_SAMPLING = "B"
    REQUEST_TIMEOUT_HINTS = "T"

    #: Minimum (major, minor) for each flag that has one.
    FLAG_MIN_VERSION = {
        MESSAGE_IDS: (MID_KATCP_MAJOR, 0),
        BULK_SET_SENSOR_SAMPLING: (5, 1),
        REQUEST_TIMEOUT_HINTS: (5, 1),
    }

    #: Strategy names allowed per major version.
    STRATEGIES_ALLOWED_BY_MAJOR_VERSION = {4: STRATEGIES_V4, 5: STRATEGIES_V5}

    __slots__ = ("major", "minor", "flags")

    def __init__(self, major, minor,
                 flags=()):
        # type: (Optional[int], Optional[int], Union[Iterable[FlagLike], FlagLike]) -> None
        if isinstance(flags, (bytes, bytearray)):
            flags = compat.native_ascii(flags)
        # None (an unknown version) is 0, as in katcp-python.
        self.major = int(major) if major is not None else 0
        self.minor = int(minor) if minor is not None else 0
        self.flags = frozenset(_flag_char(flag) for flag in flags)
        version = (self.major, self.minor)
        for flag in sorted(self.flags):
            needed = self.FLAG_MIN_VERSION.get(flag)
            if needed is not None and version < needed:
                raise ValueError("flag %r needs protocol version %d.%d or later, not %d.%d"
                                 % (flag, needed[0], needed[1], self.major, self.minor))

    @property
    def multi_client(self):
        # type: () -> bool
        """The device serves several clients at once (spec 8)."""
        return self.MULTI_CLIENT in self.flags

    @property
    def message_ids(self):
        # type: () -> bool
        """The device supports message ids (spec 2.2)."""
        return self.MESSAGE_IDS in self.flags

    @property
    def bulk_set_sensor_sampling(self):
        # type: () -> bool
        """``?sensor-sampling`` takes a comma-separated list of sensors (spec 7.2)."""
        return self.BULK_SET_SENSOR_SAMPLING in self.flags

    @property
    def request_timeout_hints(self):
        # type: () -> bool
        """The device implements ``?request-timeout-hint`` (spec 5.1)."""
        return self.REQUEST_TIMEOUT_HINTS in self.flags

    @property
    def version(self):
        # type: () -> Tuple[int, int]
        """``(major, minor)``."""
        return (self.major, self.minor)

    def supports(self, flag):
        # type: (FlagLike) -> bool
        """Return True if ``flag`` (``str`` or ``bytes``) is set."""
        return _flag_char(flag) in self.flags

    def strategy_allowed(self, strategy_name):
        # type: (FlagLike) -> bool
        """Return True if the sampling strategy exists in this major version (spec 7.1)."""
        allowed = self.STRATEGIES_ALLOWED_BY_MAJOR_VERSION.get(
            self.major, STRATEGIES_V5 if self.major > 5 else frozenset())
        return _flag_char(strategy_name) in allowed

    @classmethod
    def parse_version(cls, version_str):
        # type: (FlagLike) -> "ProtocolFlags"
        """Parse ``"<major>.<minor>[-<flags>]"`` (``str`` or ``bytes``).

        A string that does not look like a version gives version 0.0 with no
        flags, so that a client can fall back rather than fail.

        Raises:
            ValueError: the flags are not allowed for the version.
        """
        if isinstance(version_str, (bytes, bytearray)):
            version_str = version_str.decode("ascii", "replace")
        match = _VERSION_RE.match(version_str)
        if match is None:
            return cls(0, 0, ())
        return cls(int(match.group(1)), int(match.group(2)), match.group(4) or "")

    def __str__(self):
        # type: () -> str
        flags = "".join(sorted(self.flags))
        return "%d.%d%s" % (self.major, self.minor, "-" + flags if flags else "")

    def __repr__(self):
        # type: () -> str
        return "ProtocolFlags(%d, %d, %r)" % (self.major, self.minor, "".join(sorted(self.flags)))

    def __eq__(self, other):
        # type: (object) -> bool
        if not isinstance(other, ProtocolFlags):
            return NotImplemented
        return (self.major, self.minor, self.flags) == (other.major, other.minor, other.flags)

    def __ne__(self, other):
        # type: (object) -> bool
        equal = self.__eq__(other)
        return equal if equal is NotImplemented else not equal

    def __hash__(self):
        # type: () -> int
        return hash((self.major, self.minor, self.flags))


#: What katcp_sync servers announce: 5.1 with every flag (tutorial).
DEFAULT_PROTOCOL_INFO = ProtocolFlags(5, 1, {
    ProtocolFlags.MULTI_CLIENT, ProtocolFlags.MESSAGE_IDS,
    ProtocolFlags.BULK_SET_SENSOR_SAMPLING, ProtocolFlags.REQUEST_TIMEOUT_HINTS})


def convert_method_name(prefix, name):
    # type: (str, str) -> str
    """Turn a handler method name into a KATCP message name.

    ``convert_method_name("request_", "request_foo_bar")`` is ``"foo-bar"``:
    the prefix is removed and underscores become dashes.
    """
    if name.startswith(prefix):
        name = name[len(prefix):]
    return name.replace("_", "-")
