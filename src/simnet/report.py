"""Scenario reports: a metrics table (Markdown + JSON) and PNG plots, from one run."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from simnet.sim import SimResult

__all__ = ["write_report"]


def write_report(result: SimResult, outdir: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    outdir.mkdir(parents=True, exist_ok=True)
    m = result.metrics
    written = []
    (outdir / "metrics.json").write_text(json.dumps(m, indent=2, default=str) + "\n")
    rows = "\n".join(f"| {k} | {v} |" for k, v in m.items())
    title = f"# simnet: {result.scenario.name} (model {m['model']}, seed {m['seed']})"
    table = f"{title}\n\n| metric | value |\n|---|---|\n{rows}\n"
    (outdir / "report.md").write_text(
        table + "\n![reputation](reputation.png)\n![time to block](time_to_block.png)\n"
    )
    written += [outdir / "metrics.json", outdir / "report.md"]

    fig, ax = plt.subplots(figsize=(6, 3.5))
    ts = [t / 60 for t, _, _ in result.reputation_samples]
    ax.plot(ts, [h for _, h, _ in result.reputation_samples], label="honest peers")
    ax.plot(ts, [m_ for _, _, m_ in result.reputation_samples], label="malicious identities")
    ax.set_xlabel("simulated minutes")
    ax.set_ylabel("mean reputation (honest observers)")
    ax.set_ylim(0, 1)
    ax.legend()
    fig.tight_layout()
    fig.savefig(outdir / "reputation.png", dpi=100)
    plt.close(fig)
    written.append(outdir / "reputation.png")

    fig, ax = plt.subplots(figsize=(6, 3.5))
    first: dict[tuple[int, str], float] = {}
    for t, i, ip, _, mal in result.block_log:
        if mal:
            first.setdefault((i, ip), t)
    times = sorted(t / 60 for t in first.values())
    ax.plot(times, range(1, len(times) + 1))
    ax.set_xlabel("simulated minutes")
    ax.set_ylabel("attacker blocks by honest agents")
    fig.tight_layout()
    fig.savefig(outdir / "time_to_block.png", dpi=100)
    plt.close(fig)
    written.append(outdir / "time_to_block.png")
    return written


def summarise(results: list[dict[str, Any]], keys: list[str]) -> dict[str, Any]:
    """Mean of each metric over seeds (NaN/None skipped)."""
    out: dict[str, Any] = {}
    for k in keys:
        vals = [r[k] for r in results if isinstance(r.get(k), int | float) and not math.isnan(r[k])]
        out[k] = round(sum(vals) / len(vals), 4) if vals else None
    return out
