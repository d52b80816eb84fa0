"""katcp_sync.compat: the one module that depends on the Python version.

Every test here runs on Python 2.7, 3.6 and 3.x, and checks that the helper
gives the Python 3.8+ behaviour (or katcp-python's) on each of them.
"""

from __future__ import absolute_import, division, print_function

import concurrent.futures
import threading

import pytest
import six

from katcp_sync import compat


# ------------------------------------------------------------------ futures that resolve once
def test_set_future_result_resolves_a_pending_future():
    future = concurrent.futures.Future()
    calls = []
    future.add_done_callback(calls.append)
    compat.set_future_result(future, 42)
    assert future.result(0) == 42
    assert calls == [future]


def test_set_future_exception_resolves_a_pending_future():
    future = concurrent.futures.Future()
    calls = []
    future.add_done_callback(calls.append)
    error = ValueError("bad")
    compat.set_future_exception(future, error)
    assert future.exception(0) is error
    with pytest.raises(ValueError):
        future.result(0)
    assert calls == [future]


@pytest.mark.parametrize("second", ["result", "exception"])
@pytest.mark.parametrize("first", ["result", "exception", "cancel"])
def test_a_done_future_refuses_a_second_outcome(first, second):
    """3.8's semantics on every Python: before 3.8 (and in the Python 2
    backport) set_result on a done future overwrote it and ran the
    callbacks again."""
    future = concurrent.futures.Future()
    calls = []
    future.add_done_callback(calls.append)
    error = KeyError("first")
    if first == "result":
        compat.set_future_result(future, 1)
    elif first == "exception":
        compat.set_future_exception(future, error)
    else:
        assert future.cancel()
    with pytest.raises(compat.InvalidStateError):
        if second == "result":
            compat.set_future_result(future, 2)
        else:
            compat.set_future_exception(future, RuntimeError("second"))
    assert calls == [future]     # callbacks ran once
    if first == "result":
        assert future.result(0) == 1
    elif first == "exception":
        assert future.exception(0) is error
    else:
        assert future.cancelled()


def test_invalid_state_error_is_a_futures_error():
    assert issubclass(compat.InvalidStateError, concurrent.futures._base.Error)


def test_racing_threads_resolve_a_future_once():
    future = concurrent.futures.Future()
    calls = []
    future.add_done_callback(calls.append)
    winners = []
    start = threading.Event()

    def racer(value):
        start.wait(5)
        try:
            compat.set_future_result(future, value)
        except compat.InvalidStateError:
            return
        winners.append(value)

    threads = [threading.Thread(target=racer, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    start.set()
    for thread in threads:
        thread.join(5)
    assert len(winners) == 1
    assert future.result(0) == winners[0]
    assert calls == [future]


def test_wait_future_wakes_on_set_future_result():
    future = concurrent.futures.Future()
    timer = threading.Timer(0.01, compat.set_future_result, (future, "x"))
    timer.start()
    try:
        assert compat.wait_future(future, 5)
    finally:
        timer.join(5)
    assert future.result(0) == "x"
    assert not compat.wait_future(concurrent.futures.Future(), 0.01)


# ------------------------------------------------------------------ Python-3-only parts
def test_annotated_request_is_python_3_only_with_a_clear_error():
    """katcp_sync imports on Python 2 without it; importing it there says why."""
    import katcp_sync  # noqa: F401
    if compat.PY2:
        with pytest.raises(ImportError, match="needs Python 3.*@request"):
            import katcp_sync.annotated  # noqa: F401
    else:
        from katcp_sync.annotated import annotated_request
        assert annotated_request.__module__ == "katcp_sync._annotated"


# ------------------------------------------------------------------ numbers
@pytest.mark.parametrize("value, rounded", [
    (0.5, 0), (1.5, 2), (2.5, 2), (-0.5, 0), (-1.5, -2), (-2.5, -2),
    (12.4, 12), (12.6, 13), (-12.6, -13), (0.0, 0), (1e15 + 0.5, 1000000000000000),
])
def test_round_int_is_python_3_round(value, rounded):
    """Python 2's round() returns a float and rounds ties away from zero."""
    result = compat.round_int(value)
    assert result == rounded
    assert isinstance(result, six.integer_types)


def test_v4_timestamps_round_ties_to_even_on_every_python():
    from katcp_sync.argtypes import Timestamp
    assert Timestamp().encode(0.0125, 4) == b"12"
    assert Timestamp().encode(0.0015, 4) == b"2"
