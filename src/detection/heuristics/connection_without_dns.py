"""Connection without DNS resolution: a host contacting a public address that no
DNS answer in the traffic gave out.

Malware with hard-coded C&C addresses skips DNS; ordinary software almost never
does. The detector remembers every address that appeared in a DNS answer
(bounded: the `max_resolved` most recent, each for `memory_seconds`, 24 h as in
Slips), and holds each established connection to an unresolved address as a
candidate. Candidates are decided only when their window closes (an hour or
more later in record time), so a DNS answer logged after the connection it
explains — logs interleave — still clears it, as long as it came no later than
`grace_seconds` after the connection started.

Quiet on normal hosts by construction:

* only judged from the first DNS record of the input on (a conn.log alone, or
  a sensor that does not see the resolver, says nothing about resolution; and
  a conn-only input costs one test per flow);
* only established TCP/UDP connections (unanswered ones are scans, judged by
  the scan detectors);
* never for private, multicast, broadcast, link-local or loopback destinations,
  the host's own addresses, the DNS servers seen in the traffic (port 53),
  DHCP servers (port 67), or the address ranges of well-known organisations
  (their CDNs are reached by hard-coded addresses in normal software);
* at the end of input, a candidate younger than `grace_seconds` is not judged.

INFO / 0.8 as in Slips (no score on its own: context for other evidence). One
evidence per (source, destination) and window, at most
`max_reported_per_window` per source and window (then one summary evidence
with the count), so a host contacting thousands of raw IPs cannot flood.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

from pydantic import Field

from detection.heuristics._connections import (
    ADDRESS_KINDS,
    PUBLIC,
    BoundedLru,
    is_ip_literal,
    org_ranges,
)
from detection.heuristics.base import DetectionContext, Detector, DetectorParams
from detection.model import DnsRecord, Evidence, Flow, ThreatLevel

__all__ = ["ConnectionWithoutDns", "ConnectionWithoutDnsParams"]

_PROTOS = frozenset({"tcp", "udp"})
_SERVER_PORTS = frozenset({53, 67, 68, 853, 5353})
_END_OF_INPUT = 2**62  # the window `Pipeline.finish` closes


class ConnectionWithoutDnsParams(DetectorParams):
    grace_seconds: float = Field(30.0, ge=0.0)
    memory_seconds: float = Field(86400.0, ge=0.0)
    max_resolved: int = Field(200_000, ge=1)
    max_candidates: int = Field(10_000, ge=1)
    max_reported_per_window: int = Field(10, ge=1)
    confidence: float = Field(0.8, ge=0.0, le=1.0)


class _Candidate:
    __slots__ = ("dport", "flows", "proto", "ts", "uids")

    def __init__(self, flow: Flow) -> None:
        self.ts = flow.ts
        self.dport = flow.dport
        self.proto = flow.proto
        self.flows = 0
        self.uids: list[str] = []


class ConnectionWithoutDns(Detector):
    name = "connection_without_dns"
    consumes = (Flow, DnsRecord)
    Params = ConnectionWithoutDnsParams

    def __init__(self, params: DetectorParams, context: DetectionContext | None = None) -> None:
        super().__init__(params, context)
        assert isinstance(params, ConnectionWithoutDnsParams)
        self.p = params
        self._orgs = org_ranges(self.context.organizations)
        self._own = self.context.own_addresses
        # ip -> last answer ts
        on_evict = partial(self.overflowed, "resolved_evicted")
        self._resolved = BoundedLru(params.max_resolved, on_evict)
        # DNS/DHCP servers seen -> last ts
        self._servers = BoundedLru(10_000, partial(self.overflowed, "servers_evicted"))
        self._last_server: str | None = None  # the key `_servers` set last (its newest)
        self._kinds = ADDRESS_KINDS
        self._dns_seen = False
        self._last_ts = float("-inf")
        # window -> (saddr, daddr) -> candidate
        self._candidates: dict[int, dict[tuple[str, str], _Candidate]] = {}
        self._n_candidates = 0

    def wants_flow(
        self, proto: str, dport: int | None, service: str, src_kind: int, dst_kind: int
    ) -> bool:
        # Before the first DNS record only the DNS/DHCP servers are learnt from flows.
        return self._dns_seen or dport in _SERVER_PORTS

    def observe(self, record: object, window: int) -> Sequence[Evidence] | None:
        rec: Flow | DnsRecord = record  # type: ignore[assignment]  # only these are routed here
        if type(rec) is DnsRecord:
            self._last_ts = max(self._last_ts, rec.ts)
            self._observe_dns(rec)
            return None
        flow: Flow = rec  # type: ignore[assignment]  # not a DnsRecord: a Flow
        dport = flow.dport
        if dport in _SERVER_PORTS:
            if flow.established:
                daddr = flow.daddr
                if daddr == self._last_server:
                    # Already the most recently set key: refreshing its value in
                    # place is `BoundedLru.set` without the move (few servers, many flows).
                    self._servers[daddr] = flow.ts
                else:
                    self._servers.set(daddr, flow.ts)
                    self._last_server = daddr
            return None
        if not self._dns_seen:
            return None  # before the first DNS record, the input says nothing about DNS
        self._last_ts = max(self._last_ts, flow.ts)
        if not flow.established or flow.proto not in _PROTOS:
            return None
        daddr = flow.daddr
        resolved = self._resolved.get(daddr)
        if resolved is not None and resolved >= flow.ts - self.p.memory_seconds:
            return None
        if self._kinds[daddr] != PUBLIC or daddr in self._own or not flow.saddr:
            return None
        candidates = self._candidates.get(window)
        if candidates is None:
            candidates = self._candidates[window] = {}
        cand = candidates.get((flow.saddr, daddr))
        if cand is None:
            if self._n_candidates >= self.p.max_candidates:
                self.overflowed("candidates_refused")
                return None
            self._n_candidates += 1
            cand = candidates[(flow.saddr, daddr)] = _Candidate(flow)
        cand.flows += 1
        if len(cand.uids) < 5:
            cand.uids.append(flow.uid)
        return None

    def _observe_dns(self, rec: DnsRecord) -> None:
        if not self._dns_seen:
            self._dns_seen = True
            self.reroute = True  # every flow matters from now on (`wants_flow`)
        if rec.daddr:
            self._servers.set(rec.daddr, rec.ts)
            self._last_server = rec.daddr
        for answer in rec.answers:
            if is_ip_literal(answer):
                self._resolved.set(answer, rec.ts)

    def _explained(self, daddr: str, cand: _Candidate) -> bool:
        resolved = self._resolved.get(daddr)
        if resolved is not None and (
            cand.ts - self.p.memory_seconds <= resolved <= cand.ts + self.p.grace_seconds
        ):
            return True
        return daddr in self._servers or self._orgs.lookup(daddr)

    def close_window(self, window: int) -> Sequence[Evidence] | None:
        out: list[Evidence] = []
        # A window may close on another record type's clock (a time jump across
        # merged logs), so youth is judged on this detector's own stream.
        final = window >= _END_OF_INPUT
        cutoff = self._last_ts - self.p.grace_seconds
        for w in sorted(w for w in self._candidates if w <= window):
            candidates = self._candidates[w]
            undecided = {}
            unexplained: dict[str, list[tuple[str, _Candidate]]] = {}
            for key, cand in candidates.items():
                if cand.ts > cutoff:
                    undecided[key] = cand  # too young to judge (end of input)
                elif self._dns_seen and not self._explained(key[1], cand):
                    unexplained.setdefault(key[0], []).append((key[1], cand))
            self._n_candidates -= len(candidates) - len(undecided)
            if undecided and not final:
                self._candidates[w] = undecided
            else:
                self._n_candidates -= len(undecided)
                del self._candidates[w]
            for saddr, items in unexplained.items():
                out.extend(self._report(saddr, items, w))
        return out or None

    def _report(
        self, saddr: str, items: list[tuple[str, _Candidate]], window: int
    ) -> list[Evidence]:
        limit = self.p.max_reported_per_window
        out = [self._evidence(saddr, daddr, cand, window) for daddr, cand in items[:limit]]
        if len(items) > limit:
            rest = items[limit:]
            shown = ", ".join(d for d, _ in rest[:5])
            out.append(
                Evidence(
                    type=self.name,
                    attacker=saddr,
                    victim=None,
                    threat_level=ThreatLevel.INFO,
                    confidence=self.p.confidence,
                    ts=rest[0][1].ts,
                    timewindow=window,
                    description=(
                        f"{saddr} connected to {len(rest)} more public addresses without "
                        f"resolving them through DNS in this window ({shown}, …)"
                    ),
                    source=self.source,
                    uids=tuple(u for _, c in rest[:20] for u in c.uids[:1]),
                    count=len(items),
                    attack_technique="T1071",
                )
            )
        return out

    def _evidence(self, saddr: str, daddr: str, cand: _Candidate, window: int) -> Evidence:
        port = f"{cand.dport}/{cand.proto}" if cand.dport is not None else cand.proto
        n = cand.flows
        return Evidence(
            type=self.name,
            attacker=saddr,
            victim=daddr,
            threat_level=ThreatLevel.INFO,
            confidence=self.p.confidence,
            ts=cand.ts,
            timewindow=window,
            description=(
                f"Connection from {saddr} to {daddr} on {port} without a DNS resolution "
                f"of {daddr} ({n} connection{'s' if n > 1 else ''} in this window)"
            ),
            source=self.source,
            uids=tuple(cand.uids),
            dport=cand.dport,
            proto=cand.proto,
            count=n,
            attack_technique="T1071",  # Application Layer Protocol to a hard-coded address
        )
