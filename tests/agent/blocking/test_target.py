"""Ban targets: one spelling per address or network, bad input named."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent.blocking.target import BadTarget, parse_target


@pytest.mark.parametrize(
    ("text", "value", "version", "scope"),
    [
        ("1.2.3.4", "1.2.3.4", 4, "ip"),
        (" 1.2.3.4\n", "1.2.3.4", 4, "ip"),
        ("1.2.3.4/32", "1.2.3.4", 4, "ip"),
        ("10.0.0.5/24", "10.0.0.0/24", 4, "range"),
        ("::ffff:1.2.3.4", "1.2.3.4", 4, "ip"),  # IPv4-mapped: the IPv4 packets' source
        ("::ffff:10.0.0.0/120", "10.0.0.0/24", 4, "range"),
        ("2001:DB8::1", "2001:db8::1", 6, "ip"),
        ("2001:db8::1/128", "2001:db8::1", 6, "ip"),
        ("2001:db8::/48", "2001:db8::/48", 6, "range"),
    ],
)
def test_normalised(text: str, value: str, version: int, scope: str) -> None:
    t = parse_target(text)
    assert (t.value, t.version, t.scope) == (value, version, scope)
    assert parse_target(t.value) == t  # idempotent


def test_ipv6_prefix_64_widens_addresses_only() -> None:
    assert parse_target("2001:db8:1:2:3:4:5:6", ipv6_prefix=64).value == "2001:db8:1:2::/64"
    assert parse_target("2001:db8::/48", ipv6_prefix=64).value == "2001:db8::/48"
    assert parse_target("1.2.3.4", ipv6_prefix=64).value == "1.2.3.4"
    assert parse_target("::ffff:1.2.3.4", ipv6_prefix=64).value == "1.2.3.4"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "not an IP"),
        ("   ", "not an IP"),
        ("bogus", "not an IP"),
        ("1.2.3.4.5", "not an IP"),
        ("1.2.3.4/33", "not an IP"),
        ("10.0.0.0/-1", "not an IP"),
        ("fe80::1%eth0", "zone ids"),
    ],
)
def test_bad_input_is_named(text: str, message: str) -> None:
    with pytest.raises(BadTarget, match=message):
        parse_target(text)


@given(st.ip_addresses())
def test_any_address_round_trips(addr: ipaddress.IPv4Address | ipaddress.IPv6Address) -> None:
    t = parse_target(str(addr))
    assert parse_target(t.value) == t
    assert t.scope == "ip"
    mapped = addr.ipv4_mapped if isinstance(addr, ipaddress.IPv6Address) else None
    assert t.value == str(mapped or addr)
