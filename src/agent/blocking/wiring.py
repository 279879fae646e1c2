"""Building the blocking service from the configuration (shared by the CLI and the daemon)."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable

from agent.allowlist_files import bundled_data_dir, load_allowlist
from agent.blocking.backends import open_blocker
from agent.blocking.facts import system_sources
from agent.blocking.guard import FactSource, Guard
from agent.blocking.memory import MemoryBlocker
from agent.blocking.policy import Policy
from agent.blocking.service import BlockingService
from agent.config import Config
from agent.store.base import Store
from detection.allowlist import Allowlist

__all__ = ["make_guard", "make_service", "multiaddr_ip"]


def multiaddr_ip(addr: str) -> str | None:
    """The IP of a ``/ip4/…`` or ``/ip6/…`` multiaddr, else None."""
    for proto, value in itertools.pairwise(addr.split("/")):
        if proto in ("ip4", "ip6"):
            return value
    return None


def load_config_allowlist(config: Config) -> Allowlist | None:
    if not config.allowlist.enabled:
        return None
    data = bundled_data_dir()
    allowlist, _warnings = load_allowlist(
        config.allowlist.file or data / "allowlist.conf",
        config.allowlist.organizations_dir or data / "organizations_info",
    )
    return allowlist


def make_guard(
    config: Config,
    *,
    allowlist: Allowlist | None = None,
    peers: Callable[[], Iterable[str]] | None = None,
) -> Guard:
    """The anti-lockout guard: config entries, allowlist, this host's facts, peers."""
    cfg = config.blocking
    entries = [(v, "never_block entry") for v in cfg.never_block]
    entries += [(v, "DNS server (config)") for v in cfg.dns_servers]
    entries += [(v, "own address (config)") for v in config.p2p.own_addresses]
    entries += [
        (ip, "Starling bootstrap peer")
        for a in config.p2p.bootstrap
        if (ip := multiaddr_ip(a)) is not None
    ]
    sources: list[FactSource] = list(system_sources(ssh_ports=cfg.ssh_ports))
    if peers is not None:
        connected = peers
        sources.append(lambda: [(ip, "Starling peer") for ip in connected()])
    return Guard(entries, allowlist=allowlist, sources=sources)


def make_service(
    config: Config,
    store: Store,
    *,
    backend: str | None = None,
    dry_run: bool | None = None,
    guard: Guard | None = None,
) -> BlockingService:
    """`backend` overrides the config's; dry-run (the default while blocking is not
    enabled) uses a MemoryBlocker whatever the backend."""
    cfg = config.blocking
    dry = (not cfg.enabled) if dry_run is None else dry_run
    blocker = MemoryBlocker() if dry else open_blocker(backend or cfg.backend)
    policy = Policy(
        ttl=cfg.ttl_seconds,
        factor=cfg.escalation_factor,
        max_ttl=cfg.max_ttl_seconds,
        jitter=cfg.jitter,
        repeat_window=cfg.repeat_window_seconds,
    )
    if guard is None:
        guard = make_guard(config, allowlist=load_config_allowlist(config))
    return BlockingService(blocker, store, guard, policy, dry_run=dry, ipv6_prefix=cfg.ipv6_prefix)
