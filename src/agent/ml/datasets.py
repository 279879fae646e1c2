"""Labelled datasets for the ML detectors: readers and label normalisation.

Formats (what ``shared/data/labeled/`` holds, and what `starling ml evaluate` reads):

* IoT-23 CSV: Zeek conn.log columns plus ``label`` and ``detailed-label``. Each
  row is handed to the Zeek TSV parser (`detection.parsers.zeek`) under a
  synthetic header, so a CSV flow and a TSV flow are built by the same code.
* Zeek TSV ``conn.log.labeled``: read by the Zeek parser, which carries the
  ``label``/``detailedlabel`` columns on `Flow`.
* ``.psv`` letters: ``src|dst|port|proto|State|label|class|capture|modelsize``,
  one out-tuple per row; ``capture`` (CTU-13 scenario) names its group.

Labels are normalised case-insensitively: malicious/botnet (and labels starting
with ``Botnet``/``Malicious``) → 1; benign/normal (``Normal…``) → 0; Background,
Unknown and anything else → unlabelled (kept as a row, scored, but never counted
in a metric and never trained on: the datasets' authors say those rows are not
verified).

Bad input: a row that does not parse is counted under its reason in
`skipped` and leaves no row; a file that cannot be read at all raises
`DatasetError` naming it. Row numbers are 1-based data rows of the file
(header lines are not rows), the key of a predictions file.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from detection.model import Flow
from detection.parsers.base import ParseError, Unsupported
from detection.parsers.zeek import ZeekTsvParser

__all__ = [
    "DatasetError",
    "FlowSet",
    "LettersSet",
    "file_sha256",
    "normalise_label",
    "read_flows",
    "read_iot23_csv",
    "read_letters",
    "read_zeek_labeled",
]

UNLABELLED = -1


class DatasetError(Exception):
    """A dataset file that cannot be used (unreadable, unknown format, no rows)."""


def normalise_label(text: str | None) -> int:
    """1 malicious, 0 benign, -1 unlabelled (Background, Unknown, empty, other)."""
    if not text:
        return UNLABELLED
    low = text.strip().lower()
    if low in ("malicious", "botnet") or low.startswith(("malicious", "botnet")):
        return 1
    if low in ("benign", "normal") or low.startswith(("benign", "normal")):
        return 0
    return UNLABELLED


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@dataclass
class FlowSet:
    """The flows of one labelled capture (one file)."""

    name: str
    flows: list[Flow] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)  # 1, 0 or UNLABELLED
    rows: list[int] = field(default_factory=list)  # 1-based data row in the file
    skipped: Counter[str] = field(default_factory=Counter)


@dataclass
class LettersSet:
    """Out-tuples encoded as letters, grouped by `captures` (one name per row)."""

    name: str
    texts: list[str] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)
    captures: list[str] = field(default_factory=list)
    rows: list[int] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)


def _open_text(path: Path) -> io.TextIOBase:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DatasetError(f"{path}: {exc.strerror or exc}") from None
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise DatasetError(f"{path}: bad gzip data ({exc})") from None
    return io.StringIO(raw.decode("utf-8", errors="replace"), newline="")


def _capture_name(path: Path) -> str:
    # conn.log.labeled files are named by their directory (the capture).
    name = path.name
    for suffix in (".gz", ".labeled", ".log", ".conn", ".csv", ".psv"):
        name = name.removesuffix(suffix)
    if name in ("conn", "") and path.parent.name:
        return path.parent.name
    return name.removesuffix("-labeled")


def _add_flow(out: FlowSet, parser: ZeekTsvParser, line: str, row: int) -> None:
    try:
        rec = parser.parse_line(line)
    except (ParseError, Unsupported) as exc:
        out.skipped[getattr(exc, "reason", "bad_row")] += 1
        return
    if isinstance(rec, Flow):
        out.flows.append(rec)
        out.labels.append(normalise_label(rec.label))
        out.rows.append(row)
    elif rec is not None:
        out.skipped["not_a_flow"] += 1


_CSV_FIELDS = {"ts", "uid", "id.orig_h", "id.resp_h"}


def read_iot23_csv(path: Path, text: io.TextIOBase | None = None) -> FlowSet:
    """IoT-23 labelled conn records in CSV."""
    out = FlowSet(_capture_name(path))
    f = text if text is not None else _open_text(path)
    # csv's default field limit stays (it is process-wide state other readers rely
    # on); a row over it is skipped and counted below.
    reader = csv.reader(f)
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise DatasetError(f"{path}: unreadable CSV header ({exc})") from None
    if header is None or not set(header) >= _CSV_FIELDS:
        raise DatasetError(f"{path}: not an IoT-23 CSV (no ts,uid,id.orig_h,id.resp_h header)")
    parser = ZeekTsvParser("conn")
    for line in ("#separator \\x09", "#set_separator\t,", "#empty_field\t(empty)",
                 "#unset_field\t-", "#path\tconn", "#fields\t" + "\t".join(header)):  # fmt: skip
        parser.parse_line(line)
    width = len(header)
    row = 0
    while True:
        row += 1
        try:
            values = next(reader)
        except StopIteration:
            break
        except csv.Error:
            out.skipped["unreadable_csv_row"] += 1
            continue
        if len(values) != width:
            out.skipped["wrong_column_count"] += 1
            continue
        # CSV writes an unset value as an empty cell; tabs would split a field.
        line = "\t".join("-" if not v else v.replace("\t", " ") for v in values)
        if line.lstrip().startswith("#"):
            # A data row, never a Zeek directive: passed on, "#fields..." in the
            # ts cell would re-configure the parser for every later row.
            out.skipped["bad_field"] += 1
            continue
        _add_flow(out, parser, line, row)
    return out


def read_zeek_labeled(path: Path, text: io.TextIOBase | None = None) -> FlowSet:
    """Zeek TSV conn logs with label columns (``conn.log.labeled``)."""
    out = FlowSet(_capture_name(path))
    f = text if text is not None else _open_text(path)
    parser = ZeekTsvParser("conn")
    row = 0
    for line in f:
        stripped = line.lstrip()
        if stripped.startswith("#"):
            parser.parse_line(stripped)
            continue
        if not line.strip():
            continue
        row += 1
        _add_flow(out, parser, line, row)
    if not parser.fields:
        raise DatasetError(f"{path}: not a Zeek TSV log (no #fields header)")
    return out


_PSV_FIELDS = ("State", "capture")


def read_letters(path: Path, text: io.TextIOBase | None = None) -> LettersSet:
    """The ``.psv`` letters file (pipe-separated, header first)."""
    out = LettersSet(_capture_name(path))
    f = text if text is not None else _open_text(path)
    header_line = f.readline().rstrip("\r\n")
    header = header_line.split("|")
    if not all(h in header for h in _PSV_FIELDS) or not ("label" in header or "class" in header):
        raise DatasetError(f"{path}: not a letters file (needs State, label/class, capture)")
    i_state, i_cap = header.index("State"), header.index("capture")
    i_label = header.index("class") if "class" in header else header.index("label")
    i_alt = header.index("label") if "label" in header else i_label
    width = len(header)
    for row, line in enumerate(f, start=1):
        values = line.rstrip("\r\n").split("|")
        if len(values) != width:
            out.skipped["wrong_column_count"] += 1
            continue
        label = normalise_label(values[i_label])
        if label == UNLABELLED:
            label = normalise_label(values[i_alt])
        out.texts.append(values[i_state])
        out.labels.append(label)
        out.captures.append(values[i_cap] or out.name)
        out.rows.append(row)
    return out


def sniff_kind(path: Path, head: str) -> str:
    """The format of a dataset file ("iot23", "zeek" or "letters") from its first line."""
    first = head.lstrip()
    if first.startswith("#"):
        return "zeek"
    if "|" in first and "State" in first.split("|"):
        return "letters"
    if "," in first and "id.orig_h" in first:
        return "iot23"
    raise DatasetError(f"{path}: unknown dataset format (IoT-23 CSV, Zeek TSV or .psv letters)")


def read_flows(path: Path) -> FlowSet:
    """A flow dataset file of either flow format."""
    f = _open_text(path)
    kind = sniff_kind(path, _first_line(f))
    if kind == "letters":
        raise DatasetError(f"{path}: a letters file, not flows (use `letters`)")
    return read_iot23_csv(path, f) if kind == "iot23" else read_zeek_labeled(path, f)


def read_letters_file(path: Path) -> LettersSet:
    f = _open_text(path)
    kind = sniff_kind(path, _first_line(f))
    if kind != "letters":
        raise DatasetError(f"{path}: not a letters file (.psv with a State column)")
    return read_letters(path, f)


def _first_line(f: io.TextIOBase) -> str:
    pos = f.tell()
    head = f.readline()
    f.seek(pos)
    return head


def iter_paths(paths: list[Path]) -> Iterator[Path]:
    """Files named, and the dataset files under directories named (sorted)."""
    for p in paths:
        if p.is_dir():
            found = sorted(
                q
                for q in p.rglob("*")
                if q.is_file() and q.name.endswith((".csv", ".labeled", ".psv", ".gz"))
            )
            if not found:
                raise DatasetError(f"{p}: no dataset files (.csv, .labeled, .psv) in it")
            yield from found
        elif p.is_file():
            yield p
        else:
            raise DatasetError(f"{p}: no such file or directory")
