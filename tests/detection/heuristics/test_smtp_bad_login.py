from __future__ import annotations

from types import SimpleNamespace

from detection.heuristics.smtp_bad_login import SmtpBadLogin, SmtpBadLoginParams, is_bad_smtp_login
from detection.model import ThreatLevel


def test_refused_login_is_reported_then_stepped(rec: SimpleNamespace) -> None:
    det = SmtpBadLogin(SmtpBadLoginParams())
    evs = rec.drive(det, [rec.smtp(ts=float(i), reply="535 5.7.8 bad auth") for i in range(12)])
    assert [e.count for e in evs] == [1, 10]
    ev = evs[0]
    assert ev.type == "smtp_bad_login" and ev.threat_level is ThreatLevel.LOW
    assert (ev.attacker, ev.victim, ev.dport) == ("10.0.0.1", "198.51.100.25", 25)
    assert ev.attack_technique == "T1110"
    assert ev.description.startswith("Bad SMTP login from 10.0.0.1 to 198.51.100.25:25")


def test_other_replies_are_not_bad_logins(rec: SimpleNamespace) -> None:
    for reply in ("250 2.0.0 Ok", "554 5.7.1 Relay access denied", "421 4.7.0 try later", ""):
        assert not is_bad_smtp_login(reply), reply
    assert is_bad_smtp_login("554 5.7.1 bad smtp-auth user")
    det = SmtpBadLogin(SmtpBadLoginParams())
    assert rec.drive(det, [rec.smtp(reply="554 5.7.1 Relay access denied")]) == []
