from __future__ import annotations

from types import SimpleNamespace

from detection.heuristics.empty_search_engine_requests import (
    EmptySearchEngineRequests,
    EmptySearchEngineRequestsParams,
)
from detection.model import ThreatLevel


def _det() -> EmptySearchEngineRequests:
    return EmptySearchEngineRequests(EmptySearchEngineRequestsParams())


def test_four_empty_requests_to_google(rec: SimpleNamespace) -> None:
    hosts = ["google.com", "www.google.com", "google.com", "www.google.com"]
    records = [
        rec.http(daddr="142.250.1.1", host=h, ts=100.0 + i, uid=f"H{i}")
        for i, h in enumerate(hosts)
    ]
    (ev,) = rec.drive(_det(), records)
    assert ev.type == "empty_search_engine_requests"
    assert (ev.attacker, ev.victim, ev.dport, ev.count) == ("10.0.0.1", None, 80, 4)
    assert ev.threat_level is ThreatLevel.MEDIUM and ev.attack_technique == "T1016.001"
    assert ev.description == (
        "4 empty HTTP requests for / from 10.0.0.1 to google.com (google.com, www.google.com; "
        "last 142.250.1.1) in this window: an Internet connectivity check"
    )
    assert ev.uids == ("H0", "H1", "H2", "H3")


def test_three_requests_real_paths_and_other_sites_stay_quiet(rec: SimpleNamespace) -> None:
    records = [rec.http(host="www.bing.com", ts=100.0 + i) for i in range(3)]
    records += [rec.http(host="www.bing.com", uri="/search?q=x", ts=200.0 + i) for i in range(9)]
    records += [rec.http(host="www.bing.com", req_len=20, ts=300.0 + i) for i in range(9)]
    records += [rec.http(host="notgoogle.com", ts=400.0 + i) for i in range(9)]
    records += [rec.http("10.0.0.2", host="www.bing.com", ts=500.0)]  # another client
    assert rec.drive(_det(), records) == []


def test_no_flood(rec: SimpleNamespace) -> None:
    records = [rec.http(host="ya.ru.yandex.ru", ts=100.0 + i) for i in range(500)]
    assert [e.count for e in rec.drive(_det(), records)] == [4, 40, 400]
