"""`starling tui` as a command: options, token errors, lazy imports, a real terminal."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from agent.tui import register


def _app() -> typer.Typer:
    app = typer.Typer()
    register(app)

    @app.command("other")
    def other() -> None:  # a second command, so `tui` is a sub-command as in `starling`
        """Nothing."""

    return app


def test_help_lists_the_options() -> None:
    result = CliRunner().invoke(_app(), ["tui", "--help"])
    assert result.exit_code == 0
    for option in ("--api", "--data-dir", "--refresh"):
        assert option in result.output


def test_no_token_is_a_usage_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STARLING_API_TOKEN", raising=False)
    result = CliRunner().invoke(_app(), ["tui", "--data-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "no API token" in result.output and "STARLING_API_TOKEN" in result.output


def test_a_token_file_others_can_read_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("STARLING_API_TOKEN", raising=False)
    (tmp_path / "api-token").write_text("x" * 32)
    (tmp_path / "api-token").chmod(0o644)
    result = CliRunner().invoke(_app(), ["tui", "--data-dir", str(tmp_path)])
    assert result.exit_code == 2 and "chmod 600" in result.output


def test_a_bad_api_url_is_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STARLING_API_TOKEN", "t" * 32)
    result = CliRunner().invoke(_app(), ["tui", "--api", "127.0.0.1:7710"])
    assert result.exit_code == 2 and "http:// or https://" in result.output


def test_importing_the_command_does_not_import_textual() -> None:
    code = "import sys, agent.tui; print('textual' in sys.modules, 'aiohttp' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


_SCRIPT = """
import typer
from agent.tui import register
app = typer.Typer()
register(app)
@app.command("other")
def other() -> None:
    pass
app()
"""


def _read_available(primary: int) -> bytes:
    """What the terminal has written within half a second (b"" once it is closed)."""
    ready, _, _ = select.select([primary], [], [], 0.5)
    if not ready:
        return b""
    try:
        return os.read(primary, 65536)
    except OSError:  # EIO: the app closed its side of the terminal
        time.sleep(0.1)
        return b""


def test_runs_in_a_real_terminal_and_quits_on_q(tui_mesh: Any) -> None:
    seer = tui_mesh.seer
    env = {**os.environ, "TERM": "xterm-256color", "STARLING_API_TOKEN": seer.token}
    env.pop("STARLING_API_URL", None)
    primary, secondary = pty.openpty()
    fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 45, 160, 0, 0))
    os.set_blocking(primary, False)
    proc = subprocess.Popen(
        [sys.executable, "-c", _SCRIPT, "tui", "--api", seer.api, "--refresh", "2"],
        stdin=secondary,
        stdout=secondary,
        stderr=secondary,
        env=env,
        close_fds=True,
    )
    os.close(secondary)
    seen = b""
    try:
        deadline = time.monotonic() + 60
        wanted = [b"live: " + seer.api.encode(), tui_mesh.scanner.encode()]  # + top attacker
        while not all(w in seen for w in wanted) and time.monotonic() < deadline:
            seen += _read_available(primary)
        assert all(w in seen for w in wanted), seen[-2000:]
        os.write(primary, b"q")
        # Keep draining the terminal until the app exits: it repaints every 2 s and writes
        # its teardown sequences on quit, and a full pty buffer would block those writes.
        deadline = time.monotonic() + 30
        while proc.poll() is None and time.monotonic() < deadline:
            seen += _read_available(primary)
        assert proc.wait(timeout=5) == 0, seen[-2000:]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(primary)
