"""One request from one client, as its handler sees it: the ``req`` object.

:class:`ClientRequestConnection` sends the request's informs and its one
reply, with the request's name and message id (spec 2.2, 2.3), through the
client connection's ``inform``, ``reply`` and ``write`` (which code written
for katcp-python may wrap or mock).
"""

from __future__ import absolute_import, division, print_function

from typing import TYPE_CHECKING, Any, Iterable, Sequence

from . import compat
from .message import Message

if TYPE_CHECKING:  # pragma: no cover
    from .server_connection import ClientConnection

__all__ = ["ClientRequestConnection", "wire"]


def wire(msg):
    # type: (Message) -> bytes
    """``msg`` as it goes on the wire, end of line included."""
    return msg.encode()


class ClientRequestConnection(object):
    """The ``req`` argument of a request handler: one request from one client.

    Replies and informs sent through it carry the request's name and message
    id (spec 2.2, 2.3). Exactly one reply may be sent: any reply or inform
    after it raises :class:`RuntimeError`. All methods may be called from any
    thread, so a handler that raised ``AsyncReply`` can reply from wherever
    its work finishes.

    Attributes:
        msg: the request :class:`~katcp_sync.message.Message`.
        client_connection: the :class:`ClientConnection` it came from.
    """

    __slots__ = ("client_connection", "msg", "_token")

    def __init__(self, client_connection, req_msg):
        # type: ("ClientConnection", Message) -> None
        self.client_connection = client_connection
        self.msg = req_msg
        # One-element list: list.pop() is atomic, so two threads racing to
        # reply cannot both succeed.
        self._token = [True]

    def __repr__(self):
        # type: () -> str
        return "<ClientRequestConnection ?%s from %s>" % (
            self.msg.name, self.client_connection.address)

    @property
    def replied(self):
        # type: () -> bool
        """True once the reply has been sent."""
        return not self._token

    def _check_open(self, what):
        # type: (str) -> None
        if not self._token:
            raise RuntimeError("Cannot send %s: ?%s was already replied to"
                               % (what, self.msg.name))

    def _take_reply_token(self, reply):
        # type: (Message) -> None
        """Claim the one reply (atomic), or raise: ``reply`` came too late."""
        try:
            self._token.pop()
        except IndexError:
            raise compat.chained(RuntimeError("Cannot send %r: ?%s was already replied to"
                               % (reply, self.msg.name)), None)

    def make_reply(self, *args):
        # type: (*Any) -> Message
        """Build (without sending) the reply to this request."""
        return Message.reply_to_request(self.msg, *args)

    def inform(self, *args):
        # type: (*Any) -> None
        """Send ``#name[mid] args...`` before the reply.

        Raises:
            RuntimeError: the reply was already sent.
        """
        self._check_open("an inform")
        # through the connection's inform(), as katcp-python (code mocks it)
        self.client_connection.inform(Message.reply_inform(self.msg, *args))

    def informs(self, rows, send_reply=True):
        # type: (Iterable[Sequence[Any]], bool) -> int
        """Send one inform per row of arguments, then (by default) ``ok N``.

        All lines go out in a single write. Returns the number of informs.

        Raises:
            RuntimeError: the reply was already sent.
        """
        self._check_open("informs")
        req = self.msg
        lines = [wire(Message.reply_inform(req, *row)) for row in rows]
        count = len(lines)
        if send_reply:
            reply = Message.reply_to_request(req, "ok", str(count))
            self._take_reply_token(reply)
            lines.append(wire(reply))
        self.client_connection.write(b"".join(lines))
        return count

    def reply(self, *args):
        # type: (*Any) -> None
        """Send ``!name[mid] args...``.

        Raises:
            RuntimeError: the reply was already sent.
        """
        msg = Message.reply_to_request(self.msg, *args)
        self._take_reply_token(msg)
        self.client_connection.reply(msg, self.msg)

    def reply_with_message(self, msg):
        # type: (Message) -> None
        """Send a prepared reply message (its id is set to the request's).

        Raises:
            RuntimeError: the reply was already sent.
            ValueError: ``msg`` is not a reply with the request's name.
        """
        if msg.mtype != Message.REPLY or msg.name != self.msg.name:
            raise ValueError("Reply to ?%s must be a !%s reply, not %r"
                             % (self.msg.name, self.msg.name, msg))
        self._take_reply_token(msg)
        self.client_connection.reply(msg, self.msg)

    def mass_inform(self, msg):
        # type: (Message) -> None
        """Send an inform to every client of the server."""
        self.client_connection.mass_inform(msg)
