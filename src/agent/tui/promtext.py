"""A small, total parser of the Prometheus text format (`GET /metrics`).

Text in, `Metrics` out; no I/O. Reads what the agent's `/metrics` writes: sample
lines `name{label="value",…} number [timestamp]`, `#` comments (HELP/TYPE are
not needed here). A line it cannot read is skipped and counted in `bad_lines`,
never raised: the view shows what it could read.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

__all__ = ["Metrics", "parse_metrics"]

_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*(,|(?=}))')
_ESCAPES = {"\\\\": "\\", '\\"': '"', "\\n": "\n"}


@dataclass
class Metrics:
    samples: dict[str, list[tuple[dict[str, str], float]]] = field(default_factory=dict)
    bad_lines: int = 0

    def value(self, name: str, **labels: str) -> float | None:
        """The first sample of `name` whose labels include `labels`; None if absent."""
        for have, v in self.samples.get(name, []):
            if all(have.get(k) == want for k, want in labels.items()):
                return v
        return None

    def by(self, name: str, label: str) -> dict[str, float]:
        """`name`'s samples keyed by one label's value."""
        return {have[label]: v for have, v in self.samples.get(name, []) if label in have}

    def total(self, name: str) -> float | None:
        rows = self.samples.get(name)
        return None if rows is None else sum(v for _, v in rows)


def _unescape(text: str) -> str:
    return re.sub(r"\\[\\\"n]", lambda m: _ESCAPES[m.group(0)], text)


def _number(text: str) -> float | None:
    low = text.lower()
    if low in ("+inf", "inf"):
        return math.inf
    if low == "-inf":
        return -math.inf
    if low == "nan":
        return math.nan
    if not re.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", text):
        return None
    return float(text)


def _sample(line: str) -> tuple[str, dict[str, str], float] | None:
    m = _NAME.match(line)
    if m is None:
        return None
    name, rest = m.group(0), line[m.end() :]
    labels: dict[str, str] = {}
    if rest.startswith("{"):
        pos = 1
        while True:
            if rest[pos:].lstrip().startswith("}"):
                pos = rest.index("}", pos) + 1
                break
            lm = _LABEL.match(rest, pos)
            if lm is None:
                return None
            labels[lm.group(1)] = _unescape(lm.group(2))
            pos = lm.end()
        rest = rest[pos:]
    parts = rest.split()
    if not parts or len(parts) > 2 or not rest[:1].isspace():
        return None
    value = _number(parts[0])
    if value is None:
        return None
    return name, labels, value


def parse_metrics(text: str) -> Metrics:
    out = Metrics()
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parsed = _sample(line)
        if parsed is None:
            out.bad_lines += 1
            continue
        name, labels, value = parsed
        out.samples.setdefault(name, []).append((labels, value))
    return out
