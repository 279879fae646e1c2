"""Reading the anti-lockout facts from this host (the I/O half of the guard).

Each ``parse_*`` function is pure and takes the tool's output; each source
runs the tool and raises `FactError` when it cannot, which makes the guard
fail closed. The facts are those of the network namespace the process runs in
(``ip netns exec NS starling …`` sees NS's addresses and routes).

* own addresses: ``ip -j addr show`` (every ``local`` of every interface);
* default gateways: ``ip -j route show default`` and ``ip -6 -j route show
  default`` (``gateway``, or each ``nexthops[].gateway`` of a multipath route);
* DNS servers: ``nameserver`` lines of /etc/resolv.conf (a missing file means
  none; configured ones are added by the caller);
* SSH clients: ``SSH_CLIENT`` / ``SSH_CONNECTION`` of this process, and the
  peers of established connections on the sshd ports (``ss -Htn state
  established '( sport = :22 )'``), since the operator's session is usually
  not this process's parent.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson

from agent.blocking.guard import FactError, FactSource

__all__ = [
    "parse_ip_addr",
    "parse_resolv",
    "parse_routes",
    "parse_ss",
    "parse_ssh_env",
    "system_sources",
]

_TIMEOUT = 10.0


def _tool(argv: list[str]) -> str:
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=_TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise FactError(f"{' '.join(argv)}: {exc}") from exc
    if proc.returncode != 0:
        raise FactError(f"{' '.join(argv)}: {proc.stderr.strip() or f'rc {proc.returncode}'}")
    return proc.stdout


def _json_list(text: str, what: str) -> list[Any]:
    try:
        data = orjson.loads(text or "[]")
    except orjson.JSONDecodeError as exc:
        raise FactError(f"{what}: unparsable output: {exc}") from exc
    if not isinstance(data, list):
        raise FactError(f"{what}: expected a JSON list")
    return data


def parse_ip_addr(text: str) -> list[str]:
    return [
        str(info["local"])
        for link in _json_list(text, "ip -j addr")
        if isinstance(link, dict)
        for info in link.get("addr_info", [])
        if isinstance(info, dict) and info.get("local")
    ]


def parse_routes(text: str) -> list[str]:
    out = []
    for route in _json_list(text, "ip -j route"):
        if not isinstance(route, dict):
            continue
        if route.get("gateway"):
            out.append(str(route["gateway"]))
        out += [str(h["gateway"]) for h in route.get("nexthops", []) if h.get("gateway")]
    return out


def parse_resolv(text: str) -> list[str]:
    out = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] == "nameserver":
            out.append(parts[1])
    return out


def _strip_port(endpoint: str) -> str:
    host = endpoint.rpartition(":")[0] if endpoint.count(":") == 1 or "]" in endpoint else endpoint
    return host.strip("[]").split("%", 1)[0]


def parse_ss(text: str) -> list[str]:
    """Peer addresses of ``ss -Htn state established …`` lines (Recv-Q Send-Q Local Peer)."""
    out = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 4:
            out.append(_strip_port(fields[3]))
    return out


def parse_ssh_env(environ: Mapping[str, str]) -> list[str]:
    out = []
    for key in ("SSH_CLIENT", "SSH_CONNECTION"):
        value = environ.get(key, "").split()
        if value:
            out.append(value[0])
    return out


def _labelled(values: Iterable[str], why: str) -> list[tuple[str, str]]:
    return [(v, why) for v in values]


def system_sources(
    *,
    ssh_ports: Sequence[int] = (22,),
    resolv_conf: Path = Path("/etc/resolv.conf"),
    environ: Mapping[str, str] | None = None,
    run: Callable[[list[str]], str] = _tool,
) -> list[FactSource]:
    """The guard's refreshed sources for this host (`run` is replaceable in tests)."""
    env = os.environ if environ is None else environ

    def own() -> list[tuple[str, str]]:
        return _labelled(parse_ip_addr(run(["ip", "-j", "addr", "show"])), "own address")

    def gateways() -> list[tuple[str, str]]:
        found = parse_routes(run(["ip", "-j", "route", "show", "default"]))
        found += parse_routes(run(["ip", "-6", "-j", "route", "show", "default"]))
        return _labelled(found, "default gateway")

    def dns() -> list[tuple[str, str]]:
        try:
            text = resolv_conf.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise FactError(f"{resolv_conf}: {exc.strerror or exc}") from exc
        return _labelled(parse_resolv(text), "DNS server (resolv.conf)")

    def ssh() -> list[tuple[str, str]]:
        found = parse_ssh_env(env)
        if ssh_ports:
            ports = " or ".join(f"sport = :{p}" for p in ssh_ports)
            found += parse_ss(run(["ss", "-Htn", "state", "established", f"( {ports} )"]))
        return _labelled(found, "SSH client")

    return [own, gateways, dns, ssh]
