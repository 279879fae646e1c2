from __future__ import annotations

from detection.heuristics._scans_dns import stepped_due
from detection.heuristics.dga_nxdomain import DgaNxdomain, DgaNxdomainParams
from detection.model import DnsRecord, ThreatLevel

BASE = DnsRecord(100.0, "D1", "10.0.0.5", 5555, "10.0.0.53", 53, "udp", "", "A", "NXDOMAIN")


def failures(n: int, suffix: str = ".com") -> list[DnsRecord]:
    return [BASE._replace(uid=f"D{i}", query=f"qx{i}vbk{i * 7}zt{suffix}") for i in range(n)]


def test_ten_nxdomains_trigger() -> None:
    det = DgaNxdomain(DgaNxdomainParams())
    (ev,) = [e for r in failures(10) for e in det.observe(r, 0) or ()]
    assert ev.type == "dga_nxdomain" and ev.attacker == "10.0.0.5" and ev.victim is None
    assert ev.threat_level is ThreatLevel.HIGH and ev.attack_technique == "T1568.002"
    assert ev.count == 10 and len(ev.uids) == 10 and ev.confidence == 10 / 50
    assert ev.description == (
        "Possible DGA: 10.0.0.5 got NXDOMAIN for 10 different names (latest: qx9vbk63zt.com)"
    )


def test_quiet_at_nine_and_on_local_names_and_answers() -> None:
    det = DgaNxdomain(DgaNxdomainParams())
    recs = failures(9) + failures(9)  # retries of the same names
    recs += [r._replace(saddr="10.0.0.6") for r in failures(30, ".local")]
    recs += [r._replace(saddr="10.0.0.6", query=f"host{i}") for i, r in enumerate(failures(30))]
    recs += [
        r._replace(saddr="10.0.0.6", query=f"{i}.1.0.10.in-addr.arpa")
        for i, r in enumerate(failures(30))
    ]
    recs += [r._replace(saddr="10.0.0.7", rcode="NOERROR") for r in failures(30)]
    assert [e for r in recs for e in det.observe(r, 0) or ()] == []


def test_every_five_then_log_steps() -> None:
    det = DgaNxdomain(DgaNxdomainParams())
    counts = [e.count for r in failures(12000) for e in det.observe(r, 0) or ()]
    assert counts == [*range(10, 101, 5), 1000, 10000]
    assert [n for n in range(1, 200) if stepped_due(n, 10, 5, 100, (1000,))] == list(
        range(10, 101, 5)
    )
    det.close_window(0)
    assert len(det._hosts) == 0
