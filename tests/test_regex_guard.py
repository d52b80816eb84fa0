"""The guard on client-supplied sensor regexes (``?sensor-list /regex/``).

A pattern with catastrophic backtracking would freeze the whole server (``re``
holds the GIL), so the guard refuses those shapes before compiling.
"""

from __future__ import absolute_import, division, print_function


import pytest

from katcp_sync import compat
from katcp_sync.regex_guard import MAX_PATTERN_LENGTH, compile_client_regex, search_names


@pytest.mark.parametrize("pattern", [
    r"fruit", r"^add\.", r"result$", r"(add|eval)\.result", r"[a-z]+\.result",
    r"(a|b)+", r"time.*", r".*\.result.*", r"x{3}", r"(ab){2}", r"(?=add)a",
    r"(\.[a-z]+)?$", r"(?:cpu|gpu)\d", r"(ab?){2}", r"^rx\.(h|v)\.(sync|lock)?\.\d{1,3}$",
    r".{0,15}.{0,15}.{0,15}x", "a?" * 12 + "a" * 12,
])
def test_ordinary_sensor_filters_compile(pattern):
    compile_client_regex(pattern)


@pytest.mark.parametrize("pattern, reason", [
    (r"(a+)+b", "nested repetition"),
    (r"(a*)*b", "nested repetition"),
    (r"(a{1,9})+", "nested repetition"),
    (r"((ab)+c)*", "nested repetition"),
    (r"(a|aa)*b", "repeated alternatives"),
    (r"(x+x+)+y", "nested repetition"),
    (r"(a)\1", "back-references"),
    (r"(a)?(?(1)b|c)", "back-references"),
    (r".*.*.*.*x", "unbounded repetitions"),
    # Exponential without nesting: 2**40 ways to place the empty matches.
    ("a?" * 40 + "a" * 40, "too many optional parts"),
    (r"(a?){40}a{40}", "too many optional parts"),
    (r"(.?){30}.{30}!", "too many optional parts"),
    (r"(a{0,2}){8}b", "too many optional parts"),
    # A long range backtracks like an unbounded repetition, and so does each copy.
    (r".{0,30}.{0,30}.{0,30}.{0,30}!", "unbounded repetitions"),
    (r"(?:.*a){4}!", "unbounded repetitions"),
    (r"(", "missing|unbalanced"),  # (Python 2 says "unbalanced parenthesis")
    # re raises OverflowError here, not re.error: still a refusal.
    (r"a{99999999999}", "too large"),
    (r"a{1,4294967296}", "too large"),
    ("a" * (MAX_PATTERN_LENGTH + 1), "longer than"),
])
def test_dangerous_or_broken_patterns_are_refused(pattern, reason):
    with pytest.raises(ValueError, match=reason):
        compile_client_regex(pattern)


def test_compiled_pattern_matches_like_re():
    regex = compile_client_regex(r"^(add|eval)\.")
    assert [n for n in ("add.result", "eval.result", "time.result") if regex.search(n)] == [
        "add.result", "eval.result"]


NAMES = ["m%03d.receptor.ap.indexer.position.ridx.%05d.long" % (i % 64, i) for i in range(3000)]


def test_search_names_finds_what_search_finds():
    regex = compile_client_regex(r"^m00[0-3]\..*ridx\.0000")
    assert search_names(regex, NAMES) == [n for n in NAMES if regex.search(n)] == [
        NAMES[i] for i in range(4)]


def test_search_names_stops_a_slow_search():
    """Each name costs a few ms (the guard allows this pattern); 3000 of them
    would take seconds. The search stops soon after its time limit."""
    regex = compile_client_regex(".?" * 12 + "." * 12 + "!")
    start = compat.monotonic()
    with pytest.raises(ValueError, match=r"too slow: more than 0.05 s over the first \d+ of 3000"):
        search_names(regex, NAMES, 0.05)
    assert compat.monotonic() - start < 1.0
