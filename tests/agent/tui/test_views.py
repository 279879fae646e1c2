"""What the overview computes from API records: no terminal needed."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from agent.tui.promtext import parse_metrics
from agent.tui.views import Model, decision_state, duration, num, per_minute


def _ev(i: int, ip: str, ts: float, level: str = "high", type_: str = "scan") -> dict[str, object]:
    return {"id": f"e{i}", "attacker": ip, "ts": ts, "threat_level": level, "type": type_}


def test_per_minute_counts_end_at_the_newest_minute() -> None:
    assert per_minute([], 3) == [0, 0, 0]
    assert per_minute([0.0, 59.9, 60.0, 185.0], 4) == [2, 1, 0, 1]
    assert per_minute([0.0, 3600.0], 60) == [0] * 59 + [1]  # the hour-old one falls out


@given(st.lists(st.floats(0, 1e7), max_size=50), st.integers(1, 120))
def test_per_minute_never_loses_recent_records(stamps: list[float], minutes: int) -> None:
    counts = per_minute(stamps, minutes)
    assert len(counts) == minutes
    if stamps:
        newest = math.floor(max(stamps) / 60)
        assert sum(counts) == sum(1 for t in stamps if newest - math.floor(t / 60) < minutes)


def test_top_attackers_rank_by_alerts_then_level() -> None:
    m = Model()
    m.load(
        "evidence",
        [
            _ev(1, "198.51.100.1", 10, "low", "a"),
            _ev(2, "198.51.100.1", 20, "low", "b"),
            _ev(3, "198.51.100.2", 30, "critical"),
            _ev(4, "198.51.100.3", 5, "medium"),
        ],
    )
    m.load("alerts", [{"id": "a1", "profile": "198.51.100.3", "ts": 40}])
    top = m.top_attackers()
    assert [t.ip for t in top] == ["198.51.100.3", "198.51.100.2", "198.51.100.1"]
    assert (top[0].alerts, top[0].evidence, top[0].last_ts) == (1, 1, 40)
    assert top[2].types == ("a", "b") and top[2].max_level == "low"
    assert m.top_attackers(1) == top[:1] and m.top_attackers(0) == []


def test_live_records_are_counted_once_and_a_lifted_decision_replaces_its_copy() -> None:
    m = Model()
    m.set_metrics(parse_metrics('starling_store_items{kind="evidence"} 10\n'), at=1.0)
    m.load("evidence", [_ev(1, "198.51.100.1", 1)])
    assert m.evidence_count() == 10
    assert m.add("evidence", _ev(2, "198.51.100.1", 2))
    assert not m.add("evidence", _ev(2, "198.51.100.1", 2))  # replayed after a reconnect
    assert m.evidence_count() == 11 and m.alert_count() == 0
    d = {"id": "d1", "value": "203.0.113.7", "created": 5, "expires": 100, "lifted": None}
    m.add("decisions", d)
    assert m.active_decisions(now=50) == 1
    m.add("decisions", {**d, "lifted": 60})
    assert m.active_decisions(now=61) == 0 and len(m.decisions) == 1


def test_flows_per_second_between_two_metric_samples() -> None:
    m = Model()
    m.set_metrics(parse_metrics("starling_flows_total 100\n"), at=10.0)
    assert m.flows_per_second is None
    m.set_metrics(parse_metrics("starling_flows_total 400\n"), at=12.0)
    assert m.flows_per_second == 150.0
    m.set_metrics(parse_metrics("starling_flows_total 5\n"), at=13.0)  # the agent restarted
    assert m.flows_per_second == 0.0


def test_small_formatters() -> None:
    assert decision_state({"lifted": None, "expires": 10, "dry_run": True}, 5) == "active (dry-run)"
    assert decision_state({"lifted": None, "expires": 10}, 11) == "expired"
    assert decision_state({"lifted": 3, "expires": 10}, 5) == "lifted"
    assert [duration(x) for x in (None, 1.25, 120, 7200, 86400 * 3)] == [
        "-",
        "1.2 s",
        "2 min",
        "2.0 h",
        "3 d",
    ]
    assert num("7") == 0.0 and num(True) == 0.0 and num(float("nan")) == 0.0 and num(2) == 2.0


def test_a_reload_keeps_what_came_live_while_it_was_in_flight() -> None:
    m = Model()
    d = {"id": "d1", "value": "203.0.113.7", "created": 5, "expires": 100, "lifted": None}
    m.add("decisions", {**d, "lifted": 60}, at=10.0)  # lifted live at t=10
    m.add("decisions", {**d, "id": "d0"}, at=2.0)  # came live before the reload began
    m.add("decisions", {**d, "id": "d2", "created": 9}, at=11.0)  # new, live during the reload
    # the reload was asked for at t=8: its page still has d1 unlifted and lacks d2 and d0
    m.load("decisions", [d], started=8.0)
    assert set(m.decisions) == {"d1", "d2"}
    assert m.decisions["d1"]["lifted"] == 60
    m.load("decisions", [d], started=20.0)  # a later reload is the truth again
    assert set(m.decisions) == {"d1"} and m.decisions["d1"]["lifted"] is None
