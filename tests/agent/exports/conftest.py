"""Fixtures for the exporter tests: findings, and local receivers started by the tests.

Receivers are real servers on loopback: a UDP socket and a TCP server for
syslog (the TCP receiver splits RFC 6587 octet-counted frames with its own
code, not the inverse shipped with the code under test), and an aiohttp app
standing in for a Slack incoming webhook.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web

from detection.model import Alert, Evidence, ThreatLevel

TS = 1_714_564_800.25  # 2024-05-01T12:00:00.250Z


@dataclass
class Findings:
    """A scan (two evidence from one attacker) and the alert they raised."""

    evidence: list[Evidence]
    alert: Alert

    @property
    def all(self) -> list[Evidence | Alert]:
        return [*self.evidence, self.alert]


def make_evidence(
    attacker: str = "203.0.113.5",
    *,
    ts: float = TS,
    description: str = "Horizontal port scan to 22/tcp: 40 hosts, from 203.0.113.5",
    level: ThreatLevel = ThreatLevel.HIGH,
    technique: str | None = "T1046",
    victim: str | None = None,
    count: int = 40,
    type_: str = "horizontal_port_scan",
    confidence: float = 0.9,
) -> Evidence:
    return Evidence(
        type=type_,
        attacker=attacker,
        victim=victim,
        threat_level=level,
        confidence=confidence,
        ts=ts,
        timewindow=7,
        description=description,
        source="local:horizontal_port_scan",
        uids=("C1", "C2"),
        dport=22,
        proto="tcp",
        count=count,
        attack_technique=technique,
    )


def make_alert(evidence: list[Evidence], *, description: str | None = None) -> Alert:
    first = evidence[0]
    return Alert(
        profile=first.attacker,
        timewindow=first.timewindow,
        ts=max(e.ts for e in evidence),
        score=2.0,
        threshold=1.0,
        evidence_ids=tuple(e.id for e in evidence),
        evidence_types=tuple(sorted({e.type for e in evidence})),
        victims=tuple(sorted({e.victim for e in evidence if e.victim})),
        uids=("C1", "C2"),
        confidence=0.85,
        threat_level=ThreatLevel.HIGH,
        description=description or f"Alert on {first.attacker}: {len(evidence)} evidence",
    )


@pytest.fixture
def findings() -> Findings:
    ev = [
        make_evidence(),
        make_evidence(
            ts=TS + 30,
            description="SSH password guessing against 10.0.0.2 | user=root",
            technique="T1110.001",
            victim="10.0.0.2",
            type_="ssh_password_guessing",
        ),
    ]
    return Findings(ev, make_alert(ev))


@pytest.fixture
def evidence_factory() -> Callable[..., Evidence]:
    return make_evidence


@pytest.fixture
def alert_factory() -> Callable[..., Alert]:
    return make_alert


def wait_until(cond: Callable[[], bool], timeout: float = 15.0) -> bool:
    """Poll `cond` until true or the deadline (a bound on waiting, not a timing assertion)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.02)
    return cond()


@pytest.fixture
def eventually() -> Callable[..., bool]:
    return wait_until


# -- syslog receivers -------------------------------------------------------------------------


@dataclass
class Received:
    port: int
    messages: list[bytes] = field(default_factory=list)
    raw: bytearray = field(default_factory=bytearray)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def snapshot(self) -> list[bytes]:
        with self.lock:
            return list(self.messages)


@pytest.fixture
def udp_receiver() -> Iterator[Received]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.1)
    got = Received(sock.getsockname()[1])
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                data = sock.recv(65535)
            except TimeoutError:
                continue
            with got.lock:
                got.messages.append(data)

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    yield got
    stop.set()
    t.join(5)
    sock.close()


def _octet_counted(buf: bytearray) -> list[bytes]:
    """RFC 6587 3.4.1, written independently of the code under test."""
    out = []
    while True:
        sp = buf.find(b" ")
        if sp <= 0:
            return out
        n = int(buf[:sp])
        if len(buf) < sp + 1 + n:
            return out
        out.append(bytes(buf[sp + 1 : sp + 1 + n]))
        del buf[: sp + 1 + n]


@pytest.fixture
def tcp_receiver() -> Iterator[Received]:
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.1)
    got = Received(server.getsockname()[1])
    stop = threading.Event()

    def client(conn: socket.socket) -> None:
        conn.settimeout(0.1)
        buf = bytearray()
        with conn:
            while not stop.is_set():
                try:
                    data = conn.recv(65536)
                except TimeoutError:
                    continue
                if not data:
                    return
                buf += data
                with got.lock:
                    got.raw += data
                    got.messages += _octet_counted(buf)

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            threading.Thread(target=client, args=(conn,), daemon=True).start()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    yield got
    stop.set()
    t.join(5)
    server.close()


# -- a Slack webhook stand-in -----------------------------------------------------------------


@dataclass
class Webhook:
    url: str
    bodies: list[Any] = field(default_factory=list)
    content_types: list[str] = field(default_factory=list)
    # statuses to answer with, in order, before answering 200 "ok"
    plan: list[int] = field(default_factory=list)
    hits: int = 0


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    ready = threading.Event()
    holder: dict[str, Any] = {}

    async def main() -> None:
        hook = Webhook("")

        async def post(request: web.Request) -> web.Response:
            hook.hits += 1
            if hook.plan:
                return web.Response(status=hook.plan.pop(0), text="server_error")
            hook.content_types.append(request.content_type)
            hook.bodies.append(await request.json())
            return web.Response(text="ok")

        app = web.Application()
        app.router.add_post("/services/T000/B000/XXXX", post)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        hook.url = f"http://127.0.0.1:{port}/services/T000/B000/XXXX"
        stop = asyncio.Event()
        holder.update(hook=hook, loop=asyncio.get_running_loop(), stop=stop)
        ready.set()
        await stop.wait()
        await runner.cleanup()

    thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
    thread.start()
    assert ready.wait(10)
    yield holder["hook"]
    holder["loop"].call_soon_threadsafe(holder["stop"].set)
    thread.join(10)
