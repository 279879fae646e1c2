"""simnet table: scenarios x trust models x seeds, as the Markdown of docs/trust.md.

The grid is explicit here, built from `simnet.scenario.Scenario` in code (every
key not set below takes the Scenario default: 1 simulated hour from a cold
start, the default campaign mix of `simnet.scenario.DEFAULT_CAMPAIGNS`, 5
canaries, detector TPR 0.9 / FPR 0.001, 30 ms mean latency, 1 % loss, a lie
every 60 s per adversary):

* group `n50` — every scenario of SCENARIOS x every model, N = 50;
* group `n200` — the N200_SCENARIOS rows x every model, N = 200;
* group `steady` — N = 200, STEADY_SCENARIOS x STEADY_MODELS, 2 simulated
  hours of which the first is warm-up (recall and time to block count the
  campaigns of the second hour: agents that have run for an hour, as deployed
  agents have);
* group `sparse` — N = 200, colluders 50 %, in the SPARSE world (every
  campaign slow and narrow: 40 an hour, 300 s, 1.5-15 % of agents), where
  reputations form far slower;
* group `fides-cell` — colluders 50 % at N = 50 with 25 % pre-trusted honest
  peers, for starling, eigentrust and fides (the cell in which Fides was
  published to work);
* group `joining` — N = 200, JOINING_SCENARIOS x STEADY_MODELS: the adversaries
  begin to act after the mesh has run for an hour without them
  (`adversary_start` 3600 s; 1.5 simulated hours, the first hour warm-up), so
  `liar_rep_at_20` is their reputation at their 20th report in a mesh whose
  honest agents already trust each other.

Each run appends one JSON line (its metrics plus a few extras computed here
from the finished simulation, and its CPU seconds) to
`bench/out/simnet/<group>.jsonl`; the tables (mean over seeds, min-max where it
matters, canary blocks summed) go to stdout and `bench/out/simnet/table.md`.

Extras computed from the finished simulation (not in `simnet.metrics`):

* `peer_true_blocks` / `peer_false_blocks` — honest blocks made on peer
  evidence (via "peers") of attacker / benign IPs;
* `trusted_peers_end` (starling only) — mean number of peers an honest agent
  holds at weight >= min_weight at the end of the run;
* `liar_rep_at_20` — mean reputation of the malicious identities in the
  honest observers' books at t = adversary_start + 20 x lie_interval (every
  liar has sent exactly 20 reports then); only for liar / colluder / slanderer
  mixes.

    python bench/simnet_table.py [--jobs 1] [--seeds 5]
                                 [--groups n50,n200,steady,sparse,fides-cell,joining]
                                 [--scenarios a,b] [--models a,b]
                                 [--n200-scenarios a,b] [--n200-models a,b] [--render-only]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import multiprocessing as mp
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from simnet.scenario import Scenario
from simnet.sim import Simulation

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out" / "simnet"

MODELS = ["starling", "none", "trust-all", "majority", "k-reporters", "eigentrust", "fides"]

# name -> adversary mix ({kind: fraction})
SCENARIOS: dict[str, dict[str, float]] = {
    "none": {},
    "liar-30": {"liar": 0.3},
    "colluder-30": {"colluder": 0.3},
    "colluder-50": {"colluder": 0.5},
    "selective_liar-30": {"selective_liar": 0.3},
    "traitor-30": {"traitor": 0.3},
    "slanderer-30": {"slanderer": 0.3},
    "sybil-20": {"sybil": 0.2},
    "whitewasher-30": {"whitewasher": 0.3},
    "spammer-10": {"spammer": 0.1},
    "replayer-20": {"replayer": 0.2},
}
N200_SCENARIOS = ["colluder-50", "liar-30"]
STEADY_SCENARIOS = ["colluder-50", "selective_liar-30", "traitor-30"]
STEADY_MODELS = ["starling", "none", "fides"]  # (EigenTrust: ~250 CPU-s a run here)
SPARSE = [{"kind": "generic", "per_hour": 40, "exposed": (0.015, 0.15), "spread": 300}]
JOINING_SCENARIOS = ["liar-30", "colluder-50", "selective_liar-30"]
GROUPS = ["n50", "n200", "steady", "sparse", "fides-cell", "joining"]
LIAR_KINDS = {"liar", "colluder", "slanderer"}

METRICS = [
    # key, header, kind: "range" = mean (min-max), "mean", "sum", "time" (inf-aware)
    ("block_precision", "precision", "range"),
    ("block_recall", "recall", "range"),
    ("network_recall", "net recall", "mean"),
    ("canary_blocks", "canary blocks (sum)", "sum"),
    ("time_to_block_p50", "ttb p50 s", "time"),
    ("time_to_block_p90", "ttb p90 s", "time"),
    ("within_10s", "blocked ≤10 s", "mean"),
    ("time_to_lift_false_block_p50", "lift p50 s", "time"),
    ("reputation_auc", "rep AUC", "mean"),
    ("liar_reputation", "liar rep (end)", "mean"),
    ("liar_rep_at_20", "liar rep @20", "mean"),
    ("traitor_detection_delay", "traitor delay s", "time"),
    ("messages_per_ioc", "msgs/IoC/agent", "mean"),
    ("tdp", "tdp", "mean"),
]


def _spec(group: str, scenario: str, agents: int, model: str, seed: int,
          pretrusted: float, **extra: Any) -> dict[str, Any]:  # fmt: skip
    return {"group": group, "scenario": scenario, "agents": agents, "model": model,
            "seed": seed, "pretrusted_fraction": pretrusted, **extra}  # fmt: skip


def runs_for(groups: list[str], seeds: int, scen: list[str], models: list[str],
             n200_scen: list[str], n200_models: list[str]) -> list[dict[str, Any]]:  # fmt: skip
    seed_list = range(1, seeds + 1)
    runs: list[dict[str, Any]] = []  # the longest first: workers finish together
    if "n200" in groups:
        for name in n200_scen:
            runs += [_spec("n200", name, 200, m, s, 0.0) for m in n200_models for s in seed_list]
    if "steady" in groups:
        for name in STEADY_SCENARIOS:
            runs += [
                _spec("steady", name, 200, m, s, 0.0, duration=7200.0, warmup=3600.0)
                for m in STEADY_MODELS
                for s in seed_list
            ]
    if "sparse" in groups:
        runs += [
            _spec("sparse", "colluder-50", 200, m, s, 0.0, world="sparse")
            for m in STEADY_MODELS
            for s in seed_list
        ]
    if "joining" in groups:
        for name in JOINING_SCENARIOS:
            runs += [
                _spec(
                    "joining",
                    name,
                    200,
                    m,
                    s,
                    0.0,
                    duration=5400.0,
                    warmup=3600.0,
                    adversary_start=3600.0,
                )
                for m in STEADY_MODELS
                for s in seed_list
            ]
    if "fides-cell" in groups:
        for m in ["starling", "eigentrust", "fides"]:
            runs += [_spec("fides-cell", "colluder-50", 50, m, s, 0.25) for s in seed_list]
    if "n50" in groups:
        for name in scen:
            runs += [_spec("n50", name, 50, m, s, 0.0) for m in models for s in seed_list]
    return runs


def _code_digest() -> str:
    """Hash of the simulator, trust and p2p sources the runs used (provenance)."""
    h = hashlib.sha256()
    for pkg in ("simnet", "trust", "p2p"):
        for f in sorted((ROOT / "src" / pkg).rglob("*.py")):
            h.update(f.relative_to(ROOT).as_posix().encode())
            h.update(f.read_bytes())
    return h.hexdigest()[:12]


def _extras(sim: Any) -> dict[str, Any]:
    kinds = {a.kind for a in sim.agents if not a.honest}
    rep20 = None
    if kinds and kinds <= LIAR_KINDS:
        at = sim.s.adversary_start + 20 * sim.s.lie_interval  # their 20th report
        for t, _, mal in sim.rep_samples:
            if t >= at - 1e-9:
                rep20 = None if math.isnan(mal) else round(mal, 4)
                break
    peer_true = sum(1 for *_, via, mal in sim.block_log if via == "peers" and mal)
    peer_false = sum(1 for *_, via, mal in sim.block_log if via == "peers" and not mal)
    trusted = None
    honest = [a for a in sim.agents if a.honest]
    if honest and hasattr(honest[0].model, "book"):  # starling: peers an agent would count
        ids = [b.identity.peer_id for b in sim.agents]
        min_w = honest[0].model.params.min_weight
        held = [
            sum(
                1
                for p in ids
                if p != a.identity.peer_id and a.model.book.weight(p, sim.now) >= min_w
            )
            for a in honest
        ]
        trusted = round(sum(held) / len(held), 2)
    return {
        "liar_rep_at_20": rep20,
        "peer_true_blocks": peer_true,
        "peer_false_blocks": peer_false,
        "trusted_peers_end": trusted,
    }


def run_one(spec: dict[str, Any]) -> dict[str, Any]:
    sc = Scenario.model_validate(
        {
            "name": spec["scenario"],
            "agents": spec["agents"],
            "seed": spec["seed"],
            "model": spec["model"],
            "pretrusted_fraction": spec["pretrusted_fraction"],
            "adversaries": [
                {"kind": k, "fraction": f} for k, f in SCENARIOS[spec["scenario"]].items()
            ],
            "duration": spec.get("duration", 3600.0),
            "warmup": spec.get("warmup", 0.0),
            "adversary_start": spec.get("adversary_start", 0.0),
            **({"campaigns": SPARSE} if spec.get("world") == "sparse" else {}),
        }
    )
    cpu0, wall0 = time.process_time(), time.perf_counter()
    sim = Simulation(sc)
    result = sim.run()
    row = dict(spec)
    row.update(result.metrics)
    row.update(_extras(sim))
    row["cpu_s"] = round(time.process_time() - cpu0, 2)
    row["wall_s"] = round(time.perf_counter() - wall0, 2)
    return row


def _enc(x: Any) -> Any:
    return "inf" if isinstance(x, float) and math.isinf(x) else x


def _dec(x: Any) -> Any:
    return math.inf if x == "inf" else x


# -- rendering ----------------------------------------------------------------------------------


def _fmt(x: float) -> str:
    if math.isinf(x):
        return "∞"
    if abs(x) >= 100:
        return f"{x:.0f}"
    if abs(x) >= 10:
        return f"{x:.1f}"
    if abs(x) >= 1:
        return f"{x:.2f}"
    return f"{x:.3f}"


def cell(rows: list[dict[str, Any]], key: str, kind: str) -> str:
    vals = [r.get(key) for r in rows]
    nums = [v for v in vals if isinstance(v, int | float) and not math.isnan(v)]
    if not nums:
        return "–"
    if kind == "sum":
        return str(int(sum(nums)))
    finite = [v for v in nums if not math.isinf(v)]
    if kind == "time":
        n_inf = len(nums) - len(finite)
        if not finite:
            return "∞"
        s = _fmt(sum(finite) / len(finite))
        if n_inf:
            s += f" (∞ in {n_inf}/{len(nums)})"
        elif len(nums) < len(vals):
            s += f" ({len(nums)}/{len(vals)})"
        return s
    mean = sum(nums) / len(nums)
    s = _fmt(mean)
    if kind == "range" and len(nums) > 1 and max(nums) - min(nums) >= 0.0005:
        s += f" ({_fmt(min(nums))}–{_fmt(max(nums))})"
    return s


def render(rows: list[dict[str, Any]]) -> str:
    out: list[str] = []
    header = "| model | " + " | ".join(h for _, h, _ in METRICS) + " |"
    sep = "|---|" + "---|" * len(METRICS)
    keyset = sorted(
        {(r["group"], r["agents"], r["pretrusted_fraction"], r["scenario"]) for r in rows},
        key=lambda k: (
            GROUPS.index(k[0]),
            list(SCENARIOS).index(k[3]),
        ),
    )
    for group, n, pre, scen in keyset:
        sel = [
            r
            for r in rows
            if (r["group"], r["agents"], r["pretrusted_fraction"], r["scenario"])
            == (group, n, pre, scen)
        ]
        seeds = sorted({r["seed"] for r in sel})
        mix = ", ".join(f"{int(f * 100)} % {k}" for k, f in SCENARIOS[scen].items()) or "none"
        pre_s = f", {int(pre * 100)} % pre-trusted" if pre else ", no pre-trust"
        label = {
            "steady": " [steady state: 2nd hour]",
            "sparse": " [sparse world]",
            "joining": " [adversaries join an hour-old mesh]",
        }.get(group, "")
        out.append(f"#### {scen}{label} — N = {n}{pre_s}; adversaries: {mix}; seeds {seeds}\n")
        out.append(header)
        out.append(sep)
        models = [m for m in MODELS if any(r["model"] == m for r in sel)]
        for m in models:
            mr = [r for r in sel if r["model"] == m]
            out.append(f"| {m} | " + " | ".join(cell(mr, k, kind) for k, _, kind in METRICS) + " |")
        out.append("")
    return "\n".join(out)


def render_summary(rows: list[dict[str, Any]]) -> str:
    """Scenario x model matrix per group: mean precision / mean recall, canary blocks."""
    out: list[str] = []
    for group in GROUPS:
        sel = [r for r in rows if r["group"] == group]
        if not sel:
            continue
        n = sel[0]["agents"]
        pre = sel[0]["pretrusted_fraction"]
        models = [m for m in MODELS if any(r["model"] == m for r in sel)]
        scen = [s for s in SCENARIOS if any(r["scenario"] == s for r in sel)]
        pre_s = f", {int(pre * 100)} % pre-trusted" if pre else ", no pre-trust"
        out.append(f"#### {group}: N = {n}{pre_s} — precision / recall [canary blocks]\n")
        out.append("| scenario | " + " | ".join(models) + " |")
        out.append("|---|" + "---|" * len(models))
        for sc in scen:
            cells = []
            for m in models:
                mr = [r for r in sel if r["scenario"] == sc and r["model"] == m]
                if not mr:
                    cells.append("")
                    continue
                c = f"{cell(mr, 'block_precision', 'mean')} / {cell(mr, 'block_recall', 'mean')}"
                canary = cell(mr, "canary_blocks", "sum")
                cells.append(c + (f" [{canary}]" if canary not in ("0", "–") else ""))
            out.append(f"| {sc} | " + " | ".join(cells) + " |")
        out.append("")
    return "\n".join(out)


def load(groups: list[str]) -> list[dict[str, Any]]:
    rows = []
    for g in groups:
        f = OUT / f"{g}.jsonl"
        if f.exists():
            for line in f.read_text().splitlines():
                if line.strip():
                    rows.append({k: _dec(v) for k, v in json.loads(line).items()})
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--jobs", type=int, default=1, help="worker processes (default 1)")
    ap.add_argument("--seeds", type=int, default=5, help="seeds 1..N per cell (default 5)")
    ap.add_argument("--groups", default=",".join(GROUPS))
    ap.add_argument("--scenarios", default=",".join(SCENARIOS))
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--n200-scenarios", default=",".join(N200_SCENARIOS))
    ap.add_argument("--n200-models", default=",".join(MODELS))
    ap.add_argument("--steady-scenarios", default=",".join(STEADY_SCENARIOS))
    ap.add_argument("--steady-models", default=",".join(STEADY_MODELS))
    ap.add_argument("--append", action="store_true", help="append to the JSONL, not replace")
    ap.add_argument("--render-only", action="store_true", help="re-render the existing JSONL")
    args = ap.parse_args(argv)
    groups = [g for g in args.groups.split(",") if g]
    scen = [s for s in args.scenarios.split(",") if s]
    n200_scen = [s for s in args.n200_scenarios.split(",") if s]
    for name in scen + n200_scen:
        if name not in SCENARIOS:
            ap.error(f"unknown scenario {name!r}")
    models = [m for m in args.models.split(",") if m]
    n200_models = [m for m in args.n200_models.split(",") if m]

    OUT.mkdir(parents=True, exist_ok=True)
    if not args.render_only:
        STEADY_SCENARIOS[:] = [x for x in args.steady_scenarios.split(",") if x]
        STEADY_MODELS[:] = [x for x in args.steady_models.split(",") if x]
        runs = runs_for(groups, args.seeds, scen, models, n200_scen, n200_models)
        # simnet is imported at the top, before forking: every worker runs one snapshot.
        digest = _code_digest()
        try:
            rev = subprocess.run(
                ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                capture_output=True, text=True, check=False,
            ).stdout.strip()  # fmt: skip
        except OSError:
            rev = ""
        mode = "a" if args.append else "w"
        files = {g: (OUT / f"{g}.jsonl").open(mode) for g in groups}
        wall0 = time.perf_counter()
        cpu_total = 0.0
        print(f"{len(runs)} runs, {args.jobs} worker(s), code {rev} src {digest}", file=sys.stderr)
        ctx = mp.get_context("fork")
        with ctx.Pool(args.jobs) as pool:
            for k, row in enumerate(pool.imap_unordered(run_one, runs), 1):
                row["git"] = rev
                row["src_digest"] = digest
                files[row["group"]].write(json.dumps({kk: _enc(v) for kk, v in row.items()}) + "\n")
                files[row["group"]].flush()
                cpu_total += row["cpu_s"]
                print(
                    f"[{k}/{len(runs)}] {row['group']} {row['scenario']} {row['model']} "
                    f"seed {row['seed']}: {row['cpu_s']:.1f} s cpu",
                    file=sys.stderr,
                    flush=True,
                )
        for f in files.values():
            f.close()
        print(
            f"done: {time.perf_counter() - wall0:.0f} s wall, {cpu_total:.0f} s cpu in runs",
            file=sys.stderr,
        )
    rows = load(groups)
    md = render_summary(rows) + "\n" + render(rows)
    cpu_by_group = {
        g: sum(r["cpu_s"] for r in rows if r["group"] == g)
        for g in groups
        if any(r["group"] == g for r in rows)
    }
    md += "\nCPU seconds per group: " + ", ".join(f"{g} {c:.0f}" for g, c in cpu_by_group.items())
    (OUT / "table.md").write_text(md + "\n")
    print(md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
