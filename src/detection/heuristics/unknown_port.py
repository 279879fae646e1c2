"""Unknown destination port: an answered connection to a port no reference list explains.

Malware often talks to its servers on non-standard ports. A port is known when
it is in the services file (Slips' ``services.csv``) for the flow's protocol,
when the flow's own analyser named the protocol (Zeek ``service``), when the
destination's organisation is known to use it (``ports_used_by_specific_orgs``),
or when it is in the dynamic range (default from 49152, IANA's ephemeral
ports): those are replies and peer-to-peer traffic, not services. As in Slips,
only established connections count (an unanswered SYN to a random port is a
scan, which the scan detectors judge). Multicast, broadcast and link-local
destinations are ignored.

One evidence per (source, destination, port, protocol) and window, re-reported
with a growing flow count at 10, 100, 1000, …; at most
`max_destinations_per_window` keys are reported per source and window, so a
host talking to thousands of odd ports yields a bounded handful. MEDIUM (Slips
says HIGH, but a single odd port is commonly a legitimate application),
confidence 0.7.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

from pydantic import Field

from detection.heuristics._connections import (
    ADDRESS_KINDS,
    SPECIAL,
    BoundedLru,
    KnownPorts,
    Tally,
)
from detection.heuristics.base import DetectionContext, Detector, DetectorParams
from detection.model import Evidence, Flow, ThreatLevel

__all__ = ["UnknownPort", "UnknownPortParams"]

_PROTOS = frozenset({"tcp", "udp"})
_WELL_KNOWN_END = 1023  # UDP to these ports is a service, never peer-to-peer
_MAX_PEERS_PER_SOCKET = 1000
_MAX_REPORTED = 10_000


class UnknownPortParams(DetectorParams):
    ignore_ports_from: int = Field(49152, ge=0, le=65536)
    max_destinations_per_window: int = Field(20, ge=1)
    p2p_min_peers: int = Field(5, ge=1)
    max_candidates: int = Field(10_000, ge=1)
    max_p2p_peers: int = Field(100_000, ge=1)
    confidence: float = Field(0.7, ge=0.0, le=1.0)


_Key = tuple[str, str, int, str]  # saddr, daddr, dport, proto


class _Candidate:
    __slots__ = ("sports", "tally", "ts")

    def __init__(self, ts: float) -> None:
        self.ts = ts
        self.sports: set[int | None] = set()
        self.tally = Tally()


class UnknownPort(Detector):
    name = "unknown_port"
    consumes = (Flow,)
    Params = UnknownPortParams

    def __init__(self, params: DetectorParams, context: DetectionContext | None = None) -> None:
        super().__init__(params, context)
        assert isinstance(params, UnknownPortParams)
        self.p = params
        self._known = KnownPorts(self.context, params.ignore_ports_from)
        # window -> key -> candidate; decided when the window closes
        self._candidates: dict[int, dict[_Key, _Candidate]] = {}
        # window -> UDP socket (saddr, sport) -> peers it sent to (bounded)
        self._udp_peers: dict[int, dict[tuple[str, int | None], set[str]]] = {}
        # (saddr, daddr) pairs of peer-to-peer traffic, kept across windows
        self._p2p = BoundedLru(params.max_p2p_peers, partial(self.overflowed, "p2p_pairs_evicted"))
        # (key, window) already reported, so late records of a closed window
        # (merged or out-of-order logs) do not report the key a second time
        self._reported = BoundedLru(_MAX_REPORTED, partial(self.overflowed, "reported_evicted"))

    def wants_flow(
        self, proto: str, dport: int | None, service: str, src_kind: int, dst_kind: int
    ) -> bool:
        if proto not in _PROTOS or dst_kind == SPECIAL:
            return False
        return self._known.may_be_unknown(proto, dport, service)

    def observe(self, record: object, window: int) -> Sequence[Evidence] | None:
        flow: Flow = record  # type: ignore[assignment]  # the pipeline routes only Flow here
        proto = flow.proto
        if not flow.established or proto not in _PROTOS:
            return None
        if not self._known.is_unknown(flow) or ADDRESS_KINDS[flow.daddr] == SPECIAL:
            return None
        if not flow.saddr:
            return None
        if proto == "udp" and flow.dport > _WELL_KNOWN_END:  # type: ignore[operator]  # unknown: an int
            peers = self._udp_peers.setdefault(window, {}).setdefault(
                (flow.saddr, flow.sport), set()
            )
            if len(peers) < _MAX_PEERS_PER_SOCKET:
                peers.add(flow.daddr)
        candidates = self._candidates.get(window)
        if candidates is None:
            candidates = self._candidates[window] = {}
        key = (flow.saddr, flow.daddr, flow.dport or 0, proto)
        cand = candidates.get(key)
        if cand is None:
            if len(candidates) >= self.p.max_candidates:
                self.overflowed("candidates_refused")
                return None
            cand = candidates[key] = _Candidate(flow.ts)
        cand.sports.add(flow.sport)
        cand.tally.add(flow.uid)
        return None

    def close_window(self, window: int) -> Sequence[Evidence] | None:
        out: list[Evidence] = []
        p2p = self._p2p
        closing = {w for w in self._udp_peers if w <= window}
        closing.update(w for w in self._candidates if w <= window)
        for w in sorted(closing):
            for (saddr, _sport), peers in self._udp_peers.pop(w, {}).items():
                if len(peers) >= self.p.p2p_min_peers:
                    for peer in peers:
                        p2p.set((saddr, peer), w)
            per_source: dict[str, int] = {}
            for key, cand in self._candidates.pop(w, {}).items():
                saddr = key[0]
                if (saddr, key[1]) in p2p:
                    continue  # a peer of a peer-to-peer application: its ports are random
                if (key, w) in self._reported:
                    continue  # late flows of a window already decided
                reported = per_source.get(saddr, 0)
                if reported < self.p.max_destinations_per_window:
                    per_source[saddr] = reported + 1
                    self._reported.set((key, w), cand.ts)
                    out.append(self._evidence(key, cand, w))
        return out or None

    def _evidence(self, key: _Key, cand: _Candidate, window: int) -> Evidence:
        saddr, daddr, dport, proto = key
        n = cand.tally.count
        return Evidence(
            type=self.name,
            attacker=saddr,
            victim=daddr,
            threat_level=ThreatLevel.MEDIUM,
            confidence=self.p.confidence,
            ts=cand.ts,
            timewindow=window,
            description=(
                f"Connection to unknown destination port {dport}/{proto} from {saddr} "
                f"to {daddr}: {n} established connection{'s' if n > 1 else ''} in this window"
            ),
            source=self.source,
            uids=tuple(cand.tally.uids),
            dport=dport,
            proto=proto,
            count=n,
            attack_technique="T1571",  # Non-Standard Port
        )
