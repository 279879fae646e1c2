"""Feed lists: which feeds to download, at what threat level, under which tags.

Theory of operation
-------------------
A feed list is a hand-edited text file (Slips' ``TI_feeds.csv``, ``JA3_feeds.csv``,
``SSL_feeds.csv`` format), one feed a line::

    https://feodotracker.abuse.ch/downloads/ipblocklist.csv,medium, ['honeypot']

The comment character carries meaning, so comments are read rather than dropped:
a ``#`` line whose rest is a feed line is a *paused* feed (not downloaded again,
but its last indicators stay in use); a ``;`` line is a *removed* feed (its
indicators are dropped). Any other comment line is prose and ignored.

Because people edit these files by hand, parsing is forgiving and never raises
on content: a stray character before a URL (a backtick, a BOM) is stripped with
a warning, an unknown threat level becomes medium with a warning, an
unparseable line is skipped with a warning, and a duplicated URL keeps its
first line. Warnings name the 1-based line number so they can be fixed.

Each feed gets a short stable `FeedSpec.name` (host + last path component),
which evidence and the indicator index use instead of the long URL.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from detection.model import ThreatLevel

__all__ = ["FEED_KINDS", "FeedSpec", "parse_feed_list"]

FEED_KINDS = frozenset({"ti", "ja3", "ssl", "jarm"})

_STATES = {"#": "paused", ";": "removed"}
_QUOTES = "\"'"
# Characters that may appear in a URL (RFC 3986 unreserved, reserved and '%').
_URL_CHARS = frozenset(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~:/?#[]@!$&'()*+,;=%"
)
_MAX_LINE = 4096


@dataclass(frozen=True, slots=True)
class FeedSpec:
    """One feed of a feed list."""

    url: str
    threat_level: ThreatLevel
    tags: tuple[str, ...]
    # "active"; "paused" ('#'-commented: not updated, its last indicators still
    # used); "removed" (';'-commented: its indicators are dropped)
    state: str
    kind: str  # "ti" | "ja3" | "ssl" (| "jarm"), as given by the caller
    name: str  # host + last path component, unique within one list


def _describe(char: str) -> str:
    return f"{char!r} (U+{ord(char):04X})"


def _strip_stray(text: str, lineno: int, warnings: list[str]) -> str:
    """Remove characters before the URL's scheme: quotes silently (CSV quoting
    is allowed), anything else with a warning."""
    i = 0
    while i < len(text) and not (text[i].isascii() and text[i].isalpha()):
        char = text[i]
        if char not in _QUOTES and not char.isspace():
            warnings.append(f"line {lineno}: stray character {_describe(char)} removed")
        i += 1
    return text[i:]


def _parse_tags(text: str, lineno: int, warnings: list[str]) -> tuple[str, ...]:
    """``['phishing','honeypot']`` (or a bare ``phishing``) into a tuple."""
    body = text.strip()
    if body.startswith("["):
        end = body.rfind("]")
        if end < 0:
            warnings.append(f"line {lineno}: tags not closed with ']'")
            end = len(body)
        elif body[end + 1 :].strip():
            warnings.append(f"line {lineno}: text after the tags ignored")
        body = body[1:end]
    tags: list[str] = []
    for part in body.split(","):
        tag = part.strip().strip(_QUOTES).strip()
        if tag and tag not in tags:
            tags.append(tag)
    return tuple(tags)


def _valid_url(url: str) -> bool:
    scheme, sep, rest = url.partition("://")
    if not sep or not scheme.isascii() or not scheme.isalpha():
        return False
    host = rest.split("/", 1)[0]
    return bool(host) and all(c in _URL_CHARS for c in url)


def _base_name(url: str) -> str:
    parts = urlsplit(url)
    host = (parts.hostname or parts.netloc).lower()
    components = [c for c in parts.path.split("/") if c]
    return f"{host}/{components[-1]}" if components else host


def _is_url_start(text: str) -> bool:
    scheme, sep, _ = text.partition("://")
    return bool(sep and scheme and scheme.isascii() and scheme[0].isalpha()) and all(
        c.isalnum() or c in "+.-" for c in scheme
    )


def _feed_line(
    rest: str, state: str, lineno: int, warnings: list[str]
) -> tuple[str, ThreatLevel, tuple[str, ...]] | None:
    """Parse ``URL,level,tags``, or None if the line is not one: a warning for
    active lines; commented lines that do not start with a URL are prose."""
    local: list[str] = []  # kept only if this turns out to be a feed line
    url_field, _, remainder = _strip_stray(rest, lineno, local).partition(",")
    url = url_field.strip().strip(_QUOTES).strip()
    if not _is_url_start(url):
        if state == "active":
            warnings.append(f"line {lineno}: not a feed line (no URL first), skipped")
        return None
    warnings.extend(local)
    while url and (url[-1] not in _URL_CHARS or url[-1] in _QUOTES):
        if not url[-1].isspace() and url[-1] not in _QUOTES:
            warnings.append(f"line {lineno}: stray character {_describe(url[-1])} removed")
        url = url[:-1]
    if not _valid_url(url):
        warnings.append(f"line {lineno}: invalid URL {url_field.strip()!r}, skipped")
        return None
    level_field, sep, tags_field = remainder.partition(",")
    level_text = level_field.strip().strip(_QUOTES).strip().lower()
    try:
        level = ThreatLevel(level_text)
    except ValueError:
        shown = level_text or "(none)"
        warnings.append(f"line {lineno}: unknown threat level {shown!r}, using medium")
        level = ThreatLevel.MEDIUM
    tags = _parse_tags(tags_field, lineno, warnings) if sep else ()
    return url, level, tags


def parse_feed_list(text: str, kind: str) -> tuple[list[FeedSpec], list[str]]:
    """The feeds of one feed list, in file order, and warnings about its lines.

    `kind` ("ti", "ja3", "ssl" or "jarm") is copied into every `FeedSpec`; an
    unknown kind raises ValueError (a caller's mistake, not the file's)."""
    if kind not in FEED_KINDS:
        raise ValueError(f"unknown feed kind {kind!r}; expected one of {sorted(FEED_KINDS)}")
    specs: list[FeedSpec] = []
    warnings: list[str] = []
    seen_urls: dict[str, int] = {}
    names: set[str] = set()
    for lineno, raw in enumerate(text.removeprefix("\ufeff").splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        if len(line) > _MAX_LINE:
            warnings.append(f"line {lineno}: longer than {_MAX_LINE} characters, skipped")
            continue
        state = _STATES.get(line[0], "active")
        rest = line.lstrip("#; \t") if state != "active" else line
        parsed = _feed_line(rest, state, lineno, warnings) if rest else None
        if parsed is None:
            continue
        url, level, tags = parsed
        if url in seen_urls:
            warnings.append(f"line {lineno}: duplicate of line {seen_urls[url]} ({url}), skipped")
            continue
        seen_urls[url] = lineno
        base = name = _base_name(url)
        count = 1
        while name in names:
            count += 1
            name = f"{base}#{count}"
        if count > 1:
            warnings.append(f"line {lineno}: feed name {base!r} already used, named {name!r}")
        names.add(name)
        specs.append(FeedSpec(url, level, tags, state, kind, name))
    return specs, warnings
