"""TCP endpoint states and Zeek's `conn_state`, one table of rules.

Theory of operation
-------------------
Each side of a connection is in one state (Zeek's endpoint states):

==============  =============================================================
INACTIVE        sent nothing yet
SYN_SENT        sent a SYN (without ACK)
SYN_ACK_SENT    the originator sent a SYN+ACK (odd: it should be the responder)
PARTIAL         sent packets, but no SYN was seen (picked up mid-stream)
ESTABLISHED     the handshake completed: the responder's SYN+ACK answered the
                originator's SYN (both sides become ESTABLISHED then)
CLOSED          sent a FIN
RESET           sent a RST (ignored once both sides are CLOSED: a RST after a
                normal close does not turn SF into RSTO)
==============  =============================================================

The engine moves the states packet by packet (`engine.PacketEngine._tcp`);
`tcp_conn_state` maps the final pair to the ``conn_state`` Zeek logs, with
the rules of Zeek's ``base/protocols/conn/main.zeek`` (checked in this order):

* responder RESET: REJ if the originator only tried (SYN_SENT/SYN_ACK_SENT)
  or both reset with no payload; RSTRH if the originator was inactive or
  partial; else RSTR;
* originator RESET: RSTOS0 if the responder was inactive/partial and the
  history is a SYN followed by the RST (``S`` then no H/A/F/G/I/Q before R);
  OTH if the responder was inactive/partial otherwise; else RSTO;
* both CLOSED: SF; originator CLOSED: SH if the responder was
  inactive/partial, else S2; responder CLOSED: SHR if the originator was
  inactive/partial, else S3;
* SYN_SENT and an INACTIVE responder: S0; both ESTABLISHED: S1; else OTH.
"""

from __future__ import annotations

import re

__all__ = [
    "CLOSED",
    "ESTABLISHED",
    "INACTIVE",
    "PARTIAL",
    "RESET",
    "SYN_ACK_SENT",
    "SYN_SENT",
    "tcp_conn_state",
]

INACTIVE, SYN_SENT, SYN_ACK_SENT, PARTIAL, ESTABLISHED, CLOSED, RESET = range(7)

_RSTOS0 = re.compile(r"\^?S[^HAFGIQ]*R.*")


def tcp_conn_state(orig: int, resp: int, orig_bytes: int, resp_bytes: int, history: str) -> str:
    o_inactive = orig in (INACTIVE, PARTIAL)
    r_inactive = resp in (INACTIVE, PARTIAL)
    if resp == RESET:
        if orig in (SYN_SENT, SYN_ACK_SENT) or (
            orig == RESET and orig_bytes == 0 and resp_bytes == 0
        ):
            return "REJ"
        return "RSTRH" if o_inactive else "RSTR"
    if orig == RESET:
        if r_inactive:
            return "RSTOS0" if _RSTOS0.fullmatch(history) else "OTH"
        return "RSTO"
    if orig == CLOSED and resp == CLOSED:
        return "SF"
    if orig == CLOSED:
        return "SH" if r_inactive else "S2"
    if resp == CLOSED:
        return "SHR" if o_inactive else "S3"
    if orig == SYN_SENT and resp == INACTIVE:
        return "S0"
    if orig == ESTABLISHED and resp == ESTABLISHED:
        return "S1"
    return "OTH"
