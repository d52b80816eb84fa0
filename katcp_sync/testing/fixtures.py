"""katcp-python's test fixtures (``katcp.testutils``), on threads.

Re-exported by :mod:`katcp_sync.testutils` (and :mod:`katcp_sync.testfixtures`),
so a test suite written for katcp-python keeps importing them from there:
the device servers
(:class:`DeviceTestServer` with katcp-python's requests and sensors,
:class:`AsyncDeviceTestServer`, :class:`DeviceTestServerWithTimeoutHints`),
:class:`DeviceTestSensor`, :class:`ClientConnectionTest`,
:class:`TestLogHandler`, the assertion mixins :class:`TestUtilMixin` and
:class:`SensorComparisonMixin`, and :class:`WaitingMock`.

katcp-python's tornado test cases (``TimewarpAsyncTestCase``,
``AsyncWaitingMock``...) have no threaded meaning: the names exist so that
modules importing them still load, and tests built on them are skipped,
saying why (see ``docs/migration.rst``).
"""

from __future__ import absolute_import, division, print_function

import concurrent.futures
import logging
import re
import threading
import time
import unittest
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

try:
    from unittest import mock
except ImportError:  # Python 2: the PyPI backport of unittest.mock
    import mock  # type: ignore[no-redef]

from .. import compat
from ..compat import queue
from ..deadline import Deadline
from ..formatting import format_seconds
from ..errors import AsyncReply, FailReply
from ..events import AsyncEvent
from ..kattypes import (Bool, Float, Int, Str, concurrent_reply, request, request_timeout_hint,
                       return_reply)
from ..message import Message
from ..protocol import ProtocolFlags
from ..sensor import Sensor
from ..server import DeviceServer
from .mock_req import RecordingClientConnection

__all__ = [
    "ClientConnectionTest", "TestLogHandler", "DeviceTestSensor", "DeviceTestServer",
    "AsyncDeviceTestServer", "DeviceTestServerWithTimeoutHints", "SensorComparisonMixin",
    "TestUtilMixin", "WaitingMock", "AsyncWaitingMock", "TimewarpAsyncTestCase",
    "TimewarpAsyncTestCaseTimeAdvancer",
]



def _with_mid(text, mid):
    # type: (str, Any) -> str
    """``"!name ok"`` with ``mid`` 3 -> ``"!name[3] ok"``."""
    if not mid:
        return text
    head, sep, rest = text.partition(" ")
    return "%s[%s]%s%s" % (head, mid, sep, rest)


class ClientConnectionTest(RecordingClientConnection):
    """katcp-python's stand-in client connection that records what is sent to it.

    A :class:`~katcp_sync.testing.mock_req.RecordingClientConnection` of no
    server, with katcp-python's signature (no arguments) and the address
    ``test-client:0``: ``messages`` holds the informs and replies in order
    (as parsed back from the wire, replies with their request's message
    id), ``mass_informs`` the mass informs; ``informs`` and ``replies``
    filter ``messages``. Any thread may send to it or read the lists.
    """

    def __init__(self):
        # type: () -> None
        super(ClientConnectionTest, self).__init__(None, "test-client:0")


class TestLogHandler(logging.Handler):
    """A :class:`logging.Handler` that keeps the records (``_records``).

    Records may be emitted from any thread (logging's handler lock
    serialises :meth:`emit`); read ``_records`` once the logging is done.
    """

    def __init__(self):
        # type: () -> None
        logging.Handler.__init__(self)
        self._records = []  # type: List[logging.LogRecord]

    def emit(self, record):
        # type: (logging.LogRecord) -> None
        """Keep ``record``."""
        self._records.append(record)

    def clear(self):
        # type: () -> None
        """Forget the records kept so far."""
        self._records = []


class DeviceTestSensor(Sensor):
    """A sensor created with a given reading (timestamp, status, value).

    Otherwise a :class:`~katcp_sync.sensor.Sensor` (any thread may set and
    read it). Raises as :meth:`Sensor.set <katcp_sync.sensor.Sensor.set>`.
    """

    def __init__(self, sensor_type, name, description, units,
                 params, timestamp, status, value):
        # type: (int, str, str, str, Any, float, int, Any) -> None
        super(DeviceTestSensor, self).__init__(sensor_type, name, description, units, params)
        self.set(timestamp, status, value)


class DeviceTestServer(DeviceServer):
    """katcp-python's test device: its sensors and requests, on threads.

    It speaks katcp-python's default protocol, 5.0 with ``M`` and ``I``
    (katcp_sync's own default is 5.1-BIMT), so its ``?help`` lists the
    same requests.

    Sensors ``an.int``, ``a.discrete``, ``a.float`` and ``a.floatwithzero``
    (all stamped 12345); requests ``new-command``, ``raise-exception``,
    ``raise-fail``, ``slow-command`` (timeout hint 99; replies after the
    given seconds, or at once on ``cancel-slow-command``), ``decorated``
    and ``decorated-return-exception``. Every message handled is kept in
    :attr:`messages`; set ``break_help`` or ``break_sensor_list`` to a
    text to make those requests fail with it.
    """

    PROTOCOL_INFO = ProtocolFlags(5, 0, {ProtocolFlags.MULTI_CLIENT, ProtocolFlags.MESSAGE_IDS})

    def __init__(self, *args, **kwargs):
        # type: (*Any, **Any) -> None
        super(DeviceTestServer, self).__init__(*args, **kwargs)
        # copies, so that a test may change one server's handlers only
        self._request_handlers = dict(type(self)._request_handlers)
        self._inform_handlers = dict(type(self)._inform_handlers)
        self._reply_handlers = dict(type(self)._reply_handlers)
        self._msgs = []  # type: List[Message]
        self._msgs_lock = threading.Lock()
        self._cnt_futures = []  # type: List[Tuple[int, "concurrent.futures.Future[List[Message]]"]]
        self.break_sensor_list = False  # type: Any
        self.break_help = False  # type: Any
        self.restart_queue = queue.Queue()  # type: "queue.Queue[Any]"
        self.set_restart_queue(self.restart_queue)
        self._slow_lock = threading.Lock()
        self._slow_finishers = {}  # type: Dict[Any, Any]
        #: Kept for katcp-python's tests; ``#version-connect`` is sent on
        #: accept, before any hook, so clearing it delays nothing here.
        self.proceed_on_client_connect = AsyncEvent()
        self.proceed_on_client_connect.set()

    @property
    def request_names(self):
        # type: () -> List[str]
        """The names of the requests this server handles."""
        return list(self._request_handlers.keys())

    @property
    def sensor_names(self):
        # type: () -> List[str]
        """The names of this server's sensors."""
        return [s.name for s in self.get_sensors()]

    def setup_sensors(self):
        # type: () -> None
        """Add the four test sensors."""
        self.restarted = False
        for stype, name, description, units, params, value in (
                (Sensor.INTEGER, "an.int", "An Integer.", "count", [-5, 5], 3),
                (Sensor.DISCRETE, "a.discrete", "A Discrete.", "", ["one", "two", "three"],
                 "one"),
                (Sensor.FLOAT, "a.float", "A Float.", "", [-123.4, 123.4], 12),
                (Sensor.FLOAT, "a.floatwithzero", "A Float with zero.", "", [-123.0, 123.0],
                 12)):
            self.add_sensor(DeviceTestSensor(stype, name, description, units, params,
                                             timestamp=12345, status=Sensor.NOMINAL,
                                             value=value))

    def request_new_command(self, req, msg):
        # type: (Any, Message) -> Message
        """A new command."""
        return Message.reply(msg.name, "ok", "param1", "param2")

    def request_raise_exception(self, req, msg):
        # type: (Any, Message) -> Message
        """A handler which raises an exception."""
        raise Exception("An exception occurred!")

    def request_raise_fail(self, req, msg):
        # type: (Any, Message) -> Message
        """A handler which raises a FailReply."""
        raise FailReply("There was a problem with your request.")

    def _start_slow(self, req, wait_time,
                    finish):
        # type: (Any, float, Any) -> None
        """Run ``finish()`` once, after ``wait_time`` or on cancel."""
        conn = req.client_connection
        with self._slow_lock:
            if conn in self._slow_finishers:
                raise FailReply("A slow command is already running for this connection")
            done = threading.Lock()

            def finish_once():
                # type: () -> None
                if done.acquire(False):
                    with self._slow_lock:
                        self._slow_finishers.pop(conn, None)
                    finish()

            self._slow_finishers[conn] = finish_once
        self.reactor.call_later(wait_time, finish_once)

    @request_timeout_hint(99)
    def request_slow_command(self, req, msg):
        # type: (Any, Message) -> Message
        """A slow command, waits for msg.arguments[0] seconds.

        Other requests are handled meanwhile; ?cancel-slow-command makes
        it reply at once.
        """
        self._start_slow(req, float(msg.arguments[0]), lambda: req.reply("ok"))
        raise AsyncReply()

    def request_cancel_slow_command(self, req, msg):
        # type: (Any, Message) -> Message
        """Cancel slow command request, resulting in it replying immediately."""
        with self._slow_lock:
            finish = self._slow_finishers.get(req.client_connection)
        if finish is not None:
            finish()
        return req.make_reply("ok")

    @request(Str(), Float(), Int(), Bool())
    @return_reply(Str(), Float(), Int(), Bool())
    def request_decorated(self, req, _string, _float, _int,
                          do_raise):
        # type: (Any, str, float, int, bool) -> Tuple[Any, ...]
        """Decorated handler, return params, optionally raise exception."""
        if do_raise:
            raise Exception("An exception occurred!")
        req.inform("_string", str(type(_string)))
        req.inform("_float", str(type(_float)))
        req.inform("_int", str(type(_int)))
        req.inform("do_raise", str(type(do_raise)))
        return "ok", _string, _float, _int, do_raise

    @return_reply()
    def request_decorated_return_exception(self, req, msg):
        # type: (Any, Message) -> Tuple[Any, ...]
        """Decorated handler, return fail with exception object."""
        try:
            raise Exception("An exception occurred!")
        except Exception as exc:
            return "fail", exc

    def handle_message(self, client_conn, msg):
        # type: (Any, Message) -> None
        """Record ``msg`` in :attr:`messages`, then handle it."""
        with self._msgs_lock:
            self._msgs.append(msg)
        self._check_cnt_futures()
        super(DeviceTestServer, self).handle_message(client_conn, msg)

    def request_help(self, req, msg):
        # type: (Any, Message) -> Any
        """Return help on the available requests (fails with ``break_help`` if set)."""
        if self.break_help:
            return req.make_reply("fail", self.break_help)
        return super(DeviceTestServer, self).request_help(req, msg)

    def request_sensor_list(self, req, msg):
        # type: (Any, Message) -> Any
        """Request the list of sensors (fails with ``break_sensor_list`` if set)."""
        if self.break_sensor_list:
            return req.make_reply("fail", self.break_sensor_list)
        return super(DeviceTestServer, self).request_sensor_list(req, msg)

    @property
    def messages(self):
        # type: () -> List[Message]
        """The messages handled so far."""
        return self._msgs

    def until_messages(self, cnt):
        # type: (int) -> "concurrent.futures.Future[List[Message]]"
        """Return a future of :attr:`messages` once it holds ``cnt`` messages."""
        future = compat.Future()  # type: "concurrent.futures.Future[List[Message]]"
        with self._msgs_lock:
            self._cnt_futures.append((cnt, future))
        self._check_cnt_futures()
        return future

    def _check_cnt_futures(self):
        # type: () -> None
        with self._msgs_lock:
            count = len(self._msgs)
            ready = [f for c, f in self._cnt_futures if count >= c]
            self._cnt_futures = [(c, f) for c, f in self._cnt_futures if count < c]
        for future in ready:
            future.set_result(self._msgs)

    def stop(self, timeout=None):
        # type: (Optional[float]) -> Any
        """Stop the server, first ending any slow command."""
        with self._slow_lock:
            finishers = list(self._slow_finishers.values())
        for finish in finishers:
            finish()
        return super(DeviceTestServer, self).stop(timeout)


class AsyncDeviceTestServer(DeviceTestServer):
    """:class:`DeviceTestServer` whose handlers run on the reactor thread."""

    def __init__(self, *args, **kwargs):
        # type: (*Any, **Any) -> None
        super(AsyncDeviceTestServer, self).__init__(*args, **kwargs)
        self.set_concurrency_options(thread_safe=False, handler_thread=False)

    @request(Float())
    @return_reply()
    @request_timeout_hint(99)
    @concurrent_reply
    def request_slow_command(self, req, wait_time):
        # type: (Any, float) -> Any
        """A slow request, waits for the given seconds (returns a future).

        Other requests are handled meanwhile; ?cancel-slow-command makes
        it reply at once.
        """
        future = compat.Future()  # type: "concurrent.futures.Future[Tuple[str]]"
        self._start_slow(req, wait_time, lambda: future.set_result(("ok",)))
        return future


class DeviceTestServerWithTimeoutHints(DeviceTestServer):
    """:class:`DeviceTestServer` speaking 5.1 with request timeout hints.

    Threads as any device server: methods from any thread, handlers on its
    workers.
    """

    PROTOCOL_INFO = ProtocolFlags(5, 1, {
        ProtocolFlags.MULTI_CLIENT, ProtocolFlags.MESSAGE_IDS,
        ProtocolFlags.REQUEST_TIMEOUT_HINTS})

    def __init__(self, *args, **kwargs):
        # type: (*Any, **Any) -> None
        super(DeviceTestServerWithTimeoutHints, self).__init__(*args, **kwargs)
        self.request_timeout_hints = {"slow-command": 10.5, "raise-fail": 2.3}

    @request(Str(optional=True))
    @return_reply(Int())
    def request_request_timeout_hint(self, req, name):
        # type: (Any, Optional[str]) -> Tuple[Any, ...]
        """Return timeout hints for requests"""
        hints = ({name: self.request_timeout_hints.get(name, 0)} if name
                 else self.request_timeout_hints)
        for req_name, timeout_hint in hints.items():
            req.inform(req_name, timeout_hint)
        return "ok", len(hints)


class SensorComparisonMixin(object):
    """unittest mixin: compare :class:`~katcp_sync.sensor.Sensor` objects.

    Descriptions are dicts with any of the keys ``name``, ``status``,
    ``type``, ``value``, ``timestamp``, ``description``, ``units`` and
    ``params``. The assertions read each sensor once, when called (no
    waiting); call them from the test's thread, where unittest reports the
    AssertionError they raise.
    """

    key_fns = dict(
        name=lambda s: s.name,
        status=lambda s: s.status(),
        type=lambda s: s.SENSOR_TYPE_LOOKUP[s.stype],
        value=lambda s: s.value(),
        timestamp=lambda s: s.read()[0],
        description=lambda s: s.description,
        units=lambda s: s.units,
        params=lambda s: s.params,
    )

    def _get_sensor_description(self, sensor, desired_keys=None,
                                ignore_keys=()):
        # type: (Any, Optional[Iterable[str]], Iterable[str]) -> Dict[str, Any]
        keys = set(self.key_fns if desired_keys is None else desired_keys) - set(ignore_keys)
        unknown = keys - set(self.key_fns)
        if unknown:
            raise KeyError("Unknown sensor key: %s" % ", ".join(sorted(unknown)))
        return {key: self.key_fns[key](sensor) for key in keys}

    def assert_sensor_equal(self, actual_sensor, desired_sensor,
                            ignore_attributes=()):
        # type: (Any, Any, Iterable[str]) -> None
        """Assert two sensors match, but for ``ignore_attributes``."""
        self.assertEqual(  # type: ignore[attr-defined]
            self._get_sensor_description(actual_sensor, ignore_keys=ignore_attributes),
            self._get_sensor_description(desired_sensor, ignore_keys=ignore_attributes))

    def assert_sensor_equal_description(self, actual_sensor,
                                        desired_description):
        # type: (Any, Dict[str, Any]) -> None
        """Assert a sensor matches a description dict (only its keys are compared)."""
        if "name" not in desired_description:
            desired_description = dict(desired_description, name=actual_sensor.name)
        self.assert_sensors_equal_description([actual_sensor], [desired_description])

    def assert_sensors_equal_description(self, actual_sensors,
                                         desired_description):
        # type: (Iterable[Any], Iterable[Dict[str, Any]]) -> None
        """Assert sensors match descriptions, paired by name (order ignored)."""
        actual = {s.name: s for s in actual_sensors}
        desired = {d["name"]: d for d in desired_description}
        self.assertEqual(sorted(actual), sorted(desired))  # type: ignore[attr-defined]
        got = {name: self._get_sensor_description(actual[name], list(want))
               for name, want in desired.items()}
        self.maxDiff = None
        self.assertEqual(got, desired)  # type: ignore[attr-defined]

    def assert_sensors_value_conditions(self, actual_sensors,
                                        value_tests):
        # type: (Iterable[Any], Dict[str, Any]) -> None
        """Call ``value_tests[name](value)`` for each named sensor (they assert)."""
        actual = {s.name: s for s in actual_sensors}
        self.assertTrue(all(name in actual for name in value_tests))  # type: ignore
        for name, check in value_tests.items():
            check(actual[name].value())


class TestUtilMixin(object):
    """unittest mixin: assertions on lists of received messages.

    Expected messages are written as their ``str()`` (``"!help ok 5"``);
    ``mid`` inserts a message id after the name. Each assertion compares
    the list it is given, as it is when called (no waiting), and raises
    the test case's ``failureException`` (AssertionError) on a mismatch.
    Call them from the test's thread (unittest's assertions report
    failures only there); pass a snapshot (``list(...)``) of a list that
    another thread may still be appending to.
    """

    def _assert_msgs_length(self, actual_msgs, expected_number):
        # type: (Sequence[Any], int) -> None
        """Assert there are ``expected_number`` messages."""
        num = len(actual_msgs)
        if num != expected_number:
            self.assertEqual(num, expected_number,  # type: ignore[attr-defined]
                             "Too few messages received." if num < expected_number
                             else "Too many messages received.")

    def _assert_msgs_equal(self, actual_msgs, expected_msgs,
                           mid=None):
        # type: (Sequence[Any], Sequence[str], Any) -> None
        """Assert ``str(msg)`` equals each expected text, and the count."""
        for msg, text in zip(actual_msgs, expected_msgs):
            self.assertEqual(str(msg), _with_mid(text, mid))  # type: ignore[attr-defined]
        self._assert_msgs_length(actual_msgs, len(expected_msgs))

    def _assert_msgs_match(self, actual_msgs, expected):
        # type: (Sequence[Any], Sequence[str]) -> None
        """Assert each message's ``str()`` matches a regex (``re.match``), and the count."""
        for msg, pattern in zip(actual_msgs, expected):
            self.assertTrue(re.match(pattern, str(msg)),  # type: ignore[attr-defined]
                            "Message did match pattern %r: %s" % (pattern, msg))
        self._assert_msgs_length(actual_msgs, len(expected))

    def _assert_msgs_like(self, actual_msgs,
                          expected, mid=None):
        # type: (Sequence[Any], Sequence[Tuple[str, str]], Any) -> None
        """Assert each message starts and ends with (prefix, suffix), and the count."""
        for msg, (prefix, suffix) in zip(actual_msgs, expected):
            text = str(msg)
            prefix = _with_mid(prefix, mid)
            if prefix and not text.startswith(prefix):
                self.assertEqual(text, prefix,  # type: ignore[attr-defined]
                                 msg="Message '%s' does not start with '%s'." % (text, prefix))
            if suffix and not text.endswith(suffix):
                self.assertEqual(text, suffix,  # type: ignore[attr-defined]
                                 msg="Message '%s' does not end with '%s'." % (text, suffix))
        self._assert_msgs_length(actual_msgs, len(expected))


class WaitingMock(mock.Mock):
    """A :class:`unittest.mock.Mock` that can wait to be called.

    ``assert_wait_call_count(count, timeout)`` returns once the mock was
    called ``count`` times (counting from when the call starts, so a
    blocking ``side_effect`` does not delay the waiter), else raises
    :exc:`AssertionError`. Calls may come from any thread.
    """

    def __init__(self, *args, **kwargs):
        # type: (*Any, **Any) -> None
        super(WaitingMock, self).__init__(*args, **kwargs)
        self.__dict__["_waiting_calls"] = compat.Condition()
        self.__dict__["_started_calls"] = 0

    def _mock_call(self, *args, **kwargs):
        # type: (*Any, **Any) -> Any
        with self._waiting_calls:
            self.__dict__["_started_calls"] += 1
            self._waiting_calls.notify_all()
        return super(WaitingMock, self)._mock_call(*args, **kwargs)

    def reset_mock(self, *args, **kwargs):
        # type: (*Any, **Any) -> None
        """Reset the mock, including the count waited on."""
        super(WaitingMock, self).reset_mock(*args, **kwargs)
        with self._waiting_calls:
            self.__dict__["_started_calls"] = 0

    def assert_wait_call_count(self, count, timeout=1.0):
        # type: (int, float) -> bool
        """Wait up to ``timeout`` seconds for ``count`` calls.

        Raises:
            AssertionError: fewer calls within the timeout.
            RuntimeError: the calls were made but ``call_args_list`` does
                not show them within the timeout.
        """
        deadline = Deadline(timeout)
        with self._waiting_calls:
            ok = self._waiting_calls.wait_for(
                lambda: self._started_calls >= count, deadline.remaining())
        assert ok, "expected %d calls within %s s, got %d" % (
            count, format_seconds(timeout), self._started_calls)
        # a call is counted before mock records its arguments
        while len(self.call_args_list) < count and not deadline.expired():
            time.sleep(0.001)
        if len(self.call_args_list) < count:
            raise RuntimeError("call_args_list not updated within %s s" % format_seconds(timeout))
        return True


_TORNADO_ONLY = ("katcp-python's tornado test case has no equivalent in katcp_sync "
                 "(no tornado ioloop, no fake clock); see docs/migration.rst")


class TimewarpAsyncTestCase(unittest.TestCase):
    """Importable stand-in for katcp-python's tornado fake-clock test case.

    Its tests are skipped with the reason: katcp_sync has no tornado
    ioloop to warp (``setUp`` raises :exc:`unittest.SkipTest`). No threads.
    """

    def setUp(self):
        # type: () -> None
        """Skip: see the class docstring."""
        self.skipTest(_TORNADO_ONLY)


class TimewarpAsyncTestCaseTimeAdvancer(threading.Thread):
    """Importable stand-in for katcp-python's clock advancer.

    Raises:
        unittest.SkipTest: when built (no thread is started).
    """

    def __init__(self, *args, **kwargs):
        # type: (*Any, **Any) -> None
        raise unittest.SkipTest(_TORNADO_ONLY)


class AsyncWaitingMock(WaitingMock):
    """katcp-python's tornado ``AsyncWaitingMock``: here :class:`WaitingMock`.

    ``assert_wait_call_count`` blocks and returns True instead of returning
    a tornado future. Calls may come from any thread.
    """
