"""`starling analyze`: the runner that executes the pipeline's actions.

Error handling / resource handling
----------------------------------
The pipeline is pure; this module owns every side effect: reading the input,
writing the output files, batching findings into the store, the progress bar.
Input that cannot be read at all (and an output directory that already holds
a run's outputs, unless `overwrite`) raises `InputError` before the output
directory is touched. Everything opened here is closed in `finally`, so an
interrupted run (Ctrl-C, SIGTERM in follow mode) still leaves a complete
summary.json describing what was analysed up to that point.

The end-of-run steps (store flush and close, errors.log, summary.json, the
output files) each run even if an earlier one raised (`_Cleanup`): a store
that fails while flushing still leaves a summary.json whose "errors" names the
failure, and the failure is then re-raised — an error is never swallowed.

Nothing is dropped: records are read only as fast as the pipeline consumes
them (pull-based), so `dropped` in the summary is 0 by construction and is
kept there so a future shedding policy has to report itself.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import gc
import importlib.metadata
import queue
import resource
import shutil
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any, TypeVar

from agent.allowlist_files import bundled_data_dir, load_allowlist
from agent.config import Config
from agent.exports.service import Exporters, make_exporters
from agent.inputs.follow import DirectoryFollower
from agent.inputs.live import (
    LiveCapture,
    LiveCaptureError,
    LivePoller,
    ZeekLive,
    compile_filter,
)
from agent.inputs.skips import SkipLog
from agent.inputs.sources import InputError, RecordSource
from agent.intel.live import IntelHolder
from agent.intel.loader import IntelLoader
from agent.intel.online import OnlineLookups, make_online
from agent.outputs.writer import OutputWriter
from agent.pipeline import Action, Pipeline, Suppressed, build_detectors
from agent.reference_data import load_reference_data
from agent.store import open_store
from agent.store.base import Store
from detection.model import Alert, Evidence, ProfileSummary, Record

__all__ = ["AnalysisResult", "BatchReport", "InputError", "analyze", "default_outdir"]

_T = TypeVar("_T")


def default_outdir(spec: str, now: dt.datetime | None = None) -> Path:
    name = "stdin" if spec == "-" else (Path(spec).name or "input")
    stamp = (now or dt.datetime.now()).strftime("%Y%m%d-%H%M%S")
    base = Path("starling-output") / f"{name}-{stamp}"
    candidate, n = base, 1
    while candidate.exists():  # two runs in the same second get their own directories
        n += 1
        candidate = base.with_name(f"{base.name}-{n}")
    return candidate


@dataclass(frozen=True, slots=True)
class BatchReport:
    """One live batch (`records`, `flows` of them flows, the newest record's time;
    0, 0, None when only skipped lines came) and the run's loss counters so far."""

    records: int
    flows: int
    newest_ts: float | None
    lines_skipped: dict[str, int]  # by reason, cumulative
    state_overflow: dict[str, dict[str, int]]  # detector -> what -> count, cumulative
    detector_errors: dict[str, int]  # exceptions by detector, cumulative (pipeline header)


@dataclass
class AnalysisResult:
    outdir: Path
    summary: dict[str, Any]
    evidence: list[Evidence] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        """0 when anything was analysed; 1 when input was readable but nothing parsed."""
        return 0 if self.summary["records"] > 0 else 1


class _Sink:
    """Executes pipeline actions: output files now, the store in batches."""

    def __init__(
        self,
        writer: OutputWriter,
        store: Store,
        batch: int,
        keep: bool,
        on_finding: Callable[[Evidence | Alert], None] | None = None,
    ) -> None:
        self.writer = writer
        self.on_finding = on_finding
        self.store = store
        self.batch = batch
        self.keep = keep
        self.evidence: list[Evidence] = []
        self.alerts: list[Alert] = []
        self.suppressed = 0
        self._ev: list[Evidence] = []
        self._al: list[Alert] = []
        self._pr: list[ProfileSummary] = []

    def __call__(self, actions: Iterable[Action]) -> None:
        for a in actions:
            if isinstance(a, Evidence):
                self.writer.evidence(a)
                self._ev.append(a)
                if self.keep:
                    self.evidence.append(a)
                if self.on_finding is not None:
                    self.on_finding(a)
            elif isinstance(a, Alert):
                self.writer.alert(a)
                self._al.append(a)
                if self.keep:
                    self.alerts.append(a)
                if self.on_finding is not None:
                    self.on_finding(a)
            elif isinstance(a, ProfileSummary):
                self._pr.append(a)
            elif isinstance(a, Suppressed):
                self.suppressed += 1
        if len(self._ev) + len(self._al) + len(self._pr) >= self.batch:
            self.flush()

    def flush(self) -> None:
        if self._ev:
            self.store.add_evidence(self._ev)
            self._ev = []
        if self._al:
            self.store.add_alerts(self._al)
            self._al = []
        if self._pr:
            self.store.add_profiles(self._pr)
            self._pr = []


class _Progress:
    """A rich progress bar that appears only once a run has taken more than a second."""

    def __init__(self, enabled: bool, total_bytes: Callable[[], int]) -> None:
        self.enabled = enabled and sys.stderr.isatty()
        self.total_bytes = total_bytes
        self.started = time.perf_counter()
        self._bar: Any = None
        self._task: Any = None

    def tick(self, records: int, done_bytes: int | None) -> None:
        if not self.enabled:
            return
        elapsed = time.perf_counter() - self.started
        if self._bar is None:
            if elapsed < 1.0:
                return
            from rich.progress import (
                BarColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._bar = Progress(
                TextColumn("[bold]analysing"),
                BarColumn(),
                TextColumn("{task.fields[rate]}"),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                transient=True,
            )
            self._bar.start()
            self._task = self._bar.add_task("analyse", total=self.total_bytes() or None, rate="")
        rate = f"{records / elapsed:,.0f} records/s" if elapsed > 0 else ""
        self._bar.update(self._task, completed=done_bytes or 0, rate=rate)

    def stop(self) -> None:
        if self._bar is not None:
            self._bar.stop()


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


_OUTPUT_MARKERS = ("alerts.json", "starling.db")
_OUTPUT_FILES = (
    "alerts.json",
    "alerts.log",
    "eve.json",
    "summary.json",
    "errors.log",
    "starling.db",
    "starling.db-wal",
    "starling.db-shm",
    "starling.db-journal",
)


def _check_outdir(outdir: Path, overwrite: bool) -> None:
    """Refuse to mix two runs' outputs in one directory (before anything is created)."""
    found = [name for name in _OUTPUT_MARKERS if (outdir / name).exists()]
    if found and not overwrite:
        raise InputError(
            f"{outdir}: already holds Starling outputs ({', '.join(found)}); "
            "choose another output directory or overwrite them (--force)"
        )


def _remove_outputs(outdir: Path) -> None:
    for name in _OUTPUT_FILES:
        (outdir / name).unlink(missing_ok=True)


class _Cleanup:
    """Runs end-of-run steps so that each runs even if an earlier one failed.

    A failure is recorded (`errors`, for summary.json) and kept (`first`) so the
    run can re-raise it once everything else, the summary included, is done.
    """

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.first: BaseException | None = None

    def record(self, step: str, exc: BaseException) -> None:
        self.errors.append(f"{step}: {type(exc).__name__}: {exc}"[:500])
        if self.first is None:
            self.first = exc

    def run(self, step: str, fn: Callable[[], _T]) -> _T | None:
        try:
            return fn()
        except Exception as exc:  # noqa: BLE001 - recorded, then re-raised by analyze()
            self.record(step, exc)
            return None


def analyze(
    spec: str,
    config: Config,
    *,
    outdir: Path | None = None,
    fmt: str = "auto",
    follow: bool = False,
    max_idle: float | None = None,
    progress: bool = False,
    keep_findings: bool = False,
    stop: threading.Event | None = None,
    on_finding: Callable[[Evidence | Alert], None] | None = None,
    overwrite: bool = False,
    inject: queue.Queue[Evidence] | None = None,
    intel: IntelHolder | None = None,
    interface: str | None = None,
    bpf_program: list[tuple[int, int, int, int]] | None = None,
    capture: LiveCapture | None = None,
    on_batch: Callable[[BatchReport], None] | None = None,
    engine: str = "auto",
    bpf: str | None = None,
) -> AnalysisResult:
    """Analyse `spec` (file, directory or '-') and write the outputs to `outdir`.

    With `interface`, packets are captured live from that interface by the
    built-in engine (optionally through a classic BPF program) until `stop`;
    `spec` then only names the run. `capture` is an already opened capture (the
    daemon opens it first, so a missing capability fails at start).
    `on_batch(BatchReport)` is called after each live batch, and when only
    skipped lines came (the API's flow, lag and loss metrics). `engine` for an
    interface: "zeek" runs Zeek on it (logs in `<outdir>/zeek`, followed),
    "builtin" the built-in engine, "auto" Zeek when it is on PATH; `bpf` is a
    tcpdump filter expression (Zeek's `-f`, or compiled with tcpdump for the
    built-in engine; `bpf_program` is an already compiled one, built-in engine only).

    An `outdir` that already holds a run's outputs (alerts.json or starling.db)
    is refused with `InputError` unless `overwrite`, which removes them first.
    """
    outdir = outdir or default_outdir(spec)
    skips = SkipLog(None, limit=config.outputs.errors_log_limit)
    # Resolve the input before creating anything, so a bad path leaves no debris.
    source: RecordSource | None = None
    follower: DirectoryFollower | LivePoller | ZeekLive | None = None
    capture_engine: str | None = None
    if capture is not None:
        interface = capture.interface
    if interface is not None:
        follow = True
        zeek = shutil.which("zeek") if engine in ("auto", "zeek") and capture is None else None
        if engine == "zeek" and zeek is None:
            raise InputError("--engine zeek: zeek is not on PATH")
        if zeek is not None:
            if bpf_program is not None:
                raise InputError("a compiled BPF program works with the built-in engine only")
            capture_engine = "zeek"
            follower = ZeekLive(
                zeek,
                interface,
                outdir / "zeek",
                skips,
                bpf=bpf,
                max_line_bytes=config.inputs.max_line_bytes,
            )
        else:
            capture_engine = "builtin"
            try:
                if capture is None:
                    program = bpf_program or (compile_filter(bpf, interface) if bpf else None)
                    capture = LiveCapture(interface, program=program)
                follower = LivePoller(capture)
                follower.start()
            except LiveCaptureError as exc:
                raise InputError(str(exc)) from None
    elif follow:
        follower = DirectoryFollower(Path(spec), skips, max_line_bytes=config.inputs.max_line_bytes)
    else:
        source = RecordSource(spec, skips, fmt=fmt, max_line_bytes=config.inputs.max_line_bytes)
    _check_outdir(outdir, overwrite)
    # An explicit store (Redis) is opened before the output directory is created,
    # so an unreachable server fails the run without leaving an empty directory.
    store = open_store(config.store) if config.store else None
    lookups: OnlineLookups | None = None
    exporters: Exporters | None = None
    try:
        outdir.mkdir(parents=True, exist_ok=True)
        if overwrite:
            _remove_outputs(outdir)
        if isinstance(follower, ZeekLive):
            try:
                follower.start()
            except LiveCaptureError as exc:
                raise InputError(str(exc)) from None
        skips.attach(outdir / "errors.log")
        allow_warnings: list[str] = []
        allowlist = None
        orgs_dir = None
        if config.allowlist.enabled:
            data = bundled_data_dir()
            orgs_dir = config.allowlist.organizations_dir or data / "organizations_info"
            # every organisation: the detectors' reference data reuses them (one parse)
            allowlist, allow_warnings = load_allowlist(
                config.allowlist.file or data / "allowlist.conf", orgs_dir, all_orgs=True
            )
        context, reference_warnings = load_reference_data(
            config, allowlist.orgs if allowlist is not None else None, orgs_dir
        )
        allow_warnings += reference_warnings
        if intel is not None:  # a live agent: the holder is kept fresh by the daemon
            context = dataclasses.replace(context, intel=intel.get())
        elif config.intel.enabled:
            index, intel_report = IntelLoader(config).load(now=time.time())
            context = dataclasses.replace(context, intel=index)
            allow_warnings += intel_report.warnings
        # Online lookups answer later: their evidence joins peer evidence on `inject`
        # (follow mode) or a queue drained between batches (file mode).
        results: queue.Queue[Evidence] = inject if inject is not None else queue.Queue(10_000)
        base_context = context
        online = make_online(
            config,
            on_evidence=results.put_nowait,
            intel=intel.get if intel is not None else (lambda: base_context.intel),
            context=context,
        )
        if online is not None:
            lookups, tap = online
            pipeline = Pipeline(
                config, allowlist, [*build_detectors(config, context), tap], context=context
            )
            lookups.start()
        else:
            lookups = None
            pipeline = Pipeline(config, allowlist, context=context)
        if store is None:
            store = open_store(str(outdir / "starling.db"))
        writer = OutputWriter(outdir)
        # Exports (STIX/TAXII, Slack, syslog): their own threads, fed without blocking.
        exporters = make_exporters(config.exports, _version())
    except BaseException:
        # Nothing ran yet: release what was opened, then report the original error.
        with contextlib.ExitStack() as release:
            release.callback(skips.close)
            if follower is not None:
                release.callback(follower.close)
            if store is not None:
                release.callback(store.close)
            if lookups is not None:
                release.callback(lookups.close)
            if exporters is not None:
                release.callback(exporters.close, 0.0)
            with contextlib.suppress(Exception):
                release.close()
        raise
    sink = _Sink(
        writer, store, config.outputs.store_batch, keep_findings,
        _both(on_finding, exporters.on_finding if exporters is not None else None),
    )  # fmt: skip
    started = time.perf_counter()
    cpu_started = time.process_time()
    records = 0
    interrupted = False
    stop = stop or threading.Event()
    previous_handlers = _install_signal_handlers(stop) if follow else {}
    bar = _Progress(progress, lambda: source.bytes_total if source else 0)
    cleanup = _Cleanup()
    failed: BaseException | None = None  # what the run itself raised, if anything
    # Everything built so far (detectors' tables, reference data, the intel index)
    # lives as long as the run: keep it out of the cyclic GC's full collections
    # (~4 % of a run); `unfreeze` in the cleanup below hands it back.
    gc.freeze()
    try:
        if source is not None:
            feed = pipeline.feed
            for rec in source:
                actions = feed(rec)
                if actions:
                    sink(actions)
                records += 1
                if not records & 0x3FFF:
                    bar.tick(records, source.bytes_done)
                    if lookups is not None:
                        _ingest(results, pipeline, sink)
                    if stop.is_set():
                        interrupted = True
                        break
        else:
            assert follower is not None
            records = _follow_loop(
                follower,
                pipeline,
                sink,
                skips,
                config=config,
                max_idle=max_idle,
                stop=stop,
                inject=results if lookups is not None else inject,
                intel=intel,
                on_batch=on_batch,
            )
        if isinstance(follower, LivePoller | ZeekLive):  # the last flows (open connections)
            for rec in follower.finish():
                sink(pipeline.feed(rec))
                records += 1
        if lookups is not None:  # answers still on their way get a bounded wait
            lookups.drain(config.intel.online.finish_wait_seconds)
            _ingest(results, pipeline, sink)
        sink(pipeline.finish())
    except KeyboardInterrupt:
        interrupted = True
        cleanup.run("finish", lambda: sink(pipeline.finish()))
    except BaseException as exc:
        failed = exc
        cleanup.record("analysis", exc)
        raise
    finally:
        # Every step runs even if an earlier one raised; summary.json is written
        # last but one and names every failure ("errors"); then the first
        # failure is re-raised (unless the run itself is already raising).
        gc.unfreeze()
        cleanup.run("progress", bar.stop)
        cleanup.run("signals", lambda: _restore_signal_handlers(previous_handlers))
        seconds = time.perf_counter() - started
        cpu = time.process_time() - cpu_started
        cleanup.run("store flush", sink.flush)
        cleanup.run("store meta", lambda: store.set_meta("last_run_input", spec))
        counts = cleanup.run("store counts", store.counts)
        cleanup.run("store close", store.close)
        if follower is not None:
            cleanup.run("follower close", follower.close)
        cleanup.run("errors.log", skips.close)
        if lookups is not None:
            cleanup.run("online lookups", lookups.close)
        export_stats = None
        if exporters is not None:  # bounded: delivers what it can, never raises
            ex = exporters
            export_stats = cleanup.run(
                "exports", lambda: ex.close(config.exports.close_timeout_seconds)
            )
        flows = pipeline.flows
        summary: dict[str, Any] = {
            "input": spec,
            "formats": (
                source.files
                if source
                else {"interface": interface}
                if interface is not None
                else {"follow": str(spec)}
            ),
            "capture_engine": capture_engine,
            "capture_error": follower.error
            if isinstance(follower, LivePoller | ZeekLive)
            else None,
            "lines": source.lines if source else (follower.lines if follower else 0),
            "records": records,
            "records_by_type": pipeline.records_by_type,
            "flows": flows,
            "flows_ignored_by_allowlist": pipeline.flows_ignored,
            "lines_skipped": skips.total,
            "skipped_by_reason": dict(sorted(skips.counts.items())),
            "warnings": dict(sorted(skips.warnings.items())),
            "allowlist_warnings": allow_warnings[:50],
            "profiles": pipeline.profiles.profiles_count,
            "profiles_capped": pipeline.profiles.profiles_capped,
            "evidence": sum(pipeline.evidence_by_type.values()),
            "evidence_by_type": dict(sorted(pipeline.evidence_by_type.items())),
            "evidence_suppressed": sink.suppressed,
            "suppressed_by_reason": dict(sorted(pipeline.suppressed_by_reason.items())),
            "alerts": pipeline.alerts,
            "late_records": pipeline.late_records,
            "late_profile_updates_dropped": pipeline.profiles.late_updates_dropped,
            "detector_state_overflow": pipeline.state_overflow(),
            "detector_errors": dict(sorted(pipeline.detector_errors.items())),
            "time_jumps_skipped": pipeline.time_jumps,
            "dropped": 0,
            "interrupted": interrupted,
            "errors": cleanup.errors,
            "seconds": round(seconds, 3),
            "cpu_seconds": round(cpu, 3),
            "flows_per_second": round(flows / seconds, 1) if seconds > 0 else None,
            "flows_per_cpu_second": round(flows / cpu, 1) if cpu > 0 else None,
            "peak_rss_mb": round(_peak_rss_mb(), 1),
            "store": counts,
            "window_seconds": config.profiles.window_seconds,
            "alert_threshold": config.alert_threshold,
            "online_lookups": lookups.summary() if lookups is not None else None,
            "exports": export_stats,
        }
        cleanup.run("summary.json", lambda: writer.summary(summary))
        cleanup.run("output files", writer.close)
        if failed is None and cleanup.first is not None:
            raise cleanup.first
    return AnalysisResult(outdir, summary, sink.evidence, sink.alerts)


def _version() -> str:
    try:
        return importlib.metadata.version("starling-ids")
    except importlib.metadata.PackageNotFoundError:
        return "0"


def _both(
    first: Callable[[Evidence | Alert], None] | None,
    second: Callable[[Evidence | Alert], None] | None,
) -> Callable[[Evidence | Alert], None] | None:
    """One on_finding callback calling both (either may be None)."""
    if first is None or second is None:
        return first or second

    def both(finding: Evidence | Alert) -> None:
        first(finding)
        second(finding)

    return both


def _ingest(results: queue.Queue[Evidence], pipeline: Pipeline, sink: _Sink) -> None:
    """Evidence that arrived from outside the detectors since the last call."""
    while True:
        try:
            ev = results.get_nowait()
        except queue.Empty:
            return
        sink(pipeline.ingest(ev))


def _follow_loop(
    follower: DirectoryFollower | LivePoller | ZeekLive,
    pipeline: Pipeline,
    sink: _Sink,
    skips: SkipLog,
    *,
    config: Config,
    max_idle: float | None,
    stop: threading.Event,
    inject: queue.Queue[Evidence] | None = None,
    intel: IntelHolder | None = None,
    on_batch: Callable[[BatchReport], None] | None = None,
) -> int:
    """Feed what the follower reads until stopped or idle; returns records analysed.

    `inject` carries evidence from outside the detectors (peer consensus); it goes
    through the same decision step (allowlist, accumulator) as local evidence.

    Live input is checked against the wall clock (this runner's, never the
    pipeline's): a record more than `inputs.max_future_seconds` ahead of
    `time.time()` is skipped as `ts_in_future` (counted, logged once).
    """
    records = 0
    idle_since = time.monotonic()
    poll = config.inputs.follow_poll_seconds
    max_future = config.inputs.max_future_seconds
    intel_version = -1  # switch to the holder's index on the first turn
    skips_reported = 0

    def report(n: int, flows: int, newest: float | None) -> None:
        nonlocal skips_reported
        if on_batch is not None:
            skips_reported = skips.total
            state = pipeline.state_overflow()
            errors = dict(pipeline.detector_errors)
            on_batch(BatchReport(n, flows, newest, dict(skips.counts), state, errors))

    while not stop.is_set():
        if intel is not None and intel.version != intel_version:
            intel_version = intel.version
            pipeline.use_intel(intel.get())
        if inject is not None:
            _ingest(inject, pipeline, sink)
            sink.flush()
        batch = follower.poll()
        if batch:
            idle_since = time.monotonic()
            horizon = time.time() + max_future
            flows_before = pipeline.flows
            newest: float | None = None
            for rec in batch:
                if rec.ts > horizon:
                    skips.skip_repeated(
                        str(follower.directory),
                        "ts_in_future",
                        f"{type(rec).__name__} ts={rec.ts} is more than {max_future:g} s "
                        "ahead of the wall clock",
                    )
                    continue
                actions = pipeline.feed(rec)
                if actions:
                    sink(actions)
                records += 1
                if newest is None or rec.ts > newest:
                    newest = rec.ts
            sink.flush()  # live mode: findings visible to readers right away
            sink.writer.flush()
            report(len(batch), pipeline.flows - flows_before, newest)
            continue
        if on_batch is not None and skips.total != skips_reported:  # only bad lines came
            report(0, 0, None)
        if isinstance(follower, LivePoller | ZeekLive) and follower.finished:
            break  # the capture ended (its error is in summary.json)
        if max_idle is not None and time.monotonic() - idle_since >= max_idle:
            break
        stop.wait(poll)
    return records


def _install_signal_handlers(stop: threading.Event) -> dict[int, Any]:
    if threading.current_thread() is not threading.main_thread():
        return {}

    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous: dict[int, Any] = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        previous[sig] = signal.signal(sig, handler)
    return previous


def _restore_signal_handlers(previous: dict[int, Any]) -> None:
    for sig, h in previous.items():
        signal.signal(sig, h)


def iter_records(spec: str, fmt: str = "auto") -> Iterable[Record]:
    """Records of an input, skipping bad lines silently; for tests and tools."""
    return RecordSource(spec, SkipLog(None), fmt=fmt)
