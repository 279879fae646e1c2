"""Bearer tokens: roles, the read-only tokens file, reloading it while running."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from agent.api.auth import (
    READ_ONLY_FILE,
    Role,
    TokenFileError,
    TokenSet,
    add_read_only_token,
    read_only_tokens,
    revoke_read_only_token,
)

ADMIN = "admin-token-0123456789abcdef"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_roles_from_the_authorization_header() -> None:
    tokens = TokenSet(ADMIN, ["reader-token-0123456789"])
    assert tokens.role(f"Bearer {ADMIN}") is Role.ADMIN
    assert tokens.role(f"bearer {ADMIN}") is Role.ADMIN  # the scheme is case-insensitive
    assert tokens.role("Bearer reader-token-0123456789") is Role.READ_ONLY
    for header in (
        "",
        "Bearer",
        "Bearer ",
        f"Basic {ADMIN}",
        f"Bearer {ADMIN}x",
        f"Bearer {ADMIN[:-1]}",
        ADMIN,
        "Bearer reader-token-012345678",
    ):
        assert tokens.role(header) is None, header


def test_file_is_created_0600_and_tokens_added_and_revoked(tmp_path: Path) -> None:
    first = add_read_only_token(tmp_path)
    second = add_read_only_token(tmp_path, "given-token-0123456789")
    path = tmp_path / READ_ONLY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert read_only_tokens(tmp_path) == [first, "given-token-0123456789"]
    assert second == "given-token-0123456789"
    assert len(first) >= 32
    add_read_only_token(tmp_path, second)  # already there: not duplicated
    assert read_only_tokens(tmp_path) == [first, second]
    assert revoke_read_only_token(tmp_path, "given-") == 1
    assert read_only_tokens(tmp_path) == [first]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with pytest.raises(ValueError, match="6 characters"):
        revoke_read_only_token(tmp_path, "ab")
    with pytest.raises(ValueError, match="16 characters"):
        add_read_only_token(tmp_path, "short")
    with pytest.raises(ValueError, match="no spaces"):
        add_read_only_token(tmp_path, "has a space in it 0123456789")


def test_comments_blank_and_short_lines_are_ignored(tmp_path: Path) -> None:
    path = tmp_path / READ_ONLY_FILE
    path.write_text("# mine\n\n  reader-token-0123456789  \nshort\n")
    path.chmod(0o600)
    assert read_only_tokens(tmp_path) == ["reader-token-0123456789"]
    assert read_only_tokens(tmp_path / "nowhere") == []


def test_a_file_others_can_read_is_refused(tmp_path: Path) -> None:
    add_read_only_token(tmp_path, "reader-token-0123456789")
    (tmp_path / READ_ONLY_FILE).chmod(0o644)
    with pytest.raises(TokenFileError, match="chmod 600"):
        read_only_tokens(tmp_path)
    assert TokenSet(ADMIN, data_dir=tmp_path).role("Bearer reader-token-0123456789") is None


def test_changes_are_picked_up_while_running(tmp_path: Path) -> None:
    clock = Clock()
    tokens = TokenSet(ADMIN, data_dir=tmp_path, clock=clock)
    assert tokens.role("Bearer reader-token-0123456789") is None
    add_read_only_token(tmp_path, "reader-token-0123456789")
    clock.now += 1.0
    assert tokens.role("Bearer reader-token-0123456789") is Role.READ_ONLY
    # a broken file keeps the last good set
    path = tmp_path / READ_ONLY_FILE
    path.write_text("reader-token-0123456789\nanother-token-0123456789\n")
    path.chmod(0o644)
    clock.now += 1.0
    assert tokens.role("Bearer another-token-0123456789") is None
    assert tokens.role("Bearer reader-token-0123456789") is Role.READ_ONLY
    path.chmod(0o600)
    clock.now += 1.0
    assert tokens.role("Bearer another-token-0123456789") is Role.READ_ONLY
    revoke_read_only_token(tmp_path, "reader-")
    clock.now += 1.0
    assert tokens.role("Bearer reader-token-0123456789") is None
    path.unlink()
    clock.now += 1.0
    assert tokens.role("Bearer another-token-0123456789") is None
    assert tokens.role(f"Bearer {ADMIN}") is Role.ADMIN
