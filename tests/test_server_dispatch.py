"""The server's seams after issue #12: one dispatch path, connections built
complete, ``reactor`` as the canonical name, built-ins marked with kattypes'
protocol markers."""

from __future__ import absolute_import, division, print_function


import socket
import time

import pytest

from katcp_sync import compat
from katcp_sync.kattypes import has_katcp_protocol_flags, minimum_katcp_version
from katcp_sync.message import Message
from katcp_sync.reactor import Reactor
from katcp_sync.server import DeviceServer
from katcp_sync.server_connection import ClientConnection
from katcp_sync.server_turn import Turn
from katcp_sync.server_requests import BuiltinRequests

from server_support import TIMEOUT, DemoServer, args


def test_reactor_is_the_canonical_name_and_ioloop_its_alias():
    server = DeviceServer("127.0.0.1", 0)
    assert server.reactor is server.ioloop
    shared = Reactor("shared")
    server.set_reactor(shared)
    assert server.reactor is shared and server.ioloop is shared
    other = Reactor("other")
    server.set_ioloop(other)
    assert server.reactor is other
    server.set_reactor(None)  # back to a reactor of its own
    assert server.reactor not in (shared, other)
    for reactor in (shared, other):
        reactor.stop()


def test_set_reactor_after_start_is_refused(server):
    with pytest.raises(RuntimeError):
        server.set_reactor(Reactor("late"))


def test_accepted_clients_are_built_complete(server, connect):
    """Each listed client has its socket, address, turn and sampling table
    from its constructor (nothing patched on afterwards)."""
    line = connect(server)
    client = server.get_clients()[0]
    assert client.accepted and not client.closed
    assert client.address == line.address
    assert isinstance(client.turn, Turn) and client.pending_requests == 0
    assert client.sampling is not None and len(client.sampling) == 0
    assert client.bad_lines == 0


def test_a_client_connection_without_socket_is_a_quiet_test_double():
    client = ClientConnection(None, "nowhere:0")
    client.send_message(Message.inform("dropped"))
    client.mass_inform(Message.inform("dropped"))
    assert client.address == "nowhere:0" and client.fail_queued_requests("x") == 0
    client.close("done")


def test_client_connection_from_a_socket_reads_through_the_servers_dispatcher():
    """A ClientConnection built by hand from a socket is served as an
    accepted one would be: its lines reach the server's dispatcher."""
    server = DeviceServer("127.0.0.1", 0)
    server.reactor.start()
    ours, theirs = socket.socketpair()
    try:
        client = ClientConnection(server, sock=ours)
        theirs.settimeout(TIMEOUT)
        theirs.sendall(b"?watchdog[7]\n")
        assert theirs.recv(100) == b"!watchdog[7] ok\n"
        client.close("done")
    finally:
        theirs.close()
        server.reactor.stop()
        server.reactor.join(TIMEOUT)


def test_builtins_carry_the_kattypes_protocol_markers():
    marked_version = minimum_katcp_version(5, 0)(lambda: None)
    marked_flags = has_katcp_protocol_flags("T")(lambda: None)
    assert BuiltinRequests.request_version_list._minimum_katcp_version == \
        marked_version._minimum_katcp_version
    assert BuiltinRequests.request_request_timeout_hint._has_katcp_protocol_flags == \
        marked_flags._has_katcp_protocol_flags
    assert BuiltinRequests.request_client_list._has_katcp_protocol_flags == ["M"]


def test_handle_message_hook_and_direct_calls_share_the_dispatch(make_server, connect):
    """handle_message overridden: the hook sees the request, the base call
    runs it through the server's one dispatcher, the reply keeps its id."""
    seen = []

    class Hooked(DeviceServer):
        def handle_message(self, client_conn, msg):
            seen.append(msg.name)
            super(Hooked, self).handle_message(client_conn, msg)

    server = make_server(Hooked)
    line = connect(server)
    _, reply = line.request("?watchdog")
    assert args(reply) == ["ok"] and "watchdog" in seen


def test_a_socketless_client_connection_sends_to_its_transport():
    sent = []

    class Sink(object):
        def write(self, data):
            sent.append(data)
            return True

        def write_lines(self, lines):
            return self.write(b"".join(line + b"\n" for line in lines))

        def close(self, reason="", flush=True, timeout=1.0, last=b""):
            pass

    client = ClientConnection(None, "mock:0", transport=Sink())
    client.reply(Message.reply("x", "ok"), Message.request("x", mid=3))
    client.write_lines([b"#a"])
    assert sent == [b"!x[3] ok\n", b"#a\n"]


def _wait_for(predicate):
    deadline = compat.monotonic() + TIMEOUT
    while not predicate():
        assert compat.monotonic() < deadline, "condition not met in time"
        time.sleep(0.001)


def test_a_lone_request_on_the_pool_replies_directly_a_queued_run_does_not(
        make_server, connect, monkeypatch):
    """A worker starting a request with nothing queued behind it tells the
    write path it waited (connection.writer_waited: its reply is sent by
    the worker at once, not left to the reactor as a burst); one with more
    requests of its client queued behind it does not (those replies are a
    burst, sent together). (Without the worker's read-ahead, which says so
    once more before its reply: see test_server_readahead.)"""
    import katcp_sync.server_dispatch as dispatch

    class NoReadAhead(DemoServer):
        READ_AHEAD_TIME = 0.0

    calls = []
    monkeypatch.setattr(dispatch, "writer_waited", lambda: calls.append(1))
    server = make_server(NoReadAhead)
    a = connect(server)
    assert a.request("?echo[1] x")[1] == Message.reply("echo", "ok", "x", mid=1)
    assert calls == [1]
    b = connect(server)
    # The one worker is held by a's ?block; b's first request waits in the
    # pool with b's second queued behind it in b's turn.
    a.send("?block[2]")
    assert server.entered.wait(TIMEOUT)
    assert len(calls) == 2   # ?block was alone too
    b.send("?echo[3] y", "?echo[4] z")
    pool = server.dispatcher.pool
    _wait_for(lambda: pool.pending() == 2 and any(
        len(client.turn) == 1 for client in server.get_clients()))
    server.gate.set()
    replies = b.read_until(lambda msg: msg.mtype == Message.REPLY and msg.mid == b"4")
    assert [bytes(msg) for msg in replies if msg.mtype == Message.REPLY] == [
        b"!echo[3] ok y", b"!echo[4] ok z"]
    # ?echo[3] had ?echo[4] queued behind it: no call; ?echo[4], passed to
    # the pool in its turn, was alone by then: one.
    assert len(calls) == 3


def test_a_worker_runs_a_clients_queued_requests_itself_while_no_other_work_waits(
        server, connect):
    """Pipelined requests: the worker that finished one runs the client's
    next itself, in order, instead of handing each back through the pool
    (two more locks per request, taken in turn with the reactor)."""
    pool = server.dispatcher.pool
    submitted = []
    submit = pool.submit

    def counting_submit(key, fn, *a):
        submitted.append(fn)
        return submit(key, fn, *a)
    pool.submit = counting_submit
    line = connect(server)
    line.send("?block", *["?echo %d" % i for i in range(19)])
    assert server.entered.wait(TIMEOUT)
    client = server.get_clients()[0]
    deadline = compat.monotonic() + TIMEOUT
    while len(client.turn) < 19 and compat.monotonic() < deadline:
        time.sleep(0.005)   # (the reactor queues them: no event to wait on)
    assert len(client.turn) == 19
    server.gate.set()
    assert str(line.read_message()) == "!block ok unblocked"
    for i in range(19):
        assert str(line.read_message()) == "#echo %d" % i
        assert str(line.read_message()) == "!echo ok %d" % i
    assert len(submitted) == 1   # the ?block only
    assert len(set(server.handler_threads)) == 1


class _CountingLock(object):
    def __init__(self, lock):
        self.lock, self.taken = lock, 0

    def __enter__(self):
        self.taken += 1
        return self.lock.__enter__()

    def __exit__(self, *exc):
        return self.lock.__exit__(*exc)


def test_a_batch_of_pipelined_requests_is_queued_under_one_lock(server, connect):
    """The reactor claims the turn once for all the messages of one read
    (each lock was taken in turn with the worker on Python 2), in order."""
    line = connect(server)
    line.send("?block")
    assert server.entered.wait(TIMEOUT)
    turn = server.get_clients()[0].turn
    counting = turn._lock = _CountingLock(turn._lock)
    line.send(*["?echo %d" % i for i in range(10)])   # one sendall: one read
    deadline = compat.monotonic() + TIMEOUT
    while len(turn) < 10 and compat.monotonic() < deadline:
        time.sleep(0.005)   # (the reactor queues them: no event to wait on)
    assert len(turn) == 10
    assert counting.taken <= 2   # one per read (one message each: 10)
    server.gate.set()
    assert str(line.read_message()) == "!block ok unblocked"
    for i in range(10):
        assert str(line.read_message()) == "#echo %d" % i
        assert str(line.read_message()) == "!echo ok %d" % i


def test_claim_all_takes_a_free_turn_for_the_first_and_queues_the_rest():
    class Reading(object):
        paused = resumed = 0

        def pause_reading(self):
            self.paused += 1

        def resume_reading(self):
            self.resumed += 1

    class Handler(object):
        inline = False

    handler, reading = Handler(), Reading()
    turn = Turn(reading, max_pending=4)
    items = [(Message.request("r%d" % i), handler) for i in range(3)]
    assert turn.claim_all(items, False) == items[0]
    assert turn.busy and len(turn) == 2 and turn.start()
    assert turn.claim_all(items, False) is None   # busy: all queued
    assert len(turn) == 5 and reading.paused == 1   # over max_pending: reading paused
    assert [turn.next(True) for _ in range(5)] == items[1:] + items
    assert reading.resumed == 1
    assert turn.next(True) is None and not turn.busy
