"""DNS resolution without connection: a name resolved to addresses that nobody
then contacted.

Malware resolves names to check connectivity, to pick a live C&C among many
(fast flux, DGA candidates that did resolve), or to carry data in the query
itself; ordinary software resolves in order to connect. Each answered A/AAAA
query is held, per (client, name), and decided when its window closes: an
hour or more later in record time, so past the `wait_seconds` (30 min) that
Slips waits; at the end of input, a query younger than the wait is not
judged. A flow from any host to any of its answer addresses clears it (any
host, because a local resolver or proxy may connect on the client's behalf),
whether the flow is seen before or after the DNS record — logs interleave —
as long as it started no earlier than `grace_seconds` before the query. The
last contact of each address is remembered from the input's first DNS record
on (bounded, `max_contacted`, oldest first out; an input without DNS costs
one test per flow).

Quiet on normal hosts: only judged once the input has carried flows at all
(a dns.log alone says nothing about connections); names that are never
contacted by design are skipped — reverse lookups (.arpa), .local and other
single-label names, wildcards, WPAD, Team Cymru's lookup service — and so are
answers that are only private, loopback or special addresses.

INFO / 0.8 as in Slips (browsers pre-resolve links; context, no score). One
evidence per (client, name) and window, at most `max_reported_per_window` per
client and window, then one summary evidence with the count.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import Field

from detection.heuristics._connections import is_ip_literal, is_private, is_special
from detection.heuristics.base import DetectionContext, Detector, DetectorParams
from detection.model import DnsRecord, Evidence, Flow, ThreatLevel

__all__ = ["DnsWithoutConnection", "DnsWithoutConnectionParams"]

_QTYPES = frozenset({"A", "AAAA"})
_END_OF_INPUT = 2**62  # the window `Pipeline.finish` closes
_SKIPPED_SUFFIXES = (".arpa", ".local", ".cymru.com", ".localdomain", ".lan", ".home")


class DnsWithoutConnectionParams(DetectorParams):
    wait_seconds: float = Field(1800.0, ge=0.0)
    grace_seconds: float = Field(30.0, ge=0.0)
    max_pending: int = Field(20_000, ge=1)
    max_contacted: int = Field(200_000, ge=1)
    max_reported_per_window: int = Field(10, ge=1)
    confidence: float = Field(0.8, ge=0.0, le=1.0)


class _Query:
    __slots__ = ("addresses", "ts", "uid")

    def __init__(self, rec: DnsRecord, addresses: tuple[str, ...]) -> None:
        self.ts = rec.ts
        self.uid = rec.uid
        self.addresses = addresses


def _skipped_name(query: str) -> bool:
    name = query.lower().rstrip(".")
    return (
        "." not in name
        or "*" in name
        or name.startswith("wpad.")
        or name.endswith(_SKIPPED_SUFFIXES)
    )


class DnsWithoutConnection(Detector):
    name = "dns_without_connection"
    consumes = (Flow, DnsRecord)
    Params = DnsWithoutConnectionParams

    def __init__(self, params: DetectorParams, context: DetectionContext | None = None) -> None:
        super().__init__(params, context)
        assert isinstance(params, DnsWithoutConnectionParams)
        self.p = params
        # window -> (client, name) -> query
        self._pending: dict[int, dict[tuple[str, str], _Query]] = {}
        # address -> start of the last flow to it (bounded, oldest first out)
        self._contacted: dict[str, float] = {}
        self._n_pending = 0
        self._flows_seen = False
        self._dns_seen = False
        self._last_ts = float("-inf")

    def wants_flow(
        self, proto: str, dport: int | None, service: str, src_kind: int, dst_kind: int
    ) -> bool:
        # Before the first DNS record a flow only tells that flows exist (one is enough).
        return self._dns_seen or not self._flows_seen

    def observe(self, record: object, window: int) -> Sequence[Evidence] | None:
        rec: Flow | DnsRecord = record  # type: ignore[assignment]  # only these are routed here
        if type(rec) is Flow:
            if not self._flows_seen:
                self._flows_seen = True
                self.reroute = not self._dns_seen  # `wants_flow` narrows
            if not self._dns_seen:
                return None  # no query yet that a contact could clear
            contacted = self._contacted
            if rec.daddr not in contacted and len(contacted) >= self.p.max_contacted:
                del contacted[next(iter(contacted))]
                self.overflowed("contacted_evicted")
            contacted[rec.daddr] = rec.ts
            self._last_ts = max(self._last_ts, rec.ts)
            return None
        dns: DnsRecord = rec  # type: ignore[assignment]  # not a Flow: a DnsRecord
        if not self._dns_seen:
            self._dns_seen = True
            self.reroute = True  # every flow matters from now on (`wants_flow`)
        self._last_ts = max(self._last_ts, dns.ts)
        if not dns.answers or dns.qtype not in _QTYPES or not dns.saddr:
            return None
        if _skipped_name(dns.query):
            return None
        addresses = tuple(
            a for a in dns.answers if is_ip_literal(a) and not is_private(a) and not is_special(a)
        )
        if not addresses:
            return None
        pending = self._pending.get(window)
        if pending is None:
            pending = self._pending[window] = {}
        key = (dns.saddr, dns.query.lower().rstrip("."))
        if key in pending:
            return None
        if self._n_pending >= self.p.max_pending:
            self.overflowed("pending_refused")
            return None
        pending[key] = _Query(dns, addresses)
        self._n_pending += 1
        return None

    def _used(self, query: _Query) -> bool:
        """Was any answer address contacted after the query (or just before: clock
        skew between logs, `grace_seconds`), or is it still within its wait?"""
        since = query.ts - self.p.grace_seconds
        for address in query.addresses:
            last = self._contacted.get(address)
            if last is not None and last >= since:
                return True
        return False

    def close_window(self, window: int) -> Sequence[Evidence] | None:
        out: list[Evidence] = []
        # A window may close on another record type's clock (a time jump across
        # merged logs), so youth is judged on this detector's own stream; a query
        # too young is kept for a later close, and dropped at the end of input.
        cutoff = self._last_ts - self.p.wait_seconds
        final = window >= _END_OF_INPUT
        for w in sorted(w for w in self._pending if w <= window):
            unanswered: dict[str, list[tuple[str, _Query]]] = {}
            young: dict[tuple[str, str], _Query] = {}
            for key, query in self._pending.pop(w).items():
                if query.ts > cutoff and not final:
                    young[key] = query  # decided at a later close
                    continue
                self._n_pending -= 1
                if query.ts > cutoff or not self._flows_seen or self._used(query):
                    continue  # used, too young to judge, or no flows to judge by
                unanswered.setdefault(key[0], []).append((key[1], query))
            if young:
                self._pending[w] = young
            for client, items in unanswered.items():
                out.extend(self._report(client, items, w))
        return out or None

    def _report(self, client: str, items: list[tuple[str, _Query]], window: int) -> list[Evidence]:
        limit = self.p.max_reported_per_window
        out = [
            self._evidence(
                client,
                window,
                query,
                f"{client} resolved {name} to {', '.join(query.addresses[:3])} but no host "
                f"connected to it within {self.p.wait_seconds / 60:.0f} min",
            )
            for name, query in items[:limit]
        ]
        if len(items) > limit:
            rest = items[limit:]
            names = ", ".join(n for n, _ in rest[:5])
            ev = self._evidence(
                client,
                window,
                rest[0][1],
                f"{client} resolved {len(rest)} more names that no host connected to "
                f"in this window ({names}, …)",
            )
            out.append(ev)
        return out

    def _evidence(self, client: str, window: int, query: _Query, description: str) -> Evidence:
        return Evidence(
            type=self.name,
            attacker=client,
            victim=None,
            threat_level=ThreatLevel.INFO,
            confidence=self.p.confidence,
            ts=query.ts,
            timewindow=window,
            description=description,
            source=self.source,
            uids=(query.uid,),
            attack_technique="T1071.004",  # Application Layer Protocol: DNS
        )
