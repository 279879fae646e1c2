"""What the local API accepts and returns, as pydantic models.

Request bodies and query strings are validated with the `*Query` / `*Request`
models (`extra="forbid"`: an unknown field or parameter is a 400 naming it, never
silently ignored). The response models are not used on the hot path — handlers
build plain dicts — but they are the single source of the component schemas of
the OpenAPI document (`agent.api.openapi`), and the tests validate every real
response of a running agent against that document, so a handler and its model
cannot drift apart unnoticed. Records that already exist as dataclasses
(`Evidence`, `Alert`, `ProfileSummary`, `Decision`) are embedded as they are:
their schema is generated from the dataclass, like their JSON.
"""

from __future__ import annotations

import ipaddress
import math
import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    WithJsonSchema,
)

from agent.blocking.decision import Decision
from detection.model import Alert, Evidence, ProfileSummary

__all__ = [
    "MAX_LIMIT",
    "AlertPage",
    "DecisionRequest",
    "DecisionsQuery",
    "FindingsQuery",
    "IntelQuery",
    "IpQuery",
    "ManualReport",
    "PeersQuery",
    "StreamQuery",
    "normalise_ip",
]

MAX_LIMIT = 1000
_NAME = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
_PEER_ID = re.compile(r"^[1-9A-HJ-NP-Za-km-z]{20,128}$")  # base58btc


def normalise_ip(text: str) -> str:
    """The canonical text of an address (IPv4-mapped IPv6 becomes IPv4); ValueError if not one."""
    ip = ipaddress.ip_address(text.strip())
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return str(ip)


def _ip(value: str) -> str:
    try:
        return normalise_ip(value)
    except ValueError:
        raise ValueError(f"not an IP address: {value[:64]!r}") from None


def _target(value: str) -> str:
    try:
        if "/" in value:
            return str(ipaddress.ip_network(value.strip(), strict=False))
        return normalise_ip(value)
    except ValueError:
        raise ValueError(f"not an IP address or CIDR range: {value[:64]!r}") from None


def _name(value: str) -> str:
    if not _NAME.match(value):
        raise ValueError("1-64 characters among letters, digits and _ . : -")
    return value


def _since(value: object) -> object:
    """Epoch seconds, or an ISO 8601 time (naive = UTC)."""
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise ValueError("epoch seconds or an ISO 8601 time") from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.timestamp()
    return value


def _finite(value: float) -> float:
    if not math.isfinite(value):
        raise ValueError("must be a finite number")
    return value


IpStr = Annotated[str, Field(max_length=64), AfterValidator(_ip)]
TargetStr = Annotated[str, Field(max_length=64), AfterValidator(_target)]
NameStr = Annotated[str, AfterValidator(_name)]
Since = Annotated[
    float,
    BeforeValidator(_since),
    AfterValidator(_finite),
    WithJsonSchema(
        {"anyOf": [{"type": "number"}, {"type": "string", "format": "date-time"}]},
        mode="validation",
    ),
]
Limit = Annotated[int, Field(ge=1, le=MAX_LIMIT, description=f"page size, 1-{MAX_LIMIT}")]
Cursor = Annotated[
    str, Field(max_length=32, description="opaque: `next_cursor` of the previous page")
]


# -- query strings ---------------------------------------------------------------------------


class _Query(BaseModel):
    model_config = ConfigDict(extra="forbid", str_max_length=256)


class PageQuery(_Query):
    limit: Limit = 100
    cursor: Cursor | None = None


class FindingsQuery(PageQuery):
    """Filters of `/alerts` and `/evidence`."""

    ip: IpStr | None = Field(None, description="attacker or victim (alerts: the profile)")
    type: NameStr | None = Field(None, description="evidence type (alerts: contains it)")
    since: Since | None = Field(None, description="ts >= since; epoch seconds or ISO 8601")
    source: str | None = Field(
        None, max_length=128, description="prefix of the source, e.g. `local:` or `peer:`"
    )
    order: Literal["asc", "desc"] = Field("asc", description="by time; desc = newest first")


class DecisionsQuery(PageQuery):
    value: TargetStr | None = Field(None, description="the banned address or range")
    active: bool | None = Field(None, description="only active (true) or inactive (false)")
    origin: Literal["local-alert", "peer-consensus", "manual"] | None = None
    since: Since | None = Field(None, description="created >= since")


class PeersQuery(PageQuery):
    connected: bool | None = Field(None, description="only connected (true) or not (false)")


class IpQuery(_Query):
    ask: bool = Field(False, description="also ask every connected peer (slower)")


class IntelQuery(_Query):
    value: str = Field(
        min_length=1, max_length=2048, description="IP, CIDR, domain, URL, hash, JA3, JARM"
    )


class StreamQuery(_Query):
    events: str = Field(
        "alert,evidence,decision",
        max_length=64,
        description="comma-separated subset of alert, evidence, decision",
    )


def peer_id_ok(text: str) -> bool:
    return bool(_PEER_ID.match(text))


# -- request bodies ----------------------------------------------------------------------


class ManualReport(BaseModel):
    """`POST /api/v1/reports`: an operator's report, shared with the mesh."""

    model_config = ConfigDict(extra="forbid")
    ip: str = Field(max_length=64)
    score: float = Field(0.8, ge=0, le=1)
    confidence: float = Field(1.0, ge=0, le=1)
    reason: str = Field("manual", max_length=200)
    ttl: int = Field(3600, gt=0, le=30 * 86400)


class DecisionRequest(BaseModel):
    """`POST /api/v1/decisions`: an operator's ban."""

    model_config = ConfigDict(extra="forbid")
    value: TargetStr = Field(description="IP address or CIDR range")
    ttl: int | None = Field(
        None, gt=0, le=365 * 86400, description="seconds; default: the policy's (escalated)"
    )
    reason: str = Field("manual (API)", min_length=1, max_length=200)


REQUEST_MODELS: tuple[type[BaseModel], ...] = (ManualReport, DecisionRequest)


# -- responses (schemas only) ------------------------------------------------------------


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorBody(_Out):
    error: str = Field(description="what was wrong, in a sentence")


class Health(_Out):
    status: Literal["ok"]
    version: str
    peer_id: str | None
    uptime_seconds: float


class Session(_Out):
    """Who the presented token is: what a client may offer (unblock needs admin)."""

    role: Literal["admin", "read-only"]
    blocking: bool  # False: the agent has no blocking service (decisions cannot change)


class _Page(_Out):
    limit: int
    next_cursor: str | None = Field(
        description="pass as `cursor` for the next page; null: nothing more"
    )


class AlertPage(_Page):
    items: list[Alert]


class EvidencePage(_Page):
    items: list[Evidence]


class DecisionPage(_Page):
    items: list[Decision]
    dry_run: bool | None = Field(description="automatic decisions are only recorded")


class DecisionAdded(_Out):
    decision: Decision


class DecisionsLifted(_Out):
    value: str
    lifted: list[Decision]


class ReportAccepted(_Out):
    shared: bool
    ip: str


class IntelMatchOut(_Out):
    kind: str
    indicator: str
    observed: str
    feed: str
    threat_level: str
    description: str
    feeds: int
    parent: bool


class IntelLookup(_Out):
    value: str
    enabled: bool
    matches: list[IntelMatchOut]


class ProfileOverview(_Out):
    windows: int
    first_seen: float | None
    last_seen: float | None
    flows_out: int
    flows_in: int
    bytes_out: int
    bytes_in: int
    distinct_dsts: int
    distinct_dports: int
    max_score: float
    alerts: int
    recent_windows: list[ProfileSummary]


class LocalView(_Out):
    verdict: Literal["malicious", "suspicious", "benign-looking", "no local evidence"]
    evidence: int
    alerts: int
    max_threat_level: str | None
    evidence_types: list[str]
    recent_evidence: list[Evidence]
    recent_alerts: list[Alert]
    profile: ProfileOverview


class PeerReportOut(_Out):
    message_id: str
    reporter: str
    relay: str
    score: float
    confidence: float
    evidence_types: list[str]
    window: int
    ttl: int
    description: str
    signed_at: float
    received_at: float
    latency_ms: float
    expired: bool
    envelope: str = Field(description="the signed envelope, base64")


class Contribution(_Out):
    reporter: str
    score: float
    confidence: float
    weight: float
    reputation: float
    trusted: bool


class NetworkOpinionOut(_Out):
    score: float
    confidence: float
    support: float
    trusted_reporters: int
    block: bool
    reason: str
    contributions: list[Contribution]


class PeerOpinion(BaseModel):
    model_config = ConfigDict(extra="forbid")
    peer: str
    score: float | None = None
    confidence: float | None = None
    evidence_types: list[str] | None = None
    evidence: int | None = None
    signed_at: float | None = None
    error: str | None = None


class IpView(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ip: str
    local: LocalView
    intel: IntelLookup
    decision: Decision | None = Field(description="the active ban on this address, if any")
    peer_reports: list[PeerReportOut]
    reporters: list[str]
    network_opinion: NetworkOpinionOut | None = Field(
        None, description="absent when P2P is disabled"
    )
    peer_opinions: list[PeerOpinion] | None = Field(None, description="only with ?ask=1")


class TrustOut(_Out):
    reputation: float
    certainty: float
    weight: float
    pretrusted: bool
    reports: int = Field(description="IoC reports this peer sent us")
    confirmed: int = Field(description="… later confirmed by our own detectors")
    contradicted: int = Field(description="… contradicted (allowlisted, disputed)")
    faults: int
    history: list[tuple[float, float]] = Field(description="[time, reputation] samples")


class PeerRow(_Out):
    peer_id: str
    connected: bool
    addrs: list[str]
    agent: str | None
    messages_accepted: int
    dropped: dict[str, int] = Field(description="messages dropped, by reason")
    trust: TrustOut


class SelfOut(_Out):
    peer_id: str
    addrs: list[str]


class MessagesOut(_Out):
    accepted: int
    dropped: dict[str, int]


class PeersView(BaseModel):
    model_config = ConfigDict(extra="forbid")
    self: SelfOut | None
    peers: list[PeerRow]
    p2p: Literal["enabled", "disabled"]
    limit: int
    next_cursor: str | None
    messages: MessagesOut | None = None
    node: dict[str, Any] | None = None
    shared: dict[str, int] | None = None
    share_refused: dict[str, int] | None = None


class PeerDetail(PeerRow):
    recent_reports: list[PeerReportOut] = Field(description="the last 20 it sent us")


RESPONSE_MODELS: tuple[type[BaseModel], ...] = (
    ErrorBody,
    Health,
    Session,
    AlertPage,
    EvidencePage,
    DecisionPage,
    DecisionAdded,
    DecisionsLifted,
    ReportAccepted,
    IntelLookup,
    IpView,
    PeersView,
    PeerDetail,
)
