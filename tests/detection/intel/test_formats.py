"""Feed formats: one sample per format on the feed lists (written by us in each
feed's format, tests/data/intel/feeds), Slips' local files (copies, tests/data/
intel/local), garbage, and fuzzing (never raises; values are normalised)."""

from __future__ import annotations

import calendar
import gc
import gzip
import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detection.intel.formats import parse_feed, parse_first_seen
from detection.intel.model import Ioc, IocKind, ParsedFeed, classify, normalise
from detection.model import ThreatLevel

DATA = Path(__file__).resolve().parents[2] / "data" / "intel"

IP, CIDR, DOMAIN, URL = IocKind.IP, IocKind.CIDR, IocKind.DOMAIN, IocKind.URL
MD5, SHA1, JA3, JARM, ASN = IocKind.MD5, IocKind.SHA1, IocKind.JA3, IocKind.JARM, IocKind.ASN
MEDIUM, HIGH, CRITICAL = ThreatLevel.MEDIUM, ThreatLevel.HIGH, ThreatLevel.CRITICAL


def feed(name: str, hint: str = "ti") -> ParsedFeed:
    return parse_feed((DATA / "feeds" / name).read_bytes(), hint)


def local(name: str, hint: str = "ti") -> ParsedFeed:
    return parse_feed((DATA / "local" / name).read_bytes(), hint)


def utc(text: str, fmt: str = "%Y-%m-%d %H:%M:%S") -> float:
    """Epoch seconds of a UTC date, computed independently of the parser."""
    return float(calendar.timegm(time.strptime(text, fmt)))


def day(text: str) -> float:
    return utc(text, "%Y-%m-%d")


def plain(*values: str, kind: IocKind = IP) -> list[Ioc]:
    return [Ioc(kind, v) for v in values]


# --- CSV feeds ------------------------------------------------------------------------


def test_ctu_aip_blacklist_header_row_and_crlf() -> None:
    parsed = feed("AIP_blacklist_for_IPs_seen_last_24_hours.csv")
    assert parsed.format == "csv"
    assert parsed.iocs == [
        *plain("192.0.2.10", "198.51.100.23", "203.0.113.5"),
        Ioc(IP, "2001:db8::dead:beef"),
    ]
    assert parsed.skipped == {"header": 1, "duplicate": 1, "bad_value": 1}


def test_civilsphere_commented_header_and_odd_rows() -> None:
    parsed = feed("strangereallintel-cyberthreatintel.csv")
    assert parsed.format == "csv"
    assert parsed.iocs == [
        Ioc(DOMAIN, "cdn-loader.example.com", "Magecart URL delivery", day("2020-05-31")),
        Ioc(IP, "192.0.2.44", "Magecart IP C2", day("2020-05-31")),
        Ioc(
            URL,
            "http://cdn-loader.example.com/image/catalog/review/jjs.js",
            "Magecart URL delivery",
            day("2020-05-31"),
        ),
        Ioc(DOMAIN, "update-check.example.net", "Dridex URL delivery", day("2020-05-01")),
        Ioc(DOMAIN, "dropper.example.org", "Neutrino Domain C2", day("2020-02-08")),
        Ioc(
            URL,
            "http://panel.example.info:4455/is-ready",
            "HTTP/HTTPS requests",
            day("2019-08-26"),
        ),
        Ioc(URL, "http://198.51.100.7/load.php", "url delivery", day("2020-04-27")),
    ]
    # "domain,Domain,softcheck.example.biz,...": a shifted row, its value is "Domain"
    assert parsed.skipped == {"bad_value": 1}


def test_civilsphere_quoted_header_row_slash_dates_and_missing_dates() -> None:
    parsed = feed("adserversandtrackers.csv")
    assert parsed.iocs == [
        Ioc(
            DOMAIN,
            "tracker.example.com",
            "exodus::tracker::https://reports.example.org/trackers/1/",
            day("2020-11-14"),
        ),
        Ioc(
            DOMAIN,
            "ads.example.net",
            "webanalytics::https://sitereview.example.org/#/lookup-result/ads.example.net",
        ),
        Ioc(
            DOMAIN,
            "pixel.example.org",
            "tracker::https://sitereview.example.org/#/lookup-result/pixel.example.org",
        ),
    ]
    assert parsed.skipped == {"header": 1}


def test_stalkerware_network_csv() -> None:
    parsed = feed("stalkerware_network.csv")
    assert parsed.iocs == [
        Ioc(DOMAIN, "sync.spyapp.example.com", "ExampleSpy"),
        Ioc(DOMAIN, "my.spyapp.example.com", "ExampleSpy"),
        Ioc(IP, "192.0.2.77", "ExampleSpy"),
        Ioc(IP, "198.51.100.99", "OtherSpy"),  # an address in a "domain" row is kept
        Ioc(DOMAIN, "upload.otherspy.example.net", "OtherSpy"),
        Ioc(IP, "2001:db8::1", "OtherSpy"),
    ]
    assert parsed.skipped == {"header": 1}


def test_targetedthreats_quoted_fields_and_non_network_types() -> None:
    parsed = feed("targetedthreats.csv")
    assert parsed.iocs == [
        Ioc(IP, "192.0.2.28", "XtremeRAT"),
        Ioc(DOMAIN, "rat-c2.example.info", "DarkComet"),
        Ioc(DOMAIN, "awrasx10.example.biz"),
        Ioc(IP, "198.51.100.162", "FinFisher"),
    ]
    # an email address and "update.exe" (which classify() alone would call a domain)
    assert parsed.skipped == {"header": 1, "unsupported_type": 2}


def test_orange_cyberdefense_csv_with_quoted_lists() -> None:
    parsed = feed("OCD-Datalake-russia-ukraine_IOCs-ALL.csv")
    assert parsed.iocs == [
        Ioc(DOMAIN, "gamaredon-c2.example.ru", first_seen=day("2021-08-12")),
        Ioc(DOMAIN, "phish-login.example.online", first_seen=utc("2020-11-23 20:43:55")),
        Ioc(IP, "198.51.100.81", first_seen=utc("2022-02-24 04:00:00")),
        Ioc(URL, "http://payload.example.xyz/Loader.EXE", first_seen=utc("2022-01-13 10:20:30")),
    ]
    assert parsed.skipped == {"header": 1}


@pytest.mark.parametrize(
    "name", ["feodotracker_ipblocklist.csv", "feodotracker_ipblocklist_unquoted.csv"]
)
def test_feodotracker_commented_header(name: str) -> None:
    parsed = feed(name)
    assert parsed.format == "csv"
    expected = [
        Ioc(IP, "192.0.2.61", "Emotet", utc("2021-05-16 19:25:50")),
        Ioc(IP, "198.51.100.62", "QakBot", utc("2023-11-30 08:00:00")),
        Ioc(IP, "203.0.113.63", "Pikabot", utc("2023-12-24 23:59:59")),
    ]
    assert parsed.iocs == (expected if "unquoted" not in name else expected[:1])
    assert parsed.skipped == {}


def test_abuse_ch_ja3_fingerprints() -> None:
    parsed = feed("sslbl_ja3_fingerprints.csv", "ja3")
    assert parsed.format == "csv"
    assert parsed.iocs == [
        # listed twice: descriptions merged, the earlier first-seen date kept
        Ioc(
            JA3, "1aa7bf8b97e540ca5edd75f7b8384bfa", "TrickBot; Tofsee", utc("2017-07-10 00:00:00")
        ),
        Ioc(JA3, "8f52d1ce303fb4a6515836aec3cc16b1", "Dridex", utc("2017-07-15 19:05:11")),
    ]
    assert parsed.skipped == {"duplicate": 1}
    # the column name says JA3 whatever the feed list's kind
    assert [i.kind for i in feed("sslbl_ja3_fingerprints.csv", "ti").iocs] == [JA3, JA3]


def test_abuse_ch_ssl_blacklist() -> None:
    parsed = feed("sslbl_sslblacklist.csv", "ssl")
    asyncrat = "0a1b2c3d4e5f60718293a4b5c6d7e8f901234567"
    vidar = "fedcba9876543210fedcba9876543210fedcba98"  # upper case in the file
    assert parsed.iocs == [
        Ioc(SHA1, asyncrat, "AsyncRAT C&C", utc("2024-01-01 10:00:00")),
        Ioc(SHA1, vidar, "Vidar C&C", utc("2023-12-31 23:00:00")),
    ]
    assert parsed.skipped == {"bad_value": 1}


# --- plain lists ----------------------------------------------------------------------


def test_ipsum_count_column() -> None:
    parsed = feed("ipsum.txt")
    assert parsed.format == "plain"
    assert parsed.iocs == plain("192.0.2.1", "198.51.100.2", "203.0.113.3")
    assert parsed.skipped == {"duplicate": 1}


def test_alienvault_reputation_inline_comments() -> None:
    parsed = feed("reputation.generic")
    assert parsed.iocs == [
        Ioc(IP, "192.0.2.71", "Malicious Host; Scanning Host"),
        Ioc(IP, "198.51.100.72", "Scanning Host"),
        Ioc(IP, "203.0.113.73", "Spamming"),
    ]
    assert parsed.skipped == {"duplicate": 1}


def test_emerging_threats_block_ips() -> None:
    parsed = feed("emerging-Block-IPs.txt")
    assert parsed.format == "plain"
    assert parsed.iocs == [
        Ioc(CIDR, "192.0.2.0/24"),
        Ioc(CIDR, "198.51.100.0/22"),
        Ioc(CIDR, "203.0.113.0/24"),
        Ioc(IP, "203.0.113.77"),
    ]
    assert parsed.skipped == {}


def test_firehol_netset() -> None:
    parsed = feed("firehol_level1.netset")
    assert parsed.format == "netset"
    assert parsed.iocs == [
        Ioc(CIDR, "0.0.0.0/8"),
        Ioc(CIDR, "192.0.2.0/24"),
        Ioc(CIDR, "198.51.100.128/25"),
        Ioc(IP, "203.0.113.9"),
    ]


def test_plain_ip_lists_nerd_tor_digitalside() -> None:
    assert feed("nerd_bad_ips.txt").iocs == plain("192.0.2.31", "192.0.2.32", "198.51.100.33")
    assert feed("torbulkexitlist").iocs == plain("192.0.2.51", "198.51.100.52", "203.0.113.53")
    assert feed("digitalside_latestips.txt").iocs == plain("192.0.2.200", "198.51.100.201")


def test_blocklist_de_ipv6_and_leading_zeros() -> None:
    parsed = feed("blocklist_de_all.txt")
    assert parsed.iocs == plain("192.0.2.41", "198.51.100.42", "2001:db8::42", "2001:db8::43")
    assert parsed.skipped == {"bad_value": 1}  # 203.0.113.044: ambiguous octal-looking octet


def test_plain_domain_lists() -> None:
    assert feed("digitalside_latestdomains.txt").iocs == plain(
        "malware-drop.example.com", "payload-host.example.net", "mixed-case.example.org",
        kind=DOMAIN,
    )  # fmt: skip
    assert feed("hostsvn_domain.txt").iocs == plain(
        "ads.example.vn", "tracking.example.com.vn", "analytics.example.vn", kind=DOMAIN
    )
    assert feed("amnesty_nso_domains.txt").iocs == plain(
        "nso-redirect.example.com", "pegasus-check.example.net", "xn--bcher-kva.example",
        kind=DOMAIN,
    )  # fmt: skip


def test_hosts_file_takes_the_name_not_the_sinkhole() -> None:
    parsed = feed("adservers.txt")
    assert parsed.format == "hosts"
    assert parsed.iocs == [
        Ioc(DOMAIN, "ads.example.com"),
        Ioc(DOMAIN, "tracker.example.net", "analytics"),
        Ioc(DOMAIN, "banner.example.org"),
    ]
    assert parsed.skipped == {"local_name": 3, "duplicate": 1}
    # several names on one line, in file order
    multi = parse_feed("0.0.0.0 a.example.com b.example.net localhost # ads\n")
    assert multi.iocs == [
        Ioc(DOMAIN, "a.example.com", "ads"),
        Ioc(DOMAIN, "b.example.net", "ads"),
    ]
    assert multi.skipped == {"local_name": 1}


def test_spamhaus_drop_and_dropv6() -> None:
    assert feed("spamhaus_drop.txt").iocs == [
        Ioc(CIDR, "192.0.2.0/24", "SBL256894"),
        Ioc(CIDR, "198.51.100.0/23", "SBL290463"),
        Ioc(IP, "203.0.113.7", "SBL300000"),  # a /32 is an address
    ]
    assert feed("spamhaus_dropv6.txt").iocs == [
        Ioc(CIDR, "2001:db8::/32", "SBL303821"),
        Ioc(CIDR, "2001:db8:abcd:1::/64", "SBL304000"),
    ]


# --- Zeek intel -----------------------------------------------------------------------


def test_zeek_intel_types() -> None:
    parsed = feed("cps-collected-iocs.intel")
    assert parsed.format == "zeek-intel"
    assert parsed.iocs == [
        Ioc(IP, "192.0.2.101", "Cobalt Strike C2"),
        Ioc(DOMAIN, "c2.example.org"),
        Ioc(URL, "http://payload.example.net/stage2/dl.php", "Loader URL"),
        Ioc(URL, "https://secure.example.com/login", "Phishing page"),
        Ioc(MD5, "44d88612fea8a8f36de82e1278abb02f", "EICAR"),
        Ioc(IP, "2001:db8::101"),
    ]
    assert parsed.skipped == {"unsupported_type": 1, "type_mismatch": 1}


def test_zeek_intel_ja3_cert_hash_subnet_and_separator_line() -> None:
    parsed = feed("abuse-ch-ja3-and-certs.intel")
    assert parsed.iocs == [
        Ioc(JA3, "72a589da586844d7f0818ce684948eea", "Metasploit"),
        Ioc(SHA1, "0a1b2c3d4e5f60718293a4b5c6d7e8f901234567", "AsyncRAT"),
        Ioc(CIDR, "198.51.100.0/24", "Bad net"),
    ]


# --- JSON -----------------------------------------------------------------------------


def test_cert_pl_domains_json_skips_deleted_entries() -> None:
    parsed = feed("hole_cert_pl_domains.json")
    assert parsed.format == "json"
    assert parsed.iocs == [
        Ioc(DOMAIN, "bank-login.example.pl", first_seen=utc("2020-03-12 09:45:37")),
        Ioc(DOMAIN, "paczka-doplata.example.pl", first_seen=utc("2021-06-01 12:00:00") + 0.123),
    ]
    assert parsed.skipped == {"deleted": 1, "no_indicator": 1}


def test_rstcloud_json_lines_with_nested_ip_and_a_cut_last_line() -> None:
    parsed = feed("random100_ioc_ip_latest.json")
    assert parsed.format == "jsonl"
    # the ASN's first/last addresses and the ip object's CIDR are not indicators
    assert parsed.iocs == [
        Ioc(IP, "192.0.2.91", "redline_stealer_c2", 1672531200.0),
        Ioc(IP, "198.51.100.92", "mass scanner", 1690000000.0),
    ]
    assert parsed.skipped == {"bad_value": 1, "bad_json": 1}


def test_json_generic_shapes() -> None:
    document = {
        "meta": {"source": "feeds.example.org", "generated": "2024-01-01"},
        "data": [
            {"indicator": "192.0.2.1", "type": "ip", "threat_level": "high", "date_added": 0},
            {"type": "email", "value": "x@example.com"},
            {"type": "ip-dst", "value": "c2.example.com"},
            {"domains": ["a.example.com", "not a domain"], "description": ["APT", "C2"]},
            {"url": "hxxp://evil[.]example[.]com/x", "first_seen": "1700000000000"},
            {"sha256": "AB" * 32, "malware": "Ransom"},
            {"ja3": "E7D705A3286E19EA42F587B344EE6865"},
        ],
    }
    parsed = parse_feed(json.dumps(document))
    assert parsed.format == "json"
    assert parsed.iocs == [
        Ioc(IP, "192.0.2.1", threat_level=HIGH, first_seen=0.0),
        Ioc(DOMAIN, "a.example.com", "APT, C2"),
        Ioc(URL, "http://evil.example.com/x", first_seen=1700000000.0),
        Ioc(IocKind.SHA256, "ab" * 32, "Ransom"),
        Ioc(JA3, "e7d705a3286e19ea42f587b344ee6865"),
    ]
    assert parsed.skipped == {"unsupported_type": 1, "type_mismatch": 1, "bad_value": 1}
    # a bare array of strings
    assert parse_feed('["192.0.2.1", "evil.example.com", 7]').iocs == [
        Ioc(IP, "192.0.2.1"),
        Ioc(DOMAIN, "evil.example.com"),
    ]


def test_json_cut_in_half_keeps_the_complete_records() -> None:
    records = [{"DomainAddress": f"d{i}.example.pl", "DeleteDate": None} for i in range(10)]
    text = json.dumps(records)
    parsed = parse_feed(text[: len(text) // 2].encode())
    assert parsed.format == "json"
    assert 0 < len(parsed.iocs) < 10
    assert [i.value for i in parsed.iocs] == [f"d{i}.example.pl" for i in range(len(parsed.iocs))]
    assert parsed.skipped == {"truncated": 1}
    cut = parse_feed(b'{"data": [{"ip": "192.0.2.1"}, {"ip": "19')
    assert cut.iocs == [Ioc(IP, "192.0.2.1")]  # salvaged from the first array
    assert cut.skipped == {"truncated": 1}
    assert parse_feed(b'{"ip": "192.0.2.1", "fseen": 17').skipped == {"bad_json": 1}
    assert parse_feed(b'{"ip": "192.0.2.1", "fseen": 17').iocs == []


# --- Slips local files (copies of the real files) ---------------------------------------


def test_local_own_malicious_iocs() -> None:
    parsed = local("own_malicious_iocs.csv")
    assert parsed.format == "csv"
    assert parsed.skipped == {}
    assert len(parsed.iocs) == 14
    assert parsed.iocs[:3] == [
        Ioc(IP, "23.253.126.58", "Simda CC", threat_level=HIGH),
        Ioc(DOMAIN, "bncv00.no-ip.info", "Variant.Zusy", threat_level=CRITICAL),
        Ioc(IP, "54.192.46.116", "FusionCore", threat_level=HIGH),
    ]
    assert parsed.iocs[-4:] == [
        Ioc(ASN, asn, "ELITETEAM bulletproof hosting provider", threat_level=HIGH)
        for asn in ("AS39770", "AS60424", "AS56873", "AS51381")
    ]


@pytest.mark.parametrize("hint", ["ja3", "ti"])
def test_local_own_malicious_ja3(hint: str) -> None:
    parsed = local("own_malicious_JA3.csv", hint)
    assert parsed.iocs == [
        Ioc(JA3, "e7d705a3286e19ea42f587b344ee6865", "Standard tor client", threat_level=MEDIUM),
        Ioc(JA3, "6734f37431670b3ab4292b8f60f29984", "Trickbot Malware", threat_level=HIGH),
    ]
    assert parsed.skipped == {}


def test_local_own_malicious_jarm() -> None:
    parsed = local("own_malicious_JARM.csv", "jarm")
    assert len(parsed.iocs) == 13
    assert all(i.kind is JARM and i.threat_level is MEDIUM for i in parsed.iocs)
    by_value = {i.value: i.description for i in parsed.iocs}
    assert by_value["2ad2ad0002ad2ad00042d42d000000ad9bf51cc3f5a1e29eecb81d0c7b06eb"] == (
        "MacC2; Shad0w; GRAT2 C2; SILENTRINITY"
    )
    assert by_value["22b22b09b22b22b22b22b22b22b22b352842cd5d6b0278445702035e06875c"] == "Trickbot"
    # EvilGinx2's hash in that file has 58 characters, not 62
    assert parsed.skipped == {"duplicate": 8, "bad_value": 1}
    assert [i.kind for i in local("own_malicious_JARM.csv", "ti").iocs[:1]] == [JARM]


def test_local_known_false_positive_hashes() -> None:
    parsed = local("known_fp_md5_hashes.csv")
    assert parsed.format == "csv"
    assert len(parsed.iocs) == 196  # 197 data lines, one hash listed twice
    assert parsed.skipped == {"duplicate": 1}
    assert parsed.iocs[0] == Ioc(MD5, "0f343b0931126a20f133d67c2b018a3b", "1024 bytes 0x00")
    empty = next(i for i in parsed.iocs if i.value == "d41d8cd98f00b204e9800998ecf8427e")
    assert empty.description == "Empty file; Hashes of 0 b'\\x00'"


# --- hints, dates, values -------------------------------------------------------------


def test_hint_decides_bare_hashes() -> None:
    md5 = "e7d705a3286e19ea42f587b344ee6865"
    jarm = "07d14d16d21d21d00042d43d000000aa99ce74e2c6d013c745aa52b5cc042d"
    assert parse_feed(md5).iocs == [Ioc(MD5, md5)]
    assert parse_feed(md5, "ja3").iocs == [Ioc(JA3, md5)]
    assert parse_feed(md5, "JA3").iocs == [Ioc(JA3, md5)]
    assert parse_feed(jarm, "jarm").iocs == [Ioc(JARM, jarm)]
    assert parse_feed(jarm, "ti").iocs == []


def test_value_spellings() -> None:
    text = "\n".join(
        [
            "Example.COM.",  # trailing dot, case
            "evil[.]example[.]net",  # defanged
            "hxxps://Evil.Example.ORG/Path?Q=1",
            "10.0.0.1/8",  # host bits set
            "2001:DB8::/128",
            "as64496",
            "192.0.2.1;",
            "192.0.2.2#note",
            "https://",
            "1.2.3.0/24",
            "1.2.3.4/33",
            "ftp://files.example.com/a#frag;x",
        ]
    )
    parsed = parse_feed(text)
    assert parsed.iocs == [
        Ioc(DOMAIN, "example.com"),
        Ioc(DOMAIN, "evil.example.net"),
        Ioc(URL, "https://evil.example.org/Path?Q=1"),
        Ioc(CIDR, "10.0.0.0/8"),
        Ioc(IP, "2001:db8::"),
        Ioc(ASN, "AS64496"),
        Ioc(IP, "192.0.2.1"),
        Ioc(IP, "192.0.2.2"),
        Ioc(CIDR, "1.2.3.0/24"),
        Ioc(URL, "ftp://files.example.com/a#frag;x"),
    ]
    assert parsed.skipped == {"bad_value": 2}  # no host; prefix length 33
    # In CSV a field may hold spaces; a URL with one is rejected.
    csv_text = "type,ioc\nurl,http://a b.example/\nurl,http://ok.example/\n"
    assert parse_feed(csv_text).iocs == [Ioc(URL, "http://ok.example/")]
    assert parse_feed(csv_text).skipped == {"header": 1, "bad_value": 1}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2021-01-01 12:00:00", 1609502400.0),
        ("2021-01-01T12:00:00Z", 1609502400.0),
        ("2021-01-01T13:00:00+01:00", 1609502400.0),
        ("2021-01-01", 1609459200.0),
        ("2021/01/01", 1609459200.0),
        ("20210101", 1609459200.0),
        ("2021-01-01 12:00:00 UTC", 1609502400.0),
        ("1609502400", 1609502400.0),
        ("1609502400.5", 1609502400.5),
        ("1609502400000", 1609502400.0),
        (1609502400, 1609502400.0),
        ("", None),
        ("yesterday", None),
        ("-5", None),
        ("9999999999999999999", None),
        ("0001-01-01", None),
        (True, None),
        (None, None),
    ],
)
def test_parse_first_seen(text: object, expected: float | None) -> None:
    assert parse_first_seen(text) == expected


# --- garbage --------------------------------------------------------------------------


def test_empty_and_blank() -> None:
    assert parse_feed(b"") == ParsedFeed([], {}, "empty")
    assert parse_feed(" \n\t\r\n") == ParsedFeed([], {}, "empty")
    assert parse_feed("# only\n# comments\n") == ParsedFeed([], {}, "plain")


def test_html_error_page() -> None:
    page = b"<!DOCTYPE html>\n<html><head><title>404 Not Found</title></head>\n<body>\n"
    page += b"<p>192.0.2.1 evil.example.com</p></body></html>\n"
    parsed = parse_feed(page)
    assert parsed.format == "html"
    assert parsed.iocs == []
    assert parsed.skipped == {"html": 4}
    assert parse_feed(b"\n\n  <html><body>Rate limited</body></html>").format == "html"


def test_binary_and_truncated_gzip() -> None:
    original = "\n".join(f"192.0.2.{i}" for i in range(200)).encode()
    for blob in (gzip.compress(original)[:60], bytes(range(256)) * 4, b"\x00" * 10):
        parsed = parse_feed(blob)
        assert parsed.format == "binary"
        assert parsed.iocs == []
        assert parsed.skipped["binary"] >= 1


def test_long_lines_are_counted() -> None:
    text = "192.0.2.1\n" + "a" * 5000 + "\n192.0.2.2," + "x" * 5000 + "\n192.0.2.3\n"
    parsed = parse_feed(text)
    assert parsed.iocs == plain("192.0.2.1", "192.0.2.3")
    assert parsed.skipped == {"too_long": 2}


def test_str_input_and_byte_order_mark() -> None:
    assert parse_feed("\ufeff192.0.2.1\n").iocs == plain("192.0.2.1")
    assert parse_feed(b"\xef\xbb\xbf192.0.2.1\r\n").iocs == plain("192.0.2.1")
    assert parse_feed(b"192.0.2.1\n\xff\xfe bad\n").skipped == {"bad_value": 1}


def test_garbage_collector_state_is_restored() -> None:
    assert gc.isenabled()
    parse_feed("192.0.2.1\n")
    assert gc.isenabled()
    gc.disable()
    try:
        parse_feed("192.0.2.1\n")
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_overlapping_parses_in_threads_leave_the_collector_on() -> None:
    text = "\n".join(f"10.0.{i >> 8}.{i & 255}" for i in range(5000))
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(parse_feed, [text] * 64))
    assert all(len(r.iocs) == 5000 for r in results)
    assert gc.isenabled()


def test_large_plain_list_is_fast() -> None:
    """A guard against accidental quadratic behaviour, not a benchmark: 200k
    lines take about half a second on a slow shared CI machine."""
    lines = [f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}\t3" for i in range(100_000)]
    lines += [f"host{i}.example.com" for i in range(100_000)]
    data = "\n".join(["# header", *lines]).encode()
    start = time.perf_counter()
    parsed = parse_feed(data)
    elapsed = time.perf_counter() - start
    assert len(parsed.iocs) == 200_000
    assert elapsed < 10.0


# --- fuzzing --------------------------------------------------------------------------


def check_invariants(parsed: ParsedFeed) -> None:
    assert isinstance(parsed.format, str) and parsed.format
    assert all(isinstance(n, int) and n > 0 for n in parsed.skipped.values())
    assert "comment" not in parsed.skipped
    values = [i.value for i in parsed.iocs]
    assert len(values) == len(set(values))
    for ioc in parsed.iocs:
        assert ioc.value
        assert normalise(ioc.kind, ioc.value) == ioc.value
        assert len(ioc.description) <= 512
        assert ioc.first_seen is None or 0 <= ioc.first_seen < 2**33
        if ioc.kind is CIDR:
            assert "/" in ioc.value


FRAGMENTS = st.sampled_from(
    [
        "192.0.2.1", "10.0.0.0/8", "2001:db8::1", "::ffff:1.2.3.4", "fe80::1%eth0", "evil.com",
        "EVIL.example.ORG.", "xn--80ak6aa92e.com", "http://a.example/x", "hxxp://b[.]c/",
        "AS123", "as²", "e7d705a3286e19ea42f587b344ee6865", "0.0.0.0", "127.0.0.1",
        "localhost", "#", ";", ",", '"', "'", "\t", " ", "\r\n", "\n", "#fields", "Intel::ADDR",
        "Intel::URL", "Intel::JA3", "indicator", "indicator_type", "type", "ioc", "ip",
        "description", "threat_level", "high", "first_seen", "2021-01-01 00:00:00",
        "1700000000", "[", "]", "{", "}", ":", '"ip"', '"v4"', '"DomainAddress"', "null",
        "\x00", "\ufffd", "<html>", "k.com", "\u212a.com", "/", "a/b", "1.2.3.4/24x",
    ]
)  # fmt: skip
FEEDISH = st.lists(st.one_of(FRAGMENTS, st.text(max_size=8)), max_size=40).map("".join)


@given(data=st.binary(max_size=2000))
@settings(max_examples=300, deadline=None)
def test_fuzz_bytes(data: bytes) -> None:
    for hint in ("ti", "ja3", "jarm"):
        check_invariants(parse_feed(data, hint))


@given(text=st.one_of(st.text(max_size=500), FEEDISH))
@settings(max_examples=500, deadline=None)
def test_fuzz_text(text: str) -> None:
    check_invariants(parse_feed(text))
    check_invariants(parse_feed(text, "ssl"))


@given(
    prefix=st.sampled_from(["", "#fields\tindicator\tindicator_type\n", "type,ioc,description\n"]),
    rows=st.lists(st.lists(st.one_of(FRAGMENTS, st.text(max_size=6)), max_size=5), max_size=8),
    sep=st.sampled_from([",", "\t", " ", ", "]),
)
@settings(max_examples=300, deadline=None)
def test_fuzz_rows(prefix: str, rows: list[list[str]], sep: str) -> None:
    text = prefix + "\n".join(sep.join(row) for row in rows)
    check_invariants(parse_feed(text))


JSONISH = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), FRAGMENTS, st.text(max_size=10)),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(
            st.sampled_from(
                ["ip", "v4", "url", "value", "type", "DomainAddress", "DeleteDate", "fseen",
                 "description", "threat", "threat_level", "domains", "data", "x"]
            ),
            inner,
            max_size=4,
        ),
    ),
    max_leaves=20,
)  # fmt: skip


@given(document=JSONISH, cut=st.integers(min_value=0, max_value=400))
@settings(max_examples=300, deadline=None)
def test_fuzz_json(document: object, cut: int) -> None:
    text = json.dumps(document)
    check_invariants(parse_feed(text))
    check_invariants(parse_feed(text[:cut]))


TOKENS = st.one_of(
    st.from_regex(r"[0-9]{1,4}(\.[0-9]{1,4}){3}", fullmatch=True),
    st.from_regex(r"[a-zA-Z0-9_-]{1,8}(\.[a-zA-Z0-9_-]{1,8}){1,3}", fullmatch=True),
    st.from_regex(r"[0-9a-fA-F:]{2,20}", fullmatch=True),
    st.text(alphabet="0123456789abcdefABCDEFxn-_.:K\u212a\u0130", min_size=1, max_size=20),
)


@given(token=TOKENS)
@settings(max_examples=500, deadline=None)
def test_plain_token_agrees_with_classify_and_normalise(token: str) -> None:
    """The fast paths never disagree with the model's own functions."""
    kind = classify(token)
    parsed = parse_feed(token)
    if kind in (IP, DOMAIN):
        assert parsed.iocs == [Ioc(kind, normalise(kind, token))]
    elif kind is None and not token.endswith("."):
        assert parsed.iocs == []
