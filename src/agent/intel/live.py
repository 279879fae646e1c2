"""Keeping a running agent's indicators fresh without pausing detection.

The daemon's event loop runs `refresh_forever`: every `check_seconds` it asks the
updater for the feeds whose period has passed (conditional requests: usually
cheap 304s) and re-hashes the local IoC files; when anything changed it rebuilds
the index in a worker thread and publishes it through an `IntelHolder`. The
detection thread polls the holder's version between batches and switches its
detectors over (`Pipeline.use_intel`): a plain attribute swap, no lock on the
hot path, and analysis never waits for a download.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable

from agent.config import Config
from agent.intel.loader import IntelLoader, feed_specs, intel_cache_dir
from agent.intel.updater import FeedUpdater
from detection.intel.formats import parse_feed
from detection.intel.index import IntelIndex

__all__ = ["IntelHolder", "refresh_forever"]

log = logging.getLogger("starling.intel")


class IntelHolder:
    """The current index and a version that changes when it is replaced."""

    def __init__(self, index: IntelIndex) -> None:
        self._lock = threading.Lock()
        self._index = index
        self.version = 0

    def get(self) -> IntelIndex:
        with self._lock:
            return self._index

    def publish(self, index: IntelIndex) -> None:
        with self._lock:
            self._index = index
            self.version += 1


def make_updater(config: Config) -> FeedUpdater:
    cfg = config.intel
    return FeedUpdater(
        intel_cache_dir(config),
        parse=parse_feed,
        period=cfg.period_hours * 3600.0,
        timeout=cfg.update_timeout_seconds,
        max_bytes=int(cfg.max_feed_megabytes * 1_000_000),
    )


async def refresh_forever(
    config: Config,
    holder: IntelHolder,
    loader: IntelLoader,
    stop: threading.Event,
    *,
    check_seconds: float = 600.0,
    clock: Callable[[], float] = time.time,
) -> None:
    updater = make_updater(config)
    while not stop.is_set():
        try:
            specs, _ = feed_specs(config)
            results = await updater.update(specs, clock())
            changed = any(r.status in ("updated", "removed") for r in results)
            for r in results:
                if r.status in ("failed", "rejected"):
                    log.warning("intel feed %s %s: %s", r.name, r.status, r.error)
            if changed or loader.changed():
                index, report = await asyncio.to_thread(loader.load, clock())
                holder.publish(index)
                log.info("intel index rebuilt: %s", index.counts())
                for w in report.warnings:
                    log.warning("intel: %s", w)
        except Exception:
            log.exception("intel refresh failed; the current index stays in use")
        for _ in range(int(check_seconds / 0.5)):
            if stop.is_set():
                return
            await asyncio.sleep(0.5)
