"""Threat-intelligence feed downloads, and the on-disk cache of each feed's last good copy.

Design
------
*Keep the last good copy.* A feed that cannot be downloaded, or that downloads as
something other than the feed (an HTML error or login page served with status 200,
an empty body, random bytes, a cut-off file), must not wipe out what we already
know: detecting with yesterday's indicators is much better than detecting with
none. A download therefore replaces the cached copy only after it has been parsed
and judged plausible; otherwise the old copy stays, and the reason goes into the
feed's meta file (``last_error``, ``consecutive_failures``) for the operator.

*Reject a sudden shrink.* A copy with fewer than `min_ratio` (10 %) of the previous
copy's indicators is far more often a broken download (a proxy cutting the body, a
stub served during maintenance, a rate-limit page with a few addresses in it) than a
real purge, and accepting it would silently switch most of the feed off. A real
purge is stable, a broken download rarely is: the same shrunken body (same
SHA-256) served on `confirm_shrink` (3) consecutive updates is accepted. The
candidate's digest and count live in a ``.shrink`` file next to the copy.

*Conditional requests.* Most feeds change a few times a day at most and some are
large. If-None-Match / If-Modified-Since make an unchanged feed cost one 304, which
also keeps us polite to providers that rate-limit or ban clients re-downloading too
often. The validators kept are those of the *stored* copy: a rejected download's
ETag is never recorded, or the server would answer 304 to that broken copy forever.

Layout: ``<cache_dir>/<stem>.data`` holds the raw body (after HTTP content
decoding: aiohttp gunzips ``Content-Encoding: gzip``), ``<stem>.meta.json`` what
is known about it (`FeedMeta`); `cache_stem` derives the stem from the feed name.
Every write goes to a temporary file in the same directory, is fsynced, then
``os.replace``d. The data is replaced before the meta: an interruption between
the two leaves a meta whose size does not match (the copy is then not used, and the
next update downloads it again unconditionally) or, for a new body of the same size,
stale validators and counts (the next update's 200 corrects them). A meta file may
exist without data: it records the failures of a feed never downloaded successfully.

When is a feed due? When it was never fetched, its URL changed, or the server last
confirmed the copy (a 200 accepted or a 304) `period` or more ago — measured with
the `now` passed in, never a clock. After a failure, the feed waits `retry_failed_after`
before the next try, so a broken feed is not hammered on every call. ``force``
overrides both.

Transient failures (connection errors, timeouts, truncated bodies, 5xx, 429) are
retried with exponential back-off (honouring a numeric ``Retry-After`` up to
`max_delay`); other 4xx are final. Feeds download concurrently, at most
`concurrency` at a time; one feed's failure never affects another, and `update`
never raises for a feed's problem. One `update` at a time per cache directory.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import importlib
import json
import logging
import os
import re
import tempfile
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as pkg_version
from pathlib import Path
from typing import Literal, Protocol, TypedDict, cast

import aiohttp

from detection.intel.model import ParsedFeed

__all__ = [
    "CachedFeed",
    "FeedLike",
    "FeedMeta",
    "FeedResult",
    "FeedStatus",
    "FeedUpdater",
    "cache_stem",
]

log = logging.getLogger(__name__)

FeedStatus = Literal[
    "updated",  # a new copy was stored
    "unchanged",  # downloaded again, byte-identical to the stored copy
    "not_modified",  # the server answered 304
    "fresh",  # not due yet (period, or back-off after a failure): no request made
    "rejected",  # downloaded, but judged not to be the feed; the old copy stays
    "failed",  # could not download (after retries); the old copy stays
    "paused",  # state "paused": not downloaded, the copy stays
    "removed",  # state "removed": the cached files were deleted
]

_CHUNK = 1 << 16
_ERROR_CHARS = 300


class FeedLike(Protocol):
    """What the updater needs of a feed-list entry (`detection.intel.feedlist.FeedSpec`)."""

    @property
    def name(self) -> str: ...  # short and unique: it names the cache files

    @property
    def url(self) -> str: ...

    @property
    def state(self) -> str: ...  # "active" | "paused" | "removed"

    @property
    def kind(self) -> str: ...  # "ti" | "ja3" | "ssl": the parser's hint


@dataclass(frozen=True, slots=True)
class FeedResult:
    """What one `FeedUpdater.update` did for one feed.

    `indicators` counts the copy on disk afterwards (the new one when "updated" or
    "unchanged", else the kept one; 0 when there is none). `attempts` counts the
    HTTP requests made (0 when none was).
    """

    name: str
    status: FeedStatus
    indicators: int = 0
    error: str | None = None
    http_status: int | None = None
    attempts: int = 0


class FeedMeta(TypedDict):
    """The ``.meta.json`` next to a cached copy. Times are epoch seconds (`now`)."""

    url: str  # where the stored copy came from
    etag: str | None  # validators of the stored copy, sent back as conditions
    last_modified: str | None
    fetched_at: float | None  # when the stored copy was last downloaded and accepted
    checked_at: float | None  # when the server last confirmed it (accepted 200, or 304)
    attempted_at: float | None  # the last request, whatever came of it
    sha256: str | None  # of the stored copy; None: no good copy yet
    size: int | None
    indicators: int
    format: str | None  # as the parser recognised it
    last_error: str | None  # None after a success
    consecutive_failures: int  # failed or rejected updates since the last success


_NONE = type(None)
_META_TYPES: dict[str, tuple[type, ...]] = {
    "url": (str,),
    "etag": (str, _NONE),
    "last_modified": (str, _NONE),
    "fetched_at": (int, float, _NONE),
    "checked_at": (int, float, _NONE),
    "attempted_at": (int, float, _NONE),
    "sha256": (str, _NONE),
    "size": (int, _NONE),
    "indicators": (int,),
    "format": (str, _NONE),
    "last_error": (str, _NONE),
    "consecutive_failures": (int,),
}


@dataclass(frozen=True, slots=True)
class CachedFeed:
    """A usable cached copy: `path` is the ``.data`` file, `meta` describes it."""

    name: str
    path: Path
    meta: FeedMeta


def cache_stem(name: str) -> str:
    """The file-name stem for a feed name: readable, filesystem-safe, collision-free.

    Unsafe characters become ``_``; a digest of the exact name is appended, so
    ``a/b`` and ``a_b`` (or names differing in case) never share files.
    """
    readable = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._-")[:80] or "feed"
    digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    return f"{readable}-{digest}"


@dataclass(frozen=True, slots=True)
class _Paths:
    data: Path
    meta: Path

    @property
    def shrink(self) -> Path:
        return self.meta.with_name(self.meta.name.removesuffix(".meta.json") + ".shrink")


@dataclass(frozen=True, slots=True)
class _Job:
    """One feed's update: the feed, its files, and the copy stored before (if any)."""

    feed: FeedLike
    paths: _Paths
    now: float
    old: FeedMeta | None  # the meta of the stored copy; None: no copy
    failures: int  # consecutive failures recorded so far

    @property
    def kept(self) -> int:
        return self.old["indicators"] if self.old is not None else 0

    @property
    def baseline(self) -> FeedMeta | None:
        """The stored copy, when it came from the same URL: validators, shrink check."""
        if self.old is not None and self.old["url"] == self.feed.url:
            return self.old
        return None


@dataclass(frozen=True, slots=True)
class _Fetch:
    """The outcome of the request(s) for one feed."""

    outcome: Literal["body", "not_modified", "failed", "too_large"]
    attempts: int
    http_status: int | None = None
    body: bytes = b""
    etag: str | None = None
    last_modified: str | None = None
    error: str | None = None


def _check_meta(raw: object) -> FeedMeta:
    if not isinstance(raw, dict):
        raise ValueError("not a JSON object")
    for key, types in _META_TYPES.items():
        if key not in raw:
            raise ValueError(f"no {key!r}")
        value = raw[key]
        if isinstance(value, bool) or not isinstance(value, types):
            raise ValueError(f"{key!r} has the wrong type")
    if raw["consecutive_failures"] < 0 or raw["indicators"] < 0:
        raise ValueError("negative count")
    return cast(FeedMeta, {key: raw[key] for key in _META_TYPES})


def _load_meta(path: Path) -> FeedMeta:
    """The meta file's content; OSError or ValueError (with the reason) if unusable."""
    try:
        raw = json.loads(path.read_bytes())
    except UnicodeDecodeError as exc:
        raise ValueError("not UTF-8") from exc
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON ({exc.msg} at line {exc.lineno})") from exc
    return _check_meta(raw)


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _write_meta(path: Path, meta: FeedMeta) -> None:
    _atomic_write(path, json.dumps(meta, indent=2, sort_keys=True).encode() + b"\n")


def _empty_meta(url: str) -> FeedMeta:
    return FeedMeta(
        url=url,
        etag=None,
        last_modified=None,
        fetched_at=None,
        checked_at=None,
        attempted_at=None,
        sha256=None,
        size=None,
        indicators=0,
        format=None,
        last_error=None,
        consecutive_failures=0,
    )


def _size(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except OSError:
        return None


def _retry_after(value: str | None) -> float | None:
    """A ``Retry-After`` in seconds; the HTTP-date form is ignored (back-off applies)."""
    if value is None or not (value.strip().isascii() and value.strip().isdigit()):
        return None
    return float(value.strip())


def _default_user_agent() -> str:
    try:
        return f"starling/{pkg_version('starling-ids')}"
    except PackageNotFoundError:
        return "starling/unknown"


class FeedUpdater:
    """Downloads due feeds into `cache_dir`, keeping each feed's last good copy.

    `parse(body, kind)` is the feed parser (default, looked up at the first
    download: `detection.intel.formats.parse_feed`; reading the cache needs none).
    It judges a download (format "html", no indicators, a shrink below
    `min_ratio` of the previous count → rejected). `sleep` is awaited between
    retries (``base_delay * 2**(attempt - 1)`` seconds, at most `max_delay`);
    `timeout` bounds each request, body included; a body over `max_bytes` bytes
    (after content decoding) is abandoned while streaming.
    """

    def __init__(
        self,
        cache_dir: Path,
        parse: Callable[[bytes, str], ParsedFeed] | None = None,
        *,
        period: float = 86_400.0,
        retry_failed_after: float = 3_600.0,
        attempts: int = 3,
        base_delay: float = 1.0,
        max_delay: float = 60.0,
        timeout: float = 300.0,
        max_bytes: int = 200 * 1024 * 1024,
        min_ratio: float = 0.1,
        confirm_shrink: int = 3,
        concurrency: int = 4,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        user_agent: str | None = None,
    ) -> None:
        if attempts < 1 or concurrency < 1 or max_bytes < 1:
            raise ValueError("attempts, concurrency and max_bytes must be at least 1")
        if min(period, retry_failed_after, base_delay, max_delay) < 0 or timeout <= 0:
            raise ValueError("periods and delays cannot be negative, timeout must be > 0")
        if not 0 <= min_ratio <= 1:
            raise ValueError("min_ratio is a fraction between 0 and 1")
        self.cache_dir = cache_dir
        self._parse = parse
        self._period = period
        self._retry_failed_after = retry_failed_after
        self._attempts = attempts
        self._base_delay = base_delay
        self._max_delay = max_delay
        self._timeout = timeout
        self._max_bytes = max_bytes
        self._min_ratio = min_ratio
        self._confirm_shrink = max(1, confirm_shrink)
        self._concurrency = concurrency
        self._sleep = sleep
        self.user_agent = user_agent or _default_user_agent()

    def _parser(self) -> Callable[[bytes, str], ParsedFeed]:
        if self._parse is None:  # the default: the feed-format parser, found at first use
            module = importlib.import_module("detection.intel.formats")
            self._parse = cast(Callable[[bytes, str], ParsedFeed], module.parse_feed)
        return self._parse

    # -- reading the cache ---------------------------------------------------

    def paths(self, name: str) -> tuple[Path, Path]:
        """The ``.data`` and ``.meta.json`` paths of the feed called `name`."""
        p = self._paths(name)
        return p.data, p.meta

    def cached(self, feeds: Sequence[FeedLike]) -> list[CachedFeed]:
        """The usable cached copies of `feeds` (not "removed"), without network.

        Feeds without a usable copy are skipped and logged; `cached_report` also
        returns the reasons.
        """
        return self.cached_report(feeds)[0]

    def cached_report(self, feeds: Sequence[FeedLike]) -> tuple[list[CachedFeed], dict[str, str]]:
        """`cached`, plus the skipped feeds' names with the reason. Never raises."""
        usable: list[CachedFeed] = []
        skipped: dict[str, str] = {}
        for feed in feeds:
            if feed.state == "removed":
                reason = "removed from the feed list"
            else:
                copy, reason = self._usable(feed.name)
                if copy is not None:
                    usable.append(copy)
                    continue
            skipped[feed.name] = reason
            expected = reason.startswith(("not downloaded", "removed"))
            level = logging.DEBUG if expected else logging.WARNING
            log.log(level, "intel feed %s: no cached copy used: %s", feed.name, reason)
        return usable, skipped

    def _usable(self, name: str) -> tuple[CachedFeed | None, str]:
        paths = self._paths(name)
        try:
            meta = _load_meta(paths.meta)
        except FileNotFoundError:
            if paths.data.exists():
                return None, f"meta file {paths.meta.name} is missing"
            return None, "not downloaded yet"
        except (OSError, ValueError) as exc:
            return None, f"meta file {paths.meta.name} is unusable: {exc}"
        if meta["sha256"] is None:
            return None, f"never downloaded successfully (last error: {meta['last_error']})"
        size = _size(paths.data)
        if size is None:
            return None, f"data file {paths.data.name} is missing or unreadable"
        if size != meta["size"]:
            return None, f"data file is {size} bytes, its meta says {meta['size']}"
        return CachedFeed(name=name, path=paths.data, meta=meta), ""

    def _paths(self, name: str) -> _Paths:
        stem = cache_stem(name)
        return _Paths(
            data=self.cache_dir / f"{stem}.data", meta=self.cache_dir / f"{stem}.meta.json"
        )

    # -- updating --------------------------------------------------------------

    async def update(
        self, feeds: Sequence[FeedLike], now: float, *, force: bool = False
    ) -> list[FeedResult]:
        """Bring the cache up to date; one result per feed, in the order given.

        `now` (epoch seconds) decides which feeds are due and is what the meta
        records. `force` downloads every active feed, due or not.
        """
        limit = asyncio.Semaphore(self._concurrency)
        session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self._timeout),
            headers={"User-Agent": self.user_agent, "Accept": "*/*"},
            connector=aiohttp.TCPConnector(limit=self._concurrency),
        )
        async with session:
            jobs: list[Awaitable[FeedResult]] = []
            names: set[str] = set()
            for feed in feeds:
                if feed.name in names:
                    jobs.append(_done(FeedResult(feed.name, "failed", error="duplicate name")))
                    continue
                names.add(feed.name)
                jobs.append(self._guarded(session, limit, feed, now, force))
            return list(await asyncio.gather(*jobs))

    async def _guarded(
        self,
        session: aiohttp.ClientSession,
        limit: asyncio.Semaphore,
        feed: FeedLike,
        now: float,
        force: bool,
    ) -> FeedResult:
        try:
            return await self._update_one(session, limit, feed, now, force)
        except OSError as exc:
            log.warning("intel feed %s: cache I/O error: %s", feed.name, exc)
            return FeedResult(feed.name, "failed", error=f"cache I/O error: {exc}")
        except Exception as exc:
            # A bug must stay confined to its feed: the others still update.
            log.exception("intel feed %s: unexpected error", feed.name)
            return FeedResult(feed.name, "failed", error=f"internal error: {exc!r}")

    async def _update_one(
        self,
        session: aiohttp.ClientSession,
        limit: asyncio.Semaphore,
        feed: FeedLike,
        now: float,
        force: bool,
    ) -> FeedResult:
        paths = self._paths(feed.name)
        if feed.state == "removed":
            for path in (paths.data, paths.meta):
                path.unlink(missing_ok=True)
            return FeedResult(feed.name, "removed")
        try:
            meta: FeedMeta | None = _load_meta(paths.meta)
        except FileNotFoundError:
            meta = None
        except (OSError, ValueError) as exc:
            log.warning("intel feed %s: ignoring unusable meta file: %s", feed.name, exc)
            meta = None
        # A copy counts only if the data file is the one the meta describes.
        has_copy = (
            meta is not None and meta["sha256"] is not None and _size(paths.data) == meta["size"]
        )
        job = _Job(
            feed=feed,
            paths=paths,
            now=now,
            old=meta if has_copy else None,
            failures=meta["consecutive_failures"] if meta is not None else 0,
        )
        if feed.state == "paused":
            return FeedResult(feed.name, "paused", job.kept)
        if feed.state != "active":
            error = f"unknown state {feed.state!r}"
            return FeedResult(feed.name, "failed", job.kept, error=error)
        if not force and not self._due(meta, has_copy, feed.url, now):
            return FeedResult(feed.name, "fresh", job.kept)

        conditions: dict[str, str] = {}
        if job.baseline is not None and job.baseline["etag"]:
            conditions["If-None-Match"] = job.baseline["etag"]
        if job.baseline is not None and job.baseline["last_modified"]:
            conditions["If-Modified-Since"] = job.baseline["last_modified"]
        async with limit:
            fetch = await self._fetch(session, feed.url, conditions)
            if fetch.outcome == "not_modified":
                if job.baseline is None:  # 304 to an unconditional request: nothing to keep
                    return await self._fail(job, fetch, "failed", "304 without a stored copy")
                new_meta = job.baseline.copy()
                new_meta["checked_at"] = new_meta["attempted_at"] = now
                new_meta["last_error"] = None
                new_meta["consecutive_failures"] = 0
                await asyncio.to_thread(_write_meta, paths.meta, new_meta)
                return FeedResult(
                    feed.name, "not_modified", job.kept, http_status=304, attempts=fetch.attempts
                )
            if fetch.outcome == "too_large":
                return await self._fail(job, fetch, "rejected", fetch.error)
            if fetch.outcome == "failed":
                return await self._fail(job, fetch, "failed", fetch.error)
            return await self._accept(job, fetch)

    def _due(self, meta: FeedMeta | None, has_copy: bool, url: str, now: float) -> bool:
        if meta is None:
            return True
        attempted = meta["attempted_at"]
        failed = meta["consecutive_failures"] > 0
        if failed and attempted is not None and 0 <= now - attempted < self._retry_failed_after:
            return False  # back off after a failure
        checked = meta["checked_at"]
        if not has_copy or meta["url"] != url or checked is None:
            return True
        age = now - checked
        return age < 0 or age >= self._period  # a clock set back: check again

    async def _accept(self, job: _Job, fetch: _Fetch) -> FeedResult:
        """Judge a downloaded body; store it if plausible, else keep the old copy."""
        body = fetch.body
        if not body.strip():
            return await self._fail(job, fetch, "rejected", "empty body")
        try:
            parsed = await asyncio.to_thread(self._parser(), body, job.feed.kind)
        except Exception as exc:
            log.exception("intel feed %s: the parser failed", job.feed.name)
            return await self._fail(job, fetch, "rejected", f"parser error: {exc!r}")
        count = len(parsed.iocs)
        baseline = job.baseline
        reason: str | None = None
        if parsed.format == "html":
            reason = "the server sent an HTML page, not a feed"
        elif count == 0:
            reason = f"no indicators in {len(body)} bytes"
        digest = hashlib.sha256(body).hexdigest()
        if (
            reason is None
            and baseline is not None
            and count < self._min_ratio * baseline["indicators"]
        ):
            seen = await asyncio.to_thread(self._shrink_seen, job.paths.shrink, digest)
            if seen < self._confirm_shrink:
                reason = (
                    f"only {count} indicators, under {self._min_ratio:.0%} of the "
                    f"{baseline['indicators']} in the stored copy (the same body "
                    f"{seen}/{self._confirm_shrink} times in a row; accepted at "
                    f"{self._confirm_shrink})"
                )
        if reason is not None:
            return await self._fail(job, fetch, "rejected", reason)
        with contextlib.suppress(OSError):
            job.paths.shrink.unlink(missing_ok=True)

        unchanged = job.old is not None and job.old["sha256"] == digest
        if not unchanged:
            await asyncio.to_thread(_atomic_write, job.paths.data, body)
        new_meta = FeedMeta(
            url=job.feed.url,
            etag=fetch.etag,
            last_modified=fetch.last_modified,
            fetched_at=job.now,
            checked_at=job.now,
            attempted_at=job.now,
            sha256=digest,
            size=len(body),
            indicators=count,
            format=parsed.format or None,
            last_error=None,
            consecutive_failures=0,
        )
        await asyncio.to_thread(_write_meta, job.paths.meta, new_meta)
        status: FeedStatus = "unchanged" if unchanged else "updated"
        if not unchanged:
            log.info(
                "intel feed %s: stored %d indicators (%s)", job.feed.name, count, parsed.format
            )
        return FeedResult(
            job.feed.name, status, count, http_status=fetch.http_status, attempts=fetch.attempts
        )

    @staticmethod
    def _shrink_seen(path: Path, digest: str) -> int:
        """Count this shrunken body (consecutive identical ones); returns the count."""
        try:
            old_digest, _, old_count = path.read_text(encoding="ascii").partition(" ")
            count = int(old_count) + 1 if old_digest == digest else 1
        except (OSError, ValueError):
            count = 1
        with contextlib.suppress(OSError):
            _atomic_write(path, f"{digest} {count}".encode())
        return count

    async def _fail(
        self, job: _Job, fetch: _Fetch, status: FeedStatus, error: str | None
    ) -> FeedResult:
        """Record a failed or rejected update; the stored copy, if any, stays."""
        error = (error or "unknown error")[:_ERROR_CHARS]
        new_meta = job.old.copy() if job.old is not None else _empty_meta(job.feed.url)
        new_meta["attempted_at"] = job.now
        new_meta["last_error"] = error
        new_meta["consecutive_failures"] = job.failures + 1
        await asyncio.to_thread(_write_meta, job.paths.meta, new_meta)
        log.warning(
            "intel feed %s: %s (%s); %s",
            job.feed.name,
            status,
            error,
            f"keeping the copy of {job.kept} indicators" if job.old is not None else "no copy",
        )
        return FeedResult(
            job.feed.name,
            status,
            job.kept,
            error=error,
            http_status=fetch.http_status,
            attempts=fetch.attempts,
        )

    # -- HTTP --------------------------------------------------------------------

    async def _fetch(
        self, session: aiohttp.ClientSession, url: str, conditions: dict[str, str]
    ) -> _Fetch:
        """GET `url`, retrying transient failures."""
        error = "no attempt made"
        status: int | None = None
        for attempt in range(1, self._attempts + 1):
            status = None
            hint: float | None = None
            try:
                async with session.get(url, headers=conditions) as resp:
                    status = resp.status
                    if status == 304:
                        return _Fetch("not_modified", attempt, status)
                    if 200 <= status < 300:
                        return await self._read_body(resp, attempt)
                    error = f"HTTP {status} {resp.reason or ''}".rstrip()
                    if status < 500 and status != 429:
                        return _Fetch("failed", attempt, status, error=error)
                    hint = _retry_after(resp.headers.get("Retry-After"))
            except (
                aiohttp.InvalidURL,
                aiohttp.NonHttpUrlClientError,
                aiohttp.TooManyRedirects,
                aiohttp.ClientConnectorCertificateError,
            ) as exc:  # retrying cannot help
                return _Fetch("failed", attempt, status, error=self._describe(exc))
            except (aiohttp.ClientError, TimeoutError) as exc:
                error = self._describe(exc)
            if attempt < self._attempts:
                delay = self._base_delay * 2 ** (attempt - 1)
                delay = min(self._max_delay, max(delay, hint or 0.0))
                log.info("%s: %s; retrying in %g s", url, error, delay)
                await self._sleep(delay)
        return _Fetch("failed", self._attempts, status, error=error)

    async def _read_body(self, resp: aiohttp.ClientResponse, attempt: int) -> _Fetch:
        too_large = _Fetch(
            "too_large", attempt, resp.status, error=f"body over {self._max_bytes} bytes"
        )
        if resp.content_length is not None and resp.content_length > self._max_bytes:
            return too_large
        chunks: list[bytes] = []
        size = 0
        async for chunk in resp.content.iter_chunked(_CHUNK):
            size += len(chunk)
            if size > self._max_bytes:
                return too_large  # leaving the context drops the connection
            chunks.append(chunk)
        return _Fetch(
            "body",
            attempt,
            resp.status,
            body=b"".join(chunks),
            etag=resp.headers.get("ETag"),
            last_modified=resp.headers.get("Last-Modified"),
        )

    def _describe(self, exc: BaseException) -> str:
        if isinstance(exc, TimeoutError):
            return f"timed out ({self._timeout:g} s per request)"
        text = str(exc) or "no details"
        return f"{type(exc).__name__}: {text}"[:_ERROR_CHARS]


async def _done(result: FeedResult) -> FeedResult:
    return result
