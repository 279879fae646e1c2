"""Online lookups against local stand-ins for the internet services.

The real services (VirusTotal, URLhaus, hashlookup, RDAP over HTTPS; Spamhaus
and Team Cymru over DNS) are unreachable here, so a local aiohttp server
speaks their HTTP APIs with answers shaped like the recorded ones, and a local
UDP server answers the DNS zones. Everything in between — rate limits, cache,
retries, parsing, evidence, the pipeline — is the real code.
"""

from __future__ import annotations

import asyncio
import struct
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp import web

from agent.analyze import analyze
from agent.config import Config
from agent.intel.online import OnlineLookups, TokenBucket, enabled_services
from detection.intel.index import IntelIndex
from detection.intel.model import FeedInfo, Ioc, IocKind
from detection.intel.online import LookupRequest, Service
from detection.model import Evidence, ThreatLevel

BAD_IP = "203.0.113.7"  # inbound scanner, on the DNSBL's exploited-hosts list
PBL_IP = "203.0.113.8"  # policy list only: not a finding
BAD_ASN_IP = "198.51.100.9"  # in AS64500, which the local IoC file lists
CLEAN_IP = "198.51.100.10"  # in AS64501
BAD_MD5 = "0123456789abcdef0123456789abcdef"
KNOWN_MD5 = "fedcba9876543210fedcba9876543210"
BAD_SHA256 = "a" * 64
BAD_URL = "http://malware.example.com/payload.exe"
YOUNG = "fresh-domain.example"
OLD = "old-domain.example"
API_KEY = "test-key"


# -- the stand-ins ------------------------------------------------------------------------


def _dns_reply(query: bytes, answers: list[tuple[int, bytes]], rcode: int = 0) -> bytes:
    txid, _flags, qd, *_ = struct.unpack_from("!HHHHHH", query)
    end = 12
    while query[end]:
        end += 1 + query[end]
    question = query[12 : end + 5]
    out = struct.pack("!HHHHHH", txid, 0x8180 | rcode, qd, len(answers), 0, 0) + question
    for rtype, rdata in answers:
        out += b"\xc0\x0c" + struct.pack("!HHIH", rtype, 1, 60, len(rdata)) + rdata
    return out


def _qname(query: bytes) -> str:
    labels, pos = [], 12
    while query[pos]:
        n = query[pos]
        labels.append(query[pos + 1 : pos + 1 + n].decode())
        pos += 1 + n
    return ".".join(labels)


class _Dns(asyncio.DatagramProtocol):
    def __init__(self, hits: Counter[str]) -> None:
        self.hits = hits

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        name = _qname(data)
        self.hits[name] += 1
        reply: bytes
        if name == "7.113.0.203.zen.test":
            reply = _dns_reply(data, [(1, bytes((127, 0, 0, 4)))])
        elif name == "8.113.0.203.zen.test":
            reply = _dns_reply(data, [(1, bytes((127, 0, 0, 10)))])
        elif name.endswith(".zen.test"):
            reply = _dns_reply(data, [], rcode=3)
        elif name == "9.100.51.198.asn.test":
            txt = b"64500 | 198.51.100.0/24 | ZZ | test | 2001-01-01"
            reply = _dns_reply(data, [(16, bytes((len(txt),)) + txt)])
        elif name.endswith(".asn.test"):
            txt = b"64501 | 198.51.100.0/24 | ZZ | test | 2001-01-01"
            reply = _dns_reply(data, [(16, bytes((len(txt),)) + txt)])
        else:
            reply = _dns_reply(data, [], rcode=3)
        self.transport.sendto(reply, addr)  # type: ignore[attr-defined]


@dataclass
class Internet:
    base_url: str
    resolver: str
    hits: Counter[str] = field(default_factory=Counter)
    # value -> HTTP status the services answer for it next ("500", "429", "garbage", "slow")
    trouble: dict[str, list[str]] = field(default_factory=dict)


def _app(net: Internet) -> web.Application:
    async def trouble(value: str) -> web.Response | None:
        plan = net.trouble.get(value)
        if not plan:
            return None
        what = plan.pop(0)
        if what == "slow":
            await asyncio.sleep(2)
            return web.json_response({})
        if what == "garbage":
            return web.Response(text="<html>maintenance</html>", content_type="text/html")
        return web.Response(status=int(what), text="no")

    async def vt(request: web.Request) -> web.Response:
        what, value = request.match_info["what"], request.match_info["value"]
        net.hits[f"vt:{value}"] += 1
        if request.headers.get("x-apikey") != API_KEY:
            return web.json_response({"error": {"code": "WrongCredentialsError"}}, status=401)
        if (bad := await trouble(value)) is not None:
            return bad
        if what == "files" and value == BAD_SHA256:
            stats = {"malicious": 40, "suspicious": 2, "harmless": 0, "undetected": 28}
        elif what == "ip_addresses" and value == CLEAN_IP:
            stats = {"malicious": 0, "suspicious": 0, "harmless": 80, "undetected": 10}
        else:
            return web.json_response({"error": {"code": "NotFoundError"}}, status=404)
        return web.json_response({"data": {"attributes": {"last_analysis_stats": stats}}})

    async def urlhaus(request: web.Request) -> web.Response:
        form = await request.post()
        value = str(form.get("url") or form.get("md5_hash") or form.get("sha256_hash") or "")
        net.hits[f"urlhaus:{value}"] += 1
        if (bad := await trouble(value)) is not None:
            return bad
        if value == BAD_URL:
            return web.json_response(
                {
                    "query_status": "ok",
                    "threat": "malware_download",
                    "url_status": "online",
                    "tags": ["elf", "mirai"],
                }
            )
        return web.json_response({"query_status": "no_results"})

    async def circl(request: web.Request) -> web.Response:
        value = request.match_info["value"]
        net.hits[f"circl:{value}"] += 1
        if (bad := await trouble(value)) is not None:
            return bad
        if value == BAD_MD5:
            return web.json_response(
                {
                    "FileName": "dropper.exe",
                    "KnownMalicious": "malware-bazaar",
                    "hashlookup:trust": 10,
                }
            )
        if value == KNOWN_MD5:
            return web.json_response({"FileName": "kernel32.dll", "hashlookup:trust": 100})
        return web.json_response({"message": "Non existing MD5"}, status=404)

    async def rdap(request: web.Request) -> web.Response:
        domain = request.match_info["domain"]
        net.hits[f"rdap:{domain}"] += 1
        if (bad := await trouble(domain)) is not None:
            return bad
        days = {YOUNG: 10, OLD: 4000}.get(domain)
        if days is None:
            return web.json_response({"errorCode": 404}, status=404)
        when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - days * 86400))
        return web.json_response(
            {"ldhName": domain, "events": [{"eventAction": "registration", "eventDate": when}]}
        )

    app = web.Application()
    app.router.add_get("/api/v3/{what}/{value}", vt)
    app.router.add_post("/v1/url/", urlhaus)
    app.router.add_post("/v1/payload/", urlhaus)
    app.router.add_get("/lookup/{kind}/{value}", circl)
    app.router.add_get("/domain/{domain}", rdap)
    return app


@pytest.fixture
def internet() -> Iterator[Internet]:
    """The stand-ins, served from their own thread (the agent runs synchronously)."""
    ready = threading.Event()
    holder: dict[str, Any] = {}

    async def main() -> None:
        net = Internet("", "")
        runner = web.AppRunner(_app(net))
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _Dns(net.hits), local_addr=("127.0.0.1", 0)
        )
        dns_port = transport.get_extra_info("sockname")[1]
        net.base_url = f"http://127.0.0.1:{port}"
        net.resolver = f"127.0.0.1:{dns_port}"
        stop = asyncio.Event()
        holder.update(net=net, loop=loop, stop=stop)
        ready.set()
        await stop.wait()
        transport.close()
        await runner.cleanup()

    thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
    thread.start()
    assert ready.wait(10)
    yield holder["net"]
    holder["loop"].call_soon_threadsafe(holder["stop"].set)
    thread.join(10)


def _config(net: Internet, **online: Any) -> Config:
    section: dict[str, Any] = {
        "enabled": True,
        "virustotal": {"api_key": API_KEY, "base_url": net.base_url, "per_minute": 600},
        "urlhaus": {"base_url": net.base_url},
        "circl": {"base_url": net.base_url},
        "rdap": {"base_url": net.base_url},
        "dnsbl": {"zone": "zen.test", "resolver": net.resolver},
        "asn": {"zone": "asn.test", "resolver": net.resolver},
        "timeout_seconds": 1.0,
        "retries": 1,
    }
    section.update(online)
    return Config.model_validate({"intel": {"online": section}})


def _asn_index() -> IntelIndex:
    index = IntelIndex()
    feed = FeedInfo("local:own_malicious_iocs.csv", ThreatLevel.HIGH)
    index.add_feed(feed, [Ioc(IocKind.ASN, "AS64500", "bulletproof hosting")])
    return index.freeze()


class _Collected:
    def __init__(self) -> None:
        self.items: list[Evidence] = []
        self.lock = threading.Lock()

    def __call__(self, ev: Evidence) -> None:
        with self.lock:
            self.items.append(ev)


def _service(net: Internet, **online: Any) -> tuple[OnlineLookups, _Collected]:
    found = _Collected()
    cfg = _config(net, **online).intel.online
    lookups = OnlineLookups(
        cfg,
        window_seconds=3600,
        on_evidence=found,
        intel=_asn_index,
        seed=1,
        retry_base_seconds=0.05,
        rate_limited_seconds=0.2,
    )
    lookups.start()
    return lookups, found


def _req(kind: IocKind, value: str, attacker: str = "10.0.0.1", victim: str | None = "10.0.0.2"):  # type: ignore[no-untyped-def]
    return LookupRequest(kind, value, 1_700_000_000.0, "C1", attacker, victim)


# -- rate limiting ------------------------------------------------------------------------


def test_token_bucket_keeps_to_the_free_tier() -> None:
    bucket = TokenBucket(per_minute=4, per_day=6)
    now = 1000.0
    for _ in range(4):  # a minute's burst
        assert bucket.wait_time(now) == 0.0
        bucket.take(now)
    assert bucket.wait_time(now) == pytest.approx(15.0)  # then one every 15 s
    now += 15
    assert bucket.wait_time(now) == 0.0
    bucket.take(now)
    now += 15
    bucket.take(now)
    assert bucket.wait_time(now + 3600) is None  # 6 a day: spent
    assert bucket.wait_time(now + 86401) == 0.0  # a day later: available again


def test_virustotal_needs_an_api_key(internet: Internet) -> None:
    cfg = _config(internet, virustotal={"api_key": None}).intel.online
    assert Service.VIRUSTOTAL not in enabled_services(cfg)
    assert Service.CIRCL in enabled_services(cfg)


# -- each service ---------------------------------------------------------------------------


def _wait(lookups: OnlineLookups) -> None:
    assert lookups.drain(10) == 0


def test_each_service_turns_a_bad_answer_into_evidence(internet: Internet) -> None:
    lookups, found = _service(internet)
    try:
        lookups.submit(Service.SPAMHAUS, _req(IocKind.IP, BAD_IP, BAD_IP, "10.0.0.2"))
        lookups.submit(Service.SPAMHAUS, _req(IocKind.IP, PBL_IP, PBL_IP, "10.0.0.2"))
        lookups.submit(Service.ASN, _req(IocKind.IP, BAD_ASN_IP, BAD_ASN_IP, "10.0.0.2"))
        lookups.submit(Service.ASN, _req(IocKind.IP, CLEAN_IP, CLEAN_IP, "10.0.0.2"))
        lookups.submit(Service.CIRCL, _req(IocKind.MD5, BAD_MD5, "198.51.100.1"))
        lookups.submit(Service.CIRCL, _req(IocKind.MD5, KNOWN_MD5, "198.51.100.1"))
        lookups.submit(Service.URLHAUS, _req(IocKind.URL, BAD_URL, "198.51.100.1"))
        lookups.submit(Service.VIRUSTOTAL, _req(IocKind.SHA256, BAD_SHA256, "198.51.100.1"))
        lookups.submit(Service.VIRUSTOTAL, _req(IocKind.IP, CLEAN_IP, CLEAN_IP))
        lookups.submit(Service.RDAP, _req(IocKind.DOMAIN, YOUNG, "10.0.0.1", None))
        lookups.submit(Service.RDAP, _req(IocKind.DOMAIN, OLD, "10.0.0.1", None))
        _wait(lookups)
    finally:
        lookups.close()
    by_type = {ev.type: ev for ev in found.items}
    assert sorted(by_type) == [
        "online_dnsbl",
        "online_hashlookup",
        "online_urlhaus",
        "online_virustotal",
        "threat_intel_asn",
        "young_domain",
    ]
    assert len(found.items) == 6  # the PBL, clean, known and old answers are not findings
    dnsbl = by_type["online_dnsbl"]
    assert (dnsbl.attacker, dnsbl.threat_level) == (BAD_IP, ThreatLevel.HIGH)
    assert "XBL" in dnsbl.description
    asn = by_type["threat_intel_asn"]
    assert asn.attacker == BAD_ASN_IP and "AS64500" in asn.description
    assert asn.confidence == pytest.approx(0.8)
    circl = by_type["online_hashlookup"]
    assert circl.threat_level == ThreatLevel.HIGH and "malware-bazaar" in circl.description
    assert by_type["online_urlhaus"].threat_level == ThreatLevel.HIGH  # url online
    vt = by_type["online_virustotal"]
    assert "40/70 engines" in vt.description and vt.source == "local:online_virustotal"
    young = by_type["young_domain"]
    assert (young.threat_level, young.confidence) == (ThreatLevel.LOW, 1.0)
    assert "registered 10 days ago" in young.description
    assert lookups.stats["circl.known_benign"] == 1


def test_answers_are_cached(internet: Internet) -> None:
    lookups, found = _service(internet)
    try:
        for victim in ("10.0.0.2", "10.0.0.3", "10.0.0.4"):
            lookups.submit(Service.CIRCL, _req(IocKind.MD5, BAD_MD5, "198.51.100.1", victim))
            _wait(lookups)
    finally:
        lookups.close()
    assert internet.hits[f"circl:{BAD_MD5}"] == 1
    assert lookups.stats["circl.cached"] == 2
    assert sorted(ev.victim or "" for ev in found.items) == ["10.0.0.2", "10.0.0.3", "10.0.0.4"]


def test_failures_are_retried_then_dropped_and_counted(internet: Internet) -> None:
    internet.trouble[BAD_MD5] = ["500"]  # one failure, then the real answer
    internet.trouble[KNOWN_MD5] = ["garbage", "garbage"]  # fails every try
    internet.trouble[BAD_URL] = ["slow", "slow"]  # times out every try
    lookups, found = _service(internet)
    try:
        lookups.submit(Service.CIRCL, _req(IocKind.MD5, BAD_MD5))
        lookups.submit(Service.CIRCL, _req(IocKind.MD5, KNOWN_MD5))
        lookups.submit(Service.URLHAUS, _req(IocKind.URL, BAD_URL))
        _wait(lookups)
    finally:
        lookups.close()
    stats = lookups.stats
    assert stats["circl.errors.bad_answer"] == 3  # HTTP 500 once, garbage twice
    assert stats["circl.dropped.bad_answer"] == 1
    assert stats["urlhaus.errors.timeout"] == 2
    assert stats["urlhaus.dropped.timeout"] == 1
    assert [ev.type for ev in found.items] == ["online_hashlookup"]  # the retried one


def test_rate_limited_service_backs_off_and_recovers(internet: Internet) -> None:
    internet.trouble[BAD_SHA256] = ["429"]
    lookups, found = _service(internet)
    try:
        lookups.submit(Service.VIRUSTOTAL, _req(IocKind.SHA256, BAD_SHA256))
        _wait(lookups)
    finally:
        lookups.close()
    assert lookups.stats["virustotal.errors.rate_limited"] == 1
    assert internet.hits[f"vt:{BAD_SHA256}"] == 2
    assert [ev.type for ev in found.items] == ["online_virustotal"]


def test_daily_quota_and_full_queue_drop_and_count(internet: Internet) -> None:
    lookups, _ = _service(
        internet, virustotal={"api_key": API_KEY, "base_url": internet.base_url, "per_day": 2}
    )
    try:
        for i in range(4):
            lookups.submit(Service.VIRUSTOTAL, _req(IocKind.IP, f"198.51.100.{20 + i}"))
        _wait(lookups)
    finally:
        lookups.close()
    assert lookups.stats["virustotal.answered"] == 2
    assert lookups.stats["virustotal.dropped.daily_quota"] == 2

    internet.trouble.update({f"{'0' * 31}{i}": ["slow"] for i in range(5)})
    lookups, _ = _service(internet, queue_size=2)
    try:
        accepted = [
            lookups.submit(Service.CIRCL, _req(IocKind.MD5, f"{'0' * 31}{i}")) for i in range(5)
        ]
        _wait(lookups)
    finally:
        lookups.close()
    assert accepted == [True, True, False, False, False]
    assert lookups.summary()["circl.dropped.queue_full"] == 3


# -- through the agent ----------------------------------------------------------------------


def _zeek_dir(root: Path) -> Path:
    logs = root / "logs"
    logs.mkdir()
    ts = 1_700_000_000.0

    def write(name: str, rows: list[dict[str, Any]]) -> None:
        (logs / name).write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))

    def conn(uid: str, src: str, dst: str, dport: int, state: str = "SF") -> dict[str, Any]:
        return {
            "ts": ts, "uid": uid, "id.orig_h": src, "id.orig_p": 40000, "id.resp_h": dst,
            "id.resp_p": dport, "proto": "tcp", "duration": 1.0, "orig_bytes": 100,
            "resp_bytes": 200, "conn_state": state, "history": "ShADadFf", "orig_pkts": 5,
            "resp_pkts": 5,
        }  # fmt: skip

    write(
        "conn.log",
        [
            conn("C1", BAD_IP, "192.168.1.5", 22, "S0"),
            conn("C2", "192.168.1.5", BAD_ASN_IP, 443),
            conn("C3", "192.168.1.5", "198.51.100.1", 80),
        ],
    )
    write(
        "dns.log",
        [
            {
                "ts": ts, "uid": "D1", "id.orig_h": "192.168.1.5", "id.orig_p": 5353,
                "id.resp_h": "192.168.1.1", "id.resp_p": 53, "proto": "udp", "query": YOUNG,
                "qtype_name": "A", "rcode_name": "NOERROR", "answers": ["198.51.100.1"],
            }
        ],
    )  # fmt: skip
    write(
        "http.log",
        [
            {
                "ts": ts, "uid": "C3", "id.orig_h": "192.168.1.5", "id.orig_p": 40000,
                "id.resp_h": "198.51.100.1", "id.resp_p": 80, "method": "GET",
                "host": "malware.example.com", "uri": "/payload.exe", "user_agent": "curl/8",
                "status_code": 200,
            }
        ],
    )  # fmt: skip
    write(
        "files.log",
        [
            {
                "ts": ts, "fuid": "F1", "tx_hosts": ["198.51.100.1"], "rx_hosts": ["192.168.1.5"],
                "conn_uids": ["C3"], "source": "HTTP", "mime_type": "application/x-dosexec",
                "md5": BAD_MD5, "sha256": BAD_SHA256,
            }
        ],
    )  # fmt: skip
    return logs


def test_analyze_asks_online_and_their_answers_become_evidence(
    internet: Internet, tmp_path: Path
) -> None:
    logs = _zeek_dir(tmp_path)
    iocs = tmp_path / "own_malicious_iocs.csv"
    iocs.write_text('"IoC","Threat level","Description"\n"AS64500","high","bulletproof hosting"\n')
    config = _config(internet).model_copy()
    intel = config.intel.model_copy(
        update={"local_files": [iocs], "feed_lists": [], "cache_dir": tmp_path / "cache"}
    )
    config = config.model_copy(update={"intel": intel})
    result = analyze(str(logs), config, outdir=tmp_path / "out", keep_findings=True)
    types = Counter(ev.type for ev in result.evidence)
    for expected in (
        "online_dnsbl",
        "threat_intel_asn",
        "young_domain",
        "online_urlhaus",
        "online_hashlookup",
        "online_virustotal",
    ):
        assert types[expected] >= 1, (expected, types, result.summary["online_lookups"])
    by_type = {ev.type: ev for ev in result.evidence}
    assert by_type["online_dnsbl"].attacker == BAD_IP
    assert by_type["threat_intel_asn"].attacker == BAD_ASN_IP
    assert by_type["online_hashlookup"].attacker == "198.51.100.1"  # the file's sender
    assert by_type["online_hashlookup"].victim == "192.168.1.5"
    assert by_type["young_domain"].attacker == "192.168.1.5"  # it asked for the name
    summary = result.summary["online_lookups"]
    assert summary["pending"] == 0
    assert summary["virustotal.answered"] >= 2  # the file, the outbound IPs, the URL, the name
    # the same value is offered once: one lookup of the file hash per service
    assert internet.hits[f"circl:{BAD_MD5}"] == 1


def test_offline_by_default(tmp_path: Path, internet: Internet) -> None:
    logs = _zeek_dir(tmp_path)
    config = Config()
    assert config.intel.online.enabled is False
    result = analyze(str(logs), config, outdir=tmp_path / "out", keep_findings=True)
    assert result.summary["online_lookups"] is None
    assert not any(ev.type.startswith("online_") for ev in result.evidence)
    assert sum(internet.hits.values()) == 0


def test_intel_lookup_online_prints_every_service_answer(
    internet: Internet, tmp_path: Path, cli: Any
) -> None:
    cfg = tmp_path / "c.yaml"
    online = _config(internet).intel.online.model_dump(mode="json")
    online["enabled"] = False  # asked explicitly: the CLI asks anyway
    cfg.write_text(
        orjson.dumps(
            {"intel": {"feed_lists": [], "cache_dir": str(tmp_path / "cache"), "online": online}}
        ).decode()
    )
    bad = cli("intel", "lookup", BAD_MD5, "--online", "-c", str(cfg), "-o", "json")
    assert bad.returncode == 0, bad.stderr  # not in any feed, but malicious online
    answers = {a["service"]: a for a in orjson.loads(bad.stdout)["online"]}
    assert set(answers) == {"circl", "urlhaus", "virustotal"}
    assert answers["circl"]["malicious"] and "malware-bazaar" in answers["circl"]["detail"]
    assert not answers["urlhaus"]["malicious"] and not answers["virustotal"]["malicious"]

    internet.trouble[OLD] = ["500"]  # RDAP's answer for this name fails: said, not hidden
    clean = cli("intel", "lookup", OLD, "--online", "-c", str(cfg))
    assert clean.returncode == 1  # nothing says it is bad
    assert "online rdap: - no answer (dropped.bad_answer)" in clean.stdout
    assert "online virustotal: - not known to VirusTotal" in clean.stdout

    nothing = cli("intel", "lookup", "AS64500", "--online", "-c", str(cfg))
    assert nothing.returncode == 2 and "no online service" in nothing.stderr
