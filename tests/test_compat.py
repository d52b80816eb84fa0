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


def test_future_result_times_out_only_when_the_wait_runs_out():
    """A future that failed with a TimeoutError gives that error, never
    ResultTimeout (on 3.11+ ``concurrent.futures.TimeoutError`` is the
    built-in one, so an ``except`` around ``result(timeout)`` cannot tell)."""
    with pytest.raises(compat.ResultTimeout):
        compat.future_result(concurrent.futures.Future(), 0.01)
    assert not issubclass(compat.ResultTimeout, (compat.TimeoutError, concurrent.futures.TimeoutError))
    failed = concurrent.futures.Future()
    own = compat.TimeoutError("the future's own")
    failed.set_exception(own)
    with pytest.raises(compat.TimeoutError) as raised:
        compat.future_result(failed, 5)
    assert raised.value is own
    done = concurrent.futures.Future()
    done.set_result(3)
    assert compat.future_result(done, float("inf")) == 3 and compat.future_result(done) == 3


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


# ------------------------------------------------------------------ text and bytes
def test_native_str_and_wire_bytes_round_trip():
    native = compat.native_str(b"caf\xc3\xa9")
    assert type(native) is str
    assert compat.wire_bytes(native) == b"caf\xc3\xa9"
    assert compat.wire_bytes(u"caf\u00e9") == b"caf\xc3\xa9"
    assert compat.wire_bytes(b"raw \xff") == b"raw \xff"
    assert type(compat.native_str(b"bad \xff", "replace")) is str


def test_wire_text_is_the_one_lenient_decoding_of_names_and_arguments():
    """Every module reads wire names/arguments through compat.wire_text: the
    native str, never unicode on 2.7 (the ?sensor-list pattern, ?help name,
    shell completions and #log replay used to be unicode there)."""
    assert compat.wire_text(b"caf\xc3\xa9") == compat.native_str(b"caf\xc3\xa9")
    assert type(compat.wire_text(b"bad \xff")) is str
    if not compat.PY2:
        assert compat.wire_text(b"bad \xff") == u"bad \ufffd"



def test_decode_lossless_keeps_every_byte():
    for data in (b"", b"ascii", b"caf\xc3\xa9", b"\xff\xfe\x80"):
        text = compat.decode_lossless(data)
        assert type(text) is str
        assert compat.wire_bytes(text) == data
        assert compat.native_text(data) == text


def test_byte_const_is_what_indexing_gives():
    data = b"a\\b"
    assert data[1] == compat.byte_const(b"\\")
    assert compat.byte_const(b"\\") in data
    assert compat.byte_const(b"\0") not in data
    assert compat.byte_const(b"a") == data[0]


@pytest.mark.parametrize("value", [u"name", b"name", bytearray(b"name"), "name"])
def test_native_ascii(value):
    assert compat.native_ascii(value) == "name"
    assert type(compat.native_ascii(value)) is str


@pytest.mark.parametrize("value", [u"caf\u00e9", b"caf\xc3\xa9", bytearray(b"\xff")])
def test_native_ascii_refuses_what_is_not_ascii(value):
    with pytest.raises(UnicodeError):
        compat.native_ascii(value)


def test_native_latin1_and_native_text():
    assert compat.native_latin1(b"x") == "x"
    assert len(compat.native_latin1(b"\xe9")) == 1
    assert compat.native_text(u"caf\u00e9") == compat.native_str(b"caf\xc3\xa9")
    assert compat.native_text(bytearray(b"ab")) == "ab"
    assert type(compat.native_text(u"ab")) is str


@pytest.mark.parametrize("text, data", [
    (u"caf\u00e9", b"caf\xc3\xa9"),
    (u"\U0001f600", b"\xf0\x9f\x98\x80"),
    (u"bad \ud800 \udfff.", b"bad ? ?."),
    (u"", b""),
])
def test_encode_utf8_replaces_lone_surrogates_on_every_python(text, data):
    assert compat.encode_utf8(text) == data


def test_join_bytes_takes_bytearrays():
    assert compat.join_bytes([b"a", bytearray(b"bc"), b"", bytearray(b"d")]) == b"abcd"
    assert type(compat.join_bytes([bytearray(b"x")])) is bytes


def test_katcp_python_compat_helpers():
    assert compat.ensure_native_str(b"abc") == "abc"
    assert compat.ensure_native_str(u"abc") == "abc"
    assert type(compat.ensure_native_str(u"abc")) is str
    with pytest.raises(TypeError):
        compat.ensure_native_str(12)
    assert compat.byte_chars(b"ab") == [b"a", b"b"]
    assert compat.is_bytes(b"x") and not compat.is_bytes(u"x")
    assert compat.is_text(u"x") and compat.is_text("x")


# ------------------------------------------------------------------ keyword-only, raise-from
def _kwonly(*args, **kwargs):
    flag = compat.kwonly_pop(kwargs, "flag", False)
    needed = compat.kwonly_pop(kwargs, "needed", compat.REQUIRED)
    compat.kwonly_done("_kwonly", kwargs)
    return args, flag, needed


def test_kwonly_emulation():
    assert _kwonly(1, 2, needed=3) == ((1, 2), False, 3)
    assert _kwonly(needed=3, flag=True) == ((), True, 3)
    with pytest.raises(TypeError, match="missing required keyword-only argument 'needed'"):
        _kwonly()
    with pytest.raises(TypeError, match="unexpected keyword argument 'other'"):
        _kwonly(needed=1, other=2)


def test_chained_is_raise_from():
    cause = KeyError("cause")
    error = compat.chained(ValueError("error"), cause)
    assert error.__cause__ is cause and error.__suppress_context__
    with pytest.raises(ValueError):
        raise compat.chained(ValueError("x"), None)


# ------------------------------------------------------------------ exceptions
def test_socket_errors_and_would_block():
    import errno
    import socket
    assert issubclass(socket.error, compat.SOCKET_ERRORS)
    assert compat.would_block(socket.error(errno.EAGAIN, "again"))
    assert compat.would_block(OSError(errno.EINTR, "interrupted"))
    assert not compat.would_block(OSError(errno.ECONNRESET, "reset"))
    assert not compat.would_block(ValueError())
    assert issubclass(compat.ConnectionResetError, compat.ConnectionError)
    assert issubclass(compat.BrokenPipeError, OSError)


# ------------------------------------------------------------------ clocks and waits
def test_monotonic_advances():
    first = compat.monotonic()
    second = compat.monotonic()
    assert isinstance(first, float) and second >= first


def test_monotonic_is_the_clock_of_time_monotonic():
    # Python 3: the same clock (CLOCK_MONOTONIC on Linux); Python 2: read through ctypes.
    import time
    reference = getattr(time, "monotonic", compat.monotonic)
    before = reference()
    ours = compat.monotonic()
    after = reference()
    assert before <= ours <= after


def test_rlock_is_reentrant_and_owned():
    lock = compat.RLock()
    with lock:
        with lock:
            assert lock.acquire()
            lock.release()
        taken = []
        other = threading.Thread(target=lambda: taken.append(lock.acquire(False)))
        other.start()
        other.join(5)
        assert taken == [False]   # still held once by this thread
        failed = []

        def release_from_elsewhere():
            try:
                lock.release()
            except RuntimeError:
                failed.append(True)
        other = threading.Thread(target=release_from_elsewhere)
        other.start()
        other.join(5)
        assert failed == [True]
    with pytest.raises(RuntimeError):
        lock.release()
    taken = []
    other = threading.Thread(target=lambda: (taken.append(lock.acquire(False)), lock.release()))
    other.start()
    other.join(5)
    assert taken == [True]


def test_event_waits_precisely():
    event = compat.Event()
    assert not event.is_set()
    start = compat.monotonic()
    assert not event.wait(0.02)
    assert compat.monotonic() - start >= 0.02
    timer = threading.Timer(0.01, event.set)
    timer.start()
    try:
        assert event.wait(5)
    finally:
        timer.join(5)
    event.clear()
    assert not event.is_set()


def test_fast_event_wakes_a_waiting_thread_at_once():
    event = compat._FastEvent()
    woke = []

    def waiter():
        woke.append(event.wait(5))

    thread = threading.Thread(target=waiter)
    thread.start()
    start = compat.monotonic()
    event.set()
    thread.join(5)
    assert woke == [True]
    assert compat.monotonic() - start < 1.0
    assert event.isSet()


# ------------------------------------------------------------------ typing, signatures, misc
def test_protocol_is_subclassable():
    class Thing(compat.Protocol):
        def method(self):
            """A method."""

    assert hasattr(Thing, "method")


def test_positional_parameters():
    import functools

    def plain(self, req, x, y=1, *rest, **kwargs):
        pass

    @functools.wraps(plain)
    def wrapper(*args, **kwargs):
        return plain(*args, **kwargs)
    wrapper.__wrapped__ = plain   # (Python 2's wraps sets no __wrapped__)

    class Holder(object):
        def method(self, req, a):
            pass

    assert compat.positional_parameters(plain) == ["self", "req", "x", "y", "rest"]
    assert compat.positional_parameters(wrapper) == ["self", "req", "x", "y", "rest"]
    assert compat.positional_parameters(Holder().method) == ["req", "a"]
    assert compat.positional_parameters(Holder.method) == ["self", "req", "a"]
    assert compat.positional_parameters(lambda **kw: None) == []


def test_ordered_dict_keeps_insertion_order():
    keys = [object() for _ in range(100)]
    table = compat.ordered_dict()
    for key in keys:
        table[id(key)] = key
    assert list(table.values()) == keys
    assert list(compat.ordered_dict.fromkeys([3, 1, 3, 2, 1])) == [3, 1, 2]


def test_cpu_count_main_thread_and_ip_addresses():
    assert compat.cpu_count() >= 1
    assert compat.main_thread() is threading.current_thread() or compat.main_thread().is_alive()
    assert compat.is_ip_address("127.0.0.1") and compat.is_ip_address(u"::1")
    assert not compat.is_ip_address("localhost") and not compat.is_ip_address("127.1")


def test_thread_time_counts_this_threads_work_not_its_waits():
    """regex_guard limits a search by it: time spent waiting (for the GIL,
    here for an event) must not count, work must."""
    start = compat.thread_time()
    threading.Event().wait(0.2)
    waited = compat.thread_time() - start
    start = compat.thread_time()
    deadline = compat.monotonic() + 10.0   # (a bound: a loaded host shares the core)
    while compat.thread_time() - start < 0.05 and compat.monotonic() < deadline:
        pass
    worked = compat.thread_time() - start
    assert waited < 0.05 <= worked, (waited, worked)
