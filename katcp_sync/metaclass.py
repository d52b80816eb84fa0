"""The dispatch metaclasses: handler tables built from method names.

:class:`DeviceMetaclass` (katcp-python's ``katcp.core.DeviceMetaclass``)
collects a class's ``request_*``, ``inform_*`` and ``reply_*`` methods into
``_request_handlers``, ``_inform_handlers`` and ``_reply_handlers``, keyed by
the KATCP name (underscores become dashes). :class:`DeviceServerMetaclass`
also leaves out handlers whose protocol markers do not fit the class's
``PROTOCOL_INFO``.
"""

from __future__ import absolute_import, division, print_function

import types
from typing import Any, Callable, Dict, Tuple

from .errors import KatcpError
from .handlers import HAS_KATCP_PROTOCOL_FLAGS, MINIMUM_KATCP_VERSION
from .protocol import ProtocolFlags, convert_method_name

__all__ = ["DeviceMetaclass", "DeviceServerMetaclass", "HandlerDocstringError"]


class HandlerDocstringError(KatcpError, TypeError, AssertionError):
    """A handler has no docstring (``?help`` sends a request's docstring).

    A :class:`TypeError`, and an :class:`AssertionError` as katcp-python's
    metaclass raised, so code written for either catches it.
    """


_PREFIXES = (("request_", "_request_handlers"), ("inform_", "_inform_handlers"),
             ("reply_", "_reply_handlers"))


class DeviceMetaclass(type):
    """Collects the ``request_*``, ``inform_*`` and ``reply_*`` handlers.

    ``request_sensor_list`` handles ``?sensor-list``; ``reply_inform`` is a
    method, not a handler. Attributes that are not callable are skipped.
    Request handlers need a non-blank docstring, inform and reply handlers a
    docstring (as in katcp-python); a class without one raises
    :exc:`HandlerDocstringError` when it is defined.

    It runs when a class is defined (the importing thread); the handler
    tables it makes are not changed after, so any thread may read them.
    """

    def __init__(cls, name, bases, dct):
        # type: (str, Tuple[type, ...], Dict[str, Any]) -> None
        super(DeviceMetaclass, cls).__init__(name, bases, dct)
        cls._request_handlers = {}  # type: Dict[str, Callable[..., Any]]
        cls._inform_handlers = {}  # type: Dict[str, Callable[..., Any]]
        cls._reply_handlers = {}  # type: Dict[str, Callable[..., Any]]
        tables = {"_request_handlers": cls._request_handlers,
                  "_inform_handlers": cls._inform_handlers,
                  "_reply_handlers": cls._reply_handlers}
        for attr in dir(cls):
            for prefix, table_name in _PREFIXES:
                if attr.startswith(prefix):
                    break
            else:
                continue
            if attr == "reply_inform":
                continue
            handler = getattr(cls, attr)
            if type(handler) is types.MethodType and handler.__self__ is None:
                handler = handler.__func__  # Python 2's unbound method: the function, as on 3.x
            if not callable(handler) or not cls.check_protocol(handler):
                continue
            doc = handler.__doc__
            if doc is None or (prefix == "request_" and not doc.strip()):
                raise HandlerDocstringError(
                    "%s.%s needs a docstring: ?help sends it to clients" % (name, attr))
            tables[table_name][convert_method_name(prefix, attr)] = handler

    def check_protocol(cls, handler):
        # type: (Callable[..., Any]) -> bool
        """True if ``handler`` belongs in the tables (always, for clients)."""
        return True


class DeviceServerMetaclass(DeviceMetaclass):
    """:class:`DeviceMetaclass` that also filters by ``PROTOCOL_INFO``.

    Handlers marked with ``@minimum_katcp_version`` or
    ``@has_katcp_protocol_flags`` are left out when the class's
    ``PROTOCOL_INFO`` is older or lacks the flags.
    """

    def check_protocol(cls, handler):
        # type: (Callable[..., Any]) -> bool
        """True if the class's ``PROTOCOL_INFO`` satisfies the handler's markers."""
        protocol = getattr(cls, "PROTOCOL_INFO", None)
        if protocol is None:
            return True
        return _fits_protocol(handler, protocol)


def _fits_protocol(handler, protocol):
    # type: (Callable[..., Any], ProtocolFlags) -> bool
    """True if the handler's protocol markers allow it under ``protocol``."""
    minimum = getattr(handler, MINIMUM_KATCP_VERSION, None)
    if minimum is not None and (protocol.major, protocol.minor) < tuple(minimum):
        return False
    flags = getattr(handler, HAS_KATCP_PROTOCOL_FLAGS, None) or ()
    return all(flag in protocol.flags for flag in flags)
