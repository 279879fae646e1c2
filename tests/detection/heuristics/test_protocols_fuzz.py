"""Whatever field values arrive, the protocol detectors never crash (hypothesis)."""

from __future__ import annotations

import typing
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from detection.allowlist import CidrIndex, OrgInfo
from detection.heuristics.base import DetectionContext, Detector
from detection.heuristics.beaconing import Beaconing, BeaconingParams
from detection.heuristics.cn_sni_mismatch import CnSniMismatch, CnSniMismatchParams
from detection.heuristics.empty_search_engine_requests import (
    EmptySearchEngineRequests,
    EmptySearchEngineRequestsParams,
)
from detection.heuristics.executable_download import ExecutableDownload, ExecutableDownloadParams
from detection.heuristics.incompatible_certificate_cn import (
    IncompatibleCertificateCn,
    IncompatibleCertificateCnParams,
)
from detection.heuristics.multiple_user_agents import (
    MultipleUserAgents,
    MultipleUserAgentsParams,
)
from detection.heuristics.non_http_port_80 import NonHttpPort80, NonHttpPort80Params
from detection.heuristics.non_tls_port_443 import NonTlsPort443, NonTlsPort443Params
from detection.heuristics.pastebin_download import PastebinDownload, PastebinDownloadParams
from detection.heuristics.plain_http import PlainHttp, PlainHttpParams
from detection.heuristics.self_signed_certificate import (
    SelfSignedCertificate,
    SelfSignedCertificateParams,
)
from detection.heuristics.smtp_bad_login import SmtpBadLogin, SmtpBadLoginParams
from detection.heuristics.smtp_login_bruteforce import (
    SmtpLoginBruteforce,
    SmtpLoginBruteforceParams,
)
from detection.heuristics.ssh_password_guessing import (
    SshPasswordGuessing,
    SshPasswordGuessingParams,
)
from detection.heuristics.ssh_successful_login import SshSuccessfulLogin, SshSuccessfulLoginParams
from detection.heuristics.ssh_version_changing import SshVersionChanging, SshVersionChangingParams
from detection.heuristics.suspicious_user_agent import (
    SuspiciousUserAgent,
    SuspiciousUserAgentParams,
)
from detection.heuristics.weird_http_method import WeirdHttpMethod, WeirdHttpMethodParams

_ORG = OrgInfo("google", frozenset(), frozenset({"google.com"}), CidrIndex(["8.8.8.0/24"]))
_CONTEXT = DetectionContext(organizations={"google": _ORG})

_TEXT = st.sampled_from(
    ["", "-", "10.0.0.1", "8.8.8.8", "::1", "CN=www.google.com", "535 x", "554 5.7.1 auth",
     "${jndi:", "ssl", "http", "ssh", "SSH::Password_Guessing",
     "Sampled servers: 10.0.0.9, ::1", "SSH-2.0-paramiko_3",
     "SSH::CLIENT", "pastebin.com", "104.20.67.143", "www.google.com", "/",
     "unknown_HTTP_method", "*.google.com", "F1", "whatever",
     "application/x-dosexec", "self signed", "S^hC",
     # str.isdigit() accepts these, int() refuses the superscripts
     "²", "172.²³.0.1", "10.0.0.1 guessing (seen in ²³ connections).", "٣.1.1.1"]
) | st.text(max_size=12)  # fmt: skip


def _value(tp: Any) -> st.SearchStrategy[Any]:
    args = typing.get_args(tp)
    if tp is str:
        return _TEXT
    if tp is float:
        return st.floats(min_value=0, max_value=2**33, allow_nan=False)
    if tp is int:
        return st.integers(min_value=0, max_value=2**40)
    if tp is bool:
        return st.booleans()
    if type(None) in args:
        inner = next(a for a in args if a is not type(None))
        return st.none() | _value(inner)
    if typing.get_origin(tp) is tuple:
        return st.lists(_value(args[0]), max_size=3).map(tuple)
    raise AssertionError(tp)


def records_of(cls: type) -> st.SearchStrategy[Any]:
    hints = typing.get_type_hints(cls)
    return st.builds(cls, **{name: _value(hints[name]) for name in cls._fields})


DETECTORS: list[Detector] = [
    NonTlsPort443(NonTlsPort443Params()),
    NonHttpPort80(NonHttpPort80Params()),
    SmtpBadLogin(SmtpBadLoginParams()),
    SmtpLoginBruteforce(SmtpLoginBruteforceParams()),
    SuspiciousUserAgent(SuspiciousUserAgentParams(empty_min_requests=1)),
    ExecutableDownload(ExecutableDownloadParams()),
    SshVersionChanging(SshVersionChangingParams()),
    SelfSignedCertificate(SelfSignedCertificateParams()),
    IncompatibleCertificateCn(IncompatibleCertificateCnParams(require_sni=False), _CONTEXT),
    Beaconing(BeaconingParams(min_intervals=2, ignore_private=False), _CONTEXT),
    SshPasswordGuessing(SshPasswordGuessingParams(min_attempts=1, min_client_bytes=0)),
    SshSuccessfulLogin(SshSuccessfulLoginParams(min_session_bytes=0)),
    MultipleUserAgents(MultipleUserAgentsParams(min_agents=2)),
    EmptySearchEngineRequests(EmptySearchEngineRequestsParams(min_requests=1)),
    PlainHttp(PlainHttpParams()),
    WeirdHttpMethod(WeirdHttpMethodParams()),
    PastebinDownload(PastebinDownloadParams(min_bytes=0)),
    CnSniMismatch(CnSniMismatchParams(), _CONTEXT),
]
ALL_TYPES = sorted({t for d in DETECTORS for t in d.consumes}, key=lambda t: t.__name__)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(*(records_of(t) for t in ALL_TYPES)), max_size=30))
def test_detectors_never_crash(records: list[Any]) -> None:
    for det in DETECTORS:
        for r in records:
            if type(r) in det.consumes:
                for ev in det.observe(r, int(r.ts // 3600)) or ():
                    assert ev.type == det.name and ev.attacker
        det.close_window(2**62)
