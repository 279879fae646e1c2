"""The `starling` command line.

Exit codes: 0 success (something was analysed); 1 the input was readable but
nothing in it could be parsed; 2 usage errors — bad config, unreadable path,
unknown format. Errors are one line on stderr, never a traceback.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import orjson
import typer

from agent.config import ConfigError, dump_config, load_config

app = typer.Typer(
    name="starling",
    help="Starling: a P2P-first behavioural network sensor.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
config_app = typer.Typer(help="Inspect the configuration.", no_args_is_help=True)
app.add_typer(config_app, name="config")

ConfigOption = Annotated[
    Path | None, typer.Option("-c", "--config", help="YAML config file", dir_okay=False)
]


def _fail(message: str, code: int = 2) -> typer.Exit:
    typer.echo(f"starling: {message}", err=True)
    return typer.Exit(code)


@app.command()
def analyze(
    path: Annotated[str, typer.Argument(help="log file, Zeek log directory, or - for stdin")],
    outdir: Annotated[
        Path | None, typer.Option("-o", "--outdir", help="output directory", file_okay=False)
    ] = None,
    config: ConfigOption = None,
    fmt: Annotated[
        str,
        typer.Option(
            "--format", help="auto|zeek|suricata|argus|nfdump|pcap (default: from content)"
        ),
    ] = "auto",
    json_out: Annotated[
        bool, typer.Option("--json", help="print a machine-readable summary")
    ] = False,
    follow: Annotated[
        bool, typer.Option("--follow", help="tail a live Zeek log directory until stopped")
    ] = False,
    max_idle: Annotated[
        float | None,
        typer.Option("--max-idle", help="with --follow: stop after this many idle seconds"),
    ] = None,
    redis: Annotated[
        str | None, typer.Option("--redis", help="store findings in Redis (redis://host:port/db)")
    ] = None,
) -> None:
    """Analyse flows and write alerts.json, alerts.log, eve.json, summary.json, errors.log."""
    from agent.analyze import InputError
    from agent.analyze import analyze as run

    if fmt not in ("auto", "zeek", "suricata", "argus", "nfdump", "pcap"):
        raise _fail(f"unknown --format {fmt!r} (auto|zeek|suricata|argus|nfdump|pcap)")
    try:
        cfg = load_config(config, {"store": redis} if redis else None)
    except ConfigError as exc:
        raise _fail(str(exc)) from None
    try:
        result = run(
            path,
            cfg,
            outdir=outdir,
            fmt=fmt,
            follow=follow,
            max_idle=max_idle,
            progress=not json_out,
        )
    except InputError as exc:
        raise _fail(str(exc)) from None
    except Exception as exc:
        from agent.store.base import StoreError

        if isinstance(exc, StoreError | OSError):
            raise _fail(str(exc)) from None
        raise
    s = result.summary
    if json_out:
        sys.stdout.write(orjson.dumps({**s, "outdir": str(result.outdir)}).decode() + "\n")
    else:
        _print_human(result.outdir, s)
    if result.exit_code != 0:
        reasons = ", ".join(f"{k}={v}" for k, v in s["skipped_by_reason"].items()) or "no lines"
        typer.echo(f"starling: nothing could be parsed from {path} ({reasons})", err=True)
    raise typer.Exit(result.exit_code)


def _print_human(outdir: Path, s: dict[str, object]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(stderr=False)
    table = Table(title=f"Starling analysis → {outdir}", show_header=False)
    rate = s.get("flows_per_second") or 0
    table.add_row("flows", f"{s['flows']:,} ({rate:,.0f}/s)")
    table.add_row("records", f"{s['records']:,}")
    table.add_row("lines skipped", f"{s['lines_skipped']:,} {s['skipped_by_reason'] or ''}")
    table.add_row("profiles", f"{s['profiles']:,}")
    table.add_row("evidence", f"{s['evidence']:,} {s['evidence_by_type'] or ''}")
    table.add_row("alerts", f"{s['alerts']:,}")
    table.add_row("seconds", f"{s['seconds']}")
    console.print(table)


@config_app.command("show")
def config_show(config: ConfigOption = None) -> None:
    """Print the effective configuration (defaults merged with the file)."""
    try:
        cfg = load_config(config)
    except ConfigError as exc:
        raise _fail(str(exc)) from None
    sys.stdout.write(dump_config(cfg))


@app.command()
def version() -> None:
    """Print Starling's version."""
    from importlib.metadata import version as v

    typer.echo(v("starling-ids"))


def main() -> None:  # pragma: no cover - entry point
    app()
