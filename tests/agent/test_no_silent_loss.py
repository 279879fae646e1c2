"""No silent loss under load: N shifted copies of one capture give N copies of its evidence.

(Slips, run on 26 copies of one capture, produced no evidence at all for the
last 10 copies and reported nothing. Starling reads no faster than it analyses,
so it cannot fall behind offline; this test would catch any future shedding.)
"""

from __future__ import annotations

import ipaddress
from collections import Counter
from pathlib import Path

from agent.analyze import analyze
from agent.config import load_config

CAPTURE = (
    Path(__file__).parents[1]
    / "data"
    / "captures"
    / "zeek"
    / "port-scans"
    / "horizontal"
    / "conn.log"
)
COPIES = 300


def shift_ip(ip: str, k: int) -> str:
    return str(ipaddress.IPv4Address(int(ipaddress.IPv4Address(ip)) + (k << 16)))


def replay(dst: Path, copies: int) -> None:
    lines = CAPTURE.read_text().splitlines()
    header = [x for x in lines if x.startswith("#") and not x.startswith("#close")]
    data = [x.split("\t") for x in lines if not x.startswith("#")]
    with dst.open("w") as out:
        out.write("\n".join(header) + "\n")
        for k in range(copies):
            for f in data:
                g = list(f)
                g[0] = f"{float(f[0]) + k * 7200:.6f}"  # two windows apart
                g[1] = f"{f[1]}k{k}"
                g[2] = shift_ip(f[2], k)
                g[4] = shift_ip(f[4], k)
                out.write("\t".join(g) + "\n")


def signature(evidence: list[object], k: int | None = None) -> Counter[tuple[object, ...]]:
    return Counter((e.type, e.count, e.dport, e.proto) for e in evidence)  # type: ignore[attr-defined]


def test_every_copy_yields_exactly_one_copy_of_evidence(tmp_path: Path) -> None:
    # Shifted addresses can land in a big provider's ranges, which some detectors (and
    # the allowlist) rightly treat differently; without organisation data every copy
    # must give exactly the same evidence.
    (tmp_path / "no-orgs").mkdir()
    cfg = load_config(
        None,
        {
            "allowlist.enabled": False,
            "reference_data.organizations_dir": str(tmp_path / "no-orgs"),
        },
    )
    single = analyze(str(CAPTURE), cfg, outdir=tmp_path / "one", keep_findings=True)
    assert single.evidence
    log = tmp_path / "conn.log"
    replay(log, COPIES)
    many = analyze(str(log), cfg, outdir=tmp_path / "many", keep_findings=True)
    assert many.summary["flows"] == 41 * COPIES
    assert many.summary["dropped"] == 0
    assert many.summary["lines_skipped"] == 0
    by_attacker: dict[str, list[object]] = {}
    for e in many.evidence:
        by_attacker.setdefault(e.attacker, []).append(e)
    expected = signature(single.evidence)  # type: ignore[arg-type]
    assert len(by_attacker) == COPIES
    for k in range(COPIES):
        attacker = shift_ip("10.0.2.112", k)
        assert signature(by_attacker[attacker]) == expected, f"copy {k}"
    # the store holds the same
    assert many.summary["store"]["evidence"] == len(single.evidence) * COPIES
