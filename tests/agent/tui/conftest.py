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
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

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


def _reader(stream: Any, lines: queue.Queue[str], keep: list[str]) -> None:
    for line in stream:
        keep.append(line)
        lines.put(line)


def start_agent(
    root: Path,
    name: str,
    *,
    zeek_dir: Path | None = None,
    bootstrap: list[str] | None = None,
    config: dict[str, Any] | None = None,
    api_port: int = 0,
    timeout: float = 60.0,
) -> Agent:
    data_dir = root / name
    data_dir.mkdir(parents=True, exist_ok=True)
    empty_feeds = root / "no-feeds.csv"
    empty_feeds.write_text("")
    cfg: dict[str, Any] = {
        "p2p": {"listen": ["/ip4/127.0.0.1/tcp/0"]},
        "api": {"host": "127.0.0.1", "port": api_port},
        "intel": {"feed_lists": [str(empty_feeds)]},
    }
    for section, values in (config or {}).items():
        cfg.setdefault(section, {}).update(values)
    cfg_path = data_dir / "config.yaml"
    cfg_path.write_text(yaml.safe_dump(cfg))
    read_only = f"read-only-token-for-{name}-0123456789"
    ro_file = data_dir / "api-tokens-readonly"
    ro_file.write_text(read_only + "\n")
    ro_file.chmod(0o600)
    argv = [sys.executable, "-m", "agent", "agent", "-c", str(cfg_path)]
    argv += ["--data-dir", str(data_dir)]
    for b in bootstrap or []:
        argv += ["--bootstrap", b]
    if zeek_dir is not None:
        argv += ["--zeek-dir", str(zeek_dir)]
    env = {**os.environ, "STARLING_API_TOKEN": f"admin-token-for-{name}-0123456789"}
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    )
    lines: queue.Queue[str] = queue.Queue()
    keep: list[str] = []
    threading.Thread(target=_reader, args=(proc.stdout, lines, keep), daemon=True).start()
    ready = None
    try:
        while ready is None:
            line = lines.get(timeout=timeout)
            if line.startswith('{"event":"ready"'):
                ready = json.loads(line)
    except queue.Empty:
        proc.kill()
        proc.wait()
        pytest.fail(f"agent {name} did not become ready:\n{''.join(keep)}")
    return Agent(
        name,
        proc,
        data_dir,
        ready["api"],
        env["STARLING_API_TOKEN"],
        read_only,
        ready["peer_id"],
        ready["p2p"],
        keep,
    )


def stop_agents(agents: list[Agent]) -> None:
    for a in agents:
        if a.proc.poll() is None:
            a.proc.send_signal(signal.SIGTERM)
    for a in agents:
        try:
            a.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            a.proc.kill()
            a.proc.wait()
        if a.proc.stdout is not None:
            a.proc.stdout.close()


def wait_until(predicate: Callable[[], Any], timeout: float, interval: float = 0.1) -> bool:
    """Poll `predicate` until true; a failing request meanwhile counts as not yet."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return True
        except OSError:  # urllib.error.URLError, timeouts, refused connections
            pass
        time.sleep(interval)
    return bool(predicate())


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
