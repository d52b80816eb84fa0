"""Compile regular expressions that come off the wire, refusing dangerous ones.

``?sensor-list /regex/`` and ``?sensor-value /regex/`` let a client send a
pattern that the server runs against every sensor name. Python's ``re``
backtracks, never releases the GIL and cannot be interrupted, so a pattern
such as ``(a+)+b`` can freeze the whole process -- every client, every
strategy timer -- for seconds or hours. The guard refuses the shapes that
cause super-linear backtracking before compiling:

* a repetition of something that itself contains a variable repetition or
  alternatives (``(a+)+``, ``(a|aa)*``, ``(a{1,9})+``);
* back-references and conditional groups;
* more than :data:`MAX_UNBOUNDED` unbounded repetitions (``.*.*.*.*x``
  backtracks polynomially), counting long ranges (``{0,30}``, 16 or more
  counts) as unbounded;
* more than :data:`MAX_CHOICES` ways to match at one place: each
  repetition multiplies them by its count of counts (16 for an unbounded
  one, 2 for ``?``), alternatives add theirs, a fixed count raises its
  part's to that power. ``(a?){40}``, or ``a?a?...a?aa...a``, has 2**40,
  which ``re`` tries one by one on a name that almost matches;
* patterns longer than :data:`MAX_PATTERN_LENGTH`, and patterns ``re``
  cannot compile (whatever it raises: ``re.error``, ``OverflowError`` for
  ``a{99999999999}``, ``AssertionError`` for too many groups on 2.7).

What remains (literals, classes, anchors, alternatives that are not
repeated, a few ``.*``) matches a sensor name in time close to linear --
but still up to a few milliseconds on a long name, and a device may have
tens of thousands: :func:`search_names` stops a search that has taken more
than its time limit, between two names.
"""

from __future__ import absolute_import, division, print_function

import re
from typing import Any, Iterable, List, Pattern, Tuple

from . import compat
from .formatting import format_seconds

try:  # Python 3.11+
    from re import _constants as _sre_constants  # type: ignore[attr-defined]
    from re import _parser as _sre_parse  # type: ignore[attr-defined]
except ImportError:  # Python 3.8 - 3.10
    import sre_constants as _sre_constants  # type: ignore[no-redef]
    import sre_parse as _sre_parse  # type: ignore[no-redef]

__all__ = ["compile_client_regex", "search_names", "MAX_PATTERN_LENGTH", "MAX_UNBOUNDED",
           "MAX_CHOICES", "MAX_SEARCH_SECONDS"]

#: Longest pattern accepted, in characters.
MAX_PATTERN_LENGTH = 256
#: Most unbounded repetitions (``*``, ``+``, ``{n,}``, or 16 counts or more
#: such as ``{0,30}``) in one pattern.
MAX_UNBOUNDED = 3
#: The ways a repetition of 16 or more counts (``*``, ``{0,30}``) is taken to
#: have: it counts as unbounded. sre walks those quickly, other choices slowly.
_WIDE = 16
#: Most ways to match at one place: as many as MAX_UNBOUNDED unbounded
#: repetitions have, or 12 optional parts (a few ms on a 60-letter name).
MAX_CHOICES = _WIDE ** MAX_UNBOUNDED

#: Most seconds of processor time a client's pattern may run over a server's
#: sensor names: it holds the GIL (and so every thread: the reactor, every
#: client) all along. (Ordinary patterns take ~0.02 s over 100,000 names.)
MAX_SEARCH_SECONDS = 0.1
#: Names searched between two looks at the clock.
_NAMES_PER_CHECK = 32


def _ops(*names):
    # type: (*str) -> set
    """The opcodes among ``names`` that this Python's ``re`` has."""
    return {getattr(_sre_constants, name) for name in names if hasattr(_sre_constants, name)}


_REPEATS = _ops("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT")
_BACKREFS = _ops("GROUPREF", "GROUPREF_EXISTS", "GROUPREF_IGNORE", "GROUPREF_LOC_IGNORE",
                 "GROUPREF_UNI_IGNORE")
_ATOMIC = _ops("ATOMIC_GROUP")
_MAXREPEAT = _sre_constants.MAXREPEAT


class _Unsafe(Exception):
    pass


def compile_client_regex(pattern):
    # type: (str) -> Pattern
    """Compile ``pattern`` if it is safe to run against untrusted input.

    Args:
        pattern: the regular expression, without the surrounding slashes.

    Returns:
        The compiled pattern.

    Raises:
        ValueError: the pattern does not compile, or has one of the shapes
            listed in the module docstring; the message says which.
    """
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise ValueError("pattern longer than %d characters" % MAX_PATTERN_LENGTH)
    try:
        compiled = re.compile(pattern)
        tree = _sre_parse.parse(pattern)
    except Exception as exc:  # re raises several types: any of them means "invalid"
        raise compat.chained(ValueError(str(exc) or type(exc).__name__), None)
    try:
        unbounded, choices = _check(tree, inside_repeat=False)
    except _Unsafe as exc:
        raise compat.chained(ValueError(str(exc)), None)
    if unbounded > MAX_UNBOUNDED:
        raise ValueError("more than %d unbounded repetitions" % MAX_UNBOUNDED)
    if choices > MAX_CHOICES:
        raise ValueError("too many optional parts or alternatives (more than %d ways to match)"
                         % MAX_CHOICES)
    return compiled


def search_names(regex, names, time_limit=MAX_SEARCH_SECONDS):
    # type: (Pattern, List[str], float) -> List[str]
    """The names ``regex`` finds (``regex.search``), in order; any thread.

    Raises:
        ValueError: the search took more than ``time_limit`` seconds of
            this thread's processor time (it stops then, a few names at
            most past it); the message says how far it got.
    """
    search = regex.search
    found = []  # type: List[str]
    # (the thread's processor time: a busy host's other threads, holding the
    # GIL meanwhile, do not use up the search's time)
    deadline = compat.thread_time() + time_limit
    for start in range(0, len(names), _NAMES_PER_CHECK):
        found.extend(name for name in names[start:start + _NAMES_PER_CHECK] if search(name))
        if compat.thread_time() > deadline:
            raise ValueError("too slow: more than %s s over the first %d of %d names"
                             % (format_seconds(time_limit),
                                min(start + _NAMES_PER_CHECK, len(names)), len(names)))
    return found


def _check(items, inside_repeat):
    # type: (Iterable[Any], bool) -> Tuple[int, int]
    """Walk a parsed pattern; return its count of unbounded repetitions and
    of the ways it can match at one place (at most MAX_CHOICES + 1)."""
    unbounded, choices = 0, 1
    for op, av in items:
        if op in _BACKREFS:
            raise _Unsafe("back-references are not allowed")
        if op in _REPEATS:
            low, high, body = av
            # An optional part (``?``, ``{0,1}``) cannot be tried two ways
            # per position, so only real repetition counts as nesting.
            variable = high != low and high > 1
            if inside_repeat and variable:
                raise _Unsafe("nested repetition is not allowed")
            inner, body_choices = _check(body, inside_repeat or variable)
            if high == low:  # a fixed count: every copy chooses again
                unbounded += inner * low
                ways = _power(body_choices, low)
            else:
                unbounded += inner
                counts = _WIDE if high == _MAXREPEAT else min(high - low + 1, _WIDE)
                unbounded += counts == _WIDE
                ways = counts * body_choices
        elif op == _sre_constants.BRANCH:
            if inside_repeat:
                raise _Unsafe("repeated alternatives are not allowed")
            ways = 0
            for branch in av[1]:
                inner, branch_choices = _check(branch, inside_repeat)
                unbounded += inner
                ways += branch_choices
        elif op == _sre_constants.SUBPATTERN:
            inner, ways = _check(av[-1], inside_repeat)
            unbounded += inner
        elif op in (_sre_constants.ASSERT, _sre_constants.ASSERT_NOT):
            inner, ways = _check(av[1], inside_repeat)
            unbounded += inner
        elif op in _ATOMIC:
            inner, ways = _check(av, inside_repeat)
            unbounded += inner
        else:
            continue
        choices = min(choices * ways, MAX_CHOICES + 1)
    return unbounded, choices


def _power(base, exponent):
    # type: (int, int) -> int
    """``base ** exponent``, at most MAX_CHOICES + 1 (the exponent may be 65535)."""
    result = 1
    for _ in range(exponent if base > 1 else 0):
        result *= base
        if result > MAX_CHOICES:
            return MAX_CHOICES + 1
    return result
