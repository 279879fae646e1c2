"""Trained models as plain numpy arrays, and their scoring — nothing here unpickles.

Two scorer families, both defined entirely by numeric arrays (what a model
file's ``arrays.npz`` holds, see `agent.ml.io`):

* `LinearScorer`: standardise (``mean``, ``scale``), dot ``coef``, add ``intercept``;
* `TreeScorer`: gradient-boosted regression trees (scikit-learn's
  ``GradientBoostingClassifier`` with a zero initial estimate), all trees in one
  set of node arrays — ``feature`` (-1 marks a leaf), ``threshold``, ``left``,
  ``right`` (global node indices), ``value`` (leaf value times the learning
  rate) and ``roots``. Evaluation walks every sample down every tree at once,
  `depth` steps of vectorised indexing. Like scikit-learn, features are compared
  as float32 (``x <= threshold`` goes left), so scores match the estimator's.

Both give a log-odds decision; `predict_proba` is its logistic. A constructor
checks every shape and index (a malformed model raises ValueError, never an
IndexError halfway through a batch).

`FlowModel` and `LettersModel` bind a scorer to its features and its alert
threshold; they are what the agent puts in `DetectionContext.models`.

A flow model may carry a `RepeatRule`: a source that keeps sending flows of one
kind (one destination port and protocol) in one hour whose *mean* score is high is
flagged even though no single flow crosses the per-flow threshold. Why: on captures
it never saw, the classifier ranks a bot's own flows far above that host's benign
flows but often below the rare outlier flow of some benign capture; the outlier is
one flow, the bot's C&C is hundreds (docs/ml.md, "Flows: the repeat rule").
Running sums are accumulated in arrival order by one function (the detector's
`RepeatTracker` across batches, `capture_runs` for a whole capture) and the rule is
decided by `RepeatRule.flags` alone, so training, evaluation and the detector agree
flow for flow.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from detection.ml._features import FLOW_FEATURES, LettersFeaturizer, flow_features
from detection.model import Flow

__all__ = [
    "FlowModel",
    "LettersModel",
    "LinearScorer",
    "RepeatRule",
    "RepeatTracker",
    "Scorer",
    "TreeScorer",
    "capture_runs",
    "flag_flows",
    "sigmoid",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


def sigmoid(z: FloatArray) -> FloatArray:
    out: FloatArray = 0.5 * (1.0 + np.tanh(0.5 * z))  # stable for any |z|
    return out


def _finite(name: str, a: FloatArray) -> None:
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} holds NaN or infinite values")


class LinearScorer:
    kind = "linear"

    def __init__(self, mean: FloatArray, scale: FloatArray, coef: FloatArray, intercept: float):
        self.mean = np.asarray(mean, dtype=np.float64)
        self.scale = np.asarray(scale, dtype=np.float64)
        self.coef = np.asarray(coef, dtype=np.float64)
        self.intercept = float(intercept)
        n = self.coef.shape[0] if self.coef.ndim == 1 else -1
        if n < 1 or self.mean.shape != (n,) or self.scale.shape != (n,):
            raise ValueError("linear model: coef, mean and scale must be vectors of one length")
        for name, a in (("coef", self.coef), ("mean", self.mean), ("scale", self.scale)):
            _finite(f"linear model: {name}", a)
        if not np.all(self.scale > 0) or not np.isfinite(self.intercept):
            raise ValueError("linear model: scale must be positive, intercept finite")

    @property
    def n_features(self) -> int:
        return int(self.coef.shape[0])

    def decision(self, x: FloatArray) -> FloatArray:
        out: FloatArray = ((x - self.mean) / self.scale) @ self.coef + self.intercept
        return out

    def arrays(self) -> dict[str, npt.NDArray[np.generic]]:
        return {
            "mean": self.mean,
            "scale": self.scale,
            "coef": self.coef,
            "intercept": np.array([self.intercept]),
        }

    @classmethod
    def from_arrays(cls, a: Mapping[str, npt.NDArray[np.generic]]) -> LinearScorer:
        intercept = np.asarray(a["intercept"], dtype=np.float64)
        if intercept.shape != (1,):
            raise ValueError("linear model: intercept must hold one value")
        return cls(
            np.asarray(a["mean"], np.float64),
            np.asarray(a["scale"], np.float64),
            np.asarray(a["coef"], np.float64),
            float(intercept[0]),
        )


class TreeScorer:
    kind = "trees"

    def __init__(  # noqa: PLR0917  # the node arrays, in the order they are stored
        self,
        feature: IntArray,
        threshold: FloatArray,
        left: IntArray,
        right: IntArray,
        value: FloatArray,
        roots: IntArray,
        n_features: int,
    ):
        self.feature = np.asarray(feature, dtype=np.int64)
        self.threshold = np.asarray(threshold, dtype=np.float64)
        self.left = np.asarray(left, dtype=np.int64)
        self.right = np.asarray(right, dtype=np.int64)
        self.value = np.asarray(value, dtype=np.float64)
        self.roots = np.asarray(roots, dtype=np.int64)
        self._n_features = int(n_features)
        m = self.feature.shape[0] if self.feature.ndim == 1 else -1
        if m < 1 or any(
            a.shape != (m,) for a in (self.threshold, self.left, self.right, self.value)
        ):
            raise ValueError("tree model: node arrays must be vectors of one length")
        if self.roots.ndim != 1 or self.roots.shape[0] < 1:
            raise ValueError("tree model: no trees")
        _finite("tree model: value", self.value)
        inner = self.feature >= 0
        if np.any(self.feature < -1) or np.any(self.feature >= self._n_features):
            raise ValueError("tree model: feature index out of range")
        for name, idx in (("left", self.left), ("right", self.right)):
            # children point forward (no cycles), inside the arrays
            bad = inner & ((idx <= np.arange(m)) | (idx >= m))
            if np.any(bad):
                raise ValueError(f"tree model: {name} child index out of range")
        if np.any((self.roots < 0) | (self.roots >= m)):
            raise ValueError("tree model: root index out of range")
        if not np.all(np.isfinite(self.threshold[inner])):
            raise ValueError("tree model: thresholds must be finite")
        self.depth = self._max_depth()
        # Leaves point to themselves, so a walk can run `depth` steps for every tree.
        # Children interleaved — [2i] right, [2i + 1] left — so one step is one
        # gather at `2 * node + went_left` (not two gathers and a select: -20 %).
        nodes = np.arange(m)
        self._children = np.empty(2 * m, dtype=np.int64)
        self._children[0::2] = np.where(inner, self.right, nodes)
        self._children[1::2] = np.where(inner, self.left, nodes)
        self._feature = np.where(inner, self.feature, 0)
        self._threshold = np.where(inner, self.threshold, np.inf)

    def _max_depth(self) -> int:
        depth = 0
        frontier = self.roots
        while True:
            inner = frontier[self.feature[frontier] >= 0]
            if inner.size == 0:
                return depth
            depth += 1
            if depth > 64:
                raise ValueError("tree model: deeper than 64 levels")
            frontier = np.concatenate((self.left[inner], self.right[inner]))

    @property
    def n_features(self) -> int:
        return self._n_features

    def decision(self, x: FloatArray) -> FloatArray:
        # float32 first: the features the trees were fitted on (scikit-learn's cast)
        x32 = np.asarray(x, dtype=np.float32).astype(np.float64)
        n, width = x32.shape
        flat = x32.ravel()
        node = np.broadcast_to(self.roots, (n, self.roots.shape[0])).copy()
        row_start = (np.arange(n) * width)[:, None]
        children, feature, threshold = self._children, self._feature, self._threshold
        for _ in range(self.depth):
            went_left = flat[row_start + feature[node]] <= threshold[node]
            node = children[2 * node + went_left]
        out: FloatArray = self.value[node].sum(axis=1)
        return out

    def arrays(self) -> dict[str, npt.NDArray[np.generic]]:
        return {
            "feature": self.feature,
            "threshold": self.threshold,
            "left": self.left,
            "right": self.right,
            "value": self.value,
            "roots": self.roots,
        }

    @classmethod
    def from_arrays(cls, a: Mapping[str, npt.NDArray[np.generic]], n_features: int) -> TreeScorer:
        return cls(
            np.asarray(a["feature"], np.int64),
            np.asarray(a["threshold"], np.float64),
            np.asarray(a["left"], np.int64),
            np.asarray(a["right"], np.int64),
            np.asarray(a["value"], np.float64),
            np.asarray(a["roots"], np.int64),
            n_features,
        )


Scorer = LinearScorer | TreeScorer


def _check_features(scorer: Scorer, names: Sequence[str], expected: Sequence[str]) -> None:
    if tuple(names) != tuple(expected):
        raise ValueError("model features differ from the features this version computes")
    if scorer.n_features != len(expected):
        raise ValueError(f"model expects {scorer.n_features} features, not {len(expected)}")


REPEAT_WINDOW_SECONDS = 3600.0  # the hour the rule counts flows in (training and evaluation)
MAX_REPEAT_RUNS = 200_000  # runs tracked at once (a port scan opens one per port)

RunKey = tuple[str, int | None, str, int]  # source, destination port, protocol, window


@dataclass(frozen=True)
class RepeatRule:
    """Flag a flow once its (source, destination port, protocol) has sent at least
    `min_flows` flows in the window with a mean score of at least `threshold`."""

    min_flows: int
    threshold: float

    def __post_init__(self) -> None:
        if not 2 <= self.min_flows <= 1_000_000:
            raise ValueError("repeat rule: min_flows must lie in [2, 1000000]")
        if not 0.0 < self.threshold < 1.0:
            raise ValueError("repeat rule: threshold must lie in (0, 1)")

    def flags(self, sums: FloatArray, counts: FloatArray) -> npt.NDArray[np.bool_]:
        """The rule on each flow's running score sum and flow count (the one place it
        is decided: the detector, `flag_flows` and training's choice all call it)."""
        out: npt.NDArray[np.bool_] = (counts >= self.min_flows) & (sums >= self.threshold * counts)
        return out


def _accumulate(
    runs: dict[RunKey, list[float]],
    max_runs: int,
    flows: Sequence[Flow],
    scores: FloatArray,
    windows: Sequence[int],
) -> tuple[FloatArray, FloatArray, int]:
    """Add `flows` to their runs in order; each flow's running (sum, count) after it,
    (0, 0) for a flow whose run could not be opened (`max_runs`), and how many those were."""
    sums: list[float] = []
    counts: list[float] = []
    untracked = 0
    for flow, p, w in zip(flows, scores.tolist(), windows, strict=True):
        key = (flow.saddr, flow.dport, flow.proto, w)
        run = runs.get(key)
        if run is None:
            if len(runs) >= max_runs:
                untracked += 1
                sums.append(0.0)
                counts.append(0.0)
                continue
            run = runs[key] = [0.0, 0.0]
        run[0] += p
        run[1] += 1.0
        sums.append(run[0])
        counts.append(run[1])
    return np.array(sums), np.array(counts), untracked


class RepeatTracker:
    """Running score sum and count per (source, destination port, protocol, window),
    in the order flows arrive; `update` says which flows the rule flags.

    At most `max_runs` runs are tracked (a port scan opens one per port): a flow that
    would open one more is not tracked (counted in `untracked`) until a window closes.
    """

    __slots__ = ("_runs", "max_runs", "rule", "untracked")

    def __init__(self, rule: RepeatRule, max_runs: int = MAX_REPEAT_RUNS) -> None:
        self.rule = rule
        self.max_runs = max_runs
        self.untracked = 0
        self._runs: dict[RunKey, list[float]] = {}

    def update(
        self, flows: Sequence[Flow], scores: FloatArray, windows: Sequence[int]
    ) -> npt.NDArray[np.bool_]:
        sums, counts, untracked = _accumulate(self._runs, self.max_runs, flows, scores, windows)
        self.untracked += untracked
        return self.rule.flags(sums, counts)

    def mean(self, flow: Flow, window: int) -> tuple[float, int]:
        """The running mean score and flow count of `flow`'s run (0, 0 if none)."""
        run = self._runs.get((flow.saddr, flow.dport, flow.proto, window))
        return (run[0] / run[1], int(run[1])) if run else (0.0, 0)

    def drop_upto(self, window: int) -> None:
        for key in [k for k in self._runs if k[3] <= window]:
            del self._runs[key]

    def __len__(self) -> int:
        return len(self._runs)


def capture_runs(flows: Sequence[Flow], scores: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Running (sum, count) of each flow of one capture, in file order, over hour windows
    of the flows' own timestamps — what any repeat rule is decided on (rule-independent,
    so training computes it once and tries every threshold on it)."""
    windows = [int(f.ts // REPEAT_WINDOW_SECONDS) for f in flows]
    sums, counts, _ = _accumulate({}, MAX_REPEAT_RUNS, flows, scores, windows)
    return sums, counts


def flag_flows(
    flows: Sequence[Flow], scores: FloatArray, threshold: float, repeat: RepeatRule | None
) -> npt.NDArray[np.bool_]:
    """Which of `flows` (one capture, in file order) are flagged: the per-flow
    threshold, or the repeat rule over hour windows of the flows' own timestamps."""
    flagged: npt.NDArray[np.bool_] = scores >= threshold
    if repeat is not None and len(flows):
        flagged |= repeat.flags(*capture_runs(flows, scores))
    return flagged


@dataclass(frozen=True)
class FlowModel:
    """Flow classifier: P(malicious) of each conn record."""

    scorer: Scorer
    threshold: float
    meta: Mapping[str, object] = field(default_factory=dict)
    repeat: RepeatRule | None = None

    def __post_init__(self) -> None:
        _check_features(self.scorer, FLOW_FEATURES, FLOW_FEATURES)
        if not 0.0 < self.threshold < 1.0:
            raise ValueError("flow model: threshold must lie in (0, 1)")

    def score(self, flows: Sequence[Flow]) -> FloatArray:
        """P(malicious) per flow; 0 for flows to special destinations (multicast,
        broadcast, link-local: discovery chatter, never an attack channel to a
        host; they are not trained on either)."""
        n = len(flows)
        if not n:
            return np.zeros(0)
        # Imported here: detection.heuristics discovers the detectors of this
        # package, which import this module (a cycle at import time otherwise).
        from detection.heuristics.base import ADDRESS_KINDS, SPECIAL  # noqa: PLC0415

        p = sigmoid(self.scorer.decision(flow_features(flows)))
        kinds = ADDRESS_KINDS
        special = np.fromiter((kinds[f.daddr] == SPECIAL for f in flows), dtype=bool, count=n)
        p[special] = 0.0
        return p


@dataclass(frozen=True)
class LettersModel:
    """C&C behaviour model: P(botnet) of an out-tuple's letters."""

    scorer: Scorer
    featurizer: LettersFeaturizer
    threshold: float
    meta: Mapping[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        names = self.featurizer.feature_names
        _check_features(self.scorer, names, names)
        if not 0.0 < self.threshold < 1.0:
            raise ValueError("letters model: threshold must lie in (0, 1)")

    def score(self, texts: Sequence[str]) -> FloatArray:
        if not texts:
            return np.zeros(0)
        return sigmoid(self.scorer.decision(self.featurizer.transform(texts)))
