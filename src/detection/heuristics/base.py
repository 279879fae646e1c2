"""The detector plugin contract.

Theory of operation
-------------------
A detector is a small object that observes records of the types it names in
`consumes` and returns evidence. It keeps its own state keyed by profile and
time window, and drops a window's state when the pipeline calls
`close_window(window)` (bounded memory: nothing outlives its window except
what the detector deliberately keeps, documented in its module).

Flow routing: most flows cannot concern most detectors (an ICMP sweep detector
has nothing to learn from a TCP flow), yet calling 23 detectors per flow is
most of the per-flow cost. A detector may narrow the flows it is handed with
`wants_flow(proto, dport, service, src_kind, dst_kind)` (the kinds:
public, private or special addresses); the pipeline asks once per distinct
combination and caches the answer, so each flow pays one dict lookup instead of a
call per uninterested detector. The filter must be a *superset*: it may say
yes to a flow `observe` ignores, never no to one `observe` would act on (or
learn from). A test runs every capture with and without routing and compares
the findings. A detector whose answer narrows as it learns (it needs a kind of
flow only until it has seen one) sets `reroute`; the pipeline rebuilds its
routes at the next window boundary. A detector whose answer *widens* (it needs
flows only once a record of another type taught it something: its first DNS
answer, a learnt address) sets `reroute` while observing that record; the
pipeline rebuilds its routes right after that record. An answer may widen only
on a non-flow record (after a flow the old routes stay until the next window).

Flow traits: a few detectors act only on flows with a property the route key
does not hold (a source MAC, a port 0, a long duration, no answer), yet would
be called for nearly every flow. Such a detector sets `needs_traits` (an OR of
the trait bits below): the pipeline adds the flow's traits (`flow_traits`) to
the route key and hands the detector only flows with at least one of them.
Same contract: a flow without them must be one `observe` ignores.

Bounded state: every map a detector keeps has a cap (its `Params`), so a flood of
distinct keys cannot exhaust memory. What a full cap costs — an entry evicted, a
new one refused — is counted with `overflowed` and reported per detector
(summary.json `detector_state_overflow`, `/metrics`): a detector blinded by a
flood must say so, not go quiet.

`observe` returns ``None`` when there is nothing to report — the common case —
so the per-record hot path allocates nothing. Thresholds arrive as a frozen
pydantic `Params` model, which is also the schema of the detector's section in
the YAML config (so a misspelt threshold is a config error, not a silent default).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import ClassVar

from pydantic import BaseModel, ConfigDict

from detection.allowlist import CidrIndex, OrgInfo
from detection.intel.index import IntelIndex
from detection.model import Evidence, Flow, Record, ThreatLevel

__all__ = [
    "ADDRESS_KINDS",
    "ALL_TRAITS",
    "HAS_SOURCE_MAC",
    "LONG_FLOW",
    "LONG_FLOW_SECONDS",
    "PORT_ZERO",
    "PRIVATE",
    "PUBLIC",
    "SPECIAL",
    "UNANSWERED",
    "AddressKinds",
    "DetectionContext",
    "Detector",
    "DetectorParams",
    "OrgPort",
    "flow_traits",
    "is_multicast_or_broadcast",
    "is_private",
    "is_special",
    "report_due",
]


# Flow traits (module header): bits of `flow_traits`, named by `Detector.needs_traits`.
HAS_SOURCE_MAC = 1  # the flow names its source MAC address
PORT_ZERO = 2  # source or destination port 0
LONG_FLOW = 4  # duration over LONG_FLOW_SECONDS
UNANSWERED = 8  # not established
ALL_TRAITS = HAS_SOURCE_MAC | PORT_ZERO | LONG_FLOW | UNANSWERED
LONG_FLOW_SECONDS = 60.0


def flow_traits(flow: Flow) -> int:
    """The trait bits of `flow` (the pipeline computes the same inline, per flow)."""
    return (
        (HAS_SOURCE_MAC if flow.smac else 0)
        | (PORT_ZERO if flow.sport == 0 or flow.dport == 0 else 0)
        | (LONG_FLOW if flow.duration > LONG_FLOW_SECONDS else 0)
        | (0 if flow.established else UNANSWERED)
    )


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
    intel: IntelIndex = field(default_factory=lambda: IntelIndex().freeze())  # feeds + local IoCs
    # Trained models by name (e.g. "flows", "letters"), loaded and verified by
    # the agent (`agent.ml`); a model-based detector without its model stays quiet.
    models: Mapping[str, object] = field(default_factory=dict)


class DetectorParams(BaseModel):
    """Base of every detector's thresholds: strict keys, immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    enabled: bool = True


class Detector(ABC):
    name: ClassVar[str]
    consumes: ClassVar[tuple[type, ...]]
    Params: ClassVar[type[DetectorParams]]
    # Flow traits a flow needs (at least one) to matter here; 0: none needed
    # (module header). A class default, so it holds before `__init__` too.
    needs_traits: int = 0

    def __init__(self, params: DetectorParams, context: DetectionContext | None = None) -> None:
        self.params = params
        self.context = context if context is not None else DetectionContext()
        self.reroute = False  # `wants_flow` would now answer no more often (module header)
        # State a memory cap made this detector forget or refuse, by what (module header).
        self.state_overflow: dict[str, int] = {}

    def overflowed(self, what: str, n: int = 1) -> None:
        """Count state a cap made this detector evict or refuse (`what`: "pairs_evicted",
        "pending_refused", ...). Rare by design; never on the per-flow fast path."""
        self.state_overflow[what] = self.state_overflow.get(what, 0) + n

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

    def use_intel(self, index: IntelIndex) -> None:
        """A new threat-intelligence index (feeds updated): detectors that match
        indicators switch to it; others ignore it. The pipeline re-routes after."""
        del index  # nothing to switch in a detector that matches no indicators

    def wants_flow(
        self, proto: str, dport: int | None, service: str, src_kind: int, dst_kind: int
    ) -> bool:
        """Could a flow of this protocol, destination port, service (Zeek's
        ``service``, "" when unknown) and source/destination address kinds
        (`PUBLIC`, `PRIVATE`, `SPECIAL`: `ADDRESS_KINDS`) matter to this detector?
        Default: yes. See "Flow routing" in the module header for the contract."""
        return True

    @abstractmethod
    def observe(self, record: Record, window: int) -> Sequence[Evidence] | None:
        """Look at one record in `window`; return new evidence or None."""

    def close_window(self, window: int) -> Sequence[Evidence] | None:
        """Forget state of `window` (and older); may emit end-of-window evidence."""
        return None


def _multicast_or_broadcast(ip: str) -> bool:
    """Cheap string test (no ipaddress parsing); memoised below."""
    if ":" in ip:
        return ip[:2].lower() == "ff"
    first, _, _ = ip.partition(".")
    return (first.isascii() and first.isdigit() and 224 <= int(first) <= 239) or ip.endswith(".255")


def is_private(ip: str) -> bool:
    """RFC 1918 IPv4 or IPv6 unique-local (fc00::/7)."""
    if ":" in ip:
        head = ip[:2].lower()
        return head in ("fc", "fd")
    if ip.startswith(("10.", "192.168.")):
        return True
    if ip.startswith("172."):
        second = ip[4:7].partition(".")[0]
        return second.isascii() and second.isdigit() and 16 <= int(second) <= 31
    return False


def is_special(ip: str) -> bool:
    """Addresses that are never a remote peer of a real connection: multicast,
    broadcast, link-local, loopback, unspecified."""
    if ":" in ip:
        low = ip.lower()
        return low[:2] == "ff" or low.startswith("fe80") or low in ("::", "::1")
    return _multicast_or_broadcast(ip) or ip.startswith(("169.254.", "127.", "0.", "255."))


PUBLIC, PRIVATE, SPECIAL = 0, 1, 2


class AddressKinds(dict[str, int]):
    """Cache of each address's kind — `PUBLIC`, `PRIVATE` (RFC 1918 / ULA) or
    `SPECIAL` (multicast, broadcast, link-local, loopback, unspecified, empty) —
    so hot paths pay one dict read per flow. Cleared when it reaches `cap`."""

    __slots__ = ("_cap",)

    def __init__(self, cap: int = 100_000) -> None:
        super().__init__()
        self._cap = cap

    def __missing__(self, ip: str) -> int:
        if len(self) >= self._cap:
            self.clear()
        if not ip or is_special(ip):
            kind = SPECIAL
        elif is_private(ip):
            kind = PRIVATE
        else:
            kind = PUBLIC
        self[ip] = kind
        return kind


# One cache for the pipeline and every detector: an address's kind never changes.
ADDRESS_KINDS = AddressKinds()


class _MulticastMemo(dict[str, bool]):
    __slots__ = ("_cap",)

    def __init__(self, cap: int = 100_000) -> None:
        super().__init__()
        self._cap = cap

    def __missing__(self, ip: str) -> bool:
        if len(self) >= self._cap:
            self.clear()
        found = self[ip] = _multicast_or_broadcast(ip)
        return found


# Several detectors ask this of every flow's destination: one dict read each.
is_multicast_or_broadcast: Callable[[str], bool] = _MulticastMemo().__getitem__
"""Multicast or broadcast address? (memoised string test, no ipaddress parsing)"""


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
