"""Features of the two model-based detectors, pure numpy.

Flow features (`flow_features`)
-------------------------------
Only what a conn record says about the conversation — never an address, a uid
or a timestamp (rows of one capture share addresses; a model that learns them
learns the capture, not the behaviour). Addresses enter only as their kind
(public, private, special). The columns, in `FLOW_FEATURES` order:

* sizes and times: log1p of duration, bytes and packets each way; the
  originator's share of bytes and of packets; log1p of bytes per packet each way;
* categories as one-hot columns: protocol, Zeek service (first of a list),
  destination port (a few well-known ports, else its IANA range), source port
  range, connection state, address kinds of both ends;
* the Zeek history: one column per flag letter present, and log1p of its length;
* whether the responder answered (`Flow.established`).

The encoding is fixed (no vocabulary learnt from data), so a model file names
its columns and a loader can check they are the ones this code produces.

Speed: the categorical part of a flow depends on a handful of strings and two
port classes, so rows are built once per distinct combination and cached (a
capture has a few hundred); the numeric part is vectorised over the batch.

Letters features (`LettersFeaturizer`)
--------------------------------------
A letters string is turned into relative frequencies of its character n-grams
(1 to 3 characters, separators included, so ``a.a.`` and ``a*a*`` differ) over
a vocabulary learnt at training time and stored with the model, plus the share
of each periodicity, size and duration class and of each separator, and log1p
of the number of letters. Frequencies, not counts: a 10-flow and a 10,000-flow
channel with the same rhythm look alike. Only the first `max_chars` characters
count (the same cut in training and detection).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np
import numpy.typing as npt

from detection.ml._letters import _TABLE, SEPARATORS
from detection.model import Flow

__all__ = [
    "FLOW_FEATURES",
    "LETTER_STATS",
    "LettersFeaturizer",
    "flow_features",
]

FloatArray = npt.NDArray[np.float64]

_PROTOS = ("tcp", "udp", "icmp")
_SERVICES = ("dns", "http", "ssl", "ssh", "dhcp", "ntp", "smtp", "irc", "ftp", "quic")
_PORTS = (
    21,
    22,
    23,
    25,
    53,
    67,
    68,
    80,
    123,
    137,
    138,
    139,
    443,
    445,
    1900,
    2323,
    3389,
    5353,
    5355,
    6667,
    8080,
    8443,
)
_STATES = (
    "S0",
    "S1",
    "S2",
    "S3",
    "SF",
    "REJ",
    "RSTO",
    "RSTR",
    "RSTOS0",
    "RSTRH",
    "SH",
    "SHR",
    "OTH",
)
_HISTORY = "ShAaDdFfRrCcGgTtWwIiQq^"

_NUMERIC = (
    "log_duration",
    "log_sbytes",
    "log_dbytes",
    "log_spkts",
    "log_dpkts",
    "sbytes_share",
    "spkts_share",
    "log_sbytes_per_pkt",
    "log_dbytes_per_pkt",
)
_CATEGORICAL = (
    *(f"proto={p}" for p in (*_PROTOS, "other")),
    *(f"service={s}" for s in ("none", *_SERVICES, "other")),
    *(
        f"dport={p}"
        for p in ("none", *map(str, _PORTS), "other_system", "other_registered", "other_dynamic")
    ),
    *(f"sport={p}" for p in ("none", "system", "registered", "dynamic")),
    *(f"state={s}" for s in ("none", *_STATES, "other")),
    *(f"history_has={c}" for c in _HISTORY),
    "log_history_len",
    "established",
    *(f"src_kind={k}" for k in ("public", "private", "special")),
    *(f"dst_kind={k}" for k in ("public", "private", "special")),
)
FLOW_FEATURES: tuple[str, ...] = (*_NUMERIC, *_CATEGORICAL)

_CAT_INDEX = {name: i for i, name in enumerate(_CATEGORICAL)}
_PORT_CLASS: dict[int | None, str] = {None: "none", **{p: str(p) for p in _PORTS}}
_KINDS = ("public", "private", "special")


def _port_range(port: int | None) -> str:
    if port is None:
        return "none"
    if port < 1024:
        return "system"
    return "registered" if port < 49152 else "dynamic"


def _dport_class(port: int | None) -> str:
    cls = _PORT_CLASS.get(port)
    return cls if cls is not None else f"other_{_port_range(port)}"


_CatKey = tuple[str, str, int | None, int | None, str, str, bool, int, int]


class _CategoricalCache:
    """Rows of the categorical block, one per distinct combination (bounded)."""

    def __init__(self, cap: int = 50_000) -> None:
        self.index: dict[_CatKey, int] = {}
        self.rows: list[FloatArray] = []
        self.cap = cap
        self._table: FloatArray | None = None

    def row_of(self, key: _CatKey) -> int:
        i = self.index.get(key)
        if i is None:
            if len(self.rows) >= self.cap:
                self.index.clear()
                self.rows.clear()
            i = len(self.rows)
            self.index[key] = i
            self.rows.append(_categorical_row(key))
            self._table = None
        return i

    def table(self) -> FloatArray:
        if self._table is None or len(self._table) != len(self.rows):
            self._table = np.vstack(self.rows) if self.rows else np.zeros((0, len(_CATEGORICAL)))
        return self._table


def _sport_class(port: int | None) -> str:
    return _port_range(port)


def _categorical_row(key: _CatKey) -> FloatArray:
    proto, service, dport, sport, state, history, established, skind, dkind = key
    row = np.zeros(len(_CATEGORICAL))
    ix = _CAT_INDEX
    row[ix[f"proto={proto if proto in _PROTOS else 'other'}"]] = 1.0
    svc = service.split(",", 1)[0].lower() if service else "none"
    row[ix[f"service={svc if svc in _SERVICES or svc == 'none' else 'other'}"]] = 1.0
    row[ix[f"dport={_dport_class(dport)}"]] = 1.0
    row[ix[f"sport={_sport_class(sport)}"]] = 1.0
    st = state if state in _STATES else ("none" if not state else "other")
    row[ix[f"state={st}"]] = 1.0
    for c in set(history):
        j = ix.get(f"history_has={c}")
        if j is not None:
            row[j] = 1.0
    row[ix["log_history_len"]] = np.log1p(len(history))
    row[ix["established"]] = 1.0 if established else 0.0
    row[ix[f"src_kind={_KINDS[skind]}"]] = 1.0
    row[ix[f"dst_kind={_KINDS[dkind]}"]] = 1.0
    return row


_CACHE = _CategoricalCache()


def flow_features(flows: Sequence[Flow]) -> FloatArray:
    """The `FLOW_FEATURES` matrix of a batch of flows (one row per flow)."""
    n = len(flows)
    out = np.empty((n, len(FLOW_FEATURES)))
    if n == 0:
        return out
    # Imported here: detection.heuristics discovers the detectors of this
    # package, which import this module (a cycle at import time otherwise).
    from detection.heuristics.base import ADDRESS_KINDS  # noqa: PLC0415

    kinds = ADDRESS_KINDS
    row_of = _CACHE.row_of
    cat = np.fromiter(
        (
            row_of(
                (
                    f.proto,
                    f.service,
                    f.dport,
                    f.sport,
                    f.state,
                    f.history,
                    f.established,
                    kinds[f.saddr],
                    kinds[f.daddr],
                )
            )
            for f in flows
        ),
        dtype=np.intp,
        count=n,
    )
    num = np.array([(f.duration, f.sbytes, f.dbytes, f.spkts, f.dpkts) for f in flows], float)
    num = np.nan_to_num(num, nan=0.0, posinf=1e12, neginf=0.0)
    np.clip(num, 0.0, 1e15, out=num)
    dur, sb, db, sp, dp = num.T
    k = len(_NUMERIC)
    out[:, 0] = np.log1p(dur)
    out[:, 1] = np.log1p(sb)
    out[:, 2] = np.log1p(db)
    out[:, 3] = np.log1p(sp)
    out[:, 4] = np.log1p(dp)
    out[:, 5] = (sb + 1.0) / (sb + db + 2.0)
    out[:, 6] = (sp + 1.0) / (sp + dp + 2.0)
    out[:, 7] = np.log1p(sb / np.maximum(sp, 1.0))
    out[:, 8] = np.log1p(db / np.maximum(dp, 1.0))
    out[:, k:] = _CACHE.table()[cat]
    return out


# -- letters ---------------------------------------------------------------------------------

_CLASS_OF: dict[str, tuple[int, int, int]] = {}
for _p, _row in _TABLE.items():
    for _i, _ch in enumerate(_row):
        _CLASS_OF[_ch] = (_p, _i // 3 + 1, _i % 3 + 1)

LETTER_STATS: tuple[str, ...] = (
    "log_letters",
    *(f"periodicity={p}" for p in (-1, 1, 2, 3, 4)),
    *(f"size={s}" for s in (1, 2, 3)),
    *(f"duration={d}" for d in (1, 2, 3)),
    *(f"sep={s}" for s in SEPARATORS),
)
_STAT_INDEX = {name: i for i, name in enumerate(LETTER_STATS)}


def _ngrams(text: str, n_max: int) -> Counter[str]:
    grams: Counter[str] = Counter()
    for n in range(1, n_max + 1):
        grams.update(text[i : i + n] for i in range(len(text) - n + 1))
    return grams


def _letter_stats(text: str) -> FloatArray:
    row = np.zeros(len(LETTER_STATS))
    letters = 0
    seps = 0
    for ch, k in Counter(text).items():  # at most 50 distinct symbols
        cls = _CLASS_OF.get(ch)
        if cls is not None:
            letters += k
            p, s, d = cls
            row[_STAT_INDEX[f"periodicity={p}"]] += k
            row[_STAT_INDEX[f"size={s}"]] += k
            row[_STAT_INDEX[f"duration={d}"]] += k
        elif ch in SEPARATORS:
            seps += k
            row[_STAT_INDEX[f"sep={ch}"]] += k
    if letters:
        row[1:12] /= letters
    if seps:
        row[12:] /= seps
    row[0] = np.log1p(letters)
    return row


class LettersFeaturizer:
    """N-gram frequencies over a fixed vocabulary plus `LETTER_STATS`.

    `fit` learns the vocabulary (n-grams present in at least `min_count`
    strings, sorted, so the column order is deterministic)."""

    def __init__(self, vocabulary: Sequence[str] = (), n_max: int = 3, max_chars: int = 4000):
        self.vocabulary = tuple(vocabulary)
        self.n_max = n_max
        self.max_chars = max_chars
        self._index = {g: i for i, g in enumerate(self.vocabulary)}

    @property
    def feature_names(self) -> tuple[str, ...]:
        return (*(f"gram={g}" for g in self.vocabulary), *LETTER_STATS)

    def fit(self, texts: Iterable[str], min_count: int = 5) -> LettersFeaturizer:
        df: Counter[str] = Counter()
        for text in texts:
            df.update(set(_ngrams(text[: self.max_chars], self.n_max)))
        vocab = sorted(g for g, c in df.items() if c >= min_count)
        return LettersFeaturizer(vocab, self.n_max, self.max_chars)

    def transform(self, texts: Sequence[str]) -> FloatArray:
        v = len(self.vocabulary)
        out = np.zeros((len(texts), v + len(LETTER_STATS)))
        index = self._index
        for r, full in enumerate(texts):
            text = full[: self.max_chars]
            grams = _ngrams(text, self.n_max)
            totals = [0] * (self.n_max + 1)
            for g, c in grams.items():
                totals[len(g)] += c
            for g, c in grams.items():
                j = index.get(g)
                if j is not None:
                    out[r, j] = c / totals[len(g)]
            out[r, v:] = _letter_stats(text)
        return out
