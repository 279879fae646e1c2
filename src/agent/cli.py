"""The `starling` command line.

Exit codes: 0 success (something was analysed); 1 the input was readable but
nothing in it could be parsed; 2 usage errors — bad config, unreadable path,
unknown format. Errors are one line on stderr, never a traceback.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import orjson
import typer

from agent.ml.cli import ml_app

if TYPE_CHECKING:
    from agent.blocking.service import BlockingService
    from agent.config import Config

app = typer.Typer(
    name="starling",
    help="Starling: a P2P-first behavioural network sensor.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
config_app = typer.Typer(help="Inspect the configuration.", no_args_is_help=True)
app.add_typer(config_app, name="config")
simnet_app = typer.Typer(help="Simulate a mesh of agents (trust evaluation).", no_args_is_help=True)
app.add_typer(simnet_app, name="simnet")
block_app = typer.Typer(
    help="Kernel bans: list, add, remove, flush, restore (docs/blocking.md).",
    no_args_is_help=True,
)
app.add_typer(block_app, name="block")
app.add_typer(ml_app, name="ml")

ConfigOption = Annotated[
    Path | None, typer.Option("-c", "--config", help="YAML config file", dir_okay=False)
]


def _fail(message: str, code: int = 2) -> typer.Exit:
    typer.echo(f"starling: {message}", err=True)
    return typer.Exit(code)


def _load_config(path: Path | None, overrides: dict[str, object] | None = None) -> Config:
    """The configuration, or a one-line usage error. Imported here, not at the top:
    the config schema pulls in every detector, which `starling --help` does not need."""
    from agent.config import ConfigError, load_config

    try:
        return load_config(path, overrides)
    except ConfigError as exc:
        raise _fail(str(exc)) from None


def _internal_error(exc: BaseException) -> typer.Exit:
    """Expected failures (store, OS) are one line; a bug is one line plus a hint.

    STARLING_DEBUG=1 re-raises with the full traceback for a bug report.
    """
    from agent.store.base import StoreError

    if isinstance(exc, StoreError | OSError):
        return _fail(str(exc))
    if os.environ.get("STARLING_DEBUG"):
        raise exc
    return _fail(
        f"internal error: {type(exc).__name__}: {exc} "
        "(a bug; rerun with STARLING_DEBUG=1 for the traceback and please report it)",
        code=70,
    )


@app.command()
def analyze(
    path: Annotated[
        str | None,
        typer.Argument(help="log file, pcap, Zeek log directory, or - for stdin"),
    ] = None,
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
    force: Annotated[
        bool, typer.Option("--force", help="overwrite a previous run's outputs in OUTDIR")
    ] = False,
    interface: Annotated[
        str | None,
        typer.Option(
            "-i",
            "--interface",
            help="capture live from this interface with the built-in engine until stopped "
            "(root or CAP_NET_RAW)",
        ),
    ] = None,
    bpf: Annotated[
        str | None,
        typer.Option("--bpf", help="with -i: a tcpdump filter expression (needs tcpdump)"),
    ] = None,
    bpf_file: Annotated[
        Path | None,
        typer.Option("--bpf-file", help="with -i: a filter compiled by `tcpdump -ddd`"),
    ] = None,
    engine: EngineOption = "auto",
) -> None:
    """Analyse flows and write alerts.json, alerts.log, eve.json, summary.json, errors.log."""
    from agent.analyze import InputError
    from agent.analyze import analyze as run

    if (path is None) == (interface is None):
        raise _fail("give a PATH to analyse, or -i INTERFACE to capture from (not both)")
    if interface is None and (bpf or bpf_file):
        raise _fail("--bpf and --bpf-file go with -i INTERFACE")
    _check_engine(engine)
    program = _bpf_program(interface, None, bpf_file) if interface is not None else None
    spec = path if path is not None else f"iface-{interface}"
    if fmt not in ("auto", "zeek", "suricata", "argus", "nfdump", "pcap"):
        raise _fail(f"unknown --format {fmt!r} (auto|zeek|suricata|argus|nfdump|pcap)")
    cfg = _load_config(config, {"store": redis} if redis else None)
    try:
        result = run(
            spec,
            cfg,
            outdir=outdir,
            fmt=fmt,
            follow=follow,
            max_idle=max_idle,
            progress=not json_out and interface is None,
            overwrite=force,
            interface=interface,
            bpf_program=program,
            bpf=bpf,
            engine=engine,
        )
    except InputError as exc:
        raise _fail(str(exc)) from None
    except Exception as exc:  # noqa: BLE001 - last line of defence: one line, not a traceback
        raise _internal_error(exc) from None
    s = result.summary
    if json_out:
        sys.stdout.write(orjson.dumps({**s, "outdir": str(result.outdir)}).decode() + "\n")
    else:
        _print_human(result.outdir, s)
    if result.exit_code != 0:
        reasons = ", ".join(f"{k}={v}" for k, v in s["skipped_by_reason"].items()) or "no lines"
        typer.echo(f"starling: nothing could be parsed from {spec} ({reasons})", err=True)
    raise typer.Exit(result.exit_code)


EngineOption = Annotated[
    str,
    typer.Option(
        "--engine",
        help="with -i: auto (Zeek when on PATH, else built-in) | zeek | builtin",
    ),
]


def _check_engine(engine: str) -> None:
    if engine not in ("auto", "zeek", "builtin"):
        raise _fail(f"unknown --engine {engine!r} (auto|zeek|builtin)")


def _bpf_program(
    interface: str, bpf: str | None, bpf_file: Path | None
) -> list[tuple[int, int, int, int]] | None:
    from agent.inputs.live import LiveCaptureError, compile_filter, parse_program

    if bpf and bpf_file:
        raise _fail("give --bpf or --bpf-file, not both")
    try:
        if bpf:
            return compile_filter(bpf, interface)
        if bpf_file:
            return parse_program(bpf_file.read_text(encoding="utf-8", errors="replace"))
    except OSError as exc:
        raise _fail(f"{bpf_file}: {exc.strerror or exc}") from None
    except LiveCaptureError as exc:
        raise _fail(str(exc)) from None
    return None


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
    if s.get("detector_state_overflow"):  # a detector's memory cap was full: it saw less
        table.add_row("detector state overflow", f"{s['detector_state_overflow']}")
    if s.get("detector_errors"):  # a detector raised (isolated; tracebacks in the log)
        table.add_row("detector errors", f"{s['detector_errors']}")
    table.add_row("evidence", f"{s['evidence']:,} {s['evidence_by_type'] or ''}")
    table.add_row("alerts", f"{s['alerts']:,}")
    table.add_row("seconds", f"{s['seconds']}")
    console.print(table)


def _default_data_dir() -> Path:
    env = os.environ.get("STARLING_DATA_DIR")
    if env:
        return Path(env)
    if os.geteuid() == 0:
        return Path("/var/lib/starling")
    return Path.home() / ".local" / "share" / "starling"


DataDirOption = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        help="identity, API token and store (default: $STARLING_DATA_DIR, "
        "/var/lib/starling as root, else ~/.local/share/starling)",
        file_okay=False,
    ),
]


@app.command()
def agent(
    config: ConfigOption = None,
    zeek_dir: Annotated[
        Path | None, typer.Option("--zeek-dir", help="live Zeek log directory to follow")
    ] = None,
    listen: Annotated[
        list[str] | None, typer.Option("--listen", help="libp2p multiaddr to listen on (repeat)")
    ] = None,
    bootstrap: Annotated[
        list[str] | None,
        typer.Option("--bootstrap", help="peer multiaddr with /p2p/<id> to join (repeat)"),
    ] = None,
    api: Annotated[str | None, typer.Option("--api", help="API address HOST:PORT")] = None,
    data_dir: DataDirOption = None,
    redis: Annotated[str | None, typer.Option("--redis", help="redis://… store")] = None,
    interface: Annotated[
        str | None,
        typer.Option(
            "-i",
            "--interface",
            help="capture live from this interface with the built-in engine "
            "(root or CAP_NET_RAW) instead of following Zeek logs",
        ),
    ] = None,
    bpf: Annotated[
        str | None,
        typer.Option("--bpf", help="with -i: a tcpdump filter expression (needs tcpdump)"),
    ] = None,
    bpf_file: Annotated[
        Path | None,
        typer.Option("--bpf-file", help="with -i: a filter compiled by `tcpdump -ddd`"),
    ] = None,
    engine: EngineOption = "auto",
) -> None:
    """Run the daemon: watch Zeek logs or an interface, share signed IoCs, serve the API."""
    from agent.daemon import run_agent
    from agent.identity import SecretError
    from agent.inputs.live import LiveCapture, LiveCaptureError

    overrides: dict[str, object] = {}
    if listen:
        overrides["p2p.listen"] = listen
    if bootstrap:
        overrides["p2p.bootstrap"] = bootstrap
    if redis:
        overrides["store"] = redis
    if api:
        host, sep, port = api.rpartition(":")
        if not sep or not (port.isascii() and port.isdigit()):
            raise _fail(f"--api must be HOST:PORT, got {api!r}")
        overrides["api.host"] = host.strip("[]") or "127.0.0.1"
        overrides["api.port"] = int(port)
    cfg = _load_config(config, overrides)
    if zeek_dir is not None and not zeek_dir.is_dir():
        raise _fail(f"--zeek-dir {zeek_dir}: not a directory")
    if zeek_dir is not None and interface is not None:
        raise _fail("give --zeek-dir or -i INTERFACE, not both")
    if interface is None and (bpf or bpf_file):
        raise _fail("--bpf and --bpf-file go with -i INTERFACE")
    _check_engine(engine)
    capture = None
    zeek_on = None  # (interface, bpf) for Zeek on the interface
    if interface is not None:
        import shutil

        use_zeek = engine == "zeek" or (engine == "auto" and shutil.which("zeek"))
        if use_zeek:
            if shutil.which("zeek") is None:
                raise _fail("--engine zeek: zeek is not on PATH")
            if bpf_file is not None:
                raise _fail("--bpf-file works with the built-in engine; give Zeek --bpf")
            zeek_on = (interface, bpf)
        else:  # opened now: a missing capability fails before start-up
            capture = LiveCapture(interface, program=_bpf_program(interface, bpf, bpf_file))
            try:
                capture.open()
            except LiveCaptureError as exc:
                raise _fail(str(exc)) from None
    try:
        code = run_agent(cfg, data_dir or _default_data_dir(), zeek_dir, capture, zeek_on)
    except (SecretError, OSError) as exc:
        raise _fail(str(exc)) from None
    except Exception as exc:  # noqa: BLE001 - one line for the operator
        from agent.blocking.base import BlockerError
        from p2p.node import P2PError

        if isinstance(exc, P2PError | BlockerError):
            raise _fail(str(exc)) from None
        raise _internal_error(exc) from None
    raise typer.Exit(code)


@app.command("id")
def show_id(data_dir: DataDirOption = None) -> None:
    """Print this agent's peer ID (creating its identity key on first use)."""
    from agent.identity import SecretError, load_identity

    try:
        identity = load_identity(data_dir or _default_data_dir())
    except (SecretError, OSError) as exc:
        raise _fail(str(exc)) from None
    typer.echo(identity.peer_id)


@simnet_app.command("run")
def simnet_run(
    scenario: Annotated[Path, typer.Argument(help="scenario YAML", dir_okay=False)],
    seed: Annotated[int | None, typer.Option("--seed", help="override the scenario seed")] = None,
    model: Annotated[str | None, typer.Option("--model", help="override the trust model")] = None,
    output: Annotated[str, typer.Option("-o", "--output", help="human|json")] = "human",
    report: Annotated[
        Path | None,
        typer.Option("--report", help="write a table and PNG plots here", file_okay=False),
    ] = None,
) -> None:
    """Run one simulated scenario and print its metrics."""
    from simnet.scenario import ScenarioError, load_scenario
    from simnet.sim import Simulation

    try:
        sc = load_scenario(scenario, {"seed": seed, "model": model})
    except ScenarioError as exc:
        raise _fail(str(exc)) from None
    result = Simulation(sc).run()
    if report is not None:
        from simnet.report import write_report

        write_report(result, report)
    if output == "json":
        sys.stdout.write(orjson.dumps(result.metrics).decode() + "\n")
        return
    for key, value in result.metrics.items():
        typer.echo(f"{key:32} {value}")


@config_app.command("show")
def config_show(config: ConfigOption = None) -> None:
    """Print the effective configuration (defaults merged with the file)."""
    from agent.config import dump_config

    sys.stdout.write(dump_config(_load_config(config)))


OutputOption = Annotated[str, typer.Option("-o", "--output", help="human|json")]
BackendOption = Annotated[
    str | None,
    typer.Option(
        "--backend",
        help="nftables|iptables|memory: the kernel backend to act on "
        "(add/remove/flush/restore: default blocking.backend; list: show its bans too)",
    ),
]


def _block_context(
    config: Path | None, data_dir: Path | None, output: str, backend: str | None
) -> tuple[Config, str]:
    """The validated config and store spec, or exit 2 naming what is wrong."""
    from agent.blocking.backends import BACKENDS

    if output not in ("human", "json"):
        raise _fail(f"unknown --output {output!r} (human|json)")
    if backend is not None and backend not in BACKENDS:
        raise _fail(f"unknown --backend {backend!r} ({'|'.join(BACKENDS)})")
    cfg = _load_config(config)
    return cfg, cfg.store or str((data_dir or _default_data_dir()) / "starling.db")


def _run_block(
    config: Path | None,
    data_dir: Path | None,
    output: str,
    backend: str | None,
    action: Callable[[BlockingService, float], object],
) -> None:
    """Open the store and the service, run `action`, print its result, map errors to exits."""
    import time

    from agent.blocking.base import BlockerError
    from agent.blocking.service import Refused
    from agent.blocking.target import BadTarget
    from agent.blocking.wiring import make_service
    from agent.store import open_store

    cfg, spec = _block_context(config, data_dir, output, backend)
    # The result (or the one-line error) is the output; the service's log lines are for the agent.
    logging.getLogger("agent.blocking").addHandler(logging.NullHandler())
    try:
        with open_store(spec) as store:
            service = make_service(cfg, store, backend=backend, dry_run=False)
            try:
                result = action(service, time.time())
            finally:
                service.blocker.close()
    except (BadTarget, Refused) as exc:
        raise _fail(str(exc)) from None
    except BlockerError as exc:
        raise _fail(str(exc), code=1) from None
    except Exception as exc:  # noqa: BLE001 - last line of defence: one line, not a traceback
        raise _internal_error(exc) from None
    if output == "json":
        sys.stdout.buffer.write(orjson.dumps(result) + b"\n")
    else:
        typer.echo(_human(result))


def _human(result: object) -> str:
    from agent.blocking.decision import Decision

    if isinstance(result, dict) and "decisions" in result:
        lines = [_human_decision(d) for d in result["decisions"]] or ["no active decisions"]
        kernel = result.get("kernel")
        if kernel is not None:
            lines.append(f"kernel ({result['backend']}): {len(result['kernel'])} bans")
            lines += [f"  {k.value}  expires in {k.expires_in or 0:.0f} s" for k in kernel]
        return "\n".join(lines)
    if isinstance(result, Decision):
        return _human_decision(result)
    if isinstance(result, list):
        return f"lifted {len(result)} decisions" + "".join(f"\n  {d.value}" for d in result)
    return str(result)


def _human_decision(d: object) -> str:
    import datetime as dt

    from agent.blocking.decision import Decision

    assert isinstance(d, Decision)
    until = dt.datetime.fromtimestamp(d.expires).isoformat(timespec="seconds")
    mode = " (dry-run)" if d.dry_run else ""
    return (
        f"{d.value:<20} {d.origin:<14} until {until} ({d.ttl:.0f} s, offence {d.offence})"
        f"{mode}  {d.reason}"
    )


@block_app.command("list")
def block_list(
    output: OutputOption = "human",
    backend: BackendOption = None,
    data_dir: DataDirOption = None,
    config: ConfigOption = None,
) -> None:
    """Active decisions (real and dry-run); with --backend, the kernel's bans too."""

    def action(service: BlockingService, now: float) -> object:
        kernel = service.blocker.list() if backend is not None else None
        return {"decisions": service.active(now), "backend": backend, "kernel": kernel}

    _run_block(config, data_dir, output, backend, action)


@block_app.command("add")
def block_add(
    value: Annotated[str, typer.Argument(help="IP address or CIDR network")],
    ttl: Annotated[
        float | None,
        typer.Option("--ttl", help="seconds (default: blocking.ttl_seconds, escalated)"),
    ] = None,
    reason: Annotated[str, typer.Option("--reason", help="recorded with the decision")] = "manual",
    output: OutputOption = "human",
    backend: BackendOption = None,
    data_dir: DataDirOption = None,
    config: ConfigOption = None,
) -> None:
    """Ban VALUE now (anti-lockout checked; a protected value exits 2 with the reason)."""
    import math

    from agent.blocking.base import MAX_TTL_SECONDS

    if ttl is not None and not (math.isfinite(ttl) and 1 <= ttl <= MAX_TTL_SECONDS):
        raise _fail(f"--ttl must be between 1 and {MAX_TTL_SECONDS} seconds, got {ttl}")

    def action(service: BlockingService, now: float) -> object:
        # The memory backend touches no kernel: record a dry-run decision, which an
        # agent's restore will not put into the kernel either.
        dry = service.blocker.name == "memory"
        return service.add(value, ttl=ttl, reason=reason, now=now, dry_run=dry)

    _run_block(config, data_dir, output, backend, action)


@block_app.command("remove")
def block_remove(
    value: Annotated[str, typer.Argument(help="IP address or CIDR network")],
    output: OutputOption = "human",
    backend: BackendOption = None,
    data_dir: DataDirOption = None,
    config: ConfigOption = None,
) -> None:
    """Lift the ban on VALUE (its decisions are kept, marked lifted)."""
    _run_block(config, data_dir, output, backend, lambda svc, now: svc.remove(value, now))


@block_app.command("flush")
def block_flush(
    output: OutputOption = "human",
    backend: BackendOption = None,
    data_dir: DataDirOption = None,
    config: ConfigOption = None,
) -> None:
    """Lift every active decision and empty the kernel sets."""
    _run_block(config, data_dir, output, backend, lambda svc, now: svc.flush(now))


@block_app.command("restore")
def block_restore(
    output: OutputOption = "human",
    backend: BackendOption = None,
    data_dir: DataDirOption = None,
    config: ConfigOption = None,
) -> None:
    """Re-apply the stored active decisions in one batch (what the agent does at start)."""

    def action(service: BlockingService, now: float) -> object:
        return dataclasses.asdict(service.start(now))

    _run_block(config, data_dir, output, backend, action)


@app.command()
def version() -> None:
    """Print Starling's version."""
    from importlib.metadata import version as v

    typer.echo(v("starling-ids"))


def main() -> None:  # pragma: no cover - entry point
    app()


# -- threat intelligence -------------------------------------------------------------------

intel_app = typer.Typer(
    help="Threat-intelligence feeds: update, list, lookup (docs/intel.md).", no_args_is_help=True
)
app.add_typer(intel_app, name="intel")


def _intel_config(config: Path | None, output: str) -> Config:
    if output not in ("human", "json"):
        raise _fail(f"unknown --output {output!r} (human|json)")
    return _load_config(config)


def _emit(output: str, data: object, human: Callable[[], None]) -> None:
    if output == "json":
        sys.stdout.buffer.write(orjson.dumps(data, default=str) + b"\n")
    else:
        human()


@intel_app.command("update")
def intel_update(
    force: Annotated[bool, typer.Option("--force", help="ignore each feed's period")] = False,
    output: OutputOption = "human",
    config: ConfigOption = None,
) -> None:
    """Download the feeds whose copy is older than their period (conditional requests)."""
    import asyncio
    import time

    from agent.intel.live import make_updater
    from agent.intel.loader import feed_specs

    cfg = _intel_config(config, output)
    specs, warnings = feed_specs(cfg)
    updater = make_updater(cfg)
    results = asyncio.run(updater.update(specs, time.time(), force=force))
    rows = [dataclasses.asdict(r) for r in results]

    def human() -> None:
        for w in warnings:
            typer.echo(f"warning: {w}", err=True)
        for r in results:
            extra = f" ({r.error})" if r.error else ""
            typer.echo(f"{r.status:13} {r.indicators:>9,}  {r.name}{extra}")

    _emit(output, {"feeds": rows, "warnings": warnings}, human)
    if results and all(r.status == "failed" for r in results):
        raise typer.Exit(1)


@intel_app.command("list")
def intel_list(output: OutputOption = "human", config: ConfigOption = None) -> None:
    """Feeds and local files with their state and indicator counts (from disk)."""
    import time

    from agent.intel.loader import IntelLoader, feed_specs

    cfg = _intel_config(config, output)
    specs, warnings = feed_specs(cfg)
    index, report = IntelLoader(cfg).load(now=time.time())
    feeds = [
        {
            "name": s.name,
            "url": s.url,
            "kind": s.kind,
            "state": s.state,
            "threat_level": str(s.threat_level),
            "tags": list(s.tags),
            "indicators": report.feeds_loaded.get(s.name),
        }
        for s in specs
    ]
    data = {
        "feeds": feeds,
        "local": report.local_loaded,
        "indicators": index.counts(),
        "never_downloaded": report.feeds_missing,
        "warnings": warnings,
    }

    def human() -> None:
        for f in feeds:
            n = "-" if f["indicators"] is None else f"{f['indicators']:,}"
            typer.echo(f"{f['state']:8} {f['kind']:4} {f['threat_level']:8} {n:>9}  {f['name']}")
        for name, count in report.local_loaded.items():
            typer.echo(f"{'local':8} {'':4} {'':8} {count:>9,}  {name}")
        typer.echo(f"indicators: {index.counts()}")
        if report.feeds_missing:
            typer.echo(f"{len(report.feeds_missing)} active feeds never downloaded: "
                       "run `starling intel update`")  # fmt: skip

    _emit(output, data, human)


@intel_app.command("lookup")
def intel_lookup(
    value: Annotated[str, typer.Argument(help="IP, domain, URL, hash, JA3, JARM or ASN")],
    output: OutputOption = "human",
    config: ConfigOption = None,
    online: Annotated[
        bool,
        typer.Option(
            "--online",
            help="also ask the online services (intel.online in the config: VirusTotal "
            "needs its key) and print their answers",
        ),
    ] = False,
) -> None:
    """Which feeds list VALUE (exit 1 when none does, nor an online service)."""
    import time

    from agent.intel.loader import IntelLoader

    cfg = _intel_config(config, output)
    index, _ = IntelLoader(cfg).load(now=time.time())
    matches = index.lookup(value)
    answers: list[dict[str, object]] = []
    if online:
        answers = _ask_online(cfg, value)
    rows = [
        {
            "kind": m.kind.value,
            "indicator": m.indicator,
            "feed": m.feed.name,
            "threat_level": str(m.threat_level),
            "description": m.description,
            "feeds": m.feeds,
            "parent": m.parent,
        }
        for m in matches
    ]

    def human() -> None:
        if not matches:
            typer.echo(f"{value}: not listed")
        for m in matches:
            typer.echo(f"{m.kind.value} {m.what} [{m.threat_level}]")
        for a in answers:
            verdict = (
                "MALICIOUS" if a["malicious"] else "known benign" if a["known_benign"] else "-"
            )
            typer.echo(f"online {a['service']}: {verdict} {a['detail']}")

    doc: dict[str, object] = {"value": value, "matches": rows}
    if online:
        doc["online"] = answers
    _emit(output, doc, human)
    if not matches and not any(a["malicious"] for a in answers):
        raise typer.Exit(1)


def _ask_online(cfg: Config, value: str) -> list[dict[str, object]]:
    from agent.intel.online import ask_now, services_for
    from detection.intel.model import classify, normalise

    kind = next((k for h in ("ti", "ja3") if (k := classify(value.strip(), h))), None)
    if kind is None or not services_for(kind, value):
        raise _fail(f"no online service looks up {value!r} (IP, domain, URL or file hash)")
    verdicts, stats = ask_now(cfg.intel.online, kind, normalise(kind, value.strip()))
    out: list[dict[str, object]] = [
        {
            "service": v.service.value,
            "malicious": v.malicious,
            "known_benign": v.known_benign,
            "threat_level": str(v.level) if v.malicious else None,
            "confidence": v.confidence if v.malicious else None,
            "detail": v.detail,
            "evidence": description or None,
        }
        for v, description in verdicts
    ]
    answered = {o["service"] for o in out}
    for key, n in stats.items():  # services that failed: say so, not silence
        service, _, what = key.partition(".")
        if what.startswith(("dropped.", "errors.")) and service not in answered and n:
            out.append(
                {
                    "service": service,
                    "malicious": False,
                    "known_benign": False,
                    "threat_level": None,
                    "confidence": None,
                    "detail": f"no answer ({what})",
                    "evidence": None,
                }
            )
            answered.add(service)
    return out


# The commands that read a running agent's API: alerts, evidence, ip, peers,
# decisions, token (agent/api_cli.py).
from agent.api_cli import register as _register_api_commands  # noqa: E402

_register_api_commands(app)

# `starling tui`: the terminal view (agent/tui/); textual is imported only when it runs.
from agent.tui import register as _register_tui  # noqa: E402

_register_tui(app)
