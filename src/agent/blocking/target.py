"""What can be banned: one address or one network, normalised once.

Every value that reaches a backend, the guard or the store goes through
`parse_target`, so they all agree on one spelling:

* an IPv4-mapped IPv6 address or network (``::ffff:1.2.3.4``) becomes the IPv4
  one it maps — the kernel sees IPv4 packets from that host, so an entry in the
  IPv6 set would never match;
* a CIDR with host bits set is reduced to its network (``10.0.0.5/24`` →
  ``10.0.0.0/24``); a /32 or /128 is a single address;
* with ``ipv6_prefix=64`` a single IPv6 address is widened to its /64 (one
  host usually owns the whole /64, and rotating addresses inside it is free);
* zone ids (``fe80::1%eth0``), empty strings and anything else that is not an
  address or a network raise `BadTarget`, a ValueError naming the input.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Literal

__all__ = ["BadTarget", "Network", "Target", "parse_target", "unmap"]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Scope = Literal["ip", "range"]
_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")


class BadTarget(ValueError):
    """The value is not an IP address or CIDR network (the operator's input is at fault)."""


@dataclass(frozen=True, slots=True)
class Target:
    """A normalised ban target: `value` is ``"1.2.3.4"`` or ``"10.0.0.0/24"``."""

    value: str
    version: Literal[4, 6]
    is_range: bool

    @property
    def scope(self) -> Scope:
        return "range" if self.is_range else "ip"

    @property
    def network(self) -> Network:
        return ipaddress.ip_network(self.value)

    def __str__(self) -> str:
        return self.value


def unmap(net: Network) -> Network:
    """An IPv4-mapped IPv6 network becomes the IPv4 network it maps; others are unchanged."""
    if isinstance(net, ipaddress.IPv6Network) and net.prefixlen >= 96 and net.subnet_of(_MAPPED):
        mapped = net.network_address.ipv4_mapped
        if mapped is not None:
            return ipaddress.IPv4Network((int(mapped), net.prefixlen - 96))
    return net


def parse_target(text: str, *, ipv6_prefix: int = 128) -> Target:
    """Normalise `text` (an address or CIDR); raises `BadTarget` with the reason."""
    raw = text.strip() if isinstance(text, str) else ""
    if not raw:
        raise BadTarget(f"not an IP address or CIDR network: {text!r}")
    if "%" in raw:
        raise BadTarget(f"zone ids are not allowed in a ban: {text!r}")
    try:
        net: Network = ipaddress.ip_network(raw, strict=False)
    except ValueError:
        raise BadTarget(f"not an IP address or CIDR network: {text!r}") from None
    net = unmap(net)
    if net.version == 6 and net.prefixlen > ipv6_prefix:
        net = net.supernet(new_prefix=ipv6_prefix)
    version: Literal[4, 6] = 4 if net.version == 4 else 6
    if net.prefixlen == net.max_prefixlen:
        return Target(str(net.network_address), version, False)
    return Target(str(net), version, True)
