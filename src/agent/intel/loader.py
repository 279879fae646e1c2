"""Build the indicator index from what is on disk: the feeds' last good copies
and the local IoC files. No network: analysis starts at once with the last good
copies (`starling intel update`, or the daemon's updater, refreshes them).

Local files are read with the same format parsers as feeds; the file name says
what a file holds (``*JA3*`` fingerprints, ``*JARM*`` JARM hashes, ``*fp*``
known-false-positive MD5s that never match). `IntelLoader.changed()` compares
their content hashes, so a long-running agent rebuilds the index when an
operator edits one (not when its mtime alone changes).

Parsing a million feed lines costs seconds at every start, so the built index is
kept as a snapshot (`<cache dir>/index.snapshot`, see `IntelIndex.snapshot`)
under a key made of everything it was built from: each feed's spec and the
SHA-256 its cache meta records, each local file's content hash, the age limit
(and, when one is set, the day: entries age out daily). Same key, same index:
it is loaded in a tenth of the time. A missing, stale, corrupt or unwritable
snapshot only means a rebuild (`LoadReport.snapshot` says which).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgpack
import orjson

from agent.allowlist_files import bundled_data_dir
from agent.config import Config
from agent.intel.updater import FeedUpdater
from detection.intel.feedlist import FeedSpec, parse_feed_list
from detection.intel.formats import parse_feed
from detection.intel.index import IntelIndex
from detection.intel.model import FeedInfo, IocKind
from detection.model import ThreatLevel

__all__ = ["IntelLoader", "LoadReport", "feed_specs", "intel_cache_dir", "local_hint"]

_DAY = 86_400.0
_SNAPSHOT = "index.snapshot"
_SNAPSHOT_FORMAT = 1

log = logging.getLogger(__name__)


def _bundled() -> Path:
    return bundled_data_dir() / "intel"


DEFAULT_CACHE_DIR = Path("~/.cache/starling/intel")


def intel_cache_dir(config: Config) -> Path:
    return (config.intel.cache_dir or DEFAULT_CACHE_DIR).expanduser()


def list_kind(path: Path) -> str:
    name = path.name.lower()
    return "ja3" if "ja3" in name else "ssl" if "ssl" in name else "ti"


def local_hint(path: Path) -> str:
    """What a local file holds, from its name: "ja3", "jarm", "fp" or "ti"."""
    name = path.name.lower()
    if "ja3" in name:
        return "ja3"
    if "jarm" in name:
        return "jarm"
    if "fp" in name.replace(".", "_").split("_") or "false" in name:
        return "fp"
    return "ti"


def feed_specs(config: Config) -> tuple[list[FeedSpec], list[str]]:
    """Every feed of the configured lists (the bundled ones by default)."""
    lists = config.intel.feed_lists
    if lists is None:
        lists = [_bundled() / n for n in ("TI_feeds.csv", "JA3_feeds.csv", "SSL_feeds.csv")]
    specs: list[FeedSpec] = []
    warnings: list[str] = []
    seen: set[str] = set()
    for path in lists:
        try:
            text = path.expanduser().read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            warnings.append(f"feed list {path}: {exc.strerror or exc}")
            continue
        found, w = parse_feed_list(text, list_kind(path))
        warnings += [f"{path.name}: {x}" for x in w]
        for spec in found:
            if spec.name in seen:
                warnings.append(f"{path.name}: feed {spec.name} listed twice; first kept")
                continue
            seen.add(spec.name)
            specs.append(spec)
    return specs, warnings


def local_files(config: Config) -> list[Path]:
    if config.intel.local_files is not None:
        return [p.expanduser() for p in config.intel.local_files]
    return sorted((_bundled() / "local").glob("*.csv"))


@dataclass
class LoadReport:
    feeds_loaded: dict[str, int] = field(default_factory=dict)  # name -> indicators
    feeds_missing: list[str] = field(default_factory=list)  # active, never downloaded
    local_loaded: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, dict[str, int]] = field(default_factory=dict)  # source -> reasons
    warnings: list[str] = field(default_factory=list)
    snapshot: str = "off"  # "hit", "built", "off" (intel disabled), "unwritable: …"


class IntelLoader:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.cache_dir = intel_cache_dir(config)
        self._local_hashes: dict[Path, str] = {}

    def _hash_locals(self) -> dict[Path, str]:
        out: dict[Path, str] = {}
        for path in local_files(self.config):
            try:
                out[path] = hashlib.sha256(path.read_bytes()).hexdigest()
            except OSError:
                out[path] = ""
        return out

    def changed(self) -> bool:
        """Has any local file's content changed since the last `load`?"""
        return self._hash_locals() != self._local_hashes

    def load(self, now: float) -> tuple[IntelIndex, LoadReport]:
        report = LoadReport()
        cfg = self.config.intel
        if not cfg.enabled:
            return IntelIndex().freeze(), report
        max_age = cfg.max_age_days * _DAY if cfg.max_age_days is not None else None
        specs, report.warnings = feed_specs(self.config)
        usable = [s for s in specs if s.state != "removed"]
        updater = FeedUpdater(self.cache_dir)
        cached = updater.cached(usable)
        self._local_hashes = self._hash_locals()
        key = self._snapshot_key(usable, cached, max_age, now)
        found = self._read_snapshot(key)
        if found is not None:
            index, saved = found
            saved.warnings = report.warnings + saved.warnings
            saved.snapshot = "hit"
            return index, saved
        index = self._build(report, usable, cached, max_age, now)
        report.snapshot = self._write_snapshot(key, index, report)
        return index, report

    def _snapshot_key(
        self, usable: list[FeedSpec], cached: list[Any], max_age: float | None, now: float
    ) -> str:
        sources: list[Any] = [_SNAPSHOT_FORMAT, max_age]
        if max_age is not None:
            sources.append(int(now // _DAY))
        sources.append(
            [[s.name, s.url, s.kind, s.state, s.threat_level.value, list(s.tags)] for s in usable]
        )
        sources.append(sorted([c.name, c.meta["sha256"]] for c in cached))
        sources.append(sorted([str(p), h] for p, h in self._local_hashes.items()))
        return hashlib.sha256(orjson.dumps(sources)).hexdigest()

    def _read_snapshot(self, key: str) -> tuple[IntelIndex, LoadReport] | None:
        path = self.cache_dir / _SNAPSHOT
        try:
            doc = msgpack.unpackb(path.read_bytes(), raw=False)
            if not isinstance(doc, dict) or doc.get("key") != key:
                return None
            index = IntelIndex.from_snapshot(doc["index"])
            report = LoadReport(**{k: v for k, v in doc["report"].items() if k != "snapshot"})
        except FileNotFoundError:
            return None
        except (OSError, ValueError, TypeError, KeyError, msgpack.UnpackException) as exc:
            log.info("intel: index snapshot %s not used: %s", path, exc)
            return None
        return index, report

    def _write_snapshot(self, key: str, index: IntelIndex, report: LoadReport) -> str:
        path = self.cache_dir / _SNAPSHOT
        tmp = path.with_name(f".{_SNAPSHOT}.{os.getpid()}.tmp")
        try:
            saved = dataclasses.asdict(report)
            saved["warnings"] = []  # feed-list warnings are recomputed at every load
            blob = msgpack.packb(
                {"key": key, "report": saved, "index": index.snapshot()}, use_bin_type=True
            )
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            tmp.write_bytes(blob)
            tmp.replace(path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
            log.info("intel: index snapshot not written: %s", exc)
            return f"unwritable: {exc.strerror or exc}"
        return "built"

    def _build(
        self,
        report: LoadReport,
        usable: list[FeedSpec],
        cached: list[Any],
        max_age: float | None,
        now: float,
    ) -> IntelIndex:
        index = IntelIndex()
        by_name = {s.name: s for s in usable}
        have = set()
        for entry in cached:
            spec = by_name.get(entry.name)
            if spec is None:
                continue
            try:
                data = entry.path.read_bytes()
            except OSError as exc:
                report.warnings.append(f"feed {entry.name}: {exc.strerror or exc}")
                continue
            parsed = parse_feed(data, spec.kind)
            info = FeedInfo(spec.name, spec.threat_level, spec.tags, spec.url)
            report.feeds_loaded[spec.name] = index.add_feed(
                info, parsed.iocs, now=now, max_age=max_age
            )
            if parsed.skipped:
                report.skipped[spec.name] = dict(parsed.skipped)
            have.add(spec.name)
        report.feeds_missing = [
            s.name for s in usable if s.state == "active" and s.name not in have
        ]
        for path in self._local_hashes:
            try:
                data = path.read_bytes()
            except OSError as exc:
                report.warnings.append(f"local IoC file {path}: {exc.strerror or exc}")
                continue
            hint = local_hint(path)
            parsed = parse_feed(data, "ti" if hint == "fp" else hint)
            source = f"local:{path.name}"
            if parsed.skipped:
                report.skipped[source] = dict(parsed.skipped)
            if hint == "fp":
                md5s = [i.value for i in parsed.iocs if i.kind is IocKind.MD5]
                index.add_benign_md5(md5s)
                report.local_loaded[source] = len(md5s)
                continue
            info = FeedInfo(source, ThreatLevel.MEDIUM, ("local",), str(path))
            report.local_loaded[source] = index.add_feed(info, parsed.iocs)
        return index.freeze()
