"""One client's turn: its queue of received messages and who may handle the next.

A device server handles a client's messages one at a time, in order (the
replies to one client come in request order); :class:`Turn` holds that
state for one client, and :mod:`katcp_sync.server_dispatch` drives it. It
also keeps what the dispatcher's fast path knows about the client (see
:meth:`Dispatcher._read_next <katcp_sync.server_dispatch.Dispatcher>`).
"""

from __future__ import absolute_import, division, print_function

import collections
import threading
from typing import Any, Deque, List, Optional, Tuple

from .compat import Protocol
from .message import Message
from .server_handlers import Handler

__all__ = ["Turn", "ReadControl"]

_Item = Tuple[Message, Handler]


class ReadControl(Protocol):
    """What a :class:`Turn` needs to hold a flooding client back (each method says its thread)."""

    def pause_reading(self):
        # type: () -> None
        """Stop reading the client's socket (reactor thread)."""

    def resume_reading(self):
        # type: () -> None
        """Read the client's socket again (any thread)."""


class Turn(object):
    """One client's queue of messages and the right to handle the next one.

    The thread holding the turn owns one message at a time: the one it
    claimed (:meth:`claim`) or took from the queue (:meth:`next`), with its
    handler. It either runs it at once, on this thread, or hands it to
    another (a worker or the reactor), which starts it (:meth:`start`). A
    handed message is "in hand" until started: a stopping server fails it
    with the queue (:meth:`fail_queued`), and :meth:`start` then says not to
    run it but to pass the turn on. A message run where it was taken counts
    as started when taken, so the common path takes no extra lock.

    Args:
        reading: paused when :attr:`MAX_PENDING` messages wait, resumed at
            half as many, so a client that pipelines without end is held
            back by TCP instead of growing the queue.

    Every method may be called from any thread unless it says otherwise.
    """

    MAX_PENDING = 1000

    __slots__ = ("_reading", "_lock", "_pending", "_busy", "_in_hand", "_paused",
                 "max_pending", "bad_lines", "log_allowance", "log_allowance_time",
                 "hold", "next_wait", "idle_since")

    def __init__(self, reading, max_pending=MAX_PENDING):
        # type: (ReadControl, int) -> None
        self._reading = reading
        self._lock = threading.Lock()
        self._pending = collections.deque()  # type: Deque[_Item]
        self._busy = False
        # The message handed to another thread and not yet started, in a
        # one-item list (empty once started); see start().
        self._in_hand = None  # type: Optional[List[Message]]
        self._paused = False
        self.max_pending = max_pending
        #: How many malformed lines this client sent (see the log limit).
        self.bad_lines = 0
        #: ``#log error`` answers to unexpected replies this client may get
        #: now, and when that was computed (see the rate limit).
        self.log_allowance = 0.0
        self.log_allowance_time = float("-inf")  # a full allowance at first
        # The worker's fast path (Dispatcher._read_next), kept by the
        # thread holding the turn or reading for it:
        #: The request whose reply is sent with the client's reading
        #: borrowed (then a marker, once it is), or None.
        self.hold = None  # type: Any
        #: Moving average of how long the client took to send its next
        #: request after a reply (seconds; pipelining and waits cut short by
        #: other work count as long ones).
        self.next_wait = 0.0
        #: When the turn went idle with nobody reading ahead (0.0: not measuring).
        self.idle_since = 0.0

    def __len__(self):
        # type: () -> int
        return len(self._pending)

    def note_wait(self, seconds):
        # type: (float) -> None
        """Add one observation to :attr:`next_wait` (the turn's holder, or
        the worker reading for a free turn)."""
        self.next_wait += (seconds - self.next_wait) / 4

    @property
    def busy(self):
        # type: () -> bool
        """True while a message of this client is in progress (a hint: no lock)."""
        return self._busy

    @property
    def paused(self):
        # type: () -> bool
        """True while reading is paused because too many messages wait."""
        return self._paused

    def claim(self, msg, handler, here):
        # type: (Message, Handler, bool) -> bool
        """Queue ``msg`` behind the message in progress, or claim the turn.

        ``here`` says whether a handler that is not ``inline`` runs on this
        thread. Reactor thread (it may pause reading).

        Returns:
            True when the caller now holds the turn and must handle ``msg``;
            False when ``msg`` was queued.
        """
        with self._lock:
            if not self._busy:
                self._busy = True
                if not (here or handler.inline):
                    self._in_hand = [msg]
                return True
            self._pending.append((msg, handler))
            pause = not self._paused and len(self._pending) >= self.max_pending
            if pause:
                self._paused = True
        if pause:
            self._reading.pause_reading()
        return False

    def claim_all(self, items, here):
        # type: (List[_Item], bool) -> Optional[_Item]
        """:meth:`claim` for several messages at once, in order, under one
        lock: queue them all, or all but the first if the turn is free.
        Reactor thread.

        Returns:
            The first item when the caller now holds the turn and must
            handle it (the rest are queued behind it); None when all were
            queued.
        """
        with self._lock:
            first = None  # type: Optional[_Item]
            if self._busy:
                self._pending.extend(items)
            else:
                self._busy = True
                first = items[0]
                if not (here or first[1].inline):
                    self._in_hand = [first[0]]
                if len(items) > 1:
                    self._pending.extend(items[1:])
            pause = not self._paused and len(self._pending) >= self.max_pending
            if pause:
                self._paused = True
        if pause:
            self._reading.pause_reading()
        return first

    def next(self, here):
        # type: (bool) -> Optional[_Item]
        """Finish the message in progress: return the next queued one and
        its handler (``here`` as for :meth:`claim`), or None and give the
        turn up if none is queued."""
        with self._lock:
            if not self._pending:
                self._busy = False
                return None
            item = self._pending.popleft()
            if not (here or item[1].inline):
                self._in_hand = [item[0]]
            resume = self._paused and len(self._pending) <= self.max_pending // 2
            if resume:
                self._paused = False
        if resume:
            self._reading.resume_reading()
        return item

    def start(self):
        # type: () -> bool
        """Start the message handed over by the thread holding the turn.

        False if it was failed meanwhile (:meth:`fail_queued`): the caller
        must not run it, only pass the turn on.
        """
        # No lock: list.pop() is atomic, so exactly one of this and
        # fail_queued gets the message out of its one-item list.
        hand = self._in_hand
        if hand:
            try:
                hand.pop()
                return True
            except IndexError:
                pass
        return False

    def fail_queued(self):
        # type: () -> List[Message]
        """Take every message not yet started (queued, or handed and not
        begun), in order, out of the turn; the caller answers them."""
        with self._lock:
            queued = [msg for msg, _ in self._pending]
            hand, self._in_hand = self._in_hand, None
            if hand:
                try:
                    queued.insert(0, hand.pop())
                except IndexError:  # started meanwhile
                    pass
            self._pending.clear()
        return queued

    def drop(self):
        # type: () -> None
        """The connection is gone: forget the queue (a message already
        handed to a worker still runs, as one already running does)."""
        with self._lock:
            self._pending.clear()
