"""Must-trigger rows of threat intelligence on repo copies of Slips' captures,
through the real `analyze` with the shipped local JA3 file (no feed downloaded:
an empty cache directory)."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.analyze import analyze
from agent.config import load_config
from detection.model import Evidence

ZEEK = Path(__file__).parents[1] / "data" / "captures" / "zeek"


def run(name: str, tmp_path: Path) -> list[Evidence]:
    config = load_config(None, {"intel.cache_dir": str(tmp_path / "cache")})
    result = analyze(str(ZEEK / name), config, outdir=tmp_path / "out", keep_findings=True)
    assert result.exit_code == 0
    return [e for e in result.evidence if e.type == "threat_intel_tls"]


def test_test9_malicious_ja3s_to_123_33_22_11(tmp_path: Path) -> None:
    evs = run("test9-mixed-zeek-dir", tmp_path)
    ja3s = [e for e in evs if "JA3S" in e.description]
    assert [(e.attacker, e.victim) for e in ja3s] == [("123.33.22.11", "10.0.2.15")]
    assert "e7d705a3286e19ea42f587b344ee6865" in ja3s[0].description
    assert "Standard tor client" in ja3s[0].description
    # test9 also carries the Trickbot client fingerprint (to 22.22.33.22)
    assert sorted((e.attacker, e.victim) for e in evs) == [
        ("10.0.2.15", "22.22.33.22"),
        ("123.33.22.11", "10.0.2.15"),
    ]


def test_test15_malicious_ja3_from_10_0_2_15(tmp_path: Path) -> None:
    evs = run("test15-malicious-zeek-dir", tmp_path)
    assert [(e.attacker, e.victim) for e in evs] == [("10.0.2.15", "22.33.22.33")]
    assert "6734f37431670b3ab4292b8f60f29984" in evs[0].description
    assert "Trickbot" in evs[0].description and str(evs[0].threat_level) == "high"


@pytest.mark.parametrize("name", ["test10-mixed-zeek-dir", "test14-malicious-zeek-dir"])
def test_no_ja3_finding_where_none_is_listed(name: str, tmp_path: Path) -> None:
    assert run(name, tmp_path) == []
