"""The detector plugin contract.

Theory of operation
-------------------
A detector is a small object that observes records of the types it names in
`consumes` and returns evidence. It keeps its own state keyed by profile and
time window, and drops a window's state when the pipeline calls
`close_window(window)` (bounded memory: nothing outlives its window except
what the detector deliberately keeps, documented in its module).

`observe` returns ``None`` when there is nothing to report — the common case —
so the per-record hot path allocates nothing. Thresholds arrive as a frozen
pydantic `Params` model, which is also the schema of the detector's section in
the YAML config (so a misspelt threshold is a config error, not a silent default).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import ClassVar

from pydantic import BaseModel, ConfigDict

from detection.allowlist import CidrIndex, OrgInfo
from detection.model import Evidence, Record, ThreatLevel

__all__ = [
    "DetectionContext",
    "Detector",
    "DetectorParams",
    "OrgPort",
    "is_multicast_or_broadcast",
    "report_due",
]


@dataclass(frozen=True, slots=True)
class OrgPort:
    """A port an organisation is known to use (``ports_used_by_specific_orgs.csv``)."""

    organization: str
    ranges: CidrIndex
    first_port: int
    last_port: int
    proto: str  # "tcp" | "udp"


@dataclass(frozen=True, slots=True)
class DetectionContext:
    """Reference data detectors may consult. The agent loads it from files
    (`agent.reference_data`); detection itself does no I/O. Every field has an
    empty default, so a detector must behave sensibly without it."""

    services: Mapping[tuple[str, int], str] = field(default_factory=dict)  # (proto, port)
    org_ports: tuple[OrgPort, ...] = ()
    organizations: Mapping[str, OrgInfo] = field(default_factory=dict)  # name -> info
    tor_exit_nodes: frozenset[str] = frozenset()
    own_addresses: frozenset[str] = frozenset()


class DetectorParams(BaseModel):
    """Base of every detector's thresholds: strict keys, immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    enabled: bool = True


class Detector(ABC):
    name: ClassVar[str]
    consumes: ClassVar[tuple[type, ...]]
    Params: ClassVar[type[DetectorParams]]

    def __init__(self, params: DetectorParams, context: DetectionContext | None = None) -> None:
        self.params = params
        self.context = context if context is not None else DetectionContext()

    @property
    def source(self) -> str:
        return f"local:{self.name}"

    def new_evidence(
        self,
        *,
        attacker: str,
        victim: str | None,
        level: ThreatLevel,
        confidence: float,
        ts: float,
        window: int,
        description: str,
        technique: str,
        uids: tuple[str, ...] = (),
        dport: int | None = None,
        proto: str | None = None,
        count: int | None = None,
    ) -> Evidence:
        """Evidence of this detector (type = its name, source = local:<name>),
        confidence clamped to [0, 1]."""
        return Evidence(
            type=self.name,
            attacker=attacker,
            victim=victim,
            threat_level=level,
            confidence=max(0.0, min(1.0, confidence)),
            ts=ts,
            timewindow=window,
            description=description,
            source=self.source,
            uids=uids,
            dport=dport,
            proto=proto,
            count=count,
            attack_technique=technique,
        )

    @abstractmethod
    def observe(self, record: Record, window: int) -> Sequence[Evidence] | None:
        """Look at one record in `window`; return new evidence or None."""

    def close_window(self, window: int) -> Sequence[Evidence] | None:
        """Forget state of `window` (and older); may emit end-of-window evidence."""
        return None


def is_multicast_or_broadcast(ip: str) -> bool:
    """Cheap string test used on the hot path (no ipaddress parsing)."""
    if ":" in ip:
        return ip[:2].lower() == "ff"
    first, _, _ = ip.partition(".")
    return (first.isdigit() and 224 <= int(first) <= 239) or ip.endswith(".255")


def report_due(count: int, first: int, steps: Sequence[int]) -> bool:
    """Log-stepped re-reporting: report at `first`, then at each step, then every x10.

    With first=6 and steps=(10, 100, 1000): 6, 10, 100, 1000, 10000, …
    """
    if count == first:
        return True
    if count < first:
        return False
    if count in steps:
        return True
    last = steps[-1] if steps else first
    if count <= last:
        return False
    while last < count:
        last *= 10
    return last == count
