"""katcp_sync.testutils against a real server on a loopback port."""

from __future__ import absolute_import, division, print_function


import re
import threading
import time
import unittest

import pytest

from katcp_sync.kattypes import Float, Int, Str, request, return_reply
from katcp_sync.message import Message
from katcp_sync.sensor import Sensor
from katcp_sync.server import DeviceServer
from conftest import load_example
from katcp_sync.errors import AsyncReply
from katcp_sync.testutils import (BlockingTestClient, MessageRecorder, RecordingClientConnection,
                                  SensorTransitionStatusWaiter, SensorTransitionWaiter,
                                  counting_callback, handle_mock_req, mock_req, start_server,
                                  start_thread_with_cleanup, wait_sensor)


class Device(DeviceServer):
    """A small device with the kinds of requests and sensors tests meet."""

    VERSION_INFO = ("testutils-device", 1, 0)
    BUILD_INFO = ("testutils-device", 1, 0, "")

    def setup_sensors(self):
        self.level = Sensor.integer("level", "A level.", "", [0, 100], default=3,
                                    initial_status=Sensor.NOMINAL)
        self.ratio = Sensor.float("ratio", "A ratio.", "", default=0.5)
        self.flag = Sensor.boolean("flag", "A flag.", "", default=True)
        self.label = Sensor.string("label", "A label.", "", default="two words")
        for sensor in (self.level, self.ratio, self.flag, self.label):
            self.add_sensor(sensor)

    @request(Float(), Float())
    @return_reply(Float())
    def request_add(self, req, x, y):
        """Add two numbers."""
        return ("ok", x + y)

    @request(Str(multiple=True))
    @return_reply(Str(multiple=True))
    def request_echo(self, req, *words):
        """Echo the arguments."""
        return ("ok",) + words

    @request(Int())
    @return_reply()
    def request_set_level(self, req, level):
        """Set the level sensor."""
        self.level.set_value(level)
        return ("ok",)

    @request(Int())
    @return_reply()
    def request_count(self, req, n):
        """Send n informs."""
        for i in range(n):
            req.inform(i, "item")
        return ("ok",)


@pytest.fixture
def server():
    with start_server(Device) as server:
        yield server


@pytest.fixture
def client(server):
    with BlockingTestClient(None, *server.bind_address) as client:
        yield client


def test_start_server_with_instance_and_class():
    instance = Device("127.0.0.1", 0)
    with start_server(instance) as server:
        assert server is instance and server.running()
        assert server.bind_address[1] != 0
    assert not instance.running()


def test_request_succeeds_checks(client):
    assert client.assert_request_succeeds("add", 3, 6) == ["9.0"]
    client.assert_request_succeeds("add", 3, 6, args_equal=["9.0"])
    client.assert_request_succeeds(b"add", b"3", 6, args_equal=[b"9.0"])
    client.assert_request_succeeds("add", 3, 6, args_equal=[9.0], args_length=1)
    client.assert_request_succeeds("echo", "a", b"b", args_echo=True)
    client.assert_request_succeeds("add", 1, 1, args_in=[["3.0"], ["2.0"]])
    client.assert_request_succeeds("count", 2, informs_count=2,
                                   informs_args_equal=[["0", "item"], [b"1", "item"]])


@pytest.mark.parametrize("kwargs, text", [
    (dict(args_equal=["10.0"]), "expected ['10.0']"),
    (dict(args_echo=True), "do not echo"),
    (dict(args_in=[["1"], ["2"]]), "are none of"),
    (dict(args_length=2), "1 reply arguments"),
    (dict(informs_count=1), "0 informs, expected 1"),
])
def test_request_succeeds_failures(client, kwargs, text):
    with pytest.raises(AssertionError, match=re.escape(text)):
        client.assert_request_succeeds("add", 3, 6, **kwargs)


def test_request_succeeds_fails_on_fail_reply(client):
    with pytest.raises(AssertionError, match="to succeed"):
        client.assert_request_succeeds("add", "x", 6)
    with pytest.raises(AssertionError, match="to succeed"):
        client.assert_request_succeeds("no-such-request")


def test_request_fails(client):
    args = client.assert_request_fails("no-such-request", status_equals="invalid")
    assert args[0] == "invalid"
    client.assert_request_fails("add", "x", 6, status_equals=b"fail")
    client.assert_request_fails("sensor-value", "nope", status_equals="fail",
                                error_equals=client.assert_request_fails("sensor-value", "nope")[1])
    with pytest.raises(AssertionError, match="to fail"):
        client.assert_request_fails("add", 1, 2)
    with pytest.raises(AssertionError, match="reply code"):
        client.assert_request_fails("no-such-request", status_equals="fail")
    with pytest.raises(AssertionError, match="error"):
        client.assert_request_fails("add", "x", 6, error_equals="something else")


def test_sensors(client, server):
    value, status, timestamp = client.get_sensor("level", int)
    assert (value, status) == (3, "nominal") and timestamp > 0
    assert client.get_sensor_value("flag", bool) is True
    assert client.get_sensor_value("label") == "two words"
    assert client.get_sensor_status(b"level") == "nominal"
    client.assert_sensor_equals("level", 3, int, status="nominal")
    client.assert_sensor_equals("level", "3")
    client.assert_sensor_equals("level", b"3")
    client.assert_sensor_equals("ratio", 0.5000000001, float)
    client.assert_sensor_status_equals("level", "nominal")
    client.assert_sensor_not_equal("level", 4, int)
    with pytest.raises(AssertionError, match="value 3, expected 4"):
        client.assert_sensor_equals("level", 4, int)
    with pytest.raises(AssertionError, match="status"):
        client.assert_sensor_equals("level", 3, int, status="warn")
    with pytest.raises(AssertionError, match="could not read sensor"):
        client.get_sensor("no.such.sensor")


def test_wait_until_sensor_equals(client, server):
    timer = threading.Timer(0.05, server.level.set_value, (42,))
    timer.start()
    try:
        client.wait_until_sensor_equals(5.0, "level", 42, int)
    finally:
        timer.join()
    with pytest.raises(AssertionError, match="not 43 after"):
        client.wait_until_sensor_equals(0.1, "level", 43, int)


def test_sensor_tuple_helpers_as_katcp_python(client, server):
    """katcp-python 0.9's BlockingTestClient helpers for several sensors and
    setter requests, and its ``pollperiod`` keyword and ``%r`` messages."""
    assert client.expected_sensor_value_tuple("level", 3) == ("level", 3, str, 7)
    client.assert_sensors_equal([("level", 3, int), ("ratio", 0.5, float, 3), ("label", "two words")])
    client.assert_sensors_not_equal([("level", 4, int), ("label", "one")])
    with pytest.raises(AssertionError, match="^level is 3 here$"):
        client.assert_sensors_equal([("level", 4, int)], msg="level is %r here")
    with pytest.raises(AssertionError, match="^status was 'nominal'$"):
        client.assert_sensor_status_equals("level", "warn", "status was %r")
    timer = threading.Timer(0.05, server.level.set_value, (42,))
    timer.start()
    try:
        client.wait_until_sensors_equal(5.0, [("level", 42, int)])
        client.wait_until_sensor_equals(5.0, "level", 42, int, pollperiod=0.01)
        client.wait_until_sensor_equals(5.0, "level", 42, int, pollfreq=0.01)
    finally:
        timer.join()
    with pytest.raises(AssertionError, match="timed out after 0.05 s"):
        client.wait_until_sensors_equal(0.05, [("level", 43, int)])
    assert client.wait_condition(1.0, lambda: True) == (True, "")
    assert client.wait_condition(0.05, lambda x: x, 0, poll_period=0.01) == (
        0, "Timed out after 0.05 seconds")
    client.test_setter_request("set-level", "level", int, good=[5, 7], bad=["x"])
    client.test_multi_setter_request("set-level", good=[((9,), [("level", 9, int)],
                                                          {"statuses": [("level", "nominal")]})],
                                     bad=[("x",), ()])
    with pytest.raises(AssertionError, match="after \\?set-level \\(11,\\), sensor level is 11, expected 12"):
        client.test_multi_setter_request("set-level", good=[((11,), [("level", 12, int)])])


def test_message_recorder(client):
    statuses = client.message_recorder(whitelist=["sensor-status"])
    everything = client.message_recorder(blacklist=[b"sensor-status"], replies=True)
    client.assert_request_succeeds("sensor-sampling", "level", "event")
    client.assert_request_succeeds("set-level", 7)
    msgs = statuses.get_msgs(min_number=2, timeout=5.0)
    assert [m.arguments[-1] for m in msgs] == [b"3", b"7"]
    assert all(m.name == "sensor-status" for m in msgs)
    assert statuses.get_msgs() == []
    names = [(m.mtype, m.name) for m in everything()]
    assert (Message.REPLY, "set-level") in names
    assert all(name != "sensor-status" for _, name in names)


def test_message_recorder_filters_offline():
    recorder = MessageRecorder(regex_filter=r"level\b", informs=True)
    recorder.offer(Message.inform("sensor-status", 1, 1, "level", "nominal", 3))
    recorder.offer(Message.inform("sensor-status", 1, 1, "levels", "nominal", 3))
    recorder.offer(Message.reply("sensor-status", "ok", "level"))
    assert len(recorder) == 1
    assert not recorder.wait_number(2, timeout=0.01)
    assert len(recorder.get_msgs(min_number=2, timeout=0.01)) == 1


def test_wait_sensor_on_local_sensor():
    sensor = Sensor.integer("local", "A local sensor.", "", default=0)
    timer = threading.Timer(0.02, sensor.set_value, (5, Sensor.WARN))
    timer.start()
    try:
        assert wait_sensor(sensor, 5, status=Sensor.WARN, timeout=5.0)
    finally:
        timer.join()
    assert not wait_sensor(sensor, 6, timeout=0.01)


def test_client_that_cannot_connect_fails_clearly():
    with start_server(Device) as server:
        address = server.bind_address
    with pytest.raises(AssertionError, match="could not connect"):
        with BlockingTestClient(None, *address, timeout=0.5):
            pass


class UnittestStyle(unittest.TestCase):
    """The same helpers inside a unittest.TestCase: failures use self.fail."""

    def setUp(self):
        # TestCase.enterContext is Python 3.11+; do its job by hand.
        server_context = start_server(Device)
        self.server = server_context.__enter__()
        self.addCleanup(server_context.__exit__, None, None, None)
        self.client = BlockingTestClient(self, *self.server.bind_address)
        self.client.__enter__()
        self.addCleanup(self.client.__exit__, None, None, None)

    def test_pass_and_fail(self):
        self.client.assert_request_succeeds("add", 3, 6, args_equal=["9.0"])
        with self.assertRaises(self.failureException) as caught:
            self.client.assert_request_succeeds("add", 3, 6, args_equal=["1.0"])
        self.assertIn("expected ['1.0']", str(caught.exception))


def test_unittest_style_runs():
    result = unittest.TestResult()
    unittest.defaultTestLoader.loadTestsFromTestCase(UnittestStyle).run(result)
    assert result.wasSuccessful(), result.errors + result.failures


def test_help_and_sensor_list(client):
    names = client.test_help()
    assert {"add", "echo", "help", "watchdog"} <= set(names)
    client.test_sensor_list(["flag", "label", "level", b"ratio"])
    with pytest.raises(AssertionError, match="sensors"):
        client.test_sensor_list(["level"])


def test_help_and_sensor_list_as_katcp_python(client):
    """katcp-python's forms: standard requests left out by default,
    (name, description) tuples, and full sensor-list tuples."""
    own = ["add", "echo", "set-level", "count"]
    client.test_help(own)
    client.test_help([("add", "Add two numbers."), ("echo", "Echo the arguments."),
                      ("set-level", "Set the level sensor."), ("count", "Send n informs.")])
    with pytest.raises(AssertionError, match="requests"):
        client.test_help(own, exclude_defaults=False)
    client.test_sensor_list([
        ("level", "A level.", "", "integer", "0", "100"),
        (b"ratio", b"A ratio.", b"", b"float"),
        ("flag", "A flag.", "", "boolean"),
        ("label", "A label.", "", "string"),
    ])
    client.test_sensor_list([("level", "other words", "", "integer", 0, 100),
                             ("ratio", "", "", "float"), ("flag", "", "", "boolean"),
                             ("label", "", "", "string")], ignore_descriptions=True)
    with pytest.raises(AssertionError, match="sensors"):
        client.test_sensor_list([("level", "A level.", "", "integer", "0", "99")])


def test_test_client_reports_request_errors_like_a_blocking_client():
    """A request the client cannot send fails with the client's own error
    (BlockingTestClient once shadowed DeviceClient._fail and raised TypeError)."""
    from katcp_sync.errors import KatcpTypeError

    client = BlockingTestClient(None, "127.0.0.1", 1)
    with pytest.raises(KatcpTypeError, match="not a request"):
        client.blocking_request(Message.inform("watchdog"))


# -- requests without a network (mock_req / handle_mock_req) ------------------

class Mocked(Device):
    """Device plus handlers that reply late, fail and mass-inform."""

    def __init__(self, *args, **kwargs):
        super(Mocked, self).__init__(*args, **kwargs)
        self.late = threading.Event()

    @request()
    @return_reply()
    def request_later(self, req):
        """Reply from another thread."""
        def finish():
            self.late.wait(WAIT)
            req.reply("ok", "late")
        threading.Thread(target=finish).start()
        raise AsyncReply

    def request_broken(self, req, msg):
        """Raise something unexpected."""
        raise ValueError("broken on purpose")

    @request(Str())
    @return_reply()
    def request_shout(self, req, text):
        """Mass-inform text."""
        req.mass_inform(Message.inform("shout", text))
        return ("ok",)


WAIT = 5.0


def test_mock_req_through_the_servers_dispatch_without_starting_it():
    server = Mocked("127.0.0.1", 0)
    req = mock_req("count", 2)
    reply, informs = handle_mock_req(server, req).result(WAIT)
    assert reply == Message.reply("count", "ok")
    assert [m.arguments for m in informs] == [[b"0", b"item"], [b"1", b"item"]]
    assert req.reply_msg is reply and req.inform_msgs == informs
    # The client connection saw the same, in order.
    assert req.client_connection.messages == informs + [reply]
    assert not server.running()


def test_mock_req_errors_are_replies_as_on_the_wire():
    server = Mocked("127.0.0.1", 0)
    reply, _ = handle_mock_req(server, mock_req("add", "x", 1)).result(WAIT)
    assert reply.arguments[0] == b"fail"                # kattypes: not a float
    reply, _ = handle_mock_req(server, mock_req("no-such-request")).result(WAIT)
    assert reply.arguments == [b"invalid", b"Unknown request."]
    reply, _ = handle_mock_req(server, mock_req("broken")).result(WAIT)
    assert reply.arguments[0] == b"fail" and b"broken on purpose" in reply.arguments[1]


def test_mock_req_async_reply_resolves_later():
    server = Mocked("127.0.0.1", 0)
    req = mock_req("later")
    future = handle_mock_req(server, req)
    assert not future.done() and req.reply_msg is None
    server.late.set()
    assert future.result(WAIT)[0].arguments == [b"ok", b"late"]
    with pytest.raises(RuntimeError):
        req.reply("ok", "twice")                        # one reply only, as for real


def test_mock_req_called_directly_and_mass_informs():
    server = Mocked("127.0.0.1", 0)
    req = mock_req("add", 3, 6)
    reply = server.request_add(req, req.msg)            # the handler itself
    assert reply.arguments == [b"ok", b"9.0"] and req.reply_msg is None  # returned, not sent
    req = mock_req("shout", "hello")
    handle_mock_req(server, req).result(WAIT)
    assert req.client_connection.mass_informs == [Message.inform("shout", "hello")]


def test_mock_req_with_a_running_server_reaches_its_clients():
    with start_server(Mocked) as server:
        with BlockingTestClient(None, *server.bind_address) as client:
            recorder = client.message_recorder(whitelist=["shout"])
            req = mock_req("shout", "hello", server=server)
            assert handle_mock_req(server, req).result(WAIT)[0].reply_ok()
            assert recorder.get_msgs(1, WAIT) == [Message.inform("shout", "hello")]
            assert req.client_connection.mass_informs == []   # went to the server
    with pytest.raises(TypeError):
        mock_req("x", server=server, client_conn=RecordingClientConnection())


def test_mock_req_on_the_tutorial_server():
    module = load_example("tutorial_server")
    server = module.MyServer("127.0.0.1", 0)
    reply, _ = handle_mock_req(server, mock_req("raw-reverse", "a", "b")).result(WAIT)
    assert reply.arguments == [b"ok", b"b", b"a"]


# -- counting_callback / SensorTransitionWaiter ---------------------------------

def test_counting_callback_waits_for_enough_calls_from_other_threads():
    @counting_callback(number_of_calls=3)
    def seen(value):
        return value * 2
    assert seen(1) == 2 and seen.get_no_calls() == 1
    assert not seen.wait(0.01)
    threads = [threading.Thread(target=seen, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    assert seen.assert_wait(WAIT) and seen.get_no_calls() == 3
    seen.reset()
    assert seen.get_no_calls() == 0 and not seen.done.is_set()
    with pytest.raises(AssertionError):
        seen.assert_wait(0.01)
    for thread in threads:
        thread.join(WAIT)
    with pytest.raises(ValueError):
        counting_callback(number_of_calls=0)


def float_sensor(value=0.5):
    return Sensor.float("temperature", "", "", [0.0, 10.0], default=value,
                        initial_status=Sensor.NOMINAL)


def feed(sensor, values):
    thread = threading.Thread(target=lambda: [sensor.set_value(v) for v in values])
    thread.start()
    return thread


def test_transition_waiter_sees_a_sequence_of_tests():
    sensor = float_sensor(0.5)
    waiter = SensorTransitionWaiter(sensor, (
        lambda x: x < 0.7, lambda x: x >= 0.7, lambda x: x >= 1, lambda x: x < 1,
        lambda x: x < 0.3))
    thread = feed(sensor, (0.6, 1.0, 1.0, 0.7, 0.299))
    assert waiter.wait(WAIT)
    thread.join(WAIT)
    assert waiter.received_values == [0.5, 0.6, 1.0, 0.7, 0.299]  # repeats count once
    assert waiter not in sensor.observers()                      # torn down
    with pytest.raises(RuntimeError):
        waiter.wait(WAIT)


def test_transition_waiter_fails_on_a_wrong_value_or_timeout():
    sensor = float_sensor(1.0)
    with pytest.raises(ValueError, match="initial condition"):
        SensorTransitionWaiter(sensor, (2.0, 3.0))
    waiter = SensorTransitionWaiter(sensor, (1.0, 2.0, 3.0))
    feed(sensor, (2.0, 5.0)).join(WAIT)        # 5.0 is neither 2.0 nor 3.0
    assert not waiter.wait(WAIT) and not waiter.timed_out
    waiter = SensorTransitionWaiter(sensor, (5.0, 6.0))
    assert not waiter.wait(0.05) and waiter.timed_out


def test_transition_status_waiter_and_recording_only():
    sensor = float_sensor(1.0)
    waiter = SensorTransitionStatusWaiter(sensor, ((Sensor.NOMINAL, 1.0), (Sensor.WARN, 9.0)))
    sensor.set_value(9.0, Sensor.WARN)
    assert waiter.wait(WAIT)
    recorder = SensorTransitionWaiter(sensor)
    sensor.set_value(2.0)
    sensor.set_value(2.0)
    assert recorder.get_received_values() == [9.0, 2.0, 2.0]
    assert recorder not in sensor.observers()


def test_start_thread_with_cleanup_stops_and_joins():
    class Case(unittest.TestCase):
        def runTest(self):
            pass
    case = Case()
    server = Mocked("127.0.0.1", 0)
    start_thread_with_cleanup(case, server, timeout=WAIT)
    assert server.running()
    case.doCleanups()
    assert not server.running()


def test_raw_send_and_sensor_timestamp(server, client):
    recorder = client.message_recorder(whitelist=["log"])
    client.raw_send(b"?bad\x1bline\n")         # ESC: not a valid message
    log = recorder.get_msgs(1, WAIT)
    assert log and log[0].arguments[0] == b"error"
    before = time.time()
    server.level.set_value(7)
    timestamp = client.get_sensor_timestamp("level")
    assert before - 1 <= timestamp <= time.time() + 1


def test_testing_helpers_build_connections_through_the_constructor():
    """Issue 12 follow-up: the test doubles use ClientConnection's public
    seam (``transport=``) and the server's ``reactor`` name, and reach into
    no private member of a connection or server after construction."""
    import ast
    import glob
    import io
    import os

    import katcp_sync.testing

    reached = []
    for path in glob.glob(os.path.join(os.path.dirname(katcp_sync.testing.__file__), "*.py")):
        with io.open(path, encoding="utf-8") as source:
            tree = ast.parse(source.read().encode("utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr in ("_conn", "_server", "ioloop"):
                reached.append("%s:%d %s" % (os.path.basename(path), node.lineno, node.attr))
    assert reached == []
    conn = RecordingClientConnection()
    conn.inform(Message.inform("x", 1))
    conn.mass_inform(Message.inform("y"))
    assert [m.name for m in conn.messages] == ["x"]
    assert [m.name for m in conn.mass_informs] == ["y"]


def test_client_connection_test_is_the_recording_connection():
    """katcp-python's ClientConnectionTest is RecordingClientConnection (one
    recorder, not two): a request through it may use what a real connection
    has, e.g. ?sensor-sampling (the client's sampling table)."""
    from katcp_sync.testutils import ClientConnectionTest

    server = DeviceServer("127.0.0.1", 0)
    server.add_sensor(Sensor.integer("an.int", "An int.", "", [0, 10]))
    conn = ClientConnectionTest()
    assert isinstance(conn, RecordingClientConnection) and conn.address == "test-client:0"
    server.handle_message(conn, Message.request("sensor-sampling", "an.int", mid=4))
    assert [str(m) for m in conn.replies] == ["!sensor-sampling[4] ok an.int none"]
    conn.mass_inform(Message.inform("y"))
    assert [m.name for m in conn.mass_informs] == ["y"]
