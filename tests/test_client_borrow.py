"""blocking_request reading its own reply on the caller's thread ("borrowed reading").

A lone blocking caller reads the connection itself; every line that is not
its own inform or reply must still be dispatched on the reactor thread, in
order, exactly once, and every failure path must behave as without the
borrow (client module docstring; connection module, "Borrowed reading").
"""

from __future__ import absolute_import, division, print_function


import logging
import os
import select
import threading
import time

import pytest

from katcp_sync import compat
from katcp_sync import connection_writes
from katcp_sync.client import BlockingClient, DeviceClient
from katcp_sync.errors import KatcpClientDisconnected, KatcpTimeoutError
from katcp_sync.message import Message

from client_support import (WAIT, ScriptedServer, echo_script, first_hang_ignored_script,
                            reply_line, request_parts, v5_greeting, wait_for)

pytestmark = pytest.mark.skipif(not hasattr(select, "epoll"),
                                reason="borrowed reading needs epoll")


@pytest.fixture
def scripted():
    servers = []

    def make(script):
        server = ScriptedServer(script)
        servers.append(server)
        return server
    yield make
    for server in servers:
        server.close()


class NewsClient(BlockingClient):
    """Records #news informs with the thread they were dispatched on."""

    def __init__(self, *args, **kwargs):
        super(NewsClient, self).__init__(*args, **kwargs)
        self.news = []
        self.news_event = threading.Event()

    def inform_news(self, msg):
        self.news.append((msg.arguments[0], threading.current_thread()))
        self.news_event.set()


@pytest.fixture
def make_client(make_client):
    """conftest's make_client, and then waits until the reactor has read
    the whole greeting and let go of reading: a caller may then borrow at
    once. (wait_protocol returns on the first #version-connect, and on
    Python 2 the woken caller may run before the reactor is done.)"""
    def make(port, **kwargs):
        client = make_client(port, **kwargs)
        if kwargs.get("wait", True):
            assert wait_for(lambda: "katcp-library" in client.versions)
            settle(client)
        return client
    return make


def settle(client):
    """Wait until the reactor has let go of reading (it may still be
    finishing a read when a woken caller runs)."""
    borrow = client._conn._borrow if client._conn is not None else None
    assert wait_for(lambda: not (borrow is not None and borrow._read_lock.locked()))


def socket_closed(sock):
    """True once ``sock`` is closed (2.7's fileno() raises then, 3.x's is -1)."""
    try:
        return sock.fileno() == -1
    except compat.SOCKET_ERRORS:
        return True


def spy_claims(client):
    """Record (line, claimed, thread) for every line a borrowed read offers."""
    claims = []
    claim = client._claim

    def spy(line, **kwargs):
        claimed = claim(line, **kwargs)
        claims.append((line, claimed, threading.current_thread()))
        return claimed
    client._claim = spy
    return claims


def reactor_thread(client):
    found = [t for t in threading.enumerate() if t.name == client.reactor.name]
    assert len(found) == 1
    return found[0]


def test_sequential_replies_are_read_on_the_callers_thread(scripted, make_client):
    server = scripted(echo_script(v5_greeting(), informs=2))
    client = make_client(server.port)
    claims = spy_claims(client)
    for i in range(20):
        reply, informs = client.blocking_request(Message.request("echo", str(i)))
        assert reply.arguments == [b"ok", str(i).encode()]
        assert [inform.arguments for inform in informs] == [[b"i0"], [b"i1"]]
    me = threading.current_thread()
    assert len(claims) == 60 and all(claimed and thread is me for _, claimed, thread in claims)


def test_unsolicited_informs_stay_on_the_reactor_in_order(scripted, make_client):
    def script(conn):
        conn.send(*v5_greeting())
        n = 0
        while True:
            line = conn.read_line()
            # Before, between and after the reply, in one send.
            conn.send(b"#news %d" % n, reply_line(line, b"ok"), b"#news %d" % (n + 1))
            n += 2
    server = scripted(script)
    client = make_client(server.port, cls=NewsClient)
    claims = spy_claims(client)
    for _ in range(10):
        assert client.blocking_request(Message.request("x"))[0].reply_ok()
    deadline = compat.monotonic() + WAIT
    while len(client.news) < 20 and compat.monotonic() < deadline:
        client.news_event.wait(0.05)
        client.news_event.clear()
    assert [int(arg) for arg, _ in client.news] == list(range(20))  # exactly once, in order
    reactor = reactor_thread(client)
    assert all(thread is reactor for _, thread in client.news)
    # #news came first, so every reply was handed over with it, never claimed.
    assert claims and not any(claimed for _, claimed, _ in claims)


def test_reply_claimed_and_later_lines_handed_over(scripted, make_client):
    def script(conn):
        conn.send(*v5_greeting())
        line = conn.read_line()
        conn.send(reply_line(line, b"ok"), b"#news after", b"!stray ok")
        while True:
            conn.read_line()
    server = scripted(script)
    client = make_client(server.port, cls=NewsClient)
    strays = []
    client.reply_stray = lambda msg: strays.append(threading.current_thread())
    claims = spy_claims(client)
    assert client.blocking_request(Message.request("x"))[0].reply_ok()
    assert claims[0][1] is True and claims[0][2] is threading.current_thread()
    assert client.news_event.wait(WAIT)
    reactor = reactor_thread(client)
    assert client.news == [(b"after", reactor)]
    deadline = compat.monotonic() + WAIT
    while not strays and compat.monotonic() < deadline:
        time.sleep(0.005)
    assert strays == [reactor]


def test_other_threads_replies_are_dispatched_on_the_reactor(scripted, make_client):
    both_in = threading.Event()

    def script(conn):
        conn.send(*v5_greeting())
        first = conn.read_line()
        second = conn.read_line()
        both_in.set()
        conn.send(reply_line(second, b"ok", b"second"), reply_line(first, b"ok", b"first"))
        while True:
            line = conn.read_line()
            conn.send(reply_line(line, b"ok"))
    server = scripted(script)
    client = make_client(server.port)
    claims = spy_claims(client)
    callback_threads = []
    results = {}

    def first():
        results["first"] = client.blocking_request(Message.request("a"))[0].arguments

    thread = threading.Thread(target=first)
    thread.start()
    # The first caller's request is out (and it reads); this one's comes second.
    assert server.received.get(timeout=WAIT).startswith(b"?a")
    future = client.callback_request(
        Message.request("b"), reply_cb=lambda msg: callback_threads.append(
            (msg.arguments, threading.current_thread())))
    assert future.result(WAIT)[0].arguments == [b"ok", b"second"]
    thread.join(WAIT)
    assert results["first"] == [b"ok", b"first"]
    assert callback_threads == [([b"ok", b"second"], reactor_thread(client))]
    assert both_in.is_set()
    assert client.blocking_request(Message.request("c"))[0].reply_ok()


@pytest.mark.parametrize("threads, each", [(4, 50), (100, 10)])
def test_many_threads_get_their_own_replies(scripted, make_client, threads, each):
    """Threads sharing one client (up to a hundred; issue #16), each making
    requests back to back: all replies and informs matched, nothing left
    in the table."""
    server = scripted(echo_script(v5_greeting(), informs=1))
    client = make_client(server.port)
    errors = []

    def worker(tag):
        try:
            for i in range(each):
                arg = "%s-%d" % (tag, i)
                reply, informs = client.blocking_request(Message.request("echo", arg),
                                                         timeout=WAIT)
                assert reply.arguments == [b"ok", arg.encode()]
                assert len(informs) == 1 and informs[0].mid == reply.mid
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
    workers = [threading.Thread(target=worker, args=(t,)) for t in range(threads)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join(WAIT * 2)
    assert not errors and not any(t.is_alive() for t in workers)
    assert len(client._table) == 0


def test_timeout_during_borrowed_wait_then_reading_resumes(scripted, make_client):
    def script(conn):
        conn.send(*v5_greeting())
        conn.read_line()              # never answered
        line = conn.read_line()
        conn.send(b"#news late", reply_line(line, b"ok"))
        while True:
            conn.read_line()
    server = scripted(script)
    client = make_client(server.port, cls=NewsClient)
    claims = spy_claims(client)
    start = compat.monotonic()
    with pytest.raises(KatcpTimeoutError):
        client.blocking_request(Message.request("never"), timeout=0.2)
    assert 0.15 < compat.monotonic() - start < 2.0
    assert len(client._table) == 0
    assert client.blocking_request(Message.request("next"))[0].reply_ok()
    assert client.news_event.wait(WAIT)
    assert client.news == [(b"late", reactor_thread(client))]
    assert claims  # the first request did borrow


def test_disconnect_during_borrowed_wait(scripted, make_client):
    def script(conn):
        conn.send(*v5_greeting())
        conn.read_line()
        conn.close()
    server = scripted(script)
    client = make_client(server.port)
    client.auto_reconnect = False
    start = compat.monotonic()
    with pytest.raises(KatcpClientDisconnected, match="Connection closed before reply"):
        client.blocking_request(Message.request("x"), timeout=WAIT)
    assert compat.monotonic() - start < WAIT / 2
    assert client.wait_disconnected(WAIT)


def test_reply_then_eof_in_one_read(scripted, make_client):
    def script(conn):
        conn.send(*v5_greeting())
        line = conn.read_line()
        conn.send(reply_line(line, b"ok", b"bye"))
        conn.close()
    server = scripted(script)
    client = make_client(server.port)
    client.auto_reconnect = False
    assert client.blocking_request(Message.request("x"))[0].arguments == [b"ok", b"bye"]
    assert client.wait_disconnected(WAIT)


@pytest.mark.parametrize("own_reactor", [True, False])
def test_stop_while_a_caller_is_borrowing(scripted, make_client, reactor, own_reactor):
    received = threading.Event()

    def script(conn):
        conn.send(*v5_greeting())
        conn.read_line()
        received.set()
        while True:
            conn.read_line()
    server = scripted(script)
    kwargs = {} if own_reactor else {"reactor": reactor}
    client = make_client(server.port, **kwargs)
    claims = spy_claims(client)
    outcome = []

    def call():
        try:
            client.blocking_request(Message.request("x"), timeout=WAIT)
        except Exception as exc:
            outcome.append((exc, compat.monotonic()))
    thread = threading.Thread(target=call)
    thread.start()
    assert received.wait(WAIT)
    conn = client._conn
    assert conn._borrow.borrowed
    stopped = compat.monotonic()
    client.stop()
    thread.join(WAIT)
    assert not thread.is_alive()
    exc, when = outcome[0]
    assert isinstance(exc, KatcpClientDisconnected)
    assert "Client stopped before reply was received" in str(exc)
    assert when - stopped < WAIT / 2
    assert not claims
    # The socket was closed when the borrow ended, not under the borrower.
    deadline = compat.monotonic() + WAIT
    while not socket_closed(conn._sock) and compat.monotonic() < deadline:
        time.sleep(0.005)
    assert socket_closed(conn._sock)
    assert reactor.running()


def test_line_too_long_during_borrowed_read(scripted, make_client, caplog):
    class SmallClient(BlockingClient):
        MAX_MSG_SIZE = 100

    def script(conn):
        conn.send(*v5_greeting())
        line = conn.read_line()
        conn.send(b"#news " + b"x" * 300, reply_line(line, b"ok"))
        while True:
            conn.read_line()
    server = scripted(script)
    client = make_client(server.port, cls=SmallClient)
    with caplog.at_level(logging.ERROR, logger="katcp_sync.client"):
        assert client.blocking_request(Message.request("x"))[0].reply_ok()
        deadline = compat.monotonic() + WAIT
        while "too long" not in caplog.text and compat.monotonic() < deadline:
            time.sleep(0.005)
    assert "too long" in caplog.text
    assert client.is_connected()


def test_large_replies_in_a_borrowed_read(scripted, make_client):
    """Multi-MiB replies, read by the waiting caller itself into the line
    splitter's own buffer (issue #16, point 5), arrive whole one after
    another; a reply over the limit is dropped with an error, and the client
    goes on working."""
    class BigClient(BlockingClient):
        MAX_MSG_SIZE = 4 << 20

    payload = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_-.+" * 60000  # 3.9 MB
    sizes = []

    def script(conn):
        conn.send(*v5_greeting())
        while True:
            line = conn.read_line()
            size = int(line.split()[-1])
            sizes.append(size)
            if size > len(payload):
                # Over the limit, then the reply itself.
                conn.send(b"#huge " + b"z" * size, reply_line(line, b"ok", b"small"))
            else:
                conn.send(reply_line(line, b"ok", payload[:size]))
    server = scripted(script)
    client = make_client(server.port, cls=BigClient)
    assert client._conn.borrowable
    for size in [len(payload), 3, 200000, len(payload) - 1, 5 << 20, len(payload)]:
        reply, _ = client.blocking_request(Message.request("big", size), timeout=WAIT)
        assert reply.reply_ok(), reply
        expected = b"small" if size > len(payload) else payload[:size]
        assert reply.arguments[1] == expected
    assert client.is_connected()


def test_overriding_handle_message_turns_borrowing_off(scripted, make_client):
    seen = []

    class Recording(DeviceClient):
        def handle_message(self, msg):
            seen.append(msg.name)
            super(Recording, self).handle_message(msg)
    server = scripted(echo_script(v5_greeting()))
    client = make_client(server.port, cls=Recording)
    assert not client._may_borrow
    assert client.blocking_request(Message.request("echo"))[0].reply_ok()
    assert "echo" in seen


def test_protocol_detection_unchanged_for_a_silent_device(scripted, make_client):
    """No greeting: requests are held until the protocol is assumed, then sent."""
    server = scripted(echo_script(None))
    client = make_client(server.port, wait=False, detect=0.1)
    reply, _ = client.blocking_request(Message.request("echo", "a"), timeout=WAIT)
    assert reply.arguments == [b"ok", b"a"] and reply.mid is None
    settle(client)
    # Now sent at once and read by the caller (no ids: matched by name).
    claims = spy_claims(client)
    assert client.blocking_request(Message.request("echo", "b"))[0].arguments == [b"ok", b"b"]
    assert claims and claims[-1][1]


def test_spin_time_reaches_the_connection(scripted, make_client):
    class NoSpin(BlockingClient):
        SPIN_TIME = 0.0
    server = scripted(echo_script(v5_greeting()))
    quiet = make_client(server.port, cls=NoSpin)
    assert quiet._conn.spin_time == 0.0
    assert quiet.blocking_request(Message.request("echo", "a"))[0].reply_ok()
    server2 = scripted(echo_script(v5_greeting()))
    default = make_client(server2.port)
    assert default._conn.spin_time == BlockingClient.SPIN_TIME
    assert default.blocking_request(Message.request("echo", "b"))[0].reply_ok()


def test_no_parking_while_another_threads_reply_is_on_its_way(scripted, make_client):
    """A future_request sent while a blocking caller borrows: its reply comes
    after the borrow ends, and must reach the reactor without the park delay."""
    got_a = threading.Event()

    def script(conn):
        conn.send(*v5_greeting())
        a = conn.read_line()
        conn.send(reply_line(a, b"working", inform=True))
        b = conn.read_line()
        conn.send(reply_line(a, b"ok"))
        got_a.wait(WAIT)
        conn.send(reply_line(b, b"ok"))
        while True:
            conn.read_line()
    server = scripted(script)
    client = make_client(server.port)
    parked = []
    conn = client._conn
    real_return = conn.return_reading

    def spy(park=True):
        parked.append(park)
        real_return(park)
    conn.return_reading = spy
    holder = {}
    claim = client._claim

    def claim_and_send_b(line, **kwargs):
        if "b" not in holder:   # while borrowed, another thread's request goes out
            sender = threading.Thread(target=lambda: holder.setdefault(
                "b", client.future_request(Message.request("b"))))
            sender.start()
            sender.join(WAIT)
        return claim(line, **kwargs)
    client._claim = claim_and_send_b
    assert client.blocking_request(Message.request("a"))[0].reply_ok()
    got_a.set()
    assert parked == [False]
    assert holder["b"].result(WAIT)[0].reply_ok()


# ---------------------------------------------------------------------------
# A caller interrupted while it waits (issue #11, point 4)

class Interrupted(Exception):
    """Raised by the test's signal handler in the waiting thread."""


class NoBorrowClient(BlockingClient):
    """Overrides handle_message, so its callers wait on their lock."""

    def handle_message(self, msg):
        super(NoBorrowClient, self).handle_message(msg)


@pytest.mark.parametrize("flags", [b"5.1-MI", b"5.0-M"], ids=["mids", "no-mids"])
@pytest.mark.parametrize("cls", [BlockingClient, NoBorrowClient], ids=["borrowing", "lock-wait"])
def test_interrupted_blocking_request_is_given_up_like_a_timeout(scripted, make_client,
                                                                flags, cls):
    """An exception raised in the waiting caller (here by a signal handler,
    as KeyboardInterrupt is) abandons the request as a timeout would: the
    table is empty, the lone-caller fast path is used again, and a later
    request of the same name is sent and answered (without message ids it
    used to queue behind the abandoned one for ever)."""
    import signal

    server = scripted(first_hang_ignored_script(v5_greeting(flags)))
    client = make_client(server.port, cls=cls)
    main = compat.main_thread()
    assert threading.current_thread() is main   # signals are handled there

    def interrupt():
        # Sent: the caller is about to wait, or waiting (either is fine).
        assert server.received.get(timeout=WAIT).startswith(b"?hang")
        if hasattr(signal, "pthread_kill"):
            signal.pthread_kill(main.ident, signal.SIGUSR1)
        else:   # Python 2: a process signal goes to the main thread (Linux)
            os.kill(os.getpid(), signal.SIGUSR1)

    def on_signal(signum, frame):
        raise Interrupted()

    previous = signal.signal(signal.SIGUSR1, on_signal)
    killer = threading.Thread(target=interrupt)
    try:
        killer.start()
        start = compat.monotonic()
        with pytest.raises(Interrupted):
            client.blocking_request(Message.request("hang"), timeout=WAIT)
        assert compat.monotonic() - start < WAIT / 2
    finally:
        killer.join(WAIT)
        signal.signal(signal.SIGUSR1, previous)
    assert len(client._table) == 0
    claims = spy_claims(client)
    for _ in range(3):
        reply, _ = client.blocking_request(Message.request("hang"), timeout=1.0)
        assert reply.reply_ok()
    if cls is BlockingClient:
        me = threading.current_thread()
        assert len(claims) == 3 and all(ok and thread is me for _, ok, thread in claims)
    assert len(client._table) == 0


# ---------------------------------------------------------------------------
# Many callers: whichever is waiting reads for all (issue #16, point 1)

def burst_script(greeting, count):
    """Read ``count`` requests, then answer them all in one send, last first,
    each reply after an inform; then answer each request ``ok``."""
    def script(conn):
        conn.send(*greeting)
        lines = [conn.read_line() for _ in range(count)]
        out = []
        for line in reversed(lines):
            _, _, args = request_parts(line)
            out += [reply_line(line, b"i", *args, inform=True), reply_line(line, b"ok", *args)]
        conn.send(*out)
        while True:
            conn.send(reply_line(conn.read_line(), b"ok"))
    return script


def spy_wake_in_turn(monkeypatch):
    """Record (count, thread) for every batch of callers woken in turn."""
    import katcp_sync.client_dispatch as client_dispatch
    woken = []
    real = client_dispatch.wake_in_turn

    def spy(delivered):
        woken.append((len(delivered), threading.current_thread()))
        real(delivered)
    monkeypatch.setattr(client_dispatch, "wake_in_turn", spy)
    return woken


def burst_callers(client, count):
    """``count`` threads make one request each at once; each gets its own
    reply and inform (see burst_script)."""
    results = {}

    def caller(i):
        # Distinct names, so that without ids all are on the wire at once.
        msg = Message.request("op%d" % i, str(i))
        results[i] = client.blocking_request(msg, timeout=WAIT)
    threads = [threading.Thread(target=caller, args=(i,), name="caller-%d" % i)
               for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT)
    assert not any(thread.is_alive() for thread in threads)
    for i, (reply, informs) in results.items():
        assert reply.name == "op%d" % i and reply.arguments == [b"ok", str(i).encode()]
        assert [inform.arguments for inform in informs] == [[b"i", str(i).encode()]]
    assert len(results) == count and len(client._table) == 0


@pytest.mark.parametrize("flags", [b"5.1-MI", b"5.0-M"], ids=["mids", "no-mids"])
def test_a_burst_of_replies_reaches_every_caller_read_by_one_of_them(scripted, make_client,
                                                                    monkeypatch, flags):
    """Callers that overlap share the reading: the one that borrowed it
    delivers the others' replies and informs (matched by id and name, or by
    name alone without ids) on its own thread, and each caller gets its own.
    It wakes those it read for in turn, once the lines of a read are offered."""
    count = 12
    server = scripted(burst_script(v5_greeting(flags), count))
    client = make_client(server.port)
    claims = spy_claims(client)
    woken = spy_wake_in_turn(monkeypatch)
    burst_callers(client, count)
    # Some caller's reply was read, and delivered, by another caller.
    for_others = [line for line, claimed, thread in claims
                  if claimed and line.startswith(b"!")
                  and thread.name != "caller-%s" % line.split()[-1].decode()]
    assert for_others
    readers = set(thread for _, _, thread in claims)
    assert sum(n for n, thread in woken if thread in readers) == len(for_others)
    assert client.blocking_request(Message.request("after"))[0].reply_ok()


@pytest.mark.parametrize("flags", [b"5.1-MI", b"5.0-M"], ids=["mids", "no-mids"])
def test_callers_answered_in_one_batch_are_woken_in_turn(scripted, make_client, monkeypatch,
                                                         flags):
    """Replies that the reactor reads in one batch wake their callers one
    after the other (each woken caller wakes the next), and every caller
    gets its own reply and informs."""
    count = 6
    server = scripted(burst_script(v5_greeting(flags), count))
    client = make_client(server.port, cls=NoBorrowClient)
    woken = spy_wake_in_turn(monkeypatch)
    burst_callers(client, count)
    assert sum(n for n, _ in woken) == count and max(n for n, _ in woken) > 1


def reading(client, server):
    """Wait until the caller of ``?a`` sent it: it borrowed reading first."""
    assert server.received.get(timeout=WAIT).startswith(b"?a")
    assert client._conn._borrow.borrowed


def test_reader_times_out_while_another_caller_waits(scripted, make_client):
    """The caller reading for others gives up (timeout): reading goes back
    to the reactor, which delivers the other caller's reply."""
    a_gave_up = threading.Event()

    def script(conn):
        conn.send(*v5_greeting())
        conn.read_line()                 # a: never answered
        b = conn.read_line()
        a_gave_up.wait(WAIT)
        conn.send(reply_line(b, b"ok"))
        while True:
            conn.send(reply_line(conn.read_line(), b"ok"))
    server = scripted(script)
    client = make_client(server.port)
    outcome = {}

    def a():
        try:
            client.blocking_request(Message.request("a"), timeout=0.3)
        except KatcpTimeoutError as exc:
            outcome["a"] = exc
        a_gave_up.set()

    reader = threading.Thread(target=a)
    reader.start()
    reading(client, server)
    reply, _ = client.blocking_request(Message.request("b"), timeout=WAIT)
    reader.join(WAIT)
    assert reply.reply_ok() and isinstance(outcome["a"], KatcpTimeoutError)
    assert len(client._table) == 0


class ReaderInterrupted(BaseException):
    """Raised in the reading caller while it delivers another's reply."""


def test_reader_interrupted_while_reading_for_another(scripted, make_client):
    """The reading caller is interrupted (a BaseException, as
    KeyboardInterrupt) as it takes another caller's reply: its own request
    is given up, and the line it did not take is handed over to the reactor
    and reaches its caller."""
    def script(conn):
        conn.send(*v5_greeting())
        a = conn.read_line()
        b = conn.read_line()
        conn.send(reply_line(b, b"ok", b"b"), reply_line(a, b"ok", b"a"))
        while True:
            conn.send(reply_line(conn.read_line(), b"ok"))
    server = scripted(script)
    client = make_client(server.port)
    claim = client._claim
    raised = []

    def interrupting_claim(line, **kwargs):
        if line.startswith(b"!b") and not raised:
            raised.append(threading.current_thread())
            raise ReaderInterrupted()
        return claim(line, **kwargs)
    client._claim = interrupting_claim
    outcome = {}

    def a():
        try:
            client.blocking_request(Message.request("a"), timeout=WAIT)
        except ReaderInterrupted as exc:
            outcome["a"] = exc

    reader = threading.Thread(target=a)
    reader.start()
    reading(client, server)
    reply, _ = client.blocking_request(Message.request("b"), timeout=WAIT)
    reader.join(WAIT)
    assert reply.arguments == [b"ok", b"b"]
    assert raised == [reader] and isinstance(outcome["a"], ReaderInterrupted)
    assert len(client._table) == 0
    assert client.blocking_request(Message.request("a"), timeout=WAIT)[0].reply_ok()


def test_the_main_thread_reads_only_for_itself(scripted, make_client):
    """Signals (KeyboardInterrupt) interrupt the main thread, so it never
    takes another caller's reply out of the table: read by the main
    thread, that reply is handed over to the reactor, which delivers it."""
    assert threading.current_thread() is compat.main_thread()

    def script(conn):
        conn.send(*v5_greeting())
        b, a = sorted([conn.read_line(), conn.read_line()], reverse=True)
        conn.send(reply_line(b, b"ok", b"b"), reply_line(a, b"ok", b"a"))
        while True:
            conn.send(reply_line(conn.read_line(), b"ok"))
    server = scripted(script)
    client = make_client(server.port)
    claims = spy_claims(client)
    results = {}
    other = threading.Thread(target=lambda: results.setdefault(
        "b", client.blocking_request(Message.request("b"), timeout=WAIT)))

    def start_other_once_borrowed():
        reading(client, server)
        other.start()
    starter = threading.Thread(target=start_other_once_borrowed)
    starter.start()
    reply, _ = client.blocking_request(Message.request("a"), timeout=WAIT)
    starter.join(WAIT)
    other.join(WAIT)
    assert reply.arguments == [b"ok", b"a"]
    assert results["b"][0].arguments == [b"ok", b"b"]
    main = compat.main_thread()
    assert [(ok, thread) for line, ok, thread in claims if line.startswith(b"!b")] == [
        (False, main)]
    assert not any(claimed and line.startswith(b"!b") for line, claimed, _ in claims)


def test_combined_writes_leave_at_once_from_the_writing_thread(scripted, make_client,
                                                              monkeypatch):
    """The thread that writes what others queued sends it itself, at once:
    it is no burst of its own (their callers wait for the replies), so it is
    not left in the buffer for the reactor to flush, which would cost a
    wake-up of the reactor per combined write."""
    # Any second write of a thread within a second would be a burst.
    monkeypatch.setattr(connection_writes, "_BURST_GAP", 1.0)
    server = scripted(echo_script(v5_greeting()))
    client = make_client(server.port)
    conn = client._conn
    real_write, real_send_now = conn.write, conn._send_now
    entered, go = threading.Event(), threading.Event()
    sent = []

    def slow_write(data):
        if not entered.is_set():
            entered.set()
            assert go.wait(WAIT)
        return real_write(data)

    def send_now(data):
        sent.append((bytes(data), threading.current_thread()))
        return real_send_now(data)
    conn.write, conn._send_now = slow_write, send_now
    writer = threading.Thread(target=client._write, args=(b"?first\n",))
    writer.start()
    assert entered.wait(WAIT)
    client._write(b"?a\n")
    client._write(b"?b\n")
    go.set()
    writer.join(WAIT)
    assert sent == [(b"?first\n", writer), (b"?a\n?b\n", writer)]
    assert [server.received.get(timeout=WAIT) for _ in range(3)] == [b"?first", b"?a", b"?b"]


@pytest.mark.parametrize("cls", [BlockingClient, NoBorrowClient], ids=["borrowing", "lock-wait"])
def test_a_caller_that_waited_sends_its_next_request_at_once(scripted, make_client,
                                                             monkeypatch, cls):
    """A thread that waited for its reply (reading it, or woken on its lock)
    sends its next request from its own thread at once: back-to-back
    requests are no burst to leave to the reactor."""
    monkeypatch.setattr(connection_writes, "_BURST_GAP", 1.0)
    server = scripted(echo_script(v5_greeting()))
    client = make_client(server.port, cls=cls)
    conn = client._conn
    real_send_now = conn._send_now
    sent = []

    def send_now(data):
        sent.append((bytes(data), threading.current_thread()))
        return real_send_now(data)
    conn._send_now = send_now
    for name in ("a", "b", "c"):
        assert client.blocking_request(Message.request(name), timeout=WAIT)[0].reply_ok()
    me = threading.current_thread()
    assert [(data[:2], thread) for data, thread in sent] == [
        (b"?a", me), (b"?b", me), (b"?c", me)]


def test_concurrent_writes_are_combined_in_order(scripted, make_client):
    """While one thread writes (here: held up in the connection's write),
    the others queue their bytes and return at once; the writing thread
    then sends them, in order, before it returns. Bytes queued for a
    connection that has been replaced are not sent on the new one."""
    server = scripted(echo_script(v5_greeting()))
    client = make_client(server.port)
    conn = client._conn
    real_write = conn.write
    entered, go = threading.Event(), threading.Event()

    def slow_write(data):
        if not entered.is_set():
            entered.set()
            assert go.wait(WAIT)
        return real_write(data)
    conn.write = slow_write
    writer = threading.Thread(target=client._write, args=(b"?first\n",))
    writer.start()
    assert entered.wait(WAIT)
    for i in range(5):      # would block on a lock if not combined
        client._write(b"?q %d\n" % i)
    stale = []

    class OldConnection(object):
        def write(self, data):
            stale.append(data)
    client._outbox.append((OldConnection(), b"?stale\n"))  # queued for an old connection
    client._write(b"?last\n")
    go.set()
    writer.join(WAIT)
    lines = [server.received.get(timeout=WAIT) for _ in range(7)]
    assert lines == [b"?first"] + [b"?q %d" % i for i in range(5)] + [b"?last"]
    assert server.received.empty() and not client._outbox
    assert stale == [b"?stale\n"]    # to the connection it was meant for (closed: dropped)


_CTRL_C_SCRIPT = r"""
import signal
import sys
# A shell starting the tests in the background makes SIGINT ignored: undo that.
signal.signal(signal.SIGINT, signal.default_int_handler)
from katcp_sync.client import BlockingClient
from katcp_sync.message import Message

class NoBorrow(BlockingClient):
    def handle_message(self, msg):
        super(NoBorrow, self).handle_message(msg)

how = sys.argv[2]
client = (NoBorrow if how == "lock-wait" else BlockingClient)("127.0.0.1", int(sys.argv[1]))
client.start()
assert client.wait_protocol(5)
try:
    if how == "future":
        client.future_request(Message.request("hang")).result(60)
    else:
        client.blocking_request(Message.request("hang"), timeout=60)
except KeyboardInterrupt:
    print("interrupted")
    sys.stdout.flush()
finally:
    client.stop()
    client.join(5)
"""


@pytest.mark.parametrize("how", ["borrowing", "lock-wait", "future"])
def test_ctrl_c_interrupts_a_blocking_script_within_a_second(scripted, how):
    """Issue 13: Ctrl-C (SIGINT) ends a script blocked waiting for a reply
    within 1 s, also on Python 2 (whose untimed lock waits ignore signals and
    whose timed ones poll)."""
    import signal
    import subprocess
    import sys

    server = scripted(first_hang_ignored_script(v5_greeting()))
    proc = subprocess.Popen([sys.executable, "-c", _CTRL_C_SCRIPT, str(server.port), how],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert server.received.get(timeout=WAIT).startswith(b"?hang")
        time.sleep(0.05)    # into the wait (it sent ?hang just before)
        start = compat.monotonic()
        proc.send_signal(signal.SIGINT)
        while proc.poll() is None and compat.monotonic() - start < WAIT:
            time.sleep(0.005)
        took = compat.monotonic() - start
        out, err = proc.communicate()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert b"interrupted" in out, err[-2000:]
    assert took < 1.0, took
