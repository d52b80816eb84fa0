"""Tests for katcp_sync.message: the KATCP message codec (spec 2, 2.1, 2.2, 3)."""

from __future__ import absolute_import, division, print_function


import random

import pytest
import six
from hypothesis import given, settings
from hypothesis import strategies as st

from katcp_sync import compat
from katcp_sync.errors import KatcpSyntaxError, KatcpTypeError
from katcp_sync.linebuffer import LineSplitter
from katcp_sync.message import (
    MAX_MID, Message, MessageParser, escape_argument, parse, unescape_argument)

REQUEST, REPLY, INFORM = Message.REQUEST, Message.REPLY, Message.INFORM


# -- parsing valid lines (spec 2.1) ----------------------------------------

@pytest.mark.parametrize("line, mtype, name, mid, args", [
    # Type characters (spec 2.1 <type>).
    (b"?watchdog", REQUEST, "watchdog", None, []),
    (b"!watchdog ok", REPLY, "watchdog", None, [b"ok"]),
    (b"#version-connect katcp-protocol 5.1-MIBT", INFORM, "version-connect", None,
     [b"katcp-protocol", b"5.1-MIBT"]),
    # Names: alpha (alpha | digit | "-")*.
    (b"?a", REQUEST, "a", None, []),
    (b"?Z9-x-", REQUEST, "Z9-x-", None, []),
    # Message ids (spec 2.2): 1 .. 2**31-1, right after the name.
    (b"?add[12] 3 6", REQUEST, "add", b"12", [b"3", b"6"]),
    (b"?add[1]", REQUEST, "add", b"1", []),
    (b"?add[2147483647] x", REQUEST, "add", b"2147483647", [b"x"]),
    # Whitespace (spec 2.1 <whitespace>): runs of spaces and tabs separate;
    # trailing whitespace gives no extra argument.
    (b"?foo  a \t\tb\t", REQUEST, "foo", None, [b"a", b"b"]),
    (b"?foo\ta", REQUEST, "foo", None, [b"a"]),
    (b"?foo ", REQUEST, "foo", None, []),
    (b"?foo \t ", REQUEST, "foo", None, []),
    # Every escape (spec 2.1 <escapecode>).
    (b"#e \\\\ \\_ \\0 \\n \\r \\e \\t", INFORM, "e", None,
     [b"\\", b" ", b"\0", b"\n", b"\r", b"\x1b", b"\t"]),
    # \@ alone is an empty argument; anywhere else it is the empty string.
    (b"#foo \\@", INFORM, "foo", None, [b""]),
    (b"#foo a\\@b \\@\\@ \\@x", INFORM, "foo", None, [b"ab", b"", b"x"]),
    # Escapes next to each other and escaped backslashes before codes.
    (b"#foo \\\\_ \\\\\\_ \\\\\\\\", INFORM, "foo", None, [b"\\_", b"\\ ", b"\\\\"]),
    (b"#foo \\0\\e\\0 x\\ey", INFORM, "foo", None, [b"\0\x1b\0", b"x\x1by"]),
    # Bytes >= 0x80, form feed, VT and other control bytes are plain (F7).
    (b"#foo caf\xc3\xa9 \xff\x80", INFORM, "foo", None, [b"caf\xc3\xa9", b"\xff\x80"]),
    (b"#foo a\x0cb \x0b \x01\x02\x03", INFORM, "foo", None, [b"a\x0cb", b"\x0b", b"\x01\x02\x03"]),
    (b"#foo \x0c\\_\x0b", INFORM, "foo", None, [b"\x0c \x0b"]),
    # One end of line is tolerated.
    (b"?foo a\n", REQUEST, "foo", None, [b"a"]),
    (b"?foo a\r", REQUEST, "foo", None, [b"a"]),
    (b"?foo a\r\n", REQUEST, "foo", None, [b"a"]),
    (b"?foo a\\_\n", REQUEST, "foo", None, [b"a "]),
])
def test_parse_valid(line, mtype, name, mid, args):
    msg = parse(line)
    assert (msg.mtype, msg.name, msg.mid, msg.arguments) == (mtype, name, mid, args)
    if line[-1:] not in (b"\n", b"\r"):
        assert MessageParser().parse(line) == msg


@pytest.mark.parametrize("line", [b"!test message\n", b"?foo a\r", b"?foo a\r\n"])
def test_message_parser_refuses_an_end_of_line_as_katcp_python(line):
    """katcp-python's MessageParser.parse takes a line without its end of
    line; code ported from it may rely on the error (parse() tolerates it)."""
    with pytest.raises(KatcpSyntaxError, match="end-of-line"):
        MessageParser().parse(line)
    assert parse(line).name in ("test", "foo")


def test_parse_accepts_bytearray_and_memoryview():
    assert parse(bytearray(b"?foo a")) == Message.request("foo", "a")
    assert parse(memoryview(b"?foo a")) == Message.request("foo", "a")


def test_parsed_arguments_are_bytes():
    msg = parse(b"#foo a \\_ \\@")
    assert all(type(arg) is bytes for arg in msg.arguments)
    assert type(msg.name) is str


# -- parsing invalid lines (spec 2.1, 2.2) ---------------------------------

@pytest.mark.parametrize("line, fragment", [
    (b"", "empty line"),
    (b"  \t ", "empty line"),
    (b"\n", "empty line"),
    # Type character.
    (b"xfoo", "bad message type character 'x'"),
    (b"foo", "bad message type character 'f'"),
    (b"\\foo", "bad message type character"),
    (b" ?foo", "whitespace before the message type"),
    (b"\t?foo", "whitespace before the message type"),
    (b" ?foo a\\_b", "whitespace before the message type"),
    # Name.
    (b"?", "invalid message name"),
    (b"? foo", "invalid message name"),
    (b"?1foo", "invalid message name"),
    (b"?-foo", "invalid message name"),
    (b"?fo_o", "invalid message name"),
    (b"?fo\xc3\xa9", "invalid message name"),
    (b"?foo\\_x", "invalid message name"),
    (b"?foo\x0c", "invalid message name"),
    # Message id: grammar "[" (digit / "0") digit* "]" and range 1..2**31-1.
    (b"?foo[0]", "invalid message id"),
    (b"?foo[01]", "invalid message id"),
    (b"?foo[2147483648]", "invalid message id"),
    (b"?foo[99999999999999999999]", "invalid message id"),
    (b"?foo[]", "invalid message id"),
    (b"?foo[1", "invalid message id"),
    (b"?foo[1]]", "invalid message id"),
    (b"?foo[-1]", "invalid message id"),
    (b"?foo[a]", "invalid message id"),
    (b"?foo[1]x", "invalid message id"),
    (b"?foo [1]", None),  # valid: "[1]" is an argument, not a mid
    # Escapes.
    (b"?foo a\\q", "invalid escape sequence '\\\\q' at byte 6"),
    (b"?foo \\x", "invalid escape sequence '\\\\x' at byte 5"),
    (b"?foo \\\\\\q", "invalid escape sequence '\\\\q' at byte 7"),
    (b"?foo a\\", "trailing backslash at byte 6"),
    (b"?foo a\\ b", "trailing backslash at byte 6"),
    (b"?foo a\\\tb", "trailing backslash at byte 6"),
    (b"?foo a\\\\\\", "trailing backslash at byte 8"),
    (b"?foo a\x0c\\q", "invalid escape sequence '\\\\q' at byte 7"),
    # Raw special characters in arguments (spec 2.1 <special>).
    (b"?foo a\0b", "raw special character '\\x00' in argument at byte 6"),
    (b"?foo a\x1bb", "raw special character '\\x1b' in argument at byte 6"),
    (b"?foo a\nb", "raw special character '\\n' in argument at byte 6"),
    (b"?foo a\rb", "raw special character '\\r' in argument at byte 6"),
    (b"?foo a\\_\x1b", "raw special character '\\x1b' in argument at byte 8"),
    (b"?foo a\n\n", "raw special character '\\n'"),
])
def test_parse_invalid(line, fragment):
    if fragment is None:
        parse(line)
        return
    with pytest.raises(KatcpSyntaxError) as info:
        parse(line)
    assert fragment in str(info.value)
    assert info.value.raw is not None


@pytest.mark.parametrize("word, fragment", [
    (b"?known[0]", "invalid message id '[0]' at byte 6"),
    (b"?known[01]", "invalid message id '[01]' at byte 6"),
    (b"?known[]", "invalid message id '[]' at byte 6"),
    (b"?known[1[2]", "invalid message id '[1[2]' at byte 6"),
    (b"?known[[1]", "invalid message id '[[1]' at byte 6"),
    (b"?known[1]]", "invalid message id '[1]]' at byte 6"),
    (b"?known[x]", "invalid message id '[x]' at byte 6"),
    (b"?known[2147483648]", "invalid message id 2147483648"),
    (b"?known]", "unexpected ']' at byte 6"),
    (b"?known1]", "unexpected ']' at byte 7"),
    (b"?known[1]x", "invalid message id '[1]x' at byte 6"),
])
def test_message_ids_of_a_known_name(word, fragment):
    """Spec 2.2: once a name is known (cached), its message ids are read
    without the header regex; they get the same checks and errors, on plain
    lines and on lines with escapes."""
    parse(b"?known a")
    for line in (word, word + b" a", word + b" a\\_b", word + b" a\\_b\n"):
        with pytest.raises(KatcpSyntaxError) as info:
            parse(line)
        assert fragment in str(info.value)
    assert parse(b"?known[2147483647] a\\_b").mid == b"2147483647"


@pytest.mark.parametrize("line", [b"#known a\\_b", b"#known[5] a\\_b", b"#known a\\_b\r\n"])
def test_lines_with_escapes_and_a_known_name(line):
    """A line with escapes looks its (known) name up as a plain line does,
    still refusing whitespace before the type (spec 2.1)."""
    expected = parse(line)
    assert expected.name == "known" and expected.arguments == [b"a b"]
    assert parse(line) == expected
    for blank in (b" ", b"\t", b" \t"):
        with pytest.raises(KatcpSyntaxError, match="whitespace before the message type"):
            parse(blank + line)


@pytest.mark.parametrize("line, args", [
    (b"#x a\\_b\x0bc", [b"a b\x0bc"]),             # VT and FF are plain characters
    (b"#x a\\_b \x0c\\@", [b"a b", b"\x0c"]),
    (b"#x a\\_b\n", [b"a b"]),                       # one end of line
    (b"#x a\\_b\r", [b"a b"]),
    (b"#x a\\_b\r\n", [b"a b"]),
    (b"#x a\\_b \\0\\e\r\n", [b"a b", b"\0\x1b"]),
])
def test_lines_with_escapes_and_unusual_bytes(line, args):
    """Escaped lines that also hold VT, FF or an end of line (spec 2.1)."""
    assert parse(line).arguments == args


@pytest.mark.parametrize("line, fragment", [
    (b"#x a\\_b\0", "raw special character '\\x00' in argument at byte 7"),
    (b"#x a\\_b\x1b c", "raw special character '\\x1b' in argument at byte 7"),
    (b"#x a\\_b\nc", "raw special character '\\n' in argument at byte 7"),
    (b"#x a\\_b\x0c\\q", "invalid escape sequence '\\\\q' at byte 8"),
    (b"#x a\\_b \\@\\q", "invalid escape sequence '\\\\q' at byte 10"),
    (b"#x a\\_b \\@ c\\", "trailing backslash at byte 12"),
])
def test_lines_with_escapes_and_errors(line, fragment):
    """Where escaped lines go wrong, the error says what and at which byte."""
    with pytest.raises(KatcpSyntaxError) as info:
        parse(line)
    assert fragment in str(info.value)


@pytest.mark.parametrize("line", [u"?foo", 12, None, ["?foo"]])
def test_parse_rejects_non_bytes(line):
    with pytest.raises(KatcpTypeError):
        parse(line)
    with pytest.raises(KatcpTypeError):
        MessageParser().parse(line)


# -- building messages -----------------------------------------------------

@pytest.mark.parametrize("value, wire", [
    # Spec 3, table 6, and katcp-python's format_argument.
    (True, b"1"),
    (False, b"0"),
    (0, b"0"),
    (-12, b"-12"),
    (2 ** 70, b"%d" % 2 ** 70),
    (1.5, b"1.5"),
    (0.1, b"0.1"),
    (1e300, b"1e+300"),
    (-0.0, b"-0.0"),
    (b"raw \xff", b"raw \xff"),
    (u"caf\u00e9", b"caf\xc3\xa9"),
    ("", b""),
    (None, b"None"),
    (u"bad \ud800", b"bad ?"),
    (u"ok \U0001f600", b"ok \xf0\x9f\x98\x80"),
])
def test_format_argument(value, wire):
    assert Message.format_argument(value) == wire
    assert type(Message.format_argument(value)) is bytes


def test_format_argument_float_round_trips():
    for value in (0.1, 1 / 3, 1234567890.123456, 5e-324, 1.7976931348623157e308):
        assert float(Message.format_argument(value)) == value


def test_format_argument_numbers_abc_and_numpy():
    import fractions
    assert Message.format_argument(fractions.Fraction(1, 4)) == b"0.25"
    np = pytest.importorskip("numpy")
    assert Message.format_argument(np.int32(-7)) == b"-7"
    assert Message.format_argument(np.uint64(2 ** 63)) == b"%d" % 2 ** 63
    assert Message.format_argument(np.float32(1.5)) == b"1.5"
    assert float(Message.format_argument(np.float64(0.1))) == 0.1
    assert Message.format_argument(np.bool_(True)) == b"1"
    assert Message.format_argument(np.bool_(False)) == b"0"


def test_format_argument_object_uses_str():
    class Thing(object):
        def __str__(self):
            return "th\u00efng"
    assert Message.format_argument(Thing()) == "th\u00efng".encode()


def test_constructor_formats_arguments():
    msg = Message(REQUEST, "foo", [1, "a", b"b", True, 2.5])
    assert msg.arguments == [b"1", b"a", b"b", b"1", b"2.5"]
    assert Message(INFORM, "foo").arguments == []
    assert Message(INFORM, "foo", None).arguments == []


@pytest.mark.parametrize("mid, stored", [
    (None, None), (1, b"1"), (MAX_MID, b"2147483647"), ("42", b"42"), (b"42", b"42"),
    (u"42", b"42"), (bytearray(b"42"), b"42"),
])
def test_mid_valid(mid, stored):
    assert Message(REQUEST, "foo", mid=mid).mid == stored


@pytest.mark.parametrize("mid", [0, -1, MAX_MID + 1, "0", "01", b"01", "", "1a", "2147483648",
                                 u"\u0661", b" 1"])
def test_mid_invalid(mid):
    """Spec 2.2: ids are 1..2**31-1; grammar: no leading zero."""
    with pytest.raises(KatcpSyntaxError, match="invalid message id"):
        Message(REQUEST, "foo", mid=mid)


def test_text_and_bytes_are_the_same_on_every_python():
    """Names, mids and arguments may be native str, bytes or text (unicode
    on Python 2, as str on 3): the message is the same, its name the native
    str and its arguments bytes (UTF-8)."""
    as_text = Message(REQUEST, u"foo", [u"caf\u00e9", u"a b"], mid=u"7")
    as_bytes = Message(REQUEST, b"foo", [b"caf\xc3\xa9", b"a b"], mid=b"7")
    as_native = Message(REQUEST, "foo", [u"caf\u00e9".encode("utf-8"), "a b"], mid="7")
    assert as_text == as_bytes == as_native
    for msg in (as_text, as_bytes, as_native):
        assert type(msg.name) is str
        assert type(msg.mid) is bytes
        assert all(type(arg) is bytes for arg in msg.arguments)
        assert msg.encode() == b"?foo[7] caf\xc3\xa9 a\\_b\n"
    parsed = parse(b"?foo[7] caf\xc3\xa9 a\\_b")
    assert type(parsed.name) is str and parsed == as_text
    assert type(repr(parsed)) is str and type(str(parsed)) is str


def test_format_argument_of_other_objects_uses_their_text():
    class Named(object):
        def __str__(self):
            return "named"
    assert Message.format_argument(Named()) == b"named"
    assert Message.format_argument(2 ** 70) == b"1180591620717411303424"
    assert Message.format_argument(0.1) == b"0.1"


def test_mid_wrong_type():
    with pytest.raises(KatcpTypeError):
        Message(REQUEST, "foo", mid=1.0)


@pytest.mark.parametrize("name", ["", "1a", "-a", "a_b", "a b", u"caf\u00e9", "a\n", u"\u0661", b"caf\xc3\xa9"])
def test_name_invalid(name):
    with pytest.raises(KatcpSyntaxError, match="invalid message name"):
        Message(REQUEST, name)


def test_name_bytes_accepted_and_other_types_rejected():
    assert Message(REQUEST, b"foo").name == "foo"
    with pytest.raises(KatcpSyntaxError):
        Message(REQUEST, b"f\xffoo")
    with pytest.raises(KatcpTypeError):
        Message(REQUEST, 12)


@pytest.mark.parametrize("mtype", [3, -1, "?", None, True])
def test_mtype_invalid(mtype):
    with pytest.raises(KatcpSyntaxError, match="invalid message type"):
        Message(mtype, "foo")


def test_factories():
    req = Message.request("add", 3, 6, mid=12)
    assert (req.mtype, req.name, req.arguments, req.mid) == (REQUEST, "add", [b"3", b"6"], b"12")
    assert Message.reply("add", "ok", 9) == Message(REPLY, "add", [b"ok", b"9"])
    assert Message.inform("log", "info") == Message(INFORM, "log", [b"info"])
    # Spec 2.2/2.3: the reply and its informs carry the request's name and mid.
    assert Message.reply_to_request(req, "ok", 9) == Message(REPLY, "add", [b"ok", b"9"], 12)
    assert Message.reply_inform(req, "x") == Message(INFORM, "add", [b"x"], 12)
    plain = Message.request("watchdog")
    assert Message.reply_to_request(plain, "ok").mid is None


def test_reply_ok():
    assert Message.reply("foo", "ok").reply_ok()
    assert Message.reply("foo", b"ok", 1).reply_ok()
    assert not Message.reply("foo", "fail", "ok").reply_ok()
    assert not Message.reply("foo").reply_ok()
    assert not Message.inform("foo", "ok").reply_ok()
    assert not Message.request("foo", "ok").reply_ok()


def test_constants():
    assert (Message.OK, Message.FAIL, Message.INVALID) == (b"ok", b"fail", b"invalid")
    assert Message.TYPE_SYMBOLS == {REQUEST: b"?", REPLY: b"!", INFORM: b"#"}
    assert Message.TYPE_SYMBOL_LOOKUP == {b"?": REQUEST, b"!": REPLY, b"#": INFORM}
    assert Message.TYPE_NAMES[REPLY] == "REPLY"


def test_equality_covers_every_slot():
    base = Message.request("foo", "a", mid=1)
    assert base == Message.request("foo", "a", mid=1)
    assert not base != Message.request("foo", "a", mid=1)
    for other in (Message.reply("foo", "a", mid=1), Message.request("bar", "a", mid=1),
                  Message.request("foo", "b", mid=1), Message.request("foo", "a", mid=2),
                  Message.request("foo", "a")):
        assert base != other
        assert not base == other
    assert base != "?foo[1] a"
    with pytest.raises(TypeError):
        hash(base)


def test_copy_keeps_mid_and_owns_its_arguments():
    msg = Message.request("foo", "a", mid=7)
    dup = msg.copy()
    assert dup == msg and dup is not msg
    assert dup.mid == b"7"  # katcp-python dropped it
    dup.arguments.append(b"b")
    assert msg.arguments == [b"a"]


def test_repr():
    assert repr(Message.reply("foo", "ok", "a b", "")) == "<Message reply foo (ok, a\\_b, \\@)>"
    # No message id, as katcp-python's repr: a test suite compares
    # repr(reply) with repr(Message.reply(...)) (ska-sa/katsdpcontroller's).
    assert repr(Message.request("foo", mid=3)) == "<Message request foo ()>"
    assert repr(Message.reply("foo", "ok", 1, mid=7)) == repr(Message.reply("foo", "ok", 1))
    assert str(Message.request("foo", mid=3)) == "?foo[3]"
    long = repr(Message.inform("foo", b"x" * 5000))
    assert len(long) < 1100 and long.endswith("...)>")


# -- formatting (spec 2.1, F8) ---------------------------------------------

@pytest.mark.parametrize("msg, wire", [
    (Message.request("watchdog"), b"?watchdog"),
    (Message.request("add", 3, 6, mid=12), b"?add[12] 3 6"),
    (Message.reply("foo", "ok", ""), b"!foo ok \\@"),
    (Message.inform("foo", ""), b"#foo \\@"),
    (Message.inform("foo", "", ""), b"#foo \\@ \\@"),
    (Message.inform("e", b"\\ \0\n\r\x1b\t"), b"#e \\\\\\_\\0\\n\\r\\e\\t"),
    (Message.inform("foo", b"a b", b"c"), b"#foo a\\_b c"),
    (Message.inform("foo", b"\xff\x0c@"), b"#foo \xff\x0c@"),
])
def test_bytes_and_encode(msg, wire):
    assert bytes(msg) == wire
    assert msg.encode() == wire + b"\n"
    # str() is the native str: the bytes themselves on Python 2
    assert str(msg) == compat.native_str(wire, "replace")
    assert six.text_type(msg) == wire.decode("utf-8", "replace")
    assert parse(wire) == msg


@pytest.mark.parametrize("raw, escaped", [
    (b"", b"\\@"),
    (b"plain", b"plain"),
    (b"\\", b"\\\\"),
    (b"\\_", b"\\\\_"),
    (b"a b\tc", b"a\\_b\\tc"),
    (b"\0\x1b\n\r", b"\\0\\e\\n\\r"),
])
def test_escape_unescape_argument(raw, escaped):
    assert escape_argument(raw) == escaped
    assert unescape_argument(escaped) == raw


@pytest.mark.parametrize("bad", [b"a b", b"a\\", b"\\q", b"a\0"])
def test_unescape_argument_invalid(bad):
    with pytest.raises(KatcpSyntaxError):
        unescape_argument(bad)


# -- property tests --------------------------------------------------------

names = st.from_regex(r"\A[A-Za-z][A-Za-z0-9-]{0,15}\Z")
mids = st.one_of(st.none(), st.integers(1, MAX_MID))
special_heavy = st.lists(st.sampled_from(
    [b"\\", b" ", b"\0", b"\n", b"\r", b"\x1b", b"\t", b"@", b"_", b"0", b"e", b"a",
     b"\x01", b"\x02", b"\x03", b"\x0b", b"\x0c", b"\xff"]), max_size=8).map(b"".join)
arguments = st.lists(st.one_of(st.binary(max_size=20), special_heavy), max_size=6)
messages = st.builds(Message, st.sampled_from([REQUEST, REPLY, INFORM]), names, arguments, mids)


@given(messages)
@settings(max_examples=400, deadline=None)
def test_round_trip(msg):
    """F8: parse(serialise(m)) == m for any name, mid and argument bytes."""
    wire = bytes(msg)
    assert b"\n" not in wire and b"\r" not in wire
    assert parse(wire) == msg
    assert parse(msg.encode()) == msg


@given(st.binary(max_size=60))
@settings(max_examples=600, deadline=None)
def test_parser_only_raises_syntax_errors(data):
    try:
        msg = parse(data)
    except KatcpSyntaxError:
        return
    # Whatever parses must survive a round trip.
    assert parse(bytes(msg)) == msg


@given(st.lists(st.sampled_from(
    [b"?", b"!", b"#", b"a", b"[", b"]", b"1", b"0", b" ", b"\t", b"\\", b"_", b"@", b"e",
     b"\0", b"\x1b", b"\n", b"\r", b"\x0c", b"\xc3"]), max_size=20).map(b"".join))
@settings(max_examples=600, deadline=None)
def test_parser_on_grammar_fragments(data):
    """Lines made of the grammar's own bytes: fast and general paths agree."""
    try:
        msg = parse(data)
    except KatcpSyntaxError as exc:
        assert str(exc)
        return
    assert parse(bytes(msg)) == msg


# -- streams: LineSplitter + parse (spec 2.1 <eol>, F3) --------------------

def _stream_messages():
    msgs = [
        Message.request("watchdog"),
        Message.request("add", 3, 6, mid=12),
        Message.inform("sensor-status", 1234567890.123456, 1, "some.sensor", "nominal", 3.14159),
        Message.reply("log", "ok", "", b"a b\\c\t\0\x1b\n\r", mid=7),
        Message.inform("blob", b"x" * 5000),
    ]
    # Mixed end-of-line styles and blank lines between messages.
    eols = [b"\n", b"\r", b"\r\n", b"\n \t\n", b"\n\n"]
    wire = b"".join(bytes(m) + eols[i % len(eols)] for i, m in enumerate(msgs))
    return msgs, wire


def _collect(chunks):
    splitter = LineSplitter(10000)
    out = []
    for chunk in chunks:
        out.extend(parse(line) for line in splitter.feed(chunk))
    assert splitter.buffered == 0
    return out


def test_stream_one_byte_at_a_time():
    msgs, wire = _stream_messages()
    assert _collect(wire[i:i + 1] for i in range(len(wire))) == msgs


def test_stream_whole_and_random_chunks():
    msgs, wire = _stream_messages()
    assert _collect([wire]) == msgs
    rng = random.Random(1234)
    for _ in range(50):
        cuts = sorted(rng.sample(range(1, len(wire)), rng.randint(1, 30)))
        chunks = [wire[a:b] for a, b in zip([0] + cuts, cuts + [len(wire)])]
        assert _collect(chunks) == msgs


@given(st.lists(st.sampled_from(
    [b"?", b"!", b"#", b"ab", b"[", b"]", b"1", b"0", b" ", b"\t", b"\\", b"_", b"@", b"e", b"t",
     b"n", b"\0", b"\x1b", b"\x0c", b"\xc3", b"-"]), max_size=14).map(b"".join),
    st.sampled_from([b"", b"?ab", b"#x-1", b"!ab[7]"]))
@settings(max_examples=800, deadline=None)
def test_agrees_with_aiokatcp_codec(tail, head):
    """Differential check against aiokatcp's compiled parser (katcp-codec):
    both accept the same lines and produce the same messages."""
    codec = pytest.importorskip("katcp_codec")
    line = head + tail
    if not line.strip(b" \t"):
        return  # blank lines never reach the parser (LineSplitter drops them)
    result = codec.Parser(1000).append(line + b"\n")
    theirs = None
    if result and not isinstance(result[0], Exception):
        m = result[0]
        mtype = {"REQUEST": REQUEST, "REPLY": REPLY, "INFORM": INFORM}[m.mtype.name]
        theirs = (mtype, m.name.decode(), None if m.mid is None else b"%d" % m.mid,
                  list(m.arguments))
    try:
        msg = parse(line)
        ours = (msg.mtype, msg.name, msg.mid, msg.arguments)
    except KatcpSyntaxError:
        ours = None
    assert ours == theirs


def test_escaping_names_still_importable_from_message():
    """Issue 12 moved argument escaping to katcp_sync.escaping; message keeps
    its names (katcp-python's module layout) as the same objects."""
    from katcp_sync import escaping, message
    for name in ("escape_argument", "unescape_argument", "ESCAPE_LOOKUP",
                 "REVERSE_ESCAPE_LOOKUP"):
        assert name in message.__all__
        assert getattr(message, name) is getattr(escaping, name)


@pytest.mark.parametrize("args, body", [
    ([b"a" * 3000 + b" b"], b"a" * 3000 + b"\\_b"),                 # space inside a long argument
    ([b"a" * 3000, b"x y", b"z"], b"a" * 3000 + b" x\\_y z"),
    ([b"a" * 3000, b""], b"a" * 3000 + b" \\@"),                     # empty argument
    ([b"\xff" * 3000, b"x y", b""], b"\xff" * 3000 + b" x\\_y \\@"),  # 0xFF, which joins them
    ([b"a\xff" * 1500, b"x\xff\xff"], b"a\xff" * 1500 + b" x\xff\xff"),
    ([b"a" * 3000, b"b" * 3000], b"a" * 3000 + b" " + b"b" * 3000),  # nothing to escape
])
def test_encode_long_bodies(args, body):
    """Long bodies check spaces per argument (memchr), not by counting (spec 2.1)."""
    msg = Message.request("x", *args)
    assert msg.encode() == b"?x " + body + b"\n"
    assert parse(msg.encode()[:-1]).arguments == args


LONG = b"L" * 3000


@pytest.mark.parametrize("args", [
    [LONG],
    [b"ok", LONG],
    [b"", LONG],                          # an empty argument before a long one
    [b"a b", LONG],                       # an escape before it
    [LONG[:2047]],                        # one byte short of the long path
    [LONG[:2048]],
    [b"x", LONG + b" "],                  # specials at the end of the long one
    [LONG + b"\\"], [LONG + b"\0"], [LONG + b"\n"], [LONG + b"\r"],
    [LONG + b"\x1b"], [LONG + b"\t"], [b"\\" + LONG],
    [LONG, LONG + b"\\ @"],
])
@pytest.mark.parametrize("mid", [None, 7])
def test_encode_with_a_long_last_argument(args, mid):
    """A long last argument takes the one-copy path (issue #16, point 5):
    the same wire form as escaping each argument (spec 2.1), and it parses back."""
    msg = Message.request("x", *args, mid=mid)
    head = b"?x" if mid is None else b"?x[7]"
    expected = b" ".join([head] + [escape_argument(arg) for arg in args]) + b"\n"
    assert msg.encode() == expected
    assert parse(msg.encode()) == msg


def test_encoded_heads_are_remembered_per_type_and_bounded():
    """encode() remembers ``b"?name"`` per type and name (a bounded cache):
    every type, with and without a message id, and many names."""
    from katcp_sync import message
    for i in range(3 * message._HEADER_CACHE_SIZE):
        name = "n%d" % i
        for mtype, symbol in ((Message.REQUEST, b"?"), (Message.REPLY, b"!"),
                              (Message.INFORM, b"#")):
            assert Message(mtype, name, [b"a"]).encode() == symbol + name.encode() + b" a\n"
            assert Message(mtype, name, mid=5).encode() == symbol + name.encode() + b"[5]\n"
    assert all(len(heads) <= message._HEADER_CACHE_SIZE for heads in message._HEADS.values())


@pytest.mark.parametrize("sep", [b" ", b"\t", b" \t "])
@pytest.mark.parametrize("plain", [b"\x0b", b"\x0c", b"\x0b\x0c"])
def test_vt_and_ff_are_plain_characters_in_long_lines(sep, plain):
    """Spec 2.1: only space and tab separate arguments; VT and FF are plain
    characters, in short lines and in long ones (which skip the VT/FF scan
    unless a tab makes them split with bytes.split())."""
    for size in (10, 5000):
        arg = b"v" * size + plain + b"w"
        line = b"?x" + sep + arg + sep + b"b" + plain
        msg = parse(line)
        assert msg.arguments == [arg, b"b" + plain]
