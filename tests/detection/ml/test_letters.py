"""The Stratosphere letters encoder: hand-made sequences, the published table, fuzzing."""

from __future__ import annotations

import math
import re
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from detection.ml._letters import (
    LETTERS,
    SEPARATORS,
    TupleEncoder,
    encode,
    letter,
    periodicity_class,
    separator,
)

SAMPLE = Path(__file__).parents[2] / "data" / "labeled" / "ctu13-letters-sample.psv"
GRAMMAR = re.compile(rf"^[{LETTERS}]([{LETTERS}][.,+*]|[{LETTERS}]0+)*$")


def test_table_corners() -> None:
    assert letter(-1, 1, 1) == "1"
    assert letter(-1, 3, 3) == "9"
    assert letter(1, 1, 1) == "a"
    assert letter(1, 3, 3) == "i"
    assert letter(2, 2, 2) == "E"
    assert letter(3, 1, 3) == "t"
    assert letter(4, 3, 1) == "X"


def test_periodicity_thresholds() -> None:
    assert periodicity_class(None, 5.0) == -1
    assert periodicity_class(10.0, 10.4) == 1  # ratio 1.04
    assert periodicity_class(10.0, 12.0) == 2  # 1.2
    assert periodicity_class(12.0, 10.0) == 2  # symmetric
    assert periodicity_class(10.0, 40.0) == 3  # 4
    assert periodicity_class(10.0, 60.0) == 4  # 6
    assert periodicity_class(0.0, 3.0) == 1  # a zero gap: TD = 1 as published


def test_separators() -> None:
    gaps = (0, 5, 5.01, 60, 61, 300, 301, 3600)
    assert "".join(separator(g) for g in gaps) == "..,,++**"
    assert separator(3601) == "0"
    assert separator(2.5 * 3600) == "00"


def test_periodic_beacon() -> None:
    # every 30 s, 100 bytes, 0.05 s: unknown twice, then strongly periodic small short
    flows = [(1000.0 + 30 * i, 100, 0.05) for i in range(6)]
    assert encode(flows) == "11,a,a,a,a,"


def test_sizes_durations_and_irregular_gaps() -> None:
    flows = [
        (0.0, 2000, 20.0),  # 9: unknown, big, long
        (2.0, 500, 1.0),  # 5 + '.'
        (4.0, 100, 0.01),  # gaps 2, 2: periodic, small, short -> a + '.'
        (104.0, 100, 0.01),  # gaps 2, 100: ratio 50 -> R + '+'
        (7304.0, 1200, 5.0),  # gaps 100, 7200: ratio 72 -> Y, two hours -> '00'
    ]
    assert encode(flows) == "95.a.R+Y00"


def test_encoder_bounds_text_and_keeps_counting() -> None:
    enc = TupleEncoder(max_symbols=3)
    for i in range(10):
        enc.add(10.0 * i, 10, 0.0)
    assert enc.n == 10
    assert enc.letters == 3
    assert enc.text == "11,a,"


def test_sample_file_follows_the_grammar() -> None:
    rows = SAMPLE.read_text().splitlines()[1:]
    assert rows
    for line in rows:
        state = line.split("|")[4]
        assert GRAMMAR.match(state), state


flow_st = st.tuples(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(allow_nan=True, allow_infinity=True),
)


@given(st.lists(flow_st, max_size=40))
def test_encoder_total_and_grammatical(flows: list[tuple[float, float, float]]) -> None:
    text = encode(flows)
    if not flows:
        assert text == ""
        return
    assert GRAMMAR.match(text), text
    assert sum(ch in LETTERS for ch in text) == len(flows)
    assert set(text) <= set(LETTERS + SEPARATORS)


@given(
    st.lists(
        st.tuples(
            st.floats(0, 1e6, allow_nan=False),
            st.floats(0, 1e9, allow_nan=False),
            st.floats(0, 1e5, allow_nan=False),
        ),
        min_size=3,
        max_size=30,
    )
)
def test_sorted_flows_letter_matches_definition(flows: list[tuple[float, float, float]]) -> None:
    flows.sort()
    text = encode(flows)
    letters = [ch for ch in text if ch in LETTERS]
    for k in range(2, len(flows)):
        t1 = flows[k - 1][0] - flows[k - 2][0]
        t2 = flows[k][0] - flows[k - 1][0]
        assert letters[k] in LETTERS
        p = periodicity_class(t1, t2)
        assert math.isfinite(t1) and letters[k] in "abcdefghiABCDEFGHIrstuvwxyzRSTUVWXYZ"
        assert letters[k] == letter(p, *_classes(flows[k]))


def _classes(f: tuple[float, float, float]) -> tuple[int, int]:
    size = 1 if f[1] <= 250 else 2 if f[1] <= 1100 else 3
    dur = 1 if f[2] <= 0.1 else 2 if f[2] <= 10 else 3
    return size, dur


@given(st.lists(flow_st, max_size=40))
def test_inlined_encoder_matches_the_reference(flows: list[tuple[float, float, float]]) -> None:
    enc = TupleEncoder()
    for ts, size, duration in flows:
        expected = enc.encode_one(ts, size, duration)
        assert enc.add(ts, size, duration) == expected
