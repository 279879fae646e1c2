from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from detection.model import Alert, Evidence, ThreatLevel, finding_from_dict, finding_to_dict


def base(**kw: object) -> Evidence:
    args: dict[str, object] = {
        "type": "x", "attacker": "1.2.3.4", "victim": None, "threat_level": ThreatLevel.LOW,
        "confidence": 0.5, "ts": 1.0, "timewindow": 0, "description": "d", "source": "local:test",
    }  # fmt: skip
    args.update(kw)
    return Evidence(**args)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "kw",
    [
        {"confidence": 1.5},
        {"confidence": float("nan")},
        {"source": "me"},
        {"attacker": ""},
        {"type": ""},
    ],
)
def test_evidence_validates(kw: dict[str, object]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - each case has its own message
        base(**kw)


def test_evidence_id_is_deterministic_and_content_based() -> None:
    assert base().id == base().id
    assert base().id != base(ts=2.0).id
    assert base(threat_level="high").threat_level is ThreatLevel.HIGH


def test_alert_refuses_score_below_threshold() -> None:
    with pytest.raises(ValueError, match="below"):
        Alert("1.2.3.4", 0, 1.0, 1.0, 2.0, ("e",), ("x",), (), (), 0.5, ThreatLevel.HIGH, "d")


@given(
    st.builds(
        base,
        confidence=st.floats(0, 1),
        ts=st.floats(-1e9, 1e10),
        uids=st.lists(st.text(max_size=5), max_size=120).map(tuple),
        dport=st.none() | st.integers(0, 65535),
        victim=st.none() | st.just("5.6.7.8"),
    )
)
def test_finding_dict_round_trip(ev: Evidence) -> None:
    assert finding_from_dict(Evidence, finding_to_dict(ev)) == ev
    assert len(ev.uids) <= 100
