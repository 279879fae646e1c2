"""The output directory: every documented file, every documented key."""

from __future__ import annotations

from pathlib import Path

import orjson

from agent.analyze import analyze
from agent.config import load_config

CAPTURE = Path(__file__).parents[1] / "data" / "captures" / "argus" / "test4-malicious.binetflow"
REQUIRED = {
    "type",
    "attacker",
    "victim",
    "threat_level",
    "confidence",
    "timewindow",
    "ts",
    "description",
    "uids",
    "source",
}
IDMEF_REQUIRED = {
    "Version",
    "ID",
    "CreateTime",
    "Category",
    "Description",
    "Status",
    "Severity",
    "Confidence",
    "Analyzer",
    "Source",
}


def lines(path: Path) -> list[dict[str, object]]:
    return [orjson.loads(x) for x in path.read_bytes().splitlines()]


def run(tmp_path: Path, **overrides: object) -> Path:
    out = tmp_path / "out"
    analyze(str(CAPTURE), load_config(None, dict(overrides)), outdir=out)
    return out


def test_output_files_exist_and_agree(tmp_path: Path) -> None:
    out = run(tmp_path, **{"alerts.threshold": 2.0})
    for name in (
        "alerts.json",
        "alerts.log",
        "eve.json",
        "summary.json",
        "errors.log",
        "starling.db",
    ):
        assert (out / name).exists(), name
    records = lines(out / "alerts.json")
    eve = lines(out / "eve.json")
    human = (out / "alerts.log").read_text().splitlines()
    summary = orjson.loads((out / "summary.json").read_bytes())
    assert len(records) == len(eve) == len(human) == summary["evidence"] + summary["alerts"]
    assert summary["alerts"] >= 1
    kinds = {r["record"] for r in records}
    assert kinds == {"evidence", "alert"}


def test_alerts_json_is_idmef_with_flat_keys(tmp_path: Path) -> None:
    out = run(tmp_path, **{"alerts.threshold": 2.0})
    for r in lines(out / "alerts.json"):
        assert r.keys() >= REQUIRED
        assert r.keys() >= IDMEF_REQUIRED
        assert r["Version"] == "2.0.3"
        assert r["Status"] == ("Incident" if r["record"] == "alert" else "Event")
        assert str(r["source"]).startswith("local:")
        assert r["uids"]
        assert r["Source"] == [{"IP": r["attacker"]}]
        assert 0 <= float(r["confidence"]) <= 1  # type: ignore[arg-type]


def test_eve_json_is_suricata_alert_shape(tmp_path: Path) -> None:
    out = run(tmp_path)
    for e in lines(out / "eve.json"):
        assert e["event_type"] == "alert"
        alert = e["alert"]
        assert isinstance(alert, dict)
        assert {
            "signature_id",
            "signature",
            "severity",
            "category",
            "action",
            "gid",
            "rev",
        } <= alert.keys()
        assert alert["severity"] in (1, 2, 3, 4)
        assert str(e["timestamp"]).endswith("+00:00")
    scans = [e for e in lines(out / "eve.json") if e.get("dest_port") == 81]
    assert scans and all(s["src_ip"] == "192.168.2.12" and s["proto"] == "TCP" for s in scans)
    # Signature ids are stable per evidence type.
    assert len({s["alert"]["signature_id"] for s in scans}) == 1  # type: ignore[index]


def test_summary_accounts_for_everything(tmp_path: Path) -> None:
    out = run(tmp_path)
    s = orjson.loads((out / "summary.json").read_bytes())
    keys = ("flows", "lines_skipped", "skipped_by_reason", "profiles", "evidence_by_type",
            "alerts", "seconds", "flows_per_second", "dropped", "records_by_type")  # fmt: skip
    for key in keys:
        assert key in s, key
    assert s["flows"] == 392 and s["skipped_by_reason"] == {"argus_non_ip": 2}
    assert s["store"]["evidence"] == s["evidence"]
    assert s["profiles"] == 3


def test_iso_never_raises() -> None:
    from agent.outputs.formats import iso

    assert iso(0.0) == "1970-01-01T00:00:00.000000+00:00"
    assert iso(1704067201.5) == "2024-01-01T00:00:01.500000+00:00"
    for ts in (1e15, -1e15, float("inf"), float("-inf"), float("nan"), 2.0**70, -(2.0**70)):
        assert iso(ts)[:4] in ("9999", "0001", "1970"), ts
