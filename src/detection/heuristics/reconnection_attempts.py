"""Multiple reconnection attempts: a host keeps connecting to a port that rejects it.

A bot retrying a dead C&C server, or a worm hammering a closed service, shows
as the same (destination, port) refusing connection after connection. Counts,
per (source, destination, port) and window, the rejected TCP attempts — Zeek
``REJ``, or a not-established flow the responder answered with a reset
(Argus ``RST``, Suricata ``closed``) — and reports at `min_rejected` (5,
Slips' number), then at 10, 100, 1000, … with the growing count. Telnet
(23, 2323) is brute-forced by IoT bots that give up quickly, so there 4
not-established attempts of any kind suffice (Slips' rule).

MEDIUM; confidence 0.5 at the threshold, growing to 1.0 at twice it.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import Field

from detection.heuristics._connections import SteppedFlowDetector
from detection.heuristics.base import UNANSWERED, DetectionContext, DetectorParams
from detection.model import Evidence, Flow, ThreatLevel

__all__ = ["ReconnectionAttempts", "ReconnectionAttemptsParams", "is_rejected"]

_RESET_STATES = frozenset({"REJ", "RST", "closed", "CLOSED"})


def is_rejected(flow: Flow) -> bool:
    """A TCP attempt the responder refused (a reset instead of a handshake)."""
    if flow.established or flow.proto != "tcp":
        return False
    return flow.state == "REJ" or (flow.state in _RESET_STATES and flow.dpkts > 0)


class ReconnectionAttemptsParams(DetectorParams):
    min_rejected: int = Field(5, ge=1)
    telnet_ports: tuple[int, ...] = (23, 2323)
    min_telnet_attempts: int = Field(4, ge=1)
    report_at: tuple[int, ...] = (10, 100, 1000)


class ReconnectionAttempts(SteppedFlowDetector):
    name = "multiple_reconnection_attempts"
    consumes = (Flow,)
    Params = ReconnectionAttemptsParams
    threat_level = ThreatLevel.MEDIUM
    technique = "T1008"  # Fallback Channels (retrying an unreachable server)

    def __init__(self, params: DetectorParams, context: DetectionContext | None = None) -> None:
        super().__init__(params, context)
        assert isinstance(params, ReconnectionAttemptsParams)
        self.p = params
        self._telnet = frozenset(params.telnet_ports)
        self.needs_traits = UNANSWERED  # established connections are not attempts

    def wants_flow(
        self, proto: str, dport: int | None, service: str, src_kind: int, dst_kind: int
    ) -> bool:
        return proto == "tcp"

    def observe(self, record: object, window: int) -> Sequence[Evidence] | None:
        flow: Flow = record  # type: ignore[assignment]  # the pipeline routes only Flow here
        if flow.established or flow.proto != "tcp":
            return None
        telnet = flow.dport in self._telnet
        if (not telnet and not is_rejected(flow)) or not flow.saddr:
            return None
        first = self.p.min_telnet_attempts if telnet else self.p.min_rejected
        tally = self.step(flow, window, (flow.saddr, flow.daddr, flow.dport), first)
        if tally is None:
            return None
        what = "not-established telnet" if telnet else "rejected"
        return self.evidence(
            flow,
            window,
            tally,
            f"Multiple reconnection attempts from {flow.saddr} to {flow.daddr}:{flow.dport}/tcp: "
            f"{tally.count} {what} connections in this window",
            min(1.0, tally.count / (2 * first)),
        )
