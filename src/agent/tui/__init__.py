"""`starling tui`: the running agent in a terminal (textual), through its local API.

`register(app)` adds the `tui` command to the `starling` Typer app. textual is
imported only when the command runs, so `starling --help` stays fast. The API
address and token are found as the other API commands find them
(`agent.api_cli`): `--api` or $STARLING_API_URL (default http://127.0.0.1:7710);
$STARLING_API_TOKEN or the agent's `<data-dir>/api-token`. Screens and keys:
docs/tui.md; how it works: `agent.tui.app`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

# The API commands' token rules ($STARLING_API_TOKEN, then <data-dir>/api-token, refused
# when other users can read it), kept in one place; agent.api_cli is loaded by the CLI anyway.
from agent.api_cli import _token as api_token

__all__ = ["register"]

DEFAULT_API = "http://127.0.0.1:7710"


def tui(
    *,
    api: Annotated[
        str | None,
        typer.Option("--api", help=f"agent API URL (default: $STARLING_API_URL or {DEFAULT_API})"),
    ] = None,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir",
            help="the agent's data directory, for its api-token (default: $STARLING_DATA_DIR, "
            "/var/lib/starling as root, else ~/.local/share/starling); $STARLING_API_TOKEN "
            "wins over it",
            file_okay=False,
        ),
    ] = None,
    refresh: Annotated[
        float,
        typer.Option(
            "--refresh",
            help="seconds between full reloads (metrics, peers; the live stream does the rest)",
            min=0.5,
            max=3600,
        ),
    ] = 5.0,
) -> None:
    """The running agent in the terminal: overview, alerts, an IP, peers, decisions."""
    base = api or os.environ.get("STARLING_API_URL") or DEFAULT_API
    if not base.startswith(("http://", "https://")):
        typer.echo(f"starling: --api must be an http:// or https:// URL, got {base!r}", err=True)
        raise typer.Exit(2)
    token = api_token(data_dir)

    from agent.tui.app import StarlingTui  # noqa: PLC0415  # lazy: `starling --help` stays fast

    StarlingTui(base, token, refresh=refresh).run()


def register(app: typer.Typer) -> None:
    """Add `starling tui` to the `starling` app."""
    app.command("tui")(tui)
