"""nftables backend: table ``inet starling``, four timeout sets, three chains.

Theory of operation
-------------------
Ruleset (created by `setup`, in one transaction)::

    table inet starling {
      set ban4    { type ipv4_addr; flags timeout; }            # single addresses
      set ban6    { type ipv6_addr; flags timeout; }
      set ban4net { type ipv4_addr; flags interval, timeout; }  # CIDR ranges
      set ban6net { type ipv6_addr; flags interval, timeout; }
      chain input   { type filter hook input priority filter - 10; policy accept;
                      ip saddr @ban4 counter drop … }            # from the attacker
      chain forward { … saddr and daddr … }                      # routed, both ways
      chain output  { … daddr … }                                # to it (C&C cut off)
    }

Every element carries its own timeout, so the kernel expires a ban even if
the agent is dead. `setup` is idempotent and keeps bans: ``add`` of an
existing table, set or chain is a no-op, and only the three chains are flushed
and refilled, in the same transaction, so there is no instant without rules.

Re-banning must replace the timeout, which ``add element`` alone does not do
for an existing element (and nft 1.0.6 has no ``destroy``). So a batch is, per
set, three statements in one transaction::

    add element … { a timeout 1s, b timeout 1s }      # make sure each exists
    delete element … { a, b }                         # now always succeeds
    add element … { a timeout 3600s, b timeout 60s }  # the real timeouts

Removal is the first two. A transaction is all or nothing: a batch holding an
interval that overlaps an existing one fails whole (the service then retries
its bans one by one to isolate it).

Transport: libnftables through ctypes (`_Library`: one context, no process
per call; single bans in well under a millisecond), else one ``nft -f -``
process per call (`_Process`) when the library cannot be loaded.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import subprocess
import threading
from collections.abc import Iterable, Sequence
from typing import Any

import orjson

from agent.blocking.base import Ban, Blocker, BlockerError, KernelBan, dedupe
from agent.blocking.target import Target

__all__ = ["NftBlocker", "ruleset_commands"]

log = logging.getLogger(__name__)

TABLE = "inet starling"
_SETS = {  # (version, is_range) -> set name
    (4, False): "ban4",
    (6, False): "ban6",
    (4, True): "ban4net",
    (6, True): "ban6net",
}
_SET_DEFS = {
    "ban4": "type ipv4_addr; flags timeout;",
    "ban6": "type ipv6_addr; flags timeout;",
    "ban4net": "type ipv4_addr; flags interval, timeout;",
    "ban6net": "type ipv6_addr; flags interval, timeout;",
}
_CHAINS = {  # chain -> (hook, directions matched)
    "input": ("input", ("saddr",)),
    "forward": ("forward", ("saddr", "daddr")),
    "output": ("output", ("daddr",)),
}
_NFT_CTX_OUTPUT_JSON = 1 << 4
_TIMEOUT = 30.0


def ruleset_commands() -> str:
    """The idempotent setup transaction (see the module header)."""
    lines = [f"add table {TABLE}"]
    lines += [f"add set {TABLE} {name} {{ {spec} }}" for name, spec in _SET_DEFS.items()]
    for chain, (hook, directions) in _CHAINS.items():
        lines.append(
            f"add chain {TABLE} {chain} "
            f"{{ type filter hook {hook} priority filter - 10; policy accept; }}"
        )
        lines.append(f"flush chain {TABLE} {chain}")
        for direction in directions:
            for (version, _), name in _SETS.items():
                family = "ip" if version == 4 else "ip6"
                lines.append(f"add rule {TABLE} {chain} {family} {direction} @{name} counter drop")
    return "\n".join(lines) + "\n"


def _by_set(targets: Iterable[tuple[Target, str]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for target, element in targets:
        out.setdefault(_SETS[target.version, target.is_range], []).append(element)
    return out


def _elements(verb: str, name: str, elements: list[str]) -> str:
    return f"{verb} element {TABLE} {name} {{ {', '.join(elements)} }}\n"


def _replace_commands(bans: Sequence[Ban]) -> str:
    placeholders = _by_set((b.target, f"{b.target.value} timeout 1s") for b in bans)
    values = _by_set((b.target, b.target.value) for b in bans)
    real = _by_set((b.target, f"{b.target.value} timeout {b.seconds}s") for b in bans)
    out = []
    for name in real:
        out.append(_elements("add", name, placeholders[name]))
        out.append(_elements("delete", name, values[name]))
        out.append(_elements("add", name, real[name]))
    return "".join(out)


def _remove_commands(targets: Sequence[Target]) -> str:
    unique = list({t.value: t for t in targets}.values())
    placeholders = _by_set((t, f"{t.value} timeout 1s") for t in unique)
    values = _by_set((t, t.value) for t in unique)
    return "".join(
        _elements("add", name, placeholders[name]) + _elements("delete", name, values[name])
        for name in values
    )


def _element_value(val: Any) -> str | None:
    if isinstance(val, str):
        return val
    if isinstance(val, dict):
        if "prefix" in val:
            return f"{val['prefix']['addr']}/{val['prefix']['len']}"
        if "range" in val:  # a range nft could not express as a prefix
            return f"{val['range'][0]}-{val['range'][1]}"
    return None


def parse_listing(text: str) -> list[KernelBan]:
    """Bans from ``nft -j list table inet starling`` output."""
    out: list[KernelBan] = []
    for item in orjson.loads(text).get("nftables", []):
        nft_set = item.get("set") if isinstance(item, dict) else None
        if not nft_set or nft_set.get("name") not in _SET_DEFS:
            continue
        for elem in nft_set.get("elem", []):
            inner = elem.get("elem", elem) if isinstance(elem, dict) else elem
            if isinstance(inner, dict) and "val" in inner:
                value = _element_value(inner["val"])
                expires = inner.get("expires")
            else:
                value, expires = _element_value(inner), None
            if value is not None:
                out.append(KernelBan(value, None if expires is None else float(expires)))
    return out


class _Library:
    """libnftables through ctypes: one context, guarded by a lock (it is not thread-safe)."""

    def __init__(self) -> None:
        path = ctypes.util.find_library("nftables") or "libnftables.so.1"
        lib = ctypes.CDLL(path)  # OSError when absent: the caller falls back
        lib.nft_ctx_new.restype = ctypes.c_void_p
        lib.nft_ctx_new.argtypes = [ctypes.c_uint32]
        lib.nft_ctx_free.argtypes = [ctypes.c_void_p]
        lib.nft_ctx_buffer_output.argtypes = [ctypes.c_void_p]
        lib.nft_ctx_buffer_error.argtypes = [ctypes.c_void_p]
        lib.nft_ctx_output_set_flags.argtypes = [ctypes.c_void_p, ctypes.c_uint]
        lib.nft_ctx_get_output_buffer.restype = ctypes.c_char_p
        lib.nft_ctx_get_output_buffer.argtypes = [ctypes.c_void_p]
        lib.nft_ctx_get_error_buffer.restype = ctypes.c_char_p
        lib.nft_ctx_get_error_buffer.argtypes = [ctypes.c_void_p]
        lib.nft_run_cmd_from_buffer.restype = ctypes.c_int
        lib.nft_run_cmd_from_buffer.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
        ctx = lib.nft_ctx_new(0)
        if not ctx:
            raise OSError("nft_ctx_new failed")
        lib.nft_ctx_buffer_output(ctx)
        lib.nft_ctx_buffer_error(ctx)
        self._lib = lib
        self._ctx: int | None = ctx
        self._lock = threading.Lock()
        self.description = f"libnftables ({path})"

    def run(self, commands: str, *, json: bool = False) -> str:
        with self._lock:
            if self._ctx is None:
                raise BlockerError("nftables: library context is closed")
            self._lib.nft_ctx_output_set_flags(self._ctx, _NFT_CTX_OUTPUT_JSON if json else 0)
            rc = self._lib.nft_run_cmd_from_buffer(self._ctx, commands.encode())
            out = self._lib.nft_ctx_get_output_buffer(self._ctx) or b""
            err = self._lib.nft_ctx_get_error_buffer(self._ctx) or b""
        if rc != 0:
            raise BlockerError(f"nftables: {err.decode(errors='replace').strip() or f'rc {rc}'}")
        return str(out.decode(errors="replace"))

    def close(self) -> None:
        with self._lock:
            ctx, self._ctx = self._ctx, None
        if ctx is not None:
            self._lib.nft_ctx_free(ctx)


class _Process:
    """One ``nft`` process per call (no libnftables)."""

    description = "nft -f - (subprocess)"

    def run(self, commands: str, *, json: bool = False) -> str:
        argv = ["nft", "-j", *commands.split()] if json else ["nft", "-f", "-"]
        try:
            proc = subprocess.run(
                argv,
                input=None if json else commands,
                capture_output=True,
                text=True,
                timeout=_TIMEOUT,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise BlockerError(f"nftables: cannot run nft: {exc}") from exc
        if proc.returncode != 0:
            raise BlockerError(f"nftables: {proc.stderr.strip() or f'rc {proc.returncode}'}")
        return proc.stdout

    def close(self) -> None:
        return None


class NftBlocker(Blocker):
    name = "nftables"

    def __init__(self, *, use_library: bool = True) -> None:
        self._nft: _Library | _Process
        if use_library:
            try:
                self._nft = _Library()
            except (OSError, AttributeError) as exc:
                log.info("libnftables unavailable (%s); using the nft command", exc)
                self._nft = _Process()
        else:
            self._nft = _Process()

    @property
    def transport(self) -> str:
        return self._nft.description

    def setup(self) -> None:
        self._nft.run(ruleset_commands())

    def apply(self, bans: Sequence[Ban]) -> None:
        unique = dedupe(bans)
        if unique:
            self._nft.run(_replace_commands(unique))

    def remove(self, targets: Sequence[Target]) -> None:
        if targets:
            self._nft.run(_remove_commands(targets))

    def flush(self) -> None:
        if self._has_table():
            self._nft.run("".join(f"flush set {TABLE} {name}\n" for name in _SET_DEFS))

    def list(self) -> list[KernelBan]:
        if not self._has_table():
            return []
        return parse_listing(self._nft.run(f"list table {TABLE}", json=True))

    def _has_table(self) -> bool:
        listing = orjson.loads(self._nft.run("list tables inet", json=True))
        return any(
            isinstance(item, dict) and item.get("table", {}).get("name") == "starling"
            for item in listing.get("nftables", [])
        )

    def close(self) -> None:
        self._nft.close()
