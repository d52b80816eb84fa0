"""The server's one dispatch path: from a client's lines to the replies.

Each client has a :class:`~katcp_sync.server_turn.Turn`: its queue of
received messages and who holds the right to handle the next one. A message
is handled only once the previous handler of that client has finished --
returned, raised, or (when it returned a future) seen its future resolve --
so replies to one client come in request order. That is the only
per-client order: the worker pool (:class:`~katcp_sync.workers.HandlerPool`)
is a plain FIFO and gets at most one message of a client at a time.

:class:`Dispatcher` (one per server) walks every message along one path
(``Turn`` below is :class:`~katcp_sync.server_turn.Turn`):

1. :meth:`Dispatcher.lines_received` (reactor thread) parses each line,
   answers bad ones with ``#log error``, finds the handler
   (:class:`~katcp_sync.server_handlers.HandlerTable`) and claims the turn
   (``Turn.claim``) or queues the message behind the one in progress.
2. The turn holder *drives* (``_drive``): built-in handlers run right there;
   others go to the pool (or the reactor, for reactor-thread servers),
   whose job starts the handed message (``Turn.start``).
3. ``run`` calls the handler (through the server's ``handle_message`` hook
   if overridden; an inform's or reply's handler is the server's
   ``handle_inform``/``handle_reply`` if overridden), and
   :class:`~katcp_sync.server_replies.HandlerReplies` turns its result into
   the reply: a returned message, an exception (``fail``/``invalid``), or a
   future whose result is sent when it is done.
4. When the handler has finished, the turn passes on (``Turn.next``):
   the driving thread loops to the next queued message, so a handler that
   finishes at once -- also with a future already done -- takes no stack.
   A worker whose client waits for each reply first reads that client's
   next request itself, for a moment, and runs it (``_read_next``: the
   fast path), so that a client calling one request at a time costs no
   thread hand-over.
5. A stopping server fails what never started (``Turn.fail_queued``).
"""

from __future__ import absolute_import, division, print_function

import concurrent.futures
import logging
import threading
from typing import TYPE_CHECKING, Any, Callable, Iterable, List, Optional, Tuple, Union, cast

from . import compat
from .compat import Protocol
from .connection import writer_waited
from .errors import AsyncReply, KatcpSyntaxError, LineTooLongError
from .message import Message, parse
from .protocol import ProtocolFlags
from .reactor import Reactor
from .server_handlers import Handler, HandlerTable
from .server_readahead import ReadAhead
from .server_replies import HandlerReplies
from .server_request import ClientRequestConnection, wire
from .server_turn import ReadControl, Turn
from .workers import HandlerPool

if TYPE_CHECKING:  # pragma: no cover
    from .server_connection import ClientConnection

__all__ = ["Dispatcher", "DispatchServer", "Turn", "ReadControl", "fail_queued_requests"]

_REQUEST, _INFORM = Message.REQUEST, Message.INFORM
_Item = Tuple[Message, Handler]
#: Turn.hold once the worker has borrowed the client's reading to reply.
_BORROWED = object()
#: Seconds the reactor spends on one client's batch of lines, or runs its
#: queued built-in requests, before it serves others (and then goes on): a
#: client that pipelines a thousand ``?sensor-list`` on a large device, or
#: floods malformed lines, must not freeze every other client.
_SLICE = 0.005
# Lines between two looks at the clock in one batch of lines (a bad line,
# answered with a #log, costs a few microseconds).
_SLICE_CHECK = 64


class DispatchServer(Protocol):
    """What a :class:`Dispatcher` needs from its server
    (:class:`~katcp_sync.server.DeviceServerBase` provides it).

    Its hooks are called on the thread that handles the message (a worker,
    or the reactor for reactor-thread handlers), several at once.
    """

    PROTOCOL_INFO = cast(ProtocolFlags, None)  # type: ProtocolFlags
    BAD_LINES_LOGGED = cast(int, None)  # type: int
    UNEXPECTED_REPLY_BURST = cast(int, None)  # type: int
    UNEXPECTED_REPLY_INTERVAL = cast(float, None)  # type: float

    def handle_message(self, client_conn, msg):
        # type: ("ClientConnection", Message) -> None
        """The hook every message passes through (when overridden)."""

    def handle_request(self, connection, msg):
        # type: ("ClientConnection", Message) -> None
        """The hook every request passes through (when overridden)."""

    def handle_inform(self, connection, msg):
        # type: ("ClientConnection", Message) -> None
        """The hook every inform passes through (when overridden)."""

    def handle_reply(self, connection, msg):
        # type: ("ClientConnection", Message) -> None
        """The hook every reply passes through (when overridden)."""

    def unhandled_request(self, req, msg):
        # type: (ClientRequestConnection, Message) -> Any
        """The handler of requests nobody handles."""

    def create_exception_reply_and_log(self, req_msg, exc_info):
        # type: (Message, Any) -> Message
        """The reply to a request whose handler raised (when overridden)."""

    def create_log_inform(self, level_name, msg, name,
                          timestamp=None):
        # type: (str, str, str, Optional[float]) -> Message
        """``#log level timestamp name message``."""


class Dispatcher(ReadAhead):
    """Parses a server's incoming lines and runs their handlers in turn.

    Args:
        server: the device server: its hooks, its ``create_log_inform`` and
            log limits, and its class's handler tables (see
            :class:`~katcp_sync.server_handlers.HandlerTable`).
        log: the server's Python logger.
        tb_limit: most traceback frames in a ``fail`` reply.
        overridden: the names of the hooks (:class:`DispatchServer`'s
            methods) the server's class overrides; the others are not called,
            the dispatcher does their job itself. An overridden
            ``handle_message`` sees every message, even informs and replies
            nobody handles (and turns the workers' read-ahead off);
            ``handle_inform`` (``handle_reply``) every inform (reply); a
            library ``unhandled_request`` never blocks, so it runs without the
            pool; an overridden ``create_exception_reply_and_log`` makes the
            reply to a handler's unexpected exception.

    Attributes:
        handlers: the server's :class:`~katcp_sync.server_handlers.HandlerTable`.
        reactor: where reactor-thread handlers run (set by :meth:`open_run`).
        pool: this run's worker pool, or None for reactor-thread servers.
        replies: the :class:`~katcp_sync.server_replies.HandlerReplies`
            sending each handler's reply (``tb_limit`` is its).
    """

    def __init__(self, server, log, tb_limit, overridden=()):
        # type: (DispatchServer, logging.Logger, int, Iterable[str]) -> None
        self._server = server
        overridden = frozenset(overridden)
        self.handlers = HandlerTable(
            server, server.unhandled_request, "unhandled_request" not in overridden,
            self.ignore_message, self.unexpected_reply,
            server.handle_inform if "handle_inform" in overridden else None,
            server.handle_reply if "handle_reply" in overridden else None,
            hooked_requests=bool(overridden & {"handle_message", "handle_request"}))
        self._hooked = "handle_message" in overridden
        self._request_hooked = "handle_request" in overridden
        self.replies = HandlerReplies(log, tb_limit, server.create_exception_reply_and_log
                                      if "create_exception_reply_and_log" in overridden else None)
        self._logger = log
        self._mids = bool(server.PROTOCOL_INFO.message_ids)
        self.reactor = None  # type: Optional[Reactor]
        self.pool = None  # type: Optional[HandlerPool]
        self._tls = threading.local()

    def open_run(self, reactor, pool):
        # type: (Reactor, Optional[HandlerPool]) -> None
        """Use ``reactor`` and ``pool`` (None: handlers on the reactor) from now on."""
        self.reactor = reactor
        self.pool = pool

    # -- 1. lines in (reactor thread) --------------------------------------------

    def lines_received(self, client,
                       lines):
        # type: ("ClientConnection", List[Union[bytes, LineTooLongError]]) -> Optional[List[Union[bytes, LineTooLongError]]]
        """Parse and dispatch a batch of lines from a client. Reactor thread.

        Returns None, or the lines left for later when the batch has taken
        more than ``_SLICE`` seconds (a flood of lines, say malformed ones,
        each answered with a ``#log``): the connection hands them back once
        the reactor has served the other clients.
        """
        debug = self._logger.isEnabledFor(logging.DEBUG)   # once per batch: hot path
        here = self.pool is None  # where a user handler runs, seen from here
        handlers = self.handlers
        # The messages parsed, claimed together (one lock for the batch, not
        # one per message); before anything this method writes itself.
        batch = []  # type: List[_Item]
        handler = None  # type: Optional[Handler]
        slice_end = compat.monotonic() + _SLICE if len(lines) > _SLICE_CHECK else None
        for index, line in enumerate(lines):
            if (slice_end is not None and not index % _SLICE_CHECK and index
                    and compat.monotonic() > slice_end):
                self._claim(client, batch, here)
                return lines[index:]
            if type(line) is not bytes:  # LineTooLongError
                self._claim(client, batch, here)
                self.log_to_client(client, "%s; disconnecting" % (str(line),))
                client.close("line too long")
                return None
            try:
                msg = parse(line)
            except KatcpSyntaxError as exc:
                self._claim(client, batch, here)
                self.log_to_client(client, "Bad message %r: %s" % (line[:200], exc))
                continue
            if msg.mtype == _REQUEST:
                if not self._mids:
                    msg.mid = None
                if debug:
                    self._logger.debug("%s: %s", client.address, msg)
                handler = handlers.requests.get(msg.name) or handlers.unknown
            elif msg.mtype == _INFORM:
                handler = handlers.inform_hook or handlers.informs.get(msg.name)
                if handler is None:
                    if not self._hooked:
                        self._logger.debug("%s: ignoring unhandled %r", client.address, msg)
                        continue
                    handler = handlers.ignored
            else:
                handler = handlers.reply_hook or handlers.replies.get(msg.name)
                if handler is None:
                    if not self._hooked:
                        self._claim(client, batch, here)
                        self.unexpected_reply(client, msg)
                        continue
                    handler = handlers.unexpected
            batch.append((msg, handler))
        self._claim(client, batch, here)
        return None

    def _claim(self, client, batch, here):
        # type: ("ClientConnection", List[_Item], bool) -> None
        """Claim the client's turn for the messages of ``batch`` (then
        emptied) and drive it if it was free. Reactor thread."""
        if batch:
            first = client.turn.claim_all(batch, here)
            del batch[:]
            if first is not None:
                self._drive(client, first[0], first[1], here)

    def log_to_client(self, client, text):
        # type: ("ClientConnection", str) -> None
        """``#log error`` to one client about its own bad input (spec 2),
        logged locally up to the server's ``BAD_LINES_LOGGED`` per client."""
        turn = client.turn
        turn.bad_lines += 1
        limit = self._server.BAD_LINES_LOGGED
        if turn.bad_lines <= limit:
            self._logger.warning("%s: %s", client.address, text)
            if turn.bad_lines == limit:
                self._logger.warning("%s: further malformed lines are logged at DEBUG level",
                                     client.address)
        else:
            self._logger.debug("%s: %s", client.address, text)
        client.write(wire(self._server.create_log_inform("error", text, "root")))

    def unexpected_reply(self, client, msg):
        # type: ("ClientConnection", Message) -> None
        """A reply nobody asked for: ``#log error``, rate-limited (spec 2) by the
        server's ``UNEXPECTED_REPLY_BURST`` and ``UNEXPECTED_REPLY_INTERVAL``.

        Reactor thread; in the client's turn on a hooked server.
        """
        server = self._server
        turn = client.turn
        text = "Unexpected reply %r" % (bytes(msg)[:200],)
        now = compat.monotonic()
        limit = server.UNEXPECTED_REPLY_BURST
        allowance = min(limit, turn.log_allowance
                        + (now - turn.log_allowance_time) / server.UNEXPECTED_REPLY_INTERVAL)
        turn.log_allowance_time = now
        if allowance < 1.0:
            turn.log_allowance = allowance
            self._logger.debug("%s: %s (not answered: rate limit)", client.address, text)
            return
        turn.log_allowance = allowance - 1.0
        self._logger.warning("%s: %s", client.address, text)
        client.write(wire(server.create_log_inform("error", text, "root")))

    def ignore_message(self, client, msg):
        # type: ("ClientConnection", Message) -> None
        """An inform nobody handles (seen by a hooked server): logged at DEBUG."""
        self._logger.debug("%s: ignoring unhandled %r", client.address, msg)

    # -- 2. the turn: drive, hand over, pass on --------------------------------------

    def _drive(self, client, msg, handler,
               here):
        # type: ("ClientConnection", Message, Handler, bool) -> None
        """Handle ``msg`` and then the client's queued messages (holding its turn).

        Built-in handlers run right here; others go to the pool, or to the
        reactor for reactor-thread servers (``here``: this is the reactor
        thread of such a server). Returns when the turn is handed over (to
        the pool, a future or a callback) or the queue is empty. This is
        the one loop over a client's messages: a handler that finishes at
        once -- also by returning a future that is already done -- lets it
        go on to the next message, so any number of queued messages take a
        bounded stack. On the reactor it goes on for at most ``_SLICE``
        seconds at a time: others are served, and a connection closed
        meanwhile (its queue dropped) ends it.
        """
        turn = client.turn
        reactor = self.reactor
        slice_end = (compat.monotonic() + _SLICE
                     if reactor is not None and reactor.in_reactor_thread() else None)
        while True:
            if not (handler.inline or here):
                pool = self.pool
                if pool is not None:
                    try:
                        pool.submit(None, self._job, client, msg, handler)
                    except RuntimeError:  # pool shut down: the server is stopping
                        pass
                else:
                    assert self.reactor is not None
                    self.reactor.add_callback(self._job, client, msg, handler)
                return
            if not self._dispatch(client, msg, handler):
                return
            if slice_end is not None and compat.monotonic() > slice_end:
                assert reactor is not None
                reactor.add_callback(self._resume, client, here)
                return
            item = turn.next(here)
            if item is None:
                return
            msg, handler = item

    def _resume(self, client, here):
        # type: ("ClientConnection", bool) -> None
        """Go on with a client's queue, holding its turn, after the reactor
        has served others (reactor thread)."""
        item = client.turn.next(here)
        if item is not None:
            self._drive(client, item[0], item[1], here)

    def _job(self, client, msg, handler):
        # type: ("ClientConnection", Message, Handler) -> None
        """Run a message handed to a worker (or the reactor), then drive on.

        On a worker, while the client sends one request at a time, the
        worker then reads and runs the client's next request itself
        (:meth:`_read_next`), as long as that comes quickly.
        """
        turn = client.turn
        if not turn.start():
            self._release(client)  # failed meanwhile
            return
        while True:
            lone = not turn
            if lone:
                # A request alone in its client's queue (a client waiting for
                # each reply): the reply leaves at once, in the worker's own
                # send(), even if this worker wrote a moment ago. With more
                # queued behind it, the replies are a burst, left to the reactor
                # to send together.
                writer_waited()
                if client.read_ahead and self._follows(client, turn):
                    turn.hold = msg   # run() borrows reading before it replies
            finished = False
            try:
                finished = self._dispatch(client, msg, handler)
            finally:
                borrowed = turn.hold is _BORROWED
                turn.hold = None
                if borrowed and not finished:
                    client.return_reading()
            if not finished:
                return
            if not borrowed:
                if lone and client.read_ahead:
                    turn.idle_since = compat.monotonic()
                item = self._next_here(client)  # the turn moves on
                if item is None:
                    return
                msg, handler = item
                continue
            self._release(client)  # the turn moves on
            item = self._read_next(client)
            if item is None:
                return
            msg, handler = item

    def _next_here(self, client):
        # type: ("ClientConnection") -> Optional[_Item]
        """Pass the client's turn on from a worker: return its next queued
        message, started, for this worker to run while no other work waits
        for the pool; else hand it over as :meth:`_release` does and return
        None. (Through the pool, each pipelined request cost two more locks,
        taken in turn with the reactor queuing the next ones.)"""
        turn = client.turn
        item = turn.next(False)
        if item is None:
            return None
        pool = self.pool
        if item[1].inline or pool is None or pool.has_waiting():
            self._drive(client, item[0], item[1], False)
            return None
        if not turn.start():
            self._release(client)  # failed meanwhile (the server stops)
            return None
        return item

    def _release(self, client):
        # type: ("ClientConnection") -> None
        """The message in progress is done: pass the client's turn on. Any thread."""
        reactor = self.reactor
        here = self.pool is None and reactor is not None and reactor.in_reactor_thread()
        item = client.turn.next(here)
        if item is not None:
            self._drive(client, item[0], item[1], here)

    def in_worker_thread(self):
        # type: () -> bool
        """True on a worker thread of this run's pool."""
        pool = self.pool
        return pool is not None and pool.in_worker_thread()

    # -- 3. run one handler -----------------------------------------------------------

    def _dispatch(self, client, msg, handler):
        # type: ("ClientConnection", Message, Handler) -> bool
        """Run one message's handler, through the ``handle_message`` (or for
        a request ``handle_request``) hook if overridden."""
        if self._hooked:
            hook = self._server.handle_message  # type: Callable[[ClientConnection, Message], None]
        elif self._request_hooked and handler.is_request:
            hook = self._server.handle_request
        else:
            return self.run(client, msg, handler)
        pending = self._tls.dispatch = [handler, True]
        try:
            hook(client, msg)
        except Exception:
            self._logger.exception("%s: %s failed for %r", client.address, hook.__name__, msg)
        finally:
            self._tls.dispatch = None
        return pending[1]

    def handle_message(self, client, msg):
        # type: ("ClientConnection", Message) -> None
        """The base ``handle_message``: run ``msg``'s handler and reply.

        Inside a hooked dispatch, the handler found when the message was
        received runs, and whether it finished goes back to the turn; called
        from elsewhere (a test, katcp-python code), the handler is looked up.
        """
        if self._request_hooked and msg.mtype == _REQUEST:
            self._server.handle_request(client, msg)
            return
        self.handle_request(client, msg)

    def handle_request(self, client, msg):
        # type: ("ClientConnection", Message) -> None
        """The base ``handle_request`` in katcp-python's form ``(client,
        msg)``, and the end of :meth:`handle_message`: run ``msg``'s handler
        and reply. Inside a hooked dispatch, the handler found when the
        message was received runs and whether it finished goes back to the
        turn; called from elsewhere, the handler is looked up. The calling
        thread (a worker, the reactor, or any thread for a direct call)."""
        pending = getattr(self._tls, "dispatch", None)
        if pending is None:
            self.run(client, msg, self.handlers.lookup(msg))
            return
        self._tls.dispatch = None
        pending[1] = self.run(client, msg, pending[0])
        self._tls.dispatch = pending

    def handle_inform(self, client, msg):
        # type: ("ClientConnection", Message) -> None
        """The base ``handle_inform``: run the ``inform_*`` handler of
        ``msg``'s name (an exception is logged); without one, log the inform
        at DEBUG level. The calling thread."""
        handlers = self.handlers
        self.run(client, msg, handlers.informs.get(msg.name) or handlers.ignored)

    def handle_reply(self, client, msg):
        # type: ("ClientConnection", Message) -> None
        """The base ``handle_reply``: run the ``reply_*`` handler of ``msg``'s
        name (an exception is logged); without one, answer the unexpected
        reply as :meth:`unexpected_reply` does. The calling thread."""
        handlers = self.handlers
        self.run(client, msg, handlers.replies.get(msg.name) or handlers.unexpected)

    def run(self, client, msg, handler,
            req=None):
        # type: ("ClientConnection", Message, Handler, Optional[ClientRequestConnection]) -> bool
        """Run one handler on this thread and send its reply (now or when
        its future is done). ``req``: the request object to reply through
        (default: a new one). Returns True if the client's turn is free again."""
        if not handler.is_request:
            try:
                handler.fn(client, msg)
            except Exception:
                self._logger.exception("%s: handler for %r failed", client.address, msg)
            return True
        if req is None:
            req = ClientRequestConnection(client, msg)
        try:
            result = handler.fn(req, msg)
        except AsyncReply:
            return True
        except Exception as exc:
            self.replies.error(req, exc)
            return True
        if result is None:
            if not req.replied:
                self.replies.error(req, RuntimeError(
                    "request handler for ?%s returned no reply" % msg.name))
            return True
        if isinstance(result, concurrent.futures.Future):
            return self._await_reply(client, req, result, release=not handler.concurrent)
        turn = client.turn
        if turn.hold is msg:  # this worker reads the client's next request (_job)
            turn.hold = None
            pool = self.pool
            if not (pool is None or pool.has_waiting()) and client.borrow_reading():
                turn.hold = _BORROWED
                writer_waited()   # the reply leaves now, even right after informs
        self.replies.send(req, result)
        return True

    # -- 4. future done, reply or error -------------------------------------------------

    def _await_reply(self, client, req,
                     future, release):
        # type: ("ClientConnection", ClientRequestConnection, "concurrent.futures.Future[Any]", bool) -> bool
        """Reply when ``future`` is done. Returns True if the turn is free now.

        With ``release`` the turn stays with the request until the future
        is done. Whoever comes second of this call returning and the
        future's callback passes the turn on: a future done already (its
        callback runs inside ``add_done_callback``) frees the turn through
        the return value, so the caller's loop goes on instead of the
        callback recursing into the next request.
        """
        if not release:
            future.add_done_callback(lambda done: self.replies.future_done(req, done))
            return True
        handoff = [True]  # list.pop() is atomic: exactly one side gets it

        def done(finished):
            # type: ("concurrent.futures.Future[Any]") -> None
            self.replies.future_done(req, finished)
            try:
                handoff.pop()
            except IndexError:  # _await_reply has returned: pass the turn on
                self._release(client)
        future.add_done_callback(done)
        try:
            handoff.pop()
        except IndexError:  # done already: the reply is sent, the turn free
            return True
        return False


# -- 5. stop -------------------------------------------------------------------------

def fail_queued_requests(client, reason):
    # type: ("ClientConnection", str) -> int
    """Reply ``fail reason`` to every request of ``client`` not yet started
    (spec 2: every request gets a reply). Returns how many. Any thread."""
    requests = [msg for msg in client.turn.fail_queued() if msg.mtype == _REQUEST]
    if requests:
        client.write(b"".join(
            wire(Message.reply_to_request(msg, "fail", reason)) for msg in requests))
    return len(requests)

