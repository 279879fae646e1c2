from __future__ import annotations

from collections.abc import Callable

from detection.heuristics.gre_tunnel import GreTunnel, GreTunnelParams
from detection.model import Flow, ThreatLevel, TunnelRecord

FlowFactory = Callable[..., Flow]
TUNNEL = TunnelRecord(
    256.5, "Ce7", "10.0.2.15", 0, "115.112.11.30", 0, "Tunnel::GRE", "Tunnel::DISCOVER"
)


def test_zeek_gre_tunnel_once_per_pair_and_window() -> None:
    det = GreTunnel(GreTunnelParams())
    expire = TUNNEL._replace(ts=300.0, uid="CC2", action="Tunnel::EXPIRE")
    evs = [e for r in (TUNNEL, expire) for e in det.observe(r, 0) or ()]
    (ev,) = evs
    assert ev.type == "gre_tunnel" and ev.attacker == "10.0.2.15" and ev.victim == "115.112.11.30"
    assert ev.threat_level is ThreatLevel.LOW and ev.attack_technique == "T1572"
    assert ev.uids == ("Ce7",) and ev.proto == "gre"
    assert ev.description == (
        "GRE tunnel between 10.0.2.15 and 115.112.11.30 (Zeek tunnel.log Tunnel::DISCOVER)"
    )


def test_gre_flow_from_other_formats(flow_factory: FlowFactory) -> None:
    det = GreTunnel(GreTunnelParams())
    (ev,) = det.observe(flow_factory(daddr="203.0.113.9", dport=None, proto="gre"), 0) or ()
    assert ev.victim == "203.0.113.9" and "(GRE flow)" in ev.description


def test_other_tunnels_and_flows_are_quiet(flow_factory: FlowFactory) -> None:
    det = GreTunnel(GreTunnelParams())
    quiet = [
        TUNNEL._replace(tunnel_type="Tunnel::TEREDO"),
        TUNNEL._replace(tunnel_type="Tunnel::IP"),
        flow_factory(proto="tcp"),
        flow_factory(proto="udp"),
    ]
    assert [e for r in quiet for e in det.observe(r, 0) or ()] == []
