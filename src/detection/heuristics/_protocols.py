"""Helpers shared by the protocol detectors (TLS, SSH, SMTP, HTTP, beaconing).

* `make_evidence`: the one place a protocol detector builds its `Evidence`
  (type and source come from the detector, so they cannot disagree).
* Name and organisation helpers for the certificate detectors: the CN of a
  certificate subject, whether a host name matches a (wildcard) CN, which
  organisation of `DetectionContext.organizations` owns a domain or an IP.
* `UnrecognisedServiceOnPort`: the common machinery of "non-TLS traffic on 443"
  and "non-HTTP traffic on 80" (see its docstring for the deferred decision).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, Protocol, TypeVar

from detection.allowlist import CidrIndex
from detection.heuristics.base import DetectionContext, Detector, DetectorParams, report_due
from detection.model import UNANALYSED_UID_PREFIXES, Evidence, Flow, ThreatLevel

K = TypeVar("K")

MAX_EVIDENCE_UIDS = 10  # uids named by one evidence (count carries the magnitude)


def make_evidence(
    det: Detector,
    *,
    attacker: str,
    victim: str | None,
    level: ThreatLevel,
    confidence: float,
    ts: float,
    window: int,
    description: str,
    technique: str,
    uids: Sequence[str] = (),
    dport: int | None = None,
    proto: str | None = None,
    count: int | None = None,
) -> Evidence:
    return det.new_evidence(
        attacker=attacker,
        victim=victim or None,
        level=level,
        confidence=confidence,
        ts=ts,
        window=window,
        description=description,
        technique=technique,
        uids=tuple(u for u in uids[:MAX_EVIDENCE_UIDS] if u),
        dport=dport,
        proto=proto,
        count=count,
    )


# -- names and organisations -----------------------------------------------------------


def subject_cn(subject: str) -> str:
    """The CN of an X.509 subject string (``CN=www.google.com,O=…``), lower case."""
    for part in subject.split(","):
        key, sep, value = part.strip().partition("=")
        if sep and key.strip().upper() == "CN":
            return value.strip().lower().rstrip(".")
    return ""


def name_matches(host: str, pattern: str) -> bool:
    """Does `host` match a certificate name (``*.example.com`` covers one label)?"""
    host = host.lower().rstrip(".")
    pattern = pattern.lower().rstrip(".")
    if not host or not pattern:
        return False
    if pattern.startswith("*."):
        head, _, rest = host.partition(".")
        return bool(head) and rest == pattern[2:]
    return host == pattern


def registered_domain(host: str) -> str:
    """A cheap registered-domain guess: the last two labels (three for ``co.uk``-like)."""
    labels = host.lower().rstrip(".").lstrip("*.").split(".")
    if len(labels) >= 3 and len(labels[-2]) <= 3 and len(labels[-1]) == 2:
        return ".".join(labels[-3:])
    return ".".join(labels[-2:])


def org_of_domain(context: DetectionContext, host: str) -> str | None:
    """The organisation whose domain list covers `host` (suffix match), if any."""
    host = host.lower().rstrip(".").removeprefix("*.")
    if not host:
        return None
    labels = host.split(".")
    suffixes = {".".join(labels[i:]) for i in range(len(labels) - 1)}
    for name, info in context.organizations.items():
        if not suffixes.isdisjoint(info.domains):
            return name
    return None


def org_owns_ip(context: DetectionContext, org: str, ip: str) -> bool:
    info = context.organizations.get(org)
    return info is not None and info.ranges.lookup(ip)


def all_org_ranges(context: DetectionContext) -> CidrIndex:
    """Every well-known organisation's ranges as one index (one lookup, not one per
    organisation); build it once, in a detector's ``__init__``."""
    return CidrIndex.union(info.ranges for info in context.organizations.values())


# -- a protocol expected on a port but not seen ------------------------------------------


class UnrecognisedServiceParams(DetectorParams):
    # Established flows carrying fewer bytes (both ways) are ignored: a lone byte
    # is a TCP keep-alive probe of a connection whose start was not seen.
    min_bytes: int = 2
    match_seconds: float = 300.0  # a recognised flow of the same pair this close clears one
    max_pending: int = 10_000  # candidate flows kept per window (bounded memory)
    max_reports_per_source: int = 20  # evidence per source and window (no flood)
    # Big providers' ranges (Google, Microsoft, Apple, Facebook, Twitter) carry
    # proprietary protocols and TLS that Zeek misses; skip them.
    skip_organizations: bool = True


class UnrecognisedServiceOnPort(Detector):
    """Established TCP flows to `port` whose service the sensor did not recognise.

    Theory of operation: a candidate (established, >= `min_bytes`, service not
    containing any of `service_words`) is not decided at once. Zeek often labels
    one flow of a pair and misses the handshake of another (mid-stream start),
    so a flow is cleared when the same (source, destination) had a recognised
    flow, or a protocol record (ssl.log/http.log), within `match_seconds`
    before or after it. Recognised pairs are remembered in `match_seconds`
    slots; candidates are decided when their window closes (by then the stream
    is two windows further, so "after" has been seen). A mid-stream flow (Zeek
    history without the originator's SYN) is usually the tail of a long
    connection that Zeek split after its inactivity timeout, whose start was
    recognised: it is cleared by a recognised flow of the pair anywhere in its
    window or the adjacent ones. Flows from formats that
    never name a service (Argus, nfdump: their parsers' uid prefixes,
    `model.UNANALYSED_UID_PREFIXES`) are never candidates, even when the same
    run also reads Zeek logs; and the detector only decides once it has seen at
    least one flow with a service.
    """

    port: ClassVar[int]
    service_words: ClassVar[tuple[str, ...]]
    protocol: ClassVar[str]  # for descriptions: "TLS", "HTTP"
    technique: ClassVar[str] = "T1571"  # Non-Standard Port (protocol/port mismatch)

    def __init__(self, params: DetectorParams, context: DetectionContext | None = None) -> None:
        super().__init__(params, context)
        assert isinstance(params, UnrecognisedServiceParams)
        self.p = params
        self._match = params.match_seconds  # read per flow: a plain attribute
        self._services_seen = False
        self._org_ranges = all_org_ranges(self.context)
        # daddr -> inside a well-known organisation's ranges? (memo, bounded)
        self._in_org: dict[str, bool] = {}
        self._pending: dict[int, list[Flow]] = {}
        # service name -> recognised as this protocol? (few distinct names; bounded)
        self._recognises: dict[str, bool] = {}
        # (saddr, daddr, slot) -> window of the newest recognised flow in that slot
        self._recognised: dict[tuple[str, str, int], int] = {}
        # (saddr, daddr, window) of recognised flows, for mid-stream candidates
        self._recognised_windows: set[tuple[str, str, int]] = set()

    def _slot(self, ts: float) -> int:
        return int(ts // self.p.match_seconds)

    def _mark(self, saddr: str, daddr: str, ts: float, window: int) -> None:
        self._recognised[(saddr, daddr, self._slot(ts))] = window
        self._recognised_windows.add((saddr, daddr, window))

    def wants_flow(
        self, proto: str, dport: int | None, service: str, src_kind: int, dst_kind: int
    ) -> bool:
        if proto == "tcp" and dport == self.port:
            return True
        # Until one arrives, any flow with a service: it tells that the sensor names them.
        return bool(service) and not self._services_seen

    def observe(self, record: object, window: int) -> Sequence[Evidence] | None:
        if type(record) is not Flow:
            rec: Flow = record  # type: ignore[assignment]  # protocol records share these fields
            self._mark(rec.saddr, rec.daddr, rec.ts, window)
            return None
        flow = record
        service = flow.service
        if service and not self._services_seen:
            self._services_seen = True
            self.reroute = True
        if flow.dport != self.port or flow.proto != "tcp" or not flow.saddr:
            return None
        if service:
            recognised = self._recognises.get(service)
            if recognised is None:
                recognised = self._recognised_service(service)
            if recognised:  # `_mark`, inline
                saddr, daddr = flow.saddr, flow.daddr
                self._recognised[(saddr, daddr, int(flow.ts // self._match))] = window
                self._recognised_windows.add((saddr, daddr, window))
                return None
        history = flow.history
        if "C" in history or "c" in history:
            return None  # bad checksums: Zeek could not read the payload
        if not flow.established or flow.sbytes + flow.dbytes < self.p.min_bytes:
            return None
        if flow.uid[:1] in UNANALYSED_UID_PREFIXES:
            return None  # an Argus/nfdump flow: "no service" means "not analysed" there
        pending = self._pending.get(window)
        if pending is None:
            pending = self._pending[window] = []
        if len(pending) < self.p.max_pending:
            pending.append(flow)
        else:
            self.overflowed("pending_refused")
        return None

    def _recognised_service(self, service: str) -> bool:
        low = service.lower()
        found = any(w in low for w in self.service_words)
        if len(self._recognises) >= 1024:
            self._recognises.clear()
        self._recognises[service] = found
        return found

    def _cleared(self, flow: Flow, window: int, pairs: set[tuple[str, str]]) -> bool:
        src, dst = flow.saddr, flow.daddr
        if (src, dst) not in pairs:
            return False  # the pair had no recognised flow at all
        if flow.history and "S" not in flow.history:  # mid-stream (see class docstring)
            wins = self._recognised_windows
            if (
                (src, dst, window) in wins
                or (src, dst, window - 1) in wins
                or (src, dst, window + 1) in wins
            ):
                return True
        slot = self._slot(flow.ts)
        rec = self._recognised
        return (src, dst, slot) in rec or (src, dst, slot - 1) in rec or (src, dst, slot + 1) in rec

    def close_window(self, window: int) -> Sequence[Evidence] | None:
        out: list[Evidence] = []
        for w in sorted(k for k in self._pending if k <= window):
            flows = self._pending.pop(w)
            if self._services_seen:
                out.extend(self._decide(flows, w))
        for key in [k for k, w in self._recognised.items() if w < window]:
            del self._recognised[key]
        self._recognised_windows = {k for k in self._recognised_windows if k[2] >= window}
        return out or None

    def _org_owned(self, daddr: str) -> bool:
        found = self._in_org.get(daddr)
        if found is None:
            if len(self._in_org) >= 65_536:
                self._in_org.clear()
            found = self._in_org[daddr] = self._org_ranges.lookup(daddr)
        return found

    def _decide(self, flows: list[Flow], window: int) -> list[Evidence]:
        groups: dict[tuple[str, str], list[Flow]] = {}
        # Pairs with any recognised flow: the only ones `_cleared` can clear.
        pairs = {(s, d) for s, d, _ in self._recognised}
        pairs.update((s, d) for s, d, _ in self._recognised_windows)
        cleared = self._cleared
        for f in flows:
            if not cleared(f, window, pairs):
                group = groups.get((f.saddr, f.daddr))
                if group is None:
                    groups[(f.saddr, f.daddr)] = [f]
                else:
                    group.append(f)
        per_source: dict[str, int] = {}
        out: list[Evidence] = []
        for (saddr, daddr), group in sorted(groups.items(), key=lambda kv: -len(kv[1])):
            if per_source.get(saddr, 0) >= self.p.max_reports_per_source:
                continue
            if self.p.skip_organizations and self._org_owned(daddr):
                continue
            per_source[saddr] = per_source.get(saddr, 0) + 1
            n = len(group)
            # A flow seen from its SYN with payload both ways is a clear verdict;
            # a mid-stream or one-sided flow may just be a misread TLS/HTTP tail.
            full = any("S" in f.history and f.sbytes and f.dbytes for f in group)
            sent = sum(f.sbytes for f in group)
            received = sum(f.dbytes for f in group)
            services = sorted({f.service for f in group if f.service})
            seen_as = f" (seen as {', '.join(services)})" if services else ""
            flows_word = "flow" if n == 1 else "flows"
            out.append(
                make_evidence(
                    self,
                    attacker=saddr,
                    victim=daddr,
                    level=ThreatLevel.MEDIUM if full else ThreatLevel.LOW,
                    # More flows of the same pair make a misread handshake less likely.
                    confidence=min(0.9, (0.6 if full else 0.3) + 0.1 * n),
                    ts=group[0].ts,
                    window=window,
                    description=(
                        f"Non-{self.protocol} traffic on port {self.port}/tcp from {saddr} "
                        f"to {daddr}: {n} established {flows_word}{seen_as}, {sent} bytes "
                        f"sent, {received} received, no {self.protocol} seen for the pair "
                        f"within {self.p.match_seconds:.0f} s"
                    ),
                    technique=self.technique,
                    uids=[f.uid for f in group],
                    dport=self.port,
                    proto="tcp",
                    count=n,
                )
            )
        return out


# -- per-window bookkeeping ----------------------------------------------------------------


def drop_closed(state: dict[tuple[Any, ...], Any], window: int) -> None:
    """Forget every entry of `state` whose key ends with a window <= `window`."""
    for key in [k for k in state if k[-1] <= window]:
        del state[key]


def ssh_software(banner: str) -> str:
    """The software part of an SSH banner (``SSH-2.0-paramiko_3.4`` -> ``paramiko_3.4``)."""
    if banner.startswith("SSH-"):
        parts = banner.split("-", 2)
        return parts[2] if len(parts) == 3 else ""
    return banner


def report_crossed(before: int, after: int, first: int, steps: Sequence[int]) -> bool:
    """Did a count jumping from `before` to `after` pass a `report_due` point?

    For counts that grow by more than one at a time (an ssh.log line with 5
    attempts); O(log after), whatever the jump.
    """
    if after <= before or after < first:
        return False
    if before < first:
        return True
    if any(before < s <= after for s in steps if s > first):
        return True
    point = max(steps[-1] if steps else first, 1) * 10
    while point <= after:
        if point > before:
            return True
        point *= 10
    return False


class ConnRecord(Protocol):
    """What a connection-level record (Flow, HttpRecord, SshRecord, WeirdRecord, …) has."""

    @property
    def ts(self) -> float: ...
    @property
    def uid(self) -> str: ...
    @property
    def saddr(self) -> str: ...
    @property
    def daddr(self) -> str: ...
    @property
    def dport(self) -> int | None: ...


def count_due(
    state: dict[K, int], key: K, first: int = 1, steps: Sequence[int] = (10, 100, 1000)
) -> int | None:
    """Count one more event under `key`; the new count if a report is due (log steps)."""
    n = state.get(key, 0) + 1
    state[key] = n
    return n if report_due(n, first, steps) else None


def conn_evidence(
    det: Detector,
    rec: ConnRecord,
    window: int,
    *,
    level: ThreatLevel,
    confidence: float,
    description: str,
    technique: str,
    count: int,
) -> tuple[Evidence]:
    """The evidence of one client -> server record (attacker the client, victim the server)."""
    return (
        make_evidence(
            det,
            attacker=rec.saddr,
            victim=rec.daddr,
            level=level,
            confidence=confidence,
            ts=rec.ts,
            window=window,
            description=description,
            technique=technique,
            uids=(rec.uid,),
            dport=rec.dport,
            proto="tcp",
            count=count,
        ),
    )
