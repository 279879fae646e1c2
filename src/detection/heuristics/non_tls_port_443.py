"""Non-TLS traffic on 443: an established, non-empty TCP flow to port 443 that the
sensor did not recognise as TLS/SSL, with no TLS seen for the same pair nearby.

Why: 443 is let through almost every firewall, so malware runs its own
protocol (or plain HTTP) over it to blend in. Semantics follow Slips'
NON_SSL_PORT_443_CONNECTION (established, non-empty, no SSL flow of the same
source and destination within ±5 min: Slips' numbers, reused as defaults).
The decision is deferred to the window's close (`_protocols.UnrecognisedServiceOnPort`).
One evidence per (source, destination) and window, at most
`max_reports_per_source` per source. MEDIUM, confidence 0.7-0.9 by flow count.
"""

from __future__ import annotations

from detection.heuristics._protocols import UnrecognisedServiceOnPort, UnrecognisedServiceParams
from detection.model import Flow, SslRecord

__all__ = ["NonTlsPort443", "NonTlsPort443Params"]


class NonTlsPort443Params(UnrecognisedServiceParams):
    pass


class NonTlsPort443(UnrecognisedServiceOnPort):
    name = "non_tls_port_443"
    consumes = (Flow, SslRecord)
    Params = NonTlsPort443Params
    port = 443
    service_words = ("ssl", "tls", "quic")
    protocol = "TLS"
