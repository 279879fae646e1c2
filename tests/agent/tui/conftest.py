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

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from agent_process import Launched, launch_agent, stop_agents, wait_until

SCANNER = "46.166.151.160"
CAPTURE = Path(__file__).parents[2] / "data" / "captures" / "zeek" / "port-scans" / "horizontal"


class Agent(Launched):
    call = Launched.http_json  # (status, decoded JSON) for any request

    def get(self, path: str) -> Any:
        status, body = self.call("GET", path)
        assert status == 200, (path, status, body)
        return body


def start_agent(root: Path, name: str, **kw: Any) -> Agent:
    """A running agent with a read-only token too (`agent_process.launch_agent`)."""
    got = launch_agent(root, name, read_only=True, cls=Agent, **kw)
    assert got.read_only is not None
    return got


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
        # Beaconing remembers one first contact: the scan overflows it (the overview's
        # "detector state overflow").
        config = {"alerts": {"threshold": 0.5}, "detectors": {"beaconing": {"max_pairs": 1}}}
        seer = start_agent(root, "seer", zeek_dir=zeek, config=config)
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
