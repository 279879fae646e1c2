from __future__ import annotations

from types import SimpleNamespace

from detection.heuristics.weird_http_method import WeirdHttpMethod, WeirdHttpMethodParams
from detection.model import ThreatLevel


def _det() -> WeirdHttpMethod:
    return WeirdHttpMethod(WeirdHttpMethodParams())


def test_zeek_weird_unknown_method(rec: SimpleNamespace) -> None:
    (ev,) = rec.drive(_det(), [rec.weird(addl="PROPFIND2")])
    assert ev.type == "weird_http_method"
    assert (ev.attacker, ev.victim, ev.dport) == ("10.0.0.1", "198.51.100.7", 80)
    assert ev.threat_level is ThreatLevel.MEDIUM and ev.attack_technique == "T1595.002"
    assert ev.description == (
        "Weird HTTP method 'PROPFIND2' from 10.0.0.1 to 198.51.100.7:80 "
        "(1 request in this window, seen in Zeek weird unknown_HTTP_method)"
    )


def test_nonstandard_method_in_http_log(rec: SimpleNamespace) -> None:
    (ev,) = rec.drive(_det(), [rec.http(method="DEBUG")])
    assert "Weird HTTP method 'DEBUG'" in ev.description and "http.log" in ev.description


def test_standard_methods_and_other_weirds_are_quiet(rec: SimpleNamespace) -> None:
    records = [rec.http(method=m) for m in ("GET", "POST", "PROPFIND", "M-SEARCH", "options", "")]
    records += [rec.weird("bad_HTTP_request", addl="x"), rec.weird(addl="")]
    assert rec.drive(_det(), records) == []


def test_no_flood(rec: SimpleNamespace) -> None:
    evs = rec.drive(_det(), [rec.weird(addl="XYZ", ts=100.0 + i) for i in range(150)])
    assert [e.count for e in evs] == [1, 10, 100]
