"""Turns evidence into alerts: Slips' accumulation rule, made explicit.

Each evidence adds `threat weight x confidence` (info 0, low 0.2, medium 0.5,
high 0.8, critical 1) to the sum of its profile's time window, but only when it
is about that profile (attacker == profile): evidence that names someone else
as the attacker is filed, not counted. When the sum reaches the threshold an
`Alert` fires with every contributing evidence, and the sum restarts from zero,
so a sustained attack raises one alert per threshold's worth of evidence.

The default threshold is Slips' 0.25 per minute of window: 15 for one hour.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from detection.model import Alert, Evidence, ThreatLevel

__all__ = ["Accumulator"]

_LEVEL_ORDER = list(ThreatLevel)


@dataclass(slots=True)
class _Pending:
    score: float = 0.0
    weighted_conf: float = 0.0
    weight: float = 0.0
    items: list[Evidence] = field(default_factory=list)


class Accumulator:
    def __init__(self, threshold: float) -> None:
        if threshold <= 0:
            raise ValueError(f"alert threshold must be positive, got {threshold}")
        self.threshold = threshold
        self._pending: dict[tuple[str, int], _Pending] = {}

    def add(self, ev: Evidence) -> Alert | None:
        """Count `ev`; return an alert when its profile's window crosses the threshold."""
        if not ev.counts_for_profile:
            return None
        score = ev.score
        if score <= 0.0:
            return None
        key = (ev.profile, ev.timewindow)
        p = self._pending.get(key)
        if p is None:
            p = self._pending[key] = _Pending()
        p.score += score
        w = ev.threat_level.weight
        p.weighted_conf += w * ev.confidence
        p.weight += w
        p.items.append(ev)
        if p.score < self.threshold:
            return None
        del self._pending[key]
        return self._alert(ev.profile, ev.timewindow, p)

    def _alert(self, profile: str, window: int, p: _Pending) -> Alert:
        items = p.items
        types = Counter(e.type for e in items)
        victims = sorted({e.victim for e in items if e.victim})
        uids: list[str] = []
        for e in items:
            uids.extend(u for u in e.uids if u not in uids)
        top = max((e.threat_level for e in items), key=_LEVEL_ORDER.index)
        kinds = ", ".join(f"{n} x {t}" for t, n in types.most_common())
        return Alert(
            profile=profile,
            timewindow=window,
            ts=items[-1].ts,
            score=p.score,
            threshold=self.threshold,
            evidence_ids=tuple(e.id for e in items),
            evidence_types=tuple(types),
            victims=tuple(victims[:100]),
            uids=tuple(uids[:100]),
            confidence=min(1.0, p.weighted_conf / p.weight) if p.weight else 0.0,
            threat_level=top,
            description=(
                f"Alert on {profile} in window {window}: score {p.score:.2f} reached "
                f"{self.threshold:g} from {len(items)} evidence ({kinds})"
            ),
        )

    def close_window(self, window: int) -> None:
        """Forget partial sums of windows <= `window`: they can no longer alert."""
        for key in [k for k in self._pending if k[1] <= window]:
            del self._pending[key]
