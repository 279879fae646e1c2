"""Threat-intelligence index: load time and per-lookup cost with 1,000,000 indicators.

Writes a feed of N indicators (70 % IPv4 addresses, 10 % CIDRs, 20 % domains, in
the plain-list format most feeds use), then measures: parsing it
(`parse_feed`), building the index, peak RSS, and the cost of one lookup for
addresses (listed, unlisted, inside a listed range; first lookup and memoised),
domains (listed, a subdomain of a listed one, unlisted) and JA3 hashes.

    python bench/intel.py [--indicators 1000000] [--json]

For the cost inside the core benchmark, write the feed as a local IoC file and
run `bench/throughput.py -- -c <config with intel.local_files: [that file]>`.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import time
from pathlib import Path

from detection.intel.formats import parse_feed
from detection.intel.index import IntelIndex
from detection.intel.model import FeedInfo, IocKind
from detection.model import ThreatLevel

ROOT = Path(__file__).resolve().parents[1]


def write_feed(path: Path, n: int, rng: random.Random) -> None:
    with path.open("w") as out:
        out.write("# synthetic feed for bench/intel.py\n")
        for i in range(n):
            r = i % 10
            if r < 7:
                out.write(f"{rng.randrange(1, 224)}.{rng.randrange(256)}.{rng.randrange(256)}."
                          f"{rng.randrange(256)}\n")  # fmt: skip
            elif r == 7:
                out.write(
                    f"{rng.randrange(1, 224)}.{rng.randrange(256)}.{rng.randrange(256)}.0/24\n"
                )
            else:
                out.write(f"host{i}.bad{rng.randrange(10**6)}.example\n")


def per_call_ns(fn, args: list[object], repeat: int = 3) -> float:  # type: ignore[no-untyped-def]
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter_ns()
        for a in args:
            fn(a)
        best = min(best, (time.perf_counter_ns() - t) / len(args))
    return best


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--indicators", type=int, default=1_000_000)
    ap.add_argument("--workdir", type=Path, default=ROOT / "bench" / "out")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    rng = random.Random(7)
    args.workdir.mkdir(parents=True, exist_ok=True)
    path = args.workdir / f"intel-{args.indicators}.txt"
    if not path.exists():
        write_feed(path, args.indicators, rng)
    data = path.read_bytes()

    t = time.process_time()
    parsed = parse_feed(data, "ti")
    parse_s = time.process_time() - t
    t = time.process_time()
    index = IntelIndex()
    index.add_feed(FeedInfo("bench", ThreatLevel.MEDIUM), parsed.iocs)
    index.freeze()
    build_s = time.process_time() - t
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    # The agent keeps the built index as a snapshot and reloads it while the feeds
    # are unchanged (agent.intel.loader): what a start-up costs then.
    t = time.process_time()
    snap = index.snapshot()
    snapshot_write_s = time.process_time() - t
    t = time.process_time()
    reloaded = IntelIndex.from_snapshot(snap)
    snapshot_load_s = time.process_time() - t
    assert reloaded.counts() == index.counts()

    ips = [i.value for i in parsed.iocs if i.kind is IocKind.IP]
    domains = [i.value for i in parsed.iocs if i.kind is IocKind.DOMAIN]
    cidrs = [i.value for i in parsed.iocs if i.kind is IocKind.CIDR]
    k = 100_000
    listed = rng.sample(ips, min(k, len(ips)))
    unlisted = [f"{rng.randrange(224, 240)}.{rng.randrange(256)}.0.{rng.randrange(256)}"
                for _ in range(k)]  # fmt: skip
    in_range = [
        c.replace(".0/24", f".{rng.randrange(1, 255)}")
        for c in rng.sample(cidrs, min(k, len(cidrs)))
    ]
    subdomains = [f"x.{d}" for d in rng.sample(domains, min(k, len(domains)))]
    other = [f"www.site{i}.example.org" for i in range(k)]

    fresh = IntelIndex()  # first lookups (no memo): a new index over the same feed
    fresh.add_feed(FeedInfo("bench", ThreatLevel.MEDIUM), parsed.iocs)
    fresh.freeze()
    result = {
        "indicators": len(index),
        "by_kind": index.counts(),
        "feed_mb": round(len(data) / 1e6, 1),
        "parse_s": round(parse_s, 2),
        "build_s": round(build_s, 2),
        "load_s": round(parse_s + build_s, 2),
        "snapshot_mb": round(len(snap) / 1e6, 1),
        "snapshot_write_s": round(snapshot_write_s, 2),
        "snapshot_load_s": round(snapshot_load_s, 2),
        "peak_rss_mb": round(rss_mb),
        "ns_ip_listed_first": round(per_call_ns(fresh.lookup_ip, listed, 1)),
        "ns_ip_unlisted_first": round(per_call_ns(fresh.lookup_ip, unlisted, 1)),
        "ns_ip_in_range_first": round(per_call_ns(fresh.lookup_ip, in_range, 1)),
        "ns_ip_memoised": round(per_call_ns(fresh.lookup_ip, unlisted)),
        "ns_domain_listed_parent": round(per_call_ns(index.lookup_domain, subdomains)),
        "ns_domain_unlisted": round(per_call_ns(index.lookup_domain, other)),
        "ns_ja3_unlisted": round(
            per_call_ns(
                lambda v: index.lookup_hash(IocKind.JA3, v), [f"{i:032x}" for i in range(k)]
            )
        ),
    }
    print(json.dumps(result, indent=None if args.json else 2))


if __name__ == "__main__":
    main()
