"""simnet scale: 1,000 agents x 1 simulated hour, wall time on one core.

Runs scenarios built in code — no adversaries, and a mix with 10 % liars, each
in two worlds: `sparse` (40 campaigns an hour, each touching 0.3-3 % of the
agents over 300 s: 3-30 agents at N = 1,000) and `default` (the Scenario's
campaign mix, where a scanner sweeps 20-80 % of the fleet: ~20x the reports) —
each in its own fresh Python process (so peak RSS is that run's alone, and no
memoised state carries over), one after the other, and prints per scenario:
wall seconds, CPU seconds, deliveries (message copies handed to an agent's
inbox), deliveries per wall second, and peak RSS. The issue's target is
< 60 s wall on one core for 1,000 agents x 1 simulated hour.

    python bench/simnet_scale.py [--agents 1000] [--duration 3600] [--model starling]
                                 [--seed 1] [--json]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

from _machine import machine  # bench/, on sys.path as the script's directory

from simnet.scenario import Scenario
from simnet.sim import Simulation

MIXES: dict[str, list[dict[str, object]]] = {
    "no adversaries": [],
    "10% liars": [{"kind": "liar", "fraction": 0.1}],
}
WORLDS: dict[str, dict[str, object]] = {
    "sparse": {
        "campaigns": [{"kind": "generic", "per_hour": 40, "exposed": (0.003, 0.03), "spread": 300}]
    },
    "default": {},
}


def run_one(
    agents: int, duration: float, model: str, seed: int, mix: str, world: str
) -> dict[str, object]:
    sc = Scenario.model_validate(
        {
            "name": f"scale-{mix}",
            "agents": agents,
            "duration": duration,
            "seed": seed,
            "model": model,
            "adversaries": MIXES[mix],
            **WORLDS[world],
        }
    )
    wall0, cpu0 = time.perf_counter(), time.process_time()
    result = Simulation(sc).run()
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    m = result.metrics
    rss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return {
        "mix": mix,
        "world": world,
        "agents": agents,
        "duration": duration,
        "model": model,
        "seed": seed,
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        "deliveries": m["deliveries"],
        "deliveries_per_s": round(m["deliveries"] / wall) if wall > 0 else None,
        "iocs_published": m["iocs_published"],
        "peak_rss_mib": round(rss_kib / 1024, 1),
        "block_precision": m["block_precision"],
        "block_recall": m["block_recall"],
        "canary_blocks": m["canary_blocks"],
        "machine": machine(),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--agents", type=int, default=1000)
    ap.add_argument("--duration", type=float, default=3600.0)
    ap.add_argument("--model", default="starling")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", action="store_true", help="print one JSON object per scenario")
    ap.add_argument("--worlds", default="sparse,default", help="comma-separated: sparse,default")
    ap.add_argument("--one", choices=sorted(MIXES), help=argparse.SUPPRESS)
    ap.add_argument("--world", choices=sorted(WORLDS), default="sparse", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.one:  # child process: one run, one JSON line
        row = run_one(args.agents, args.duration, args.model, args.seed, args.one, args.world)
        print(json.dumps(row))
        return 0

    rows = []
    runs = [(w, mix) for w in args.worlds.split(",") if w for mix in MIXES]
    for world, mix in runs:
        cmd = [
            sys.executable,
            __file__,
            "--agents",
            str(args.agents),
            "--duration",
            str(args.duration),
            "--model",
            args.model,
            "--seed",
            str(args.seed),
            "--one",
            mix,
            "--world",
            world,
        ]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        row = json.loads(out.strip().splitlines()[-1])
        rows.append(row)
        if args.json:
            print(json.dumps(row), flush=True)
        else:
            target = "met" if row["wall_s"] < 60 else "NOT met"
            print(
                f"{world:>7} world, {mix:>14}: {row['agents']} agents "
                f"x {row['duration']:.0f} s simulated "
                f"({row['model']}): wall {row['wall_s']:.1f} s, cpu {row['cpu_s']:.1f} s, "
                f"{row['deliveries']:,} deliveries, {row['deliveries_per_s']:,}/s, "
                f"peak RSS {row['peak_rss_mib']:.0f} MiB — < 60 s target {target} "
                f"[{row['machine']['cpu']}]",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
