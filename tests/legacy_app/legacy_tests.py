"""A unittest suite written for katcp-python; only the import lines changed."""

from __future__ import print_function

import unittest

from katcp_sync import BlockingClient, Message, Sensor
from katcp_sync.testutils import (BlockingTestClient, DeviceTestServer, TestUtilMixin,
                                  start_thread_with_cleanup)

from legacy_server import LegacyServer


class TestLegacyServer(unittest.TestCase, TestUtilMixin):

    def setUp(self):
        self.server = LegacyServer("127.0.0.1", 0)
        start_thread_with_cleanup(self, self.server, start_timeout=1)
        host, port = self.server.bind_address
        self.client = BlockingTestClient(self, host, port)
        start_thread_with_cleanup(self, self.client, start_timeout=1)
        self.assertTrue(self.client.wait_protocol(timeout=1))

    def test_help_and_sensor_list(self):
        self.client.test_help([
            ("add", "Add two numbers."),
            ("settle", "Block the handler thread for a while (a blocking handler)."),
            ("set-temperature", "Set the temperature sensor."),
            ("list-items", "Send one inform per item, then the count."),
            ("later", "Reply from another thread (AsyncReply)."),
            ("fail-with", "Fail with the given text."),
            ("raw", "Reply with the arguments, by hand."),
        ])
        self.client.test_sensor_list([
            ("temperature", "The temperature.", "degC", "float", "-50.0", "150.0"),
            ("mode", "The operating mode.", "", "discrete", "idle", "busy", "error"),
            ("counter", "Requests served.", "", "integer", "0", "1000000"),
        ])

    def test_requests(self):
        self.client.assert_request_succeeds("add", 2, 3, args_equal=["5.0"])
        self.client.assert_request_succeeds("list-items", 2, args_equal=["2"],
                                            informs_count=2)
        self.client.assert_request_succeeds("later", args_equal=["later"])
        self.client.assert_request_succeeds("raw", "a", "b", args_equal=["a", "b"])
        self.client.assert_request_fails("fail-with", "no", error_equals="no")
        self.client.assert_request_fails("add", "x", 1)
        self.client.assert_sensor_equals("counter", 1, int)

    def test_blocking_handler_and_sensors(self):
        self.client.assert_request_succeeds("settle", 0.1)
        self.client.assert_sensor_equals("mode", "idle")
        self.client.assert_request_succeeds("set-temperature", 30.5)
        self.client.wait_until_sensor_equals(1, "temperature", 30.5, float)
        value, status, timestamp = self.client.get_sensor("temperature", float)
        self.assertEqual((value, status), (30.5, "nominal"))

    def test_messages(self):
        reply, informs = self.client.blocking_request(Message.request("add", 1, 1))
        self._assert_msgs_equal([reply], ["!add[%s] ok 2.0" % reply.mid.decode()])
        self._assert_msgs_like(informs, [])


class TestWithDeviceTestServer(unittest.TestCase, TestUtilMixin):

    def setUp(self):
        self.server = DeviceTestServer("127.0.0.1", 0)
        start_thread_with_cleanup(self, self.server, start_timeout=1)
        host, port = self.server.bind_address
        self.client = BlockingClient(host, port)
        start_thread_with_cleanup(self, self.client, start_timeout=1)
        self.assertTrue(self.client.wait_protocol(timeout=1))

    def test_requests(self):
        reply, informs = self.client.blocking_request(Message.request("new-command"))
        self.assertEqual(reply.arguments, [b"ok", b"param1", b"param2"])
        reply, informs = self.client.blocking_request(Message.request("raise-fail"))
        self.assertEqual(reply.arguments[0], b"fail")
        reply, informs = self.client.blocking_request(
            Message.request("sensor-value", "an.int"))
        self.assertEqual(informs[0].arguments[2:], [b"an.int", b"nominal", b"3"])

    def test_server_sensors(self):
        sensor = self.server.get_sensor("a.float")
        sensor.set_value(1.5, Sensor.WARN)
        reply, informs = self.client.blocking_request(
            Message.request("sensor-value", "a.float"))
        self.assertEqual(informs[0].arguments[3:], [b"warn", b"1.5"])


if __name__ == "__main__":
    unittest.main()
