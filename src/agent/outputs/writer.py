"""Writes findings to the output directory as they are produced.

Files are line-oriented and flushed when the run ends (and by the OS buffer
before), so `tail -f alerts.log` works during a long analysis.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from agent.outputs.formats import (
    alert_line,
    alert_record,
    eve_alert,
    evidence_line,
    evidence_record,
)
from detection.model import Alert, Evidence

__all__ = ["OutputWriter"]

_LINE = orjson.OPT_APPEND_NEWLINE  # one JSON document per line


class OutputWriter:
    def __init__(self, outdir: Path) -> None:
        self.outdir = outdir
        outdir.mkdir(parents=True, exist_ok=True)
        self._json = (outdir / "alerts.json").open("wb")
        self._log = (outdir / "alerts.log").open("w", encoding="utf-8")
        self._eve = (outdir / "eve.json").open("wb")

    def evidence(self, ev: Evidence) -> None:
        self._json.write(orjson.dumps(evidence_record(ev), option=_LINE))
        self._eve.write(orjson.dumps(eve_alert(ev), option=_LINE))
        self._log.write(evidence_line(ev) + "\n")

    def alert(self, alert: Alert) -> None:
        self._json.write(orjson.dumps(alert_record(alert), option=_LINE))
        self._eve.write(orjson.dumps(eve_alert(alert), option=_LINE))
        self._log.write(alert_line(alert) + "\n")

    def flush(self) -> None:
        for fh in (self._json, self._log, self._eve):
            fh.flush()

    def summary(self, data: dict[str, Any]) -> None:
        (self.outdir / "summary.json").write_bytes(
            orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"
        )

    def close(self) -> None:
        for fh in (self._json, self._log, self._eve):
            fh.close()
