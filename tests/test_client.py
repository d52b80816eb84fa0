"""DeviceClient and the request APIs over real sockets (spec 2, 4; tutorial).

Servers: aiokatcp's DeviceServer in a helper thread (5.1-MIB) and scripted
raw-socket servers for v4 devices, silent devices, garbage and dropped
connections.
"""

from __future__ import absolute_import, division, print_function


import logging
import threading
import time
from concurrent.futures import Future

import pytest

from katcp_sync import compat
from katcp_sync.client import (AsyncClient, BlockingClient, CallbackClient, DeviceClient,
                               request_check)
from katcp_sync.errors import (KatcpClientDisconnected, KatcpTimeoutError,
                               KatcpTooManyInformsError, KatcpVersionError)
from katcp_sync.deadline import Deadline
from katcp_sync.message import Message
from katcp_sync.protocol import ProtocolFlags
from katcp_sync.reactor import Reactor

from katcp_sync.compat import queue
import server_support
from client_support import (WAIT, AioServerThread, ScriptedServer, SelectorEchoServer,
                                 echo_script, first_hang_ignored_script, jitter_from_threads,
                                 reply_line, request_parts, v5_greeting, wait_for)


@pytest.fixture
def aioserver():
    server = AioServerThread()
    yield server
    server.close()


@pytest.fixture
def scripted():
    """Factory: scripted(script) -> a started ScriptedServer, closed after the test."""
    servers = []

    def make(script, port=0):
        server = ScriptedServer(script, port)
        servers.append(server)
        return server
    yield make
    for server in servers:
        server.close()


# ---------------------------------------------------------------------------
# Requests against a 5.1 device (aiokatcp)

def test_blocking_request_help_uses_mids_and_collects_informs(aioserver, make_client):
    client = make_client(aioserver.port)
    assert client.protocol_flags.message_ids
    assert client.is_connected()
    reply, informs = client.blocking_request(Message.request("help"))
    assert reply.reply_ok() and reply.mid is not None
    # (After a reply: the whole greeting, which came before it, is in.)
    version, flags = client.versions["katcp-protocol"][0].split("-")   # aiokatcp: 5.1-MIB
    assert (version, sorted(flags)) == ("5.1", ["B", "I", "M"])
    assert client.versions["katcp-device"] == ("client-test-1.0", "client-test-1.0.0")
    assert int(reply.arguments[1]) == len(informs) > 3
    assert all(inform.name == "help" and inform.mid == reply.mid for inform in informs)


def test_request_message_is_not_modified_and_can_be_reused(aioserver, make_client):
    client = make_client(aioserver.port)
    msg = Message.request("echo", "x")
    mids = {client.blocking_request(msg)[0].mid for _ in range(3)}
    assert msg.mid is None
    assert len(mids) == 3


def test_blocking_request_timeout_raises_runtime_error(aioserver, make_client):
    client = make_client(aioserver.port)
    start = compat.monotonic()
    with pytest.raises(KatcpTimeoutError, match="Request slow timed out after") as info:
        client.blocking_request(Message.request("slow", 0.5), timeout=0.05)
    assert isinstance(info.value, RuntimeError)   # the tutorial's contract
    assert compat.monotonic() - start < 0.4
    # The late reply must not be taken for the next request's.
    reply, _ = client.blocking_request(Message.request("echo", "after"))
    assert reply.arguments == [b"ok", b"after"]


@pytest.mark.parametrize("endless", [float("inf"), 1e300])
def test_endless_timeouts_wait_without_limit(aioserver, make_client, endless):
    """threading's waits overflow on such timeouts ("timestamp out of range
    for platform time_t"): they mean no limit, as None does."""
    client = make_client(aioserver.port)
    assert client.wait_running(endless) and client.wait_connected(endless)
    assert client.wait_protocol(endless)
    reply, _ = client.blocking_request(Message.request("echo", "main"), timeout=endless)
    assert reply.arguments == [b"ok", b"main"]
    replies = queue.Queue()
    caller = threading.Thread(target=lambda: replies.put(client.blocking_request(
        Message.request("echo", "thread"), timeout=endless)[0]))
    caller.start()
    assert replies.get(timeout=WAIT).arguments == [b"ok", b"thread"]
    caller.join(WAIT)
    assert Deadline(endless).remaining() is None
    assert compat.wait_timeout(endless) is None and compat.wait_timeout(-1) == 0.0


def test_default_timeout_is_the_client_timeout(aioserver, make_client):
    client = make_client(aioserver.port, timeout=0.05)
    with pytest.raises(KatcpTimeoutError):
        client.blocking_request(Message.request("slow", 0.5))


def test_future_request(aioserver, make_client):
    client = make_client(aioserver.port)
    future = client.future_request(Message.request("listing", 3))
    assert isinstance(future, Future)
    reply, informs = future.result(WAIT)
    assert reply.arguments == [b"ok", b"3"]
    assert [i.arguments for i in informs] == [[b"item", b"%d" % n] for n in range(3)]
    late = client.future_request(Message.request("slow", 0.5), timeout=0.05)
    with pytest.raises(KatcpTimeoutError):
        late.result(WAIT)


def test_callback_request_runs_callbacks_on_reactor_thread(aioserver, make_client):
    client = make_client(aioserver.port, cls=CallbackClient)
    seen = queue.Queue()

    def reply_cb(msg, tag):
        seen.put(("reply", msg, tag, client.reactor.in_reactor_thread()))

    def inform_cb(msg, tag):
        seen.put(("inform", msg, tag, client.reactor.in_reactor_thread()))

    result = client.callback_request(Message.request("listing", 2), reply_cb=reply_cb,
                                     inform_cb=inform_cb, user_data=("t",))
    reply, informs = result      # unpacking waits, as in the tutorial
    events = [seen.get(timeout=WAIT) for _ in range(3)]
    assert [e[0] for e in events] == ["inform", "inform", "reply"]
    assert all(e[2] == "t" and e[3] for e in events)
    assert events[2][1] is reply and len(informs) == 2


def test_callback_request_timeout_synthesises_fail_reply(aioserver, make_client):
    client = make_client(aioserver.port, cls=CallbackClient)
    replies = queue.Queue()
    client.callback_request(Message.request("slow", 0.5), reply_cb=replies.put, timeout=0.05)
    reply = replies.get(timeout=WAIT)
    assert reply.mtype == Message.REPLY and reply.name == "slow"
    assert reply.arguments[0] == b"fail"
    assert reply.arguments[1].startswith(b"Request slow timed out after 0.0")
    assert reply.arguments[1].endswith(b" seconds.")


def test_blocking_request_on_reactor_thread_raises(aioserver, make_client):
    client = make_client(aioserver.port)

    def on_reactor():
        client.blocking_request(Message.request("watchdog"))
    with pytest.raises(RuntimeError, match="reactor thread"):
        client.reactor.run_sync(on_reactor, timeout=WAIT)
    future = client.future_request(Message.request("slow", 0.2))
    with pytest.raises(RuntimeError):
        client.reactor.run_sync(lambda: tuple(future), timeout=WAIT)


def test_request_made_right_after_start_waits_for_connection(aioserver, make_client):
    client = make_client(aioserver.port, wait=False)
    reply, _ = client.blocking_request(Message.request("echo", "early"))
    assert reply.arguments == [b"ok", b"early"] and reply.mid is not None


def test_concurrent_blocking_requests_get_their_own_replies(aioserver, make_client):
    client = make_client(aioserver.port)
    errors = jitter_from_threads(client, threads=32, requests=200)
    assert not errors, errors[:3]


def test_async_informs_reach_inform_callbacks_and_handlers(aioserver, make_client):
    news = queue.Queue()

    class Client(BlockingClient):
        def inform_news(self, msg):
            news.put(("handler", msg.arguments))

    client = make_client(aioserver.port, cls=Client)
    client.add_inform_callback("news", lambda msg: news.put(("callback", msg.arguments)))
    client.blocking_request(Message.request("broadcast", "hello"))
    assert news.get(timeout=WAIT) == ("handler", [b"hello"])
    assert news.get(timeout=WAIT) == ("callback", [b"hello"])


def test_request_check(aioserver, make_client):
    client = make_client(aioserver.port)
    reply, _ = request_check(client, ValueError, "echo", "a")
    assert reply.arguments == [b"ok", b"a"]
    with pytest.raises(ValueError, match="Unexpected failure reply"):
        request_check(client, ValueError, "no-such-request", timeout=WAIT)


def test_stop_fails_outstanding_requests_and_leaves_no_thread(aioserver):
    client = BlockingClient("127.0.0.1", aioserver.port)
    client.start()
    assert client.wait_protocol(WAIT)
    future = client.future_request(Message.request("slow", 2))
    client.stop()
    client.join(WAIT)
    with pytest.raises(KatcpClientDisconnected, match="Client stopped"):
        future.result(WAIT)
    assert not client.running() and not client.is_connected()
    assert not any(t.name.startswith("katcp-client") for t in threading.enumerate())
    with pytest.raises(KatcpClientDisconnected):
        client.blocking_request(Message.request("watchdog"))


def test_client_restarts_after_stop(aioserver):
    client = BlockingClient("127.0.0.1", aioserver.port)
    for _ in range(2):
        client.start()
        assert client.wait_running(0) and client.running()
        assert client.wait_protocol(WAIT)
        assert client.blocking_request(Message.request("watchdog"))[0].reply_ok()
        client.stop()
        client.join(WAIT)


def test_context_manager_starts_stops_and_joins(aioserver):
    with BlockingClient("127.0.0.1", aioserver.port) as client:
        assert client.running()
        assert client.blocking_request(Message.request("watchdog"))[0].reply_ok()
    assert not client.running()


def test_reconnects_after_server_restart(aioserver, make_client):
    hooks = queue.Queue()

    class Client(BlockingClient):
        def notify_connected(self, connected):
            hooks.put(connected)

    client = make_client(aioserver.port, cls=Client)
    assert hooks.get(timeout=WAIT) is True
    first_connect = client.last_connect_time
    events = queue.Queue()
    client.add_connected_callback(lambda: events.put("up"))
    client.add_disconnected_callback(lambda: events.put("down"))
    pending = client.future_request(Message.request("slow", 2))
    aioserver.stop()
    try:   # aiokatcp cancels the request with a fail reply, or we see the drop
        assert not pending.result(WAIT)[0].reply_ok()
    except KatcpClientDisconnected:
        pass
    assert events.get(timeout=WAIT) == "down"
    assert client.wait_disconnected(WAIT)
    # While the device is down, requests fail promptly or are held for the
    # next attempt; neither may hang.
    with pytest.raises((KatcpClientDisconnected, KatcpTimeoutError)):
        client.blocking_request(Message.request("watchdog"), timeout=0.5)
    aioserver.start()
    assert events.get(timeout=WAIT) == "up"
    assert client.wait_protocol(WAIT)
    assert client.blocking_request(Message.request("watchdog"))[0].reply_ok()
    assert [hooks.get(timeout=WAIT), hooks.get(timeout=WAIT)] == [False, True]
    assert client.last_connect_time > first_connect


def test_backoff_grows_and_is_capped(make_client):
    probe = ScriptedServer(lambda conn: None)
    port = probe.port
    probe.close()                      # nothing listens on port now
    client = make_client(port, wait=False)
    client.auto_reconnect_max_delay = 0.08
    delays = []
    original = client.reactor.call_later

    def spy(delay, fn, *args):
        if getattr(fn, "__name__", "") == "_connect":
            delays.append(delay)
        return original(delay, fn, *args)
    client.reactor.call_later = spy
    assert wait_for(lambda: len(delays) >= 6)
    assert max(delays) <= 0.08
    assert all(d >= 0.01 for d in delays)
    with pytest.raises(KatcpClientDisconnected):
        client.blocking_request(Message.request("watchdog"), timeout=0.5)


def test_default_backoff_finds_a_returning_device_within_two_seconds():
    """However long the device was away, the default back-off keeps the gap
    between attempts at most 1 s (it used to double to 60 s), so a device
    that comes back is reconnected within 2 s. Timers run 50x faster here,
    while their nominal delays are recorded."""
    probe = ScriptedServer(lambda conn: None)
    port = probe.port
    probe.close()                      # the device is away
    client = BlockingClient("127.0.0.1", port)   # default back-off
    delays = []
    original = client.reactor.call_later

    def fast(delay, fn, *args):
        if getattr(fn, "__name__", "") == "_connect":
            delays.append(delay)
            delay /= 50
        return original(delay, fn, *args)
    client.reactor.call_later = fast
    client.start()
    device = None
    try:
        assert wait_for(lambda: len(delays) >= 12)   # 0.5 * 2**11 s in the old back-off
        assert max(delays) <= 1.0 and min(delays) >= 0.25
        assert client.auto_reconnect_max_delay == DeviceClient.AUTO_RECONNECT_MAX_DELAY
        client.reactor.call_later = original         # real time from now on
        device = ScriptedServer(echo_script(v5_greeting()), port=port)
        back = compat.monotonic()
        assert client.wait_protocol(2.0 + 1.0 / 50)
        assert compat.monotonic() - back < 2.0
    finally:
        client.stop()
        client.join(WAIT)
        if device is not None:
            device.close()


def test_failed_connect_callbacks_see_every_failed_attempt(make_client, caplog):
    probe = ScriptedServer(lambda conn: None)
    port = probe.port
    probe.close()                      # nothing listens on port now
    client = make_client(port, wait=False)
    failures = queue.Queue()

    def broken(exc):
        raise RuntimeError("callback bug")
    client.add_failed_connect_callback(broken)
    client.add_failed_connect_callback(failures.put)
    first, second = failures.get(timeout=WAIT), failures.get(timeout=WAIT)
    assert isinstance(first, OSError) and isinstance(second, OSError)
    assert "Failed-connect callback failed" in caplog.text   # logged, attempts go on
    client.remove_failed_connect_callback(broken)
    client.remove_failed_connect_callback(failures.put)
    assert client._failed_connect_callbacks == []


def test_no_auto_reconnect_fails_fast(make_client):
    probe = ScriptedServer(lambda conn: None)
    port = probe.port
    probe.close()
    client = make_client(port, wait=False, auto_reconnect=False)
    start = compat.monotonic()
    with pytest.raises(KatcpClientDisconnected):
        client.blocking_request(Message.request("watchdog"), timeout=2)
    assert compat.monotonic() - start < 1.5
    assert not client.wait_connected(0.05)


def test_a_request_between_attempts_says_why_the_last_one_failed():
    """Nothing listens: a request made after a failed attempt (here the
    only one) fails with the reason, not only "Not connected"."""
    probe = ScriptedServer(lambda conn: None)
    port = probe.port
    probe.close()
    client = BlockingClient("127.0.0.1", port, auto_reconnect=False)
    failures = queue.Queue()
    client.add_failed_connect_callback(failures.put)
    client.start()
    try:
        error = failures.get(timeout=WAIT)
        with pytest.raises(KatcpClientDisconnected) as raised:
            client.blocking_request(Message.request("watchdog"))
        assert str(raised.value) == "Not connected to 127.0.0.1:%d: the last attempt failed: %s" % (
            port, error)
        assert "refused" in str(raised.value).lower()
    finally:
        client.stop()
        client.join(WAIT)


def test_send_message_when_not_connected_logs(caplog):
    client = DeviceClient("127.0.0.1", 1)
    with caplog.at_level(logging.WARNING, logger="katcp_sync.client"):
        client.send_message(Message.request("watchdog"))
        assert client.request(Message.request("watchdog")) is None
    assert "Not connected" in caplog.text


def test_client_names():
    assert issubclass(BlockingClient, CallbackClient)
    assert issubclass(CallbackClient, AsyncClient)
    assert issubclass(AsyncClient, DeviceClient)


# ---------------------------------------------------------------------------
# Dispatch (tutorial "Writing your own Client")

def test_custom_client_dispatch(aioserver, make_client):
    seen = queue.Queue()

    class MyClient(DeviceClient):
        def reply_help(self, msg):
            seen.put(("reply_help", msg.arguments[0]))

        def inform_help(self, msg):
            seen.put(("inform_help", None))

        def reply_watchdog(self, msg):
            raise ValueError("handler bug")   # logged, never sent

        def unhandled_reply(self, msg):
            seen.put(("unhandled_reply", msg.name))

    client = make_client(aioserver.port, cls=MyClient)
    assert client.request(Message.request("help", "watchdog")) is not None
    client.request(Message.request("watchdog"))
    client.request(Message.request("echo"))
    got = [seen.get(timeout=WAIT) for _ in range(3)]
    assert got == [("inform_help", None), ("reply_help", b"ok"), ("unhandled_reply", "echo")]


def test_unpack_message_on_client_handlers(scripted, make_client):
    from katcp_sync.kattypes import Int, Str, unpack_message
    seen = queue.Queue()

    class MyClient(DeviceClient):
        @unpack_message(Str(), Int())
        def inform_status(self, name, value):
            seen.put((name, value))

    server = scripted(lambda conn: (conn.send(*(v5_greeting() + [b"#status temp 42"])),
                                    conn.read_line()))
    make_client(server.port, cls=MyClient)
    assert seen.get(timeout=WAIT) == ("temp", 42)


class SmallLines(BlockingClient):
    """A client whose longest accepted line is 1000 bytes."""

    MAX_MSG_SIZE = 1000


def test_handler_exceptions_and_garbage_are_logged_not_answered(scripted, make_client, caplog):
    def script(conn):
        conn.send(*v5_greeting())
        line = conn.read_line()
        conn.send(b"this is not katcp", b"!bad[0] ok", b"?", b"#" + b"x" * 3000,
                  b"   ", reply_line(line, b"ok"))
        conn.read_line()

    server = scripted(script)
    client = make_client(server.port, cls=SmallLines)
    with caplog.at_level(logging.ERROR, logger="katcp_sync.client"):
        reply, _ = client.blocking_request(Message.request("watchdog"))
        assert reply.reply_ok()
        client.send_message(Message.request("marker"))
        # Spec 2: the only thing the device got back is our next message.
        assert server.received.get(timeout=WAIT).startswith(b"?watchdog")
        assert server.received.get(timeout=WAIT) == b"?marker"
    assert caplog.text.count("Malformed message") == 3
    assert "too long" in caplog.text


def test_client_request_handler_reply_is_sent_with_mid(scripted, make_client):
    class MyClient(DeviceClient):
        def request_ping(self, msg):
            return Message.reply("ping", "ok", "pong")

    server = scripted(lambda conn: (conn.send(*(v5_greeting() + [b"?ping[7]"])),
                                    conn.read_line()))
    make_client(server.port, cls=MyClient)
    assert server.received.get(timeout=WAIT) == b"!ping[7] ok pong"


# ---------------------------------------------------------------------------
# Protocol versions (spec 2.2, 4.2, 4.2.1; tutorial "Client Protocol
# Backwards Compatibility")

def test_v4_device_detected_from_version_informs(scripted, make_client):
    server = scripted(echo_script([b"#version device-1.0", b"#build-state device-1.0.1"]))
    client = make_client(server.port)
    assert client.protocol_flags.major == 4
    assert client.convert_seconds(1.5) == 1500
    reply, _ = client.blocking_request(Message.request("echo", "x"))
    assert reply.mid is None and reply.arguments == [b"ok", b"x"]
    assert server.received.get(timeout=WAIT) == b"?echo x"   # no mid to a v4 device
    with pytest.raises(KatcpVersionError):
        client.blocking_request(Message.request("echo"), use_mid=True)


def test_silent_device_gets_assumed_protocol(scripted, make_client):
    server = scripted(echo_script(greeting=None))
    start = compat.monotonic()
    client = make_client(server.port, detect=0.1)
    assert compat.monotonic() - start < 1.0
    assert client.protocol_flags == DeviceClient.ASSUMED_PROTOCOL
    assert client.convert_seconds(1.5) == 1.5
    assert client.blocking_request(Message.request("watchdog"))[0].reply_ok()
    assert server.received.get(timeout=WAIT) == b"?watchdog"


def test_preset_protocol_flags_disables_detection(scripted, caplog):
    server = scripted(echo_script(greeting=v5_greeting(b"5.0-M")))
    client = BlockingClient("127.0.0.1", server.port)
    client.preset_protocol_flags(ProtocolFlags(5, 0, "MI"))
    with caplog.at_level(logging.WARNING, logger="katcp_sync.client"), client:
        assert client.wait_protocol(WAIT)
        reply, _ = client.blocking_request(Message.request("echo"))
        assert reply.mid is not None   # preset says ids are supported
        assert client.protocol_flags == ProtocolFlags(5, 0, "MI")
        # The device's own announcement is only warned about (katcp-python's text).
        assert wait_for(lambda: "Protocol Version Warning" in caplog.text)


def test_inconsistent_protocol_disconnects(scripted, make_client, caplog):
    def script(conn):
        conn.send(*v5_greeting(b"5.0-MI"))
        conn.read_line()
        conn.send(b"#version-connect katcp-protocol 6.0")
        conn.read_line()
    server = scripted(script)
    client = make_client(server.port)
    with caplog.at_level(logging.ERROR, logger="katcp_sync.client"):
        client.send_message(Message.request("watchdog"))
        assert client.wait_disconnected(WAIT)
    assert client.auto_reconnect is False
    # katcp-python's log text and name of the setting, which its tests check.
    assert "Protocol Version Error" in caplog.text and client._auto_reconnect is False


def test_a_new_connection_knows_no_protocol_until_its_device_says(scripted, make_client):
    """Spec 4.2: each connection's device announces its protocol. One
    handed to handle_message() while there is no connection (here by a
    disconnected hook) does not make the next connection's known."""
    second = threading.Event()

    def script(conn):
        if len(server.connections) == 1:
            conn.send(*v5_greeting())
            conn.read_line()        # then closes: the client reconnects
            return
        second.set()
        conn.read_line()            # silent until the client goes

    server = scripted(script)
    client = make_client(server.port, detect=WAIT)
    client.add_disconnected_callback(lambda: client.handle_message(
        Message.inform("version-connect", "katcp-protocol", "5.0-I")))
    client.send_message(Message.request("watchdog"))
    assert second.wait(WAIT) and wait_for(client.is_connected)
    assert not client.wait_protocol(0.05)


def test_server_supports_ids_says_whether_requests_carry_ids(scripted, make_client):
    """katcp-python's tests turn message ids off on a live client with
    ``client._server_supports_ids = False``, as for a device without flag
    ``I`` (spec 2.2): it is the request table's setting, not a copy."""
    server = scripted(echo_script(greeting=v5_greeting(b"5.0-MI")))
    client = make_client(server.port)
    assert client._server_supports_ids is True
    client._server_supports_ids = False
    assert client.blocking_request(Message.request("echo", "x"))[0].mid is None
    assert server.received.get(timeout=WAIT) == b"?echo x"
    with pytest.raises(KatcpVersionError):
        client.blocking_request(Message.request("echo"), use_mid=True)
    with pytest.raises(KatcpVersionError):
        client.send_request(Message.request("echo", mid=5))
    client._server_supports_ids = True
    assert client.blocking_request(Message.request("echo", "y"))[0].mid is not None


def test_unparseable_protocol_version_is_taken_as_zero_with_a_warning(scripted, make_client,
                                                                     caplog):
    """Spec 4.2: ``#version-connect katcp-protocol <major>.<minor>[-<flags>]``. A
    device that announces ``banana`` is taken as 0.0 (katcp-python's fallback:
    no message ids) and the client says so, instead of silently speaking an
    old protocol to it."""
    server = scripted(echo_script([b"#version-connect katcp-protocol banana"]))
    with caplog.at_level(logging.WARNING, logger="katcp_sync.client"):
        client = make_client(server.port)
    assert client.protocol_flags == ProtocolFlags(0, 0, "")
    assert "announced protocol 'banana', which is not <major>.<minor>" in caplog.text
    assert client.blocking_request(Message.request("echo", "x"))[0].arguments == [b"ok", b"x"]
    assert server.received.get(timeout=WAIT) == b"?echo x"


def test_without_mids_same_name_requests_are_serialised(scripted, make_client):
    """Spec 2.3: with no ids, only one request of a name may be on the wire."""
    got_first = threading.Event()
    release = threading.Event()

    def script(conn):
        conn.send(*v5_greeting(b"5.0-M"))
        first = conn.read_line()
        got_first.set()
        release.wait(WAIT)
        conn.send(reply_line(first, b"i", b"1", inform=True), reply_line(first, b"ok", b"1"))
        second = conn.read_line()
        conn.send(reply_line(second, b"i", b"2", inform=True), reply_line(second, b"ok", b"2"))
        conn.read_line()

    server = scripted(script)
    client = make_client(server.port)
    one = client.future_request(Message.request("op", "a"))
    two = client.future_request(Message.request("op", "b"))
    assert got_first.wait(WAIT)
    assert server.received.get(timeout=WAIT) == b"?op a"
    time.sleep(0.05)
    assert server.connections[0].pending_bytes() == b""   # "?op b" is held back
    release.set()
    assert server.received.get(timeout=WAIT) == b"?op b"
    (r1, i1), (r2, i2) = one.result(WAIT), two.result(WAIT)
    assert (r1.arguments, [i.arguments for i in i1]) == ([b"ok", b"1"], [[b"i", b"1"]])
    assert (r2.arguments, [i.arguments for i in i2]) == ([b"ok", b"2"], [[b"i", b"2"]])


def test_server_closing_mid_reply_fails_request_promptly(scripted, make_client):
    def script(conn):
        conn.send(*v5_greeting())
        line = conn.read_line()
        conn.send(reply_line(line, b"partial", inform=True))
        conn.send_raw(b"!" + request_parts(line)[0] + b"[")   # half a reply, then gone

    server = scripted(script)
    client = make_client(server.port, auto_reconnect=False)
    start = compat.monotonic()
    with pytest.raises(KatcpClientDisconnected, match="Connection closed before reply"):
        client.blocking_request(Message.request("help"), timeout=WAIT)
    assert compat.monotonic() - start < 1.0


# ---------------------------------------------------------------------------
# Shared reactor

def test_many_clients_share_one_reactor():
    server = SelectorEchoServer()
    reactor = Reactor(name="katcp-shared-test")
    reactor.start()
    clients = [BlockingClient("127.0.0.1", server.port, reactor=reactor)
               for _ in range(1000)]
    try:
        before = threading.active_count()
        for client in clients:
            client.start()
        assert all(client.wait_protocol(10) for client in clients)
        assert threading.active_count() <= before + 1
        futures = [client.future_request(Message.request("echo", i))
                   for i, client in enumerate(clients)]
        for i, future in enumerate(futures):
            assert future.result(10)[0].arguments == [b"ok", b"%d" % i]
    finally:
        for client in clients:
            client.stop()
        for client in clients:
            client.join(WAIT)
        assert reactor.running()   # clients never stop a reactor they did not create
        reactor.stop(WAIT)
        server.close()


def test_shared_reactor_stopping_stops_its_clients(aioserver):
    reactor = Reactor(name="katcp-shared-test")
    reactor.start()
    client = BlockingClient("127.0.0.1", aioserver.port, reactor=reactor)
    client.start()
    assert client.wait_protocol(WAIT)
    pending = client.future_request(Message.request("slow", 2))
    reactor.stop(WAIT)
    with pytest.raises(KatcpClientDisconnected):
        pending.result(WAIT)
    assert not client.running()
    client.join(WAIT)


def test_restart_on_a_shared_reactor_overtakes_the_queued_teardown(aioserver):
    """Issue 12 point 6 (one lifecycle helper): start() right after stop(),
    before the shared reactor has run the last run's teardown, opens a new
    run that the old teardown leaves alone: the new run is not reported
    stopped by join(), and keeps its stop hook (the reactor stopping stops it)."""
    reactor = Reactor(name="katcp-shared-test")
    reactor.start()
    client = BlockingClient("127.0.0.1", aioserver.port, reactor=reactor)
    release = threading.Event()
    try:
        client.start()
        assert client.wait_protocol(WAIT)
        reactor.add_callback(release.wait, WAIT)   # hold the teardown in the queue
        client.stop()
        client.start()
        release.set()
        reactor.run_sync(lambda: None, timeout=WAIT)  # the old teardown has run
        assert client.wait_protocol(WAIT) and client.running()
        assert client.blocking_request(Message.request("watchdog"), timeout=WAIT)[0].reply_ok()
        assert client.join(0.05) is False          # the new run is not over
        reactor.stop(WAIT)
        assert not client.running()
        assert client.join(WAIT)
    finally:
        release.set()
        client.stop()
        reactor.stop(WAIT)


def test_client_split_by_job_keeps_the_public_names():
    """Issue 12 point 2: client.py is split by job (client_base, client_dispatch,
    client); every public name stays importable from katcp_sync.client (module
    sizes and layers: main's tests/test_layers.py)."""
    from katcp_sync import client, client_base, client_dispatch
    for name in ("DeviceClient", "AsyncClient", "CallbackClient", "BlockingClient",
                 "request_check", "ReplyFuture", "hinted_timeout", "TIMEOUT_HINT_MARGIN"):
        assert hasattr(client, name), name
    assert issubclass(client.DeviceClient, client_dispatch.ClientDispatch)
    assert issubclass(client_dispatch.ClientDispatch, client_base.ClientBase)


def test_set_ioloop_shares_a_reactor_like_the_reactor_argument(aioserver):
    """Issue 12 point 7: ``reactor=`` / ``set_reactor`` are the client's
    names, katcp-python's ``set_ioloop`` (and ``ioloop``) are aliases; a
    reactor set this way is shared: the client neither starts nor stops it."""
    reactor = Reactor(name="katcp-shared-test")
    reactor.start()
    client = BlockingClient("127.0.0.1", aioserver.port)
    try:
        client.set_ioloop(reactor)
        assert client.reactor is reactor and client.ioloop is reactor
        client.start()
        assert client.wait_protocol(WAIT)
        with pytest.raises(RuntimeError, match="before start"):
            client.set_reactor(None)
        reply, _ = client.blocking_request(Message.request("echo", "x"), timeout=WAIT)
        assert reply.arguments == [b"ok", b"x"]
        client.stop()
        assert client.join(WAIT)
        assert reactor.running()
    finally:
        client.stop()
        reactor.stop(WAIT)
    client.set_reactor(None)          # its own reactor again
    assert client.reactor is not reactor
    client.start()
    try:
        assert client.wait_protocol(WAIT)
    finally:
        client.stop()
        client.join(WAIT)


# ---------------------------------------------------------------------------
# Issue 15: clear errors, no silent waits, timeouts from the device's hints


@pytest.mark.parametrize("api", ["blocking_request", "future_request", "callback_request",
                                 "request", "send_request"])
def test_a_request_name_instead_of_a_message_is_a_clear_type_error(api):
    client = BlockingClient("127.0.0.1", 1)
    with pytest.raises(TypeError, match=r"%s\(\) takes a Message, not str 'watchdog': "
                       r"pass Message\.request\('watchdog'\)" % api):
        getattr(client, api)("watchdog")


def test_request_before_start_says_to_call_start():
    client = BlockingClient("127.0.0.1", 1)
    with pytest.raises(KatcpClientDisconnected,
                       match=r"Not connected to 127\.0\.0\.1:1: the client is not started "
                       r"\(call start\(\) first\)"):
        client.blocking_request(Message.request("watchdog"))
    future = client.future_request(Message.request("watchdog"))
    assert "call start()" in str(future.exception(WAIT))


@pytest.mark.parametrize("method", ["wait_protocol", "wait_connected"])
def test_waits_of_a_client_never_started_say_to_call_start_of_a_stopped_one_are_false(
        aioserver, method):
    """katcp-python raises too (its ioloop is None); waiting without a
    timeout would never end, so a forgotten start() hung in silence."""
    client = BlockingClient("127.0.0.1", aioserver.port)
    expected = r"%s\(\): the client for 127\.0\.0\.1:%d is not running \(call start\(\) first\)" % (
        method, aioserver.port)
    with pytest.raises(RuntimeError, match=expected):
        getattr(client, method)(WAIT)
    client.start()
    assert getattr(client, method)(WAIT)
    client.stop()
    client.join(WAIT)
    # Stopped after a run: False at once, as katcp-python's cleared flag
    # (which it gave after the timeout, or never without one).
    assert getattr(client, method)() is False
    assert client.wait_disconnected(0)


def _refused_port():
    """A port nothing listens on: a client there never connects."""
    probe = ScriptedServer(lambda conn: None)
    port = probe.port
    probe.close()
    return port


def _record_sleeps(monkeypatch, thread_ident):
    """Record the timeout of every sleep of thread ``thread_ident()`` in a
    condition or event wait (Python 3: threading's ``Condition.wait``, which
    ``Event.wait`` uses too; Python 2: compat's pipe waits, which both use)."""
    sleeps = queue.Queue()
    if compat.PY2:
        from katcp_sync.compat import waits
        owner, name = waits._PipeWaiter, "sleep_until"
        real = owner.sleep_until

        def recorded(self, done, timeout):
            if compat.get_ident() == thread_ident():
                sleeps.put(timeout)
            return real(self, done, timeout)
    else:
        owner, name = threading.Condition, "wait"
        real = owner.wait

        def recorded(self, timeout=None):
            if compat.get_ident() == thread_ident():
                sleeps.put(timeout)
            return real(self, timeout)
    monkeypatch.setattr(owner, name, recorded)
    return sleeps


@pytest.mark.parametrize("method", ["wait_protocol", "wait_connected", "until_protocol",
                                    "until_connected"])
@pytest.mark.parametrize("timeout", [None, 600.0])
def test_a_stop_wakes_a_waiting_thread_which_never_polls(method, timeout, monkeypatch):
    """A thread waiting for a client that cannot connect returns as soon as
    the client is stopped (False, or KatcpClientDisconnected for until_*):
    the stop wakes it. It sleeps once, for the whole wait, never in slices
    (the old code woke every 0.2 s to look for a stop, since a stop set no
    event)."""
    client = BlockingClient("127.0.0.1", _refused_port())
    client.start()
    results = queue.Queue()

    def wait():
        try:
            results.put(getattr(client, method)(timeout))
        except Exception as exc:
            results.put(exc)

    waiter = threading.Thread(target=wait)
    sleeps = _record_sleeps(monkeypatch, lambda: waiter.ident)
    waiter.daemon = True
    waiter.start()
    try:
        # The waiter sleeps holding nothing another thread needs: the stop
        # may come as soon as it has begun to (it holds the condition's
        # lock until then, so the stop's wake-up cannot come before).
        slept = [sleeps.get(timeout=WAIT)]
        client.stop()
        outcome = results.get(timeout=WAIT)
    finally:
        client.stop()
        client.join(WAIT)
        waiter.join(WAIT)
    if method.startswith("until_"):
        assert isinstance(outcome, KatcpClientDisconnected)
        assert "was stopped" in str(outcome)
    else:
        assert outcome is False
    while not sleeps.empty():
        slept.append(sleeps.get_nowait())
    assert all(t is None or t > 599 for t in slept), slept


def test_until_methods_block_like_the_waits_and_raise_instead_of_false(aioserver):
    """katcp-python's until_running/until_connected/until_protocol/
    until_stopped returned tornado futures; here they block, as the
    high-level client's until_synced does, and raise where the wait_*
    methods return False: KatcpTimeoutError on timeout,
    KatcpClientDisconnected once the client is stopped."""
    client = BlockingClient("127.0.0.1", aioserver.port)
    client.until_stopped(0)                 # never started: stopped
    with pytest.raises(KatcpTimeoutError, match=r"until_running\(\): the client for "
                       r"127\.0\.0\.1:\d+ is not running after 0\.01 seconds"):
        client.until_running(0.01)
    with pytest.raises(RuntimeError, match=r"until_protocol\(\): .* \(call start\(\) first\)"):
        client.until_protocol(WAIT)
    client.start()
    try:
        assert client.until_running(WAIT) is None
        assert client.until_connected(WAIT) is None
        assert client.until_protocol(WAIT) is None
        assert client.protocol_flags is not None
        with pytest.raises(KatcpTimeoutError, match=r"until_stopped\(\): .* has not stopped"):
            client.until_stopped(0.01)
        with pytest.raises(RuntimeError, match="cannot wait on the client's reactor thread"):
            client.reactor.run_sync(lambda: client.until_stopped(WAIT), timeout=WAIT)
    finally:
        client.stop()
    client.until_stopped(WAIT)
    client.join(WAIT)
    for method in (client.until_connected, client.until_protocol):
        with pytest.raises(KatcpClientDisconnected, match="was stopped"):
            method(WAIT)


def test_until_protocol_times_out_with_a_clear_error():
    client = BlockingClient("127.0.0.1", _refused_port())
    client.start()
    try:
        with pytest.raises(KatcpTimeoutError, match=r"until_protocol\(\): the client for "
                           r"127\.0\.0\.1:\d+ is not connected with its protocol known "
                           r"after 0\.05 seconds"):
            client.until_protocol(0.05)
    finally:
        client.stop()
        client.join(WAIT)


def test_failed_connects_keep_warning_with_the_attempt_count(make_client, caplog):
    """wait_protocol() without a timeout never waits in silence: a WARNING on
    the first failed attempt, then one per CONNECT_WARNING_INTERVAL (30 s by
    default; shortened here), each with the attempt count; DEBUG between."""
    probe = ScriptedServer(lambda conn: None)
    port = probe.port
    probe.close()                      # nothing listens on port now
    attempts = queue.Queue()
    with caplog.at_level(logging.DEBUG, logger="katcp_sync.client"):
        client = BlockingClient("127.0.0.1", port)
        client.auto_reconnect_delay = client.auto_reconnect_max_delay = 0.02
        client.CONNECT_WARNING_INTERVAL = 0.3
        client.add_failed_connect_callback(attempts.put)
        client.start()
        try:
            deadline = compat.monotonic() + 0.8
            while compat.monotonic() < deadline:
                attempts.get(timeout=WAIT)
        finally:
            client.stop()
            client.join(WAIT)
    failed = [r for r in caplog.records if r.getMessage().startswith("Failed to connect to")]
    warnings = [r.getMessage() for r in failed if r.levelno == logging.WARNING]
    assert warnings[0].endswith("(attempt 1)")
    assert 2 <= len(warnings) <= 5, warnings            # ~0.8 s / 0.3 s, not one per attempt
    assert len(failed) > len(warnings) + 3              # the others at DEBUG
    counts = [int(w.rsplit(" ", 1)[1].rstrip(")")) for w in warnings]
    assert counts == sorted(counts) and counts[-1] > 2
    assert "127.0.0.1:%d" % port in warnings[0]


def test_timeout_messages_are_rounded(aioserver, make_client):
    client = make_client(aioserver.port)
    with pytest.raises(KatcpTimeoutError,
                       match=r"^Request slow timed out after 0\.3\d? seconds\.$"):
        client.blocking_request(Message.request("slow", 1.0), timeout=0.3)


def test_format_seconds():
    from katcp_sync.connection import format_seconds
    assert format_seconds(3.003591) == "3.0"
    assert format_seconds(120.04) == "120.0"
    assert format_seconds(0.30359) == "0.3"
    assert format_seconds(0.05) == "0.05"
    assert format_seconds(None) == "None"   # a message is always built


def test_timeout_messages_round_their_times_one_way():
    """Issue 15 leftover: every message that states a time goes through
    format_seconds (here the inspecting client's, the reactor's and the
    events module's timeouts), not "%g" or the raw float."""
    from katcp_sync.events import AsyncEvent
    from katcp_sync.inspecting_client import wait_future
    with pytest.raises(KatcpTimeoutError, match=r"^sync timed out after 0\.012 s$"):
        wait_future(Future(), 0.0123456, "sync")
    failed = Future()
    own = KatcpTimeoutError("Request help timed out after 0.5 seconds.")
    failed.set_exception(own)
    with pytest.raises(KatcpTimeoutError) as raised:   # the future's own error, unchanged
        wait_future(failed, 5.0, "sync")
    assert raised.value is own
    reactor = Reactor(name="katcp-format-test")
    reactor.start()
    try:
        release = threading.Event()
        reactor.add_callback(release.wait, WAIT)
        with pytest.raises(KatcpTimeoutError, match=r"within 0\.012 s$"):
            reactor.run_sync(lambda: None, timeout=0.0123456)
    finally:
        release.set()
        reactor.stop(WAIT)
    with pytest.raises(Exception, match=r"^not done within 0\.012 seconds$"):
        AsyncEvent().until_set(timeout=0.0123456).result(WAIT)


def test_hints_asked_of_a_device_with_flag_t_that_does_not_answer(scripted, make_client):
    """A device announcing T that ignores ?request-timeout-hint: the client
    gives up after its timeout and is ready without hints (spec 5.1)."""
    server = scripted(echo_script(v5_greeting(b"5.1-MIT")))   # echoes: "ok", no informs
    client = make_client(server.port, timeout=0.5)
    assert client.request_timeout_hints == {}
    assert server.received.get(timeout=WAIT) == b"?request-timeout-hint"   # no message id

    silent = scripted(lambda conn: (conn.send(*v5_greeting(b"5.1-MIT")), conn.read_line(),
                                    time.sleep(3)))
    start = compat.monotonic()
    client = make_client(silent.port, timeout=0.3, wait=False)
    assert client.wait_protocol(WAIT)
    assert 0.25 < compat.monotonic() - start < 2.5
    assert client.request_timeout_hints == {}


def hostile_hints_script(conn):
    """A 5.1-MIT device whose ?request-timeout-hint informs are mostly bad:
    no timeout, not a number, negative, infinite, absurdly long; one is good."""
    conn.send(*v5_greeting(b"5.1-MIT"))
    while True:
        line = conn.read_line()
        if line.startswith(b"?request-timeout-hint"):
            hints = [b"one-arg", b"word abc", b"negative -5", b"endless inf", b"huge 1e300",
                     b"none 0", b"good 2.5"]
            conn.send(*[reply_line(line, hint, inform=True) for hint in hints]
                      + [reply_line(line, b"ok", b"%d" % len(hints))])
        else:
            conn.send(reply_line(line, b"ok"))


def test_hostile_timeout_hints_are_skipped_or_capped(scripted, make_client, caplog):
    """Spec 5.1: ``#request-timeout-hint name suggestedTimeout``, 0 for none.
    Malformed hints are logged and skipped, the good one is kept, and one too
    long to wait for (inf, 1e300) is capped at MAX_TIMEOUT_HINT, so that a
    request relying on it still works (it raised OverflowError from the
    wait before)."""
    from katcp_sync.client_base import MAX_TIMEOUT_HINT
    server = scripted(hostile_hints_script)
    with caplog.at_level(logging.WARNING, logger="katcp_sync.client"):
        client = make_client(server.port)
    assert client.request_timeout_hints == {
        "endless": MAX_TIMEOUT_HINT, "huge": MAX_TIMEOUT_HINT, "good": 2.5}
    for what in ("needs a request name and a timeout, got ['one-arg']",
                 "timeout hint 'abc' for ?word is not a number",
                 "timeout hint '-5' for ?negative is not a number"):
        assert what in caplog.text
    for name in ("endless", "huge"):
        reply, _ = client.blocking_request(Message.request(name))
        assert reply.reply_ok()
        assert client.future_request(Message.request(name)).result(WAIT)[0].reply_ok()


def test_hints_are_not_asked_without_flag_t(scripted, make_client):
    server = scripted(echo_script(v5_greeting(b"5.1-MI")))
    client = make_client(server.port)
    client.blocking_request(Message.request("watchdog"))
    assert server.received.get(timeout=WAIT) == b"?watchdog[1]"


# Reply matching (spec 2.2, 2.3)

def wrong_name_first_script(conn):
    """Answers ?<name>[id] with #help[id], !help[id] (wrong name, same id)
    before its own #<name>[id] and !<name>[id]."""
    conn.send(*v5_greeting())
    while True:
        line = conn.read_line()
        _, mid, _ = request_parts(line)
        conn.send(b"#help[" + mid + b"] stray", b"!help[" + mid + b"] ok stray")
        conn.send(reply_line(line, b"mine", inform=True), reply_line(line, b"ok", b"mine"))


@pytest.mark.parametrize("api", ["blocking", "future", "blocking-not-alone"])
def test_reply_with_the_same_mid_but_another_name_is_not_the_reply(scripted, make_client,
                                                                   caplog, api):
    """Spec 2.3: a request's informs and reply carry its name (and, spec 2.2,
    its id). !help[9] is not the reply to ?watchdog[9]: it is logged and left
    to the handlers, and the request waits for its own reply."""
    server = scripted(wrong_name_first_script)
    client = make_client(server.port)
    other = None
    if api == "blocking-not-alone":
        other = client.future_request(Message.request("x"))   # no borrowing
        other.result(WAIT)
    with caplog.at_level(logging.WARNING, logger="katcp_sync.client"):
        for _ in range(3):
            if api == "future":
                reply, informs = client.future_request(Message.request("watchdog")).result(WAIT)
            else:
                reply, informs = client.blocking_request(Message.request("watchdog"))
            assert reply.name == "watchdog" and reply.arguments == [b"ok", b"mine"]
            assert [(m.name, m.arguments) for m in informs] == [("watchdog", [b"mine"])]
    assert wait_for(lambda: sum("has the message id of ?watchdog" in r.getMessage()
                                for r in caplog.records) == 3)
    assert len(client._table) == 0


def without_mid_first_script(conn):
    """Answers ?<name>[id] with !<name> (no id) before its !<name>[id]."""
    conn.send(*v5_greeting())
    while True:
        line = conn.read_line()
        name, _, _ = request_parts(line)
        conn.send(b"!" + name + b" ok stray", reply_line(line, b"ok", b"mine"))


def test_reply_without_the_mid_of_a_waiting_request_is_not_its_reply(scripted, make_client,
                                                                    caplog):
    """Spec 2.2: the reply to a request with a message id carries that id. A
    reply without one is not taken as the reply to ?watchdog[1] (which waits
    for its own), and the client says why in a warning: otherwise the request
    just times out, with only a DEBUG line ("Unhandled reply") to explain."""
    server = scripted(without_mid_first_script)
    client = make_client(server.port)
    with caplog.at_level(logging.WARNING, logger="katcp_sync.client"):
        reply, _ = client.blocking_request(Message.request("watchdog"))
        assert reply.mid == b"1" and reply.arguments == [b"ok", b"mine"]
    assert wait_for(lambda: "has no message id but ?watchdog[1] waits for one" in caplog.text)
    assert len(client._table) == 0


def test_a_device_sending_garbage_is_logged_up_to_a_limit(scripted, make_client, caplog):
    """Spec 2: a client logs bad input and answers nothing. A device that
    sends garbage by the thousand gets BAD_LINES_LOGGED lines at ERROR, then
    a note, then DEBUG only (each line at ERROR flooded the logs and kept the
    reactor busy writing them); the client keeps working, and a new
    connection starts counting again."""
    connections = []

    def script(conn):
        connections.append(conn)
        conn.send(*v5_greeting())
        line = conn.read_line()
        if len(connections) == 1:
            conn.send_raw(b"not katcp\n" * 5000 + b"#" + b"x" * 2000 + b"\n")
        conn.send(b"garbage again", reply_line(line, b"ok"))
        conn.read_line()

    server = scripted(script)
    client = make_client(server.port, cls=SmallLines)
    with caplog.at_level(logging.DEBUG, logger="katcp_sync.client"):
        assert client.blocking_request(Message.request("watchdog"))[0].reply_ok()

        def logged(level, text):
            return sum(text in r.getMessage() for r in caplog.records if r.levelno == level)

        # (A reply read by its caller may overtake the lines handed to the reactor.)
        assert wait_for(lambda: logged(logging.DEBUG, "Malformed message") == 4991)
        assert logged(logging.DEBUG, "too long") == 1
        errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
        assert len(errors) == client.BAD_LINES_LOGGED + 1 == 11
        assert errors[-1].startswith("Further malformed lines from 127.0.0.1:")
        client.disconnect()
        assert wait_for(lambda: len(server.connections) == 2) and client.wait_protocol(WAIT)
        caplog.clear()
        assert client.blocking_request(Message.request("watchdog"))[0].reply_ok()
        assert wait_for(lambda: logged(logging.ERROR, "Malformed message") == 1)


# ---------------------------------------------------------------------------
# join(timeout) (issue #11, point 8)

@pytest.mark.parametrize("shared", [False, True], ids=["own-reactor", "shared-reactor"])
def test_join_is_true_only_once_every_thread_the_client_started_has_ended(monkeypatch, shared):
    """A client started on a host name resolves it in a helper thread; join()
    must not report the client finished while that thread still runs."""
    import socket as socket_module
    release = threading.Event()
    resolving = threading.Event()
    real_getaddrinfo = socket_module.getaddrinfo

    def slow_getaddrinfo(host, *args, **kwargs):
        if host != "slow-name.invalid":
            return real_getaddrinfo(host, *args, **kwargs)
        resolving.set()
        release.wait(WAIT)
        raise socket_module.gaierror("no such host (test)")
    monkeypatch.setattr(socket_module, "getaddrinfo", slow_getaddrinfo)
    reactor = None
    if shared:
        reactor = Reactor(name="katcp-join-test")
        reactor.start()
    client = BlockingClient("slow-name.invalid", 1234, reactor=reactor)
    try:
        assert client.join(0) is True     # never started: nothing to wait for
        client.start()
        assert resolving.wait(WAIT)
        client.stop()
        assert client.join(0.1) is False  # the resolver thread still runs
        release.set()
        assert client.join(WAIT) is True
        assert not [t for t in threading.enumerate() if t.name == "katcp-resolve"]
    finally:
        release.set()
        client.stop()
        client.join(WAIT)
        if reactor is not None:
            reactor.stop(WAIT)


@pytest.mark.parametrize("flags", [b"5.1-MI", b"5.0-M"], ids=["mids", "no-mids"])
def test_cancelled_future_request_is_given_up_like_a_timeout(scripted, make_client, flags):
    """Cancelling the future of an outstanding request abandons the request:
    it leaves the table, and (without ids) the next request of its name is
    sent at once instead of waiting behind it for its timeout."""
    server = scripted(first_hang_ignored_script(v5_greeting(flags)))
    client = make_client(server.port)
    future = client.future_request(Message.request("hang"), timeout=WAIT)
    assert server.received.get(timeout=WAIT).startswith(b"?hang")
    assert future.cancel()
    assert len(client._table) == 0
    reply, _ = client.blocking_request(Message.request("hang"), timeout=1.0)
    assert reply.reply_ok()
    assert future.cancelled()


# ---------------------------------------------------------------------------
# A bound on the informs kept for one request


class _NoIdsDemoServer(server_support.DemoServer):
    PROTOCOL_INFO = ProtocolFlags(5, 0, {ProtocolFlags.MULTI_CLIENT})


@pytest.mark.parametrize("ids", [True, False], ids=["ids", "no-ids"])
@pytest.mark.parametrize("api", ["blocking_request", "future_request", "callback_request"])
def test_a_request_with_too_many_informs_fails_and_the_connection_carries_on(
        make_server, make_client, caplog, api, ids):
    """Spec 2.3 sets no limit on the informs of one request. A client keeps
    MAX_INFORMS_PER_REQUEST of them: one more fails the request with a
    clear error (logged), and the rest of its informs and its reply are
    dropped -- without message ids too, where names match replies (spec
    2.3): the next ?echo gets its own reply, not the flood's. The
    connection and other requests carry on."""
    server = make_server(server_support.DemoServer if ids else _NoIdsDemoServer)
    client = make_client(server.bind_address[1])
    assert client.protocol_flags.message_ids is ids
    client.MAX_INFORMS_PER_REQUEST = 5
    connected_at = client.last_connect_time
    flood = Message.request("echo", *range(12))     # ?echo sends one inform per argument
    expected = (r"127\.0\.0\.1:\d+ sent more than 5 informs for \?echo \(the client's "
                r"MAX_INFORMS_PER_REQUEST\): the request failed")
    with caplog.at_level(logging.ERROR, logger="katcp_sync.client"):
        if api == "blocking_request":
            with pytest.raises(KatcpTooManyInformsError, match=expected):
                client.blocking_request(flood, timeout=WAIT)
        elif api == "future_request":
            error = client.future_request(flood, timeout=WAIT).exception(WAIT)
            assert isinstance(error, KatcpTooManyInformsError)
        else:
            replies, informs = queue.Queue(), []
            client.callback_request(flood, reply_cb=replies.put, inform_cb=informs.append,
                                    timeout=WAIT)
            reply = replies.get(timeout=WAIT)
            assert reply.arguments[0] == b"fail"
            assert "sent more than 5 informs" in compat.wire_text(reply.arguments[1])
            assert len(informs) == 5
        reply, informs = client.blocking_request(Message.request("echo", "x"), timeout=WAIT)
    assert reply.arguments == [b"ok", b"x"] and [m.arguments for m in informs] == [[b"x"]]
    assert client.blocking_request(Message.request("watchdog"), timeout=WAIT)[0].reply_ok()
    assert client.is_connected() and client.last_connect_time == connected_at
    assert len([r for r in caplog.records if "more than 5 informs" in r.getMessage()]) == 1
    assert len(client._table) == 0     # the stand-in left with the flood's reply

