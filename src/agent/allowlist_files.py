"""Reading the allowlist and organisation files from disk (the I/O half of the allowlist).

`detection.allowlist` parses text and never touches files; this module finds,
reads and feeds it. Error handling: nothing here raises for a missing,
unreadable or malformed file. Every problem becomes a human-readable warning
naming the path, and the caller gets whatever could be loaded (possibly an
empty allowlist) — a broken allowlist must not stop an analysis, but it must
be visible. Files are read as UTF-8 with undecodable bytes replaced.

Only the organisations an ``organization`` entry names are read (the Apple
ranges alone are ~300 KB), unless ``all_orgs=True``.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from detection.allowlist import AllowEntry, Allowlist, OrgInfo, parse_allowlist, parse_org

__all__ = ["bundled_data_dir", "load_allowlist"]

_ORG_SUFFIXES = ("_asn", "_domains", "_ip_ranges")


def bundled_data_dir() -> Path:
    """``src/agent/data/``: the allowlist and organisation files shipped with Starling."""
    data = files("agent") / "data"
    if not isinstance(data, Path):  # only a zip import would get here
        raise RuntimeError(f"agent package data is not on the file system: {data!r}")
    return data


def _read(path: Path, what: str, warnings: list[str]) -> str | None:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        warnings.append(f"{what} {path} not found")
    except OSError as exc:
        warnings.append(f"{what} {path} could not be read: {exc.strerror or exc}")
    return None


def _available_orgs(orgs_dir: Path) -> set[str]:
    names: set[str] = set()
    try:
        for child in orgs_dir.iterdir():
            for suffix in _ORG_SUFFIXES:
                if child.name.endswith(suffix) and len(child.name) > len(suffix):
                    names.add(child.name[: -len(suffix)].lower())
    except OSError:
        return set()
    return names


def _load_org(name: str, orgs_dir: Path, warnings: list[str]) -> OrgInfo | None:
    texts: list[str] = []
    missing: list[str] = []
    for suffix in _ORG_SUFFIXES:
        path = orgs_dir / f"{name}{suffix}"
        if not path.is_file():
            missing.append(path.name)
            texts.append("")
            continue
        text = _read(path, "organisation file", warnings)
        texts.append(text or "")
    if len(missing) == len(_ORG_SUFFIXES):
        warnings.append(f"organization {name}: no data files in {orgs_dir}; it matches nothing")
        return None
    if missing:
        warnings.append(f"organization {name}: missing {', '.join(missing)} in {orgs_dir}")
    info = parse_org(name, texts[0], texts[1], texts[2])
    warnings.extend(f"{orgs_dir}: {w}" for w in info.warnings)
    return info


def load_allowlist(
    path: Path | None, orgs_dir: Path | None, *, all_orgs: bool = False
) -> tuple[Allowlist, list[str]]:
    """Read a Slips-format allowlist and the organisations it names.

    `path` None means no entries; `orgs_dir` None means no organisation data.
    With `all_orgs`, every organisation in `orgs_dir` is loaded into
    `Allowlist.orgs` (only listed ones are used for matching).
    """
    warnings: list[str] = []
    entries: list[AllowEntry] = []
    if path is not None:
        text = _read(path, "allowlist file", warnings)
        if text is not None:
            entries, parse_warnings = parse_allowlist(text)
            warnings.extend(f"{path}: {w}" for w in parse_warnings)

    wanted = {e.value for e in entries if e.ioc_type == "organization"}
    orgs: dict[str, OrgInfo] = {}
    if orgs_dir is None:
        if wanted:
            warnings.append(
                f"organizations {', '.join(sorted(wanted))} are allowlisted but no "
                "organizations directory is configured; they match nothing"
            )
    elif not orgs_dir.is_dir():
        warnings.append(f"organizations directory {orgs_dir} not found")
    else:
        if all_orgs:
            wanted |= _available_orgs(orgs_dir)
        for name in sorted(wanted):
            info = _load_org(name, orgs_dir, warnings)
            if info is not None:
                orgs[name] = info
    return Allowlist(entries, orgs), warnings
