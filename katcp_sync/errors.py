"""Every exception katcp_sync raises, in one place.

The root is :class:`KatcpError`. Classes are split by who is at fault:

* the peer sent something that does not follow the protocol
  (:class:`KatcpSyntaxError`);
* a request handler wants to answer with a failure (:class:`FailReply`,
  :class:`InvalidReply`) or later (:class:`AsyncReply`) -- these are control
  flow, not bugs;
* a client-side operation could not complete (:class:`KatcpClientError` and
  its subclasses). Following katcp-python's tutorial these are
  :class:`RuntimeError` subclasses, so ``except RuntimeError`` in ported code
  keeps working; timeouts are also :class:`TimeoutError` subclasses.
"""

from __future__ import absolute_import, division, print_function

import concurrent.futures

from .compat import ConnectionError, TimeoutError  # noqa: A004 (Python 2 has neither)

__all__ = [
    "KatcpError",
    "KatcpSyntaxError",
    "KatcpTypeError",
    "KatcpValueError",
    "UnknownSensorError",
    "FailReply",
    "InvalidReply",
    "AsyncReply",
    "KatcpDeviceError",
    "KatcpClientError",
    "KatcpVersionError",
    "KatcpClientDisconnected",
    "KatcpTimeoutError",
    "KatcpTooManyInformsError",
    "KatcpWrapperTimeoutError",
    "KATCPSensorError",
    "SensorTimeoutError",
    "TimeoutException",
    "KATCPResourceError",
    "KATCPResourceInactive",
    "LineTooLongError",
]


class KatcpError(Exception):
    """Root of every katcp_sync exception."""


class KatcpSyntaxError(KatcpError, ValueError):
    """A message does not follow the KATCP grammar (spec section 2.1).

    Attributes:
        raw: the offending line (bytes) when known, else ``None``.
    """

    def __init__(self, message, raw=None):
        # type: (str, "bytes | None") -> None
        super(KatcpSyntaxError, self).__init__(message)
        self.raw = raw


class LineTooLongError(KatcpSyntaxError):
    """A line exceeded the configured maximum length and was discarded."""


class KatcpTypeError(KatcpError, TypeError):
    """A value has the wrong Python type for a KATCP type or a message."""


class KatcpValueError(KatcpError, ValueError):
    """A value is of the right type but not allowed (out of range, not in set)."""


class UnknownSensorError(KatcpError, ValueError, KeyError):
    """No sensor of that name on the device.

    A :class:`ValueError` (what katcp-python's ``get_sensor`` raised) and a
    :class:`KeyError` (what its ``remove_sensor`` raised), so code written
    for either catches it. ``str()`` is the message, not ``KeyError``'s repr.
    """

    def __str__(self):
        # type: () -> str
        return ValueError.__str__(self)


class FailReply(KatcpError):
    """Raised by a request handler to send ``!name fail <message>``.

    Also raised by high-level client calls when the device answers ``fail``.
    """


class InvalidReply(KatcpError):
    """Raised by a request handler to send ``!name invalid <message>``."""


class AsyncReply(KatcpError):
    """Raised by a request handler that will reply later via ``req.reply()``.

    The handler must make sure a reply is eventually sent, from any thread.
    """


class KatcpDeviceError(KatcpError):
    """Deprecated katcp-python name for a device-side failure."""


class KatcpClientError(KatcpError, RuntimeError):
    """A client operation failed (not connected, stopped, bad reply, ...)."""


class KatcpVersionError(KatcpClientError):
    """The server's protocol version does not support what was asked."""


class KatcpClientDisconnected(KatcpClientError, ConnectionError):
    """The connection was lost, or never made, before the operation finished."""


class KatcpTimeoutError(KatcpClientError, TimeoutError):
    """A client operation did not finish within its timeout.

    It is both a :class:`RuntimeError` (what katcp-python's ``blocking_request``
    raised) and a :class:`TimeoutError`.
    """


class KatcpWrapperTimeoutError(KatcpTimeoutError, concurrent.futures.TimeoutError):
    """A call through an ioloop wrapper did not finish within its timeout
    (``IOLoopThreadWrapper.default_timeout``, or the call's ``timeout=``).

    A :class:`KatcpTimeoutError` and the
    :exc:`concurrent.futures.TimeoutError` katcp-python's wrappers raised
    (the built-in :exc:`TimeoutError` from Python 3.11 on).
    """


class KatcpTooManyInformsError(KatcpClientError):
    """The device sent more informs for one request than the client keeps
    (``DeviceClient.MAX_INFORMS_PER_REQUEST``): the request failed."""


class KATCPSensorError(KatcpClientError):
    """A high-level client sensor operation is not possible (e.g. no strategy)."""


class SensorTimeoutError(KatcpTimeoutError):
    """A high-level sensor ``wait()`` timed out."""


#: katcp-python's name for a timed-out wait (the tutorial catches this name).
TimeoutException = SensorTimeoutError


class KATCPResourceError(KatcpClientError):
    """A high-level resource operation failed."""


class KATCPResourceInactive(KATCPResourceError):
    """A request was made on a resource that is not active or not controlled."""
