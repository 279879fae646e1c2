"""Decisions in, kernel bans out: the blocking step shared by the agent and the CLI.

Theory of operation
-------------------
Events: an `Alert` (from the pipeline: local detectors, or peer consensus
injected through it), an operator's `add` / `remove` / `flush`, and `restore`
at start. For each, the service

1. normalises the target (`parse_target`), so ``::ffff:1.2.3.4`` and
   ``1.2.3.4`` are one ban;
2. asks the `Guard`; a refusal is logged with its reason and counted
   (``refused``), and never reaches the store or the kernel;
3. asks the `Policy` (origin, TTL, escalation from the value's stored history);
4. stores the decision, then applies it — to the real backend, or, in dry-run
   (``blocking.enabled: false``, the default), only logs "would block" and
   keeps the decision marked ``dry_run`` (the blocker is then a MemoryBlocker).

Manual decisions always go to the blocker the caller chose: dry-run only
concerns automatic ones.

Restore: the active, non-dry-run decisions in the store are re-checked by the
guard and applied in one batch with their remaining time. Stop does nothing:
kernel bans expire by themselves, and a restart re-applies the same values.

A batch the backend refuses (an overlapping interval, say) is retried ban by
ban so one bad value cannot keep the others out; the failures are logged and
counted (``apply_failed``). `now` is a parameter everywhere (wall-clock
seconds); `rng` drives the policy's jitter.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from agent.blocking.base import Ban, Blocker, BlockerError
from agent.blocking.decision import Decision, Origin
from agent.blocking.guard import Guard
from agent.blocking.policy import Policy, origin_of
from agent.blocking.target import Target, parse_target
from agent.store.base import Store
from detection.model import Alert, Evidence

__all__ = ["BlockingService", "Refused", "RestoreResult"]

log = logging.getLogger(__name__)
_PAGE = 10_000


class Refused(ValueError):
    """The anti-lockout guard refused a ban; the message says why."""

    def __init__(self, value: str, reason: str) -> None:
        super().__init__(f"refusing to block {value}: {reason}")
        self.value = value
        self.reason = reason


@dataclass(frozen=True, slots=True)
class RestoreResult:
    applied: int
    refused: int
    failed: int


class BlockingService:
    def __init__(
        self,
        blocker: Blocker,
        store: Store,
        guard: Guard,
        policy: Policy,
        *,
        dry_run: bool,
        ipv6_prefix: int = 128,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        self.blocker = blocker
        self.store = store
        self.guard = guard
        self.policy = policy
        self.dry_run = dry_run
        self.ipv6_prefix = ipv6_prefix
        self.clock = clock
        self.rng = rng or random.Random()  # noqa: S311 - jitter, not a secret
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._set_up = False

    def target(self, value: str) -> Target:
        return parse_target(value, ipv6_prefix=self.ipv6_prefix)

    # -- start ---------------------------------------------------------------------------

    def start(self, now: float | None = None) -> RestoreResult:
        """Create the backend's table/sets (keeping bans) and restore active decisions."""
        if self.dry_run:
            return RestoreResult(0, 0, 0)
        self._setup()
        return self.restore(now)

    def _setup(self) -> None:
        """The backend's table and sets, once per service (idempotent, keeps bans)."""
        if not self._set_up:
            self.blocker.setup()
            self._set_up = True

    def restore(self, now: float | None = None) -> RestoreResult:
        now = self.clock() if now is None else now
        active: list[Decision] = []
        while True:
            page = self.store.decisions(active_at=now, limit=_PAGE, offset=len(active))
            active += page
            if len(page) < _PAGE:
                break
        bans, refused = [], 0
        for d in active:
            if d.dry_run:
                continue
            target = parse_target(d.value)  # stored normalised: no re-widening
            reason = self.guard.check(target)
            if reason is not None:
                refused += 1
                self._refused(d.value, reason, "restore")
                continue
            bans.append(Ban(target, d.expires - now))
        failed = self._apply(bans)
        self.counts["restored"] += len(bans) - failed
        log.info("restored %d bans (%d refused, %d failed)", len(bans) - failed, refused, failed)
        return RestoreResult(len(bans) - failed, refused, failed)

    # -- automatic decisions -------------------------------------------------------------

    def on_finding(self, finding: Evidence | Alert) -> Decision | None:
        """The pipeline's callback: alerts become decisions, evidence is ignored."""
        if not isinstance(finding, Alert):
            return None
        try:
            return self.decide(finding, self.clock())
        except Refused:
            return None  # logged and counted by decide()
        except BlockerError as exc:
            self.counts["apply_failed"] += 1
            log.error("blocking %s failed: %s", finding.profile, exc)
            return None

    def decide(self, alert: Alert, now: float) -> Decision | None:
        origin = origin_of(alert)
        reason = f"{alert.description} (score {alert.score:.2f}/{alert.threshold:.2f})"
        return self._decide(
            alert.profile,
            origin=origin,
            reason=reason,
            evidence_ids=alert.evidence_ids,
            now=now,
            dry_run=self.dry_run,
            ttl=None,
        )

    # -- manual --------------------------------------------------------------------------

    def add(
        self, value: str, *, ttl: float | None, reason: str, now: float, dry_run: bool = False
    ) -> Decision:
        """An operator's ban: applied at once (not the automatic dry-run); supersedes an
        active one. `dry_run` records it without applying (the CLI's memory backend).

        Raises BadTarget (not an address), Refused (protected) or BlockerError.
        """
        decision = self._decide(
            value, origin="manual", reason=reason, evidence_ids=(), now=now, dry_run=dry_run,
            ttl=ttl,
        )  # fmt: skip
        assert decision is not None  # an explicit ttl always decides; None ttl is policy's
        return decision

    def remove(self, value: str, now: float) -> list[Decision]:
        """Lift the active decisions for `value` and remove its kernel ban."""
        target = self.target(value)
        with self._lock:
            lifted = [d.lift(now) for d in self.store.decisions(value=target.value, active_at=now)]
            self._setup()
            self.blocker.remove([target])
            self.store.add_decisions(lifted)
        self.counts["lifted"] += len(lifted)
        log.info("lifted the ban on %s (%d decisions)", target.value, len(lifted))
        return lifted

    def flush(self, now: float) -> list[Decision]:
        """Lift every active decision and empty the backend's sets."""
        with self._lock:
            lifted = []
            while True:
                page = self.store.decisions(active_at=now, limit=_PAGE)
                if not page:
                    break
                page = [d.lift(now) for d in page]
                self.store.add_decisions(page)
                lifted += page
            self.blocker.flush()
        self.counts["lifted"] += len(lifted)
        return lifted

    def active(self, now: float) -> list[Decision]:
        return self.store.decisions(active_at=now, limit=1_000_000)

    # -- internals -----------------------------------------------------------------------

    def _decide(
        self,
        value: str,
        *,
        origin: Origin,
        reason: str,
        evidence_ids: Sequence[str],
        now: float,
        dry_run: bool,
        ttl: float | None,
    ) -> Decision | None:
        target = self.target(value)
        why = self.guard.check(target)
        if why is not None:
            self._refused(target.value, why, origin)
            raise Refused(target.value, why)
        with self._lock:
            history = self.store.decisions(value=target.value, limit=1000)
            decision = self.policy.decide(
                target,
                origin=origin,
                reason=reason,
                evidence_ids=evidence_ids,
                history=history,
                now=now,
                rng=self.rng,
                dry_run=dry_run,
                ttl=ttl,
            )
            if decision is None:
                self.counts["already_active"] += 1
                return None
            if dry_run:
                self.store.add_decisions([decision])
                self.counts["dry_run"] += 1
                log.warning(
                    "dry-run: would block %s for %.0f s (%s, offence %d): %s",
                    target.value, decision.ttl, origin, decision.offence, reason,
                )  # fmt: skip
                return decision
            # Kernel first: a failed apply leaves no decision claiming a ban that is not there.
            self._setup()
            self.blocker.apply([Ban(target, decision.ttl)])
            superseded = [d.lift(now) for d in history if d.active(now) and not d.dry_run]
            self.store.add_decisions([*superseded, decision] if origin == "manual" else [decision])
        self.counts[f"blocked_{origin}"] += 1
        log.warning(
            "blocked %s for %.0f s (%s, offence %d): %s",
            target.value, decision.ttl, origin, decision.offence, reason,
        )  # fmt: skip
        return decision

    def _refused(self, value: str, reason: str, origin: str) -> None:
        self.counts["refused"] += 1
        log.warning("refused to block %s (%s): %s", value, origin, reason)

    def _apply(self, bans: list[Ban]) -> int:
        """Apply in one batch; on failure, one by one. Returns how many failed."""
        if not bans:
            return 0
        self._setup()
        try:
            self.blocker.apply(bans)
            return 0
        except BlockerError as exc:
            if len(bans) == 1:
                self.counts["apply_failed"] += 1
                log.error("could not apply the ban on %s: %s", bans[0].target.value, exc)
                return 1
            log.warning("batch of %d bans refused (%s); applying one by one", len(bans), exc)
        return sum(self._apply([ban]) for ban in bans)
