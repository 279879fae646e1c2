"""Array scorers: they match scikit-learn, and refuse malformed arrays."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.ensemble import GradientBoostingClassifier

from detection.ml._features import FLOW_FEATURES, LettersFeaturizer, flow_features
from detection.ml._models import FlowModel, LettersModel, LinearScorer, TreeScorer, sigmoid
from detection.model import Flow


def _export(gb: GradientBoostingClassifier, n_features: int) -> TreeScorer:
    # the same export as agent.ml.estimators, written out to test the evaluator alone
    parts: dict[str, list[np.ndarray]] = {k: [] for k in ("f", "t", "l", "r", "v")}
    roots, offset = [], 0
    for (est,) in gb.estimators_:
        t = est.tree_
        inner = t.children_left >= 0
        roots.append(offset)
        parts["f"].append(np.where(inner, t.feature, -1))
        parts["t"].append(np.where(inner, t.threshold, 0.0))
        parts["l"].append(np.where(inner, t.children_left + offset, -1))
        parts["r"].append(np.where(inner, t.children_right + offset, -1))
        parts["v"].append(np.where(inner, 0.0, t.value[:, 0, 0] * gb.learning_rate))
        offset += t.node_count
    c = {k: np.concatenate(v) for k, v in parts.items()}
    return TreeScorer(c["f"], c["t"], c["l"], c["r"], c["v"], np.array(roots), n_features)


def test_tree_scorer_matches_sklearn() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(600, 5))
    y = (x[:, 0] + x[:, 1] * x[:, 2] > 0.3).astype(int)
    gb = GradientBoostingClassifier(n_estimators=30, max_depth=3, init="zero", random_state=0)
    gb.fit(x, y)
    scorer = _export(gb, 5)
    test = rng.normal(size=(300, 5))
    np.testing.assert_allclose(scorer.decision(test), gb.decision_function(test), atol=1e-9)
    np.testing.assert_allclose(sigmoid(scorer.decision(test)), gb.predict_proba(test)[:, 1])
    assert scorer.depth == 3


def test_linear_scorer() -> None:
    s = LinearScorer(np.array([1.0, 0.0]), np.array([2.0, 1.0]), np.array([1.0, -1.0]), 0.5)
    out = s.decision(np.array([[3.0, 1.0], [1.0, 0.0]]))
    np.testing.assert_allclose(out, [1.0 - 1.0 + 0.5, 0.5])


@pytest.mark.parametrize(
    "mutate",
    [
        lambda a: a.update(feature=np.array([7, -1, -1])),  # feature out of range
        lambda a: a.update(left=np.array([0, -1, -1])),  # a cycle
        lambda a: a.update(right=np.array([9, -1, -1])),  # outside the arrays
        lambda a: a.update(value=np.array([0.0, np.nan, 1.0])),
        lambda a: a.update(threshold=np.array([np.inf, 0.0, 0.0])),
        lambda a: a.update(roots=np.array([5])),
        lambda a: a.update(value=np.array([0.0, 1.0])),  # length mismatch
    ],
)
def test_tree_scorer_refuses_malformed_arrays(mutate) -> None:  # type: ignore[no-untyped-def]
    a = {
        "feature": np.array([0, -1, -1]),
        "threshold": np.array([0.5, 0.0, 0.0]),
        "left": np.array([1, -1, -1]),
        "right": np.array([2, -1, -1]),
        "value": np.array([0.0, -1.0, 1.0]),
        "roots": np.array([0]),
    }
    TreeScorer.from_arrays(a, 1)  # the unmodified tree is fine
    mutate(a)
    with pytest.raises(ValueError, match="tree model"):
        TreeScorer.from_arrays(a, 1)


def test_linear_scorer_refuses_bad_arrays() -> None:
    with pytest.raises(ValueError, match="linear model"):
        LinearScorer(np.zeros(2), np.zeros(2), np.zeros(2), 0.0)  # scale 0
    with pytest.raises(ValueError, match="linear model"):
        LinearScorer(np.zeros(2), np.ones(3), np.zeros(2), 0.0)


def _flow(daddr: str, state: str) -> Flow:
    return Flow(1.0, "C1", "10.0.0.1", 40000, daddr, 23, "tcp", "", 0.0, 0, 0, 1, 0,
                state, "S", False)  # fmt: skip


def test_flow_model_scores_features_and_zeroes_special_destinations() -> None:
    coef = np.zeros(len(FLOW_FEATURES))
    coef[FLOW_FEATURES.index("state=S0")] = 10.0
    model = FlowModel(LinearScorer(np.zeros_like(coef), np.ones_like(coef), coef, -5.0), 0.5)
    flows = [_flow("8.8.8.8", "S0"), _flow("8.8.8.8", "SF"), _flow("224.0.0.251", "S0")]
    p = model.score(flows)
    assert p[0] > 0.99 and p[1] < 0.01 and p[2] == 0.0
    x = flow_features(flows)
    assert x.shape == (3, len(FLOW_FEATURES))
    assert x[0, FLOW_FEATURES.index("dport=23")] == 1.0
    assert x[0, FLOW_FEATURES.index("history_has=S")] == 1.0


def test_letters_featurizer_frequencies() -> None:
    fz = LettersFeaturizer(n_max=2).fit(["a.a.a.", "a.b."], min_count=1)
    x = fz.transform(["a.a.a.", ""])
    names = fz.feature_names
    assert x[0, names.index("gram=a")] == pytest.approx(0.5)  # 3 of 6 characters
    assert x[0, names.index("gram=a.")] == pytest.approx(3 / 5)
    assert x[0, names.index("periodicity=1")] == 1.0
    assert not x[1].any()
    coef = np.zeros(len(names))
    coef[names.index("gram=b")] = 16.0
    model = LettersModel(LinearScorer(np.zeros_like(coef), np.ones_like(coef), coef, -2.0), fz, 0.5)
    p = model.score(["a.b.", "a.a."])
    assert p[0] > 0.5 > p[1]


def _conn(ts: float, saddr: str, dport: int) -> Flow:
    return Flow(ts, f"C{ts}", saddr, 40000, "45.0.0.1", dport, "tcp", "", 0.1, 10, 0, 1, 0,
                "SF", "ShAD", True)  # fmt: skip


def test_repeat_rule_bounds() -> None:
    from detection.ml._models import RepeatRule

    for bad in ((1, 0.5), (10, 0.0), (10, 1.0), (10, float("nan"))):
        with pytest.raises(ValueError, match="repeat rule"):
            RepeatRule(*bad)


def test_flag_flows_runs_by_source_port_and_hour() -> None:
    from detection.ml._models import RepeatRule, RepeatTracker, flag_flows

    rule = RepeatRule(min_flows=3, threshold=0.5)
    flows = [
        _conn(0.0, "10.0.0.1", 80),
        _conn(1.0, "10.0.0.1", 80),
        _conn(2.0, "10.0.0.2", 80),  # another source: its own run
        _conn(3.0, "10.0.0.1", 80),  # the run's 3rd flow: mean (0.6+0.6+0.3)/3 = 0.5
        _conn(4.0, "10.0.0.1", 81),  # another port: its own run
        _conn(3700.0, "10.0.0.1", 80),  # the next hour: a new run
        _conn(3701.0, "10.0.0.1", 80),
    ]
    scores = np.array([0.6, 0.6, 0.9, 0.3, 0.9, 0.9, 0.9])
    got = flag_flows(flows, scores, 0.95, rule)
    assert got.tolist() == [False, False, False, True, False, False, False]
    assert flag_flows(flows, scores, 0.95, None).tolist() == [False] * 7
    assert flag_flows(flows, scores, 0.85, rule).tolist() == [
        False, False, True, True, True, True, True,
    ]  # fmt: skip
    # incremental use (the detector's batches) decides exactly as one pass does
    tracker = RepeatTracker(rule)
    windows = [int(f.ts // 3600) for f in flows]
    parts = [tracker.update(flows[i : i + 2], scores[i : i + 2], windows[i : i + 2])
             for i in range(0, 7, 2)]  # fmt: skip
    assert np.concatenate(parts).tolist() == got.tolist()
    assert tracker.mean(flows[0], 0) == (pytest.approx(0.5), 3)
    tracker.drop_upto(0)
    assert tracker.mean(flows[0], 0) == (0.0, 0) and len(tracker) == 1


def test_repeat_tracker_is_bounded() -> None:
    from detection.ml._models import RepeatRule, RepeatTracker

    tracker = RepeatTracker(RepeatRule(2, 0.5), max_runs=3)
    scan = [_conn(float(i), "10.0.0.1", 1000 + i) for i in range(5)]  # a run per port
    tracker.update(scan, np.full(5, 0.9), [0] * 5)
    assert len(tracker) == 3 and tracker.untracked == 2
    again = tracker.update(scan[:1], np.full(1, 0.9), [0])  # a tracked run goes on
    assert again.tolist() == [True]
    tracker.drop_upto(0)
    assert len(tracker) == 0
