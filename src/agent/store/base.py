"""The one port to storage: evidence, alerts and closed profile windows.

Theory of operation
-------------------
The pipeline produces findings at line rate; the runner hands them to a Store
in batches (one transaction / one pipeline round-trip per batch), never one
write per finding. Readers (the API, `starling` commands, a second process
watching a running analysis) query through the same interface while a writer
is active: SQLite runs in WAL mode, Redis is naturally concurrent.

Both backends pass the same contract tests (tests/agent/store/test_contract.py),
which pin the shared semantics: `since` is inclusive; negative limit/offset
raise ValueError and limit=0 returns []; a re-sent id keeps its first version
(first write wins); close() is idempotent and any use after it raises StoreError.
Library exceptions (sqlite3.Error, redis.RedisError) never escape a backend:
they are translated into `StoreError` at the edge.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

from detection.model import Alert, Evidence, ProfileSummary

__all__ = ["Store", "StoreError"]


class StoreError(RuntimeError):
    """The storage backend failed (unreachable, corrupt, permission denied)."""


class Store(ABC):
    @abstractmethod
    def add_evidence(self, items: Sequence[Evidence]) -> None:
        """Insert a batch; an id already stored is ignored (idempotent)."""

    @abstractmethod
    def add_alerts(self, items: Sequence[Alert]) -> None:
        """Insert a batch; an id already stored is ignored (idempotent)."""

    @abstractmethod
    def add_profiles(self, items: Sequence[ProfileSummary]) -> None:
        """Insert or replace closed windows, keyed by (ip, timewindow)."""

    @abstractmethod
    def evidence(
        self,
        *,
        ip: str | None = None,
        type: str | None = None,  # the API filter is called type
        since: float | None = None,
        source: str | None = None,
        limit: int = 1000,
        offset: int = 0,
    ) -> list[Evidence]:
        """Evidence ordered by (ts, id); `ip` matches attacker or victim; `source` is a prefix."""

    @abstractmethod
    def alerts(
        self,
        *,
        ip: str | None = None,
        since: float | None = None,
        limit: int = 1000,
        offset: int = 0,
    ) -> list[Alert]:
        """Alerts ordered by (ts, id); `ip` matches the profile."""

    @abstractmethod
    def profiles(
        self, *, ip: str | None = None, limit: int = 1000, offset: int = 0
    ) -> list[ProfileSummary]:
        """Closed windows ordered by (ip, timewindow)."""

    @abstractmethod
    def counts(self) -> dict[str, int]:
        """{"evidence": n, "alerts": n, "profiles": n}."""

    @abstractmethod
    def set_meta(self, key: str, value: str) -> None: ...

    @abstractmethod
    def get_meta(self, key: str) -> str | None: ...

    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
