"""Training: determinism, validation by capture, threshold choice, the estimator contract."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from sklearn.exceptions import SkipTestWarning
from sklearn.utils.estimator_checks import check_estimator

from agent.ml.estimators import BoostedTrees, LinearModel
from agent.ml.train import Group, choose_threshold, metrics, roc_auc, train


def _files(labeled: Path) -> list[Path]:
    return [
        labeled / "CTU-Malware-Capture-8-1-head.csv",
        labeled / "CTU-Honeypot-Capture-4-1-labeled.csv",
        labeled / "sdt-010-every7th.conn.log.labeled",
        labeled / "botnet-4-head.conn.log.labeled",
    ]


def test_training_is_deterministic(tmp_path: Path, labeled: Path, small_params) -> None:  # type: ignore[no-untyped-def]
    for out in ("a", "b"):
        train("flows", _files(labeled), tmp_path / out, seed=3, params=small_params["flows"])
    for name in ("model.json", "arrays.npz"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    train("flows", _files(labeled), tmp_path / "c", seed=4, params=small_params["flows"])
    assert (tmp_path / "a" / "arrays.npz").read_bytes() != (
        tmp_path / "c" / "arrays.npz"
    ).read_bytes()


def test_training_records_provenance_and_per_capture_validation(
    tmp_path: Path, labeled: Path, small_params
) -> None:  # type: ignore[no-untyped-def]
    model, meta = train(
        "flows", _files(labeled), tmp_path / "m", seed=0, params=small_params["flows"]
    )
    files = meta["training"]["files"]
    assert [f["file"] for f in files] == sorted(f["file"] for f in files)
    assert all(len(f["sha256"]) == 64 for f in files)
    assert meta["training"]["versions"]["sklearn"]
    table = meta["validation"]["per_capture"]
    assert set(table) == {"CTU-Malware-Capture-8-1-head", "CTU-Honeypot-Capture-4-1",
                          "sdt-010-every7th", "botnet-4-head"}  # fmt: skip
    for row in table.values():
        assert {"precision", "recall", "f1", "fpr", "roc_auc", "rows", "threshold"} <= set(row)
    assert 0.05 <= model.threshold <= 0.995


def test_letters_training_groups_by_scenario(tmp_path: Path, labeled: Path, small_params) -> None:  # type: ignore[no-untyped-def]
    _, meta = train("letters", [labeled / "ctu13-letters-sample.psv"], tmp_path / "l",
                    seed=0, params=small_params["letters"])  # fmt: skip
    assert set(meta["validation"]["per_capture"]) == {"V42", "V43", "V44", "V45", "V47", "V49",
                                                      "V50", "V53"}  # fmt: skip


def test_threshold_stays_above_benign_only_groups() -> None:
    mixed = Group("m", [], np.array([1, 1, 0, 0]))
    benign = Group("b", [], np.array([0, 0]))
    scored = [(mixed, np.array([0.9, 0.7, 0.2, 0.1])), (benign, np.array([0.75, 0.1]))]
    t = choose_threshold(scored)
    assert 0.75 < t <= 0.9
    assert choose_threshold([(mixed, np.array([0.9, 0.7, 0.2, 0.1]))]) == pytest.approx(0.7)


def test_metrics_and_auc() -> None:
    y = np.array([1, 1, 0, 0, -1])
    s = np.array([0.9, 0.4, 0.6, 0.1, 0.99])
    m = metrics(y, s, 0.5)
    assert (m["precision"], m["recall"], m["f1"], m["fpr"]) == (0.5, 0.5, 0.5, 0.5)
    assert m["roc_auc"] == 0.75 and m["labelled"] == 4
    assert roc_auc(np.array([0, 0]), np.array([0.1, 0.2])) is None


# Checks that do not apply, and why: class_weight is "balanced" or None (no dict);
# "balanced" reweights the classes, so weights are not equivalent to repeated rows.
NOT_APPLICABLE = {
    "check_class_weight_classifiers": "class_weight takes 'balanced' or None, not a dict",
    "check_sample_weight_equivalence_on_dense_data": "balanced class weights rescale them",
}


@pytest.mark.parametrize("estimator", [BoostedTrees(n_estimators=5), LinearModel()])
def test_sklearn_contract(estimator) -> None:  # type: ignore[no-untyped-def]
    with warnings.catch_warnings():
        # checks needing pandas or the array API report themselves as skipped: not failures
        warnings.simplefilter("ignore", SkipTestWarning)
        results = check_estimator(estimator, on_fail=None, expected_failed_checks=NOT_APPLICABLE)
    failed = [(r["check_name"], repr(r["exception"])[:200]) for r in results
              if r["status"] == "failed"]  # fmt: skip
    assert failed == []
    assert sum(r["status"] == "passed" for r in results) > 30


def test_repeat_rule_is_chosen_only_when_it_helps_and_keeps_benign_captures_silent() -> None:
    from agent.ml.train import choose_repeat
    from detection.model import Flow

    def flows(src: str, n: int) -> list[Flow]:
        return [Flow(float(i), f"C{i}", src, 40000, "45.0.0.1", 8080, "tcp", "", 0.1, 10, 0,
                     1, 0, "SF", "ShAD", True) for i in range(n)]  # fmt: skip

    # a bot whose 30 flows score 0.62 (under the per-flow threshold 0.9) beside its host's
    # 30 benign flows at 0.1; a benign-only capture with a run of 30 flows at 0.42
    bot = Group("bot", flows("10.0.0.9", 30) + flows("10.0.0.5", 30), np.array([1] * 30 + [0] * 30))
    benign = Group("benign", flows("10.0.0.7", 30), np.array([0] * 30))
    scored = [(bot, np.array([0.62] * 30 + [0.1] * 30)), (benign, np.full(30, 0.42))]
    rule = choose_repeat(scored, 0.9, 10)
    # the strictest grid value (0.30, 0.35, ...) with the best F1 that leaves the
    # benign capture silent: every value from 0.45 to 0.60 flags the bot's run alone
    assert rule is not None and rule.min_flows == 10 and rule.threshold == pytest.approx(0.6)
    # a benign-only run as high as the bot's: no threshold separates them -> no rule
    scored_hi = [(bot, scored[0][1]), (benign, np.full(30, 0.7))]
    assert choose_repeat(scored_hi, 0.9, 10) is None
    # the per-flow threshold already catches everything: the rule adds nothing
    assert choose_repeat([(bot, np.array([0.95] * 30 + [0.1] * 30))], 0.9, 10) is None


def test_metrics_count_the_flags_given() -> None:
    y = np.array([1, 1, 0, 0])
    s = np.array([0.95, 0.6, 0.6, 0.1])
    assert metrics(y, s, 0.9)["recall"] == 0.5
    both = metrics(y, s, 0.9, np.array([True, True, False, False]))
    assert both["recall"] == 1.0 and both["precision"] == 1.0 and both["f1"] == 1.0
    assert both["roc_auc"] == metrics(y, s, 0.9)["roc_auc"]  # AUC stays the score's


def test_repeat_rule_silence_is_about_what_the_rule_adds() -> None:
    from agent.ml.train import choose_repeat
    from detection.model import Flow

    def flows(src: str, n: int) -> list[Flow]:
        return [Flow(float(i), f"C{i}", src, 40000, "45.0.0.1", 8080, "tcp", "", 0.1, 10, 0,
                     1, 0, "SF", "ShAD", True) for i in range(n)]  # fmt: skip

    bot = Group("bot", flows("10.0.0.9", 30), np.array([1] * 30))
    # a benign-only capture whose one outlier flow the per-flow threshold already flags
    benign = Group("benign", flows("10.0.0.7", 1) + flows("10.0.0.8", 30), np.array([0] * 31))
    scored = [(bot, np.full(30, 0.62)), (benign, np.array([0.99] + [0.42] * 30))]
    rule = choose_repeat(scored, 0.9, 10)
    assert rule is not None and rule.threshold == pytest.approx(0.6)
