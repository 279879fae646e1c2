from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from detection.accumulator import Accumulator
from detection.model import Evidence, ThreatLevel


def ev(
    level: ThreatLevel = ThreatLevel.HIGH,
    conf: float = 1.0,
    *,
    attacker: str = "1.1.1.1",
    profile: str = "",
    window: int = 0,
    ts: float = 0.0,
) -> Evidence:
    return Evidence(
        type="t", attacker=attacker, victim="2.2.2.2", threat_level=level, confidence=conf,
        ts=ts, timewindow=window, description="d", source="local:test", profile=profile,
    )  # fmt: skip


def test_alert_fires_at_threshold_and_resets() -> None:
    acc = Accumulator(15.0)
    alerts = [acc.add(ev(ts=float(i))) for i in range(40)]  # 0.8 each
    fired = [i for i, a in enumerate(alerts) if a is not None]
    assert fired == [18, 37]  # 19 x 0.8 = 15.2 ≥ 15, then the sum restarts
    first = alerts[18]
    assert first is not None
    assert len(first.evidence_ids) == 19 and first.score >= 15.0
    assert first.threat_level is ThreatLevel.HIGH


def test_info_and_foreign_evidence_do_not_count() -> None:
    acc = Accumulator(1.0)
    assert all(acc.add(ev(ThreatLevel.INFO)) is None for _ in range(100))
    assert all(acc.add(ev(attacker="9.9.9.9", profile="1.1.1.1")) is None for _ in range(100))


def test_windows_are_separate_and_closed_windows_forget() -> None:
    acc = Accumulator(1.5)
    assert acc.add(ev(window=0)) is None
    assert acc.add(ev(window=1)) is None
    acc.close_window(0)
    assert acc.add(ev(window=0)) is None  # the partial sum of window 0 was dropped
    assert acc.add(ev(window=1)) is not None


def test_threshold_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        Accumulator(0)


@given(st.lists(st.tuples(st.sampled_from(list(ThreatLevel)), st.floats(0, 1)), max_size=200))
def test_every_alert_reaches_threshold_and_no_evidence_counts_twice(
    items: list[tuple[ThreatLevel, float]],
) -> None:
    acc = Accumulator(2.0)
    seen: set[str] = set()
    total = 0.0
    alerted = 0.0
    for i, (level, conf) in enumerate(items):
        e = ev(level, conf, ts=float(i))
        total += e.score
        alert = acc.add(e)
        if alert is not None:
            assert alert.score >= 2.0
            assert not seen & set(alert.evidence_ids)
            seen |= set(alert.evidence_ids)
            alerted += alert.score
    assert total - alerted < 2.0 + 1e-9  # what is left pending is below one threshold
