"""katcp_sync.futures.chain_future: results, errors and cancellation pass on."""

from __future__ import absolute_import, division, print_function


import concurrent.futures

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
