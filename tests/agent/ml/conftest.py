from __future__ import annotations

from pathlib import Path

import pytest

LABELED = Path(__file__).parents[2] / "data" / "labeled"
SMALL_FLOWS = {"scorer": "trees", "n_estimators": 15, "max_depth": 3, "learning_rate": 0.2,
               "subsample": 0.8, "max_rows": 300}  # fmt: skip
SMALL_LETTERS = {"scorer": "trees", "n_estimators": 15, "max_depth": 3, "learning_rate": 0.2,
                 "subsample": 0.8, "max_features": 0.5, "n_max": 2, "min_count": 2,
                 "max_chars": 4000}  # fmt: skip


@pytest.fixture
def labeled() -> Path:
    return LABELED


@pytest.fixture
def small_params() -> dict[str, dict[str, object]]:
    return {"flows": dict(SMALL_FLOWS), "letters": dict(SMALL_LETTERS)}
