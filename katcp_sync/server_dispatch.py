"""The server's one dispatch path: from a client's lines to the replies.

Each client has a :class:`Turn`: its queue of received messages and who
holds the right to handle the next one. A message is handled only once the
previous handler of that client has finished -- returned, raised, or (when
it returned a future) seen its future resolve -- so replies to one client
come in request order. That is the only per-client order: the worker pool
(:class:`~katcp_sync.workers.HandlerPool`) is a plain FIFO and gets at most
one message of a client at a time.

:class:`Dispatcher` (one per server) walks every message along one path:

1. :meth:`Dispatcher.lines_received` (reactor thread) parses each line,
   answers bad ones with ``#log error``, finds the handler
   (:class:`~katcp_sync.server_handlers.HandlerTable`) and claims the turn
   (:meth:`Turn.claim`) or queues the message behind the one in progress.
2. The turn holder *drives* (``_drive``): built-in handlers run right there;
   others go to the pool (or the reactor, for reactor-thread servers),
   whose job starts the handed message (:meth:`Turn.start`).
3. ``_run`` calls the handler (through the server's ``handle_message`` hook
   if overridden), and turns its result into the reply: a returned
   message, an exception (``fail``/``invalid``), or a future whose result
   is sent when it is done.
4. When the handler has finished, the turn passes on (:meth:`Turn.next`):
   the driving thread loops to the next queued message, so a handler that
   finishes at once -- also with a future already done -- takes no stack.
5. A stopping server fails what never started (:meth:`Turn.fail_queued`).
"""

from __future__ import absolute_import, division, print_function

import collections
import concurrent.futures
import logging
import sys
import threading
import time
import traceback
from typing import TYPE_CHECKING, Any, Deque, List, Optional, Tuple, Union, cast

from . import compat
from .compat import Protocol
from .connection import writer_waited
from .errors import AsyncReply, FailReply, InvalidReply, KatcpSyntaxError, LineTooLongError
from .message import Message, parse
from .protocol import ProtocolFlags
from .reactor import Reactor
from .server_handlers import Handler, HandlerTable
from .server_request import ClientRequestConnection, wire
from .workers import HandlerPool

if TYPE_CHECKING:  # pragma: no cover
    from .server_connection import ClientConnection

__all__ = ["Dispatcher", "DispatchServer", "Turn", "ReadControl", "fail_queued_requests"]

_REQUEST, _INFORM = Message.REQUEST, Message.INFORM
_Item = Tuple[Message, Handler]


class DispatchServer(Protocol):
    """What a :class:`Dispatcher` needs from its server
    (:class:`~katcp_sync.server.DeviceServerBase` provides it)."""

    PROTOCOL_INFO = cast(ProtocolFlags, None)  # type: ProtocolFlags
    BAD_LINES_LOGGED = cast(int, None)  # type: int
    UNEXPECTED_REPLY_BURST = cast(int, None)  # type: int
    UNEXPECTED_REPLY_INTERVAL = cast(float, None)  # type: float

    def handle_message(self, client_conn, msg):
        # type: ("ClientConnection", Message) -> None
        """The hook every message passes through (when overridden)."""

    def unhandled_request(self, req, msg):
        # type: (ClientRequestConnection, Message) -> Any
        """The handler of requests nobody handles."""

    def create_log_inform(self, level_name, msg, name,
                          timestamp=None):
        # type: (str, str, str, Optional[float]) -> Message
        """``#log level timestamp name message``."""


class ReadControl(Protocol):
    """What a :class:`Turn` needs to hold a flooding client back."""

    def pause_reading(self):
        # type: () -> None
        """Stop reading the client's socket (reactor thread)."""

    def resume_reading(self):
        # type: () -> None
        """Read the client's socket again (any thread)."""


class Turn(object):
    """One client's queue of messages and the right to handle the next one.

    The thread holding the turn owns one message at a time: the one it
    claimed (:meth:`claim`) or took from the queue (:meth:`next`), with its
    handler. It either runs it at once, on this thread, or hands it to
    another (a worker or the reactor), which starts it (:meth:`start`). A
    handed message is "in hand" until started: a stopping server fails it
    with the queue (:meth:`fail_queued`), and :meth:`start` then says not to
    run it but to pass the turn on. A message run where it was taken counts
    as started when taken, so the common path takes no extra lock.

    Args:
        reading: paused when :attr:`MAX_PENDING` messages wait, resumed at
            half as many, so a client that pipelines without end is held
            back by TCP instead of growing the queue.

    Every method may be called from any thread unless it says otherwise.
    """

    MAX_PENDING = 1000

    __slots__ = ("_reading", "_lock", "_pending", "_busy", "_in_hand", "_paused",
                 "max_pending", "bad_lines", "log_allowance", "log_allowance_time")

    def __init__(self, reading, max_pending=MAX_PENDING):
        # type: (ReadControl, int) -> None
        self._reading = reading
        self._lock = threading.Lock()
        self._pending = collections.deque()  # type: Deque[_Item]
        self._busy = False
        # The message handed to another thread and not yet started, in a
        # one-item list (empty once started); see start().
        self._in_hand = None  # type: Optional[List[Message]]
        self._paused = False
        self.max_pending = max_pending
        #: How many malformed lines this client sent (see the log limit).
        self.bad_lines = 0
        #: ``#log error`` answers to unexpected replies this client may get
        #: now, and when that was computed (see the rate limit).
        self.log_allowance = 0.0
        self.log_allowance_time = float("-inf")  # a full allowance at first

    def __len__(self):
        # type: () -> int
        return len(self._pending)

    @property
    def paused(self):
        # type: () -> bool
        """True while reading is paused because too many messages wait."""
        return self._paused

    def claim(self, msg, handler, here):
        # type: (Message, Handler, bool) -> bool
        """Queue ``msg`` behind the message in progress, or claim the turn.

        ``here`` says whether a handler that is not ``inline`` runs on this
        thread. Reactor thread (it may pause reading).

        Returns:
            True when the caller now holds the turn and must handle ``msg``;
            False when ``msg`` was queued.
        """
        with self._lock:
            if not self._busy:
                self._busy = True
                if not (here or handler.inline):
                    self._in_hand = [msg]
                return True
            self._pending.append((msg, handler))
            pause = not self._paused and len(self._pending) >= self.max_pending
            if pause:
                self._paused = True
        if pause:
            self._reading.pause_reading()
        return False

    def next(self, here):
        # type: (bool) -> Optional[_Item]
        """Finish the message in progress: return the next queued one and
        its handler (``here`` as for :meth:`claim`), or None and give the
        turn up if none is queued."""
        with self._lock:
            if not self._pending:
                self._busy = False
                return None
            item = self._pending.popleft()
            if not (here or item[1].inline):
                self._in_hand = [item[0]]
            resume = self._paused and len(self._pending) <= self.max_pending // 2
            if resume:
                self._paused = False
        if resume:
            self._reading.resume_reading()
        return item

    def start(self):
        # type: () -> bool
        """Start the message handed over by the thread holding the turn.

        False if it was failed meanwhile (:meth:`fail_queued`): the caller
        must not run it, only pass the turn on.
        """
        # No lock: list.pop() is atomic, so exactly one of this and
        # fail_queued gets the message out of its one-item list.
        hand = self._in_hand
        if hand:
            try:
                hand.pop()
                return True
            except IndexError:
                pass
        return False

    def fail_queued(self):
        # type: () -> List[Message]
        """Take every message not yet started (queued, or handed and not
        begun), in order, out of the turn; the caller answers them."""
        with self._lock:
            queued = [msg for msg, _ in self._pending]
            hand, self._in_hand = self._in_hand, None
            if hand:
                try:
                    queued.insert(0, hand.pop())
                except IndexError:  # started meanwhile
                    pass
            self._pending.clear()
        return queued

    def drop(self):
        # type: () -> None
        """The connection is gone: forget the queue (a message already
        handed to a worker still runs, as one already running does)."""
        with self._lock:
            self._pending.clear()


class Dispatcher(object):
    """Parses a server's incoming lines and runs their handlers in turn.

    Args:
        server: the device server: its ``handle_message`` hook, its
            ``unhandled_request``, ``create_log_inform`` and log limits,
            and its class's handler tables (see
            :class:`~katcp_sync.server_handlers.HandlerTable`).
        hooked: the server overrides ``handle_message``; it then sees every
            message, even informs and replies nobody handles.
        log: the server's Python logger.
        tb_limit: most traceback frames in a ``fail`` reply.
        unknown_inline: the server's ``unhandled_request`` is the library's
            own (it never blocks: run it without the pool).

    Attributes:
        handlers: the server's :class:`~katcp_sync.server_handlers.HandlerTable`.
        reactor: where reactor-thread handlers run (set by :meth:`open_run`).
        pool: this run's worker pool, or None for reactor-thread servers.
        tb_limit: as given.
    """

    def __init__(self, server, hooked, log, tb_limit,
                 unknown_inline=False):
        # type: (DispatchServer, bool, logging.Logger, int, bool) -> None
        self._server = server
        self.handlers = HandlerTable(server, server.unhandled_request, unknown_inline,
                                     self.ignore_message, self.unexpected_reply)
        self._hooked = hooked
        self._logger = log
        self.tb_limit = tb_limit
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
        # type: ("ClientConnection", List[Union[bytes, LineTooLongError]]) -> None
        """Parse and dispatch a batch of lines from a client. Reactor thread."""
        debug = self._logger.isEnabledFor(logging.DEBUG)   # once per batch: hot path
        here = self.pool is None  # where a user handler runs, seen from here
        handlers = self.handlers
        turn = client.turn
        handler = None  # type: Optional[Handler]
        for line in lines:
            if type(line) is not bytes:  # LineTooLongError
                self.log_to_client(client, "%s; disconnecting" % (str(line),))
                client.close("line too long")
                return
            try:
                msg = parse(line)
            except KatcpSyntaxError as exc:
                self.log_to_client(client, "Bad message %r: %s" % (line[:200], exc))
                continue
            if msg.mtype == _REQUEST:
                if not self._mids:
                    msg.mid = None
                if debug:
                    self._logger.debug("%s: %s", client.address, msg)
                handler = handlers.requests.get(msg.name) or handlers.unknown
            elif msg.mtype == _INFORM:
                handler = handlers.informs.get(msg.name)
                if handler is None:
                    if not self._hooked:
                        self._logger.debug("%s: ignoring unhandled %r", client.address, msg)
                        continue
                    handler = handlers.ignored
            else:
                handler = handlers.replies.get(msg.name)
                if handler is None:
                    if not self._hooked:
                        self.unexpected_reply(client, msg)
                        continue
                    handler = handlers.unexpected
            if turn.claim(msg, handler, here):
                self._drive(client, msg, handler, here)

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
        bounded stack.
        """
        turn = client.turn
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
            item = turn.next(here)
            if item is None:
                return
            msg, handler = item

    def _job(self, client, msg, handler):
        # type: ("ClientConnection", Message, Handler) -> None
        """Run a message handed to a worker (or the reactor), then drive on."""
        turn = client.turn
        if not turn:
            # A request alone in its client's queue (a client waiting for
            # each reply): the reply leaves at once, in the worker's own
            # send(), even if this worker wrote a moment ago. With more
            # queued behind it, the replies are a burst, left to the reactor
            # to send together.
            writer_waited()
        if not turn.start() or self._dispatch(client, msg, handler):
            self._release(client)  # failed meanwhile, or done: the turn moves on

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
        """Run one message's handler, through the ``handle_message`` hook if overridden."""
        if not self._hooked:
            return self.run(client, msg, handler)
        pending = self._tls.dispatch = [handler, True]
        try:
            self._server.handle_message(client, msg)
        except Exception:
            self._logger.exception("%s: handle_message failed for %r", client.address, msg)
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
        pending = getattr(self._tls, "dispatch", None)
        if pending is None:
            self.run(client, msg, self.handlers.lookup(msg))
            return
        self._tls.dispatch = None
        pending[1] = self.run(client, msg, pending[0])
        self._tls.dispatch = pending

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
            self._reply_error(req, exc)
            return True
        if result is None:
            if not req.replied:
                self._reply_error(req, RuntimeError(
                    "request handler for ?%s returned no reply" % msg.name))
            return True
        if isinstance(result, concurrent.futures.Future):
            return self._await_reply(client, req, result, release=not handler.concurrent)
        self._send_reply(req, result)
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
            future.add_done_callback(lambda done: self._future_done(req, done))
            return True
        handoff = [True]  # list.pop() is atomic: exactly one side gets it

        def done(finished):
            # type: ("concurrent.futures.Future[Any]") -> None
            self._future_done(req, finished)
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

    def _future_done(self, req,
                     future):
        # type: (ClientRequestConnection, "concurrent.futures.Future[Any]") -> None
        try:
            result = future.result()
        except AsyncReply:
            pass
        except BaseException as exc:
            self._reply_error(req, exc)
        else:
            if result is not None or not req.replied:
                self._send_reply(req, result)

    def _send_reply(self, req, result):
        # type: (ClientRequestConnection, Any) -> None
        if not isinstance(result, Message):
            self._reply_error(req, TypeError(
                "request handler for ?%s returned %r, not a reply Message"
                % (req.msg.name, result)))
            return
        try:
            req.reply_with_message(result)
        except (RuntimeError, ValueError) as exc:
            self._logger.error("%s: cannot send reply to %r: %s",
                               req.client_connection.address, req.msg, exc)

    def _reply_error(self, req, exc):
        # type: (ClientRequestConnection, BaseException) -> None
        """Turn a handler's exception into its reply (spec 2: fail / invalid)."""
        if isinstance(exc, FailReply):
            args = ("fail", str(exc))  # type: Tuple[str, ...]
        elif isinstance(exc, InvalidReply):
            args = ("invalid", str(exc))
        else:
            # (Python 2 exceptions carry no __traceback__: the one being handled)
            tb = getattr(exc, "__traceback__", None) or sys.exc_info()[2]
            text = "".join(traceback.format_exception(type(exc), exc, tb, limit=self.tb_limit))
            self._logger.error("%s: request %r failed:\n%s",
                               req.client_connection.address, req.msg, text)
            args = ("fail", text)
        if req.replied:
            self._logger.error("%s: ?%s raised after replying: %s",
                               req.client_connection.address, req.msg.name, args[1])
            return
        req.reply(*args)


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

