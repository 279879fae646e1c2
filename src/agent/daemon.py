"""`starling agent`: the long-running daemon.

Resource handling
-----------------
Three owners, each with one job, started in this order and stopped in reverse:

1. the P2P node (its own thread running trio, inside `PeerService`);
2. the detection loop (a thread running `analyze(..., follow=True)` on the
   Zeek log directory, sharing findings through `PeerService.share`);
3. the aiohttp API on the main thread's asyncio loop, which also waits for
   SIGINT/SIGTERM. The detection loop tells it what happens through a
   `LiveFeed` (`agent.api.feed`): every finding and blocking decision updates
   the /metrics counters and is published on the event stream
   (`/api/v1/stream`); its streams end when the API shuts down.

Each owner has its own Store connection to the same database (SQLite in WAL
mode allows concurrent readers with one writer at a time; Redis is shared by
design). On shutdown the detection loop is asked to stop and joined, so its
summary is written; then the node stops; then the store closes.

Blocking (`agent.blocking`) sits between 1 and 2: its service is built once
the node exists (connected peers' addresses are protected from bans), creates
its table and restores the stored active bans in one batch, then receives
every finding of the detection loop next to `PeerService.share`. Alerts from
local detectors and alerts raised by peer consensus (injected into the same
pipeline) go through the same policy. On shutdown nothing is unblocked: the
kernel expires the bans. With `blocking.enabled: false` (the default) decisions
are only logged and stored, marked dry-run.

When everything is up, one JSON line `{"event": "ready", …}` is printed on
stdout with the peer ID, the P2P addresses, the API URL and the blocking mode.
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
from collections.abc import Callable, Coroutine, Sequence
from importlib.metadata import version as pkg_version
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web

from agent.analyze import BatchReport, analyze
from agent.api.app import ApiContext, build_app
from agent.api.feed import LiveFeed
from agent.blocking.service import BlockingService
from agent.blocking.wiring import load_config_allowlist, make_guard, make_service, multiaddr_ip
from agent.config import Config
from agent.identity import load_api_token, load_identity
from agent.inputs.live import LiveCapture
from agent.intel.live import IntelHolder, refresh_forever
from agent.intel.loader import IntelLoader
from agent.peering import LocalOpinion, PeerService
from agent.store import open_store
from agent.store.base import Store
from detection.allowlist import Allowlist
from detection.model import Alert, Evidence, ThreatLevel

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


def _protected(allowlist: Allowlist | None) -> Any:
    """Allowlisted addresses: never acted on from peer reports alone."""
    if allowlist is None:
        return lambda ip: False

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


def run_agent(
    config: Config,
    data_dir: Path,
    zeek_dir: Path | None,
    capture: LiveCapture | None = None,
    zeek_on: tuple[str, str | None] | None = None,
) -> int:
    """The daemon. Detection follows `zeek_dir`, or reads `capture` (an opened
    live capture: `starling agent -i`), or runs Zeek on an interface (`zeek_on`:
    interface, BPF expression); with none, the agent only relays, answers the API
    and applies peer decisions."""
    detecting = zeek_dir is not None or capture is not None or zeek_on is not None
    _setup_logging()
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    identity = load_identity(data_dir)
    token = load_api_token(data_dir)
    store_spec = config.store or str(data_dir / "starling.db")
    config = config.model_copy(update={"store": store_spec})
    version = pkg_version("starling-ids")
    node_store = open_store(store_spec)
    api_store = open_store(store_spec)
    block_store = open_store(store_spec)
    allowlist = load_config_allowlist(config)
    peering: PeerService | None = None
    blocking: BlockingService | None = None
    stop = threading.Event()
    detector: threading.Thread | None = None
    # Peer consensus evidence enters the detection loop here (bounded; drops counted).
    inject: queue.Queue[Evidence] = queue.Queue(maxsize=10_000)
    # Findings and decisions as they happen: /metrics counters and the event stream.
    feed = LiveFeed()
    # Threat intelligence: the last good copies now; fresh ones as the refresher gets them.
    if config.intel.cache_dir is None:  # each agent keeps its feeds with its other state
        intel_cfg = config.intel.model_copy(update={"cache_dir": data_dir / "intel"})
        config = config.model_copy(update={"intel": intel_cfg})
    intel_loader = IntelLoader(config)
    holder: IntelHolder | None = None
    if config.intel.enabled:
        index, report = intel_loader.load(time.time())
        holder = IntelHolder(index)
        log.info("intel: %s indicators %s", len(index), index.counts())
        for w in report.warnings:
            log.warning("intel: %s", w)
    try:
        if config.p2p.enabled:
            peering = PeerService(
                identity,
                config.p2p,
                node_store,
                version=f"starling {version}",
                local_opinion=_local_opinion(api_store),
                trust=config.trust,
                is_protected=_protected(allowlist),
                window_seconds=config.profiles.window_seconds,
            )
            if detecting:
                peering.on_evidence = _enqueue(inject, peering)
            peering.start()
        blocking = _start_blocking(config, block_store, allowlist, peering)
        if detecting:
            detector = threading.Thread(
                target=_detect,
                args=(
                    zeek_dir,
                    config,
                    data_dir,
                    stop,
                    _on_finding(peering, blocking, feed),
                    inject,
                    holder,
                    capture,
                    feed,
                    zeek_on,
                ),
                name="detection",
                daemon=True,
            )
            detector.start()
        ctx = ApiContext(
            token=token,
            store=api_store,
            version=version,
            peering=peering,
            blocking=blocking,
            intel=holder,
            feed=feed,
            data_dir=data_dir,
            rate_per_second=config.api.rate_per_second,
            burst=config.api.burst,
        )
        mode = "dry-run" if blocking.dry_run else blocking.blocker.name
        extra = {"blocking": {"mode": mode, "restored": blocking.counts["restored"]}}
        background = (
            [lambda: refresh_forever(config, holder, intel_loader, stop)]
            if holder is not None
            else []
        )
        asyncio.run(_serve(ctx, config.api.host, config.api.port, peering, stop, extra, background))
    finally:
        stop.set()
        if detector is not None:
            detector.join(timeout=30)
        if peering is not None:
            peering.stop()
        if blocking is not None:
            blocking.blocker.close()  # bans stay in the kernel and expire on their own
        node_store.close()
        api_store.close()
        block_store.close()
    return 0


def _start_blocking(
    config: Config, store: Store, allowlist: Allowlist | None, peering: PeerService | None
) -> BlockingService:
    def peer_ips() -> list[str]:
        if peering is None:
            return []
        return [ip for p in peering.node.peers() for a in p.addrs if (ip := multiaddr_ip(a))]

    guard = make_guard(config, allowlist=allowlist, peers=peer_ips)
    blocking = make_service(config, store, guard=guard)
    blocking.start()
    return blocking


def _on_finding(
    peering: PeerService | None, blocking: BlockingService, feed: LiveFeed
) -> Callable[[Evidence | Alert], None]:
    def on_finding(finding: Evidence | Alert) -> None:
        feed.finding(finding)
        if peering is not None:
            peering.share(finding)
        decision = blocking.on_finding(finding)
        if decision is not None:
            feed.decision(decision)

    return on_finding


def _detect(  # noqa: PLR0917 - a thread target takes positional arguments
    zeek_dir: Path | None,
    config: Config,
    data_dir: Path,
    stop: threading.Event,
    on_finding: Callable[[Evidence | Alert], None],
    inject: queue.Queue[Evidence],
    intel: IntelHolder | None = None,
    capture: LiveCapture | None = None,
    feed: LiveFeed | None = None,
    zeek_on: tuple[str, str | None] | None = None,
) -> None:
    outdir = data_dir / "analysis" / time.strftime("%Y%m%d-%H%M%S")
    interface, bpf = zeek_on if zeek_on is not None else (None, None)
    if zeek_dir is not None:
        spec = str(zeek_dir)
    else:
        spec = f"iface-{capture.interface if capture is not None else interface}"

    def on_batch(report: BatchReport) -> None:
        if feed is not None:
            feed.batch(
                report.records,
                report.flows,
                report.newest_ts,
                time.time(),
                lines_skipped=report.lines_skipped,
                state_overflow=report.state_overflow,
                detector_errors=report.detector_errors,
            )

    try:
        analyze(
            spec,
            config,
            outdir=outdir,
            follow=True,
            stop=stop,
            on_finding=on_finding,
            inject=inject,
            intel=intel,
            capture=capture,
            on_batch=on_batch,
            interface=interface,
            bpf=bpf,
            engine="zeek" if zeek_on is not None else "builtin",
        )
    except Exception:
        log.exception("detection loop stopped")
        stop.set()


async def _serve(  # noqa: PLR0917 - one call site, positional like the others here
    ctx: ApiContext,
    host: str,
    port: int,
    peering: PeerService | None,
    stop: threading.Event,
    extra: dict[str, Any],
    background: Sequence[Callable[[], Coroutine[Any, Any, None]]] = (),
) -> None:
    runner = web.AppRunner(build_app(ctx), access_log=None)
    tasks = [asyncio.create_task(start()) for start in background]
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
        **extra,
    }
    sys.stdout.write(orjson.dumps(ready).decode() + "\n")
    sys.stdout.flush()
    try:
        while not done.is_set() and not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), timeout=0.5)
    finally:
        for task in tasks:
            task.cancel()
        await runner.cleanup()
