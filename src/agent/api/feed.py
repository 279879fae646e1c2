"""What the running agent tells its API as it happens: findings, decisions, batches.

The daemon calls `finding` for every evidence and alert of the detection loop (its
`on_finding` callback), `decision` for every blocking decision taken or lifted,
and `batch` after each batch of records the detection loop analysed. Each call
updates the counters behind `/metrics` and publishes a stream event
(`agent.api.stream`). Called from several threads; cheap (a lock, a counter, one
JSON encoding per event), and never blocks on a client.
"""

from __future__ import annotations

import dataclasses
import threading
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

from agent.api.stream import Broadcaster
from agent.blocking.decision import Decision
from detection.model import Alert, Evidence, finding_to_dict

__all__ = ["FeedSnapshot", "LiveFeed"]


@dataclass(frozen=True, slots=True)
class FeedSnapshot:
    evidence_by_type: dict[str, int]
    alerts: int
    alert_evidence_types: dict[str, int]
    decisions_by_origin: dict[str, int]
    lifted: int
    records: int | None  # None: the detection loop does not report batches
    flows: int | None
    newest_record_ts: float | None
    last_batch_at: float | None
    lines_skipped: dict[str, int] = field(default_factory=dict)  # by reason
    state_overflow: dict[str, dict[str, int]] = field(default_factory=dict)  # detector -> what
    detector_errors: dict[str, int] = field(default_factory=dict)  # exceptions, by detector


class LiveFeed:
    def __init__(self, broadcaster: Broadcaster | None = None) -> None:
        self.broadcaster = broadcaster or Broadcaster()
        self._lock = threading.Lock()
        self._evidence: Counter[str] = Counter()
        self._alert_types: Counter[str] = Counter()
        self._alerts = 0
        self._decisions: Counter[str] = Counter()
        self._lifted = 0
        self._records: int | None = None
        self._flows: int | None = None
        self._newest: float | None = None
        self._batch_at: float | None = None
        self._skipped: dict[str, int] = {}
        self._overflow: dict[str, dict[str, int]] = {}
        self._errors: dict[str, int] = {}

    def finding(self, finding: Evidence | Alert) -> None:
        with self._lock:
            if isinstance(finding, Alert):
                self._alerts += 1
                self._alert_types.update(set(finding.evidence_types))
            else:
                self._evidence[finding.type] += 1
        kind = "alert" if isinstance(finding, Alert) else "evidence"
        self.broadcaster.publish(kind, finding_to_dict(finding))

    def decision(self, decision: Decision) -> None:
        with self._lock:
            if decision.lifted is None:
                self._decisions[decision.origin] += 1
            else:
                self._lifted += 1
        self.broadcaster.publish("decision", dataclasses.asdict(decision))

    def batch(
        self,
        records: int,
        flows: int,
        newest_ts: float | None,
        now: float,
        *,
        lines_skipped: Mapping[str, int] | None = None,
        state_overflow: Mapping[str, Mapping[str, int]] | None = None,
        detector_errors: Mapping[str, int] | None = None,
    ) -> None:
        """A batch of `records` (`flows` of them flows) was analysed at wall time `now`
        (0 records: only skipped lines came). The loss counters are the run's totals."""
        with self._lock:
            self._records = (self._records or 0) + records
            self._flows = (self._flows or 0) + flows
            if newest_ts is not None:
                self._newest = newest_ts if self._newest is None else max(self._newest, newest_ts)
            if records:
                self._batch_at = now
            if lines_skipped is not None:
                self._skipped = dict(lines_skipped)
            if state_overflow is not None:
                self._overflow = {d: dict(by) for d, by in state_overflow.items()}
            if detector_errors is not None:
                self._errors = dict(detector_errors)

    def snapshot(self) -> FeedSnapshot:
        with self._lock:
            return FeedSnapshot(
                dict(self._evidence),
                self._alerts,
                dict(self._alert_types),
                dict(self._decisions),
                self._lifted,
                self._records,
                self._flows,
                self._newest,
                self._batch_at,
                dict(self._skipped),
                {d: dict(by) for d, by in self._overflow.items()},
                dict(self._errors),
            )
