from __future__ import annotations

from types import SimpleNamespace

from detection.heuristics.plain_http import PlainHttp, PlainHttpParams
from detection.model import ThreatLevel


def test_one_info_evidence_per_host_and_window(rec: SimpleNamespace) -> None:
    det = PlainHttp(PlainHttpParams())
    records = [rec.http(host="example.com", ts=100.0 + i, uid=f"H{i}") for i in range(500)]
    records += [rec.http(daddr="203.0.113.9", host="other.org", ts=700.0)]
    records += [rec.http("10.0.0.2", ts=800.0)]
    assert [det.observe(r, 0) for r in records] == [None] * len(records)  # never per request
    evs = sorted(det.close_window(0) or (), key=lambda e: e.attacker)
    assert [(e.attacker, e.victim, e.count) for e in evs] == [
        ("10.0.0.1", None, 501),
        ("10.0.0.2", "198.51.100.7", 1),
    ]
    ev = evs[0]
    assert ev.type == "plain_http" and ev.threat_level is ThreatLevel.INFO
    assert ev.attack_technique == "T1071.001" and ev.ts == 100.0 and len(ev.uids) == 10
    assert ev.description == (
        "Unencrypted HTTP from 10.0.0.1: 501 requests to 2 servers in this window; "
        "top hosts example.com (500), other.org (1)"
    )
    assert det.close_window(0) is None  # state dropped


def test_below_min_requests_is_quiet(rec: SimpleNamespace) -> None:
    det = PlainHttp(PlainHttpParams(min_requests=3))
    assert rec.drive(det, [rec.http(ts=100.0), rec.http(ts=101.0)]) == []
    (ev,) = rec.drive(det, [rec.http(ts=100.0 + i) for i in range(3)])
    assert ev.count == 3
