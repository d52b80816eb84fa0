"""Request handlers typed by their annotations, as aiokatcp writes them.

:func:`annotated_request` reads a handler's parameter and return
annotations and applies :func:`~katcp_sync.handlers.request` and
:func:`~katcp_sync.handlers.return_reply` with the matching KATCP types, so
the handler receives Python values and returns only the values of an
``ok`` reply::

    @annotated_request
    def request_add(self, req, x: float, y: float) -> float:
        '''Add two numbers.'''
        return x + y

It is the same mechanism as the decorators (argument errors give the same
``fail`` replies, ``FailReply``/``AsyncReply`` work the same, a returned
:class:`concurrent.futures.Future` is followed), written the aiokatcp way.

Supported annotations: ``int``, ``float``, ``bool``, ``str``, ``bytes``
(the raw argument), subclasses of :class:`enum.Enum` (a discrete value:
member names in lower case with ``-`` for ``_``), ``Optional[T]`` or a
default value (an optional argument), ``*args: T`` (all remaining
arguments). Return: ``None`` (a bare ``ok``), one of the above, or
``Tuple[...]`` of them.
"""

from __future__ import absolute_import, division, print_function

from . import compat

__all__ = ["annotated_request"]

if compat.PY2:
    raise ImportError(
        "katcp_sync.annotated (annotated_request) reads Python 3 annotations and needs "
        "Python 3; on Python 2 use the @request(...) and @return_reply(...) decorators "
        "of katcp_sync.kattypes")

from ._annotated import annotated_request  # noqa: E402
