"""Errors of the P2P layer, named by who is at fault.

`RemoteProtocolError` and its subclasses mean a peer sent something wrong:
they feed that peer's penalty counter and are never a reason to crash.
`LocalProtocolError` means our own code tried something invalid: a bug.
Every subclass has a short `reason`, the key under which drops are counted.
"""

from __future__ import annotations

__all__ = [
    "BadSignature",
    "DecodeError",
    "LocalProtocolError",
    "MalformedMessage",
    "Oversized",
    "RateLimited",
    "RemoteProtocolError",
    "Replayed",
    "StaleMessage",
    "UnsupportedVersion",
]


class RemoteProtocolError(Exception):
    reason = "remote_error"


class DecodeError(RemoteProtocolError):
    """The one error `wire.decode` raises, whatever the bytes."""

    reason = "malformed"


class MalformedMessage(DecodeError):
    reason = "malformed"


class Oversized(DecodeError):
    reason = "oversized"


class UnsupportedVersion(DecodeError):
    reason = "unknown_version"


class BadSignature(DecodeError):
    reason = "bad_signature"


class StaleMessage(RemoteProtocolError):
    reason = "stale"


class Replayed(RemoteProtocolError):
    reason = "replayed"


class RateLimited(RemoteProtocolError):
    reason = "rate_limited"


class LocalProtocolError(Exception):
    """We tried to build or send something invalid."""
