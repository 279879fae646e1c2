"""The wire format: one versioned, signed msgpack envelope, one codec.

Theory of operation
-------------------
::

    envelope = msgpack [ VERSION, payload: bin, signature: bin(64) ]
    payload  = msgpack [ VERSION, type: str, sender: bin(32), ts: float,
                         nonce: bin(16), body: map ]

The signature is Ed25519 by `sender` (a public key; its libp2p peer ID follows
from it) over the exact `payload` bytes, so a report stays verifiable when it
is stored, relayed or exported: keep the envelope bytes, verify them anywhere.
Signing raw bytes rather than a re-encoding means no canonicalisation rules
and no ambiguity. The version sits outside (read before anything else is
parsed, so an unknown version is refused cheaply) and inside (signed, so it
cannot be downgraded).

`decode` checks size, structure, version, field types and ranges, and the
signature, and raises only `DecodeError` (a subclass of it naming the reason)
whatever the bytes: tests/p2p/test_wire.py fuzzes that. Time-dependent checks
(staleness, replay, rate) need `now` and belong to `p2p.gossip`.
"""

from __future__ import annotations

import enum
import hashlib
import ipaddress
import math
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields
from typing import Any

import msgpack

from p2p.errors import (
    DecodeError,
    LocalProtocolError,
    MalformedMessage,
    Oversized,
    UnsupportedVersion,
)
from p2p.signing import Identity, peer_id_from_public_key, verify

__all__ = [
    "MAX_ENVELOPE_BYTES",
    "VERSION",
    "Body",
    "DecodeError",
    "Envelope",
    "Hello",
    "IocReport",
    "MessageType",
    "OpinionRequest",
    "OpinionResponse",
    "Retraction",
    "decode",
    "encode",
    "normalise_indicator",
    "seal",
]

VERSION = 1
MAX_ENVELOPE_BYTES = 16 * 1024
_MAX_STR = 512
_MAX_LIST = 64


class MessageType(enum.StrEnum):
    HELLO = "hello"
    IOC = "ioc"
    OPINION_REQUEST = "opinion_request"
    OPINION_RESPONSE = "opinion_response"
    RETRACTION = "retraction"


def normalise_indicator(kind: str, value: str) -> str:
    """Canonical text of an indicator; raises ValueError if it is not one."""
    if kind == "ip":
        ip = ipaddress.ip_address(value)
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return str(ip)
    if kind == "cidr":
        return str(ipaddress.ip_network(value, strict=False))
    if kind == "domain":
        v = value.strip().lower().rstrip(".")
        if not v or len(v) > 253 or " " in v:
            raise ValueError(f"not a domain: {value!r}")
        return v
    raise ValueError(f"unknown indicator kind {kind!r}")


def _unit(name: str, v: float) -> None:
    if not (0.0 <= v <= 1.0) or math.isnan(v):
        raise ValueError(f"{name} must be within [0, 1]")


@dataclass(frozen=True, slots=True)
class IocReport:
    """'I saw this attacker': what an agent shares after a local detection."""

    kind: str
    value: str
    score: float  # how malicious, 0..1
    confidence: float  # how sure, 0..1
    evidence_types: tuple[str, ...]
    window: int
    ttl: int  # seconds the report stays relevant
    description: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "value", normalise_indicator(self.kind, self.value))
        _unit("score", self.score)
        _unit("confidence", self.confidence)
        if not 0 < self.ttl <= 30 * 86400:
            raise ValueError("ttl must be within (0, 30 days]")


@dataclass(frozen=True, slots=True)
class OpinionRequest:
    request_id: bytes
    kind: str
    value: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "value", normalise_indicator(self.kind, self.value))
        if len(self.request_id) != 16:
            raise ValueError("request_id is 16 bytes")


@dataclass(frozen=True, slots=True)
class OpinionResponse:
    request_id: bytes
    kind: str
    value: str
    score: float
    confidence: float
    evidence_types: tuple[str, ...] = ()
    evidence: int = 0  # local evidence count behind the opinion

    def __post_init__(self) -> None:
        object.__setattr__(self, "value", normalise_indicator(self.kind, self.value))
        _unit("score", self.score)
        _unit("confidence", self.confidence)
        if len(self.request_id) != 16:
            raise ValueError("request_id is 16 bytes")


@dataclass(frozen=True, slots=True)
class Retraction:
    kind: str
    value: str
    reason: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "value", normalise_indicator(self.kind, self.value))


@dataclass(frozen=True, slots=True)
class Hello:
    agent: str
    capabilities: tuple[str, ...] = ()


Body = IocReport | OpinionRequest | OpinionResponse | Retraction | Hello

_BODY_TYPES: dict[MessageType, type[Any]] = {
    MessageType.HELLO: Hello,
    MessageType.IOC: IocReport,
    MessageType.OPINION_REQUEST: OpinionRequest,
    MessageType.OPINION_RESPONSE: OpinionResponse,
    MessageType.RETRACTION: Retraction,
}
_TYPE_OF_BODY = {v: k for k, v in _BODY_TYPES.items()}


@dataclass(frozen=True, slots=True)
class Envelope:
    version: int
    type: MessageType
    sender: bytes  # Ed25519 public key
    ts: float
    nonce: bytes
    body: Body
    payload: bytes = field(repr=False)  # the signed bytes, exactly as received
    signature: bytes = field(repr=False)

    @property
    def sender_id(self) -> str:
        return peer_id_from_public_key(self.sender)

    @property
    def message_id(self) -> str:
        """Content address: equal for every copy of the same signed message."""
        return hashlib.sha256(self.payload).hexdigest()[:32]


def _check_str(name: str, v: object) -> str:
    if not isinstance(v, str) or len(v) > _MAX_STR:
        raise MalformedMessage(f"{name}: expected a string of at most {_MAX_STR} characters")
    return v


def _body_from_map(kind: MessageType, raw: Mapping[str, Any]) -> Body:
    cls = _BODY_TYPES[kind]
    kwargs: dict[str, Any] = {}
    for f in fields(cls):
        if f.name not in raw:
            if f.default is not MISSING:
                continue
            raise MalformedMessage(f"{kind} body misses {f.name!r}")
        v = raw[f.name]
        expected = f.type
        if expected in ("str",):
            v = _check_str(f.name, v)
        elif expected == "float":
            if isinstance(v, bool) or not isinstance(v, int | float):
                raise MalformedMessage(f"{f.name}: expected a number")
            v = float(v)
        elif expected == "int":
            if isinstance(v, bool) or not isinstance(v, int):
                raise MalformedMessage(f"{f.name}: expected an integer")
        elif expected == "bytes":
            if not isinstance(v, bytes):
                raise MalformedMessage(f"{f.name}: expected bytes")
        elif expected == "tuple[str, ...]":
            if not isinstance(v, list) or len(v) > _MAX_LIST:
                raise MalformedMessage(f"{f.name}: expected a list of at most {_MAX_LIST}")
            v = tuple(_check_str(f.name, x) for x in v)
        kwargs[f.name] = v
    try:
        body: Body = cls(**kwargs)
    except (ValueError, TypeError) as exc:
        raise MalformedMessage(f"{kind} body: {exc}") from None
    return body


def _body_to_map(body: Body) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in fields(body):
        v = getattr(body, f.name)
        out[f.name] = list(v) if isinstance(v, tuple) else v
    return out


def seal(identity: Identity, body: Body, *, now: float, nonce: bytes) -> bytes:
    """Sign `body` as `identity` at time `now`; returns the envelope bytes."""
    kind = _TYPE_OF_BODY.get(type(body))
    if kind is None:
        raise LocalProtocolError(f"not a message body: {type(body).__name__}")
    if len(nonce) != 16:
        raise LocalProtocolError("nonce must be 16 bytes")
    payload = msgpack.packb(
        [VERSION, str(kind), identity.public_key, float(now), nonce, _body_to_map(body)],
        use_bin_type=True,
    )
    data: bytes = msgpack.packb([VERSION, payload, identity.sign(payload)], use_bin_type=True)
    if len(data) > MAX_ENVELOPE_BYTES:
        raise LocalProtocolError(f"envelope of {len(data)} bytes exceeds {MAX_ENVELOPE_BYTES}")
    return data


def encode(envelope: Envelope) -> bytes:
    """Bytes of a decoded envelope (the original signed payload, unchanged)."""
    data: bytes = msgpack.packb(
        [envelope.version, envelope.payload, envelope.signature], use_bin_type=True
    )
    return data


def _unpack(data: bytes, what: str) -> Any:
    try:
        return msgpack.unpackb(
            data,
            raw=False,
            use_list=True,
            strict_map_key=True,
        )
    except Exception as exc:  # noqa: BLE001 - msgpack raises many types; all mean malformed
        raise MalformedMessage(f"{what} is not valid msgpack: {type(exc).__name__}") from None


def decode(data: bytes, *, max_bytes: int = MAX_ENVELOPE_BYTES) -> Envelope:
    """Parse and verify an envelope; raises only `DecodeError` subclasses."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise MalformedMessage("envelope must be bytes")
    data = bytes(data)
    if len(data) > max_bytes:
        raise Oversized(f"{len(data)} bytes > {max_bytes}")
    outer = _unpack(data, "envelope")
    if not isinstance(outer, list) or len(outer) != 3:
        raise MalformedMessage("envelope must be [version, payload, signature]")
    version, payload, signature = outer
    if isinstance(version, bool) or not isinstance(version, int):
        raise MalformedMessage("version must be an integer")
    if version != VERSION:
        raise UnsupportedVersion(f"version {version}, this agent speaks {VERSION}")
    if not isinstance(payload, bytes) or not isinstance(signature, bytes):
        raise MalformedMessage("payload and signature must be bytes")
    if len(signature) != 64:
        raise MalformedMessage("signature must be 64 bytes")
    inner = _unpack(payload, "payload")
    if not isinstance(inner, list) or len(inner) != 6:
        raise MalformedMessage("payload must be [version, type, sender, ts, nonce, body]")
    v2, kind, sender, ts, nonce, body = inner
    if v2 != version or isinstance(v2, bool):
        raise MalformedMessage("inner and outer versions differ")
    if not isinstance(sender, bytes) or len(sender) != 32:
        raise MalformedMessage("sender must be a 32-byte Ed25519 public key")
    if isinstance(ts, bool) or not isinstance(ts, int | float) or not math.isfinite(ts):
        raise MalformedMessage("ts must be a finite number")
    if not isinstance(nonce, bytes) or len(nonce) != 16:
        raise MalformedMessage("nonce must be 16 bytes")
    try:
        mtype = MessageType(kind)
    except ValueError:
        raise MalformedMessage(f"unknown message type {str(kind)[:40]!r}") from None
    if not isinstance(body, dict):
        raise MalformedMessage("body must be a map")
    verify(sender, signature, payload)  # BadSignature is a DecodeError
    return Envelope(
        version, mtype, sender, float(ts), nonce, _body_from_map(mtype, body), payload, signature
    )
