"""What this agent tells its peers, and what it never tells them.

Privacy and safety rules, applied to every local finding before it becomes an
IoC report:

* only attackers are shared — never victims, never flows, never uids;
* never an address that is not globally routable (private, loopback,
  link-local, multicast, reserved, documentation ranges), never one of this
  host's own addresses, never a Starling peer's address (peers' addresses
  come from the live P2P connections) — a false detection must not become a
  mesh-wide attack on our own network or on the mesh itself;
* evidence is shared when it is at least `min_threat` with `min_confidence`;
  every alert is shared; one attacker is shared again only after
  `reshare_seconds`, or earlier if the new finding is worse.

`Sharer.consider` is pure apart from its memory of what it shared; `now` is
passed in.
"""

from __future__ import annotations

import ipaddress
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from agent.config import ShareConfig
from detection.model import Alert, Evidence, ThreatLevel
from p2p.wire import IocReport

__all__ = ["Sharer", "refusal_reason"]

_LEVELS = list(ThreatLevel)
_MAX_REMEMBERED = 100_000


def refusal_reason(ip: str, own: Iterable[str], peers: Iterable[str]) -> str | None:
    """Why `ip` must never be shared, or None if it may be."""
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return "not an IP address"
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    if not addr.is_global or addr.is_multicast:
        return "not a globally routable address"
    text = str(addr)
    if text in own:
        return "one of this host's addresses"
    if text in peers:
        return "a Starling peer's address"
    return None


@dataclass
class _Shared:
    at: float
    score: float


class Sharer:
    def __init__(
        self,
        policy: ShareConfig,
        *,
        own_addresses: Iterable[str] = (),
        peer_addresses: Callable[[], Iterable[str]] = lambda: (),
    ) -> None:
        self.policy = policy
        self.own = {str(ipaddress.ip_address(a)) for a in own_addresses}
        self.peer_addresses = peer_addresses
        self.min_level = _LEVELS.index(ThreatLevel(policy.min_threat))
        self._shared: OrderedDict[str, _Shared] = OrderedDict()
        self.refused: dict[str, int] = {}

    def consider(self, finding: Evidence | Alert, now: float) -> IocReport | None:
        if isinstance(finding, Alert):
            if not self.policy.alerts:
                return None
            attacker = finding.profile
            types = finding.evidence_types
            description = finding.description
        else:
            if not finding.counts_for_profile:
                return None  # evidence about someone else: not this profile's attacker
            if _LEVELS.index(finding.threat_level) < self.min_level:
                return None
            if finding.confidence < self.policy.min_confidence:
                return None
            attacker = finding.attacker
            types = (finding.type,)
            description = finding.description
        score = finding.threat_level.weight
        reason = refusal_reason(attacker, self.own, set(self.peer_addresses()))
        if reason is not None:
            self.refused[reason] = self.refused.get(reason, 0) + 1
            return None
        previous = self._shared.get(attacker)
        worse = previous is None or score > previous.score
        if previous is not None and not worse and now - previous.at < self.policy.reshare_seconds:
            return None
        self._shared[attacker] = _Shared(now, max(score, previous.score if previous else 0.0))
        self._shared.move_to_end(attacker)
        if len(self._shared) > _MAX_REMEMBERED:
            self._shared.popitem(last=False)
        return IocReport(
            kind="ip",
            value=attacker,
            score=score,
            confidence=finding.confidence,
            evidence_types=tuple(types)[:32],
            window=finding.timewindow,
            ttl=self.policy.ttl_seconds,
            description=description[:500],
        )
