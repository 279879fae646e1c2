"""IoC propagation across a mesh of real `starling agent` processes on loopback.

Starts N agents (each bootstraps to up to two random earlier agents), waits for
the mesh, then has agent 0 share K IoCs (operator reports through its API, at a
fixed rate) and asks every other agent's API for them. Latency is each report's
`received_at - signed_at` (one machine, one clock). Prints p50/p99 latency,
delivery ratio, and CPU seconds and RSS per agent.

    python bench/p2p_latency.py [--agents 10 20] [--iocs 50] [--rate 5]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

TICK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def call(api: str, token: str, path: str, body: object | None = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(api + path, data=data, method="POST" if data else "GET")
    req.add_header("Authorization", f"Bearer {token}")
    req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read())


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def rss_mb(pid: int) -> float:
    return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE / 1e6


def run(n: int, iocs: int, rate: float, seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    tmp = Path(tempfile.mkdtemp(prefix="starling-bench-"))
    procs: list[subprocess.Popen[str]] = []
    agents: list[dict[str, Any]] = []
    try:
        for i in range(n):
            d = tmp / f"a{i}"
            d.mkdir()
            cfg = d / "c.yaml"
            cfg.write_text(
                "p2p: {listen: ['/ip4/127.0.0.1/tcp/0'], rate_per_second: 100, burst: 200}\n"
                "api: {host: 127.0.0.1, port: 0}\n"
            )
            argv = [sys.executable, "-m", "agent", "agent", "-c", str(cfg), "--data-dir", str(d)]
            for j in rng.sample(range(i), min(i, 2)):
                argv += ["--bootstrap", agents[j]["addrs"][0]]
            token = f"bench-token-{i}-0123456789abcdef"
            p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                                 env={**os.environ, "STARLING_API_TOKEN": token})  # fmt: skip
            procs.append(p)
            assert p.stdout is not None
            ready = json.loads(p.stdout.readline())
            agents.append({"api": ready["api"], "token": token, "addrs": ready["p2p"], "pid": p.pid,
                           "peer_id": ready["peer_id"]})  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            views = [call(a["api"], a["token"], "/api/v1/peers")["peers"] for a in agents]
            mesh = [sum(q["connected"] for q in peers) for peers in views]
            if min(mesh) >= 1:
                break
            time.sleep(0.5)
        time.sleep(5)  # GossipSub heartbeats: let every mesh fill
        cpu0 = [cpu_seconds(a["pid"]) for a in agents]
        t0 = time.monotonic()
        ips = [f"185.220.{100 + k // 250}.{k % 250 + 1}" for k in range(iocs)]
        src = agents[0]
        for k, ip in enumerate(ips):
            call(src["api"], src["token"], "/api/v1/reports", {"ip": ip, "reason": f"bench {k}"})
            time.sleep(max(0.0, t0 + (k + 1) / rate - time.monotonic()))
        time.sleep(5)  # stragglers
        elapsed = time.monotonic() - t0
        latencies: list[float] = []
        delivered = 0
        for a in agents[1:]:
            for ip in ips:
                body = call(a["api"], a["token"], f"/api/v1/ip/{ip}")
                mine = [r for r in body["peer_reports"] if r["reporter"] == src["peer_id"]]
                if mine:
                    delivered += 1
                    latencies.append(mine[0]["latency_ms"])
        cpu = [cpu_seconds(a["pid"]) - c for a, c in zip(agents, cpu0, strict=True)]
        rss = [rss_mb(a["pid"]) for a in agents]
        latencies.sort()
        q = statistics.quantiles(latencies, n=100) if len(latencies) >= 2 else latencies * 99
        return {
            "agents": n,
            "iocs": iocs,
            "rate_per_s": rate,
            "delivery_ratio": round(delivered / (iocs * (n - 1)), 4),
            "latency_ms_p50": round(statistics.median(latencies), 1) if latencies else None,
            "latency_ms_p99": round(q[98], 1) if latencies else None,
            "latency_ms_max": round(latencies[-1], 1) if latencies else None,
            "cpu_seconds_per_agent_mean": round(statistics.mean(cpu), 2),
            "cpu_seconds_per_agent_max": round(max(cpu), 2),
            "measured_seconds": round(elapsed, 1),
            "rss_mb_per_agent_mean": round(statistics.mean(rss), 1),
            "rss_mb_per_agent_max": round(max(rss), 1),
        }
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
            if p.stdout:
                p.stdout.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--agents", type=int, nargs="+", default=[10, 20])
    ap.add_argument("--iocs", type=int, default=50)
    ap.add_argument("--rate", type=float, default=5.0)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    for n in args.agents:
        print(json.dumps(run(n, args.iocs, args.rate, args.seed)), flush=True)


if __name__ == "__main__":
    main()
