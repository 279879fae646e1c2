"""Bearer tokens of the local API: one admin token and any number of read-only ones.

Theory of operation
-------------------
* The admin token is the agent's `<data-dir>/api-token` (or STARLING_API_TOKEN),
  created by `agent.identity.load_api_token`. It may do everything.
* Read-only tokens live in `<data-dir>/api-tokens-readonly`, one per line (blank
  lines and `#` comments ignored), mode 0600, created on demand by
  `starling token add --read-only`. They may read every endpoint but get a 403 on
  the ones that change something (adding or lifting a decision, sharing a report).
* The file is re-read when its size or modification time changes (checked at most
  once a second), so a token added or revoked while the agent runs takes effect
  without a restart. A file other users can read is refused, as for every secret:
  the previous set stays in use and the refusal is logged once.
* Every check compares the presented token against *every* known token with
  `hmac.compare_digest` and no early exit, so neither which token matched nor how
  much of it did shows in the response time.
"""

from __future__ import annotations

import enum
import hmac
import logging
import os
import stat
import threading
import time
from collections.abc import Callable
from pathlib import Path

from agent.identity import new_token

__all__ = [
    "READ_ONLY_FILE",
    "Role",
    "TokenSet",
    "add_read_only_token",
    "read_only_tokens",
    "revoke_read_only_token",
]

log = logging.getLogger(__name__)

READ_ONLY_FILE = "api-tokens-readonly"
_MIN_LENGTH = 16
_RECHECK_SECONDS = 1.0


class Role(enum.Enum):
    ADMIN = "admin"
    READ_ONLY = "read-only"


class TokenFileError(RuntimeError):
    """The read-only token file is unusable (readable by others, not UTF-8)."""


def _parse(text: str) -> list[str]:
    return [
        line.strip()
        for line in text.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]


def read_only_tokens(data_dir: Path) -> list[str]:
    """The tokens in `<data_dir>/api-tokens-readonly` ([] when there is no file).

    Raises TokenFileError when the file is accessible by other users or unreadable.
    """
    path = data_dir / READ_ONLY_FILE
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return []
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise TokenFileError(
            f"{path} is accessible by other users (mode {mode & 0o777:o}); chmod 600 it"
        )
    try:
        return [t for t in _parse(path.read_text("utf-8")) if len(t) >= _MIN_LENGTH]
    except (OSError, UnicodeDecodeError) as exc:
        raise TokenFileError(f"{path}: {exc}") from exc


def _write_tokens(path: Path, tokens: list[str]) -> None:
    """Replace the file atomically, created 0600 (never readable by others, even briefly)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write("# Starling read-only API tokens, one per line (starling token add --read-only)\n")
        fh.writelines(f"{t}\n" for t in tokens)
    tmp.replace(path)


def add_read_only_token(data_dir: Path, token: str | None = None) -> str:
    """Append a new read-only token (random unless given) and return it."""
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    token = token or new_token()
    if len(token) < _MIN_LENGTH or any(c.isspace() for c in token):
        raise ValueError(f"a token needs at least {_MIN_LENGTH} characters and no spaces")
    existing = read_only_tokens(data_dir)
    if token not in existing:
        _write_tokens(data_dir / READ_ONLY_FILE, [*existing, token])
    return token


def revoke_read_only_token(data_dir: Path, prefix: str) -> int:
    """Remove the read-only tokens starting with `prefix` (>= 6 characters); how many."""
    if len(prefix) < 6:
        raise ValueError("give at least the first 6 characters of the token to revoke")
    existing = read_only_tokens(data_dir)
    kept = [t for t in existing if not t.startswith(prefix)]
    if len(kept) != len(existing):
        _write_tokens(data_dir / READ_ONLY_FILE, kept)
    return len(existing) - len(kept)


class TokenSet:
    """Which role, if any, a presented bearer token has."""

    def __init__(
        self,
        admin: str,
        read_only: list[str] | None = None,
        *,
        data_dir: Path | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._admin = admin.encode()
        self._read_only = [t.encode() for t in read_only or []]
        self._data_dir = data_dir
        self._clock = clock
        self._lock = threading.Lock()
        self._checked = -1e18
        self._stamp: tuple[int, int] | None = None
        self._warned = False
        self.reload()

    def reload(self) -> None:
        """Re-read the read-only file when it changed (no-op without a data dir)."""
        if self._data_dir is None:
            return
        path = self._data_dir / READ_ONLY_FILE
        try:
            st = path.stat()
            stamp: tuple[int, int] | None = (st.st_mtime_ns, st.st_size)
        except FileNotFoundError:
            stamp = None
        except OSError as exc:
            log.warning("cannot stat %s: %s", path, exc)
            return
        if stamp == self._stamp:
            return
        try:
            tokens = read_only_tokens(self._data_dir)
        except TokenFileError as exc:
            if not self._warned:
                log.error("read-only API tokens not (re)loaded: %s", exc)
                self._warned = True
            return
        self._stamp, self._warned = stamp, False
        self._read_only = [t.encode() for t in tokens]
        log.info("loaded %d read-only API tokens", len(tokens))

    def role(self, authorization: str) -> Role | None:
        """The role of an `Authorization` header value, or None (missing, malformed, wrong)."""
        scheme, _, given = authorization.partition(" ")
        if scheme.lower() != "bearer" or not given:
            return None
        with self._lock:
            now = self._clock()
            if now - self._checked >= _RECHECK_SECONDS:
                self._checked = now
                self.reload()
            read_only = self._read_only
        candidate = given.strip().encode()
        admin = hmac.compare_digest(candidate, self._admin)
        reader = False
        for token in read_only:  # no early exit: the time does not depend on which matched
            reader |= hmac.compare_digest(candidate, token)
        if admin:
            return Role.ADMIN
        return Role.READ_ONLY if reader else None
