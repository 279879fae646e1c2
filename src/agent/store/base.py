"""The one port to storage: evidence, alerts, closed profile windows and peer reports.

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

Peer IoC reports (`p2p.reports.VerifiedReport`) are keyed by `message_id`, the
content address of the signed payload: every copy of one message has the same
id, but `relay` and `received_at` are facts of *our* copy, so first write wins
matters here (the first copy received is the one kept). Both backends encode a
report through the shared `_report_to_json` / `_report_from_json` below; they
walk `dataclasses.fields`, so a new VerifiedReport field of a JSON-native type,
`bytes`, a `tuple` or `float` needs no edit here or in either backend.

Blocking decisions (`agent.blocking.decision.Decision`) are the one mutable
record: keyed by `id`, and `add_decisions` replaces a stored one (last write
wins), because lifting a ban rewrites its decision with `lifted` set. Both
backends store the JSON of `decision_to_json`. Decisions are not findings, so
`counts()` does not include them.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import math
import typing
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

import orjson

from agent.blocking.decision import Decision
from detection.model import Alert, Evidence, ProfileSummary
from p2p.reports import VerifiedReport

__all__ = ["Store", "StoreError"]


class StoreError(RuntimeError):
    """The storage backend failed (unreachable, corrupt, permission denied)."""


# Field name -> resolved type (reports.py uses postponed annotations, so f.type is a string).
_REPORT_TYPES: dict[str, Any] = typing.get_type_hints(VerifiedReport)
_REPORT_FIELDS = tuple(f.name for f in dataclasses.fields(VerifiedReport))


def _report_to_json(report: VerifiedReport, *, omit: frozenset[str] = frozenset()) -> bytes:
    """orjson bytes of `report` minus the `omit` fields; raises StoreError if not encodable.

    Tuples become lists and bytes base64 text. A non-finite float is refused: JSON
    has no NaN/inf (orjson would silently write null), so it could not round-trip.
    """
    out: dict[str, Any] = {}
    for name in _REPORT_FIELDS:
        if name in omit:
            continue
        value = getattr(report, name)
        if isinstance(value, tuple):
            value = list(value)
        elif isinstance(value, bytes | bytearray | memoryview):
            value = base64.b64encode(value).decode("ascii")
        elif isinstance(value, float) and not math.isfinite(value):
            raise StoreError(f"cannot encode report {report.message_id!r}: {name} is {value}")
        out[name] = value
    try:
        return orjson.dumps(out)
    except orjson.JSONEncodeError as exc:
        raise StoreError(f"cannot encode report {report.message_id!r}: {exc}") from exc


def _from_json_value(hint: Any, value: Any) -> Any:
    if hint is bytes:
        return base64.b64decode(value, validate=True)
    if typing.get_origin(hint) is tuple:
        return tuple(value)
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def _report_from_json(blob: bytes, **given: Any) -> VerifiedReport:
    """Inverse of `_report_to_json`; `given` supplies the omitted fields as they are.

    Values are converted back by the declared field type (base64 text to bytes,
    lists to tuples, JSON integers in float fields to float); unknown or missing
    fields and bad base64 raise StoreError.
    """
    try:
        data = orjson.loads(blob)
        if not isinstance(data, dict):
            raise TypeError(f"expected a JSON object, got {type(data).__name__}")
        unknown = (set(data) | set(given)) - set(_REPORT_FIELDS)
        if unknown:
            raise ValueError(f"unknown VerifiedReport fields: {sorted(unknown)}")
        kwargs = {name: _from_json_value(_REPORT_TYPES[name], v) for name, v in data.items()}
        return VerifiedReport(**given, **kwargs)
    except (orjson.JSONDecodeError, binascii.Error, ValueError, TypeError) as exc:
        raise StoreError(f"corrupt or incompatible VerifiedReport entry: {exc}") from exc


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
    def add_reports(self, items: Sequence[VerifiedReport]) -> None:
        """Insert a batch of peer reports; a `message_id` already stored is ignored.

        First write wins, as for evidence: a later copy of the same message (another
        relay, a later `received_at`) neither replaces nor duplicates the stored one.
        Every field round-trips exactly, `envelope` byte for byte.
        """

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
        newest_first: bool = False,
    ) -> list[Evidence]:
        """Evidence ordered by (ts, id); `ip` matches attacker or victim; `source` is a prefix.

        `newest_first` reverses the order (ts, id descending); offset counts from the newest.
        """

    @abstractmethod
    def alerts(
        self,
        *,
        ip: str | None = None,
        since: float | None = None,
        limit: int = 1000,
        offset: int = 0,
        newest_first: bool = False,
    ) -> list[Alert]:
        """Alerts ordered by (ts, id) (descending with `newest_first`); `ip` matches the profile."""

    @abstractmethod
    def profiles(
        self, *, ip: str | None = None, limit: int = 1000, offset: int = 0
    ) -> list[ProfileSummary]:
        """Closed windows ordered by (ip, timewindow)."""

    @abstractmethod
    def reports(
        self,
        *,
        value: str | None = None,
        sender: str | None = None,
        since: float | None = None,
        limit: int = 1000,
        offset: int = 0,
    ) -> list[VerifiedReport]:
        """Peer reports ordered by (received_at, message_id).

        `value` matches the indicator value exactly (e.g. an IP, as normalised on
        the wire), `sender` the signer's peer ID exactly; `since` is inclusive on
        `received_at`. limit/offset as for the other queries.
        """

    @abstractmethod
    def add_decisions(self, items: Sequence[Decision]) -> None:
        """Insert or replace by `id` (last write wins: lifting rewrites a decision)."""

    @abstractmethod
    def decisions(
        self,
        *,
        value: str | None = None,
        active_at: float | None = None,
        limit: int = 1000,
        offset: int = 0,
    ) -> list[Decision]:
        """Decisions ordered by (created, id).

        `value` matches the normalised ban value exactly; `active_at` keeps those
        active at that time (created <= t < expires, not lifted), dry-run ones
        included. limit/offset as for the other queries.
        """

    @abstractmethod
    def counts(self) -> dict[str, int]:
        """{"evidence": n, "alerts": n, "profiles": n, "reports": n}."""

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
