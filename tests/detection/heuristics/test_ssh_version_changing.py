from __future__ import annotations

from types import SimpleNamespace

from detection.heuristics.ssh_version_changing import SshVersionChanging, SshVersionChangingParams
from detection.model import ThreatLevel


def test_client_version_change_is_reported(rec: SimpleNamespace) -> None:
    det = SshVersionChanging(SshVersionChangingParams())
    records = [rec.software(version="OpenSSH_8.1", ts=1.0), rec.software(version="OpenSSH_9.1")]
    (ev,) = rec.drive(det, records)
    assert ev.type == "ssh_version_changing" and ev.threat_level is ThreatLevel.MEDIUM
    assert (ev.attacker, ev.victim, ev.attack_technique) == ("10.0.0.1", None, "T1021.004")
    assert ev.description == "SSH client version changing on 10.0.0.1: OpenSSH_8.1 -> OpenSSH_9.1"


def test_same_version_other_role_or_other_host_is_quiet(rec: SimpleNamespace) -> None:
    det = SshVersionChanging(SshVersionChangingParams())
    records = [
        rec.software(version="OpenSSH_8.1", ts=1.0),
        rec.software(version="OpenSSH_8.1", ts=2.0),
        rec.software(version="OpenSSH_9.1", ts=3.0, kind="SSH::SERVER"),
        rec.software(host="10.0.0.2", version="OpenSSH_9.1", ts=4.0),
        rec.software(version="Apache/2.4", ts=5.0, kind="HTTP::SERVER"),
    ]
    assert rec.drive(det, records) == []


def test_flapping_versions_are_stepped_and_memory_is_bounded(rec: SimpleNamespace) -> None:
    det = SshVersionChanging(SshVersionChangingParams(max_hosts=5))
    flaps = [rec.software(version=f"OpenSSH_{i % 2}", ts=float(i)) for i in range(120)]
    assert [e.count for e in rec.drive(det, flaps)] == [1, 10, 100]
    rec.drive(det, [rec.software(host=f"10.1.0.{i}", ts=200.0) for i in range(50)])
    assert len(det._last) == 5
    assert det.state_overflow == {"hosts_evicted": 46}  # 1 + 50 hosts into 5 places
