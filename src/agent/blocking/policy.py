"""The one policy that turns an alert (local or from peers) or an operator's request
into a decision: how long, and whether at all. Pure: time and randomness are passed in.

Rules
-----
* Origin: an alert whose evidence includes ``peer_consensus`` (the network
  opinion raised through the pipeline, see agent.peering) is ``peer-consensus``;
  any other alert is ``local-alert``; the CLI's are ``manual``.
* No stacking: while a decision of the same mode (real or dry-run) is active
  for the value, a new alert decides nothing (the attacker is already cut off;
  peers repeating themselves must not escalate it).
* Escalation: the n-th offence within ``repeat_window`` gets
  ``ttl * factor ** (n - 1)``, capped at ``max_ttl``. Lifted decisions do not
  count — an operator removing a ban is saying it was wrong.
* Jitter: the TTL is multiplied by ``1 + u``, ``u`` uniform in ``±jitter``
  (then capped again), so a wave of bans does not expire in one instant and
  a returning scanner cannot time the end of its ban exactly.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from agent.blocking.decision import Decision, Origin
from agent.blocking.target import Target
from detection.model import Alert

__all__ = ["Policy", "origin_of"]


def origin_of(alert: Alert) -> Origin:
    return "peer-consensus" if "peer_consensus" in alert.evidence_types else "local-alert"


@dataclass(frozen=True, slots=True)
class Policy:
    ttl: float
    factor: float = 2.0
    max_ttl: float = 7 * 86400.0
    jitter: float = 0.0
    repeat_window: float = 30 * 86400.0

    def __post_init__(self) -> None:
        if not 0 < self.ttl <= self.max_ttl:
            raise ValueError(f"ttl must be in (0, max_ttl], got {self.ttl} / {self.max_ttl}")
        if self.factor < 1:
            raise ValueError(f"escalation factor must be >= 1, got {self.factor}")
        if not 0 <= self.jitter < 1:
            raise ValueError(f"jitter must be in [0, 1), got {self.jitter}")

    def ttl_for(self, offence: int, rng: random.Random) -> float:
        # min() before the power would overflow: factor ** n grows without bound.
        steps = offence - 1
        ttl = self.ttl
        while steps > 0 and ttl < self.max_ttl:
            ttl *= self.factor
            steps -= 1
        ttl = min(ttl, self.max_ttl)
        if self.jitter:
            ttl *= 1.0 + rng.uniform(-self.jitter, self.jitter)
        return max(1.0, min(ttl, self.max_ttl))

    def offence(self, history: Sequence[Decision], now: float) -> int:
        """1 + earlier, unlifted decisions for the value within the repeat window."""
        since = now - self.repeat_window
        return 1 + sum(1 for d in history if d.lifted is None and d.created >= since)

    def decide(
        self,
        target: Target,
        *,
        origin: Origin,
        reason: str,
        evidence_ids: Sequence[str],
        history: Sequence[Decision],
        now: float,
        rng: random.Random,
        dry_run: bool,
        ttl: float | None = None,
    ) -> Decision | None:
        """The decision for `target` given its `history` (earlier decisions for the
        same value), or None when one of the same mode is still active.

        An explicit `ttl` (an operator's) is used as given, with no escalation,
        jitter or stacking rule.
        """
        if ttl is None and any(d.active(now) and d.dry_run == dry_run for d in history):
            return None
        offence = self.offence(history, now)
        length = ttl if ttl is not None else self.ttl_for(offence, rng)
        return Decision(
            value=target.value,
            scope=target.scope,
            reason=reason,
            origin=origin,
            evidence_ids=tuple(evidence_ids),
            created=now,
            expires=now + length,
            offence=offence,
            dry_run=dry_run,
        )
