"""Lists of KATCP arguments: pack and unpack them with a list of types, build replies (sans-IO).

:func:`unpack_types` turns a message's raw arguments into values (a missing
or invalid one becomes ``FailReply("Error in parameter <n> (<name>): <why>")``,
which a request handler's caller sends as a ``fail`` reply);
:func:`pack_types` formats values; :func:`make_reply` turns a handler's
``("ok", ...)`` tuple into a reply :class:`~katcp_sync.message.Message`. The
handler decorators (:mod:`katcp_sync.handlers`) are built on these. Stateless;
any thread.
"""

from __future__ import absolute_import, division, print_function

from typing import Any, Dict, List, Optional, Sequence, Tuple

from . import compat
from .argtypes import KatcpType, Str, text_of, show_value
from .errors import FailReply, KatcpTypeError, KatcpValueError
from .message import Message
from .protocol import DEFAULT_KATCP_MAJOR

__all__ = ["Parameter", "pack_types", "unpack_types", "make_reply"]


class Parameter(object):
    """One handler parameter: its position, name and type, for error messages.

    Args:
        position: 1-based position in the message arguments.
        name: the handler's parameter name (``""`` if unknown).
        kattype: the :class:`KatcpType`.
        major: KATCP major version of the peer.

    Immutable: any thread may read it.
    """

    def __init__(self, position, name, kattype,
                 major=DEFAULT_KATCP_MAJOR):
        # type: (int, str, KatcpType, int) -> None
        self.position = position
        self.name = name
        self._kattype = kattype
        self.major = major

    def pack(self, value):
        # type: (Any) -> bytes
        """Pack ``value`` with the parameter's type (see :meth:`KatcpType.pack`)."""
        return self._kattype.pack(value, major=self.major)

    def unpack(self, value):
        # type: (Optional[bytes]) -> Any
        """Unpack an argument (``None`` if missing) with the parameter's type.

        Raises:
            FailReply: ``"Error in parameter <n> (<name>): <why>"``.
        """
        try:
            return self._kattype.unpack(value, self.major)
        except (ValueError, KatcpTypeError) as error:
            raise compat.chained(FailReply("Error in parameter %d (%s): %s"
                            % (self.position, self.name, error)), None)


def check_multiple_last(types):
    # type: (Sequence[KatcpType]) -> None
    """Check that only the last of ``types`` takes multiple arguments.

    Raises:
        TypeError: another one does (a decorator's types are wrong).
    """
    for kattype in types[:-1]:
        if kattype.multiple:
            raise TypeError("Only the last parameter type can accept multiple arguments.")


def _takes_rest(types):
    # type: (Sequence[KatcpType]) -> bool
    return bool(types) and types[-1].multiple


def unpack_types(types, args,
                 argnames, major=DEFAULT_KATCP_MAJOR):
    # type: (Sequence[KatcpType], Sequence[bytes], Sequence[str], int) -> List[Any]
    """Unpack message arguments with a list of types.

    Missing arguments take their type's default (``None`` if optional);
    a last type with ``multiple=True`` takes all remaining arguments.

    Args:
        types: the types, in order.
        args: the raw arguments (``bytes``).
        argnames: handler parameter names, for error messages.
        major: KATCP major version of the peer.

    Returns:
        The list of values.

    Raises:
        FailReply: too many arguments (``"Too many parameters given."``), or
            one is missing or invalid (``"Error in parameter ..."``).
    """
    if len(args) > len(types) and not _takes_rest(types):
        raise FailReply("Too many parameters given.")
    values = []
    for i in range(max(len(types), len(args))):
        type_index = min(i, len(types) - 1)
        name = argnames[type_index] if type_index < len(argnames) else ""
        arg = args[i] if i < len(args) else None
        values.append(Parameter(i + 1, name, types[type_index], major).unpack(arg))
    return values


def pack_types(types, args,
               major=DEFAULT_KATCP_MAJOR):
    # type: (Sequence[KatcpType], Sequence[Any], int) -> List[bytes]
    """Pack values with a list of types.

    A missing value takes its type's default; missing values of optional
    types without a default are left out (only at the end).

    Args:
        types: the types, in order; a last type with ``multiple=True`` packs
            all remaining values.
        args: the values.
        major: KATCP major version of the peer.

    Returns:
        The list of packed arguments (``bytes``).

    Raises:
        KatcpValueError, KatcpTypeError: too many values, or one is invalid
            (the message names its position).
    """
    if len(args) > len(types) and not _takes_rest(types):
        raise KatcpValueError("Too many arguments to pack: %d values for %d types."
                              % (len(args), len(types)))
    packed = []
    for i in range(max(len(types), len(args))):
        kattype = types[min(i, len(types) - 1)]
        if i >= len(args) and kattype.optional and kattype.default is None:
            break
        value = args[i] if i < len(args) else None
        try:
            packed.append(kattype.pack(value, major=major))
        except (KatcpValueError, KatcpTypeError) as error:
            raise compat.chained(type(error)("Cannot pack value %d (%s) as %s: %s"
                              % (i + 1, show_value(value), kattype.name, error)), None)
    return packed


_REPLY_CODE = Str()
_STATUS_TYPES = {
    "ok": None,  # (_REPLY_CODE,) + the decorator's types
    "fail": (_REPLY_CODE, Str()),
    "invalid": (_REPLY_CODE, Str()),
}  # type: Dict[str, Optional[Tuple[KatcpType, ...]]]


def make_reply(msgname, types, arguments,
               major=DEFAULT_KATCP_MAJOR):
    # type: (str, Sequence[KatcpType], Sequence[Any], int) -> Message
    """Build a reply message from a handler's return value.

    Args:
        msgname: the request name.
        types: the types of the values after ``"ok"``.
        arguments: ``("ok", v1, v2, ...)``, ``("fail", "why")`` or
            ``("invalid", "why")`` (codes may also be ``bytes``).
        major: KATCP major version of the peer.

    Returns:
        A reply :class:`Message` without a message id (the server copies the
        request's id when sending it with ``req.reply_with_message``).

    Raises:
        KatcpValueError, KatcpTypeError: the return value is not such a tuple,
            or a value does not fit its type.
    """
    try:
        code = text_of(arguments[0])
        reply_types = _STATUS_TYPES[code]
    except (TypeError, IndexError, KeyError):
        raise compat.chained(KatcpValueError("A reply handler must return a tuple starting with 'ok', "
                              "'fail' or 'invalid', not %s" % show_value(arguments)), None)
    if reply_types is None:
        reply_types = (_REPLY_CODE,) + tuple(types)
    return Message.reply(msgname, *pack_types(reply_types, arguments, major))
