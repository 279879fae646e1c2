"""Must-trigger rows of the scan/ARP/DNS group, on repo copies of the captures,
through the real analysis (`analyze`, default config: allowlist on)."""

from __future__ import annotations

from pathlib import Path

from agent.analyze import analyze
from agent.config import load_config
from detection.model import Evidence

DATA = Path(__file__).parents[1] / "data" / "captures"


def evidence_of(path: Path, tmp_path: Path, kind: str) -> list[Evidence]:
    result = analyze(str(path), load_config(None), outdir=tmp_path / "out", keep_findings=True)
    assert result.exit_code == 0
    return [e for e in result.evidence if e.type == kind]


def test_argus_test11_icmp_sweep(tmp_path: Path) -> None:
    evs = evidence_of(DATA / "argus" / "test11-portscan.binetflow", tmp_path, "icmp_sweep")
    assert {(e.attacker, e.victim) for e in evs} == {("10.8.0.69", None)}
    # 21 distinct hosts (110.128.128.128-148) by echo request: reported at 6 and 10
    assert [e.count for e in evs] == [6, 10]
    assert all(e.description.startswith("ICMP echo sweep") for e in evs)


def test_argus_test11_vertical_scan(tmp_path: Path) -> None:
    evs = evidence_of(DATA / "argus" / "test11-portscan.binetflow", tmp_path, "vertical_port_scan")
    assert {(e.attacker, e.victim, e.proto) for e in evs} == {("10.8.0.69", "14.1.11.113", "tcp")}
    assert max(e.count or 0 for e in evs) >= 10


def test_zeek_test13_dhcp_scan(tmp_path: Path) -> None:
    path = DATA / "zeek" / "test13-malicious-dhcpscan-zeek-dir"
    evs = evidence_of(path, tmp_path, "dhcp_scan")
    assert {(e.attacker, e.victim) for e in evs} == {("192.168.1.30", "192.168.1.1")}
    assert [e.count for e in evs] == [4, 10]  # 10 different addresses requested


def test_zeek_arp_outside_localnet_and_unsolicited(tmp_path: Path) -> None:
    for name in ("test9-mixed-zeek-dir", "test16-malicious-zeek-dir"):
        path = DATA / "zeek" / name
        outside = evidence_of(path, tmp_path / name / "a", "arp_outside_localnet")
        assert [(e.attacker, e.victim) for e in outside] == [("192.168.1.15", "69.220.152.0")]
        unsolicited = evidence_of(path, tmp_path / name / "b", "unsolicited_arp")
        assert [(e.attacker, e.victim) for e in unsolicited] == [("192.168.1.15", None)]


def test_zeek_test10_high_entropy_txt_answer(tmp_path: Path) -> None:
    path = DATA / "zeek" / "test10-mixed-zeek-dir"
    evs = evidence_of(path, tmp_path, "high_entropy_dns_answer")
    # the Samsung printer's mDNS TXT announcement (1185 chars, 5.35 bits/char)
    assert [(e.attacker, e.victim) for e in evs] == [("147.32.83.181", None)]
    assert "5.35 bits/char" in evs[0].description


def test_zeek_test14_gre_tunnel(tmp_path: Path) -> None:
    evs = evidence_of(DATA / "zeek" / "test14-malicious-zeek-dir", tmp_path, "gre_tunnel")
    assert [(e.attacker, e.victim) for e in evs] == [("10.0.2.15", "115.112.11.30")]
    assert evs[0].uids == ("Ce7DDl4hF9uVVFk8qh",)


def test_zeek_scan_notices(tmp_path: Path) -> None:
    """Zeek's Address_Scan notices (test10) and Slips' ICMP scan notices (test9)."""
    evs = evidence_of(DATA / "zeek" / "test10-mixed-zeek-dir", tmp_path / "a", "zeek_scan_notice")
    assert {(e.attacker, e.victim, e.dport) for e in evs} == {
        ("147.32.83.156", None, 23),
        ("147.32.83.156", None, 2323),
        ("147.32.83.156", None, 8080),
    }
    evs = evidence_of(DATA / "zeek" / "test9-mixed-zeek-dir", tmp_path / "b", "zeek_scan_notice")
    assert {e.attacker for e in evs} == {"192.168.1.15"}
    kinds = {e.description.split("(")[1].split(")")[0] for e in evs}
    assert kinds == {"ICMP echo sweep", "ICMP timestamp sweep", "ICMP address-mask sweep"}
