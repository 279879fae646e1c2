"""Accounting for every line that did not become a record.

Nothing is lost silently: each skipped line is counted by reason (for
summary.json) and written to errors.log with file:line, reason and detail,
up to a bound; beyond the bound lines are still counted. Well-formed input
that Starling does not analyse (a Zeek `loaded_scripts.log`, Suricata's own
`alert` events) is counted too but summarised in errors.log once per file and
reason, since listing 400 identical lines helps nobody.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import TextIO

__all__ = ["SkipLog"]


class SkipLog:
    def __init__(self, path: Path | None = None, limit: int = 10_000) -> None:
        self.limit = limit
        self.counts: Counter[str] = Counter()
        self.unsupported: Counter[tuple[str, str]] = Counter()
        self.written = 0
        self.not_written = 0
        self.warnings: Counter[str] = Counter()
        self._fh: TextIO | None = None
        self._path = path
        self._pending: list[str] = []  # lines logged before a path was attached

    def attach(self, path: Path) -> None:
        """Start writing to `path`, including what was logged before."""
        self._path = path
        fh = self._out()
        if fh is not None:
            fh.writelines(self._pending)
        self._pending = []

    def _out(self) -> TextIO | None:
        if self._fh is None and self._path is not None:
            self._fh = self._path.open("w", encoding="utf-8")
        return self._fh

    def _write(self, text: str) -> None:
        fh = self._out()
        if fh is not None:
            fh.write(text)
        else:
            self._pending.append(text)

    def skip(self, where: str, lineno: int, reason: str, detail: str = "") -> None:
        self.counts[reason] += 1
        if self.written >= self.limit:
            self.not_written += 1
            return
        detail = detail.replace("\n", " ")[:300]
        self._write(
            f"{where}:{lineno}: {reason}: {detail}\n" if detail else f"{where}:{lineno}: {reason}\n"
        )
        self.written += 1

    def skip_repeated(self, where: str, reason: str, detail: str = "") -> None:
        """A skip that may repeat for many records: counted each time, logged once per reason."""
        if self.counts[reason] == 0:
            self.skip(where, 0, reason, detail)
        else:
            self.counts[reason] += 1

    def skip_unsupported(self, where: str, reason: str) -> None:
        self.counts[reason] += 1
        self.unsupported[(where, reason)] += 1

    def warn(self, reason: str) -> None:
        """A line that was used but needed repair (e.g. invalid UTF-8 replaced)."""
        self.warnings[reason] += 1

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def close(self) -> None:
        if self.unsupported:
            fh = self._out()
            if fh is not None:
                for (where, reason), n in sorted(self.unsupported.items()):
                    fh.write(
                        f"{where}: {reason}: {n} lines not analysed (kind not used by Starling)\n"
                    )
        if self.not_written:
            fh = self._out()
            if fh is not None:
                fh.write(
                    f"... {self.not_written} more skipped lines not listed (limit {self.limit})\n"
                )
        if self._fh is None and self._path is not None:
            self._path.touch()
        if self._fh is not None:
            self._fh.close()
            self._fh = None
