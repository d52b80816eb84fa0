"""The implementation of :mod:`katcp_sync.annotated` (Python 3 syntax).

Only :mod:`katcp_sync.annotated` imports it, and only on Python 3; see that
module for what it does.
"""

import concurrent.futures
import enum
import inspect
import typing
from typing import Any, Callable, Dict, List, Tuple, Type

import wrapt

from . import compat
from .argtypes import Bool, Discrete, Float, Int, KatcpType, Str
from .futures import chain_future
from .handlers import Handler, request, return_reply
from .protocol import DEFAULT_KATCP_MAJOR

__all__ = ["annotated_request"]


class _Bytes(Str):
    """A string argument kept as the raw bytes of the wire."""

    def decode(self, value: bytes, major: int) -> bytes:  # type: ignore[override]
        return value


class _EnumType(Discrete):
    """A discrete value that is a member of an :class:`enum.Enum`."""

    def __init__(self, enum_class: Type[enum.Enum], **kwargs: Any) -> None:
        self._by_name = {_wire_name(member): member for member in enum_class}
        super().__init__(list(self._by_name), **kwargs)

    def encode(self, value: object, major: int) -> bytes:
        return super().encode(_wire_name(value) if isinstance(value, enum.Enum) else value,
                              major)

    def decode(self, value: bytes, major: int) -> enum.Enum:  # type: ignore[override]
        return self._by_name[super().decode(value, major)]

    def check(self, value: Any, major: int = DEFAULT_KATCP_MAJOR) -> None:
        super().check(_wire_name(value) if isinstance(value, enum.Enum) else value, major)


def _wire_name(member: enum.Enum) -> str:
    return member.name.lower().replace("_", "-")


_SIMPLE_TYPES: Dict[object, Callable[..., KatcpType]] = {
    int: Int, float: Float, bool: Bool, str: Str, bytes: _Bytes}


def _katcp_type(hint: object, where: str, **kwargs: Any) -> KatcpType:
    """The KATCP type for annotation ``hint`` (``where`` names it in errors)."""
    if compat.get_origin(hint) is typing.Union:
        members = [arg for arg in compat.get_args(hint) if arg is not type(None)]
        if len(members) == 1 and len(compat.get_args(hint)) == 2:
            kwargs["optional"] = True
            return _katcp_type(members[0], where, **kwargs)
    if hint in _SIMPLE_TYPES:
        return _SIMPLE_TYPES[hint](**kwargs)
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return _EnumType(hint, **kwargs)
    raise TypeError("%s: annotation %r is not supported (int, float, bool, str, bytes, "
                    "an Enum, Optional[...] or Tuple[...] of them)" % (where, hint))


def _argument_types(handler: Handler, hints: Dict[str, object]) -> List[KatcpType]:
    types = []
    for param in list(inspect.signature(handler).parameters.values())[2:]:  # self, req
        where = "%s(): parameter %r" % (handler.__name__, param.name)
        if param.name not in hints:
            raise TypeError("%s needs a type annotation" % (where,))
        if param.kind is param.VAR_POSITIONAL:
            types.append(_katcp_type(hints[param.name], where, multiple=True))
            break
        if param.kind not in (param.POSITIONAL_ONLY, param.POSITIONAL_OR_KEYWORD):
            raise TypeError("%s: only positional parameters become request arguments"
                            % (where,))
        if param.default is param.empty:
            types.append(_katcp_type(hints[param.name], where))
        else:
            types.append(_katcp_type(hints[param.name], where, default=param.default,
                                     optional=True))
    return types


def _return_types(handler: Handler, hints: Dict[str, object],
                  ) -> Tuple[List[KatcpType], bool]:
    """The types of the reply's values, and whether the handler returns a tuple."""
    hint = hints.get("return", type(None))
    where = "%s(): return annotation" % (handler.__name__,)
    if hint is None or hint is type(None):
        return [], False
    if compat.get_origin(hint) in (tuple, Tuple):
        return [_katcp_type(arg, where) for arg in compat.get_args(hint)], True
    return [_katcp_type(hint, where)], False


def annotated_request(handler: Handler) -> Handler:
    """Type a request handler ``request_x(self, req, a: T, ...) -> R`` by its annotations.

    See the module docstring for the annotations understood.

    Raises:
        TypeError: at decoration time, a parameter without an annotation or
            with one that is not supported.
        ValueError: at decoration time, the name does not start with ``request_``.
    """
    hints = typing.get_type_hints(handler)
    types = _argument_types(handler, hints)
    reply_types, returns_tuple = _return_types(handler, hints)

    def reply_tuple(result: Any) -> Tuple[Any, ...]:
        if not reply_types:
            return ("ok",)
        return ("ok",) + (tuple(result) if returns_tuple else (result,))

    @wrapt.decorator
    def values_to_reply(wrapped, instance, args, kwargs):  # type: ignore[no-untyped-def]
        result = wrapped(*args, **kwargs)
        if isinstance(result, concurrent.futures.Future):
            return chain_future(result, reply_tuple)
        return reply_tuple(result)

    return request(*types)(return_reply(*reply_types)(values_to_reply(handler)))

