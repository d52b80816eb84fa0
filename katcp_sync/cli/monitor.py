"""``katcp-sync monitor HOST:PORT [REGEX]``: a live table of a device's sensors.

The sensors whose names match ``REGEX`` (all by default) are listed with
``?sensor-list`` and sampled with ``?sensor-sampling`` (``--strategy``,
``event`` by default; all in one request when the device supports bulk
sampling, flag ``B``). Each row shows the name, value, status, timestamp
and units.

On a terminal the table is redrawn in place when values change (at most
every ``--interval`` seconds), with statuses coloured by severity (unless
the ``NO_COLOR`` environment variable is set). When stdout is not a
terminal the output is plain text: the table once, then one line per
update, which suits scripts, logs and tests. ``--once`` prints the table
and exits; ``--count N`` exits after N refreshes (the table is the first).
Ctrl-C ends the monitor.
"""

from __future__ import absolute_import, division, print_function

import argparse
import os
import re
import sys
import threading
import time
from typing import Dict, List, Optional, Sequence, Tuple, cast

from .. import compat
from ..client import BlockingClient
from ..connection import format_address
from ..deadline import Deadline
from ..display import STATUS_COLOURS
from ..errors import KatcpClientError
from ..message import Message
from .common import (EXIT_CONNECTION, EXIT_FAILED, EXIT_OK, EXIT_USAGE, die, open_client,
                     reply_error)

__all__ = ["run", "SensorTable", "STATUS_COLOURS"]

_HEADER = ("NAME", "VALUE", "STATUS", "TIMESTAMP", "UNITS")
_CLEAR = "\x1b[H\x1b[2J"


def format_timestamp(timestamp):
    # type: (Optional[float]) -> str
    """Local time with milliseconds, or ``-`` when unknown."""
    if timestamp is None:
        return "-"
    whole = int(timestamp)
    return "%s.%03d" % (time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(whole)),
                        int((timestamp - whole) * 1000))


class SensorTable(object):
    """The latest reading of each monitored sensor. Thread-safe.

    ``#sensor-status`` informs are fed in on the client's reactor thread
    (:meth:`update_from_inform`); the main thread takes snapshots and the
    list of rows that changed since it last asked.
    """

    def __init__(self, units, ms_timestamps=False):
        # type: (Dict[str, str], bool) -> None
        self._lock = threading.Lock()
        self._units = dict(units)
        self._scale = 0.001 if ms_timestamps else 1.0
        self._rows = {
            name: ("", "unknown", None) for name in units}  # type: Dict[str, Tuple[str, str, Optional[float]]]
        self._updates = []  # type: List[Tuple[str, str, str, str, str]]
        #: Set whenever an update arrives; cleared by :meth:`take_updates`.
        self.changed = compat.Event()

    def update_from_inform(self, msg):
        # type: (Message) -> None
        """Apply a ``#sensor-status ts count (name status value)...`` inform."""
        args = msg.arguments
        if len(args) < 5:
            return
        try:
            timestamp = float(args[0]) * self._scale
        except ValueError:
            timestamp = None
        with self._lock:
            for i in range(2, len(args) - 2, 3):
                name = compat.readable_text(args[i])
                if name in self._rows:
                    value = compat.readable_text(args[i + 2])
                    status = compat.readable_text(args[i + 1])
                    self._rows[name] = (value, status, timestamp)
                    self._updates.append((name, value, status, format_timestamp(timestamp),
                                          self._units[name]))
        self.changed.set()

    def rows(self):
        # type: () -> List[Tuple[str, str, str, str, str]]
        """The current ``(name, value, status, timestamp, units)`` rows, by name."""
        with self._lock:
            return [(name, value, status, format_timestamp(timestamp), self._units[name])
                    for name, (value, status, timestamp) in sorted(self._rows.items())]

    def take_updates(self):
        # type: () -> List[Tuple[str, str, str, str, str]]
        """Rows of the updates since the last call, in arrival order."""
        with self._lock:
            self.changed.clear()
            updates, self._updates = self._updates, []
        return updates


#: Least column widths of plain output, so that later values (a status, a
#: timestamp where there was ``-``) usually fit the columns of the table.
PLAIN_MIN_WIDTHS = (0, 12, len("unreachable"), len("2000-01-01 00:00:00.000"), 0)


def column_widths(rows,
                  least=(0,) * len(_HEADER)):
    # type: (Sequence[Sequence[str]], Sequence[int]) -> List[int]
    """The width of each column for ``rows`` and the header, at least ``least``."""
    table = [tuple(_HEADER)] + [tuple(r) for r in rows]
    return [max([minimum] + [len(r[i]) for r in table]) for i, minimum in enumerate(least)]


def render(rows, colour, width=None,
           header=True, widths=None):
    # type: (Sequence[Sequence[str]], bool, Optional[int], bool, Optional[Sequence[int]]) -> str
    """Format rows as aligned columns; colour the status column if asked.

    ``width`` (a terminal width) truncates the value column so that rows
    fit on one line. ``widths`` keeps columns as they were (a wider cell
    widens its column); by default they fit ``rows`` and the header.
    """
    table = [tuple(_HEADER)] + [tuple(r) for r in rows] if header else [tuple(r) for r in rows]
    if not table:
        return ""
    fitted = column_widths(rows)
    widths = fitted if widths is None else [max(a, b) for a, b in zip(widths, fitted)]
    if width:
        others = sum(widths) - widths[1] + 2 * (len(widths) - 1)
        widths[1] = max(5, min(widths[1], width - others))
    lines = []
    for index, row in enumerate(table):
        cells = []
        for i, cell in enumerate(row):
            if len(cell) > widths[i]:
                cell = cell[:widths[i] - 1] + "~"
            padded = cell.ljust(widths[i]) if i < len(row) - 1 else cell
            if colour and i == 2 and (index > 0 or not header):
                padded = "\x1b[%sm%s\x1b[0m" % (STATUS_COLOURS.get(cell, "0"), padded)
            cells.append(padded)
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def _list_sensors(client, pattern, timeout):
    # type: (BlockingClient, "re.Pattern[str]", float) -> Dict[str, str]
    reply, informs = client.blocking_request(Message.request("sensor-list"), timeout=timeout)
    if not reply.reply_ok():
        die(EXIT_FAILED, reply_error(reply))
    units = {}
    for inform in informs:
        if len(inform.arguments) >= 3:
            name = compat.readable_text(inform.arguments[0])
            if pattern.search(name):
                units[name] = compat.readable_text(inform.arguments[2])
    return units


def _subscribe(client, names, strategy,
               timeout):
    # type: (BlockingClient, List[str], List[str], float) -> None
    flags = client.protocol_flags
    if flags is not None and flags.bulk_set_sensor_sampling:
        groups = [",".join(names)]
    else:
        groups = names
    futures = [client.future_request(Message.request("sensor-sampling", group, *strategy),
                                     timeout=timeout) for group in groups]
    for future in futures:
        reply, _ = future.result(timeout + 1.0)
        if not reply.reply_ok():
            die(EXIT_FAILED, reply_error(reply))


def run(args):
    # type: (argparse.Namespace) -> int
    """Run the monitor for parsed ``args``."""
    try:
        pattern = re.compile(args.regex)
    except re.error as exc:
        die(EXIT_USAGE, "bad regular expression %r: %s" % (args.regex, exc))
    count = 1 if args.once else max(0, args.count)
    host, port = args.endpoint
    with cast(BlockingClient, open_client(host, port, args.timeout)) as client:  # the default class
        closed = threading.Event()
        client.add_disconnected_callback(closed.set)
        try:
            units = _list_sensors(client, pattern, args.timeout)
            if not units:
                die(EXIT_FAILED, "no sensor of %s matches %r" % (format_address((host, port)),
                                                                 args.regex))
            flags = client.protocol_flags
            table = SensorTable(units, ms_timestamps=flags is not None and flags.major < 5)
            client.add_inform_callback("sensor-status", table.update_from_inform)
            _subscribe(client, sorted(units), args.strategy, args.timeout)
            tty = sys.stdout.isatty()
            title = "%s  %d sensors  strategy: %s  (Ctrl-C quits)" % (
                format_address((host, port)), len(units), " ".join(args.strategy))
            return _show(table, closed, count, tty, args.interval, title)
        except KatcpClientError as exc:
            die(EXIT_CONNECTION, str(exc))
        except KeyboardInterrupt:
            return EXIT_OK


def _show(table, closed, count, tty,
          interval, title):
    # type: (SensorTable, threading.Event, int, bool, float, str) -> int
    colour = tty and "NO_COLOR" not in os.environ
    table.take_updates()       # the initial readings are in the first frame
    frames = 0
    widths = []  # type: List[int]  # update rows line up with the table above them
    while True:
        if tty:
            width = compat.terminal_columns()
            sys.stdout.write(_CLEAR + title + "\n\n" + render(table.rows(), colour, width) + "\n")
        elif frames == 0:
            rows = table.rows()
            widths = column_widths(rows, PLAIN_MIN_WIDTHS)
            sys.stdout.write(render(rows, colour, widths=widths) + "\n")
        else:
            updates = table.take_updates()
            sys.stdout.write(render(updates, colour, header=False, widths=widths) + "\n")
            widths = [max(a, b) for a, b in zip(widths, column_widths(updates))]
        sys.stdout.flush()
        frames += 1
        if count and frames >= count:
            return EXIT_OK
        next_frame = Deadline(interval)
        while not table.changed.wait(0.5):
            if closed.is_set():
                die(EXIT_CONNECTION, "connection closed by the device")
        if tty:
            # Let updates accumulate: one redraw per interval at most.
            closed.wait(next_frame.remaining())
            table.take_updates()
