"""What a full memory cap costs each detector is counted: every entry a cap made it
evict or refuse lands in `Detector.state_overflow`, by what (summary.json, /metrics).

Each test shrinks one cap, overflows it by a known amount and checks the exact count
and, where cheap, that the entries that were kept still work.
"""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace

import pytest

from detection.heuristics import weird_http_method
from detection.heuristics.arp_mitm import ArpMitm, ArpMitmParams
from detection.heuristics.connection_without_dns import (
    ConnectionWithoutDns,
    ConnectionWithoutDnsParams,
)
from detection.heuristics.dns_without_connection import (
    DnsWithoutConnection,
    DnsWithoutConnectionParams,
)
from detection.heuristics.multiple_user_agents import MultipleUserAgents, MultipleUserAgentsParams
from detection.heuristics.non_tls_port_443 import NonTlsPort443, NonTlsPort443Params
from detection.heuristics.pastebin_download import PastebinDownload, PastebinDownloadParams
from detection.heuristics.plain_http import PlainHttp, PlainHttpParams
from detection.heuristics.ssh_password_guessing import (
    SshPasswordGuessing,
    SshPasswordGuessingParams,
)
from detection.heuristics.ssh_successful_login import SshSuccessfulLogin, SshSuccessfulLoginParams
from detection.heuristics.unknown_port import UnknownPort, UnknownPortParams
from detection.heuristics.weird_http_method import WeirdHttpMethod, WeirdHttpMethodParams
from detection.ml.https_anomaly import HttpsAnomaly, HttpsAnomalyParams
from detection.model import ArpRecord, Flow, Record

FlowFactory = Callable[..., Flow]


def test_arp_mitm_counts_bindings_refused(rec: SimpleNamespace) -> None:
    det = ArpMitm(ArpMitmParams(max_bindings=2))
    gateway = ArpRecord(
        100.0, "reply", "aa:aa:aa:aa:aa:01", "bb:bb:bb:bb:bb:02", "192.168.1.1", "192.168.1.20",
        "aa:aa:aa:aa:aa:01", "bb:bb:bb:bb:bb:02",
    )  # fmt: skip
    mac, new = "cc:cc:cc:cc:cc:03", "dd:dd:dd:dd:dd:04"
    attacker = gateway._replace(ts=110.0, src_mac=mac, src_hw=mac, saddr="192.168.1.66")
    newcomer = gateway._replace(ts=115.0, src_mac=new, src_hw=new, saddr="192.168.1.70")
    spoof = attacker._replace(ts=120.0, saddr="192.168.1.1")
    (ev,) = rec.drive(det, [gateway, attacker, newcomer, spoof])
    assert det.state_overflow == {"bindings_refused": 2}  # the newcomer's MAC and its IP
    assert (ev.attacker, ev.victim) == ("192.168.1.66", "192.168.1.1")  # kept bindings work


def test_dns_without_connection_counts_contacts_evicted_and_queries_refused(
    rec: SimpleNamespace,
) -> None:
    det = DnsWithoutConnection(DnsWithoutConnectionParams(max_pending=2, max_contacted=2))
    records: list[Record] = [
        rec.dns("a.example.net", ("45.0.0.1",), saddr="10.0.0.5", ts=10.0),
        rec.dns("b.example.net", ("45.0.0.2",), saddr="10.0.0.5", ts=11.0),
        rec.dns("c.example.net", ("45.0.0.3",), saddr="10.0.0.5", ts=12.0),  # refused
        rec.dns("a.example.net", ("45.0.0.1",), saddr="10.0.0.5", ts=13.0),  # pending already
        rec.flow("10.0.0.5", "45.0.0.1", ts=20.0),
        rec.flow("10.0.0.5", "45.0.0.9", ts=21.0),
        rec.flow("10.0.0.5", "45.0.0.2", ts=22.0),  # 45.0.0.1's contact is forgotten
        rec.flow("10.0.0.6", "10.0.0.7", 1, ts=5000.0),  # 45.0.0.9's too; the wait is over
    ]
    (ev,) = rec.drive(det, records)
    assert det.state_overflow == {"pending_refused": 1, "contacted_evicted": 2}
    # The cost: a.example.net was used, but its contact was forgotten; b's was kept.
    assert ev.description.startswith("10.0.0.5 resolved a.example.net to 45.0.0.1")


def test_multiple_user_agents_counts_hosts_refused(rec: SimpleNamespace) -> None:
    det = MultipleUserAgents(MultipleUserAgentsParams(max_hosts=2))
    records = [
        rec.http(f"10.0.0.{host}", ts=100.0 + i, ua=f"Agent/{i}")
        for host in range(1, 5)
        for i in range(5)
    ]
    evs = rec.drive(det, records)
    assert det.state_overflow == {"hosts_refused": 10}  # 2 hosts x 5 requests
    assert [(e.attacker, e.count) for e in evs] == [("10.0.0.1", 5), ("10.0.0.2", 5)]


def test_plain_http_counts_hosts_refused(rec: SimpleNamespace) -> None:
    det = PlainHttp(PlainHttpParams(max_hosts=2))
    records = [rec.http(f"10.0.0.{i}", ts=100.0 + i) for i in range(1, 6)]
    evs = rec.drive(det, [*records, rec.http("10.0.0.1", ts=200.0)])
    assert det.state_overflow == {"hosts_refused": 3}
    assert [(e.attacker, e.count) for e in evs] == [("10.0.0.1", 2), ("10.0.0.2", 1)]


def test_pastebin_download_counts_addresses_cleared(rec: SimpleNamespace) -> None:
    det = PastebinDownload(PastebinDownloadParams(max_addresses=2))
    answers = tuple(f"45.0.0.{i}" for i in range(1, 6))
    # Learning 45.0.0.3 clears {1, 2}; learning 45.0.0.5 clears {3, 4}.
    download = rec.flow(daddr="45.0.0.5", dport=443, dbytes=5000, ts=101.0)
    forgotten = download._replace(daddr="45.0.0.1", ts=102.0)
    (ev,) = rec.drive(det, [rec.dns("pastebin.com", answers), download, forgotten])
    assert det.state_overflow == {"addresses_evicted": 4}
    assert ev.victim == "45.0.0.5"


def test_ssh_password_guessing_counts_pairs_and_confirmations_refused(
    rec: SimpleNamespace,
) -> None:
    det = SshPasswordGuessing(SshPasswordGuessingParams(max_pairs=1))
    records = [rec.ssh(ts=100.0 + i) for i in range(9)]  # the one pair kept
    records += [rec.ssh("10.0.0.2", ts=110.0 + i) for i in range(3)]  # refused
    records += [rec.notice("203.0.113.5"), rec.notice("203.0.113.6")]  # the second refused
    evs = rec.drive(det, records)
    assert det.state_overflow == {"pairs_refused": 3, "confirmed_refused": 1}
    assert [(e.attacker, e.count) for e in evs] == [
        ("10.0.0.1", 9),
        ("203.0.113.5", 30),
        ("203.0.113.6", 30),  # a notice is still evidence without its confirmation kept
    ]


def test_ssh_successful_login_counts_records_and_flows_refused(rec: SimpleNamespace) -> None:
    det = SshSuccessfulLogin(SshSuccessfulLoginParams(max_pending=1))
    records: list[Record] = [
        rec.ssh(success=None, attempts=0, uid="S1"),
        rec.ssh(success=None, attempts=0, uid="S2"),  # refused: S1 waits for its flow
        rec.flow(daddr="10.0.0.9", dport=22, sbytes=3000, dbytes=9000, uid="S1"),
    ]
    records += [rec.flow(daddr="10.0.0.9", dport=22, uid=f"F{i}") for i in range(3)]
    (ev,) = rec.drive(det, records)
    assert det.state_overflow == {"ssh_records_refused": 1, "flows_refused": 2}
    assert ev.uids == ("S1",) and "12000 bytes moved" in ev.description


def test_weird_http_method_counts_keys_refused(
    rec: SimpleNamespace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(weird_http_method, "_MAX_KEYS", 2)
    det = WeirdHttpMethod(WeirdHttpMethodParams())
    evs = rec.drive(det, [rec.weird(addl=m) for m in ("XA", "XB", "XC", "XD", "XA")])
    assert det.state_overflow == {"keys_refused": 2}
    assert len(evs) == 2 and "'XA'" in evs[0].description and "'XB'" in evs[1].description


def test_unrecognised_service_counts_pending_refused(rec: SimpleNamespace) -> None:
    det = NonTlsPort443(NonTlsPort443Params(max_pending=2))
    records = [rec.flow(ts=1.0, service="dns", dport=53)]  # the input names services
    records += [rec.flow(daddr=f"45.0.0.{i}", ts=10.0 + i, uid=f"C{i}") for i in range(1, 6)]
    evs = rec.drive(det, records)
    assert det.state_overflow == {"pending_refused": 3}
    assert [e.victim for e in evs] == ["45.0.0.1", "45.0.0.2"]


def test_https_anomaly_counts_servers_ja3_and_byte_series_evicted(rec: SimpleNamespace) -> None:
    det = HttpsAnomaly(
        HttpsAnomalyParams(max_servers_per_host=2, max_ja3_per_host=2, max_byte_series=2)
    )
    handshakes = [
        rec.ssl("10.0.0.5", "45.0.0.1", ts=100.0 + i, sni=sni)._replace(ja3=ja3)
        for i, (sni, ja3) in enumerate(
            [("www.a.com", "j1"), ("www.b.com", "j2"), ("www.c.com", "j3"), ("www.a.com", "j3")]
        )
    ]
    flows = [rec.flow("10.0.0.5", f"45.0.0.{i}", service="ssl", ts=200.0 + i) for i in (1, 2, 3, 1)]
    assert rec.drive(det, handshakes + flows, close=False) == []
    # c.com pushed a.com out, so a.com came back as new and pushed b.com out; j3 pushed
    # j1 out; 45.0.0.3 pushed 45.0.0.1's byte series out, and 45.0.0.1 then 45.0.0.2's.
    assert det.state_overflow == {"servers_evicted": 2, "ja3_evicted": 1, "byte_series_evicted": 2}
    assert det._hosts["10.0.0.5"].new_servers == 4  # the cost: a.com counted new twice
    assert det.footprint()["byte_series"] == 2


def test_unknown_port_counts_p2p_pairs_evicted(flow_factory: FlowFactory) -> None:
    det = UnknownPort(UnknownPortParams(p2p_min_peers=5, max_p2p_peers=3))
    # One UDP socket talking to 5 peers on random ports: peer-to-peer, 5 pairs into 3.
    flows = [
        flow_factory("10.0.0.5", f"45.0.0.{i}", 4000 + i, proto="udp", established=True)
        for i in range(1, 6)
    ]
    for f in flows:
        assert det.observe(f._replace(sport=1701), 0) is None
    evs = det.close_window(2**62) or ()
    assert det.state_overflow == {"p2p_pairs_evicted": 2}
    assert len(evs) == 2  # the cost: the two forgotten peers are reported as unknown ports


def test_connection_without_dns_counts_servers_evicted(
    rec: SimpleNamespace, flow_factory: FlowFactory
) -> None:
    det = ConnectionWithoutDns(ConnectionWithoutDnsParams())
    servers = ["45.0.0.1", "45.0.0.2", "45.0.0.3"]
    servers += [f"10.1.{i // 250}.{i % 250 + 1}" for i in range(10_000 - 2)]
    # 10,001 DNS servers into the fixed 10,000: 45.0.0.1 goes; then the query's
    # resolver (10.0.0.53) is one more: 45.0.0.2 goes.
    records: list[Record] = [
        flow_factory("10.0.0.5", s, 53, proto="udp", established=True, ts=1.0) for s in servers
    ]
    records.append(rec.dns("example.com", ("203.0.113.9",), saddr="10.0.0.5", ts=2.0))
    records += [flow_factory("10.0.0.5", s, 443, established=True) for s in servers[:3]]
    records.append(flow_factory("10.0.0.6", "10.0.0.7", 1, ts=5000.0))  # time moves on
    evs = rec.drive(det, records)
    assert det.state_overflow == {"servers_evicted": 2}
    # The cost: two forgotten DNS servers look like raw-IP destinations; 45.0.0.3 is known.
    assert sorted(e.victim or "" for e in evs) == ["45.0.0.1", "45.0.0.2"]
