"""katcp-python's ``katcp.core`` names, for code that imports them from there.

``from katcp.core import Message, Sensor, FailReply`` ports as
``from katcp_sync.core import ...``. The classes are the ones defined in
katcp_sync's own modules (:mod:`~katcp_sync.message`,
:mod:`~katcp_sync.protocol`, :mod:`~katcp_sync.sensor`,
:mod:`~katcp_sync.errors`, :mod:`~katcp_sync.metaclass`,
:mod:`~katcp_sync.events`); this module adds katcp-python's small helpers.
"""

from __future__ import absolute_import, division, print_function

import collections
import concurrent.futures
import logging
from typing import Any, Callable, Iterable

from . import compat
from .errors import (
    AsyncReply,
    FailReply,
    KatcpClientDisconnected,
    KatcpClientError,
    KatcpDeviceError,
    KatcpSyntaxError,
    KatcpTypeError,
    KatcpVersionError,
)
from .events import AsyncEvent, AsyncState, until_any, until_later, until_some
from .message import Message, MessageParser
from .metaclass import DeviceMetaclass, DeviceServerMetaclass
from .protocol import (
    DEFAULT_KATCP_MAJOR,
    FLOAT_TS_KATCP_MAJOR,
    INTERFACE_CHANGED_KATCP_MAJOR,
    MID_KATCP_MAJOR,
    MS_TO_SEC_FAC,
    SEC_TO_MS_FAC,
    SEC_TS_KATCP_MAJOR,
    VERSION_CONNECT_KATCP_MAJOR,
    ProtocolFlags,
    convert_method_name,
)
from .resource_base import AttrDict
from .sensor import Reading, Sensor

__all__ = [
    "DEFAULT_KATCP_MAJOR", "FLOAT_TS_KATCP_MAJOR", "INTERFACE_CHANGED_KATCP_MAJOR",
    "MID_KATCP_MAJOR", "MS_TO_SEC_FAC", "SEC_TO_MS_FAC", "SEC_TS_KATCP_MAJOR",
    "VERSION_CONNECT_KATCP_MAJOR",
    "AsyncReply", "FailReply", "KatcpClientDisconnected", "KatcpClientError",
    "KatcpDeviceError", "KatcpSyntaxError", "KatcpTypeError", "KatcpVersionError",
    "Message", "MessageParser", "ProtocolFlags", "Reading", "Sensor",
    "DeviceMetaclass", "DeviceServerMetaclass", "AttrDict", "DefaultAttrDict",
    "AsyncEvent", "AsyncState", "until_any", "until_some", "until_later",
    "convert_method_name", "hashable_identity", "steal_docstring_from",
    "log_future_exceptions",
]


class DefaultAttrDict(collections.defaultdict):  # type: ignore[type-arg]
    """A :class:`collections.defaultdict` whose keys are also attributes.

    No lock, as a defaultdict: share one between threads only for reading.
    """

    def __getattr__(self, name):
        # type: (str) -> Any
        try:
            return self[name]
        except KeyError:
            raise compat.chained(AttributeError(name), None)

    def __setattr__(self, name, value):
        # type: (str, Any) -> None
        self[name] = value


def hashable_identity(obj):
    # type: (Any) -> Any
    """Return a hashable key that is equal for the same object.

    A bound method is keyed by its instance and function (each attribute
    access makes a new method object); a string by its value; anything else
    by ``id()``.
    """
    if hasattr(obj, "__func__") and hasattr(obj, "__self__"):
        return (id(obj.__self__), id(obj.__func__))
    if isinstance(obj, (str, bytes)):
        return obj
    return id(obj)


def steal_docstring_from(obj):
    # type: (Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]
    """Decorator giving the decorated function ``obj``'s docstring."""
    def deco(fn):
        # type: (Callable[..., Any]) -> Callable[..., Any]
        fn.__doc__ = obj.__doc__
        return fn
    return deco


def log_future_exceptions(logger, f,
                          ignore=()):
    # type: (logging.Logger, "concurrent.futures.Future[Any]", Iterable[type]) -> None
    """Log the exception of future ``f``, if it fails, unless of a type in ``ignore``."""
    ignored = tuple(ignore)

    def log_failure(done):
        # type: ("concurrent.futures.Future[Any]") -> None
        exc = done.exception()
        if exc is not None and not isinstance(exc, ignored):
            logger.error("Unhandled exception in future: %r", exc, exc_info=exc)

    f.add_done_callback(log_failure)
