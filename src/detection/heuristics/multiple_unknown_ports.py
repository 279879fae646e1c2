"""Connection to multiple unknown-service ports of one host.

A client that holds established TCP connections to several ports of the same
server, none of them a known service, is talking to something custom: a C&C
server spreading its channels over ports, a proxy, or a backdoor. Counts, per
(source, destination) and window, the distinct destination ports of
established TCP flows that no reference list explains (same rule as
`unknown_port`: services file, Zeek ``service``, organisation ports, and the
dynamic range from 49152 are known). Reports when `min_ports` is reached
(2, Slips' rule), then at 10, 100, 1000, … distinct ports.

INFO as in Slips (it is context for an analyst, not an accusation on its own);
confidence 0.5 at the threshold, growing with the number of ports.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import Field

from detection.heuristics._connections import MAX_UIDS, KnownPorts, is_special
from detection.heuristics.base import DetectionContext, Detector, DetectorParams, report_due
from detection.model import Evidence, Flow, ThreatLevel

__all__ = ["MultipleUnknownPorts", "MultipleUnknownPortsParams"]


class MultipleUnknownPortsParams(DetectorParams):
    min_ports: int = Field(2, ge=1)
    ignore_ports_from: int = Field(49152, ge=0, le=65536)
    report_at: tuple[int, ...] = (10, 100, 1000)


class MultipleUnknownPorts(Detector):
    name = "connection_to_multiple_ports"
    consumes = (Flow,)
    Params = MultipleUnknownPortsParams

    def __init__(self, params: DetectorParams, context: DetectionContext | None = None) -> None:
        super().__init__(params, context)
        assert isinstance(params, MultipleUnknownPortsParams)
        self.p = params
        self._known = KnownPorts(self.context, params.ignore_ports_from)
        # window -> (saddr, daddr) -> (ports, uids)
        self._ports: dict[int, dict[tuple[str, str], tuple[set[int], list[str]]]] = {}

    def wants_flow(
        self, proto: str, dport: int | None, service: str, src_kind: int, dst_kind: int
    ) -> bool:
        return proto == "tcp" and self._known.may_be_unknown(proto, dport, service)

    def observe(self, record: object, window: int) -> Sequence[Evidence] | None:
        flow: Flow = record  # type: ignore[assignment]  # the pipeline routes only Flow here
        if not flow.established or flow.proto != "tcp" or not self._known.is_unknown(flow):
            return None
        if is_special(flow.daddr) or not flow.saddr:
            return None
        dport: int = flow.dport  # type: ignore[assignment]  # is_unknown: not None
        per_window = self._ports.get(window)
        if per_window is None:
            per_window = self._ports[window] = {}
        entry = per_window.get((flow.saddr, flow.daddr))
        if entry is None:
            entry = per_window[(flow.saddr, flow.daddr)] = (set(), [])
        ports, uids = entry
        if dport in ports:
            return None
        ports.add(dport)
        if len(uids) < MAX_UIDS:
            uids.append(flow.uid)
        n = len(ports)
        if not report_due(n, self.p.min_ports, self.p.report_at):
            return None
        shown = ", ".join(str(p) for p in sorted(ports)[:10])
        return (
            Evidence(
                type=self.name,
                attacker=flow.saddr,
                victim=flow.daddr,
                threat_level=ThreatLevel.INFO,
                confidence=min(1.0, 0.5 * n / self.p.min_ports),
                ts=flow.ts,
                timewindow=window,
                description=(
                    f"Established connections from {flow.saddr} to {n} unknown-service "
                    f"TCP ports of {flow.daddr} ({shown}{', …' if n > 10 else ''})"
                ),
                source=self.source,
                uids=tuple(uids),
                dport=dport,
                proto="tcp",
                count=n,
                attack_technique="T1571",  # Non-Standard Port
            ),
        )

    def close_window(self, window: int) -> Sequence[Evidence] | None:
        for w in [w for w in self._ports if w <= window]:
            del self._ports[w]
        return None
