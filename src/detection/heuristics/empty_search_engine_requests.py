"""Empty requests to search engines: a host fetches the bare front page of a
search engine or webmail site over plain HTTP again and again, with nothing
in the request.

Malware checks that the Internet is reachable (and that it is not in a
sandbox) by requesting ``http://www.google.com/`` or ``bing.com`` before it
contacts its C&C; browsers use HTTPS for these sites and ask for real paths.
Slips' rule, kept: requests for ``/`` with an empty body to one of `engines`
(bing, google, yandex, yahoo, duckduckgo, gmail; any sub-domain), counted per
(client, engine, window), reported at `min_requests` (4, Slips' number), then
at ten and a hundred times that. Slips counts per engine across all hosts; we count per
client so the evidence names the host that did it. MEDIUM (Slips' level),
confidence 0.6. ATT&CK T1016.001 (System Network Configuration Discovery:
Internet Connection Discovery).
"""

from __future__ import annotations

from collections.abc import Sequence

from detection.heuristics._protocols import drop_closed, make_evidence
from detection.heuristics.base import DetectionContext, Detector, DetectorParams, report_due
from detection.model import Evidence, HttpRecord, ThreatLevel

__all__ = ["EmptySearchEngineRequests", "EmptySearchEngineRequestsParams"]


class EmptySearchEngineRequestsParams(DetectorParams):
    min_requests: int = 4
    engines: tuple[str, ...] = (
        "bing.com", "google.com", "yandex.com", "yandex.ru", "yahoo.com",
        "duckduckgo.com", "gmail.com",
    )  # fmt: skip


class _Seen:
    __slots__ = ("hosts", "n", "uids")

    def __init__(self) -> None:
        self.n = 0
        self.uids: list[str] = []
        self.hosts: list[str] = []


class EmptySearchEngineRequests(Detector):
    name = "empty_search_engine_requests"
    consumes = (HttpRecord,)
    Params = EmptySearchEngineRequestsParams

    def __init__(self, params: DetectorParams, context: DetectionContext | None = None) -> None:
        super().__init__(params, context)
        assert isinstance(params, EmptySearchEngineRequestsParams)
        self.p = params
        self._engines = tuple(e.lower().strip(".") for e in params.engines if e)
        self._seen: dict[tuple[str, str, int], _Seen] = {}

    def _engine(self, host: str) -> str | None:
        host = host.lower().rstrip(".")
        host, _, _ = host.partition(":")
        for engine in self._engines:
            if host == engine or host.endswith("." + engine):
                return engine
        return None

    def observe(self, record: object, window: int) -> Sequence[Evidence] | None:
        rec: HttpRecord = record  # type: ignore[assignment]  # routed by `consumes`
        if rec.uri not in ("/", "") or rec.request_body_len or not rec.saddr:
            return None
        engine = self._engine(rec.host)
        if engine is None:
            return None
        key = (rec.saddr, engine, window)
        seen = self._seen.get(key)
        if seen is None:
            seen = self._seen[key] = _Seen()
        seen.n += 1
        if len(seen.uids) < 10:
            seen.uids.append(rec.uid)
        if rec.host not in seen.hosts and len(seen.hosts) < 5:
            seen.hosts.append(rec.host)
        first = self.p.min_requests
        if not report_due(seen.n, first, (first * 10, first * 100)):
            return None
        return (
            make_evidence(
                self,
                attacker=rec.saddr,
                # The engine is not attacked, and naming it would let the allowlist of
                # big organisations (Google, Microsoft) hide the finding.
                victim=None,
                level=ThreatLevel.MEDIUM,
                confidence=0.6,
                ts=rec.ts,
                window=window,
                description=(
                    f"{seen.n} empty HTTP requests for / from {rec.saddr} to {engine} "
                    f"({', '.join(seen.hosts)}; last {rec.daddr}) in this window: an Internet "
                    "connectivity check"
                ),
                technique="T1016.001",  # Internet Connection Discovery
                uids=seen.uids,
                dport=rec.dport,
                proto="tcp",
                count=seen.n,
            ),
        )

    def close_window(self, window: int) -> Sequence[Evidence] | None:
        drop_closed(self._seen, window)
        return None
