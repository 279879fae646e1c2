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


def test_test14_empty_requests_to_google(evidence) -> None:  # type: ignore[no-untyped-def]
    # wget google.com twice: 4 requests for / (google.com, www.google.com) within a second
    (ev,) = evidence("test14-malicious-zeek-dir", "empty_search_engine_requests")
    assert (ev.attacker, ev.victim, ev.count) == ("10.0.2.15", None, 4)
    assert "to google.com (google.com, www.google.com;" in ev.description


def test_test14_multiple_user_agents(evidence) -> None:  # type: ignore[no-untyped-def]
    (ev,) = evidence("test14-malicious-zeek-dir", "multiple_user_agents")
    assert (ev.attacker, ev.victim, ev.count) == ("10.0.2.15", None, 5)
    assert "${jndi:" in ev.description


def test_test9_plain_http_once_per_host_and_window(evidence) -> None:  # type: ignore[no-untyped-def]
    evs = evidence("test9-mixed-zeek-dir", "plain_http")  # Slips: 474 HTTP_TRAFFIC
    mine = [e for e in evs if e.attacker == "10.0.2.15"]
    assert [(e.count, e.threat_level.value) for e in mine] == [(515, "info")]


def test_test10_zeek_password_guessing_notice(tmp_path: Path) -> None:
    """test10's notice.log has Zeek's SSH::Password_Guessing notice for 222.186.30.112,
    but the line is malformed (proto and note joined by a space, p and n missing), so
    the parser rightly skips it. A copy with the two separators restored is analysed."""
    src = ZEEK / "test10-mixed-zeek-dir"
    lines = (src / "notice.log").read_text().splitlines(keepends=True)
    (i,) = [k for k, line in enumerate(lines) if "SSH::Password_Guessing" in line]
    fields = lines[i].rstrip("\n").split("\t")
    fields[9:10] = fields[9].split(" ", 1)  # "-" (proto), "SSH::Password_Guessing" (note)
    fields[15:15] = ["-", "-"]  # p and n, after dst
    lines[i] = "\t".join(fields) + "\n"
    copy = tmp_path / "zeek"
    copy.mkdir()
    (copy / "notice.log").write_text("".join(lines))
    (copy / "conn.log").write_text((src / "conn.log").read_text())
    result = analyze(str(copy), load_config(None), outdir=tmp_path / "out", keep_findings=True)
    (ev,) = [e for e in result.evidence if e.type == "ssh_password_guessing"]
    assert (ev.attacker, ev.victim, ev.count) == ("222.186.30.112", "147.32.85.117", 30)
    assert ev.threat_level.value == "high" and ev.attack_technique == "T1110.001"
    assert "147.32.85.117 x2, 147.32.81.196" in ev.description


def test_test9_certificates_for_other_names_than_asked(evidence) -> None:  # type: ignore[no-untyped-def]
    # Microsoft certificates (SAN lists from x509.log) served for netflix.com
    evs = evidence("test9-mixed-zeek-dir", "cn_sni_mismatch")
    assert sorted((e.attacker, e.victim) for e in evs) == [
        ("10.0.2.15", "123.33.22.11"),
        ("10.0.2.15", "22.22.33.22"),
    ]
    hit = next(e for e in evs if e.victim == "123.33.22.11")
    assert "server name www.netflix.com" in hit.description
    assert "certificate for www.microsoft.com" in hit.description


def test_test15_certificate_cn_for_another_name(evidence) -> None:  # type: ignore[no-untyped-def]
    # no x509.log: decided on the subject CN; the CDN certificates of the capture stay quiet
    evs = evidence("test15-malicious-zeek-dir", "cn_sni_mismatch")
    assert sorted((e.attacker, e.victim) for e in evs) == [
        ("10.0.2.15", "22.33.22.33"),
        ("10.0.2.15", "52.0.131.132"),
    ]
    assert all("netflix.com" in e.description for e in evs)
