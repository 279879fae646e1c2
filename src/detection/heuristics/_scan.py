"""State shared by the two port-scan detectors: one counter per scan key.

A scan key is (attacker, window, …); its state holds the distinct targets
(hosts or ports) that did not answer, a bounded sample of flow uids, how many
packets were sent, and how many answered flows went to the same key (so the
description can say "64 hosts, 0 answered").
"""

from __future__ import annotations

from dataclasses import dataclass, field

MAX_UIDS = 100


@dataclass(slots=True)
class ScanState:
    first_ts: float
    targets: set[object] = field(default_factory=set)
    uids: list[str] = field(default_factory=list)
    pkts: int = 0
    answered: int = 0

    def add(self, target: object, uid: str, pkts: int) -> bool:
        """Record an unanswered flow; True when `target` is new."""
        self.pkts += pkts
        if target in self.targets:
            return False
        self.targets.add(target)
        if len(self.uids) < MAX_UIDS:
            self.uids.append(uid)
        return True


def scan_confidence(targets: int, saturation: int) -> float:
    """More distinct targets → more certain it is a scan, saturating at `saturation`."""
    return min(1.0, targets / saturation)
