"""Must-trigger rows of the protocol group (TLS/SSH/SMTP/HTTP) on repo copies of
Slips' Zeek captures, through the real `analyze` pipeline."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.analyze import analyze
from agent.config import load_config
from detection.model import Evidence

ZEEK = Path(__file__).parents[1] / "data" / "captures" / "zeek"

_RUNS: dict[str, list[Evidence]] = {}  # one analysis per capture for this module


@pytest.fixture
def evidence(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    def run(name: str, kind: str) -> list[Evidence]:
        if name not in _RUNS:
            out = tmp_path_factory.mktemp("out")
            result = analyze(str(ZEEK / name), load_config(None), outdir=out, keep_findings=True)
            assert result.exit_code == 0
            _RUNS[name] = list(result.evidence)
        return [e for e in _RUNS[name] if e.type == kind]

    return run


def test_test9_non_http_on_port_80(evidence) -> None:  # type: ignore[no-untyped-def]
    evs = evidence("test9-mixed-zeek-dir", "non_http_port_80")
    hits = [e for e in evs if "CAwUdr34dVnyOwbUuj" in e.uids]
    assert [(e.attacker, e.victim, e.dport) for e in hits] == [("10.0.2.15", "194.132.197.198", 80)]
    assert "Non-HTTP traffic on port 80/tcp" in hits[0].description


def test_test10_non_tls_on_port_443(evidence) -> None:  # type: ignore[no-untyped-def]
    evs = evidence("test10-mixed-zeek-dir", "non_tls_port_443")
    pairs = {(e.attacker, e.victim) for e in evs}
    assert ("147.32.83.156", "3.123.248.34") in pairs
    hit = next(e for e in evs if e.victim == "3.123.248.34")
    assert set(hit.uids) == {"CciZw53W5iBCyQGwAf", "CEZEja4hfSRQgUbr8"}
    assert all(e.dport == 443 for e in evs)


def test_test14_bad_smtp_login_and_brute_force(evidence) -> None:  # type: ignore[no-untyped-def]
    for kind in ("smtp_bad_login", "smtp_login_bruteforce"):
        evs = evidence("test14-malicious-zeek-dir", kind)
        assert {(e.attacker, e.victim, e.dport) for e in evs} == {
            ("10.1.11.101", "80.75.42.226", 25)
        }, kind
    (brute,) = evidence("test14-malicious-zeek-dir", "smtp_login_bruteforce")
    assert brute.count == 3 and "within 7.2 s" in brute.description


def test_test14_suspicious_user_agent(evidence) -> None:  # type: ignore[no-untyped-def]
    evs = evidence("test14-malicious-zeek-dir", "suspicious_user_agent")
    jndi = [e for e in evs if "${jndi:ldap://xyz.xyz.com" in e.description]
    assert [(e.attacker, e.victim, e.attack_technique) for e in jndi] == [
        ("10.0.2.15", "195.113.232.72", "T1190")
    ]


def test_test14_executable_download(evidence) -> None:  # type: ignore[no-untyped-def]
    evs = evidence("test14-malicious-zeek-dir", "executable_download")
    assert {(e.attacker, e.victim) for e in evs} == {
        ("10.0.2.15", "147.32.80.7"),
        ("10.0.2.15", "195.113.214.206"),
    }
    assert any("application/x-dosexec" in e.description and ".exe" in e.description for e in evs)


def test_test15_ssh_client_version_changing(evidence) -> None:  # type: ignore[no-untyped-def]
    (ev,) = evidence("test15-malicious-zeek-dir", "ssh_version_changing")
    assert (ev.attacker, ev.victim) == ("192.168.1.247", None)
    assert "OpenSSH_8.1 -> OpenSSH_9.1" in ev.description


def test_test15_google_cn_served_for_netflix(evidence) -> None:  # type: ignore[no-untyped-def]
    evs = evidence("test15-malicious-zeek-dir", "incompatible_certificate_cn")
    assert [(e.attacker, e.victim) for e in evs] == [("10.0.2.15", "52.0.131.132")]
    assert "CN www.google.com (google) served for netflix.com" in evs[0].description
