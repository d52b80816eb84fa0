"""What a request handler gave, turned into the reply its client gets.

A handler returns a reply message, replies itself, raises, or returns a
future that does one of these later. :class:`HandlerReplies` (one per
server, used by :class:`~katcp_sync.server_dispatch.Dispatcher`) sends the
reply of each outcome (spec 2: every request gets exactly one reply):
``fail``/``invalid`` with the message of a
:exc:`~katcp_sync.errors.FailReply`/``InvalidReply``, ``fail`` with the
traceback of any other exception -- or the reply the server's overridden
``create_exception_reply_and_log`` makes of it (katcp-python's hook).
"""

from __future__ import absolute_import, division, print_function

import concurrent.futures
import logging
import sys
import traceback
from typing import Any, Callable, Optional

from .errors import AsyncReply, FailReply, InvalidReply
from .message import Message
from .server_request import ClientRequestConnection

__all__ = ["HandlerReplies"]

#: ``create_exception_reply_and_log(req_msg, exc_info) -> Message``.
ExceptionHook = Callable[[Message, Any], Message]


class HandlerReplies(object):
    """Sends the reply to each outcome of a request handler. Any thread.

    Args:
        log: the server's Python logger.
        tb_limit: most traceback frames in a ``fail`` reply.
        exception_hook: the server's overridden
            ``create_exception_reply_and_log``, or None.

    Attributes:
        tb_limit: as given.
    """

    def __init__(self, log, tb_limit, exception_hook=None):
        # type: (logging.Logger, int, Optional[ExceptionHook]) -> None
        self._logger = log
        self.tb_limit = tb_limit
        self._exception_hook = exception_hook

    def send(self, req, result):
        # type: (ClientRequestConnection, Any) -> None
        """Send ``result``, a handler's reply message (anything else fails the request)."""
        if not isinstance(result, Message):
            self.error(req, TypeError("request handler for ?%s returned %r, not a reply Message"
                                      % (req.msg.name, result)))
            return
        try:
            req.reply_with_message(result)
        except (RuntimeError, ValueError) as exc:
            self._logger.error("%s: cannot send reply to %r: %s",
                               req.client_connection.address, req.msg, exc)

    def future_done(self, req, future):
        # type: (ClientRequestConnection, "concurrent.futures.Future[Any]") -> None
        """Reply with the outcome of the (done) future a handler returned."""
        try:
            result = future.result()
        except AsyncReply:
            pass
        except BaseException as exc:
            self.error(req, exc)
        else:
            if result is not None or not req.replied:
                self.send(req, result)

    def error(self, req, exc):
        # type: (ClientRequestConnection, BaseException) -> None
        """Reply to a handler's exception (spec 2: ``fail`` / ``invalid``); an
        unexpected one through the server's ``create_exception_reply_and_log``
        if overridden. After the reply was sent, it is only logged."""
        if isinstance(exc, (FailReply, InvalidReply)):
            text = str(exc)
            if not req.replied:
                code = "fail" if isinstance(exc, FailReply) else "invalid"
                self._send_error_reply(req, req.make_reply(code, text))
                return
        else:
            # (Python 2 exceptions carry no __traceback__: the one being handled)
            exc_info = (type(exc), exc, getattr(exc, "__traceback__", None) or sys.exc_info()[2])
            if not req.replied:
                self._send_error_reply(req, self._exception_reply(req, exc_info))
                return
            text = self._format(exc_info)
        self._logger.error("%s: ?%s raised after replying: %s",
                           req.client_connection.address, req.msg.name, text)

    def exception_reply(self, req_msg, exc_info, address=None):
        # type: (Message, Any, Optional[str]) -> Message
        """The library's reply to ``req_msg`` whose handler raised ``exc_info``
        (``(type, value, traceback)``): ``fail`` and the traceback, at most
        ``tb_limit`` frames, logged as an error (with the client's
        ``address``, if given)."""
        text = self._format(exc_info)
        if address is None:
            self._logger.error("request %r failed:\n%s", req_msg, text)
        else:
            self._logger.error("%s: request %r failed:\n%s", address, req_msg, text)
        return Message.reply_to_request(req_msg, "fail", text)

    def _exception_reply(self, req, exc_info):
        # type: (ClientRequestConnection, Any) -> Message
        """The server's reply to an unexpected exception, if its hook gives a
        reply to the request, else :meth:`exception_reply`."""
        address = req.client_connection.address
        hook = self._exception_hook
        if hook is not None:
            try:
                reply = hook(req.msg, exc_info)
            except Exception:
                self._logger.exception("%s: create_exception_reply_and_log failed for %r",
                                       address, req.msg)
            else:
                if (isinstance(reply, Message) and reply.mtype == Message.REPLY
                        and reply.name == req.msg.name):
                    return reply
                self._logger.error("%s: create_exception_reply_and_log gave %r, not a reply "
                                   "to ?%s", address, reply, req.msg.name)
        return self.exception_reply(req.msg, exc_info, address)

    def _send_error_reply(self, req, reply):
        # type: (ClientRequestConnection, Message) -> None
        try:
            req.reply_with_message(reply)
        except RuntimeError as exc:  # replied meanwhile, on another thread
            self._logger.error("%s: cannot send reply to %r: %s",
                               req.client_connection.address, req.msg, exc)

    def _format(self, exc_info):
        # type: (Any) -> str
        return "".join(traceback.format_exception(exc_info[0], exc_info[1], exc_info[2],
                                                  limit=self.tb_limit))
