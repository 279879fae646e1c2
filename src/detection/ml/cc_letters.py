"""Command-and-control channels recognised from their behaviour letters (the "letters" model).

Slips encodes each out-tuple's flows as Stratosphere letters (periodicity, size,
duration, gaps; `detection.ml._letters`) and runs a Keras GRU over them. Here the
same letters feed a gradient-boosted tree ensemble over n-gram frequencies and
class shares (`detection.ml._features.LettersFeaturizer`), loaded from plain
arrays and validated scenario by scenario on CTU-13 (docs/ml.md).

Theory of operation
-------------------
Per out-tuple (source, destination, destination port, protocol) the detector
keeps a `TupleEncoder`: the time of the last flow, the last gap and the letters
so far (at most `max_letters`). A flow costs a dict lookup and a string append.
A tuple is due for a score when it reaches `min_letters` flows and again each
time its flow count doubles (log-spaced: a 10,000-flow tuple is scored ~11
times), and at window close if it grew since its last score; due tuples are
scored together, `batch_size` at a time or when a window closes (one
vectorised model call instead of one per tuple). A score at or above the
model's threshold (`min_score` overrides it when higher) is reported once per
tuple and window, with the letters in the description.

State lives across windows on purpose — a C&C channel polling every 10 minutes
shows six letters an hour — and is bounded: tuples idle for `idle_seconds` are
dropped when a window closes, and at most `max_tuples` are kept (the oldest
goes first).

Routing: TCP and UDP flows to public or private destinations (multicast,
broadcast and link-local chatter is no C&C channel). Without a "letters"
model in the context the detector wants no flow and says nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

from detection.heuristics.base import (
    ADDRESS_KINDS,
    SPECIAL,
    DetectionContext,
    Detector,
    DetectorParams,
)
from detection.ml._letters import TupleEncoder
from detection.ml._models import LettersModel
from detection.model import Evidence, Flow, ThreatLevel

__all__ = ["CCLetters", "CCLettersParams"]

_Key = tuple[str, str, int | None, str]


class CCLettersParams(DetectorParams):
    # Opt-in: on held-out captures it misses the F1 bar on most (docs/ml.md) and
    # costs ~15 µs per flow with its sibling; enable with detectors.<name>.enabled.
    enabled: bool = False
    min_letters: int = 8
    max_letters: int = 4000
    max_tuples: int = 100_000
    idle_seconds: float = 6 * 3600.0
    batch_size: int = 256  # tuples due for a score, scored together
    min_score: float = 0.9  # deployment floor above the max-F1 threshold (docs/ml.md)


class _Tuple(TupleEncoder):
    __slots__ = ("next_check", "reported_window", "scored_at", "uid", "window")

    def __init__(self, max_symbols: int, first_check: int) -> None:
        super().__init__(max_symbols)
        self.next_check = first_check
        self.scored_at = 0  # flow count at the last score
        self.reported_window = -1
        self.window = 0
        self.uid = ""


class CCLetters(Detector):
    name = "ml_cc_letters"
    consumes = (Flow,)
    Params = CCLettersParams

    def __init__(self, params: DetectorParams, context: DetectionContext | None = None) -> None:
        super().__init__(params, context)
        assert isinstance(params, CCLettersParams)
        self.p = params
        model = self.context.models.get("letters")
        self.model = model if isinstance(model, LettersModel) else None
        self.threshold = max(params.min_score, self.model.threshold) if self.model else 1.0
        self._tuples: dict[_Key, _Tuple] = {}
        self._min = max(1, params.min_letters)
        self._newest = 0.0
        self._pending: dict[_Key, _Tuple] = {}  # due for a score, scored in batches

    def wants_flow(
        self, proto: str, dport: int | None, service: str, src_kind: int, dst_kind: int
    ) -> bool:
        return self.model is not None and proto in ("tcp", "udp") and dst_kind != SPECIAL

    def observe(self, record: object, window: int) -> Sequence[Evidence] | None:
        if self.model is None:
            return None
        flow: Flow = record  # type: ignore[assignment]  # routed by `consumes`
        if flow.proto not in ("tcp", "udp") or ADDRESS_KINDS[flow.daddr] == SPECIAL:
            return None
        key = (flow.saddr, flow.daddr, flow.dport, flow.proto)
        t = self._tuples.get(key)
        if t is None:
            if len(self._tuples) >= self.p.max_tuples:
                del self._tuples[next(iter(self._tuples))]
                self.overflowed("tuples_evicted")
            t = self._tuples[key] = _Tuple(self.p.max_letters, self._min)
        t.add(flow.ts, flow.sbytes + flow.dbytes, flow.duration)
        t.window = window
        if flow.uid:
            t.uid = flow.uid
        self._newest = max(self._newest, flow.ts)
        if t.n < t.next_check:
            return None
        t.next_check = t.n * 2
        self._pending[key] = t
        if len(self._pending) < self.p.batch_size:
            return None
        return self._score_pending()

    def _score_pending(self) -> list[Evidence] | None:
        items = list(self._pending.items())
        self._pending.clear()
        return self._score(items) if items else None

    def _score(self, items: list[tuple[_Key, _Tuple]]) -> list[Evidence] | None:
        assert self.model is not None
        scores = self.model.score([t.text for _, t in items])
        out: list[Evidence] = []
        for (key, t), p in zip(items, scores.tolist(), strict=True):
            t.scored_at = t.n
            if p < self.threshold or t.reported_window == t.window:
                continue
            t.reported_window = t.window
            out.append(self._evidence(key, t, p))
        return out or None

    def _evidence(self, key: _Key, t: _Tuple, p: float) -> Evidence:
        saddr, daddr, dport, proto = key
        port = f"{dport}/{proto}" if dport is not None else proto
        shown = t.text if len(t.text) <= 60 else t.text[:57] + "…"
        return self.new_evidence(
            attacker=saddr,
            victim=daddr,
            level=ThreatLevel.HIGH if p >= 0.95 else ThreatLevel.MEDIUM,
            confidence=p,
            ts=t.last if t.last is not None else self._newest,
            window=t.window,
            description=(
                f"C&C channel suspected: {saddr} → {daddr} {port}, behaviour letters "
                f"{shown!r} ({t.n} flows) score {p:.3f} (threshold {self.threshold:.3f})"
            ),
            technique="T1071",  # Application Layer Protocol (command and control)
            uids=(t.uid,) if t.uid else (),
            dport=dport,
            proto=proto,
            count=t.n,
        )

    def close_window(self, window: int) -> Sequence[Evidence] | None:
        if self.model is None:
            return None
        for k, t in self._tuples.items():
            if t.window <= window and t.n >= self._min and t.n > t.scored_at:
                self._pending[k] = t
        out = self._score_pending()
        horizon = self._newest - self.p.idle_seconds
        for key in [k for k, t in self._tuples.items() if t.last is not None and t.last < horizon]:
            del self._tuples[key]
        return out
