"""katcp_sync.events: futures resolved once when threads race to resolve them."""

from __future__ import absolute_import, division, print_function

import concurrent.futures
import threading

from katcp_sync.events import until_any, until_some


def _race(futures, value):
    """Resolve ``futures`` from one thread each, all released at once."""
    start = threading.Event()

    def resolve(future):
        start.wait(5)
        future.set_result(value)

    threads = [threading.Thread(target=resolve, args=(f,)) for f in futures]
    for thread in threads:
        thread.start()
    start.set()
    for thread in threads:
        thread.join(5)


def test_until_some_and_until_any_resolve_once_under_races():
    """Before Python 3.8 a second set_result overwrote a done future and ran
    its callbacks again; compat's helpers keep 3.8's semantics everywhere."""
    for round_ in range(100):
        futures = [concurrent.futures.Future() for _ in range(6)]
        some = until_some(*futures, done_at_least=1)
        first = until_any(*futures)
        calls = []
        some.add_done_callback(calls.append)
        first.add_done_callback(calls.append)
        _race(futures, round_)
        assert sorted(map(id, calls)) == sorted([id(some), id(first)])
        assert len(some.result(0)) >= 1
        assert first.result(0) == round_



def test_async_event_waits_through_compat_event():
    """compat.Event: on Python 2 threading.Event.wait(timeout) polls with
    sleeps of up to 50 ms and cannot be interrupted by Ctrl-C."""
    from katcp_sync import compat
    from katcp_sync.events import AsyncEvent
    event = AsyncEvent()
    assert type(event._event) is type(compat.Event())
    woke = []
    thread = threading.Thread(target=lambda: woke.append(event.wait(5)))
    thread.start()
    event.set()
    thread.join(5)
    assert woke == [True] and event.is_set()
    assert event.until_set().result(0) is True
    event.clear()
    assert not event.wait(0.001)
