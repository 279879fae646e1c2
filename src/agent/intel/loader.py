"""Build the indicator index from what is on disk: the feeds' last good copies
and the local IoC files. No network: analysis starts at once with the last good
copies (`starling intel update`, or the daemon's updater, refreshes them).

Local files are read with the same format parsers as feeds; the file name says
what a file holds (``*JA3*`` fingerprints, ``*JARM*`` JARM hashes, ``*fp*``
known-false-positive MD5s that never match). `IntelLoader.changed()` compares
their content hashes, so a long-running agent rebuilds the index when an
operator edits one (not when its mtime alone changes).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

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
        index = IntelIndex()
        cfg = self.config.intel
        if not cfg.enabled:
            return index.freeze(), report
        max_age = cfg.max_age_days * _DAY if cfg.max_age_days is not None else None
        specs, report.warnings = feed_specs(self.config)
        usable = [s for s in specs if s.state != "removed"]
        by_name = {s.name: s for s in usable}
        updater = FeedUpdater(self.cache_dir)
        cached = updater.cached(usable)
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
        self._local_hashes = self._hash_locals()
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
        return index.freeze(), report
