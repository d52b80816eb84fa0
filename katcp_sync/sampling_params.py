"""Parse and format the parameters of the sampling strategies (spec 7.1, Table 9).

The parsers take parameters as ``bytes`` off the wire (or ``str``/numbers
from Python, see :func:`as_bytes`) and raise
:class:`~katcp_sync.errors.KatcpValueError` with a message that says what is
wrong; which strategy takes which parameters, and for which sensor types, is
the table in :mod:`katcp_sync.strategies`. Periods are in seconds from KATCP
v5 and milliseconds before. Sans-IO and stateless; any thread.
"""

from __future__ import absolute_import, division, print_function

import math
from typing import Optional, Sequence, Tuple, Union

import six

from . import compat
from .argtypes import FLOAT_RE, INT_RE
from .errors import KatcpValueError
from .protocol import SEC_TS_KATCP_MAJOR
from .strategies import STRATEGY_BY_CODE

__all__ = ["AGE_OF_UNIVERSE", "Param", "Knobs", "EVERY_UPDATE", "ON_CHANGE", "NEVER",
           "NONE_KNOBS", "EVERY_UPDATE_KNOBS", "ON_CHANGE_KNOBS", "as_bytes", "as_text",
           "parse_seconds", "parse_positive", "parse_difference", "parse_rates", "check_count",
           "format_seconds", "TIMER_PARAMS"]

#: A longest period at least this long (seconds, about the age of the
#: universe) means "no periodic report" for event-rate strategies.
AGE_OF_UNIVERSE = 4.3e17

#: A strategy parameter as it may be given: raw bytes off the wire, or a
#: ``str``/number when a strategy is built from Python.
Param = Union[bytes, str, int, float]

# Triggers: which sensor updates may cause a report.
EVERY_UPDATE = "every update"
ON_CHANGE = "on change"
NEVER = "never"


class Knobs(object):
    """What a strategy's parameters make of the sampler (the knobs of
    :mod:`katcp_sync.sampling`'s module docstring). Immutable; shared by the
    strategies without parameters."""

    __slots__ = ("trigger", "difference", "shortest", "longest", "report_on_start", "untimed")

    def __init__(self, trigger, difference=None, shortest=0.0,
                 longest=None, report_on_start=True):
        # type: (str, Optional[float], float, Optional[float], bool) -> None
        self.trigger = trigger
        self.difference = difference
        self.shortest = shortest
        self.longest = longest
        self.report_on_start = report_on_start
        # Without a shortest or longest period a report needs no clock and
        # never touches the timer: the sampler takes a shortcut.
        self.untimed = not shortest and longest is None


#: The knobs of ``none``, ``auto`` (every update) and ``event``.
NONE_KNOBS = Knobs(NEVER, report_on_start=False)
EVERY_UPDATE_KNOBS = Knobs(EVERY_UPDATE)
ON_CHANGE_KNOBS = Knobs(ON_CHANGE)


def as_bytes(param):
    # type: (Param) -> bytes
    """A parameter as wire bytes (text as UTF-8, numbers as ``repr``).

    Raises:
        TypeError: not bytes, text or a number.
    """
    if isinstance(param, bytes):
        return param
    if isinstance(param, six.text_type):
        return param.encode("utf-8")
    if isinstance(param, six.integer_types) and not isinstance(param, bool):
        return b"%d" % param   # (repr of a Python 2 long ends with L)
    if isinstance(param, _NUMBERS):
        return repr(param).encode("ascii")
    raise TypeError("strategy parameters must be bytes, str or numbers, not %s"
                    % type(param).__name__)


_NUMBERS = six.integer_types + (float,)


#: Wire bytes as the native str for messages (:func:`katcp_sync.compat.wire_text`).
as_text = compat.wire_text


def _invalid(what, raw, why):
    # type: (str, bytes, str) -> KatcpValueError
    return KatcpValueError("Invalid %s %r: %s" % (what, as_text(raw), why))


def _parse_number(what, raw, integer=False):
    # type: (str, bytes, bool) -> float
    """Parse a KATCP integer or float parameter; refuse anything else."""
    if not (INT_RE if integer else FLOAT_RE).match(raw):
        raise _invalid(what, raw, "expected an integer" if integer else "expected a number")
    value = int(raw) if integer else float(raw)
    if math.isinf(value) or math.isnan(value):   # (math.isfinite is 3.2+)
        raise _invalid(what, raw, "must be finite")
    return value


def parse_seconds(what, raw, major):
    # type: (str, bytes, int) -> float
    """Parse a time interval: seconds in KATCP v5, milliseconds before."""
    value = _parse_number(what, raw)
    return value / 1000.0 if major < SEC_TS_KATCP_MAJOR else value


def parse_positive(what, raw, value):
    # type: (str, bytes, float) -> float
    """``value`` (parsed from ``raw``) if it is positive.

    Raises:
        KatcpValueError: it is not.
    """
    if value <= 0:
        raise _invalid(what, raw, "must be positive")
    return value


def parse_difference(code, stype, raw):
    # type: (int, Optional[str], bytes) -> float
    """Parse a differential threshold, formatted as the sensor's type.

    Spec Table 9: differential strategies "may only be implemented for float
    and integer sensors" (katcp-python also took timestamp sensors).
    """
    row = STRATEGY_BY_CODE[code]
    if row.stypes is not None and stype not in row.stypes:
        raise KatcpValueError("The %r strategy is only valid for integer/float sensors, "
                              "not %r sensors (KATCP spec Table 9)" % (row.name, stype))
    value = _parse_number("difference", raw, integer=(stype == "integer"))
    return parse_positive("difference", raw, value)


def parse_rates(shortest_raw, longest_raw,
                major):
    # type: (bytes, bytes, int) -> Tuple[float, Optional[float]]
    """Parse the shortest and longest periods of the rate strategies.

    Returns:
        ``(shortest, longest)`` in seconds; ``longest`` is ``None`` (no
        periodic report) from :data:`AGE_OF_UNIVERSE` on.
    """
    shortest = parse_seconds("shortest period", shortest_raw, major)
    longest = parse_seconds("longest period", longest_raw, major)
    if shortest < 0:
        raise _invalid("shortest period", shortest_raw, "must not be negative")
    parse_positive("longest period", longest_raw, longest)
    if shortest > longest:
        raise KatcpValueError("Invalid periods: shortest period (%s) must not be greater than"
                              " longest period (%s)"
                              % (as_text(shortest_raw), as_text(longest_raw)))
    return shortest, (None if longest >= AGE_OF_UNIVERSE else longest)


def check_count(code, raw):
    # type: (int, Sequence[bytes]) -> None
    """Check that a strategy got as many parameters as it takes.

    Raises:
        KatcpValueError: it did not (the message lists them).
    """
    row = STRATEGY_BY_CODE[code]
    if len(raw) != len(row.params):
        if not row.params:
            expected = "no parameters"
        else:
            expected = "%d parameter%s (%s)" % (
                len(row.params), "" if len(row.params) == 1 else "s", " ".join(row.params))
        raise KatcpValueError("The %r strategy takes %s, %d given"
                              % (row.name, expected, len(raw)))


#: The parameters that set the timer period (the ``longest`` knob), to which
#: a server's ``min_period`` applies. Not ``shortest-period``: it only holds
#: back reports of changes, so it cannot make a strategy report more often
#: than ``event``.
TIMER_PARAMS = ("period", "longest-period")


def format_seconds(seconds, major):
    # type: (float, int) -> bytes
    """Format a time interval as a strategy parameter (v4: milliseconds)."""
    text = repr(float(seconds * 1000.0 if major < SEC_TS_KATCP_MAJOR else seconds))
    return (text[:-2] if text.endswith(".0") else text).encode("ascii")
