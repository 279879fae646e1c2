from __future__ import annotations

from types import SimpleNamespace

from detection.heuristics.smtp_login_bruteforce import (
    SmtpLoginBruteforce,
    SmtpLoginBruteforceParams,
)
from detection.model import ThreatLevel


def test_three_refused_logins_in_ten_seconds(rec: SimpleNamespace) -> None:
    det = SmtpLoginBruteforce(SmtpLoginBruteforceParams())
    times = [0.0, 4.4, 7.2, 8.6]  # test14's four 554 5.7.1 replies
    evs = rec.drive(det, [rec.smtp(ts=100 + t, uid=f"C{i}") for i, t in enumerate(times)])
    (ev,) = evs
    assert ev.type == "smtp_login_bruteforce" and ev.threat_level is ThreatLevel.HIGH
    assert (ev.attacker, ev.victim, ev.count) == ("10.0.0.1", "198.51.100.25", 3)
    assert ev.attack_technique == "T1110.001" and ev.uids == ("C0", "C1", "C2")
    assert "3 refused logins within 7.2 s" in ev.description


def test_quiet_when_spread_out_or_too_few(rec: SimpleNamespace) -> None:
    det = SmtpLoginBruteforce(SmtpLoginBruteforceParams())
    assert rec.drive(det, [rec.smtp(ts=100.0 + 6 * i) for i in range(5)]) == []  # 3 per 12 s
    det = SmtpLoginBruteforce(SmtpLoginBruteforceParams())
    assert rec.drive(det, [rec.smtp(ts=100.0), rec.smtp(ts=101.0)]) == []


def test_no_flood_under_a_long_brute_force(rec: SimpleNamespace) -> None:
    det = SmtpLoginBruteforce(SmtpLoginBruteforceParams())
    evs = rec.drive(det, [rec.smtp(ts=i * 0.01) for i in range(2000)])
    assert [e.count for e in evs] == [3, 10, 100, 1000]
