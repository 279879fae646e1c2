"""The agent's secrets in its data directory: Ed25519 identity and API token.

Both are created on first start with mode 0600 (created with that mode, not
chmod-ed afterwards, so there is no window in which they are readable). A
file that other users can read is refused rather than silently used.
"""

from __future__ import annotations

import os
import secrets
import stat
from collections.abc import Callable
from pathlib import Path

from p2p.signing import Identity

__all__ = ["SecretError", "load_api_token", "load_identity", "new_token"]

IDENTITY_FILE = "identity.key"
TOKEN_FILE = "api-token"  # noqa: S105 - a file name, not a secret


class SecretError(RuntimeError):
    """A secret file is unusable (unreadable, wrong size, readable by others)."""


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def _read_private(path: Path) -> bytes:
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise SecretError(
            f"{path} is accessible by other users (mode {mode & 0o777:o}); chmod 600 it"
        )
    return path.read_bytes()


def load_identity(data_dir: Path, random_bytes: Callable[[int], bytes] = os.urandom) -> Identity:
    path = data_dir / IDENTITY_FILE
    if not path.exists():
        _write_private(path, random_bytes(32))
    seed = _read_private(path)
    if len(seed) != 32:
        raise SecretError(f"{path} must hold a 32-byte Ed25519 seed, found {len(seed)} bytes")
    return Identity(seed)


def load_api_token(data_dir: Path) -> str:
    """STARLING_API_TOKEN if set, else the token file (created on first start)."""
    env = os.environ.get("STARLING_API_TOKEN")
    if env:
        return env
    path = data_dir / TOKEN_FILE
    if not path.exists():
        _write_private(path, new_token().encode())
    token = _read_private(path).decode("utf-8", "replace").strip()
    if len(token) < 16:
        raise SecretError(f"{path}: token too short (need at least 16 characters)")
    return token


def new_token() -> str:
    """A random API token (256 bits, URL-safe) that does not start with "-" or "_",
    so it can be pasted after a command-line option without being read as one."""
    while True:
        token = secrets.token_urlsafe(32)
        if token[0].isalnum():
            return token
