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

from __future__ import absolute_import, division, print_function

from . import argtypes, arguments, handlers
from .argtypes import *  # noqa: F401,F403
from .arguments import *  # noqa: F401,F403
from .handlers import *  # noqa: F401,F403

# Not in __all__, but importable from here as before the split.
from .argtypes import FLOAT_RE, INT_RE, KatcpPackTypeError  # noqa: F401

__all__ = argtypes.__all__ + arguments.__all__ + handlers.__all__
