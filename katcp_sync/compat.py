"""katcp-python's ``katcp.compat`` helpers that still mean something on Python 3."""

from typing import List, Union

__all__ = ["ensure_native_str", "byte_chars", "is_bytes", "is_text"]


def ensure_native_str(value: Union[str, bytes]) -> str:
    """Return ``value`` as ``str`` (bytes are decoded as UTF-8).

    Raises:
        TypeError: ``value`` is neither ``str`` nor ``bytes``.
    """
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8")
    raise TypeError("Invalid type for string conversion: {}".format(type(value)))


def byte_chars(byte_string: bytes) -> List[bytes]:
    """Return the one-byte ``bytes`` objects of ``byte_string``."""
    return [byte_string[i:i + 1] for i in range(len(byte_string))]


def is_bytes(value: object) -> bool:
    """True for ``bytes``."""
    return isinstance(value, bytes)


def is_text(value: object) -> bool:
    """True for ``str``."""
    return isinstance(value, str)
