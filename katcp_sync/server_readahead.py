"""The worker's read-ahead: the dispatcher's fast path for a client that
waits for each reply before it sends its next request.

A worker that has just replied to such a client, with the client's
reading borrowed (see :mod:`katcp_sync.borrow`), waits a little
(``read_ahead``, learnt per client in ``Turn.next_wait``) for the next
request and takes it to run itself: no reactor wake-up, no hand-over to
the pool. Anything else it reads goes to the reactor in order, and it
gives way as soon as other work waits. :class:`ReadAhead` is a part of
:class:`~katcp_sync.server_dispatch.Dispatcher` (its base class).
"""

from __future__ import absolute_import, division, print_function

import logging
import select
import threading
from typing import TYPE_CHECKING, Callable, List, Optional, Tuple, Union, cast

from . import compat
from .errors import KatcpSyntaxError, LineTooLongError
from .message import Message, parse
from .reactor import Reactor
from .server_handlers import Handler, HandlerTable
from .server_turn import Turn
from .workers import HandlerPool

if TYPE_CHECKING:   # the dispatcher's clients; only their type is needed here
    from .server_connection import ClientConnection

__all__ = ["ReadAhead"]

_REQUEST = Message.REQUEST
_Item = Tuple[Message, Handler]

#: What a chunk of several lines counts as in Turn.next_wait, in read-ahead times:
#: a client that pipelines does not wait for each reply, so nobody should
#: wait for its next request (the reactor reads its batches).
_PIPELINING = 16.0
#: What a wait ended by other work counts as, in read-ahead times: with other
#: clients busy the worker is needed elsewhere, and a wait that ends at
#: once costs more (borrowing, and the GIL going to the reactor) than it saves.
_CROWDED = 64.0
#: Longest gap between requests that counts in Turn.next_wait, in read-ahead
#: times: a client back from a long pause is followed again after a few requests.
_LONGEST_GAP = 4.0


class ReadAhead(object):
    """The read-ahead half of :class:`~katcp_sync.server_dispatch.Dispatcher`
    (its base class); the attributes below are the dispatcher's. Its
    methods run on a worker thread that holds the client's turn."""

    if TYPE_CHECKING:  # pragma: no cover
        # What this half uses of Dispatcher, for the type checker only.
        handlers = cast(HandlerTable, None)  # type: HandlerTable
        reactor = None  # type: Optional[Reactor]
        pool = None  # type: Optional[HandlerPool]
        _hooked = False
        _mids = False
        _logger = cast(logging.Logger, None)  # type: logging.Logger
        _tls = cast(threading.local, None)  # type: threading.local

    def _follows(self, client, turn):
        # type: ("ClientConnection", Turn) -> bool
        """Whether the worker should wait for this client's next request:
        a pool, no hook, and a client that has lately sent its requests
        within ``read_ahead`` of the replies (measured since the turn went idle)."""
        pool = self.pool
        if pool is None or self._hooked or pool.has_waiting():
            return False
        wait = client.read_ahead
        if turn.idle_since:
            turn.note_wait(min(compat.monotonic() - turn.idle_since, _LONGEST_GAP * wait))
            turn.idle_since = 0.0
        return turn.next_wait < wait

    def _read_next(self, client):
        # type: ("ClientConnection") -> Optional[_Item]
        """The fast path: a worker that has replied with the client's reading
        borrowed (so that the reactor does not take the next request first)
        waits up to ``read_ahead`` (spinning first, as the connection's
        ``spin_time`` says) for the client's next request and takes it to
        run here, saving the reactor's wake-up and the hand-over to a
        worker. Anything else it reads -- a second line (the client
        pipelines), an inform, a malformed line -- goes to the reactor, in
        order, as if the reactor had read it. It stops as soon as other
        work waits for the pool or the reactor (whose descriptor it polls
        with the client's socket), and gives reading back in any case.
        Returns the request taken (its turn claimed) or None.
        """
        turn = client.turn
        pool = self.pool
        assert pool is not None
        wait = client.read_ahead
        start = compat.monotonic()
        taken = []  # type: List[Optional[_Item]]
        handlers = self.handlers
        mids = self._mids
        debug = self._logger.isEnabledFor(logging.DEBUG)
        other_work = [False]

        def claim(line):
            # type: (Union[bytes, LineTooLongError]) -> bool
            if taken:
                turn.note_wait(_PIPELINING * wait)  # a second line: the client pipelines
                return False
            if type(line) is not bytes:
                return False
            try:
                msg = parse(line)
            except KatcpSyntaxError:
                return False
            if msg.mtype != _REQUEST:
                return False
            if not mids:
                msg.mid = None
            if debug:
                self._logger.debug("%s: %s", client.address, msg)
            turn.note_wait(compat.monotonic() - start)
            handler = handlers.requests.get(msg.name) or handlers.unknown
            # Nobody else reads, so the turn is free: it is ours.
            taken.append((msg, handler) if turn.claim(msg, handler, True) else None)
            return True

        def crowded():
            # type: () -> bool
            # Other work waits: a spinning worker keeps the GIL from the
            # reactor, a waiting one itself from the pool.
            return other_work[0] or pool.has_waiting()

        def done():
            # type: () -> bool
            return bool(taken) or crowded()

        try:
            # Inside the try: reading must go back (and a connection the
            # reactor finished meanwhile be closed) whatever happens here.
            poller = self._poller()
            if poller is None:
                other_work[0] = True  # the reactor has closed: the server stops
            else:
                self._read_borrowed(client, poller, claim, done, other_work)
        finally:
            client.return_reading()
        if taken:
            return taken[0]
        if crowded():
            turn.note_wait(_CROWDED * wait)  # the worker is needed elsewhere
        else:
            turn.idle_since = start  # the gap is measured when the request comes
        return None

    def _read_borrowed(self, client, poller, claim, done, other_work):
        # type: ("ClientConnection", "select.poll", Callable[[Union[bytes, LineTooLongError]], bool], Callable[[], bool], List[bool]) -> None
        """:meth:`_read_next`'s read, unless work waits already: ``poller``
        watches the client's socket too meanwhile, and any other descriptor
        ready sets ``other_work``."""
        pool = self.pool
        assert pool is not None
        client_fd = client.fileno()

        def poll(timeout):
            # type: (Optional[int]) -> List[Tuple[int, int]]
            events = poller.poll(timeout)
            for fd, _ in events:
                if fd != client_fd:
                    other_work[0] = True
            return events

        if client.turn.busy or pool.has_waiting() or poll(0):
            return
        poller.register(client_fd, select.POLLIN)
        pool.watch()
        try:
            client.read_borrowed(claim, done, poll)
        finally:
            pool.unwatch()
            poller.unregister(client_fd)

    def _poller(self):
        # type: () -> Optional["select.poll"]
        """This thread's ``poll`` object watching for other work: the
        reactor's descriptor (readable while it has I/O to handle) and the
        pool's signal (see :meth:`HandlerPool.watch
        <katcp_sync.workers.HandlerPool.watch>`). None once the reactor
        has closed its selector (the server stopped after this worker's reply)."""
        tls = self._tls
        key = (self.reactor, self.pool)
        if getattr(tls, "poller_key", None) != key:
            assert self.reactor is not None and self.pool is not None
            try:
                fds = (self.reactor.fileno(), self.pool.signal_fileno())
            except (ValueError, OSError):
                return None  # "I/O operation on closed epoll fd"
            poller = select.poll()
            for fd in fds:
                if fd >= 0:
                    poller.register(fd, select.POLLIN)
            tls.poller_key, tls.poller = key, poller
        return tls.poller
