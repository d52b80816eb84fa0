"""Retry delays that grow exponentially, with random jitter.

:class:`ExponentialRandomBackoff` is katcp-python's
``katcp.inspecting_client.ExponentialRandomBackoff`` (same parameters, same
delays), a plain object with no clock or thread: its owner asks for
:attr:`~ExponentialRandomBackoff.delay` and schedules the retry itself. The
high-level client's inspection retries use it
(:class:`~katcp_sync.inspecting_client.InspectingClient`).
"""

from __future__ import absolute_import, division, print_function

import random

__all__ = ["ExponentialRandomBackoff"]


class ExponentialRandomBackoff(object):
    """The delay before the next retry of something that keeps failing.

    A *base* delay starts at ``delay_initial``, is multiplied by ``exp_fac``
    at each :meth:`failed` (never beyond ``delay_max``) and goes back to
    ``delay_initial`` at :meth:`success`. :attr:`delay` is the base delay
    scaled by a random factor between ``1 - randomicity`` and 1, drawn anew
    by each :meth:`failed` and :meth:`success`, so that many clients that
    failed together do not all retry together.

    Args:
        delay_initial: the first base delay, in seconds (>= 0).
        delay_max: the largest base delay, in seconds (>= ``delay_initial``).
        exp_fac: the growth factor per failure (> 1).
        randomicity: the random share of the delay, 0 (none: the delay is
            the base delay) to 1 (anything from 0 to the base delay).

    Raises:
        ValueError: a parameter is out of range (also from :meth:`failed`
            and :meth:`success` if the attributes were changed so).

    Attributes:
        delay_initial, delay_max, exp_fac, randomicity: as given; may be
        changed, taking effect at the next :meth:`failed` or :meth:`success`.

    No lock of its own: one thread at a time (the inspecting client calls it
    under its lock).
    """

    def __init__(self, delay_initial=1.0, delay_max=90.0, exp_fac=3.0, randomicity=0.95):
        # type: (float, float, float, float) -> None
        self.delay_initial = delay_initial
        self.delay_max = delay_max
        self.exp_fac = exp_fac
        self.randomicity = randomicity
        self._base_delay = delay_initial
        self._delay = 0.0
        self._draw()

    def _check(self):
        # type: () -> None
        if not 0 <= self.delay_initial <= self.delay_max:
            raise ValueError("need 0 <= delay_initial <= delay_max, not %r and %r"
                             % (self.delay_initial, self.delay_max))
        if not 0 <= self.randomicity <= 1:
            raise ValueError("randomicity must be between 0 and 1, not %r" % (self.randomicity,))
        if not self.exp_fac > 1:
            raise ValueError("exp_fac must be above 1, not %r" % (self.exp_fac,))

    def _draw(self):
        # type: () -> None
        self._check()
        factor = 1 - self.randomicity + self.randomicity * random.random()
        self._delay = min(factor * self._base_delay, self.delay_max)

    @property
    def delay(self):
        # type: () -> float
        """The delay before the next retry, in seconds."""
        return self._delay

    def failed(self):
        # type: () -> None
        """Record a failure: the base delay grows by ``exp_fac`` (up to ``delay_max``)."""
        self._check()
        self._base_delay = min(self._base_delay * self.exp_fac, self.delay_max)
        self._draw()

    def success(self):
        # type: () -> None
        """Record a success: the base delay is ``delay_initial`` again."""
        self._base_delay = self.delay_initial
        self._draw()
