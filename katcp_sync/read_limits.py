"""Time limits on a connection's incoming data (reactor thread).

A :class:`~katcp_sync.connection.Connection` made with
``partial_line_timeout`` or ``idle_timeout`` owns a :class:`ReadLimits`;
other connections have none and pay nothing for it. The connection tells
it when bytes came in (:meth:`ReadLimits.note_data`); one reactor timer per
connection, armed only while a limit can still expire, checks the limits
and reports the first one that passed, with a reason for the log.
"""

from __future__ import absolute_import, division, print_function

from typing import Callable, List, Optional

from .compat import monotonic as _monotonic
from .formatting import format_seconds
from .linebuffer import LineSplitter
from .reactor import Reactor, TimerHandle

__all__ = ["ReadLimits"]


class ReadLimits(object):
    """The partial-line and idle limits of one connection.

    Args:
        reactor: the connection's reactor (for the timer).
        splitter: the connection's line splitter (how many bytes of an
            unfinished line it holds).
        partial_line_timeout: seconds an unfinished line may wait for its
            end of line, or None.
        idle_timeout: seconds without any incoming byte, or None.
        closing: returns True once the connection is closing (checks stop).
        expired: called as ``expired(reason)`` when a limit passed; the
            connection logs the reason and closes.

    Every method runs on the reactor thread.
    """

    def __init__(self, reactor, splitter,
                 partial_line_timeout, idle_timeout,
                 closing, expired):
        # type: (Reactor, LineSplitter, Optional[float], Optional[float], Callable[[], bool], Callable[[str], None]) -> None
        self._reactor = reactor
        self._splitter = splitter
        self._partial_line_timeout = partial_line_timeout
        self._idle_timeout = idle_timeout
        self._closing = closing
        self._expired = expired
        self._last_data = _monotonic()           # when a byte last came in
        self._partial_since = None  # type: Optional[float]  # when the partial line began
        self._timer = None  # type: Optional[TimerHandle]

    def start(self):
        # type: () -> None
        """The connection starts reading: the idle time counts from now."""
        if self._idle_timeout is not None:
            self._last_data = _monotonic()
            self._schedule(self._last_data + self._idle_timeout)

    def note_data(self, line_ended):
        # type: (bool) -> None
        """Bytes came in (and ``line_ended``: a line was completed): track
        idleness and the age of the partial line now held."""
        now = self._last_data = _monotonic()
        if not self._splitter.buffered:
            self._partial_since = None
        elif self._partial_since is None:
            self._partial_since = now
            if self._partial_line_timeout is not None:
                self._schedule(now + self._partial_line_timeout)
        elif line_ended:
            self._partial_since = now   # the held bytes began a new line

    def cancel(self):
        # type: () -> None
        """The connection is finished: no more checks."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _schedule(self, when):
        # type: (float) -> None
        timer = self._timer
        if timer is not None:
            if timer.when <= when:
                return     # an earlier check comes first and reschedules
            timer.cancel()
        self._timer = self._reactor.call_at(when, self._check)

    def _check(self):
        # type: () -> None
        """Timer: report a limit that passed, else check again when the
        next one could."""
        self._timer = None
        if self._closing():
            return
        now = _monotonic()
        next_check = []  # type: List[float]
        reason = None
        timeout = self._partial_line_timeout
        if timeout is not None and self._partial_since is not None:
            if now - self._partial_since >= timeout:
                reason = "no end of line within %s s (%d bytes of an unfinished line)" % (
                    format_seconds(timeout), self._splitter.buffered)
            else:
                next_check.append(self._partial_since + timeout)
        timeout = self._idle_timeout
        if timeout is not None and reason is None:
            if now - self._last_data >= timeout:
                reason = "idle for %s s" % format_seconds(timeout)
            else:
                next_check.append(self._last_data + timeout)
        if reason is not None:
            self._expired(reason)
        elif next_check:
            self._schedule(min(next_check))
