"""Tests for katcp_sync.protocol: protocol versions and flags (spec 4.2, 5.1, 7.1, 7.2, 8; F14)."""

from __future__ import absolute_import, division, print_function


import pytest

from katcp_sync import protocol
from katcp_sync.protocol import DEFAULT_PROTOCOL_INFO, ProtocolFlags, convert_method_name


@pytest.mark.parametrize("text, major, minor, flags", [
    ("5.1-BIMT", 5, 1, {"B", "I", "M", "T"}),
    ("5.0-MI", 5, 0, {"M", "I"}),
    ("5.0", 5, 0, set()),
    ("4.0", 4, 0, set()),
    ("4.0-M", 4, 0, {"M"}),
    ("5.0-", 5, 0, set()),
    ("10.3-IM", 10, 3, {"I", "M"}),
    # Spec 4.2 allows unknown flags: they are kept.
    ("5.1-MX", 5, 1, {"M", "X"}),
])
def test_parse_version(text, major, minor, flags):
    for value in (text, text.encode()):
        parsed = ProtocolFlags.parse_version(value)
        assert (parsed.major, parsed.minor, parsed.flags) == (major, minor, flags)


@pytest.mark.parametrize("text", ["", "five", "5", "5.", "5.x", "v5.1", "5.1.2"])
def test_parse_version_garbage_is_zero(text):
    assert ProtocolFlags.parse_version(text) == ProtocolFlags(0, 0, set())
    # katcp-python's spelling of an unknown version.
    assert ProtocolFlags.parse_version(text) == ProtocolFlags(None, None, set())


def test_str_sorts_flags_and_omits_dash():
    assert str(ProtocolFlags(5, 1, "TMIB")) == "5.1-BIMT"
    assert str(ProtocolFlags(5, 0, [b"M", b"I"])) == "5.0-IM"
    assert str(ProtocolFlags(4, 0, set())) == "4.0"
    assert str(DEFAULT_PROTOCOL_INFO) == "5.1-BIMT"
    assert ProtocolFlags.parse_version(str(DEFAULT_PROTOCOL_INFO)) == DEFAULT_PROTOCOL_INFO


def test_flags_accept_str_and_bytes():
    assert ProtocolFlags(5, 1, b"MI") == ProtocolFlags(5, 1, {"M", "I"})
    assert ProtocolFlags(5, 1, [b"M", "I"]) == ProtocolFlags(5, 1, "MI")
    assert ProtocolFlags(5, 1, "MI").flags == {"M", "I"}


def test_flag_properties_and_supports():
    full = DEFAULT_PROTOCOL_INFO
    assert full.multi_client and full.message_ids
    assert full.bulk_set_sensor_sampling and full.request_timeout_hints
    none = ProtocolFlags(5, 1, "")
    assert not (none.multi_client or none.message_ids
                or none.bulk_set_sensor_sampling or none.request_timeout_hints)
    for flag in "MIBT":
        assert full.supports(flag) and full.supports(flag.encode())
        assert not none.supports(flag)
    assert ProtocolFlags.MULTI_CLIENT == "M"
    assert ProtocolFlags.MESSAGE_IDS == "I"
    assert ProtocolFlags.BULK_SET_SENSOR_SAMPLING == "B"
    assert ProtocolFlags.REQUEST_TIMEOUT_HINTS == "T"


@pytest.mark.parametrize("major, minor, flags", [
    (4, 0, "I"),   # spec 2.2: message ids are v5
    (5, 0, "T"),   # spec 5.1: request-timeout-hint is 5.1
    (5, 0, "B"),   # spec 7.2: bulk sensor sampling is 5.1
    (4, 9, "B"),
])
def test_flags_need_version(major, minor, flags):
    with pytest.raises(ValueError, match="needs protocol version"):
        ProtocolFlags(major, minor, flags)
    with pytest.raises(ValueError):
        ProtocolFlags.parse_version("%d.%d-%s" % (major, minor, flags))


def test_flags_allowed_versions():
    ProtocolFlags(5, 0, "MI")
    ProtocolFlags(5, 1, "BT")
    ProtocolFlags(6, 0, "BIMT")
    ProtocolFlags(4, 0, "M")


@pytest.mark.parametrize("strategy", ["none", "auto", "period", "event", "differential"])
def test_v4_strategies_allowed_everywhere(strategy):
    """Spec 7.1 table 9: these exist in v4 and v5."""
    assert ProtocolFlags(4, 0, "").strategy_allowed(strategy)
    assert ProtocolFlags(5, 0, "").strategy_allowed(strategy)
    assert ProtocolFlags(5, 1, "").strategy_allowed(strategy.encode())


@pytest.mark.parametrize("strategy", ["event-rate", "differential-rate"])
def test_v5_only_strategies(strategy):
    """Spec 7.1: event-rate and differential-rate are new in v5."""
    assert not ProtocolFlags(4, 0, "").strategy_allowed(strategy)
    assert ProtocolFlags(5, 0, "").strategy_allowed(strategy)


def test_unknown_strategy_not_allowed():
    assert not DEFAULT_PROTOCOL_INFO.strategy_allowed("sometimes")
    assert not ProtocolFlags(0, 0, "").strategy_allowed("none")


def test_equality_hash_repr():
    a = ProtocolFlags(5, 1, "MI")
    assert a == ProtocolFlags(5, 1, "IM")
    assert not a != ProtocolFlags(5, 1, "IM")   # (Python 2 derives no __ne__)
    assert a != ProtocolFlags(5, 0, "MI")
    assert a != ProtocolFlags(5, 1, "M")
    assert a != "5.1-IM"
    assert hash(a) == hash(ProtocolFlags(5, 1, "IM"))
    assert len({a, ProtocolFlags(5, 1, "IM")}) == 1
    assert eval(repr(a), {"ProtocolFlags": ProtocolFlags}) == a


def test_module_constants():
    assert protocol.DEFAULT_KATCP_MAJOR == 5
    assert protocol.SEC_TS_KATCP_MAJOR == 5
    assert protocol.FLOAT_TS_KATCP_MAJOR == 4
    assert protocol.MID_KATCP_MAJOR == 5
    assert protocol.VERSION_CONNECT_KATCP_MAJOR == 5
    assert protocol.INTERFACE_CHANGED_KATCP_MAJOR == 5
    assert protocol.SEC_TO_MS_FAC == 1000
    assert protocol.MS_TO_SEC_FAC == 0.001
    assert protocol.STRATEGIES_V5 - protocol.STRATEGIES_V4 == {"event-rate", "differential-rate"}


@pytest.mark.parametrize("prefix, name, expected", [
    ("request_", "request_foo_bar", "foo-bar"),
    ("request_", "request_watchdog", "watchdog"),
    ("inform_", "inform_sensor_status", "sensor-status"),
    ("reply_", "reply_x", "x"),
])
def test_convert_method_name(prefix, name, expected):
    assert convert_method_name(prefix, name) == expected


def test_text_and_bytes_flags_are_the_native_str():
    """Flags given as text (unicode on Python 2), bytes or str are the same."""
    for flags in (u"MI", b"MI", "MI", [u"M", b"I"], bytearray(b"MI")):
        protocol = ProtocolFlags(5, 1, flags)
        assert protocol == ProtocolFlags(5, 1, "MI")
        assert all(type(flag) is str for flag in protocol.flags)
    for version in (u"5.1-MI", b"5.1-MI"):
        parsed = ProtocolFlags.parse_version(version)
        assert parsed == ProtocolFlags(5, 1, "MI") and str(parsed) == "5.1-IM"
        assert all(type(flag) is str for flag in parsed.flags)
