"""`starling agent`: the long-running daemon.

Resource handling
-----------------
Three owners, each with one job, started in this order and stopped in reverse:

1. the P2P node (its own thread running trio, inside `PeerService`);
2. the detection loop (a thread running `analyze(..., follow=True)` on the
   Zeek log directory, sharing findings through `PeerService.share`);
3. the aiohttp API on the main thread's asyncio loop, which also waits for
   SIGINT/SIGTERM.

Each owner has its own Store connection to the same database (SQLite in WAL
mode allows concurrent readers with one writer at a time; Redis is shared by
design). On shutdown the detection loop is asked to stop and joined, so its
summary is written; then the node stops; then the store closes.

When everything is up, one JSON line `{"event": "ready", …}` is printed on
stdout with the peer ID, the P2P addresses and the API URL.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import signal
import sys
import threading
import time
from importlib.metadata import version as pkg_version
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web

from agent.allowlist_files import bundled_data_dir, load_allowlist
from agent.analyze import analyze
from agent.api.app import ApiContext, build_app
from agent.config import Config
from agent.identity import load_api_token, load_identity
from agent.peering import LocalOpinion, PeerService
from agent.store import open_store
from agent.store.base import Store
from detection.model import Evidence, ThreatLevel

__all__ = ["run_agent"]

log = logging.getLogger(__name__)
_LEVELS = list(ThreatLevel)


def _local_opinion(store: Store) -> Any:
    def opinion(ip: str) -> LocalOpinion:
        evidence = [e for e in store.evidence(ip=ip, limit=1000) if e.attacker == ip]
        if not evidence:
            return LocalOpinion(0.0, 0.0, (), 0)
        top = max(evidence, key=lambda e: (_LEVELS.index(e.threat_level), e.confidence))
        return LocalOpinion(
            top.threat_level.weight,
            max(e.confidence for e in evidence),
            tuple(sorted({e.type for e in evidence})),
            len(evidence),
        )

    return opinion


def _setup_logging() -> None:
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # py-libp2p logs every dial attempt at INFO; keep its warnings only.
    for noisy in ("libp2p", "multiaddr", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _protected(config: Config) -> Any:
    """Allowlisted addresses: never acted on from peer reports alone."""
    if not config.allowlist.enabled:
        return lambda ip: False
    data = bundled_data_dir()
    allowlist, _ = load_allowlist(
        config.allowlist.file or data / "allowlist.conf",
        config.allowlist.organizations_dir or data / "organizations_info",
    )

    def protected(ip: str) -> bool:
        return bool(
            allowlist.match_ip(ip, "src", "alerts") or allowlist.match_ip(ip, "dst", "alerts")
        )

    return protected


def _enqueue(inject: queue.Queue[Evidence], peering: PeerService) -> Any:
    def put(evidence: Evidence) -> None:
        try:
            inject.put_nowait(evidence)
        except queue.Full:
            peering.counts["consensus_evidence_dropped"] += 1

    return put


def run_agent(config: Config, data_dir: Path, zeek_dir: Path | None) -> int:
    _setup_logging()
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    identity = load_identity(data_dir)
    token = load_api_token(data_dir)
    store_spec = config.store or str(data_dir / "starling.db")
    config = config.model_copy(update={"store": store_spec})
    version = pkg_version("starling-ids")
    node_store = open_store(store_spec)
    api_store = open_store(store_spec)
    peering: PeerService | None = None
    stop = threading.Event()
    detector: threading.Thread | None = None
    # Peer consensus evidence enters the detection loop here (bounded; drops counted).
    inject: queue.Queue[Evidence] = queue.Queue(maxsize=10_000)
    try:
        if config.p2p.enabled:
            peering = PeerService(
                identity,
                config.p2p,
                node_store,
                version=f"starling {version}",
                local_opinion=_local_opinion(api_store),
                trust=config.trust,
                is_protected=_protected(config),
                window_seconds=config.profiles.window_seconds,
            )
            if zeek_dir is not None:
                peering.on_evidence = _enqueue(inject, peering)
            peering.start()
        if zeek_dir is not None:
            detector = threading.Thread(
                target=_detect,
                args=(zeek_dir, config, data_dir, stop, peering, inject),
                name="detection",
                daemon=True,
            )
            detector.start()
        ctx = ApiContext(token=token, store=api_store, version=version, peering=peering)
        asyncio.run(_serve(ctx, config.api.host, config.api.port, peering, stop))
    finally:
        stop.set()
        if detector is not None:
            detector.join(timeout=30)
        if peering is not None:
            peering.stop()
        node_store.close()
        api_store.close()
    return 0


def _detect(  # noqa: PLR0917 - a thread target takes positional arguments
    zeek_dir: Path,
    config: Config,
    data_dir: Path,
    stop: threading.Event,
    peering: PeerService | None,
    inject: queue.Queue[Evidence],
) -> None:
    outdir = data_dir / "analysis" / time.strftime("%Y%m%d-%H%M%S")
    try:
        analyze(
            str(zeek_dir),
            config,
            outdir=outdir,
            follow=True,
            stop=stop,
            on_finding=peering.share if peering is not None else None,
            inject=inject,
        )
    except Exception:
        log.exception("detection loop stopped")
        stop.set()


async def _serve(
    ctx: ApiContext, host: str, port: int, peering: PeerService | None, stop: threading.Event
) -> None:
    runner = web.AppRunner(build_app(ctx), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = port
    server = site._server
    if server is not None and getattr(server, "sockets", None):
        bound = server.sockets[0].getsockname()[1]
    done = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, done.set)
    ready = {
        "event": "ready",
        "peer_id": peering.peer_id if peering else None,
        "p2p": peering.node.addrs if peering else [],
        "api": f"http://{host}:{bound}",
    }
    sys.stdout.write(orjson.dumps(ready).decode() + "\n")
    sys.stdout.flush()
    try:
        while not done.is_set() and not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), timeout=0.5)
    finally:
        await runner.cleanup()
