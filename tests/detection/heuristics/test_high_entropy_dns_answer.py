from __future__ import annotations

from detection.heuristics._scans_dns import shannon_entropy
from detection.heuristics.high_entropy_dns_answer import (
    HighEntropyDnsAnswer,
    HighEntropyDnsAnswerParams,
)
from detection.model import DnsRecord, ThreatLevel

PAYLOAD = "TXT 64 " + "".join(chr(33 + (i * 37) % 90) for i in range(64))
BASE = DnsRecord(
    100.0, "D1", "10.0.0.5", 5555, "10.0.0.53", 53, "udp", "c2.example.com", "TXT", "NOERROR",
    (PAYLOAD,),
)  # fmt: skip


def test_random_txt_answer_is_reported() -> None:
    det = HighEntropyDnsAnswer(HighEntropyDnsAnswerParams())
    assert shannon_entropy(PAYLOAD) > 5.5
    (ev,) = det.observe(BASE, 0) or ()
    assert ev.type == "high_entropy_dns_answer" and ev.attacker == "10.0.0.5"
    assert ev.victim is None and ev.uids == ("D1",)
    assert ev.threat_level is ThreatLevel.MEDIUM and ev.attack_technique == "T1071.004"
    assert ev.description.startswith(
        f"DNS TXT answer with high entropy ({shannon_entropy(PAYLOAD):.2f} bits/char, 71 chars) "
        "for 'c2.example.com', between 10.0.0.5 and 10.0.0.53"
    )
    assert det.observe(BASE._replace(ts=101.0), 0) is None  # once per query and window


def test_mdns_announcement_is_low() -> None:
    det = HighEntropyDnsAnswer(HighEntropyDnsAnswerParams())
    mdns = BASE._replace(daddr="224.0.0.251", query="printer._ipp._tcp.local")
    (ev,) = det.observe(mdns, 0) or ()
    assert ev.threat_level is ThreatLevel.LOW


def test_ordinary_answers_are_quiet() -> None:
    det = HighEntropyDnsAnswer(HighEntropyDnsAnswerParams())
    spf = BASE._replace(answers=("TXT 38 v=spf1 include:_spf.example.com ~all",))
    # 31 characters can never reach 5 bits/char (at most log2(31))
    short = BASE._replace(answers=("TXT 24 " + "abcdefghijklmnopqrstuvwx",))
    a_record = BASE._replace(qtype="A", answers=(PAYLOAD[7:],))
    assert shannon_entropy(short.answers[0]) < 5.0
    quiet = (spf, short, a_record, BASE._replace(answers=()))
    assert [e for r in quiet for e in det.observe(r, 0) or ()] == []
