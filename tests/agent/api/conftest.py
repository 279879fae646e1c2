"""A real two-agent mesh for the API tests, and a validator built from its OpenAPI document.

`mesh` (one per test session) starts `python -m agent agent` twice on 127.0.0.1: the
*seer* follows a Zeek directory and its *neighbour* joins it over libp2p. An
event-stream client is attached to the seer before the horizontal port-scan
capture (its scanner made public, so it is shared) is written into the seer's
Zeek directory; the fixture returns once the seer has stored an alert and the
neighbour has received the seer's report. The alert threshold is lowered so the
capture's two scan evidence raise an alert; threat-intelligence feeds are an
empty list (no downloads), the bundled local IoC files stay loaded.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from agent_process import Launched, launch_agent, stop_agents, wait_until
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

SCANNER = "46.166.151.160"


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    raw: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.raw)


class Agent(Launched):
    def request(self, method: str, path: str, **kw: Any) -> Reply:
        """Any request (`Launched.http`); `token=""` sends none. Error statuses are
        returned, not raised."""
        return Reply(*self.http(method, path, **kw))

    def get(self, path: str, **kw: Any) -> Reply:
        return self.request("GET", path, **kw)


def start_agent(root: Path, name: str, **kw: Any) -> Agent:
    """A running agent (`agent_process.launch_agent`) wrapped for these tests."""
    return launch_agent(root, name, cls=Agent, **kw)


class EventStream:
    """A server-sent-events client in a thread: parsed events accumulate in `events`."""

    def __init__(self, agent: Agent, query: str = "", last_event_id: str | None = None) -> None:
        url = urllib.parse.urlsplit(agent.api)
        self.conn = http.client.HTTPConnection(url.hostname or "", url.port, timeout=60)
        self.conn.connect()
        self.sock = self.conn.sock  # kept: close() shuts it down to end a blocked read at once
        headers = {"Authorization": f"Bearer {agent.token}"}
        if last_event_id is not None:
            headers["Last-Event-ID"] = last_event_id
        self.conn.request("GET", "/api/v1/stream" + query, headers=headers)
        self.resp = self.conn.getresponse()
        self.status = self.resp.status
        self.content_type = self.resp.headers.get("Content-Type", "")
        self.events: list[dict[str, Any]] = []
        self.comments = 0
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        current: dict[str, Any] = {}
        try:
            for raw in self.resp:
                line = raw.decode().rstrip("\n")
                if not line:
                    if "event" in current:
                        current["data"] = json.loads(current["data"])
                        self.events.append(current)
                    current = {}
                elif line.startswith(":"):
                    self.comments += 1
                else:
                    key, _, value = line.partition(": ")
                    current[key] = value
        except Exception:  # noqa: BLE001 - close() from the test thread ends the read any way
            return

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in list(self.events) if e["event"] == kind]

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.thread.join(timeout=10)
        self.resp.close()
        self.conn.close()


@dataclass
class Mesh:
    seer: Agent
    neighbour: Agent
    zeek_dir: Path
    stream: EventStream


@pytest.fixture(scope="session")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    root = tmp_path_factory.mktemp("api-mesh")
    zeek = root / "zeek"
    zeek.mkdir()
    agents: list[Agent] = []
    stream: EventStream | None = None
    try:
        # Beaconing remembers one first contact: the scan overflows it (the loss metrics).
        config = {"alerts": {"threshold": 0.5}, "detectors": {"beaconing": {"max_pairs": 1}}}
        seer = start_agent(root, "seer", zeek_dir=zeek, config=config)
        agents.append(seer)
        neighbour = start_agent(root, "neighbour", bootstrap=[seer.addrs[0]])
        agents.append(neighbour)

        def connected() -> bool:
            peers = neighbour.get("/api/v1/peers").json["peers"]
            return any(p["connected"] and p["peer_id"] == seer.peer_id for p in peers)

        if not wait_until(connected, 30):
            pytest.fail("the neighbour never connected to the seer")
        stream = EventStream(seer)
        capture = Path(__file__).parents[2] / "data" / "captures" / "zeek" / "port-scans"
        text = (capture / "horizontal" / "conn.log").read_text()
        (zeek / "conn.log").write_text(text.replace("10.0.2.112", SCANNER))

        def seen() -> bool:
            alerts = seer.get("/api/v1/alerts").json["items"]
            reports = neighbour.get(f"/api/v1/ip/{SCANNER}").json["peer_reports"]
            return bool(alerts) and bool(reports) and bool(stream and stream.of("alert"))

        if not wait_until(seen, 30):
            pytest.fail(
                "the seer raised no alert, or its report never reached the neighbour:\n"
                + "".join(seer.output[-30:])
            )
        yield Mesh(seer, neighbour, zeek, stream)
    finally:
        if stream is not None:
            stream.close()
        stop_agents(agents)


class OpenApi:
    """Validates real responses against the served OpenAPI document, and remembers which
    (path, method) pairs were checked."""

    def __init__(self, doc: dict[str, Any]) -> None:
        self.doc = doc
        self.registry: Registry[Any] = Registry().with_resource(
            "urn:starling-api", Resource.from_contents(doc, default_specification=DRAFT202012)
        )
        self.checked: set[tuple[str, str]] = set()

    def operations(self) -> set[tuple[str, str]]:
        return {(p, m) for p, ops in self.doc["paths"].items() for m in ops}

    def check(self, method: str, template: str, reply: Reply) -> Any:
        """Assert the reply's status, content type and body are what the document says."""
        op = self.doc["paths"][template][method.lower()]
        responses = op["responses"]
        assert str(reply.status) in responses, (
            f"{method} {template}: status {reply.status} is not documented "
            f"({sorted(responses)}): {reply.raw[:300]!r}"
        )
        content = responses[str(reply.status)]["content"]
        ctype = reply.headers.get("Content-Type", "").split(";")[0].strip()
        assert ctype in content, f"{method} {template}: content type {ctype} not in {list(content)}"
        self.checked.add((template, method.lower()))
        if ctype != "application/json":
            return reply.raw.decode()
        body = reply.json
        pointer = (
            "/paths/" + template.replace("~", "~0").replace("/", "~1") + f"/{method.lower()}"
            f"/responses/{reply.status}/content/application~1json/schema"
        )
        validator = Draft202012Validator(
            {"$ref": f"urn:starling-api#{pointer}"}, registry=self.registry
        )
        errors = sorted(validator.iter_errors(body), key=lambda e: list(e.path))
        assert not errors, f"{method} {template} {reply.status}: " + "; ".join(
            f"{list(e.path)}: {e.message[:200]}" for e in errors[:5]
        )
        return body


@pytest.fixture(scope="session")
def openapi(mesh: Mesh) -> OpenApi:
    reply = mesh.seer.get("/api/v1/openapi.json")
    assert reply.status == 200
    doc = reply.json
    Draft202012Validator.check_schema({"$defs": doc["components"]["schemas"]})
    return OpenApi(doc)


@pytest.fixture
def scanner() -> str:
    return SCANNER


@pytest.fixture
def agent_tools() -> Any:
    """Helpers for tests that start agents of their own."""
    return {
        "start": start_agent,
        "stop": stop_agents,
        "wait_until": wait_until,
        "stream": EventStream,
    }
