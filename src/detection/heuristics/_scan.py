"""State shared by the two port-scan detectors: one counter per scan key.

A scan key is (attacker, window, …); its state holds the distinct targets
(hosts or ports) that did not answer, a bounded sample of flow uids, how many
packets were sent, and how many answered flows went to the same key (so the
description can say "64 hosts, 0 answered").

Once a key has a state (its first unanswered probe), the targets that answer
are remembered too: a target that answered is a service in use, not a probe
that found nothing, so it leaves (and never re-enters) the unanswered set, and
a key whose answered targets outnumber the unanswered ones by far is a busy
client with a few failed connections, not a scan (`mostly_answered`). Targets
answering before the key's first unanswered flow are not tracked: that keeps
state for scanning keys only, never for every normal conversation.
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
    answered: int = 0  # answered flows
    answered_targets: set[object] | None = None
    reported: int = 0  # target count of the last report

    def add(self, target: object, uid: str, pkts: int) -> bool:
        """Record an unanswered flow; True when `target` is new."""
        self.pkts += pkts
        if target in self.targets:
            return False
        if self.answered_targets is not None and target in self.answered_targets:
            return False
        self.targets.add(target)
        if len(self.uids) < MAX_UIDS:
            self.uids.append(uid)
        return True

    def answer(self, target: object) -> None:
        """Record an answered flow of this key."""
        self.answered += 1
        if self.answered_targets is None:
            self.answered_targets = set()
        self.answered_targets.add(target)
        self.targets.discard(target)

    def mostly_answered(self, ratio: float) -> bool:
        """More than `ratio` answered targets per unanswered one."""
        return len(self.answered_targets or ()) > ratio * len(self.targets)


def scan_confidence(targets: int, saturation: int) -> float:
    """More distinct targets → more certain it is a scan, saturating at `saturation`."""
    return min(1.0, targets / saturation)
