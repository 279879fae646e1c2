"""Output timestamps: `formats.iso` remembers the last timestamp it formatted
(each finding is written three times from one `ts`) and `_when` (alerts.log)
slices the ISO text instead of calling strftime. Both must give exactly what
formatting the datetime gives, for any timestamp and in any call order."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from agent.outputs.formats import _utc, _when, iso

_TS = (
    st.floats(min_value=-1e11, max_value=1e11, allow_nan=False)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.integers(-(10**12), 10**12)
    | st.sampled_from([0.0, -0.0, 1700000000.0000005, -62135596800.0, 253402300799.999999])
)


def direct_iso(ts: float) -> str:
    return _utc(ts).isoformat(timespec="microseconds")


def direct_when(ts: float) -> str:
    return _utc(ts).strftime("%Y-%m-%d %H:%M:%S")


@given(stamps=st.lists(_TS, min_size=1, max_size=8))
def test_iso_and_when_match_direct_formatting(stamps: list[float]) -> None:
    for ts in [*stamps, *reversed(stamps), *stamps]:  # repeats hit the remembered one
        assert iso(ts) == direct_iso(ts)
        assert _when(ts) == direct_when(ts)


def test_years_before_1000_keep_strftime_form() -> None:
    ts = -60_000_000_000.0  # year 68: ISO pads the year, strftime does not
    assert iso(ts).startswith("0068-")
    assert _when(ts) == direct_when(ts)
