"""katcp-python's test fixtures: a face of :mod:`katcp_sync.testing.fixtures`.

Kept so that ``katcp_sync.testfixtures`` imports keep working; the fixtures
are also re-exported by :mod:`katcp_sync.testutils`.
"""

from __future__ import absolute_import, division, print_function

from .testing.fixtures import (AsyncDeviceTestServer, AsyncWaitingMock, ClientConnectionTest,
                               DeviceTestSensor, DeviceTestServer,
                               DeviceTestServerWithTimeoutHints, SensorComparisonMixin,
                               TestLogHandler, TestUtilMixin, TimewarpAsyncTestCase,
                               TimewarpAsyncTestCaseTimeAdvancer, WaitingMock)
from .testing.mock_req import RecordedMessages

__all__ = [
    "ClientConnectionTest", "TestLogHandler", "DeviceTestSensor", "DeviceTestServer",
    "AsyncDeviceTestServer", "DeviceTestServerWithTimeoutHints", "SensorComparisonMixin",
    "TestUtilMixin", "WaitingMock", "AsyncWaitingMock", "TimewarpAsyncTestCase",
    "TimewarpAsyncTestCaseTimeAdvancer", "RecordedMessages",
]
