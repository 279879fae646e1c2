"""Flows a trained classifier calls malicious (the "flows" model).

Slips ships a linear SGD classifier over nine conn features, pickled. This one
is a gradient-boosted tree ensemble (200 trees of depth 4) over ~100 features of
the conn record alone (sizes, durations, packets, ratios, protocol, service,
port classes, state, history flags, address kinds — never an address, uid or
timestamp; see `detection.ml._features`), loaded from plain arrays, validated
capture by capture (docs/ml.md).

Theory of operation
-------------------
Per-flow cost is what matters: `observe` only appends the flow to a buffer.
Every `batch_size` flows, and when a window closes, the buffer is featurised
and scored in one vectorised call. Flows scoring at or above the model's
calibrated threshold (`min_score` overrides it when higher) are counted per
(source, destination, port, protocol) and window; a tuple is reported at its
first such flow, then at 10, 100, 1000 (a growing count, no flood). The
attacker is the flow's originator (a scanner probing the host, a bot calling
its server). Evidence of a batch carries the window its flows arrived in.

The model's repeat rule (`detection.ml._models.RepeatRule`, chosen in training):
a source whose flows to one destination port and protocol reach `min_flows` in the
window with a mean score at or above the rule's threshold has each further such
flow flagged too — counted and reported per (source, port, protocol) and window,
at the same growing counts. The same code decides in training and evaluation
(`RepeatRule.flags` on the same running sums, over hours of the flows'
timestamps; here the pipeline's windows, an hour by default).
`use_repeat_rule: false` turns it off.

Without a "flows" model in `DetectionContext.models` the detector wants no
flow and says nothing. Flows to special destinations (multicast, broadcast,
link-local) are never routed here (the model scores them 0 anyway).

Memory: at most `batch_size` buffered flows, one counter per reported tuple and
open window, and one running sum per (source, port, protocol) and open window
(all dropped when the window closes; at most 200,000 running sums: a port scan
opens one per port).
"""

from __future__ import annotations

from collections.abc import Sequence

from detection.heuristics.base import (
    SPECIAL,
    DetectionContext,
    Detector,
    DetectorParams,
    report_due,
)
from detection.ml._models import FlowModel, RepeatTracker
from detection.model import Evidence, Flow, ThreatLevel

__all__ = ["FlowClassifier", "FlowClassifierParams"]


class FlowClassifierParams(DetectorParams):
    # Opt-in: on held-out captures it misses the F1 bar on most (docs/ml.md) and
    # costs ~25 µs per flow with its sibling; enable with detectors.<name>.enabled.
    enabled: bool = False
    batch_size: int = 4096
    min_score: float = 0.0  # raise the model's own threshold (never lowers it)
    use_repeat_rule: bool = True  # the model's repeat rule, when it has one


class FlowClassifier(Detector):
    name = "ml_flow_classifier"
    consumes = (Flow,)
    Params = FlowClassifierParams

    def __init__(self, params: DetectorParams, context: DetectionContext | None = None) -> None:
        super().__init__(params, context)
        assert isinstance(params, FlowClassifierParams)
        model = self.context.models.get("flows")
        self.model = model if isinstance(model, FlowModel) else None
        self.threshold = max(params.min_score, self.model.threshold) if self.model else 1.0
        self._batch = max(1, params.batch_size)
        self._flows: list[Flow] = []
        self._windows: list[int] = []
        self._counts: dict[tuple[str, str, int | None, str, int], int] = {}
        rule = self.model.repeat if self.model is not None and params.use_repeat_rule else None
        self._repeat = RepeatTracker(rule) if rule is not None else None
        self._repeat_counts: dict[tuple[str, int | None, str, int], int] = {}

    def wants_flow(
        self, proto: str, dport: int | None, service: str, src_kind: int, dst_kind: int
    ) -> bool:
        return self.model is not None and dst_kind != SPECIAL

    def observe(self, record: object, window: int) -> Sequence[Evidence] | None:
        if self.model is None:
            return None
        self._flows.append(record)  # type: ignore[arg-type]  # routed by `consumes`
        self._windows.append(window)
        if len(self._flows) >= self._batch:
            return self._flush()
        return None

    def _flush(self) -> list[Evidence] | None:
        flows, windows = self._flows, self._windows
        self._flows, self._windows = [], []
        if not flows or self.model is None:
            return None
        scores = self.model.score(flows)
        single = scores >= self.threshold
        repeated = None
        if self._repeat is not None:
            untracked = self._repeat.untracked
            repeated = self._repeat.update(flows, scores, windows)
            if self._repeat.untracked > untracked:
                self.overflowed("runs_untracked", self._repeat.untracked - untracked)
        hits = (single | repeated if repeated is not None else single).nonzero()[0]
        if not len(hits):
            return None
        out: list[Evidence] = []
        for i in hits.tolist():
            flow, window, p = flows[i], windows[i], float(scores[i])
            if single[i]:
                key = (flow.saddr, flow.daddr, flow.dport, flow.proto, window)
                n = self._counts.get(key, 0) + 1
                self._counts[key] = n
                if report_due(n, 1, (10, 100, 1000)):
                    out.append(self._evidence(flow, window, p, n))
                continue
            run = (flow.saddr, flow.dport, flow.proto, window)
            n = self._repeat_counts.get(run, 0) + 1
            self._repeat_counts[run] = n
            if report_due(n, 1, (10, 100, 1000)):
                out.append(self._repeat_evidence(flow, window, n))
        return out or None

    def _repeat_evidence(self, flow: Flow, window: int, n: int) -> Evidence:
        assert self._repeat is not None
        rule = self._repeat.rule
        mean, run = self._repeat.mean(flow, window)
        return self._new(
            flow,
            window,
            min(1.0, mean),
            n,
            f"Flow classifier, repeated behaviour: {flow.saddr} sent {run} flows to "
            f"{_port(flow)} in this window scoring {mean:.3f} on average (rule: ≥ "
            f"{rule.min_flows} flows, mean ≥ {rule.threshold:.2f}); {n} flagged so far, "
            f"latest to {flow.daddr}",
        )

    def _evidence(self, flow: Flow, window: int, p: float, n: int) -> Evidence:
        more = f"; {n} such flows to it in this window" if n > 1 else ""
        return self._new(
            flow,
            window,
            p,
            n,
            f"Flow classifier: {flow.saddr} → {flow.daddr} {_port(flow)} "
            f"({flow.state or '-'}, {flow.sbytes + flow.dbytes} bytes, "
            f"{flow.duration:.1f} s) scores {p:.3f} malicious "
            f"(threshold {self.threshold:.3f}){more}",
        )

    def _new(self, flow: Flow, window: int, confidence: float, n: int, text: str) -> Evidence:
        return self.new_evidence(
            attacker=flow.saddr,
            victim=flow.daddr,
            level=ThreatLevel.MEDIUM,
            confidence=confidence,
            ts=flow.ts,
            window=window,
            description=text,
            # Most malicious flows it was trained on are C&C traffic; scans and
            # floods are named by the heuristic detectors that see them.
            technique="T1071",
            uids=(flow.uid,) if flow.uid else (),
            dport=flow.dport,
            proto=flow.proto,
            count=n,
        )

    def close_window(self, window: int) -> Sequence[Evidence] | None:
        out = self._flush()
        for key in [k for k in self._counts if k[4] <= window]:
            del self._counts[key]
        for run in [k for k in self._repeat_counts if k[3] <= window]:
            del self._repeat_counts[run]
        if self._repeat is not None:
            self._repeat.drop_upto(window)
        return out


def _port(flow: Flow) -> str:
    return f"{flow.dport}/{flow.proto}" if flow.dport is not None else flow.proto
