"""The blocking test client and its assertions, and a server for a ``with`` block.

:func:`start_server` runs a device server for the duration of a ``with``
block; :class:`BlockingTestClient` is a :class:`~katcp_sync.client.BlockingClient`
with katcp-python's assertions (``assert_request_succeeds``,
``assert_sensor_equals``, ``test_help``...), and :class:`MessageRecorder`
records the messages a client receives. Re-exported by
:mod:`katcp_sync.testutils` (katcp-python's ``katcp.testutils`` names).
"""

from __future__ import absolute_import, division, print_function

import contextlib
import re
import threading
import time
from typing import (Any, Callable, Iterable, Iterator, List, Optional, Sequence, Tuple, Type,
                    TypeVar, Union)

from .. import compat
from ..client import BlockingClient
from ..deadline import Deadline
from ..formatting import format_seconds
from ..message import Message
from ..server import DeviceServer

__all__ = ["start_server", "BlockingTestClient", "MessageRecorder", "Text"]

#: A message name, value or argument as tests write it.
Text = Union[str, bytes]

#: The server class or instance given to :func:`start_server`.
ServerT = TypeVar("ServerT", bound=DeviceServer)


def _text(value):
    # type: (Any) -> str
    """A value as the text it is on the wire (``bytes`` decoded as UTF-8)."""
    return compat.native_str(Message.format_argument(value), "backslashreplace")


def _texts(values):
    # type: (Iterable[Any]) -> List[str]
    return [_text(v) for v in values]


@contextlib.contextmanager
def start_server(server_or_class, host="127.0.0.1",
                 port=0, *args, **kwargs):
    # type: (Union[ServerT, Type[ServerT]], str, int, *Any, **Any) -> Iterator[ServerT]
    """Run a device server for the duration of a ``with`` block.

    Args:
        server_or_class: a server instance (started here), or a server class
            instantiated as ``cls(host, port, *args, **kwargs)``.
        host, port: where a class is made to listen; the default is a free
            port on the loopback interface (see ``server.bind_address``).
        timeout: seconds to wait for the server to stop on exit.

    Yields:
        the running server.

    Raises:
        AssertionError: (on exit) the server's threads did not end in time.
    """
    timeout = compat.kwonly_pop(kwargs, 'timeout', 5.0)  # type: float
    if isinstance(server_or_class, type):
        server = server_or_class(host, port, *args, **kwargs)
    else:
        server = server_or_class
    server.start()
    try:
        yield server
    finally:
        server.stop(timeout)
        if not server.join(timeout):
            raise AssertionError("server %r did not stop within %s s"
                                 % (server, format_seconds(timeout)))


class MessageRecorder(object):
    """Collects the messages a :class:`BlockingTestClient` receives.

    Made by :meth:`BlockingTestClient.message_recorder`; records from the
    moment it is made. Thread-safe: messages are added on the client's
    reactor thread and read by the test.

    Args:
        whitelist: only record messages with these names (empty: all).
        blacklist: never record messages with these names.
        regex_filter: only record messages whose KATCP text matches.
        informs: record informs; replies: record replies.
    """

    def __init__(self, whitelist=(), blacklist=(),
                 regex_filter=None, informs=True,
                 replies=False):
        # type: (Iterable[Text], Iterable[Text], Optional[str], bool, bool) -> None
        self._whitelist = frozenset(_texts(whitelist))
        self._blacklist = frozenset(_texts(blacklist))
        self._regex = re.compile(regex_filter) if regex_filter else None
        self._types = {Message.INFORM} if informs else set()
        if replies:
            self._types.add(Message.REPLY)
        self._msgs = []  # type: List[Message]
        self._cond = compat.Condition()

    def offer(self, msg):
        # type: (Message) -> None
        """Record ``msg`` if it passes the filters (client's reactor thread)."""
        if msg.mtype not in self._types or msg.name in self._blacklist:
            return
        if self._whitelist and msg.name not in self._whitelist:
            return
        if self._regex is not None and not self._regex.search(str(msg)):
            return
        with self._cond:
            self._msgs.append(msg)
            self._cond.notify_all()

    def wait_number(self, number, timeout=1.0):
        # type: (int, float) -> bool
        """Wait until at least ``number`` messages are recorded; True if they are."""
        with self._cond:
            return self._cond.wait_for(lambda: len(self._msgs) >= number, timeout)

    def get_msgs(self, min_number=0, timeout=1.0):
        # type: (int, float) -> List[Message]
        """Return (and forget) the recorded messages.

        Waits up to ``timeout`` seconds for at least ``min_number`` of them
        first; returns what there is either way (check the length).
        """
        if min_number > 0:
            self.wait_number(min_number, timeout)
        with self._cond:
            msgs, self._msgs = self._msgs, []
        return msgs

    __call__ = get_msgs

    def __len__(self):
        # type: () -> int
        with self._cond:
            return len(self._msgs)


def _custom(msg, got):
    # type: (Optional[str], Any) -> Optional[str]
    """A test's own failure message, with a ``%r`` in it replaced by ``got``."""
    if msg and "%r" in msg:
        try:
            return msg % (got,)
        except (TypeError, ValueError):
            return msg
    return msg


def _convert(raw, sensortype):
    # type: (str, Callable[[str], Any]) -> Any
    """Convert a sensor value's text with ``sensortype`` (``bool`` reads 0/1)."""
    if sensortype is bool:
        return raw not in ("0", "", "false", "False")
    return sensortype(raw)


class BlockingTestClient(BlockingClient):
    """A :class:`~katcp_sync.client.BlockingClient` with assertions for tests.

    Args:
        test: a :class:`unittest.TestCase` (failures call ``test.fail``), or
            ``None`` (failures raise :class:`AssertionError`, for pytest).
        host, port: the device.
        args, kwargs: passed on to :class:`~katcp_sync.client.BlockingClient`.

    As a context manager it starts, waits for the device's protocol (up to
    :attr:`timeout` seconds) and stops and joins on exit. Assertions may be
    called from any thread except the client's reactor thread.
    """

    def __init__(self, test, host, port, *args, **kwargs):
        # type: (Any, str, int, *Any, **Any) -> None
        super(BlockingTestClient, self).__init__(host, port, *args, **kwargs)
        self.test = test
        self._recorders = []  # type: List[MessageRecorder]
        self._recorders_lock = threading.Lock()

    def __enter__(self):
        # type: () -> "BlockingTestClient"
        super(BlockingTestClient, self).__enter__()
        if not self.wait_protocol(self.timeout):
            self.stop()
            self.join()
            self._fail_test("could not connect to %s within %s s" % (
                self.bind_address_string, format_seconds(self.timeout)))
        return self

    def _fail_test(self, text):
        # type: (str) -> None
        """Fail the test with ``text`` (``test.fail`` or AssertionError)."""
        fail = getattr(self.test, "fail", None)
        if fail is not None:
            fail(text)
        raise AssertionError(text)

    # -- recording -----------------------------------------------------------

    def handle_message(self, msg):
        # type: (Message) -> None
        """Offer each received message to the recorders, then dispatch it."""
        for recorder in self._recorders:
            recorder.offer(msg)
        super(BlockingTestClient, self).handle_message(msg)

    def message_recorder(self, whitelist=(), blacklist=(),
                         regex_filter=None, informs=True,
                         replies=False):
        # type: (Iterable[Text], Iterable[Text], Optional[str], bool, bool) -> MessageRecorder
        """Start recording received messages; see :class:`MessageRecorder`."""
        recorder = MessageRecorder(whitelist, blacklist, regex_filter, informs, replies)
        with self._recorders_lock:
            self._recorders = self._recorders + [recorder]
        return recorder

    def raw_send(self, chunk):
        # type: (bytes) -> None
        """Send raw bytes to the device (e.g. a malformed line)."""
        self._write(chunk)

    # -- requests -----------------------------------------------------------------

    def _request(self, name, params,
                 timeout=None):
        # type: (Text, Sequence[Any], Optional[float]) -> Tuple[Message, List[Message]]
        msg = Message.request(_text(name), *params)
        try:
            return self.blocking_request(msg, timeout=timeout)
        except RuntimeError as exc:
            self._fail_test("request %s failed to complete: %s" % (msg, exc))
            raise   # not reached: _fail_test raises

    def assert_request_succeeds(self, name, *params, **kwargs):
        # type: (Text, *Any, **Any) -> List[str]
        """Make a request and check that it succeeds.

        Args:
            name, params: the request.
            args_echo: the reply arguments (after ``ok``) must equal ``params``.
            args_equal: ... must equal this list.
            args_in: ... must equal one of these lists.
            args_length: ... must be this many.
            informs_count: exactly this many informs must come with the reply.
            informs_args_equal: the informs' arguments must equal these lists.
            timeout: request timeout (default: the client's).

        Returns:
            the reply arguments after ``ok``, as ``str``.
        """
        args_echo = compat.kwonly_pop(kwargs, 'args_echo', False)  # type: bool
        args_equal = compat.kwonly_pop(kwargs, 'args_equal', None)  # type: Optional[Sequence[Any]]
        args_in = compat.kwonly_pop(kwargs, 'args_in', None)  # type: Optional[Sequence[Sequence[Any]]]
        args_length = compat.kwonly_pop(kwargs, 'args_length', None)  # type: Optional[int]
        informs_count = compat.kwonly_pop(kwargs, 'informs_count', None)  # type: Optional[int]
        informs_args_equal = compat.kwonly_pop(kwargs, 'informs_args_equal', None)  # type: Optional[Sequence[Sequence[Any]]]
        timeout = compat.kwonly_pop(kwargs, 'timeout', None)  # type: Optional[float]
        compat.kwonly_done('assert_request_succeeds', kwargs)
        reply, informs = self._request(name, params, timeout)
        where = "request %s" % Message.request(_text(name), *params)
        if not reply.reply_ok():
            self._fail_test("expected %s to succeed, but it replied %s" % (where, reply))
        args = _texts(reply.arguments[1:])
        if args_echo and args != _texts(params):
            self._fail_test("%s: reply arguments %r do not echo the parameters %r"
                            % (where, args, _texts(params)))
        if args_equal is not None and args != _texts(args_equal):
            self._fail_test("%s: reply arguments %r, expected %r" % (where, args, _texts(args_equal)))
        if args_in is not None and args not in [_texts(a) for a in args_in]:
            self._fail_test("%s: reply arguments %r are none of %r"
                            % (where, args, [_texts(a) for a in args_in]))
        if args_length is not None and len(args) != args_length:
            self._fail_test("%s: %d reply arguments %r, expected %d"
                            % (where, len(args), args, args_length))
        if informs_count is not None and len(informs) != informs_count:
            self._fail_test("%s: %d informs, expected %d:\n%s" % (
                where, len(informs), informs_count, "\n".join(str(m) for m in informs)))
        if informs_args_equal is not None:
            got = [_texts(m.arguments) for m in informs]
            expected = [_texts(a) for a in informs_args_equal]
            if got != expected:
                self._fail_test("%s: inform arguments %r, expected %r" % (where, got, expected))
        return args

    def assert_request_fails(self, name, *params,
                             **kwargs):
        # type: (Text, *Any, **Any) -> List[str]
        """Make a request and check that it does not succeed.

        Args:
            status_equals: the reply code must be this (e.g. ``"invalid"``);
                by default anything but ``ok`` passes.
            error_equals: the first argument after the code must be this.

        Returns:
            the reply arguments (code first), as ``str``.
        """
        status_equals = compat.kwonly_pop(kwargs, 'status_equals', None)  # type: Optional[Text]
        error_equals = compat.kwonly_pop(kwargs, 'error_equals', None)  # type: Optional[Text]
        timeout = compat.kwonly_pop(kwargs, 'timeout', None)  # type: Optional[float]
        compat.kwonly_done('assert_request_fails', kwargs)
        reply, _ = self._request(name, params, timeout)
        where = "request %s" % Message.request(_text(name), *params)
        args = _texts(reply.arguments)
        if reply.reply_ok():
            self._fail_test("expected %s to fail, but it replied %s" % (where, reply))
        if status_equals is not None and args[:1] != [_text(status_equals)]:
            self._fail_test("%s: reply code %r, expected %r" % (where, args[:1], _text(status_equals)))
        if error_equals is not None and args[1:2] != [_text(error_equals)]:
            self._fail_test("%s: error %r, expected %r" % (where, args[1:2], _text(error_equals)))
        return args

    # -- sensors -----------------------------------------------------------------

    def get_sensor(self, name, sensortype=str):
        # type: (Text, Callable[[str], Any]) -> Tuple[Any, str, float]
        """Read a sensor with ``?sensor-value``.

        Args:
            name: the sensor name.
            sensortype: converts the value's text (``str``, ``int``,
                ``float``, ``bool`` -- which reads ``0``/``1`` -- or any
                callable).

        Returns:
            ``(value, status, timestamp)``: status a name such as
            ``"nominal"``, timestamp in the device's unit (seconds for v5).
        """
        reply, informs = self._request("sensor-value", [_text(name)])
        if not reply.reply_ok():
            self._fail_test("could not read sensor %s: %s" % (_text(name), reply))
        values = [m for m in informs if len(m.arguments) >= 5]
        if len(values) != 1:
            self._fail_test("?sensor-value %s gave %d readings, expected 1"
                            % (_text(name), len(values)))
        timestamp, _, _, status, value = _texts(values[0].arguments[:5])
        return _convert(value, sensortype), status, float(timestamp)

    def get_sensor_value(self, name, sensortype=str):
        # type: (Text, Callable[[str], Any]) -> Any
        """The value of a sensor (see :meth:`get_sensor`)."""
        return self.get_sensor(name, sensortype)[0]

    def get_sensor_status(self, name):
        # type: (Text) -> str
        """The status name of a sensor, e.g. ``"nominal"``."""
        return self.get_sensor(name)[1]

    def get_sensor_timestamp(self, name):
        # type: (Text) -> float
        """The timestamp of a sensor's reading."""
        return self.get_sensor(name)[2]

    def _values_equal(self, got, expected, places):
        # type: (Any, Any, Optional[int]) -> bool
        if places is not None and isinstance(got, float) and isinstance(expected, (int, float)):
            return round(abs(got - expected), places) == 0
        if isinstance(got, str) and not isinstance(expected, str):
            expected = _text(expected)     # bytes, or a number as on the wire
        return bool(got == expected)

    def assert_sensor_equals(self, name, expected,
                             sensortype=str, msg=None,
                             places=7, status=None):
        # type: (Text, Any, Callable[[str], Any], Optional[str], Optional[int], Optional[Text]) -> None
        """Check a sensor's value (floats to ``places`` decimals) and, if given, status.

        A ``%r`` in ``msg`` is replaced with the value read (katcp-python's rule).
        """
        value, got_status, _ = self.get_sensor(name, sensortype)
        if not self._values_equal(value, expected, places):
            self._fail_test(_custom(msg, value)
                            or "sensor %s value %r, expected %r" % (_text(name), value, expected))
        if status is not None and got_status != _text(status):
            self._fail_test(_custom(msg, got_status) or "sensor %s status %r, expected %r"
                            % (_text(name), got_status, _text(status)))

    def assert_sensor_status_equals(self, name, expected_status,
                                    msg=None):
        # type: (Text, Text, Optional[str]) -> None
        """Check a sensor's status name (a ``%r`` in ``msg`` becomes the status read)."""
        status = self.get_sensor_status(name)
        if status != _text(expected_status):
            self._fail_test(_custom(msg, status) or "sensor %s status %r, expected %r"
                            % (_text(name), status, _text(expected_status)))

    def assert_sensor_not_equal(self, name, expected,
                                sensortype=str, msg=None,
                                places=7):
        # type: (Text, Any, Callable[[str], Any], Optional[str], Optional[int]) -> None
        """Check that a sensor's value differs from ``expected`` (a ``%r`` in
        ``msg`` becomes the value read)."""
        value = self.get_sensor_value(name, sensortype)
        if self._values_equal(value, expected, places):
            self._fail_test(_custom(msg, value) or "sensor %s value is %r" % (_text(name), value))

    @staticmethod
    def expected_sensor_value_tuple(name, value, sensortype=str, places=7):
        # type: (Text, Any, Callable[[str], Any], Optional[int]) -> Tuple[Text, Any, Callable[[str], Any], Optional[int]]
        """``(name, value, sensortype, places)``: a sensor tuple of
        :meth:`assert_sensors_equal` and the others, with the defaults filled in."""
        return (name, value, sensortype, places)

    def assert_sensors_equal(self, sensor_tuples, msg=None):
        # type: (Iterable[Sequence[Any]], Optional[str]) -> None
        """:meth:`assert_sensor_equals` for each ``(name, value[, sensortype[, places]])``."""
        for name, expected, sensortype, places in [
                self.expected_sensor_value_tuple(*t) for t in sensor_tuples]:
            self.assert_sensor_equals(name, expected, sensortype, msg=msg, places=places)

    def assert_sensors_not_equal(self, sensor_tuples, msg=None):
        # type: (Iterable[Sequence[Any]], Optional[str]) -> None
        """:meth:`assert_sensor_not_equal` for each ``(name, value[, sensortype[, places]])``."""
        for name, expected, sensortype, places in [
                self.expected_sensor_value_tuple(*t) for t in sensor_tuples]:
            self.assert_sensor_not_equal(name, expected, sensortype, msg=msg, places=places)

    def wait_until_sensor_equals(self, timeout, name, value,
                                 sensortype=str,
                                 places=7, pollperiod=0.02, pollfreq=None):
        # type: (float, Text, Any, Callable[[str], Any], Optional[int], float, Optional[float]) -> None
        """Poll a sensor until it has ``value``; fail after ``timeout`` seconds.

        Polling (``?sensor-value`` every ``pollperiod`` seconds -- katcp-python
        0.9's name; ``pollfreq``, its older one, wins if given) leaves the
        device's sampling strategies for this client untouched.
        """
        period = pollperiod if pollfreq is None else pollfreq
        deadline = Deadline(timeout)
        while True:
            got = self.get_sensor_value(name, sensortype)
            if self._values_equal(got, value, places):
                return
            if deadline.expired():
                self._fail_test("sensor %s is %r, not %r after %s s"
                                % (_text(name), got, value, format_seconds(timeout)))
            time.sleep(min(period, deadline.remaining() or 0.0))

    def wait_until_sensors_equal(self, timeout, sensor_tuples, msg=None):
        # type: (float, Sequence[Sequence[Any]], Optional[str]) -> None
        """Poll until every ``(name, value[, sensortype[, places]])`` holds;
        fail after ``timeout`` seconds, with the first that does not."""
        deadline = Deadline(timeout)
        while True:
            try:
                self.assert_sensors_equal(sensor_tuples, msg)
                return
            except AssertionError:
                if deadline.expired():
                    break
            time.sleep(min(0.01, deadline.remaining() or 0.0))
        self.assert_sensors_equal(sensor_tuples, (msg or "") + ": timed out after %s s"
                                  % format_seconds(timeout))

    def wait_condition(self, timeout, predicate, *args, **kwargs):
        # type: (float, Callable[..., Any], *Any, **Any) -> Tuple[Any, str]
        """Poll ``predicate(*args, **kwargs)`` until it is true or ``timeout``
        seconds pass (every ``poll_period`` seconds, a keyword taken out of
        ``kwargs``; 0.02 by default).

        Returns:
            ``(result, "")``, or ``(result, "Timed out after <timeout> seconds")``.
        """
        period = kwargs.pop("poll_period", 0.02)
        deadline = Deadline(timeout)
        result = predicate(*args, **kwargs)
        while not result and not deadline.expired():
            time.sleep(min(period, deadline.remaining() or 0.0))
            result = predicate(*args, **kwargs)
        return result, "" if result else "Timed out after %s seconds" % format_seconds(timeout)

    def _sensor_lag(self):
        # type: () -> float
        """Seconds a device takes to apply a change: the test's ``sensor_lag``, else 0."""
        return getattr(self.test, "sensor_lag", 0)

    def test_setter_request(self, name, sensorname, sensortype=str,
                            good=(), bad=(), places=7, args_echo=False):
        # type: (Text, Text, Callable[[str], Any], Iterable[Any], Iterable[Any], Optional[int], bool) -> None
        """Check a request that sets one sensor: each ``good`` value is
        accepted (echoed in the reply if ``args_echo``) and read back from the
        sensor ``sensorname``; each ``bad`` value is refused."""
        for value in good:
            self.assert_request_succeeds(name, value, args_echo=args_echo)
            time.sleep(self._sensor_lag())
            self.assert_sensor_equals(
                sensorname, value, sensortype, places=places,
                msg="after ?%s %r, sensor %s is %%r, expected %r" % (_text(name), value, _text(sensorname), value))
        for value in bad:
            self.assert_request_fails(name, value)

    def test_multi_setter_request(self, name, good=(), bad=()):
        # type: (Text, Iterable[Sequence[Any]], Iterable[Sequence[Any]]) -> None
        """Check a request that sets several sensors.

        Args:
            good: ``(params, sensor_tuples[, options])`` each: the request
                with ``params`` succeeds, then (after ``options["delay"]``
                seconds, if given) each ``(name, value[, sensortype[,
                places]])`` holds, and each ``(name, status)`` of
                ``options["statuses"]``.
            bad: parameter tuples the request refuses.
        """
        for case in good:
            params, expected_values = case[0], case[1]
            options = case[2] if len(case) > 2 else {}
            self.assert_request_succeeds(name, *params)
            time.sleep(self._sensor_lag() + options.get("delay", 0))
            for sensorname, value, sensortype, places in [
                    self.expected_sensor_value_tuple(*t) for t in expected_values]:
                self.assert_sensor_equals(
                    sensorname, value, sensortype, places=places,
                    msg="after ?%s %r, sensor %s is %%r, expected %r"
                    % (_text(name), tuple(params), _text(sensorname), value))
            for sensorname, status in options.get("statuses", ()):
                self.assert_sensor_status_equals(
                    sensorname, status, "after ?%s %r, sensor %s status is %%r, expected %r"
                    % (_text(name), tuple(params), _text(sensorname), status))
        for params in bad:
            self.assert_request_fails(name, *params)

    # -- interface -----------------------------------------------------------------

    def _listing(self, request):
        # type: (str) -> Tuple[List[Tuple[str, ...]], List[str]]
        """``?request``'s informs as tuples of ``str``, and the sorted names
        they start with (a failed reply fails the test)."""
        reply, informs = self._request(request, [])
        if not reply.reply_ok():
            self._fail_test("?%s failed: %s" % (request, reply))
        rows = [tuple(_texts(m.arguments)) for m in informs if m.arguments]
        return rows, sorted(row[0] for row in rows)

    def _compare(self, what, got, expected):
        # type: (str, Iterable[Any], Iterable[Any]) -> None
        got_set, expected_set = set(got), set(expected)
        if got_set != expected_set:
            self._fail_test("%s differ from the expected ones.\nmissing: %s\nunexpected: %s"
                            % (what, sorted(map(str, expected_set - got_set)),
                               sorted(map(str, got_set - expected_set))))

    def test_help(self, expected=None,
                  full_descriptions=False,
                  exclude_defaults=True):
        # type: (Optional[Iterable[Any]], bool, bool) -> List[str]
        """Check ``?help`` against ``expected``, as katcp-python's did.

        Args:
            expected: request names, or ``(name, description)`` tuples; None
                checks only that ``?help`` succeeds.
            full_descriptions: compare whole descriptions (default: their
                first lines).
            exclude_defaults: leave :class:`~katcp_sync.server.DeviceServer`'s
                standard requests out of the comparison.

        Returns:
            every request name listed, sorted, as ``str``.
        """
        rows, names = self._listing("help")
        if expected is None:
            return names
        expected = list(expected)
        defaults = set(DeviceServer._request_handlers) if exclude_defaults else set()
        rows = [row for row in rows if row[0] not in defaults]
        if expected and isinstance(expected[0], (tuple, list)):
            def cut(desc):
                # type: (str) -> str
                return desc if full_descriptions else desc.split("\n")[0]
            got = [(row[0], cut(row[1] if len(row) > 1 else "")) for row in rows]  # type: List[Any]
            want = [(_text(n), cut(_text(d))) for n, d in expected]  # type: List[Any]
        else:
            got = [row[0] for row in rows]
            want = _texts(expected)
        self._compare("requests", got, want)
        return names

    def test_sensor_list(self, expected=None,
                         ignore_descriptions=False):
        # type: (Optional[Iterable[Any]], bool) -> List[str]
        """Check ``?sensor-list`` against ``expected``.

        Args:
            expected: sensor names, or katcp-python's full tuples
                ``(name, description, units, type, *params)`` (float
                parameters compare by value); None checks only that the
                request succeeds.
            ignore_descriptions: leave descriptions out of the comparison.

        Returns:
            the sensor names listed, sorted, as ``str``.
        """
        rows, names = self._listing("sensor-list")
        if expected is None:
            return names
        expected = list(expected)
        if not (expected and isinstance(expected[0], (tuple, list))):
            self._compare("sensors", names, _texts(expected))
            return names

        def normal(row):
            # type: (Sequence[Any]) -> Tuple[str, ...]
            name, description, units, stype = _texts(row[:4])
            params = _texts(row[4:])
            if stype == "float":
                params = [repr(float(p)) for p in params]
            if ignore_descriptions:
                return (name, units, stype) + tuple(params)
            return (name, description, units, stype) + tuple(params)

        self._compare("sensors", [normal(row) for row in rows], [normal(row) for row in expected])
        return names
