"""FeedUpdater against a real HTTP server on 127.0.0.1 (aiohttp.web, in a thread).

The server serves feeds in their real formats and misbehaves on request: errors,
429, truncated bodies, HTML pages, garbage, shrunken or oversized bodies, slowness.
Each test checks the result, what the cache on disk holds afterwards, and what
the server saw (request counts, conditional headers, concurrency).
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import hashlib
import importlib
import json
import random
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from email.utils import formatdate, parsedate_to_datetime
from pathlib import Path
from typing import cast

import pytest
from aiohttp import web

from agent.intel.updater import FeedResult, FeedUpdater, cache_stem
from detection.intel.model import Ioc, IocKind, ParsedFeed, classify, normalise

Parse = Callable[[bytes, str], ParsedFeed]
NOW = 1_700_000_000.0
HOUR = 3600.0

# -- feeds in real formats (public addresses only: a parser may drop private ones) --

PLAIN = (
    b"# Example blocklist - one address per line\n"
    b"# Last updated: 2024-05-01 00:00 UTC\n"
    b"\n"
    b"45.9.20.1\n45.9.20.2\n45.9.20.3\n45.9.20.4\n"
)
NETSET = (
    b"#\n# firehol_level1\n#\n"
    b"# ipv4 hash:net ipset\n#\n"
    b"# Maintainer      : FireHOL\n# This File Date  : Wed May  1 00:00:00 UTC 2024\n#\n"
    b"45.10.0.0/16\n45.11.4.0/22\n45.12.1.1\n"
)
FEODO_CSV = (
    b"################################################################\n"
    b"# abuse.ch Feodo Tracker Botnet C2 IP Blocklist (CSV)          #\n"
    b"################################################################\n"
    b"#\n"
    b'# "first_seen_utc","dst_ip","dst_port","c2_status","last_online","malware"\n'
    b'"2024-04-01 10:11:12","45.13.1.1","443","online","2024-05-01","Dridex"\n'
    b'"2024-04-02 10:11:12","45.13.1.2","8080","offline","2024-04-20","QakBot"\n'
    b"# Number of entries: 2\n"
)
ZEEK_INTEL = (
    b"#fields\tindicator\tindicator_type\tmeta.source\tmeta.desc\n"
    b"45.14.1.1\tIntel::ADDR\texample\tscanner\n"
    b"45.14.1.2\tIntel::ADDR\texample\tc2\n"
    b"45.14.1.3\tIntel::ADDR\texample\tc2\n"
)
JSON_FEED = json.dumps(
    [
        {"ip_address": "45.15.1.1", "port": 443, "malware": "Emotet"},
        {"ip_address": "45.15.1.2", "port": 8080, "malware": "Emotet"},
    ],
    indent=1,
).encode()
FORMATS = {
    "plain": (PLAIN, 4),
    "netset": (NETSET, 3),
    "feodo": (FEODO_CSV, 2),
    "zeek": (ZEEK_INTEL, 3),
    "json": (JSON_FEED, 2),
}
HTML_PAGE = (
    b"<!DOCTYPE html>\n<html><head><title>503 Service Unavailable</title></head>\n"
    b"<body><h1>Maintenance</h1><p>Back soon. Mirror: 45.16.1.1</p></body></html>\n"
)


def ip_list(n: int, third: int = 30) -> bytes:
    """A plain list of `n` distinct public addresses."""
    lines = ["# generated list"] + [f"45.{third}.{i // 250}.{i % 250 + 1}" for i in range(n)]
    return ("\n".join(lines) + "\n").encode()


# -- the parser: the real one when it exists, else a stand-in for address lists --

_TOKENS = re.compile(r"[\s,;\"'\[\]{}|]+")


def stand_in_parse(data: bytes, hint: str = "ti") -> ParsedFeed:
    """Addresses and networks anywhere on non-comment lines; "html" for HTML pages."""
    text = data.decode("utf-8", "replace")
    if text.lstrip()[:200].lower().startswith(("<!doctype html", "<html")):
        return ParsedFeed([], {}, "html")
    iocs: list[Ioc] = []
    skipped: Counter[str] = Counter()
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        found = [
            Ioc(kind, normalise(kind, token))
            for token in _TOKENS.split(line)
            if (kind := classify(token, hint)) in (IocKind.IP, IocKind.CIDR)
        ]
        iocs += found
        if not found:
            skipped["no indicator"] += 1
    return ParsedFeed(iocs, dict(skipped), "plain")


@pytest.fixture
def parse() -> Parse:
    """The real parser (detection.intel.formats) when it exists, else the stand-in."""
    try:
        module = importlib.import_module("detection.intel.formats")
    except ImportError:
        return stand_in_parse
    return cast(Parse, module.parse_feed)


# -- the server -------------------------------------------------------------------


@dataclass
class Reply:
    """One response. Validators given → conditional requests get a 304."""

    status: int = 200
    body: bytes = b""
    etag: str | None = None
    last_modified: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    gzip: bool = False
    delay: float = 0.0  # before answering (released at teardown)
    truncate: int | None = None  # send only this many bytes, declare them all, close
    chunked: bool = False  # stream without Content-Length


def feed(body: bytes, version: int = 1) -> Reply:
    """A feed served with an ETag and a Last-Modified."""
    return Reply(
        body=body,
        etag=f'"{hashlib.sha256(body).hexdigest()[:16]}"',
        last_modified=formatdate(NOW - 86_400 + version, usegmt=True),
    )


@dataclass
class Seen:
    path: str
    headers: dict[str, str]


class FeedServer:
    """A scripted HTTP server: each path answers its replies in order, the last repeats."""

    def __init__(self) -> None:
        self.routes: dict[str, list[Reply]] = {}
        self.requests: list[Seen] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None
        self._release: asyncio.Event | None = None

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def route(self, path: str, *replies: Reply) -> str:
        self.routes[path] = list(replies)
        return self.url(path)

    def hits(self, path: str) -> int:
        return sum(1 for r in self.requests if r.path == path)

    def last(self, path: str) -> Seen:
        return [r for r in self.requests if r.path == path][-1]

    def start(self) -> None:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)

    def stop(self) -> None:
        if self._release is not None:
            self._loop.call_soon_threadsafe(self._release.set)
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    async def _start(self) -> None:
        self._release = asyncio.Event()
        app = web.Application()
        app.router.add_route("GET", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, handler_cancellation=True, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.port = self._runner.addresses[0][1]

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(Seen(request.path, dict(request.headers)))
        replies = self.routes.get(request.path)
        if not replies:
            return web.Response(status=404, text="no such feed")
        reply = replies.pop(0) if len(replies) > 1 else replies[0]
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if reply.delay:
                assert self._release is not None
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._release.wait(), reply.delay)
            return await self._respond(request, reply)
        finally:
            self.in_flight -= 1

    async def _respond(self, request: web.Request, reply: Reply) -> web.StreamResponse:
        headers = {"Content-Type": "text/plain; charset=utf-8", **reply.headers}
        if reply.etag:
            headers["ETag"] = reply.etag
        if reply.last_modified:
            headers["Last-Modified"] = reply.last_modified
        if reply.status == 200 and _not_modified(request, reply):
            return web.Response(status=304, headers=headers)
        body = gzip.compress(reply.body) if reply.gzip else reply.body
        if reply.gzip:
            headers["Content-Encoding"] = "gzip"
        if reply.truncate is not None:
            resp = web.StreamResponse(status=reply.status, headers=headers)
            resp.content_length = len(body)
            await resp.prepare(request)
            await resp.write(body[: reply.truncate])
            assert request.transport is not None
            request.transport.close()
            await asyncio.sleep(1)  # the lost connection cancels the handler, quietly
            return resp
        if reply.chunked:
            resp = web.StreamResponse(status=reply.status, headers=headers)
            resp.enable_chunked_encoding()
            await resp.prepare(request)
            try:
                for start in range(0, len(body), 1024):
                    await resp.write(body[start : start + 1024])
                await resp.write_eof()
            except ConnectionResetError:  # the client gave up on the body
                await asyncio.sleep(1)  # cancelled by the lost connection
            return resp
        return web.Response(status=reply.status, body=body, headers=headers)


def _not_modified(request: web.Request, reply: Reply) -> bool:
    match = request.headers.get("If-None-Match")
    if match is not None and reply.etag is not None:
        return match == reply.etag  # If-None-Match wins over If-Modified-Since
    since = request.headers.get("If-Modified-Since")
    if since is not None and reply.last_modified is not None:
        return parsedate_to_datetime(since) >= parsedate_to_datetime(reply.last_modified)
    return False


@pytest.fixture
def server() -> Iterator[FeedServer]:
    srv = FeedServer()
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


# -- the updater --------------------------------------------------------------------


@dataclass(frozen=True)
class Feed:
    """Like detection.intel.feedlist.FeedSpec, as far as the updater cares."""

    name: str
    url: str
    state: str = "active"
    kind: str = "ti"


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    return tmp_path / "cache"


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def make_updater(cache: Path, parse: Parse, sleeps: list[float]) -> Callable[..., FeedUpdater]:
    async def fake_sleep(seconds: float) -> None:
        sleeps.append(seconds)

    def make(**kwargs: object) -> FeedUpdater:
        options: dict[str, object] = {"parse": parse, "sleep": fake_sleep, "timeout": 5.0}
        options.update(kwargs)
        return FeedUpdater(cache, **options)  # type: ignore[arg-type]

    return make


def run(
    updater: FeedUpdater, feeds: Sequence[Feed], now: float = NOW, *, force: bool = False
) -> list[FeedResult]:
    return asyncio.run(updater.update(feeds, now, force=force))


def stored(updater: FeedUpdater, name: str) -> tuple[bytes | None, dict[str, object] | None]:
    """The data and meta on disk for a feed (None where a file is missing)."""
    data_path, meta_path = updater.paths(name)
    data = data_path.read_bytes() if data_path.exists() else None
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else None
    return data, meta


def no_temp_files(cache: Path) -> bool:
    return not any(p.name.startswith(".") or p.suffix == ".tmp" for p in cache.iterdir())


# -- tests -----------------------------------------------------------------------------


def test_feeds_in_real_formats_are_stored_with_their_meta(
    server: FeedServer, make_updater: Callable[..., FeedUpdater], cache: Path
) -> None:
    feeds = [
        Feed(name, server.route(f"/{name}.txt", feed(body))) for name, (body, _) in FORMATS.items()
    ]
    feeds.append(Feed("gzipped", server.route("/gz.txt", Reply(body=PLAIN, gzip=True))))
    updater = make_updater()

    results = run(updater, feeds)

    expected = {name: n for name, (_, n) in FORMATS.items()} | {"gzipped": 4}
    assert {r.name: (r.status, r.indicators) for r in results} == {
        name: ("updated", n) for name, n in expected.items()
    }
    assert all(r.http_status == 200 and r.attempts == 1 and r.error is None for r in results)
    for name, (body, count) in FORMATS.items():
        data, meta = stored(updater, name)
        reply = server.routes[f"/{name}.txt"][0]
        assert data == body
        assert meta is not None
        assert meta["url"] == server.url(f"/{name}.txt")
        assert meta["etag"] == reply.etag and meta["last_modified"] == reply.last_modified
        assert meta["sha256"] == hashlib.sha256(body).hexdigest() and meta["size"] == len(body)
        assert meta["indicators"] == count and meta["format"]
        assert meta["fetched_at"] == meta["checked_at"] == meta["attempted_at"] == NOW
        assert meta["last_error"] is None and meta["consecutive_failures"] == 0
    # Content-Encoding: gzip is undone by the client: the cache holds the feed itself.
    data, meta = stored(updater, "gzipped")
    assert data == PLAIN and meta is not None and meta["etag"] is None
    assert all(r.headers["User-Agent"].startswith("starling/") for r in server.requests)
    assert "If-None-Match" not in server.requests[0].headers  # nothing cached yet

    copies = updater.cached(feeds)
    assert [c.name for c in copies] == [f.name for f in feeds]
    assert all(c.path.read_bytes() == stored(updater, c.name)[0] for c in copies)
    assert copies[0].meta == stored(updater, copies[0].name)[1]
    assert no_temp_files(cache)


def test_period_conditional_requests_and_force(
    server: FeedServer, make_updater: Callable[..., FeedUpdater]
) -> None:
    reply = feed(ip_list(50))
    feeds = [Feed("list", server.route("/list.txt", reply))]
    updater = make_updater()
    assert run(updater, feeds)[0].status == "updated"

    # Within the period: no request at all.
    (fresh,) = run(updater, feeds, NOW + 1 * HOUR)
    assert (fresh.status, fresh.indicators, fresh.attempts) == ("fresh", 50, 0)
    assert server.hits("/list.txt") == 1

    # After it: a conditional request, answered 304; the copy stays, checked_at moves.
    (checked,) = run(updater, feeds, NOW + 25 * HOUR)
    assert (checked.status, checked.http_status, checked.indicators) == ("not_modified", 304, 50)
    headers = server.last("/list.txt").headers
    assert headers["If-None-Match"] == reply.etag
    assert headers["If-Modified-Since"] == reply.last_modified
    data, meta = stored(updater, "list")
    assert data == reply.body and meta is not None
    assert meta["fetched_at"] == NOW and meta["checked_at"] == NOW + 25 * HOUR

    # The period now counts from the 304; force ignores it.
    assert run(updater, feeds, NOW + 26 * HOUR)[0].status == "fresh"
    assert run(updater, feeds, NOW + 26 * HOUR, force=True)[0].status == "not_modified"
    assert server.hits("/list.txt") == 3

    # New content: stored, with the new validators.
    new = feed(ip_list(60), version=2)
    server.route("/list.txt", new)
    (updated,) = run(updater, feeds, NOW + 50 * HOUR)
    assert (updated.status, updated.indicators) == ("updated", 60)
    data, meta = stored(updater, "list")
    assert data == new.body and meta is not None and meta["etag"] == new.etag


def test_last_modified_only_and_no_validators(
    server: FeedServer, make_updater: Callable[..., FeedUpdater]
) -> None:
    dated = Reply(body=NETSET, last_modified=formatdate(NOW - 600, usegmt=True))
    feeds = [
        Feed("dated", server.route("/dated.netset", dated)),
        Feed("bare", server.route("/bare.txt", Reply(body=PLAIN))),
    ]
    updater = make_updater(period=HOUR)
    run(updater, feeds)

    results = run(updater, feeds, NOW + 2 * HOUR)

    assert [r.status for r in results] == ["not_modified", "unchanged"]
    dated_headers = server.last("/dated.netset").headers
    assert dated_headers["If-Modified-Since"] == dated.last_modified
    assert "If-None-Match" not in dated_headers
    bare_headers = server.last("/bare.txt").headers
    assert "If-None-Match" not in bare_headers and "If-Modified-Since" not in bare_headers
    _, meta = stored(updater, "bare")
    assert meta is not None and meta["fetched_at"] == meta["checked_at"] == NOW + 2 * HOUR


def test_5xx_is_retried_with_backoff_then_succeeds(
    server: FeedServer, make_updater: Callable[..., FeedUpdater], sleeps: list[float]
) -> None:
    body = ip_list(20)
    url = server.route("/flaky.txt", Reply(500), Reply(503), feed(body))
    (result,) = run(make_updater(), [Feed("flaky", url)])

    assert (result.status, result.attempts, result.http_status) == ("updated", 3, 200)
    assert server.hits("/flaky.txt") == 3
    assert sleeps == [1.0, 2.0]


def test_persistent_5xx_fails_keeps_the_copy_and_backs_off(
    server: FeedServer, make_updater: Callable[..., FeedUpdater], sleeps: list[float]
) -> None:
    good = feed(ip_list(20))
    feeds = [Feed("down", server.route("/down.txt", good))]
    updater = make_updater()
    run(updater, feeds)
    server.route("/down.txt", Reply(500, b"Internal Server Error"))

    (result,) = run(updater, feeds, NOW + 25 * HOUR)

    assert (result.status, result.attempts, result.http_status) == ("failed", 3, 500)
    assert result.indicators == 20 and result.error is not None and "500" in result.error
    assert server.hits("/down.txt") == 1 + 3
    assert sleeps == [1.0, 2.0]
    data, meta = stored(updater, "down")
    assert data == good.body and meta is not None
    assert meta["etag"] == good.etag and meta["checked_at"] == NOW
    assert meta["consecutive_failures"] == 1 and "500" in str(meta["last_error"])
    assert updater.cached(feeds)[0].meta["indicators"] == 20

    # A failed feed waits an hour before the next try, then fails again.
    assert run(updater, feeds, NOW + 25.5 * HOUR)[0].status == "fresh"
    assert server.hits("/down.txt") == 4
    assert run(updater, feeds, NOW + 26 * HOUR)[0].status == "failed"
    assert server.hits("/down.txt") == 7
    assert stored(updater, "down")[1]["consecutive_failures"] == 2  # type: ignore[index]

    # Recovery resets the failure count.
    server.route("/down.txt", good)
    assert run(updater, feeds, NOW + 27 * HOUR)[0].status == "not_modified"
    _, meta = stored(updater, "down")
    assert meta is not None and meta["consecutive_failures"] == 0 and meta["last_error"] is None


def test_429_is_retried_honouring_retry_after(
    server: FeedServer, make_updater: Callable[..., FeedUpdater], sleeps: list[float]
) -> None:
    limited = Reply(429, b"slow down", headers={"Retry-After": "7"})
    feeds = [
        Feed("then-ok", server.route("/ok.txt", limited, feed(PLAIN))),
        Feed("always", server.route("/always.txt", Reply(429, b"slow down"))),
    ]
    ok, always = run(make_updater(), feeds)

    assert (ok.status, ok.attempts) == ("updated", 2)
    assert (always.status, always.attempts, always.http_status) == ("failed", 3, 429)
    assert server.hits("/ok.txt") == 2 and server.hits("/always.txt") == 3
    assert sorted(sleeps) == [1.0, 2.0, 7.0]  # Retry-After: 7 over the 1 s back-off


def test_404_is_not_retried(
    server: FeedServer, make_updater: Callable[..., FeedUpdater], sleeps: list[float]
) -> None:
    feeds = [Feed("gone", server.route("/gone.txt", Reply(404, b"Not Found")))]
    updater = make_updater()
    (result,) = run(updater, feeds)

    assert (result.status, result.attempts, result.http_status) == ("failed", 1, 404)
    assert server.hits("/gone.txt") == 1 and sleeps == []
    data, meta = stored(updater, "gone")
    assert data is None and meta is not None
    assert meta["sha256"] is None and "404" in str(meta["last_error"])
    copies, skipped = updater.cached_report(feeds)
    assert copies == [] and "never downloaded successfully" in skipped["gone"]


def test_truncated_body_is_retried_then_fails(
    server: FeedServer, make_updater: Callable[..., FeedUpdater], cache: Path
) -> None:
    good = feed(ip_list(100))
    cut = Reply(body=ip_list(120, third=31), truncate=300)
    feeds = [
        Feed("cut", server.route("/cut.txt", good)),
        Feed("cut-once", server.route("/once.txt", cut, feed(ip_list(30, third=32)))),
    ]
    updater = make_updater()
    run(updater, feeds[:1])
    server.route("/cut.txt", cut)

    always, once = run(updater, feeds, NOW + 25 * HOUR)

    assert (always.status, always.attempts, always.http_status) == ("failed", 3, 200)
    assert always.error is not None and "ClientPayloadError" in always.error
    assert server.hits("/cut.txt") == 1 + 3
    assert stored(updater, "cut")[0] == good.body
    assert (once.status, once.attempts, once.indicators) == ("updated", 2, 30)
    assert no_temp_files(cache)


GARBAGE = random.Random(7).randbytes(4096)


@pytest.mark.parametrize(
    ("bad", "error"),
    [
        (Reply(body=GARBAGE, etag='"garbage"'), "no indicators"),
        (Reply(body=HTML_PAGE, etag='"html"'), "HTML page"),
        (Reply(body=b"", etag='"empty"'), "empty body"),
        (Reply(body=b"\n\n  \n", etag='"blank"'), "empty body"),
        (Reply(body=ip_list(2, third=33), etag='"shrunk"'), "only 2 indicators"),
        (Reply(body=ip_list(1000, third=34), etag='"big"'), "body over 8192 bytes"),
        (Reply(body=ip_list(1000, third=34), chunked=True), "body over 8192 bytes"),
    ],
    ids=["garbage", "html", "empty", "blank", "shrunk-to-1pct", "too-big", "too-big-chunked"],
)
def test_implausible_downloads_are_rejected_and_the_copy_kept(
    server: FeedServer,
    make_updater: Callable[..., FeedUpdater],
    cache: Path,
    bad: Reply,
    error: str,
) -> None:
    good = feed(ip_list(200))
    assert len(good.body) < 8192 < len(ip_list(1000))
    feeds = [Feed("feed", server.route("/feed.txt", good))]
    updater = make_updater(max_bytes=8192)
    run(updater, feeds)
    server.route("/feed.txt", bad)

    (result,) = run(updater, feeds, NOW, force=True)

    assert (result.status, result.attempts, result.indicators) == ("rejected", 1, 200)
    assert result.error is not None and error in result.error
    assert server.hits("/feed.txt") == 2  # no retry: the same body would come back
    data, meta = stored(updater, "feed")
    assert data == good.body and meta is not None
    assert meta["etag"] == good.etag and meta["indicators"] == 200
    assert meta["consecutive_failures"] == 1 and error in str(meta["last_error"])
    assert [c.path.read_bytes() for c in updater.cached(feeds)] == [good.body]
    assert no_temp_files(cache)

    # The next request still asks about the good copy: the bad one's ETag was not kept.
    run(updater, feeds, NOW + 2 * HOUR, force=True)
    assert server.last("/feed.txt").headers["If-None-Match"] == good.etag


def test_a_stable_shrink_is_accepted_on_the_third_identical_download(
    server: FeedServer, make_updater: Callable[..., FeedUpdater], cache: Path
) -> None:
    good = feed(ip_list(200))
    purged = Reply(body=ip_list(5, third=35))  # no validators: each update downloads it
    other = Reply(body=ip_list(6, third=36))
    feeds = [Feed("feed", server.route("/feed.txt", good))]
    updater = make_updater()
    run(updater, feeds)
    outcomes = []
    for step, reply in enumerate([purged, purged, other, purged, purged, purged], start=1):
        server.route("/feed.txt", reply)
        (result,) = run(updater, feeds, NOW + step * 25 * HOUR)
        outcomes.append((result.status, result.indicators))
    # a different shrunken body in between starts the count again
    assert outcomes == [("rejected", 200)] * 5 + [("updated", 5)]
    assert stored(updater, "feed")[0] == purged.body
    assert not list(cache.glob("*.shrink"))  # forgotten once accepted


def test_rejection_without_a_previous_copy(
    server: FeedServer, make_updater: Callable[..., FeedUpdater]
) -> None:
    feeds = [
        Feed("garbage", server.route("/garbage.bin", Reply(body=GARBAGE))),
        Feed("html", server.route("/index.html", Reply(body=HTML_PAGE))),
        # A shrink is only judged against a previous copy: a small first copy is fine.
        Feed("small", server.route("/small.txt", Reply(body=ip_list(2)))),
    ]
    updater = make_updater()
    results = run(updater, feeds)

    assert [(r.status, r.indicators) for r in results] == [
        ("rejected", 0),
        ("rejected", 0),
        ("updated", 2),
    ]
    assert stored(updater, "garbage")[0] is None and stored(updater, "html")[0] is None
    assert [c.name for c in updater.cached(feeds)] == ["small"]


def test_slow_server_times_out(
    server: FeedServer, make_updater: Callable[..., FeedUpdater]
) -> None:
    good = feed(PLAIN)
    feeds = [Feed("slow", server.route("/slow.txt", good))]
    updater = make_updater(timeout=0.2, attempts=2)
    run(updater, feeds)
    server.route("/slow.txt", Reply(body=PLAIN, delay=5.0))

    started = time.monotonic()
    (result,) = run(updater, feeds, NOW + 25 * HOUR)

    assert time.monotonic() - started < 2.0
    assert (result.status, result.attempts) == ("failed", 2)
    assert result.error is not None and "timed out" in result.error
    assert server.hits("/slow.txt") == 1 + 2
    assert stored(updater, "slow")[0] == PLAIN


def test_concurrency_is_bounded(
    server: FeedServer, make_updater: Callable[..., FeedUpdater]
) -> None:
    feeds = [
        Feed(f"f{i}", server.route(f"/f{i}.txt", Reply(body=ip_list(5, third=40 + i), delay=0.1)))
        for i in range(8)
    ]
    results = run(make_updater(concurrency=3), feeds)

    assert [r.status for r in results] == ["updated"] * 8
    assert server.max_in_flight == 3


def test_one_feed_failing_does_not_affect_the_others(
    server: FeedServer,
    make_updater: Callable[..., FeedUpdater],
    parse: Parse,
    unused_port: int,
) -> None:
    def fragile(data: bytes, hint: str) -> ParsedFeed:
        if hint == "boom":
            raise RuntimeError("parser bug")
        return parse(data, hint)

    feeds = [
        Feed("good", server.route("/good.txt", feed(PLAIN))),
        Feed("error", server.route("/error.txt", Reply(500))),
        Feed("missing", server.route("/missing.txt", Reply(404))),
        Feed("refused", f"http://127.0.0.1:{unused_port}/feed.txt"),
        Feed("not-http", "ftp://example.org/feed.txt"),
        Feed("boom", server.route("/boom.txt", feed(ZEEK_INTEL)), kind="boom"),
        Feed("good", server.route("/dup.txt", feed(NETSET))),  # a duplicate name
        Feed("odd", server.route("/odd.txt", feed(PLAIN)), state="sleeping"),
        Feed("good2", server.route("/good2.txt", feed(FEODO_CSV))),
    ]
    updater = make_updater(parse=fragile)
    results = run(updater, feeds)

    assert [(r.name, r.status) for r in results] == [
        ("good", "updated"),
        ("error", "failed"),
        ("missing", "failed"),
        ("refused", "failed"),
        ("not-http", "failed"),
        ("boom", "rejected"),
        ("good", "failed"),
        ("odd", "failed"),
        ("good2", "updated"),
    ]
    by_index = dict(enumerate(results))
    assert by_index[3].attempts == 3 and by_index[3].http_status is None
    assert by_index[4].attempts == 1
    assert by_index[5].error is not None and "parser bug" in by_index[5].error
    assert by_index[6].error == "duplicate name" and server.hits("/dup.txt") == 0
    assert by_index[7].error is not None and "sleeping" in by_index[7].error
    assert stored(updater, "good")[0] == PLAIN


def test_paused_and_removed_feeds(
    server: FeedServer, make_updater: Callable[..., FeedUpdater], cache: Path
) -> None:
    feeds = [
        Feed("p", server.route("/p.txt", feed(PLAIN))),
        Feed("r", server.route("/r.txt", feed(NETSET))),
    ]
    updater = make_updater()
    run(updater, feeds)

    later = [Feed("p", feeds[0].url, state="paused"), Feed("r", feeds[1].url, state="removed")]
    paused, removed = run(updater, later, NOW + 48 * HOUR, force=True)

    assert (paused.status, paused.indicators, paused.attempts) == ("paused", 4, 0)
    assert (removed.status, removed.attempts) == ("removed", 0)
    assert server.hits("/p.txt") == 1 and server.hits("/r.txt") == 1
    assert stored(updater, "p")[0] == PLAIN
    assert stored(updater, "r") == (None, None)
    assert sorted(p.name for p in cache.iterdir()) == sorted(
        f"{cache_stem('p')}{suffix}" for suffix in (".data", ".meta.json")
    )
    copies, skipped = updater.cached_report(later)
    assert [c.name for c in copies] == ["p"]
    assert skipped == {"r": "removed from the feed list"}
    # Removing a feed that was never cached is fine too.
    assert run(updater, [Feed("never", "http://x.invalid/", state="removed")])[0].status == (
        "removed"
    )


def test_cached_reports_unusable_files_and_never_raises(
    server: FeedServer, make_updater: Callable[..., FeedUpdater], cache: Path
) -> None:
    names = ["ok", "corrupt", "wrong-type", "no-data", "resized", "no-meta"]
    feeds = [Feed(n, server.route(f"/{n}.txt", feed(PLAIN))) for n in names]
    feeds.append(Feed("new", server.route("/new.txt", feed(PLAIN))))
    updater = make_updater()
    run(updater, feeds[:-1])

    def data(name: str) -> Path:
        return updater.paths(name)[0]

    def meta(name: str) -> Path:
        return updater.paths(name)[1]

    meta("corrupt").write_bytes(b'{"url": "http://x", "etag": ')
    wrong = json.loads(meta("wrong-type").read_text()) | {"indicators": "four"}
    meta("wrong-type").write_text(json.dumps(wrong))
    data("no-data").unlink()
    data("resized").write_bytes(PLAIN + b"45.9.20.5\n")
    meta("no-meta").unlink()

    copies, skipped = updater.cached_report(feeds)

    assert [c.name for c in copies] == ["ok"]
    assert copies[0].path == data("ok") and copies[0].meta["indicators"] == 4
    assert set(skipped) == {"corrupt", "wrong-type", "no-data", "resized", "no-meta", "new"}
    assert "unusable: not JSON" in skipped["corrupt"]
    assert "'indicators' has the wrong type" in skipped["wrong-type"]
    assert "unreadable" in skipped["no-data"]
    assert "its meta says" in skipped["resized"]
    assert "missing" in skipped["no-meta"]
    assert skipped["new"] == "not downloaded yet"
    assert [c.name for c in updater.cached(feeds)] == ["ok"]

    # update() repairs them: unconditional downloads where the meta is not trusted.
    before = len(server.requests)
    results = run(updater, feeds, NOW + HOUR)
    assert [(r.name, r.status) for r in results] == [
        ("ok", "fresh"),
        ("corrupt", "updated"),
        ("wrong-type", "updated"),
        ("no-data", "updated"),
        ("resized", "updated"),
        ("no-meta", "updated"),
        ("new", "updated"),
    ]
    assert all("If-None-Match" not in r.headers for r in server.requests[before:])
    assert [c.name for c in updater.cached(feeds)] == [*names, "new"]


def test_a_changed_url_is_fetched_at_once_without_conditions(
    server: FeedServer, make_updater: Callable[..., FeedUpdater]
) -> None:
    updater = make_updater()
    run(updater, [Feed("moved", server.route("/old.txt", feed(ip_list(100))))])
    # The new location serves far fewer entries: no shrink check across URLs.
    new_url = server.route("/new.txt", feed(ip_list(3, third=50)))

    (result,) = run(updater, [Feed("moved", new_url)], NOW + HOUR)

    assert (result.status, result.indicators) == ("updated", 3)
    assert "If-None-Match" not in server.last("/new.txt").headers
    _, meta = stored(updater, "moved")
    assert meta is not None and meta["url"] == new_url


def test_cache_file_names_are_safe_and_distinct(tmp_path: Path, parse: Parse) -> None:
    names = ["a/b", "a_b", "A_B", "../../etc/passwd", "", "feodotracker.abuse.ch/ipblocklist.csv"]
    stems = [cache_stem(n) for n in names]
    assert len(set(stems)) == len(names)
    assert all(re.fullmatch(r"[A-Za-z0-9._-]+", s) and not s.startswith(".") for s in stems)
    updater = FeedUpdater(tmp_path, parse)
    assert all(p.parent == tmp_path for n in names for p in updater.paths(n))
    assert cache_stem("feodotracker.abuse.ch/ipblocklist.csv").startswith(
        "feodotracker.abuse.ch_ipblocklist.csv-"
    )


def test_parameters_are_checked(tmp_path: Path, parse: Parse) -> None:
    for bad in ({"attempts": 0}, {"concurrency": 0}, {"min_ratio": 1.5}, {"timeout": 0}):
        with pytest.raises(ValueError, match=r"at least 1|fraction|timeout"):
            FeedUpdater(tmp_path, parse, **bad)


def test_retry_after_and_resolver_port_take_ascii_digits_only() -> None:
    """ "²".isdigit() is True but float("²") / int("²") raise: a server's header or a
    config value with such a digit is ignored (back-off / port 53), not a crash."""
    from agent.intel.online import _parse_resolver
    from agent.intel.updater import _retry_after

    assert _retry_after("²") is None and _retry_after(" 120 ") == 120.0
    assert _retry_after("Wed, 21 Oct 2015 07:28:00 GMT") is None
    assert _parse_resolver("9.9.9.9:²") == ("9.9.9.9:²", 53)
    assert _parse_resolver("[2620:fe::fe]:5353") == ("2620:fe::fe", 5353)
