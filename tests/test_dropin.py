# -*- coding: utf-8 -*-
"""Porting from katcp-python by changing the import (issue 14).

The names, hooks and behaviours that katcp-python code and test suites rely
on; ``tests/test_katcp_python_suite.py`` runs katcp-python's own tests.
"""

from __future__ import absolute_import, division, print_function


import concurrent.futures
import logging
import socket
import sys
import threading
import time
import unittest

from six.moves._thread import get_ident

from katcp_sync.testing.fixtures import mock

import pytest

from script_support import run

import katcp_sync
from katcp_sync import compat
from katcp_sync import KATCPClientResource, KATCPClientResourceContainer, core, fake_clients
from katcp_sync import ioloop_manager
from katcp_sync.compat import ensure_native_str
from katcp_sync.errors import KatcpTimeoutError
from katcp_sync.events import AsyncEvent, AsyncState, until_any, until_some
from katcp_sync.errors import AsyncReply
from katcp_sync.kattypes import Int, request, return_reply
from katcp_sync.message import Message
from katcp_sync.protocol import ProtocolFlags
from katcp_sync.resource_client import AttrMappingProxy
from katcp_sync.sensor import Sensor
from katcp_sync.server import ClientRequestConnection, DeviceServer
from katcp_sync.testutils import (BlockingTestClient, ClientConnectionTest, DeviceTestServer,
                                  SensorTransitionWaiter, TestUtilMixin, WaitingMock, start_server)

TIMEOUT = 5.0


# -- names ---------------------------------------------------------------------

def test_core_has_katcp_core_names():
    for name in ("Message", "MessageParser", "ProtocolFlags", "Sensor", "Reading",
                 "AsyncReply", "FailReply", "KatcpSyntaxError", "KatcpTypeError",
                 "KatcpClientError", "KatcpVersionError", "KatcpClientDisconnected",
                 "KatcpDeviceError", "DeviceMetaclass", "AttrDict", "AsyncEvent",
                 "AsyncState", "until_any", "until_some", "DEFAULT_KATCP_MAJOR"):
        assert hasattr(core, name), name
    assert core.Message is katcp_sync.Message and core.Sensor is katcp_sync.Sensor
    assert katcp_sync.DeviceMetaclass is core.DeviceMetaclass
    assert issubclass(katcp_sync.DeviceServerMetaclass, katcp_sync.DeviceMetaclass)


_SUBMODULES_AFTER_IMPORT = r"""
import katcp_sync as katcp
from katcp_sync.ioloop_manager import IOLoopManager
assert katcp.resource_client.KATCPClientResource is katcp.KATCPClientResource
assert katcp.ioloop_manager.IOLoopManager is IOLoopManager
assert katcp.core.Message is katcp.Message
print("ok")
"""


def test_import_katcp_gives_the_submodules_katcp_python_code_uses():
    """katcp-python's ``import katcp`` loads ``katcp.resource_client``,
    ``katcp.ioloop_manager`` and ``katcp.core``, and scripts use them with
    no other import (``katcp.resource_client.KATCPClientResource(spec)``,
    as in ska-sa/katsdpscripts' RSC maintenance scripts). A fresh
    interpreter, since this one has imported them already."""
    result = run([sys.executable, "-c", _SUBMODULES_AFTER_IMPORT])
    assert result.returncode == 0, result.stderr
    assert result.stdout.decode("ascii").split() == ["ok"]


def test_hashable_identity():
    class Thing(object):
        def method(self):
            pass

    a, b = Thing(), Thing()
    assert core.hashable_identity(a.method) == core.hashable_identity(a.method)
    assert core.hashable_identity(a.method) != core.hashable_identity(b.method)
    assert core.hashable_identity("x") == core.hashable_identity("x")


def test_compat_ensure_native_str():
    assert ensure_native_str(b"caf\xc3\xa9") == "café"
    with pytest.raises(TypeError):
        ensure_native_str(9)


def test_attr_mapping_proxy():
    proxy = AttrMappingProxy(katcp_sync.AttrDict(a=2, b=1), lambda v: v * 10)
    assert dict(proxy) == {"a": 20, "b": 10}
    assert proxy.a == 20 and proxy["b"] == 10


# -- the dispatch metaclass ------------------------------------------------------

@pytest.mark.parametrize("prefix", ["request_", "inform_"])
def test_handler_without_docstring_fails_as_in_katcp_python(prefix):
    """katcp-python's metaclass asserted; code catches AssertionError."""
    def handler(self, req, msg):
        pass

    with pytest.raises(AssertionError, match="docstring"):
        type("Bad", (DeviceServer,), {prefix + "baz": handler})
    with pytest.raises(TypeError):
        type("Bad", (DeviceServer,), {prefix + "baz": handler})


def test_protocol_major_must_be_4_or_5():
    class Old(DeviceServer):
        PROTOCOL_INFO = ProtocolFlags(3, 0, "M")

    with pytest.raises(ValueError, match="major versions 4 and 5"):
        Old("127.0.0.1", 0)


# -- hooks -----------------------------------------------------------------------

class Recording(DeviceServer):
    """A server overriding handle_message, as katcp-python subclasses do."""

    def __init__(self, *args, **kwargs):
        super(Recording, self).__init__(*args, **kwargs)
        self.seen = []

    def handle_message(self, client_conn, msg):
        self.seen.append(str(msg))
        if msg.name != "swallowed":
            super(Recording, self).handle_message(client_conn, msg)
        else:
            client_conn.reply(Message.reply("swallowed", "ok", "by-hook"), msg)


def test_handle_message_sees_every_message_and_can_intercept():
    with start_server(Recording) as server:
        with BlockingTestClient(None, *server.bind_address) as client:
            client.send_message(Message.inform("nobody-handles-this"))
            reply, _ = client.blocking_request(Message.request("watchdog"), timeout=TIMEOUT)
            assert reply.reply_ok()
            reply, _ = client.blocking_request(Message.request("swallowed"), timeout=TIMEOUT)
            assert reply.arguments == [b"ok", b"by-hook"]
    # The client's own ?request-timeout-hint on connecting (flag T) aside.
    seen = [m for m in server.seen if not m.startswith("?request-timeout-hint")]
    assert seen[:3] == ["#nobody-handles-this", "?watchdog[1]", "?swallowed[2]"]


def test_request_goes_through_an_overridden_send_message():
    with start_server(DeviceTestServer) as server:
        with BlockingTestClient(None, *server.bind_address) as client:
            client.wait_protocol(TIMEOUT)
            sent = []
            original = client.send_message

            def spy(msg):
                sent.append(msg.mid)
                original(msg)

            client.send_message = spy
            reply, _ = client.blocking_request(Message.request("watchdog"), timeout=TIMEOUT)
            assert reply.reply_ok() and sent == [reply.mid]

            def broken(msg):
                raise katcp_sync.KatcpClientError("Error %s" % msg.name)

            client.send_message = broken
            replies = []
            done = threading.Event()
            client.callback_request(Message.request("foo"),
                                    reply_cb=lambda m: (replies.append(m), done.set()))
            assert done.wait(TIMEOUT)
            assert replies[0].name == "foo" and replies[0].arguments == [b"fail", b"Error foo"]


# -- client protocol detection (spec 4.2, 4.2.1) ------------------------------

_V5_IDS = Message.inform("version-connect", "katcp-protocol", "5.0-I")


def _closed_port():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


def test_client_not_started_detects_the_protocol_of_informs_handed_to_it():
    """katcp-python's detection tests hand informs to handle_message() of a
    client never started: #version-connect (spec 4.2) is v5, #version or
    #build-state (spec 4.2.1) v4, with millisecond timestamps and no ids."""
    v5 = katcp_sync.DeviceClient("127.0.0.1", 0)
    v5.handle_message(_V5_IDS)
    assert v5._received_protocol_info.is_set()
    assert v5.protocol_flags == ProtocolFlags(5, 0, "I") and v5._server_supports_ids is True
    assert v5.convert_seconds(1) == 1
    v4 = katcp_sync.DeviceClient("127.0.0.1", 0)
    v4.handle_message(Message.inform("build-state", "blah-5.21a3"))
    v4.handle_message(Message.inform("version", "7.3"))
    assert v4._received_protocol_info.is_set()
    assert v4.protocol_flags == ProtocolFlags(4, 0, "") and v4._server_supports_ids is False
    assert v4.convert_seconds(1) == 1000


def test_inconsistent_protocol_is_an_error_that_disconnects_for_good(caplog):
    client = katcp_sync.DeviceClient("127.0.0.1", 0)
    client.handle_message(Message.inform("version", "7.3"))
    client._disconnect = mock.Mock()
    with caplog.at_level(logging.ERROR, logger="katcp_sync.client"):
        client.handle_message(_V5_IDS)
    assert client._disconnect.call_count == 1
    assert client.auto_reconnect is False and client._auto_reconnect is False
    assert "Protocol Version Error" in caplog.text


def test_preset_protocol_is_known_at_once_until_start():
    client = katcp_sync.DeviceClient("127.0.0.1", _closed_port(), auto_reconnect=False)
    client.preset_protocol_flags(ProtocolFlags(4, 0, ""))
    assert client._received_protocol_info.is_set() and client._server_supports_ids is False
    assert client.convert_seconds(1) == 1000
    client.preset_protocol_flags(ProtocolFlags(5, 0, "I"))
    assert client._server_supports_ids is True and client.convert_seconds(1) == 1
    lost = []
    client.add_disconnected_callback(lambda: lost.append(True))
    client.start()
    try:
        # A new run knows nothing until its connection does.
        assert not client._received_protocol_info.is_set()
    finally:
        client.stop()
        client.join(TIMEOUT)
    assert lost == []    # no connection was ever ready


def test_client_ioloop_is_its_reactor():
    client = katcp_sync.BlockingClient("127.0.0.1", 1)
    assert client.ioloop is client.reactor


def test_request_connection_replies_through_the_connection():
    """katcp-python's layering: req.inform/req.reply call the client
    connection's inform()/reply(), which tests mock."""
    conn = mock.Mock()
    req_msg = Message.request("test-request", "a", mid=42)
    req = ClientRequestConnection(conn, req_msg)
    req.inform(b"inf1")
    (inform,), _ = conn.inform.call_args
    assert (inform.mtype, inform.name, inform.mid) == (Message.INFORM, "test-request", b"42")
    req.reply(b"ok")
    reply, orig = conn.reply.call_args[0]
    assert orig is req_msg and reply.mid == b"42" and reply.arguments == [b"ok"]
    with pytest.raises(RuntimeError):
        req.reply(b"ok")


class OldStyleSender(DeviceServer):
    """Handlers sending through the server's methods with their ``req``, as
    code written for katcp-python < 0.6 does (corr2, katcbfsim)."""

    def request_informs(self, sock, msg):
        """inform and reply_inform through the server."""
        self.reply_inform(sock, Message.inform("informs", "first"), msg)
        self.inform(sock, Message.inform("unsolicited", "x"))
        return Message.reply("informs", "ok", "1")

    def request_later(self, sock, msg):
        """An AsyncReply answered through server.reply from another thread."""
        def later():
            self.reply_inform(sock, Message.inform("later", "step"), msg)
            self.reply(sock, Message.reply("later", "ok"), msg)
        threading.Timer(0.01, later).start()
        raise AsyncReply()


@pytest.mark.filterwarnings("ignore:server.*deprecated:DeprecationWarning")
def test_server_inform_and_reply_take_the_handlers_req():
    with start_server(OldStyleSender) as server:
        with BlockingTestClient(None, *server.bind_address) as client:
            recorder = client.message_recorder(whitelist=["unsolicited"])
            reply, informs = client.blocking_request(Message.request("informs"),
                                                     timeout=TIMEOUT)
            assert reply.arguments == [b"ok", b"1"]
            assert [(m.name, m.arguments) for m in informs] == [("informs", [b"first"])]
            assert recorder.get_msgs(min_number=1, timeout=TIMEOUT)[0].mid is None
            reply, informs = client.blocking_request(Message.request("later"), timeout=TIMEOUT)
            assert reply.arguments == [b"ok"]
            assert [m.arguments for m in informs] == [[b"step"]]
        req = ClientRequestConnection(mock.Mock(), Message.request("x", mid=7))
        with pytest.warns(DeprecationWarning):
            server.inform(req, Message.inform("y"))
        req.client_connection.inform.assert_called_once_with(Message.inform("y"))


def test_handle_request_takes_katcp_pythons_connection_and_message():
    """katcp-python's ``handle_request(client_conn, msg)``: the reply goes to
    the connection, with the request's id."""
    server = DeviceServer("127.0.0.1", 0)
    conn = mock.Mock()
    server.handle_request(conn, Message.request("watchdog", mid=5))
    reply, orig = conn.reply.call_args[0]
    assert str(reply) == "!watchdog[5] ok" and orig.name == "watchdog"


class HardwareWrapper(DeviceServer):
    """A subclass keeping its own state in common private names."""

    def __init__(self, host, port):
        super(HardwareWrapper, self).__init__(host, port)
        self._host, self._port = "192.0.2.1", 7147     # the device it wraps
        self._clients, self._pool = {}, None           # its downstream connections
        self._listener = self._services = None


def test_subclass_private_attributes_do_not_collide_with_the_servers():
    with start_server(HardwareWrapper) as server:
        host, port = server.bind_address
        assert host == "127.0.0.1" and port not in (0, 7147)
        with BlockingTestClient(None, host, port) as client:
            reply, informs = client.blocking_request(Message.request("client-list"),
                                                     timeout=TIMEOUT)
            assert reply.arguments == [b"ok", b"1"]
        assert server._clients == {} and server._pool is None


@pytest.mark.parametrize("auto, expected", [(True, 1), (False, 0)])
def test_automatic_interface_changed_can_be_switched_off(auto, expected):
    with start_server(DeviceServer) as server:
        server.AUTO_INTERFACE_CHANGED = auto
        with BlockingTestClient(None, *server.bind_address) as client:
            client.wait_protocol(TIMEOUT)
            recorder = client.message_recorder(whitelist=["interface-changed"])
            server.add_sensor(Sensor.integer("new.sensor"))
            client.blocking_request(Message.request("watchdog"), timeout=TIMEOUT)
            assert len(recorder.get_msgs(min_number=expected, timeout=TIMEOUT)) == expected


def test_unknown_sensor_errors_are_what_katcp_python_raised():
    """katcp-python's ``remove_sensor`` raised KeyError (``get_sensor``:
    ValueError); ported code catching either keeps working."""
    server = DeviceServer("127.0.0.1", 0)
    server.add_sensor(Sensor.integer("s.one"))
    server.add_sensor(Sensor.integer(u"s.two"))
    server.remove_sensor(u"s.two")              # text names on Python 2 too
    assert not server.has_sensor("s.two")
    for call in (server.remove_sensor, server.get_sensor):
        with pytest.raises(KeyError) as info:
            call("nosuch")
        assert isinstance(info.value, ValueError)
        assert str(info.value) == "Unknown sensor 'nosuch'"
    server.remove_sensor("s.one")
    with pytest.raises(KeyError):
        server.remove_sensor("s.one")


# -- ioloop_manager and events -----------------------------------------------------

def test_ioloop_manager_runs_a_reactor_thread():
    manager = ioloop_manager.IOLoopManager(managed_default=True)
    reactor = manager.get_ioloop()
    assert manager.get_reactor() is reactor          # the canonical name (issue 12)
    manager.start()
    try:
        wrapper = ioloop_manager.IOLoopThreadWrapper(reactor)
        assert wrapper.reactor is reactor and wrapper.ioloop is reactor
        assert wrapper.call_in_ioloop(get_ident) != get_ident()
        add = wrapper.decorate_callable(lambda a, b=1: a + b)
        assert add(2, b=3, timeout=TIMEOUT) == 5
        own = KatcpTimeoutError("the call's own timeout")
        failed = concurrent.futures.Future()
        failed.set_exception(own)
        with pytest.raises(KatcpTimeoutError) as raised:  # not "No result within"
            wrapper.call_in_ioloop(lambda: failed, timeout=TIMEOUT)
        assert raised.value is own
    finally:
        manager.stop(TIMEOUT)
        manager.join(TIMEOUT)
    assert not reactor.running()


def test_async_event_and_state_hand_out_futures():
    event = AsyncEvent()
    waiting = event.until_set()
    assert not waiting.done()
    event.set()
    assert waiting.result(0) is True and event.is_set() and event.wait(0)
    event.clear()
    with pytest.raises(concurrent.futures.TimeoutError):
        event.until_set(timeout=0.01).result(TIMEOUT)
    state = AsyncState(("off", "on"))
    on = state.until_state("on")
    state.set_state("on")
    assert on.result(0) and state.until_state("on").done()
    with pytest.raises(ValueError):
        state.set_state("bogus")


def test_until_any_and_until_some():
    futures = [concurrent.futures.Future() for _ in range(3)]
    first = until_any(*futures)
    some = until_some(*futures, done_at_least=2)
    futures[1].set_result("b")
    assert first.result(0) == "b" and not some.done()
    futures[2].set_result("c")
    assert some.result(0) == [(1, "b"), (2, "c")]


# -- katcp-python's fixtures ---------------------------------------------------------

class FixtureTest(unittest.TestCase, TestUtilMixin):
    """katcp-python's fixtures in a unittest suite, as ported suites use them."""

    def setUp(self):
        self.server = DeviceTestServer("127.0.0.1", 0)
        self.server.start(timeout=TIMEOUT)
        self.addCleanup(self.server.join, TIMEOUT)
        self.addCleanup(self.server.stop)
        self.client = BlockingTestClient(self, *self.server.bind_address)
        self.client.start(timeout=TIMEOUT)
        self.addCleanup(self.client.join, TIMEOUT)
        self.addCleanup(self.client.stop)
        self.assertTrue(self.client.wait_protocol(TIMEOUT))

    def test_requests_sensors_and_messages(self):
        self.client.test_help(["cancel-slow-command", "decorated", "decorated-return-exception",
                               "new-command", "raise-exception", "raise-fail", "slow-command"])
        self.client.test_sensor_list([
            ("an.int", "An Integer.", "count", "integer", "-5", "5"),
            ("a.discrete", "A Discrete.", "", "discrete", "one", "two", "three"),
            ("a.float", "A Float.", "", "float", "-123.4", "123.4"),
            ("a.floatwithzero", "A Float with zero.", "", "float", "-123.0", "123.0"),
        ])
        reply, informs = self.client.blocking_request(
            Message.request("decorated-return-exception"), timeout=TIMEOUT)
        self._assert_msgs_equal([reply], [r"!decorated-return-exception[3] fail "
                                          r"An\_exception\_occurred!"])
        self.client.assert_request_succeeds("new-command", args_equal=["param1", "param2"])
        self.assertGreaterEqual(len(self.server.until_messages(4).result(TIMEOUT)), 4)

    def test_slow_command_is_cancelled(self):
        slow = self.client.future_request(Message.request("slow-command", 60))
        reply, _ = self.client.blocking_request(Message.request("cancel-slow-command"),
                                                timeout=TIMEOUT)
        self.assertTrue(reply.reply_ok())
        self.assertTrue(slow.result(TIMEOUT)[0].reply_ok())

    def test_sensor_value_through_handle_message(self):
        conn = ClientConnectionTest()
        self.server.handle_message(conn, Message.request("sensor-value", "an.int"))
        self._assert_msgs_equal(conn.messages, ["#sensor-value 12345.000000 1 an.int nominal 3",
                                                "!sensor-value ok 1"])


def test_waiting_mock_waits_for_calls_from_other_threads():
    waiting = WaitingMock()
    threading.Thread(target=waiting, args=(1,)).start()
    assert waiting.assert_wait_call_count(1, timeout=TIMEOUT)
    with pytest.raises(AssertionError):
        waiting.assert_wait_call_count(2, timeout=0.01)


# -- private attributes katcp-python's tests read -------------------------------------

def test_sensor_observers_read_only_set():
    """katcp-python's ``sensor._observers`` (a set), read-only here."""
    sensor = Sensor.integer("an.int", "An integer.", "", [0, 10])
    tree, other = WaitingMock(), WaitingMock()
    assert sensor._observers == set()
    sensor.attach(tree)
    sensor.attach(other)
    assert sensor._observers == {tree, other} and isinstance(sensor._observers, frozenset)
    sensor.detach(tree)
    assert sensor._observers == {other}
    with pytest.raises(AttributeError):
        sensor._observers = set()


def test_transition_waiter_is_its_own_observer():
    """katcp-python's waiter attached ``waiter._observer`` whose update was
    ``waiter._sensor_callback``: here the waiter is that observer."""
    sensor = Sensor.integer("an.int", "An integer.", "", [0, 10], default=0)
    waiter = SensorTransitionWaiter(sensor, (0, 2))
    assert waiter._observer in sensor._observers
    assert waiter._observer.update == waiter._sensor_callback
    waiter.teardown()
    assert waiter._observer not in sensor._observers


# -- fake_clients ----------------------------------------------------------------------

class FakeHandlers(object):
    @request(Int(), Int())
    @return_reply(Int())
    def request_add_test(self, req, a, b):
        "Add numbers"
        req.inform(a * 2, b * 3)
        return ("ok", a + b)


def _eventually(predicate, timeout=TIMEOUT):
    deadline = compat.monotonic() + timeout
    while not predicate():
        assert compat.monotonic() < deadline, "condition not met within %s s" % timeout
        time.sleep(0.01)


def test_fake_resource_is_shaped_through_its_manager():
    resource, manager = fake_clients.fake_KATCP_client_resource_factory(
        KATCPClientResource, {}, dict(name="testdev", address=("testhost", 12345),
                                      controlled=True))
    resource.start()
    try:
        resource.until_synced(TIMEOUT)
        manager.add_sensors({"an-int": ("An integer sensor", "things", "integer", 0, 10),
                             "a-string": ("A string sensor", "", "string")})
        _eventually(lambda: {"an_int", "a_string"} <= set(dict.keys(resource.sensor)))
        manager.add_request_handlers_object(FakeHandlers())
        _eventually(lambda: "add_test" in resource.req)
        reply = resource.req.add_test(1, 5, mid=123)
        assert str(reply.informs[0]) == "#add-test[123] 2 15"
        assert str(reply.reply) == "!add-test[123] ok 6"
        manager.sensors["an-int"].set_value(7)
        assert resource.sensor.an_int.get_value() == 7
    finally:
        resource.stop()
        resource.join(TIMEOUT)
    assert not manager.device.running()


def test_fake_container_children_have_their_own_devices():
    container, manager = fake_clients.fake_KATCP_client_resource_container_factory(
        KATCPClientResourceContainer, {},
        dict(name="test-container", clients={
            "client1": dict(address=("client1-addr", 1234), controlled=True),
            "client-2": dict(address=("client2-addr", 1235), controlled=False)}))
    container.start()
    try:
        container.until_synced(TIMEOUT)
        manager.add_sensors("client-2", {"a-string": ("A string sensor", "", "string")})
        _eventually(lambda: "client_2_a_string" in container.sensor)
        manager.add_request_handlers_object("client1", FakeHandlers())
        _eventually(lambda: "client1_add_test" in container.req)
        assert container.req.client1_add_test(2, 3).reply.arguments == [b"ok", b"5"]
    finally:
        container.stop()
        container.join(TIMEOUT)
