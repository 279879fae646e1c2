from __future__ import annotations

from types import SimpleNamespace

from detection.heuristics.ssh_successful_login import SshSuccessfulLogin, SshSuccessfulLoginParams
from detection.model import ThreatLevel


def _det() -> SshSuccessfulLogin:
    return SshSuccessfulLogin(SshSuccessfulLoginParams())


def test_zeek_auth_success_is_an_info_login(rec: SimpleNamespace) -> None:
    (ev,) = rec.drive(_det(), [rec.ssh(success=True, uid="S1")])
    assert ev.type == "ssh_successful_login"
    assert (ev.attacker, ev.victim, ev.dport) == ("10.0.0.1", "10.0.0.9", 22)
    assert ev.threat_level is ThreatLevel.INFO and ev.confidence == 0.8
    assert ev.attack_technique == "T1021.004" and ev.uids == ("S1",)
    assert ev.description == (
        "Successful SSH login from 10.0.0.1 to 10.0.0.9:22 (1 login in this window; "
        "Zeek saw the authentication succeed, client 'SSH-2.0-OpenSSH_8.9')"
    )


def test_failed_logins_are_not_successes(rec: SimpleNamespace) -> None:
    assert rec.drive(_det(), [rec.ssh(success=False, attempts=3) for _ in range(5)]) == []


def test_unknown_result_is_judged_by_the_flow_size_either_order(rec: SimpleNamespace) -> None:
    big = rec.flow(daddr="10.0.0.9", dport=22, sbytes=3000, dbytes=9000, uid="S1")
    small = rec.flow(daddr="10.0.0.9", dport=22, sbytes=2000, dbytes=2290, uid="S2")  # 4290
    unknown1 = rec.ssh(success=None, attempts=0, uid="S1")
    unknown2 = rec.ssh(success=None, attempts=0, uid="S2")
    for records in ([unknown1, big, unknown2, small], [big, unknown1, small, unknown2]):
        (ev,) = rec.drive(_det(), records)
        assert ev.uids == ("S1",) and ev.confidence == 0.5
        assert "12000 bytes moved (authentication result unknown)" in ev.description


def test_login_after_guessing_is_low_and_logins_are_stepped(rec: SimpleNamespace) -> None:
    records = [rec.ssh(ts=100.0 + i, success=False) for i in range(9)]
    records += [rec.ssh(ts=200.0 + i, success=True) for i in range(12)]
    first, tenth = rec.drive(_det(), records)
    assert first.threat_level is ThreatLevel.LOW
    assert "1 login in this window, after 9 failed attempts" in first.description
    assert tenth.count == 10
    eight = [rec.ssh(ts=100.0 + i, success=False) for i in range(8)] + [rec.ssh(success=True)]
    (ev,) = rec.drive(_det(), eight)
    assert ev.threat_level is ThreatLevel.INFO


def test_flows_without_ssh_log_say_nothing(rec: SimpleNamespace) -> None:
    flows = [rec.flow(daddr="10.0.0.9", dport=22, sbytes=9000, uid=f"F{i}") for i in range(30)]
    det = _det()
    assert rec.drive(det, flows) == []
    assert not det._flow_bytes  # dropped with their window
