from __future__ import annotations

from types import SimpleNamespace

from detection.heuristics.ssh_password_guessing import (
    SshPasswordGuessing,
    SshPasswordGuessingParams,
    sampled_servers,
)
from detection.model import ThreatLevel


def _det(**kw: object) -> SshPasswordGuessing:
    return SshPasswordGuessing(SshPasswordGuessingParams(**kw))  # type: ignore[arg-type]


def test_nine_failed_logins_in_ssh_log_are_guessing(rec: SimpleNamespace) -> None:
    records = [rec.ssh(ts=100.0 + i, uid=f"S{i}") for i in range(9)]
    (ev,) = rec.drive(_det(), records)
    assert ev.type == "ssh_password_guessing"
    assert (ev.attacker, ev.victim, ev.dport) == ("10.0.0.1", "10.0.0.9", 22)
    assert ev.threat_level is ThreatLevel.MEDIUM and ev.confidence == 0.5
    assert ev.attack_technique == "T1110.001" and ev.count == 9
    assert ev.description == (
        "SSH password guessing from 10.0.0.1 to 10.0.0.9:22: 9 failed login attempts "
        "in this window (ssh.log)"
    )
    assert ev.uids[0] == "S0"


def test_eight_attempts_and_successful_logins_stay_quiet(rec: SimpleNamespace) -> None:
    records = [rec.ssh(ts=100.0 + i) for i in range(8)]
    records += [rec.ssh(ts=200.0 + i, success=True, attempts=1) for i in range(20)]
    records += [rec.ssh(ts=300.0 + i, success=None, attempts=0) for i in range(20)]  # banners
    assert rec.drive(_det(), records) == []


def test_attempts_per_connection_add_up_and_reports_are_log_stepped(
    rec: SimpleNamespace,
) -> None:
    # 5 attempts per connection: counts 5, 10 (first report), ..., 30, ..., 100, ..., 1000
    records = [rec.ssh(ts=100.0 + i, attempts=5, uid=f"S{i}") for i in range(400)]
    evs = rec.drive(_det(), records)
    assert [e.count for e in evs] == [10, 30, 100, 1000]
    assert [e.confidence for e in evs][-1] == 0.9


def test_automation_banner_raises_confidence(rec: SimpleNamespace) -> None:
    client = "SSH-2.0-paramiko_3.4.0"
    (ev,) = rec.drive(_det(), [rec.ssh(ts=100.0 + i, client=client) for i in range(9)])
    assert ev.confidence == 0.6 and "client 'paramiko_3.4.0'" in ev.description
    openssh = [rec.ssh(ts=100.0 + i, client="SSH-2.0-OpenSSH_9.6") for i in range(9)]
    (plain,) = rec.drive(_det(), openssh)
    assert plain.confidence == 0.5


def test_small_ssh_flows_count_without_ssh_log(rec: SimpleNamespace) -> None:
    flows = [
        rec.flow("203.0.113.5", "10.0.0.9", 22, ts=100.0 + i, sbytes=1800, dbytes=2000, uid=f"F{i}")
        for i in range(9)
    ]
    (ev,) = rec.drive(_det(), flows)
    assert (ev.attacker, ev.victim, ev.count) == ("203.0.113.5", "10.0.0.9", 9)
    assert "(SSH-sized flows)" in ev.description


def test_flows_that_are_not_attempts_are_ignored(rec: SimpleNamespace) -> None:
    banner_grabs = [
        rec.flow(daddr="10.0.0.9", dport=22, ts=100.0 + i, sbytes=40) for i in range(20)
    ]
    sessions = [
        rec.flow(daddr="10.0.0.9", dport=22, ts=200.0 + i, sbytes=3000, dbytes=50_000)
        for i in range(20)
    ]
    unanswered = [
        rec.flow(daddr="10.0.0.9", dport=22, ts=300.0 + i, established=False) for i in range(20)
    ]
    https = [rec.flow(daddr="10.0.0.9", dport=443, ts=400.0 + i, sbytes=1800) for i in range(20)]
    assert rec.drive(_det(), banner_grabs + sessions + unanswered + https) == []


def test_ssh_log_replaces_the_flow_estimate(rec: SimpleNamespace) -> None:
    # 8 small flows then 8 ssh.log failures of the same pair: ssh.log speaks, 8 < 9.
    records = []
    for i in range(8):
        records.append(rec.flow(daddr="10.0.0.9", dport=22, ts=100.0 + i, sbytes=1800, uid=f"F{i}"))
        records.append(rec.ssh(ts=100.0 + i, uid=f"F{i}"))
    records += [rec.flow(daddr="10.0.0.9", dport=22, ts=200.0 + i, sbytes=1800) for i in range(5)]
    assert rec.drive(_det(), records) == []


def test_zeek_notice_is_evidence_and_confirms(rec: SimpleNamespace) -> None:
    det = _det()
    notice = rec.notice(
        "203.0.113.5",
        msg="203.0.113.5 appears to be guessing SSH passwords (seen in 30 connections).",
        sub="Sampled servers:  10.0.0.9, 10.0.0.9, 10.0.0.8",
    )
    records = [notice, notice] + [rec.ssh("203.0.113.5", ts=110.0 + i) for i in range(9)]
    zeek, counted = rec.drive(det, records)
    assert (zeek.attacker, zeek.victim, zeek.threat_level) == (
        "203.0.113.5",
        "10.0.0.9",
        ThreatLevel.HIGH,
    )
    assert zeek.attack_technique == "T1110.001" and zeek.count == 30
    assert "reported by Zeek (SSH::Password_Guessing, 30 connections)" in zeek.description
    assert "10.0.0.9 x2, 10.0.0.8" in zeek.description
    assert counted.threat_level is ThreatLevel.HIGH and counted.confidence == 1.0
    assert "confirmed by Zeek" in counted.description


def test_other_notices_are_ignored(rec: SimpleNamespace) -> None:
    assert rec.drive(_det(), [rec.notice(note="Scan::Port_Scan")]) == []


def test_sampled_servers_from_msg_when_sub_is_empty(rec: SimpleNamespace) -> None:
    n = rec.notice(
        "222.186.30.112",
        msg="222.186.30.112 appears to be guessing SSH passwords (seen in 30 connections). "
        "Sampled servers: 147.32.85.117, 147.32.81.196 222.186.30.112",
        sub="remote",
    )
    assert sampled_servers(n) == ["147.32.85.117", "147.32.81.196"]


def test_state_is_per_window(rec: SimpleNamespace) -> None:
    det = _det()
    # 5 failures in each of two windows: never 9 in one window
    records = [rec.ssh(ts=3000.0 + i) for i in range(5)] + [
        rec.ssh(ts=3700.0 + i) for i in range(5)
    ]
    assert rec.drive(det, records) == []
    det.close_window(10)
    assert not det._pairs
