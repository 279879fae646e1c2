"""Whatever a parser lets through, the scan/ARP/DNS detectors never crash.

Records are built from each NamedTuple's own field types (so a field added to
the model is fuzzed too), with odd strings, None for optional fields and
extreme numbers; every record type a detector consumes is fed in.
"""

from __future__ import annotations

import types
import typing
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detection.heuristics import REGISTRY
from detection.model import ArpRecord, DhcpRecord, DnsRecord, Flow, NoticeRecord, TunnelRecord

GROUP = (
    "arp_mitm", "arp_outside_localnet", "arp_scan", "dga_nxdomain", "dhcp_scan", "dns_arpa_scan",
    "gre_scan", "gre_tunnel", "high_entropy_dns_answer", "horizontal_port_scan", "icmp_sweep",
    "invalid_dns_resolution", "unsolicited_arp", "vertical_port_scan", "zeek_scan_notice",
)  # fmt: skip

_ODD_TEXT = st.one_of(
    st.sampled_from(
        [
            "", "0.0.0.0", "255.255.255.255", "192.168.1.1", "10.0.0.1", "::", "::1", "fe80::1",
            "224.0.0.251", "ff:ff:ff:ff:ff:ff", "00:00:00:00:00:00", "request", "reply", "icmp",
            "gre", "udp", "tcp", "NXDOMAIN", "TXT", "PTR", "1.0.0.10.in-addr.arpa", "a.local",
            "Tunnel::GRE", "Tunnel::DISCOVER", "Scan::Port_Scan", "Scan::Address_Scan",
            "ICMP::TimestampScan", "TXT 3 abc", "999.1.1.1", "not an ip", ".", "..",
            "²", "172.²³.0.1", "٣.1.1.1",
        ]
    ),
    st.text(max_size=40),
)  # fmt: skip
_INT = st.one_of(st.sampled_from([0, 8, 13, 17, 128, 65535]), st.integers(-(2**63), 2**63))
_FLOAT = st.one_of(st.sampled_from([0.0, 1e12]), st.floats(allow_nan=False))


def _strategy(tp: Any) -> st.SearchStrategy[Any]:
    if tp is str:
        return _ODD_TEXT
    if tp is int:
        return _INT
    if tp is float:
        return _FLOAT
    if tp is bool:
        return st.booleans()
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        return st.one_of(*(_strategy(a) for a in args))
    if tp is type(None):
        return st.none()
    if origin is tuple:
        return st.lists(_strategy(args[0]), max_size=4).map(tuple)
    raise AssertionError(f"no strategy for {tp!r}")


def _records(cls: type) -> st.SearchStrategy[Any]:
    hints = typing.get_type_hints(cls)
    return st.builds(cls, **{name: _strategy(hints[name]) for name in cls._fields})  # type: ignore[attr-defined]


_TYPES = (Flow, DnsRecord, ArpRecord, DhcpRecord, NoticeRecord, TunnelRecord)
DETECTORS = [cls for cls in REGISTRY if cls.name in GROUP]


def test_every_group_detector_is_registered() -> None:
    assert sorted(cls.name for cls in DETECTORS) == sorted(GROUP)


@pytest.mark.parametrize("cls", DETECTORS, ids=lambda c: c.name)
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_detectors_survive_odd_records(cls: Any, data: st.DataObject) -> None:
    det = cls(cls.Params())
    consumed = [t for t in _TYPES if t in cls.consumes]
    assert consumed
    for _ in range(8):
        record = data.draw(st.one_of(*(_records(t) for t in consumed)))
        window = data.draw(st.integers(0, 3))
        found = det.observe(record, window)
        assert found is None or all(e.type == cls.name for e in found)
    det.close_window(2)
    det.close_window(2**62)
