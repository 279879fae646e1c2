from __future__ import annotations

import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from agent.identity import SecretError, load_api_token, load_identity


def test_identity_created_once_with_mode_0600(tmp_path: Path) -> None:
    first = load_identity(tmp_path / "d")
    key = tmp_path / "d" / "identity.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert load_identity(tmp_path / "d").peer_id == first.peer_id
    assert first.peer_id.startswith("12D3KooW")


def test_group_readable_secret_is_refused(tmp_path: Path) -> None:
    load_identity(tmp_path)
    (tmp_path / "identity.key").chmod(0o640)
    with pytest.raises(SecretError, match="chmod 600"):
        load_identity(tmp_path)


def test_wrong_size_identity_is_refused(tmp_path: Path) -> None:
    key = tmp_path / "identity.key"
    key.write_bytes(b"short")
    key.chmod(0o600)
    with pytest.raises(SecretError, match="32-byte"):
        load_identity(tmp_path)


def test_token_from_env_or_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STARLING_API_TOKEN", raising=False)
    token = load_api_token(tmp_path)
    assert len(token) >= 32 and stat.S_IMODE((tmp_path / "api-token").stat().st_mode) == 0o600
    assert load_api_token(tmp_path) == token
    monkeypatch.setenv("STARLING_API_TOKEN", "from-the-environment-123")
    assert load_api_token(tmp_path) == "from-the-environment-123"


def test_starling_id_cli(tmp_path: Path, cli: Callable[..., Any]) -> None:
    proc = cli("id", "--data-dir", str(tmp_path))
    assert proc.returncode == 0 and proc.stdout.strip().startswith("12D3KooW")
    assert cli("id", "--data-dir", str(tmp_path)).stdout == proc.stdout
