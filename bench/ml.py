"""Cost of the ML detectors: core throughput (bench/throughput.py) with ML on and off.

Runs bench/throughput.py on the same workload twice — once with both ML
detectors enabled in a config file (they are opt-in; the shipped models are
loaded), once with both disabled — alternating, `--repeat` times, and
prints flows per CPU-second of each run and the median ratio (docs/ml.md).

    python bench/ml.py [--flows 1000000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(flows: int, workdir: Path, extra: list[str]) -> dict[str, object]:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "throughput.py"), "--flows", str(flows),
         "--workdir", str(workdir), "--", *extra],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return json.loads(proc.stdout)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--flows", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--workdir", type=Path, default=ROOT / "bench" / "out")
    args = ap.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    cfg = {}
    for state in ("on", "off"):
        cfg[state] = args.workdir / f"ml-{state}.yaml"
        flag = "true" if state == "on" else "false"
        cfg[state].write_text(
            f"detectors:\n  ml_flow_classifier:\n    enabled: {flag}\n"
            f"  ml_cc_letters:\n    enabled: {flag}\n"
        )
    on, off = [], []
    for _ in range(args.repeat):
        r_on = run(args.flows, args.workdir, ["-c", str(cfg["on"])])
        r_off = run(args.flows, args.workdir, ["-c", str(cfg["off"])])
        on.append(r_on["flows_per_cpu_second"])
        off.append(r_off["flows_per_cpu_second"])
        ml = {k: v for k, v in r_on["evidence_by_type"].items() if k.startswith("ml_")}
        print(f"on {r_on['flows_per_cpu_second']:>8,} flows/CPU-s ({ml})   "
              f"off {r_off['flows_per_cpu_second']:>8,} flows/CPU-s")  # fmt: skip
    print(json.dumps({
        "flows": args.flows,
        "ml_on_flows_per_cpu_second": on,
        "ml_off_flows_per_cpu_second": off,
        "median_on": statistics.median(on),
        "median_off": statistics.median(off),
        "median_ratio_on_to_off": round(statistics.median(on) / statistics.median(off), 3),
    }, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
