"""The pure pipeline: feed records, expect actions (a script, no I/O)."""

from __future__ import annotations

from agent.config import load_config
from agent.pipeline import Pipeline, Suppressed
from detection.allowlist import Allowlist, parse_allowlist
from detection.model import Alert, Evidence, Flow, ProfileSummary


def flow(
    saddr: str,
    daddr: str,
    dport: int,
    ts: float,
    *,
    established: bool = False,
    duration: float = 0.1,
) -> Flow:
    state = "SF" if established else "S0"
    uid = f"C{ts}{daddr}{dport}"
    return Flow(
        ts, uid, saddr, 5000, daddr, dport, "tcp", "", duration, 0, 0, 1, 0, state, "", established
    )


def feed_all(p: Pipeline, flows: list[Flow]) -> list[object]:
    out: list[object] = []
    for f in flows:
        out.extend(p.feed(f))
    out.extend(p.finish())
    return out


def test_scan_to_alert_with_low_threshold() -> None:
    p = Pipeline(load_config(None, {"alerts.threshold": 1.0, "allowlist.enabled": False}))
    actions = feed_all(p, [flow("10.0.0.9", f"10.1.0.{i}", 22, 100.0 + i) for i in range(1, 11)])
    evidence = [a for a in actions if isinstance(a, Evidence)]
    alerts = [a for a in actions if isinstance(a, Alert)]
    assert [e.count for e in evidence] == [6, 10]
    assert len(alerts) == 1
    assert set(alerts[0].evidence_ids) == {e.id for e in evidence}
    (summary,) = [a for a in actions if isinstance(a, ProfileSummary)]
    assert summary.ip == "10.0.0.9" and summary.flows_out == 10 and summary.distinct_dsts == 10
    assert summary.evidence == 2 and summary.alerts == 1


def test_windows_close_two_windows_later_and_late_records_count() -> None:
    p = Pipeline(load_config(None, {"allowlist.enabled": False}))
    assert p.feed(flow("10.0.0.1", "10.0.0.2", 80, 10.0)) == ()
    assert p.feed(flow("10.0.0.1", "10.0.0.2", 80, 3700.0)) == ()
    closed = p.feed(flow("10.0.0.1", "10.0.0.2", 80, 7300.0))
    assert [s.timewindow for s in closed if isinstance(s, ProfileSummary)] == [0]
    p.feed(flow("10.0.0.1", "10.0.0.2", 80, 20.0))  # window 0 again: late
    assert p.late_records == 1


def test_allowlist_suppresses_evidence_and_flows() -> None:
    entries, warnings = parse_allowlist("ip,10.0.0.9,src,alerts\nip,10.0.0.7,both,flows\n")
    assert not warnings
    p = Pipeline(load_config(None), Allowlist(entries, {}))
    scan = [flow("10.0.0.9", f"10.1.0.{i}", 22, 100.0 + i) for i in range(1, 8)]
    ignored = [flow("10.0.0.7", f"10.1.0.{i}", 22, 100.0 + i) for i in range(1, 8)]
    actions = feed_all(p, scan + ignored)
    assert not [a for a in actions if isinstance(a, Evidence)]
    (sup,) = [a for a in actions if isinstance(a, Suppressed)]
    assert sup.evidence.attacker == "10.0.0.9" and "10.0.0.9" in sup.reason
    assert p.flows_ignored == 7


def test_direction_all_profiles_destinations() -> None:
    p = Pipeline(load_config(None, {"profiles.direction": "all", "allowlist.enabled": False}))
    actions = feed_all(p, [flow("10.0.0.1", "10.0.0.2", 80, 1.0, established=True)])
    summaries = {s.ip: s for s in actions if isinstance(s, ProfileSummary)}
    assert summaries["10.0.0.2"].flows_in == 1 and summaries["10.0.0.1"].flows_out == 1


def test_disabled_detector_does_not_run() -> None:
    p = Pipeline(
        load_config(
            None, {"detectors.horizontal_port_scan.enabled": False, "allowlist.enabled": False}
        )
    )
    actions = feed_all(p, [flow("10.0.0.9", f"10.1.0.{i}", 22, 100.0 + i) for i in range(1, 11)])
    assert not [a for a in actions if isinstance(a, Evidence)]
