from __future__ import annotations

from collections.abc import Callable

from detection.heuristics.data_upload import DataUpload, DataUploadParams
from detection.model import Evidence, Flow, ThreatLevel

FlowFactory = Callable[..., Flow]
MB = 1_000_000


def feed(det: DataUpload, flows: list[Flow]) -> list[Evidence]:
    return [e for f in flows for e in det.observe(f, 0) or ()]


def test_one_flow_of_100_mb(flow_factory: FlowFactory) -> None:
    det = DataUpload(DataUploadParams())
    (ev,) = feed(det, [flow_factory("10.0.0.5", "198.51.100.7", 443, sbytes=100 * MB, uid="Cu")])
    assert ev.type == "data_upload" and ev.threat_level is ThreatLevel.MEDIUM
    assert (ev.attacker, ev.victim, ev.uids) == ("10.0.0.5", "198.51.100.7", ("Cu",))
    assert ev.attack_technique == "T1048"
    assert ev.description == "Large upload from 10.0.0.5 to 198.51.100.7: one flow sent 100 MB"


def test_500_mb_to_one_host_in_a_window(flow_factory: FlowFactory) -> None:
    det = DataUpload(DataUploadParams())
    flows = [flow_factory("10.0.0.5", "198.51.100.7", 443, sbytes=50 * MB) for _ in range(30)]
    (ev,) = feed(det, flows)
    assert ev.description.startswith("Large upload from 10.0.0.5 to 198.51.100.7: 500 MB sent")


def test_just_under_the_thresholds(flow_factory: FlowFactory) -> None:
    det = DataUpload(DataUploadParams())
    flows = [flow_factory("10.0.0.5", "198.51.100.7", 443, sbytes=100 * MB - 1)]
    flows += [flow_factory("10.0.0.5", "198.51.100.7", 443, sbytes=100 * MB - 1) for _ in range(4)]
    flows.append(flow_factory("10.0.0.5", "192.168.1.10", 445, sbytes=900 * MB))  # LAN backup
    assert feed(det, flows) == []
    det.close_window(0)
    # the sum restarts with each window
    assert feed(det, [flow_factory("10.0.0.5", "198.51.100.7", 443, sbytes=99 * MB)]) == []


def test_many_large_flows_are_log_stepped(flow_factory: FlowFactory) -> None:
    det = DataUpload(DataUploadParams())
    flows = [flow_factory("10.0.0.5", "198.51.100.7", 443, sbytes=200 * MB) for _ in range(1000)]
    evs = feed(det, flows)
    assert [e.count for e in evs if e.count] == [1, 10, 100, 1000]
    assert len([e for e in evs if e.count is None]) == 1  # the window sum, once
