"""The HTTP side of ``katcp-sync web``: a page and a live event stream of sensors.

:class:`WebView` serves, with the standard library's
:class:`http.server.ThreadingHTTPServer` (one thread per browser connection):

``GET /``, ``GET /static/<file>``
    The page: HTML, CSS and JavaScript shipped in ``katcp_sync/web/static``
    (nothing is fetched from elsewhere).
``GET /status.css``
    The status colours, made from ``monitor``'s
    (:data:`katcp_sync.display.STATUS_COLOURS`).
``GET /events``
    A Server-Sent Events stream (``text/event-stream``): one ``snapshot``
    event (every device, sensor, reading and the recent history of numeric
    sensors), then ``device`` events (a device's state or sensor list
    changed) and ``update`` events (``{"now": t, "rows": [[sensor id, value
    text, status, timestamp, number], ...]}``) as readings arrive. Each
    stream takes what changed from its :class:`~katcp_sync.web.model.Subscription`
    at most once per ``frame`` seconds (default 0.05): readings of the same
    sensor in between are coalesced to the latest, so a stream's backlog is
    bounded by the number of sensors, and a browser that reads slowly only
    slows its own thread. A comment line every 15 s keeps idle streams open.
``POST /api/request``
    Only with ``allow_requests``: ``{"device": id, "line": "?add 3 6"}``
    (JSON) sends the request and answers ``{"ok": bool, "lines": [informs...,
    reply]}`` as KATCP text. Without ``allow_requests`` every POST gets
    ``403 Forbidden``. A request must be JSON (which a cross-site form
    cannot send without the browser asking first), and its ``Host`` must be
    an IP address, ``localhost`` or the host the view listens on (a guard
    against DNS rebinding).

Threads: :meth:`WebView.start` runs the server loop on its own thread; each
connection gets a thread that ends with it. :meth:`WebView.stop` (any
thread) closes the event streams and every open connection, and returns
once the connection threads have ended.
"""

from __future__ import absolute_import, division, print_function

import json
import pkgutil
import re
import socket
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Set, Tuple, cast

from .. import compat
from ..deadline import Deadline
from ..display import STATUS_COLOURS, format_message, parse_line
from ..errors import KatcpClientError, KatcpSyntaxError
from ..formatting import format_address
from .model import SensorBoard, Subscription

__all__ = ["WebView", "status_css"]

_STATIC = "static"
_STATIC_NAME = re.compile(r"^[A-Za-z0-9_-]+\.(html|css|js|png|svg)$")
_CONTENT_TYPES = {"html": "text/html; charset=utf-8", "css": "text/css; charset=utf-8",
                  "js": "text/javascript; charset=utf-8", "png": "image/png",
                  "svg": "image/svg+xml", "json": "application/json"}
_KEEPALIVE_SECONDS = 15.0
_MAX_BODY = 65536
#: Kernel send buffer of an event stream: a few frames of 1,000 sensors. A
#: fixed size (no autotuning up to megabytes) bounds what a stalled browser
#: holds in the kernel as the subscription bounds what it holds here.
_STREAM_SNDBUF = 256 * 1024

#: CSS for the ANSI SGR codes used in :data:`~katcp_sync.display.STATUS_COLOURS`,
#: in shades that read well on a light background.
_SGR_CSS = {"1": "font-weight:bold", "2": "opacity:0.6", "31": "color:#c62828",
            "32": "color:#2e7d32", "33": "color:#a15c00", "35": "color:#8e24aa"}


def status_css():
    # type: () -> str
    """CSS rules ``.st-<status>`` with ``monitor``'s colour for each status."""
    rules = []
    for status, sgr in sorted(STATUS_COLOURS.items()):
        declarations = [_SGR_CSS[code] for code in sgr.split(";") if code in _SGR_CSS]
        rules.append(".st-%s{%s}" % (status, ";".join(declarations)))
    return "\n".join(rules) + "\n"


def _static(name):
    # type: (str) -> Optional[bytes]
    """A file of ``katcp_sync/web/static`` (works from a zip too), or None."""
    if not _STATIC_NAME.match(name):
        return None
    try:
        return pkgutil.get_data(__package__, _STATIC + "/" + name)
    except EnvironmentError:   # IOError on Python 2
        return None


def _sse(event, data):
    # type: (str, Any) -> bytes
    return ("event: %s\ndata: %s\n\n" % (event, json.dumps(data, separators=(",", ":")))
            ).encode("utf-8")


class _Server(compat.ThreadingHTTPServer):
    """Joins its connection threads on close, and can cut every open connection."""

    daemon_threads = False
    block_on_close = True

    def __init__(self, address, view):
        # type: (Tuple[str, int], "WebView") -> None
        self.view = view
        self.open_sockets = set()  # type: Set[socket.socket]
        self.sockets_lock = threading.Lock()
        super(_Server, self).__init__(address, _Handler)

    def cut_connections(self):
        # type: () -> None
        with self.sockets_lock:
            sockets = list(self.open_sockets)
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except compat.SOCKET_ERRORS:
                pass


class _Server6(_Server):
    address_family = socket.AF_INET6


class _Handler(compat.BaseHTTPRequestHandler):
    server = cast(_Server, None)  # type: _Server
    server_version = "katcp-sync-web"
    #: A connection that sends nothing, or accepts nothing, for this long is dropped.
    timeout = 30.0

    def setup(self):
        # type: () -> None
        super(_Handler, self).setup()
        with self.server.sockets_lock:
            self.server.open_sockets.add(self.connection)
        if self.server.view.stopping.is_set():    # accepted as the view stopped
            self.connection.shutdown(socket.SHUT_RDWR)

    def finish(self):
        # type: () -> None
        with self.server.sockets_lock:
            self.server.open_sockets.discard(self.connection)
        try:
            super(_Handler, self).finish()
        except compat.SOCKET_ERRORS:
            pass

    def log_message(self, format, *args):
        # type: (str, *Any) -> None
        self.server.view.log(format % args)

    # -- GET ----------------------------------------------------------------------

    def do_GET(self):
        # type: () -> None
        path = self.path.split("?", 1)[0]
        if path == "/events":
            self._events()
            return
        if path == "/status.css":
            self._reply(200, status_css().encode(), _CONTENT_TYPES["css"])
            return
        name = "index.html" if path in ("/", "/index.html") else (
            path[len("/static/"):] if path.startswith("/static/") else "")
        body = _static(name) if name else None
        if body is None:
            self._reply(404, b"not found\n", "text/plain; charset=utf-8")
        else:
            self._reply(200, body, _CONTENT_TYPES[name.rsplit(".", 1)[1]])

    def _reply(self, code, body, content_type):
        # type: (int, bytes, str) -> None
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-cache")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _events(self):
        # type: () -> None
        view = self.server.view
        snapshot, subscription = view.board.subscribe()
        view.track(subscription)
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, _STREAM_SNDBUF)
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream; charset=utf-8")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("X-Accel-Buffering", "no")
            self.end_headers()
            self.wfile.write(b"retry: 1000\n" + _sse("snapshot", snapshot))
            self._stream(subscription, view.frame)
        except compat.SOCKET_ERRORS:
            pass      # the browser went away, or the view is stopping
        finally:
            view.untrack(subscription)
            view.board.unsubscribe(subscription)
            self.close_connection = True

    def _stream(self, subscription, frame):
        # type: (Subscription, float) -> None
        stopping = self.server.view.stopping
        while not stopping.is_set():
            changes = subscription.take(_KEEPALIVE_SECONDS)
            if subscription.closed:
                return
            if changes is None:
                self.wfile.write(b": keep-alive\n\n")
                continue
            next_frame = Deadline(frame)
            devices, rows = changes
            chunks = [_sse("device", device) for device in devices]
            if rows:
                chunks.append(_sse("update", {"now": time.time(), "rows": rows}))
            self.wfile.write(b"".join(chunks))
            # Let readings pile up (one per sensor at most) until the next frame.
            stopping.wait(next_frame.remaining())

    # -- POST ---------------------------------------------------------------------

    def do_POST(self):
        # type: () -> None
        view = self.server.view
        if not view.board.allow_requests:
            self._json(403, {"error": "requests are not allowed: start the view with "
                                      "--allow-requests"})
            return
        if self.path != "/api/request":
            self._json(404, {"error": "not found"})
            return
        problem = self._refusal()
        if problem:
            self._json(403, {"error": problem})
            return
        try:
            length = int(self.headers.get("Content-Length", ""))
            if not 0 <= length <= _MAX_BODY:
                raise ValueError("body too large")
            body = json.loads(self.rfile.read(length).decode("utf-8"))
            device, line = int(body["device"]), compat.ensure_native_str(body["line"])
            msg = parse_line(line)
        except (ValueError, KeyError, TypeError, KatcpSyntaxError) as exc:
            self._json(400, {"error": "bad request: %s" % (exc,)})
            return
        try:
            reply = view.board.request(device, msg.name, msg.arguments)
        except LookupError as exc:
            self._json(400, {"error": str(exc)})
            return
        except KatcpClientError as exc:     # not connected, or no reply in time
            self._json(504 if isinstance(exc, compat.TimeoutError) else 502, {"error": str(exc)})
            return
        self._json(200, {"ok": reply.succeeded,
                         "lines": [format_message(m) for m in list(reply.informs) + [reply.reply]]})

    def _refusal(self):
        # type: () -> str
        """Why a POST must be refused (cross-site or rebinding), or ``""``."""
        if self.header_content_type() != "application/json":
            return "requests must be sent as application/json"
        host = self.headers.get("Host", "")
        hostname = host.rsplit(":", 1)[0].strip("[]") if not host.endswith("]") else host.strip("[]")
        if not self.server.view.host_allowed(hostname):
            return "Host %r is not allowed" % (host,)
        origin = self.headers.get("Origin")
        if origin is not None and origin != "http://" + host:
            return "cross-origin requests are not allowed"
        return ""

    def _json(self, code, data):
        # type: (int, Dict[str, Any]) -> None
        self._reply(code, json.dumps(data).encode("utf-8"), _CONTENT_TYPES["json"])


class WebView(object):
    """Serve the live sensor page of a :class:`~katcp_sync.web.model.SensorBoard`.

    Args:
        board: the model (started and stopped by the caller).
        host, port: where to listen (loopback by default; port 0: any free
            port, see :attr:`address`).
        frame: least time in seconds between two writes to one event stream.
        log: called with a line per HTTP request (default: nothing), on
            the connection's thread.

    Raises:
        OSError: (from :meth:`start`) cannot listen there.

    Threads: :meth:`start` and :meth:`stop` may be called from any thread but
    the view's own (its server thread and connection threads, which
    :meth:`stop` joins); the properties and :meth:`host_allowed` from any
    thread; :meth:`track`/:meth:`untrack` are called by the connection
    threads (any thread may).
    """

    def __init__(self, board, host="127.0.0.1", port=8080,
                 frame=0.05, log=None):
        # type: (SensorBoard, str, int, float, Optional[Callable[[str], None]]) -> None
        self.board = board
        self.frame = frame
        self.log = log or (lambda line: None)  # type: Callable[[str], None]
        self.stopping = compat.Event()
        self._host, self._port = host, port
        self._server = None  # type: Optional[_Server]
        self._thread = None  # type: Optional[threading.Thread]
        self._lock = threading.Lock()
        self._streams = set()  # type: Set[Subscription]

    @property
    def address(self):
        # type: () -> Tuple[str, int]
        """``(host, port)`` the view listens on (the real port after :meth:`start`)."""
        if self._server is None:
            return self._host, self._port
        return self._host, self._server.server_address[1]

    @property
    def url(self):
        # type: () -> str
        """The page's address, e.g. ``http://127.0.0.1:8080/``."""
        host, port = self.address
        return "http://%s/" % format_address((host or "127.0.0.1", port))

    def host_allowed(self, hostname):
        # type: (str) -> bool
        """True if a request naming ``hostname`` in its ``Host`` may change
        things (an IP address, ``localhost`` or the view's host). Any thread."""
        if hostname in ("localhost", self._host) and hostname:
            return True
        return compat.is_ip_address(hostname)

    def start(self):
        # type: () -> None
        """Listen and serve on a background thread (returns at once).

        Raises:
            OSError: cannot listen on :attr:`address`.

        Any thread but the view's own; once per view.
        """
        server_class = _Server6 if ":" in self._host else _Server
        self._server = server_class((self._host, self._port), self)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.5,),
                                        name="katcp-web-%d" % self.address[1])
        self._thread.daemon = True
        self._thread.start()

    def stop(self, timeout=5.0):
        # type: (float) -> None
        """Close every stream and connection; return when their threads ended.

        Args:
            timeout: most seconds to wait for the server thread (the
                connection threads end once their sockets are cut).

        Any thread but the view's own (it joins them); idempotent.
        """
        self.stopping.set()
        server = self._server
        if server is None:
            return
        with self._lock:
            streams = list(self._streams)
        for subscription in streams:
            subscription.close()
        server.shutdown()
        server.cut_connections()
        server.server_close()     # joins the connection threads
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def streams(self):
        # type: () -> List[Subscription]
        """The subscriptions of the open event streams (a snapshot; any thread)."""
        with self._lock:
            return list(self._streams)

    def track(self, subscription):
        # type: (Subscription) -> None
        """Remember an open event stream (closed by :meth:`stop`). Any thread
        (a connection thread, as it opens the stream)."""
        with self._lock:
            self._streams.add(subscription)
        if self.stopping.is_set():
            subscription.close()

    def untrack(self, subscription):
        # type: (Subscription) -> None
        """Forget a finished event stream. Any thread (the stream's connection thread)."""
        with self._lock:
            self._streams.discard(subscription)
