"""Stratosphere behaviour letters: one symbol per flow of an out-tuple.

Theory of operation
-------------------
The Stratosphere IPS (and Slips after it) describes the flows of one out-tuple
(source → destination:port/protocol) as a string, one letter per flow, from
three discretised values:

* periodicity, from the two last inter-flow gaps T1 (previous → last flow) and
  T2 (last → this flow): TD = max/min of the two; TD ≤ 1.05 strongly periodic,
  < 1.3 weakly periodic, < 5 weakly not periodic, otherwise strongly not
  periodic; unknown (-1) until a flow has two predecessors. A zero gap makes
  TD = 1, as in the published implementation;
* size (total bytes both ways): ≤ 250, ≤ 1100, > 1100;
* duration: ≤ 0.1 s, ≤ 10 s, > 10 s.

=========================  =========  =========  =========
periodicity \\ size         ≤ 250      ≤ 1100     > 1100
=========================  =========  =========  =========
unknown                    1 2 3      4 5 6      7 8 9
strongly periodic          a b c      d e f      g h i
weakly periodic            A B C      D E F      G H I
weakly not periodic        r s t      u v w      x y z
strongly not periodic      R S T      U V W      X Y Z
=========================  =========  =========  =========

(the three letters in a cell: duration short, medium, long).

From the second flow on, each letter is followed by the time separator of the
gap before it: ``.`` ≤ 5 s, ``,`` ≤ 60 s, ``+`` ≤ 300 s, ``*`` ≤ 3600 s, and one
``0`` per started-and-completed hour above that (the CTU-13 letters carry
``00`` for a gap of two to three hours). The first flow has no separator. This
layout — ``69*z*z*z*z00Z*z*`` — is the one of the CTU-13 letters file the
letters model is trained on (checked by a grammar test on all its rows).

Flows arriving out of order (a negative gap) are treated as simultaneous
(gap 0), so a sequence never raises.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

__all__ = [
    "LETTERS",
    "SEPARATORS",
    "TupleEncoder",
    "duration_class",
    "encode",
    "letter",
    "periodicity_class",
    "separator",
    "size_class",
]

# rows: periodicity -1, 1, 2, 3, 4; within a row: size 1..3 x duration 1..3
_TABLE = {
    -1: "123456789",
    1: "abcdefghi",
    2: "ABCDEFGHI",
    3: "rstuvwxyz",
    4: "RSTUVWXYZ",
}
LETTERS = "".join(_TABLE.values())
SEPARATORS = ".,+*0"

_TD_STRONG, _TD_WEAK, _TD_NOT = 1.05, 1.3, 5.0
_SIZE_SMALL, _SIZE_MEDIUM = 250, 1100
_DUR_SHORT, _DUR_MEDIUM = 0.1, 10.0
_HOUR = 3600.0


def periodicity_class(t1: float | None, t2: float | None) -> int:
    """-1 when a gap is unknown, else 1 (strongly periodic) … 4 (strongly not)."""
    if t1 is None or t2 is None:
        return -1
    hi, lo = (t2, t1) if t2 >= t1 else (t1, t2)
    td = 1.0 if lo <= 0.0 else hi / lo
    if td <= _TD_STRONG:
        return 1
    if td < _TD_WEAK:
        return 2
    if td < _TD_NOT:
        return 3
    return 4


def size_class(total_bytes: float) -> int:
    if total_bytes <= _SIZE_SMALL:
        return 1
    return 2 if total_bytes <= _SIZE_MEDIUM else 3


def duration_class(duration: float) -> int:
    if duration <= _DUR_SHORT:
        return 1
    return 2 if duration <= _DUR_MEDIUM else 3


def letter(periodicity: int, size: int, duration: int) -> str:
    return _TABLE[periodicity][3 * (size - 1) + duration - 1]


def separator(gap: float) -> str:
    """The time symbol of a gap between two flows of a tuple (seconds)."""
    if gap <= 5.0:
        return "."
    if gap <= 60.0:
        return ","
    if gap <= 300.0:
        return "+"
    if gap <= _HOUR:
        return "*"
    # NaN/inf never reach here from the encoder (it clamps); keep this total anyway.
    hours = int(gap / _HOUR) if math.isfinite(gap) else 1
    return "0" * max(1, min(hours, 24))


class TupleEncoder:
    """The letters of one out-tuple, built flow by flow (`add`).

    `max_symbols` bounds the string: once it holds that many letters further
    flows only advance the timing state (bounded memory on long-lived tuples)."""

    __slots__ = ("_symbols", "last", "letters", "max_symbols", "n", "t1")

    def __init__(self, max_symbols: int = 1 << 30) -> None:
        self.last: float | None = None  # time of the last flow
        self.t1: float | None = None  # gap between the two last flows
        self._symbols: list[str] = []  # joined on demand: appends stay O(1)
        self.n = 0  # flows seen
        self.letters = 0  # letters in `text`
        self.max_symbols = max_symbols

    def add(self, ts: float, total_bytes: float, duration: float) -> str:
        """Append the symbol of a flow starting at `ts`; return the symbol.

        The table lookups are inlined (this runs once per flow); `encode_one`
        below is the same computation through the named helpers, and a test
        checks both agree."""
        last = self.last
        t1 = self.t1
        if last is None:
            t2 = None
            sep = ""
            row = "123456789"
        else:
            t2 = ts - last
            if not t2 > 0.0:  # out of order, simultaneous or NaN
                t2 = 0.0
            elif t2 > _HOUR * 24:
                t2 = _HOUR * 24 if not math.isfinite(t2) else t2
            if t2 <= 5.0:
                sep = "."
            elif t2 <= 60.0:
                sep = ","
            elif t2 <= 300.0:
                sep = "+"
            elif t2 <= _HOUR:
                sep = "*"
            else:
                sep = separator(t2)
            if t1 is None:
                row = "123456789"
            else:
                hi, lo = (t2, t1) if t2 >= t1 else (t1, t2)
                td = 1.0 if lo <= 0.0 else hi / lo
                if td <= _TD_STRONG:
                    row = "abcdefghi"
                elif td < _TD_WEAK:
                    row = "ABCDEFGHI"
                elif td < _TD_NOT:
                    row = "rstuvwxyz"
                else:
                    row = "RSTUVWXYZ"
            if ts > last:
                self.last = ts
        if last is None:
            self.last = ts
        size = 0 if total_bytes <= _SIZE_SMALL else (3 if total_bytes <= _SIZE_MEDIUM else 6)
        dur = 0 if duration <= _DUR_SHORT else (1 if duration <= _DUR_MEDIUM else 2)
        sym = row[size + dur] + sep
        self.t1 = t2
        self.n += 1
        if self.letters < self.max_symbols:
            self._symbols.append(sym)
            self.letters += 1
        return sym

    def encode_one(self, ts: float, total_bytes: float, duration: float) -> str:
        """The symbol `add` would append for this flow, via the named helpers
        (the reference for the inlined code; changes no state)."""
        if self.last is None:
            return letter(-1, size_class(total_bytes), duration_class(duration))
        t2 = ts - self.last
        if not t2 > 0.0:
            t2 = 0.0
        elif not math.isfinite(t2):
            t2 = _HOUR * 24
        p = periodicity_class(self.t1, t2)
        return letter(p, size_class(total_bytes), duration_class(duration)) + separator(t2)

    @property
    def text(self) -> str:
        return "".join(self._symbols)


def encode(flows: Iterable[tuple[float, float, float]]) -> str:
    """Letters of a sequence of (start time, total bytes, duration), in order given."""
    enc = TupleEncoder()
    for ts, size, duration in flows:
        enc.add(ts, size, duration)
    return enc.text
