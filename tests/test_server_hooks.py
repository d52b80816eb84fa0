"""katcp-python's DeviceServer hooks, overridden or called by subclasses (issue 14).

katcp-python's ``handle_message`` hands informs to ``handle_inform`` and
replies to ``handle_reply``, which run the ``inform_*``/``reply_*``
methods; a handler's unexpected exception becomes the reply
``create_exception_reply_and_log(req_msg, exc_info)`` builds; a server
checks ``PROTOCOL_INFO`` against ``SUPPORTED_PROTOCOL_MAJOR_VERSIONS``.
Code written for it overrides or calls each of these, and keeps its own
state in private attributes of its own choosing.
"""

from __future__ import absolute_import, division, print_function

import concurrent.futures
import logging
import sys
import threading
import time

import pytest

from katcp_sync import compat
from katcp_sync.message import Message
from katcp_sync.protocol import ProtocolFlags
from katcp_sync.sensor import Sensor
from katcp_sync.server import AsyncDeviceServer, DeviceServer
from katcp_sync.testutils import BlockingTestClient, start_server

from server_support import TIMEOUT, DemoServer, args, record_read_next


def _thread_kind():
    name = threading.current_thread().name
    return "worker" if name.startswith("katcp-server-handler") else name


class Hooked(DemoServer):
    """Overrides handle_inform and handle_reply as katcp-python code does:
    records every message, swallows ``#secret`` and ``!secret``, passes the
    rest on to the base method (which runs the inform_*/reply_* methods)."""

    READ_AHEAD_TIME = 2.0   # the fast path, wherever the machine allows it

    def __init__(self, *a, **kw):
        self.hooked = []
        super(Hooked, self).__init__(*a, **kw)

    def handle_inform(self, connection, msg):
        self.hooked.append((str(msg), _thread_kind()))
        if msg.name == "boom":
            raise RuntimeError("handle_inform failed on purpose")
        if msg.name != "secret":
            super(Hooked, self).handle_inform(connection, msg)

    def handle_reply(self, connection, msg):
        self.hooked.append((str(msg), _thread_kind()))
        if msg.name != "secret":
            super(Hooked, self).handle_reply(connection, msg)

    def request_threads(self, req, msg):
        """Reply with the kind of thread handlers run on."""
        return req.make_reply("ok", _thread_kind())


def test_overridden_handle_inform_and_handle_reply_see_every_inform_and_reply(
        make_server, connect):
    """Old code: the overrides were never called (informs and replies went
    straight to the inform_*/reply_* methods, or were dropped)."""
    server = make_server(Hooked)
    client = connect(server)
    client.send("#hello there", "#secret a", "#unknown b", "!thing ok", "!secret ok")
    assert args(client.request("?watchdog")[1]) == ["ok"]
    assert [m for m, _ in server.hooked] == [
        "#hello there", "#secret a", "#unknown b", "!thing ok", "!secret ok"]
    # The base methods ran the handlers of what was passed on.
    assert [args(m) for _, m in server.informs_seen] == [["there"]]
    assert [args(m) for _, m in server.replies_seen] == [["ok"]]
    # A swallowed reply is nobody's business: no "#log error" for it.
    assert client.no_message()


def test_handle_reply_base_answers_an_unexpected_reply(make_server, connect):
    """The base handle_reply of a reply nobody handles does what the server
    does without the hook: ``#log error`` (spec 2)."""
    server = make_server(Hooked)
    client = connect(server)
    client.send("!other[3] ok")
    msg = client.read_message()
    assert (msg.name, args(msg)[0]) == ("log", "error") and "!other[3] ok" in args(msg)[3]


def test_hooks_run_in_turn_on_the_request_threads(make_server, connect):
    """The same thread rules as requests: on a worker for a DeviceServer, in
    the client's order, before the requests that came after them."""
    server = make_server(Hooked)
    client = connect(server)
    for i in range(3):
        client.send("#hello %d" % i)
        assert args(client.request("?threads")[1]) == ["ok", "worker"]
    assert server.hooked == [("#hello %d" % i, "worker") for i in range(3)]


class AsyncHooked(AsyncDeviceServer):
    def __init__(self, *a, **kw):
        self.hooked = []
        super(AsyncHooked, self).__init__(*a, **kw)

    def handle_inform(self, connection, msg):
        self.hooked.append((str(msg), self.reactor.in_reactor_thread()))


def test_reactor_thread_servers_call_the_hooks_on_the_reactor(make_server, connect):
    server = make_server(AsyncHooked)
    client = connect(server)
    client.send("#hello")
    assert args(client.request("?watchdog")[1]) == ["ok"]
    assert server.hooked == [("#hello", True)]


def test_a_hook_that_raises_is_logged_and_the_client_served(make_server, connect, caplog):
    server = make_server(Hooked)
    client = connect(server)
    with caplog.at_level(logging.ERROR, logger="katcp_sync"):
        client.send("#boom")
        assert args(client.request("?watchdog")[1]) == ["ok"]
    assert any(r.exc_info and "on purpose" in str(r.exc_info[1]) for r in caplog.records)
    assert client.no_message()


def test_overridden_handle_message_reaches_the_overridden_handle_inform(make_server, connect):
    """katcp-python's handle_message hands informs to handle_inform: a server
    overriding both sees an inform in both, outer first."""
    class Both(Hooked):
        def handle_message(self, client_conn, msg):
            self.hooked.append(("outer " + str(msg), _thread_kind()))
            super(Both, self).handle_message(client_conn, msg)

    server = make_server(Both)
    client = connect(server)
    client.send("#hello x")
    assert args(client.request("?watchdog")[1]) == ["ok"]
    assert [m for m, _ in server.hooked][:2] == ["outer #hello x", "#hello x"]
    assert [args(m) for _, m in server.informs_seen] == [["x"]]


def test_handle_inform_and_handle_reply_can_be_called(make_server, connect):
    """Code written for katcp-python calls them (tests, proxies); they run the
    handler on the calling thread. Old code: AttributeError."""
    server = make_server(DemoServer)
    connect(server)
    conn = server.get_clients()[0]
    server.handle_inform(conn, Message.inform("hello", "direct"))
    server.handle_reply(conn, Message.reply("thing", "ok", "direct"))
    server.handle_inform(conn, Message.inform("nobody-handles-this"))
    assert [args(m) for _, m in server.informs_seen] == [["direct"]]
    assert [args(m) for _, m in server.replies_seen] == [["ok", "direct"]]


def test_inform_hooks_keep_the_fast_path(make_server, connect):
    """Only an overridden handle_message (which sees every request) turns the
    worker's read-ahead off; handle_inform and handle_reply overrides do not,
    informs read ahead go to the reactor and through the hook in order."""
    server = make_server(Hooked)
    client = connect(server)
    taken = record_read_next(server)
    for i in range(5):
        assert args(client.request("?echo %d" % i)[1]) == ["ok", str(i)]
    client.send("#hello late")
    assert args(client.request("?echo x")[1]) == ["ok", "x"]
    assert taken
    assert [m for m, _ in server.hooked] == ["#hello late"]


# -- handle_request -------------------------------------------------------------------

class RequestHooked(DemoServer):
    """Overrides handle_request as katcp-python code does (an access check):
    records every request and the thread, refuses ``?denied`` itself, passes
    the rest on to the base method."""

    READ_AHEAD_TIME = 2.0   # the fast path, wherever the machine allows it

    def __init__(self, *a, **kw):
        self.requests_hooked = []
        super(RequestHooked, self).__init__(*a, **kw)

    def handle_request(self, connection, msg):
        self.requests_hooked.append((msg.name, _thread_kind()))
        if msg.name == "denied":
            connection.reply(Message.reply("denied", "fail", "not allowed"), msg)
            return
        super(RequestHooked, self).handle_request(connection, msg)


def test_overridden_handle_request_sees_every_request_on_a_worker(make_server, connect):
    """Old code: the override was never called. Built-in requests go through
    it too, on a worker like the rest (the hook is user code: it may block,
    and the reactor must not); replies keep the client's order, also for a
    handler replying later with a future."""
    server = make_server(RequestHooked)
    client = connect(server)
    assert args(client.request("?watchdog")[1]) == ["ok"]
    assert args(client.request("?denied")[1]) == ["fail", "not allowed"]
    client.send("?future a", "?echo b")
    deadline = compat.monotonic() + TIMEOUT
    while not server.later:
        assert compat.monotonic() < deadline
        time.sleep(0.001)
    req, future = server.later[0]
    future.set_result(req.make_reply("ok", "a"))
    assert args(client.read_message()) == ["ok", "a"]
    assert client.read_message().name == "echo"
    assert args(client.read_message()) == ["ok", "b"]
    seen = [h for h in server.requests_hooked if h[0] != "request-timeout-hint"]
    assert seen == [("watchdog", "worker"), ("denied", "worker"),
                    ("future", "worker"), ("echo", "worker")]


def test_handle_request_hook_keeps_the_fast_path(make_server, connect):
    """Every request still passes through the hook when the worker reads
    the client's next request itself."""
    server = make_server(RequestHooked)
    client = connect(server)
    taken = record_read_next(server)
    for i in range(5):
        assert args(client.request("?echo %d" % i)[1]) == ["ok", str(i)]
    assert [h for h in server.requests_hooked if h[0] == "echo"] == [("echo", "worker")] * 5
    assert taken


def test_handle_message_runs_built_in_requests_on_a_worker_too(make_server, connect):
    """An overridden handle_message, user code too, no longer runs on the
    reactor for built-in requests (old code: ``?watchdog`` went through it
    on the reactor thread, which a blocking hook would freeze)."""
    class Seeing(DemoServer):
        def __init__(self, *a, **kw):
            self.threads = []
            super(Seeing, self).__init__(*a, **kw)

        def handle_message(self, client_conn, msg):
            self.threads.append((msg.name, _thread_kind()))
            super(Seeing, self).handle_message(client_conn, msg)

    server = make_server(Seeing)
    client = connect(server)
    assert args(client.request("?watchdog")[1]) == ["ok"]
    assert ("watchdog", "worker") in server.threads


# -- create_exception_reply_and_log -------------------------------------------------

class CustomErrors(DeviceServer):
    """Builds its own reply to unexpected exceptions, as katcp-python code can."""

    def __init__(self, *a, **kw):
        self.exc_infos = []
        super(CustomErrors, self).__init__(*a, **kw)

    def create_exception_reply_and_log(self, req_msg, exc_info):
        self.exc_infos.append(exc_info)
        if req_msg.name == "garbage":
            return "not a message"
        return Message.reply(req_msg.name, "fail", "custom: %s" % (exc_info[1],))

    def request_crash(self, req, msg):
        """Raise an unexpected exception."""
        raise ZeroDivisionError("on purpose")

    def request_garbage(self, req, msg):
        """Raise; the hook returns no message."""
        raise KeyError("garbage")

    def request_later(self, req, msg):
        """Return a future that fails."""
        future = concurrent.futures.Future()
        future.set_exception(ValueError("later"))
        return future

    def request_declined(self, req, msg):
        """Fail the usual way: the hook is for unexpected exceptions only."""
        return req.make_reply("fail", "declined")


def test_overridden_create_exception_reply_and_log_gives_the_reply():
    """Old code: the override was never called; the reply was a traceback."""
    with start_server(CustomErrors) as server:
        with BlockingTestClient(None, *server.bind_address) as client:
            reply, _ = client.blocking_request(Message.request("crash"), timeout=TIMEOUT)
            assert reply.arguments == [b"fail", b"custom: on purpose"]
            reply, _ = client.blocking_request(Message.request("later"), timeout=TIMEOUT)
            assert reply.arguments == [b"fail", b"custom: later"]
            reply, _ = client.blocking_request(Message.request("declined"), timeout=TIMEOUT)
            assert reply.arguments == [b"fail", b"declined"]
            # A hook returning something else: the server's own reply, still one.
            reply, _ = client.blocking_request(Message.request("garbage"), timeout=TIMEOUT)
            assert reply.arguments[0] == b"fail" and b"KeyError" in reply.arguments[1]
            reply, _ = client.blocking_request(Message.request("watchdog"), timeout=TIMEOUT)
            assert reply.reply_ok()
    types = [t for t, _, _ in server.exc_infos]
    assert types == [ZeroDivisionError, ValueError, KeyError]
    assert all(tb is not None for _, _, tb in server.exc_infos)


def test_create_exception_reply_and_log_can_be_called(caplog):
    """katcp-python code calls it in its own wrappers (as ska-sa's
    katsdpcontroller does) and replies with what it returns."""
    server = DeviceServer("127.0.0.1", 0, tb_limit=5)
    request = Message.request("thing", mid=7)
    try:
        raise ValueError("oops")
    except ValueError:
        with caplog.at_level(logging.ERROR, logger="katcp_sync"):
            reply = server.create_exception_reply_and_log(request, sys.exc_info())
    assert (reply.mtype, reply.name) == (Message.REPLY, "thing")
    assert reply.arguments[0] == b"fail"
    text = reply.arguments[1].decode("utf-8")
    assert "ValueError: oops" in text and "Traceback" in text
    assert any("oops" in r.getMessage() for r in caplog.records)
    assert server._tb_limit == 5


# -- protocol versions ------------------------------------------------------------------

def test_supported_protocol_major_versions():
    """katcp-python's DeviceServer refuses a PROTOCOL_INFO whose major version
    is not in its SUPPORTED_PROTOCOL_MAJOR_VERSIONS; a subclass may narrow it.
    Old code: no such attribute."""
    assert DeviceServer.SUPPORTED_PROTOCOL_MAJOR_VERSIONS == (4, 5)
    assert DeviceServer.UNSUPPORTED_REQUESTS_BY_MAJOR_VERSION == {4: {"version-list"}}

    class OnlyV5(DeviceServer):
        SUPPORTED_PROTOCOL_MAJOR_VERSIONS = (5,)
        PROTOCOL_INFO = ProtocolFlags(4, 0, "M")

    with pytest.raises(ValueError, match="SUPPORTED_PROTOCOL_MAJOR_VERSIONS"):
        OnlyV5("127.0.0.1", 0)

    class Future(DeviceServer):
        SUPPORTED_PROTOCOL_MAJOR_VERSIONS = (4, 5, 6)
        PROTOCOL_INFO = ProtocolFlags(6, 0, "M")

    with pytest.raises(ValueError, match="major versions 4 and 5"):
        Future("127.0.0.1", 0)

    class V4(DeviceServer):
        SUPPORTED_PROTOCOL_MAJOR_VERSIONS = (4,)
        PROTOCOL_INFO = ProtocolFlags(4, 0, "M")

    V4("127.0.0.1", 0)


# -- private attributes -----------------------------------------------------------------

class Twisted(DeviceServer):
    """Keeps its own state in names a katcp-python subclass may choose: a
    reactor and dispatcher of its own (a twisted-era bridge), the firmware's
    major version, its own life cycle and timers, a lock of its own..."""

    def __init__(self, *a, **kw):
        super(Twisted, self).__init__(*a, **kw)
        self._reactor = self._own_reactor = self._reactor_used = "their reactor"
        self._dispatcher = {"x": None}
        self._major, self._multi_client = 2, "no"
        self._life = self._stop_timer = "theirs"
        self._sensors_lock = threading.Lock()
        self._handler_workers = self._max_line_length = self._max_write_buffer = "theirs"
        with self._sensors_lock:   # held: the server must not take it
            self.add_sensor(Sensor.integer("held.sensor", "", "", default=3))


def test_subclass_attributes_do_not_collide_with_the_servers_internals():
    """Old code: the subclass's attributes replaced the server's reactor,
    dispatcher, life cycle... (its __init__ hung on the sensor lock, or the
    server failed when started)."""
    done, errors = [], []

    def make():
        try:
            with start_server(Twisted) as server:
                with BlockingTestClient(None, *server.bind_address) as client:
                    reply, informs = client.blocking_request(
                        Message.request("sensor-value", "held.sensor"), timeout=TIMEOUT)
                    assert reply.arguments == [b"ok", b"1"]
                    assert informs[0].arguments[2:5:2] == [b"held.sensor", b"3"]
                    reply, informs = client.blocking_request(
                        Message.request("version-list"), timeout=TIMEOUT)
                    assert reply.reply_ok() and len(informs) == 3
            done.append(server)
        except Exception as exc:
            errors.append(exc)

    thread = threading.Thread(target=make)
    thread.daemon = True
    thread.start()
    thread.join(TIMEOUT * 4)
    assert not errors, errors[0]
    assert done, "the server did not run with the subclass's attributes"
    assert done[0]._major == 2 and done[0]._reactor == "their reactor"
