"""Must-show detections on repo copies of Slips' packet captures, read by the
built-in packet engine (no Zeek on PATH), through the real `starling analyze`."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from agent.analyze import iter_records
from agent.store.sqlite import SqliteStore
from detection.model import Evidence, Flow, SshRecord, SslRecord

PCAP = Path(__file__).parents[1] / "data" / "captures" / "pcap"

_RUNS: dict[tuple[str, str], tuple[dict[str, Any], list[Evidence]]] = {}


@pytest.fixture
def analyze_pcap(
    cli: Callable[..., Any],
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> Callable[..., tuple[dict[str, Any], list[Evidence]]]:
    """(summary, evidence) of `starling analyze` on a capture, one run per capture."""
    # No zeek on PATH: the built-in engine must do the work whatever the host has.
    monkeypatch.setenv("PATH", str(tmp_path_factory.mktemp("empty-bin")))

    def run(name: str, config: str = "") -> tuple[dict[str, Any], list[Evidence]]:
        key = (name, config)
        if key not in _RUNS:
            out = tmp_path_factory.mktemp("out") / "o"
            args = ["analyze", str(PCAP / name), "-o", str(out), "--json"]
            if config:
                cfg = out.parent / "config.yaml"
                cfg.write_text(config)
                args += ["-c", str(cfg)]
            proc = cli(*args)
            assert proc.returncode == 0, proc.stderr
            summary = orjson.loads(proc.stdout)
            assert summary["formats"] == {str(PCAP / name): "pcap"}
            store = SqliteStore(out / "starling.db")
            try:
                evidence = store.evidence(limit=100_000)
            finally:
                store.close()
            _RUNS[key] = (summary, evidence)
        return _RUNS[key]

    return run


def of_type(evidence: list[Evidence], kind: str) -> list[Evidence]:
    return [e for e in evidence if e.type == kind]


def test_test8_arp_scan(analyze_pcap) -> None:  # type: ignore[no-untyped-def]
    summary, evidence = analyze_pcap("test8-malicious.pcap")
    assert summary["records_by_type"]["ArpRecord"] > 500
    scans = of_type(evidence, "arp_scan")
    assert {e.attacker for e in scans} == {"192.168.1.247"}
    assert max(e.count or 0 for e in scans) >= 100
    assert "50:ed:3c:39:bc:d9" in scans[0].description


def test_test7_profiles_and_device_changing_ip(analyze_pcap) -> None:  # type: ignore[no-untyped-def]
    summary, evidence = analyze_pcap("test7-malicious.pcap.gz", "profiles:\n  direction: all\n")
    assert summary["profiles"] > 290  # Slips counts source and destination profiles
    changes = of_type(evidence, "device_changing_ip")
    hits = [e for e in changes if e.attacker == "192.168.2.12"]
    assert hits, changes
    assert "68:5b:35:b1:55:93" in hits[0].description
    # the MAC first belonged to the link-local address
    assert any("169.254.242.182" in e.description for e in changes)


def test_test12_icmp_scan(analyze_pcap) -> None:  # type: ignore[no-untyped-def]
    _summary, evidence = analyze_pcap("test12-icmp-portscan.pcap")
    sweeps = of_type(evidence, "icmp_sweep")
    assert {e.attacker for e in sweeps} == {"192.168.1.109"}
    assert max(e.count or 0 for e in sweeps) >= 10
    assert all(e.proto == "icmp" for e in sweeps)


def test_test19_ssh_password_guessing(analyze_pcap) -> None:  # type: ignore[no-untyped-def]
    summary, evidence = analyze_pcap("test19-malicious-ssh/malicious-ssh-bruteforce.pcap")
    guesses = of_type(evidence, "ssh_password_guessing")
    assert {(e.attacker, e.victim, e.dport) for e in guesses} == {
        ("147.32.80.40", "147.32.80.37", 902)
    }
    assert max(e.count or 0 for e in guesses) >= 30
    assert summary["records_by_type"]["SshRecord"] >= 40  # one per connection, ~40 passwords
    path = PCAP / "test19-malicious-ssh" / "malicious-ssh-bruteforce.pcap"
    ssh = [r for r in iter_records(str(path)) if isinstance(r, SshRecord)]
    assert {r.client for r in ssh if r.client} == {"SSH-2.0-libssh2_1.11.0"}
    assert sum(r.auth_success is False for r in ssh) >= 40


def test_test_cc_capture1_periodic_channel_to_testing_com(analyze_pcap) -> None:  # type: ignore[no-untyped-def]
    name = "test-cc/test-cc-capture-1-first120s.pcap.gz"
    _summary, evidence = analyze_pcap(name)
    beacons = of_type(evidence, "beaconing")
    assert {(e.attacker, e.dport) for e in beacons} == {("147.32.80.37", 443)}
    (server,) = {e.victim for e in beacons}
    # the beacon's connections are TLS to testing.com (SNI), every ~2 s
    records = list(iter_records(str(PCAP / name)))
    names = {r.server_name for r in records if isinstance(r, SslRecord) and r.daddr == server}
    assert names == {"testing.com"}
    starts = sorted(
        r.ts for r in records if isinstance(r, Flow) and r.daddr == server and r.dport == 443
    )
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert len(starts) > 40 and 1.5 < sorted(gaps)[len(gaps) // 2] < 3.0
    assert "2.2 s" in beacons[0].description


def test_test_cc_capture2_channel_is_found(analyze_pcap) -> None:  # type: ignore[no-untyped-def]
    # Capture 2 checks in every 2.3-3.8 s (MAD ~15 % of the period): the beaconing
    # detector's jittered tier (>= 20 intervals) reports it; the engine gives the TLS
    # channel and its DNS.
    name = "test-cc/test-cc-capture-2.pcap"
    summary, evidence = analyze_pcap(name)
    assert summary["records_by_type"]["SslRecord"] >= 20
    beacons = [e for e in evidence if e.type == "beaconing"]
    assert [(e.attacker, e.dport) for e in beacons] == [("147.32.80.37", 443)]
    assert "every 3.0 s" in beacons[0].description
    records = list(iter_records(str(PCAP / name)))
    tls = [r for r in records if isinstance(r, SslRecord)]
    assert {(r.saddr, r.server_name, r.dport, r.established) for r in tls} == {
        ("147.32.80.37", "testing.com", 443, True)
    }
    asked = {r.query for r in records if type(r).__name__ == "DnsRecord"}
    assert "testing.com" in asked
