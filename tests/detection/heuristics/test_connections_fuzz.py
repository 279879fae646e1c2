"""Bad input never crashes the connection detectors: random records of every
type they consume, built from the record fields (odd values, None, empties)."""

from __future__ import annotations

import types
import typing
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detection.allowlist import CidrIndex, OrgInfo
from detection.heuristics.base import DetectionContext, Detector, OrgPort, is_private
from detection.heuristics.connection_without_dns import ConnectionWithoutDns
from detection.heuristics.data_upload import DataUpload
from detection.heuristics.device_changing_ip import DeviceChangingIp
from detection.heuristics.different_localnet import DifferentLocalnet
from detection.heuristics.dns_without_connection import DnsWithoutConnection
from detection.heuristics.multiple_unknown_ports import MultipleUnknownPorts
from detection.heuristics.port_zero import PortZero
from detection.heuristics.private_ip_connection import PrivateIpConnection
from detection.heuristics.reconnection_attempts import ReconnectionAttempts
from detection.heuristics.ssh_password_guessing import _connections_in
from detection.heuristics.tor_exit_node import TorExitNode
from detection.heuristics.unknown_port import UnknownPort
from detection.model import DhcpRecord

DETECTORS: list[type[Detector]] = [
    ConnectionWithoutDns,
    DataUpload,
    DeviceChangingIp,
    DifferentLocalnet,
    DnsWithoutConnection,
    MultipleUnknownPorts,
    PortZero,
    PrivateIpConnection,
    ReconnectionAttempts,
    TorExitNode,
    UnknownPort,
]

ADDRESSES = st.sampled_from(
    ["", "10.0.0.1", "10.0.0.2", "192.168.1.255", "172.16.0.1", "8.8.8.8", "198.51.100.7",
     "0.0.0.0", "255.255.255.255", "224.0.0.1", "169.254.1.1", "fd00::1", "fe80::1", "ff02::1",
     "::", "185.220.101.4", "13.107.64.1", "142.250.1.1", "1.2.3", "not-an-ip", "10.0.0.1%eth0",
     # digits str.isdigit() accepts and int() refuses (superscripts) or reads (Arabic-Indic)
     "²", "10.0.0.²", "172.²³.0.1", "٣.1.1.1"]
)  # fmt: skip
WORDS = st.sampled_from(
    ["A", "AAAA", "REJ", "RST", "closed", "S0", "tcp", "udp", "icmp", "aa:bb:cc:dd:ee:ff"]
)
TEXT = st.one_of(ADDRESSES, st.text(max_size=12), WORDS)
NUMBERS = st.one_of(st.integers(-5, 70000), st.sampled_from([0, 23, 53, 547, 2**63 - 1]))
FLOATS = st.one_of(
    st.floats(-1e3, 2e9, allow_nan=False), st.sampled_from([0.0, 1e-9, float("inf")])
)

CONTEXT = DetectionContext(
    services={("tcp", 80): "http", ("udp", 53): "dns"},
    org_ports=(OrgPort("teams", CidrIndex(["13.107.64.0/18"]), 3478, 3481, "udp"),),
    organizations={
        "google": OrgInfo("google", frozenset(), frozenset(), CidrIndex(["142.250.0.0/15"]))
    },
    tor_exit_nodes=frozenset({"185.220.101.4"}),
    own_addresses=frozenset({"10.0.0.1"}),
)


def _strategy(tp: Any) -> st.SearchStrategy[Any]:
    origin = typing.get_origin(tp)
    if origin in (types.UnionType, typing.Union):
        return st.one_of(*(_strategy(a) for a in typing.get_args(tp)))
    if origin is tuple:
        return st.lists(_strategy(typing.get_args(tp)[0]), max_size=4).map(tuple)
    return {
        str: TEXT,
        int: NUMBERS,
        float: FLOATS,
        bool: st.booleans(),
        type(None): st.none(),
    }[tp]


def records_of(cls: type) -> st.SearchStrategy[Any]:
    hints = typing.get_type_hints(cls)
    return st.builds(cls, **{name: _strategy(hints[name]) for name in cls._fields})  # type: ignore[attr-defined]


@pytest.mark.parametrize("cls", DETECTORS, ids=lambda c: c.name)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_random_records_never_crash(cls: type[Detector], data: st.DataObject) -> None:
    det = cls(cls.Params(), CONTEXT)
    batch = data.draw(
        st.lists(st.one_of(*(records_of(t) for t in cls.consumes)), min_size=1, max_size=30)
    )
    for i, rec in enumerate(batch):
        det.observe(rec, i // 10)
        if i % 7 == 6:
            det.close_window(i // 10 - 1)
    det.close_window(2**62)


def test_unicode_digits_in_addresses_do_not_crash() -> None:
    """Found by this file's fuzz test: "²".isdigit() is True, int("²") raises."""
    det = DeviceChangingIp(DeviceChangingIp.Params(), CONTEXT)
    det.observe(DhcpRecord(0.0, (), "", "", "aa:bb:cc:dd:ee:ff", "", "", "²", ()), 0)
    det.observe(DhcpRecord(1.0, (), "", "", "aa:bb:cc:dd:ee:ff", "", "", "10.0.0.7", ()), 0)
    det.close_window(2**62)  # reached without raising
    assert not is_private("172.²³.0.1") and is_private("172.16.0.1")
    assert _connections_in("x (seen in ²³ connections).") is None
    assert _connections_in("x (seen in 30 connections).") == 30
