"""One client's sensor sampling strategies (spec 7.1, 8).

Multi-client devices keep one strategy per sensor per client and send its
``#sensor-status`` informs only to that client. :class:`SamplingTable` is that
per-client table: it creates strategies through
:meth:`SampleStrategy.get_strategy`, replaces and cancels them, and turns
each sample into a ``#sensor-status`` line written straight into the
client's connection buffer.
"""

from __future__ import absolute_import, division, print_function

import threading
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from .compat import Protocol
from .sampling import SampleStrategy, stripe_lock
from .scheduler import Scheduler
from .sensor import Reading, Sensor

__all__ = ["SamplingTable", "StatusSink"]


class StatusSink(Protocol):
    """Where a client's ``#sensor-status`` lines go (its connection); written from any thread."""

    def write(self, data):
        # type: (bytes) -> None
        """Queue whole wire lines; any thread."""


_NONE = b"none"


class SamplingTable(object):
    """The sampling strategies of one client, keyed by sensor name.

    Thread-safe: strategies may be set from a request on the reactor thread
    while another thread removes a sensor. Strategy timers run on
    ``scheduler`` (the server's reactor).

    Args:
        client: where ``#sensor-status`` lines go (needs ``write(bytes)``).
        scheduler: clock and timers for the strategies (None: only
            strategies without timers, for a test double without a server).
        major: KATCP major version (4 gives millisecond timestamps).
    """

    def __init__(self, client, scheduler, major):
        # type: (StatusSink, Optional[Scheduler], int) -> None
        self._write = client.write
        self._callback = self._inform
        self._scheduler = scheduler
        self._major = major
        self._lock = threading.Lock()
        self._strategies = {}  # type: Dict[str, Any]
        self._closed = False

    def __len__(self):
        # type: () -> int
        return len(self._strategies)

    def _inform(self, sensor, reading):
        # type: (Sensor, Reading) -> None
        """The ``inform_callback`` of every strategy of this client (one
        bound method, shared: a strategy costs no callback of its own).

        It runs while the strategy holds its lock, so it only takes the
        line from the sensor (formatted once per reading for all clients,
        :meth:`~katcp_sync.sensor.Sensor.status_line`) and appends it to the
        connection's buffer.
        """
        self._write(sensor.status_line(reading, self._major))

    def query(self, name):
        # type: (str) -> Tuple[bytes, List[bytes]]
        """Current ``(strategy, params)`` for a sensor (``none`` if unset)."""
        strategy = self._strategies.get(name)
        if strategy is None:
            return _NONE, []
        return strategy.get_sampling_formatted()

    def set_strategy(self, sensors, strategy,
                     params,
                     is_current=None,
                     min_period=0.0):
        # type: (Sequence[Sensor], "str | bytes", Sequence[Any], Optional[Callable[[Sensor], bool]], float) -> Tuple[bytes, List[bytes]]
        """Give every sensor in ``sensors`` the same new strategy, atomically.

        Every strategy is built first, so a bad strategy or parameter changes
        nothing. Each new strategy then replaces (and cancels) the old one
        and is started, which sends the first ``#sensor-status`` (spec 7.1).

        Args:
            sensors: the sensors.
            strategy: the strategy name.
            params: its parameters (as on the wire).
            is_current: ``is_current(sensor)`` says whether the sensor still
                belongs to the server. It is checked under the table's lock
                just before the new strategies go in, so that a sensor
                removed (or replaced) meanwhile is refused, and one removed
                later finds its strategy here to cancel: a strategy is never
                left on a removed sensor (the server removes a sensor from
                its table first, then calls :meth:`cancel`).
            min_period: the shortest effective period in seconds (see
                :class:`~katcp_sync.sampling.SampleStrategy`).

        Returns:
            The strategy name and its effective parameters, as formatted by
            the strategy.

        Raises:
            ValueError: unknown strategy, parameters not valid for one of
                the sensors (the message says which), or a sensor that is
                no longer current.
            RuntimeError: the client is gone.
        """
        built = [
            (sensor, SampleStrategy.get_strategy(
                strategy, self._callback, sensor, *params,
                scheduler=self._scheduler, major=self._major, min_period=min_period,
                lock=stripe_lock(sensor)))   # the callback only appends to a buffer
            for sensor in sensors
        ]
        formatted = built[0][1].get_sampling_formatted()
        sampling = formatted[0] != _NONE
        # Swap the table under the lock; cancel and start outside it, since
        # they read sensors and write to the connection. A strategy that a
        # concurrent call cancels before it is started here stays silent
        # (start() after cancel() does nothing).
        with self._lock:
            if self._closed:
                raise RuntimeError("client disconnected")
            if is_current is not None:
                gone = [sensor.name for sensor, _ in built if not is_current(sensor)]
                if gone:
                    raise ValueError("Unknown sensor name%s: %s (removed)."
                                     % ("s" if len(gone) > 1 else "", ", ".join(gone)))
            olds = [self._strategies.pop(sensor.name, None) for sensor, _ in built]
            if sampling:
                self._strategies.update((sensor.name, new) for sensor, new in built)
        for old in olds:
            if old is not None:
                old.cancel()
        if sampling:
            for _, new in built:
                new.start()
        return formatted

    def cancel(self, name):
        # type: (str) -> None
        """Stop sampling one sensor (e.g. it was removed from the server)."""
        with self._lock:
            strategy = self._strategies.pop(name, None)
        if strategy is not None:
            strategy.cancel()

    def clear(self):
        # type: () -> None
        """Set every sensor of this client back to ``none``."""
        with self._lock:
            strategies, self._strategies = self._strategies, {}
        for strategy in strategies.values():
            strategy.cancel()

    def close(self):
        # type: () -> None
        """Cancel everything and refuse new strategies (client disconnected)."""
        with self._lock:
            self._closed = True
        self.clear()
