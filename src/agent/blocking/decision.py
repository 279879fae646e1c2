"""A blocking decision: the durable record of one ban, and its one JSON codec.

Lifecycle (derived from the fields, never stored as a state name):

    active   created <= now < expires and lifted is None
    expired  now >= expires (the kernel dropped the element by itself)
    lifted   lifted is not None (removed by an operator, `block remove|flush`,
             or superseded by a newer manual decision for the same value)

A dry-run decision has the same lifecycle but was never applied to a kernel.
Stores keep decisions keyed by `id` and rewrite them when lifted, so the store
is the source of truth for `starling block list` and for restore at start.
"""

from __future__ import annotations

import dataclasses
import math
import uuid
from dataclasses import dataclass
from typing import Any, Literal

import orjson

__all__ = ["ORIGINS", "Decision", "Origin", "decision_from_json", "decision_to_json"]

Origin = Literal["local-alert", "peer-consensus", "manual"]
ORIGINS: tuple[Origin, ...] = ("local-alert", "peer-consensus", "manual")
_SCOPES = ("ip", "range")
_NS = uuid.UUID("5d0c1b52-8c4e-4a36-9b0e-3f1f8f0b7a11")


@dataclass(frozen=True, slots=True)
class Decision:
    value: str  # normalised by agent.blocking.target.parse_target
    scope: Literal["ip", "range"]
    reason: str
    origin: Origin
    evidence_ids: tuple[str, ...]
    created: float
    expires: float
    offence: int = 1  # 1 for a first offence; escalation raises the TTL with it
    dry_run: bool = False
    lifted: float | None = None
    id: str = ""

    def __post_init__(self) -> None:
        if self.scope not in _SCOPES:
            raise ValueError(f"decision scope must be ip or range, got {self.scope!r}")
        if self.origin not in ORIGINS:
            raise ValueError(f"decision origin must be one of {ORIGINS}, got {self.origin!r}")
        if not (math.isfinite(self.created) and math.isfinite(self.expires)):
            raise ValueError("decision times must be finite")
        if self.expires <= self.created:
            raise ValueError(f"decision expires ({self.expires}) before it is created")
        if self.offence < 1:
            raise ValueError(f"offence counts from 1, got {self.offence}")
        if not isinstance(self.evidence_ids, tuple):
            object.__setattr__(self, "evidence_ids", tuple(self.evidence_ids))
        if not self.id:
            key = "|".join((self.origin, self.value, repr(self.created), *self.evidence_ids))
            object.__setattr__(self, "id", str(uuid.uuid5(_NS, key)))

    @property
    def ttl(self) -> float:
        return self.expires - self.created

    def active(self, now: float) -> bool:
        return self.lifted is None and self.created <= now < self.expires

    def lift(self, now: float) -> Decision:
        return dataclasses.replace(self, lifted=now)


_FIELDS = {f.name for f in dataclasses.fields(Decision)}


def decision_to_json(decision: Decision) -> bytes:
    return orjson.dumps(decision)  # orjson encodes dataclasses natively (tuples as lists)


def decision_from_json(blob: bytes | str) -> Decision:
    """Inverse of `decision_to_json`; raises ValueError for anything else."""
    try:
        data: Any = orjson.loads(blob)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"decision is not JSON: {exc}") from exc
    if not isinstance(data, dict) or set(data) - _FIELDS:
        raise ValueError(f"not a decision object: {str(data)[:200]}")
    try:
        return Decision(**{**data, "evidence_ids": tuple(data.get("evidence_ids", ()))})
    except TypeError as exc:
        raise ValueError(f"incomplete decision: {exc}") from exc
