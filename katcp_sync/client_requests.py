"""The table of a client's outstanding requests (sans-IO, thread-safe).

Theory of operation
-------------------
Every request made through a client's request APIs becomes a
:class:`PendingRequest` in one :class:`RequestTable`. The table decides three
things, all under one lock:

* **When a message may be sent.** The table is *closed* (no connection:
  requests fail at once), *holding* (a connection is being made or its
  protocol is not known yet: requests wait in order) or *open* (requests are
  registered and their wire bytes returned to the caller to write).
* **Which message id a request gets.** Ids count up from 1 and wrap after
  2**31-1 (spec 2.2); they are used when the server announced flag ``I`` or
  the caller asked for one.
* **Which request a reply or inform belongs to.** By message id and name
  when there is an id: spec 2.3 makes a request's informs and reply share
  its name, so ``!help[9]`` is not the reply to ``?watchdog[9]`` (it is
  left for the client's handlers, and the request keeps waiting for its
  own). Without ids, only the message name links a reply to its request
  (spec 2.3), so requests of the same name are *serialised*: only the oldest
  is on the wire, the next is sent when it finishes. That way informs can
  never be attributed to the wrong request, even when the server answers
  out of order.

The table never touches a socket or calls user code: its methods return the
bytes to write and the requests to finish, and the client does the rest
outside the lock. :class:`PendingRequest` subclasses vary only the edge --
how a finished request reports (a lock for ``blocking_request``, a
``concurrent.futures.Future``, callbacks on the reactor thread).
"""

from __future__ import absolute_import, division, print_function

import collections
import logging
import threading
from typing import Any, Callable, Deque, Dict, Iterator, List, Optional, Tuple

from .compat import Future, InvalidStateError, TimedLock, wait_timeout
from .errors import KatcpClientDisconnected, KatcpVersionError
from .message import MAX_MID, Message
from .reactor import TimerHandle

__all__ = [
    "PendingRequest", "BlockingRequest", "FutureRequest", "CallbackRequest", "UntrackedMessage",
    "DiscardedRequest",
    "wake_in_turn",
    "RequestTable", "ReplyFuture", "CLOSED", "HOLDING", "OPEN",
]

#: Table states.
CLOSED, HOLDING, OPEN = "closed", "holding", "open"

_REQUEST = Message.REQUEST


class ReplyFuture(Future):
    """A ``concurrent.futures.Future`` of ``(reply, informs)``.

    It may also be unpacked directly, ``reply, informs = future``, which waits
    for the result (this is what katcp-python's tutorial does with the value
    of ``callback_request``). Unpacking on the client's reactor thread would
    deadlock, so it raises :class:`RuntimeError` there.
    """

    #: Set by the client: returns True on its reactor thread.
    _on_reactor = None  # type: Optional[Callable[[], bool]]
    #: Set by the client: gives up the request of a cancelled future.
    _on_cancel = None  # type: Optional[Callable[["ReplyFuture"], Any]]

    def cancel(self):
        # type: () -> bool
        """Cancel the future and give its request up, as on a timeout (it
        leaves the client's table; no callback is called). Returns False if
        the reply or failure is already in."""
        cancelled = super(ReplyFuture, self).cancel()
        on_cancel = self._on_cancel
        if cancelled and on_cancel is not None:
            self._on_cancel = None
            on_cancel(self)
        return cancelled

    def __iter__(self):
        # type: () -> Iterator[Any]
        if not self.done() and self._on_reactor is not None and self._on_reactor():
            raise RuntimeError("cannot wait for a reply on the client's reactor thread")
        return iter(self.result())


class PendingRequest(object):
    """A request waiting for its reply. Subclasses decide how it reports.

    Attributes:
        msg: the request :class:`Message` (its ``mid`` is set once sent).
        informs: the informs received for it so far.
        timer: a reactor timer handle that times it out, or ``None``.
        started: reactor time at which it was made.
        use_mid: the caller's ``use_mid`` (``None``: if the server supports ids).

    Threads: made on the requesting thread; its informs and reply are
    delivered on the reactor thread (or, for a :attr:`BORROWABLE` request,
    on the thread reading for it); :attr:`ON_REACTOR` says where
    :meth:`set_error` must run.
    """

    __slots__ = ("msg", "informs", "timer", "started", "use_mid")

    #: True if :meth:`set_error` must run on the reactor thread (it calls
    #: user callbacks there).
    ON_REACTOR = False

    #: True if any thread may deliver its reply and informs (a borrowed read
    #: on a caller's thread), not only the reactor (whose thread callbacks
    #: expect).
    BORROWABLE = False

    #: False for messages that only pass through the table to keep their
    #: order and get a message id (``DeviceClient.request``/``send_message``):
    #: they are sent but not kept, so their replies go to the handlers.
    TRACKED = True

    def __init__(self, msg, started, use_mid):
        # type: (Message, float, Optional[bool]) -> None
        self.msg = msg
        self.informs = []  # type: List[Message]
        self.timer = None  # type: Optional[TimerHandle]
        self.started = started
        self.use_mid = use_mid

    def add_inform(self, msg):
        # type: (Message) -> None
        """Record an inform that belongs to this request (reactor thread)."""
        self.informs.append(msg)

    def set_reply(self, reply):
        # type: (Message) -> None
        """The reply arrived (reactor thread). Called at most once."""
        raise NotImplementedError

    def set_error(self, exc):
        # type: (BaseException) -> None
        """The request failed with ``exc`` (any thread). Called at most once."""
        raise NotImplementedError


class RequestTable(object):
    """Outstanding requests of one client, matched to replies and informs.

    Every method is thread-safe. See the module docstring for the rules.
    """

    def __init__(self):
        # type: () -> None
        self._lock = threading.Lock()
        self._state = CLOSED
        self._server_ids = False
        self._last_mid = 0
        self._by_mid = {}  # type: Dict[bytes, PendingRequest]
        self._by_name = {}  # type: Dict[str, Deque[PendingRequest]]
        self._held = []  # type: List[PendingRequest]
        self._closed_error = lambda: KatcpClientDisconnected(
            "not connected")  # type: Callable[[], BaseException]

    # -- state --------------------------------------------------------------

    @property
    def state(self):
        # type: () -> str
        """:data:`CLOSED`, :data:`HOLDING` or :data:`OPEN`."""
        return self._state

    @property
    def server_ids(self):
        # type: () -> bool
        """Whether requests get message ids by default and may carry them
        (the server announced flag ``I``). Set by :meth:`open`; settable
        (any thread) for requests made from then on."""
        return self._server_ids

    @server_ids.setter
    def server_ids(self, server_ids):
        # type: (bool) -> None
        with self._lock:
            self._server_ids = bool(server_ids)

    def next_mid(self):
        # type: () -> bytes
        """Allocate a message id: 1, 2, ... wrapping after 2**31-1 (spec 2.2)."""
        with self._lock:
            return self._allocate_mid()

    def hold(self):
        # type: () -> None
        """A connection is being made: queue new requests until :meth:`open`."""
        with self._lock:
            if self._state == CLOSED:
                self._state = HOLDING

    def open(self, server_ids):
        # type: (bool) -> bytes
        """The protocol is known: register held requests and accept new ones.

        Args:
            server_ids: the server supports message ids (flag ``I``).

        Returns:
            the wire bytes of the held requests, to be written in one go.
        """
        with self._lock:
            self._state = OPEN
            self._server_ids = server_ids
            held, self._held = self._held, []
            out = []
            failed = []
            for pending in held:
                try:
                    data = self._register(pending)
                except KatcpVersionError as exc:
                    failed.append((pending, exc))
                    continue
                if data is not None:
                    out.append(data)
        for pending, error in failed:
            pending.set_error(error)
        return b"".join(out)

    def close(self, make_error):
        # type: (Callable[[], BaseException]) -> List[PendingRequest]
        """No connection: take every outstanding request out of the table.

        Args:
            make_error: builds the exception for requests made from now on,
                until the next :meth:`hold`/:meth:`open`.

        Returns:
            the requests that were outstanding; the caller fails them.
        """
        with self._lock:
            self._state = CLOSED
            self._closed_error = make_error
            taken = list(self._held)
            self._held = []
            taken.extend(self._by_mid.values())
            self._by_mid = {}
            for queue in self._by_name.values():
                taken.extend(queue)
            self._by_name = {}
        return taken

    # -- requests -------------------------------------------------------------

    def submit(self, pending):
        # type: (PendingRequest) -> Tuple[Optional[bytes], Optional[BaseException]]
        """Add a request.

        Returns:
            ``(data, error)``: ``data`` is the wire form to write now (or
            ``None`` if the request is held or queued behind another of the
            same name); ``error`` is set, and the request not added, when
            the table is closed or the request cannot be sent (a message id
            the server does not support).
        """
        with self._lock:
            state = self._state
            if state == OPEN:
                try:
                    return self._register(pending), None
                except KatcpVersionError as exc:
                    return None, exc
            if state == HOLDING:
                self._held.append(pending)
                return None, None
            return None, self._closed_error()

    def remove(self, pending):
        # type: (PendingRequest) -> Tuple[bool, Optional[bytes]]
        """Take a request out, e.g. because it timed out.

        Returns:
            ``(claimed, data)``: ``claimed`` is False if the request had
            already finished (its reply won the race); ``data`` is the wire
            form of the next request of the same name, to be written now.
        """
        with self._lock:
            mid = pending.msg.mid
            if mid is not None and self._by_mid.get(mid) is pending:
                del self._by_mid[mid]
                return True, None
            queue = self._by_name.get(pending.msg.name)
            if queue:
                if queue[0] is pending:
                    return True, self._pop_head(pending.msg.name, queue)
                try:
                    queue.remove(pending)
                except ValueError:
                    pass
                else:
                    return True, None
            try:
                self._held.remove(pending)
            except ValueError:
                return False, None
            return True, None

    def match_reply(self, msg, only=None,
                    borrowed=False):
        # type: (Message, Optional[PendingRequest], bool) -> Tuple[Optional[PendingRequest], Optional[bytes]]
        """Find and take out the request a reply answers.

        Args:
            msg: the reply.
            only: if given, take the request out only if it is this one.
            borrowed: a borrowed read (not the reactor) asks: take the
                request out only if it is :attr:`~PendingRequest.BORROWABLE`.

        Returns:
            ``(pending, data)``: ``pending`` is ``None`` if no outstanding
            request matches, or the match may not be taken (the table is
            then left as it is); ``data`` is the next same-name request to
            write.
        """
        with self._lock:
            mid = msg.mid
            if mid is not None:
                pending = self._by_mid.get(mid)
                if (pending is None or pending.msg.name != msg.name
                        or (only is not None and pending is not only)
                        or (borrowed and not pending.BORROWABLE)):
                    return None, None
                del self._by_mid[mid]
                return pending, None
            queue = self._by_name.get(msg.name)
            if (not queue or (only is not None and queue[0] is not only)
                    or (borrowed and not queue[0].BORROWABLE)):
                return None, None
            pending = queue[0]
            return pending, self._pop_head(msg.name, queue)

    def match_inform(self, msg):
        # type: (Message) -> Optional[PendingRequest]
        """Return the outstanding request an inform belongs to, or ``None``."""
        with self._lock:
            mid = msg.mid
            if mid is not None:
                pending = self._by_mid.get(mid)
                if pending is not None and pending.msg.name != msg.name:
                    return None
                return pending
            queue = self._by_name.get(msg.name)
            return queue[0] if queue else None

    def replace(self, pending, stand_in):
        # type: (PendingRequest, PendingRequest) -> bool
        """Put ``stand_in`` in the place of the registered request
        ``pending``: the informs and reply meant for ``pending`` now match
        ``stand_in``. Returns False, changing nothing, if ``pending`` is not
        registered (any more: its reply or timeout won)."""
        with self._lock:
            mid = pending.msg.mid
            if mid is not None and self._by_mid.get(mid) is pending:
                self._by_mid[mid] = stand_in
                return True
            queue = self._by_name.get(pending.msg.name)
            if queue:
                for index, queued in enumerate(queue):
                    if queued is pending:
                        queue[index] = stand_in
                        return True
        return False

    def find(self, match):
        # type: (Callable[[PendingRequest], bool]) -> Optional[PendingRequest]
        """The first outstanding request for which ``match`` is true, or None.

        A scan of the whole table: for rare events (a cancelled future).
        ``match`` must be quick and not call back into the table."""
        with self._lock:
            for pending in self._held:
                if match(pending):
                    return pending
            for pending in self._by_mid.values():
                if match(pending):
                    return pending
            for queue in self._by_name.values():
                for pending in queue:
                    if match(pending):
                        return pending
        return None

    def request_name(self, mid):
        # type: (bytes) -> Optional[str]
        """The name of the outstanding request with message id ``mid``, or None."""
        with self._lock:
            pending = self._by_mid.get(mid)
            return None if pending is None else pending.msg.name

    def mid_waiting_for(self, name):
        # type: (str) -> Optional[bytes]
        """The message id of an outstanding request named ``name`` sent with
        one, or None. A scan: for a reply that matched nothing."""
        with self._lock:
            for mid, pending in self._by_mid.items():
                if pending.msg.name == name:
                    return mid
        return None

    def is_idle(self):
        # type: () -> bool
        """True if no request is outstanding. Any thread, without the lock:
        a hint that may be stale by the time the caller acts on it."""
        return not (self._by_mid or self._by_name or self._held)

    def __len__(self):
        # type: () -> int
        with self._lock:
            return (len(self._by_mid) + len(self._held)
                    + sum(len(q) for q in self._by_name.values()))

    # -- internals (lock held) -------------------------------------------------

    def _allocate_mid(self):
        # type: () -> bytes
        mid = self._last_mid + 1
        if mid > MAX_MID:
            mid = 1
        self._last_mid = mid
        return b"%d" % mid

    def _register(self, pending):
        # type: (PendingRequest) -> Optional[bytes]
        msg = pending.msg
        if msg.mtype != _REQUEST:
            return msg.encode()      # an untracked reply or inform: sent as it is
        mid = msg.mid
        use_mid = pending.use_mid
        if mid is not None or use_mid:
            if not self._server_ids:
                raise KatcpVersionError("the server does not support message ids")
        elif use_mid is None:
            use_mid = self._server_ids
        if mid is None and use_mid:
            mid = self._allocate_mid()
            while mid in self._by_mid:  # only after a wrap with a 2**31-old request
                mid = self._allocate_mid()
            if pending.TRACKED:
                # The caller's message is left alone: it may be reused, even
                # by several threads at once.
                msg = pending.msg = msg.copy()
            msg.mid = mid
        if not pending.TRACKED:
            return msg.encode()
        if mid is not None:
            self._by_mid[mid] = pending
            return msg.encode()
        queue = self._by_name.get(msg.name)
        if queue is None:
            self._by_name[msg.name] = collections.deque([pending])
            return msg.encode()
        queue.append(pending)
        return None

    def _pop_head(self, name, queue):
        # type: (str, Deque[PendingRequest]) -> Optional[bytes]
        queue.popleft()
        if queue:
            return queue[0].msg.encode()
        del self._by_name[name]
        return None


# ---------------------------------------------------------------------------
# How a finished request reports: the edges of one mechanism.

class BlockingRequest(PendingRequest):
    """Reports to one waiting thread through a pre-acquired lock (cheapest).

    Replies that arrive together may be delivered *in turn* (see
    :func:`wake_in_turn`): the deliverer stores each reply with
    :meth:`deliver`, and wakes only the first caller; each caller, once
    awake, wakes the next. A woken thread then waits for the GIL behind one
    other thread at most, rather than in a crowd of threads woken at once,
    each put to sleep again on the way.
    """

    __slots__ = ("_done", "reply", "error", "in_turn", "_next", "_gone")

    BORROWABLE = True

    def __init__(self, msg, started, use_mid,
                 in_turn=False):
        # type: (Message, float, Optional[bool], bool) -> None
        super(BlockingRequest, self).__init__(msg, started, use_mid)
        self._done = done = TimedLock()
        done.acquire()
        self.reply = None  # type: Optional[Message]
        self.error = None  # type: Optional[BaseException]
        #: May be woken in turn (not for the main thread: a signal could
        #: interrupt it after it was woken and before it woke the next).
        self.in_turn = in_turn
        self._next = None  # type: Optional["BlockingRequest"]  # whom its caller wakes
        self._gone = False             # its caller stopped waiting (an exception)

    def set_reply(self, reply):
        # type: (Message) -> None
        self.reply = reply
        self._done.release()

    def set_error(self, exc):
        # type: (BaseException) -> None
        self.error = exc
        self._done.release()

    def deliver(self, reply):
        # type: (Message) -> None
        """Store the reply without waking the caller: :func:`wake_in_turn` will."""
        self.reply = reply

    def finished(self):
        # type: () -> bool
        """True once the reply or the error is in (any thread)."""
        return self.reply is not None or self.error is not None

    def wait(self, timeout):
        # type: (Optional[float]) -> bool
        """Wait for the outcome; False on timeout (the requesting thread).
        Once woken, it wakes the next caller of its turn, if any."""
        timeout = wait_timeout(timeout)
        if not self._done.acquire(True, -1 if timeout is None else timeout):
            return False
        if self._next is not None:
            _wake_from(self._next)
        return True

    def wait_delivered(self):
        # type: () -> None
        """Wait for a reply that won the race against the caller's timeout
        (out of the table, so it is in or about to be). One delivered in
        turn is taken without waiting for the turn: a caller never waits
        long past its timeout because of another (requesting thread)."""
        while not self.finished():
            if self.wait(0.001):
                return
        self.leave()

    def leave(self):
        # type: () -> None
        """The caller stops waiting (an exception, or it took its reply
        without its turn): if woken in turn, or when it is, the next caller
        is woken all the same (requesting thread)."""
        self._gone = True
        if self._done.acquire(False) and self._next is not None:
            _wake_from(self._next)


def _wake_from(pending):
    # type: (Optional[BlockingRequest]) -> None
    """Wake ``pending``'s caller; if it has left, the next one instead."""
    while pending is not None:
        pending._done.release()
        # Whoever takes the lock of a caller that left wakes the next: here,
        # or the caller itself in leave() (a lock is taken only once).
        if not (pending._gone and pending._done.acquire(False)):
            return
        pending = pending._next


def wake_in_turn(delivered):
    # type: (List[BlockingRequest]) -> None
    """Wake the callers of ``delivered`` (replies stored with
    :meth:`BlockingRequest.deliver`) one after the other: the first now,
    each of the others by the caller before it, as soon as it is awake."""
    for pending, after in zip(delivered, delivered[1:]):
        pending._next = after
    if delivered:
        _wake_from(delivered[0])


class FutureRequest(PendingRequest):
    """Reports through a :class:`ReplyFuture` of ``(reply, informs)``
    (threads as :class:`PendingRequest`; the future may be waited on from any thread)."""

    __slots__ = ("future",)

    def __init__(self, msg, started, use_mid,
                 future):
        # type: (Message, float, Optional[bool], ReplyFuture) -> None
        super(FutureRequest, self).__init__(msg, started, use_mid)
        self.future = future

    def set_reply(self, reply):
        # type: (Message) -> None
        try:
            self.future.set_result((reply, self.informs))
        except InvalidStateError:
            pass    # cancelled by its owner meanwhile

    def set_error(self, exc):
        # type: (BaseException) -> None
        try:
            self.future.set_exception(exc)
        except InvalidStateError:
            pass


class CallbackRequest(FutureRequest):
    """Calls ``reply_cb``/``inform_cb`` on the reactor thread (katcp-python).

    A failure (timeout, disconnection) reaches ``reply_cb`` as a synthesised
    ``!name fail <reason>`` reply; the future then resolves with it too.
    """

    __slots__ = ("reply_cb", "inform_cb", "user_data", "logger")

    #: set_error must run on the reactor thread, like the callbacks.
    ON_REACTOR = True

    def __init__(self, msg, started, use_mid,
                 future, reply_cb,
                 inform_cb, user_data,
                 logger):
        # type: (Message, float, Optional[bool], ReplyFuture, Optional[Callable[..., Any]], Optional[Callable[..., Any]], Optional[tuple], logging.Logger) -> None
        super(CallbackRequest, self).__init__(msg, started, use_mid, future)
        self.reply_cb = reply_cb
        self.inform_cb = inform_cb
        self.user_data = tuple(user_data) if user_data is not None else ()
        self.logger = logger

    def add_inform(self, msg):
        # type: (Message) -> None
        self.informs.append(msg)
        if self.inform_cb is not None:
            try:
                self.inform_cb(msg, *self.user_data)
            except Exception:
                self.logger.exception("Inform callback for ?%s failed", self.msg.name)

    def set_reply(self, reply):
        # type: (Message) -> None
        if self.reply_cb is not None:
            try:
                self.reply_cb(reply, *self.user_data)
            except Exception:
                self.logger.exception("Reply callback for ?%s failed", self.msg.name)
        try:
            self.future.set_result((reply, self.informs))
        except InvalidStateError:
            pass

    def set_error(self, exc):
        # type: (BaseException) -> None
        self.set_reply(Message.reply(self.msg.name, "fail", str(exc), mid=self.msg.mid))


class UntrackedMessage(PendingRequest):
    """A message sent through the table only for its order and message id
    (threads as :class:`PendingRequest`)."""

    __slots__ = ("logger", "peer")
    TRACKED = False

    def __init__(self, msg, use_mid, logger,
                 peer):
        # type: (Message, Optional[bool], logging.Logger, str) -> None
        super(UntrackedMessage, self).__init__(msg, 0.0, use_mid)
        self.logger = logger
        self.peer = peer

    def set_reply(self, reply):  # never called: not kept in the table
        # type: (Message) -> None
        pass

    def set_error(self, exc):
        # type: (BaseException) -> None
        self.logger.warning("%s: dropped %s %s: %s", self.peer,
                            Message.TYPE_NAMES[self.msg.mtype].lower(), self.msg.name, exc)


class DiscardedRequest(PendingRequest):
    """Stands in for a request that was failed while the device still
    answers it (too many informs): it keeps the request's place in the
    table, so that its further informs and its reply are matched to it
    (and dropped) rather than taken for another request's. Threads as
    :class:`PendingRequest`."""

    __slots__ = ("logger", "peer")

    def __init__(self, failed, logger, peer):
        # type: (PendingRequest, logging.Logger, str) -> None
        super(DiscardedRequest, self).__init__(failed.msg, failed.started, failed.use_mid)
        self.logger = logger
        self.peer = peer

    def add_inform(self, msg):
        # type: (Message) -> None
        pass

    def set_reply(self, reply):
        # type: (Message) -> None
        self.logger.debug("%s: reply to the failed ?%s discarded: %s", self.peer,
                          self.msg.name, reply)

    def set_error(self, exc):
        # type: (BaseException) -> None
        pass
