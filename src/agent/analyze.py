"""`starling analyze`: the runner that executes the pipeline's actions.

Error handling / resource handling
----------------------------------
The pipeline is pure; this module owns every side effect: reading the input,
writing the output files, batching findings into the store, the progress bar.
Input that cannot be read at all raises `InputError` before the output
directory is touched. Everything opened here is closed in `finally`, so an
interrupted run (Ctrl-C, SIGTERM in follow mode) still leaves a complete
summary.json describing what was analysed up to that point.

Nothing is dropped: records are read only as fast as the pipeline consumes
them (pull-based), so `dropped` in the summary is 0 by construction and is
kept there so a future shedding policy has to report itself.
"""

from __future__ import annotations

import datetime as dt
import resource
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from agent.allowlist_files import bundled_data_dir, load_allowlist
from agent.config import Config
from agent.inputs.follow import DirectoryFollower
from agent.inputs.skips import SkipLog
from agent.inputs.sources import InputError, RecordSource
from agent.outputs.writer import OutputWriter
from agent.pipeline import Action, Pipeline, Suppressed
from agent.store import open_store
from agent.store.base import Store
from detection.model import Alert, Evidence, ProfileSummary, Record

__all__ = ["AnalysisResult", "InputError", "analyze", "default_outdir"]


def default_outdir(spec: str, now: dt.datetime | None = None) -> Path:
    name = "stdin" if spec == "-" else (Path(spec).name or "input")
    stamp = (now or dt.datetime.now()).strftime("%Y%m%d-%H%M%S")
    return Path("starling-output") / f"{name}-{stamp}"


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

    def __init__(self, writer: OutputWriter, store: Store, batch: int, keep: bool) -> None:
        self.writer = writer
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
            elif isinstance(a, Alert):
                self.writer.alert(a)
                self._al.append(a)
                if self.keep:
                    self.alerts.append(a)
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
) -> AnalysisResult:
    """Analyse `spec` (file, directory or '-') and write the outputs to `outdir`."""
    outdir = outdir or default_outdir(spec)
    skips = SkipLog(None, limit=config.outputs.errors_log_limit)
    # Resolve the input before creating anything, so a bad path leaves no debris.
    source: RecordSource | None = None
    follower: DirectoryFollower | None = None
    if follow:
        follower = DirectoryFollower(Path(spec), skips, max_line_bytes=config.inputs.max_line_bytes)
    else:
        source = RecordSource(spec, skips, fmt=fmt, max_line_bytes=config.inputs.max_line_bytes)
    # An explicit store (Redis) is opened before the output directory is created,
    # so an unreachable server fails the run without leaving an empty directory.
    store = open_store(config.store) if config.store else None
    outdir.mkdir(parents=True, exist_ok=True)
    skips.attach(outdir / "errors.log")

    allow_warnings: list[str] = []
    allowlist = None
    if config.allowlist.enabled:
        data = bundled_data_dir()
        allowlist, allow_warnings = load_allowlist(
            config.allowlist.file or data / "allowlist.conf",
            config.allowlist.organizations_dir or data / "organizations_info",
        )
    pipeline = Pipeline(config, allowlist)
    if store is None:
        store = open_store(str(outdir / "starling.db"))
    writer = OutputWriter(outdir)
    sink = _Sink(writer, store, config.outputs.store_batch, keep_findings)
    started = time.perf_counter()
    cpu_started = time.process_time()
    records = 0
    interrupted = False
    stop = stop or threading.Event()
    previous_handlers = _install_signal_handlers(stop) if follow else {}
    bar = _Progress(progress, lambda: source.bytes_total if source else 0)
    try:
        if source is not None:
            feed = pipeline.feed
            for rec in source:
                actions = feed(rec)
                if actions:
                    sink(actions)
                records += 1
                if not records & 0x3FFF:
                    bar.tick(records, None)
                    if stop.is_set():
                        interrupted = True
                        break
        else:
            assert follower is not None
            records = _follow_loop(
                follower, pipeline, sink, config=config, max_idle=max_idle, stop=stop
            )
        sink(pipeline.finish())
    except KeyboardInterrupt:
        interrupted = True
        sink(pipeline.finish())
    finally:
        bar.stop()
        _restore_signal_handlers(previous_handlers)
        seconds = time.perf_counter() - started
        cpu = time.process_time() - cpu_started
        try:
            sink.flush()
            store.set_meta("last_run_input", spec)
            counts = store.counts()
        finally:
            store.close()
        if follower is not None:
            follower.close()
        skips.close()
        flows = pipeline.records["conn"]
        summary: dict[str, Any] = {
            "input": spec,
            "formats": (source.files if source else {"follow": str(spec)}),
            "lines": source.lines if source else (follower.lines if follower else 0),
            "records": records,
            "records_by_type": dict(sorted(pipeline.records.items())),
            "flows": flows,
            "flows_ignored_by_allowlist": pipeline.flows_ignored,
            "lines_skipped": skips.total,
            "skipped_by_reason": dict(sorted(skips.counts.items())),
            "warnings": dict(sorted(skips.warnings.items())),
            "allowlist_warnings": allow_warnings[:50],
            "profiles": len(pipeline.profiles.profiles_seen),
            "evidence": sum(pipeline.evidence_by_type.values()),
            "evidence_by_type": dict(sorted(pipeline.evidence_by_type.items())),
            "evidence_suppressed": sink.suppressed,
            "suppressed_by_reason": dict(sorted(pipeline.suppressed_by_reason.items())),
            "alerts": pipeline.alerts,
            "late_records": pipeline.late_records,
            "dropped": 0,
            "interrupted": interrupted,
            "seconds": round(seconds, 3),
            "cpu_seconds": round(cpu, 3),
            "flows_per_second": round(flows / seconds, 1) if seconds > 0 else None,
            "flows_per_cpu_second": round(flows / cpu, 1) if cpu > 0 else None,
            "peak_rss_mb": round(_peak_rss_mb(), 1),
            "store": counts,
            "window_seconds": config.profiles.window_seconds,
            "alert_threshold": config.alert_threshold,
        }
        writer.summary(summary)
        writer.close()
    return AnalysisResult(outdir, summary, sink.evidence, sink.alerts)


def _follow_loop(
    follower: DirectoryFollower,
    pipeline: Pipeline,
    sink: _Sink,
    *,
    config: Config,
    max_idle: float | None,
    stop: threading.Event,
) -> int:
    records = 0
    idle_since = time.monotonic()
    poll = config.inputs.follow_poll_seconds
    while not stop.is_set():
        batch = follower.poll()
        if batch:
            idle_since = time.monotonic()
            for rec in batch:
                actions = pipeline.feed(rec)
                if actions:
                    sink(actions)
            records += len(batch)
            sink.flush()  # live mode: findings visible to readers right away
            sink.writer.flush()
            continue
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
