"""`starling tui`: the agent's overview, alerts, an IP's story, peers and decisions in a
terminal (textual) — a client of the local API only, never of the store.

Theory of operation
-------------------
Three kinds of work feed one `Model` (`agent.tui.views`), and the widgets render
from the model:

* **the stream worker** follows `GET /api/v1/stream` (alerts, evidence, decisions
  as they happen). When it breaks it reconnects with exponential back-off
  (0.5 s doubling to 30 s) and resumes with `Last-Event-ID`, so nothing still in
  the agent's replay ring is missed; the status line says "disconnected,
  retrying in n s" with the reason. A 401 is shown as a token problem, not as a
  lost connection.
* **the refresh worker** reloads everything (health, `/metrics`, the newest
  alerts and evidence, peers, decisions) at start, every `--refresh` seconds and
  on `r`. It is what keeps metrics and peers current (they have no events) and
  the fallback when the stream is down.
* **on-demand loads**: an alert's evidence (Enter on an alert), an IP's view,
  lifting a ban (`u`, then `y`).

Live events only mark views dirty; a 0.25 s timer re-renders the dirty ones, so a
burst of events costs one redraw.

Error handling: every API call goes through `agent.tui.client`, which turns
aiohttp's errors into `Unreachable` or `Refused`; workers catch those and show
them (status line, message line). No API failure ends the program. Text from the
agent (descriptions, peer agent strings…) is shown as plain text, never parsed as
markup.

Roles: `ApiClient.role()` asks `GET /api/v1/session` whether the token is admin
(and whether the agent can block at all). With a read-only token the unblock
button is disabled and `u` explains why.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import time
from collections.abc import Sequence
from typing import Any, ClassVar, TypeVar

from rich.text import Text
from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.css.query import NoMatches
from textual.screen import ModalScreen
from textual.widget import Widget
from textual.widgets import (
    Button,
    DataTable,
    Footer,
    Input,
    Label,
    Sparkline,
    Static,
    TabbedContent,
    TabPane,
)

from agent.tui.client import ApiClient, Refused, Role, Unreachable
from agent.tui.sse import SseEvent
from agent.tui.views import Model, decision_state, duration, num, short_peer, when

__all__ = ["StarlingTui"]

_W = TypeVar("_W", bound=Widget)
log = logging.getLogger(__name__)

_KINDS = {"alert": "alerts", "evidence": "evidence", "decision": "decisions"}
_BACKOFF_FIRST = 0.5
_BACKOFF_MAX = 30.0
_ALERTS_LOADED = 500
_EVIDENCE_LOADED = 1000
_DRILL_PAGES = 10
_ROWS_SHOWN = 1000  # the newest rows of a table (rebuilding 5,000 takes ~0.4 s)


def _t(value: object, style: str = "") -> Text:
    """A table cell / label as plain text: agent data is never read as markup."""
    return Text("-" if value is None else str(value), style=style)


_LEVEL_STYLE = {"critical": "bold red", "high": "red", "medium": "yellow", "low": "cyan"}


def _evidence_cells(e: dict[str, Any]) -> tuple[Text, ...]:
    """The cells every evidence table starts with: when, type, level, confidence,
    victim, description."""
    level = e.get("threat_level")
    return (
        _t(when(e.get("ts"))),
        _t(e.get("type"), "bold"),
        _t(level, _LEVEL_STYLE.get(str(level), "")),
        _t(f"{num(e.get('confidence')):.2f}"),
        _t(e.get("victim")),
        _t(e.get("description")),
    )


class ConfirmLift(ModalScreen[bool]):
    """Asks before lifting a ban: y lifts, n or Escape does not."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "Lift"),
        Binding("n,escape", "answer(False)", "Cancel"),
    ]
    DEFAULT_CSS = """
    ConfirmLift { align: center middle; }
    ConfirmLift > Vertical { width: 64; height: auto; border: thick $warning; padding: 1 2;
                             background: $surface; }
    ConfirmLift Horizontal { height: auto; margin-top: 1; }
    ConfirmLift Button { margin-right: 2; }
    """

    def __init__(self, value: str) -> None:
        super().__init__()
        self.value = value

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(_t(f"Lift the active bans on {self.value}?"), id="confirm-text")
            with Horizontal():
                yield Button("Lift (y)", id="confirm-yes", variant="warning")
                yield Button("Cancel (n)", id="confirm-no")

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "confirm-yes")


class StarlingTui(App[None]):
    TITLE = "Starling"
    CSS = """
    #status { height: 1; padding: 0 1; background: $boost; }
    #status.live { color: $success; }
    #status.down { color: $warning; text-style: bold; }
    #status.bad { color: $error; text-style: bold; }
    #message { height: 1; padding: 0 1; color: $text-muted; }
    #tabs { height: 1fr; }
    TabPane { height: 1fr; padding: 0; }
    #counts { height: auto; padding: 0 1; }
    Sparkline { height: 3; margin: 0 1; }
    .caption { padding: 0 1; color: $text-muted; }
    DataTable { height: 1fr; }
    #alert-evidence, #ip-contrib { height: auto; max-height: 12; }
    #alert-detail, #ip-summary, #ip-opinion, #peer-detail, #decisions-mode, #peers-summary {
        height: auto; padding: 0 1; }
    #decisions-bar { height: auto; }
    #decisions-mode { width: 1fr; padding: 1 1 0 1; }
    #ip-input { margin: 0 1; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("1", "show('overview')", "Overview"),
        Binding("2", "show('alerts')", "Alerts"),
        Binding("3", "show('ip')", "IP"),
        Binding("4", "show('peers')", "Peers"),
        Binding("5", "show('decisions')", "Decisions"),
        Binding("i", "inspect", "Inspect IP"),
        Binding("slash", "ask_ip", "Find IP"),
        Binding("u", "unblock", "Unblock"),
        Binding("r", "refresh", "Refresh"),
        Binding("escape", "leave_input", "Leave input", show=False),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(self, api: str, token: str, *, refresh: float = 5.0) -> None:
        super().__init__()
        self.api = api.rstrip("/")
        self.token = token
        self.refresh_seconds = refresh
        self.client = ApiClient(self.api, token)
        self.model = Model()
        self.role: Role | None = None
        # connection state, shown on the status line
        self.link = "connecting"  # connecting | live | retrying | bad-token
        self.link_reason = ""
        self.retry_at: float | None = None
        self.last_refresh: float | None = None
        self.last_event_id: str | None = None
        self.events_received = 0
        self.message_text = ""
        self.ip_shown: str | None = None
        self.ip_view: dict[str, Any] | None = None
        self.alert_shown: str | None = None
        self.alert_evidence: list[dict[str, Any]] = []
        self._dirty: set[str] = set()

    # -- layout -------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Static(id="status")
        with TabbedContent(initial="overview", id="tabs"):
            with TabPane("Overview [1]", id="overview"):
                yield Static(id="counts")
                yield Label("evidence per minute", id="spark-evidence-label", classes="caption")
                yield Sparkline([], id="spark-evidence")
                yield Label("alerts per minute", id="spark-alerts-label", classes="caption")
                yield Sparkline([], id="spark-alerts")
                yield Label("top attackers — Enter or i: open the IP view", classes="caption")
                yield DataTable(id="top-table", cursor_type="row")
            with TabPane("Alerts [2]", id="alerts"):
                yield DataTable(id="alerts-table", cursor_type="row")
                yield Static(
                    _t("Enter on an alert: its evidence and flows (uids); i: its IP"),
                    id="alert-detail",
                )
                yield DataTable(id="alert-evidence", cursor_type="row")
            with TabPane("IP [3]", id="ip"):
                yield Input(
                    placeholder="/ then an IP address and Enter (Esc leaves)", id="ip-input"
                )
                yield Static(id="ip-summary")
                yield Label("evidence timeline (oldest first)", classes="caption")
                yield DataTable(id="ip-evidence", cursor_type="row")
                yield Static(id="ip-opinion")
                yield DataTable(id="ip-contrib", cursor_type="row")
            with TabPane("Peers [4]", id="peers"):
                yield Static(id="peers-summary")
                yield DataTable(id="peers-table", cursor_type="row")
                yield Static(id="peer-detail")
            with TabPane("Decisions [5]", id="decisions"):
                with Horizontal(id="decisions-bar"):
                    yield Button("Unblock selected (u)", id="unblock", disabled=True)
                    yield Static(id="decisions-mode")
                yield DataTable(id="decisions-table", cursor_type="row")
        yield Static(id="message")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = self.api
        columns = {
            "top-table": ("attacker", "alerts", "evidence", "max level", "types", "last seen"),
            "alerts-table": ("time", "profile", "score", "level", "evidence types", "description"),
            "alert-evidence": ("time", "type", "level", "conf", "victim", "description", "uids"),
            "ip-evidence": ("time", "type", "level", "conf", "victim", "description", "source"),
            "ip-contrib": ("reporter", "score", "confidence", "reputation", "weight", "trusted"),
            "peers-table": (
                "peer",
                "conn",
                "agent",
                "reputation",
                "certainty",
                "weight",
                "reports",
                "confirmed",
                "contradicted",
                "faults",
                "dropped",
            ),
            "decisions-table": ("value", "origin", "created", "expires", "state", "reason"),
        }
        for table_id, cols in columns.items():
            table = self._q(f"#{table_id}", DataTable)
            for col in cols:
                table.add_column(col, key=col)
        self._render_status()
        self._render_decisions_mode()
        self.set_interval(0.25, self._tick)
        self.set_interval(self.refresh_seconds, self.action_refresh)
        self.follow_stream()
        self.action_refresh()
        self.probe_role()

    async def on_unmount(self) -> None:
        await self.client.close()

    def _q(self, selector: str, expect: type[_W]) -> _W:
        """A widget of the main screen (also while a confirmation is on top of it)."""
        screen = self.screen_stack[0] if self.screen_stack else self.screen
        return screen.query_one(selector, expect)

    # -- status and messages ------------------------------------------------------------

    def status_text(self) -> str:
        if self.link == "live":
            h = self.model.health or {}
            peer = h.get("peer_id")
            parts = [f"● live: {self.api}", f"starling {h.get('version', '?')}"]
            if peer:
                parts.append(f"peer {short_peer(str(peer))}")
            parts.append(f"token {self.role or '?'}")
            if self.last_refresh is not None:
                parts.append(
                    f"refreshed {time.strftime('%H:%M:%S', time.localtime(self.last_refresh))}"
                )
            return " · ".join(parts)
        wait = ""
        if self.retry_at is not None:
            wait = f" in {max(0.0, self.retry_at - time.monotonic()):.0f} s"
        if self.link == "bad-token":
            return (
                f"✖ the agent refused the API token ({self.link_reason}); check "
                f"$STARLING_API_TOKEN or --data-dir — retrying{wait}"
            )
        if self.link == "retrying":
            return f"○ disconnected, retrying{wait}: {self.link_reason}"
        return f"… connecting to {self.api}"

    def _render_status(self) -> None:
        status = self._q("#status", Static)
        status.update(_t(self.status_text()))
        status.set_class(self.link == "live", "live")
        status.set_class(self.link == "retrying", "down")
        status.set_class(self.link == "bad-token", "bad")

    def say(self, text: str, *, error: bool = False) -> None:
        """The message line (and a notification) for the result of an action."""
        self.message_text = text
        self._q("#message", Static).update(_t(text, "bold red" if error else ""))
        self.notify(text, severity="error" if error else "information")

    def _link(self, state: str, reason: str = "", retry_in: float | None = None) -> None:
        self.link = state
        self.link_reason = reason
        self.retry_at = None if retry_in is None else time.monotonic() + retry_in
        self._render_status()

    def _tick(self) -> None:
        # A table on a hidden tab is rebuilt when its tab is shown, not on every event.
        hidden = {"alerts", "peers", "decisions"} - {self.active_tab}
        dirty = self._dirty - hidden
        self._dirty &= hidden
        try:
            if self.retry_at is not None:
                self._render_status()
            for view in dirty:
                try:
                    getattr(self, f"_render_{view}")()
                except NoMatches:
                    raise
                except Exception as exc:  # odd data must not end the view: say it, go on
                    log.exception("rendering the %s view", view)
                    self.say(f"cannot show the {view} view: {exc}", error=True)
        except NoMatches:  # the widgets are gone: the app is closing
            return

    def _mark(self, *views: str) -> None:
        self._dirty.update(views)

    @property
    def pending_views(self) -> frozenset[str]:
        """Views with changes not yet drawn (the next tick, or showing the tab, draws them)."""
        return frozenset(self._dirty)

    # -- stream -------------------------------------------------------------------------

    @work(exclusive=True, group="stream", exit_on_error=False)
    async def follow_stream(self) -> None:
        delay = _BACKOFF_FIRST
        while True:
            try:
                async for event in self.client.stream(self.last_event_id, self._stream_open):
                    delay = _BACKOFF_FIRST
                    self._on_event(event)
                reason = f"the agent at {self.api} ended the event stream"
                bad = False
            except Refused as exc:
                reason, bad = f"{exc.status}: {exc.message}", exc.bad_token
            except Unreachable as exc:
                reason, bad = str(exc), False
            self._link("bad-token" if bad else "retrying", reason, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, _BACKOFF_MAX)

    def _stream_open(self) -> None:
        was = self.link
        self._link("live")
        if was in ("retrying", "bad-token"):
            self.action_refresh()  # catch up on metrics and peers at once
            if self.role is None:
                self.probe_role()

    def _on_event(self, event: SseEvent) -> None:
        self.last_event_id = event.id
        kind = _KINDS.get(event.event)
        if kind is None:
            return
        try:
            record = json.loads(event.data)
        except ValueError:
            return
        if not isinstance(record, dict):
            return
        self.events_received += 1
        self.model.add(kind, record, time.monotonic())
        self._mark("overview", "alerts" if kind == "alerts" else "overview")
        if kind == "decisions":
            self._mark("decisions")
        if self.ip_shown is not None and self.ip_shown in (
            record.get("profile"),
            record.get("attacker"),
            record.get("victim"),
            record.get("value"),
        ):
            self._mark("ip_reload")  # once per tick, however many events

    # -- refresh ------------------------------------------------------------------------

    def action_refresh(self) -> None:
        self.refresh_all()

    @work(exclusive=True, group="refresh", exit_on_error=False)
    async def refresh_all(self) -> None:
        c = self.client
        started = time.monotonic()
        try:
            health, metrics, alerts, evidence, peers, decisions = await asyncio.gather(
                c.get("/api/v1/health"),
                c.metrics(),
                c.get("/api/v1/alerts", {"order": "desc", "limit": _ALERTS_LOADED}),
                c.get("/api/v1/evidence", {"order": "desc", "limit": _EVIDENCE_LOADED}),
                c.get("/api/v1/peers", {"limit": 1000}),
                self._all_decisions(),
            )
        except Refused as exc:
            if exc.bad_token:
                self._link("bad-token", f"{exc.status}: {exc.message}", self._retry_left())
            else:
                self.say(f"refresh: the agent answered {exc.status}: {exc.message}", error=True)
            return
        except Unreachable as exc:
            if self.link != "live":
                self._link("retrying", str(exc), self._retry_left())
            return
        m = self.model
        m.health = health
        m.set_metrics(metrics, time.monotonic())
        m.load("alerts", alerts["items"], started)
        m.load("evidence", evidence["items"], started)
        m.load("decisions", decisions[0], started)
        m.dry_run = decisions[1]
        m.peers = peers
        self.last_refresh = time.time()
        if self.link == "live":
            self._render_status()
        self._mark("overview", "alerts", "peers", "decisions")

    def _retry_left(self) -> float | None:
        return None if self.retry_at is None else max(0.0, self.retry_at - time.monotonic())

    async def _all_decisions(self) -> tuple[list[dict[str, Any]], bool | None]:
        """Every decision (oldest first; at most 10 pages of 1000)."""
        items: list[dict[str, Any]] = []
        cursor: str | None = None
        dry_run: bool | None = None
        for _ in range(10):
            page = await self.client.get("/api/v1/decisions", {"limit": 1000, "cursor": cursor})
            items += page["items"]
            dry_run = page.get("dry_run")
            cursor = page.get("next_cursor")
            if cursor is None:
                break
        return items, dry_run

    @work(exclusive=True, group="role", exit_on_error=False)
    async def probe_role(self) -> None:
        try:
            self.role = await self.client.role()
        except (Refused, Unreachable):
            self.role = None
        self._render_decisions_mode()
        self._render_status()

    # -- rendering ----------------------------------------------------------------------

    def _render_overview(self) -> None:
        m = self.model
        met = m.metrics
        now = time.time()
        me = ((m.peers or {}).get("self") or {}).get("peer_id")
        peers = [p for p in (m.peers or {}).get("peers") or [] if p.get("peer_id") != me]
        lag = met.value("starling_processing_lag_seconds") if met else None
        age = met.value("starling_last_batch_age_seconds") if met else None
        flows = met.value("starling_flows_total") if met else None
        fps = m.flows_per_second
        counts = Text()
        for label, value in (
            ("evidence", m.evidence_count()),
            ("alerts", m.alert_count()),
            ("active decisions", m.active_decisions(now)),
            ("peers", f"{sum(1 for p in peers if p.get('connected'))}/{len(peers)} connected"),
        ):
            counts.append(f"{label} ", style="dim")
            counts.append(str(value), style="bold")
            counts.append("   ")
        counts.append("\n")
        for label, text in (
            ("flows", "-" if flows is None else f"{flows:.0f}"),
            ("flows/s", "-" if fps is None else f"{fps:.1f}"),
            ("lag", duration(lag)),
            ("last batch", "-" if age is None else f"{duration(age)} ago"),
            ("live events", str(self.events_received)),
        ):
            counts.append(f"{label} ", style="dim")
            counts.append(text, style="bold")
            counts.append("   ")
        # What the agent could not analyse: lines it skipped, state its detectors' memory
        # caps forgot, detector errors (a bug). Always shown; non-zero is coloured.
        counts.append("\n")
        for label, family, colour in (
            ("skipped lines", "starling_lines_skipped_total", "yellow"),
            ("detector state overflow", "starling_detector_state_overflow_total", "yellow"),
            ("detector errors", "starling_detector_errors_total", "red"),
        ):
            lost = (met.total(family) or 0.0) if met else None
            counts.append(f"{label} ", style="dim")
            counts.append(
                "-" if lost is None else f"{lost:.0f}", style=f"bold {colour}" if lost else "bold"
            )
            counts.append("   ")
        self._q("#counts", Static).update(counts)
        for kind in ("evidence", "alerts"):
            data = m.sparkline(kind)
            self._q(f"#spark-{kind}", Sparkline).data = data
            self._q(f"#spark-{kind}-label", Label).update(
                _t(
                    f"{kind} per minute, the 60 minutes of traffic time up to the newest: "
                    f"{sum(data)} in all, at most {max(data)} in a minute"
                )
            )
        top = m.top_attackers()
        rows = [
            (
                _t(a.ip, "bold"),
                _t(a.alerts),
                _t(a.evidence),
                _t(a.max_level, _LEVEL_STYLE.get(a.max_level, "")),
                _t(", ".join(a.types)),
                _t(when(a.last_ts)),
            )
            for a in top
        ]
        self._fill("top-table", rows, [a.ip for a in top])

    def _render_alerts(self) -> None:
        items = self.model.newest("alerts")[:_ROWS_SHOWN]
        rows = [
            (
                _t(when(a.get("ts"))),
                _t(a.get("profile"), "bold"),
                _t(f"{a.get('score', 0):.2f}/{a.get('threshold', 0):.2f}"),
                _t(a.get("threat_level"), _LEVEL_STYLE.get(str(a.get("threat_level")), "")),
                _t(", ".join(a.get("evidence_types") or [])),
                _t(a.get("description")),
            )
            for a in items
        ]
        self._fill("alerts-table", rows, [str(a.get("id")) for a in items])

    def _render_peers(self) -> None:
        view = self.model.peers or {}
        summary = Text()
        if view.get("p2p") == "disabled":
            summary.append("P2P is disabled on this agent")
        else:
            me = (view.get("self") or {}).get("peer_id")
            msgs = view.get("messages") or {}
            dropped = msgs.get("dropped") or {}
            summary.append("self ", style="dim")
            summary.append(str(me), style="bold")
            summary.append(f"   messages accepted {msgs.get('accepted', 0)}, dropped ")
            summary.append(
                ", ".join(f"{k} {v}" for k, v in sorted(dropped.items())) or "0",
            )
        self._q("#peers-summary", Static).update(summary)
        me = (view.get("self") or {}).get("peer_id")
        peers = [p for p in view.get("peers") or [] if p.get("peer_id") != me]
        peers.sort(
            key=lambda p: (not p.get("connected"), -(p.get("trust") or {}).get("reputation", 0))
        )
        rows = []
        for p in peers:
            t = p.get("trust") or {}
            rep = num(t.get("reputation", 0))
            rows.append(
                (
                    _t(p.get("peer_id"), "bold"),
                    _t("yes" if p.get("connected") else "no"),
                    _t(p.get("agent")),
                    _t(f"{rep:.2f}", "green" if rep >= 0.6 else "red" if rep < 0.3 else ""),
                    _t(f"{num(t.get('certainty', 0)):.2f}"),
                    _t(f"{num(t.get('weight', 0)):.2f}"),
                    _t(t.get("reports", 0)),
                    _t(t.get("confirmed", 0)),
                    _t(t.get("contradicted", 0)),
                    _t(t.get("faults", 0)),
                    _t(sum((p.get("dropped") or {}).values())),
                )
            )
        self._fill("peers-table", rows, [str(p.get("peer_id")) for p in peers])

    def _render_decisions(self) -> None:
        now = time.time()
        items = self.model.newest("decisions")
        items.sort(key=lambda d: not decision_state(d, now).startswith("active"))  # stable
        items = items[:_ROWS_SHOWN]
        rows = [
            (
                _t(d.get("value"), "bold"),
                _t(d.get("origin")),
                _t(when(d.get("created"))),
                _t(when(d.get("expires"))),
                _t(decision_state(d, now)),
                _t(d.get("reason")),
            )
            for d in items
        ]
        self._fill("decisions-table", rows, [str(d.get("id")) for d in items])
        self._render_decisions_mode()

    def _render_decisions_mode(self) -> None:
        text = Text()
        if self.model.dry_run:
            text.append("automatic decisions are dry-run (recorded, not applied)   ", "yellow")
        can = self.role == "admin"
        if self.role == "read-only":
            text.append("unblock disabled: this token is read-only")
        elif self.role == "admin-no-blocking":
            text.append("unblock unavailable: blocking is not running in this agent")
        elif self.role is None:
            text.append("unblock unavailable until the agent answers")
        else:
            text.append("u: lift the selected ban (admin token)")
        self._q("#decisions-mode", Static).update(text)
        self._q("#unblock", Button).disabled = not can

    def _fill(self, table_id: str, rows: Sequence[Sequence[Text]], keys: list[str]) -> None:
        """Replace a table's rows, keeping the cursor on the same record."""
        table = self._q(f"#{table_id}", DataTable)
        selected = self._selected_key(table)
        table.clear()
        seen: set[str] = set()
        for row, key in zip(rows, keys, strict=True):
            if key in seen:
                continue
            seen.add(key)
            table.add_row(*row, key=key)
        if selected is not None and selected in seen:
            table.move_cursor(row=table.get_row_index(selected))
        # DataTable measures new rows' column widths when it next goes idle; make sure it
        # does even if no other message reaches it (otherwise cells can stay clipped).
        table.check_idle()

    @staticmethod
    def _selected_key(table: DataTable[Any]) -> str | None:
        if table.row_count == 0:
            return None
        try:
            key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key
        except Exception:  # noqa: BLE001 - textual raises its own CellDoesNotExist
            return None
        return None if key.value is None else str(key.value)

    # -- navigation ---------------------------------------------------------------------

    def action_show(self, tab: str) -> None:
        self._q("#tabs", TabbedContent).active = tab
        self._tick()  # render what changed while the tab was hidden
        focus = {
            "overview": "#top-table",
            "alerts": "#alerts-table",
            "ip": "#ip-evidence",  # not the input: digits would type into it
            "peers": "#peers-table",
            "decisions": "#decisions-table",
        }[tab]
        self._q(focus, Widget).focus()

    @property
    def active_tab(self) -> str:
        return self._q("#tabs", TabbedContent).active

    def action_ask_ip(self) -> None:
        self.action_show("ip")
        self._q("#ip-input", Input).focus()

    def action_leave_input(self) -> None:
        self._q("#ip-evidence", DataTable).focus()

    def _selected_ip(self) -> str | None:
        focused = self.focused
        if not isinstance(focused, DataTable):
            return None
        key = self._selected_key(focused)
        if key is None:
            return None
        ident = focused.id
        if ident == "top-table":
            return key
        if ident == "alerts-table":
            return str(self.model.alerts.get(key, {}).get("profile"))
        if ident == "decisions-table":
            return str(self.model.decisions.get(key, {}).get("value"))
        if ident == "alert-evidence":
            for e in self.alert_evidence:
                if str(e.get("id")) == key:
                    return str(e.get("attacker"))
        if ident == "ip-evidence" and self.ip_view is not None:
            for e in (self.ip_view.get("local") or {}).get("recent_evidence") or []:
                if str(e.get("id")) == key and e.get("victim"):
                    return str(e.get("victim"))
        return None

    def action_inspect(self) -> None:
        ip = self._selected_ip()
        if ip is None or ip == "None":
            self.say("select a row with an address first (top attackers, alerts, decisions)")
            return
        self.open_ip(ip)

    def open_ip(self, ip: str) -> None:
        self.action_show("ip")
        self._q("#ip-input", Input).value = ip
        self._q("#ip-evidence", DataTable).focus()
        self.load_ip(ip)

    @on(Input.Submitted, "#ip-input")
    def _ip_submitted(self, event: Input.Submitted) -> None:
        value = event.value.strip()
        try:
            ipaddress.ip_address(value)
        except ValueError:
            self.say(f"not an IP address: {value!r}", error=True)
            return
        self._q("#ip-evidence", DataTable).focus()
        self.load_ip(value)

    @on(DataTable.RowSelected)
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        ident = event.data_table.id
        key = None if event.row_key.value is None else str(event.row_key.value)
        if key is None:
            return
        if ident == "alerts-table":
            self.load_alert(key)
        elif ident == "top-table":
            self.open_ip(key)
        elif ident == "peers-table":
            self.load_peer(key)
        elif ident == "decisions-table":
            value = str(self.model.decisions.get(key, {}).get("value"))
            if "/" not in value:
                self.open_ip(value)

    # -- alert drill-down ---------------------------------------------------------------

    @work(exclusive=True, group="alert", exit_on_error=False)
    async def load_alert(self, alert_id: str) -> None:
        alert = self.model.alerts.get(alert_id)
        if alert is None:
            return
        self.alert_shown = alert_id
        wanted = [str(i) for i in alert.get("evidence_ids") or []]
        found = {k: v for k, v in self.model.evidence.items() if k in wanted}
        cursor: str | None = None
        try:
            for _ in range(_DRILL_PAGES):
                if len(found) >= len(wanted):
                    break
                page = await self.client.get(
                    "/api/v1/evidence",
                    {"ip": alert.get("profile"), "limit": 1000, "cursor": cursor},
                )
                for e in page["items"]:
                    if str(e.get("id")) in wanted:
                        found[str(e.get("id"))] = e
                cursor = page.get("next_cursor")
                if cursor is None:
                    break
        except (Refused, Unreachable) as exc:
            self.say(f"the alert's evidence: {exc}", error=True)
        self.alert_evidence = sorted(found.values(), key=lambda e: num(e.get("ts")))
        detail = Text()
        detail.append(f"alert {alert_id} ", style="dim")
        detail.append(str(alert.get("profile")), style="bold")
        detail.append(f"  score {alert.get('score')}/{alert.get('threshold')}  ")
        detail.append(str(alert.get("description")))
        uids = alert.get("uids") or []
        detail.append(f"\nflows (uids, {len(uids)}): ", style="dim")
        detail.append(" ".join(str(u) for u in uids[:40]) + (" …" if len(uids) > 40 else ""))
        missing = len(wanted) - len(found)
        if missing:
            detail.append(f"\n{missing} evidence no longer in the store", style="yellow")
        self._q("#alert-detail", Static).update(detail)
        rows = [
            (
                *_evidence_cells(e),
                _t(" ".join(str(u) for u in (e.get("uids") or [])[:6])),
            )
            for e in self.alert_evidence
        ]
        self._fill("alert-evidence", rows, [str(e.get("id")) for e in self.alert_evidence])

    # -- IP view ------------------------------------------------------------------------

    @work(exclusive=True, group="ip", exit_on_error=False)
    async def load_ip(self, ip: str, quiet: bool = False) -> None:
        try:
            view = await self.client.get(f"/api/v1/ip/{ip}")
        except (Refused, Unreachable) as exc:
            if not quiet:
                self.say(f"{ip}: {exc}", error=True)
            return
        self.ip_shown, self.ip_view = ip, view
        self._render_ip()

    def _render_ip_reload(self) -> None:
        if self.ip_shown is not None:
            self.load_ip(self.ip_shown, quiet=True)

    def _render_ip(self) -> None:
        view = self.ip_view
        if view is None:
            return
        local = view.get("local") or {}
        s = Text()
        s.append(str(view.get("ip")), style="bold")
        verdict = str(local.get("verdict"))
        s.append(f"  {verdict}", style="bold red" if verdict == "malicious" else "bold")
        types = ", ".join(local.get("evidence_types") or []) or "-"
        prof = local.get("profile") or {}
        s.append(
            f"\nlocal: {local.get('evidence', 0)} evidence ({types}), "
            f"{local.get('alerts', 0)} alerts, max threat {local.get('max_threat_level') or '-'}; "
            f"{prof.get('windows', 0)} closed windows, {prof.get('flows_out', 0)} flows out / "
            f"{prof.get('flows_in', 0)} in"
        )
        intel = view.get("intel") or {}
        matches = intel.get("matches") or []
        if matches:
            for m in matches:
                s.append(
                    f"\nthreat intel: {m.get('indicator')} listed by {m.get('feed')} "
                    f"[{m.get('threat_level')}] {m.get('description')}",
                    style="red",
                )
        else:
            s.append("\nthreat intel: " + ("not listed" if intel.get("enabled") else "off"))
        d = view.get("decision")
        if d:
            mode = " (dry-run)" if d.get("dry_run") else ""
            s.append(
                f"\ndecision: blocked{mode} until {when(d.get('expires'))} ({d.get('origin')}): "
                f"{d.get('reason')}",
                style="yellow",
            )
        else:
            s.append("\ndecision: none active")
        reports = view.get("peer_reports") or []
        s.append(f"\npeer reports: {len(reports)} from {len(view.get('reporters') or [])} peers")
        self._q("#ip-summary", Static).update(s)
        evidence = sorted(local.get("recent_evidence") or [], key=lambda e: num(e.get("ts")))
        rows = [(*_evidence_cells(e), _t(e.get("source"))) for e in evidence]
        self._fill("ip-evidence", rows, [str(e.get("id")) for e in evidence])
        op = view.get("network_opinion")
        o = Text()
        contributions: list[dict[str, Any]] = []
        if op is None:
            o.append("network opinion: P2P is off on this agent")
        else:
            contributions = op.get("contributions") or []
            o.append("network opinion: ", style="dim")
            o.append(
                f"score {num(op.get('score', 0)):.2f}, confidence "
                f"{num(op.get('confidence', 0)):.2f}, {op.get('trusted_reporters', 0)} trusted "
                f"reporters, block={op.get('block')} — {op.get('reason')}",
                style="bold" if op.get("block") else "",
            )
            o.append(f"\n{len(contributions)} contributing peers:", style="dim")
        self._q("#ip-opinion", Static).update(o)
        crow = [
            (
                _t(c.get("reporter")),
                _t(f"{num(c.get('score', 0)):.2f}"),
                _t(f"{num(c.get('confidence', 0)):.2f}"),
                _t(f"{num(c.get('reputation', 0)):.2f}"),
                _t(f"{num(c.get('weight', 0)):.4f}"),
                _t("yes" if c.get("trusted") else "no"),
            )
            for c in contributions
        ]
        self._fill("ip-contrib", crow, [str(c.get("reporter")) for c in contributions])

    # -- peer detail --------------------------------------------------------------------

    @work(exclusive=True, group="peer", exit_on_error=False)
    async def load_peer(self, peer_id: str) -> None:
        try:
            p = await self.client.get(f"/api/v1/peers/{peer_id}")
        except (Refused, Unreachable) as exc:
            self.say(f"peer {short_peer(peer_id)}: {exc}", error=True)
            return
        t = p.get("trust") or {}
        text = Text()
        text.append(str(p.get("peer_id")), style="bold")
        text.append(f"\naddresses: {', '.join(p.get('addrs') or []) or '-'}")
        history = t.get("history") or []
        text.append(
            "\nreputation history: "
            + (
                "  ".join(f"{when(h[0])} {num(h[1]):.2f}" for h in history[-6:])
                if history
                else "none yet"
            )
        )
        dropped = p.get("dropped") or {}
        text.append(
            "\ndropped messages: "
            + (", ".join(f"{k} {v}" for k, v in sorted(dropped.items())) or "none")
        )
        reports = p.get("recent_reports") or []
        text.append(f"\nlast reports ({len(reports)}):")
        for r in reports[-5:]:
            text.append(
                f"\n  {when(r.get('signed_at'))} score {r.get('score')} "
                f"{', '.join(r.get('evidence_types') or [])}: {r.get('description')}"
            )
        self._q("#peer-detail", Static).update(text)

    # -- unblock ------------------------------------------------------------------------

    @on(Button.Pressed, "#unblock")
    def _unblock_pressed(self) -> None:
        self.action_unblock()

    def action_unblock(self) -> None:
        if self.active_tab != "decisions":
            self.say("unblock: open the decisions view (5) and select a ban")
            return
        if self.role != "admin":
            why = {
                "read-only": "this token is read-only",
                "admin-no-blocking": "blocking is not running in this agent",
            }.get(str(self.role), "the agent has not answered yet")
            self.say(f"unblock needs the admin token: {why}", error=True)
            return
        table = self._q("#decisions-table", DataTable)
        key = self._selected_key(table)
        decision = self.model.decisions.get(key or "")
        if decision is None:
            self.say("select a decision first")
            return
        if not decision_state(decision, time.time()).startswith("active"):
            self.say(f"{decision.get('value')}: this decision is not active")
            return
        value = str(decision.get("value"))

        def answered(yes: bool | None) -> None:
            if yes:
                self.lift(value)

        self.push_screen(ConfirmLift(value), answered)

    @work(exclusive=False, group="lift", exit_on_error=False)
    async def lift(self, value: str) -> None:
        try:
            result = await self.client.lift(value)
        except Refused as exc:
            self.say(
                f"unblock {value}: the agent refused ({exc.status}): {exc.message}", error=True
            )
            return
        except Unreachable as exc:
            self.say(f"unblock {value}: {exc}", error=True)
            return
        lifted = result.get("lifted") or []
        for d in lifted:
            self.model.add("decisions", d, time.monotonic())
        self._mark("decisions", "overview")
        self.say(f"lifted {len(lifted)} ban(s) on {result.get('value', value)}")
