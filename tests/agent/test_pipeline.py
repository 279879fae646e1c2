"""The pure pipeline: feed records, expect actions (a script, no I/O)."""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Sequence
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from agent.config import load_config
from agent.outputs.writer import OutputWriter
from agent.pipeline import Pipeline, Suppressed, build_detectors
from agent.store.sqlite import SqliteStore
from detection.allowlist import Allowlist, parse_allowlist
from detection.heuristics import REGISTRY, Detector
from detection.heuristics.base import DetectorParams
from detection.intel.index import IntelIndex
from detection.model import Alert, Evidence, Flow, ProfileSummary, Record
from detection.parsers.base import ParseError
from detection.parsers.zeek import ZeekTsvParser


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


def only(*names: str, **overrides: object) -> dict[str, object]:
    """Config overrides running only the named detectors (the pipeline's mechanics are
    under test here, not the catalogue; tests/detection covers each detector)."""
    off = {f"detectors.{c.name}.enabled": False for c in REGISTRY if c.name not in names}
    return {**off, **{k.replace("__", "."): v for k, v in overrides.items()}}


SCANS = ("horizontal_port_scan", "vertical_port_scan")


def feed_all(p: Pipeline, flows: list[Flow]) -> list[object]:
    out: list[object] = []
    for f in flows:
        out.extend(p.feed(f))
    out.extend(p.finish())
    return out


def test_scan_to_alert_with_low_threshold() -> None:
    p = Pipeline(load_config(None, only(*SCANS, alerts__threshold=1.0, allowlist__enabled=False)))
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
    p = Pipeline(load_config(None, only(*SCANS, allowlist__enabled=False)))
    assert p.feed(flow("10.0.0.1", "10.0.0.2", 80, 10.0)) == ()
    assert p.feed(flow("10.0.0.1", "10.0.0.2", 80, 3700.0)) == ()
    closed = p.feed(flow("10.0.0.1", "10.0.0.2", 80, 7300.0))
    assert [s.timewindow for s in closed if isinstance(s, ProfileSummary)] == [0]
    p.feed(flow("10.0.0.1", "10.0.0.2", 80, 20.0))  # window 0 again: late
    assert p.late_records == 1


def test_allowlist_suppresses_evidence_and_flows() -> None:
    entries, warnings = parse_allowlist("ip,10.0.0.9,src,alerts\nip,10.0.0.7,both,flows\n")
    assert not warnings
    p = Pipeline(load_config(None, only(*SCANS)), Allowlist(entries, {}))
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
    p = Pipeline(load_config(None, only("vertical_port_scan", allowlist__enabled=False)))
    actions = feed_all(p, [flow("10.0.0.9", f"10.1.0.{i}", 22, 100.0 + i) for i in range(1, 11)])
    assert not [a for a in actions if isinstance(a, Evidence)]


# -- time jumps (one far-future record must not stop windows from closing) ------------


def test_one_far_future_record_is_held_then_dropped_and_windows_keep_closing() -> None:
    p = Pipeline(load_config(None, {"allowlist.enabled": False}))
    p.feed(flow("10.0.0.1", "10.0.0.2", 80, 10.0))
    assert p.feed(flow("10.0.0.1", "10.0.0.9", 80, 10.0 + 3600 * 10_000)) == ()
    p.feed(flow("10.0.0.1", "10.0.0.3", 80, 20.0))  # refutes the jump
    assert p.time_jumps == 1
    closed = p.feed(flow("10.0.0.1", "10.0.0.2", 80, 7300.0))
    assert [s.timewindow for s in closed if isinstance(s, ProfileSummary)] == [0]
    (w0,) = [s for s in closed if isinstance(s, ProfileSummary)]
    assert w0.flows_out == 2  # the far-future flow was not analysed
    assert p.flows == 3 and p.records_by_type == {"conn": 3}
    rest = p.finish()
    assert [s.timewindow for s in rest if isinstance(s, ProfileSummary)] == [2]


def test_a_jump_within_max_window_jump_is_taken_at_once() -> None:
    p = Pipeline(load_config(None, {"allowlist.enabled": False, "inputs.max_window_jump": 5}))
    p.feed(flow("10.0.0.1", "10.0.0.2", 80, 10.0))
    closed = p.feed(flow("10.0.0.1", "10.0.0.2", 80, 10.0 + 3600 * 5))
    assert [s.timewindow for s in closed if isinstance(s, ProfileSummary)] == [0]
    assert p.time_jumps == 0


def test_a_jump_confirmed_by_a_thousand_records_is_analysed_in_full() -> None:
    p = Pipeline(load_config(None, {"allowlist.enabled": False}))
    p.feed(flow("10.0.0.1", "10.0.0.2", 80, 10.0))
    later = 3600.0 * 1000
    actions: list[object] = []
    for i in range(1000):
        actions.extend(p.feed(flow("10.0.0.1", "10.0.0.2", 80, later + i)))
    # The 1000th record confirms: window 0 closes, all held records are analysed.
    assert [s.timewindow for s in actions if isinstance(s, ProfileSummary)] == [0]
    assert p.time_jumps == 0
    (summary,) = [s for s in p.finish() if isinstance(s, ProfileSummary)]
    assert summary.flows_out == 1000


def test_end_of_input_confirms_a_held_jump() -> None:
    # A Zeek directory mixing relative (near 0) and absolute timestamps: the
    # absolute records come last and must still be analysed.
    p = Pipeline(load_config(None, {"allowlist.enabled": False}))
    p.feed(flow("10.0.0.1", "10.0.0.2", 80, 10.0))
    for i in range(3):
        assert p.feed(flow("10.0.0.5", "10.0.0.2", 80, 1.6e9 + i)) == ()
    summaries = [s for s in p.finish() if isinstance(s, ProfileSummary)]
    assert sorted((s.ip, s.flows_out) for s in summaries) == [("10.0.0.1", 1), ("10.0.0.5", 3)]
    assert p.time_jumps == 0


# -- late records ------------------------------------------------------------------------


def test_late_records_merge_into_the_closed_windows_summary() -> None:
    p = Pipeline(load_config(None, {"allowlist.enabled": False}))
    out: list[object] = []
    for ts, dst in [(10.0, "10.0.0.2"), (20.0, "10.0.0.3"), (7300.0, "10.0.0.2")]:
        out.extend(p.feed(flow("10.0.0.1", dst, 80, ts)))
    out.extend(p.feed(flow("10.0.0.1", "10.0.0.4", 80, 30.0)))  # late, window 0
    out.extend(p.feed(flow("10.0.0.1", "10.0.0.4", 80, 11000.0)))  # closes window 0 again
    out.extend(p.finish())
    w0 = [s for s in out if isinstance(s, ProfileSummary) and s.timewindow == 0]
    # Stored with INSERT OR REPLACE: the last summary of a window must be the total.
    assert [s.flows_out for s in w0] == [2, 3]
    assert w0[-1].distinct_dsts == 2  # lower bound: the previous count is a floor
    assert p.late_records == 1


# -- property: whatever a parser accepts, the runner's chain accepts -----------------


_CONN_HEADER = [
    "#separator \\x09",
    "#set_separator\t,",
    "#empty_field\t(empty)",
    "#unset_field\t-",
    "#path\tconn",
    "#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tservice\tduration"
    "\torig_bytes\tresp_bytes\tconn_state\thistory\torig_pkts\tresp_pkts",
]
_ints = st.one_of(
    st.integers(min_value=-5, max_value=70_000),
    st.integers(min_value=2**62, max_value=2**64),
    st.sampled_from([0, 1, 2**63 - 1, 2**63, -(2**63)]),
).map(str)
_floats = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=0, max_value=2**33),
    st.sampled_from([0.0, 1500.5, 1e300, -1.0, 2.0**33, 2.0**33 - 1]),
).map(repr)
_field = st.one_of(st.just("-"), st.just("(empty)"), st.text(max_size=5).filter(str.isprintable))
_conn_line = st.tuples(
    _floats,  # ts
    st.text(alphabet="Cabc123", min_size=1, max_size=4),  # uid
    st.sampled_from(["10.0.0.1", "10.0.0.2", "192.168.1.9", "::1", "-", "x"]),
    st.one_of(_ints, st.just("-")),  # orig_p
    st.sampled_from([f"10.1.0.{i}" for i in range(8)] + ["224.0.0.1", "10.0.0.255", "-"]),
    st.one_of(st.sampled_from(["22", "80", "-"]), _ints),  # resp_p
    st.one_of(st.sampled_from(["tcp", "udp", "icmp"]), _field),
    _field,  # service
    st.one_of(_floats, st.just("-")),  # duration
    _ints,
    _ints,
    st.one_of(st.sampled_from(["S0", "SF", "REJ", "OTH"]), _field),
    _field,  # history
    _ints,
    _ints,
).map("\t".join)


_MAX = 2**63 - 1
_HUGE = f"1.0\tH\t10.0.0.1\t1\t10.1.0.1\t80\ttcp\t-\t1e300\t{_MAX}\t{_MAX}\tSF\t-\t{_MAX}\t{_MAX}"


@settings(max_examples=60, deadline=None)
@given(st.lists(_conn_line, min_size=1, max_size=40))
@example([_HUGE] * 3)  # each count fits 64 bits, their sum in one profile window does not
def test_any_parsed_conn_line_goes_through_pipeline_outputs_and_store(lines: list[str]) -> None:
    parser = ZeekTsvParser()
    for h in _CONN_HEADER:
        parser.parse_line(h)
    # A scan that makes evidence for sure, then the fuzzed lines.
    scan = [f"{100 + i}.0\tS{i}\t10.0.0.1\t999\t10.1.0.{i}\t22\ttcp\t-\t0.1\t0\t0\tS0\tS\t1\t0"
            for i in range(8)]  # fmt: skip
    records = []
    for line in scan + lines:
        try:
            rec = parser.parse_line(line)
        except ParseError:
            continue
        if rec is not None:
            records.append(rec)
    cfg = load_config(None, {"alerts.threshold": 0.1, "allowlist.enabled": False})
    pipeline = Pipeline(cfg)
    with tempfile.TemporaryDirectory() as tmp:
        writer = OutputWriter(Path(tmp))
        store = SqliteStore(Path(tmp) / "starling.db")
        try:
            for actions in [*(pipeline.feed(r) for r in records), pipeline.finish()]:
                store.add_evidence([a for a in actions if isinstance(a, Evidence)])
                store.add_alerts([a for a in actions if isinstance(a, Alert)])
                store.add_profiles([a for a in actions if isinstance(a, ProfileSummary)])
                for a in actions:
                    if isinstance(a, Evidence):
                        writer.evidence(a)
                    elif isinstance(a, Alert):
                        writer.alert(a)
            counts = store.counts()
        finally:
            store.close()
            writer.close()
    assert counts["evidence"] > 0 and counts["profiles"] > 0


class _Buggy(Detector):
    """Raises on every flow to port 23 and at every window close: a detector bug."""

    name = "buggy"
    consumes = (Flow,)
    Params = DetectorParams

    def observe(self, record: Record, window: int) -> Sequence[Evidence] | None:
        if getattr(record, "dport", None) == 23:
            raise ValueError("a bug on an odd record")
        return None

    def close_window(self, window: int) -> Sequence[Evidence] | None:
        raise RuntimeError("a bug at window close")

    def use_intel(self, index: IntelIndex) -> None:
        raise KeyError("a bug on a feed update")


@pytest.mark.isolated_detector_errors
def test_a_detector_that_raises_is_counted_and_the_others_go_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    config = load_config(None, only(*SCANS, alerts__threshold=1.0, allowlist__enabled=False))
    p = Pipeline(config, detectors=[*build_detectors(config), _Buggy(DetectorParams())])
    scan = [flow("10.0.0.9", f"10.1.0.{i}", 23, 100.0 + i) for i in range(1, 21)]
    with caplog.at_level(logging.ERROR, logger="agent.pipeline"):
        actions = feed_all(p, scan)
    # the scan detectors saw every flow: the same findings as without the buggy detector
    clean = feed_all(Pipeline(config), scan)
    assert [a for a in actions if not isinstance(a, ProfileSummary)] == [
        a for a in clean if not isinstance(a, ProfileSummary)
    ]
    assert [a.count for a in actions if isinstance(a, Evidence)] == [6, 10]
    assert len([a for a in actions if isinstance(a, Alert)]) == 1
    # 20 flows, and two window closes (the first flow's window opening, and the end)
    assert p.detector_errors == {"buggy": 22}
    logged = [r for r in caplog.records if "detector buggy failed" in r.getMessage()]
    assert len(logged) == 2  # the 1st and the 10th error, each with its traceback
    assert all(r.exc_info is not None for r in logged)
    assert "in close_window(-2)" in logged[0].getMessage()
    assert "in observe (a Flow at ts=109.0)" in logged[1].getMessage()
    p.use_intel(IntelIndex().freeze())  # a feed update: the same isolation
    assert p.detector_errors == {"buggy": 23}


def test_in_tests_a_detector_error_fails_the_test() -> None:
    # (tests/conftest.py: the isolation must not hide a bug from the test suite)
    config = load_config(None, only(*SCANS, allowlist__enabled=False))
    p = Pipeline(config, detectors=[_Buggy(DetectorParams())])
    with pytest.raises(RuntimeError, match="a bug at window close"):
        p.feed(flow("10.0.0.9", "10.1.0.1", 23, 100.0))
