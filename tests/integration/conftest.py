"""Real `starling agent` processes on 127.0.0.1, driven through their API."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from agent_process import Launched, launch_agent, stop_agents
from agent_process import wait_until as shared_wait_until


class Agent(Launched):
    def get(self, path: str, token: str | None = None) -> tuple[int, Any]:
        return self.http_json("GET", path, token=token)

    def post(self, path: str, body: object) -> tuple[int, Any]:
        return self.http_json("POST", path, body=body)


class AgentFactory:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.agents: list[Agent] = []

    def start(
        self,
        name: str,
        *,
        zeek_dir: Path | None = None,
        bootstrap: list[str] | None = None,
        config: dict[str, Any] | None = None,
        timeout: float = 60.0,
        netns: str | None = None,
    ) -> Agent:
        """Start `starling agent` (inside network namespace `netns` if given: its API
        on 127.0.0.1 is then only reachable from inside that namespace)."""
        agent = launch_agent(
            self.tmp,
            name,
            zeek_dir=zeek_dir,
            bootstrap=bootstrap,
            config=config,
            timeout=timeout,
            netns=netns,
            token_prefix="token-for",
            cls=Agent,
        )
        self.agents.append(agent)
        return agent

    def stop_all(self) -> None:
        stop_agents(self.agents)


@pytest.fixture
def agents(tmp_path: Path) -> Iterator[AgentFactory]:
    factory = AgentFactory(tmp_path)
    try:
        yield factory
    finally:
        factory.stop_all()


@pytest.fixture
def wait_until() -> Any:
    return shared_wait_until


# --- network namespaces (blocking tests; root) --------------------------------------------


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


@dataclass
class NetnsPair:
    """Two namespaces joined by a veth pair: `prot` (the protected host, where the
    agent and its bans run) and `atk` (the attacker), each with IPv4 and IPv6.

    `prot` also has a default route via `gateway` (an on-link address nobody owns)."""

    prot: str
    atk: str
    prot4: str = "10.77.0.1"
    atk4: str = "10.77.0.2"
    gateway: str = "10.77.0.254"
    prot6: str = "fd77::1"
    atk6: str = "fd77::2"
    port: int = 8080
    listener: subprocess.Popen[bytes] | None = None
    veth_prot: str = ""
    veth_atk: str = ""

    def run(
        self, ns: str, argv: list[str], timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["ip", "netns", "exec", ns, *argv],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def ping(self, dst: str, src: str | None = None) -> bool:
        """One ICMP echo from `atk` to `dst` (optionally from source address `src`; 0.5 s)."""
        argv = ["ping", "-n", "-c", "1", "-W", "0.5", *(["-I", src] if src else []), dst]
        return self.run(self.atk, argv).returncode == 0

    def tcp(self, dst: str, src: str | None = None) -> bool:
        """A TCP connect from `atk` to the listener in `prot` (0.5 s timeout; a dropped
        SYN times out, nothing else in two directly linked namespaces takes that long)."""
        code = (
            "import socket, sys\n"
            "src = (sys.argv[3], 0) if len(sys.argv) > 3 else None\n"
            "socket.create_connection((sys.argv[1], int(sys.argv[2])), 0.5, src).close()\n"
        )
        argv = [sys.executable, "-c", code, dst, str(self.port), *([src] if src else [])]
        return self.run(self.atk, argv).returncode == 0

    def reachable(self, dst: str, src: str | None = None) -> tuple[bool, bool]:
        return self.ping(dst, src), self.tcp(dst, src)


_LISTENER = """
import socket
s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("::", 8080))
s.listen(64)
while True:
    c, _ = s.accept()
    c.close()
"""


@pytest.fixture
def netns_pair() -> Iterator[NetnsPair]:
    if os.geteuid() != 0:
        pytest.fail("the blocking tests create network namespaces: run them as root (CI does)")
    tag = os.urandom(3).hex()
    veth_p, veth_a = f"stp-{tag}", f"sta-{tag}"
    pair = NetnsPair(prot=f"st-prot-{tag}", atk=f"st-atk-{tag}", veth_prot=veth_p, veth_atk=veth_a)
    try:
        _ip("netns", "add", pair.prot)
        _ip("netns", "add", pair.atk)
        _ip("link", "add", veth_p, "netns", pair.prot, "type", "veth", "peer", "name", veth_a,
            "netns", pair.atk)  # fmt: skip
        for ns, dev, v4, v6 in ((pair.prot, veth_p, pair.prot4, pair.prot6),
                                (pair.atk, veth_a, pair.atk4, pair.atk6)):  # fmt: skip
            _ip("-n", ns, "link", "set", "lo", "up")
            _ip("-n", ns, "addr", "add", f"{v4}/24", "dev", dev)
            _ip("-n", ns, "-6", "addr", "add", f"{v6}/64", "dev", dev, "nodad")
            _ip("-n", ns, "link", "set", dev, "up")
        _ip("-n", pair.prot, "route", "add", "default", "via", pair.gateway)
        pair.listener = subprocess.Popen(
            ["ip", "netns", "exec", pair.prot, sys.executable, "-c", _LISTENER],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        if not shared_wait_until(lambda: pair.tcp(pair.prot4), 10, 0.1):
            pytest.fail("the TCP listener in the protected namespace never answered")
        yield pair
    finally:
        if pair.listener is not None:
            pair.listener.kill()
            pair.listener.wait()
        for ns in (pair.prot, pair.atk):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, check=False)
