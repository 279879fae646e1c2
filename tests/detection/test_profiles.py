"""Profiles: late records merge into closed windows; the profile count is bounded."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from detection.model import Flow
from detection.profiles import ProfileTracker

FlowFactory = Callable[..., Flow]


def observe(tracker: ProfileTracker, flows: list[Flow], width: float = 3600.0) -> None:
    for f in flows:
        tracker.observe_flow(f, int(f.ts // width))


def test_late_record_reopens_window_with_previous_counters(make_flow: FlowFactory) -> None:
    t = ProfileTracker("out", late_windows=24)
    observe(
        t,
        [
            make_flow("10.0.0.1", f"10.0.1.{i}", 80 + i, ts=100.0 + i, sbytes=10, dbytes=5)
            for i in range(5)
        ],
    )
    t.add_evidence("10.0.0.1", 0, 104.0, 0.4)
    (first,) = t.close(0)
    assert (first.flows_out, first.bytes_out, first.distinct_dsts) == (5, 50, 5)
    # A late record for the closed window 0, seen after window 0 closed.
    observe(t, [make_flow("10.0.0.1", "10.0.1.0", 80, ts=50.0, sbytes=7)])
    (merged,) = t.close(1)
    assert merged.timewindow == 0
    assert merged.flows_out == 6
    assert merged.bytes_out == 57
    assert merged.bytes_in == 25
    assert merged.start == 50.0 and merged.end == 104.0
    assert merged.evidence == 1 and merged.score == 0.4
    # Distinct sets are gone: the previous count is a floor (10.0.1.0 was already counted).
    assert merged.distinct_dsts == 5 and merged.distinct_dports == 5
    # A second late record merges into the merged summary again.
    observe(t, [make_flow("10.0.0.1", "10.0.1.9", 99, ts=60.0)])
    (again,) = t.close(2)
    assert again.flows_out == 7


def test_late_window_older_than_retention_is_not_replaced_by_a_partial_summary(
    make_flow: FlowFactory,
) -> None:
    t = ProfileTracker("out", late_windows=2)
    observe(t, [make_flow(ts=100.0)])
    assert len(t.close(0)) == 1
    t.close(5)  # window 0 is now more than 2 windows behind the newest closed one
    observe(t, [make_flow(ts=200.0)])
    assert t.close(6) == []
    assert t.late_updates_dropped == 1
    assert len(t) == 0


def test_retained_summaries_are_bounded_by_late_windows(make_flow: FlowFactory) -> None:
    t = ProfileTracker("out", late_windows=3)
    for w in range(100):
        observe(t, [make_flow(f"10.0.0.{w % 50}", ts=w * 3600.0 + 1)])
        t.close(w)
    assert len(t._closed) <= 3  # the bound is the point of the test


def test_direction_all_late_inbound_merges_too(make_flow: FlowFactory) -> None:
    t = ProfileTracker("all", late_windows=24)
    observe(t, [make_flow("10.0.0.1", "10.0.0.2", ts=10.0)])
    t.close(0)
    observe(t, [make_flow("10.0.0.3", "10.0.0.2", ts=20.0)])
    by_ip = {s.ip: s for s in t.close(1)}
    assert by_ip["10.0.0.2"].flows_in == 2
    assert by_ip["10.0.0.3"].flows_out == 1


def test_profile_count_is_exact_until_the_cap_then_a_lower_bound(make_flow: FlowFactory) -> None:
    t = ProfileTracker("out", max_profiles=3)
    observe(t, [make_flow(f"10.0.0.{i}", ts=1.0) for i in range(3)])
    assert t.profiles_count == 3 and not t.profiles_capped
    observe(t, [make_flow("10.0.0.1", ts=2.0)])  # a known address: still exact
    t.close(None)
    observe(t, [make_flow("10.0.0.1", ts=3.0)])
    assert not t.profiles_capped
    observe(t, [make_flow("10.0.0.9", ts=4.0)])
    assert t.profiles_count == 3 and t.profiles_capped
    assert len(t.profiles_seen) == 3


@pytest.fixture
def make_flow(flow_factory: FlowFactory) -> FlowFactory:
    return flow_factory
