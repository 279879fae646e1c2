"""Non-HTTP traffic on 80: an established, non-empty TCP flow to port 80 that the
sensor did not recognise as HTTP, with no HTTP seen for the same pair nearby.

Why: like 443, port 80 passes most firewalls, and a custom C&C protocol on it
is a classic way to hide. Semantics follow Slips' NON_HTTP_PORT_80_CONNECTION
(established TCP/80 not recognised as HTTP, matched against past and future
HTTP flows of the pair; the ±5 min matching span is Slips' number for 443,
reused here). The decision is deferred to the window's close
(`_protocols.UnrecognisedServiceOnPort`). One evidence per (source,
destination) and window, at most `max_reports_per_source` per source. MEDIUM,
confidence 0.7-0.9 by flow count.
"""

from __future__ import annotations

from detection.heuristics._protocols import UnrecognisedServiceOnPort, UnrecognisedServiceParams
from detection.model import Flow, HttpRecord

__all__ = ["NonHttpPort80", "NonHttpPort80Params"]


class NonHttpPort80Params(UnrecognisedServiceParams):
    pass


class NonHttpPort80(UnrecognisedServiceOnPort):
    name = "non_http_port_80"
    consumes = (Flow, HttpRecord)
    Params = NonHttpPort80Params
    port = 80
    service_words = ("http",)
    protocol = "HTTP"
