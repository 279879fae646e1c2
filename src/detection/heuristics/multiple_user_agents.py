"""Multiple user agents: one host sends HTTP requests with many different
User-Agent strings within a window.

A person uses one or two browsers; a host that presents `min_agents`
different agents (5) in one window is running several scripted clients
(downloaders, droppers, Wget/curl/Python), rotating agents to blend in, or
is a proxy/NAT for many machines. The operating system's own background
agents (`benign_agents`: certificate revocation checks, Windows Update/BITS,
proxy auto-configuration, package managers) and empty agents are not
counted. LOW: confidence 0.3 at the threshold, +0.05 per further agent, at
most 0.6. Slips' MULTIPLE_USER_AGENT is narrower (the OS named by the agent
changes); the count of distinct agents is a threshold of our own. Reported
at `min_agents`, then at each of `rereport_at` (10, 100) and every tenfold
after; per host at most `max_agents_per_host` agents are remembered.
ATT&CK T1071.001 (Application Layer Protocol: Web Protocols).
"""

from __future__ import annotations

from collections.abc import Sequence

from detection.heuristics._protocols import drop_closed, make_evidence
from detection.heuristics.base import DetectionContext, Detector, DetectorParams, report_due
from detection.model import Evidence, HttpRecord, ThreatLevel

__all__ = ["MultipleUserAgents", "MultipleUserAgentsParams"]


class MultipleUserAgentsParams(DetectorParams):
    min_agents: int = 5
    rereport_at: tuple[int, ...] = (10, 100)
    benign_agents: tuple[str, ...] = (
        "microsoft-cryptoapi", "microsoft bits", "windows-update-agent",
        "microsoft-delivery-optimization", "microsoft ncsi", "microsoft-wns",
        "autowebproxyscriptengine", "ocspd", "trustd", "softwareupdate",
        "captivenetworksupport", "debian apt", "apt-http", "pacman/", "yum/", "dnf/",
        "libdnf", "zypp", "fwupd", "snapd",
    )  # fmt: skip
    max_agents_per_host: int = 1001
    max_hosts: int = 50_000  # hosts tracked per window


class MultipleUserAgents(Detector):
    name = "multiple_user_agents"
    consumes = (HttpRecord,)
    Params = MultipleUserAgentsParams

    def __init__(self, params: DetectorParams, context: DetectionContext | None = None) -> None:
        super().__init__(params, context)
        assert isinstance(params, MultipleUserAgentsParams)
        self.p = params
        self._benign = tuple(a.lower() for a in params.benign_agents if a)
        self._verdict: dict[str, bool] = {}  # agent -> counted (bounded cache)
        self._agents: dict[tuple[str, int], dict[str, str]] = {}  # agent -> first uid

    def _counted(self, ua: str) -> bool:
        verdict = self._verdict.get(ua)
        if verdict is None:
            low = ua.lower()
            verdict = ua != "-" and not any(b in low for b in self._benign)
            if len(self._verdict) >= 10_000:
                self._verdict.clear()
            self._verdict[ua] = verdict
        return verdict

    def observe(self, record: object, window: int) -> Sequence[Evidence] | None:
        rec: HttpRecord = record  # type: ignore[assignment]  # routed by `consumes`
        ua = rec.user_agent
        if not ua or not rec.saddr or not self._counted(ua):
            return None
        key = (rec.saddr, window)
        agents = self._agents.get(key)
        if agents is None:
            if len(self._agents) >= self.p.max_hosts:
                self.overflowed("hosts_refused")
                return None
            agents = self._agents[key] = {}
        if ua in agents or len(agents) >= self.p.max_agents_per_host:
            return None
        agents[ua] = rec.uid
        n = len(agents)
        if not report_due(n, self.p.min_agents, self.p.rereport_at):
            return None
        shown = ", ".join(repr(a[:50]) for a in list(agents)[-5:])
        return (
            make_evidence(
                self,
                attacker=rec.saddr,
                victim=None,
                level=ThreatLevel.LOW,
                confidence=min(0.6, 0.3 + 0.05 * (n - self.p.min_agents)),
                ts=rec.ts,
                window=window,
                description=(
                    f"{n} different HTTP user agents from {rec.saddr} in this window "
                    f"(OS background agents not counted); latest: {shown}"
                ),
                technique="T1071.001",  # Application Layer Protocol: Web Protocols
                uids=list(agents.values())[-10:],
                proto="tcp",
                count=n,
            ),
        )

    def close_window(self, window: int) -> Sequence[Evidence] | None:
        drop_closed(self._agents, window)
        return None
