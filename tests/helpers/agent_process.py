"""Start and stop real `starling agent` processes for tests (shared by the API,
dashboard and TUI test packages; on `pythonpath` through pyproject's pytest
options, because conftest modules cannot import each other)."""

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
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml

__all__ = ["Launched", "launch_agent", "stop_agents", "wait_until"]


@dataclass
class Launched:
    name: str
    proc: subprocess.Popen[str]
    data_dir: Path
    api: str
    token: str  # admin
    read_only: str | None  # a read-only token, when asked for
    peer_id: str
    addrs: list[str]
    output: list[str] = field(default_factory=list)  # everything the agent printed

    def http(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        body: object = None,
        headers: dict[str, str] | None = None,
        timeout: float = 30.0,
    ) -> tuple[int, dict[str, str], bytes]:
        """(status, headers, raw body) of a request to the agent's API. `token=None`
        sends the admin token, `""` none; a body that is not bytes is sent as JSON.
        Error statuses are returned, not raised."""
        data = None
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
        req = urllib.request.Request(self.api + path, data=data, method=method)
        tok = self.token if token is None else token
        if tok:
            req.add_header("Authorization", f"Bearer {tok}")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        for k, v in (headers or {}).items():
            req.add_header(k, v)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                return resp.status, dict(resp.headers), resp.read()
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            got = dict(exc.headers)
            exc.close()
            return exc.code, got, raw

    def http_json(self, method: str, path: str, **kw: Any) -> tuple[int, Any]:
        """(status, decoded JSON body or None), error statuses included."""
        status, _, raw = self.http(method, path, **kw)
        return status, json.loads(raw or b"null")


L = TypeVar("L", bound=Launched)


def _reader(stream: Any, lines: queue.Queue[str], keep: list[str]) -> None:
    for line in stream:
        keep.append(line)
        lines.put(line)


def launch_agent(
    root: Path,
    name: str,
    *,
    zeek_dir: Path | None = None,
    bootstrap: list[str] | None = None,
    config: dict[str, Any] | None = None,
    api_port: int = 0,
    token_prefix: str = "admin-token-for",
    read_only: bool = False,
    timeout: float = 60.0,
    netns: str | None = None,
    cls: type[L] = Launched,  # type: ignore[assignment]
) -> L:
    """An agent on 127.0.0.1 (libp2p and API on free ports, no threat-intel feeds),
    returned once it printed its ready line. With `netns`, it runs inside that
    network namespace (its API on 127.0.0.1 is then reachable only from inside).
    `cls`: a subclass of `Launched` (the test package's own request helpers)."""
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
    ro_token = None
    if read_only:
        ro_token = f"read-only-token-for-{name}-0123456789"
        ro_file = data_dir / "api-tokens-readonly"
        ro_file.write_text(ro_token + "\n")
        ro_file.chmod(0o600)
    argv = [*(["ip", "netns", "exec", netns] if netns else [])]
    argv += [sys.executable, "-m", "agent", "agent", "-c", str(cfg_path)]
    argv += ["--data-dir", str(data_dir)]
    for b in bootstrap or []:
        argv += ["--bootstrap", b]
    if zeek_dir is not None:
        argv += ["--zeek-dir", str(zeek_dir)]
    env = {**os.environ, "STARLING_API_TOKEN": f"{token_prefix}-{name}-0123456789"}
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
    return cls(
        name,
        proc,
        data_dir,
        ready["api"],
        env["STARLING_API_TOKEN"],
        ro_token,
        ready["peer_id"],
        ready["p2p"],
        keep,
    )


def stop_agents(agents: list[Any]) -> None:
    """SIGTERM every agent (anything with a `proc`), then wait (kill after 30 s)."""
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
    """Poll `predicate` until true; a request failing meanwhile (an agent still busy
    starting, on a loaded machine) counts as not yet, not as an error."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return True
        except OSError:  # urllib.error.URLError, timeouts, refused connections
            pass
        time.sleep(interval)
    return bool(predicate())
