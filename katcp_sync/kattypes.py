"""KATCP argument types and handler decorators: katcp-python's ``katcp.kattypes``.

The face of three modules, re-exporting every name code written for
katcp-python (or for earlier katcp_sync) imports from here:

* :mod:`katcp_sync.argtypes`: the types (:class:`KatcpType`, :class:`Int`,
  :class:`Float`, ... :class:`Regex`), one value <-> one argument.
* :mod:`katcp_sync.arguments`: lists of arguments and replies
  (:func:`pack_types`, :func:`unpack_types`, :func:`make_reply`,
  :class:`Parameter`).
* :mod:`katcp_sync.handlers`: the decorators (:func:`request`,
  :func:`return_reply`, :func:`send_reply`, :func:`inform`,
  :func:`unpack_message`) and the markers the server reads
  (:func:`concurrent_reply`, :func:`request_timeout_hint`,
  :func:`minimum_katcp_version`, :func:`has_katcp_protocol_flags`).

Sans-IO modules that only need the types (sensor, sampling, logger) import
:mod:`katcp_sync.argtypes`, not this face, so they do not load the
decorators (or ``wrapt``).
"""

# FLOAT_RE, INT_RE and KatcpPackTypeError are not in __all__ but were
# importable from here before the split.
from .argtypes import (
    FLOAT_RE,
    INT_RE,
    Address,
    Bool,
    Discrete,
    DiscreteMulti,
    Float,
    Int,
    KatcpPackTypeError,
    KatcpType,
    Lru,
    Regex,
    StrictTimestamp,
    Str,
    Struct,
    Timestamp,
    TimestampOrNow,
)
from .arguments import Parameter, make_reply, pack_types, unpack_types
from .handlers import (
    concurrent_reply,
    has_katcp_protocol_flags,
    inform,
    minimum_katcp_version,
    request,
    request_timeout_hint,
    return_reply,
    send_reply,
    unpack_message,
)

__all__ = [
    "KatcpType",
    "Int",
    "Float",
    "Bool",
    "Str",
    "Discrete",
    "DiscreteMulti",
    "Lru",
    "Address",
    "Timestamp",
    "TimestampOrNow",
    "StrictTimestamp",
    "Struct",
    "Regex",
    "Parameter",
    "pack_types",
    "unpack_types",
    "make_reply",
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
