"""Two real agents and headless Chromium for the dashboard tests.

`pair` (one per session) starts `python -m agent agent` twice on 127.0.0.1, the
*seer* and its *neighbour* (joined over libp2p), and writes the same capture into
each one's Zeek directory: the horizontal port scan of
`tests/data/captures/zeek/port-scans/horizontal` with its scanner rewritten to a
public address so the agents share reports about it. Both detect it, alert (the
threshold is lowered so the capture's two scan evidence raise an alert), ban it in
dry-run, and each receives the other's report, which its own detection then
confirms: the peers view has a peer with a reputation history. Threat-intelligence
feed lists are empty (no downloads).

`browser` launches Debian's `chromium` through Playwright (`executable_path`; no
browser is ever downloaded). `dash` opens a fresh 1280x800 page per test that
records every request (any host but the loopback one is aborted and fails the
test), console errors and uncaught page errors.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from agent_process import Launched, launch_agent, stop_agents, wait_until

SCANNER = "46.166.151.160"
REPO = Path(__file__).parents[3]
# Screenshots go to a temporary directory, or to docs/screenshots/ when
# STARLING_SCREENSHOTS=1 (how the ones in docs/ are made): a test run leaves the tree clean.
SCREENSHOTS = (
    REPO / "docs" / "screenshots"
    if os.environ.get("STARLING_SCREENSHOTS") == "1"
    else Path(tempfile.gettempdir()) / "starling-screenshots"
)
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


class Agent(Launched):
    request = Launched.http  # (status, headers, raw body); `token=""` sends none

    def json(self, path: str, **kw: Any) -> Any:
        status, _, raw = self.request("GET", path, **kw)
        assert status == 200, (path, status, raw[:300])
        return json.loads(raw)


def _start_agent(
    root: Path, name: str, zeek_dir: Path, bootstrap: list[str] | None = None
) -> Agent:
    return launch_agent(
        root,
        name,
        zeek_dir=zeek_dir,
        bootstrap=bootstrap,
        # beaconing remembers one first contact: a scan overflows it (the flows card)
        config={"alerts": {"threshold": 0.5}, "detectors": {"beaconing": {"max_pairs": 1}}},
        token_prefix="dashboard-admin-token",
        cls=Agent,
    )


@dataclass
class Pair:
    seer: Agent
    neighbour: Agent


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    root = tmp_path_factory.mktemp("dashboard")
    agents: list[Agent] = []
    capture = REPO / "tests" / "data" / "captures" / "zeek" / "port-scans" / "horizontal"
    conn = (capture / "conn.log").read_text().replace("10.0.2.112", SCANNER)
    try:
        zeek_seer, zeek_neighbour = root / "zeek-seer", root / "zeek-neighbour"
        zeek_seer.mkdir()
        zeek_neighbour.mkdir()
        seer = _start_agent(root, "seer", zeek_seer)
        agents.append(seer)
        neighbour = _start_agent(root, "neighbour", zeek_neighbour, bootstrap=[seer.addrs[0]])
        agents.append(neighbour)

        def connected() -> bool:
            peers = seer.json("/api/v1/peers")["peers"]
            return any(p["connected"] and p["peer_id"] == neighbour.peer_id for p in peers)

        if not wait_until(connected, 30):
            pytest.fail("the neighbour never connected to the seer")
        (zeek_seer / "conn.log").write_text(conn)
        (zeek_neighbour / "conn.log").write_text(conn)

        def seen() -> bool:
            return all(
                a.json("/api/v1/alerts")["items"] and a.json(f"/api/v1/ip/{SCANNER}")["reporters"]
                for a in (seer, neighbour)
            )

        if not wait_until(seen, 40):
            pytest.fail(
                "no alert, or no report crossed:\n"
                + "".join(seer.output[-20:])
                + "".join(neighbour.output[-20:])
            )
        yield Pair(seer, neighbour)
    finally:
        stop_agents(agents)


# Module scope, not session: Playwright's sync API keeps an event loop running in
# this thread while it is open, and later tests call asyncio.run().
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.fail("Debian's chromium is not installed: apt-get install -y chromium")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            yield b
        finally:
            b.close()


class Dash:
    """One page of the dashboard of one agent, with what it asked and logged."""

    def __init__(self, context: Any, agent: Agent) -> None:
        self.context = context
        self.agent = agent
        self.page = context.new_page()
        self.requests: list[str] = []
        self.external: list[str] = []
        self.console_errors: list[str] = []
        self.page_errors: list[str] = []
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda exc: self.page_errors.append(str(exc)))

    def _console(self, msg: Any) -> None:
        if msg.type == "error":
            self.console_errors.append(f"{msg.text} ({msg.location.get('url', '')})")

    def open(self, route: str = "", token: str | None = None) -> None:
        """Load the dashboard, sign in with `token` (default: admin) and go to `route`."""
        self.page.goto(self.agent.api + "/")
        self.page.wait_for_selector("#login:not([hidden])")
        self.page.fill("#token", self.agent.token if token is None else token)
        self.page.click("#login-form button[type=submit]")
        self.page.wait_for_selector("#page-overview[data-loaded]")
        if route:
            self.go(route)

    def go(self, route: str) -> None:
        page = route.split("/")[1]
        self.page.evaluate("r => { location.hash = r; }", route)
        self.page.wait_for_selector(f"#page-{page}[data-loaded]")
        errors = self.page.locator(".page-error").all_inner_texts()
        assert not errors, errors

    def text(self, selector: str) -> str:
        return str(self.page.inner_text(selector))

    def screenshot(self, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        self.page.screenshot(path=str(path))
        return path

    def assert_clean(self, expected_console: tuple[str, ...] = ()) -> None:
        """Only loopback requests; no page errors; console errors only the expected ones
        (regular expressions, each matching exactly one message)."""
        assert self.requests, "the page made no request at all"
        assert not self.external, f"requests to other hosts: {self.external}"
        assert not self.page_errors, self.page_errors
        left = list(self.console_errors)
        for pattern in expected_console:
            hits = [m for m in left if re.search(pattern, m)]
            assert len(hits) == 1, (pattern, self.console_errors)
            left.remove(hits[0])
        assert not left, f"console errors: {left}"


@pytest.fixture
def dash(browser: Any) -> Iterator[Callable[[Agent], Dash]]:
    """`dash(agent)` → a fresh page (1280x800) of that agent's dashboard."""
    opened: list[Dash] = []

    def make(agent: Agent) -> Dash:
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        d = Dash(context, agent)

        def is_external(url: str) -> bool:
            return urllib.parse.urlsplit(url).hostname not in LOCAL_HOSTS

        def refuse(route: Any) -> None:
            d.external.append(route.request.url)
            route.abort()

        context.on("request", lambda req: d.requests.append(req.url))
        context.route(is_external, refuse)
        opened.append(d)
        return d

    try:
        yield make
    finally:
        for d in opened:
            d.context.close()


@pytest.fixture
def tools() -> dict[str, Any]:
    return {"wait_until": wait_until, "scanner": SCANNER}
