"""The client's request table in memory: ids, matching, serialisation (spec 2.2, 2.3)."""

from __future__ import absolute_import, division, print_function


import pytest

from katcp_sync.client_requests import (CLOSED, HOLDING, OPEN, BlockingRequest,
                                        PendingRequest, ReplyFuture, RequestTable,
                                        wake_in_turn)
from katcp_sync.errors import KatcpClientDisconnected, KatcpVersionError
from katcp_sync.message import MAX_MID, Message


class Recorder(PendingRequest):
    __slots__ = ("reply", "error")

    def __init__(self, msg, use_mid=None):
        super(Recorder, self).__init__(msg, 0.0, use_mid)
        self.reply = self.error = None

    def set_reply(self, reply):
        self.reply = reply

    def set_error(self, exc):
        self.error = exc


def open_table(server_ids=True):
    table = RequestTable()
    table.hold()
    assert table.open(server_ids) == b""
    return table


def test_closed_table_refuses_with_the_given_error():
    table = RequestTable()
    assert table.state == CLOSED
    data, error = table.submit(Recorder(Message.request("x")))
    assert data is None and isinstance(error, KatcpClientDisconnected)
    table.close(lambda: KatcpClientDisconnected("gone away"))
    assert str(table.submit(Recorder(Message.request("x")))[1]) == "gone away"


def test_mids_count_from_one_and_wrap():
    table = open_table()
    datas = [table.submit(Recorder(Message.request("x", "a")))[0] for _ in range(3)]
    assert datas == [b"?x[1] a\n", b"?x[2] a\n", b"?x[3] a\n"]
    table._last_mid = MAX_MID - 1
    assert table.next_mid() == b"%d" % MAX_MID
    assert table.next_mid() == b"1"


def test_callers_message_is_not_modified():
    table = open_table()
    msg = Message.request("x")
    pending = Recorder(msg)
    table.submit(pending)
    assert msg.mid is None and pending.msg.mid == b"1"


def test_held_requests_are_sent_in_order_on_open():
    table = RequestTable()
    table.hold()
    assert table.state == HOLDING
    for name in ("a", "b", "a"):
        assert table.submit(Recorder(Message.request(name))) == (None, None)
    assert table.open(True) == b"?a[1]\n?b[2]\n?a[3]\n"
    assert table.state == OPEN and len(table) == 3


def test_held_request_with_unsupported_mid_fails_on_open():
    table = RequestTable()
    table.hold()
    pending = Recorder(Message.request("a"), use_mid=True)
    table.submit(pending)
    assert table.open(False) == b""
    assert isinstance(pending.error, KatcpVersionError)


def test_reply_and_informs_matched_by_mid_out_of_order():
    table = open_table()
    one, two = Recorder(Message.request("x")), Recorder(Message.request("x"))
    table.submit(one)
    table.submit(two)
    assert table.match_inform(Message.inform("x", mid=2)) is two
    assert table.match_reply(Message.reply("x", "ok", mid=2)) == (two, None)
    assert table.match_reply(Message.reply("x", "ok", mid=2)) == (None, None)
    assert table.match_reply(Message.reply("x", "ok", mid=1)) == (one, None)
    assert table.match_inform(Message.inform("x")) is None   # no mid: not ours


def test_without_ids_same_name_requests_are_serialised():
    table = open_table(server_ids=False)
    first, second = Recorder(Message.request("op", "1")), Recorder(Message.request("op", "2"))
    other = Recorder(Message.request("other"))
    assert table.submit(first) == (b"?op 1\n", None)
    assert table.submit(second) == (None, None)          # waits for the first
    assert table.submit(other) == (b"?other\n", None)    # another name goes at once
    assert table.match_inform(Message.inform("op", "i")) is first
    assert table.match_reply(Message.reply("op", "ok")) == (first, b"?op 2\n")
    assert table.match_inform(Message.inform("op", "i")) is second
    assert table.match_reply(Message.reply("op", "ok")) == (second, None)
    assert table.match_reply(Message.reply("op", "ok")) == (None, None)


def test_use_mid_true_needs_server_support():
    table = open_table(server_ids=False)
    assert isinstance(table.submit(Recorder(Message.request("x"), use_mid=True))[1],
                      KatcpVersionError)
    assert isinstance(table.submit(Recorder(Message.request("x", mid=5)))[1], KatcpVersionError)


def test_use_mid_false_with_server_ids_matches_by_name():
    table = open_table()
    pending = Recorder(Message.request("x"), use_mid=False)
    assert table.submit(pending) == (b"?x\n", None)
    assert table.match_reply(Message.reply("x", "ok"))[0] is pending


def test_remove_claims_once_and_releases_the_next_request():
    table = open_table(server_ids=False)
    first, second, third = (Recorder(Message.request("op", str(i))) for i in range(3))
    for pending in (first, second, third):
        table.submit(pending)
    assert table.remove(second) == (True, None)          # queued: just dropped
    assert table.remove(first) == (True, b"?op 2\n")     # head: the next one goes
    assert table.remove(first) == (False, None)
    assert table.match_reply(Message.reply("op", "ok"))[0] is third


def test_remove_after_reply_is_not_claimed():
    table = open_table()
    pending = Recorder(Message.request("x"))
    table.submit(pending)
    table.match_reply(Message.reply("x", "ok", mid=1))
    assert table.remove(pending) == (False, None)


def test_close_takes_everything():
    table = RequestTable()
    table.hold()
    held = Recorder(Message.request("h"))
    table.submit(held)
    table.open(False)
    table.hold()
    taken_before = [Recorder(Message.request("a")), Recorder(Message.request("a"))]
    for pending in taken_before:
        table.submit(pending)
    taken = table.close(lambda: KatcpClientDisconnected("x"))
    assert set(map(id, taken)) == set(map(id, [held] + taken_before))
    assert len(table) == 0 and table.state == CLOSED


def test_reply_future_unpacks():
    future = ReplyFuture()
    future.set_result(("reply", ["inform"]))
    reply, informs = future
    assert (reply, informs) == ("reply", ["inform"])
    future = ReplyFuture()
    future._on_reactor = lambda: True
    with pytest.raises(RuntimeError):
        tuple(future)


def delivered_blocking(count):
    """``count`` blocking requests whose replies came in one batch."""
    requests = [BlockingRequest(Message.request("r%d" % i), 0.0, None, True)
                for i in range(count)]
    for i, pending in enumerate(requests):
        pending.deliver(Message.reply("r%d" % i, "ok"))
        assert not pending.wait(0)      # delivered, not woken yet
    return requests


def test_callers_of_one_batch_are_woken_in_turn():
    """Only the first caller is woken; each, once awake, wakes the next, so
    they do not all rush for the interpreter at once."""
    a, b, c = delivered_blocking(3)
    wake_in_turn([a, b, c])
    assert not b.wait(0) and not c.wait(0)
    assert a.wait(None)
    assert not c.wait(0)
    assert b.wait(None) and c.wait(None)
    assert [p.reply.name for p in (a, b, c)] == ["r0", "r1", "r2"]


@pytest.mark.parametrize("when", ["before its turn", "after its turn"])
def test_a_caller_that_left_does_not_stop_the_turn(when):
    """A caller that stops waiting (an exception in its thread) before or
    after it was woken in turn: the callers after it are woken all the same,
    exactly once."""
    a, b, c, d = delivered_blocking(4)
    if when == "before its turn":
        b.leave()
        c.leave()
    wake_in_turn([a, b, c, d])
    assert a.wait(None)
    if when == "after its turn":
        b.leave()           # woken by a: leave() wakes c
        assert c.wait(None)
    assert d.wait(None)
    assert not d.wait(0)     # woken once


def test_a_caller_past_its_timeout_takes_its_reply_without_its_turn():
    """A caller whose timeout lost the race to its reply takes the reply
    without waiting for the caller before it to wake it; its turn is still
    passed on to the next when that caller wakes."""
    a, b, c = delivered_blocking(3)
    wake_in_turn([a, b, c])
    b.wait_delivered()                  # a has not woken b (and may never)
    assert b.reply.name == "r1"
    assert not c.wait(0)
    assert a.wait(None)                 # a wakes b, gone: c is woken instead
    assert c.wait(None)


@pytest.mark.parametrize("server_ids", [True, False])
def test_replace_puts_a_stand_in_in_the_place_of_a_registered_request(server_ids):
    """The stand-in of a failed request (client: too many informs) gets its
    informs and reply; a request queued behind it by name (no ids: spec
    2.3) stays behind it. A request no longer registered is not replaced."""
    table = open_table(server_ids)
    first, second = Recorder(Message.request("x")), Recorder(Message.request("x"))
    table.submit(first)
    table.submit(second)
    stand_in = Recorder(first.msg)
    assert table.replace(first, stand_in)
    mid = first.msg.mid
    assert table.match_inform(Message.inform("x", mid=mid)) is stand_in
    taken, data = table.match_reply(Message.reply("x", "ok", mid=mid))
    assert taken is stand_in
    assert (data is None) is server_ids      # without ids the second goes out now
    assert not table.replace(first, Recorder(first.msg))
    assert len(table) == 1
