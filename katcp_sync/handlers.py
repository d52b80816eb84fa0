"""Request/reply handler decorators and the markers the server reads (sans-IO).

:func:`request` unpacks a request message into typed handler arguments,
:func:`return_reply` packs the handler's ``("ok", ...)`` tuple into a reply
:class:`~katcp_sync.message.Message`; :func:`inform`/:func:`unpack_message`
do the unpacking for client ``inform_*``/``reply_*`` handlers and
:func:`send_reply` replies from a callback. They are built with ``wrapt`` so
that a decorated handler keeps its name, docstring (``?help`` shows it) and
``inspect.signature``. Inside a decorated request handler an argument error
becomes ``FailReply("Error in parameter <n> (<name>): <why>")``.

Markers (:func:`concurrent_reply`, :func:`request_timeout_hint`,
:func:`minimum_katcp_version`, :func:`has_katcp_protocol_flags`) only set an
attribute that the server reads; wrapt forwards attribute access, so a
marker is visible through any stack of decorators, in any order. The
attribute names are the constants ``CONCURRENT_REPLY`` ...
``HAS_KATCP_PROTOCOL_FLAGS`` (katcp-python's names).

The types are in :mod:`katcp_sync.argtypes`; :mod:`katcp_sync.kattypes` is
katcp-python's face for both. Stateless; any thread.
"""

from __future__ import absolute_import, division, print_function

import concurrent.futures
from typing import Any, Callable, Iterable, List, Optional, Text, Tuple, TypeVar, Union

import six
import wrapt

from . import compat
from .argtypes import KatcpType, text_of
from .arguments import check_multiple_last, make_reply, unpack_types
from .futures import chain_future
from .message import Message
from .protocol import DEFAULT_KATCP_MAJOR, convert_method_name

__all__ = [
    "request",
    "return_reply",
    "send_reply",
    "inform",
    "unpack_message",
    "concurrent_reply",
    "request_timeout_hint",
    "minimum_katcp_version",
    "has_katcp_protocol_flags",
]

#: A handler function or method (or one already decorated).
Handler = Callable[..., Any]
#: A decorator of handlers.
HandlerDecorator = Callable[[Handler], Handler]
_H = TypeVar("_H", bound=Handler)


def _positional_names(handler, skip):
    # type: (Handler, int) -> List[str]
    """Names of a handler's positional parameters after the first ``skip``.

    A ``*args`` parameter ends the list (its name serves the ``multiple``
    type). The signature is read through wrapt's ``__wrapped__``, so the user's
    names are found under any stack of our decorators.
    """
    return compat.positional_parameters(handler)[skip:]


def _unpacking_decorator(types, has_req,
                         include_msg, major):
    # type: (Tuple[KatcpType, ...], bool, bool, int) -> HandlerDecorator
    """Shared body of :func:`request`, :func:`inform` and :func:`unpack_message`.

    The wrapper is called with the message last: ``(self, [req,] msg)``. Whatever
    comes before the message is passed on unchanged, so the same code serves a
    method called bound (wrapt strips ``self``) or through the class.
    """
    check_multiple_last(types)

    def decorate(handler):
        # type: (Handler) -> Handler
        # Skip self, req and msg when naming the parameters.
        argnames = _positional_names(handler, 1 + has_req + include_msg)

        @wrapt.decorator
        def unpack_arguments(wrapped, instance, args, kwargs):  # type: ignore[no-untyped-def]
            head, msg = list(args[:-1]), args[-1]
            values = unpack_types(types, msg.arguments, argnames, major)
            if include_msg:
                head.append(msg)
            return wrapped(*(head + list(values)), **kwargs)

        decorated = unpack_arguments(handler)  # type: Handler
        if has_req:
            setattr(decorated, "_request_decorated", True)
        return decorated

    return decorate


def request(*types, **kwargs):
    # type: (*KatcpType, **Any) -> HandlerDecorator
    """Decorate a request handler so that it receives typed arguments.

    The server calls the decorated handler as ``handler(self, req, msg)``; the
    handler written by the user is ``request_x(self, req, [msg,] a, b, ...)``
    and receives ``msg.arguments`` unpacked with ``types``. Stacks with
    :func:`return_reply` in either order.

    Args:
        types: one :class:`KatcpType` per argument; only the last may have
            ``multiple=True`` (it then takes all remaining arguments, which the
            handler receives as extra positional arguments).
        include_msg: also pass the request message before the values.
        major: KATCP major version used to interpret the arguments.

    Raises:
        TypeError: at decoration time, ``multiple=True`` on a type that is not last.
        FailReply: at call time, too many arguments, or one missing or invalid.

    Example::

        @request(Float(), Float())
        @return_reply(Float())
        def request_add(self, req, x, y):
            '''Add two numbers.'''
            return ("ok", x + y)
    """
    include_msg = compat.kwonly_pop(kwargs, 'include_msg', False)  # type: bool
    major = compat.kwonly_pop(kwargs, 'major', DEFAULT_KATCP_MAJOR)  # type: int
    compat.kwonly_done('request', kwargs)
    return _unpacking_decorator(types, True, include_msg, major)


def inform(*types, **kwargs):
    # type: (*KatcpType, **Any) -> HandlerDecorator
    """Decorate an inform handler ``inform_x(self, [msg,] a, b, ...)``.

    As :func:`request`, but the handler is called as ``handler(self, msg)``
    (no ``req``).
    """
    include_msg = compat.kwonly_pop(kwargs, 'include_msg', False)  # type: bool
    major = compat.kwonly_pop(kwargs, 'major', DEFAULT_KATCP_MAJOR)  # type: int
    compat.kwonly_done('inform', kwargs)
    return _unpacking_decorator(types, False, include_msg, major)


def unpack_message(*types, **kwargs):
    # type: (*KatcpType, **Any) -> HandlerDecorator
    """Decorate a client ``reply_x``/``inform_x(self, [msg,] a, b, ...)`` handler.

    As :func:`request`, but the handler is called as ``handler(self, msg)``
    (no ``req``). For a reply, the first type is usually ``Str()`` for the
    reply code.
    """
    include_msg = compat.kwonly_pop(kwargs, 'include_msg', False)  # type: bool
    major = compat.kwonly_pop(kwargs, 'major', DEFAULT_KATCP_MAJOR)  # type: int
    compat.kwonly_done('unpack_message', kwargs)
    return _unpacking_decorator(types, False, include_msg, major)


def return_reply(*types, **kwargs):
    # type: (*KatcpType, **Any) -> HandlerDecorator
    """Decorate a request handler so that its return value becomes a reply message.

    The handler returns ``("ok", v1, v2, ...)`` (values packed with ``types``),
    ``("fail", "why")`` or ``("invalid", "why")``; the decorated handler
    returns the reply :class:`Message` (named after ``req.msg.name``, else the
    method name), which the server sends with ``req.reply_with_message``.
    If the handler returns a :class:`concurrent.futures.Future`, the decorated
    handler returns a future of the reply message. Exceptions, including
    :class:`~katcp_sync.errors.AsyncReply` and
    :class:`~katcp_sync.errors.FailReply`, propagate unchanged.

    Args:
        types: the types of the values after ``"ok"``; only the last may have
            ``multiple=True``.
        major: KATCP major version used to format the values.

    Raises:
        ValueError: at decoration time, the method name does not start with
            ``request_``.
        TypeError: at decoration time, ``multiple=True`` on a type that is not last.
        KatcpValueError, KatcpTypeError: at call time, the return value is not
            a valid reply tuple.
    """
    major = compat.kwonly_pop(kwargs, 'major', DEFAULT_KATCP_MAJOR)  # type: int
    compat.kwonly_done('return_reply', kwargs)
    check_multiple_last(types)

    def decorate(handler):
        # type: (Handler) -> Handler
        method_name = handler.__name__
        if not method_name.startswith("request_"):
            raise ValueError("return_reply can only decorate a request handler: the method "
                             "name must start with 'request_' (got %r)." % (method_name,))
        default_name = convert_method_name("request_", method_name)

        @wrapt.decorator
        def build_reply(wrapped, instance, args, kwargs):  # type: ignore[no-untyped-def]
            result = wrapped(*args, **kwargs)
            # req is the first argument after self, which wrapt has removed
            # if the method was called bound.
            req_args = args[:1] if instance is not None else args[1:2]
            msg = getattr(req_args[0], "msg", None) if req_args else None
            msgname = msg.name if isinstance(msg, Message) else default_name
            if isinstance(result, concurrent.futures.Future):
                return chain_future(result, lambda value: make_reply(msgname, types, value, major))
            return make_reply(msgname, types, result, major)

        return build_reply(handler)

    return decorate


def send_reply(*types, **kwargs):
    # type: (*KatcpType, **Any) -> HandlerDecorator
    """Decorate a callback so that its return value is sent as a reply.

    The callback returns ``(req, "ok", v1, ...)`` (or ``(req, "fail", why)``);
    the decorator builds the reply to ``req.msg`` and calls
    ``req.reply_with_message(reply)``. The decorated callback returns ``None``.

    Args:
        types: the types of the values after ``"ok"``.
        major: KATCP major version used to format the values.
    """
    major = compat.kwonly_pop(kwargs, 'major', DEFAULT_KATCP_MAJOR)  # type: int
    compat.kwonly_done('send_reply', kwargs)
    check_multiple_last(types)

    @wrapt.decorator
    def send(wrapped, instance, args, kwargs):  # type: ignore[no-untyped-def]
        result = wrapped(*args, **kwargs)
        req, reply_args = result[0], result[1:]
        req.reply_with_message(make_reply(req.msg.name, types, reply_args, major))

    return send


# ---------------------------------------------------------------------------
# Markers read by the server

#: The attributes the markers set on a handler (katcp-python's names).
CONCURRENT_REPLY = "_concurrent_reply"
REQUEST_TIMEOUT_HINT = "request_timeout_hint"
MINIMUM_KATCP_VERSION = "_minimum_katcp_version"
HAS_KATCP_PROTOCOL_FLAGS = "_has_katcp_protocol_flags"


def concurrent_reply(handler):
    # type: (_H) -> _H
    """Mark a handler whose returned future need not finish before the next request.

    Sets ``handler._concurrent_reply = True``.
    """
    setattr(handler, CONCURRENT_REPLY, True)
    return handler


def request_timeout_hint(timeout_hint):
    # type: (Optional[float]) -> Callable[[_H], _H]
    """Set the timeout hint reported by ``?request-timeout-hint`` (spec 5.1 ``T`` flag).

    Args:
        timeout_hint: seconds (stored as ``float``), or ``None`` for no hint.

    Raises:
        ValueError: the hint is negative.
    """
    if timeout_hint is not None:
        timeout_hint = float(timeout_hint)
        if timeout_hint < 0:
            raise ValueError("A request timeout hint may not be negative (got %r)."
                             % timeout_hint)

    def decorate(handler):
        # type: (_H) -> _H
        setattr(handler, REQUEST_TIMEOUT_HINT, timeout_hint)
        return handler

    return decorate


def minimum_katcp_version(major, minor=0):
    # type: (int, int) -> Callable[[_H], _H]
    """Leave the handler out of servers whose ``PROTOCOL_INFO`` is older than ``major.minor``.

    Sets ``handler._minimum_katcp_version = (major, minor)``.
    """
    version = (major, minor)

    def decorate(handler):
        # type: (_H) -> _H
        setattr(handler, MINIMUM_KATCP_VERSION, version)
        return handler

    return decorate


def has_katcp_protocol_flags(protocol_flags):
    # type: (Union[Iterable[Union[Text, bytes]], Text, bytes]) -> Callable[[_H], _H]
    """Leave the handler out of servers whose ``PROTOCOL_INFO`` lacks any of these flags.

    Args:
        protocol_flags: flag characters (``"M"``, ``b"I"``, ``ProtocolFlags.MULTI_CLIENT``,
            or a string such as ``"MI"``).

    Sets ``handler._has_katcp_protocol_flags`` to the list of one-character ``str`` flags.
    """
    if isinstance(protocol_flags, (str, six.text_type, bytes)):
        protocol_flags = [protocol_flags]
    flags = [char for flag in protocol_flags for char in text_of(flag)]

    def decorate(handler):
        # type: (_H) -> _H
        setattr(handler, HAS_KATCP_PROTOCOL_FLAGS, flags)
        return handler

    return decorate
