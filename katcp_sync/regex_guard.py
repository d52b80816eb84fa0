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
  backtracks polynomially);
* patterns longer than :data:`MAX_PATTERN_LENGTH`.

What remains (literals, classes, anchors, alternatives that are not
repeated, a few ``.*``) matches a sensor name in time close to linear.
"""

from __future__ import absolute_import, division, print_function

import re
from typing import Any, Iterable, Pattern

from . import compat

try:  # Python 3.11+
    from re import _constants as _sre_constants  # type: ignore[attr-defined]
    from re import _parser as _sre_parse  # type: ignore[attr-defined]
except ImportError:  # Python 3.8 - 3.10
    import sre_constants as _sre_constants  # type: ignore[no-redef]
    import sre_parse as _sre_parse  # type: ignore[no-redef]

__all__ = ["compile_client_regex", "MAX_PATTERN_LENGTH", "MAX_UNBOUNDED"]

#: Longest pattern accepted, in characters.
MAX_PATTERN_LENGTH = 256
#: Most unbounded repetitions (``*``, ``+``, ``{n,}``) in one pattern.
MAX_UNBOUNDED = 3


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
    except re.error as exc:
        raise compat.chained(ValueError(str(exc)), None)
    try:
        unbounded = _check(tree, inside_repeat=False)
    except _Unsafe as exc:
        raise compat.chained(ValueError(str(exc)), None)
    if unbounded > MAX_UNBOUNDED:
        raise ValueError("more than %d unbounded repetitions" % MAX_UNBOUNDED)
    return compiled


def _check(items, inside_repeat):
    # type: (Iterable[Any], bool) -> int
    """Walk a parsed pattern; return its count of unbounded repetitions."""
    unbounded = 0
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
            unbounded += high == _MAXREPEAT
            unbounded += _check(body, inside_repeat or variable)
        elif op == _sre_constants.BRANCH:
            if inside_repeat:
                raise _Unsafe("repeated alternatives are not allowed")
            for branch in av[1]:
                unbounded += _check(branch, inside_repeat)
        elif op == _sre_constants.SUBPATTERN:
            unbounded += _check(av[-1], inside_repeat)
        elif op in (_sre_constants.ASSERT, _sre_constants.ASSERT_NOT):
            unbounded += _check(av[1], inside_repeat)
        elif op in _ATOMIC:
            unbounded += _check(av, inside_repeat)
    return unbounded
