"""Requests without a network: katcp-python's ``mock_req`` and ``handle_mock_req``.

A :class:`MockRequest` is the ``req`` a handler gets, made without a socket;
what the handler sends is recorded on it and on its
:class:`RecordingClientConnection`. Re-exported by :mod:`katcp_sync.testutils`.
"""

from __future__ import absolute_import, division, print_function

from concurrent.futures import Future
from typing import Any, Callable, List, Optional, Sequence, Tuple, cast

from .. import compat
from ..message import Message, parse
from ..server import DeviceServer
from ..server_connection import ClientConnection, ClientRequestConnection
from .client import Text, _text

__all__ = ["mock_req", "handle_mock_req", "MockRequest", "RecordingClientConnection"]


def _parse_lines(data):
    # type: (bytes) -> List[Message]
    return [parse(line) for line in data.split(b"\n") if line.strip()]


class _RecordingSink(object):
    """Stands in for a socket connection: parses what is written to it."""

    def __init__(self, record):
        # type: (Callable[[Message], None]) -> None
        self._record = record

    def write(self, data):
        # type: (bytes) -> bool
        for msg in _parse_lines(data):
            self._record(msg)
        return True

    def write_lines(self, lines):
        # type: (Sequence[bytes]) -> bool
        return self.write(b"\n".join(lines) + b"\n")

    def close(self, reason="", flush=True, timeout=1.0, last=b""):
        # type: (str, bool, float, bytes) -> None
        if last:
            self.write(last)


class RecordedMessages(object):
    """Mixin: ``informs`` and ``replies`` filter a ``messages`` list (any thread)."""

    messages = cast(List[Message], None)  # type: List[Message]

    @property
    def informs(self):
        # type: () -> List[Message]
        """The recorded informs."""
        return [m for m in self.messages if m.mtype == Message.INFORM]

    @property
    def replies(self):
        # type: () -> List[Message]
        """The recorded replies."""
        return [m for m in self.messages if m.mtype == Message.REPLY]


class RecordingClientConnection(ClientConnection, RecordedMessages):
    """A client connection with no socket, for requests made by :func:`mock_req`.

    Everything sent to it is parsed back into :attr:`messages` (in order).
    Mass informs go to ``server`` when one is given (as from a real client
    of it), otherwise into :attr:`mass_informs`. Thread-safe, like the real
    one (katcp-python: ``ClientConnectionTest``).
    """

    def __init__(self, server=None, address="mock-client:0"):
        # type: (Optional[DeviceServer], str) -> None
        self.messages = []  # type: List[Message]
        self.mass_informs = []  # type: List[Message]
        self._records_mass_informs = server is None
        super(RecordingClientConnection, self).__init__(server, address, transport=_RecordingSink(self.messages.append))

    def mass_inform(self, msg):
        # type: (Message) -> None
        """Send ``msg`` to the server's clients, or record it if there is no server."""
        if self._records_mass_informs:
            self.mass_informs.append(msg)
        else:
            super(RecordingClientConnection, self).mass_inform(msg)


class _RequestTap(object):
    """The client connection as one :class:`MockRequest` sees it: what the
    request sends is recorded on the request, then passed on."""

    def __init__(self, req, connection):
        # type: ("MockRequest", ClientConnection) -> None
        self._req = req
        self._connection = connection

    def write(self, data):
        # type: (bytes) -> None
        for msg in _parse_lines(data):
            self._req._record(msg)
        self._connection.write(data)

    def inform(self, msg):
        # type: (Message) -> None
        self._req._record(msg)
        self._connection.inform(msg)

    def reply(self, msg, orig_req):
        # type: (Message, Message) -> None
        msg.mid = orig_req.mid
        self._req._record(msg)
        self._connection.reply(msg, orig_req)

    def __getattr__(self, name):
        # type: (str) -> Any
        return getattr(self._connection, name)


class MockRequest(ClientRequestConnection):
    """A request for a handler, made without a network (see :func:`mock_req`).

    It behaves as the ``req`` of a real request (one reply, informs before
    it) and also records what the handler sent.

    Attributes:
        msg: the request message.
        client_connection: the client it seems to come from (what it sends
            is also recorded there, see :class:`RecordingClientConnection`).
        reply_msg: the reply, once sent (else ``None``).
        inform_msgs: the informs sent for this request so far.
        reply_and_inform_msgs_future: a :class:`concurrent.futures.Future` of
            ``(reply_msg, inform_msgs)``, resolved when the reply is sent.

    As a real ``req``, any thread may reply or inform (a handler that
    replies later does so from its own thread); wait on
    ``reply_and_inform_msgs_future`` rather than reading the attributes
    while the handler may still be running.
    """

    def __init__(self, client_connection, msg):
        # type: (ClientConnection, Message) -> None
        super(MockRequest, self).__init__(_RequestTap(self, client_connection), msg)  # type: ignore[arg-type]
        self.reply_msg = None  # type: Optional[Message]
        self.inform_msgs = []  # type: List[Message]
        self.reply_and_inform_msgs_future = compat.Future()  # type: "Future[Tuple[Message, List[Message]]]"

    def _record(self, msg):
        # type: (Message) -> None
        if msg.mtype == Message.REPLY:
            self.reply_msg = msg
            self.reply_and_inform_msgs_future.set_result((msg, list(self.inform_msgs)))
        else:
            self.inform_msgs.append(msg)


def mock_req(req_name, *args, **kwargs):
    # type: (Text, *Any, **Any) -> MockRequest
    """Make a request ``?req_name args...`` for a handler, without a network.

    Pass it to a handler directly (``server.request_add(req, req.msg)``) or
    to :func:`handle_mock_req`, then look at ``req.reply_msg`` and
    ``req.inform_msgs``.

    Args:
        server: the :class:`~katcp_sync.server.DeviceServer` the request
            seems to reach (its mass informs go to its real clients).
        client_conn: the client it comes from (default: a new
            :class:`RecordingClientConnection`); not with ``server``.

    Raises:
        TypeError: both ``server`` and ``client_conn`` were given.
    """
    server = compat.kwonly_pop(kwargs, 'server', None)  # type: Optional[DeviceServer]
    client_conn = compat.kwonly_pop(kwargs, 'client_conn', None)  # type: Optional[ClientConnection]
    compat.kwonly_done('mock_req', kwargs)
    if server is not None and client_conn is not None:
        raise TypeError("Specify either server or client_conn, not both")
    if client_conn is None:
        client_conn = RecordingClientConnection(server)
    return MockRequest(client_conn, Message.request(_text(req_name), *args))


def handle_mock_req(server, req):
    # type: (DeviceServer, MockRequest) -> "Future[Tuple[Message, List[Message]]]"
    """Have ``server`` handle ``req`` (from :func:`mock_req`) on this thread.

    The server need not be started. Its handler runs right here, exactly as
    for a request from the network (``invalid`` for an unknown request,
    ``fail`` for an exception, a returned reply sent, ``AsyncReply``
    honoured), except that it is not queued behind other requests nor run
    in the worker pool.

    Returns:
        ``req.reply_and_inform_msgs_future``: resolves with ``(reply,
        informs)`` when the handler replies, e.g.
        ``reply, informs = handle_mock_req(server, req).result(5)``.
    """
    server.handle_request(req)
    return req.reply_and_inform_msgs_future
