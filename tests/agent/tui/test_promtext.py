"""The /metrics reader: what the agent renders reads back; any text parses without raising."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from agent.api.feed import FeedSnapshot
from agent.api.metrics import MetricsInput, P2PCounts, render
from agent.tui.promtext import parse_metrics


def test_the_agents_own_exposition_reads_back() -> None:
    feed = FeedSnapshot(
        evidence_by_type={"horizontal_port_scan": 2, 'weird "type"\\x': 1},
        alerts=1,
        alert_evidence_types={"horizontal_port_scan": 1},
        decisions_by_origin={"local-alert": 1},
        lifted=0,
        records=41,
        flows=40,
        newest_record_ts=960.0,
        last_batch_at=1000.0,
    )
    text = render(
        MetricsInput(
            version="0.1.0",
            uptime=12.5,
            feed=feed,
            store_items={"alerts": 1, "evidence": 3},
            active_decisions={"local-alert": 1},
            now=1003.0,
            p2p=P2PCounts(2, 1, 3, {"replayed": 2}, 2, 0, {}),
        )
    )
    m = parse_metrics(text)
    assert m.bad_lines == 0
    assert m.value("starling_flows_total") == 40
    assert m.value("starling_processing_lag_seconds") == 1003.0 - 960.0
    assert m.by("starling_store_items", "kind") == {"alerts": 1, "evidence": 3}
    assert m.by("starling_evidence_total", "type") == {
        "horizontal_port_scan": 2,
        'weird "type"\\x': 1,
    }
    assert m.value("starling_p2p_messages_dropped_total", reason="replayed") == 2
    assert m.value("starling_info", version="0.1.0") == 1
    assert m.total("starling_evidence_total") == 3
    assert m.value("starling_nothing") is None and m.total("starling_nothing") is None


def test_bad_lines_are_counted_not_raised() -> None:
    m = parse_metrics('ok 1\nno_value\nx{a="b"\n1bad 2\ny{a="1",} +Inf 123\nz NaN\nw 1 2 3\n')
    assert m.value("ok") == 1 and m.value("y", a="1") == math.inf
    assert math.isnan(m.value("z") or 0.0)
    assert m.bad_lines == 4


@given(st.text(max_size=400))
def test_any_text_parses(text: str) -> None:
    m = parse_metrics(text)
    assert m.bad_lines >= 0
    for rows in m.samples.values():
        for labels, value in rows:
            assert isinstance(labels, dict) and isinstance(value, float)
