"""Tests for katcp_sync.linebuffer: splitting a byte stream into lines (spec 2.1 <eol>, F3, F4, F13)."""

from __future__ import absolute_import, division, print_function


import random
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from katcp_sync.errors import KatcpSyntaxError, LineTooLongError
from katcp_sync.linebuffer import DEFAULT_MAX_LINE_LENGTH, MAX_RECV_SIZE, RECV_SIZE, LineSplitter


def feed_all(splitter, chunks):
    out = []
    for chunk in chunks:
        out.extend(splitter.feed(chunk))
    return out


def kinds(items):
    """Lines as bytes, errors as the string "ERR"."""
    return ["ERR" if isinstance(x, LineTooLongError) else x for x in items]


@pytest.mark.parametrize("data, lines", [
    # Spec 2.1: <eol> ::= newline | carriage-return.
    (b"?a\n", [b"?a"]),
    (b"?a\r", [b"?a"]),
    (b"?a\r\n", [b"?a"]),  # CRLF: a line and an (ignored) empty line
    (b"?a\n?b\r?c\r\n?d\n", [b"?a", b"?b", b"?c", b"?d"]),
    # Spec 2.1: lines with only whitespace are ignored (F4).
    (b"\n\n\r\r\n", []),
    (b" \n\t\n \t \r?a\n  \n", [b"?a"]),
    # Leading/trailing whitespace on a real line is kept for the parser.
    (b" ?a \n", [b" ?a "]),
    # No end of line yet: nothing.
    (b"?a", []),
    # Form feed is not whitespace for KATCP.
    (b"\x0c\n", [b"\x0c"]),
])
def test_split(data, lines):
    assert LineSplitter().feed(data) == lines


def test_partial_lines_across_feeds():
    splitter = LineSplitter()
    assert splitter.feed(b"?wat") == []
    assert splitter.buffered == 4
    assert splitter.feed(b"chdog\n?he") == [b"?watchdog"]
    assert splitter.buffered == 3
    assert splitter.feed(b"lp") == []
    assert splitter.feed(b"\r") == [b"?help"]
    assert splitter.buffered == 0


def test_cr_and_lf_split_across_feeds():
    splitter = LineSplitter()
    assert splitter.feed(b"?a\r") == [b"?a"]
    assert splitter.feed(b"\n?b") == []
    assert splitter.feed(b"\n") == [b"?b"]


def test_reset_drops_partial_line():
    splitter = LineSplitter()
    splitter.feed(b"?partial")
    splitter.reset()
    assert splitter.buffered == 0
    assert splitter.feed(b"?a\n") == [b"?a"]


def test_bad_max_line_length():
    with pytest.raises(ValueError):
        LineSplitter(0)
    assert LineSplitter().max_line_length == DEFAULT_MAX_LINE_LENGTH


# -- over-long lines (F13) -------------------------------------------------

def test_line_at_limit_is_accepted():
    splitter = LineSplitter(10)
    assert splitter.feed(b"x" * 10 + b"\n") == [b"x" * 10]
    assert feed_all(splitter, [b"x" * 5, b"x" * 5, b"\n"]) == [b"x" * 10]


def test_too_long_in_one_chunk():
    splitter = LineSplitter(10)
    out = splitter.feed(b"?a\n" + b"x" * 11 + b"\n?b\n")
    assert kinds(out) == [b"?a", "ERR", b"?b"]
    assert isinstance(out[1], KatcpSyntaxError)
    assert "10" in str(out[1])


def test_too_long_across_many_feeds_gives_one_error_then_resyncs():
    splitter = LineSplitter(100)
    out = splitter.feed(b"?a\n")
    for _ in range(1000):
        out += splitter.feed(b"y" * 37)
        assert splitter.buffered <= 100
    out += splitter.feed(b"yyy\n?b\n")
    assert kinds(out) == [b"?a", "ERR", b"?b"]


def test_too_long_then_partial_next_line():
    splitter = LineSplitter(10)
    out = feed_all(splitter, [b"z" * 25, b"zz\n?ne", b"xt\n"])
    assert kinds(out) == ["ERR", b"?next"]


def test_too_long_ends_with_cr_lf():
    splitter = LineSplitter(10)
    out = feed_all(splitter, [b"z" * 11, b"\r", b"\n?a\r\n"])
    assert kinds(out) == ["ERR", b"?a"]


def test_many_too_long_lines_in_one_chunk():
    splitter = LineSplitter(4)
    assert kinds(splitter.feed(b"aaaaa\nbb\ncccccc\r")) == ["ERR", b"bb", "ERR"]


def reference_lines(data, limit):
    """Spec 2.1: split on CR/LF, drop blank lines; over-long lines are errors."""
    out = []
    for line in data.replace(b"\r", b"\n").split(b"\n")[:-1]:
        if len(line) > limit:
            out.append("ERR")
        elif line.strip(b" \t"):
            out.append(line)
    return out


try:
    RANDOMS = st.randoms(use_true_random=False)
except TypeError:  # hypothesis 4 (Python 2) has no such argument
    RANDOMS = st.randoms()


@given(st.lists(st.sampled_from([b"?ab", b"x" * 7, b" ", b"\t", b"\n", b"\r", b"z" * 30]),
                max_size=30).map(b"".join),
       RANDOMS)
@settings(max_examples=300, deadline=None)
def test_chunking_does_not_matter(data, rng):
    """Same lines and errors whether data comes at once or in random chunks;
    the partial-line buffer never exceeds the limit."""
    limit = 16
    expected = kinds(LineSplitter(limit).feed(data + b"\n"))
    splitter = LineSplitter(limit)
    out = []
    pos = 0
    data += b"\n"
    while pos < len(data):
        step = rng.randint(1, 12)
        out.extend(splitter.feed(data[pos:pos + step]))
        assert splitter.buffered <= limit
        pos += step
    assert kinds(out) == expected
    # And the reference: split on CR/LF, drop blank lines, flag long ones.
    assert expected == reference_lines(data, limit)


def test_random_chunks_of_real_traffic():
    lines = [b"?add[%d] %d %d" % (i + 1, i, i * 2) for i in range(200)]
    data = b"\n".join(lines) + b"\n"
    rng = random.Random(99)
    splitter = LineSplitter(64)
    out = []
    pos = 0
    while pos < len(data):
        step = rng.randint(1, 100)
        out.extend(splitter.feed(data[pos:pos + step]))
        pos += step
    assert out == lines


def _release_buffer(splitter):
    """Feed the short lines after which a long-mode buffer is let go."""
    from katcp_sync.linebuffer import _RELEASE_AFTER
    for _ in range(_RELEASE_AFTER):
        assert splitter.feed(b"?s\n") == [b"?s"]
    assert splitter._buf is None


def test_a_partial_line_fed_one_byte_at_a_time_is_held_compactly():
    """A peer may send an unfinished line one byte per TCP segment: the
    splitter must hold it in about one byte of memory per byte (it used to
    keep one object per piece, over 50 bytes per byte), and let it go once
    the line is complete (a long line's buffer: once short lines follow)."""
    splitter = LineSplitter()
    held = 200000
    pieces = [b"?x"] + [b"a"] * (held - 2)
    try:
        import tracemalloc
    except ImportError:  # Python 2: measure what the splitter holds instead
        for piece in pieces:
            assert splitter.feed(piece) == []
        assert splitter.buffered == held
        during = sum(sys.getsizeof(p) for p in splitter._pending) + sys.getsizeof(
            splitter._pending) + sys.getsizeof(splitter._buf)
        assert during < 2 * held, "%d bytes to hold %d" % (during, held)
        lines = splitter.feed(b"\n")
        assert len(lines) == 1 and len(lines[0]) == held and lines[0].startswith(b"?xa")
        assert splitter.buffered == 0 and not splitter._pending
        _release_buffer(splitter)
        return
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for piece in pieces:
            assert splitter.feed(piece) == []
        during = tracemalloc.get_traced_memory()[0] - before
        assert splitter.buffered == held
        assert during < 2 * held, "%d bytes to hold %d" % (during, held)
        lines = splitter.feed(b"\n")
        assert len(lines) == 1 and len(lines[0]) == held and lines[0].startswith(b"?xa")
        del lines
        _release_buffer(splitter)
        after = tracemalloc.get_traced_memory()[0] - before
        assert splitter.buffered == 0 and after < held // 10
    finally:
        tracemalloc.stop()


def test_long_line_pieces_are_kept_as_read_and_joined_once():
    """Reads of at least 4 KiB are held as they came (no copy per read),
    small ones gathered in a bytearray; the line comes out whole, in order."""
    from katcp_sync.linebuffer import split_bytes
    splitter = LineSplitter(1 << 20)
    pieces = [b"?big ", b"a" * 5000, b"b" * 3, b"c" * 50000, b"d", b"e" * 4096]
    for piece in pieces:
        assert splitter.feed(piece) == []
    assert splitter.buffered == sum(map(len, pieces))
    assert any(held is pieces[3] for held in splitter._pending)   # kept, not copied
    assert splitter.feed(b"f\n?next\n") == [b"".join(pieces) + b"f", b"?next"]
    assert splitter.buffered == 0 and splitter._pending == []
    # A read without separator is returned by split_bytes uncopied.
    data = b"x" * 10000
    assert split_bytes(data, b"\n")[0] is data


def test_a_held_bytearray_is_copied():
    """A caller may reuse the buffer it fed: the splitter must not keep it."""
    splitter = LineSplitter()
    buf = bytearray(b"?a " + b"z" * 5000)
    assert splitter.feed(buf) == []
    buf[:] = b"?b"
    assert splitter.feed(b"\n") == [b"?a " + b"z" * 5000]


def test_limit_counts_kept_pieces():
    splitter = LineSplitter(10000)
    assert splitter.feed(b"?x " + b"a" * 6000) == []
    out = splitter.feed(b"b" * 6000)
    assert out == [] and splitter.buffered == 0
    out = splitter.feed(b"c\n?ok\n")
    assert isinstance(out[0], LineTooLongError) and out[1:] == [b"?ok"]


def test_recv_size_grows_with_a_long_partial_line():
    # A long line comes in a few large reads, not one per RECV_SIZE.
    splitter = LineSplitter(16 * MAX_RECV_SIZE)
    assert splitter.recv_size() == RECV_SIZE
    splitter.feed(b"a" * (3 * RECV_SIZE))
    assert splitter.recv_size() == 3 * RECV_SIZE
    splitter.feed(b"a" * (2 * MAX_RECV_SIZE))
    assert splitter.recv_size() == MAX_RECV_SIZE
    assert len(splitter.feed(b"\n")[0]) == 3 * RECV_SIZE + 2 * MAX_RECV_SIZE
    assert splitter.recv_size() == RECV_SIZE


# -- long lines: received into the splitter's own buffer (issue #16, point 5) --

class ChunkedStream(object):
    """A socket's recv/recv_into over ``data``, giving at most ``step(pos,
    asked)`` bytes per call (so lines split across reads wherever ``step``
    says)."""

    def __init__(self, data, step):
        self.data = data
        self.pos = 0
        self.step = step
        self.calls = []
        self.ends = []

    def _take(self, asked):
        n = min(asked, self.step(self.pos, asked), len(self.data) - self.pos)
        piece = self.data[self.pos:self.pos + n]
        self.pos += n
        self.ends.append(self.pos)
        return piece

    def recv(self, asked):
        self.calls.append("recv")
        return self._take(asked)

    def recv_into(self, view):
        self.calls.append("recv_into")
        piece = self._take(len(view))
        view[:len(piece)] = piece
        return len(piece)


def read_all(splitter, stream):
    out = []
    while stream.pos < len(stream.data):
        count, asked, lines = splitter.read_from(stream.recv, stream.recv_into)
        assert 0 < count <= asked
        out += lines
    return out


def long_traffic():
    big = b"?echo " + bytes(bytearray(range(32, 127))) * 3000   # ~285 KB, no CR/LF
    return [big + b"\n", b"?a\n", big + b"x\r\n", b"!b ok\r", big[:RECV_SIZE - 3] + b"\n",
            big[:RECV_SIZE + 1] + b"\n", b" " * (3 * RECV_SIZE) + b"\n", big + b"\n"]


@pytest.mark.parametrize("step", [1 << 30, RECV_SIZE, 4096, 65537, 100003])
def test_long_lines_read_into_the_buffer_match_the_reference(step):
    """read_from gives the same lines however the stream is cut, and
    receives a long line with recv_into (into the splitter's buffer)."""
    data = b"".join(long_traffic())
    stream = ChunkedStream(data, lambda pos, asked: step)
    splitter = LineSplitter(1 << 20)
    assert kinds(read_all(splitter, stream)) == reference_lines(data, 1 << 20)
    assert "recv_into" in stream.calls
    assert splitter.buffered == 0


@pytest.mark.parametrize("cut", [-2, -1, 0, 1, 2])
@pytest.mark.parametrize("where", ["threshold", "eol", "crlf"])
def test_long_line_split_at_each_boundary(where, cut):
    """A long line cut in two reads right around where the splitter switches
    to its buffer, around the end of line, and between the CR and LF."""
    line = b"?x " + b"a" * (2 * RECV_SIZE)
    data = line + b"\r\n?next\n"
    point = {"threshold": RECV_SIZE, "eol": len(line), "crlf": len(line) + 1}[where] + cut
    splitter = LineSplitter(1 << 20)
    head = feed_all(splitter, [data[:RECV_SIZE // 2], data[RECV_SIZE // 2:point]])
    assert kinds(head + splitter.feed(data[point:])) == [line, b"?next"]
    # The same through read_from, a read ending at ``point``.
    stream = ChunkedStream(data, lambda pos, asked: point - pos if pos < point else asked)
    assert read_all(LineSplitter(1 << 20), stream) == [line, b"?next"]
    assert point in stream.ends


def test_random_cuts_of_long_and_short_lines():
    rng = random.Random(16)
    lines = long_traffic() + [b"?s %d\n" % i for i in range(50)]
    rng.shuffle(lines)
    data = b"".join(lines)
    for limit in (1 << 20, 200000, RECV_SIZE + 1):
        stream = ChunkedStream(data, lambda pos, asked: rng.randint(1, asked))
        splitter = LineSplitter(limit)
        assert kinds(read_all(splitter, stream)) == reference_lines(data, limit)


def test_long_line_exactly_at_the_limit():
    limit = 3 * RECV_SIZE
    for size, expected in [(limit, "line"), (limit + 1, "ERR")]:
        line = b"?x " + b"b" * (size - 3)
        data = line + b"\n?ok\n"
        stream = ChunkedStream(data, lambda pos, asked: 5000)
        out = read_all(LineSplitter(limit), stream)
        assert kinds(out) == [line if expected == "line" else "ERR", b"?ok"]
        assert kinds(feed_all(LineSplitter(limit), [data[:70000], data[70000:]])) == kinds(out)


def test_too_long_line_in_long_mode_is_discarded_without_growing():
    """Past the limit the line is thrown away read by read (one error), the
    buffer stays bounded, and the next line is read normally."""
    limit = 2 * RECV_SIZE
    splitter = LineSplitter(limit)
    out = splitter.feed(b"?x " + b"c" * (limit - 10))
    for _ in range(50):
        out += splitter.feed(b"c" * 30000)
        assert splitter.buffered <= limit
        assert splitter._buf is None or len(splitter._buf) <= limit + MAX_RECV_SIZE + 1
    out += splitter.feed(b"c\r\n?ok\n")
    assert kinds(out) == ["ERR", b"?ok"]


def test_the_buffer_is_reused_for_the_next_long_line_and_let_go_later():
    splitter = LineSplitter(1 << 20)
    line = b"?x " + b"d" * (3 * RECV_SIZE)
    stream = ChunkedStream(line + b"\n" + line + b"\n", lambda pos, asked: asked)
    count, _, out = splitter.read_from(stream.recv, stream.recv_into)
    while not out:
        buf = splitter._buf
        count, _, out = splitter.read_from(stream.recv, stream.recv_into)
    assert out == [line]
    assert read_all(splitter, stream) == [line]
    assert splitter._buf is buf      # the second line went into the same buffer
    _release_buffer(splitter)


def test_reset_in_long_mode():
    splitter = LineSplitter(1 << 20)
    splitter.feed(b"?x " + b"e" * (2 * RECV_SIZE))
    assert splitter.buffered > RECV_SIZE
    splitter.reset()
    assert splitter.buffered == 0 and splitter.recv_size() == RECV_SIZE
    assert splitter.feed(b"?a\n") == [b"?a"]


def test_bytearray_fed_in_long_mode_is_copied():
    splitter = LineSplitter(1 << 20)
    splitter.feed(b"?x " + b"f" * (2 * RECV_SIZE))
    buf = bytearray(b"g" * 10)
    splitter.feed(buf)
    buf[:] = b"h" * 10
    assert splitter.feed(b"\n") == [b"?x " + b"f" * (2 * RECV_SIZE) + b"g" * 10]
