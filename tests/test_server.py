"""Device server protocol tests over real sockets (spec sections 2, 4, 5, 6, 8, 9)."""

from __future__ import absolute_import, division, print_function


import errno
from katcp_sync.compat import queue
import threading

import pytest

from katcp_sync.kattypes import has_katcp_protocol_flags, minimum_katcp_version
from katcp_sync.message import Message
from katcp_sync.protocol import ProtocolFlags
from katcp_sync.sensor import Sensor
from katcp_sync.server import DeviceServer

from server_support import TIMEOUT, DemoServer, LineClient, args


# -- spec 4.2: connection informs -----------------------------------------------


def test_version_connect_informs_first(server):
    """Spec 4.2: #version-connect katcp-protocol, katcp-library, katcp-device."""
    client = LineClient(server.bind_address)
    try:
        informs = client.read_connect_informs()
    finally:
        client.close()
    assert [m.name for m in informs] == ["version-connect"] * 3
    assert args(informs[0]) == ["katcp-protocol", "5.1-BIMT"]
    assert args(informs[1])[0] == "katcp-library"
    assert args(informs[1])[1].startswith("katcp-sync-")
    assert args(informs[2]) == ["katcp-device", "demo-api-2.3", "demo-build-4.5rc1"]


def test_client_connected_sent_to_other_clients_only(server, connect):
    """Spec 8.2: #client-connected goes to every client except the new one."""
    first = connect(server)
    second = connect(server)
    msg = first.read_message()
    assert msg.name == "client-connected"
    assert args(msg) == [second.address]
    assert second.no_message()


def test_bind_address_running_and_wait_running(server):
    """Port 0 gives a real port (F15)."""
    host, port = server.bind_address
    assert port > 0
    assert server.running()
    assert server.wait_running(0.1)


# -- spec 2: replies, message ids, errors -------------------------------------------


def test_watchdog_with_and_without_message_id(server, connect):
    """Spec 4.1 ?watchdog; spec 2.2 the reply carries the request's id."""
    client = connect(server)
    assert connect is not None
    assert client.request("?watchdog")[1].encode() == b"!watchdog ok\n"
    assert client.request("?watchdog[42]")[1].encode() == b"!watchdog[42] ok\n"


def test_reply_informs_carry_message_id(server, connect):
    """Spec 2.3: informs of a reply have the request's name and id."""
    client = connect(server)
    informs, reply = client.request("?echo[7] a b")
    assert [m.encode() for m in informs] == [b"#echo[7] a\n", b"#echo[7] b\n"]
    assert reply.encode() == b"!echo[7] ok a b\n"


def test_unknown_request_is_invalid(server, connect):
    """Spec 2 table 5: unknown request -> same name, invalid Unknown\\_request."""
    client = connect(server)
    reply = client.request("?set-unknown-parameter[3] 6.1")[1]
    assert reply.encode() == b"!set-unknown-parameter[3] invalid Unknown\\_request.\n"


def test_fail_invalid_and_crash_replies(server, connect):
    """FailReply -> fail, InvalidReply -> invalid, other -> fail + traceback (F22)."""
    client = connect(server)
    assert args(client.request("?fail")[1]) == ["fail", "it failed"]
    assert args(client.request("?invalid")[1]) == ["invalid", "bad args"]
    reply = client.request("?crash[5]")[1]
    assert reply.mid == b"5"
    assert args(reply)[0] == "fail"
    assert "ZeroDivisionError: crash on purpose" in args(reply)[1]
    assert "Traceback" in args(reply)[1]
    # the server keeps serving
    assert args(client.request("?watchdog")[1]) == ["ok"]


def test_traceback_limited_by_tb_limit(make_server, connect):
    server = make_server(tb_limit=1)
    client = connect(server)
    text = args(client.request("?crash")[1])[1]
    assert text.count("File ") == 1


def test_malformed_line_gets_log_error_and_connection_stays(server, connect):
    """Spec 2: an unparsable message gets #log error; the client stays connected."""
    client = connect(server)
    client.send("this is not katcp", "?bad[0]", "?x\\q")
    for _ in range(3):
        msg = client.read_message()
        assert msg.name == "log"
        assert args(msg)[0] == "error"
        assert args(msg)[2] == "root"
    assert args(client.request("?watchdog")[1]) == ["ok"]


def test_malformed_line_flood_is_logged_locally_only_up_to_a_limit(server, connect, caplog):
    """Every bad line gets its #log error, but the server's own log stops at
    BAD_LINES_LOGGED warnings per client, so a hostile peer cannot flood it."""
    client = connect(server)
    flood = 3 * server.BAD_LINES_LOGGED
    with caplog.at_level("DEBUG", logger="katcp_sync"):
        client.send(*["garbage %d" % i for i in range(flood)])
        for _ in range(flood):
            assert client.read_message().name == "log"
        assert args(client.request("?watchdog")[1]) == ["ok"]
    warnings = [r for r in caplog.records if r.levelname == "WARNING" and client_port(client) in
                r.getMessage()]
    assert len(warnings) == server.BAD_LINES_LOGGED + 1  # plus "further ... at DEBUG"


def client_port(client):
    return ":%d" % client.sock.getsockname()[1]


def test_blank_lines_are_ignored(server, connect):
    """Spec 2.1: whitespace-only lines are not messages."""
    client = connect(server)
    client.send("", "   ", "\t", "?watchdog")
    assert client.read_message().encode() == b"!watchdog ok\n"


def test_reply_after_reply_raises_runtime_error(server, connect):
    """F24: after the reply, reply() and inform() raise RuntimeError."""
    client = connect(server)
    assert args(client.request("?twice")[1]) == ["ok"]
    assert client.no_message()
    assert len(server.errors) == 2
    assert all(isinstance(e, RuntimeError) for e in server.errors)


def test_incoming_informs_and_replies_dispatched_or_ignored(server, connect):
    """F26: inform_*/reply_* handlers get the messages; others are ignored."""
    client = connect(server)
    client.send("#hello there", "!thing ok", "#unhandled x", "!other ok")
    assert args(client.request("?watchdog")[1]) == ["ok"]
    server.sync_with_ioloop(TIMEOUT)
    assert [args(m) for _, m in server.informs_seen] == [["there"]]
    assert [args(m) for _, m in server.replies_seen] == [["ok"]]
    assert client.no_message()


def test_unexpected_reply_gets_log_error(server, connect):
    """Spec 2: a device answers an unexpected reply (one no reply_* handler
    takes) with #log error; a handled reply and unhandled informs get nothing."""
    client = connect(server)
    client.send("!other[3] ok", "!thing ok", "#unhandled x")
    msg = client.read_message()
    assert (msg.name, args(msg)[0], args(msg)[2]) == ("log", "error", "root")
    assert "Unexpected reply" in args(msg)[3] and "!other[3] ok" in args(msg)[3]
    assert args(client.request("?watchdog")[1]) == ["ok"]
    assert client.no_message()


def test_unexpected_replies_are_answered_at_a_limited_rate(server, connect):
    """Spec 2 asks that corruption never makes the two sides flood each other:
    a burst of UNEXPECTED_REPLY_BURST #log errors per client, then one per
    UNEXPECTED_REPLY_INTERVAL; another client has its own allowance."""
    flood, other = connect(server), connect(server)
    flood.read_message()  # #client-connected of the other one
    burst = server.UNEXPECTED_REPLY_BURST
    flood.send(*(["!stray[%d] ok" % i for i in range(1, 5 * burst + 1)] + ["?watchdog"]))
    messages = flood.read_until(lambda m: m.name == "watchdog")
    logs = [m for m in messages if m.name == "log"]
    assert args(messages[-1]) == ["ok"] and len(logs) == len(messages) - 1
    # The burst, plus at most one refill if the flood took a whole interval.
    assert burst <= len(logs) <= burst + 1
    other.send("!stray ok")
    assert other.read_message().name == "log"


def test_displaced_client_leaves_the_client_list_before_its_socket_closes(make_server, connect):
    """Spec 9: on a single-client device the displaced client is out of
    get_clients() by the time it can see its #disconnect, and its queued
    requests are answered first; on_client_disconnect still runs for it."""
    disconnected = []

    class Watched(SingleClient):
        def on_client_disconnect(self, client_conn, msg, connection_valid):
            disconnected.append(client_conn.address)

    server = make_server(Watched)
    first = connect(server)
    first.send("?block[1]", "?watchdog[2]")
    assert server.entered.wait(TIMEOUT)
    second = connect(server)
    messages = first.read_until(lambda m: m.name == "disconnect")
    assert [c.address for c in server.get_clients()] == [second.address]
    assert [(m.name, m.mid, args(m)[0]) for m in messages] == [
        ("watchdog", b"2", "fail"), ("disconnect", None, args(messages[-1])[0])]
    assert second.address in args(messages[-1])[0]
    server.gate.set()
    first.read_all_until_closed()
    server.sync_with_ioloop(TIMEOUT)
    assert disconnected == [first.address]


# -- spec 4.1: core requests -----------------------------------------------------------


def test_help_lists_every_request_sorted(server, connect):
    """Spec 4.1 ?help: one #help per request, then !help ok N."""
    client = connect(server)
    informs, reply = client.request("?help")
    names = [args(m)[0] for m in informs]
    assert names == sorted(names)
    assert {"halt", "help", "watchdog", "sensor-sampling", "echo", "version-list",
            "request-timeout-hint", "client-list", "log-level", "restart",
            "sensor-list", "sensor-value"} <= set(names)
    assert args(reply) == ["ok", str(len(informs))]
    echo = [args(m)[1] for m in informs if args(m)[0] == "echo"]
    assert echo == ["Echo the arguments, with one inform per argument."]


def test_help_one_request_and_unknown(server, connect):
    client = connect(server)
    informs, reply = client.request("?help[2] watchdog")
    assert len(informs) == 1 and informs[0].mid == b"2"
    assert args(informs[0])[0] == "watchdog"
    assert args(reply) == ["ok", "1"]
    reply = client.request("?help nope")[1]
    assert reply.encode() == b"!help fail Unknown\\_request\\_method.\n"


def test_help_lists_summaries_and_details_one_request(server, connect):
    """?help lists each request's first docstring paragraph; ?help name gives it all."""
    client = connect(server)
    listed = {args(m)[0]: args(m)[1] for m in client.request("?help")[0]}
    detail = args(client.request("?help sensor-sampling")[0][0])[1]
    assert "\n" not in listed["sensor-sampling"]
    assert detail.startswith(listed["sensor-sampling"])
    assert len(detail) > len(listed["sensor-sampling"]) and "\n" in detail


def test_missing_docstring_is_type_error():
    """?help needs a docstring for every request handler."""
    with pytest.raises(TypeError, match="docstring"):
        class NoDoc(DeviceServer):
            def request_nodoc(self, req, msg):
                return req.make_reply("ok")


def test_version_list(server, connect):
    """Spec 4.1 ?version-list includes every #version-connect role."""
    server.extra_versions["fpga"] = ("fpga-1.2", "serial-99")
    client = connect(server)
    informs, reply = client.request("?version-list")
    rows = [args(m) for m in informs]
    assert rows[:3] == [args(m) for m in client.connect_informs]
    assert rows[3] == ["fpga", "fpga-1.2", "serial-99"]
    assert args(reply) == ["ok", "4"]


def test_client_list(server, connect):
    """Spec 8.1 ?client-list: one inform per client, including the requester."""
    first = connect(server)
    second = connect(server)
    informs, reply = second.request("?client-list")
    assert sorted(args(m)[0] for m in informs) == sorted([first.address, second.address])
    assert args(reply) == ["ok", "2"]


def test_request_timeout_hint(server, connect):
    """Spec 5.1: hints for requests that have one; 0 for a named one without."""
    client = connect(server)
    informs, reply = client.request("?request-timeout-hint")
    assert [args(m) for m in informs] == [["slow-hinted", "12.5"]]
    assert args(reply) == ["ok", "1"]
    informs, reply = client.request("?request-timeout-hint watchdog")
    assert [args(m) for m in informs] == [["watchdog", "0.0"]]
    assert args(client.request("?request-timeout-hint nope")[1])[0] == "fail"


def test_halt_replies_then_disconnects_everyone(server, connect):
    """Spec 4.1 ?halt: the reply comes just before the halt; #disconnect (4.2)."""
    other = connect(server)
    client = connect(server)
    assert other.read_message().name == "client-connected"
    client.send("?halt")
    messages = client.read_all_until_closed()
    assert [m.name for m in messages] == ["halt", "disconnect"]
    assert args(messages[0]) == ["ok"]
    assert [m.name for m in other.read_all_until_closed()] == ["disconnect"]
    assert server.join(TIMEOUT)
    assert not server.running()


def test_restart_without_and_with_queue(server, connect):
    """Spec 4.1 ?restart: fails without a restart queue; queues the server."""
    client = connect(server)
    reply = client.request("?restart")[1]
    assert args(reply) == ["fail", "No restart queue registered -- cannot restart."]
    restarts = queue.Queue()
    server.set_restart_queue(restarts)
    assert args(client.request("?restart")[1]) == ["ok"]
    assert restarts.get(timeout=TIMEOUT) is server


def test_server_restarts_after_stop(server, connect):
    port = server.bind_address[1]
    server.stop(TIMEOUT)
    assert not server.running()
    server.start()                     # the same port, where clients reconnect
    assert server.bind_address[1] == port
    client = connect(server)
    assert args(client.request("?watchdog")[1]) == ["ok"]


def test_stop_sends_disconnect(server, connect):
    """F34: #disconnect to every client before the server closes it."""
    clients = [connect(server) for _ in range(3)]
    server.stop(TIMEOUT)
    for client in clients:
        messages = client.read_all_until_closed()
        assert messages[-1].name == "disconnect"
        assert args(messages[-1]) == ["Device server shutting down."]
    server.stop()  # idempotent


# -- spec 6: log level ----------------------------------------------------------------------


def test_log_level_get_set_and_persist(server, connect):
    """Spec 6.2: ?log-level [level]; the level is global and persists."""
    client = connect(server)
    assert args(client.request("?log-level")[1]) == ["ok", "warn"]
    assert args(client.request("?log-level debug")[1]) == ["ok", "debug"]
    client.close()
    again = connect(server)
    assert args(again.request("?log-level")[1]) == ["ok", "debug"]
    reply = again.request("?log-level loud")[1]
    assert args(reply)[0] == "fail" and "loud" in args(reply)[1]


# -- hooks, dynamic interface -------------------------------------------------------------------


class HookServer(DemoServer):
    def __init__(self, *a, **kw):
        self.connected = []
        self.disconnected = []
        self.disconnected_event = threading.Event()
        self.refuse = False
        super(HookServer, self).__init__(*a, **kw)

    def on_client_connect(self, conn):
        if self.refuse:
            raise RuntimeError("go away")
        self.connected.append(conn)

    def on_client_disconnect(self, conn, msg, connection_valid):
        self.disconnected.append((conn, msg))
        self.disconnected_event.set()


def test_connect_and_disconnect_hooks(make_server, connect):
    """F35/F36: hooks run with the ClientConnection."""
    server = make_server(HookServer)
    client = connect(server)
    server.sync_with_ioloop(TIMEOUT)
    assert [c.address for c in server.connected] == [client.address]
    client.close()
    assert server.disconnected_event.wait(TIMEOUT)
    assert server.disconnected[0][0] is server.connected[0]
    assert server.get_clients() == []


def test_exception_in_connect_hook_logs_and_closes(make_server, connect):
    """F36: an error in on_client_connect sends #log error and closes."""
    server = make_server(HookServer)
    server.refuse = True
    client = connect(server)
    messages = client.read_all_until_closed()
    assert messages[-1].name == "log"
    assert "go away" in args(messages[-1])[3]


def test_add_and_remove_request_at_run_time(server, connect):
    """F58: dynamic requests, announced with #interface-changed (spec 4.2)."""
    client = connect(server)

    def handler(req, msg):
        """A request added at run time."""
        return req.make_reply("ok", "dynamic")

    server.add_request("dyn", handler)
    assert args(client.read_message()) == ["request", "dyn", "added"]
    assert args(client.request("?dyn")[1]) == ["ok", "dynamic"]
    help_informs = client.request("?help dyn")[0]
    assert args(help_informs[0]) == ["dyn", "A request added at run time."]
    server.remove_request("dyn")
    assert args(client.read_message()) == ["request", "dyn", "removed"]
    assert args(client.request("?dyn")[1])[0] == "invalid"
    with pytest.raises(TypeError):
        server.add_request("nodoc", lambda req, msg: None)


def test_add_and_remove_sensor_announced(server, connect):
    """F57: sensors added/removed at run time send #interface-changed."""
    client = connect(server)
    sensor = Sensor.integer("late.sensor", "Added late", "")
    server.add_sensor(sensor)
    assert args(client.read_message()) == ["sensor", "late.sensor", "added"]
    server.add_sensor(sensor)                      # the same object: nothing changed
    server.mass_inform(Message.inform("marker"))
    assert client.read_message().name == "marker"
    server.add_sensor(Sensor.integer("late.sensor", "A replacement", ""))
    assert args(client.read_message()) == ["sensor", "late.sensor", "modified"]
    server.add_sensor(sensor)
    assert args(client.read_message()) == ["sensor", "late.sensor", "modified"]
    assert server.has_sensor("late.sensor")
    assert server.get_sensor("late.sensor") is sensor
    server.remove_sensor("late.sensor")
    assert args(client.read_message()) == ["sensor", "late.sensor", "removed"]
    with pytest.raises(ValueError):
        server.get_sensor("late.sensor")
    with pytest.raises(ValueError):
        server.remove_sensor("late.sensor")


def test_mass_inform_reaches_every_client(server, connect):
    clients = [connect(server) for _ in range(3)]
    for i, client in enumerate(clients):
        for _ in range(len(clients) - 1 - i):
            assert client.read_message().name == "client-connected"
    server.mass_inform(Message.inform("news", "hello world"))
    for client in clients:
        assert client.read_message().encode() == b"#news hello\\_world\n"


# -- protocol filtering and single-client mode -------------------------------------------------


class Only50(DeviceServer):
    PROTOCOL_INFO = ProtocolFlags(5, 0, "MI")

    @minimum_katcp_version(5, 1)
    def request_new_thing(self, req, msg):
        """Needs 5.1."""

    @has_katcp_protocol_flags(["B"])
    def request_bulky(self, req, msg):
        """Needs flag B."""

    @minimum_katcp_version(5, 0)
    def request_fine(self, req, msg):
        """Fits 5.0."""


def test_handlers_filtered_by_protocol():
    """F53: minimum_katcp_version and has_katcp_protocol_flags vs PROTOCOL_INFO."""
    names = set(Only50._request_handlers)
    assert "fine" in names
    assert "new-thing" not in names and "bulky" not in names
    assert "request-timeout-hint" not in names  # needs T and 5.1
    assert "version-list" in names


class SingleClient(DemoServer):
    PROTOCOL_INFO = ProtocolFlags(5, 0, "I")


def test_single_client_takeover(make_server, connect):
    """Spec 9: a new client takes over; the old one gets #disconnect with its address."""
    server = make_server(SingleClient)
    first = connect(server)
    second = connect(server)
    messages = first.read_all_until_closed()
    assert messages[-1].name == "disconnect"
    assert second.address in args(messages[-1])[0]
    assert "client-list" not in server._request_handlers
    assert args(second.request("?watchdog")[1]) == ["ok"]


class NoIds(DemoServer):
    PROTOCOL_INFO = ProtocolFlags(5, 0, "M")


def test_server_without_message_ids_drops_them(make_server, connect):
    """Spec 2.2: ids are only used by servers that announce flag I."""
    server = make_server(NoIds)
    client = connect(server)
    client.send("?watchdog[4]")
    assert client.read_message().encode() == b"!watchdog ok\n"


def test_start_on_a_busy_port_raises_and_leaves_no_thread(server):
    """F15: a bind error reaches the caller of start(); nothing keeps running."""
    port = server.bind_address[1]
    clash = DemoServer("127.0.0.1", port)
    with pytest.raises(OSError) as info:
        clash.start()
    # Issue 15: the error says which address is in use, and keeps its errno.
    assert info.value.errno == errno.EADDRINUSE
    assert str(info.value).endswith("Cannot listen on 127.0.0.1:%d: Address already in use"
                                    % port), str(info.value)
    assert not clash.running()
    assert clash.join(TIMEOUT)
