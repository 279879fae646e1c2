"""Plain HTTP: a host sent unencrypted HTTP requests.

Context, not an accusation: credentials and downloads over HTTP can be read
and altered on the path, and much malware still talks plain HTTP to its
servers. Slips raises HTTP_TRAFFIC for every such flow (474 evidence on one
test capture); here it is one INFO evidence (weight 0: never an alert by
itself) per host and window, emitted when the window closes with the whole
window's numbers: requests, servers, the busiest host names. Hosts with
fewer than `min_requests` requests in the window are not reported.
At most `max_hosts` hosts are tracked per window (bounded memory).
ATT&CK T1071.001 (Application Layer Protocol: Web Protocols).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from detection.heuristics._protocols import make_evidence
from detection.heuristics.base import DetectionContext, Detector, DetectorParams
from detection.model import Evidence, HttpRecord, ThreatLevel

__all__ = ["PlainHttp", "PlainHttpParams"]

_MAX_NAMES = 100  # host names counted per client and window


class PlainHttpParams(DetectorParams):
    min_requests: int = 1
    max_hosts: int = 50_000


class _Client:
    __slots__ = ("first_ts", "n", "names", "servers", "uids")

    def __init__(self, ts: float) -> None:
        self.first_ts = ts
        self.n = 0
        self.uids: list[str] = []
        self.servers: set[str] = set()
        self.names: Counter[str] = Counter()


class PlainHttp(Detector):
    name = "plain_http"
    consumes = (HttpRecord,)
    Params = PlainHttpParams

    def __init__(self, params: DetectorParams, context: DetectionContext | None = None) -> None:
        super().__init__(params, context)
        assert isinstance(params, PlainHttpParams)
        self.p = params
        self._clients: dict[int, dict[str, _Client]] = {}

    def observe(self, record: object, window: int) -> Sequence[Evidence] | None:
        rec: HttpRecord = record  # type: ignore[assignment]  # routed by `consumes`
        if not rec.saddr:
            return None
        clients = self._clients.get(window)
        if clients is None:
            clients = self._clients[window] = {}
        client = clients.get(rec.saddr)
        if client is None:
            if len(clients) >= self.p.max_hosts:
                self.overflowed("hosts_refused")
                return None
            client = clients[rec.saddr] = _Client(rec.ts)
        client.n += 1
        if len(client.uids) < 10:
            client.uids.append(rec.uid)
        if len(client.servers) < _MAX_NAMES:
            client.servers.add(rec.daddr)
        name = rec.host or rec.daddr
        if name in client.names or len(client.names) < _MAX_NAMES:
            client.names[name] += 1
        return None

    def close_window(self, window: int) -> Sequence[Evidence] | None:
        out: list[Evidence] = []
        for w in sorted(k for k in self._clients if k <= window):
            for saddr, client in self._clients.pop(w).items():
                if client.n >= self.p.min_requests:
                    out.append(self._evidence(saddr, client, w))
        return out or None

    def _evidence(self, saddr: str, client: _Client, window: int) -> Evidence:
        top = ", ".join(f"{h[:60]} ({c})" for h, c in client.names.most_common(3))
        servers = len(client.servers)
        only = next(iter(client.servers)) if servers == 1 else None
        requests = "1 request" if client.n == 1 else f"{client.n} requests"
        return make_evidence(
            self,
            attacker=saddr,
            victim=only,
            level=ThreatLevel.INFO,
            confidence=1.0,
            ts=client.first_ts,
            window=window,
            description=(
                f"Unencrypted HTTP from {saddr}: {requests} to {servers} "
                f"server{'s' if servers != 1 else ''} in this window; top hosts {top}"
            ),
            technique="T1071.001",  # Application Layer Protocol: Web Protocols
            uids=client.uids,
            proto="tcp",
            count=client.n,
        )
