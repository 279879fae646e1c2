"""Built-in packet engine throughput: packets per CPU-second, capture bytes to records.

Two workloads:

* a synthetic capture (default 1,000,000 packets) written to a temporary
  pcap: TCP conversations (handshake, a few data segments each way, FIN
  exchange; every fifth one an HTTP request/response, every fifth a TLS
  ClientHello), DNS query/answer pairs, other UDP datagrams and ICMP echoes,
  in the proportions of a busy LAN uplink (about 70% TCP, 25% DNS/UDP, 5%
  ICMP), thousands of hosts, interleaved so that ~2,000 connections are open;
* the repo's copies of the shared captures (tests/data/captures/pcap).

Only the engine is timed (CPU time of feeding 1 MiB chunks and finishing),
not the detectors: `python bench/throughput.py` measures those.

    python bench/pcap_throughput.py [--packets 1000000] [--workdir bench/out]
"""

from __future__ import annotations

import argparse
import gzip
import random
import socket
import struct
import sys
import time
from collections import Counter
from pathlib import Path

from detection.packets import PacketEngine

ROOT = Path(__file__).resolve().parents[1]
CAPTURES = ROOT / "tests" / "data" / "captures" / "pcap"
_CHUNK = 1 << 20


def _ip4(src: bytes, dst: bytes, proto: int, payload: bytes) -> bytes:
    return struct.pack(
        "!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), 0, 0, 64, proto, 0, src, dst
    ) + (payload)


def _eth(payload: bytes) -> bytes:
    return b"\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01\x08\x00" + payload


def _tcp(
    src: bytes, dst: bytes, sp: int, dp: int, seq: int, ack: int, flags: int, data: bytes = b""
) -> bytes:
    seg = struct.pack(
        "!HHIIBBHHH", sp, dp, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, 0x50, flags, 65535, 0, 0
    )
    return _eth(_ip4(src, dst, 6, seg + data))


def _udp(src: bytes, dst: bytes, sp: int, dp: int, data: bytes) -> bytes:
    return _eth(_ip4(src, dst, 17, struct.pack("!HHHH", sp, dp, 8 + len(data), 0) + data))


def _dns(tid: int, name: str, answer: bytes | None) -> bytes:
    q = b"".join(bytes([len(x)]) + x.encode() for x in name.split(".")) + b"\0\0\x01\0\x01"
    if answer is None:
        return struct.pack("!HHHHHH", tid, 0x0100, 1, 0, 0, 0) + q
    rr = struct.pack("!HHHIH", 0xC00C, 1, 1, 300, 4) + answer
    return struct.pack("!HHHHHH", tid, 0x8180, 1, 1, 0, 0) + q + rr


_HTTP_REQ = b"GET /index.html HTTP/1.1\r\nHost: example.com\r\nUser-Agent: bench/1.0\r\n\r\n"
_HTTP_RESP = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 900\r\n\r\n<html>" + b"x" * 300
)
_SNI = b"\x00\x00\x0bexample.com"
_EXTS = (
    b"\x00\x00" + struct.pack("!HH", len(_SNI) + 2, len(_SNI)) + _SNI  # server_name
    + b"\x00\x0a\x00\x06\x00\x04\x00\x1d\x00\x17"  # supported_groups
    + b"\x00\x0b\x00\x02\x01\x00"  # ec_point_formats
)  # fmt: skip
_CH_BODY = (
    b"\x03\x03" + bytes(32) + b"\x00" + b"\x00\x06\x13\x01\x13\x02\xc0\x2f" + b"\x01\x00"
    + struct.pack("!H", len(_EXTS)) + _EXTS
)  # fmt: skip
_CLIENT_HELLO = (
    b"\x16\x03\x01" + struct.pack("!H", len(_CH_BODY) + 4)
    + b"\x01" + len(_CH_BODY).to_bytes(3, "big") + _CH_BODY
)  # fmt: skip
_TLS_DATA = b"\x17\x03\x03" + struct.pack("!H", 1195) + bytes(1195)


def _conversation(rng: random.Random, i: int) -> list[bytes]:
    """The packets of one unit of traffic (a TCP connection, a DNS pair, …)."""
    client = struct.pack("!I", 0x0A000000 + rng.randrange(1, 5000))
    server = struct.pack("!I", 0xC6336400 + rng.randrange(1, 60000))
    kind = rng.random()
    sp = 1024 + i % 60000
    if kind < 0.10:  # DNS pair
        resolver = b"\x0a\x00\x00\x35"
        name = f"host{rng.randrange(100000)}.example.com"
        tid = rng.randrange(65536)
        return [_udp(client, resolver, sp, 53, _dns(tid, name, None)),
                _udp(resolver, client, 53, sp, _dns(tid, name, server))]  # fmt: skip
    if kind < 0.14:  # other UDP (one datagram each way)
        return [
            _udp(client, server, sp, 5000, b"u" * 80),
            _udp(server, client, 5000, sp, b"v" * 120),
        ]
    if kind < 0.17:  # ICMP echo
        echo = struct.pack("!BBHI", 8, 0, 0, i) + bytes(56)
        reply = struct.pack("!BBHI", 0, 0, 0, i) + bytes(56)
        return [_eth(_ip4(client, server, 1, echo)), _eth(_ip4(server, client, 1, reply))]
    # TCP conversation
    dport = 80 if kind < 0.35 else 443 if kind < 0.55 else rng.choice((22, 8080, 3389, 25))
    c, s = rng.randrange(1 << 32), rng.randrange(1 << 32)
    syn, ack, fin, psh = 0x02, 0x10, 0x01, 0x08
    out = [
        _tcp(client, server, sp, dport, c, 0, syn),
        _tcp(server, client, dport, sp, s, c + 1, syn | ack),
        _tcp(client, server, sp, dport, c + 1, s + 1, ack),
    ]
    c, s = c + 1, s + 1
    first = _HTTP_REQ if dport == 80 else _CLIENT_HELLO if dport == 443 else b"q" * 200
    reply = _HTTP_RESP if dport == 80 else _TLS_DATA if dport == 443 else b"r" * 1200
    out.append(_tcp(client, server, sp, dport, c, s, ack | psh, first))
    c += len(first)
    for _ in range(rng.randrange(1, 5)):
        out.append(_tcp(server, client, dport, sp, s, c, ack | psh, reply))
        s += len(reply)
        out.append(_tcp(client, server, sp, dport, c, s, ack))
    out += [
        _tcp(client, server, sp, dport, c, s, fin | ack),
        _tcp(server, client, dport, sp, s, c + 1, fin | ack),
        _tcp(client, server, sp, dport, c + 1, s + 1, ack),
    ]
    return out


def synthetic(path: Path, packets: int, seed: int = 7) -> int:
    """Write a pcap of about `packets` packets; returns the number written."""
    rng = random.Random(seed)
    active: list[list[bytes]] = []
    written = 0
    ts = 1_700_000_000.0
    i = 0
    with path.open("wb") as out:
        out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        buf = []
        while written < packets:
            while len(active) < 2000:
                active.append(_conversation(rng, i))
                i += 1
            k = rng.randrange(len(active))
            conv = active[k]
            frame = conv.pop(0)
            if not conv:
                active[k] = active[-1]
                active.pop()
            ts += 0.0002
            sec = int(ts)
            buf.append(
                struct.pack("<IIII", sec, int((ts - sec) * 1e6), len(frame), len(frame)) + frame
            )
            written += 1
            if len(buf) >= 10000:
                out.write(b"".join(buf))
                buf.clear()
        out.write(b"".join(buf))
    return written


def measure(path: Path) -> tuple[int, float, Counter[str], dict[str, int]]:
    """(packets, CPU seconds, records by type, engine stats) of one capture."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as fh:  # type: ignore[operator]
        data = fh.read()
    engine = PacketEngine(seed=path.name)
    counts: Counter[str] = Counter()
    start = time.process_time()
    for off in range(0, len(data), _CHUNK):
        for rec in engine.feed(data[off : off + _CHUNK]):
            counts[type(rec).__name__] += 1
    for rec in engine.finish():
        counts[type(rec).__name__] += 1
    cpu = time.process_time() - start
    return engine.packets, cpu, counts, dict(engine.stats)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--packets", type=int, default=1_000_000)
    ap.add_argument("--workdir", type=Path, default=ROOT / "bench" / "out")
    args = ap.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    path = args.workdir / f"synthetic-{args.packets}.pcap"
    if not path.exists():
        t = time.perf_counter()
        n = synthetic(path, args.packets)
        print(f"wrote {path} ({n:,} packets, {path.stat().st_size / 1e6:.0f} MB) in "
              f"{time.perf_counter() - t:.0f} s", file=sys.stderr)  # fmt: skip
    rows = [path, *sorted(CAPTURES.rglob("*.pcap*"))]
    print(f"{'capture':58} {'packets':>9} {'CPU s':>7} {'pkts/CPU-s':>11}  records")
    for p in rows:
        n, cpu, counts, stats = measure(p)
        rate = n / cpu if cpu > 0 else float("inf")
        name = str(p.relative_to(ROOT)) if p.is_relative_to(ROOT) else str(p)
        recs = ", ".join(f"{k} {v}" for k, v in counts.most_common())
        print(f"{name[-58:]:58} {n:>9,} {cpu:>7.2f} {rate:>11,.0f}  {recs}")
        if stats:
            print(f"{'':58} counted: {stats}")
    print(f"(one core; {socket.gethostname()}; CPU time of the engine only)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
