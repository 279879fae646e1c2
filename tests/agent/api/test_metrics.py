"""The Prometheus text rendering: escaping, no addresses as label values, HELP/TYPE."""

from __future__ import annotations

import ipaddress
import re

from hypothesis import given
from hypothesis import strategies as st

from agent.api.feed import FeedSnapshot, LiveFeed
from agent.api.metrics import MetricsInput, P2PCounts, render
from agent.blocking.decision import Decision
from detection.model import Alert, Evidence, ThreatLevel

_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def _input(feed: FeedSnapshot, **kw: object) -> MetricsInput:
    return MetricsInput(
        version="1.0",
        uptime=5.0,
        feed=feed,
        store_items={"alerts": 1},
        active_decisions={"manual": 1},
        now=1000.0,
        **kw,  # type: ignore[arg-type]
    )


def test_the_feed_counts_findings_and_decisions() -> None:
    feed = LiveFeed()
    ev = Evidence("port_scan", "45.33.32.156", None, ThreatLevel.HIGH, 1.0, 1.0, 0, "d", "local:x")
    feed.finding(ev)
    feed.finding(ev)
    feed.finding(
        Alert(
            "45.33.32.156",
            0,
            1.0,
            1.0,
            0.5,
            (ev.id,),
            ("port_scan", "port_scan"),
            (),
            (),
            1.0,
            ThreatLevel.HIGH,
            "a",
        )
    )
    d = Decision("45.33.32.156", "ip", "r", "local-alert", (), 10.0, 20.0)
    feed.decision(d)
    feed.decision(d.lift(15.0))
    feed.batch(10, 8, 990.0, 995.0)
    snap = feed.snapshot()
    assert snap.evidence_by_type == {"port_scan": 2}
    assert snap.alerts == 1 and snap.alert_evidence_types == {"port_scan": 1}
    assert snap.decisions_by_origin == {"local-alert": 1} and snap.lifted == 1
    assert (snap.records, snap.flows, snap.newest_record_ts) == (10, 8, 990.0)
    assert feed.broadcaster.published == {"evidence": 2, "alert": 1, "decision": 2}
    text = render(_input(snap))
    assert "starling_flows_total 8\n" in text
    assert "starling_processing_lag_seconds 10.0\n" in text
    assert 'starling_evidence_total{type="port_scan"} 2\n' in text
    assert "45.33.32.156" not in text


def test_without_batch_reports_no_flow_figures_are_invented() -> None:
    text = render(_input(LiveFeed().snapshot()))
    assert "starling_flows_total" not in text and "starling_processing_lag" not in text


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return False
    return True


@given(st.dictionaries(st.text(max_size=20), st.integers(0, 10**9), max_size=5))
def test_any_label_value_is_escaped_and_parses_back(reasons: dict[str, int]) -> None:
    p2p = P2PCounts(
        known=1, connected=1, accepted=3, dropped=reasons, published=2, publish_dropped=0, events={}
    )
    text = render(_input(LiveFeed().snapshot(), p2p=p2p))
    names: set[str] = set()
    for line in text.split("\n")[:-1]:
        if line.startswith("# TYPE "):
            names.add(line.split()[2])
        elif not line.startswith("#"):
            m = re.match(r"^([a-z0-9_]+)(\{.*\})? (\S+)$", line)
            assert m, line
            assert m.group(1) in names
            float(m.group(3))
    dropped = [ln for ln in text.split("\n")[:-1] if ln.startswith("starling_p2p_messages_dropped")]
    assert len(dropped) == len(reasons)
    parsed = []
    for line in dropped:
        (value,) = [v for k, v in _LABEL.findall(line) if k == "reason"]
        unescaped = re.sub(r"\\(.)", lambda m: "\n" if m.group(1) == "n" else m.group(1), value)
        parsed.append((unescaped, int(line.rsplit(" ", 1)[1])))
    expected = [("invalid" if _is_ip(k) else k, v) for k, v in sorted(reasons.items())]
    assert parsed == expected


def test_an_address_never_becomes_a_label_value() -> None:
    p2p = P2PCounts(
        known=1,
        connected=0,
        accepted=0,
        published=0,
        publish_dropped=0,
        dropped={"203.0.113.5": 1, "fe80::1%eth0": 2, "::ffff:1.2.3.4": 3},
        events={},
    )
    text = render(_input(LiveFeed().snapshot(), p2p=p2p))
    assert "203.0.113.5" not in text and "fe80" not in text and "1.2.3.4" not in text
    assert text.count('reason="invalid"') == 3


def test_loss_counters_are_rendered_and_a_skip_only_report_is_no_batch() -> None:
    feed = LiveFeed()
    feed.batch(5, 5, 990.0, 995.0)
    feed.batch(
        0,
        0,
        None,
        999.0,
        lines_skipped={"bad_field": 2, "field_count": 1},
        state_overflow={"beaconing": {"series_evicted": 3}},
        detector_errors={"beaconing": 4},
    )
    snap = feed.snapshot()
    assert snap.records == 5 and snap.last_batch_at == 995.0  # only skipped lines came
    text = render(_input(snap))
    assert 'starling_lines_skipped_total{reason="bad_field"} 2\n' in text
    assert 'starling_lines_skipped_total{reason="field_count"} 1\n' in text
    line = 'starling_detector_state_overflow_total{detector="beaconing",state="series_evicted"} 3\n'
    assert line in text
    assert "# TYPE starling_detector_state_overflow_total counter" in text
    assert 'starling_detector_errors_total{detector="beaconing"} 4\n' in text
