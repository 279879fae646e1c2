"""The two model-based detectors, with small hand-made models (known behaviour)."""

from __future__ import annotations

import random

import numpy as np

from detection.heuristics import REGISTRY
from detection.heuristics.base import PRIVATE, PUBLIC, SPECIAL, DetectionContext
from detection.ml._features import FLOW_FEATURES, LettersFeaturizer
from detection.ml._models import FlowModel, LettersModel, LinearScorer, RepeatRule
from detection.ml.cc_letters import CCLetters, CCLettersParams
from detection.ml.flow_classifier import FlowClassifier, FlowClassifierParams
from detection.model import Evidence, Flow


def _flow(ts: float, saddr: str, daddr: str, dport: int, state: str, size: int = 100) -> Flow:
    return Flow(ts, f"C{ts}", saddr, 40000, daddr, dport, "tcp", "", 0.05, size, 0, 1, 0,
                state, "S", state != "S0")  # fmt: skip


def _s0_model() -> FlowModel:
    coef = np.zeros(len(FLOW_FEATURES))
    coef[FLOW_FEATURES.index("state=S0")] = 10.0
    return FlowModel(LinearScorer(np.zeros_like(coef), np.ones_like(coef), coef, -5.0), 0.9)


def _periodic_model() -> LettersModel:
    fz = LettersFeaturizer(n_max=1)
    names = fz.feature_names
    coef = np.zeros(len(names))
    coef[names.index("periodicity=1")] = 10.0
    return LettersModel(LinearScorer(np.zeros_like(coef), np.ones_like(coef), coef, -5.0), fz, 0.9)


def test_both_detectors_are_discovered() -> None:
    names = {d.name for d in REGISTRY}
    assert {"ml_flow_classifier", "ml_cc_letters"} <= names


def _run(det: FlowClassifier | CCLetters, flows: list[Flow]) -> list[Evidence]:
    out: list[Evidence] = []
    for f in flows:
        out.extend(det.observe(f, 0) or ())
    out.extend(det.close_window(0) or ())
    return out


def test_flow_classifier_without_model_is_quiet_and_wants_nothing() -> None:
    det = FlowClassifier(FlowClassifierParams())
    assert not det.wants_flow("tcp", 23, "", PUBLIC, PUBLIC)
    assert _run(det, [_flow(1.0, "1.2.3.4", "5.6.7.8", 23, "S0")]) == []


def test_flow_classifier_reports_scored_tuples_in_batches() -> None:
    det = FlowClassifier(
        FlowClassifierParams(batch_size=8), DetectionContext(models={"flows": _s0_model()})
    )
    assert det.wants_flow("tcp", 23, "", PUBLIC, PUBLIC)
    assert not det.wants_flow("udp", 5353, "dns", PRIVATE, SPECIAL)
    scan = [_flow(float(i), "45.1.1.1", "147.32.1.1", 23, "S0") for i in range(12)]
    benign = [_flow(float(i), "147.32.1.1", "20.1.1.1", 443, "SF") for i in range(12)]
    flows = [f for pair in zip(scan, benign, strict=True) for f in pair]
    first = [e for f in flows[:8] for e in (det.observe(f, 0) or ())]
    assert len(first) == 1  # the first batch of 8: one tuple, reported once
    rest = _run(det, flows[8:])
    ev = first + rest
    assert {e.attacker for e in ev} == {"45.1.1.1"}
    assert [e.count for e in ev] == [1, 10]  # first flow, then at 10
    assert all(e.type == "ml_flow_classifier" and e.attack_technique == "T1071" for e in ev)
    assert ev[0].confidence > 0.99


def test_cc_letters_without_model_is_quiet() -> None:
    det = CCLetters(CCLettersParams())
    assert not det.wants_flow("tcp", 443, "", PRIVATE, PUBLIC)
    assert _run(det, [_flow(30.0 * i, "10.0.0.5", "5.6.7.8", 443, "SF") for i in range(20)]) == []


def test_cc_letters_reports_a_periodic_channel_once_per_window() -> None:
    ctx = DetectionContext(models={"letters": _periodic_model()})
    det = CCLetters(CCLettersParams(min_letters=5), ctx)
    assert det.wants_flow("tcp", 443, "", PRIVATE, PUBLIC)
    assert not det.wants_flow("icmp", None, "", PRIVATE, PUBLIC)
    beacon = [_flow(1000.0 + 60.0 * i, "10.0.0.5", "5.6.7.8", 443, "SF") for i in range(40)]
    rng = random.Random(3)
    t, noise = 0.0, []
    for _ in range(40):
        t += rng.expovariate(1 / 60)
        noise.append(_flow(1000.0 + t, "10.0.0.5", "9.9.9.9", 443, "SF"))
    flows = sorted(beacon + noise, key=lambda f: f.ts)
    ev = _run(det, flows)
    assert [(e.attacker, e.victim, e.dport) for e in ev] == [("10.0.0.5", "5.6.7.8", 443)]
    assert "11,a,a,a," in ev[0].description
    assert ev[0].type == "ml_cc_letters" and ev[0].attack_technique == "T1071"
    # the next window: reported again only once
    more = [_flow(4000.0 + 60.0 * i, "10.0.0.5", "5.6.7.8", 443, "SF") for i in range(40)]
    again = [e for f in more for e in (det.observe(f, 1) or ())]
    again += det.close_window(1) or []
    assert len(again) == 1 and again[0].timewindow == 1


def test_cc_letters_bounds_tuples_and_forgets_idle_ones() -> None:
    ctx = DetectionContext(models={"letters": _periodic_model()})
    det = CCLetters(CCLettersParams(max_tuples=10, idle_seconds=100.0), ctx)
    for i in range(50):
        det.observe(_flow(float(i), "10.0.0.5", f"5.6.7.{i}", 443, "SF"), 0)
    assert len(det._tuples) == 10
    assert det.state_overflow == {"tuples_evicted": 40}
    det.observe(_flow(10_000.0, "10.0.0.5", "5.6.7.200", 443, "SF"), 0)
    det.close_window(0)
    assert len(det._tuples) == 1


def _sized_model(repeat: RepeatRule | None) -> FlowModel:
    """Scores a flow by its size: 100 B -> 0.5, 300 B -> 0.996, 0 B -> ~0."""
    coef = np.zeros(len(FLOW_FEATURES))
    i = FLOW_FEATURES.index("log_sbytes")
    coef[i] = 1.0
    centre = float(np.log1p(100.0))  # log_sbytes of a 100-byte flow
    return FlowModel(
        LinearScorer(np.full_like(coef, 0.0), np.ones_like(coef), coef * 5.0, -5.0 * centre),
        0.9,
        repeat=repeat,
    )


def test_flow_classifier_repeat_rule_flags_a_run_no_single_flow_crosses() -> None:
    model = _sized_model(RepeatRule(min_flows=10, threshold=0.45))
    assert 0.45 < float(model.score([_flow(0.0, "a", "b", 1, "SF", 100)])[0]) < 0.9
    ctx = DetectionContext(models={"flows": model})
    # one bot: 25 flows of 100 B to 8080/tcp at many servers (each ~0.5: none crosses 0.9)
    bot = [_flow(float(i), "10.0.0.9", f"45.0.0.{i}", 8080, "SF") for i in range(25)]
    # a benign host: 25 flows to 443 of mostly 0 B (a low mean), one 300-B outlier
    benign = [_flow(float(i), "10.0.0.5", "20.1.1.1", 443, "SF", 0) for i in range(24)]
    benign.append(_flow(30.0, "10.0.0.5", "20.1.1.1", 443, "SF", 300))
    det = FlowClassifier(FlowClassifierParams(batch_size=7), ctx)
    ev = _run(det, bot + benign)
    rep = [e for e in ev if "repeated behaviour" in e.description]
    single = [e for e in ev if e not in rep]
    # flagged from the 10th flow of the run on: reported at the 1st and the 10th flagged
    assert [e.count for e in rep] == [1, 10]
    assert {e.attacker for e in rep} == {"10.0.0.9"} and rep[0].dport == 8080
    assert rep[0].victim == "45.0.0.9"  # the run's 10th flow
    assert "mean ≥ 0.45" in rep[0].description and "8080/tcp" in rep[0].description
    # the benign outlier is a single-flow hit (per-flow threshold), its run's mean is low
    assert [e.attacker for e in single] == ["10.0.0.5"]
    # nine flows are not a run; the rule switched off says nothing either
    assert _run(FlowClassifier(FlowClassifierParams(), ctx), bot[:9]) == []
    off = FlowClassifier(FlowClassifierParams(use_repeat_rule=False), ctx)
    assert not [e for e in _run(off, bot) if "repeated behaviour" in e.description]


def test_flow_classifier_repeat_runs_are_per_window() -> None:
    ctx = DetectionContext(models={"flows": _sized_model(RepeatRule(10, 0.45))})
    det = FlowClassifier(FlowClassifierParams(batch_size=4), ctx)
    flows = [_flow(float(i), "10.0.0.9", "45.0.0.1", 8080, "SF") for i in range(18)]
    out: list[Evidence] = []
    for i, f in enumerate(flows):  # 9 in window 0, 9 in window 1: never 10 in one window
        out.extend(det.observe(f, 0 if i < 9 else 1) or ())
    out.extend(det.close_window(1) or ())
    assert out == []
    assert det._repeat is not None and len(det._repeat) == 0  # closed windows are dropped


def test_flow_classifier_counts_runs_it_could_not_track() -> None:
    ctx = DetectionContext(models={"flows": _sized_model(RepeatRule(10, 0.45))})
    det = FlowClassifier(FlowClassifierParams(batch_size=4), ctx)
    assert det._repeat is not None
    det._repeat.max_runs = 3  # the shipped cap is 200,000 runs: a port scan's worth
    scan = [_flow(float(i), "10.0.0.9", "45.0.0.1", 1000 + i, "SF") for i in range(10)]
    _run(det, scan)
    assert det.state_overflow == {"runs_untracked": 7}  # 10 ports, 3 runs tracked
