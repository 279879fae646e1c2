"""`starling alerts|evidence|ip|peers|decisions|token`: the CLI side of the local API.

Every command except `token` reads a running agent's API (`--api`, default
$STARLING_API_URL or http://127.0.0.1:7710) with the token from
$STARLING_API_TOKEN or the agent's `<data-dir>/api-token`. `-o json` prints the
API's JSON as it is; `-o human` (default) prints tables. `token` manages the
read-only tokens file of a data directory (no agent needed; a running agent
picks changes up within a second).

Exit codes: 0 success; 1 the agent answered with an error or could not be
reached (the message says which); 2 usage error (bad option, no token).

`register(app)` adds the commands to the `starling` Typer app.
"""

from __future__ import annotations

import json
import os
import stat
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table

from agent.api.auth import (
    READ_ONLY_FILE,
    TokenFileError,
    add_read_only_token,
    read_only_tokens,
    revoke_read_only_token,
)

__all__ = ["ApiClient", "register"]

_TIMEOUT = 30.0

OutputOption = Annotated[str, typer.Option("-o", "--output", help="human|json")]
ApiOption = Annotated[
    str | None,
    typer.Option(
        "--api",
        help="agent API URL (default: $STARLING_API_URL or http://127.0.0.1:7710)",
    ),
]
DataDirOption = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        help="the agent's data directory, for its api-token (default: $STARLING_DATA_DIR, "
        "/var/lib/starling as root, else ~/.local/share/starling)",
        file_okay=False,
    ),
]
LimitOption = Annotated[int, typer.Option("--limit", help="how many (1-1000)")]


def _fail(message: str, code: int = 2) -> NoReturn:
    typer.echo(f"starling: {message}", err=True)
    raise typer.Exit(code)


def _default_data_dir() -> Path:
    env = os.environ.get("STARLING_DATA_DIR")
    if env:
        return Path(env)
    if os.geteuid() == 0:
        return Path("/var/lib/starling")
    return Path.home() / ".local" / "share" / "starling"


def _token(data_dir: Path | None) -> str:
    env = os.environ.get("STARLING_API_TOKEN")
    if env:
        return env
    path = (data_dir or _default_data_dir()) / "api-token"
    try:
        mode = path.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            _fail(f"{path} is accessible by other users (mode {mode & 0o777:o}); chmod 600 it")
        return path.read_text("utf-8").strip()
    except FileNotFoundError:
        _fail(f"no API token: set STARLING_API_TOKEN or point --data-dir at the agent's ({path})")
    except (OSError, UnicodeDecodeError) as exc:
        _fail(f"cannot read the API token {path}: {exc}")


class ApiClient:
    """A small blocking client of the local API (urllib: no extra dependency)."""

    def __init__(self, base: str, token: str) -> None:
        self.base = base.rstrip("/")
        self.token = token

    def call(
        self,
        method: str,
        path: str,
        query: dict[str, object] | None = None,
        body: object | None = None,
    ) -> Any:
        """The decoded JSON answer; exits 1 with the API's message on an error status."""
        params = {k: _qs(v) for k, v in (query or {}).items() if v is not None}
        url = self.base + path + (f"?{urllib.parse.urlencode(params)}" if params else "")
        data = None if body is None else json.dumps(body).encode()
        if not url.startswith(("http://", "https://")):
            _fail(f"--api must be an http:// or https:// URL, got {self.base!r}")
        req = urllib.request.Request(url, data=data, method=method)  # noqa: S310 - http(s) checked
        req.add_header("Authorization", f"Bearer {self.token}")
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=_TIMEOUT) as resp:  # noqa: S310 - http(s) checked
                return json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as exc:
            payload = exc.read()
            exc.close()
            try:
                message = json.loads(payload)["error"]
            except (ValueError, KeyError, TypeError):
                message = payload[:200].decode("utf-8", "replace") or exc.reason
            _fail(f"the agent answered {exc.code}: {message}", code=1)
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            _fail(
                f"cannot reach the agent API at {self.base}: {reason} "
                "(is `starling agent` running? see --api)",
                code=1,
            )


def _qs(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _client(api: str | None, data_dir: Path | None, output: str) -> ApiClient:
    if output not in ("human", "json"):
        _fail(f"unknown --output {output!r} (human|json)")
    base = api or os.environ.get("STARLING_API_URL") or "http://127.0.0.1:7710"
    return ApiClient(base, _token(data_dir))


def _json(data: object) -> None:
    sys.stdout.write(json.dumps(data, indent=2) + "\n")


def _when(ts: float | None) -> str:
    if ts is None:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))


def _short(peer_id: str) -> str:
    return peer_id if len(peer_id) <= 16 else f"…{peer_id[-10:]}"


# -- alerts / evidence -------------------------------------------------------------------------


def _findings(
    kind: str,
    *,
    ip: str | None,
    type_: str | None,
    since: str | None,
    source: str | None,
    limit: int,
    oldest_first: bool,
    output: str,
    api: str | None,
    data_dir: Path | None,
) -> None:
    client = _client(api, data_dir, output)
    query: dict[str, object] = {"ip": ip, "type": type_, "since": since, "source": source}
    query |= {"limit": limit, "order": "asc" if oldest_first else "desc"}
    page = client.call("GET", f"/api/v1/{kind}", query)
    if output == "json":
        _json(page)
        return
    table = Table(title=f"{kind} ({len(page['items'])} shown)", title_justify="left")
    console = Console()
    if kind == "alerts":
        for col in ("time", "profile", "score", "level", "evidence types", "description"):
            table.add_column(col)
        for a in page["items"]:
            table.add_row(
                _when(a["ts"]),
                a["profile"],
                f"{a['score']:.2f}/{a['threshold']:.2f}",
                a["threat_level"],
                ", ".join(a["evidence_types"]),
                a["description"],
            )
    else:
        for col in ("time", "type", "attacker", "victim", "level", "conf", "description"):
            table.add_column(col)
        for e in page["items"]:
            table.add_row(
                _when(e["ts"]),
                e["type"],
                e["attacker"],
                e["victim"] or "-",
                e["threat_level"],
                f"{e['confidence']:.2f}",
                e["description"],
            )
    console.print(table)
    if page["next_cursor"] is not None:
        console.print(f"(more: raise --limit, or page with the API's cursor {page['next_cursor']})")


def alerts(
    *,
    ip: Annotated[str | None, typer.Option("--ip", help="the alerted profile")] = None,
    type_: Annotated[str | None, typer.Option("--type", help="contains this evidence type")] = None,
    since: Annotated[
        str | None, typer.Option("--since", help="epoch seconds or ISO 8601 time")
    ] = None,
    source: Annotated[str | None, typer.Option("--source", help="source prefix")] = None,
    limit: LimitOption = 50,
    oldest_first: Annotated[bool, typer.Option("--oldest-first", help="oldest first")] = False,
    output: OutputOption = "human",
    api: ApiOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Alerts of the running agent, newest first."""
    _findings(
        "alerts",
        ip=ip,
        type_=type_,
        since=since,
        source=source,
        limit=limit,
        oldest_first=oldest_first,
        output=output,
        api=api,
        data_dir=data_dir,
    )


def evidence(
    *,
    ip: Annotated[str | None, typer.Option("--ip", help="attacker or victim")] = None,
    type_: Annotated[str | None, typer.Option("--type", help="evidence type")] = None,
    since: Annotated[
        str | None, typer.Option("--since", help="epoch seconds or ISO 8601 time")
    ] = None,
    source: Annotated[
        str | None, typer.Option("--source", help="source prefix: local: or peer:")
    ] = None,
    limit: LimitOption = 50,
    oldest_first: Annotated[bool, typer.Option("--oldest-first", help="oldest first")] = False,
    output: OutputOption = "human",
    api: ApiOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Evidence of the running agent, newest first."""
    _findings(
        "evidence",
        ip=ip,
        type_=type_,
        since=since,
        source=source,
        limit=limit,
        oldest_first=oldest_first,
        output=output,
        api=api,
        data_dir=data_dir,
    )


# -- ip ------------------------------------------------------------------------------------------


def ip(
    address: Annotated[str, typer.Argument(help="IPv4 or IPv6 address")],
    *,
    ask: Annotated[bool, typer.Option("--ask", help="also ask every connected peer")] = False,
    output: OutputOption = "human",
    api: ApiOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """What this agent and its peers know about ADDRESS."""
    client = _client(api, data_dir, output)
    view = client.call(
        "GET", f"/api/v1/ip/{urllib.parse.quote(address, safe='')}", {"ask": ask or None}
    )
    if output == "json":
        _json(view)
        return
    console = Console()
    local = view["local"]
    console.print(f"[bold]{view['ip']}[/bold]: {local['verdict']}")
    types = ", ".join(local["evidence_types"]) or "-"
    console.print(
        f"  local: {local['evidence']} evidence ({types}), {local['alerts']} alerts, "
        f"max threat {local['max_threat_level'] or '-'}; "
        f"{local['profile']['windows']} closed windows, "
        f"{local['profile']['flows_out']} flows out / {local['profile']['flows_in']} in"
    )
    for m in view["intel"]["matches"]:
        console.print(
            f"  threat intel: listed by {m['feed']} [{m['threat_level']}] {m['description']}"
        )
    if not view["intel"]["matches"]:
        console.print(
            "  threat intel: not listed" if view["intel"]["enabled"] else "  threat intel: off"
        )
    d = view["decision"]
    if d:
        mode = " (dry-run)" if d["dry_run"] else ""
        console.print(
            f"  decision: blocked{mode} until {_when(d['expires'])} ({d['origin']}): {d['reason']}"
        )
    else:
        console.print("  decision: none active")
    opinion = view.get("network_opinion")
    if opinion is not None:
        console.print(
            f"  network opinion: score {opinion['score']:.2f}, confidence "
            f"{opinion['confidence']:.2f}, {opinion['trusted_reporters']} trusted reporters, "
            f"block={opinion['block']} — {opinion['reason']}"
        )
        if opinion["contributions"]:
            table = Table("reporter", "score", "confidence", "reputation", "weight", "trusted")
            for c in opinion["contributions"]:
                table.add_row(
                    _short(c["reporter"]),
                    f"{c['score']:.2f}",
                    f"{c['confidence']:.2f}",
                    f"{c['reputation']:.2f}",
                    f"{c['weight']:.2f}",
                    str(c["trusted"]),
                )
            console.print(table)
    console.print(
        f"  peer reports: {len(view['peer_reports'])} from {len(view['reporters'])} peers"
    )
    for o in view.get("peer_opinions") or []:
        if o.get("error"):
            console.print(f"  asked {_short(o['peer'])}: {o['error']}")
        else:
            console.print(
                f"  asked {_short(o['peer'])}: score {o['score']:.2f}, "
                f"{o['evidence']} evidence {', '.join(o['evidence_types'])}"
            )


# -- peers ---------------------------------------------------------------------------------------


def peers(
    *,
    connected: Annotated[
        bool | None, typer.Option("--connected/--disconnected", help="only those")
    ] = None,
    limit: LimitOption = 100,
    output: OutputOption = "human",
    api: ApiOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """The agent's peers: connection, reputation, reports, drops."""
    client = _client(api, data_dir, output)
    view = client.call("GET", "/api/v1/peers", {"connected": connected, "limit": limit})
    if output == "json":
        _json(view)
        return
    console = Console()
    if view["p2p"] == "disabled":
        console.print("P2P is disabled on this agent")
        return
    console.print(f"self: {view['self']['peer_id']}")
    table = Table(
        "peer",
        "conn",
        "address",
        "agent",
        "reputation",
        "weight",
        "reports",
        "confirmed",
        "contradicted",
        "dropped",
        title="peers",
        title_justify="left",
    )
    for p in view["peers"]:
        t = p["trust"]
        table.add_row(
            p["peer_id"],
            "yes" if p["connected"] else "no",
            "\n".join(p["addrs"][:2]) or "-",
            p["agent"] or "-",
            f"{t['reputation']:.2f}",
            f"{t['weight']:.2f}",
            str(t["reports"]),
            str(t["confirmed"]),
            str(t["contradicted"]),
            str(sum(p["dropped"].values())),
        )
    console.print(table)
    msgs = view["messages"]
    console.print(f"messages accepted {msgs['accepted']}, dropped {msgs['dropped'] or 0}")


# -- decisions -----------------------------------------------------------------------------------

decisions_app = typer.Typer(
    help="Blocking decisions of the running agent: list, add, delete.", no_args_is_help=True
)


def _decision_table(items: list[dict[str, Any]], title: str) -> Table:
    table = Table(
        "value",
        "origin",
        "created",
        "expires",
        "state",
        "reason",
        title=title,
        title_justify="left",
    )
    now = time.time()
    for d in items:
        if d["lifted"] is not None:
            state = "lifted"
        elif d["expires"] <= now:
            state = "expired"
        else:
            state = "active"
        if d["dry_run"]:
            state += " (dry-run)"
        table.add_row(
            d["value"], d["origin"], _when(d["created"]), _when(d["expires"]), state, d["reason"]
        )
    return table


@decisions_app.command("list")
def decisions_list(
    *,
    active: Annotated[
        bool | None, typer.Option("--active/--inactive", help="only active or inactive ones")
    ] = None,
    value: Annotated[str | None, typer.Option("--value", help="address or range")] = None,
    origin: Annotated[
        str | None, typer.Option("--origin", help="local-alert|peer-consensus|manual")
    ] = None,
    limit: LimitOption = 100,
    output: OutputOption = "human",
    api: ApiOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Decisions, oldest first."""
    client = _client(api, data_dir, output)
    query: dict[str, object] = {"active": active, "value": value, "origin": origin, "limit": limit}
    page = client.call("GET", "/api/v1/decisions", query)
    if output == "json":
        _json(page)
        return
    mode = " — automatic ones dry-run" if page["dry_run"] else ""
    Console().print(_decision_table(page["items"], f"decisions ({len(page['items'])}){mode}"))


@decisions_app.command("add")
def decisions_add(
    value: Annotated[str, typer.Argument(help="IP address or CIDR range")],
    *,
    ttl: Annotated[
        int | None, typer.Option("--ttl", help="seconds (default: the policy's)")
    ] = None,
    reason: Annotated[str, typer.Option("--reason", help="recorded with it")] = "manual (CLI)",
    output: OutputOption = "human",
    api: ApiOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Ban VALUE now through the agent (admin token)."""
    client = _client(api, data_dir, output)
    body: dict[str, object] = {"value": value, "reason": reason}
    if ttl is not None:
        body["ttl"] = ttl
    result = client.call("POST", "/api/v1/decisions", body=body)
    if output == "json":
        _json(result)
        return
    Console().print(_decision_table([result["decision"]], "added"))


@decisions_app.command("delete")
def decisions_delete(
    value: Annotated[str, typer.Argument(help="IP address or CIDR range")],
    *,
    output: OutputOption = "human",
    api: ApiOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Lift the active bans on VALUE (admin token)."""
    client = _client(api, data_dir, output)
    result = client.call("DELETE", f"/api/v1/decisions/{urllib.parse.quote(value, safe='/')}")
    if output == "json":
        _json(result)
        return
    Console().print(_decision_table(result["lifted"], f"lifted on {result['value']}"))


# -- tokens ------------------------------------------------------------------------------------

token_app = typer.Typer(
    help=f"API tokens: read-only ones live in <data-dir>/{READ_ONLY_FILE} (0600).",
    no_args_is_help=True,
)


@token_app.command("add")
def token_add(
    *,
    read_only: Annotated[bool, typer.Option("--read-only", help="a read-only token")] = False,
    data_dir: DataDirOption = None,
) -> None:
    """Create a read-only API token and print it (once: it is not shown again in full)."""
    if not read_only:
        _fail(
            "only read-only tokens can be added (--read-only); the admin token is "
            "<data-dir>/api-token or $STARLING_API_TOKEN"
        )
    try:
        token = add_read_only_token(data_dir or _default_data_dir())
    except (TokenFileError, OSError, ValueError) as exc:
        _fail(str(exc), code=1)
    typer.echo(token)


@token_app.command("list")
def token_list(*, data_dir: DataDirOption = None, output: OutputOption = "human") -> None:
    """The read-only tokens (their first 6 characters)."""
    try:
        tokens = read_only_tokens(data_dir or _default_data_dir())
    except TokenFileError as exc:
        _fail(str(exc), code=1)
    prefixes = [t[:6] for t in tokens]
    if output == "json":
        _json({"read_only": prefixes})
        return
    for p in prefixes:
        typer.echo(f"{p}…  read-only")
    if not prefixes:
        typer.echo("no read-only tokens")


@token_app.command("revoke")
def token_revoke(
    prefix: Annotated[str, typer.Argument(help="the token, or its first 6+ characters")],
    *,
    data_dir: DataDirOption = None,
) -> None:
    """Remove read-only tokens starting with PREFIX (a running agent stops accepting them)."""
    try:
        removed = revoke_read_only_token(data_dir or _default_data_dir(), prefix)
    except (TokenFileError, OSError, ValueError) as exc:
        _fail(str(exc), code=1)
    if not removed:
        _fail(f"no read-only token starts with {prefix!r}", code=1)
    typer.echo(f"revoked {removed} token(s)")


def register(app: typer.Typer) -> None:
    """Add the API commands to the `starling` app."""
    app.command("alerts")(alerts)
    app.command("evidence")(evidence)
    app.command("ip")(ip)
    app.command("peers")(peers)
    app.add_typer(decisions_app, name="decisions")
    app.add_typer(token_app, name="token")
