from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from importlib.resources import files

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detection.allowlist import (
    AllowEntry,
    Allowlist,
    CidrIndex,
    Direction,
    IgnoreType,
    OrgInfo,
    Scope,
    Side,
    parse_allowlist,
    parse_org,
)
from detection.model import Evidence, ThreatLevel

DATA = files("agent") / "data"
ORGS = ("apple", "facebook", "google", "microsoft", "twitter")


def allowlist(text: str, orgs: dict[str, OrgInfo] | None = None) -> Allowlist:
    entries, warnings = parse_allowlist(text)
    assert warnings == []
    return Allowlist(entries, orgs)


def evidence(attacker: str, victim: str | None = None) -> Evidence:
    return Evidence(
        type="t", attacker=attacker, victim=victim, threat_level=ThreatLevel.HIGH,
        confidence=1.0, ts=1.0, timewindow=0, description="d", source="local:test",
    )  # fmt: skip


def real_org(name: str) -> OrgInfo:
    d = DATA / "organizations_info"
    texts = [(d / f"{name}_{kind}").read_text("utf-8") for kind in ("asn", "domains", "ip_ranges")]
    return parse_org(name, *texts)


@pytest.fixture(scope="module")
def real_orgs() -> dict[str, OrgInfo]:
    return {name: real_org(name) for name in ORGS}


# -- parsing the real file --------------------------------------------------------------


def test_bundled_slips_allowlist_parses_without_warnings() -> None:
    text = (DATA / "allowlist.conf").read_text("utf-8")
    entries, warnings = parse_allowlist(text)
    assert warnings == []
    data_lines = [
        line for line in text.splitlines()
        if line.strip() and line.strip()[0] not in ";#" and not line.startswith('"IoCType"')
    ]  # fmt: skip
    assert len(entries) == len(data_lines) == 105
    kinds = {k: sum(e.ioc_type == k for e in entries) for k in ("ip", "domain", "organization")}
    assert kinds == {"ip": 62, "domain": 38, "organization": 5}
    assert {e.value for e in entries if e.ioc_type == "organization"} == set(ORGS)
    assert all(e.direction == "both" and e.ignore == "alerts" for e in entries)
    assert entries[0] == AllowEntry("domain", "useragentstring.com", "both", "alerts")
    assert entries[0].line > 0


def test_real_organisation_files_parse_cleanly(real_orgs: dict[str, OrgInfo]) -> None:
    for info in real_orgs.values():
        assert info.warnings == ()
        assert info.asns
        assert info.domains
        assert info.ranges
        assert all(a.startswith("AS") and a[2:].isdigit() for a in info.asns)
    google = real_orgs["google"]
    assert "AS15169" in google.asns
    assert "GOOGLE, US" in google.as_names
    assert "google.com" in google.domains
    assert "business.whatsapp.com" in real_orgs["facebook"].domains  # lower-cased
    assert "#" not in real_orgs["facebook"].domains


# -- parsing: tolerance and warnings -----------------------------------------------------


def test_parse_accepts_quotes_whitespace_case_header_bom_and_crlf() -> None:
    text = (
        '\ufeff"IoCType","IoCValue","Direction","IgnoreType"\r\n'
        '"IP", "1.2.3.4" ,"Both","ALERTS"\r\n'
        "  domain ,  WWW.Example.COM. , src , flows  \r\n"
        "mac,AA-BB-CC-DD-EE-FF,dst,both,\r\n"
        "Organization,Google,both,both\n"
        "organisation,apple,both,both\n"
        "   ; indented comment\n"
        "#ip,9.9.9.9,both,alerts\n"
        "\n"
    )
    entries, warnings = parse_allowlist(text)
    assert warnings == []
    assert [(e.ioc_type, e.value, e.direction, e.ignore, e.line) for e in entries] == [
        ("ip", "1.2.3.4", "both", "alerts", 2),
        ("domain", "www.example.com", "src", "flows", 3),
        ("mac", "aa:bb:cc:dd:ee:ff", "dst", "both", 4),
        ("organization", "google", "both", "both", 5),
        ("organization", "apple", "both", "both", 6),
    ]


@pytest.mark.parametrize(
    ("value", "normalised"),
    [
        ("10.0.0.0/8", "10.0.0.0/8"),
        ("10.0.0.1/32", "10.0.0.1"),
        ("::ffff:1.2.3.4", "1.2.3.4"),
        ("::ffff:10.0.0.0/104", "10.0.0.0/8"),
        ("2001:DB8::1", "2001:db8::1"),
        ("2001:db8::/32", "2001:db8::/32"),
        ("fe80::1%eth0", "fe80::1"),
    ],
)
def test_ip_values_are_normalised(value: str, normalised: str) -> None:
    entries, warnings = parse_allowlist(f"ip,{value},both,alerts")
    assert warnings == []
    assert entries[0].value == normalised


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("ipp,1.2.3.4,both,alerts", "unknown IoC type"),
        ("ip,1.2.3.4,sideways,alerts", "unknown direction"),
        ("ip,1.2.3.4,both,everything", "unknown ignore type"),
        ("ip,1.2.3.4,both", "expected 4 fields"),
        ("ip,1.2.3.4,both,alerts,extra", "expected 4 fields"),
        ("ip,1.2.3.400,both,alerts", "not an IP address or CIDR"),
        ("ip,10.0.0.0/33,both,alerts", "not an IP address or CIDR"),
        ("domain,exa mple.com,both,alerts", "not a valid domain"),
        ("domain,1.2.3.4,both,alerts", "use type ip"),
        ("domain,a..b,both,alerts", "not a valid domain"),
        ("mac,aa:bb:cc:dd:ee,both,alerts", "not a MAC address"),
        ("organization,../../etc/passwd,both,alerts", "not an organisation name"),
        ('ip,"' + "x" * 200_000 + '",both,alerts', "unreadable CSV"),  # over csv's field limit
    ],
)
def test_bad_lines_become_warnings_with_line_numbers(line: str, reason: str) -> None:
    entries, warnings = parse_allowlist(f"; header\nip,5.6.7.8,both,alerts\n{line}\n")
    assert [e.value for e in entries] == ["5.6.7.8"]
    assert len(warnings) == 1
    assert warnings[0].startswith("line 3: ")
    assert reason in warnings[0]


def test_host_bits_are_dropped_with_a_warning() -> None:
    entries, warnings = parse_allowlist("ip,192.168.1.5/24,both,alerts")
    assert entries[0].value == "192.168.1.0/24"
    assert warnings == ["line 1: host bits set in '192.168.1.5/24', using 192.168.1.0/24"]


def test_duplicate_value_warns_and_the_later_line_wins() -> None:
    entries, warnings = parse_allowlist("ip,1.2.3.4,src,alerts\nip,1.2.3.4,dst,flows\n")
    assert len(entries) == 2
    assert warnings == ["line 2: ip 1.2.3.4 is also on line 1; the later line wins"]
    al = Allowlist(entries)
    assert len(al) == 1
    assert al.match_ip("1.2.3.4", "src", "alerts") is None
    assert al.match_ip("1.2.3.4", "dst", "flows") == "allowlist ip 1.2.3.4 (dst)"


def test_allow_entry_validates_when_built_in_code() -> None:
    assert AllowEntry("mac", "AABB.CCDD.EEFF").value == "aa:bb:cc:dd:ee:ff"
    with pytest.raises(ValueError, match="unknown direction"):
        AllowEntry("ip", "1.2.3.4", "up")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="not an IP"):
        AllowEntry("ip", "example.com")


@settings(max_examples=300)
@given(st.text())
def test_parse_allowlist_never_raises_on_arbitrary_text(text: str) -> None:
    entries, warnings = parse_allowlist(text)
    assert all(w.startswith("line ") for w in warnings)
    Allowlist(entries)  # whatever parsed is buildable


_field = st.one_of(
    st.sampled_from(["ip", "IP", "domain", "mac", "organization", "both", "src", "dst", "alerts"]),
    st.sampled_from(["1.2.3.4", "::1", "10.0.0.0/8", "a.b", "aa:bb:cc:dd:ee:ff", "google"]),
    st.text(max_size=12),
)


@settings(max_examples=300)
@given(st.lists(st.lists(_field, min_size=0, max_size=6), max_size=8), st.sampled_from([",", ";"]))
def test_parse_allowlist_never_raises_on_csv_like_lines(rows: list[list[str]], sep: str) -> None:
    text = "\n".join(sep.join(f'"{f}"' if i % 2 else f for i, f in enumerate(r)) for r in rows)
    entries, warnings = parse_allowlist(text)
    assert all(w.startswith("line ") for w in warnings)
    al = Allowlist(entries)
    for e in entries:
        al.match_ip(e.value, "src", "alerts")
        al.match_domain(e.value, "dst", "flows")


# -- matching: IPs, CIDRs, domains, MACs --------------------------------------------------


def test_exact_ip_and_cidr_matching_v4_and_v6() -> None:
    al = allowlist(
        "ip,1.2.3.4,both,alerts\nip,10.0.0.0/8,both,alerts\nip,10.1.0.0/16,src,alerts\n"
        "ip,2001:db8::/32,both,alerts\nip,fe80::1,both,alerts\n"
    )
    assert al.match_ip("1.2.3.4", "src", "alerts") == "allowlist ip 1.2.3.4 (both)"
    assert al.match_ip("::ffff:1.2.3.4", "dst", "alerts") == "allowlist ip 1.2.3.4 (both)"
    assert al.match_ip(" 1.2.3.4 ", "dst", "alerts") == "allowlist ip 1.2.3.4 (both)"
    assert al.match_ip("10.200.0.1", "src", "alerts") == "allowlist ip 10.0.0.0/8 (both)"
    # the most specific network names the reason
    assert al.match_ip("10.1.2.3", "src", "alerts") == "allowlist ip 10.1.0.0/16 (src)"
    assert al.match_ip("10.1.2.3", "dst", "alerts") == "allowlist ip 10.0.0.0/8 (both)"
    assert al.match_ip("2001:DB8:ffff::1", "src", "alerts") == "allowlist ip 2001:db8::/32 (both)"
    assert al.match_ip("fe80::1%eth0", "src", "alerts") == "allowlist ip fe80::1 (both)"
    assert al.match_ip("2001:db9::1", "src", "alerts") is None
    assert al.match_ip("11.0.0.0", "src", "alerts") is None
    assert al.match_ip("9.255.255.255", "src", "alerts") is None
    for junk in ("", "-", "not-an-ip", "1.2.3", "10.0.0.0/8", "::g"):
        assert al.match_ip(junk, "src", "alerts") is None


def test_domain_matches_itself_and_subdomains_on_label_boundaries() -> None:
    al = allowlist("domain,google.com,both,alerts\ndomain,*.example.org,dst,alerts\n")
    reason = "allowlist domain google.com (both)"
    assert al.match_domain("google.com", "src", "alerts") == reason
    assert al.match_domain("mail.google.com", "src", "alerts") == reason
    assert al.match_domain("A.B.Mail.Google.COM.", "dst", "alerts") == reason
    assert al.match_domain("evilgoogle.com", "src", "alerts") is None
    assert al.match_domain("google.com.evil.net", "src", "alerts") is None
    assert al.match_domain("com", "src", "alerts") is None
    assert al.match_domain("", "src", "alerts") is None
    assert (
        al.match_domain("www.example.org", "dst", "alerts") == "allowlist domain example.org (dst)"
    )
    assert al.match_domain("www.example.org", "src", "alerts") is None


@pytest.mark.parametrize(
    "spelling",
    [
        "aa:bb:cc:dd:ee:0f",
        "AA-BB-CC-DD-EE-0F",
        "aabb.ccdd.ee0f",
        "AABBCCDDEE0F",
        "aa:bb:cc:dd:ee:f",
    ],
)
def test_mac_spellings_are_normalised(spelling: str) -> None:
    al = allowlist("mac,AA:BB:CC:DD:EE:0F,both,both")
    assert al.entries[0].value == "aa:bb:cc:dd:ee:0f"
    assert al.match_mac(spelling, "src", "alerts") == "allowlist mac aa:bb:cc:dd:ee:0f (both)"
    assert al.match_mac("aa:bb:cc:dd:ee:00", "src", "alerts") is None
    assert al.match_mac("garbage", "src", "alerts") is None


@pytest.mark.parametrize(
    ("direction", "ignore", "expected"),
    [
        # expected matches, in order: (src, alerts), (src, flows), (dst, alerts), (dst, flows)
        ("src", "alerts", (True, False, False, False)),
        ("src", "flows", (False, True, False, False)),
        ("dst", "both", (False, False, True, True)),
        ("both", "alerts", (True, False, True, False)),
        ("both", "both", (True, True, True, True)),
    ],
)
def test_direction_and_scope_semantics(
    direction: Direction, ignore: IgnoreType, expected: tuple[bool, ...]
) -> None:
    al = allowlist(
        f"ip,1.2.3.4,{direction},{ignore}\nip,5.0.0.0/8,{direction},{ignore}\n"
        f"domain,a.example,{direction},{ignore}\nmac,02:00:00:00:00:01,{direction},{ignore}\n"
    )
    keys: list[tuple[Side, Scope]] = [
        ("src", "alerts"), ("src", "flows"), ("dst", "alerts"), ("dst", "flows"),
    ]  # fmt: skip
    for (side, scope), want in zip(keys, expected, strict=True):
        assert (al.match_ip("1.2.3.4", side, scope) is not None) is want
        assert (al.match_ip("5.6.7.8", side, scope) is not None) is want
        assert (al.match_domain("x.a.example", side, scope) is not None) is want
        assert (al.match_mac("02:00:00:00:00:01", side, scope) is not None) is want


# -- organisations --------------------------------------------------------------------------


def test_organisation_ranges_and_domains(real_orgs: dict[str, OrgInfo]) -> None:
    al = allowlist("organization,google,both,alerts\norganization,apple,src,alerts\n", real_orgs)
    assert al.match_ip("8.8.8.8", "src", "alerts") == "organization google (ip range)"
    assert al.match_ip("8.8.8.8", "dst", "alerts") == "organization google (ip range)"
    assert al.match_ip("2001:4860:4860::8888", "dst", "alerts") == "organization google (ip range)"
    assert al.match_ip("17.253.144.10", "src", "alerts") == "organization apple (ip range)"
    assert al.match_ip("17.253.144.10", "dst", "alerts") is None  # apple is src-only
    assert al.match_ip("8.8.8.8", "src", "flows") is None  # alerts only
    assert al.match_ip("192.0.2.1", "src", "alerts") is None  # TEST-NET, nobody's
    # facebook's data is loaded but not named by an entry: it never matches
    assert al.match_ip("31.13.64.1", "src", "alerts") is None
    assert al.match_domain("mail.google.com", "dst", "alerts") == "organization google (domain)"
    assert al.match_domain("notgoogle.com", "dst", "alerts") is None
    assert al.missing_orgs == frozenset()


def test_user_entry_reason_beats_organisation(real_orgs: dict[str, OrgInfo]) -> None:
    al = allowlist(
        "organization,google,both,alerts\ndomain,google.com,both,alerts\nip,8.8.8.8,both,alerts\n",
        real_orgs,
    )
    assert al.match_domain("google.com", "src", "alerts") == "allowlist domain google.com (both)"
    assert al.match_ip("8.8.8.8", "src", "alerts") == "allowlist ip 8.8.8.8 (both)"
    assert al.match_ip("8.8.4.4", "src", "alerts") == "organization google (ip range)"


def test_unknown_organisation_is_reported_and_matches_nothing() -> None:
    al = allowlist("organization,acme,both,both")
    assert al.missing_orgs == frozenset({"acme"})
    assert al.is_empty
    assert len(al) == 1


def test_parse_org_normalises_and_warns() -> None:
    info = parse_org(
        "Acme",
        "AS64500\nas64501\n64502\nACME-NET, US\n",
        "# comment\nAcme.COM.\n\nbad domain\n",
        "192.0.2.0/24\n2001:db8::/48\nnot-a-cidr\n; comment\n",
    )
    assert info.name == "acme"
    assert info.asns == {"AS64500", "AS64501", "AS64502"}
    assert info.as_names == {"ACME-NET, US"}
    assert info.domains == {"acme.com"}
    assert info.ranges.lookup("192.0.2.77")
    assert info.ranges.lookup("2001:db8::9")
    assert info.warnings == (
        "acme domains line 4: not a valid domain name: 'bad domain'",
        "acme ip ranges line 3: not a CIDR: 'not-a-cidr'",
    )


# -- evidence and flows ---------------------------------------------------------------------


def test_evidence_reason_checks_attacker_as_src_and_victim_as_dst() -> None:
    al = allowlist(
        "ip,1.1.1.1,src,alerts\nip,2.2.2.2,dst,alerts\nip,3.3.3.3,both,flows\n"
        "domain,cdn.example,both,alerts\n"
    )
    assert al.evidence_reason(evidence("1.1.1.1", "9.9.9.9")) == (
        "allowlist ip 1.1.1.1 (src) for attacker 1.1.1.1"
    )
    assert al.evidence_reason(evidence("9.9.9.9", "1.1.1.1")) is None  # src-only entry as victim
    assert al.evidence_reason(evidence("9.9.9.9", "2.2.2.2")) == (
        "allowlist ip 2.2.2.2 (dst) for victim 2.2.2.2"
    )
    assert al.evidence_reason(evidence("2.2.2.2", "9.9.9.9")) is None  # dst-only entry as attacker
    assert al.evidence_reason(evidence("2.2.2.2")) is None
    assert al.evidence_reason(evidence("3.3.3.3", "3.3.3.3")) is None  # flows-only entry
    # an attacker that is a domain, not an IP
    assert al.evidence_reason(evidence("www.cdn.example")) == (
        "allowlist domain cdn.example (both) for attacker www.cdn.example"
    )


def test_evidence_reason_uses_domains_the_ip_resolved_from() -> None:
    al = allowlist("domain,cdn.example,dst,alerts")
    resolved = {"203.0.113.5": ["img.cdn.example"], "203.0.113.6": ["other.example"]}

    def domains_of(ip: str) -> Iterable[str]:
        return resolved.get(ip, ())

    assert al.evidence_reason(evidence("10.0.0.1", "203.0.113.5"), domains_of) == (
        "allowlist domain cdn.example (dst) via img.cdn.example for victim 203.0.113.5"
    )
    assert al.evidence_reason(evidence("10.0.0.1", "203.0.113.6"), domains_of) is None
    assert al.evidence_reason(evidence("203.0.113.5", "10.0.0.1"), domains_of) is None  # dst only
    assert al.evidence_reason(evidence("10.0.0.1", "203.0.113.5")) is None  # no resolutions


def test_evidence_reason_with_bundled_organisations(real_orgs: dict[str, OrgInfo]) -> None:
    al = allowlist((DATA / "allowlist.conf").read_text("utf-8").replace("\ufeff", ""), real_orgs)
    assert al.evidence_reason(evidence("192.168.1.10", "8.8.8.8")) == (
        "organization google (ip range) for victim 8.8.8.8"
    )
    assert al.evidence_reason(evidence("192.168.1.10", "198.51.100.7")) is None
    assert al.evidence_reason(evidence("34.117.59.81")) == (
        "allowlist ip 34.117.59.81 (both) for attacker 34.117.59.81"
    )


def test_flow_reason_directions_macs_and_scope() -> None:
    al = allowlist(
        "ip,10.0.0.5,src,flows\nip,192.0.2.0/24,dst,both\nip,1.1.1.1,both,alerts\n"
        "mac,02:00:00:00:00:aa,src,flows\ndomain,updates.example,dst,flows\n"
    )
    assert al.flow_reason("10.0.0.5", "8.8.8.8") == "allowlist ip 10.0.0.5 (src) for src 10.0.0.5"
    assert al.flow_reason("8.8.8.8", "10.0.0.5") is None
    assert al.flow_reason("10.0.0.9", "192.0.2.80") == (
        "allowlist ip 192.0.2.0/24 (dst) for dst 192.0.2.80"
    )
    assert al.flow_reason("192.0.2.80", "10.0.0.9") is None
    assert al.flow_reason("1.1.1.1", "1.1.1.1") is None  # alerts-only entry
    assert al.flow_reason("10.0.0.9", "8.8.8.8", "02-00-00-00-00-AA", "") == (
        "allowlist mac 02:00:00:00:00:aa (src) for src 10.0.0.9"
    )
    assert al.flow_reason("10.0.0.9", "8.8.8.8", "", "02:00:00:00:00:aa") is None
    assert al.flow_reason("-", "-") is None
    assert al.flow_reason("10.0.0.9", "203.0.113.1") is None  # domains need resolutions
    assert (
        al.flow_reason("10.0.0.9", "203.0.113.1", domains_of=lambda ip: ["dl.updates.example"])
        == "allowlist domain updates.example (dst) via dl.updates.example for dst 203.0.113.1"
    )


def test_empty_and_len() -> None:
    assert Allowlist().is_empty
    assert len(Allowlist()) == 0
    assert Allowlist().flow_reason("1.2.3.4", "5.6.7.8") is None
    assert Allowlist().evidence_reason(evidence("1.2.3.4")) is None
    al = allowlist("ip,1.2.3.4,both,alerts\ndomain,x.example,src,flows")
    assert not al.is_empty
    assert len(al) == 2
    assert al.flow_reason("1.2.3.4", "1.2.3.4") is None  # no flows entries for IPs


# -- CidrIndex ------------------------------------------------------------------------------


def test_cidr_index_basics() -> None:
    idx = CidrIndex(["10.0.0.0/8", "10.1.0.0/16", "11.0.0.0/8", "2001:db8::/32", "192.0.2.1"])
    assert len(idx) == 3  # 10/8 and 11/8 merge; 10.1/16 is inside
    for inside in ("10.255.255.255", "11.0.0.0", "192.0.2.1"):
        assert idx.lookup(inside)
    for outside in ("12.0.0.0", "192.0.2.2", "9.255.255.255"):
        assert not idx.lookup(outside)
    assert "2001:db8::1" in idx
    assert "::ffff:10.0.0.1" in idx
    assert 42 not in idx
    for junk in ("", "x", "10.0.0.0/8", "1.2.3.4.5", "::::"):
        assert not idx.lookup(junk)
    assert not CidrIndex()
    with pytest.raises(ValueError):  # noqa: PT011 - ipaddress' own message
        CidrIndex(["nope"])


def test_cidr_index_union_equals_index_of_all_networks() -> None:
    a = CidrIndex(["10.0.0.0/9", "2001:db8::/33"])
    b = CidrIndex(["10.128.0.0/9", "2001:db8:8000::/33", "8.8.8.0/24"])
    assert CidrIndex.union([a, b]) == CidrIndex(["10.0.0.0/8", "2001:db8::/32", "8.8.8.0/24"])
    assert hash(CidrIndex(["1.0.0.0/8"])) == hash(CidrIndex(["1.0.0.0/9", "1.128.0.0/9"]))


def _v4_net(draw: st.DrawFn) -> ipaddress.IPv4Network:
    plen = draw(st.integers(0, 32))
    return ipaddress.IPv4Network((draw(st.integers(0, 2**32 - 1)), plen), strict=False)


def _v6_net(draw: st.DrawFn) -> ipaddress.IPv6Network:
    plen = draw(st.integers(0, 128))
    base = draw(
        st.one_of(
            st.integers(0, 2**128 - 1),
            st.integers(0, 2**32 - 1).map(lambda v: 0xFFFF << 32 | v),  # IPv4-mapped
            st.integers(0, 2**64 - 1).map(lambda v: 0x20010DB8 << 96 | v),
        )
    )
    return ipaddress.IPv6Network((base, plen), strict=False)


@st.composite
def networks_and_ips(
    draw: st.DrawFn,
) -> tuple[list[ipaddress.IPv4Network | ipaddress.IPv6Network], list[str]]:
    nets: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = [
        _v4_net(draw) if draw(st.booleans()) else _v6_net(draw)
        for _ in range(draw(st.integers(0, 12)))
    ]
    ips: list[str] = []
    for net in nets:  # the edges of every network and their neighbours
        first, last = int(net.network_address), int(net.broadcast_address)
        top = 2**net.max_prefixlen - 1
        family = ipaddress.IPv4Address if net.version == 4 else ipaddress.IPv6Address
        ips += [str(family(v)) for v in (first - 1, first, last, last + 1) if 0 <= v <= top]
    v4 = st.integers(0, 2**32 - 1).map(ipaddress.IPv4Address)
    ips += [str(a) for a in draw(st.lists(v4, max_size=5))]
    ips += [f"::ffff:{a}" for a in draw(st.lists(v4, max_size=3))]
    v6 = st.integers(0, 2**128 - 1).map(ipaddress.IPv6Address)
    ips += [str(a) for a in draw(st.lists(v6, max_size=5))]
    return nets, ips


def _as_v4(
    addr: ipaddress.IPv4Address | ipaddress.IPv6Address,
) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    return addr


def brute_force(nets: list[ipaddress.IPv4Network | ipaddress.IPv6Network], ip: str) -> bool:
    """The spec, with ipaddress only: IPv4-mapped IPv6 addresses and networks are IPv4."""
    addr = _as_v4(ipaddress.ip_address(ip))
    mapped = ipaddress.IPv6Network("::ffff:0:0/96")
    for given_net in nets:
        net: ipaddress.IPv4Network | ipaddress.IPv6Network = given_net
        if isinstance(net, ipaddress.IPv6Network) and net.prefixlen >= 96 and net.subnet_of(mapped):
            net = ipaddress.IPv4Network((int(_as_v4(net.network_address)), net.prefixlen - 96))
        if addr.version == net.version and addr in net:
            return True
    return False


@settings(max_examples=300)
@given(networks_and_ips())
def test_cidr_index_agrees_with_brute_force(
    case: tuple[list[ipaddress.IPv4Network | ipaddress.IPv6Network], list[str]],
) -> None:
    nets, ips = case
    from_objects = CidrIndex(nets)
    from_strings = CidrIndex(str(n) for n in nets)
    assert from_objects == from_strings
    for ip in ips:
        assert from_objects.lookup(ip) is brute_force(nets, ip), ip


@settings(max_examples=500)
@given(
    st.one_of(
        st.text(max_size=45),
        st.from_regex(r"[0-9]{1,4}(\.[0-9]{1,4}){2,4}(/[0-9]{0,3})?", fullmatch=True),
        st.from_regex(r"[0-9a-fA-F:.%]{0,40}(/[0-9]{0,4})?", fullmatch=True),
    )
)
def test_cidr_string_fast_path_agrees_with_ipaddress(text: str) -> None:
    """The hand-rolled parse accepts exactly what ipaddress accepts, with the same result."""
    stripped = text.strip()
    pct = stripped.find("%")
    if pct >= 0:  # zones are ignored by design; ipaddress keeps them
        address, slash, prefix = stripped.partition("/")
        stripped = address[: address.find("%")] + slash + prefix
    try:
        expected: CidrIndex | None = CidrIndex([ipaddress.ip_network(stripped, strict=False)])
    except ValueError:
        expected = None
    try:
        got: CidrIndex | None = CidrIndex([text])
    except ValueError:
        got = None
    assert got == expected


@given(st.text(max_size=40))
def test_cidr_lookup_never_raises(text: str) -> None:
    assert CidrIndex(["0.0.0.0/0", "::/0"]).lookup(text) in (True, False)
