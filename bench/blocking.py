"""Kernel ban speed: nftables (libnftables, and the nft process fallback) vs iptables+ipset.

Runs inside a throw-away network namespace (it re-executes itself under
``ip netns exec``), so the host's ruleset is never touched; needs root. For each
backend it prints:

* one batch of 10,000 single-address bans (one transaction / one ipset process);
* single-ban latency p50/p99 over 500 bans, one `apply` call each, into sets that
  already hold the 10,000;
* single removal latency p50/p99 over the same 500;
* restore of 10,000 active decisions from a SQLite store (read, anti-lockout check,
  one batch), after the kernel sets were emptied — what the agent does at start.

    sudo .venv/bin/python bench/blocking.py [--bans 10000] [--singles 500] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from agent.blocking.backends import open_blocker
from agent.blocking.base import Ban, Blocker
from agent.blocking.decision import Decision
from agent.blocking.facts import system_sources
from agent.blocking.guard import Guard
from agent.blocking.nftables import NftBlocker
from agent.blocking.policy import Policy
from agent.blocking.service import BlockingService
from agent.blocking.target import parse_target
from agent.store.sqlite import SqliteStore

INNER = "STARLING_BENCH_INNER"


def address(i: int, first: int = 20) -> str:
    return f"{first + i // 65536}.{i // 256 % 256}.{i % 256}.1"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] * 1e3


def measure(name: str, blocker: Blocker, bans: int, singles: int) -> dict[str, Any]:
    blocker.setup()
    blocker.flush()
    batch = [Ban(parse_target(address(i)), 3600) for i in range(bans)]
    t = time.perf_counter()
    blocker.apply(batch)
    batch_s = time.perf_counter() - t
    assert len(blocker.list()) == bans

    targets = [parse_target(address(i, first=120)) for i in range(singles)]
    add_lat, rm_lat = [], []
    for target in targets:
        t = time.perf_counter()
        blocker.apply([Ban(target, 3600)])
        add_lat.append(time.perf_counter() - t)
    for target in targets:
        t = time.perf_counter()
        blocker.remove([target])
        rm_lat.append(time.perf_counter() - t)

    with tempfile.TemporaryDirectory() as tmp, SqliteStore(Path(tmp) / "s.db") as store:
        now = time.time()
        store.add_decisions(
            [
                Decision(address(i), "ip", "bench", "manual", (), now, now + 3600)
                for i in range(bans)
            ]
        )
        blocker.flush()
        guard = Guard(sources=system_sources())
        service = BlockingService(blocker, store, guard, Policy(ttl=3600), dry_run=False)
        t = time.perf_counter()
        result = service.start(now + 1)
        restore_s = time.perf_counter() - t
        assert result.applied == bans
        assert len(blocker.list()) == bans
    blocker.flush()
    blocker.close()
    return {
        "backend": name,
        "batch_bans": bans,
        "batch_s": round(batch_s, 3),
        "single_p50_ms": round(pct(add_lat, 0.5), 3),
        "single_p99_ms": round(pct(add_lat, 0.99), 3),
        "single_mean_ms": round(statistics.fmean(add_lat) * 1e3, 3),
        "remove_p50_ms": round(pct(rm_lat, 0.5), 3),
        "remove_p99_ms": round(pct(rm_lat, 0.99), 3),
        "restore_s": round(restore_s, 3),
    }


def inner(args: argparse.Namespace) -> None:
    nft = NftBlocker()
    rows = [measure(f"nftables ({nft.transport.split(' ')[0]})", nft, args.bans, args.singles)]
    rows.append(
        measure("nftables (nft process)", NftBlocker(use_library=False), args.bans, args.singles)
    )
    rows.append(measure("iptables + ipset", open_blocker("iptables"), args.bans, args.singles))
    if args.json:
        print(json.dumps(rows))
        return
    head = ("backend", "10k batch s", "single p50 ms", "p99 ms", "remove p50", "p99", "restore s")
    print(" | ".join(head))
    for r in rows:
        print(
            f"{r['backend']} | {r['batch_s']} | {r['single_p50_ms']} | {r['single_p99_ms']} | "
            f"{r['remove_p50_ms']} | {r['remove_p99_ms']} | {r['restore_s']}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bans", type=int, default=10_000)
    parser.add_argument("--singles", type=int, default=500)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if os.environ.get(INNER):
        inner(args)
        return
    ns = f"st-bench-{os.urandom(3).hex()}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        subprocess.run(["ip", "-n", ns, "link", "set", "lo", "up"], check=True)
        argv = ["ip", "netns", "exec", ns, sys.executable, __file__, *sys.argv[1:]]
        sys.exit(subprocess.run(argv, env={**os.environ, INNER: "1"}, check=False).returncode)
    finally:
        subprocess.run(["ip", "netns", "del", ns], check=False)


if __name__ == "__main__":
    main()
