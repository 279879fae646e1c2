"""The contract every log parser follows.

A parser is a small stateful object fed one line (or one decoded object) at a
time; it never opens files, so it is fuzzable and reusable for files, stdin,
followed logs and network input alike. For each input it either

* returns a record (`detection.model.Record`),
* returns ``None`` for lines that carry no data by design (headers, comments,
  blank lines) — these are not counted as skipped, or
* raises `ParseError` with a short machine-readable `reason` (used as the
  counting key in summary.json) and a human `detail` (written to errors.log).

`ParseError` is the only exception a parser may raise, whatever the bytes
(the h11 fuzz invariant); tests/detection/parsers fuzz every parser for it.
`Unsupported` marks well-formed input that Starling deliberately does not use
(a Suricata `alert` event, a Zeek `loaded_scripts` log): counted, not an error.
"""

from __future__ import annotations

from typing import Protocol

from detection.model import Record

__all__ = ["LineParser", "ParseError", "Unsupported"]


class ParseError(ValueError):
    """The input line is malformed; `reason` is a short key for counting."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


class Unsupported(ParseError):
    """Well-formed input of a kind Starling does not analyse; counted, not logged as error."""


class LineParser(Protocol):
    """One parser instance per input stream (it may keep header state)."""

    def parse_line(self, line: str) -> Record | None: ...
