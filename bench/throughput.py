"""Core throughput: `starling analyze` on a >= 1,000,000-flow Zeek conn.log.

Builds the workload by replaying the repo's copies of the shared captures
(every Zeek conn.log and the Argus flows, converted to Zeek TSV) with each copy
shifted in time and given its own addresses, runs `starling analyze` on it in
a subprocess, and prints flows/s, flows per CPU-second, peak RSS, and the
ratio to a bare line split of the same file (the floor any Python reader pays).

    python bench/throughput.py [--flows 1000000] [--workdir bench/out] [-- extra analyze args]
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

from _machine import machine  # bench/, on sys.path as the script's directory

from agent.analyze import iter_records
from detection.model import Flow

ROOT = Path(__file__).resolve().parents[1]
CAPTURES = ROOT / "tests" / "data" / "captures"
SOURCES = [
    *sorted((CAPTURES / "zeek").rglob("conn.log")),
    CAPTURES / "argus" / "test2-malicious.binetflow.gz",
    CAPTURES / "argus" / "test3-mixed.binetflow",
    CAPTURES / "argus" / "test4-malicious.binetflow",
    CAPTURES / "argus" / "test11-portscan.binetflow",
]
HEADER = """#separator \\x09
#set_separator\t,
#empty_field\t(empty)
#unset_field\t-
#path\tconn
#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tservice\tduration\torig_bytes\tresp_bytes\tconn_state\tlocal_orig\tlocal_resp\tmissed_bytes\thistory\torig_pkts\torig_ip_bytes\tresp_pkts\tresp_ip_bytes\ttunnel_parents
#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tstring\tinterval\tcount\tcount\tstring\tbool\tbool\tcount\tstring\tcount\tcount\tcount\tcount\tset[string]
"""


def base_flows() -> list[Flow]:
    flows: list[Flow] = []
    for src in SOURCES:
        recs = [r for r in iter_records(str(src)) if isinstance(r, Flow) and ":" not in r.saddr]
        if not recs:
            continue
        t0 = min(r.ts for r in recs)
        flows.extend(r._replace(ts=r.ts - t0) for r in recs)
    flows.sort(key=lambda f: f.ts)
    return flows


def shift(ip: str, k: int) -> str:
    try:
        n = int(ipaddress.IPv4Address(ip))
    except ValueError:
        return ip
    # Spread copies over the middle octets so each copy has its own profiles.
    return str(ipaddress.IPv4Address((n + (k << 8)) & 0xFFFFFFFF))


def zeek_state(f: Flow) -> str:
    if f.state in {
        "S0",
        "S1",
        "S2",
        "S3",
        "SF",
        "REJ",
        "RSTO",
        "RSTR",
        "RSTOS0",
        "RSTRH",
        "SH",
        "SHR",
        "OTH",
    }:
        return f.state
    return "SF" if f.established else "S0"


def build(path: Path, target: int, as_json: bool = False) -> int:
    base = base_flows()
    span = base[-1].ts + 3600.0
    t0 = 1_700_000_000.0
    n = 0
    with path.open("w") as out:
        if not as_json:
            out.write(HEADER)
        k = 0
        while n < target:
            off = t0 + k * span
            for f in base:
                if as_json:
                    out.write(json_line(f, f.ts + off, f"C{k}x{n}", k))
                    n += 1
                    continue
                sport = "-" if f.sport is None else f.sport
                dport = "-" if f.dport is None else f.dport
                out.write(
                    f"{f.ts + off:.6f}\tC{k}x{n}\t{shift(f.saddr, k)}\t{sport}"
                    f"\t{shift(f.daddr, k)}\t{dport}\t{f.proto or '-'}"
                    f"\t{f.service or '-'}\t{f.duration:.6f}\t{f.sbytes}\t{f.dbytes}"
                    f"\t{zeek_state(f)}\t-\t-\t0\t{f.history or '-'}\t{f.spkts}\t0\t{f.dpkts}"
                    "\t0\t(empty)\n"
                )
                n += 1
            k += 1
    return n


def json_line(f: Flow, ts: float, uid: str, k: int) -> str:
    obj = {
        "ts": ts, "uid": uid, "id.orig_h": shift(f.saddr, k), "id.orig_p": f.sport,
        "id.resp_h": shift(f.daddr, k), "id.resp_p": f.dport, "proto": f.proto,
        "duration": f.duration, "orig_bytes": f.sbytes, "resp_bytes": f.dbytes,
        "conn_state": zeek_state(f), "history": f.history, "orig_pkts": f.spkts,
        "resp_pkts": f.dpkts,
    }  # fmt: skip
    return json.dumps({k2: v for k2, v in obj.items() if v is not None}) + "\n"


def analyze_env(workdir: Path) -> dict[str, str]:
    """The environment of the measured run. Byte code is cached under `workdir`
    (warmed by a first, unmeasured start): an installed agent starts from
    compiled modules, so compiling the sources (when the caller's environment
    sets PYTHONDONTWRITEBYTECODE) is no part of the analysis cost."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONHASHSEED"] = "0"
    env["PYTHONPYCACHEPREFIX"] = str(workdir / "pycache")
    return env


def warm_byte_code(log: Path, workdir: Path) -> None:
    """Run `starling analyze` once on the first lines of `log` (unmeasured), so
    the measured run finds every module it imports compiled (see `analyze_env`)."""
    small = workdir / "warmup.log"
    with log.open() as src, small.open("w") as dst:
        for _, line in zip(range(200), src, strict=False):
            dst.write(line)
    subprocess.run(
        [sys.executable, "-m", "agent", "analyze", str(small), "-o", str(workdir / "warmup"),
         "--json", "--force"],
        capture_output=True,
        check=True,
        env=analyze_env(workdir),
    )  # fmt: skip


def bare_split_seconds(path: Path) -> float:
    start = time.process_time()
    with path.open("rb") as fh:
        for raw in fh:
            raw.decode().split("\t")
    return time.process_time() - start


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--flows", type=int, default=1_000_000)
    ap.add_argument("--workdir", type=Path, default=ROOT / "bench" / "out")
    ap.add_argument("--json-log", action="store_true", help="build a Zeek JSON log instead of TSV")
    ap.add_argument("extra", nargs="*", help="extra arguments for starling analyze")
    args = ap.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    log = args.workdir / f"conn-{args.flows}{'-json' if args.json_log else ''}.log"
    if not log.exists():
        t = time.perf_counter()
        n = build(log, args.flows, args.json_log)
        print(f"built {log} with {n:,} flows in {time.perf_counter() - t:.1f} s", file=sys.stderr)
    outdir = args.workdir / "analysis"
    warm_byte_code(log, args.workdir)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "agent",
            "analyze",
            str(log),
            "-o",
            str(outdir),
            "--json",
            "--force",
            *args.extra,
        ],
        capture_output=True,
        text=True,
        check=True,
        env=analyze_env(args.workdir),
    )
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    summary = json.loads(proc.stdout)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    flows = summary["flows"]
    split = bare_split_seconds(log)
    result = {
        "input": f"{log.name} ({log.stat().st_size / 1e6:.0f} MB)",
        "flows": flows,
        "wall_seconds": round(wall, 2),
        "cpu_seconds": round(cpu, 2),
        "flows_per_second": round(flows / wall),
        "flows_per_cpu_second": round(flows / cpu),
        "peak_rss_mb": round(after.ru_maxrss / 1024, 1),
        "bare_split_cpu_seconds": round(split, 2),
        "ratio_to_bare_split": round(cpu / split, 2),
        "evidence": summary["evidence"],
        "evidence_by_type": summary["evidence_by_type"],
        "alerts": summary["alerts"],
        "profiles": summary["profiles"],
        "machine": machine(),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
