"""Tests for katcp_sync.kattypes: KATCP types (spec section 3, Table 6) and handler decorators."""

from __future__ import absolute_import, division, print_function


import concurrent.futures
import functools
import inspect
import re

import pytest
import six

from katcp_sync import compat, kattypes
from katcp_sync.errors import AsyncReply, FailReply, KatcpTypeError, KatcpValueError
from katcp_sync.kattypes import (
    Address,
    Bool,
    Discrete,
    DiscreteMulti,
    Float,
    Int,
    Lru,
    Parameter,
    Regex,
    Str,
    StrictTimestamp,
    Struct,
    Timestamp,
    TimestampOrNow,
    concurrent_reply,
    has_katcp_protocol_flags,
    inform,
    make_reply,
    minimum_katcp_version,
    pack_types,
    request,
    request_timeout_hint,
    return_reply,
    send_reply,
    unpack_message,
    unpack_types,
)
from katcp_sync.message import Message


# ---------------------------------------------------------------------------
# Types: round trips (pack then unpack) for v5 and v4

ROUND_TRIPS = [
    # (kattype, value, major, packed)  -- Table 6 examples where it has them
    (Int(), 123, 5, b"123"),
    (Int(), -546, 5, b"-546"),
    (Int(), 2 ** 40, 4, b"1099511627776"),
    (Float(), 1.7, 5, b"1.7"),
    (Float(), -1.234e-05, 5, b"-1.234e-05"),
    (Float(), 0.1, 4, b"0.1"),
    (Float(), 1e300, 5, b"1e+300"),
    (Bool(), True, 5, b"1"),
    (Bool(), False, 4, b"0"),
    (Str(), "abc", 5, b"abc"),
    # (the native str: text on Python 3, its UTF-8 bytes on 2)
    (Str(), compat.native_text(u"caf\u00e9"), 5, b"caf\xc3\xa9"),
    # non-UTF-8 bytes survive (Table 6: no encoding): "\udcff\udcfe" on Python 3
    (Str(), compat.decode_lossless(b"\xff\xfe"), 5, b"\xff\xfe"),
    (Discrete(["initialise", "operate", "maintain"]), "operate", 5, b"operate"),
    (DiscreteMulti(["a", "B", "c"]), ["a", "B"], 5, b"a,B"),
    (Lru(), Lru.LRU_NOMINAL, 5, b"nominal"),
    (Lru(), Lru.LRU_ERROR, 4, b"error"),
    (Address(), ("192.168.1.1", 4000), 5, b"192.168.1.1:4000"),
    (Address(), ("127.0.0.1", None), 5, b"127.0.0.1"),
    (Address(), ("2001:0db8:85a3:0000:0000:8a2e:0370:7334", 4000), 5,
     b"[2001:0db8:85a3:0000:0000:8a2e:0370:7334]:4000"),
    (Address(), ("::1", None), 5, b"[::1]"),
    (Address(), ("::1", 80), 4, b"[::1]:80"),
    (Address(), ("example.org", 7147), 5, b"example.org:7147"),
    (Address(), Address.NULL, 5, b"0.0.0.0"),
    (Timestamp(), 1222180721.5, 5, b"1222180721.500000"),
    (Timestamp(), 1700000000.123456, 5, b"1700000000.123456"),
    (Timestamp(), 1222180721.5, 4, b"1222180721500"),
    (TimestampOrNow(), TimestampOrNow.NOW, 5, b"now"),
    (TimestampOrNow(), 12.25, 5, b"12.250000"),
    (TimestampOrNow(), 12.25, 4, b"12250"),
    (StrictTimestamp(), 12.5, 5, b"12.5"),
    (Struct(">HI"), (1, 2), 5, b"\x00\x01\x00\x00\x00\x02"),
    (Regex(r"\d\d:\d\d"), "12:34", 5, b"12:34"),
]


@pytest.mark.parametrize("kattype, value, major, packed", ROUND_TRIPS)
def test_round_trip(kattype, value, major, packed):
    assert kattype.pack(value, major=major) == packed
    unpacked = kattype.unpack(packed, major)
    if isinstance(value, tuple) and isinstance(kattype, Address):
        assert unpacked == value
    else:
        assert unpacked == value
    assert kattype.pack(unpacked, major=major) == packed


@pytest.mark.parametrize("kattype, value, packed", [
    (Str(), u"caf\u00e9", b"caf\xc3\xa9"),
    (Str(), b"caf\xc3\xa9", b"caf\xc3\xa9"),
    (Str(), bytearray(b"x"), b"x"),
    (Discrete([u"caf\u00e9", b"b"]), u"caf\u00e9", b"caf\xc3\xa9"),
    (Discrete([u"caf\u00e9", b"b"]), b"caf\xc3\xa9", b"caf\xc3\xa9"),
    (Regex(u"c.f"), u"caf\u00e9", b"caf\xc3\xa9"),
    (Address(), (u"::1", 80), b"[::1]:80"),
    (Address(), (b"example.org", None), b"example.org"),
    (Int(), 2 ** 70, b"1180591620717411303424"),
])
def test_text_and_bytes_pack_the_same_on_every_python(kattype, value, packed):
    """Text (unicode on Python 2) packs as UTF-8, bytes as they are; unpacked
    values are the native str."""
    assert kattype.pack(value) == packed
    unpacked = kattype.unpack(packed)
    assert kattype.pack(unpacked) == packed
    text = unpacked[0] if isinstance(kattype, Address) else unpacked
    assert type(text) in (str, int) or isinstance(text, six.integer_types)
    assert kattype.unpack(packed.decode("utf-8")) == unpacked   # text: its UTF-8 bytes


def test_names():
    assert [t.name for t in (Int(), Float(), Bool(), Str(), Discrete([]), Lru(), Address(),
                             Timestamp(), TimestampOrNow(), StrictTimestamp(), Struct("B"),
                             Regex("x"), DiscreteMulti([]))] == [
        "integer", "float", "boolean", "string", "discrete", "lru", "address", "timestamp",
        "timestamp_or_now", "strict_timestamp", "struct", "regex", "discretemulti"]


def test_unpacked_types():
    assert type(Int().unpack(b"7")) is int
    assert type(Float().unpack(b"7")) is float
    assert Str().unpack(b"abc") == "abc" and isinstance(Str().unpack(b"abc"), str)
    assert Float().pack(3) == b"3.0"  # ints are promoted


def test_unpack_accepts_str():
    assert Int().unpack("42") == 42


def test_float_special_values():
    assert Float().pack(float("inf")) == b"inf"
    assert Float().unpack(b"-inf") == float("-inf")
    nan = Float().unpack(b"nan")
    assert nan != nan


@pytest.mark.parametrize("raw", [b".5", b"5.", b"1e3", b"+1.5E-3", b"-0"])
def test_float_decimal_forms(raw):
    assert Float().unpack(raw) == float(raw)


def test_timestamp_v4_milliseconds():
    # v4 timestamps are milliseconds and may carry a fraction (spec 3 notes)
    assert Timestamp().unpack(b"1222195721660.5", 4) == pytest.approx(1222195721.6605)
    assert Timestamp().unpack(b"1500", 4) == 1.5
    assert Timestamp().unpack(b"1500", 5) == 1500.0
    # Rounded to the nearest millisecond, not truncated (1.001 * 1000 < 1001 in floats)
    assert Timestamp().pack(1.001, major=4) == b"1001"


def test_discrete_case_insensitive():
    kattype = Discrete(["Apple", "pear"], case_insensitive=True)
    assert kattype.unpack(b"APPLE") == "APPLE"
    with pytest.raises(KatcpValueError, match=r"\(case-insensitive\)"):
        kattype.unpack(b"kiwi")


def test_discrete_multi():
    kattype = DiscreteMulti(["b", "A", "c"])
    assert kattype.unpack(b"all") == ["A", "b", "c"]
    assert kattype.unpack(b"c, A") == ["A", "c"]
    assert kattype.pack(["c", "b", "A"]) == b"A,b,c"
    with pytest.raises(KatcpValueError, match="'d' is not one of"):
        kattype.unpack(b"A,d")
    with pytest.raises(KatcpTypeError, match="a list of discrete values"):
        kattype.pack("A")
    custom = DiscreteMulti(["x", "y"], all_keyword="every", separator="+")
    assert custom.unpack(b"every") == ["x", "y"]
    assert custom.pack(["y", "x"]) == b"x+y"


# ---------------------------------------------------------------------------
# Types: rejection, with error texts naming the value and the constraint

BAD_RAW = [
    (Int(), b"abc", "could not parse 'abc' as integer"),
    (Int(), b"1.5", "could not parse '1.5' as integer"),
    (Int(), b"1_000", "could not parse '1_000' as integer"),
    (Int(), b"", "could not parse '' as integer"),
    (Float(), b"abc", "could not parse 'abc' as float"),
    (Float(), b"0x10", "could not parse '0x10' as float"),
    (Float(), b"1_0.5", "could not parse '1_0.5' as float"),
    (Bool(), b"true", "could not parse 'true' as boolean (expected '0' or '1')"),
    (Bool(), b"2", "could not parse '2' as boolean"),
    (Lru(), b"ok", "could not parse 'ok' as lru (expected 'nominal' or 'error')"),
    (Address(), b"[::1", "could not parse '[::1' as address"),
    (Address(), b"1.2.3.4:abc", "could not parse '1.2.3.4:abc' as address"),
    (Address(), b"", "could not parse '' as address"),
    (Timestamp(), b"yesterday", "could not parse 'yesterday' as timestamp"),
    (TimestampOrNow(), b"later", "could not parse 'later' as timestamp"),
    (StrictTimestamp(), b"-1.5", "could not parse '-1.5' as strict timestamp"),
    (StrictTimestamp(), b"1e5", "could not parse '1e5' as strict timestamp"),
    (Struct(">I"), b"\x00", "could not unpack"),
    (Discrete(["a", "b"]), b"c", "Discrete value 'c' is not one of ['a', 'b']."),
    (Regex(r"\d+\Z"), b"12a", "Value '12a' does not match regex"),
    (Int(min=0, max=10), b"11", "Integer 11 is higher than maximum 10."),
    (Int(min=0), b"-1", "Integer -1 is lower than minimum 0."),
    (Float(min=-1.5, max=1.5), b"2.5", "Float 2.5 is higher than maximum 1.5."),
]


@pytest.mark.parametrize("kattype, raw, text", BAD_RAW)
def test_unpack_rejects(kattype, raw, text):
    with pytest.raises(KatcpValueError) as info:
        kattype.unpack(raw)
    assert text in str(info.value)
    assert isinstance(info.value, ValueError)


def test_long_bad_value_is_truncated_in_message():
    with pytest.raises(KatcpValueError) as info:
        Int().unpack(b"x" * 10000)
    assert len(str(info.value)) < 200


BAD_VALUES = [
    (Int(), "5", KatcpTypeError, "expected an integer, got '5' (str)"),
    (Int(), 1.5, KatcpTypeError, "expected an integer, got 1.5 (float)"),
    (Float(), "1.5", KatcpTypeError, "expected a real number"),
    (Float(optional=True), None, KatcpValueError, "Cannot pack a None value"),
    (Discrete(["a"]), "b", KatcpValueError, "Discrete value 'b' is not one of ['a']"),
    (Lru(), 2, KatcpValueError, "Lru value must be"),
    (Address(), "1.2.3.4:80", KatcpTypeError, "a (host, port) tuple"),
    (Address(), ("1.2.3.4", 70000), KatcpValueError, "Port 70000 is higher than maximum 65535"),
    (Address(), ("1.2.3.4", "80"), KatcpTypeError, "an integer port or None"),
    (Address(), ("", 80), KatcpTypeError, "a non-empty host string"),
    (Timestamp(), "now", KatcpTypeError, "a timestamp in seconds"),
    (StrictTimestamp(), -1.0, KatcpValueError, "may not be negative"),
    (Struct(">B"), (300,), KatcpValueError, "could not pack (300,) with struct format '>B'"),
    (Regex("^a"), "b", KatcpValueError, "Value 'b' does not match regex '^a'."),
    (Int(max=3), 4, KatcpValueError, "Integer 4 is higher than maximum 3."),
]


@pytest.mark.parametrize("kattype, value, error, text", BAD_VALUES)
def test_pack_rejects(kattype, value, error, text):
    with pytest.raises(error) as info:
        kattype.pack(value)
    assert text in str(info.value)


def test_pack_nocheck_skips_check():
    assert Int(max=3).pack(4, nocheck=True) == b"4"


def test_bool_accepts_numeric_truth_values():
    assert Bool().pack(1) == b"1"
    assert Bool().pack(0.0) == b"0"


def test_defaults_and_optional():
    assert Int(default=3).unpack(None) == 3
    assert Int(default=3).pack(None) == b"3"
    assert Int(optional=True).unpack(None) is None
    with pytest.raises(KatcpValueError, match="No value or default given"):
        Int().unpack(None)
    with pytest.raises(KatcpValueError, match="No value or default given"):
        Int().pack(None)
    kattype = Float(default=1.5, optional=True, multiple=True)
    assert (kattype.default, kattype.optional, kattype.multiple) == (1.5, True, True)


def test_lru_constants():
    assert Lru.LRU_VALUES == {0: "nominal", 1: "error"}
    assert Lru.LRU_CONSTANTS == {"nominal": 0, "error": 1}


# ---------------------------------------------------------------------------
# pack_types / unpack_types / make_reply / Parameter

def test_unpack_types():
    assert unpack_types([Int(), Float()], [b"1", b"2.5"], ["a", "b"], 5) == [1, 2.5]
    assert unpack_types([Int(), Int(default=7)], [b"1"], ["a", "b"], 5) == [1, 7]
    assert unpack_types([Int(multiple=True)], [b"1", b"2", b"3"], ["a"], 5) == [1, 2, 3]
    assert unpack_types([], [], [], 5) == []
    with pytest.raises(FailReply, match=r"^Too many parameters given\.$"):
        unpack_types([Int()], [b"1", b"2"], ["a"], 5)
    with pytest.raises(FailReply, match=r"^Error in parameter 3 \(a\): could not parse 'x'"):
        unpack_types([Int(multiple=True)], [b"1", b"2", b"x"], ["a"], 5)
    assert unpack_types([Timestamp()], [b"2000"], ["t"], 4) == [2.0]


def test_pack_types():
    assert pack_types([Int(), Float()], [1, 2.5], 5) == [b"1", b"2.5"]
    assert pack_types([Int(), Int(default=7)], [1], 5) == [b"1", b"7"]
    assert pack_types([Int(), Int(optional=True)], [1], 5) == [b"1"]  # optional left out
    assert pack_types([Str(multiple=True)], ["a", "b"], 5) == [b"a", b"b"]
    assert pack_types([Timestamp()], [2.0], 4) == [b"2000"]
    with pytest.raises(KatcpValueError, match="Too many arguments to pack: 2 values for 1 types"):
        pack_types([Int()], [1, 2], 5)
    with pytest.raises(KatcpTypeError, match=r"Cannot pack value 2 \('x'\) as integer"):
        pack_types([Int(), Int()], [1, "x"], 5)


def test_parameter():
    param = Parameter(2, "y", Float(), 5)
    assert param.unpack(b"1.5") == 1.5
    assert param.pack(1.5) == b"1.5"
    with pytest.raises(FailReply, match=r"^Error in parameter 2 \(y\): could not parse 'abc' as float$"):
        param.unpack(b"abc")


def test_make_reply():
    assert make_reply("add", (Float(),), ("ok", 3.5), 5) == Message.reply("add", b"ok", b"3.5")
    assert make_reply("add", (Float(),), (b"ok", 3.5), 5) == Message.reply("add", b"ok", b"3.5")
    assert make_reply("add", (Float(),), ("fail", "No fruit."), 5) == Message.reply(
        "add", b"fail", b"No fruit.")
    assert make_reply("add", (), ("invalid", "bad"), 5) == Message.reply("add", b"invalid", b"bad")
    assert make_reply("t", (Timestamp(),), ("ok", 1.5), 4).arguments == [b"ok", b"1500"]
    with pytest.raises(KatcpValueError, match="must return a tuple starting with 'ok', 'fail' or "
                                              "'invalid', not 'error'"):
        make_reply("add", (), "error", 5)
    with pytest.raises(KatcpValueError, match="not None"):
        make_reply("add", (), None, 5)
    with pytest.raises(KatcpValueError, match="not \\('maybe', 1\\)"):
        make_reply("add", (), ("maybe", 1), 5)


# ---------------------------------------------------------------------------
# Decorators

class FakeReq(object):
    """The part of the server's request object that the decorators use."""

    def __init__(self, msg):
        self.msg = msg
        self.sent = []
        self.informs = []

    def reply_with_message(self, reply):
        self.sent.append(reply)

    def inform(self, *args):
        self.informs.append(args)

    def reply(self, *args):
        self.sent.append(Message.reply_to_request(self.msg, *args))


def call(server, name, *args, **kwargs):
    """Call a handler the way the server does: ``handler(self, req, msg)``."""
    mid = kwargs.pop("mid", None)
    assert not kwargs
    msg = Message.request(name.replace("_", "-"), *args, mid=mid)
    req = FakeReq(msg)
    return getattr(server, "request_" + name)(req, msg), req


class Calculator(object):
    """A server-like class using the decorators in both orders."""

    @request(Float(), Float())
    @return_reply(Float())
    def request_add(self, req, x, y):
        """Add two numbers."""
        return ("ok", x + y)

    @return_reply(Float())
    @request(Float(), Float())
    def request_sub(self, req, x, y):
        """Subtract two numbers."""
        return ("ok", x - y)

    @request(Int(), Int(default=10), Str(optional=True))
    @return_reply(Int(), Str())
    def request_defaults(self, req, a, b, label):
        """Defaults and optional values."""
        return ("ok", a + b, "none" if label is None else label)

    @request(Str(), Int(multiple=True))
    @return_reply(Int(multiple=True))
    def request_many(self, req, name, *numbers):
        """Multiple values."""
        return ("ok",) + tuple(n * 2 for n in numbers)

    @request(Int(), include_msg=True)
    @return_reply(Str())
    def request_with_msg(self, req, msg, a):
        """Receives the message too."""
        return ("ok", "%s:%d" % (msg.name, a))

    @request()
    @return_reply()
    def request_refuse(self, req):
        """Always fails."""
        return ("fail", "No fruit.")

    @request()
    @return_reply()
    def request_raise(self, req):
        """Raises FailReply."""
        raise FailReply("nope")

    @request()
    @return_reply(Str())
    def request_later(self, req):
        """Replies later."""
        raise AsyncReply()

    @request(Float())
    @return_reply(Float())
    def request_future(self, req, x):
        """Returns a Future of the reply values."""
        self.future = concurrent.futures.Future()
        return self.future


def test_decorated_handlers_unpack_and_reply():
    server = Calculator()
    reply, _ = call(server, "add", b"1", b"2.5")
    assert reply == Message.reply("add", b"ok", b"3.5")
    reply, _ = call(server, "sub", b"1", b"2.5")
    assert reply == Message.reply("sub", b"ok", b"-1.5")


def test_reply_has_no_mid_the_server_copies_it():
    reply, req = call(Calculator(), "add", b"1", b"2", mid=7)
    assert reply.mid is None and req.msg.mid == b"7"


@pytest.mark.parametrize("style", ["bound", "through_class", "class_dict"])
def test_call_styles(style):
    """The server may call the handler bound, through the class, or from the class dict."""
    server = Calculator()
    msg = Message.request("add", b"1", b"2")
    req = FakeReq(msg)
    if style == "bound":
        reply = server.request_add(req, msg)
    elif style == "through_class":
        reply = Calculator.request_add(server, req, msg)
    else:
        reply = Calculator.__dict__["request_add"](server, req, msg)
    assert reply.arguments == [b"ok", b"3.0"]


@pytest.mark.parametrize("name", ["request_add", "request_sub"])
def test_signature_docstring_and_name_preserved(name):
    def reference(self, req, x, y):
        pass

    handler = getattr(Calculator, name)
    assert handler.__name__ == name
    assert handler.__doc__.endswith("two numbers.")
    if not hasattr(inspect, "signature"):  # Python 2
        assert inspect.getargspec(handler) == inspect.getargspec(reference)
        assert compat.positional_parameters(getattr(Calculator(), name)) == ["req", "x", "y"]
        return
    assert inspect.signature(handler) == inspect.signature(reference)
    assert inspect.signature(getattr(Calculator(), name)) == inspect.signature(
        functools.partial(reference, None))


def test_too_many_parameters():
    with pytest.raises(FailReply) as info:
        call(Calculator(), "add", b"1", b"2", b"3")
    assert str(info.value) == "Too many parameters given."


def test_missing_parameter_names_it():
    with pytest.raises(FailReply) as info:
        call(Calculator(), "add", b"1")
    assert str(info.value) == "Error in parameter 2 (y): No value or default given"


@pytest.mark.parametrize("name", ["add", "sub"])
def test_bad_parameter_names_position_name_and_value(name):
    with pytest.raises(FailReply) as info:
        call(Calculator(), name, b"1", b"abc")
    assert str(info.value) == "Error in parameter 2 (y): could not parse 'abc' as float"


def test_defaults_and_optional_parameters():
    assert call(Calculator(), "defaults", b"1")[0].arguments == [b"ok", b"11", b"none"]
    assert call(Calculator(), "defaults", b"1", b"2", b"x")[0].arguments == [b"ok", b"3", b"x"]


def test_multiple_parameters():
    assert call(Calculator(), "many", b"n", b"1", b"2", b"3")[0].arguments == [
        b"ok", b"2", b"4", b"6"]
    with pytest.raises(FailReply, match=r"Error in parameter 3 \(numbers\): could not parse 'x'"):
        call(Calculator(), "many", b"n", b"1", b"x")


def test_multiple_only_on_last_type():
    with pytest.raises(TypeError, match="Only the last parameter type"):
        request(Int(multiple=True), Int())
    with pytest.raises(TypeError, match="Only the last parameter type"):
        return_reply(Int(multiple=True), Int())


def test_include_msg():
    assert call(Calculator(), "with_msg", b"4")[0].arguments == [b"ok", b"with-msg:4"]


def test_fail_tuple_and_fail_reply():
    assert call(Calculator(), "refuse")[0] == Message.reply("refuse", b"fail", b"No fruit.")
    with pytest.raises(FailReply, match="nope"):
        call(Calculator(), "raise")


def test_async_reply_propagates():
    with pytest.raises(AsyncReply):
        call(Calculator(), "later")


def test_future_resolves_to_reply_message():
    server = Calculator()
    result, _ = call(server, "future", b"2")
    assert isinstance(result, concurrent.futures.Future) and not result.done()
    server.future.set_result(("ok", 4.5))
    assert result.result(timeout=1) == Message.reply("future", b"ok", b"4.5")


def test_future_exception_propagates():
    server = Calculator()
    result, _ = call(server, "future", b"2")
    server.future.set_exception(FailReply("broken"))
    with pytest.raises(FailReply, match="broken"):
        result.result(timeout=1)


def test_future_with_bad_reply_value_fails_the_future():
    server = Calculator()
    result, _ = call(server, "future", b"2")
    server.future.set_result(("ok", "not a float"))
    with pytest.raises(KatcpTypeError, match="expected a real number"):
        result.result(timeout=1)


def test_cancelled_future_cancels_reply_future():
    server = Calculator()
    result, _ = call(server, "future", b"2")
    server.future.cancel()
    assert result.cancelled()


def test_reply_name_from_request_message_else_method_name():
    server = Calculator()
    msg = Message.request("plus", b"1", b"2")
    assert server.request_add(FakeReq(msg), msg).name == "plus"  # e.g. an alias

    class NoMsg(object):
        pass

    @return_reply(Int())
    def request_pick_fruit(self, req):
        return ("ok", 1)

    assert request_pick_fruit(None, NoMsg()).name == "pick-fruit"


def test_return_reply_needs_request_prefix():
    with pytest.raises(ValueError, match="must start with 'request_' \\(got 'handle_add'\\)"):
        @return_reply()
        def handle_add(self, req):
            pass


def test_bad_return_value_is_a_clear_error():
    class Server(object):
        @request()
        @return_reply(Int())
        def request_x(self, req):
            """Returns a non-int."""
            return ("ok", "five")

    with pytest.raises(KatcpTypeError, match=r"Cannot pack value 2 \('five'\) as integer"):
        call(Server(), "x")


MARKERS = [
    concurrent_reply,
    request_timeout_hint(15),
    minimum_katcp_version(5, 1),
    has_katcp_protocol_flags(["M", b"I"]),
]


def _check_markers(handler):
    assert handler._concurrent_reply is True
    assert handler.request_timeout_hint == 15.0
    assert isinstance(handler.request_timeout_hint, float)
    assert handler._minimum_katcp_version == (5, 1)
    assert handler._has_katcp_protocol_flags == ["M", "I"]


@pytest.mark.parametrize("position", ["inside", "between", "outside"])
def test_markers_survive_stacking(position):
    def handler(self, req, x):
        """Doc."""
        return ("ok", x)
    handler.__name__ = "request_x"

    def mark(h):
        for marker in MARKERS:
            h = marker(h)
        return h

    if position == "inside":
        decorated = request(Int())(return_reply(Int())(mark(handler)))
    elif position == "between":
        decorated = request(Int())(mark(return_reply(Int())(handler)))
    else:
        decorated = mark(return_reply(Int())(request(Int())(handler)))

    class Server(object):
        request_x = decorated

    _check_markers(Server.request_x)
    _check_markers(Server().request_x)
    assert Server.request_x._request_decorated is True
    msg = Message.request("x", b"3")
    assert Server().request_x(FakeReq(msg), msg).arguments == [b"ok", b"3"]


def test_marker_defaults_and_forms():
    @request_timeout_hint(None)
    def request_a(self, req, msg):
        pass
    assert request_a.request_timeout_hint is None
    assert has_katcp_protocol_flags("MI")(lambda: None)._has_katcp_protocol_flags == ["M", "I"]
    assert minimum_katcp_version(5)(lambda: None)._minimum_katcp_version == (5, 0)
    with pytest.raises(ValueError, match="may not be negative"):
        request_timeout_hint(-1)


def test_major_4_partial_pattern_from_the_tutorial():
    request4 = functools.partial(request, major=4)
    return_reply4 = functools.partial(return_reply, major=4)

    class Server(object):
        @request4(Timestamp())
        @return_reply4(Timestamp())
        def request_time(self, req, when):
            """Echo a time."""
            return ("ok", when + 1)

    reply, _ = call(Server(), "time", b"1500")  # 1.5 s in v4 milliseconds
    assert reply.arguments == [b"ok", b"2500"]


def test_send_reply():
    class Server(object):
        @send_reply(Int())
        def done(self, req, value):
            return (req, "ok", value)

    req = FakeReq(Message.request("slow", mid=4))
    assert Server().done(req, 5) is None
    assert req.sent == [Message.reply("slow", b"ok", b"5")]


def test_inform_and_unpack_message():
    seen = []

    class Client(object):
        @unpack_message(Str(), Int(), Float())
        def reply_myreq(self, status, a, b):
            """Handle !myreq."""
            seen.append((status, a, b))

        @inform(Str(), include_msg=True)
        def inform_fruit(self, msg, fruit):
            """Handle #fruit."""
            seen.append((msg.name, fruit))

    client = Client()
    client.reply_myreq(Message.reply("myreq", b"ok", b"1", b"2.5"))
    client.inform_fruit(Message.inform("fruit", b"kiwi"))
    assert seen == [("ok", 1, 2.5), ("fruit", "kiwi")]
    assert compat.positional_parameters(Client.reply_myreq) == ["self", "status", "a", "b"]
    with pytest.raises(FailReply, match=r"Error in parameter 2 \(a\)"):
        client.reply_myreq(Message.reply("myreq", b"ok", b"x", b"2.5"))


def test_tutorial_server_handlers():
    """The handlers of the tutorial's "Writing your own Server", with a fake req."""
    import random
    import time

    FRUIT = ["apple", "banana", "pear", "kiwi"]

    class MyServer(object):
        @request()
        @return_reply(Timestamp())
        def request_time(self, req):
            """Return the current time in seconds since the Unix Epoch."""
            return ("ok", time.time())

        @request(Str())
        @return_reply(Str())
        def request_eval(self, req, expression):
            """Evaluate a Python expression."""
            return ("ok", str(eval(expression)))

        @request()
        @return_reply(Discrete(FRUIT))
        def request_pick_fruit(self, req):
            """Pick a random fruit."""
            r = random.choice(FRUIT + [None])
            if r is None:
                return ("fail", "No fruit.")
            req.inform("Picking will take %d seconds" % 1)
            raise AsyncReply

    server = MyServer()
    reply, _ = call(server, "time")
    assert re.match(br"\d+\.\d{6}\Z", reply.arguments[1])
    assert call(server, "eval", b"1+1")[0].arguments == [b"ok", b"2"]
    for _ in range(20):
        try:
            reply, req = call(server, "pick_fruit")
        except AsyncReply:
            continue
        assert reply.arguments == [b"fail", b"No fruit."]
    assert MyServer.request_pick_fruit.__doc__ == "Pick a random fruit."


def test_module_exports():
    for name in kattypes.__all__:
        assert hasattr(kattypes, name)


# katcp-python's packing rules (issue 14): code written for it keeps working.

class _NoTruthValue(object):
    """Like a numpy array: bool() of it raises."""

    def __bool__(self):
        raise ValueError("truth value is ambiguous")

    __nonzero__ = __bool__


@pytest.mark.parametrize("kattype, value, packed", [
    (Bool(), "a", b"1"),          # truthiness
    (Bool(), 2, b"1"),
    (Bool(), "", b"0"),
    (Str(), 5, b"5"),             # str() of a non-string
    (Str(), [1, 2.0, "three", False], b"[1, 2.0, 'three', False]"),
    (StrictTimestamp(), 1235475381.69669, b"1235475381.69669"),   # repr()
    (StrictTimestamp(), 1e-7, b"0.000000"),   # never an exponent (it would not parse)
])
def test_pack_as_katcp_python(kattype, value, packed):
    assert kattype.pack(value) == packed


@pytest.mark.parametrize("kattype, value", [
    (Float(), "a"), (Int(), "a"), (Timestamp(), "a"), (Address(), "127.0.0.1"),
    (Discrete(["a"]), 5), (Bool(), _NoTruthValue()),
])
def test_pack_type_errors_are_value_errors_too(kattype, value):
    with pytest.raises(ValueError):
        kattype.pack(value)
    with pytest.raises(TypeError):
        kattype.pack(value)


def test_face_keeps_every_name_of_before_the_split():
    """kattypes is katcp-python's face: the names it had before issue 12 split
    it into argtypes, arguments and handlers are still there, and are the
    very objects the new modules define."""
    from katcp_sync import argtypes, arguments, handlers
    for name in ("KatcpType", "Int", "Float", "Bool", "Str", "Discrete", "DiscreteMulti",
                 "Lru", "Address", "Timestamp", "TimestampOrNow", "StrictTimestamp",
                 "Struct", "Regex", "KatcpPackTypeError", "INT_RE", "FLOAT_RE"):
        assert getattr(kattypes, name) is getattr(argtypes, name)
    for name in ("Parameter", "pack_types", "unpack_types", "make_reply"):
        assert getattr(kattypes, name) is getattr(arguments, name)
    for name in ("request", "return_reply", "send_reply", "inform", "unpack_message",
                 "concurrent_reply", "request_timeout_hint", "minimum_katcp_version",
                 "has_katcp_protocol_flags"):
        assert getattr(kattypes, name) is getattr(handlers, name)


def _package_imports(module):
    """The katcp_sync modules ``module`` imports, directly or through others
    (read from the source, so the package face's own imports do not count).
    Modules of a subpackage (``compat.text``) are named by their dotted path."""
    import ast
    import os
    root = os.path.dirname(kattypes.__file__)
    seen, todo, third_party = set(), [module], set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        path = os.path.join(root, *name.split("."))
        is_package = os.path.isdir(path)
        with open(os.path.join(path, "__init__.py") if is_package else path + ".py", "rb") as f:
            tree = ast.parse(f.read())
        home = name if is_package else name.rpartition(".")[0]
        prefix = home + "." if home else ""
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                if node.module is None:   # from . import compat
                    todo.extend(prefix + alias.name for alias in node.names)
                else:
                    todo.append(prefix + node.module)
            elif isinstance(node, ast.Import):
                third_party.update(alias.name for alias in node.names)
    return seen, third_party


@pytest.mark.parametrize("module", ["sensor", "sampling", "logger", "sensortree"])
def test_sans_io_core_does_not_load_the_decorators(module):
    """Issue 12: sensor, sampling, logger and sensortree need only the argument
    types; they import neither the handler decorators nor wrapt."""
    modules, third_party = _package_imports(module)
    assert "argtypes" in modules
    assert not modules & {"handlers", "kattypes", "arguments", "annotated"}
    assert "wrapt" not in third_party


def test_metaclass_tables_hold_the_functions_on_every_python():
    """Python 2's getattr(cls, name) gives an unbound method: the tables keep
    the function, as on Python 3, and decorated handlers as they are."""
    import types
    from katcp_sync.metaclass import DeviceMetaclass

    @six.add_metaclass(DeviceMetaclass)
    class Device(object):
        def request_plain(self, req, msg):
            """Plain."""
            return req

        @request(Int())
        @return_reply(Int())
        def request_typed(self, req, x):
            """Typed."""
            return ("ok", x)

        def inform_thing(self, msg):
            """An inform."""

    assert type(Device._request_handlers["plain"]) is types.FunctionType
    assert type(Device._inform_handlers["thing"]) is types.FunctionType
    typed = Device._request_handlers["typed"]
    assert types.MethodType(typed, Device())(
        FakeReq(Message.request("typed", 3)), Message.request("typed", 3)).arguments == [b"ok", b"3"]


def test_text_of_leaves_values_that_are_not_text_alone():
    """(bytes(n) of an int would be n zero bytes on Python 3.)"""
    from katcp_sync.argtypes import text_of
    assert text_of(10 ** 9) == 10 ** 9
    assert text_of(None) is None
    assert text_of(u"caf\u00e9") == compat.native_text(u"caf\u00e9")
    with pytest.raises(KatcpValueError, match="must return a tuple starting"):
        make_reply("x", (), (10 ** 9,))
