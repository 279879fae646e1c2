"""Live latency: flows appended to a growing Zeek conn.log at a fixed rate, followed
by `starling analyze --follow`; how long from a flow's line being written (Zeek
writes a conn line when the flow ends) to its evidence being written out.

Every 100th flow is a long connection (2,000 s, over the 1,500 s threshold) from a
source of its own, so it raises one `long_connection` evidence at once; its uid
marks it. The other 99 % are ordinary short flows between a few thousand hosts,
the load the agent has to keep up with. A reader tails `alerts.json` (flushed
after every batch in follow mode) and matches evidence uids to write times.

Printed per rate: flows written, marked flows detected, latency p50/p95/p99/max,
p50 of the first and last fifth of the run (growing = falling behind), the
agent's CPU seconds and peak RSS.

    python bench/live_latency.py [--rates 1000 5000 10000] [--seconds 60]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HEADER = (
    "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\tconn\n"
    "#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tservice\tduration\t"
    "orig_bytes\tresp_bytes\tconn_state\tlocal_orig\tlocal_resp\tmissed_bytes\thistory\t"
    "orig_pkts\torig_ip_bytes\tresp_pkts\tresp_ip_bytes\ttunnel_parents\n"
    "#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tstring\tinterval\tcount\tcount\t"
    "string\tbool\tbool\tcount\tstring\tcount\tcount\tcount\tcount\tset[string]\n"
)
MARK_EVERY = 100
TICK = 0.01  # the writer appends a batch every 10 ms


def flow_line(n: int, now: float) -> tuple[str, str | None]:
    """Flow number n: (line, marker uid or None)."""
    if n % MARK_EVERY == 0:
        uid = f"L{n}"
        k = n // MARK_EVERY
        src = f"10.{(k >> 16) & 255}.{(k >> 8) & 255}.{k & 255}"
        fields = [f"{now:.6f}", uid, src, "40000", "198.51.100.7", "443", "tcp", "ssl",
                  "2000.0", "5000", "90000", "SF", "-", "-", "0", "ShADadFf", "40", "7000",
                  "90", "95000", "-"]  # fmt: skip
        return "\t".join(fields) + "\n", uid
    host = n % 4000
    src = f"192.168.{host >> 8}.{host & 255}"
    dst = f"203.0.113.{n % 250 + 1}"
    fields = [f"{now:.6f}", f"C{n}", src, str(30000 + n % 30000), dst, "443", "tcp", "ssl",
              "0.8", "600", "4200", "SF", "-", "-", "0", "ShADadFf", "8", "1100", "9", "4700",
              "-"]  # fmt: skip
    return "\t".join(fields) + "\n", None


def run(rate: int, seconds: float, workdir: Path) -> dict[str, object]:
    logs = workdir / f"logs-{rate}"
    out = workdir / f"out-{rate}"
    logs.mkdir(parents=True)
    conn = logs / "conn.log"
    conn.write_text(HEADER)
    written: dict[str, float] = {}
    seen: dict[str, float] = {}
    argv = [sys.executable, "-m", "agent", "analyze", "--follow", str(logs), "-o", str(out)]
    proc = subprocess.Popen(
        [*argv, "--max-idle", "15"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    alerts = out / "alerts.json"
    deadline = time.monotonic() + 60
    while not alerts.exists():
        if time.monotonic() > deadline or proc.poll() is not None:
            raise SystemExit(f"agent did not start: {proc.stderr.read().decode()[-500:]}")
        time.sleep(0.05)
    time.sleep(1.0)  # let the follower open conn.log

    done = threading.Event()

    def reader() -> None:
        with alerts.open("rb") as fh:
            buf = b""
            while True:
                chunk = fh.read()
                now = time.time()
                if chunk:
                    buf += chunk
                    *lines, buf = buf.split(b"\n")
                    for line in lines:
                        rec = json.loads(line)
                        for uid in rec.get("uids") or ():
                            if uid.startswith("L") and uid not in seen:
                                seen[uid] = now
                elif done.is_set() and len(seen) >= len(written):
                    return
                time.sleep(0.005)

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    n = 1
    per_tick = rate * TICK
    start = time.monotonic()
    with conn.open("a") as fh:
        while (elapsed := time.monotonic() - start) < seconds:
            due = int(elapsed / TICK * per_tick) + 1
            now = time.time()
            marks: list[str] = []
            while n < due:
                line, uid = flow_line(n, now)
                fh.write(line)
                if uid is not None:
                    marks.append(uid)
                n += 1
            fh.flush()
            stamp = time.time()
            for uid in marks:
                written[uid] = stamp
            time.sleep(max(0.0, start + (int(elapsed / TICK) + 1) * TICK - time.monotonic()))
    done.set()
    thread.join(timeout=30)
    proc.wait(timeout=120)
    summary = json.loads((out / "summary.json").read_text())
    lat = sorted((seen[u] - t) * 1000 for u, t in written.items() if u in seen)
    order = sorted(written, key=written.__getitem__)
    fifth = max(1, len(order) // 5)

    def p50_of(uids: list[str]) -> float | None:
        vals = [(seen[u] - written[u]) * 1000 for u in uids if u in seen]
        return round(statistics.median(vals), 1) if vals else None

    def pct(q: float) -> float | None:
        return round(lat[min(len(lat) - 1, int(q * len(lat)))], 1) if lat else None

    return {
        "rate_flows_per_s": rate,
        "seconds": seconds,
        "flows_written": n - 1,
        "flows_analysed": summary.get("flows"),
        "marked": len(written),
        "detected": len(lat),
        "latency_ms_p50": pct(0.50),
        "latency_ms_p95": pct(0.95),
        "latency_ms_p99": pct(0.99),
        "latency_ms_max": round(lat[-1], 1) if lat else None,
        "p50_first_fifth_ms": p50_of(order[:fifth]),
        "p50_last_fifth_ms": p50_of(order[-fifth:]),
        "agent_cpu_seconds": summary.get("cpu_seconds"),
        "agent_peak_rss_mb": summary.get("peak_rss_mb"),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rates", type=int, nargs="+", default=[1000, 5000, 10000])
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--workdir", type=Path, default=None)
    args = ap.parse_args()
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    with tempfile.TemporaryDirectory(prefix="starling-live-") as tmp:
        workdir = args.workdir or Path(tmp)
        for rate in args.rates:
            print(json.dumps(run(rate, args.seconds, workdir)), flush=True)


if __name__ == "__main__":
    main()
