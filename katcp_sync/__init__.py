"""katcp_sync: KATCP device servers and clients on threads and selectors.

The public names follow katcp-python, so that porting is a change of import::

    from katcp_sync import BlockingClient, DeviceServer, Message, Sensor
    from katcp_sync.kattypes import request, return_reply, Float
"""

__version__ = "0.1.0"

from .errors import (  # noqa: E402
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
from .message import Message, MessageParser  # noqa: E402
from .protocol import ProtocolFlags  # noqa: E402
from .sensor import Reading, Sensor  # noqa: E402
from .sensortree import AggregateSensorTree, BooleanSensorTree, GenericSensorTree  # noqa: E402
from .reactor import Reactor  # noqa: E402
from .logger import DeviceLogger, LogHandler  # noqa: E402
from .metaclass import DeviceMetaclass  # noqa: E402
from .server import AsyncDeviceServer, DeviceServer, DeviceServerBase, DeviceServerMetaclass  # noqa: E402
from .client import (  # noqa: E402
    AsyncClient,
    BlockingClient,
    CallbackClient,
    DeviceClient,
    request_check,
)
from .resource_base import AttrDict  # noqa: E402
from .resource import KATCPClientResource  # noqa: E402
from .resource_container import KATCPClientResourceContainer  # noqa: E402

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
