"""The model behind ``katcp-sync web``: devices' sensors, kept current for browsers.

:class:`SensorBoard` watches devices with the library's high-level client
(one :class:`~katcp_sync.resource_container.KATCPClientResourceContainer`,
so one reactor thread for all of them). On every sync of a device it
registers a listener on each new sensor and sets a sampling strategy (which
the client re-applies after reconnects). It keeps, per sensor, the latest
reading as a display row and, for numeric sensors, a short thinned history
(:data:`HISTORY_SECONDS`, one point per :data:`HISTORY_STEP` seconds at most);
per device, the connection state and how many times it connected.

Browsers :meth:`~SensorBoard.subscribe`: they get a snapshot of everything
and a :class:`Subscription`, a mailbox that keeps only the *latest* change
per sensor and per device. It is never a queue: a reader that falls behind
skips intermediate values, its memory stays bounded by the number of
sensors, and the listener feeding it (on the client's reactor thread) only
stores into dicts, so a slow reader never slows the device connection.

Threads: listeners and state callbacks run on the client's reactor thread;
every public method may be called from any thread (:meth:`SensorBoard.request`
blocks, so not from the reactor thread).
"""

from __future__ import absolute_import, division, print_function

import collections
import concurrent.futures
import functools
import logging
import threading
import time
from typing import Any, Deque, Dict, List, Optional, Sequence, Tuple

from .. import compat
from ..deadline import Deadline
from ..errors import KatcpTimeoutError
from ..formatting import format_address, format_seconds
from ..inspecting_client import SYNCED, SYNCING
from ..resource import KATCPClientResource
from ..resource_base import KATCPSensor
from ..resource_container import KATCPClientResourceContainer
from ..resource_types import KATCPReply, KATCPSensorReading, StrategyLike

__all__ = ["SensorBoard", "Subscription", "HISTORY_SECONDS", "HISTORY_STEP", "display_value"]

logger = logging.getLogger(__name__)

#: How far back the history of a numeric sensor goes, in seconds.
HISTORY_SECONDS = 300.0
#: Least time between two history points; a newer reading replaces the last point.
HISTORY_STEP = 0.5
_NUMERIC_TYPES = ("integer", "float")

#: The states shown for a device: before its first connection, while
#: connected and syncing, synced, and after losing the connection.
CONNECTING, CONNECTED, LOST = "connecting", "connected", "lost"

Row = List[Any]   # [sensor id, value text, status, timestamp or None, number or None]


def display_value(value):
    # type: (Any) -> str
    """A sensor value as text for the page (``""`` when there is none yet)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"   # as on the wire (and in ``monitor``)
    if isinstance(value, bytes):
        return compat.readable_text(value)
    if isinstance(value, float):
        return repr(value)
    if compat.is_text(value):
        return compat.ensure_native_str(value)   # unicode on 2.7: str() may fail
    return str(value)


def _number(value):
    # type: (Any) -> Optional[float]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value)
        if compat.isfinite(number):
            return number
    return None


class Subscription(object):
    """The changes one reader (a browser's event stream) has not taken yet.

    Only the latest row per sensor and the latest description per device are
    kept, so memory is bounded by the number of sensors and devices however
    slowly the reader takes. The board puts into it on the reactor thread;
    the reader calls :meth:`take` on its own thread.
    """

    def __init__(self):
        # type: () -> None
        self._lock = threading.Lock()
        self._ready = compat.Event()
        self._devices = {}  # type: Dict[int, Dict[str, Any]]
        self._rows = {}  # type: Dict[int, Row]
        self._closed = False

    def put_device(self, payload):
        # type: (Dict[str, Any]) -> None
        """Replace the pending description of a device (it carries its readings)."""
        with self._lock:
            self._devices[payload["id"]] = payload
            for sensor in payload["sensors"]:
                # The payload's readings are the newest: older pending rows
                # would undo them if sent after it.
                self._rows.pop(sensor["id"], None)
        self._ready.set()

    def put_row(self, row):
        # type: (Row) -> None
        """Replace the pending reading of a sensor."""
        with self._lock:
            self._rows[row[0]] = row
        self._ready.set()

    def pending(self):
        # type: () -> int
        """How many rows and devices are waiting (at most one per sensor and device)."""
        with self._lock:
            return len(self._rows) + len(self._devices)

    def take(self, timeout=None):
        # type: (Optional[float]) -> Optional[Tuple[List[Dict[str, Any]], List[Row]]]
        """Wait for changes; return ``(devices, rows)`` and forget them.

        Device descriptions come in device order, rows in the order their
        sensors first changed. Returns None on timeout or once closed.
        """
        if not self._ready.wait(timeout) or self._closed:
            return None
        with self._lock:
            self._ready.clear()
            devices, self._devices = self._devices, {}
            rows, self._rows = self._rows, {}
        return [devices[key] for key in sorted(devices)], list(rows.values())

    def close(self):
        # type: () -> None
        """Wake a waiting :meth:`take`, which returns None from now on."""
        self._closed = True
        self._ready.set()

    @property
    def closed(self):
        # type: () -> bool
        """True after :meth:`close`."""
        return self._closed


class _SensorEntry(object):
    """What the board keeps about one sensor (reactor thread writes, under the lock)."""

    __slots__ = ("id", "sensor", "numeric", "row", "history", "span")

    def __init__(self, sensor_id, sensor, span):
        # type: (int, KATCPSensor, float) -> None
        self.id = sensor_id
        self.sensor = sensor
        self.numeric = sensor.type in _NUMERIC_TYPES
        self.row = _row(sensor_id, sensor.reading)  # type: Row
        self.span = span
        self.history = collections.deque(
            maxlen=int(span / HISTORY_STEP) + 1)  # type: Deque[Tuple[float, float]]

    def record(self, row, now):
        # type: (Row, float) -> None
        self.row = row
        number = row[4]
        if self.numeric and number is not None:
            if self.history and now - self.history[-1][0] < HISTORY_STEP:
                self.history[-1] = (self.history[-1][0], number)
            else:
                self.history.append((now, number))

    def describe(self, now):
        # type: (float) -> Dict[str, Any]
        sensor = self.sensor
        since = now - self.span
        points = list(self.history)
        first = 0     # the newest point before the span still holds at its start
        while first + 1 < len(points) and points[first + 1][0] <= since:
            first += 1
        return {"id": self.id, "name": sensor.name, "description": sensor.description,
                "units": sensor.units, "type": sensor.type, "numeric": self.numeric,
                "row": self.row, "history": [[round(t, 3), v] for t, v in points[first:]]}


def _row(sensor_id, reading):
    # type: (int, KATCPSensorReading) -> Row
    if reading.value is None and reading.timestamp == 0.0:
        return [sensor_id, "", reading.status, None, None]     # no reading yet
    return [sensor_id, display_value(reading.value), reading.status, reading.timestamp,
            _number(reading.value)]


class _Device(object):
    """One watched device (fields written on the reactor thread under the board's lock)."""

    def __init__(self, device_id, address, resource):
        # type: (int, str, KATCPClientResource) -> None
        self.id = device_id
        self.address = address
        self.resource = resource
        self.state = CONNECTING
        self.since = time.time()
        self.connects = 0
        self.sensors = []  # type: List[_SensorEntry]
        self.requests = []  # type: List[Tuple[str, str]]
        #: True once the strategies of the first sync are answered (their
        #: first readings came before the replies).
        self.sampled = False


class SensorBoard(object):
    """Live readings of every sensor of some devices, for many readers.

    Args:
        addresses: ``(host, port)`` of each device.
        strategy: the sampling strategy set on every sensor (``event``:
            every change; e.g. ``"event-rate 0.1 10"`` to bound the rate).
        allow_requests: connect as a controlling client and accept
            :meth:`request`; otherwise the board is read-only.
        timeout: request timeout in seconds.
        history_seconds: how far back the history of numeric sensors goes.
        client_logger: where the high-level client logs (connection
            attempts and failures); refused strategies are logged to this
            module's logger.

    :meth:`start` connects in the background (devices that are down are
    retried, as the high-level client does); :meth:`stop` and :meth:`join`
    end it. Every method may be called from any thread.
    """

    def __init__(self, addresses, strategy="event",
                 allow_requests=False, timeout=5.0,
                 history_seconds=HISTORY_SECONDS,
                 client_logger=None):
        # type: (Sequence[Tuple[str, int]], StrategyLike, bool, float, float, Optional[logging.Logger]) -> None
        self.allow_requests = allow_requests
        self.history_seconds = history_seconds
        self.timeout = timeout
        self._strategy = strategy
        self._lock = threading.Lock()
        self._sampled = threading.Condition(self._lock)
        self._subscribers = []  # type: List[Subscription]
        self._entries = {}  # type: Dict[KATCPSensor, _SensorEntry]
        self._container = KATCPClientResourceContainer(
            dict(name="web"),
            logger=client_logger or logging.getLogger(KATCPClientResourceContainer.__module__))
        self._devices = []  # type: List[_Device]
        for index, (host, port) in enumerate(addresses):
            resource = self._container.add_child_resource_client(
                "dev%d" % index, dict(address=(host, port), controlled=allow_requests,
                                      timeout=timeout))
            device = _Device(index, format_address((host, port)), resource)
            self._devices.append(device)
            resource.add_state_callback(functools.partial(self._state_changed, device))

    # -- life cycle ------------------------------------------------------------

    def start(self):
        # type: () -> None
        """Start watching the devices (returns at once)."""
        self._container.start()

    def stop(self):
        # type: () -> None
        """Disconnect from the devices and close every subscription."""
        self._container.stop()
        with self._lock:
            subscribers, self._subscribers = self._subscribers, []
        for subscription in subscribers:
            subscription.close()

    def join(self, timeout=None):
        # type: (Optional[float]) -> None
        """Wait for the client threads to end after :meth:`stop`."""
        self._container.join(timeout)

    def until_synced(self, timeout=None):
        # type: (Optional[float]) -> None
        """Block until every device is synced and its sensors are sampled.

        Raises:
            KatcpTimeoutError: not so within ``timeout`` seconds.
        """
        deadline = Deadline(timeout)
        self._container.until_synced(timeout)
        with self._sampled:
            while not all(device.sampled for device in self._devices):
                if deadline.expired():
                    raise KatcpTimeoutError("sensors of %s not sampled within %s s" % (
                        ", ".join(d.address for d in self._devices if not d.sampled),
                        format_seconds(timeout)))
                self._sampled.wait(deadline.remaining())

    @property
    def container(self):
        # type: () -> KATCPClientResourceContainer
        """The high-level client watching the devices."""
        return self._container

    # -- readers ---------------------------------------------------------------

    def subscribe(self):
        # type: () -> Tuple[Dict[str, Any], Subscription]
        """Return a snapshot of every device and a subscription to the changes after it.

        The snapshot is ``{"now": time, "history_seconds": ..., "history_step":
        ..., "allow_requests": bool, "devices": [device, ...]}``; a device is
        as in a ``device`` change: ``{"id", "address", "state", "since",
        "connects", "sensors": [{"id", "name", "description", "units",
        "type", "numeric", "row", "history"}], "requests": [[name, help]]}``.
        A row is ``[sensor id, value text, status, timestamp, number]``.
        """
        subscription = Subscription()
        with self._lock:
            now = time.time()
            snapshot = {"now": now, "history_seconds": self.history_seconds,
                        "history_step": HISTORY_STEP, "allow_requests": self.allow_requests,
                        "devices": [self._describe(device, now) for device in self._devices]}
            self._subscribers.append(subscription)
        return snapshot, subscription

    def unsubscribe(self, subscription):
        # type: (Subscription) -> None
        """Stop feeding a subscription (and close it)."""
        with self._lock:
            if subscription in self._subscribers:
                self._subscribers.remove(subscription)
        subscription.close()

    def request(self, device_id, name, arguments,
                timeout=None):
        # type: (int, str, Sequence[Any], Optional[float]) -> KATCPReply
        """Send ``?name arguments`` to a device and block until its reply.

        Args:
            device_id: the device's index in ``addresses``.
            name: the request name; arguments: ``str``, ``bytes`` or numbers.
            timeout: seconds (default: the board's ``timeout``).

        Raises:
            PermissionError: the board was made without ``allow_requests``.
            LookupError: no device with that id.
            KatcpSyntaxError: ``name`` is not a valid request name.
            KatcpClientError: not connected (KatcpClientDisconnected) or no
                reply in time (KatcpTimeoutError).
        """
        if not self.allow_requests:
            raise compat.PermissionError("requests are not allowed (start with --allow-requests)")
        if not 0 <= device_id < len(self._devices):
            raise LookupError("no device %r" % (device_id,))
        resource = self._devices[device_id].resource
        return resource.wrapped_request(name, *arguments, timeout=self.timeout if timeout is None else timeout)

    # -- on the reactor thread ---------------------------------------------------

    def _describe(self, device, now):
        # type: (_Device, float) -> Dict[str, Any]
        """A device as the page sees it (called with the lock held)."""
        return {"id": device.id, "address": device.address, "state": device.state,
                "since": device.since, "connects": device.connects,
                "sensors": [entry.describe(now) for entry in device.sensors],
                "requests": [list(r) for r in device.requests]}

    def _state_changed(self, device, state):
        # type: (_Device, str) -> None
        resource = device.resource
        new_entries = []
        with self._lock:
            if state == SYNCING and device.state in (CONNECTING, LOST):
                device.connects += 1
            label = {SYNCED: CONNECTED, SYNCING: SYNCING}.get(
                state, LOST if device.connects else CONNECTING)
            if label != device.state:
                device.state, device.since = label, time.time()
            if state == SYNCED:
                sensors = sorted(resource.sensor.values(), key=lambda s: s.name)
                for sensor in sensors:
                    if sensor not in self._entries:
                        self._entries[sensor] = _SensorEntry(len(self._entries), sensor,
                                                             self.history_seconds)
                        new_entries.append(self._entries[sensor])
                device.sensors = [self._entries[sensor] for sensor in sensors]
                if self.allow_requests:
                    device.requests = sorted((r.name, r.description) for r in resource.req.values())
            payload = self._describe(device, time.time())
            for subscription in self._subscribers:
                subscription.put_device(payload)
        for entry in new_entries:
            entry.sensor.register_listener(self._on_reading, reading=True)
        if state == SYNCED:
            future = resource.set_strategies_future(
                [e.sensor.name for e in new_entries], self._strategy)
            future.add_done_callback(functools.partial(self._strategies_set, device))

    def _strategies_set(self, device, future):
        # type: (_Device, "concurrent.futures.Future") -> None
        try:
            refused = sorted((name, info) for name, (ok, info) in future.result().items() if not ok)
        except Exception:   # e.g. disconnected meanwhile: the client sets them on the next sync
            refused = []
        if refused:
            logger.warning("%s: %d sensor(s) without updates, e.g. %s: %s", device.address,
                           len(refused), refused[0][0], refused[0][1])
        with self._sampled:
            device.sampled = True
            self._sampled.notify_all()

    def _on_reading(self, sensor, reading):
        # type: (KATCPSensor, KATCPSensorReading) -> None
        entry = self._entries.get(sensor)
        if entry is None:
            return
        row = _row(entry.id, reading)
        with self._lock:
            entry.record(row, reading.received_timestamp)
            for subscription in self._subscribers:
                subscription.put_row(row)
