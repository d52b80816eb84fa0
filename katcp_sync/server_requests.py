"""The requests every KATCP device answers (spec sections 4 to 8).

:class:`BuiltinRequests` is mixed into :class:`~katcp_sync.server.DeviceServer`.
Its handlers only read server state and write to one connection, so they are
marked to run directly on the thread that read the request (the reactor),
without a trip through the worker pool. A subclass that overrides one of them
gets ordinary worker-pool dispatch for its version.

Reply shapes and failure wording follow katcp-python, whose inspecting
clients look for substrings such as ``Unknown sensor name``.
"""

from __future__ import absolute_import, division, print_function

import collections
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Tuple, cast

from .compat import Protocol
from . import compat
from .errors import FailReply
from .kattypes import has_katcp_protocol_flags, minimum_katcp_version
from .message import Message
from .regex_guard import MAX_SEARCH_SECONDS, compile_client_regex, search_names
from .sensor import Sensor
from .server_handlers import help_text, inline
from .server_request import ClientRequestConnection

if TYPE_CHECKING:  # pragma: no cover
    import concurrent.futures

    from .logger import DeviceLogger
    from .protocol import ProtocolFlags
    from .server_connection import ClientConnection

__all__ = ["BuiltinRequests", "RestartQueue", "help_text", "inline"]


class RestartQueue(Protocol):
    """Where ``?restart`` puts the server (a :class:`queue.Queue` will do).

    ``put_nowait`` is called on the thread handling ``?restart`` (a worker):
    it must be thread-safe.
    """

    def put_nowait(self, item):
        # type: (Any) -> None
        """Queue ``item`` without blocking."""


def _summary(doc):
    # type: (str) -> str
    """The first paragraph of a docstring, on one line."""
    return " ".join(doc.split("\n\n", 1)[0].split())


class BuiltinRequests(object):
    """Mixin with the standard requests. Needs the DeviceServer internals.

    The ``request_*`` handlers run where the server runs handlers (its
    workers, several at once, or its reactor thread for a server that
    handles requests there).
    """

    #: The shortest timer period a client's sampling gets, in seconds: a
    #: ``period``, or the longest period of ``event-rate`` and
    #: ``differential-rate``, asked below it is raised to it, and the
    #: ``!sensor-sampling ok`` reply gives the raised value (spec 7.2: the
    #: reply carries the new strategy's parameters). 1 ms is the finest period
    #: a KATCP v4 client can write in whole milliseconds, and costs a few
    #: percent of a core per strategy, where a microsecond keeps the reactor
    #: busy. Set it on a DeviceServer subclass (0 disables it).
    MIN_SAMPLING_PERIOD = 0.001

    #: Most seconds a client's ``?sensor-list /regex/`` or ``?sensor-value
    #: /regex/`` may search the sensor names: the search holds the GIL, so
    #: every client waits meanwhile. A longer one is stopped and the request
    #: fails (``Regular expression ... refused: too slow``).
    MAX_REGEX_SECONDS = MAX_SEARCH_SECONDS

    if TYPE_CHECKING:  # pragma: no cover
        # What the mixin uses of DeviceServer, for the type checker only.
        PROTOCOL_INFO = cast("ProtocolFlags", None)  # type: "ProtocolFlags"
        log = cast("DeviceLogger", None)  # type: "DeviceLogger"
        _restart_queue = cast(Optional["RestartQueue"], None)  # type: Optional["RestartQueue"]

        def get_sensors(self):

            # type: () -> List[Sensor]

            pass

        def _sensor_or_none(self, name):

            # type: (str) -> Optional[Sensor]

            pass

        def get_clients(self):

            # type: () -> List["ClientConnection"]

            pass

        def stop(self, timeout=None):

            # type: (Optional[float]) -> "concurrent.futures.Future[None]"

            pass

        def _request_docs(self):

            # type: () -> Dict[str, str]

            pass

        def _request_timeout_hints(self):

            # type: () -> Dict[str, float]

            pass

        def _version_rows(self):

            # type: () -> List[Tuple[str, ...]]

            pass

    # -- helpers -------------------------------------------------------------

    def _select_sensors(self, msg):
        # type: (Message) -> List[Sensor]
        """Sensors named by the optional ``name`` or ``/regex/`` argument, sorted."""
        sensors = sorted(self.get_sensors(), key=lambda s: s.name)
        if not msg.arguments:
            return sensors
        pattern = compat.wire_text(msg.arguments[0])
        if len(pattern) >= 2 and pattern.startswith("/") and pattern.endswith("/"):
            try:
                regex = compile_client_regex(pattern[1:-1])
            except ValueError as exc:
                raise compat.chained(FailReply("Invalid regular expression %r: %s." % (pattern, exc)), None)
            try:
                found = set(search_names(regex, [s.name for s in sensors], self.MAX_REGEX_SECONDS))
            except ValueError as exc:
                raise compat.chained(FailReply("Regular expression %r refused: %s." % (pattern, exc)), None)
            return [s for s in sensors if s.name in found]
        selected = [s for s in sensors if s.name == pattern]
        if not selected:
            raise FailReply("Unknown sensor name.")
        return selected

    # -- spec 4.1 --------------------------------------------------------------

    @inline
    def request_halt(self, req, msg):
        # type: (ClientRequestConnection, Message) -> None
        """Halt the device server.

        Replies ok, then sends ``#disconnect`` to every client and stops.

        Examples:
            ?halt
            !halt ok
        """
        req.reply("ok")
        self.stop()

    @inline
    def request_help(self, req, msg):
        # type: (ClientRequestConnection, Message) -> None
        """Describe the available requests with #help informs.

        ?help [name] -- one #help inform per request, sorted by name, giving
        the first paragraph of its docstring on one line; or, for a named
        request, its whole docstring. Then !help ok <count>. Unknown name: fail.

        Examples:
            ?help watchdog
            #help watchdog Check that the server is still alive.
            !help ok 1
        """
        handlers = self._request_docs()
        if msg.arguments:
            name = compat.wire_text(msg.arguments[0])
            if name not in handlers:
                raise FailReply("Unknown request method.")
            req.informs([(name, handlers[name])])
        else:
            req.informs((name, _summary(handlers[name])) for name in sorted(handlers))

    @inline
    def request_restart(self, req, msg):
        # type: (ClientRequestConnection, Message) -> None
        """Restart the device server.

        Puts the server on the queue registered with set_restart_queue() and
        replies ok; whoever reads the queue stops and starts the server.
        Fails when no queue is registered.

        Examples:
            ?restart
            !restart ok
        """
        queue = self._restart_queue
        if queue is None:
            raise FailReply("No restart queue registered -- cannot restart.")
        queue.put_nowait(self)
        req.reply("ok")

    @inline
    def request_watchdog(self, req, msg):
        # type: (ClientRequestConnection, Message) -> None
        """Check that the server is still alive.

        Examples:
            ?watchdog
            !watchdog ok
        """
        req.reply("ok")

    @inline
    @minimum_katcp_version(5, 0)
    def request_version_list(self, req, msg):
        # type: (ClientRequestConnection, Message) -> None
        """List the versions of the protocol, library, device and components.

        One #version-list inform per role: name version [build-state].

        Examples:
            ?version-list
            #version-list katcp-protocol 5.1-BIMT
            #version-list katcp-library katcp-sync-0.1.0 0.1.0
            #version-list katcp-device device-1.0 device-1.0.0
            !version-list ok 3
        """
        req.informs(self._version_rows())

    # -- spec 5.1 --------------------------------------------------------------

    @inline
    @minimum_katcp_version(5, 1)
    @has_katcp_protocol_flags("T")
    def request_request_timeout_hint(self, req, msg):
        # type: (ClientRequestConnection, Message) -> None
        """Suggest timeouts, in seconds, for slow requests.

        ?request-timeout-hint [name] -- without a name, one inform for each
        request that has a hint; with a name, one inform (0 means no hint).

        Examples:
            ?request-timeout-hint
            #request-timeout-hint slow-command 20.0
            !request-timeout-hint ok 1
        """
        hints = self._request_timeout_hints()
        if msg.arguments:
            name = compat.wire_text(msg.arguments[0])
            if name not in self._request_docs():
                raise FailReply("Unknown request method.")
            rows = [(name, repr(float(hints.get(name, 0.0))))]  # type: List[Tuple[str, str]]
        else:
            rows = [(name, repr(float(hints[name]))) for name in sorted(hints)]
        req.informs(rows)

    # -- spec 6.2 --------------------------------------------------------------

    @inline
    def request_log_level(self, req, msg):
        # type: (ClientRequestConnection, Message) -> None
        """Query or set the device's log level.

        ?log-level [off|fatal|error|warn|info|debug|trace|all] -- replies with
        the new (or current) level. The level is shared by all clients.

        Examples:
            ?log-level info
            !log-level ok info
        """
        if msg.arguments:
            try:
                self.log.set_log_level_by_name(msg.arguments[0])
            except ValueError as exc:
                raise compat.chained(FailReply(str(exc)), None)
        req.reply("ok", self.log.level_name())

    # -- spec 7.2 --------------------------------------------------------------

    @inline
    def request_sensor_list(self, req, msg):
        # type: (ClientRequestConnection, Message) -> None
        """List sensors with their description, units, type and parameters.

        ?sensor-list [name|/regex/] -- a name between slashes is a regular
        expression searched in every sensor name.

        Examples:
            ?sensor-list psu.voltage
            #sensor-list psu.voltage PSU\\_voltage. V float 0.0 5.0
            !sensor-list ok 1
        """
        req.informs(
            (s.name, s.description, s.units, s.stype) + tuple(s.formatted_params)
            for s in self._select_sensors(msg))

    @inline
    def request_sensor_value(self, req, msg):
        # type: (ClientRequestConnection, Message) -> None
        """Read the current value of sensors.

        ?sensor-value [name|/regex/] -- one #sensor-value inform per sensor:
        timestamp 1 name status value.

        Examples:
            ?sensor-value psu.voltage
            #sensor-value 1244631611.415231 1 psu.voltage nominal 4.5
            !sensor-value ok 1
        """
        major = self.PROTOCOL_INFO.major
        rows = []
        for sensor in self._select_sensors(msg):
            timestamp, status, value = sensor.format_reading(sensor.read(), major)
            rows.append((timestamp, b"1", sensor.name, status, value))
        req.informs(rows)

    @inline
    def request_sensor_sampling(self, req, msg):
        # type: (ClientRequestConnection, Message) -> None
        """Query or set how sensors are sampled for this client.

        ?sensor-sampling name[,name...] [strategy [params...]] -- strategies:
        none, auto, period <s>, event, differential <d>,
        event-rate <shortest> <longest>, differential-rate <d> <shortest>
        <longest>. Several comma-separated names (flag B) set them all or
        none. Values arrive as #sensor-status informs, the first before the
        reply. Periods shorter than the device's minimum are raised to it;
        the reply gives the parameters in effect.

        Examples:
            ?sensor-sampling cpu.power.on period 0.5
            #sensor-status 1244631611.415231 1 cpu.power.on nominal 1
            !sensor-sampling ok cpu.power.on period 0.5
        """
        if not msg.arguments:
            raise FailReply("No sensor name given.")
        names_arg = compat.wire_text(msg.arguments[0])
        bulk = "B" in self.PROTOCOL_INFO.flags
        names = names_arg.split(",") if bulk else [names_arg]
        if len(names) > 1 and len(msg.arguments) == 1:
            raise FailReply("Cannot query multiple sensors.")
        if len(set(names)) != len(names):
            duplicates = sorted(n for n, count in collections.Counter(names).items() if count > 1)
            raise FailReply("Duplicate sensor name: %s." % ", ".join(duplicates))
        found = [self._sensor_or_none(name) for name in names]
        unknown = [name for name, s in zip(names, found) if s is None]
        if unknown:
            raise FailReply("Unknown sensor name%s: %s."
                            % ("s" if len(unknown) > 1 else "", ", ".join(unknown)))
        sensors = [s for s in found if s is not None]
        table = req.client_connection.sampling
        if len(msg.arguments) == 1:
            strategy, params = table.query(names[0])
        else:
            try:
                strategy, params = table.set_strategy(
                    sensors, msg.arguments[1], msg.arguments[2:],
                    is_current=lambda sensor: self._sensor_or_none(sensor.name) is sensor,
                    min_period=self.MIN_SAMPLING_PERIOD)
            except ValueError as exc:
                raise compat.chained(FailReply(str(exc)), None)
        req.reply("ok", msg.arguments[0], strategy, *params)

    @inline
    def request_sensor_sampling_clear(self, req, msg):
        # type: (ClientRequestConnection, Message) -> None
        """Set the sampling strategy of every sensor to none, for this client.

        Examples:
            ?sensor-sampling-clear
            !sensor-sampling-clear ok
        """
        req.client_connection.sampling.clear()
        req.reply("ok")

    # -- spec 8.1 --------------------------------------------------------------

    @inline
    @minimum_katcp_version(4, 0)
    @has_katcp_protocol_flags("M")
    def request_client_list(self, req, msg):
        # type: (ClientRequestConnection, Message) -> None
        """List the connected clients, including this one, as host:port.

        Examples:
            ?client-list
            #client-list 127.0.0.1:53600
            !client-list ok 1
        """
        req.informs((client.address,) for client in self.get_clients())
