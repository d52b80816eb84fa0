"""Faults: resets, half-closed sockets, stops under load, restarts, hung handlers,
failing user code and peers that do not read.

Everything runs against real sockets on 127.0.0.1 port 0. The point of each
test is that the fault stays with the peer or the code that caused it: the
reactor keeps running, other clients keep their data, nothing is leaked
(conftest checks threads after every test).
"""

from __future__ import absolute_import, division, print_function


import logging
import socket
import subprocess
import sys
import threading
import time

import pytest

from katcp_sync import compat
from katcp_sync.compat import queue, selectors

from katcp_sync.client import BlockingClient
from katcp_sync.client_base import MAX_TIMEOUT_HINT
from katcp_sync.errors import AsyncReply, KatcpTimeoutError
from katcp_sync.kattypes import request_timeout_hint
from katcp_sync.message import Message, parse
from katcp_sync.resource import KATCPClientResource
from katcp_sync.sensor import Sensor

from test_fuzz_server import FuzzServer, reset_close
from server_support import LineClient, communicate_child, wait_child
from client_support import ScriptedServer, reply_line, request_parts

TIMEOUT = 5.0
REPLY, INFORM = Message.REPLY, Message.INFORM


class FaultServer(FuzzServer):
    """A device with sensors, a hanging request and awaitable disconnects."""

    VERSION_INFO = ("fault-api", 1, 0)
    BUILD_INFO = ("fault-build", 1, 0, "")
    N_SENSORS = 4

    def __init__(self, *args, **kwargs):
        n_sensors = kwargs.pop("n_sensors", None)
        self._n_sensors = self.N_SENSORS if n_sensors is None else n_sensors
        self.release = threading.Event()
        self.hanging = threading.Event()
        super(FaultServer, self).__init__(*args, sensors=[], **kwargs)

    def setup_sensors(self):
        self.counter = Sensor.integer("counter", "Counts.", "", [0, 2 ** 31])
        self.blob = Sensor.string("blob", "A large string.", "")
        self.add_sensor(self.counter)
        self.add_sensor(self.blob)
        for i in range(self._n_sensors):
            self.add_sensor(Sensor.float("bulk.%05d" % i, "A sensor with a long description "
                                         + "x" * 150, "V", [-1e9, 1e9]))

    def request_hang(self, req, msg):
        """Block the handler thread until the test releases it."""
        self.hanging.set()
        if not self.release.wait(TIMEOUT):
            return req.make_reply("fail", "never released")
        return req.make_reply("ok", "released")


@pytest.fixture
def make_server():
    servers = []

    def make(cls=FaultServer, port=0, **kwargs):
        server = cls("127.0.0.1", port, **kwargs)
        server.start()
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.release.set()
        server.stop(TIMEOUT)
        assert server.join(TIMEOUT)


@pytest.fixture
def clients(connect):
    """Factory of LineClients, closed at the end (connect informs read):
    server_support's ``connect`` under the arguments these tests use."""
    return lambda server, read_connect=True: connect(server, skip_connect=read_connect)


@pytest.fixture
def no_crash_logs(caplog):
    """Fail if a reactor callback or a reactor itself logged an unexpected exception."""
    caplog.set_level(logging.WARNING)
    yield caplog
    crashes = [r for r in caplog.records
               if r.name == "katcp_sync.reactor" and r.levelno >= logging.ERROR]
    assert not crashes, "reactor logged: %s" % [r.getMessage() for r in crashes]


def small_receiver(server):
    """A raw socket with a tiny receive buffer, so the server's sends back up."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(TIMEOUT)
    sock.connect(server.bind_address)
    return sock


def watchdog_ok(client, mid=None):
    line = "?watchdog" if mid is None else "?watchdog[%d]" % mid
    return client.request(line)[1].arguments == [b"ok"]


# -- resets and half-closed sockets ------------------------------------------------


def test_peer_reset_while_a_large_sensor_list_is_being_written(make_server, clients, no_crash_logs):
    """RST mid-reply (server blocked on a full socket): only that peer is dropped."""
    server = make_server(n_sensors=3000)   # ?sensor-list is ~600 kB
    bystander = clients(server)
    for round_ in range(1, 11):
        sock = small_receiver(server)
        sock.sendall(b"?sensor-list\n?sensor-list\n?sensor-list\n")
        sock.recv(1000)  # the server is writing
        reset_close(sock)
        assert server.wait_disconnects(round_)
        assert watchdog_ok(bystander, round_)
    assert [c.address for c in server.get_clients()] == [bystander.address]
    informs, reply = bystander.request("?sensor-list /^bulk/")
    assert reply.arguments == [b"ok", b"3000"] and len(informs) == 3000


def test_peer_reset_while_informs_stream_out(make_server, clients, no_crash_logs):
    """RST while a thread floods #sensor-status: the writer thread and the reactor survive."""
    server = make_server()
    bystander = clients(server)
    bystander.request("?sensor-sampling counter event")
    stop = threading.Event()
    written = []

    def flood():
        value = 0
        while not stop.is_set():
            value += 1
            server.blob.set_value("y" * 2000 + str(value))
            server.counter.set_value(value)
        written.append(value)

    for round_ in range(1, 6):
        sock = small_receiver(server)
        sock.sendall(b"?sensor-sampling blob auto\n")
        flooder = threading.Thread(target=flood)
        flooder.start()
        try:
            sock.recv(1000)
        finally:
            reset_close(sock)
            assert server.wait_disconnects(round_)
            stop.set()
            flooder.join(TIMEOUT)
            stop.clear()
        # The bystander got every counter value, in order, up to the last one.
        values = []
        while not values or values[-1] != written[-1]:
            msg = bystander.read_message()
            if msg.name != "client-connected":
                assert msg.name == "sensor-status"
                values.append(int(msg.arguments[4]))
        assert values == list(range(values[0], written[-1] + 1))
    assert watchdog_ok(bystander)


def test_half_closed_client_still_gets_replies_produced_before_eof(make_server, clients):
    """shutdown(SHUT_WR) after requests: replies of built-in (reactor) requests arrive.

    Built-in requests (?watchdog, ?help, ...) run on the reactor as the
    lines are read, before the EOF is seen, so their replies are in the
    write buffer, which the server flushes (for up to a second) before it
    closes. The server then closes its side cleanly (a FIN, no reset).
    """
    server = make_server()
    client = clients(server)
    client.send("?watchdog[1]", "?help[2]", "?sensor-value[3] counter")
    client.sock.shutdown(socket.SHUT_WR)
    messages = client.read_all_until_closed()
    replies = [m for m in messages if m.mtype == REPLY]
    assert [(m.name, m.mid, m.arguments[0]) for m in replies] == [
        ("watchdog", b"1", b"ok"), ("help", b"2", b"ok"), ("sensor-value", b"3", b"ok")]
    assert server.wait_disconnects(1)
    assert server.get_clients() == []


def test_half_closed_client_and_a_handler_still_running(make_server, clients):
    """shutdown(SHUT_WR) while a pool handler runs: the server closes cleanly.

    Observed behaviour: the server takes the EOF as the end of the session
    (as katcp-python does). It flushes what is already written and closes
    its side with a FIN; a reply produced by a handler that is still
    running afterwards is dropped (write() on a closing connection is a
    no-op), never an error. The handler itself finishes normally and the
    worker is free for the next client.
    """
    server = make_server()
    client = clients(server)
    client.send("?hang[1]", "?watchdog[2]")
    assert server.hanging.wait(TIMEOUT)
    client.sock.shutdown(socket.SHUT_WR)
    assert server.wait_disconnects(1)
    server.release.set()
    messages = client.read_all_until_closed()   # EOF, no ConnectionResetError
    assert [m for m in messages if m.mtype == REPLY] == []
    other = clients(server)
    assert other.request("?echo[9] after")[1].encode() == b"!echo[9] ok after\n"


# -- stop() under load ---------------------------------------------------------------


def test_stop_with_100_busy_clients(make_server):
    """stop() while 100 clients pipeline requests and receive a flood of informs.

    Each client's stream ends with ``#disconnect`` and then EOF; stop()
    returns within its timeout and every server thread ends.
    """
    server = make_server(handler_workers=2)
    sel = selectors.DefaultSelector()
    received = {}
    for _ in range(100):
        sock = socket.create_connection(server.bind_address, TIMEOUT)
        sock.sendall(b"?sensor-sampling counter auto\n" + b"?echo busy\n" * 20)
        sock.setblocking(False)
        sel.register(sock, selectors.EVENT_READ)
        received[sock] = bytearray()
    stop = threading.Event()

    def flood():
        # About 1 kHz: busy, but each client's backlog stays far below what can
        # drain within DISCONNECT_TIMEOUT (a client that cannot drain its backlog
        # in time is cut off without the #disconnect, by design).
        value = 0
        while not stop.wait(0.001):
            value += 1
            server.counter.set_value(value)

    flooder = threading.Thread(target=flood)
    flooder.start()
    stopper = threading.Thread(target=server.stop, args=(TIMEOUT,))
    try:
        # Let every client get some traffic, then stop the server under it.
        deadline = compat.monotonic() + 2 * TIMEOUT
        open_ = set(received)
        while open_:
            assert compat.monotonic() < deadline, "%d clients never saw EOF" % len(open_)
            for key, _ in sel.select(0.1):
                data = key.fileobj.recv(65536)
                if data:
                    received[key.fileobj].extend(data)
                else:
                    open_.discard(key.fileobj)
                    sel.unregister(key.fileobj)
            if stopper.ident is None and all(len(received[s]) > 2000 for s in open_):
                stopper.start()
        stopper.join(TIMEOUT)
        assert not stopper.is_alive()
        assert server.join(TIMEOUT)
        for data in received.values():
            last = parse(bytes(data).rstrip(b"\n").rsplit(b"\n", 1)[-1])
            assert last.name == "disconnect"
    finally:
        stop.set()
        flooder.join(TIMEOUT)
        sel.close()
        for sock in received:
            sock.close()


def test_stop_with_100_busy_clients_sends_disconnect_last(make_server):
    """The #disconnect is each client's last line: nothing is sent after it."""
    server = make_server()
    clients_ = [LineClient(server.bind_address) for _ in range(100)]
    try:
        for client in clients_:
            client.send("?sensor-sampling counter event", "?echo a", "?echo b")
        for client in clients_:
            client.read_until(lambda m: m.name == "echo" and m.arguments[1:] == [b"b"])
        for value in range(50):
            server.counter.set_value(value)
        stopper = threading.Thread(target=server.stop, args=(TIMEOUT,))
        stopper.start()
        for value in range(50, 2000):
            server.counter.set_value(value)   # racing the stop: must not follow #disconnect
        for client in clients_:
            messages = client.read_all_until_closed()
            assert messages[-1].name == "disconnect"
            assert messages[-1].arguments == [b"Device server shutting down."]
        stopper.join(TIMEOUT)
        assert server.join(TIMEOUT)
    finally:
        for client in clients_:
            client.close()


# -- restart under a reconnecting client -------------------------------------------------


def server_strategies(server):
    """Every client's strategies on ``server``: [{sensor: (strategy, params...)}]."""
    result = []
    for conn in server.get_clients():
        table = {}
        for name, strategy in conn.sampling._strategies.items():
            fmt, params = strategy.get_sampling_formatted()
            table[name] = tuple(x.decode() for x in (fmt,) + tuple(params))
        result.append(table)
    return result


def test_restart_on_the_same_port_restores_strategies(make_server):
    """A high-level resource and a BlockingClient ride out two server restarts.

    After each restart the resource re-applies its strategies (seen in the
    new server's per-client table) and readings flow again; the blocking
    client reconnects and its requests work.
    """
    server = make_server()
    port = server.bind_address[1]
    res = KATCPClientResource(dict(name="dev", address=("127.0.0.1", port), controlled=True))
    res.start()
    client = BlockingClient("127.0.0.1", port)
    client.auto_reconnect_delay = 0.02
    client.start()
    try:
        res.until_synced(TIMEOUT)
        assert client.wait_protocol(TIMEOUT)
        res.sensor.counter.set_strategy("event")
        res.set_sampling_strategies("^bulk.0000[0-2]$", ("period", "0.5"))
        want = {"counter": ("event",), "bulk.00000": ("period", "0.5"),
                "bulk.00001": ("period", "0.5"), "bulk.00002": ("period", "0.5")}
        assert want in server_strategies(server)
        for generation in range(2):
            server.stop(TIMEOUT)
            assert server.join(TIMEOUT)
            res.until_state("disconnected", TIMEOUT)
            server = make_server(port=port)
            res.until_synced(10)
            value = 100 + generation
            server.counter.set_value(value)
            # The strategy is re-applied asynchronously after sync: wait for a reading.
            deadline = compat.monotonic() + TIMEOUT
            while not res.sensor.counter.wait(value, timeout=0.2):
                server.counter.set_value(value)
                assert compat.monotonic() < deadline, "strategy not restored"
            assert want in server_strategies(server)
            assert client.wait_protocol(TIMEOUT)
            reply, _ = client.blocking_request(Message.request("echo", generation))
            assert reply.arguments == [b"ok", str(generation).encode()]
    finally:
        res.stop()
        res.join(TIMEOUT)
        client.stop()
        client.join(TIMEOUT)


# -- a device that describes itself badly ---------------------------------------------


def badly_described_device(conn):
    """A 5.1 device (flag T) whose ?help, ?sensor-list and ?request-timeout-hint
    each have one malformed inform among good ones, and an endless hint."""
    conn.send(b"#version-connect katcp-protocol 5.1-MIBT")
    answers = {
        b"help": [b"", b"slow Takes\\_long.", b"fast Quick."],
        b"sensor-list": [b"temp Temperature", b"fine A\\_sensor. C float -10 50"],
        b"request-timeout-hint": [b"fast soon", b"slow inf"],
    }
    while True:
        line = conn.read_line()
        name, _, _ = request_parts(line)
        informs = answers.get(name, [])
        conn.send(*[reply_line(line, *inform.split(b" "), inform=True) if inform
                    else reply_line(line, inform=True) for inform in informs]
                  + [reply_line(line, b"ok", b"%d" % len(informs))])


def test_resource_syncs_with_a_device_that_describes_itself_badly(caplog):
    """KATCPClientResource: a malformed #help, #sensor-list or
    #request-timeout-hint inform (spec 5.1, 7.2) is logged and skipped, the
    rest of the device is usable; an infinite hint is capped, and the request
    relying on it works (the resource never synced before: one bad inform
    failed the whole inspection, retried for ever)."""
    server = ScriptedServer(badly_described_device)
    res = KATCPClientResource(dict(name="dev", address=("127.0.0.1", server.port),
                                   controlled=True))
    try:
        with caplog.at_level(logging.WARNING):
            res.start()
            res.until_synced(TIMEOUT)
        assert sorted(res.req) == ["fast", "slow"] and sorted(res.sensor) == ["fine"]
        assert res.req.slow.timeout_hint == MAX_TIMEOUT_HINT and res.req.fast.timeout_hint is None
        assert res.req.slow().succeeded
        for what in ("#help inform without a request name", "short #sensor-list inform",
                     "timeout hint 'soon' for ?fast is not a number"):
            assert what in caplog.text
    finally:
        res.stop()
        res.join(TIMEOUT)
        server.close()


def test_a_burst_of_interface_changed_costs_one_more_inspection():
    """Spec 4.2 ``#interface-changed``: a device that announces 500 changes in a
    burst, while the resource is inspecting it, gets one more round of
    ``?help``/``?sensor-list`` after the round in flight -- not one per inform
    (each one started a round: 500 full sensor lists asked of the device)."""
    rounds = []

    def device(conn):
        conn.send(b"#version-connect katcp-protocol 5.1-MIB")
        while True:
            line = conn.read_line()
            name, _, _ = request_parts(line)
            if name == b"sensor-list":
                rounds.append(line)
                informs = [reply_line(line, b"temp", b"T", b"C", b"float", b"0", b"9", inform=True)]
                if len(rounds) == 1:
                    informs += [b"#interface-changed sensor-list"] * 500
                conn.send(*informs + [reply_line(line, b"ok", b"1")])
            else:
                conn.send(reply_line(line, b"ok", b"0"))

    server = ScriptedServer(device)
    res = KATCPClientResource(dict(name="dev", address=("127.0.0.1", server.port)))
    try:
        res.start()
        res.until_synced(TIMEOUT)
        assert res.sensor.temp.name == "temp"
        assert len(rounds) == 2
    finally:
        res.stop()
        res.join(TIMEOUT)
        server.close()


# -- a hung handler -----------------------------------------------------------------------


def test_hung_handler_with_one_worker(make_server, clients):
    """A user handler blocked on an Event, with ``handler_workers=1`` (the default).

    Observed behaviour: built-in requests (``?watchdog``, ``?sensor-value``,
    ``?sensor-sampling``, ``?help``) run on the reactor, so every other
    client gets them answered at once, and sampling keeps flowing. Other
    clients' *user* requests queue behind the hung handler (one worker,
    like katcp-python's single handler thread) and are answered, in order,
    once it returns.
    """
    server = make_server()
    hung = clients(server)
    other = clients(server)
    hung.send("?hang[1]")
    assert server.hanging.wait(TIMEOUT)
    assert watchdog_ok(other, 2)
    assert other.request("?sensor-value counter")[1].arguments == [b"ok", b"1"]
    assert other.request("?help watchdog")[1].arguments == [b"ok", b"1"]
    other.request("?sensor-sampling counter event")
    server.counter.set_value(7)
    assert other.read_message().arguments[4] == b"7"
    other.send("?echo[3] queued")
    assert other.no_message(0.2), "a user request ran although the only worker is hung"
    # That client's own later requests, built-in or not, wait their turn (reply order),
    # but a third client is served at once.
    other.send("?watchdog[4]")
    assert other.no_message(0.1)
    assert watchdog_ok(clients(server), 5)
    server.release.set()
    assert hung.read_until(lambda m: m.mtype == REPLY)[-1].encode() == b"!hang[1] ok released\n"
    assert [m.encode() for m in other.read_until(lambda m: m.mid == b"4")
            if m.mtype == REPLY] == [b"!echo[3] ok queued\n", b"!watchdog[4] ok\n"]


def test_hung_handler_with_two_workers(make_server, clients):
    """With ``handler_workers=2`` another client's user request runs beside the hung one."""
    server = make_server(handler_workers=2)
    hung = clients(server)
    other = clients(server)
    assert hung.read_message().name == "client-connected"
    hung.send("?hang[1]")
    assert server.hanging.wait(TIMEOUT)
    assert other.request("?echo[3] beside")[1].encode() == b"!echo[3] ok beside\n"
    hung.send("?echo[2] behind")   # the same client's requests keep their order
    assert hung.no_message(0.1)
    server.release.set()
    assert [m.mid for m in hung.read_until(lambda m: m.mid == b"2")
            if m.mtype == REPLY] == [b"1", b"2"]


# -- request timeout hints -----------------------------------------------------------------


class HintServer(FaultServer):
    """Two slow requests (0.5 s), one with a timeout hint."""

    DELAY = 0.5

    @request_timeout_hint(5.0)
    def request_slow_hinted(self, req, msg):
        """Answer after DELAY seconds; hinted."""
        self.ioloop.call_later(self.DELAY, req.reply, "ok")
        raise AsyncReply()

    def request_slow_plain(self, req, msg):
        """Answer after DELAY seconds; no hint."""
        self.ioloop.call_later(self.DELAY, req.reply, "ok")
        raise AsyncReply()


def test_request_timeout_hints_are_honoured_by_both_clients(make_server):
    """The high-level client and the low-level BlockingClient wait for the
    device's hint (spec 5.1, flag T) instead of their default timeout, when
    the request is made without a timeout; an explicit timeout still wins."""
    server = make_server(cls=HintServer)
    res = KATCPClientResource(dict(name="dev", address=server.bind_address, controlled=True,
                                   timeout=0.2))
    res.start()
    client = BlockingClient(*server.bind_address, timeout=0.2)
    client.start()
    try:
        res.until_synced(TIMEOUT)
        assert res.req.slow_hinted.timeout_hint == 5.0
        assert res.req.slow_hinted().succeeded
        with pytest.raises(KatcpTimeoutError):
            res.req.slow_plain()
        # wait_protocol() returns once the hints are in.
        assert client.wait_protocol(TIMEOUT)
        assert client.request_timeout_hints == {"slow-hinted": 5.0}
        assert client.blocking_request(Message.request("slow-hinted"))[0].arguments == [b"ok"]
        reply, _ = client.future_request(Message.request("slow-hinted")).result(TIMEOUT)
        assert reply.arguments == [b"ok"]
        with pytest.raises(KatcpTimeoutError):
            client.blocking_request(Message.request("slow-plain"))
        with pytest.raises(KatcpTimeoutError):
            client.blocking_request(Message.request("slow-hinted"), timeout=0.2)
    finally:
        res.stop()
        res.join(TIMEOUT)
        client.stop()
        client.join(TIMEOUT)


# -- exceptions in user code --------------------------------------------------------------


class Exploding(object):
    """A sensor observer that always raises."""

    def __init__(self):
        self.calls = 0

    def update(self, sensor, reading):
        self.calls += 1
        raise RuntimeError("observer exploded on purpose")


def test_exception_in_a_sensor_observer_is_logged_and_isolated(make_server, clients, caplog):
    server = make_server()
    client = clients(server)
    client.request("?sensor-sampling counter event")
    bad = Exploding()
    server.counter.attach(bad)
    seen = []

    class Good(object):
        def update(self, sensor, reading):
            seen.append(reading.value)

    server.counter.attach(Good())
    with caplog.at_level(logging.ERROR):
        for value in (1, 2, 3):
            server.counter.set_value(value)
    assert bad.calls == 3 and seen == [1, 2, 3]
    assert [int(client.read_message().arguments[4]) for _ in range(3)] == [1, 2, 3]
    assert sum("observer exploded" in (r.exc_text or "") or
               (r.exc_info and "observer exploded" in str(r.exc_info[1]))
               for r in caplog.records) == 3
    assert watchdog_ok(client)


class ExplodingClient(BlockingClient):
    """A client whose inform handler raises."""

    def inform_sensor_status(self, msg):
        raise RuntimeError("inform handler exploded on purpose")


def test_exceptions_in_client_callbacks_are_logged_and_isolated(make_server, caplog):
    """Inform handler, inform callbacks, reply/inform callbacks and connected hooks that
    raise: each is logged, the others still run and the client keeps working."""
    server = make_server()
    client = ExplodingClient(*server.bind_address)
    got = queue.Queue()

    def bad_callback(msg):
        raise RuntimeError("inform callback exploded on purpose")

    def bad_hook():
        raise RuntimeError("connected hook exploded on purpose")

    client.add_inform_callback("sensor-status", bad_callback)
    client.add_inform_callback("sensor-status", lambda msg: got.put(int(msg.arguments[4])))
    client.add_connected_callback(bad_hook)
    client.add_connected_callback(lambda: got.put("connected"))
    with caplog.at_level(logging.ERROR):
        client.start()
        try:
            assert got.get(timeout=TIMEOUT) == "connected"
            assert client.blocking_request(
                Message.request("sensor-sampling", "counter", "event"))[0].reply_ok()
            assert got.get(timeout=TIMEOUT) == 0   # the initial #sensor-status
            server.counter.set_value(5)
            assert got.get(timeout=TIMEOUT) == 5

            def bad_reply_cb(msg):
                raise RuntimeError("reply callback exploded on purpose")

            def bad_inform_cb(msg):
                raise RuntimeError("inform_cb exploded on purpose")

            future = client.callback_request(Message.request("help", "watchdog"),
                                             reply_cb=bad_reply_cb, inform_cb=bad_inform_cb)
            reply, informs = future.result(TIMEOUT)
            assert reply.reply_ok() and len(informs) == 1
            assert client.blocking_request(Message.request("echo", "still"))[0].arguments == [
                b"ok", b"still"]
            server.counter.set_value(6)
            assert got.get(timeout=TIMEOUT) == 6
        finally:
            client.stop()
            client.join(TIMEOUT)
    text = "\n".join(r.getMessage() + (r.exc_text or "") for r in caplog.records)
    for what in ("inform handler exploded", "inform callback exploded",
                 "connected hook exploded", "reply callback exploded", "inform_cb exploded"):
        assert what in text, "%s was not logged" % what


# -- peers that do not read -----------------------------------------------------------------


def test_clients_that_never_read_are_dropped_and_readers_get_every_update(make_server):
    """3 stuck clients, 3 healthy ones, a fast sensor: the stuck ones are disconnected
    and the healthy ones receive every single update, in order."""
    # Every update the healthy clients get fits in the write buffer (20000 x ~60
    # bytes < 2 MiB), so even a reader starved of CPU cannot be dropped; the stuck
    # clients' 20 kB blob updates overflow it after about a hundred.
    server = make_server(max_write_buffer=2 * 1024 * 1024)
    stuck = []
    for _ in range(3):
        sock = small_receiver(server)
        sock.sendall(b"?sensor-sampling blob,counter auto\n")
        stuck.append(sock)
    healthy = [LineClient(server.bind_address) for _ in range(3)]
    for client in healthy:
        client.request("?sensor-sampling counter event")
    sel = selectors.DefaultSelector()
    for client in healthy:
        client.sock.setblocking(False)
        sel.register(client.sock, selectors.EVENT_READ, client)
    received = {client: [] for client in healthy}
    total = 20000
    done = threading.Event()

    def read_healthy():
        deadline = compat.monotonic() + 3 * TIMEOUT
        while compat.monotonic() < deadline:
            if all(v and v[-1] == total for v in received.values()):
                break
            for key, _ in sel.select(0.05):
                client = key.data
                try:
                    data = client.sock.recv(1 << 16)
                except compat.SOCKET_ERRORS as exc:
                    if compat.would_block(exc):
                        continue
                    raise
                client._buf += data
                lines = client._buf.split(b"\n")
                client._buf = lines.pop()
                received[client].extend(int(parse(line).arguments[4]) for line in lines if line)
        done.set()

    reader = threading.Thread(target=read_healthy)
    reader.start()
    try:
        blob = "z" * 20000
        for value in range(1, total + 1):
            server.blob.set_value(blob)
            server.counter.set_value(value)
        assert done.wait(4 * TIMEOUT)
        assert server.wait_disconnects(3)
        remaining = {c.address for c in server.get_clients()}
        assert remaining == {c.address for c in healthy}
        for client, values in received.items():
            assert values == list(range(1, total + 1)), "a healthy client lost updates"
    finally:
        done.set()
        reader.join(TIMEOUT)
        sel.close()
        for sock in stuck:
            sock.close()
        for client in healthy:
            client.close()


def test_hostile_microsecond_period_does_not_starve_others(make_server, clients):
    """``period 1e-6`` on every sensor by a client that does not read: it is dropped
    when its buffer fills; meanwhile and afterwards others are answered."""
    server = make_server(max_write_buffer=256 * 1024)
    server.MIN_SAMPLING_PERIOD = 0   # the flood itself is tested here, not the minimum
    other = clients(server)
    sock = small_receiver(server)
    sock.sendall(b"?sensor-sampling counter,blob,bulk.00000,bulk.00001 period 0.000001\n")
    for mid in range(1, 21):
        assert watchdog_ok(other, mid)
    assert server.wait_disconnects(1)
    sock.close()
    assert [c.address for c in server.get_clients()] == [other.address]
    assert watchdog_ok(other)


# -- hostile requests that cost the server time ----------------------------------------------


class LongNameServer(FaultServer):
    """One sensor with a long name of repeated letters, as real names can be."""

    N_SENSORS = 0

    def setup_sensors(self):
        super(LongNameServer, self).setup_sensors()
        self.add_sensor(Sensor.integer("a" * 25, "A long name.", "", [0, 10]))


#: A client in another process: the regex engine holds the GIL, so a probe in
#: this process would be frozen too and could not measure anything.
LATENCY_PROBE = r"""
import socket, sys, time
from katcp_sync.compat import monotonic
sock = socket.create_connection(("127.0.0.1", int(sys.argv[1])), 5)
sock.settimeout(30)
lines = sock.makefile("rb")
for line in lines:
    if b"katcp-device" in line:
        break
print("ready")
sys.stdout.flush()
sys.stdin.readline()
worst, n, end = 0.0, 0, monotonic() + 2.0
while monotonic() < end:
    n += 1
    sent = monotonic()
    sock.sendall(b"?watchdog[%d]\n" % n)
    for line in lines:
        if line.startswith(b"!watchdog[%d]" % n):
            break
    worst = max(worst, monotonic() - sent)
    time.sleep(0.01)  # pacing: about 50 probes a second
print(worst)
sys.stdout.flush()
"""


def worst_watchdog_latency(server, hostile, line):
    """Send ``line`` from ``hostile`` while a client in another process pings the
    server with ``?watchdog`` for 2 s; return the slowest round trip (seconds)."""
    probe = subprocess.Popen([sys.executable, "-c", LATENCY_PROBE, str(server.bind_address[1])],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert probe.stdout.readline() == b"ready\n"
        probe.stdin.write(b"go\n")
        probe.stdin.flush()
        hostile.send(line)
        out, _ = communicate_child(probe, 60)
        hostile.read_until(lambda m: m.mtype == REPLY, timeout=60)
    finally:
        if probe.poll() is None:
            probe.kill()
            wait_child(probe, TIMEOUT)
    return float(out)


@pytest.mark.parametrize("pattern", [
    "(a+)+b",
    # No nesting, still 2**22 ways to match: a fixed count of an optional part
    # (1.6 s of re on an idle machine).
    "(a?){22}b",
])
def test_hostile_regex_does_not_freeze_other_clients(make_server, clients, pattern):
    """A client's ``?sensor-list /(a+)+b/`` backtracks exponentially on a 25-letter
    sensor name (seconds of CPU in ``re``, which never releases the GIL). Another
    client, in another process, must still get ``?watchdog`` answered within 0.5 s
    throughout: the server refuses such patterns (katcp_sync.regex_guard), since
    moving the search to a worker thread would not help (the GIL freezes the
    reactor just the same)."""
    server = make_server(cls=LongNameServer)
    worst = worst_watchdog_latency(server, clients(server), "?sensor-list[1] /%s/" % pattern)
    assert worst < 0.5, "the server did not answer ?watchdog for %.2f s" % worst


class ManySensorsServer(FaultServer):
    """5000 sensors with long names, as large devices have."""

    N_SENSORS = 0

    def setup_sensors(self):
        super(ManySensorsServer, self).setup_sensors()
        for i in range(5000):
            self.add_sensor(Sensor.integer("m%03d.receptor.ap.indexer.position.ridx.%05d.long"
                                           % (i % 64, i), "A long name.", "", [0, 10]))


def test_a_regex_too_slow_over_many_sensors_is_stopped(make_server, clients):
    """``?sensor-list /.*.*.*!/`` passes the pattern guard (three unbounded
    repetitions), but costs about 0.6 ms per 55-letter name: 3 s over 5000
    sensors, during which ``re`` holds the GIL and nobody else is answered
    (spec 7.2 lets a client filter by regex; it does not make the server
    run one for ever). The search is stopped after MAX_REGEX_SECONDS and
    the request fails; others wait at most that long."""
    server = make_server(cls=ManySensorsServer)
    hostile = clients(server)
    worst = worst_watchdog_latency(server, hostile, "?sensor-value[1] /.*.*.*!/")
    assert worst < 0.5, "the server did not answer ?watchdog for %.2f s" % worst
    reply = hostile.request("?sensor-list[2] /.*.*.*!/")[1]
    assert reply.arguments[0] == b"fail"
    assert b"refused: too slow: more than 0.1 s over the first" in reply.arguments[1], reply
    informs, reply = hostile.request("?sensor-list[3] /ridx.0001[0-4].long$/")
    assert reply.arguments == [b"ok", b"5"] and len(informs) == 5


class Pipeliner(object):
    """A raw client that pipelines ``count`` copies of a request in one send,
    then reads everything (on a thread of its own) or nothing at all."""

    def __init__(self, server, request, count, reads):
        self.sock = small_receiver(server) if not reads else socket.create_connection(
            server.bind_address, TIMEOUT)
        self.request, self.count = request, count
        self.reader = threading.Thread(target=self._read) if reads else None
        self.done = threading.Event()

    def send(self, _line):
        self.sock.sendall(b"".join(b"?%s[%d]\n" % (self.request, mid)
                                   for mid in range(1, self.count + 1)))
        if self.reader is not None:
            self.reader.start()

    def _read(self):
        last, tail = b"!%s[%d] " % (self.request, self.count), b""
        self.sock.settimeout(60)
        while last not in tail:
            data = self.sock.recv(1 << 20)
            if not data:
                return
            tail = tail[-100:] + data
        self.done.set()

    def read_until(self, _predicate, timeout):
        if self.reader is not None:
            self.reader.join(timeout)


@pytest.mark.parametrize("reads", [False, True], ids=["not-reading", "reading"])
def test_pipelined_costly_builtin_requests_do_not_freeze_others(make_server, reads):
    """Built-in requests run on the reactor. A client pipelining 300
    ``?sensor-list`` (spec 7.2) on a device with 5000 sensors asks for 1.5
    million informs: the reactor now serves others between them (it held
    them for 1.6 s with 100), and stops running the queue of a client
    dropped for not reading (it ran all 300 into the closed connection,
    freezing everyone for 9 s)."""
    server = make_server(cls=ManySensorsServer)
    hostile = Pipeliner(server, b"sensor-list", 300 if not reads else 100, reads)
    try:
        worst = worst_watchdog_latency(server, hostile, "")
        assert worst < 0.5, "the server did not answer ?watchdog for %.2f s" % worst
        if reads:
            assert hostile.done.is_set(), "the pipelining client did not get every reply"
        else:
            assert server.wait_disconnects(1)
    finally:
        hostile.sock.close()
        if hostile.reader is not None and hostile.reader.ident is not None:
            hostile.reader.join(TIMEOUT)


def test_hostile_bulk_sampling_with_repeated_names_does_not_freeze_others(make_server, clients):
    """``?sensor-sampling counter,counter,...`` (15,000 names, a 120 kB line, well
    under the 2 MB line limit) must be refused without stalling other clients."""
    server = make_server()
    line = "?sensor-sampling[1] %s event" % ",".join(["counter"] * 15000)
    worst = worst_watchdog_latency(server, clients(server), line)
    assert worst < 0.5, "the server did not answer ?watchdog for %.2f s" % worst


class MarkingServer(FaultServer):
    """Notes the argument of each ``?mark`` in the order the handlers run."""

    def __init__(self, *args, **kwargs):
        super(MarkingServer, self).__init__(*args, **kwargs)
        self.marks = []

    def request_mark(self, req, msg):
        """Note the argument."""
        self.marks.append(msg.arguments[0].decode())
        return req.make_reply("ok")


def test_a_flood_of_malformed_lines_does_not_hold_others_up(make_server, clients):
    """Each malformed line gets its ``#log error`` (spec 2); 100,000 of them in
    one send are a batch of half a second's work for the reactor. It now
    serves others every few milliseconds: a request sent by another client
    once the flood is under way runs before the request at the flood's end
    (old code: the whole 256 KiB read was handled first, freezing everyone)."""
    server = make_server(cls=MarkingServer)
    flooder = clients(server)
    other = clients(server)
    got_log = threading.Event()
    finished = threading.Event()

    def read_flooder_replies():
        flooder.sock.settimeout(60)
        tail = b""
        try:
            while b"!mark ok" not in tail:
                data = flooder.sock.recv(1 << 20)
                if not data:
                    return
                got_log.set()
                tail = tail[-100:] + data
            finished.set()
        finally:
            got_log.set()

    reader = threading.Thread(target=read_flooder_replies)
    reader.start()
    try:
        flooder.sock.sendall(b"x\n" * 100000 + b"?mark flooder\n")
        assert got_log.wait(60)
        assert other.request("?mark other", timeout=60)[1].arguments == [b"ok"]
        reader.join(60)
        assert finished.is_set(), "the flooding client did not get every reply"
        assert server.marks == ["other", "flooder"]
    finally:
        flooder.sock.close()
        reader.join(TIMEOUT)


# -- clients that trickle a line (issue #11, point 10) ------------------------------

class PatientServer(FaultServer):
    PARTIAL_LINE_TIMEOUT = 0.3


def test_partial_line_timeout_disconnects_a_trickling_client_only(make_server, clients, caplog):
    """With PARTIAL_LINE_TIMEOUT set, a client that sends one line a byte at a
    time is disconnected with a logged reason; a normal client is not."""
    server = make_server(PatientServer)
    trickler = clients(server)
    normal = clients(server)
    start = compat.monotonic()
    with caplog.at_level(logging.WARNING, logger="katcp_sync.connection"):
        closed = False
        while not closed and compat.monotonic() - start < TIMEOUT:
            try:
                trickler.sock.send(b"w")
                assert watchdog_ok(normal)       # also paces the trickle
                trickler.sock.settimeout(0.02)
                closed = trickler.sock.recv(65536) == b""
            except socket.timeout:
                pass
            except compat.SOCKET_ERRORS:
                closed = True
        assert closed
    assert 0.25 < compat.monotonic() - start < 3.0
    assert "no end of line within 0.3 s" in caplog.text
    assert watchdog_ok(normal)
    assert FaultServer.PARTIAL_LINE_TIMEOUT is None and FaultServer.IDLE_TIMEOUT is None
