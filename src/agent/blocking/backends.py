"""Choosing a backend by its config / CLI name."""

from __future__ import annotations

from typing import Literal

from agent.blocking.base import Blocker
from agent.blocking.iptables import IptablesBlocker
from agent.blocking.memory import MemoryBlocker
from agent.blocking.nftables import NftBlocker

__all__ = ["BACKENDS", "BackendName", "open_blocker"]

BackendName = Literal["nftables", "iptables", "memory"]
BACKENDS: tuple[BackendName, ...] = ("nftables", "iptables", "memory")


def open_blocker(name: str) -> Blocker:
    if name == "nftables":
        return NftBlocker()
    if name == "iptables":
        return IptablesBlocker()
    if name == "memory":
        return MemoryBlocker()
    raise ValueError(f"unknown blocking backend {name!r} ({'|'.join(BACKENDS)})")
