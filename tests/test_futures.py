"""katcp_sync.futures.chain_future: results, errors and cancellation pass on."""

from __future__ import absolute_import, division, print_function


import concurrent.futures
import logging

import pytest

from katcp_sync.futures import chain_future


def test_result_is_converted():
    source = concurrent.futures.Future()
    chained = chain_future(source, lambda x: x + 1)
    source.set_result(1)
    assert chained.result(0) == 2


def test_errors_from_source_and_convert_pass_on():
    source = concurrent.futures.Future()
    chained = chain_future(source, lambda x: x)
    source.set_exception(KeyError("gone"))
    with pytest.raises(KeyError):
        chained.result(0)
    source = concurrent.futures.Future()
    chained = chain_future(source, lambda x: 1 / x)
    source.set_result(0)
    with pytest.raises(ZeroDivisionError):
        chained.result(0)


def test_cancelled_source_cancels_the_target():
    source = concurrent.futures.Future()
    target = concurrent.futures.Future()
    assert chain_future(source, lambda x: x, target) is target
    source.cancel()
    assert target.cancelled()


def test_a_target_done_meanwhile_keeps_its_outcome(caplog):
    """The target's owner cancelled it: the source's result does not
    overwrite that (it did on Python < 3.8) and nothing is logged."""
    source = concurrent.futures.Future()
    target = concurrent.futures.Future()
    chain_future(source, lambda x: x, target)
    assert target.cancel()
    source.set_result(1)
    assert target.cancelled()
    source = concurrent.futures.Future()
    target = concurrent.futures.Future()
    chain_future(source, lambda x: 1 / x, target)
    target.set_result("mine")
    source.set_result(0)
    assert target.result(0) == "mine"
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_futures_made_here_resolve_once_on_every_python():
    """chain_future's and the events' futures are compat.Future: resolving a
    done one raises InvalidStateError on 2.7 and 3.6 too (3.8's rule; the
    plain Future of older Pythons overwrote the result silently), and on 2.7
    their result(timeout) waits precisely instead of polling."""
    from katcp_sync import compat
    from katcp_sync.events import AsyncEvent

    source = concurrent.futures.Future()
    event = AsyncEvent()
    for future in (chain_future(source, lambda x: x), event.until_set()):
        assert isinstance(future, compat.Future)
    source.set_result(1)
    chained = chain_future(source, lambda x: x)
    assert chained.result(0) == 1
    with pytest.raises(compat.InvalidStateError):
        compat.set_future_result(chained, 2)
    with pytest.raises(compat.InvalidStateError):
        chained.set_result(2)
    assert chained.result(0) == 1
