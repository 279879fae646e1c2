"""Real agents for the terminal-view tests.

`tui_mesh` (one per session) starts `python -m agent agent` twice on 127.0.0.1, as the
API tests do: the *seer* follows a Zeek directory, its *neighbour* joins it over
libp2p. The horizontal port-scan capture (tests/data/captures/zeek/port-scans, its
scanner rewritten to a public address so it is shared) is written into the seer's
Zeek directory; the fixture returns once the seer has stored an alert and the
neighbour has the seer's report. Threat-intelligence feed lists are empty (no
downloads). A read-only token is added to each agent's data directory.

`tui_agent_tools` starts and stops extra agents (for tests that kill one).
"""

from __future__ import annotations

import json
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from agent_process import launch_agent, stop_agents, wait_until

SCANNER = "46.166.151.160"
CAPTURE = Path(__file__).parents[2] / "data" / "captures" / "zeek" / "port-scans" / "horizontal"


@dataclass
class Agent:
    name: str
    proc: subprocess.Popen[str]
    data_dir: Path
    api: str
    token: str
    read_only: str
    peer_id: str
    addrs: list[str]
    output: list[str] = field(default_factory=list)

    def call(
        self, method: str, path: str, *, body: object = None, token: str | None = None
    ) -> tuple[int, Any]:
        """(status, decoded JSON) for any request, error statuses included."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.api + path, data=data, method=method)
        req.add_header("Authorization", f"Bearer {self.token if token is None else token}")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return resp.status, json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            exc.close()
            return exc.code, json.loads(raw or b"null")

    def get(self, path: str) -> Any:
        status, body = self.call("GET", path)
        assert status == 200, (path, status, body)
        return body


def start_agent(root: Path, name: str, **kw: Any) -> Agent:
    """A running agent with a read-only token too (`agent_process.launch_agent`)."""
    got = launch_agent(root, name, read_only=True, **kw)
    assert got.read_only is not None
    return Agent(got.name, got.proc, got.data_dir, got.api, got.token, got.read_only,
                 got.peer_id, got.addrs, got.output)  # fmt: skip


@dataclass
class Mesh:
    seer: Agent
    neighbour: Agent
    zeek_dir: Path
    scanner: str


@pytest.fixture(scope="session")
def tui_mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    root = tmp_path_factory.mktemp("tui-mesh")
    zeek = root / "zeek"
    zeek.mkdir()
    agents: list[Agent] = []
    try:
        seer = start_agent(root, "seer", zeek_dir=zeek, config={"alerts": {"threshold": 0.5}})
        agents.append(seer)
        neighbour = start_agent(root, "neighbour", bootstrap=[seer.addrs[0]])
        agents.append(neighbour)

        def connected() -> bool:
            peers = neighbour.get("/api/v1/peers")["peers"]
            return any(p["connected"] and p["peer_id"] == seer.peer_id for p in peers)

        if not wait_until(connected, 30):
            pytest.fail("the neighbour never connected to the seer")
        text = (CAPTURE / "conn.log").read_text()
        (zeek / "conn.log").write_text(text.replace("10.0.2.112", SCANNER))

        def seen() -> bool:
            alerts = seer.get("/api/v1/alerts")["items"]
            reports = neighbour.get(f"/api/v1/ip/{SCANNER}")["peer_reports"]
            return bool(alerts) and bool(reports)

        if not wait_until(seen, 30):
            pytest.fail(
                "the seer raised no alert, or its report never reached the neighbour:\n"
                + "".join(seer.output[-30:])
            )
        yield Mesh(seer, neighbour, zeek, SCANNER)
    finally:
        stop_agents(agents)


@pytest.fixture
def tui_agent_tools() -> dict[str, Any]:
    """Start/stop agents of a test's own (e.g. one the test kills)."""
    return {"start": start_agent, "stop": stop_agents, "wait_until": wait_until}
