"""iptables + ipset backend: the fallback for hosts without nftables.

Theory of operation
-------------------
Four ipsets created with ``timeout 0`` (timeout support on, each element
carrying its own): ``starling4`` / ``starling6`` (hash:ip) and
``starling4net`` / ``starling6net`` (hash:net). iptables and ip6tables each
get one DROP rule per set and direction, at the top of INPUT (source), OUTPUT
(destination) and FORWARD (both), added only when ``-C`` says the rule is
missing, so `setup` is idempotent and never touches the sets' contents.

A batch is one ``ipset restore -exist`` process: ``add … timeout N`` under
``-exist`` replaces an existing element's timeout, ``del`` of an absent one is
ignored. ipset applies the lines in order and stops at the first error, so a
batch is not atomic as nftables' is; a failed batch is reported whole and the
service retries its bans one by one.

Every call spawns a process (ipset has no stable library API), which is why
this backend is the fallback: compare both in docs/benchmarks.md.
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence

from agent.blocking.base import Ban, Blocker, BlockerError, KernelBan, dedupe
from agent.blocking.target import Target

__all__ = ["IptablesBlocker", "parse_save"]

_SETS = {  # (version, is_range) -> (ipset name, type)
    (4, False): ("starling4", "hash:ip"),
    (6, False): ("starling6", "hash:ip"),
    (4, True): ("starling4net", "hash:net"),
    (6, True): ("starling6net", "hash:net"),
}
_RULES = (("INPUT", "src"), ("FORWARD", "src"), ("FORWARD", "dst"), ("OUTPUT", "dst"))
_MAXELEM = 262_144
_TIMEOUT = 30.0


def _run(argv: list[str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            argv, input=stdin, capture_output=True, text=True, timeout=_TIMEOUT, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BlockerError(f"iptables: cannot run {argv[0]}: {exc}") from exc


def _check(proc: subprocess.CompletedProcess[str], what: str) -> str:
    if proc.returncode != 0:
        raise BlockerError(f"iptables: {what}: {proc.stderr.strip() or f'rc {proc.returncode}'}")
    return proc.stdout


def parse_save(text: str) -> list[KernelBan]:
    """Bans from ``ipset save`` output (``add starling4 1.2.3.4 timeout 3599``)."""
    names = {name for name, _ in _SETS.values()}
    out = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[0] == "add" and parts[1] in names:
            expires = None
            if "timeout" in parts[3:]:
                expires = float(parts[parts.index("timeout") + 1])
            out.append(KernelBan(parts[2], expires))
    return out


class IptablesBlocker(Blocker):
    name = "iptables"

    def _restore(self, lines: list[str], what: str) -> None:
        if lines:
            _check(_run(["ipset", "restore", "-exist"], "\n".join(lines) + "\n"), what)

    def setup(self) -> None:
        creates = []
        for (version, _), (name, kind) in _SETS.items():
            family = "inet" if version == 4 else "inet6"
            creates.append(f"create {name} {kind} family {family} timeout 0 maxelem {_MAXELEM}")
        self._restore(creates, "creating the ipsets")
        for (version, _), (name, _kind) in _SETS.items():
            tool = "iptables" if version == 4 else "ip6tables"
            for chain, direction in _RULES:
                rule = [chain, "-m", "set", "--match-set", name, direction, "-j", "DROP"]
                if _run([tool, "-w", "-C", *rule]).returncode != 0:
                    _check(_run([tool, "-w", "-I", chain, "1", *rule[1:]]), f"{tool} {chain}")

    def apply(self, bans: Sequence[Ban]) -> None:
        lines = [
            f"add {_SETS[b.target.version, b.target.is_range][0]} {b.target.value} "
            f"timeout {b.seconds}"
            for b in dedupe(bans)
        ]
        self._restore(lines, "adding bans")

    def remove(self, targets: Sequence[Target]) -> None:
        lines = [f"del {_SETS[t.version, t.is_range][0]} {t.value}" for t in targets]
        self._restore(lines, "removing bans")

    def flush(self) -> None:
        for name, _ in _SETS.values():
            proc = _run(["ipset", "flush", name])
            if proc.returncode != 0 and "does not exist" not in proc.stderr:
                _check(proc, f"flushing {name}")

    def list(self) -> list[KernelBan]:
        out = []
        for name, _ in _SETS.values():
            proc = _run(["ipset", "save", name])
            if proc.returncode != 0 and "does not exist" in proc.stderr:
                continue
            out += parse_save(_check(proc, f"listing {name}"))
        return out
