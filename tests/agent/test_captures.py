"""Must-show detections on repo copies of Slips' captures, through the real pipeline."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from agent.analyze import analyze, iter_records
from agent.config import load_config
from agent.store.sqlite import SqliteStore
from detection.heuristics.base import is_multicast_or_broadcast, report_due
from detection.model import Evidence, Flow

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
    path = DATA / "argus" / "test2-malicious.binetflow.gz"
    result = analyze(
        str(path),
        load_config(None, {"allowlist.enabled": False}),
        outdir=tmp_path / "out",
        keep_findings=True,
    )
    longs = [e for e in result.evidence if e.type == "long_connection"]
    # Expected from the flows themselves: every flow longer than 1500 s, except to
    # multicast/broadcast (ignored by design; the allowlist is off here).
    flows = [r for r in iter_records(str(path)) if isinstance(r, Flow)]
    long_flows = Counter(
        (f.saddr, f.daddr, f.dport, int(f.ts // 3600))
        for f in flows
        if f.duration > 1500 and not is_multicast_or_broadcast(f.daddr)
    )
    assert sum(long_flows.values()) == 49  # 50 long flows, one to 239.255.255.250
    assert {(e.attacker, e.victim) for e in longs} == {(k[0], k[1]) for k in long_flows}
    # Evidence is one per (src, dst, port, window), re-reported at 10, 100, … long
    # flows: so each key's last count is the last report point its flows reached.
    last_count: dict[tuple[str, str, int | None, int], int] = {}
    for e in longs:
        key = (e.attacker, e.victim or "", e.dport, e.timewindow)
        last_count[key] = max(last_count.get(key, 0), e.count or 0)
    assert set(last_count) == set(long_flows)
    for key, n in long_flows.items():
        reported = [k for k in range(1, n + 1) if report_due(k, 1, (10, 100, 1000))]
        assert last_count[key] == reported[-1], key
    assert all(float(e.description.split(": ")[1].split(" s")[0]) > 1500 for e in longs)
    uids = {f.uid for f in flows if f.duration > 1500}
    assert all(set(e.uids) <= uids for e in longs)


def test_out_of_order_suricata_profiles_account_for_every_flow(tmp_path: Path) -> None:
    """Late records re-open closed windows; the stored summary must be the merged total."""
    result = analyze(
        str(DATA / "suricata" / "test6-malicious.suricata.json.gz"),
        load_config(None, {"allowlist.enabled": False}),
        outdir=tmp_path / "out",
    )
    s = result.summary
    assert s["late_records"] > 1000  # the capture really is out of order
    with SqliteStore(tmp_path / "out" / "starling.db") as store:
        profiles = []
        while batch := store.profiles(limit=1000, offset=len(profiles)):
            profiles.extend(batch)
    assert sum(p.flows_out for p in profiles) == s["flows"]
    assert s["late_profile_updates_dropped"] == 0


@pytest.mark.parametrize(
    "path",
    sorted(p for p in DATA.rglob("*") if p.is_file()),
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
