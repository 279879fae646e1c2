from __future__ import annotations

import pytest

from detection.model import Flow


def make_flow(
    saddr: str = "10.0.0.1",
    daddr: str = "10.0.0.2",
    dport: int | None = 80,
    *,
    ts: float = 100.0,
    proto: str = "tcp",
    established: bool = False,
    duration: float = 0.1,
    uid: str | None = None,
    sbytes: int = 0,
    dbytes: int = 0,
    spkts: int = 1,
    dpkts: int = 0,
    state: str | None = None,
) -> Flow:
    return Flow(
        ts, uid or f"C{saddr}{daddr}{dport}{ts}", saddr, 40000, daddr, dport, proto, "",
        duration, sbytes, dbytes, spkts, dpkts,
        state if state is not None else ("SF" if established else "S0"), "", established,
    )  # fmt: skip


@pytest.fixture
def flow_factory():  # type: ignore[no-untyped-def]
    return make_flow
