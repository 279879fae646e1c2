"""SQLite backend: one file per agent, readable by other processes while it is written.

Theory of operation
-------------------
* Each finding is one row: the columns the filters need (ts, attacker, victim,
  type, source, profile), indexed, plus the whole object as an orjson blob of
  `finding_to_dict`, rebuilt with `finding_from_dict`. New dataclass fields
  therefore need no schema change; only a new *filter* does.
* Idempotency is the primary key: `INSERT OR IGNORE` by id for evidence and
  alerts (ids are content-derived, see detection.model), `INSERT OR REPLACE`
  for profiles keyed by (ip, timewindow).
* A batch is one `BEGIN IMMEDIATE … COMMIT` with `executemany`: taking the
  write lock up front means a busy database makes us wait (busy_timeout) at
  the start instead of failing half way through a read-to-write upgrade.
* WAL + synchronous=NORMAL: readers in other processes never block the writer
  and see every committed batch; a power loss may drop the last batches but
  never corrupts the file.
* `source` is a prefix filter ("local:", "peer:"); it is evaluated as the
  range [prefix, prefix-with-last-char-incremented) so it uses the index and
  stays case-sensitive (LIKE is neither, by default).
* Peer reports (`reports` table) follow the same pattern, keyed by message_id
  with the filter columns received_at, sender and value; the raw `envelope`
  bytes get their own BLOB column (so other tools can re-verify them straight
  from the file) and are left out of the JSON blob of the other fields
  (`agent.store.base._report_to_json`).
* The file carries `PRAGMA user_version`. Version 2 added the `reports` table;
  a version-1 file (or a new, empty one: version 0) is upgraded in place on
  open — the change is purely additive, so that is the same `CREATE … IF NOT
  EXISTS` script, run in one `BEGIN IMMEDIATE` transaction that re-reads the
  version under the write lock, so concurrent openers cannot race. Any other
  version (a newer agent's file) is refused with a StoreError rather than
  misread; version-1 code likewise refuses a version-2 file, so there is no
  downgrade. Version 3 added the `decisions` table (blocking), again additively,
  so versions 0-2 are upgraded the same way.
* `newest_first` (evidence, alerts) is `ORDER BY ts DESC, id DESC`: the same
  (ts, id) indexes serve both directions, and it is the exact reverse order.
* Decisions (`decisions` table) are the one record written with `INSERT OR
  REPLACE`: lifting a ban rewrites its row. Filter columns value, created,
  expires and lifted; the blob is `agent.blocking.decision.decision_to_json`.

Threading: the connection is opened with check_same_thread=False and every
call takes one lock, so a writer thread and API threads may share an instance;
SQLite serialises writes anyway, so keep to one writer thread per file.

Error handling: every sqlite3.Error (and the OSError of creating the parent
directory) becomes a `StoreError` naming the file; nothing else escapes.
"""

from __future__ import annotations

import functools
import sqlite3
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

import orjson

from agent.blocking.decision import Decision, decision_from_json, decision_to_json
from agent.store.base import Store, StoreError, _report_from_json, _report_to_json
from detection.model import Alert, Evidence, ProfileSummary, finding_from_dict
from p2p.reports import VerifiedReport

__all__ = ["SqliteStore"]

_SCHEMA_VERSION = 3
# 0: a new file; 1: before the reports table; 2: before the decisions table (additive)
_UPGRADABLE = (0, 1, 2)
_BUSY_TIMEOUT_MS = 10_000
_SCHEMA = """
CREATE TABLE IF NOT EXISTS evidence (
    id TEXT PRIMARY KEY, ts REAL NOT NULL, attacker TEXT NOT NULL, victim TEXT,
    type TEXT NOT NULL, source TEXT NOT NULL, profile TEXT NOT NULL, data BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS evidence_ts ON evidence (ts, id);
CREATE INDEX IF NOT EXISTS evidence_attacker ON evidence (attacker, ts);
CREATE INDEX IF NOT EXISTS evidence_victim ON evidence (victim, ts);
CREATE INDEX IF NOT EXISTS evidence_type ON evidence (type, ts);
CREATE INDEX IF NOT EXISTS evidence_source ON evidence (source);
CREATE INDEX IF NOT EXISTS evidence_profile ON evidence (profile, ts);
CREATE TABLE IF NOT EXISTS alerts (
    id TEXT PRIMARY KEY, ts REAL NOT NULL, profile TEXT NOT NULL, data BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS alerts_ts ON alerts (ts, id);
CREATE INDEX IF NOT EXISTS alerts_profile ON alerts (profile, ts);
CREATE TABLE IF NOT EXISTS profiles (
    ip TEXT NOT NULL, timewindow INTEGER NOT NULL, data BLOB NOT NULL,
    PRIMARY KEY (ip, timewindow)
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS reports (
    message_id TEXT PRIMARY KEY, received_at REAL NOT NULL, sender TEXT NOT NULL,
    value TEXT NOT NULL, data BLOB NOT NULL, envelope BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS reports_received ON reports (received_at, message_id);
CREATE INDEX IF NOT EXISTS reports_value ON reports (value, received_at, message_id);
CREATE INDEX IF NOT EXISTS reports_sender ON reports (sender, received_at, message_id);
CREATE TABLE IF NOT EXISTS decisions (
    id TEXT PRIMARY KEY, value TEXT NOT NULL, created REAL NOT NULL, expires REAL NOT NULL,
    lifted REAL, data BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS decisions_created ON decisions (created, id);
CREATE INDEX IF NOT EXISTS decisions_value ON decisions (value, created, id);
CREATE INDEX IF NOT EXISTS decisions_expires ON decisions (expires);
"""
_ENVELOPE_ONLY = frozenset({"envelope"})  # stored in its own BLOB column, not in `data`

_P = ParamSpec("_P")
_R = TypeVar("_R")
_F = TypeVar("_F", Evidence, Alert, ProfileSummary)


def _translated(
    method: Callable[Concatenate[SqliteStore, _P], _R],
) -> Callable[Concatenate[SqliteStore, _P], _R]:
    """Serialise the call on the instance lock and map sqlite3.Error to StoreError."""

    @functools.wraps(method)
    def wrapper(self: SqliteStore, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        with self._lock:
            if self._con is None:
                raise StoreError(f"sqlite store {self.path} is closed")
            try:
                return method(self, *args, **kwargs)
            except (sqlite3.Error, OverflowError) as exc:  # OverflowError: int beyond int64
                raise StoreError(f"sqlite store {self.path}: {exc}") from exc

    return wrapper


def _encode(obj: Evidence | Alert | ProfileSummary) -> bytes:
    # orjson serialises the (slotted) dataclass itself: the same bytes as
    # `orjson.dumps(finding_to_dict(obj))` (fields in order, tuples as arrays,
    # enums as their value; a test holds them equal) at half the cost.
    try:
        return orjson.dumps(obj)
    except orjson.JSONEncodeError as exc:
        raise StoreError(f"cannot encode {type(obj).__name__} {obj!r}: {exc}") from exc


def _decode(cls: type[_F], blob: bytes) -> _F:
    try:
        return finding_from_dict(cls, orjson.loads(blob))
    except (orjson.JSONDecodeError, ValueError, TypeError) as exc:
        raise StoreError(f"corrupt or incompatible {cls.__name__} row: {exc}") from exc


def _check_page(limit: int, offset: int) -> None:
    if limit < 0 or offset < 0:
        raise ValueError(f"limit and offset must be >= 0, got {limit}, {offset}")


class SqliteStore(Store):
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._con: sqlite3.Connection | None = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"sqlite store {self.path}: cannot create directory: {exc}") from exc
        try:
            con = sqlite3.connect(
                self.path,
                timeout=_BUSY_TIMEOUT_MS / 1000,
                isolation_level=None,  # we issue BEGIN/COMMIT ourselves
                check_same_thread=False,  # guarded by self._lock, see header
            )
        except sqlite3.Error as exc:
            raise StoreError(f"sqlite store {self.path}: cannot open: {exc}") from exc
        try:
            self._setup(con)
        except sqlite3.Error as exc:
            con.close()
            raise StoreError(f"sqlite store {self.path}: cannot initialise: {exc}") from exc
        except BaseException:
            con.close()
            raise
        self._con = con

    def _setup(self, con: sqlite3.Connection) -> None:
        con.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
        con.execute("PRAGMA journal_mode = WAL")
        con.execute("PRAGMA synchronous = NORMAL")
        version = self._check_version(con)
        if version != _SCHEMA_VERSION:
            # One transaction, so a concurrent opener sees either nothing or all of it;
            # the version is read again under the write lock (another opener may have
            # created or upgraded the file meanwhile). Statement by statement, because
            # executescript would commit the transaction first.
            con.execute("BEGIN IMMEDIATE")
            try:
                if self._check_version(con) != _SCHEMA_VERSION:
                    for statement in _SCHEMA.split(";"):
                        if statement.strip():
                            con.execute(statement)
                    con.execute(f"PRAGMA user_version = {_SCHEMA_VERSION}")
                con.execute("COMMIT")
            except BaseException:
                if con.in_transaction:
                    con.execute("ROLLBACK")
                raise

    def _check_version(self, con: sqlite3.Connection) -> int:
        version: int = con.execute("PRAGMA user_version").fetchone()[0]
        if version != _SCHEMA_VERSION and version not in _UPGRADABLE:
            raise StoreError(
                f"sqlite store {self.path}: schema version {version}, expected {_SCHEMA_VERSION}"
                f" (or an older one it can upgrade: {', '.join(map(str, _UPGRADABLE[1:]))})"
            )
        return version

    @property
    def _db(self) -> sqlite3.Connection:
        assert self._con is not None  # checked by _translated
        return self._con

    def _write(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        if not rows:
            return
        con = self._db
        con.execute("BEGIN IMMEDIATE")
        try:
            con.executemany(sql, rows)
            con.execute("COMMIT")
        except BaseException:
            if con.in_transaction:  # SQLite may already have rolled back (e.g. disk full)
                con.execute("ROLLBACK")
            raise

    @_translated
    def add_evidence(self, items: Sequence[Evidence]) -> None:
        rows = [
            (e.id, e.ts, e.attacker, e.victim, e.type, e.source, e.profile, _encode(e))
            for e in items
        ]
        self._write("INSERT OR IGNORE INTO evidence VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)

    @_translated
    def add_alerts(self, items: Sequence[Alert]) -> None:
        rows = [(a.id, a.ts, a.profile, _encode(a)) for a in items]
        self._write("INSERT OR IGNORE INTO alerts VALUES (?, ?, ?, ?)", rows)

    @_translated
    def add_profiles(self, items: Sequence[ProfileSummary]) -> None:
        rows = [(p.ip, p.timewindow, _encode(p)) for p in items]
        self._write("INSERT OR REPLACE INTO profiles VALUES (?, ?, ?)", rows)

    @_translated
    def add_reports(self, items: Sequence[VerifiedReport]) -> None:
        rows = [
            (
                r.message_id,
                r.received_at,
                r.sender,
                r.value,
                _report_to_json(r, omit=_ENVELOPE_ONLY),
                bytes(r.envelope),
            )
            for r in items
        ]
        self._write("INSERT OR IGNORE INTO reports VALUES (?, ?, ?, ?, ?, ?)", rows)

    def _rows(
        self,
        columns: str,
        table: str,
        where: list[tuple[str, tuple[Any, ...]]],
        order: str,
        *,
        limit: int,
        offset: int,
    ) -> list[Any]:
        _check_page(limit, offset)
        clause = " AND ".join(w for w, _ in where) or "1"
        params = [p for _, ps in where for p in ps]
        # Only fixed SQL fragments are interpolated; every value is a bound parameter.
        sql = f"SELECT {columns} FROM {table} WHERE {clause} ORDER BY {order} LIMIT ? OFFSET ?"  # noqa: S608
        return self._db.execute(sql, (*params, limit, offset)).fetchall()

    def _select(
        self,
        cls: type[_F],
        table: str,
        where: list[tuple[str, tuple[Any, ...]]],
        order: str,
        *,
        limit: int,
        offset: int,
    ) -> list[_F]:
        rows = self._rows("data", table, where, order, limit=limit, offset=offset)
        return [_decode(cls, blob) for (blob,) in rows]

    @_translated
    def evidence(
        self,
        *,
        ip: str | None = None,
        type: str | None = None,  # shadows the builtin: the API filter is called type
        since: float | None = None,
        source: str | None = None,
        limit: int = 1000,
        offset: int = 0,
        newest_first: bool = False,
    ) -> list[Evidence]:
        where: list[tuple[str, tuple[Any, ...]]] = []
        if ip is not None:
            where.append(("(attacker = ? OR victim = ?)", (ip, ip)))
        if type is not None:
            where.append(("type = ?", (type,)))
        if since is not None:
            where.append(("ts >= ?", (since,)))
        if source:
            last = ord(source[-1])
            if last < 0x10FFFF:
                where.append(("source >= ? AND source < ?", (source, source[:-1] + chr(last + 1))))
            else:  # no successor character: fall back to an unindexed comparison
                where.append(("substr(source, 1, ?) = ?", (len(source), source)))
        order = "ts DESC, id DESC" if newest_first else "ts, id"
        return self._select(Evidence, "evidence", where, order, limit=limit, offset=offset)

    @_translated
    def alerts(
        self,
        *,
        ip: str | None = None,
        since: float | None = None,
        limit: int = 1000,
        offset: int = 0,
        newest_first: bool = False,
    ) -> list[Alert]:
        where: list[tuple[str, tuple[Any, ...]]] = []
        if ip is not None:
            where.append(("profile = ?", (ip,)))
        if since is not None:
            where.append(("ts >= ?", (since,)))
        order = "ts DESC, id DESC" if newest_first else "ts, id"
        return self._select(Alert, "alerts", where, order, limit=limit, offset=offset)

    @_translated
    def profiles(
        self, *, ip: str | None = None, limit: int = 1000, offset: int = 0
    ) -> list[ProfileSummary]:
        where = [("ip = ?", (ip,))] if ip is not None else []
        return self._select(
            ProfileSummary, "profiles", where, "ip, timewindow", limit=limit, offset=offset
        )

    @_translated
    def reports(
        self,
        *,
        value: str | None = None,
        sender: str | None = None,
        since: float | None = None,
        limit: int = 1000,
        offset: int = 0,
    ) -> list[VerifiedReport]:
        where: list[tuple[str, tuple[Any, ...]]] = []
        if value is not None:
            where.append(("value = ?", (value,)))
        if sender is not None:
            where.append(("sender = ?", (sender,)))
        if since is not None:
            where.append(("received_at >= ?", (since,)))
        rows = self._rows(
            "data, envelope",
            "reports",
            where,
            "received_at, message_id",
            limit=limit,
            offset=offset,
        )
        return [_report_from_json(data, envelope=bytes(env)) for data, env in rows]

    @_translated
    def add_decisions(self, items: Sequence[Decision]) -> None:
        rows = [(d.id, d.value, d.created, d.expires, d.lifted, decision_to_json(d)) for d in items]
        self._write("INSERT OR REPLACE INTO decisions VALUES (?, ?, ?, ?, ?, ?)", rows)

    @_translated
    def decisions(
        self,
        *,
        value: str | None = None,
        active_at: float | None = None,
        limit: int = 1000,
        offset: int = 0,
    ) -> list[Decision]:
        where: list[tuple[str, tuple[Any, ...]]] = []
        if value is not None:
            where.append(("value = ?", (value,)))
        if active_at is not None:
            where.append(("created <= ? AND expires > ? AND lifted IS NULL", (active_at,) * 2))
        rows = self._rows("data", "decisions", where, "created, id", limit=limit, offset=offset)
        try:
            return [decision_from_json(blob) for (blob,) in rows]
        except ValueError as exc:
            raise StoreError(f"corrupt or incompatible decision row: {exc}") from exc

    @_translated
    def counts(self) -> dict[str, int]:
        row = self._db.execute(
            "SELECT (SELECT count(*) FROM evidence), (SELECT count(*) FROM alerts),"
            " (SELECT count(*) FROM profiles), (SELECT count(*) FROM reports)"
        ).fetchone()
        return dict(zip(("evidence", "alerts", "profiles", "reports"), row, strict=True))

    @_translated
    def set_meta(self, key: str, value: str) -> None:
        self._write("INSERT OR REPLACE INTO meta VALUES (?, ?)", [(key, value)])

    @_translated
    def get_meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def close(self) -> None:
        with self._lock:
            con, self._con = self._con, None
        if con is not None:
            try:
                con.close()
            except sqlite3.Error as exc:
                raise StoreError(f"sqlite store {self.path}: close failed: {exc}") from exc
