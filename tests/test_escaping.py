"""Tests for katcp_sync.escaping: spec 2.1's escapes, for one argument or a
whole message's arguments at once.

The bulk functions (:func:`escape_joined`, :func:`unescape_all`) must give
exactly what escaping or unescaping each argument alone gives; the one-argument
functions are the reference here.
"""

from __future__ import absolute_import, division, print_function

import random
import sys

import pytest

from katcp_sync.errors import KatcpSyntaxError
from katcp_sync.escaping import escape_argument, escape_joined, unescape_all, unescape_argument
from katcp_sync.message import Message, parse


def one_by_one(args):
    """The wire body, each argument escaped alone (spec 2.1)."""
    return b" ".join([escape_argument(arg) for arg in args])


# -- escaping a message's arguments (Message.encode) -------------------------

@pytest.mark.parametrize("args, body", [
    ([b""], b"\\@"),
    ([b"", b""], b"\\@ \\@"),
    ([b"", b"", b""], b"\\@ \\@ \\@"),
    ([b"", b"", b"", b""], b"\\@ \\@ \\@ \\@"),
    ([b"", b"a"], b"\\@ a"),
    ([b"a", b""], b"a \\@"),
    ([b"", b"a", b""], b"\\@ a \\@"),
    ([b"", b"", b"a"], b"\\@ \\@ a"),
    ([b"a", b"", b""], b"a \\@ \\@"),
    ([b"a", b"", b"b"], b"a \\@ b"),
    ([b"a", b"", b"", b"b"], b"a \\@ \\@ b"),
    ([b"a", b"", b"", b"", b"b"], b"a \\@ \\@ \\@ b"),
    ([b"a", b"", b"b", b"", b"c"], b"a \\@ b \\@ c"),
    ([b"", b"a b", b"", b"", b"\\", b"", b"c\td", b""],
     b"\\@ a\\_b \\@ \\@ \\\\ \\@ c\\td \\@"),
    ([b"ok", b"", b"a b c", b"tab\there", b"nul\0", b"esc\x1b", b"back\\slash",
      b"line\nbreak", b"cr\r", b"", b"mixed \t\0\x1b\\end"],
     b"ok \\@ a\\_b\\_c tab\\there nul\\0 esc\\e back\\\\slash line\\nbreak cr\\r \\@ "
     b"mixed\\_\\t\\0\\e\\\\end"),
])
def test_escape_joined_marks_every_empty_argument(args, body):
    """Empty arguments anywhere, alone or side by side, each become ``\\@``
    (spec 2.1), with and without the space-joined body as a hint."""
    assert one_by_one(args) == body
    assert escape_joined(args) == body
    assert escape_joined(args, b" ".join(args)) == body
    msg = Message.reply("x", *args, mid=3)
    assert msg.encode() == b"!x[3] " + body + b"\n"
    assert parse(msg.encode()) == msg


@pytest.mark.parametrize("args", [
    [b"\xff"],
    [b"\xff", b""],
    [b"", b"\xff\xff", b""],     # would read as two empty arguments if taken for separators
    [b"a\xffb", b"c d"],
    [b"\xff", b"", b"", b"\xff"],
    [b"caf\xc3\xa9", b"\xfe\xff", b"\\"],
])
def test_escape_joined_arguments_holding_its_separator(args):
    """The bulk escaper joins arguments with 0xFF while it works; arguments
    that hold that byte themselves are escaped one by one instead."""
    body = one_by_one(args)
    assert escape_joined(args) == body
    assert escape_joined(args, b" ".join(args)) == body
    msg = Message.inform("x", *args)
    assert msg.encode() == b"#x " + body + b"\n"
    assert parse(msg.encode()) == msg


#: Pieces of random arguments: nothing, every special byte, the bulk
#: escaper's separator and its neighbour, VT/FF, escape codes, UTF-8.
PIECES = [b"", b"a", b" ", b"\t", b"\\", b"\0", b"\n", b"\r", b"\x1b", b"@", b"_", b"0", b"e",
          b"\xff", b"\xfe", b"\x0b", b"\x0c", b"\xc3\xa9", b"\\@", b"\\_"]


def random_arguments(rng):
    """A random argument list, many of whose arguments are empty."""
    return [b"".join(rng.choice(PIECES) for _ in range(rng.choice([0, 0, 0, 1, 2, 6])))
            for _ in range(rng.randint(0, 9))]


def test_random_argument_lists_round_trip():
    """Property (fixed seed): for any argument list the bulk escaper gives
    what escaping each argument alone gives, the message parses back, and
    each word of the wire form unescapes to its argument (spec 2.1)."""
    rng = random.Random(20261207)
    for _ in range(4000):
        args = random_arguments(rng)
        body = one_by_one(args)
        if args:
            assert escape_joined(args) == body
            assert escape_joined(args, b" ".join(args)) == body
        mid = rng.choice([None, 7])
        msg = Message(Message.REPLY, "r", args, mid)
        wire = msg.encode()
        head = b"!r" if mid is None else b"!r[7]"
        assert wire == (b" ".join([head, body]) if args else head) + b"\n"
        assert parse(wire) == msg
        words = wire[:-1].split(b" ")[1:]
        assert [unescape_argument(word) for word in words] == args
        if not any(b"\x0b" in word or b"\x0c" in word for word in words):
            # (unescape_all takes words free of VT and FF: parse() checks)
            assert unescape_all(words) == args


# -- unescaping many arguments at once (parse) ------------------------------

#: Pieces of escaped words: every escape, escaped backslashes next to codes,
#: unknown escapes and lone backslashes.
ESCAPED_PIECES = [b"a", b"e", b"@", b"_", b"0", b"t", b"\xff", b"\\_", b"\\@", b"\\t", b"\\n",
                  b"\\r", b"\\0", b"\\e", b"\\\\", b"\\q", b"\\x", b"\\"]


def test_unescape_all_agrees_with_unescape_argument():
    """Property (fixed seed): unescape_all gives each word's unescape_argument,
    or None exactly when one of them is invalid (an unknown escape or a
    trailing backslash), whichever escapes a word holds."""
    rng = random.Random(20261208)
    invalid = 0
    for _ in range(6000):
        words = [b"".join(rng.choice(ESCAPED_PIECES) for _ in range(rng.randint(1, 5)))
                 for _ in range(rng.randint(1, 5))]
        try:
            expected = [unescape_argument(word) for word in words]
        except KatcpSyntaxError:
            expected = None
            invalid += 1
        assert unescape_all(words) == expected, words
        line = b"#x " + b" ".join(words)
        if expected is None:
            with pytest.raises(KatcpSyntaxError):
                parse(line)
        else:
            assert parse(line).arguments == expected
    assert 1000 < invalid < 5000    # both outcomes well covered


@pytest.mark.parametrize("words, args", [
    ([b"a\\_b", b"\\@"], [b"a b", b""]),            # only the common escapes
    ([b"\\_\\@\\_"], [b"  "]),
    ([b"a\\_b", b"c\\td"], [b"a b", b"c\td"]),       # then the others
    ([b"\\\\_", b"\\\\@"], [b"\\_", b"\\@"]),         # escaped backslashes before codes
    ([b"x\\n\\r\\0\\e"], [b"x\n\r\0\x1b"]),
])
def test_unescape_all_valid(words, args):
    assert unescape_all(words) == args


@pytest.mark.parametrize("words", [
    [b"a\\_b", b"\\q"],         # an unknown escape after the common ones
    [b"a\\_b\\"],               # a trailing backslash after them
    [b"\\@", b"a\\"],
    [b"\\t\\x"],
    [b"\\\\\\"],
])
def test_unescape_all_invalid(words):
    assert unescape_all(words) is None


def reference_argument_error(arg):
    """The first error in ``arg`` as a byte-by-byte walk finds it (spec 2.1):
    ``(kind, position)``, or None for a valid argument."""
    i = 0
    while i < len(arg):
        byte = arg[i:i + 1]
        if byte == b"\\":
            if i + 1 == len(arg):
                return "trailing backslash", i
            if arg[i + 1:i + 2] not in b"\\_0nret@":
                return "invalid escape sequence", i
            i += 2
            continue
        if byte in b" \0\n\r\x1b\t":
            return "raw special character", i
        i += 1
    return None


def test_argument_errors_are_located_like_a_byte_by_byte_walk():
    """Property (fixed seed): the error unescape_argument reports names the
    kind and the byte of the first error a walk over the argument finds."""
    rng = random.Random(20261206)
    pieces = ESCAPED_PIECES + [b"\0", b"\x1b", b"\t", b" ", b"\n", b"\r"]
    for _ in range(6000):
        arg = b"".join(rng.choice(pieces) for _ in range(rng.randint(1, 8)))
        expected = reference_argument_error(arg)
        if expected is None:
            unescape_argument(arg)
            continue
        with pytest.raises(KatcpSyntaxError) as info:
            unescape_argument(arg)
        kind, position = expected
        assert str(info.value).startswith(kind) and str(info.value).endswith(
            "at byte %d" % position), (arg, info.value)


def test_an_error_at_the_end_of_a_long_argument_is_found_without_a_python_step_per_byte():
    """A client can send a 2 MB argument with a bad escape at its end, over and
    over; the reactor parses each. Finding the error must not walk the
    argument byte by byte in Python (that cost 0.2 s of the reactor per
    line): the Python lines run to parse and explain it do not grow with
    its length. (Counted, not timed: speed belongs to the benchmarks.)"""
    def python_lines(length):
        line = b"?x " + b"\x01" * length + b"\\q"
        count = [0]

        def tracer(frame, event, arg):
            if event == "line" and "katcp_sync" in frame.f_code.co_filename:
                count[0] += 1
            return tracer
        sys.settrace(tracer)
        try:
            with pytest.raises(KatcpSyntaxError, match="at byte %d" % (length + 3)):
                parse(line)
        finally:
            sys.settrace(None)
        return count[0]

    short = python_lines(10000)
    assert short < 300 and python_lines(1000000) < short + 30
