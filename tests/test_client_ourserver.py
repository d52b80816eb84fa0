"""The clients against katcp_sync's own DeviceServer (spec 2.2: ids; 4: connect informs)."""

from __future__ import absolute_import, division, print_function


import random
import threading

import pytest

from katcp_sync.compat import queue
from katcp_sync.errors import AsyncReply, KatcpClientDisconnected
from katcp_sync.message import Message
from katcp_sync.server import DeviceServer

from conftest import load_example
from client_support import WAIT, jitter_from_threads


class JitterServer(DeviceServer):
    """Replies to ?jitter later, from the reactor, so replies come out of order."""

    VERSION_INFO = ("jitter-api", 1, 0)
    BUILD_INFO = ("jitter-impl", 0, 1, "")

    def setup_sensors(self):
        pass

    def request_jitter(self, req, msg):
        """Reply ok <tag> after a random delay of up to 2 ms."""
        self.ioloop.call_later(random.random() * 0.002, req.reply, "ok", msg.arguments[0])
        raise AsyncReply


def start_server(cls, port=0):
    server = cls("127.0.0.1", port)
    server.start()
    assert server.wait_running(WAIT)
    return server


@pytest.fixture
def jitter_server():
    server = start_server(JitterServer)
    yield server
    server.stop()
    server.join(WAIT)


@pytest.fixture
def client_of(make_client):
    """client_of(server): a started BlockingClient of one of our servers."""
    return lambda server, **kwargs: make_client(server.bind_address[1], **kwargs)


def test_32_threads_200_requests_out_of_order_replies(jitter_server, client_of):
    client = client_of(jitter_server)
    assert client.protocol_flags.message_ids
    errors = jitter_from_threads(client, threads=32, requests=200)
    assert not errors, errors[:3]


def test_tutorial_server_versions_and_requests(client_of):
    server = start_server(load_example("tutorial_server").MyServer)
    try:
        client = client_of(server)
        assert str(client.protocol_flags) == "5.0-IM"
        reply, informs = client.blocking_request(Message.request("add", 3, 6))
        assert reply.arguments == [b"ok", b"9.0"] and informs == []
        # (After a reply: the whole greeting, which came before it, is in.)
        assert client.versions["katcp-device"][0] == "example-api-1.0"
        reply, _ = client.blocking_request(Message.request("raw-reverse", "a", "b"))
        assert reply.arguments == [b"ok", b"b", b"a"]
    finally:
        server.stop()
        server.join(WAIT)


def test_v4_tutorial_server_gets_no_mids_and_ms_conversion(client_of):
    server = start_server(load_example("tutorial_server_v4").MyServer)
    try:
        client = client_of(server)
        assert client.protocol_flags.major == 4
        assert client.convert_seconds(2) == 2000
        reply, _ = client.blocking_request(Message.request("add", 1, 2))
        assert reply.mid is None and reply.reply_ok()
    finally:
        server.stop()
        server.join(WAIT)


def test_reconnect_when_our_server_restarts_on_the_same_port(client_of):
    server = start_server(JitterServer)
    client = client_of(server)
    events = queue.Queue()
    client.add_connected_callback(lambda: events.put("up"))
    client.add_disconnected_callback(lambda: events.put("down"))
    port = server.bind_address[1]
    server.stop()
    server.join(WAIT)
    assert events.get(timeout=WAIT) == "down"
    with pytest.raises(KatcpClientDisconnected):
        client.blocking_request(Message.request("watchdog"), timeout=1)
    server = start_server(JitterServer, port)
    try:
        assert events.get(timeout=WAIT) == "up"
        assert client.blocking_request(Message.request("jitter", "x"))[0].arguments == [b"ok", b"x"]
    finally:
        server.stop()
        server.join(WAIT)


def test_inform_and_disconnected_callbacks_can_be_removed(jitter_server, client_of):
    """remove_inform_callback / remove_disconnected_callback really unhook."""
    client = client_of(jitter_server)
    kept, removed = queue.Queue(), queue.Queue()
    client.add_inform_callback("ping", kept.put)
    client.add_inform_callback("ping", removed.put)
    client.remove_inform_callback("ping", removed.put)
    jitter_server.mass_inform(Message.inform("ping", "1"))
    assert kept.get(timeout=WAIT).arguments == [b"1"]
    assert client.blocking_request(Message.request("watchdog"))[0].reply_ok()  # barrier
    assert removed.empty()

    lost_kept, lost_removed = threading.Event(), threading.Event()
    client.add_disconnected_callback(lost_kept.set)
    client.add_disconnected_callback(lost_removed.set)
    client.remove_disconnected_callback(lost_removed.set)
    client.disconnect()
    assert lost_kept.wait(WAIT)
    assert client.wait_protocol(WAIT)  # reconnected: every callback has run by now
    assert not lost_removed.is_set()


def test_connected_callback_added_after_wait_protocol_waits_for_the_next_connection(
        jitter_server, make_client):
    """A thread that wait_protocol woke may add a connected callback before
    the reactor runs this connection's: it is for the next connection (on
    Python 2 the woken thread often ran first and saw a stale "up")."""
    from katcp_sync.client import BlockingClient

    events = queue.Queue()

    class Client(BlockingClient):
        def _announce_ready(self):
            ready = self._received_protocol_info
            original_set = ready.set

            def set_and_add():
                original_set()
                self.add_connected_callback(lambda: events.put("up"))   # the woken thread
            ready.set = set_and_add
            super(Client, self)._announce_ready()
            ready.set = original_set

    make_client(jitter_server.bind_address[1], cls=Client)
    assert events.empty()
