"""Deadlines for waits that loop: how much of a timeout is left.

A wait that may wake up more than once (a condition that is notified for
other reasons, a join over several threads) computes one deadline from its
timeout and asks it for the remaining time at each turn, so that the total
never exceeds the timeout. Time is ``compat.monotonic``: a change of the wall
clock neither shortens nor lengthens a wait.
"""

from __future__ import absolute_import, division, print_function

import time
from typing import Optional

from . import compat

__all__ = ["Deadline"]


class Deadline(object):
    """The moment by which a wait of ``timeout`` seconds, started now, must end.

    Args:
        timeout: seconds from now; None, or more than
            :data:`compat.LONGEST_WAIT <katcp_sync.compat.waits.LONGEST_WAIT>`
            (``inf``), for a wait without a limit.

    Any thread may use it (it is read-only after construction).
    """

    __slots__ = ("at",)

    def __init__(self, timeout):
        # type: (Optional[float]) -> None
        #: The monotonic time of the deadline, or None for none.
        timeout = compat.wait_timeout(timeout)
        self.at = None if timeout is None else compat.monotonic() + timeout

    def remaining(self):
        # type: () -> Optional[float]
        """Seconds left (0.0 once passed), or None when there is no deadline."""
        if self.at is None:
            return None
        return max(0.0, self.at - compat.monotonic())

    def expired(self):
        # type: () -> bool
        """True once the deadline has passed (never for no deadline)."""
        return self.at is not None and compat.monotonic() >= self.at
