"""Threads, ordering and abuse: the device server under concurrency (F27-F32, F124)."""

from __future__ import absolute_import, division, print_function


import concurrent.futures
import socket
import sys
import threading
import time

import pytest

from katcp_sync import compat
from katcp_sync.message import Message
from katcp_sync.server import AsyncDeviceServer

from server_support import TIMEOUT, DemoServer, LineClient, args


def replies(client, count):
    """The next ``count`` replies (informs skipped)."""
    found = []
    while len(found) < count:
        msg = client.read_message()
        if msg.mtype == Message.REPLY:
            found.append(msg)
    return found


def test_replies_keep_request_order(server, connect):
    """Replies to one client come in request order, blocking handler or not."""
    client = connect(server)
    client.send("?block[1]", "?watchdog[2]", "?echo[3] x", "?help[4] halt", "?watchdog[5]")
    assert server.entered.wait(TIMEOUT)
    assert client.no_message(0.1)  # everything waits behind ?block
    server.gate.set()
    assert [m.mid for m in replies(client, 5)] == [b"1", b"2", b"3", b"4", b"5"]


def test_stop_fails_queued_requests_before_disconnect(server, connect):
    """F34 / spec 2: requests still queued when the server stops get a fail
    reply (with their ids) before #disconnect; the running handler is not cut."""
    client = connect(server)
    client.send("?block[1]", "?watchdog[2]", "?echo[3] x")
    assert server.entered.wait(TIMEOUT)
    stopper = threading.Thread(target=server.stop, args=(TIMEOUT,))
    stopper.start()
    try:
        failed = [client.read_message() for _ in range(2)]
        assert [(m.name, m.mid, args(m)) for m in failed] == [
            ("watchdog", b"2", ["fail", "Device server shutting down."]),
            ("echo", b"3", ["fail", "Device server shutting down."])]
        goodbye = client.read_message()
        assert goodbye.name == "disconnect"
    finally:
        server.gate.set()
        stopper.join(TIMEOUT)
    assert not stopper.is_alive()


def test_blocking_handler_does_not_stop_sampling_or_other_clients(server, connect):
    """F28/F124: a blocked handler never delays sampling or built-in requests."""
    blocked = connect(server)
    other = connect(server)
    blocked.read_message()  # #client-connected
    blocked.send("?block")
    assert server.entered.wait(TIMEOUT)
    other.request("?sensor-sampling demo.int event")
    server.int_sensor.set_value(8)
    msg = other.read_message()
    assert msg.name == "sensor-status" and args(msg)[4] == "8"
    assert args(other.request("?watchdog")[1]) == ["ok"]
    server.gate.set()
    assert args(blocked.read_message()) == ["ok", "unblocked"]


def test_default_pool_serialises_user_handlers(server, connect):
    """F27: one worker by default, as katcp-python's handler thread."""
    first = connect(server)
    second = connect(server)
    first.read_message()
    first.send("?block")
    assert server.entered.wait(TIMEOUT)
    second.send("?echo")
    assert second.no_message(0.2)
    server.gate.set()
    assert args(first.read_message()) == ["ok", "unblocked"]
    assert second.read_message().name == "echo"


def test_handler_workers_run_clients_in_parallel(make_server, connect):
    """F29: handler_workers=N lets different clients' handlers run at once."""
    server = make_server(handler_workers=2)
    first = connect(server)
    second = connect(server)
    first.read_message()
    first.send("?block")
    assert server.entered.wait(TIMEOUT)
    assert second.request("?echo a")[1].encode() == b"!echo ok a\n"
    server.gate.set()
    assert args(first.read_message()) == ["ok", "unblocked"]


def test_async_reply_releases_the_turn(server, connect):
    """F23: after AsyncReply the next request runs; the reply comes later, any thread."""
    client = connect(server)
    client.send("?later[1]", "?echo[2]")
    assert replies(client, 1)[0].mid == b"2"
    req = server.later[0]
    threading.Thread(target=req.reply, args=("ok", "late")).start()
    msg = client.read_message()
    assert msg.encode() == b"!later[1] ok late\n"


def test_future_holds_the_turn_until_resolved(server, connect):
    """A returned future is the reply; the next request waits for it."""
    client = connect(server)
    client.send("?future[1]", "?watchdog[2]")
    deadline = compat.monotonic() + TIMEOUT
    while not server.later and compat.monotonic() < deadline:
        time.sleep(0.005)
    assert client.no_message(0.1)
    req, future = server.later[0]
    future.set_result(req.make_reply("ok", "done"))
    assert [m.encode() for m in replies(client, 2)] == [
        b"!future[1] ok done\n", b"!watchdog[2] ok\n"]


def test_future_exception_becomes_fail(server, connect):
    client = connect(server)
    client.send("?future")
    deadline = compat.monotonic() + TIMEOUT
    while not server.later and compat.monotonic() < deadline:
        time.sleep(0.005)
    server.later[0][1].set_exception(ValueError("no luck"))
    reply = client.read_message()
    assert args(reply)[0] == "fail" and "no luck" in args(reply)[1]


def test_concurrent_reply_future_releases_the_turn(server, connect):
    """@concurrent_reply: the next request does not wait for the future."""
    client = connect(server)
    client.send("?concurrent-future[1]", "?watchdog[2]")
    assert replies(client, 1)[0].mid == b"2"
    req, future = server.later[0]
    future.set_result(req.make_reply("ok"))
    assert client.read_message().encode() == b"!concurrent-future[1] ok\n"


class AsyncDemo(AsyncDeviceServer, DemoServer):
    pass


def test_async_server_runs_handlers_on_reactor(make_server, connect):
    """AsyncDeviceServer: handlers on the reactor thread, no pool."""
    server = make_server(AsyncDemo)
    client = connect(server)
    assert args(client.request("?echo")[1]) == ["ok"]
    assert server.handler_threads == ["katcp-server-reactor"]
    assert server._handler_pool is None


def test_set_concurrency_options_handler_thread_false(connect):
    server = DemoServer("127.0.0.1", 0)
    server.set_concurrency_options(thread_safe=False, handler_thread=False)
    server.start()
    try:
        client = connect(server)
        client.request("?echo")
        assert server.handler_threads == ["katcp-server-reactor"]
    finally:
        server.stop(TIMEOUT)


def test_sensor_updates_from_many_threads(server, connect):
    """F31: set_value from several threads; an auto client gets the updates and
    ends on the final value. (An update whose notification finds a newer
    reading already stored is reported by that one: issue #11, no value may
    go back, so not every update of concurrent writers is a report.)"""
    client = connect(server)
    client.request("?sensor-sampling demo.int auto")
    per_thread = 200
    threads = [threading.Thread(target=lambda: [server.int_sensor.set_value(i % 100)
                                                for i in range(per_thread)])
               for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT)
    client.send("?watchdog")
    messages = client.read_until(lambda m: m.name == "watchdog")
    statuses = [m for m in messages[:-1] if m.name == "sensor-status"]
    assert len(statuses) == len(messages) - 1 and 1 <= len(statuses) <= 4 * per_thread
    assert statuses[-1].arguments[4] == b"%d" % server.int_sensor.value()


# -- abuse ---------------------------------------------------------------------------------------


def test_garbage_bytes(server, connect):
    """Random binary junk gets #log errors; the connection and server survive."""
    client = connect(server)
    client.sock.sendall(bytes(bytearray(range(256))) * 4 + b"\n\x00\xff?\n#\n")
    client.send("?watchdog[99]")
    messages = client.read_until(lambda m: m.mtype == Message.REPLY)
    assert messages[-1].encode() == b"!watchdog[99] ok\n"
    assert all(m.name == "log" for m in messages[:-1])


def test_over_long_line_closes_only_that_client(make_server, connect):
    """An over-long line: #log error, then that connection is closed."""
    server = make_server(max_line_length=1000)
    victim = connect(server)
    bystander = connect(server)
    victim.read_message()
    victim.sock.sendall(b"?echo " + b"x" * 5000 + b"\n")
    messages = victim.read_all_until_closed()
    assert messages[-1].name == "log" and args(messages[-1])[0] == "error"
    assert args(bystander.request("?watchdog")[1]) == ["ok"]


def test_client_that_never_reads_is_disconnected(make_server, connect):
    """F32: a peer that does not read is dropped; others keep their data."""
    server = make_server(max_write_buffer=256 * 1024)
    stuck = LineClient(server.bind_address)
    stuck.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stuck.send("?sensor-sampling demo.str auto")
    healthy = connect(server)
    healthy.request("?sensor-sampling demo.int auto")
    received = []
    done = threading.Event()

    def drain():
        while not done.is_set():
            try:
                msg = healthy.read_message(0.05)
            except compat.TimeoutError:
                continue
            received.append(args(msg)[4])

    reader = threading.Thread(target=drain)
    reader.start()
    try:
        deadline = compat.monotonic() + TIMEOUT
        count = 0
        while len(server.get_clients()) == 2 and compat.monotonic() < deadline:
            server.str_sensor.set_value("y" * 1000)
            count += 1
            server.int_sensor.set_value(count % 100)
            if count % 20 == 0:
                time.sleep(0.001)  # the reader thread needs the GIL too
        assert [c.address for c in server.get_clients()] == [healthy.address]
        server.int_sensor.set_value(42)
        while "42" not in received and compat.monotonic() < deadline:
            time.sleep(0.01)
        assert "42" in received
        assert len(received) >= count // 2
    finally:
        done.set()
        reader.join(TIMEOUT)
        stuck.close()


def test_many_clients_connect_at_once(server):
    """500 clients connect; each gets its version informs and a reply."""
    clients = []
    try:
        for _ in range(500):
            clients.append(LineClient(server.bind_address, timeout=30))
        for client in clients:
            client.send("?watchdog")
        for client in clients:
            msg = client.read_until(lambda m: m.mtype == Message.REPLY, timeout=30)[-1]
            assert msg.encode() == b"!watchdog ok\n"
        assert len(server.get_clients()) == 500
    finally:
        for client in clients:
            client.close()


def test_abrupt_disconnect_mid_request(server, connect):
    """A client that vanishes while its handler runs does not disturb the server."""
    client = connect(server)
    client.send("?block", "?echo queued")
    assert server.entered.wait(TIMEOUT)
    client.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    client.close()
    deadline = compat.monotonic() + TIMEOUT
    while server.get_clients() and compat.monotonic() < deadline:
        time.sleep(0.01)
    server.gate.set()  # the handler replies into a closed connection
    other = connect(server)
    assert args(other.request("?watchdog")[1]) == ["ok"]


def test_stop_from_other_thread_while_handler_blocks(server, connect):
    """stop() ends every thread even with a handler in flight."""
    client = connect(server)
    client.send("?block")
    assert server.entered.wait(TIMEOUT)
    stopper = threading.Thread(target=server.stop, args=(TIMEOUT,))
    stopper.start()
    assert client.read_all_until_closed()[-1].name == "disconnect"
    server.gate.set()
    stopper.join(TIMEOUT)
    assert server.join(TIMEOUT)


def test_endless_pipelining_is_held_back_and_answered_in_order(server, connect):
    """A client far ahead of its handler is paused (TCP back-pressure), then served in order."""
    client = connect(server)
    count = 3 * server.get_clients()[0].MAX_PENDING
    client.send("?block[1]")
    assert server.entered.wait(TIMEOUT)
    sender = threading.Thread(target=client.send,
                              args=tuple("?echo[%d]" % i for i in range(2, count + 2)))
    sender.start()
    deadline = compat.monotonic() + TIMEOUT
    while server.get_clients()[0].pending_requests < server.get_clients()[0].MAX_PENDING:
        assert compat.monotonic() < deadline
        time.sleep(0.01)
    assert server.get_clients()[0].turn.paused
    server.gate.set()
    got = [m.mid for m in replies(client, count + 1)]
    assert got == [b"%d" % i for i in range(1, count + 2)]
    sender.join(TIMEOUT)


class FinishedFutures(AsyncDeviceServer):
    """Reactor-run handlers: ?slow replies when the test says, ?done returns
    a future that is already finished and records the stack depth."""

    def __init__(self, *a, **kw):
        super(FinishedFutures, self).__init__(*a, **kw)
        self.slow = concurrent.futures.Future()
        self.depths = []

    def request_slow(self, req, msg):
        """Reply when the test completes self.slow."""
        return self.slow

    def request_done(self, req, msg):
        """Return an already finished future."""
        depth, frame = 0, sys._getframe()
        while frame is not None:
            depth, frame = depth + 1, frame.f_back
        self.depths.append(depth)
        future = concurrent.futures.Future()
        future.set_result(req.make_reply("ok", *msg.arguments))
        return future


@pytest.mark.parametrize("finisher", ["reactor", "other thread"])
def test_queued_requests_after_finished_futures_take_bounded_stack(make_server, connect,
                                                                   finisher):
    """Issue #11: one slow request, then 400 pipelined ones whose (reactor-run)
    handlers return finished futures: all answered, in order, at one depth --
    the client's turn loops over its queue instead of recursing -- whether
    the slow future is finished on the reactor or on another thread."""
    server = make_server(FinishedFutures)
    client = connect(server)
    count = 400
    client.send("?slow[1]", *["?done[%d] %d" % (i, i) for i in range(2, count + 2)])
    deadline = compat.monotonic() + TIMEOUT
    while server.get_clients()[0].pending_requests < count:  # all queued behind ?slow
        assert compat.monotonic() < deadline
        time.sleep(0.01)
    if finisher == "reactor":
        server.ioloop.add_callback(server.slow.set_result, Message.reply("slow", "ok"))
    else:
        server.slow.set_result(Message.reply("slow", "ok"))
    got = replies(client, count + 1)
    assert [m.mid for m in got] == [b"%d" % i for i in range(1, count + 2)]
    assert all(args(m)[0] == "ok" for m in got)
    # (A few frames apart at most: the reactor resumes a long queue from its
    # own loop after each time slice, a little shallower. Recursion would add
    # frames with every request, thousands in all.)
    assert len(server.depths) == count and max(server.depths) - min(server.depths) <= 5
    assert args(client.request("?watchdog")[1]) == ["ok"]  # the turn is free again
