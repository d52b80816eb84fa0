"""Tests for katcp_sync.connection over real loopback sockets."""

from __future__ import absolute_import, division, print_function

import contextlib
import errno
import logging
import re
import socket
import struct
import threading
import time

import pytest

from katcp_sync import BlockingClient, DeviceServer, KATCPClientResource, compat
from katcp_sync.borrow import SpinPolicy
from katcp_sync.connection import Connection, Listener, connect, format_address, writer_waited
from katcp_sync.errors import KatcpTimeoutError, LineTooLongError
from katcp_sync.reactor import Reactor
from katcp_sync.tcp import check_address, check_port

from ordering_support import Barrier
from server_support import socket_closed, wait_for

TIMEOUT = 5.0



class Recorder(object):
    """A connection handler that records what it gets, with waitable state."""

    def __init__(self, echo=False):
        self.echo = echo
        self.lines = []
        self.batches = 0
        self.lost = []
        self.threads = set()
        self.cond = threading.Condition()
        self.lost_event = threading.Event()

    def lines_received(self, conn, lines):
        self.threads.add(threading.current_thread().name)
        with self.cond:
            self.lines.extend(lines)
            self.batches += 1
            self.cond.notify_all()
        if self.echo:
            conn.write_lines([line for line in lines if isinstance(line, bytes)])

    def connection_lost(self, conn, reason):
        self.threads.add(threading.current_thread().name)
        self.lost.append(reason)
        self.lost_event.set()

    def wait_lines(self, n):
        with self.cond:
            assert wait_for(self.cond, lambda: len(self.lines) >= n, TIMEOUT), self.lines[-5:]
        return self.lines

    def wait_lost(self):
        assert self.lost_event.wait(TIMEOUT), "connection_lost not called"
        return self.lost


def tcp_pair():
    """A connected (server side, client side) pair of TCP sockets on 127.0.0.1."""
    with contextlib.closing(socket.socket()) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        client = socket.create_connection(listener.getsockname(), timeout=TIMEOUT)
        server, _ = listener.accept()
    return server, client


@pytest.fixture
def pair(reactor):
    """(Connection, Recorder, client socket); closes everything afterwards."""
    made = []

    def make(handler=None, **kwargs):
        handler = handler or Recorder()
        server, client = tcp_pair()
        conn = Connection(reactor, server, handler, **kwargs)
        made.append((conn, client))
        return conn, handler, client

    yield make
    for conn, client in made:
        conn.close(flush=False)
        client.close()


def read_exactly(sock, n):
    chunks = []
    while n:
        data = sock.recv(min(n, 1 << 20))
        if not data:
            break
        chunks.append(data)
        n -= len(data)
    return b"".join(chunks)


def read_until_eof(sock):
    chunks = []
    while True:
        data = sock.recv(1 << 20)
        if not data:
            return b"".join(chunks)
        chunks.append(data)


# ----------------------------------------------------------------------
# Reading


def test_line_split_across_reads(pair):
    conn, rec, client = pair()
    for piece in (b"?he", b"lp", b" arg\n?wat", b"chdog\n"):
        client.sendall(piece)
    assert rec.wait_lines(2) == [b"?help arg", b"?watchdog"]


def test_byte_at_a_time(pair):
    conn, rec, client = pair()
    client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    data = b"?ping 1\n"
    for i in range(len(data)):
        client.sendall(data[i:i + 1])
    assert rec.wait_lines(1) == [b"?ping 1"]


def test_many_messages_arrive_in_few_batches(pair):
    conn, rec, client = pair()
    n = 5000
    client.sendall(b"".join(b"#inform %d\n" % i for i in range(n)))
    lines = rec.wait_lines(n)
    assert lines == [b"#inform %d" % i for i in range(n)]
    assert rec.batches < n // 10
    assert rec.threads == {"katcp-reactor"}


def test_cr_lf_and_blank_lines(pair):
    """Spec 2.1: a line ends at LF or CR; empty lines are ignored."""
    conn, rec, client = pair()
    client.sendall(b"?a\r\n?b\r?c\n\n  \n?d\n")
    assert rec.wait_lines(4) == [b"?a", b"?b", b"?c", b"?d"]


def test_over_long_line_becomes_error_and_stream_continues(pair):
    conn, rec, client = pair(max_line_length=100)
    client.sendall(b"?ok 1\n" + b"x" * 5000 + b"\n?ok 2\n")
    lines = rec.wait_lines(3)
    assert lines[0] == b"?ok 1"
    assert isinstance(lines[1], LineTooLongError)
    assert lines[2] == b"?ok 2"
    assert not conn.closed  # the caller decides what to do about it


def test_exception_in_handler_is_logged_and_connection_survives(pair, caplog):
    class Fragile(Recorder):
        def lines_received(self, conn, lines):
            super(Fragile, self).lines_received(conn, lines)
            if b"boom" in lines:
                raise RuntimeError("handler bug")

    conn, rec, client = pair(Fragile())
    with caplog.at_level(logging.ERROR):
        client.sendall(b"boom\n")
        rec.wait_lines(1)
        client.sendall(b"after\n")
        assert rec.wait_lines(2)[1] == b"after"
    assert any("handler bug" in str(r.exc_info[1]) for r in caplog.records if r.exc_info)


def test_pause_and_resume_reading(reactor, pair):
    conn, rec, client = pair()
    reactor.run_sync(conn.pause_reading)
    client.sendall(b"?one\n")
    reactor.run_sync(lambda: None)
    reactor.run_sync(lambda: None)
    assert rec.lines == []
    reactor.run_sync(conn.resume_reading)
    assert rec.wait_lines(1) == [b"?one"]


class Nibbler(Recorder):
    """Takes at most ``take`` lines per call, none while ``wait`` (an Event)
    is given and not set, and leaves the rest for later; notes each batch
    (name, lines taken) in a log shared between handlers."""

    def __init__(self, name, log, take, wait=None):
        super(Nibbler, self).__init__()
        self.name, self.log, self.take, self.wait = name, log, take, wait

    def lines_received(self, conn, lines):
        take = self.take if self.wait is None or self.wait.is_set() or not self.lines else 0
        taken, rest = lines[:take], lines[take:]
        if taken:
            self.log.append((self.name, len(taken)))
            super(Nibbler, self).lines_received(conn, taken)
        return rest or None


@pytest.mark.parametrize("borrowable", [False, True])
def test_lines_left_for_later_come_back_in_order_after_others(pair, borrowable):
    """A handler may leave a tail of a batch for later (the server does when
    a batch takes too long): it gets those lines back, in order, before
    anything read after them, while the reactor serves others meanwhile;
    the peer's end is seen only after them (old code: the tail was lost)."""
    log = []
    other_served = threading.Event()
    conn_a, rec_a, peer_a = pair(Nibbler("a", log, 10, wait=other_served),
                                 borrowable=borrowable)
    conn_b, rec_b, peer_b = pair(Nibbler("b", log, 10), borrowable=borrowable)
    lines = [("?line %d" % i).encode() for i in range(200)]
    peer_a.sendall(b"\n".join(lines) + b"\n")
    peer_a.shutdown(socket.SHUT_WR)
    rec_a.wait_lines(10)   # the first ten; the rest are held until b is served
    peer_b.sendall(b"?other\n")
    assert rec_b.wait_lines(1) == [b"?other"]
    other_served.set()
    assert rec_a.wait_lines(200) == lines
    assert rec_a.wait_lost() == ["connection closed by peer"]
    assert log == [("a", 10), ("b", 1)] + [("a", 10)] * 19


def test_no_reading_while_lines_are_held(reactor, pair):
    """Lines left for later hold reading back: nothing more is read from
    that peer until they are handled (bounded memory for a flood)."""
    gate = threading.Event()

    class Holder(Recorder):
        def lines_received(self, conn, lines):
            if not gate.is_set():
                return lines   # not yet: keep them coming back
            return super(Holder, self).lines_received(conn, lines)

    conn, rec, peer = pair(Holder())
    peer.sendall(b"?first\n")
    wait_for_held = compat.monotonic() + TIMEOUT
    while reactor.run_sync(lambda: conn._held) is None:
        assert compat.monotonic() < wait_for_held
    peer.sendall(b"?second\n")
    for _ in range(5):   # several reactor iterations: ?second stays unread
        assert reactor.run_sync(lambda: conn._held) == [b"?first"]
    gate.set()
    assert rec.wait_lines(2) == [b"?first", b"?second"]


# ----------------------------------------------------------------------
# Writing


def test_write_and_write_lines(pair):
    conn, rec, client = pair()
    assert conn.write(b"#a 1\n")
    assert conn.write(bytearray(b"#b 2\n"))
    assert conn.write_lines([b"#c 3", b"#d 4"])
    assert conn.write(b"") and conn.write_lines([])
    expected = b"#a 1\n#b 2\n#c 3\n#d 4\n"
    assert read_exactly(client, len(expected)) == expected


def test_write_from_reactor_thread_is_coalesced(reactor, pair):
    conn, rec, client = pair()
    sends = []
    real_send = conn._sock.send

    class CountingSocket(object):
        def __getattr__(self, name):
            return getattr(conn._sock_real, name)

        def send(self, data):
            sends.append(len(data))
            return real_send(data)

    def burst():
        conn._sock_real = conn._sock
        conn._sock = CountingSocket()
        for i in range(100):
            conn.write(b"#inform %d\n" % i)

    reactor.run_sync(burst)
    expected = b"".join(b"#inform %d\n" % i for i in range(100))
    assert read_exactly(client, len(expected)) == expected
    assert len(sends) == 1
    reactor.run_sync(lambda: setattr(conn, "_sock", conn._sock_real))


def test_write_from_other_thread_goes_out_without_the_reactor(reactor, pair):
    """Low latency: an isolated write from a worker thread needs no reactor hop."""
    conn, rec, client = pair()
    blocked, release = threading.Event(), threading.Event()
    reactor.add_callback(lambda: (blocked.set(), release.wait(TIMEOUT)))
    try:
        assert blocked.wait(TIMEOUT)
        conn.write(b"!reply ok\n")
        client.settimeout(TIMEOUT)
        assert read_exactly(client, 10) == b"!reply ok\n"
        for i in range(100):  # a burst: buffered for the reactor, order kept
            conn.write(b"#burst %d\n" % i)
    finally:
        release.set()
    expected = b"".join(b"#burst %d\n" % i for i in range(100))
    assert read_exactly(client, len(expected)) == expected


def test_a_writer_never_waits_for_the_reactors_send(reactor, pair):
    """Issue 16: the reactor lets the lock go around send(), so a thread
    fanning informs out to many clients never waits for a flush's syscall
    (held, the two took turns and every inform cost a send of its own)."""
    conn, rec, client = pair()
    in_send, release = threading.Event(), threading.Event()
    real_sock = conn._sock

    class SlowSocket:
        def __getattr__(self, name):
            return getattr(real_sock, name)

        def send(self, data):
            in_send.set()
            release.wait(TIMEOUT)
            return real_sock.send(data)

    def first():
        conn._sock = SlowSocket()
        conn.write(b"#first\n")   # the reactor's flush is stuck in send() ...

    reactor.add_callback(first)
    try:
        assert in_send.wait(TIMEOUT)
        wrote = threading.Event()
        writer = threading.Thread(target=lambda: (conn.write(b"#second\n"), wrote.set()))
        writer.start()
        assert wrote.wait(TIMEOUT / 2)   # ... and this write does not wait for it
        assert not release.is_set()
    finally:
        release.set()
        writer.join(TIMEOUT)
    client.settimeout(TIMEOUT)
    assert read_exactly(client, 15) == b"#first\n#second\n"
    reactor.run_sync(lambda: setattr(conn, "_sock", real_sock))


def test_write_ordering_from_eight_threads(pair):
    conn, rec, client = pair()
    n_threads, per_thread = 8, 3000
    barrier = Barrier(n_threads, timeout=TIMEOUT)

    def writer(tid):
        barrier.wait()
        for i in range(per_thread):
            if i % 3 == 2:
                conn.write_lines([b"#t %d %d" % (tid, i)])
            else:
                conn.write(b"#t %d %d\n" % (tid, i))

    threads = [threading.Thread(target=writer, args=(t,)) for t in range(n_threads)]
    for t in threads:
        t.start()
    received = bytearray()
    expected_lines = n_threads * per_thread
    client.settimeout(TIMEOUT)
    while received.count(b"\n") < expected_lines:
        data = client.recv(1 << 20)
        assert data
        received += data
    for t in threads:
        t.join(TIMEOUT)
    last = [-1] * n_threads
    lines = bytes(received).splitlines()
    assert len(lines) == expected_lines
    for line in lines:
        _, tid, i = line.split()
        tid, i = int(tid), int(i)
        assert i == last[tid] + 1
        last[tid] = i
    assert not conn.closed


def test_writer_waited_ends_a_burst(reactor, pair, monkeypatch):
    """A thread that has just waited for work (a worker starting a request)
    sends its next write itself even right after another write: without
    writer_waited() it would count as a burst and wait for the reactor."""
    import katcp_sync.connection_writes
    monkeypatch.setattr(katcp_sync.connection_writes, "_BURST_GAP", 60.0)  # every write a burst
    writer_waited()
    conn, rec, client = pair()
    blocked, release = threading.Event(), threading.Event()
    reactor.add_callback(lambda: (blocked.set(), release.wait(TIMEOUT)))
    try:
        assert blocked.wait(TIMEOUT)   # the reactor cannot flush anything now
        client.settimeout(TIMEOUT)
        for i in range(20):
            conn.write(b"!reply %d\n" % i)
            assert conn.buffered_bytes == 0   # sent by this thread
            assert read_exactly(client, len(b"!reply %d\n" % i)) == b"!reply %d\n" % i
            writer_waited()
    finally:
        release.set()


def test_a_burst_wakes_the_reactor_once_per_hold(reactor, pair, monkeypatch):
    """Where a lock lets the GIL go (Python 2: _BURST_HOLD), the reactor
    that has sent a burst's writes waits _BURST_HOLD before writers may wake
    it again: writes meanwhile only append, and leave when the hold ends
    (forced on here, on every Python). Without it the reactor was woken
    every few writes, a context switch every 5 informs of a fan-out."""
    import katcp_sync.connection_writes
    monkeypatch.setattr(katcp_sync.connection_writes, "_BURST_GAP", 60.0)  # every write a burst
    monkeypatch.setattr(katcp_sync.connection_writes, "_BURST_HOLD", 0.02)
    conn, rec, client = pair()
    client.settimeout(TIMEOUT)
    wakes = []
    add_callback = reactor.add_callback

    def counting_add_callback(fn, *args):
        if fn == conn._flush:
            wakes.append(fn)
        return add_callback(fn, *args)
    monkeypatch.setattr(reactor, "add_callback", counting_add_callback)
    writer_waited()
    conn.write(b"#burst 0\n")   # sent by this thread
    conn.write(b"#burst 1\n")   # a burst: left to the reactor, woken
    assert read_exactly(client, 18) == b"#burst 0\n#burst 1\n"
    for i in range(2, 50):
        conn.write(b"#burst %d\n" % i)   # in the hold: appended, nobody woken
    expected = b"".join(b"#burst %d\n" % i for i in range(2, 50))
    assert read_exactly(client, len(expected)) == expected   # sent when the hold ends
    assert len(wakes) == 1
    deadline = compat.monotonic() + TIMEOUT
    while conn._flush_pending and compat.monotonic() < deadline:
        time.sleep(0.005)   # (polling a private flag: no event to wait on)
    assert not conn._flush_pending   # the burst over, the next write wakes the reactor
    conn.write(b"#after\n")
    assert read_exactly(client, 7) == b"#after\n"
    assert len(wakes) == 2


def test_a_long_line_read_in_many_pieces_arrives_whole(pair):
    """A multi-MiB line comes in many reads (several per readiness, fed one
    by one) and arrives intact, followed by a short one."""
    conn, rec, client = pair(max_line_length=8 << 20)
    line = b"?big " + bytes(bytearray(range(33, 127))) * (4 * 1024 * 1024 // 94)
    client.sendall(line + b"\n?small 1\n")
    assert rec.wait_lines(2)[:2] == [line, b"?small 1"]


def test_big_write_through_reading_peer(pair):
    conn, rec, client = pair()
    big = bytes(bytearray(range(256))) * (8 * 1024 * 4)  # 8 MiB
    assert len(big) == 8 * 1024 * 1024
    assert conn.write(big)
    assert read_exactly(client, len(big)) == big
    assert not conn.closed


def test_big_write_from_reactor_thread(reactor, pair):
    conn, rec, client = pair()
    big = b"y" * (8 * 1024 * 1024)
    assert reactor.run_sync(conn.write, big)
    assert read_exactly(client, len(big)) == big


def test_echo_round_trip_through_listener(reactor):
    accepted = []
    rec = Recorder(echo=True)
    listener = Listener(reactor, "127.0.0.1", 0,
                        lambda sock, addr: accepted.append(Connection(reactor, sock, rec)))
    try:
        with contextlib.closing(socket.create_connection(listener.address, timeout=TIMEOUT)) as client:
            client.sendall(b"?echo 1\n?echo 2\n")
            assert read_exactly(client, 16) == b"?echo 1\n?echo 2\n"
    finally:
        listener.close()
    rec.wait_lost()


def test_non_reading_peer_is_disconnected_while_others_keep_low_latency(reactor, pair, caplog):
    stuck, stuck_rec, stuck_client = pair(max_write_buffer=1024 * 1024)
    echo, echo_rec, echo_client = pair(Recorder(echo=True))
    stop_flood = threading.Event()
    chunk = b"#flood " + b"z" * 65536 + b"\n"

    def flood():
        while not stop_flood.is_set() and stuck.write(chunk):
            pass

    with caplog.at_level(logging.WARNING, logger="katcp_sync.connection"):
        flooder = threading.Thread(target=flood)
        flooder.start()
        try:
            echo_client.settimeout(TIMEOUT)
            worst = 0.0
            for i in range(200):
                line = b"?ping %d\n" % i
                t0 = compat.monotonic()
                echo_client.sendall(line)
                assert read_exactly(echo_client, len(line)) == line
                worst = max(worst, compat.monotonic() - t0)
            reasons = stuck_rec.wait_lost()
        finally:
            stop_flood.set()
            flooder.join(TIMEOUT)
    assert reasons == ["client not reading: write buffer of 1048576 bytes exceeded"]
    assert stuck.closed and not stuck.write(b"more\n")
    assert not echo.closed
    # Generous bound: this is a liveness check, not a benchmark.
    assert worst < 1.0
    assert any("client not reading" in r.getMessage() for r in caplog.records)


def test_overflow_from_reactor_thread(reactor, pair):
    conn, rec, client = pair(max_write_buffer=10000)

    def fill():
        results = [conn.write(b"x" * 4000) for _ in range(4)]
        return results, conn.closed

    results, closed = reactor.run_sync(fill)
    assert results == [True, True, False, False] and closed
    assert rec.wait_lost() == ["client not reading: write buffer of 10000 bytes exceeded"]


# ----------------------------------------------------------------------
# Closing


def test_close_with_a_last_line_sends_nothing_after_it(pair):
    """close(last=...) queues the line in the same step as the close: a
    writer racing on another thread lands before it or is dropped, never
    after it (the server's #disconnect, spec 4.2). Old code had no ``last``:
    write-then-close let such a writer slip in between."""
    conn, rec, client = pair(max_write_buffer=64 * 1024 * 1024)
    go = threading.Event()
    stop = []

    def writer():
        go.set()
        while not stop:
            if not conn.write(b"#update\n"):
                break

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert go.wait(TIMEOUT)
        conn.close("bye", flush=True, timeout=TIMEOUT, last=b"#disconnect bye\n")
        client.settimeout(TIMEOUT)
        lines = read_until_eof(client).split(b"\n")
    finally:
        stop.append(True)
        thread.join(TIMEOUT)
    assert lines[-2:] == [b"#disconnect bye", b""]
    assert set(lines[:-2]) <= {b"#update"}
    assert conn.write(b"#late\n") is False


def test_close_with_flush_sends_everything_first(pair):
    conn, rec, client = pair(max_write_buffer=16 * 1024 * 1024)
    payload = b"".join(b"#data %07d\n" % i for i in range(200000))  # ~2.6 MB
    assert conn.write(payload)
    conn.close("bye", flush=True, timeout=TIMEOUT)
    conn.close("again")  # idempotent
    assert conn.closed
    assert conn.write(b"dropped\n") is False
    client.settimeout(TIMEOUT)
    assert read_until_eof(client) == payload
    assert rec.wait_lost() == ["bye"]
    assert rec.threads == {"katcp-reactor"}


def test_close_without_flush(pair):
    conn, rec, client = pair()
    conn.close(flush=False)
    client.settimeout(TIMEOUT)
    assert read_until_eof(client) == b""
    assert rec.wait_lost() == ["closed locally"]


def test_close_from_inside_lines_received_defers_connection_lost(pair):
    events = []

    class Closer(Recorder):
        def lines_received(self, conn, lines):
            events.append("lines")
            conn.write(b"!halt ok\n")
            conn.close("halted")
            events.append("returned")

        def connection_lost(self, conn, reason):
            events.append("lost")
            super(Closer, self).connection_lost(conn, reason)

    conn, rec, client = pair(Closer())
    client.sendall(b"?halt\n?ignored\n")
    client.settimeout(TIMEOUT)
    assert read_until_eof(client) == b"!halt ok\n"
    assert rec.wait_lost() == ["halted"]
    assert events == ["lines", "returned", "lost"]


def test_flush_timeout_bounds_close(pair):
    conn, rec, client = pair(max_write_buffer=64 * 1024 * 1024)
    conn.write(b"q" * (32 * 1024 * 1024))  # far more than the socket buffers hold
    t0 = compat.monotonic()
    conn.close("give up", flush=True, timeout=0.1)
    assert rec.wait_lost() == ["give up"]
    assert compat.monotonic() - t0 < 2.0


def test_peer_reset_mid_write(pair):
    conn, rec, client = pair(max_write_buffer=64 * 1024 * 1024)
    conn.write(b"r" * (8 * 1024 * 1024))
    client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    client.close()  # sends RST
    reasons = rec.wait_lost()
    assert len(reasons) == 1
    assert reasons[0].startswith(("connection error", "send failed", "connection closed by peer"))
    assert not conn.write(b"late\n")


def test_half_closed_peer_gets_its_replies_then_connection_lost(pair):
    conn, rec, client = pair(Recorder(echo=True))
    client.sendall(b"?last-words\n")
    client.shutdown(socket.SHUT_WR)
    client.settimeout(TIMEOUT)
    assert read_until_eof(client) == b"?last-words\n"
    assert rec.wait_lost() == ["connection closed by peer"]


def test_connection_lost_exactly_once_under_racing_closes(reactor, pair):
    conn, rec, client = pair()
    threads = [threading.Thread(target=conn.close, args=("race %d" % i,)) for i in range(8)]
    for t in threads:
        t.start()
    client.close()
    for t in threads:
        t.join(TIMEOUT)
    rec.wait_lost()
    reactor.run_sync(lambda: None)
    assert len(rec.lost) == 1


def test_reactor_stop_closes_connections(pair):
    reactor = Reactor()
    reactor.start()
    rec = Recorder()
    server, client = tcp_pair()
    try:
        conn = Connection(reactor, server, rec)
        conn.write(b"#last\n")
        reactor.stop(TIMEOUT)
        assert rec.lost == ["reactor stopped"]
        assert conn.closed and socket_closed(server)
        client.settimeout(TIMEOUT)
        assert read_until_eof(client) == b"#last\n"
    finally:
        client.close()


def test_connection_on_closed_reactor_closes_socket():
    reactor = Reactor()
    reactor.stop()
    server, client = tcp_pair()
    try:
        rec = Recorder()
        conn = Connection(reactor, server, rec)
        assert conn.closed and socket_closed(server)
        assert conn.write(b"x\n") is False
    finally:
        client.close()


def test_addresses(pair):
    conn, rec, client = pair()
    host, port = client.getsockname()
    assert conn.peer == (host, port)
    assert conn.address == "%s:%d" % (host, port)
    assert conn.sockname == client.getpeername()
    assert conn.buffered_bytes == 0
    assert format_address(("::1", 7147, 0, 0)) == "[::1]:7147"


# ----------------------------------------------------------------------
# Listener


def test_listener_port_zero_reports_real_port(reactor):
    listener = Listener(reactor, "127.0.0.1", 0, lambda s, a: s.close())
    try:
        assert listener.address[0] == "127.0.0.1" and listener.address[1] > 0
    finally:
        listener.close()


def test_listener_all_interfaces(reactor):
    got = threading.Event()
    listener = Listener(reactor, "", 0, lambda s, a: (s.close(), got.set()))
    try:
        assert listener.address[0] == "0.0.0.0"
        socket.create_connection(("127.0.0.1", listener.address[1]), timeout=TIMEOUT).close()
        assert got.wait(TIMEOUT)
    finally:
        listener.close()


def test_listener_bind_error_is_synchronous(reactor):
    first = Listener(reactor, "127.0.0.1", 0, lambda s, a: s.close())
    try:
        with contextlib.closing(socket.socket()) as holder:
            holder.bind(("127.0.0.1", 0))
            holder.listen(1)
            with pytest.raises(OSError):
                Listener(reactor, "127.0.0.1", holder.getsockname()[1], lambda s, a: None)
    finally:
        first.close()


def _ipv6_available():
    try:
        with contextlib.closing(socket.socket(socket.AF_INET6)) as s:
            s.bind(("::1", 0))
        return True
    except compat.SOCKET_ERRORS:
        return False


@pytest.mark.skipif(not _ipv6_available(), reason="no IPv6 loopback")
def test_listener_and_connection_over_ipv6(reactor):
    conns = []
    accepted = threading.Event()

    def on_accept(sock, addr):
        conns.append(Connection(reactor, sock, Recorder()))
        accepted.set()

    listener = Listener(reactor, "::1", 0, on_accept)
    try:
        assert listener.address[0] == "::1"
        with contextlib.closing(socket.create_connection(("::1", listener.address[1]), timeout=TIMEOUT)) as client:
            assert accepted.wait(TIMEOUT)
            port = client.getsockname()[1]
            assert conns[0].address == "[::1]:%d" % port
    finally:
        listener.close()
        for c in conns:
            c.close(flush=False)


def test_listener_accepts_500_simultaneous_connects(reactor):
    n = 500
    count = [0]
    all_in = threading.Event()

    def on_accept(sock, addr):
        assert reactor.in_reactor_thread()
        sock.close()
        count[0] += 1
        if count[0] == n:
            all_in.set()

    listener = Listener(reactor, "127.0.0.1", 0, on_accept, backlog=1024)
    clients = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex(listener.address)
            clients.append(s)
        assert all_in.wait(TIMEOUT), "accepted only %d" % count[0]
    finally:
        listener.close()
        for s in clients:
            s.close()


def test_listener_close_stops_accepting(reactor):
    listener = Listener(reactor, "127.0.0.1", 0, lambda s, a: s.close())
    address = listener.address
    listener.close()
    listener.close()
    reactor.run_sync(lambda: None)
    with pytest.raises(compat.SOCKET_ERRORS):
        socket.create_connection(address, timeout=TIMEOUT).close()


def test_listener_on_accept_exception_is_logged(reactor, caplog):
    def bad(sock, addr):
        raise ValueError("accept bug")

    listener = Listener(reactor, "127.0.0.1", 0, bad)
    try:
        with caplog.at_level(logging.ERROR):
            with contextlib.closing(socket.create_connection(listener.address, timeout=TIMEOUT)) as client:
                client.settimeout(TIMEOUT)
                assert client.recv(10) == b""  # closed by the listener
        assert any("accept bug" in str(r.exc_info[1]) for r in caplog.records if r.exc_info)
    finally:
        listener.close()


# ----------------------------------------------------------------------
# connect()


class Outcome(object):
    """An ``on_done`` callback for connect() that can be waited for."""

    def __init__(self):
        self.done = threading.Event()
        self.sock = self.exc = None
        self.calls = 0

    def __call__(self, sock, exc):
        self.calls += 1
        self.sock, self.exc = sock, exc
        self.done.set()

    def wait(self):
        assert self.done.wait(TIMEOUT), "on_done not called"
        return self.sock, self.exc


def test_connect_success(reactor):
    with contextlib.closing(socket.socket()) as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        outcome = Outcome()
        threads = []
        connect(reactor, "127.0.0.1", server.getsockname()[1], TIMEOUT,
                lambda s, e: (threads.append(reactor.in_reactor_thread()), outcome(s, e)))
        sock, exc = outcome.wait()
        try:
            assert exc is None and threads == [True]
            assert sock.getpeername() == server.getsockname()
            assert sock.gettimeout() == 0.0
        finally:
            sock.close()


def test_connect_by_name_resolves_off_reactor(reactor):
    with contextlib.closing(socket.socket()) as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        outcome = Outcome()
        connect(reactor, "localhost", server.getsockname()[1], TIMEOUT, outcome)
        sock, exc = outcome.wait()
        assert exc is None, exc
        sock.close()


def test_connect_refused(reactor):
    with contextlib.closing(socket.socket()) as closed_port:
        closed_port.bind(("127.0.0.1", 0))
        port = closed_port.getsockname()[1]
    outcome = Outcome()
    connect(reactor, "127.0.0.1", port, TIMEOUT, outcome)
    sock, exc = outcome.wait()
    assert sock is None and isinstance(exc, compat.ConnectionRefusedError)


def test_connect_unknown_name(reactor):
    outcome = Outcome()
    connect(reactor, "no-such-host.invalid", 7147, TIMEOUT, outcome)
    sock, exc = outcome.wait()
    assert sock is None and isinstance(exc, OSError)


@pytest.fixture
def full_port():
    """The port of a listener whose accept queue is full, so new connects hang."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    fillers = []
    for _ in range(3):
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex(server.getsockname())
        fillers.append(s)
    yield server.getsockname()[1]
    server.close()
    for s in fillers:
        s.close()


def test_connect_timeout(reactor, full_port):
    outcome = Outcome()
    t0 = compat.monotonic()
    connect(reactor, "127.0.0.1", full_port, 0.2, outcome)
    sock, exc = outcome.wait()
    if sock is not None:  # pragma: no cover - the kernel accepted anyway
        sock.close()
        pytest.skip("accept queue did not fill up on this kernel")
    assert isinstance(exc, KatcpTimeoutError) and isinstance(exc, compat.TimeoutError)
    assert 0.15 < compat.monotonic() - t0 < 3.0


def test_connect_cancel_and_reactor_stop(full_port):
    reactor = Reactor()
    reactor.start()
    try:
        cancelled, stopped = Outcome(), Outcome()
        attempt = connect(reactor, "127.0.0.1", full_port, None, cancelled)
        attempt.cancel()
        assert isinstance(cancelled.wait()[1], compat.ConnectionAbortedError)
        connect(reactor, "127.0.0.1", full_port, None, stopped)
        reactor.run_sync(lambda: None)
        reactor.stop(TIMEOUT)
        assert isinstance(stopped.wait()[1], compat.ConnectionAbortedError)
        assert cancelled.calls == 1 and stopped.calls == 1
    finally:
        reactor.stop(TIMEOUT)


def test_stopping_a_never_started_reactor_releases_sockets():
    reactor = Reactor()
    server, client = tcp_pair()
    try:
        rec = Recorder()
        conn = Connection(reactor, server, rec)
        listener = Listener(reactor, "127.0.0.1", 0, lambda s, a: s.close())
        reactor.stop()
        assert conn.closed and socket_closed(server)
        assert rec.lost == ["reactor stopped"]
        assert listener.closed and socket_closed(listener._sock)
    finally:
        client.close()


class _FailingAccept(object):
    """Stands in for a listening socket: accept() fails with EMFILE
    ``failures`` times, then works."""

    def __init__(self, sock, failures):
        self._sock = sock
        self.failures = failures

    def accept(self):
        if self.failures:
            self.failures -= 1
            raise OSError(errno.EMFILE, "Too many open files")
        return self._sock.accept()

    def __getattr__(self, name):
        return getattr(self._sock, name)


def test_listener_backs_off_when_out_of_file_descriptors(reactor, monkeypatch, caplog):
    from katcp_sync import tcp as tcp_module
    monkeypatch.setattr(tcp_module, "_ACCEPT_RETRY_DELAY", 0.01)
    accepted = threading.Event()
    listener = Listener(reactor, "127.0.0.1", 0, lambda s, a: (s.close(), accepted.set()))
    real = listener._sock
    reactor.run_sync(setattr, listener, "_sock", _FailingAccept(real, 1))
    try:
        with caplog.at_level(logging.ERROR, logger="katcp_sync.tcp"):
            with contextlib.closing(socket.create_connection(listener.address, timeout=TIMEOUT)):
                assert accepted.wait(TIMEOUT)
        assert any("cannot accept" in r.getMessage() for r in caplog.records)
    finally:
        reactor.run_sync(setattr, listener, "_sock", real)
        listener.close()


# ---------------------------------------------------------------------------
# Borrowed reading (module docstring, "Borrowed reading")

borrow_only = pytest.mark.skipif(not hasattr(__import__("select"), "epoll"),
                                 reason="borrowed reading needs epoll")


def count_selects(reactor):
    """Count the reactor's select() calls from now on (a spin shows as many)."""
    counter = [0]
    select_fn = reactor._selector.select

    def counting(timeout=None):
        counter[0] += 1
        return select_fn(timeout)
    reactor._selector.select = counting
    return counter


@borrow_only
def test_borrowed_read_claims_then_hands_over_in_order(reactor, pair):
    conn, rec, peer = pair(borrowable=True)
    peer.sendall(b"before\n")
    rec.wait_lines(1)
    assert conn.borrow_reading()
    try:
        selects = count_selects(reactor)
        peer.sendall(b"mine1\nmine2\n")
        claimed = []
        conn.read_borrowed(lambda line: line.startswith(b"mine") and not claimed.append(line),
                           lambda: len(claimed) == 2, TIMEOUT)
        assert claimed == [b"mine1", b"mine2"]
        # Data while borrowed: the reactor does not see it, and does not spin.
        peer.sendall(b"mine3\nother1\nmine4\n")
        time.sleep(0.1)
        assert rec.lines == [b"before"]
        assert selects[0] <= 2
        conn.read_borrowed(lambda line: line.startswith(b"mine") and not claimed.append(line),
                           lambda: False, TIMEOUT)
        assert claimed == [b"mine1", b"mine2", b"mine3"]
    finally:
        conn.return_reading()
    peer.sendall(b"after\n")
    # The first line not claimed and everything after it go to the reactor, in order.
    assert rec.wait_lines(4) == [b"before", b"other1", b"mine4", b"after"]
    assert rec.threads == {reactor.name}


@borrow_only
def test_only_borrowable_connections_carry_the_borrowing_machinery(reactor, pair):
    """Issue 12 point 2: the fast path is one helper (katcp_sync.borrow) that a
    connection has only when made borrowable; a plain (server) connection has
    none, and its reactor reads go straight to _read (no read lock)."""
    from katcp_sync.borrow import ReadBorrow
    plain, rec, peer = pair()
    assert plain._borrow is None and plain._on_readable == plain._read_now
    peer.sendall(b"a\n")
    assert rec.wait_lines(1) == [b"a"]
    borrowable, rec, peer = pair(borrowable=True, spin_time=0.001)
    assert isinstance(borrowable._borrow, ReadBorrow)
    assert borrowable.spin_time == 0.001 == borrowable._borrow.spin_time
    borrowable.spin_time = 0
    assert borrowable._borrow.spin_time == 0
    peer.sendall(b"b\n")
    assert rec.wait_lines(1) == [b"b"]


def test_tcp_plumbing_stays_importable_from_connection():
    """Issue 12 point 2: Listener, connect, ... live in katcp_sync.tcp; the
    old import path (the CLI's, users') still works."""
    from katcp_sync import connection, tcp
    for name in ("Listener", "ConnectAttempt", "connect", "format_address", "format_seconds"):
        assert getattr(connection, name) is getattr(tcp, name)


@borrow_only
def test_borrow_refused_when_not_possible(reactor, pair):
    conn, rec, peer = pair()
    assert not conn.borrow_reading()           # not borrowable
    conn, rec, peer = pair(borrowable=True)
    assert not reactor.run_sync(conn.borrow_reading, timeout=TIMEOUT)  # reactor thread
    assert conn.borrow_reading()
    try:
        assert not conn.borrow_reading()       # already borrowed
    finally:
        conn.return_reading()
    conn.close()
    assert not conn.borrow_reading()           # closing


@borrow_only
def test_borrowed_read_timeout_and_eof_left_for_the_reactor(reactor, pair):
    conn, rec, peer = pair(borrowable=True)
    assert conn.borrow_reading()
    try:
        start = compat.monotonic()
        conn.read_borrowed(lambda line: True, lambda: False, 0.1)
        assert 0.09 < compat.monotonic() - start < TIMEOUT
        peer.sendall(b"last\n")
        peer.close()
        got = []
        conn.read_borrowed(lambda line: not got.append(line), lambda: False, TIMEOUT)
        assert got == [b"last"]
    finally:
        conn.return_reading()
    assert rec.wait_lost() == ["connection closed by peer"]
    assert rec.lines == []


@borrow_only
def test_close_wakes_the_borrower_and_the_socket_closes_after_it(reactor, pair):
    conn, rec, peer = pair(borrowable=True)
    assert conn.borrow_reading()
    try:
        reactor.call_later(0.05, conn.close, "bye", False)
        start = compat.monotonic()
        conn.read_borrowed(lambda line: True, lambda: False, TIMEOUT)
        assert compat.monotonic() - start < TIMEOUT / 2
        assert rec.wait_lost() == ["bye"]
        assert conn._sock.fileno() != -1       # still the borrower's
    finally:
        conn.return_reading()
    assert socket_closed(conn._sock)
    assert peer.recv(1) == b""


@borrow_only
def test_reactor_stop_during_a_borrow():
    reactor = Reactor()
    reactor.start()
    server, peer = tcp_pair()
    rec = Recorder()
    conn = Connection(reactor, server, rec, borrowable=True)
    try:
        assert conn.borrow_reading()
        try:
            threading.Thread(target=reactor.stop, args=(TIMEOUT,)).start()
            conn.read_borrowed(lambda line: True, lambda: False, TIMEOUT)
            assert rec.wait_lost() == ["reactor stopped"]
        finally:
            conn.return_reading()
        assert socket_closed(conn._sock)
        reactor.join(TIMEOUT)
    finally:
        reactor.stop(TIMEOUT)
        peer.close()


@borrow_only
def test_read_error_in_a_borrow_is_reported_by_the_reactor(reactor, pair):
    conn, rec, peer = pair(borrowable=True)
    assert conn.borrow_reading()
    try:
        peer.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        peer.close()   # RST
        conn.read_borrowed(lambda line: True, lambda: False, TIMEOUT)
    finally:
        conn.return_reading()
    assert rec.wait_lost()[0].startswith("connection error:")


@borrow_only
def test_a_clean_borrow_parks_the_socket_until_the_timer_ends_it(reactor, pair):
    conn, rec, peer = pair(borrowable=True)
    for round in range(3):
        assert conn.borrow_reading()           # from parked after the first round
        try:
            peer.sendall(b"mine%d\n" % round)
            got = []
            conn.read_borrowed(lambda line: not got.append(line), lambda: bool(got), TIMEOUT)
            assert got == [b"mine%d" % round]
        finally:
            conn.return_reading()
        assert conn._borrow.parked
    # Nobody borrows: the reclaim timer gives the socket back to the reactor.
    peer.sendall(b"unsolicited\n")
    assert rec.wait_lines(1) == [b"unsolicited"]
    assert not conn._borrow.parked
    assert rec.threads == {reactor.name}


@borrow_only
def test_writing_to_a_parked_connection_gives_it_back_at_once(reactor, pair):
    conn, rec, peer = pair(borrowable=True)
    assert conn.borrow_reading()
    try:
        peer.sendall(b"mine\n")
        got = []
        conn.read_borrowed(lambda line: not got.append(line), lambda: bool(got), TIMEOUT)
    finally:
        conn.return_reading()
    assert conn._borrow.parked
    conn.write(b"?other\n")        # e.g. a future_request: its reply must not wait
    assert not conn._borrow.parked
    assert peer.recv(100) == b"?other\n"


@borrow_only
def test_a_borrow_that_timed_out_does_not_park(reactor, pair):
    conn, rec, peer = pair(borrowable=True)
    assert conn.borrow_reading()
    try:
        conn.read_borrowed(lambda line: True, lambda: False, 0.01)
    finally:
        conn.return_reading()
    assert not conn._borrow.parked
    peer.sendall(b"late\n")
    assert rec.wait_lines(1) == [b"late"]


class CountingPoller(object):
    """Wraps a select.poll object, counting non-blocking and blocking polls."""

    def __init__(self, poller):
        self._poller = poller
        self.spins = 0
        self.blocks = 0

    def poll(self, timeout=None):
        if timeout == 0:
            self.spins += 1
        else:
            self.blocks += 1
        return self._poller.poll(timeout)


def borrowed_round_trip(conn, peer, answer_after=0.0):
    """Borrow, have the peer send one line after a delay, read it, return."""
    timer = threading.Timer(answer_after, peer.sendall, (b"reply\n",))
    assert conn.borrow_reading()
    try:
        got = []
        timer.start()
        conn.read_borrowed(lambda line: not got.append(line), lambda: bool(got), TIMEOUT)
        assert got == [b"reply"]
    finally:
        conn.return_reading()
        timer.join(TIMEOUT)


@borrow_only
def test_a_borrower_spins_before_it_sleeps_while_replies_are_quick(reactor, pair):
    conn, rec, peer = pair(borrowable=True, spin_time=0.5)
    counter = conn._borrow._poller = CountingPoller(conn._borrow._poller)
    borrowed_round_trip(conn, peer, answer_after=0.01)
    assert counter.spins > 0 and counter.blocks == 0   # caught while spinning
    assert 0 < conn._borrow.spin_policy.reply_wait < 0.5


@borrow_only
def test_nobody_spins_while_replies_take_longer_than_the_spin_time(reactor, pair):
    conn, rec, peer = pair(borrowable=True, spin_time=0.005)
    counter = conn._borrow._poller = CountingPoller(conn._borrow._poller)
    borrowed_round_trip(conn, peer, answer_after=0.05)  # spins 5 ms, then sleeps
    assert counter.spins > 0 and counter.blocks > 0
    assert conn._borrow.spin_policy.reply_wait > 0.005
    counter.spins = counter.blocks = 0
    borrowed_round_trip(conn, peer, answer_after=0.05)
    assert counter.spins == 0 and counter.blocks > 0


@borrow_only
def test_spin_time_zero_never_spins(reactor, pair):
    conn, rec, peer = pair(borrowable=True, spin_time=0)
    counter = conn._borrow._poller = CountingPoller(conn._borrow._poller)
    borrowed_round_trip(conn, peer)
    assert counter.spins == 0 and counter.blocks > 0


# ----------------------------------------------------------------------
# Optional time limits on incoming lines (issue #11, point 10)

def test_partial_line_older_than_the_limit_closes_the_connection(pair, caplog):
    """A peer trickling one line byte by byte is cut off once the line is
    older than partial_line_timeout, however steadily the bytes come."""
    conn, rec, client = pair(partial_line_timeout=0.3)
    start = compat.monotonic()
    with caplog.at_level(logging.WARNING, logger="katcp_sync.connection"):
        for _ in range(int(TIMEOUT / 0.02)):
            if rec.lost_event.is_set():
                break
            try:
                client.send(b"x")
            except compat.SOCKET_ERRORS:
                break
            rec.lost_event.wait(0.02)
        assert rec.wait_lost() and "no end of line within 0.3 s" in rec.lost[0]
    assert 0.25 < compat.monotonic() - start < 2.0
    assert "closing connection: no end of line" in caplog.text
    assert client.recv(10) == b""   # closed on our side


def test_complete_lines_keep_a_connection_with_a_partial_line_limit_open(pair):
    """Lines that end in time never trip the limit, even when every read
    leaves the start of the next line behind."""
    conn, rec, client = pair(partial_line_timeout=0.2)
    deadline = compat.monotonic() + 0.6
    n = 0
    while compat.monotonic() < deadline:
        client.send(b"?a%d\n?b" % n)      # a line, then half of the next
        time.sleep(0.02)
        client.send(b"%d\n" % n)
        n += 1
    rec.wait_lines(2 * n)
    assert not rec.lost


def test_idle_connection_is_closed_after_the_idle_timeout(pair):
    conn, rec, client = pair(idle_timeout=0.3)
    start = compat.monotonic()
    for _ in range(3):                   # activity postpones it
        client.send(b"?ping\n")
        time.sleep(0.1)
    assert not rec.lost
    assert rec.wait_lost() == ["idle for 0.3 s"]
    assert 0.45 < compat.monotonic() - start < 2.5   # 0.3 s after the last byte (at 0.2 s)


def test_no_time_limits_by_default(pair):
    conn, rec, client = pair()
    client.send(b"?unfinished")
    assert conn._limits is None


def test_time_limits_are_checked(reactor):
    server, client = tcp_pair()
    try:
        with pytest.raises(ValueError):
            Connection(reactor, server, Recorder(), idle_timeout=0)
        assert socket_closed(server)
    finally:
        client.close()


# ----------------------------------------------------------------------
# Accept failures for lack of file descriptors (issue #11, point 12)

def test_emfile_accept_failures_are_logged_rate_limited_with_a_count(reactor, monkeypatch,
                                                                     caplog):
    """While the fd table is full the listener retries every
    _ACCEPT_RETRY_DELAY; it used to log an ERROR per retry (7,000 lines an
    hour). Now: the first failure, then a count at most every
    _ACCEPT_ERROR_LOG_INTERVAL, then one line when accepting works again."""
    from katcp_sync import tcp as tcp_module
    monkeypatch.setattr(tcp_module, "_ACCEPT_RETRY_DELAY", 0.002)
    monkeypatch.setattr(tcp_module, "_ACCEPT_ERROR_LOG_INTERVAL", 0.1, raising=False)
    accepted = threading.Event()
    listener = Listener(reactor, "127.0.0.1", 0, lambda s, a: (s.close(), accepted.set()))
    real = listener._sock
    fake = _FailingAccept(real, 100)
    reactor.run_sync(setattr, listener, "_sock", fake)
    start = compat.monotonic()
    with caplog.at_level(logging.WARNING, logger="katcp_sync.tcp"):
        client = socket.create_connection(listener.address, timeout=TIMEOUT)
        try:
            assert accepted.wait(TIMEOUT)
        finally:
            client.close()
    elapsed = compat.monotonic() - start
    reactor.run_sync(setattr, listener, "_sock", real)
    listener.close()
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert fake.failures == 0
    assert "cannot accept" in errors[0] and "Too many open files" in errors[0]
    assert len(errors) <= 2 + elapsed / 0.1, errors     # not one per failure
    counted = sum(int(m.split(" more accept failures")[0].rsplit(" ", 1)[1])
                  for m in errors[1:])
    recovered = [r.getMessage() for r in caplog.records if "accepting again" in r.getMessage()]
    assert len(recovered) == 1 and "after 100 failed accepts" in recovered[0]
    assert counted <= 99


def test_spin_policy_spins_only_while_spinning_waits_less():
    # A busy host: the spinning core is the one the peer needs, so replies
    # come later to a spinning caller. The policy must notice and sleep,
    # probing spinning ever more rarely; and spin again once that wins.
    policy = SpinPolicy()
    spin_time = 200e-6
    choices = []
    for _ in range(2000):
        spun = policy.spin(spin_time)
        choices.append(spun)
        policy.record(spun, 190e-6 if spun else 25e-6)
    assert choices[0]                                  # spins until it knows better
    assert sum(choices[-1000:]) <= 2                   # then sleeps, probing rarely
    assert not all(choices[-1000:]) and any(choices[100:])  # ... but does probe
    for _ in range(3000):
        spun = policy.spin(spin_time)
        choices.append(spun)
        policy.record(spun, 5e-6 if spun else 25e-6)   # an idle host: spinning wins
    assert sum(choices[-500:]) >= 490


def test_spin_policy_never_spins_for_a_slow_device():
    policy = SpinPolicy()
    for _ in range(50):
        spun = policy.spin(200e-6)
        policy.record_wait(0.01)
        policy.record(spun, 0.011)
    assert not any(policy.spin(200e-6) for _ in range(100))


@borrow_only
def test_only_a_borrow_that_read_its_own_reply_alone_times_a_mode(reactor, pair):
    # One that also read for other callers took as long as they did.
    conn, rec, peer = pair(borrowable=True, spin_time=0.5)
    policy = conn._borrow.spin_policy
    assert conn.borrow_reading()
    try:
        got = []
        peer.sendall(b"theirs\nmine\n")
        conn.read_borrowed(lambda line: not got.append(line), lambda: len(got) == 2, TIMEOUT)
    finally:
        conn.return_reading()
    assert got == [b"theirs", b"mine"] and policy._spinning == 0.0
    borrowed_round_trip(conn, peer)
    assert policy._spinning > 0.0


# -- port numbers: checked where servers and clients are made --------------------------

@pytest.mark.parametrize("make", [
    lambda port: BlockingClient("127.0.0.1", port),
    lambda port: DeviceServer("127.0.0.1", port),
    lambda port: KATCPClientResource(dict(name="r", address=("127.0.0.1", port))),
], ids=["client", "server", "resource"])
@pytest.mark.parametrize("port", [70000, 65536, -1, "x", None])
def test_a_port_out_of_range_is_refused_where_it_is_given(make, port):
    """getaddrinfo() takes 70000 as 4464: a server would listen, and a client
    connect, on a port nobody asked for."""
    with pytest.raises(ValueError, match="port must be a number from 0 to 65535, not " + re.escape(repr(port))):
        make(port)


@pytest.mark.parametrize("make", [
    lambda host: BlockingClient(host, 5000),
    lambda host: DeviceServer(host, 0),
    lambda host: KATCPClientResource(dict(name="r", address=(host, 5000))),
], ids=["client", "server", "resource"])
def test_a_host_with_a_port_in_it_is_refused_where_it_is_given(make):
    """``BlockingClient("device:5000", 5000)`` failed only at the first
    connect, with a name-lookup error that did not say why."""
    with pytest.raises(ValueError, match=re.escape(
            "host 'device:7147' includes a port: pass them apart, as ('device', 7147)")):
        make("device:7147")
    with pytest.raises(ValueError, match="host must be a name or address string, not 7147"):
        make(7147)


def test_check_address_takes_names_ipv4_and_ipv6():
    assert check_address("::1", 0) == ("::1", 0)
    assert check_address("fe80::1:2", "7147") == ("fe80::1:2", 7147)
    assert check_address(None, 0) == ("", 0)
    assert check_address(u"localhost", 1) == ("localhost", 1)
    assert check_address(b"localhost", 1) == ("localhost", 1)


def test_check_port_takes_numbers_and_digit_strings():
    assert [check_port(p) for p in (0, 5000, "7147", 65535)] == [0, 5000, 7147, 65535]
