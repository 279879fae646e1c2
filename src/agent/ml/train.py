"""Training, validation by capture, and evaluation of the two models.

Theory of operation
-------------------
Rows of one capture are near-duplicates (the same device repeating itself), so a
random row split measures memory, not detection. Every figure here is by
capture: a *group* is one flow file (flows) or one CTU-13 scenario (letters).

`validate` (leave-one-group-out): for each group G, fit on the others and score
G. The alert threshold of that fold is chosen without G too — by an inner
3-fold cross-validation over the training groups (groups dealt round-robin in
name order): the threshold that maximises F1 on those out-of-fold scores,
raised if needed above every score of a benign-only training group (a capture
with no malicious row must raise nothing). The shipped model is then fitted on
every group, and its threshold is chosen the same way from the outer
out-of-fold scores. So no threshold ever sees the rows it is judged on.

Flows also get a repeat rule (`detection.ml._models.RepeatRule`): after the
threshold, from the same out-of-fold scores, the mean-score threshold for runs of
`repeat_min_flows` flows of one source, destination port and protocol in an hour —
the one (on a 0.05 grid, 0.30-0.95) with the best F1 that adds no flag on a
benign-only group, if it beats the per-flow threshold alone. Fold metrics and
`evaluate` count a row as flagged by either rule.

Flows: rows to special destinations (multicast, broadcast, link-local) are
never scored (`FlowModel.score` gives them 0) and are not trained on. Each
group contributes at most `max_rows` rows per class (a seeded sample), so one
23,000-flow DDoS capture does not outweigh the rest.

Determinism: groups and files are processed in sorted order, samples and
estimators take `seed`, and `io.save_model` writes fixed bytes — the same data
and seed give byte-identical model files.
"""

from __future__ import annotations

import math
import platform
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import sklearn

from agent.ml.datasets import (
    UNLABELLED,
    FlowSet,
    LettersSet,
    file_sha256,
    iter_paths,
    read_flows,
    read_letters_file,
)
from agent.ml.estimators import BoostedTrees, LinearModel
from agent.ml.io import Model, save_model
from detection.heuristics.base import ADDRESS_KINDS, SPECIAL
from detection.ml._features import LettersFeaturizer, flow_features
from detection.ml._models import (
    FlowModel,
    LettersModel,
    RepeatRule,
    capture_runs,
    flag_flows,
    sigmoid,
)

__all__ = [
    "FLOW_PARAMS",
    "LETTERS_PARAMS",
    "Group",
    "metrics",
    "train",
    "validate",
]

# Chosen by leave-one-capture-out comparison (docs/ml.md), never on a test fold.
FLOW_PARAMS: dict[str, Any] = {
    "scorer": "trees",
    "n_estimators": 200,
    "max_depth": 4,
    "learning_rate": 0.1,
    "subsample": 0.8,
    "max_rows": 2000,
    "repeat_min_flows": 10,
}
_REPEAT_GRID = tuple(round(0.30 + 0.05 * i, 2) for i in range(14))  # 0.30 ... 0.95
LETTERS_PARAMS: dict[str, Any] = {
    "scorer": "trees",
    "n_estimators": 150,
    "max_depth": 3,
    "learning_rate": 0.1,
    "subsample": 0.8,
    "max_features": 0.3,
    "n_max": 2,
    "min_count": 5,
    "max_chars": 4000,
}
_THRESHOLD_RANGE = (0.05, 0.995)


@dataclass
class Group:
    """Rows of one capture, as model inputs (flows or letters) and labels."""

    name: str
    items: list[Any]  # Flow records or letter strings
    labels: np.ndarray  # 1, 0, UNLABELLED

    @property
    def benign_only(self) -> bool:
        return bool(np.all(self.labels != 1)) and bool(np.any(self.labels == 0))


def flow_groups(sets: Sequence[FlowSet]) -> list[Group]:
    return sorted(
        (Group(s.name, list(s.flows), np.array(s.labels, dtype=np.int64)) for s in sets),
        key=lambda g: g.name,
    )


def letter_groups(sets: Sequence[LettersSet]) -> list[Group]:
    by: dict[str, tuple[list[str], list[int]]] = {}
    for s in sets:
        for text, label, cap in zip(s.texts, s.labels, s.captures, strict=True):
            t, y = by.setdefault(cap, ([], []))
            t.append(text)
            y.append(label)
    return [Group(c, t, np.array(y, dtype=np.int64)) for c, (t, y) in sorted(by.items())]


def _estimator(params: dict[str, Any], seed: int) -> BoostedTrees | LinearModel:
    if params["scorer"] == "linear":
        return LinearModel(C=params.get("C", 1.0), random_state=seed)
    return BoostedTrees(
        n_estimators=params["n_estimators"],
        max_depth=params["max_depth"],
        learning_rate=params["learning_rate"],
        subsample=params["subsample"],
        max_features=params.get("max_features"),
        random_state=seed,
    )


def _trainable(kind: str, g: Group) -> np.ndarray:
    usable = g.labels != UNLABELLED
    if kind == "flows":
        kinds = ADDRESS_KINDS
        usable &= np.array([kinds[f.daddr] != SPECIAL for f in g.items], dtype=bool)
    return usable


def _sample(kind: str, g: Group, params: dict[str, Any], rng: np.random.Generator) -> np.ndarray:
    idx = np.flatnonzero(_trainable(kind, g))
    cap = params.get("max_rows")
    if cap is None:
        return idx
    out = []
    for c in (0, 1):
        w = idx[g.labels[idx] == c]
        if len(w) > cap:
            w = np.sort(rng.choice(w, cap, replace=False))
        out.append(w)
    return np.sort(np.concatenate(out))


def fit_model(
    kind: str, groups: Sequence[Group], params: dict[str, Any], seed: int, threshold: float = 0.5
) -> Model:
    """Fit on `groups` (all their usable rows, capped per class)."""
    rng = np.random.default_rng(seed)
    items: list[Any] = []
    ys: list[np.ndarray] = []
    for g in groups:
        idx = _sample(kind, g, params, rng)
        items.extend(g.items[i] for i in idx)
        ys.append(g.labels[idx])
    y = np.concatenate(ys) if ys else np.zeros(0, np.int64)
    if len(np.unique(y)) != 2:
        raise ValueError("training data needs both malicious and benign rows")
    est = _estimator(params, seed)
    if kind == "flows":
        est.fit(flow_features(items), y)
        return FlowModel(est.scorer_, threshold)
    fz = LettersFeaturizer(n_max=params["n_max"], max_chars=params["max_chars"]).fit(
        items, min_count=params["min_count"]
    )
    est.fit(fz.transform(items), y)
    return LettersModel(est.scorer_, fz, threshold)


def score(model: Model, items: Sequence[Any]) -> np.ndarray:
    if isinstance(model, FlowModel):
        return model.score(items)
    return model.score(items)


def with_threshold(model: Model, threshold: float, repeat: RepeatRule | None = None) -> Model:
    if isinstance(model, FlowModel):
        return FlowModel(model.scorer, threshold, model.meta, repeat)
    return LettersModel(model.scorer, model.featurizer, threshold, model.meta)


def flagged(model: Model, items: Sequence[Any], scores: np.ndarray) -> np.ndarray:
    """Rows `model` flags (its threshold; for flows also its repeat rule), in row order."""
    if isinstance(model, FlowModel):
        return flag_flows(items, scores, model.threshold, model.repeat)
    return scores >= model.threshold


def choose_repeat(
    scored: Sequence[tuple[Group, np.ndarray]], threshold: float, min_flows: int
) -> RepeatRule | None:
    """The repeat rule's mean-score threshold (module header), or None."""

    base = [p >= threshold for _, p in scored]
    runs = [capture_runs(g.items, p) for g, p in scored]  # the same for every t

    def flags(t: float) -> list[np.ndarray]:
        rule = RepeatRule(min_flows, t)
        return [b | rule.flags(*r) for b, r in zip(base, runs, strict=True)]

    def f1_if_silent(fl: list[np.ndarray]) -> float | None:
        tp = fp = fn = 0
        for (g, _), f, b in zip(scored, fl, base, strict=True):
            y = g.labels
            if g.benign_only and bool(np.any(f & ~b & (y == 0))):
                return None  # the rule adds a flag on a benign-only capture
            tp += int(np.sum(f & (y == 1)))
            fp += int(np.sum(f & (y == 0)))
            fn += int(np.sum(~f & (y == 1)))
        return 2 * tp / (2 * tp + fp + fn) if tp + fn else None

    best_f1 = f1_if_silent(base) or 0.0
    best: float | None = None
    for t in sorted(_REPEAT_GRID, reverse=True):  # ties keep the stricter rule
        f1 = f1_if_silent(flags(t))
        if f1 is not None and f1 > best_f1:
            best_f1, best = f1, t
    return None if best is None else RepeatRule(min_flows, best)


def choose_threshold(scored: Sequence[tuple[Group, np.ndarray]]) -> float:
    """Max-F1 threshold over out-of-fold scores, above every benign-only group's scores."""
    s = np.concatenate([p[g.labels != UNLABELLED] for g, p in scored])
    y = np.concatenate([g.labels[g.labels != UNLABELLED] for g, _ in scored])
    floor = max(
        (float(p[g.labels == 0].max()) for g, p in scored if g.benign_only and len(p)), default=0.0
    )
    lo, hi = _THRESHOLD_RANGE
    candidates = np.unique(np.concatenate([s, [lo]]))
    candidates = candidates[(candidates > floor) & (candidates >= lo) & (candidates <= hi)]
    if candidates.size == 0:
        return hi
    order = np.argsort(-s, kind="stable")
    s_sorted, y_sorted = s[order], y[order]
    tp_cum = np.cumsum(y_sorted == 1)
    n_pos = int((y == 1).sum())
    # predicted positive at threshold t: every score >= t
    k = np.searchsorted(-s_sorted, -candidates, side="right")
    tp = np.where(k > 0, tp_cum[np.maximum(k - 1, 0)], 0)
    f1 = 2 * tp / np.maximum(k + n_pos, 1)
    best = float(candidates[int(np.argmax(f1))])
    return min(hi, max(lo, best))


def _inner_threshold(
    kind: str, groups: Sequence[Group], params: dict[str, Any], seed: int, folds: int = 3
) -> tuple[float, RepeatRule | None]:
    scored = []
    for k in range(folds):
        test = [g for i, g in enumerate(groups) if i % folds == k]
        train = [g for i, g in enumerate(groups) if i % folds != k]
        if not test or len({int(v) for g in train for v in g.labels if v >= 0}) < 2:
            continue
        model = fit_model(kind, train, params, seed)
        scored.extend((g, score(model, g.items)) for g in test)
    if not scored:
        return 0.5, None
    threshold = choose_threshold(scored)
    return threshold, _repeat_for(kind, scored, threshold, params)


def _repeat_for(
    kind: str, scored: Sequence[tuple[Group, np.ndarray]], threshold: float, params: dict[str, Any]
) -> RepeatRule | None:
    min_flows = params.get("repeat_min_flows")
    if kind != "flows" or not min_flows:
        return None
    return choose_repeat(scored, threshold, int(min_flows))


def metrics(
    labels: np.ndarray, scores: np.ndarray, threshold: float, flags: np.ndarray | None = None
) -> dict[str, Any]:
    """Precision, recall, F1, false-positive rate, ROC AUC over labelled rows
    (`flags`: the rows flagged, when more than the threshold decides)."""
    m = labels != UNLABELLED
    y, s = labels[m], scores[m]
    pred = s >= threshold if flags is None else flags[m]
    tp = int(np.sum(pred & (y == 1)))
    fp = int(np.sum(pred & (y == 0)))
    fn = int(np.sum(~pred & (y == 1)))
    tn = int(np.sum(~pred & (y == 0)))
    precision = tp / (tp + fp) if tp + fp else None
    recall = tp / (tp + fn) if tp + fn else None
    f1 = 2 * tp / (2 * tp + fp + fn) if tp + fn else None
    return {
        "rows": len(labels),
        "labelled": int(m.sum()),
        "malicious": tp + fn,
        "alerts": tp + fp,
        "precision": _r(precision),
        "recall": _r(recall),
        "f1": _r(f1),
        "fpr": _r(fp / (fp + tn) if fp + tn else None),
        "roc_auc": _r(roc_auc(y, s)),
    }


def _r(v: float | None) -> float | None:
    return None if v is None or math.isnan(v) else round(float(v), 4)


def roc_auc(y: np.ndarray, s: np.ndarray) -> float | None:
    """Mann-Whitney AUC with ties counted half; None with a single class."""
    pos, neg = s[y == 1], s[y == 0]
    if len(pos) == 0 or len(neg) == 0:
        return None
    allv = np.concatenate([pos, neg])
    _, inv, counts = np.unique(allv, return_inverse=True, return_counts=True)
    ranks_by_value = np.cumsum(counts) - (counts - 1) / 2.0
    ranks = ranks_by_value[inv]
    return float((ranks[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def validate(
    kind: str,
    groups: Sequence[Group],
    params: dict[str, Any],
    seed: int,
    progress: Callable[[str], None] | None = None,
) -> tuple[dict[str, Any], list[tuple[Group, np.ndarray]]]:
    """Leave-one-group-out table (module header) and the out-of-fold scores."""
    table: dict[str, Any] = {}
    oof: list[tuple[Group, np.ndarray]] = []
    for g in groups:
        train_groups = [h for h in groups if h is not g]
        threshold, repeat = _inner_threshold(kind, train_groups, params, seed)
        model = with_threshold(fit_model(kind, train_groups, params, seed), threshold, repeat)
        p = score(model, g.items)
        oof.append((g, p))
        table[g.name] = {
            **metrics(g.labels, p, threshold, flagged(model, g.items, p)),
            "threshold": round(threshold, 4),
        }
        if repeat is not None:
            table[g.name]["repeat_threshold"] = repeat.threshold
        if progress is not None:
            progress(f"{g.name}: {table[g.name]}")
    return table, oof


def load_groups(kind: str, paths: Sequence[Path]) -> tuple[list[Group], list[dict[str, Any]]]:
    files = sorted(set(iter_paths(list(paths))), key=lambda p: p.name + str(p))
    provenance = []
    if kind == "flows":
        sets = [read_flows(p) for p in files]
        groups = flow_groups(sets)
        rows = [len(s.flows) for s in sets]
    else:
        lsets = [read_letters_file(p) for p in files]
        groups = letter_groups(lsets)
        rows = [len(s.texts) for s in lsets]
    for p, n in zip(files, rows, strict=True):
        provenance.append(
            {"file": p.name, "capture": p.parent.name, "sha256": file_sha256(p), "rows": n}
        )
    return groups, provenance


def train(
    kind: str,
    paths: Sequence[Path],
    out: Path,
    *,
    seed: int = 0,
    folds: bool = True,
    params: dict[str, Any] | None = None,
    progress: Callable[[str], None] | None = None,
) -> tuple[Model, dict[str, Any]]:
    """Validate by capture (unless `folds` is False), fit on everything, save to `out`."""
    p = dict(params or (FLOW_PARAMS if kind == "flows" else LETTERS_PARAMS))
    groups, provenance = load_groups(kind, paths)
    validation: dict[str, Any] = {}
    if folds and len(groups) >= 3:
        table, oof = validate(kind, groups, p, seed, progress)
        threshold = choose_threshold(oof)
        repeat = _repeat_for(kind, oof, threshold, p)
        final = with_threshold(fit_model(kind, groups, p, seed), threshold, repeat)
        validation = {
            "method": "leave-one-capture-out",
            "per_capture": table,
            "pooled_at_final_threshold": metrics(
                np.concatenate([g.labels for g, _ in oof]),
                np.concatenate([s for _, s in oof]),
                threshold,
                np.concatenate([flagged(final, g.items, s) for g, s in oof]),
            ),
        }
        model = final
    else:
        threshold, repeat = (
            _inner_threshold(kind, groups, p, seed) if len(groups) >= 3 else (0.5, None)
        )
        model = with_threshold(fit_model(kind, groups, p, seed), threshold, repeat)
    meta = {
        "training": {
            "files": provenance,
            "groups": [g.name for g in groups],
            "seed": seed,
            "params": p,
            "versions": {
                "sklearn": sklearn.__version__,
                "numpy": np.__version__,
                "python": platform.python_version(),
            },
        },
        "validation": validation,
    }
    save_model(out, model, meta)
    return model, meta


def positives(scores: np.ndarray, threshold: float) -> np.ndarray:
    return scores >= threshold


__all__ += ["choose_threshold", "fit_model", "load_groups", "roc_auc", "score", "sigmoid"]
