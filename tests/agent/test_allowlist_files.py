from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from agent.allowlist_files import bundled_data_dir, load_allowlist

ORGS = ("apple", "facebook", "google", "microsoft", "twitter")


@pytest.fixture
def data() -> Path:
    return bundled_data_dir()


def test_bundled_data_is_packaged(data: Path) -> None:
    assert data.name == "data"
    assert (data / "allowlist.conf").is_file()
    names = sorted(p.name for p in (data / "organizations_info").iterdir())
    assert names == sorted(f"{o}_{k}" for o in ORGS for k in ("asn", "domains", "ip_ranges"))
    text = (data / "allowlist.conf").read_text("utf-8")
    assert "; Source: Stratosphere Lab Slips config/whitelist.conf (GPL-2.0)\n" in text
    assert "config/whitelist.conf" in (data / "PROVENANCE.md").read_text("utf-8")


def test_load_bundled_allowlist_and_organisations(data: Path) -> None:
    al, warnings = load_allowlist(data / "allowlist.conf", data / "organizations_info")
    assert warnings == []
    assert len(al) == 105
    assert sorted(al.orgs) == list(ORGS)
    assert al.missing_orgs == frozenset()
    assert al.match_ip("8.8.8.8", "dst", "alerts") == "organization google (ip range)"
    assert al.match_ip("34.117.59.81", "src", "alerts") == "allowlist ip 34.117.59.81 (both)"
    assert al.match_ip("198.51.100.1", "src", "alerts") is None
    assert al.flow_reason("8.8.8.8", "8.8.8.8") is None  # the bundled entries are alerts-only


def test_only_named_organisations_are_loaded_unless_all_orgs(tmp_path: Path, data: Path) -> None:
    conf = tmp_path / "allow.conf"
    conf.write_text("organization,google,both,alerts\n", encoding="utf-8")
    orgs_dir = data / "organizations_info"
    al, warnings = load_allowlist(conf, orgs_dir)
    assert warnings == []
    assert list(al.orgs) == ["google"]
    al, warnings = load_allowlist(conf, orgs_dir, all_orgs=True)
    assert warnings == []
    assert sorted(al.orgs) == list(ORGS)
    assert al.match_ip("17.0.0.1", "src", "alerts") is None  # apple loaded, not allowlisted


def test_missing_allowlist_file_is_a_warning_naming_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope.conf"
    al, warnings = load_allowlist(missing, None)
    assert al.is_empty
    assert warnings == [f"allowlist file {missing} not found"]


def test_no_paths_is_an_empty_allowlist_without_warnings() -> None:
    al, warnings = load_allowlist(None, None)
    assert al.is_empty
    assert warnings == []


def test_organisation_problems_are_warnings(tmp_path: Path, data: Path) -> None:
    conf = tmp_path / "allow.conf"
    conf.write_text("organization,google,both,alerts\norganization,acme,both,alerts\n")
    al, warnings = load_allowlist(conf, None)
    assert warnings == [
        "organizations acme, google are allowlisted but no organizations directory is "
        "configured; they match nothing"
    ]
    assert al.missing_orgs == {"acme", "google"}

    al, warnings = load_allowlist(conf, tmp_path / "no-such-dir")
    assert warnings == [f"organizations directory {tmp_path / 'no-such-dir'} not found"]

    orgs_dir = tmp_path / "orgs"
    orgs_dir.mkdir()
    shutil.copy(data / "organizations_info" / "google_ip_ranges", orgs_dir)
    (orgs_dir / "google_domains").write_text("google.com\nnot a domain\n")
    al, warnings = load_allowlist(conf, orgs_dir)
    assert warnings == [
        f"organization acme: no data files in {orgs_dir}; it matches nothing",
        f"organization google: missing google_asn in {orgs_dir}",
        f"{orgs_dir}: google domains line 2: not a valid domain name: 'not a domain'",
    ]
    assert al.missing_orgs == {"acme"}
    assert al.match_ip("8.8.8.8", "src", "alerts") == "organization google (ip range)"
    assert al.match_domain("www.google.com", "src", "alerts") == "organization google (domain)"


def test_bad_lines_and_bytes_are_warnings_prefixed_with_the_path(tmp_path: Path) -> None:
    conf = tmp_path / "allow.conf"
    conf.write_bytes(b"ip,1.2.3.4,both,both\nip,caf\xe9,both,alerts\nnonsense\n")
    al, warnings = load_allowlist(conf, None)
    assert len(al) == 1
    assert al.flow_reason("1.2.3.4", "5.6.7.8") == "allowlist ip 1.2.3.4 (both) for src 1.2.3.4"
    assert len(warnings) == 2
    assert warnings[0].startswith(f"{conf}: line 2: not an IP address or CIDR: 'caf\ufffd'")
    assert warnings[1].startswith(f"{conf}: line 3: expected 4 fields")


def test_unreadable_path_is_a_warning(tmp_path: Path) -> None:
    al, warnings = load_allowlist(tmp_path, None)  # a directory, not a file
    assert al.is_empty
    assert len(warnings) == 1
    assert warnings[0].startswith(f"allowlist file {tmp_path} could not be read")
