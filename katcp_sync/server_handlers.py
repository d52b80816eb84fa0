"""A device server's handler tables: which function handles which message.

:class:`HandlerTable` binds a server's ``request_*``, ``inform_*`` and
``reply_*`` methods (collected by :mod:`katcp_sync.metaclass`) once per
server into :class:`Handler` records that say how each runs, adds and
removes requests while the server runs (copy on write: a lookup never
takes a lock) and answers ``?help`` and ``?request-timeout-hint``.
"""

from __future__ import absolute_import, division, print_function

import inspect
import types
from typing import Any, Callable, Dict, Optional

from .handlers import CONCURRENT_REPLY, REQUEST_TIMEOUT_HINT
from .message import Message

__all__ = ["Handler", "HandlerTable", "help_text", "inline", "INLINE"]

_REQUEST, _INFORM = Message.REQUEST, Message.INFORM


#: The attribute :func:`inline` sets on a handler.
INLINE = "_katcp_sync_inline"


def inline(fn):
    # type: (Callable[..., Any]) -> Callable[..., Any]
    """Mark a library request handler as safe to run on the reactor thread."""
    setattr(fn, INLINE, True)
    return fn


def help_text(handler):
    # type: (Callable[..., Any]) -> str
    """The ``#help`` description of a handler: its cleaned docstring."""
    return inspect.cleandoc(handler.__doc__ or "")


class Handler(object):
    """How to run one message handler (built once per name and server).

    Attributes:
        fn: the bound handler: ``fn(req, msg)`` for requests,
            ``fn(client, msg)`` for informs and replies.
        inline: a built-in that never blocks: it runs on the thread holding
            the client's turn (normally the reactor), not in the pool.
        concurrent: marked ``@concurrent_reply``: the client's turn moves on
            without waiting for the future it returns.
        doc: its ``?help`` text (requests only).
        timeout_hint: its ``?request-timeout-hint``, or None.
        is_request: a request handler (else inform or reply).
    """

    __slots__ = ("fn", "inline", "concurrent", "doc", "timeout_hint", "is_request")

    def __init__(self, fn, marked, is_request=True):
        # type: (Callable[..., Any], Any, bool) -> None
        self.fn = fn
        self.inline = bool(getattr(marked, INLINE, False))
        self.concurrent = bool(getattr(marked, CONCURRENT_REPLY, False))
        self.doc = help_text(marked) if is_request else ""
        self.timeout_hint = getattr(marked, REQUEST_TIMEOUT_HINT, None)  # type: Optional[float]
        self.is_request = is_request


def _hook(fn):
    # type: (Optional[Callable[..., Any]]) -> Optional[Handler]
    """The handler running a server's overridden hook ``fn(client, msg)``."""
    return None if fn is None else Handler(fn, None, is_request=False)


class HandlerTable(object):
    """The handlers of one server, by message type and name.

    Args:
        server: the server whose class tables (``_request_handlers``, ...)
            are bound to it.
        unknown: the handler of requests nobody handles (bound method);
            ``unknown_inline`` says it is the library's own.
        ignore: called for an inform without a handler, when the server
            overrides ``handle_message`` (it sees those too).
        unexpected: called for a reply without a handler, in that case.
        inform_hook: the server's overridden ``handle_inform`` (bound), or
            None: every inform then goes to it, handled or not.
        reply_hook: the same for ``handle_reply`` and replies.
        hooked_requests: requests pass through user code first (an
            overridden ``handle_message`` or ``handle_request``), which may
            block: no request handler is then ``inline``.

    Lookups may come from any thread; :meth:`add_request` and
    :meth:`remove_request` too (they swap the request table whole).
    """

    def __init__(self, server, unknown, unknown_inline,
                 ignore, unexpected, inform_hook=None, reply_hook=None,
                 hooked_requests=False):
        # type: (object, Callable[..., Any], bool, Callable[..., Any], Callable[..., Any], Optional[Callable[..., Any]], Optional[Callable[..., Any]], bool) -> None
        cls = type(server)  # type: Any  # its metaclass made the tables
        self._hooked_requests = hooked_requests
        self.requests = {
            name: self._request(types.MethodType(fn, server), fn)
            for name, fn in cls._request_handlers.items()}  # type: Dict[str, Handler]
        self.informs = {
            name: Handler(types.MethodType(fn, server), fn, is_request=False)
            for name, fn in cls._inform_handlers.items()}  # type: Dict[str, Handler]
        self.replies = {
            name: Handler(types.MethodType(fn, server), fn, is_request=False)
            for name, fn in cls._reply_handlers.items()}  # type: Dict[str, Handler]
        self.unknown = Handler(unknown, unknown)
        self.unknown.inline = unknown_inline and not hooked_requests
        #: What an overridden ``handle_message()`` is given for informs and
        #: replies that have no handler.
        self.ignored = Handler(ignore, None, is_request=False)
        self.unexpected = Handler(unexpected, None, is_request=False)
        #: The handler of every inform (reply) when the server overrides
        #: ``handle_inform`` (``handle_reply``), else None.
        self.inform_hook = _hook(inform_hook)
        self.reply_hook = _hook(reply_hook)

    def add_request(self, name, handler):
        # type: (str, Callable[..., Any]) -> None
        """Add or replace the handler of ``?name`` (a plain function of ``(req, msg)``)."""
        requests = dict(self.requests)
        requests[name] = self._request(handler, handler)
        self.requests = requests

    def _request(self, fn, marked):
        # type: (Callable[..., Any], Any) -> Handler
        handler = Handler(fn, marked)
        if self._hooked_requests:
            handler.inline = False   # the hook is user code: it may block
        return handler

    def remove_request(self, name):
        # type: (str) -> None
        """Remove the handler of ``?name``. Raises KeyError if there is none."""
        requests = dict(self.requests)
        del requests[name]
        self.requests = requests

    def lookup(self, msg):
        # type: (Message) -> Handler
        """The handler of ``msg``: for an inform (a reply) the server's
        overridden ``handle_inform`` (``handle_reply``) if any; else the
        handler of its name, or if there is none ``unknown`` for a request,
        ``ignored`` for an inform, ``unexpected`` for a reply. (The
        dispatcher's ``lines_received`` inlines this for speed: keep the two
        in step.)"""
        mtype = msg.mtype
        if mtype == _REQUEST:
            return self.requests.get(msg.name) or self.unknown
        if mtype == _INFORM:
            return self.inform_hook or self.informs.get(msg.name) or self.ignored
        return self.reply_hook or self.replies.get(msg.name) or self.unexpected

    def request_docs(self):
        # type: () -> Dict[str, str]
        """``name -> help text`` of every request."""
        return {name: h.doc for name, h in self.requests.items()}

    def request_timeout_hints(self):
        # type: () -> Dict[str, float]
        """``name -> hint`` of the requests that have one."""
        return {name: h.timeout_hint for name, h in self.requests.items()
                if h.timeout_hint}
