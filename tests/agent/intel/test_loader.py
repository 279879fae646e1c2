"""The intel loader keeps the built index as a snapshot and reuses it only while
everything it was built from is unchanged."""

from __future__ import annotations

from pathlib import Path

from agent.config import Config
from agent.intel.loader import IntelLoader


def _config(tmp_path: Path, local: Path, cache: Path, max_age_days: float | None = None) -> Config:
    intel = {
        "feed_lists": [],
        "local_files": [str(local)],
        "cache_dir": str(cache),
        "max_age_days": max_age_days,
    }
    return Config.model_validate({"intel": intel})


def _local(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "own_malicious_iocs.csv"
    body = "".join(f'"{x}","high","test"\n' for x in lines)
    path.write_text('"IoC","Threat level","Description"\n' + body)
    return path


def test_snapshot_is_reused_until_a_source_changes(tmp_path: Path) -> None:
    local = _local(tmp_path, "198.51.100.1", "evil.example")
    cache = tmp_path / "cache"
    config = _config(tmp_path, local, cache)
    first, report = IntelLoader(config).load(now=1_000_000.0)
    assert report.snapshot == "built" and (cache / "index.snapshot").is_file()
    second, again = IntelLoader(config).load(now=1_000_000.0)
    assert again.snapshot == "hit"
    assert again.local_loaded == report.local_loaded == {"local:own_malicious_iocs.csv": 2}
    assert second.counts() == first.counts()
    match = second.lookup_ip("198.51.100.1")
    assert match is not None and match.feed.name == "local:own_malicious_iocs.csv"

    _local(tmp_path, "198.51.100.1", "evil.example", "203.0.113.9")  # an operator edits it
    third, edited = IntelLoader(config).load(now=1_000_000.0)
    assert edited.snapshot == "built" and third.lookup_ip("203.0.113.9") is not None


def test_corrupt_or_unwritable_snapshot_means_a_rebuild(tmp_path: Path) -> None:
    local = _local(tmp_path, "198.51.100.1")
    cache = tmp_path / "cache"
    config = _config(tmp_path, local, cache)
    IntelLoader(config).load(now=0.0)
    snapshot = cache / "index.snapshot"
    snapshot.write_bytes(snapshot.read_bytes()[:100])  # truncated
    index, report = IntelLoader(config).load(now=0.0)
    assert report.snapshot == "built" and index.lookup_ip("198.51.100.1") is not None

    blocker = tmp_path / "a-file"
    blocker.write_text("")
    config = _config(tmp_path, local, blocker / "cache")  # cannot be created
    index, report = IntelLoader(config).load(now=0.0)
    assert report.snapshot.startswith("unwritable") and index.lookup_ip("198.51.100.1")


def test_an_age_limit_keys_the_snapshot_by_day(tmp_path: Path) -> None:
    local = _local(tmp_path, "198.51.100.1")
    config = _config(tmp_path, local, tmp_path / "cache", max_age_days=30)
    assert IntelLoader(config).load(now=86400.0 * 100)[1].snapshot == "built"
    assert IntelLoader(config).load(now=86400.0 * 100 + 60)[1].snapshot == "hit"
    assert IntelLoader(config).load(now=86400.0 * 101)[1].snapshot == "built"
