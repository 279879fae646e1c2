from __future__ import annotations

from types import SimpleNamespace

from detection.heuristics.pastebin_download import PastebinDownload, PastebinDownloadParams
from detection.model import ThreatLevel

PASTE_IP = "104.20.67.143"


def _det() -> PastebinDownload:
    return PastebinDownload(PastebinDownloadParams())


def test_http_download_of_a_paste(rec: SimpleNamespace) -> None:
    r = rec.http(daddr=PASTE_IP, host="pastebin.com", uri="/raw/abc", resp_len=700, uid="H1")
    (ev,) = rec.drive(_det(), [r])
    assert ev.type == "pastebin_download"
    assert (ev.attacker, ev.victim, ev.dport) == ("10.0.0.1", PASTE_IP, 80)
    assert ev.threat_level is ThreatLevel.LOW and ev.attack_technique == "T1102"
    assert ev.description == (
        "Download from paste site pastebin.com (104.20.67.143) by 10.0.0.1: 700 bytes over "
        "HTTP (1 download in this window)"
    )


def test_small_pastes_and_other_sites_are_quiet(rec: SimpleNamespace) -> None:
    records = [rec.http(host="pastebin.com", resp_len=699), rec.http(host="notpastebin.com")]
    assert rec.drive(_det(), records) == []


def test_tls_download_to_an_address_the_client_resolved(rec: SimpleNamespace) -> None:
    dns = rec.dns("pastebin.com", (PASTE_IP, "2606:4700::6814:438f"))
    tls = rec.flow(daddr=PASTE_IP, dport=443, dbytes=5000, uid="T1", ts=101.0)
    (ev,) = rec.drive(_det(), [dns, tls])
    assert (ev.attacker, ev.victim, ev.dport, ev.uids) == ("10.0.0.1", PASTE_IP, 443, ("T1",))
    assert "5000 bytes over TLS" in ev.description and ev.confidence == 0.5


def test_tls_flows_that_are_not_paste_downloads(rec: SimpleNamespace) -> None:
    dns = rec.dns("pastebin.com", (PASTE_IP,))
    records = [
        dns,
        rec.flow(daddr=PASTE_IP, dport=443, dbytes=600),  # too small
        rec.flow("10.0.0.2", PASTE_IP, 443, dbytes=5000),  # another client, same CDN address
        rec.flow(daddr="198.51.100.1", dport=443, dbytes=5000),
        rec.flow(daddr=PASTE_IP, dport=80, dbytes=5000),  # HTTP: http.log speaks
    ]
    assert rec.drive(_det(), records) == []


def test_address_learnt_from_the_tls_server_name(rec: SimpleNamespace) -> None:
    ssl = rec.ssl(daddr=PASTE_IP, sni="pastebin.com")
    flows = [rec.flow(daddr=PASTE_IP, dport=443, dbytes=900, ts=200.0 + i) for i in range(12)]
    assert [e.count for e in rec.drive(_det(), [ssl, *flows])] == [1, 10]
