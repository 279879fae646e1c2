"""Feed lists: the real Slips lists (copies in tests/data/intel/lists) and the
hand-editing mistakes the parser must survive with a warning, never an exception."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detection.intel.feedlist import FeedSpec, parse_feed_list
from detection.model import ThreatLevel

LISTS = Path(__file__).resolve().parents[2] / "data" / "intel" / "lists"


def read(name: str) -> str:
    return (LISTS / name).read_text(encoding="utf-8")


def test_ti_list_has_every_feed_and_one_warning_for_the_backtick() -> None:
    specs, warnings = parse_feed_list(read("TI_feeds.csv"), "ti")
    assert len(specs) == 40
    assert warnings == ["line 40: stray character '`' (U+0060) removed"]
    amnesty = next(s for s in specs if s.url.endswith("2021-07-18_nso/domains.txt"))
    assert amnesty.url == (
        "https://raw.githubusercontent.com/AmnestyTech/investigations/master/"
        "2021-07-18_nso/domains.txt"
    )
    assert amnesty.name == "raw.githubusercontent.com/domains.txt"
    assert amnesty.tags == ("spyware",)
    assert all(s.state == "active" and s.kind == "ti" for s in specs)


def test_ti_list_fields() -> None:
    specs, _ = parse_feed_list(read("TI_feeds.csv"), "ti")
    by_name = {s.name: s for s in specs}
    feodo = by_name["feodotracker.abuse.ch/ipblocklist.csv"]
    assert feodo == FeedSpec(
        url="https://feodotracker.abuse.ch/downloads/ipblocklist.csv",
        threat_level=ThreatLevel.MEDIUM,
        tags=("honeypot",),
        state="active",
        kind="ti",
        name="feodotracker.abuse.ch/ipblocklist.csv",
    )
    assert specs[0].tags == ("phishing", "honeypot")
    assert by_name["raw.githubusercontent.com/adservers.txt"].threat_level is ThreatLevel.INFO
    assert by_name["www.spamhaus.org/drop.txt"].tags == ("spam", "malicious")
    assert by_name["raw.githubusercontent.com/firehol_level1.netset"].threat_level is (
        ThreatLevel.LOW
    )
    ocd = by_name["raw.githubusercontent.com/OCD-Datalake-russia-ukraine_IOCs-ALL.csv"]
    assert ocd.tags == ("Russia-Ukraine IoCs",)
    # no space between level and tags on this line
    rst = by_name["raw.githubusercontent.com/random100_ioc_ip_latest.json"]
    assert rst.tags == ("malicious",)
    assert rst.threat_level is ThreatLevel.MEDIUM


def test_all_three_lists_together() -> None:
    every: list[FeedSpec] = []
    for name, kind in (("TI_feeds.csv", "ti"), ("JA3_feeds.csv", "ja3"), ("SSL_feeds.csv", "ssl")):
        specs, warnings = parse_feed_list(read(name), kind)
        if kind != "ti":
            assert warnings == []
            assert len(specs) == 1
            assert specs[0].threat_level is ThreatLevel.HIGH
            assert specs[0].tags == ("malicious",)
        every.extend(specs)
    assert len(every) >= 40
    names = [s.name for s in every]
    assert len(names) == len(set(names))
    assert every[-2].name == "sslbl.abuse.ch/ja3_fingerprints.csv"
    assert every[-2].kind == "ja3"
    assert every[-1].name == "sslbl.abuse.ch/sslblacklist.csv"
    assert every[-1].kind == "ssl"


def test_paused_and_removed_feeds() -> None:
    text = (
        "# File format:\n"
        '# "Feed","Threat Level", "Tags"\n'
        "https://a.example/active.txt,high,['x']\n"
        "#https://a.example/paused.txt,low, ['y']\n"
        "# https://a.example/paused2.txt,medium,[]\n"
        ";https://a.example/removed.txt,critical,['z']\n"
        "; https://a.example/removed2.txt,info\n"
        "# TI files commented using # may be processed as they're still in our database.\n"
        "# Use ; for commenting TI files instead of # to completely remove it.\n"
        "# see https://a.example/docs for details\n"
    )
    specs, warnings = parse_feed_list(text, "ti")
    assert [(s.name, s.state, s.threat_level) for s in specs] == [
        ("a.example/active.txt", "active", ThreatLevel.HIGH),
        ("a.example/paused.txt", "paused", ThreatLevel.LOW),
        ("a.example/paused2.txt", "paused", ThreatLevel.MEDIUM),
        ("a.example/removed.txt", "removed", ThreatLevel.CRITICAL),
        ("a.example/removed2.txt", "removed", ThreatLevel.INFO),
    ]
    assert [s.tags for s in specs] == [("x",), ("y",), (), ("z",), ()]
    assert warnings == []  # prose comments are silently ignored


def test_unknown_or_missing_level_is_medium_with_a_warning() -> None:
    text = "https://a.example/1.txt, HIGH ,['t']\nhttps://a.example/2.txt,severe,['t']\n"
    text += "https://a.example/3.txt\n"
    specs, warnings = parse_feed_list(text, "ti")
    assert [s.threat_level for s in specs] == [
        ThreatLevel.HIGH,
        ThreatLevel.MEDIUM,
        ThreatLevel.MEDIUM,
    ]
    assert warnings == [
        "line 2: unknown threat level 'severe', using medium",
        "line 3: unknown threat level '(none)', using medium",
    ]


def test_unparseable_lines_are_skipped_with_a_warning() -> None:
    text = (
        "this is not a feed\n"
        "https://ok.example/list.txt,low,['a']\n"
        "https://bad url.example/x.txt,low\n"
        "ftp//missing-colon.example/x,low\n"
        "https://,low\n"
    )
    specs, warnings = parse_feed_list(text, "ti")
    assert [s.url for s in specs] == ["https://ok.example/list.txt"]
    assert warnings == [
        "line 1: not a feed line (no URL first), skipped",
        "line 3: invalid URL 'https://bad url.example/x.txt', skipped",
        "line 4: not a feed line (no URL first), skipped",
        "line 5: invalid URL 'https://', skipped",
    ]


def test_duplicate_urls_keep_the_first() -> None:
    text = (
        "https://a.example/x.txt,high,['first']\n"
        "# https://a.example/x.txt,low,['second']\n"
        "https://a.example/x.txt,low,['third']\n"
    )
    specs, warnings = parse_feed_list(text, "ti")
    assert len(specs) == 1
    assert specs[0].tags == ("first",)
    assert specs[0].state == "active"
    assert warnings == [
        "line 2: duplicate of line 1 (https://a.example/x.txt), skipped",
        "line 3: duplicate of line 1 (https://a.example/x.txt), skipped",
    ]


def test_names_are_unique_with_a_suffix() -> None:
    text = (
        "https://lists.example/v1/domains.txt,low\n"
        "https://lists.example/v2/domains.txt,low\n"
        "https://lists.example/v3/domains.txt,low\n"
        "https://lists.example/,low\n"
        "https://LISTS.example:8443/a/b/feed.csv?key=1,low\n"
    )
    specs, warnings = parse_feed_list(text, "ti")
    assert [s.name for s in specs] == [
        "lists.example/domains.txt",
        "lists.example/domains.txt#2",
        "lists.example/domains.txt#3",
        "lists.example",
        "lists.example/feed.csv",
    ]
    assert sum("already used" in w for w in warnings) == 2


def test_stray_characters_quotes_and_line_endings() -> None:
    text = (
        "\ufeffhttps://a.example/bom.txt,low\r\n"
        '"https://a.example/quoted.txt","high",["q1", "q2"]\r\n'
        "\u200bhttps://a.example/zwsp.txt`,info,[ 'spaced tag' ,'spaced tag']\r\n"
        "https://a.example/trailing.txt,low,['t'] extra\r\n"
    )
    specs, warnings = parse_feed_list(text, "ssl")
    assert [(s.url, s.threat_level, s.tags, s.kind) for s in specs] == [
        ("https://a.example/bom.txt", ThreatLevel.LOW, (), "ssl"),
        ("https://a.example/quoted.txt", ThreatLevel.HIGH, ("q1", "q2"), "ssl"),
        ("https://a.example/zwsp.txt", ThreatLevel.INFO, ("spaced tag",), "ssl"),
        ("https://a.example/trailing.txt", ThreatLevel.LOW, ("t",), "ssl"),
    ]
    assert warnings == [
        "line 3: stray character '\\u200b' (U+200B) removed",
        "line 3: stray character '`' (U+0060) removed",
        "line 4: text after the tags ignored",
    ]


def test_empty_text_and_unknown_kind() -> None:
    assert parse_feed_list("", "ja3") == ([], [])
    assert parse_feed_list("\n\n# only prose\n", "ti") == ([], [])
    with pytest.raises(ValueError, match="unknown feed kind"):
        parse_feed_list("", "stix")


def test_long_lines_are_skipped() -> None:
    specs, warnings = parse_feed_list("https://a.example/" + "x" * 5000 + ",low\n", "ti")
    assert specs == []
    assert warnings == ["line 1: longer than 4096 characters, skipped"]


FEEDISH = st.lists(
    st.one_of(
        st.text(max_size=60),
        st.sampled_from(
            [
                "https://a.example/x.txt,high,['t']",
                "# https://b.example/y.csv,low,['u','v']",
                "; https://c.example/z,critical",
                "`https://d.example/w.txt,medium, ['spyware']",
                "https://a.example/x.txt,bogus,[",
                '"https://e.example/q","info",["a"',
                "#",
                ";",
                ",,,",
                "https://",
                "https://f.example/x.txt,,,",
            ]
        ),
    ),
    max_size=12,
).map("\n".join)


@given(text=st.one_of(st.text(), FEEDISH))
@settings(max_examples=300, deadline=None)
def test_never_raises_and_specs_are_consistent(text: str) -> None:
    specs, warnings = parse_feed_list(text, "ti")
    assert all(isinstance(w, str) and w.startswith("line ") for w in warnings)
    assert len({s.name for s in specs}) == len(specs)
    assert len({s.url for s in specs}) == len(specs)
    for spec in specs:
        assert "://" in spec.url
        assert spec.state in ("active", "paused", "removed")
        assert isinstance(spec.threat_level, ThreatLevel)
        assert all(tag and tag == tag.strip() for tag in spec.tags)
