"""katcp_sync: KATCP device servers and clients on threads and selectors.

The public names follow katcp-python, so that porting is a change of import::

    from katcp_sync import BlockingClient, DeviceServer, Message, Sensor
    from katcp_sync.kattypes import request, return_reply, Float

The high-level client's names (``KATCPClientResource``,
``KATCPClientResourceContainer``, ``AttrDict``) are imported when first
used (Python 3.7+), so a device server does not pay for loading them.
"""

from __future__ import absolute_import, division, print_function

from typing import TYPE_CHECKING

from .compat import MODULE_GETATTR, lazy_names
from .version import __version__

from .errors import (
    AsyncReply,
    FailReply,
    InvalidReply,
    KatcpClientDisconnected,
    KatcpClientError,
    KatcpDeviceError,
    KatcpError,
    KATCPResourceError,
    KATCPResourceInactive,
    KATCPSensorError,
    KatcpSyntaxError,
    KatcpTimeoutError,
    KatcpTypeError,
    KatcpValueError,
    KatcpVersionError,
    SensorTimeoutError,
    TimeoutException,
)
from .message import Message, MessageParser
from .protocol import ProtocolFlags
from .sensor import Reading, Sensor
from .sensortree import AggregateSensorTree, BooleanSensorTree, GenericSensorTree
from .reactor import Reactor
from .logger import DeviceLogger, LogHandler
from .metaclass import DeviceMetaclass
from .server import AsyncDeviceServer, DeviceServer, DeviceServerBase, DeviceServerMetaclass
from .client import (
    AsyncClient,
    BlockingClient,
    CallbackClient,
    DeviceClient,
    request_check,
)

if TYPE_CHECKING or not MODULE_GETATTR:
    from .resource_base import AttrDict
    from .resource import KATCPClientResource
    from .resource_container import KATCPClientResourceContainer
    from . import core, ioloop_manager, resource_client  # noqa: F401 (as attributes)
else:
    # The submodules too: after ``import katcp``, katcp-python code uses
    # ``katcp.resource_client``, ``katcp.ioloop_manager`` and ``katcp.core``.
    __getattr__ = lazy_names(__name__, __package__, dict(
        {name: "." + name for name in (
            "core", "inspecting_client", "ioloop_manager", "resource", "resource_base",
            "resource_client", "resource_container", "resource_sampling", "resource_spec",
            "resource_types")},
        AttrDict=".resource_base", KATCPClientResource=".resource",
        KATCPClientResourceContainer=".resource_container"))

__all__ = [
    "__version__",
    # errors
    "KatcpError", "KatcpSyntaxError", "KatcpTypeError", "KatcpValueError",
    "FailReply", "InvalidReply", "AsyncReply", "KatcpDeviceError",
    "KatcpClientError", "KatcpVersionError", "KatcpClientDisconnected",
    "KatcpTimeoutError", "KATCPSensorError", "SensorTimeoutError",
    "TimeoutException", "KATCPResourceError", "KATCPResourceInactive",
    # core
    "Message", "MessageParser", "ProtocolFlags", "Sensor", "Reading",
    "GenericSensorTree", "BooleanSensorTree", "AggregateSensorTree",
    # reactor and server
    "Reactor", "DeviceLogger", "LogHandler",
    "DeviceMetaclass", "DeviceServerMetaclass", "DeviceServerBase", "DeviceServer",
    "AsyncDeviceServer",
    # clients
    "DeviceClient", "AsyncClient", "CallbackClient", "BlockingClient", "request_check",
    # high-level client
    "AttrDict", "KATCPClientResource", "KATCPClientResourceContainer",
]
