"""Pastebin download: a host downloaded a sizeable paste from a paste site.

Malware keeps second-stage payloads, configuration and C&C addresses on
paste sites (pastebin.com and similar, `domains`) because they are trusted,
free and rarely blocked. A download of at least `min_bytes` (700, Slips'
``pastebin_download_threshold``) is reported:

* over HTTP, from http.log: the Host header names the site, the response
  body length is the size;
* over TLS, where only the server name is visible: each client's paste
  site addresses are learnt from its own DNS answers (and TLS server names)
  for the site's names, and a flow of that client to such an address on any
  port but 80 (HTTP is already covered) that received at least `min_bytes`
  is the download. The DNS answer comes before the connection, so no join
  across logs is needed. Learning per client matters: the sites sit behind
  CDNs whose addresses serve many other sites. At most `max_addresses`
  (client, address) pairs are remembered (across windows).

LOW: pastes are also read by people, but a host fetching them without a
browser is how droppers work; confidence 0.6 over HTTP, 0.5 over TLS (size
of the encrypted flow). Slips raises PASTEBIN_DOWNLOAD as INFO. One evidence
per (client, server, window), re-reported at 10, 100, … downloads.
ATT&CK T1102 (Web Service).
"""

from __future__ import annotations

from collections.abc import Sequence

from detection.heuristics._protocols import conn_evidence, count_due, drop_closed
from detection.heuristics.base import DetectionContext, Detector, DetectorParams
from detection.model import DnsRecord, Evidence, Flow, HttpRecord, SslRecord, ThreatLevel

__all__ = ["PastebinDownload", "PastebinDownloadParams"]


class PastebinDownloadParams(DetectorParams):
    min_bytes: int = 700
    domains: tuple[str, ...] = ("pastebin.com", "paste.ee", "hastebin.com", "ghostbin.com")
    max_addresses: int = 1000


class PastebinDownload(Detector):
    name = "pastebin_download"
    consumes = (HttpRecord, Flow, DnsRecord, SslRecord)
    Params = PastebinDownloadParams

    def __init__(self, params: DetectorParams, context: DetectionContext | None = None) -> None:
        super().__init__(params, context)
        assert isinstance(params, PastebinDownloadParams)
        self.p = params
        self._domains = tuple(d.lower().strip(".") for d in params.domains if d)
        self._addresses: dict[tuple[str, str], str] = {}  # (client, site address) -> name
        self._seen: dict[tuple[str, str, int], int] = {}

    def _site(self, name: str) -> str | None:
        name = name.lower().rstrip(".").partition(":")[0]
        for domain in self._domains:
            if name == domain or name.endswith("." + domain):
                return name
        return None

    def _learn(self, client: str, address: str, name: str) -> None:
        key = (client, address)
        if key in self._addresses:
            return
        if not self._addresses:
            self.reroute = True  # flows matter from now on (`wants_flow`)
        elif len(self._addresses) >= self.p.max_addresses:
            self.overflowed("addresses_evicted", len(self._addresses))
            self._addresses.clear()
        self._addresses[key] = name

    def wants_flow(
        self, proto: str, dport: int | None, service: str, src_kind: int, dst_kind: int
    ) -> bool:
        # A flow is a download only to a learnt address (learnt from DNS/TLS records:
        # the pipeline re-routes at once when the first is learnt), never on port 80.
        return bool(self._addresses) and dport != 80

    def observe(self, record: object, window: int) -> Sequence[Evidence] | None:
        if type(record) is Flow:  # the hot path: nothing learnt, nothing to look up
            if not self._addresses or record.dbytes < self.p.min_bytes or record.dport == 80:
                return None
            name = self._addresses.get((record.saddr, record.daddr))
            if name is None:
                return None
            return self._report(record, name, record.dbytes, "TLS", window)
        kind = type(record)
        if kind is HttpRecord:
            rec: HttpRecord = record  # type: ignore[assignment]
            if rec.response_body_len < self.p.min_bytes:
                return None
            site = self._site(rec.host)
            if site is None:
                return None
            return self._report(rec, site, rec.response_body_len, "HTTP", window)
        if kind is DnsRecord:
            dns: DnsRecord = record  # type: ignore[assignment]
            site = self._site(dns.query) if dns.answers else None
            if site is not None:
                for answer in dns.answers:
                    if answer and (answer[0].isdigit() or ":" in answer):
                        self._learn(dns.saddr, answer, site)
            return None
        ssl: SslRecord = record  # type: ignore[assignment]
        site = self._site(ssl.server_name) if ssl.server_name else None
        if site is not None and ssl.daddr:
            self._learn(ssl.saddr, ssl.daddr, site)
        return None

    def _report(
        self, rec: Flow | HttpRecord, site: str, size: int, how: str, window: int
    ) -> Sequence[Evidence] | None:
        if not rec.saddr:
            return None
        n = count_due(self._seen, (rec.saddr, rec.daddr, window))
        if n is None:
            return None
        downloads = "1 download" if n == 1 else f"{n} downloads"
        return conn_evidence(
            self,
            rec,
            window,
            level=ThreatLevel.LOW,
            confidence=0.6 if how == "HTTP" else 0.5,
            description=(
                f"Download from paste site {site[:80]} ({rec.daddr}) by {rec.saddr}: "
                f"{size} bytes over {how} ({downloads} in this window)"
            ),
            technique="T1102",  # Web Service
            count=n,
        )

    def close_window(self, window: int) -> Sequence[Evidence] | None:
        drop_closed(self._seen, window)
        return None
