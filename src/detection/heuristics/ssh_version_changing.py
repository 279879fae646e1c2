"""SSH version changing: one host announces a different SSH client (or server)
version than it did before (Zeek software.log, ``SSH::CLIENT`` / ``SSH::SERVER``).

Why: a workstation keeps one OpenSSH build for months; a host whose client
banner flips (OpenSSH_8.1 then OpenSSH_9.1 seconds later, or OpenSSH then
libssh) is running several tools, which is what bots and brute-forcers do.
Upgrades happen too, so MEDIUM with confidence 0.6 (Slips raises
MULTIPLE_SSH_VERSIONS on the same fact). The last version per (host, role) is
kept across windows in a bounded map (`max_hosts`, oldest dropped first);
changes are reported at the 1st, 10th, 100th … change per host and window.
"""

from __future__ import annotations

from collections.abc import Sequence

from detection.heuristics._protocols import make_evidence
from detection.heuristics.base import DetectionContext, Detector, DetectorParams, report_due
from detection.model import Evidence, SoftwareRecord, ThreatLevel

__all__ = ["SshVersionChanging", "SshVersionChangingParams"]

_ROLES = {"SSH::CLIENT": "client", "SSH::SERVER": "server"}


class SshVersionChangingParams(DetectorParams):
    max_hosts: int = 50_000


class SshVersionChanging(Detector):
    name = "ssh_version_changing"
    consumes = (SoftwareRecord,)
    Params = SshVersionChangingParams

    def __init__(self, params: DetectorParams, context: DetectionContext | None = None) -> None:
        super().__init__(params, context)
        assert isinstance(params, SshVersionChangingParams)
        self.p = params
        self._last: dict[tuple[str, str], str] = {}  # (host, role) -> version, kept across windows
        self._changes: dict[tuple[str, str, int], int] = {}

    def observe(self, record: object, window: int) -> Sequence[Evidence] | None:
        rec: SoftwareRecord = record  # type: ignore[assignment]  # routed by `consumes`
        role = _ROLES.get(rec.software_type)
        version = rec.unparsed_version or rec.name
        if role is None or not version or not rec.host:
            return None
        key = (rec.host, role)
        before = self._last.pop(key, None)  # re-inserted below: newest last (LRU order)
        if len(self._last) >= self.p.max_hosts:
            del self._last[next(iter(self._last))]
            self.overflowed("hosts_evicted")
        self._last[key] = version
        if before is None or before == version:
            return None
        ckey = (rec.host, role, window)
        n = self._changes.get(ckey, 0) + 1
        self._changes[ckey] = n
        if not report_due(n, 1, (10, 100, 1000)):
            return None
        more = f" ({n} changes in this window)" if n > 1 else ""
        return (
            make_evidence(
                self,
                attacker=rec.host,
                victim=None,
                level=ThreatLevel.MEDIUM,
                confidence=min(0.9, 0.6 + 0.05 * (n - 1)),
                ts=rec.ts,
                window=window,
                description=(
                    f"SSH {role} version changing on {rec.host}: {before[:60]} -> "
                    f"{version[:60]}{more}"
                ),
                technique="T1021.004",  # Remote Services: SSH
                dport=rec.host_port,
                proto="tcp",
                count=n,
            ),
        )

    def close_window(self, window: int) -> Sequence[Evidence] | None:
        for key in [k for k in self._changes if k[2] <= window]:
            del self._changes[key]
        return None
