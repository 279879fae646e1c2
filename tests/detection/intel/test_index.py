"""The indicator index: exact, range, parent-domain and hash lookups, precedence
between feeds, the known-false-positive list, max-age, and the CLI-style lookup."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from detection.intel.index import IntelIndex
from detection.intel.model import FeedInfo, Ioc, IocKind
from detection.model import ThreatLevel

LOW = FeedInfo("low-feed", ThreatLevel.LOW)
HIGH = FeedInfo("high-feed", ThreatLevel.HIGH)


def build(*feeds: tuple[FeedInfo, list[Ioc]]) -> IntelIndex:
    index = IntelIndex()
    for info, iocs in feeds:
        index.add_feed(info, iocs)
    return index.freeze()


def test_exact_ip_beats_range_and_ranges_cover_v4_and_v6() -> None:
    index = build(
        (LOW, [Ioc(IocKind.CIDR, "203.0.113.0/24"), Ioc(IocKind.CIDR, "2001:db8::/32")]),
        (HIGH, [Ioc(IocKind.IP, "203.0.113.9", "C&C")]),
    )
    exact = index.lookup_ip("203.0.113.9")
    assert exact is not None and exact.kind is IocKind.IP and not exact.parent
    assert exact.threat_level is ThreatLevel.HIGH and exact.description == "C&C"
    ranged = index.lookup_ip("203.0.113.200")
    assert ranged is not None and ranged.indicator == "203.0.113.0/24" and ranged.parent
    assert index.lookup_ip("203.0.114.1") is None
    v6 = index.lookup_ip("2001:db8::42")
    assert v6 is not None and v6.indicator == "2001:db8::/32"
    assert index.lookup_ip("not-an-ip") is None


def test_nested_ranges_find_the_covering_one_behind_a_later_start() -> None:
    index = build((LOW, [Ioc(IocKind.CIDR, "10.0.0.0/8"), Ioc(IocKind.CIDR, "10.1.0.0/16")]))
    found = index.lookup_ip("10.200.0.1")  # after 10.1.0.0/16's start, only /8 covers it
    assert found is not None and found.indicator == "10.0.0.0/8"


def test_highest_level_wins_and_feeds_are_counted() -> None:
    index = build(
        (LOW, [Ioc(IocKind.DOMAIN, "evil.example")]),
        (HIGH, [Ioc(IocKind.DOMAIN, "evil.example")]),
    )
    found = index.lookup_domain("evil.example")
    assert found is not None
    assert found.feed is HIGH and found.feeds == 2 and "+1 more feeds" in found.what


def test_parent_domains_match_but_not_bare_suffixes() -> None:
    index = build((LOW, [Ioc(IocKind.DOMAIN, "evil.example"), Ioc(IocKind.DOMAIN, "com")]))
    sub = index.lookup_domain("a.b.Evil.Example.")
    assert sub is not None and sub.parent and sub.indicator == "evil.example"
    assert index.lookup_domain("good.com") is None  # "com" listed, but never as a parent
    assert index.lookup_domain("notevil.example") is None


def test_hashes_urls_and_the_false_positive_list() -> None:
    md5 = "0f343b0931126a20f133d67c2b018a3b"
    index = IntelIndex()
    ja3 = "e7d705a3286e19ea42f587b344ee6865"
    index.add_feed(LOW, [Ioc(IocKind.MD5, md5), Ioc(IocKind.JA3, ja3),
                         Ioc(IocKind.URL, "http://evil.example/payload.bin")])  # fmt: skip
    index.add_benign_md5([md5.upper()])
    index.freeze()
    assert index.lookup_hash(IocKind.MD5, md5) is None  # known false positive
    assert index.lookup_hash(IocKind.JA3, "E7D705A3286E19EA42F587B344EE6865") is not None
    assert index.lookup_url("HTTP://EVIL.example/payload.bin") is not None
    assert index.lookup_url("http://evil.example/other") is None


def test_max_age_drops_old_dated_entries_only() -> None:
    index = IntelIndex()
    added = index.add_feed(
        LOW,
        [Ioc(IocKind.IP, "198.51.100.1", first_seen=0.0),
         Ioc(IocKind.IP, "198.51.100.2", first_seen=9_000.0),
         Ioc(IocKind.IP, "198.51.100.3")],
        now=10_000.0, max_age=5_000.0,
    )  # fmt: skip
    index.freeze()
    assert added == 2 and index.dropped_old["low-feed"] == 1
    assert index.lookup_ip("198.51.100.1") is None
    assert index.lookup_ip("198.51.100.2") is not None and index.lookup_ip("198.51.100.3")


def test_lookup_any_value_and_counts() -> None:
    index = build((HIGH, [Ioc(IocKind.ASN, "AS39770"), Ioc(IocKind.CIDR, "192.0.2.0/24"),
                          Ioc(IocKind.IP, "192.0.2.7")]))  # fmt: skip
    assert [m.indicator for m in index.lookup("as39770")] == ["AS39770"]
    assert [m.indicator for m in index.lookup("192.0.2.0/24")] == ["192.0.2.0/24"]
    assert [m.indicator for m in index.lookup("192.0.2.7")] == ["192.0.2.7"]
    assert index.lookup("unlisted.example") == []
    assert index.counts() == {"ip": 1, "asn": 1, "cidr": 1} and len(index) == 3


@given(
    nets=st.lists(st.tuples(st.integers(0, 2**32 - 1), st.integers(8, 32)), max_size=30),
    probes=st.lists(st.integers(0, 2**32 - 1), max_size=30),
)
def test_range_lookup_agrees_with_a_linear_scan(
    nets: list[tuple[int, int]], probes: list[int]
) -> None:
    networks = [ipaddress.ip_network((n, p), strict=False) for n, p in nets]
    index = build((LOW, [Ioc(IocKind.CIDR, str(n)) for n in networks]))
    for value in probes + [int(n.network_address) for n in networks]:
        ip = ipaddress.ip_address(value)
        covered = any(ip in n for n in networks)
        found = index.lookup_ip(str(ip))
        assert (found is not None) == covered
        if found is not None:
            assert ip in ipaddress.ip_network(found.indicator)


# -- snapshots ------------------------------------------------------------------------------


def _everything() -> IntelIndex:
    index = IntelIndex()
    index.add_feed(
        LOW,
        [
            Ioc(IocKind.CIDR, "203.0.113.0/24"),
            Ioc(IocKind.CIDR, "2001:db8::/32"),
            Ioc(IocKind.IP, "198.51.100.1"),
            Ioc(IocKind.DOMAIN, "evil.example", "phishing kit"),
            Ioc(IocKind.ASN, "AS64500"),
        ],
    )
    index.add_feed(
        HIGH,
        [
            Ioc(IocKind.IP, "198.51.100.1", "C&C", threat_level=ThreatLevel.CRITICAL),
            Ioc(IocKind.JA3, "6734f37431670b3ab4292b8f60f29984"),
            Ioc(IocKind.URL, "http://evil.example/x"),
            Ioc(IocKind.SHA256, "a" * 64),
            Ioc(IocKind.IP, "old.ip", first_seen=0.0),  # dropped by age below
        ],
        now=10 * 86400.0,
        max_age=86400.0,
    )
    index.add_benign_md5(["0" * 32])
    return index.freeze()


def _answers(index: IntelIndex) -> list[object]:
    probes = [
        "198.51.100.1", "203.0.113.7", "2001:db8::1", "a.evil.example", "evil.example",
        "http://evil.example/x", "6734f37431670b3ab4292b8f60f29984", "a" * 64, "AS64500",
        "192.0.2.1", "0" * 32, "203.0.113.0/24",
    ]  # fmt: skip
    return [
        [(m.kind, m.indicator, m.feed, m.threat_level, m.description, m.feeds, m.parent)
         for m in index.lookup(p)]
        for p in probes
    ]  # fmt: skip


def test_snapshot_round_trip_answers_every_lookup_the_same() -> None:
    index = _everything()
    again = IntelIndex.from_snapshot(index.snapshot())
    assert _answers(again) == _answers(index)
    assert again.counts() == index.counts() and len(again) == len(index)
    assert again.per_feed == index.per_feed and again.dropped_old == index.dropped_old
    assert again.is_benign_md5("0" * 32)
    assert again.snapshot() == index.snapshot()  # stable bytes


def test_snapshot_of_an_unfrozen_index_is_refused() -> None:
    with pytest.raises(RuntimeError, match="frozen"):
        IntelIndex().snapshot()


@given(st.binary(max_size=300))
def test_garbage_snapshots_raise_value_error(data: bytes) -> None:
    try:
        IntelIndex.from_snapshot(data)
    except ValueError:
        return
    raise AssertionError("garbage accepted as a snapshot")


@given(st.integers(0, 5000), st.binary(min_size=1, max_size=8))
def test_damaged_snapshots_raise_value_error_or_load(cut: int, junk: bytes) -> None:
    blob = _everything().snapshot()
    damaged = blob[: cut % len(blob)] + junk + blob[cut % len(blob) + len(junk) :]
    try:
        loaded = IntelIndex.from_snapshot(damaged)
    except ValueError:
        return
    assert isinstance(len(loaded), int)  # well-formed enough to be used
