"""Helpers for testing your own KATCP devices and clients.

With pytest (no ``test`` argument: failures raise :class:`AssertionError`)::

    from katcp_sync.testutils import BlockingTestClient, start_server

    def test_add():
        with start_server(MyServer) as server:
            with BlockingTestClient(None, *server.bind_address) as client:
                client.assert_request_succeeds("add", 3, 6, args_equal=["9.0"])
                client.assert_sensor_equals("add.result", 9.0, float)

With :mod:`unittest`, pass the test case: failures go through ``test.fail``
(``enterContext`` is Python 3.11+; see the testing guide for older ones)::

    class TestMyServer(unittest.TestCase):
        def setUp(self):
            self.server = self.enterContext(start_server(MyServer))
            self.client = self.enterContext(
                BlockingTestClient(self, *self.server.bind_address))

        def test_add(self):
            self.client.assert_request_succeeds("add", 3, 6, args_equal=["9.0"])

Arguments, expected values and names may be ``str`` or ``bytes``; numbers
are formatted as on the wire (``9.0`` -> ``"9.0"``). The names follow
katcp-python's ``katcp.testutils``.
"""

from __future__ import absolute_import, division, print_function

from .testing.client import BlockingTestClient, MessageRecorder, start_server
from .testing.fixtures import (AsyncDeviceTestServer, AsyncWaitingMock, ClientConnectionTest,
                               DeviceTestSensor, DeviceTestServer,
                               DeviceTestServerWithTimeoutHints, SensorComparisonMixin,
                               TestLogHandler, TestUtilMixin, TimewarpAsyncTestCase,
                               TimewarpAsyncTestCaseTimeAdvancer, WaitingMock)
from .testing.mock_req import MockRequest, RecordingClientConnection, handle_mock_req, mock_req
from .testing.waiters import (SensorTransitionStatusWaiter, SensorTransitionWaiter,
                              counting_callback, start_thread_with_cleanup, wait_sensor)

__all__ = [
    "start_server",
    "BlockingTestClient",
    "MessageRecorder",
    "wait_sensor",
    "mock_req",
    "handle_mock_req",
    "MockRequest",
    "RecordingClientConnection",
    "counting_callback",
    "SensorTransitionWaiter",
    "SensorTransitionStatusWaiter",
    "start_thread_with_cleanup",
    # katcp-python's fixtures (katcp_sync.testing.fixtures)
    "AsyncDeviceTestServer", "AsyncWaitingMock", "ClientConnectionTest", "DeviceTestSensor",
    "DeviceTestServer", "DeviceTestServerWithTimeoutHints", "SensorComparisonMixin",
    "TestLogHandler", "TestUtilMixin", "TimewarpAsyncTestCase",
    "TimewarpAsyncTestCaseTimeAdvancer", "WaitingMock",
]
