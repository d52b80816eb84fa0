"""Incremental splitting of a byte stream into KATCP lines (sans-IO).

Spec 2.1: a line ends at LF or CR, so CRLF is a line followed by an empty
line. Lines that are empty or hold only spaces and tabs are not messages and
must be ignored, so the splitter drops them here and the layers above never
see them.

The splitter never holds more than ``max_line_length`` bytes of a partial
line: once a line grows past the limit its bytes are thrown away up to the
next end of line, and a single :class:`LineTooLongError` takes its place in
the output. Errors are returned as values, so one bad line does not end the
stream.

A short partial line is held as a list of pieces: reads of at least
``_KEEP_PIECE`` bytes are kept as they came (no copy), smaller ones are
appended to a ``bytearray``. So it costs about one byte of memory per byte
held however it arrived (a peer sending a line one byte per TCP segment
would otherwise cost an object per byte), and the pieces are let go as soon
as the line is complete.

A partial line longer than :data:`RECV_SIZE` moves into the splitter's own
``bytearray`` (*long mode*), which :meth:`LineSplitter.read_from` receives
into directly (``recv_into``): only the newly received bytes are searched
for the end of line, and the line is copied out once, when it is complete.
The buffer is kept for the next long line, so a stream of large messages
receives into memory already mapped (a fresh multi-megabyte ``bytes`` per
read costs more in page faults than its copy; measured: about half the
time of a 4 MiB ``?echo``). It holds at most ``max_line_length`` plus one
read, as a partial line always could, and it is let go after
``_RELEASE_AFTER`` reads in a row that complete only short lines, or on
:meth:`LineSplitter.reset`.
"""

from __future__ import absolute_import, division, print_function

from typing import Callable, List, Optional, Tuple, Union

from . import compat
from .errors import LineTooLongError

__all__ = ["LineSplitter", "Line", "DEFAULT_MAX_LINE_LENGTH", "RECV_SIZE", "MAX_RECV_SIZE",
           "split_bytes"]

#: katcp-python's MAX_MSG_SIZE.
DEFAULT_MAX_LINE_LENGTH = 2 * 1024 * 1024

#: Bytes a reader feeding a LineSplitter asks of one ``recv()``
#: (:meth:`LineSplitter.recv_size` asks more while a long line comes in).
RECV_SIZE = 65536
#: The most :meth:`LineSplitter.recv_size` asks for.
MAX_RECV_SIZE = 1024 * 1024

#: One item of :meth:`LineSplitter.feed`'s output: a line without its
#: end-of-line byte, or the error standing for a line that was too long.
Line = Union[bytes, LineTooLongError]

_BLANK = b" \t"
_BLANKS = (compat.byte_const(b" "), compat.byte_const(b"\t"))
_CR = compat.byte_const(b"\r")

# split_bytes() looks for separators with find() (memchr) while pieces are at
# least this long, then lets bytes.split() do the rest.
_LONG_PIECE = 512
_LONG_READ = _LONG_PIECE * 4
# Held pieces at least this long are kept as they are: their object costs
# under 1% of their size.
_KEEP_PIECE = 4096
# A long-mode buffer is let go after this many reads in a row that complete
# only short lines.
_RELEASE_AFTER = 16


def split_bytes(data, sep, short_pieces=0):
    # type: (bytes, bytes, int) -> List[bytes]
    """Return ``data.split(sep)`` for a one-byte ``sep``, fast on long pieces too.

    ``bytes.split`` with a one-byte separator compares every byte in a loop
    (about 1 GB/s), while ``find`` uses memchr (tens of GB/s). So pieces are
    cut with ``find`` as long as they are long; after more than
    ``short_pieces`` short ones the rest goes to ``split``, which is best
    for many short pieces.
    """
    if len(data) < _LONG_READ:
        return data.split(sep)
    parts = []
    find = data.find
    pos = 0
    while True:
        end = find(sep, pos)
        if end < 0:
            parts.append(data[pos:] if pos else data)   # (slicing copies)
            return parts
        if end - pos < _LONG_PIECE:
            short_pieces -= 1
            if short_pieces < 0:
                if not pos:
                    return data.split(sep)
                parts += data[pos:].split(sep)
                return parts
        parts.append(data[pos:end])
        pos = end + 1


class LineSplitter(object):
    """Feed bytes in, get complete lines out.

    Not thread-safe: one splitter belongs to one connection and is used by the
    thread that reads that connection's socket.

    Args:
        max_line_length: longest accepted line, in bytes, not counting the
            end-of-line byte.
    """

    __slots__ = ("max_line_length", "_pending", "_held", "_discarding", "_long", "_buf",
                 "_idle")

    def __init__(self, max_line_length=DEFAULT_MAX_LINE_LENGTH):
        # type: (int) -> None
        if max_line_length < 1:
            raise ValueError("max_line_length must be positive")
        self.max_line_length = max_line_length
        # The partial line: bytes pieces kept as read, bytearrays gathering
        # small ones; _held counts their bytes. In long mode (_long) it is
        # instead _buf[:_held], and _pending is empty.
        self._pending = []  # type: List[Union[bytes, bytearray]]
        self._held = 0
        self._discarding = False
        self._long = False
        self._buf = None  # type: Optional[bytearray]
        self._idle = 0    # reads completing only short lines since _buf was last used

    @property
    def buffered(self):
        # type: () -> int
        """Number of bytes of an incomplete line currently held."""
        return self._held

    def recv_size(self):
        # type: () -> int
        """Bytes the reader should ask of its next ``recv()``.

        :data:`RECV_SIZE`, or as many as the partial line already held (up
        to :data:`MAX_RECV_SIZE`): a long line is probably not near its end,
        so it comes in a few large reads rather than one per 64 KiB (each
        with its poll, its feed and, on the reactor, its loop iteration).
        """
        held = self._held
        if held <= RECV_SIZE:
            return RECV_SIZE
        return held if held < MAX_RECV_SIZE else MAX_RECV_SIZE

    def read_from(self, recv, recv_into):
        # type: (Callable[[int], bytes], Callable[[memoryview], int]) -> Tuple[int, int, List[Line]]
        """Receive once and split what came: ``(received, asked, lines)``.

        Calls ``recv(n)`` (a socket's ``recv``) or, while a long line comes
        in, ``recv_into(view)`` with a view of this splitter's own buffer
        (see the module docstring), asking :meth:`recv_size` bytes.
        ``received`` is 0 at end of stream; fewer than ``asked`` means the
        socket was drained. Exceptions from ``recv``/``recv_into`` (would
        block, errors) propagate, with nothing consumed.
        """
        held = self._held
        if not self._long:
            size = RECV_SIZE if held <= RECV_SIZE else (
                held if held < MAX_RECV_SIZE else MAX_RECV_SIZE)
            data = recv(size)
            return len(data), size, (self.feed(data) if data else [])
        size = held if held < MAX_RECV_SIZE else MAX_RECV_SIZE
        count = recv_into(self._space(size))
        return count, size, (self._filled(count) if count else [])

    def reset(self):
        # type: () -> None
        """Forget any partial line (e.g. after a reconnect)."""
        self._pending = []
        self._held = 0
        self._discarding = False
        self._long = False
        self._buf = None

    def feed(self, data):
        # type: (bytes) -> List[Line]
        """Add ``data`` and return the lines it completed, in order.

        Each item is a line without its end-of-line byte, or a
        :class:`LineTooLongError` standing for a line that was too long.
        Empty and whitespace-only lines are left out. ``data`` may be
        ``bytes`` or a ``bytearray`` (not kept: the caller may reuse it).
        """
        if self._long:
            size = len(data)
            self._space(size)[:] = data
            return self._filled(size)
        if _CR in data:  # (an int needle on 3.x: memchr)
            data = data.replace(b"\r", b"\n")
        # (split_bytes only pays off on long reads; most are short)
        parts = data.split(b"\n") if len(data) < _LONG_READ else split_bytes(data, b"\n")
        if len(parts) == 1:
            self._hold(data)
            return []
        tail = parts.pop()
        pending = self._pending
        if pending:
            pending.append(parts[0])
            parts[0] = compat.join_bytes(pending)
            self._pending = []
            self._held = 0
        out = []  # type: List[Line]
        limit = self.max_line_length
        if self._discarding:
            # The first part is the end of a line already being thrown away.
            self._discarding = False
            parts[0] = b""
            out.append(LineTooLongError(
                "line longer than %d bytes discarded" % limit))
        for line in parts:
            if len(line) > limit:
                out.append(LineTooLongError(
                    "line longer than %d bytes discarded" % limit, line[:64]))
            elif line and (line[0] not in _BLANKS or line.strip(_BLANK)):
                # (strip() copies the line: only for lines starting blank)
                out.append(line)
        if tail:
            self._hold(tail)
        if self._buf is not None and not self._long:
            self._idle += 1
            if self._idle >= _RELEASE_AFTER:
                self._buf = None
        return out

    def _hold(self, chunk):
        # type: (bytes) -> None
        if self._discarding:
            return
        held = self._held + len(chunk)
        if held > self.max_line_length:
            self._pending = []
            self._held = 0
            self._discarding = True
            return
        if held > RECV_SIZE:
            self._go_long(chunk)
            return
        self._held = held
        pending = self._pending
        if len(chunk) >= _KEEP_PIECE and type(chunk) is bytes:
            pending.append(chunk)
        elif pending and type(pending[-1]) is bytearray:
            pending[-1] += chunk   # type: ignore[operator]
        else:
            pending.append(bytearray(chunk))

    # -- long mode ---------------------------------------------------------

    def _go_long(self, chunk):
        # type: (bytes) -> None
        """Move the partial line and ``chunk`` into the buffer (long mode)."""
        pieces = self._pending
        pieces.append(chunk)
        self._pending = []
        self._held = 0
        self._long = True
        for piece in pieces:
            self._space(len(piece))[:] = piece
            self._held += len(piece)

    def _space(self, size):
        # type: (int) -> memoryview
        """A view of the ``size`` buffer bytes after the partial line (long mode)."""
        held = self._held
        need = held + size
        buf = self._buf
        if buf is None or len(buf) < need:
            # Doubling: a line that grows is copied about once in all.
            grown = max(need, 2 * len(buf) if buf is not None else 4 * RECV_SIZE)
            new = bytearray(min(grown, max(need, self.max_line_length + MAX_RECV_SIZE + 1)))
            if held:
                new[:held] = memoryview(buf)[:held]   # type: ignore[arg-type]
            self._buf = buf = new
        self._idle = 0
        return memoryview(buf)[held:need]

    def _filled(self, count):
        # type: (int) -> List[Line]
        """``count`` bytes were written after the partial line (long mode)."""
        buf = self._buf
        assert buf is not None
        start = self._held
        end = start + count
        # Only the new bytes can hold the end of line.
        eol = buf.find(b"\n", start, end)
        cr = buf.find(b"\r", start, end if eol < 0 else eol)
        if cr >= 0:
            eol = cr
        limit = self.max_line_length
        if eol < 0:
            if end > limit:
                self._long = False
                self._held = 0
                self._discarding = True
            else:
                self._held = end
            return []
        self._long = False
        self._held = 0
        view = memoryview(buf)
        out = []  # type: List[Line]
        if eol > limit:
            out.append(LineTooLongError("line longer than %d bytes discarded" % limit,
                                        view[:64].tobytes()))
        else:
            line = view[:eol].tobytes()
            if line[0] not in _BLANKS or line.strip(_BLANK):
                out.append(line)
        if eol + 1 < end:
            out += self.feed(view[eol + 1:end].tobytes())
        return out
