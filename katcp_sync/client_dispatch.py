"""Requests and replies of a KATCP client (:class:`ClientDispatch`).

The middle layer of :class:`~katcp_sync.client.DeviceClient`: sending
messages, the request APIs (``future_request``, ``callback_request``,
``blocking_request`` and its borrowed-read fast path), the
:class:`~katcp_sync.client_requests.RequestTable` operations (submit,
abandon, time out, fail) and the dispatch of what the device sends
(``handle_message`` -> ``handle_reply`` / ``handle_inform`` /
``handle_request`` -> ``reply_<name>`` / ``inform_<name>`` /
``request_<name>`` or ``unhandled_*``). All of it works on whatever
connection :mod:`katcp_sync.client` has installed.
"""

from __future__ import absolute_import, division, print_function

import functools
import logging
import threading
import time
from typing import Any, Callable, List, Optional, Tuple

from . import compat
from .client_base import ClientBase, _format_exc, _not_a_message, hinted_timeout
from .client_requests import (CLOSED, BlockingRequest, CallbackRequest, DiscardedRequest,
                              FutureRequest, PendingRequest, ReplyFuture, UntrackedMessage,
                              wake_in_turn)
from .connection import Connection, Line, writer_waited
from .formatting import format_seconds
from .errors import KatcpSyntaxError, KatcpTimeoutError, KatcpTooManyInformsError, KatcpTypeError
from .errors import KatcpVersionError
from .errors import LineTooLongError
from .message import Message, parse

__all__ = ["ClientDispatch"]

_INFORM, _REPLY, _REQUEST = Message.INFORM, Message.REPLY, Message.REQUEST
_HANDLER_PREFIX = {_REQUEST: "request_", _REPLY: "reply_", _INFORM: "inform_"}
_monotonic = compat.monotonic    # the reactor's clock
_MAIN_IDENT = compat.main_thread().ident
_get_ident = compat.get_ident


class ClientDispatch(ClientBase):
    """Sending, the request APIs and message dispatch of a client.

    Not used alone: :class:`~katcp_sync.client.DeviceClient` is the client.
    Threads as for it: requests from any thread, dispatch on the reactor thread.
    """

    # ------------------------------------------------------------------
    # Sending

    def send_message(self, msg):
        # type: (Message) -> None
        """Send any message as it is. Never raises on a dead connection: logs.

        The tutorial's rule: the protocol is asynchronous, so only a reply
        tells whether a request worked; check :meth:`is_connected` first if
        it matters. While a connection is being made (e.g. just after
        :meth:`start`) the message waits for it, in order with requests.

        Raises:
            KatcpVersionError: a request with a message id, and the device
                does not support them.
        """
        self._send_untracked(msg, False)

    def send_request(self, msg):
        # type: (Message) -> None
        """Send a request message as it is (see :meth:`send_message`).

        Raises:
            KatcpTypeError: ``msg`` is not a request.
            KatcpVersionError: ``msg`` has a message id and the device does
                not support them.
        """
        if not isinstance(msg, Message):
            raise _not_a_message(msg, "send_request")
        if msg.mtype != _REQUEST:
            raise KatcpTypeError("send_request needs a request, not %r" % (msg,))
        self._send_untracked(msg, False)

    def request(self, msg, use_mid=None):
        # type: (Message, Optional[bool]) -> Optional[bytes]
        """Send a request, giving it a message id if the device supports them.

        The reply and informs go to the ``reply_<name>``/``inform_<name>``
        handlers. With ``use_mid`` None an id is used when the device has
        flag ``I``; True forces one, False none. An id already in
        ``msg.mid`` is kept; a new one is stored in ``msg.mid``.

        Returns:
            the message id used (``bytes``), or None (none used, or the
            request waits for the connection and has none yet).

        Raises:
            KatcpVersionError: an id was asked for and the device does not
                support them.
        """
        if not isinstance(msg, Message):
            raise _not_a_message(msg, "request")
        if msg.mtype != _REQUEST:
            raise KatcpTypeError("request needs a request, not %r" % (msg,))
        self._send_untracked(msg, use_mid)
        return msg.mid

    def _send_untracked(self, msg, use_mid):
        # type: (Message, Optional[bool]) -> None
        data, error = self._table.submit(UntrackedMessage(msg, use_mid, self._logger,
                                                              self._address_string))
        if error is not None:
            if isinstance(error, KatcpVersionError):
                raise error
            self._logger.warning("Not connected to %s: dropped %s %s",
                                 self._address_string,
                                 Message.TYPE_NAMES[msg.mtype].lower(), msg.name)
        elif data is not None:
            if self._logger.isEnabledFor(logging.DEBUG):
                self._logger.debug("Sending to %s: %r", self._address_string, data)
            self._write(data)

    # ------------------------------------------------------------------
    # Request APIs

    def future_request(self, msg, timeout=None,
                       use_mid=None):
        # type: (Message, Optional[float], Optional[bool]) -> ReplyFuture
        """Send a request; return a future of ``(reply, informs)``.

        Args:
            msg: the request. It is not modified: a message id is put on a
                copy.
            timeout: seconds to wait for the reply (default :attr:`timeout`).
            use_mid: use a message id (None: if the device supports them).

        Returns:
            a :class:`ReplyFuture` (a ``concurrent.futures.Future``). Its
            exception is :class:`KatcpTimeoutError` on timeout,
            :class:`KatcpClientDisconnected` if the connection is lost (or
            there is none and no attempt is in progress), or
            :class:`KatcpVersionError` for a message id the device does not
            support. A non-``ok`` reply is a result, not an exception.

        Raises:
            TypeError: ``msg`` is not a :class:`Message`.
        """
        if not isinstance(msg, Message):
            raise _not_a_message(msg, "future_request")
        future = self._new_future()
        pending = FutureRequest(msg, _monotonic(), use_mid, future)
        self._submit(pending, self._timeout_for(msg, timeout))
        return future

    def callback_request(self, msg, reply_cb=None,
                         inform_cb=None,
                         user_data=None, timeout=None,
                         use_mid=None):
        # type: (Message, Optional[Callable[..., Any]], Optional[Callable[..., Any]], Optional[tuple], Optional[float], Optional[bool]) -> ReplyFuture
        """Send a request; call ``reply_cb``/``inform_cb`` on the reactor thread.

        Callbacks are called as ``cb(msg, *user_data)``. On timeout or
        disconnection ``reply_cb`` gets a synthesised ``!name fail <reason>``
        reply, e.g. ``Request help timed out after 5.0 seconds.``
        (katcp-python's behaviour).

        Returns:
            a :class:`ReplyFuture` that resolves, after the callbacks, with
            ``(reply, informs)`` -- the synthesised reply on failure. Unpacking
            it (``reply, informs = client.callback_request(...)``, as in the
            tutorial) waits for that.
        """
        if not isinstance(msg, Message):
            raise _not_a_message(msg, "callback_request")
        future = self._new_future()
        pending = CallbackRequest(msg, _monotonic(), use_mid, future, reply_cb, inform_cb,
                                   user_data, self._logger)
        self._submit(pending, self._timeout_for(msg, timeout))
        return future

    def blocking_request(self, msg, timeout=None,
                         use_mid=None):
        # type: (Message, Optional[float], Optional[bool]) -> Tuple[Message, List[Message]]
        """Send a request and wait for its reply.

        Args: as :meth:`future_request`.

        Returns:
            ``(reply, informs)``; a failed request is a reply whose first
            argument is not ``ok``.

        Raises:
            KatcpTimeoutError: no reply within ``timeout`` (a
                :class:`RuntimeError`, as the tutorial says).
            KatcpClientDisconnected: not connected, or the connection was
                lost or the client stopped before the reply.
            KatcpVersionError: a message id the device does not support.
            RuntimeError: called on the client's reactor thread (it would
                deadlock).
            TypeError: ``msg`` is not a :class:`Message`.
        """
        if not isinstance(msg, Message):
            raise _not_a_message(msg, "blocking_request")
        if self._on_reactor():
            raise RuntimeError("blocking_request() cannot be called on the client's "
                               "reactor thread (it would deadlock)")
        # (inf, or any timeout too long for threading's waits: None, no limit)
        timeout = compat.wait_timeout(self._timeout_for(msg, timeout))
        # The main thread takes no turn (see BlockingRequest.in_turn).
        pending = BlockingRequest(msg, _monotonic(), use_mid, _get_ident() != _MAIN_IDENT)
        callers = self._blocking_callers
        callers.append(None)
        try:
            if self._submit_and_read(pending, timeout, len(callers) == 1) and timeout is not None:
                timeout = pending.started + timeout - _monotonic()
            waited = pending.wait(timeout)
            writer_waited()    # for a reply: this thread's next request is no burst
            if not waited:
                if self._abandon(pending):
                    raise KatcpTimeoutError(self._timeout_reason(pending))
                pending.wait_delivered()   # the reply won the race
        except BaseException:
            # A timeout, or this thread was interrupted while it waited
            # (KeyboardInterrupt, an exception raised by a signal handler or
            # injected into the thread): either way the request is given up
            # exactly as on a timeout, so nothing of it stays in the table.
            self._abandon(pending)
            pending.leave()
            raise
        finally:
            callers.pop()
        if pending.error is not None:
            raise pending.error
        return pending.reply, pending.informs  # type: ignore[return-value]

    def _submit_and_read(self, pending, timeout,
                         alone):
        # type: (BlockingRequest, Optional[float], bool) -> bool
        """Submit a blocking request; if this caller is ``alone`` on an idle
        client and reading can be borrowed, read on this thread until its
        reply is in, delivering the replies and informs of every blocking
        request met on the way (those of callers that came meanwhile; the
        main thread only its own, as signals such as KeyboardInterrupt
        interrupt it). Returns True if it borrowed."""
        conn = self._conn
        if not (alone and conn is not None and self._may_borrow and self._table.is_idle()
                and conn.borrow_reading()):
            self._submit(pending, None)
            return False
        try:
            if self._submit(pending, None) and conn is self._conn:
                claim = self._claim
                if not pending.in_turn:     # the main thread
                    claim = functools.partial(claim, only=pending)
                self._reading_for = pending
                conn.read_borrowed(claim, pending.finished, timeout, self._wake_read)
        finally:
            # Park only if no other request's reply is on its way.
            conn.return_reading(park=self._table.is_idle())
        return True

    def _timeout_for(self, msg, timeout):
        # type: (Message, Optional[float]) -> float
        """The timeout of request ``msg`` (see :func:`hinted_timeout`)."""
        hints = self.request_timeout_hints
        if timeout is None and hints:
            return hinted_timeout(None, hints.get(msg.name), self.timeout)
        return self.timeout if timeout is None else timeout

    def _new_future(self):
        # type: () -> ReplyFuture
        future = ReplyFuture()
        future._on_reactor = self._on_reactor
        future._on_cancel = self._future_cancelled
        return future

    def _future_cancelled(self, future):
        # type: (ReplyFuture) -> None
        """A request's future was cancelled (any thread): give it up."""
        pending = self._table.find(lambda p: getattr(p, "future", None) is future)
        if pending is not None:
            self._abandon(pending)

    def _submit(self, pending, timeout):
        # type: (PendingRequest, Optional[float]) -> bool
        """Put a request in the table and write it (or fail it). Any thread.

        Returns True if it was written now (not held, queued or failed).
        """
        if pending.msg.mtype != _REQUEST:
            self._fail(pending, KatcpTypeError("not a request: %r" % (pending.msg,)))
            return False
        if timeout is not None and self._table.state != CLOSED:
            pending.timer = self.reactor.call_later(timeout, self._request_timed_out, pending)
        data, error = self._table.submit(pending)
        if error is not None:
            if pending.timer is not None:
                pending.timer.cancel()
            self._fail(pending, error)
        elif data is not None:
            if "send_message" in self.__dict__ or type(self).send_message is not _SEND_MESSAGE:
                return self._send_through_hook(pending)
            self._write(data)
            return True
        return False

    def _send_through_hook(self, pending):
        # type: (PendingRequest) -> bool
        """Send a request with an overridden or mocked :meth:`send_message`.

        As in katcp-python, an exception from it fails the request (a
        callback request's ``reply_cb`` gets ``!name fail <exception>``).
        """
        try:
            self.send_message(pending.msg)
        except Exception as exc:
            claimed, data = self._table.remove(pending)
            if data is not None:
                self._write(data)
            if pending.timer is not None:
                pending.timer.cancel()
            if claimed:
                self._fail(pending, exc)
            return False
        return True

    def _claim(self, line, only=None):
        # type: (Line, Optional[BlockingRequest]) -> bool
        """A borrowed read offers ``line`` (the borrower's thread): take it
        if it is an inform or the reply of a blocking request (``only``'s,
        if given), matched exactly as the reactor would, and deliver it
        (waking the request's caller)."""
        if type(line) is not bytes:
            return False
        try:
            msg = parse(line)
        except KatcpSyntaxError:
            return False    # the reactor logs it
        mtype = msg.mtype
        if mtype == _REPLY:
            taken, data = self._table.match_reply(msg, only, borrowed=True)
            if taken is None:
                return False
            try:
                if data is not None:
                    self._write(data)
                self._log_received(msg)
            finally:
                # Out of the table: whatever happens here, it must be woken
                # (another caller's in turn, once this read's lines are offered).
                if (type(taken) is BlockingRequest and taken.in_turn
                        and taken is not self._reading_for):
                    taken.deliver(msg)
                    self._read_delivered.append(taken)
                else:
                    taken.set_reply(msg)
        elif mtype == _INFORM:
            taken = self._table.match_inform(msg)
            if taken is None or not taken.BORROWABLE or (only is not None and taken is not only):
                return False
            self._log_received(msg)
            self._add_inform(taken, msg)
        else:
            return False
        return True

    def _wake_read(self):
        # type: () -> None
        """A borrowed read offered the lines of one recv(): wake, in turn,
        the callers whose replies were among them (the borrower's thread)."""
        delivered = self._read_delivered
        if delivered:
            wake_in_turn(delivered)
            del delivered[:]

    def _log_received(self, msg):
        # type: (Message) -> None
        if self._logger.isEnabledFor(logging.DEBUG):
            self._logger.debug("Received from %s: %s", self._address_string, msg)

    def _write(self, data):
        # type: (bytes) -> None
        """Write to the connection (any thread), in order with every other
        write. Threads writing at the same time are combined: whoever holds
        the outbox lock writes what the others queued meanwhile, in one
        piece, and they go on without waiting for the connection's lock."""
        outbox = self._outbox
        lock = self._outbox_lock
        if not outbox and lock.acquire(False):
            try:      # nobody else writing: the common case
                conn = self._conn
                if conn is not None:
                    conn.write(data)
            finally:
                lock.release()
        else:
            # With its connection: bytes meant for one never go to the next.
            outbox.append((self._conn, data))
        while outbox and lock.acquire(False):
            try:
                while outbox:
                    conn, data = outbox.popleft()
                    chunks = [data]
                    while outbox and outbox[0][0] is conn:
                        chunks.append(outbox.popleft()[1])
                    if conn is not None:
                        # Other threads' requests, whose callers wait: no
                        # burst of this thread's, so sent now if possible.
                        writer_waited()
                        conn.write(data if len(chunks) == 1 else b"".join(chunks))
            finally:
                lock.release()

    def _fail(self, pending, exc):
        # type: (PendingRequest, BaseException) -> None
        """Fail a request that is out of the table, on the right thread."""
        if (pending.ON_REACTOR and self._running.is_set()
                and not self._on_reactor()
                and self.reactor.add_callback(pending.set_error, exc)):
            return
        pending.set_error(exc)

    def _abandon(self, pending):
        # type: (PendingRequest) -> bool
        """Give a request up (timed out, or its caller went away). Any thread.

        Takes it out of the table and sends the next request of its name
        that was held behind it. Returns False if it was not there any more
        (its reply or failure won the race). Idempotent.
        """
        claimed, data = self._table.remove(pending)
        if data is not None:
            self._write(data)
        if claimed and pending.timer is not None:
            pending.timer.cancel()
        return claimed

    def _request_timed_out(self, pending):
        # type: (PendingRequest) -> None
        if self._abandon(pending):
            pending.set_error(KatcpTimeoutError(self._timeout_reason(pending)))

    def _timeout_reason(self, pending):
        # type: (PendingRequest) -> str
        return "Request %s timed out after %s seconds." % (
            pending.msg.name, format_seconds(_monotonic() - pending.started))

    def _add_inform(self, pending, msg):
        # type: (PendingRequest, Message) -> None
        """Give ``pending`` its inform, unless it has its fill
        (:attr:`MAX_INFORMS_PER_REQUEST`): then fail it. Reactor thread,
        or the thread reading for it."""
        if len(pending.informs) < self.MAX_INFORMS_PER_REQUEST:
            pending.add_inform(msg)
            return
        # A stand-in takes its place, to the end of its timeout: what the
        # device still sends for it is dropped, not taken for the next
        # request of its name (spec 2.3: without ids, names match).
        stand_in = DiscardedRequest(pending, self._logger, self._address_string)
        if not self._table.replace(pending, stand_in):
            return      # its timeout took it out meanwhile: failed already
        timer = pending.timer
        if timer is not None:
            timer.cancel()
            stand_in.timer = self.reactor.call_at(timer.when, self._request_timed_out, stand_in)
        reason = ("%s sent more than %d informs for ?%s (the client's MAX_INFORMS_PER_REQUEST): "
                  "the request failed; the rest of its informs and its reply are dropped"
                  % (self._address_string, self.MAX_INFORMS_PER_REQUEST, pending.msg.name))
        self._logger.error("%s", reason)
        self._fail(pending, KatcpTooManyInformsError(reason))

    def _finish_all(self, taken, exc_factory):
        # type: (List[PendingRequest], Callable[[], BaseException]) -> None
        for pending in taken:
            if pending.timer is not None:
                pending.timer.cancel()
            self._fail(pending, exc_factory())

    # ------------------------------------------------------------------
    # Receiving and dispatch (reactor thread)

    def _lines_received(self, conn, lines):
        # type: (Connection, List[Line]) -> None
        if conn is not self._conn:
            return
        # The blocking callers whose replies come in this batch are woken
        # once it is handled, one after the other (wake_in_turn).
        delivered = []  # type: List[BlockingRequest]
        self._delivered = delivered
        try:
            self._handle_lines(lines)
        finally:
            self._delivered = None
            wake_in_turn(delivered)

    def _handle_lines(self, lines):
        # type: (List[Line]) -> None
        handle = self.handle_message
        for line in lines:
            if type(line) is not bytes:
                if isinstance(line, LineTooLongError):
                    self._bad_line("Line from %s too long: %s", line)
                continue
            try:
                msg = parse(line)
            except KatcpSyntaxError as exc:
                # Spec 2: a client logs bad input and sends nothing back.
                self._bad_line("Malformed message from %s: %s", exc)
                continue
            try:
                handle(msg)
            except Exception:
                self._logger.error("Unhandled exception handling %r from %s:\n%s",
                                   msg, self._address_string, _format_exc(self._tb_limit))

    def _bad_line(self, text, error):
        # type: (str, Exception) -> None
        """Log a bad line from the device (reactor thread): at ERROR up to
        BAD_LINES_LOGGED per connection, then at DEBUG."""
        self._bad_lines += 1
        if self._bad_lines > self.BAD_LINES_LOGGED:
            self._logger.debug(text, self._address_string, error)
            return
        self._logger.error(text, self._address_string, error)
        if self._bad_lines == self.BAD_LINES_LOGGED:
            self._logger.error("Further malformed lines from %s are logged at DEBUG level",
                               self._address_string)

    def handle_message(self, msg):
        # type: (Message) -> None
        """Dispatch a message from the device by type (reactor thread)."""
        self._log_received(msg)
        mtype = msg.mtype
        if mtype == _REPLY:
            self.handle_reply(msg)
        elif mtype == _INFORM:
            self.handle_inform(msg)
        else:
            self.handle_request(msg)

    def handle_reply(self, msg):
        # type: (Message) -> None
        """Deliver a reply to its request, else to ``reply_<name>``/``unhandled_reply``.

        Reactor thread.
        """
        pending, data = self._table.match_reply(msg)
        if data is not None:
            self._write(data)
        if pending is not None:
            if pending.timer is not None:
                pending.timer.cancel()
            delivered = self._delivered
            if delivered is not None and type(pending) is BlockingRequest and pending.in_turn:
                pending.deliver(msg)
                delivered.append(pending)
            else:
                pending.set_reply(msg)
            return
        if msg.mid is not None:
            name = self._table.request_name(msg.mid)
            if name is not None:
                # Spec 2.3: a reply has its request's name. The request keeps
                # waiting for its own reply (or its timeout).
                self._logger.warning("Reply %s from %s has the message id of ?%s: "
                                     "not taken as its reply", msg, self._address_string, name)
        else:
            mid = self._table.mid_waiting_for(msg.name)
            if mid is not None:
                # Spec 2.2: the reply to a request with an id carries that id.
                self._logger.warning("Reply %s from %s has no message id but ?%s[%s] waits "
                                     "for one: not taken as its reply", msg,
                                     self._address_string, msg.name, compat.wire_text(mid))
        self._dispatch(msg, self.unhandled_reply)

    def handle_inform(self, msg):
        # type: (Message) -> None
        """Deliver an inform to its request, else to ``inform_<name>``/``unhandled_inform``
        and the callbacks of :meth:`add_inform_callback`. Reactor thread."""
        pending = self._table.match_inform(msg)
        if pending is not None:
            self._add_inform(pending, msg)
            return
        self._dispatch(msg, self.unhandled_inform)
        callbacks = self._inform_callbacks.get(msg.name)
        if callbacks:
            for callback in callbacks:
                try:
                    callback(msg)
                except Exception:
                    self._logger.error("Inform callback %r for #%s failed:\n%s", callback,
                                       msg.name, _format_exc(self._tb_limit))

    def handle_request(self, msg):
        # type: (Message) -> None
        """Dispatch a request from the device to ``request_<name>``/``unhandled_request``.

        A handler may return a reply :class:`Message`; it is sent with the
        request's message id. Reactor thread.
        """
        reply = self._dispatch(msg, self.unhandled_request)
        if isinstance(reply, Message):
            reply.mid = msg.mid
            self.send_message(reply)

    def _dispatch(self, msg, fallback):
        # type: (Message, Callable[[Message], Any]) -> Any
        key = (msg.mtype, msg.name)
        try:
            method = self._handler_cache[key]
        except KeyError:
            method = getattr(self, _HANDLER_PREFIX[msg.mtype] + msg.name.replace("-", "_"),
                             None)
            self._handler_cache[key] = method
        try:
            return (method or fallback)(msg)
        except Exception:
            self._logger.error("%s handler for %s from %s failed:\n%s",
                               Message.TYPE_NAMES[msg.mtype].capitalize(), msg.name,
                               self._address_string, _format_exc(self._tb_limit))
            return None

    def unhandled_reply(self, msg):
        # type: (Message) -> None
        """Called (reactor thread) for a reply with no handler and no waiting request."""
        self._logger.debug("Unhandled reply from %s: %s", self._address_string, msg)

    def unhandled_inform(self, msg):
        # type: (Message) -> None
        """Called (reactor thread) for an inform with no ``inform_<name>`` handler."""

    def unhandled_request(self, msg):
        # type: (Message) -> None
        """Called (reactor thread) for a request from the device with no handler."""
        self._logger.debug("Unhandled request from %s: %s", self._address_string, msg)


_SEND_MESSAGE = ClientDispatch.send_message
