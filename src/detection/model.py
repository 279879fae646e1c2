"""Value types that flow between the stages of Starling.

Theory of operation
-------------------
Every input format (Zeek TSV/JSON, Argus, Suricata, nfdump, later pcap) is
translated by its parser into the records below; detectors only ever see these
types, so a detector written against `Flow` works on every format.

Two families, two representations, chosen for the hot path:

* Records read from traffic (`Flow`, `DnsRecord`, …) are ``NamedTuple``s:
  immutable, typed, and built with one C-level tuple allocation, which is what
  lets the pipeline keep >50k flows per CPU-second. Validation happens once, at
  the edge, in the parser that builds them (parsers raise `ParseError` for
  anything they cannot turn into a well-formed record).
* Findings (`Evidence`, `Alert`) are rare compared to records, cross process and
  network boundaries, and must never be wrong, so they are frozen dataclasses
  that validate themselves in their constructor.

Ground-truth label columns (`label`, `detailed_label`) from labelled datasets
are carried on `Flow` for evaluation only; no detector may read them.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import math
import uuid
from dataclasses import dataclass, field
from typing import Any, NamedTuple, TypeVar

__all__ = [
    "ARGUS_UID_PREFIX",
    "NFDUMP_UID_PREFIX",
    "THREAT_WEIGHTS",
    "UNANALYSED_UID_PREFIXES",
    "Alert",
    "ArpRecord",
    "DhcpRecord",
    "DnsRecord",
    "Evidence",
    "FilesRecord",
    "Flow",
    "HttpRecord",
    "NoticeRecord",
    "ProfileSummary",
    "Record",
    "SmtpRecord",
    "SoftwareRecord",
    "SshRecord",
    "SslRecord",
    "ThreatLevel",
    "TunnelRecord",
    "WeirdRecord",
    "X509Record",
    "finding_from_dict",
    "finding_to_dict",
]


# The first character of the uid a parser gives the flows of a format that has no uid
# of its own. Argus and nfdump do no protocol analysis, so their flows never name a
# service: "" there means "not analysed", where from Zeek (uids "C…") or Suricata
# ("S…") it means "not recognised" — what the protocol-on-port detectors look for.
ARGUS_UID_PREFIX = "A"
NFDUMP_UID_PREFIX = "N"
UNANALYSED_UID_PREFIXES = frozenset({ARGUS_UID_PREFIX, NFDUMP_UID_PREFIX})


class Flow(NamedTuple):
    """One connection (Zeek conn.log, an Argus/nfdump flow, a Suricata flow event).

    `state` is the format's own connection state (Zeek `conn_state`, Argus
    state); `established` is the format-independent answer detectors use: did
    the responder take part in the conversation.
    """

    ts: float
    uid: str
    saddr: str
    sport: int | None
    daddr: str
    dport: int | None
    proto: str  # lower case: tcp, udp, icmp, ipv6-icmp, arp, …
    service: str  # "" when unknown
    duration: float
    sbytes: int
    dbytes: int
    spkts: int
    dpkts: int
    state: str
    history: str
    established: bool
    smac: str = ""
    dmac: str = ""
    label: str | None = None  # ground truth, never read by detectors
    detailed_label: str | None = None


class DnsRecord(NamedTuple):
    ts: float
    uid: str
    saddr: str
    sport: int | None
    daddr: str
    dport: int | None
    proto: str
    query: str
    qtype: str  # qtype_name, e.g. "A", "TXT"
    rcode: str  # rcode_name, e.g. "NOERROR", "NXDOMAIN"; "" when unanswered
    answers: tuple[str, ...] = ()
    ttls: tuple[float, ...] = ()


class HttpRecord(NamedTuple):
    ts: float
    uid: str
    saddr: str
    sport: int | None
    daddr: str
    dport: int | None
    method: str
    host: str
    uri: str
    version: str
    user_agent: str
    request_body_len: int
    response_body_len: int
    status_code: int | None
    resp_mime_types: tuple[str, ...] = ()
    resp_fuids: tuple[str, ...] = ()


class SslRecord(NamedTuple):
    ts: float
    uid: str
    saddr: str
    sport: int | None
    daddr: str
    dport: int | None
    version: str
    cipher: str
    server_name: str
    established: bool
    subject: str
    issuer: str
    validation_status: str
    ja3: str = ""
    ja3s: str = ""
    cert_chain_fuids: tuple[str, ...] = ()


class SshRecord(NamedTuple):
    ts: float
    uid: str
    saddr: str
    sport: int | None
    daddr: str
    dport: int | None
    version: int | None
    auth_success: bool | None
    auth_attempts: int
    client: str
    server: str


class SmtpRecord(NamedTuple):
    ts: float
    uid: str
    saddr: str
    sport: int | None
    daddr: str
    dport: int | None
    helo: str
    mailfrom: str
    rcptto: tuple[str, ...]
    last_reply: str


class ArpRecord(NamedTuple):
    ts: float
    operation: str  # "request" | "reply"
    src_mac: str
    dst_mac: str
    saddr: str
    daddr: str
    src_hw: str
    dst_hw: str


class DhcpRecord(NamedTuple):
    ts: float
    uids: tuple[str, ...]
    client_addr: str
    server_addr: str
    mac: str
    host_name: str
    requested_addr: str
    assigned_addr: str
    msg_types: tuple[str, ...]


class SoftwareRecord(NamedTuple):
    ts: float
    host: str
    host_port: int | None
    software_type: str
    name: str
    version_major: int | None
    version_minor: int | None
    unparsed_version: str


class NoticeRecord(NamedTuple):
    ts: float
    uid: str
    saddr: str
    daddr: str
    dport: int | None
    note: str
    msg: str
    sub: str
    src: str
    dst: str
    n: int | None
    p: int | None = None  # the port the notice is about (Scan::Address_Scan)


class TunnelRecord(NamedTuple):
    ts: float
    uid: str
    saddr: str
    sport: int | None
    daddr: str
    dport: int | None
    tunnel_type: str
    action: str


class FilesRecord(NamedTuple):
    ts: float
    fuid: str
    tx_hosts: tuple[str, ...]
    rx_hosts: tuple[str, ...]
    conn_uids: tuple[str, ...]
    source: str
    mime_type: str
    filename: str
    seen_bytes: int
    total_bytes: int | None
    md5: str
    sha1: str
    sha256: str


class X509Record(NamedTuple):
    ts: float
    fuid: str
    version: int | None
    serial: str
    subject: str
    issuer: str
    not_valid_before: float | None
    not_valid_after: float | None
    key_alg: str
    key_length: int | None
    san_dns: tuple[str, ...] = ()


class WeirdRecord(NamedTuple):
    ts: float
    uid: str
    saddr: str
    sport: int | None
    daddr: str
    dport: int | None
    name: str
    addl: str
    notice: bool
    peer: str


Record = (
    Flow
    | DnsRecord
    | HttpRecord
    | SslRecord
    | SshRecord
    | SmtpRecord
    | ArpRecord
    | DhcpRecord
    | SoftwareRecord
    | NoticeRecord
    | TunnelRecord
    | FilesRecord
    | X509Record
    | WeirdRecord
)


class ThreatLevel(enum.StrEnum):
    """Slips' scale, kept so evidence is comparable with Slips' output."""

    INFO = "info"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def weight(self) -> float:
        return THREAT_WEIGHTS[self]


THREAT_WEIGHTS: dict[ThreatLevel, float] = {
    ThreatLevel.INFO: 0.0,
    ThreatLevel.LOW: 0.2,
    ThreatLevel.MEDIUM: 0.5,
    ThreatLevel.HIGH: 0.8,
    ThreatLevel.CRITICAL: 1.0,
}

# Deterministic ids: the same finding gets the same id in every run, on every
# agent and in simnet, so stores and peers can deduplicate by id.
_EVIDENCE_NS = uuid.UUID("6f1c2a52-0a8e-4d59-9a59-2f1f0d3c7a10")
_ALERT_NS = uuid.UUID("c7d1b4e8-51a3-4a8c-b7e5-3f4f3d6a2b21")
_MAX_UIDS = 100
# `uuid.uuid5` computed directly (same ids): SHA-1 of namespace + name, version 5
# and RFC 4122 variant bits set. A third of the cost, and findings are built on the
# hot path (tens of thousands per million flows).
_EVIDENCE_SHA1 = hashlib.sha1(_EVIDENCE_NS.bytes, usedforsecurity=False)
_ALERT_SHA1 = hashlib.sha1(_ALERT_NS.bytes, usedforsecurity=False)
_UUID_CLEAR = (1 << 128) - 1 - (0xF000 << 64) - (0xC000 << 48)  # version and variant bits
_UUID_V5 = (0x5000 << 64) | (0x8000 << 48)


def _uuid5(namespace: Any, name: str) -> str:
    """``str(uuid.uuid5(ns, name))`` from `namespace`, a SHA-1 already fed the ns bytes."""
    h = namespace.copy()
    h.update(name.encode())
    x = f"{(int.from_bytes(h.digest()[:16]) & _UUID_CLEAR) | _UUID_V5:032x}"
    return f"{x[:8]}-{x[8:12]}-{x[12:16]}-{x[16:20]}-{x[20:]}"


def _check_unit(name: str, value: float) -> None:
    if not (0.0 <= value <= 1.0) or math.isnan(value):
        raise ValueError(f"{name} must be within [0, 1], got {value!r}")


@dataclass(frozen=True, slots=True)
class Evidence:
    """One finding about one attacker, from a local detector or a peer.

    `profile` is the IP whose time window the evidence is filed under; it
    counts toward that profile's alert only when `attacker == profile`.
    `uids` names the flows behind the finding (bounded to 100; `count` carries
    the full magnitude, e.g. hosts scanned).
    """

    type: str
    attacker: str
    victim: str | None
    threat_level: ThreatLevel
    confidence: float
    ts: float
    timewindow: int
    description: str
    source: str  # "local:<detector>" or "peer:<peer-id>"
    profile: str = ""
    uids: tuple[str, ...] = ()
    dport: int | None = None
    proto: str | None = None
    count: int | None = None
    attack_technique: str | None = None  # MITRE ATT&CK id, e.g. "T1046"
    id: str = field(default="")

    def __post_init__(self) -> None:
        if not self.type:
            raise ValueError("evidence type must not be empty")
        if not self.attacker:
            raise ValueError("evidence attacker must not be empty")
        if not isinstance(self.threat_level, ThreatLevel):
            object.__setattr__(self, "threat_level", ThreatLevel(self.threat_level))
        _check_unit("confidence", self.confidence)
        if not (self.source.startswith("local:") or self.source.startswith("peer:")):
            raise ValueError(f"evidence source must be local:<x> or peer:<x>, got {self.source!r}")
        if not self.profile:
            object.__setattr__(self, "profile", self.attacker)
        if len(self.uids) > _MAX_UIDS:
            object.__setattr__(self, "uids", tuple(self.uids[:_MAX_UIDS]))
        if not self.id:
            key = (
                f"{self.source!s}|{self.type!s}|{self.attacker!s}|{self.victim or ''!s}|"
                f"{self.profile!s}|{self.ts!r}|{self.timewindow!s}|{self.dport!s}|"
                f"{self.proto!s}|{self.count!s}"
            )
            object.__setattr__(self, "id", _uuid5(_EVIDENCE_SHA1, key))

    @property
    def score(self) -> float:
        """Contribution to the profile's alert sum: threat weight x confidence."""
        return self.threat_level.weight * self.confidence

    @property
    def counts_for_profile(self) -> bool:
        return self.attacker == self.profile


@dataclass(frozen=True, slots=True)
class Alert:
    """A profile's time window whose accumulated evidence crossed the threshold."""

    profile: str
    timewindow: int
    ts: float
    score: float
    threshold: float
    evidence_ids: tuple[str, ...]
    evidence_types: tuple[str, ...]
    victims: tuple[str, ...]
    uids: tuple[str, ...]
    confidence: float
    threat_level: ThreatLevel
    description: str
    source: str = "local:accumulator"
    id: str = field(default="")

    def __post_init__(self) -> None:
        if not self.profile:
            raise ValueError("alert profile must not be empty")
        if not self.evidence_ids:
            raise ValueError("an alert needs at least one evidence")
        if self.score < self.threshold:
            raise ValueError(f"alert score {self.score} is below its threshold {self.threshold}")
        _check_unit("confidence", self.confidence)
        if not isinstance(self.threat_level, ThreatLevel):
            object.__setattr__(self, "threat_level", ThreatLevel(self.threat_level))
        if len(self.uids) > _MAX_UIDS:
            object.__setattr__(self, "uids", tuple(self.uids[:_MAX_UIDS]))
        if not self.id:
            key = "|".join((self.source, self.profile, str(self.timewindow), *self.evidence_ids))
            object.__setattr__(self, "id", _uuid5(_ALERT_SHA1, key))


@dataclass(frozen=True, slots=True)
class ProfileSummary:
    """What is kept of one profile's time window once the window closes."""

    ip: str
    timewindow: int
    start: float  # first flow seen in the window
    end: float  # last flow seen in the window
    flows_out: int
    flows_in: int
    bytes_out: int
    bytes_in: int
    pkts_out: int
    pkts_in: int
    distinct_dsts: int
    distinct_dports: int
    evidence: int
    score: float
    alerts: int


_Finding = TypeVar("_Finding", Evidence, Alert, ProfileSummary)


def finding_to_dict(obj: Evidence | Alert | ProfileSummary) -> dict[str, Any]:
    """Plain-JSON form of a finding (tuples become lists, enums their value).

    Generic over the dataclass fields, so adding a field needs no converter edit.
    """
    out: dict[str, Any] = {}
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if isinstance(value, tuple):
            value = list(value)
        elif isinstance(value, enum.Enum):
            value = value.value
        out[f.name] = value
    return out


def finding_from_dict(cls: type[_Finding], data: dict[str, Any]) -> _Finding:
    """Inverse of `finding_to_dict`; unknown keys are rejected, values re-validated."""
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(data) - names
    if unknown:
        raise ValueError(f"unknown {cls.__name__} fields: {sorted(unknown)}")
    kwargs: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
    return cls(**kwargs)
