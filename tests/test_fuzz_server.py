"""Fuzzing a live DeviceServer over raw sockets (spec 2.1-2.3, 4.2, 7.1, 7.2).

Two fuzzers, both against a real server on 127.0.0.1 port 0:

* :class:`ServerMachine`, a hypothesis state machine: a few raw-socket
  clients pipeline random requests (with and without message ids, valid and
  invalid, malformed lines), change sampling strategies (single and bulk,
  every strategy), while the test updates sensors and clients disconnect
  (politely or with a TCP reset) and reconnect. A model predicts every
  reply and each client's strategy table. Invariants:

  - every request gets exactly one reply, in request order, with its name,
    message id and the predicted reply code (spec 2.2, 2.3);
  - every malformed line gets exactly one ``#log error`` (spec 2);
  - no ``#sensor-status`` for a sensor arrives after the client received
    the reply to ``?sensor-sampling <sensor> none`` (spec 7.1), unless it
    asked for that sensor again since;
  - the server's per-client strategy table
    (``ClientConnection.sampling._strategies``) matches the model, and the
    sensors' observers are exactly the live clients' event-driven
    strategies: after a disconnect every strategy of that client is
    cancelled and detached (nothing leaks for months of reconnects);
  - the server stays responsive (``?watchdog``).

* A byte fuzzer: arbitrary bytes (hypothesis binary and grammar soup, sent
  in random chunks) on a live connection never crash the reactor. The
  fuzzing client gets one ``#log error`` per bad line and one reply per
  well-formed request, and a fresh client still gets ``!watchdog ok``.
"""

from __future__ import absolute_import, division, print_function


import collections
import itertools
import socket
import struct
import threading
import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from katcp_sync import compat
from katcp_sync.errors import FailReply, KatcpSyntaxError
from katcp_sync.linebuffer import LineSplitter
from katcp_sync.message import MAX_MID, Message, parse
from katcp_sync.sampling import SamplePeriod
from katcp_sync.sensor import Sensor
from katcp_sync.server import DeviceServer

from server_support import LineClient, wait_for

TIMEOUT = 5.0
SENSORS = ["s0", "s1", "s2", "s3"]
N_CLIENTS = 3
REQUEST, REPLY, INFORM = Message.REQUEST, Message.REPLY, Message.INFORM


class FuzzServer(DeviceServer):
    """A small device whose disconnects can be awaited, and which cannot be halted."""

    VERSION_INFO = ("fuzz-api", 1, 0)
    BUILD_INFO = ("fuzz-build", 1, 0, "")

    def __init__(self, *args, **kwargs):
        self._sensor_names = kwargs.pop("sensors", SENSORS)
        self.disconnected = threading.Condition()
        self.disconnect_count = 0
        super(FuzzServer, self).__init__(*args, **kwargs)

    def setup_sensors(self):
        for name in self._sensor_names:
            self.add_sensor(Sensor.integer(name, "Fuzzed %s." % name, "", [0, 2 ** 31]))

    def request_echo(self, req, msg):
        """Echo the arguments (runs on the handler pool)."""
        return req.make_reply("ok", *msg.arguments)

    def request_halt(self, req, msg):
        """Refuse to halt: a fuzzer must not stop the device under test."""
        raise FailReply("halt disabled while fuzzing")

    def on_client_disconnect(self, client_conn, msg, connection_valid):
        with self.disconnected:
            self.disconnect_count += 1
            self.disconnected.notify_all()

    def wait_disconnects(self, count, timeout=TIMEOUT):
        with self.disconnected:
            return wait_for(self.disconnected, lambda: self.disconnect_count >= count, timeout)


def reset_close(sock):
    """Close with SO_LINGER 0: the peer sees a TCP reset, not a FIN."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


# -- the model of one client -------------------------------------------------------


class Expected(object):
    """One request in flight: what its reply must look like."""

    __slots__ = ("name", "mid", "code", "args", "on_reply")

    def __init__(self, name, mid, code, args=None, on_reply=None):
        self.name = name
        self.mid = mid
        self.code = code          # b"ok", b"fail", b"invalid"
        self.args = args          # reply arguments after the code, when predictable
        self.on_reply = on_reply  # called when the reply arrives


class ModelClient(object):
    """A raw socket client plus what the model expects of its stream."""

    def __init__(self, address):
        self.line = LineClient(address)
        self.address = self.line.address
        self.expected = collections.deque()
        self.log_errors_expected = 0
        self.log_errors_seen = 0
        #: sensor -> (strategy, params) the server should hold after every sent request.
        self.strategies = {}
        self.seq = itertools.count(1)
        #: sensor -> seq of the last request that may start sampling it.
        self.enabled_seq = {}
        #: sensor -> seq of the last none/clear whose reply was received.
        self.off_seq = {}
        self.status_seen = collections.Counter()

    def send(self, line, expected=None, bad_line=False):
        self.line.send(line)
        if expected is not None:
            self.expected.append(expected)
        if bad_line:
            self.log_errors_expected += 1

    def may_sample(self, sensor):
        """May a #sensor-status for ``sensor`` arrive now (spec 7.1)?"""
        return self.enabled_seq.get(sensor, 0) > self.off_seq.get(sensor, 0)

    def receive(self, msg, sensor_values):
        if msg.mtype == REPLY:
            assert self.expected, "unexpected extra reply %r" % msg
            want = self.expected.popleft()
            assert (msg.name, msg.mid) == (want.name, want.mid), (
                "reply %r does not answer ?%s[%s]" % (msg, want.name, want.mid))
            assert msg.arguments[:1] == [want.code], "%r: expected %s" % (msg, want.code)
            if want.args is not None:
                assert msg.arguments[1:] == want.args, msg
            if want.on_reply is not None:
                want.on_reply()
        elif msg.name == "sensor-status":
            name = msg.arguments[2].decode()
            assert self.may_sample(name), (
                "#sensor-status for %s after its ?sensor-sampling none reply: %r" % (name, msg))
            assert int(msg.arguments[4]) <= sensor_values[name]
            self.status_seen[name] += 1
        elif msg.name == "log" and msg.arguments[:1] == [b"error"]:
            self.log_errors_seen += 1
        elif msg.name == "disconnect":
            raise AssertionError("server disconnected %s: %r" % (self.address, msg))

    def pump(self, sensor_values, timeout=TIMEOUT):
        """Read until every expected reply has arrived."""
        deadline = compat.monotonic() + timeout
        while self.expected:
            remaining = deadline - compat.monotonic()
            assert remaining > 0, "no reply to ?%s[%s] within %s s" % (
                self.expected[0].name, self.expected[0].mid, timeout)
            self.receive(self.line.read_message(remaining), sensor_values)
        # Messages already buffered are checked too (nothing may follow a none reply).
        while b"\n" in self.line._buf:
            self.receive(self.line.read_message(0.01), sensor_values)


def barrier(client):
    """A ?watchdog behind everything sent so far: its reply means all was read."""
    client.send(b"?watchdog[2147483647]", Expected("watchdog", b"2147483647", b"ok", []))


mids = st.one_of(st.none(), st.integers(1, MAX_MID))
sensor_choice = st.sampled_from(SENSORS)
GOOD_STRATEGIES = [("none",), ("auto",), ("event",), ("period", "0.05"), ("differential", "2"),
                   ("event-rate", "0.001", "0.5"), ("differential-rate", "1", "0.001", "0.5")]
BAD_STRATEGIES = [("bogus",), ("period",), ("period", "abc"), ("period", "-1"),
                  ("event", "1"), ("event-rate", "0.5", "0.1")]
MALFORMED_LINES = [b"?watchdog[0]", b"?watchdog[01]", b"?bad[x]", b" ?leading-space",
                   b"garbage", b"?", b"#", b"?a\\q", b"?a b\\", b"?9name",
                   b"?watchdog[99999999999]", b"\x00\x01\x02", b"?x\x1b"]


class ServerMachine(RuleBasedStateMachine):
    """Random interleavings of clients, requests, strategies and sensor updates."""

    def __init__(self):
        super(ServerMachine, self).__init__()
        self.server = FuzzServer("127.0.0.1", 0)
        self.server.start()
        self.clients = []
        self.disconnects = 0
        self.values = {name: 0 for name in SENSORS}
        self.snapshots = {}  # client address -> its strategies at the last sync

    @initialize()
    def connect_clients(self):
        for _ in range(N_CLIENTS):
            self.clients.append(ModelClient(self.server.bind_address))

    def teardown(self):
        try:
            for client in self.clients:
                client.line.close()
        finally:
            self.server.stop(TIMEOUT)
            assert self.server.join(TIMEOUT)

    # -- requests ------------------------------------------------------------

    def _request(self, index, name, args, mid, code, reply_args=None, on_reply=None):
        client = self.clients[index % len(self.clients)]
        line = Message.request(name, *args, mid=mid).encode()[:-1]
        client.send(line, Expected(name, None if mid is None else b"%d" % mid, code,
                                   reply_args, on_reply))
        return client

    @rule(index=st.integers(0, N_CLIENTS - 1), mid=mids)
    def watchdog(self, index, mid):
        self._request(index, "watchdog", [], mid, b"ok", [])

    @rule(index=st.integers(0, N_CLIENTS - 1), mid=mids,
          args=st.lists(st.binary(max_size=12), max_size=3))
    def echo(self, index, mid, args):
        self._request(index, "echo", args, mid, b"ok", args)

    @rule(index=st.integers(0, N_CLIENTS - 1), mid=mids,
          name=st.sampled_from(["no-such-request", "x", "sensor-samplingx"]))
    def unknown_request(self, index, mid, name):
        self._request(index, name, [], mid, b"invalid")

    @rule(index=st.integers(0, N_CLIENTS - 1), line=st.sampled_from(MALFORMED_LINES))
    def malformed_line(self, index, line):
        self.clients[index % len(self.clients)].send(line, bad_line=True)

    @rule(index=st.integers(0, N_CLIENTS - 1), mid=mids,
          names=st.lists(sensor_choice, min_size=1, max_size=3, unique=True),
          strategy=st.sampled_from(GOOD_STRATEGIES))
    def set_sampling(self, index, mid, names, strategy):
        client = self.clients[index % len(self.clients)]
        seq = next(client.seq)
        if strategy[0] == "none":
            def turned_off(client=client, names=names, seq=seq):
                for name in names:
                    client.off_seq[name] = max(client.off_seq.get(name, 0), seq)
            on_reply = turned_off
            for name in names:
                client.strategies.pop(name, None)
        else:
            on_reply = None
            for name in names:
                client.strategies[name] = strategy
                client.enabled_seq[name] = seq
        reply_args = [",".join(names).encode()] + [s.encode() for s in strategy]
        self._request(index, "sensor-sampling", [",".join(names)] + list(strategy), mid,
                      b"ok", reply_args, on_reply)

    @rule(index=st.integers(0, N_CLIENTS - 1), mid=mids, name=sensor_choice)
    def query_sampling(self, index, mid, name):
        client = self.clients[index % len(self.clients)]
        strategy = client.strategies.get(name, ("none",))
        self._request(index, "sensor-sampling", [name], mid, b"ok",
                      [name.encode()] + [s.encode() for s in strategy])

    @rule(index=st.integers(0, N_CLIENTS - 1), mid=mids,
          names=st.lists(st.sampled_from(SENSORS + ["nope"]), min_size=1, max_size=3),
          strategy=st.sampled_from(GOOD_STRATEGIES + BAD_STRATEGIES))
    def bad_sampling(self, index, mid, names, strategy):
        """A request that must fail and change nothing (bulk is all-or-nothing)."""
        if "nope" not in names and len(set(names)) == len(names):
            strategy = BAD_STRATEGIES[len(names) % len(BAD_STRATEGIES)]
        self._request(index, "sensor-sampling", [",".join(names)] + list(strategy), mid,
                      b"fail")

    @rule(index=st.integers(0, N_CLIENTS - 1), mid=mids)
    def sampling_without_arguments(self, index, mid):
        self._request(index, "sensor-sampling", [], mid, b"fail")

    @rule(index=st.integers(0, N_CLIENTS - 1), mid=mids)
    def clear_sampling(self, index, mid):
        client = self.clients[index % len(self.clients)]
        seq = next(client.seq)

        def turned_off(client=client, seq=seq):
            for name in SENSORS:
                client.off_seq[name] = max(client.off_seq.get(name, 0), seq)
        client.strategies.clear()
        self._request(index, "sensor-sampling-clear", [], mid, b"ok", [], turned_off)

    # -- the device and the network ----------------------------------------------

    @rule(name=sensor_choice, steps=st.integers(1, 5))
    def update_sensor(self, name, steps):
        sensor = self.server.get_sensor(name)
        for _ in range(steps):
            self.values[name] += 1
            sensor.set_value(self.values[name])

    @rule(index=st.integers(0, N_CLIENTS - 1), abrupt=st.booleans(), pipelined=st.booleans())
    def reconnect(self, index, abrupt, pipelined):
        """Disconnect one client (maybe with requests in flight) and connect a new one."""
        index %= len(self.clients)
        client = self.clients[index]
        if pipelined:
            client.line.send(b"?echo in-flight", b"?sensor-sampling s0 event", b"?watchdog[5]")
        if abrupt:
            reset_close(client.line.sock)
        else:
            client.line.close()
        self.disconnects += 1
        assert self.server.wait_disconnects(self.disconnects), "server never saw the disconnect"
        self.check_cleaned_up(client)
        self.clients[index] = ModelClient(self.server.bind_address)

    @rule()
    def sync(self):
        """Read every client's replies; check tables and observers against the model."""
        for client in self.clients:
            barrier(client)
            client.pump(self.values)
            assert client.log_errors_seen == client.log_errors_expected
        self.server.sync_with_ioloop(TIMEOUT)
        tables = {c.address: c for c in self.server.get_clients()}
        assert sorted(tables) == sorted(c.address for c in self.clients)
        live = collections.defaultdict(set)
        for client in self.clients:
            conn = tables[client.address]
            table = dict(conn.sampling._strategies)
            got = {name: tuple(s.decode() for s in (fmt[0],) + tuple(fmt[1]))
                   for name, fmt in ((n, st_.get_sampling_formatted()) for n, st_ in table.items())}
            assert got == client.strategies, "server table differs from the model"
            self.snapshots[client.address] = list(table.values())
            for name, strategy in table.items():
                live[name].add(id(strategy))
        for name in SENSORS:
            observers = {id(o) for o in self.server.get_sensor(name).observers()}
            driven = {id(s) for s in self._strategies_on(name) if not isinstance(s, SamplePeriod)}
            assert observers <= live[name], "a dead strategy still observes %s" % name
            assert driven <= observers, "a live strategy is not attached to %s" % name

    def _strategies_on(self, name):
        for conn in self.server.get_clients():
            strategy = conn.sampling._strategies.get(name)
            if strategy is not None:
                yield strategy

    def check_cleaned_up(self, client):
        """After a disconnect: the client is gone and its strategies are cancelled."""
        assert client.address not in [c.address for c in self.server.get_clients()]
        for strategy in self.snapshots.pop(client.address, []):
            assert strategy._state == "cancelled", "strategy %r survived its client" % strategy
            assert not strategy._attached
        for name in SENSORS:
            for observer in self.server.get_sensor(name).observers():
                assert getattr(observer, "_state", None) != "cancelled"

    @invariant()
    def responsive(self):
        """A fresh connection gets !watchdog ok at any moment."""
        if not self.clients:
            return
        probe = self.clients[0]
        barrier(probe)
        probe.pump(self.values)


ServerMachine.TestCase.settings = settings(
    max_examples=100, stateful_step_count=50, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
test_server_state_machine = ServerMachine.TestCase


# -- a byte fuzzer on a live connection --------------------------------------------------

GRAMMAR = [b"?", b"!", b"#", b"watchdog", b"echo", b"help", b"sensor-sampling", b"[", b"]",
           b"1", b"0", b" ", b"\t", b"\\", b"_", b"@", b"\0", b"\x1b", b"\n", b"\r",
           b"\x0c", b"\xff", b"log-level", b"client-list", b"version-list"]
soup = st.lists(st.one_of(st.sampled_from(GRAMMAR), st.binary(max_size=6)),
                max_size=60).map(b"".join)


def expected_outcome(data):
    """What the server must answer to ``data`` + EOL: replies wanted, and the
    count of lines that get a ``#log error``: bad lines, and replies no
    request asked for (spec 2; at most the per-connection burst of them)."""
    replies, bad, unexpected = [], 0, 0
    for line in LineSplitter().feed(data + b"\n"):
        try:
            msg = parse(line)
        except KatcpSyntaxError:
            bad += 1
            continue
        if msg.mtype == REQUEST:
            replies.append((msg.name, msg.mid))
        elif msg.mtype == REPLY:
            unexpected += 1
    return replies, bad + min(unexpected, DeviceServer.UNEXPECTED_REPLY_BURST)


def test_arbitrary_bytes_never_crash_the_reactor():
    server = FuzzServer("127.0.0.1", 0, sensors=[])
    server.start()
    try:
        @given(data=st.one_of(st.binary(max_size=400), soup),
               sizes=st.lists(st.integers(1, 50), max_size=8))
        @settings(max_examples=300, deadline=None,
                  suppress_health_check=[HealthCheck.too_slow])
        def fuzz(data, sizes):
            client = LineClient(server.bind_address)
            try:
                pos, i = 0, 0
                while pos < len(data):
                    size = sizes[i % len(sizes)] if sizes else len(data)
                    client.sock.sendall(data[pos:pos + size])
                    pos += size
                    i += 1
                client.send(b"", b"?watchdog[2147483646]")  # end any partial line first
                messages = client.read_until(
                    lambda m: m.mtype == REPLY and m.mid == b"2147483646")
            finally:
                client.close()
            replies, bad = expected_outcome(data)
            got = [(m.name, m.mid) for m in messages if m.mtype == REPLY][:-1]
            assert got == replies, "one reply per well-formed request, in order"
            log_errors = [m for m in messages if m.name == "log" and m.arguments[:1] == [b"error"]]
            assert len(log_errors) == bad, "one #log error per bad line"
        fuzz()
        fresh = LineClient(server.bind_address)
        try:
            assert fresh.request("?watchdog")[1].encode() == b"!watchdog ok\n"
        finally:
            fresh.close()
        assert server.running()
    finally:
        server.stop(TIMEOUT)
        assert server.join(TIMEOUT)


def test_byte_fuzz_from_many_connections_at_once():
    """Several fuzzing clients interleave junk while a well-behaved one is served."""
    server = FuzzServer("127.0.0.1", 0)
    server.start()
    clients = [LineClient(server.bind_address) for _ in range(5)]
    good = LineClient(server.bind_address)
    try:
        good.request("?sensor-sampling s0 event")
        junk = [bytes(bytearray(range(256))) * 3, b"?" * 1000 + b"\n", b"\\\\\\\n" * 50,
                b"?sensor-sampling s0 period 0.0\n", b"#log x\n!watchdog ok\n" * 20]
        threads = [threading.Thread(target=c.sock.sendall, args=(junk[i] * 20,))
                   for i, c in enumerate(clients)]
        for thread in threads:
            thread.start()
        sensor = server.get_sensor("s0")
        for value in range(1, 201):
            sensor.set_value(value)
        for thread in threads:
            thread.join(TIMEOUT)
        values = []
        while len(values) < 200:
            msg = good.read_message()
            assert msg.name == "sensor-status"
            values.append(int(msg.arguments[4]))
        assert values == list(range(1, 201))
        for client in clients:
            client.send(b"", b"?watchdog[77]")
            messages = client.read_until(lambda m: m.mtype == REPLY and m.mid == b"77")
            assert messages[-1].encode() == b"!watchdog[77] ok\n"
    finally:
        for client in clients + [good]:
            client.close()
        server.stop(TIMEOUT)
        assert server.join(TIMEOUT)
