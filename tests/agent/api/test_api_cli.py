"""`starling alerts|evidence|ip|peers|decisions|token` against the running mesh.

The commands are registered on a Typer app of the test's own (`register(app)`), the
way agent.cli registers them, and run in-process with CliRunner.
"""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from agent.api_cli import register


@pytest.fixture(scope="module")
def app() -> typer.Typer:
    app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)

    @app.callback()
    def main() -> None:
        """starling (test copy)"""

    register(app)
    return app


@pytest.fixture
def run(app: typer.Typer, mesh: Any) -> Any:
    def run(*args: str, token: str | None = None, agent: Any = None) -> Any:
        agent = agent or mesh.seer
        env = {
            "STARLING_API_TOKEN": token or agent.token,
            "STARLING_API_URL": agent.api,
            "COLUMNS": "250",
        }
        return CliRunner().invoke(app, list(args), env=env)

    return run


def test_alerts_and_evidence(run: Any, scanner: str) -> None:
    result = run("alerts", "-o", "json")
    assert result.exit_code == 0, result.output
    page = json.loads(result.stdout)
    assert page["items"] and page["items"][0]["profile"] == scanner
    human = run("alerts", "--ip", scanner)
    assert human.exit_code == 0 and "horizontal_port_scan" in human.stdout
    assert scanner[:10] in human.stdout
    ev = json.loads(run("evidence", "--type", "horizontal_port_scan", "-o", "json").stdout)
    ts = [e["ts"] for e in ev["items"]]
    assert len(ts) >= 2 and ts == sorted(ts, reverse=True)  # newest first by default
    oldest = json.loads(run("evidence", "--oldest-first", "--limit", "1", "-o", "json").stdout)
    assert len(oldest["items"]) == 1 and oldest["next_cursor"] is not None


def test_ip_and_peers(run: Any, mesh: Any, scanner: str) -> None:
    view = json.loads(run("ip", scanner, "-o", "json", agent=mesh.neighbour).stdout)
    assert view["reporters"] == [mesh.seer.peer_id]
    human = run("ip", scanner, agent=mesh.neighbour)
    assert human.exit_code == 0 and "network opinion" in human.stdout
    own = run("ip", scanner)
    assert "malicious" in own.stdout and "blocked (dry-run)" in own.stdout
    peers = json.loads(run("peers", "-o", "json", agent=mesh.neighbour).stdout)
    assert mesh.seer.peer_id in [p["peer_id"] for p in peers["peers"]]
    table = run("peers", "--connected", agent=mesh.neighbour)
    assert table.exit_code == 0 and "yes" in table.stdout


def test_decisions_round_trip(run: Any) -> None:
    added = run(
        "decisions", "add", "203.0.113.77", "--ttl", "300", "--reason", "cli test", "-o", "json"
    )
    assert added.exit_code == 0, added.output
    decision = json.loads(added.stdout)["decision"]
    assert decision["value"] == "203.0.113.77" and decision["reason"] == "cli test"
    active = json.loads(
        run("decisions", "list", "--active", "--value", "203.0.113.77", "-o", "json").stdout
    )
    assert [d["id"] for d in active["items"]] == [decision["id"]]
    assert "203.0.113.77" in run("decisions", "list", "--active").stdout
    lifted = json.loads(run("decisions", "delete", "203.0.113.77", "-o", "json").stdout)
    assert [d["id"] for d in lifted["lifted"]] == [decision["id"]]
    again = run("decisions", "delete", "203.0.113.77")
    assert again.exit_code == 1 and "no active decision" in again.output
    after = json.loads(
        run("decisions", "list", "--active", "--value", "203.0.113.77", "-o", "json").stdout
    )
    assert after["items"] == []


def test_tokens_and_errors(run: Any, mesh: Any, tmp_path: Path, agent_tools: Any) -> None:
    data_dir = mesh.seer.data_dir
    made = run("token", "add", "--read-only", "--data-dir", str(data_dir))
    assert made.exit_code == 0
    token = made.stdout.strip()
    mode = stat.S_IMODE((data_dir / "api-tokens-readonly").stat().st_mode)
    assert mode == 0o600
    assert token[:6] in run("token", "list", "--data-dir", str(data_dir)).stdout
    assert agent_tools["wait_until"](
        lambda: run("alerts", "-o", "json", token=token).exit_code == 0, 10
    )
    refused = run("decisions", "add", "203.0.113.78", token=token)
    assert refused.exit_code == 1 and "403" in refused.output and "admin token" in refused.output
    assert run("token", "revoke", token[:8], "--data-dir", str(data_dir)).exit_code == 0
    assert run("token", "add", "--data-dir", str(data_dir)).exit_code == 2  # admin: not here
    assert run("alerts", "-o", "yaml").exit_code == 2
    wrong = run("alerts", token="wrong-token-0123456789")
    assert wrong.exit_code == 1 and "401" in wrong.output
    bad = run("ip", "not-an-ip")
    assert bad.exit_code == 1 and "not an IP address" in bad.output
    env = {"STARLING_API_TOKEN": "x" * 20, "STARLING_API_URL": "http://127.0.0.1:9"}
    app = typer.Typer()

    @app.callback()
    def main() -> None:
        """test"""

    register(app)
    down = CliRunner().invoke(app, ["peers"], env=env)
    assert down.exit_code == 1 and "cannot reach the agent API" in down.output
    # the token from the agent's data directory when no environment variable is set
    (tmp_path / "api-token").write_text(mesh.seer.token)
    (tmp_path / "api-token").chmod(0o600)
    env = {"STARLING_API_TOKEN": "", "STARLING_API_URL": mesh.seer.api}
    ok = CliRunner().invoke(app, ["alerts", "--data-dir", str(tmp_path), "-o", "json"], env=env)
    assert ok.exit_code == 0, ok.output
    (tmp_path / "api-token").chmod(0o644)
    loose = CliRunner().invoke(app, ["alerts", "--data-dir", str(tmp_path)], env=env)
    assert loose.exit_code == 2 and "chmod 600" in loose.output
    none = CliRunner().invoke(app, ["alerts", "--data-dir", str(tmp_path / "x")], env=env)
    assert none.exit_code == 2 and "no API token" in none.output
