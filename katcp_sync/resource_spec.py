"""What a resource spec says about a device: checked once, then read-only.

:class:`ResourceDescription` takes katcp-python's ``resource_spec`` dict
(``name``, ``address``, ``controlled``, ...; see
:class:`~katcp_sync.resource.KATCPClientResource`) and gives the
description properties (``name``, ``address``, ``controlled``,
``parent``...). :class:`~katcp_sync.resource.KATCPClientResource` is one.
"""

from __future__ import absolute_import, division, print_function

from typing import TYPE_CHECKING, Any, Mapping, Optional, Tuple

from . import compat
from .formatting import format_address
from .resource_types import escape_name
from .tcp import check_address

if TYPE_CHECKING:   # for annotations only: resource_container imports this module (via resource)
    from .resource_container import KATCPClientResourceContainer

__all__ = ["ResourceDescription", "DEFAULT_REQUEST_TIMEOUT"]

#: Request timeout in seconds when neither the caller nor the device gives one.
DEFAULT_REQUEST_TIMEOUT = 5.0


class ResourceDescription(object):
    """A device resource as its spec describes it.

    Args:
        resource_spec: see :class:`~katcp_sync.resource.KATCPClientResource`.
        parent: the container the resource belongs to, if any.

    Raises:
        ValueError: no ``name``, or no ``address`` as ``(host, port)``.

    Read-only after construction: any thread.
    """

    def __init__(self, resource_spec,
                 parent=None):
        # type: (Mapping[str, Any], Optional["KATCPClientResourceContainer"]) -> None
        spec = dict(resource_spec)
        try:
            self._name = str(spec["name"])
            host, port = spec["address"]
        except (KeyError, TypeError, ValueError) as exc:
            raise compat.chained(ValueError("resource_spec needs 'name' and 'address'=(host, port): %r" % (resource_spec,)), exc)
        self._address = check_address(host, port)
        self._description = spec.get("description", "")
        self._controlled = bool(spec.get("controlled", False))
        self._auto_reconnect = bool(spec.get("auto_reconnect", True))
        self._auto_reconnect_delay = spec.get("auto_reconnect_delay")
        self._preset_protocol_flags = spec.get("preset_protocol_flags")
        self._always_allowed = {escape_name(n) for n in spec.get("always_allowed_requests", ())}
        self._always_excluded = {escape_name(n) for n in spec.get("always_excluded_requests", ())}
        self._dummy_unknown = bool(spec.get("dummy_unknown_requests", False))
        self.default_timeout = float(spec.get("timeout", DEFAULT_REQUEST_TIMEOUT))
        self._parent = parent

    @property
    def name(self):
        # type: () -> str
        """The resource's name (from the spec)."""
        return self._name

    @property
    def description(self):
        # type: () -> str
        """The resource's description (from the spec)."""
        return self._description

    @property
    def address(self):
        # type: () -> Tuple[str, int]
        """``(host, port)`` of the device."""
        return self._address

    @property
    def host(self):
        # type: () -> str
        """The device's host."""
        return self._address[0]

    @property
    def port(self):
        # type: () -> int
        """The device's port."""
        return self._address[1]

    @property
    def address_string(self):
        # type: () -> str
        """``"host:port"`` (an IPv6 host in brackets)."""
        return format_address(self._address)

    @property
    def controlled(self):
        # type: () -> bool
        """True if requests may be sent (``controlled`` in the spec)."""
        return self._controlled

    @property
    def dummy_unknown_requests(self):
        # type: () -> bool
        """True if ``req.<unknown>()`` is answered locally (``dummy_unknown_requests`` in the spec)."""
        return self._dummy_unknown

    @property
    def parent(self):
        # type: () -> Optional["KATCPClientResourceContainer"]
        """The container this resource belongs to, or None."""
        return self._parent

    @property
    def parent_name(self):
        # type: () -> Optional[str]
        """The parent container's name, or None."""
        return None if self._parent is None else self._parent.name
