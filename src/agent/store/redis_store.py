"""Redis backend: shared storage for several agents or a dashboard on another host.

Theory of operation
-------------------
Keys, all under ``<namespace>:`` so several agents can share one server:

* ``evidence`` / ``alerts`` — hashes id → orjson blob of `finding_to_dict`.
* ``evidence:ts``, ``evidence:ip:<ip>``, ``evidence:type:<type>``,
  ``alerts:ts``, ``alerts:ip:<profile>`` — sorted sets of ids scored by ts.
  Redis orders equal scores by member bytes, so a range is already ordered by
  (ts, id), exactly like the SQLite backend. ``evidence:ip:<ip>`` holds the
  ids where the ip is attacker *or* victim.
* ``profiles`` — hash ``<ip>\\0<timewindow biased to a fixed-width unsigned
  decimal>`` → blob, and ``profiles:index``, a sorted set of those members all
  scored 0, which Redis then orders by bytes, i.e. by (ip, timewindow).
* ``reports`` — hash message_id → orjson blob of every field, the envelope
  base64-encoded (`agent.store.base._report_to_json`); ``reports:ts``,
  ``reports:value:<value>``, ``reports:sender:<peer id>`` — sorted sets of
  message ids scored by received_at, so again ordered by (received_at, id).
* ``decisions`` — hash id → `agent.blocking.decision.decision_to_json`,
  replaced on every write (lifting a ban rewrites it); ``decisions:ts`` and
  ``decisions:value:<value>`` — sorted sets of ids scored by `created`, which
  never changes for an id. `active_at` is a filter applied after fetching.
* ``meta`` — a plain hash; ``schema`` — the layout version (below).

A batch is one pipeline round-trip (transaction=False: the writes are
idempotent, so atomicity buys nothing). Idempotency is first-write-wins:
``HSETNX`` for the blob, ``ZADD NX`` for every index. The blob is written
before its index entries, so a concurrent reader never sees an id it cannot
load; if a batch fails half way, re-sending it fills in what is missing.
Ids are content-derived (see detection.model), so one id never needs to move
between index keys.

Reports are the exception: every copy of one signed message has the same
message_id but its own `received_at` (the index score) and relay, so with
independent HSETNX/ZADD NX two writers storing copies concurrently could
interleave into a blob from one copy and index scores from the other. Reports
are therefore written by a small Lua script (`_ADD_REPORTS`, atomic on the
server) that adds the index entries only when its HSETNX won: an id is in an
index exactly when its stored blob belongs there, scored by that blob's
received_at. A batch goes as one pipeline round-trip of script calls, each
for at most `_REPORT_CHUNK` reports so no single call blocks the server for
long. (A script cannot half-fail on a network error; only a key of the wrong
type, i.e. a foreign writer in our namespace, can stop it midway.)

Layout version: ``schema`` holds "3" (version 2 added the report keys,
version 3 the decision keys). A new namespace is stamped "3"; a version-1 or
version-2 namespace is upgraded in place on open by re-stamping it, since
each change is purely additive (WATCH/MULTI, so a
concurrent opener stamping something else is not overwritten). Any other
value (a newer agent's layout) is refused with a StoreError; version-1 code
likewise refuses a version-2 namespace, so there is no downgrade. A version-1
agent already running when the namespace is upgraded keeps working.

Filters: one index is chosen (ip, else type, else the global one) and the
score range applies `since`. The remaining filters — type when ip was also
given, and the `source` prefix, for which there is deliberately no index —
are applied after fetching, scanning the index in chunks until a page is
full. Without such filters limit/offset go straight to ZRANGEBYSCORE. A page
is not a snapshot: writes landing between chunks may shift it. Reports work
the same way: the value index, else the sender one, else ``reports:ts``, with
the sender checked after fetching when both were given. `newest_first` walks
the same index with ZREVRANGEBYSCORE, which orders equal scores by descending
member: the exact reverse of (ts, id).

Error handling: every redis.RedisError (refused connection, timeout, wrong
password, a key of the wrong type) becomes a `StoreError` carrying the URL
with credentials and query string stripped; nothing else escapes. The server
is pinged at construction so an unusable target fails there, not later.
Thread-safety: redis-py clients are thread-safe (a connection pool).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, Concatenate, ParamSpec, TypeVar
from urllib.parse import parse_qs, unquote, urlsplit

import orjson
import redis

from agent.blocking.decision import Decision, decision_from_json, decision_to_json
from agent.store.base import Store, StoreError, _report_from_json, _report_to_json
from detection.model import Alert, Evidence, ProfileSummary, finding_from_dict, finding_to_dict
from p2p.reports import VerifiedReport

__all__ = ["RedisStore"]

_SCHEMA_VERSION = b"3"
# None: a new namespace; b"1": before the report keys; b"2": before the decision keys
_UPGRADABLE = (None, b"1", b"2")
_SCAN_CHUNK = 1000
_REPORT_CHUNK = 500
# KEYS: the reports hash, reports:ts, then per report its value and sender index.
# ARGV: per report message_id, received_at, blob. Returns how many were new.
_ADD_REPORTS = """
local added = 0
for k = 0, #ARGV / 3 - 1 do
  local id, score = ARGV[3 * k + 1], ARGV[3 * k + 2]
  if redis.call('HSETNX', KEYS[1], id, ARGV[3 * k + 3]) == 1 then
    redis.call('ZADD', KEYS[2], score, id)
    redis.call('ZADD', KEYS[2 * k + 3], score, id)
    redis.call('ZADD', KEYS[2 * k + 4], score, id)
    added = added + 1
  end
end
return added
"""
_TW_BIAS = 1 << 63  # timewindows are int64, like the SQLite column

_P = ParamSpec("_P")
_R = TypeVar("_R")
_F = TypeVar("_F", Evidence, Alert, ProfileSummary)
_T = TypeVar("_T")


def _redact(url: str) -> tuple[str, list[str]]:
    """The URL fit for messages (no user, password or query) and the secrets to scrub."""
    try:
        parts = urlsplit(url)
        query_pw = parse_qs(parts.query).get("password", [])
        secrets = [unquote(s) for s in (parts.password, *query_pw) if s]
    except ValueError:
        return "<unparsable redis url>", []
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}{parts.path}", secrets


def _translated(
    method: Callable[Concatenate[RedisStore, _P], _R],
) -> Callable[Concatenate[RedisStore, _P], _R]:
    @functools.wraps(method)
    def wrapper(self: RedisStore, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        if self._closed:
            raise StoreError(f"redis store {self.url} is closed")
        try:
            return method(self, *args, **kwargs)
        except redis.RedisError as exc:
            raise self._error(exc) from exc

    return wrapper


def _encode(obj: Evidence | Alert | ProfileSummary) -> bytes:
    try:
        return orjson.dumps(finding_to_dict(obj))
    except orjson.JSONEncodeError as exc:
        raise StoreError(f"cannot encode {type(obj).__name__} {obj!r}: {exc}") from exc


def _decode(cls: type[_F], blob: bytes) -> _F:
    try:
        return finding_from_dict(cls, orjson.loads(blob))
    except (orjson.JSONDecodeError, ValueError, TypeError) as exc:
        raise StoreError(f"corrupt or incompatible {cls.__name__} entry: {exc}") from exc


def _decoder(cls: type[_F]) -> Callable[[bytes], _F]:
    return functools.partial(_decode, cls)


def _decode_decision(blob: bytes) -> Decision:
    try:
        return decision_from_json(blob)
    except ValueError as exc:
        raise StoreError(f"corrupt or incompatible decision entry: {exc}") from exc


def _profile_member(ip: str, timewindow: int) -> str:
    if not -_TW_BIAS <= timewindow < _TW_BIAS:
        raise StoreError(f"timewindow {timewindow} does not fit in 64 bits")
    return f"{ip}\0{timewindow + _TW_BIAS:020d}"


class RedisStore(Store):
    def __init__(self, url: str, namespace: str = "starling") -> None:
        self.url, self._secrets = _redact(url)
        self.namespace = namespace
        self._closed = False
        try:
            self._r = redis.Redis.from_url(url, socket_connect_timeout=5, socket_timeout=30)
        except (ValueError, redis.RedisError) as exc:
            raise self._error(exc) from exc
        schema_key = self._k("schema")

        def stamp(pipe: redis.client.Pipeline) -> Any:  # returned by value_from_callable
            version = pipe.get(schema_key)  # immediate mode: the key is watched
            if version in _UPGRADABLE:
                pipe.multi()
                pipe.set(schema_key, _SCHEMA_VERSION)
                return _SCHEMA_VERSION
            return version

        try:
            # Retried by redis-py if another opener changes the key before EXEC.
            version = self._r.transaction(stamp, schema_key, value_from_callable=True)
        except redis.RedisError as exc:
            self._r.close()
            raise self._error(exc) from exc
        if version != _SCHEMA_VERSION:
            self._r.close()
            raise StoreError(
                f"redis store {self.url} namespace {namespace!r}: layout version {version!r},"
                f" expected {_SCHEMA_VERSION!r} (or b'1' or b'2', which it upgrades)"
            )
        self._add_reports = self._r.register_script(_ADD_REPORTS)

    def _error(self, exc: Exception) -> StoreError:
        msg = str(exc)
        for secret in self._secrets:
            msg = msg.replace(secret, "***")
        return StoreError(f"redis store {self.url}: {type(exc).__name__}: {msg}")

    def _k(self, suffix: str) -> str:
        return f"{self.namespace}:{suffix}"

    def _load(self, decode: Callable[[bytes], _T], hash_key: str, ids: list[bytes]) -> list[_T]:
        if not ids:
            return []
        blobs: list[bytes | None] = self._r.hmget(hash_key, ids)
        # An index entry without its blob only exists after a half-failed batch.
        return [decode(b) for b in blobs if b is not None]

    def _page(
        self,
        decode: Callable[[bytes], _T],
        table: str,
        index: str,
        since: float | None,
        keep: Callable[[_T], bool] | None,
        *,
        limit: int,
        offset: int,
        reverse: bool = False,
    ) -> list[_T]:
        if limit < 0 or offset < 0:
            raise ValueError(f"limit and offset must be >= 0, got {limit}, {offset}")
        hash_key = self._k(table)
        lo: float | str = "-inf" if since is None else since

        def ids_from(start: int, num: int) -> Any:
            if reverse:  # equal scores come in descending member order: (ts, id) reversed
                return self._r.zrevrangebyscore(index, "+inf", lo, start=start, num=num)
            return self._r.zrangebyscore(index, lo, "+inf", start=start, num=num)

        if limit == 0:
            return []
        if keep is None:
            return self._load(decode, hash_key, ids_from(offset, limit))
        out: list[_T] = []
        pos = 0
        while len(out) < limit:
            ids = ids_from(pos, _SCAN_CHUNK)
            pos += len(ids)
            for obj in self._load(decode, hash_key, ids):
                if not keep(obj):
                    continue
                if offset:
                    offset -= 1
                else:
                    out.append(obj)
            if len(ids) < _SCAN_CHUNK:
                break
        return out[:limit]

    @_translated
    def add_evidence(self, items: Sequence[Evidence]) -> None:
        pipe = self._r.pipeline(transaction=False)
        for e in items:
            pipe.hsetnx(self._k("evidence"), e.id, _encode(e))
            ips = {e.attacker} if e.victim is None else {e.attacker, e.victim}
            keys = [self._k("evidence:ts"), self._k(f"evidence:type:{e.type}")]
            keys += [self._k(f"evidence:ip:{ip}") for ip in ips]
            for key in keys:
                pipe.zadd(key, {e.id: e.ts}, nx=True)
        pipe.execute()

    @_translated
    def add_alerts(self, items: Sequence[Alert]) -> None:
        pipe = self._r.pipeline(transaction=False)
        for a in items:
            pipe.hsetnx(self._k("alerts"), a.id, _encode(a))
            for key in (self._k("alerts:ts"), self._k(f"alerts:ip:{a.profile}")):
                pipe.zadd(key, {a.id: a.ts}, nx=True)
        pipe.execute()

    @_translated
    def add_profiles(self, items: Sequence[ProfileSummary]) -> None:
        pipe = self._r.pipeline(transaction=False)
        for p in items:
            member = _profile_member(p.ip, p.timewindow)
            pipe.hset(self._k("profiles"), member, _encode(p))
            pipe.zadd(self._k("profiles:index"), {member: 0})
        pipe.execute()

    @_translated
    def add_reports(self, items: Sequence[VerifiedReport]) -> None:
        blobs = [_report_to_json(r) for r in items]  # encode all before writing any
        if not blobs:
            return
        pipe = self._r.pipeline(transaction=False)
        for start in range(0, len(items), _REPORT_CHUNK):
            keys = [self._k("reports"), self._k("reports:ts")]
            args: list[str | float | bytes] = []
            for r, blob in zip(
                items[start : start + _REPORT_CHUNK],
                blobs[start : start + _REPORT_CHUNK],
                strict=True,
            ):
                keys += [self._k(f"reports:value:{r.value}"), self._k(f"reports:sender:{r.sender}")]
                args += [r.message_id, float(r.received_at), blob]
            self._add_reports(keys=keys, args=args, client=pipe)
        pipe.execute()

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
        if ip is not None:
            index, post_type = self._k(f"evidence:ip:{ip}"), type
        elif type is not None:
            index, post_type = self._k(f"evidence:type:{type}"), None
        else:
            index, post_type = self._k("evidence:ts"), None
        prefix = source or ""

        def keep(e: Evidence) -> bool:
            return e.source.startswith(prefix) and (post_type is None or e.type == post_type)

        post_filter = keep if prefix or post_type is not None else None
        return self._page(
            _decoder(Evidence),
            "evidence",
            index,
            since,
            post_filter,
            limit=limit,
            offset=offset,
            reverse=newest_first,
        )

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
        index = self._k("alerts:ts" if ip is None else f"alerts:ip:{ip}")
        return self._page(
            _decoder(Alert),
            "alerts",
            index,
            since,
            None,
            limit=limit,
            offset=offset,
            reverse=newest_first,
        )

    @_translated
    def profiles(
        self, *, ip: str | None = None, limit: int = 1000, offset: int = 0
    ) -> list[ProfileSummary]:
        if limit < 0 or offset < 0:
            raise ValueError(f"limit and offset must be >= 0, got {limit}, {offset}")
        if limit == 0:
            return []
        index = self._k("profiles:index")
        if ip is None:
            members = self._r.zrange(index, offset, offset + limit - 1)
        else:
            lo, hi = f"[{ip}\0".encode(), f"({ip}\1".encode()
            members = self._r.zrangebylex(index, lo, hi, start=offset, num=limit)
        return self._load(_decoder(ProfileSummary), self._k("profiles"), members)

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
        if value is not None:
            index, post_sender = self._k(f"reports:value:{value}"), sender
        elif sender is not None:
            index, post_sender = self._k(f"reports:sender:{sender}"), None
        else:
            index, post_sender = self._k("reports:ts"), None

        def keep(r: VerifiedReport) -> bool:
            return r.sender == post_sender

        post_filter = keep if post_sender is not None else None
        return self._page(
            _report_from_json, "reports", index, since, post_filter, limit=limit, offset=offset
        )

    @_translated
    def add_decisions(self, items: Sequence[Decision]) -> None:
        pipe = self._r.pipeline(transaction=False)
        for d in items:
            pipe.hset(self._k("decisions"), d.id, decision_to_json(d))
            for key in (self._k("decisions:ts"), self._k(f"decisions:value:{d.value}")):
                pipe.zadd(key, {d.id: d.created})
        pipe.execute()

    @_translated
    def decisions(
        self,
        *,
        value: str | None = None,
        active_at: float | None = None,
        limit: int = 1000,
        offset: int = 0,
    ) -> list[Decision]:
        index = self._k("decisions:ts" if value is None else f"decisions:value:{value}")

        def keep(d: Decision) -> bool:
            return active_at is not None and d.active(active_at)

        return self._page(
            _decode_decision,
            "decisions",
            index,
            None,
            keep if active_at is not None else None,
            limit=limit,
            offset=offset,
        )

    @_translated
    def counts(self) -> dict[str, int]:
        pipe = self._r.pipeline(transaction=False)
        names = ("evidence", "alerts", "profiles", "reports")
        for name in names:
            pipe.hlen(self._k(name))
        return dict(zip(names, pipe.execute(), strict=True))

    @_translated
    def set_meta(self, key: str, value: str) -> None:
        self._r.hset(self._k("meta"), key, value)

    @_translated
    def get_meta(self, key: str) -> str | None:
        value: Any = self._r.hget(self._k("meta"), key)
        return None if value is None else bytes(value).decode()

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._r.close()
