"""Must-show detections on repo copies of Slips' captures, through the real pipeline."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.analyze import analyze
from agent.config import load_config
from detection.model import Evidence

DATA = Path(__file__).parents[1] / "data" / "captures"


def evidence_of(path: Path, tmp_path: Path) -> list[Evidence]:
    result = analyze(str(path), load_config(None), outdir=tmp_path / "out", keep_findings=True)
    assert result.exit_code == 0
    return result.evidence


def test_argus_test4_horizontal_scan_81(tmp_path: Path) -> None:
    evs = evidence_of(DATA / "argus" / "test4-malicious.binetflow", tmp_path)
    scans = [e for e in evs if e.type == "horizontal_port_scan" and e.dport == 81]
    assert scans, evs
    assert {e.attacker for e in scans} == {"192.168.2.12"}
    assert {e.proto for e in scans} == {"tcp"}
    assert all("0 answered" in e.description for e in scans)


def test_argus_test3_horizontal_scan_3389(tmp_path: Path) -> None:
    evs = evidence_of(DATA / "argus" / "test3-mixed.binetflow", tmp_path)
    scans = [e for e in evs if e.type == "horizontal_port_scan" and e.dport == 3389]
    assert {e.attacker for e in scans} == {"46.166.151.160"}
    assert max(e.count or 0 for e in scans) >= 10


def test_zeek_horizontal_scan_80(tmp_path: Path) -> None:
    evs = evidence_of(DATA / "zeek" / "port-scans" / "horizontal" / "conn.log", tmp_path)
    scans = [e for e in evs if e.type == "horizontal_port_scan"]
    assert {(e.attacker, e.dport, e.proto) for e in scans} == {("10.0.2.112", 80, "tcp")}


def test_zeek_vertical_scan(tmp_path: Path) -> None:
    evs = evidence_of(DATA / "zeek" / "port-scans" / "vertical" / "conn.log", tmp_path)
    scans = [e for e in evs if e.type == "vertical_port_scan"]
    assert {(e.attacker, e.victim) for e in scans} == {("192.168.1.9", "45.33.32.156")}
    assert all(e.uids for e in scans)


def test_argus_test2_long_connections(tmp_path: Path) -> None:
    result = analyze(
        str(DATA / "argus" / "test2-malicious.binetflow.gz"),
        load_config(None, {"allowlist.enabled": False}),
        outdir=tmp_path / "out",
        keep_findings=True,
    )
    longs = [e for e in result.evidence if e.type == "long_connection"]
    # 50 flows last longer than 1500 s; evidence is grouped per (src, dst, port, window)
    # with stepped re-reporting, so every long flow is accounted for in some count.
    assert longs
    assert all(e.victim and e.attacker for e in longs)
    described = [float(e.description.split(": ")[1].split(" s")[0]) for e in longs]
    assert min(described) > 1500


@pytest.mark.parametrize(
    "path",
    sorted(p for p in DATA.rglob("*") if p.is_file() and p.parent.name != "test9-mixed-zeek-dir"),
    ids=lambda p: str(p.relative_to(DATA)),
)
def test_every_capture_file_parses_without_crash(path: Path, tmp_path: Path) -> None:
    result = analyze(str(path), load_config(None), outdir=tmp_path / "out")
    s = result.summary
    # Known exceptions: logs of kinds Starling does not analyse are counted skips.
    if s["records"] == 0:
        assert s["lines_skipped"] > 0 and s["skipped_by_reason"]
        assert result.exit_code == 1
    else:
        assert result.exit_code == 0
    assert (tmp_path / "out" / "summary.json").exists()


@pytest.mark.parametrize(
    "name", sorted(p.name for p in (DATA / "zeek").iterdir() if p.name.startswith("test"))
)
def test_every_zeek_directory_parses(name: str, tmp_path: Path) -> None:
    result = analyze(str(DATA / "zeek" / name), load_config(None), outdir=tmp_path / "out")
    assert result.exit_code == 0
    s = result.summary
    # Each skip is explained by a reason; nothing unexplained.
    assert sum(s["skipped_by_reason"].values()) == s["lines_skipped"]
