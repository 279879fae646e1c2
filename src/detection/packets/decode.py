"""What every protocol decoder shares: its one error type and address text.

Fuzz invariant (as h11's): whatever bytes a decoder in this package is given,
it returns a value or raises `DecodeError`; nothing else escapes.
"""

from __future__ import annotations

import ipaddress

__all__ = ["DecodeError", "ip4_str", "ip6_str", "mac_str"]


class DecodeError(ValueError):
    """The bytes are not a well-formed message of the protocol (remote's fault)."""


def mac_str(b: bytes) -> str:
    """b'\\x00\\x11…' → '00:11:…' (Zeek's lower-case form)."""
    return b.hex(":")


def ip4_str(b: bytes) -> str:
    if len(b) != 4:
        raise DecodeError("an IPv4 address has 4 bytes")
    return "%d.%d.%d.%d" % (b[0], b[1], b[2], b[3])  # noqa: UP031 - fastest for 4 ints


def ip6_str(b: bytes) -> str:
    """RFC 5952 text (``ipaddress``; detection may not import socket)."""
    if len(b) != 16:
        raise DecodeError("an IPv6 address has 16 bytes")
    return str(ipaddress.IPv6Address(b))
