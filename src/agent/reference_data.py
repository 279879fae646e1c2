"""Load the reference data detectors consult into a `DetectionContext`.

Detection is pure (no I/O); this module reads the files — Slips' known services
and organisation ports, the organisations' ranges and domains, an optional Tor
exit-node list — once at start. A bad line is skipped and reported in the
returned warnings (never a crash); a missing optional file means empty data.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from pathlib import Path

from agent.allowlist_files import _available_orgs, _load_org, bundled_data_dir
from agent.config import Config
from agent.ml.io import bundled_models
from detection.allowlist import CidrIndex, OrgInfo
from detection.heuristics.base import DetectionContext, OrgPort

__all__ = ["load_reference_data", "parse_org_ports", "parse_services"]


def parse_services(text: str) -> tuple[dict[tuple[str, int], str], list[str]]:
    """`name,port,proto,description` lines -> {(proto, port): name}."""
    services: dict[tuple[str, int], str] = {}
    warnings: list[str] = []
    for n, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        if not row or row[0].startswith("#"):
            continue
        try:
            name, port, proto = row[0].strip(), int(row[1]), row[2].strip().lower()
        except (IndexError, ValueError):
            warnings.append(f"services line {n}: expected name,port,proto[,description]")
            continue
        if not 0 <= port <= 65535:
            warnings.append(f"services line {n}: port {port} out of range")
            continue
        services.setdefault((proto, port), name)
    return services, warnings


def parse_org_ports(text: str) -> tuple[list[OrgPort], list[str]]:
    """`"Organization","IP/IP range","port","protocol"` rows; ports may be `a-b`."""
    out: list[OrgPort] = []
    warnings: list[str] = []
    for n, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        if not row or row[0].startswith("#") or row[0] == "Organization":
            continue
        try:
            org, ranges, ports, proto = (x.strip() for x in row[:4])
            first, _, last = ports.partition("-")
            lo, hi = int(first), int(last or first)
            index = CidrIndex([r.strip() for r in ranges.split(" ") if r.strip()])
        except (ValueError, TypeError):
            warnings.append(f"org ports line {n}: expected org,range,port[-port],proto")
            continue
        out.append(OrgPort(org, index, lo, hi, proto.lower()))
    return out, warnings


def _read(path: Path, warnings: list[str]) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        warnings.append(f"{path}: {exc.strerror or exc}")
        return ""


def load_reference_data(
    config: Config,
    loaded: Mapping[str, OrgInfo] | None = None,
    loaded_from: Path | None = None,
) -> tuple[DetectionContext, list[str]]:
    """`loaded` are organisations already parsed from `loaded_from` (the allowlist's):
    reused when that is the same directory, so no file is read twice at start-up."""
    ref = config.reference_data
    data = bundled_data_dir()
    warnings: list[str] = []
    services, w = parse_services(
        _read(ref.services or data / "ports_info" / "services.csv", warnings)
    )
    warnings += w
    org_ports_path = ref.org_ports or data / "ports_info" / "ports_used_by_specific_orgs.csv"
    org_ports, w = parse_org_ports(_read(org_ports_path, warnings))
    warnings += w
    orgs_dir = ref.organizations_dir or data / "organizations_info"
    organizations: dict[str, OrgInfo] = {}
    if orgs_dir.is_dir():
        same_dir = loaded_from is not None and loaded_from.resolve() == orgs_dir.resolve()
        reuse = loaded if loaded is not None and same_dir else {}
        for name in sorted(_available_orgs(orgs_dir)):
            info = reuse.get(name) or _load_org(name, orgs_dir, warnings)
            if info is not None:
                organizations[name] = info
    else:
        warnings.append(f"organizations directory {orgs_dir} not found")
    tor: set[str] = set()
    if ref.tor_exit_nodes is not None:
        for raw in _read(ref.tor_exit_nodes, warnings).splitlines():
            line = raw.strip()
            if line and not line.startswith("#"):
                tor.add(line)
    # Trained models (agent.ml.io): verified on load; a missing or refused
    # model is a warning and its detector stays quiet.
    models, w = bundled_models()
    warnings += w
    context = DetectionContext(
        models=models,
        services=services,
        org_ports=tuple(org_ports),
        organizations=organizations,
        tor_exit_nodes=frozenset(tor),
        own_addresses=frozenset(config.p2p.own_addresses),
    )
    return context, warnings
