"""Real `starling agent` processes on 127.0.0.1, driven through their API."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml


@dataclass
class Agent:
    name: str
    proc: subprocess.Popen[str]
    data_dir: Path
    api: str
    token: str
    peer_id: str
    addrs: list[str]
    output: list[str] = field(default_factory=list)

    def get(self, path: str, token: str | None = None) -> tuple[int, Any]:
        req = urllib.request.Request(self.api + path)
        req.add_header("Authorization", f"Bearer {self.token if token is None else token}")
        return _send(req)

    def post(self, path: str, body: object) -> tuple[int, Any]:
        data = json.dumps(body).encode() if not isinstance(body, bytes) else body
        req = urllib.request.Request(self.api + path, data=data, method="POST")
        req.add_header("Authorization", f"Bearer {self.token}")
        req.add_header("Content-Type", "application/json")
        return _send(req)


def _send(req: urllib.request.Request) -> tuple[int, Any]:
    """(status, decoded JSON body), for error statuses too."""
    try:
        with urllib.request.urlopen(req, timeout=15) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        payload = exc.read()
        exc.close()
        return exc.code, json.loads(payload or b"null")


def _reader(stream: Any, lines: queue.Queue[str], keep: list[str]) -> None:
    for line in stream:
        keep.append(line)
        lines.put(line)


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
    ) -> Agent:
        data_dir = self.tmp / name
        data_dir.mkdir(parents=True, exist_ok=True)
        cfg = {"p2p": {"listen": ["/ip4/127.0.0.1/tcp/0"]}, "api": {"host": "127.0.0.1", "port": 0}}
        for section, values in (config or {}).items():
            cfg.setdefault(section, {}).update(values)
        cfg_path = data_dir / "config.yaml"
        cfg_path.write_text(yaml.safe_dump(cfg))
        argv = [
            sys.executable,
            "-m",
            "agent",
            "agent",
            "-c",
            str(cfg_path),
            "--data-dir",
            str(data_dir),
        ]
        for b in bootstrap or []:
            argv += ["--bootstrap", b]
        if zeek_dir is not None:
            argv += ["--zeek-dir", str(zeek_dir)]
        env = {**os.environ, "STARLING_API_TOKEN": f"token-for-{name}-0123456789"}
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
        agent = Agent(name, proc, data_dir, ready["api"], env["STARLING_API_TOKEN"],
                      ready["peer_id"], ready["p2p"], keep)  # fmt: skip
        self.agents.append(agent)
        return agent

    def stop_all(self) -> None:
        for a in self.agents:
            if a.proc.poll() is None:
                a.proc.send_signal(signal.SIGTERM)
        for a in self.agents:
            try:
                a.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                a.proc.kill()
                a.proc.wait()
            if a.proc.stdout is not None:
                a.proc.stdout.close()


@pytest.fixture
def agents(tmp_path: Path) -> Iterator[AgentFactory]:
    factory = AgentFactory(tmp_path)
    try:
        yield factory
    finally:
        factory.stop_all()


def _wait_until(predicate: Any, timeout: float, interval: float = 0.05) -> bool:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


@pytest.fixture
def wait_until() -> Any:
    return _wait_until
