"""Model files: round trip, determinism, refusal of modified or foreign files."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from agent.ml.io import ModelError, bundled_models, load_model, save_model
from agent.ml.train import fit_model, load_groups
from detection.ml._models import FlowModel, LettersModel


@pytest.fixture
def flow_model(labeled: Path, small_params) -> FlowModel:  # type: ignore[no-untyped-def]
    groups, _ = load_groups("flows", [labeled / "CTU-Malware-Capture-8-1-head.csv",
                                      labeled / "sdt-010-every7th.conn.log.labeled"])  # fmt: skip
    model = fit_model("flows", groups, small_params["flows"], seed=0, threshold=0.7)
    assert isinstance(model, FlowModel)
    return model


@pytest.fixture
def saved(tmp_path: Path, flow_model: FlowModel) -> Path:
    return save_model(tmp_path / "m", flow_model, {"training": {"seed": 0}})


def test_round_trip_scores_identically(saved: Path, flow_model: FlowModel, labeled: Path) -> None:
    loaded = load_model(saved, "flows")
    assert isinstance(loaded, FlowModel)
    assert loaded.threshold == 0.7
    groups, _ = load_groups("flows", [labeled / "botnet-4-head.conn.log.labeled"])
    flows = groups[0].items
    np.testing.assert_array_equal(loaded.score(flows), flow_model.score(flows))
    assert loaded.meta["training"] == {"seed": 0}


def test_letters_round_trip(tmp_path: Path, labeled: Path, small_params) -> None:  # type: ignore[no-untyped-def]
    groups, _ = load_groups("letters", [labeled / "ctu13-letters-sample.psv"])
    model = fit_model("letters", groups, small_params["letters"], seed=0, threshold=0.6)
    loaded = load_model(save_model(tmp_path / "l", model, {}), "letters")
    assert isinstance(loaded, LettersModel)
    texts = [t for g in groups for t in g.items]
    np.testing.assert_array_equal(loaded.score(texts), model.score(texts))
    assert loaded.featurizer.vocabulary == model.featurizer.vocabulary


def test_same_model_same_bytes(tmp_path: Path, flow_model: FlowModel) -> None:
    a = save_model(tmp_path / "a", flow_model, {"x": 1})
    b = save_model(tmp_path / "b", flow_model, {"x": 1})
    for name in ("model.json", "arrays.npz"):
        assert (a / name).read_bytes() == (b / name).read_bytes()


def test_flipped_npz_byte_is_refused(saved: Path) -> None:
    blob = bytearray((saved / "arrays.npz").read_bytes())
    blob[len(blob) // 2] ^= 0x01
    (saved / "arrays.npz").write_bytes(bytes(blob))
    with pytest.raises(ModelError, match="SHA-256"):
        load_model(saved)


@pytest.mark.parametrize(
    ("key", "value"),
    [("threshold", 0.01), ("kind", "letters"), ("format_version", 2), ("features", ["x"])],
)
def test_edited_json_is_refused(saved: Path, key: str, value: object) -> None:
    doc = json.loads((saved / "model.json").read_text())
    doc[key] = value
    (saved / "model.json").write_text(json.dumps(doc))
    with pytest.raises(ModelError, match="modified"):
        load_model(saved)


def _rewrite(saved: Path, doc: dict, blob: bytes) -> None:  # type: ignore[type-arg]
    """Write a consistent (hash and digest recomputed) but hostile model."""
    from agent.ml.io import _digest, canonical_json

    doc["arrays"]["sha256"] = hashlib.sha256(blob).hexdigest()
    doc["digest"] = _digest(doc)
    (saved / "arrays.npz").write_bytes(blob)
    (saved / "model.json").write_bytes(canonical_json(doc))


def test_npz_with_an_object_array_is_refused(saved: Path) -> None:
    buf = io.BytesIO()
    arrays = dict(np.load(saved / "arrays.npz", allow_pickle=False))
    arrays["value"] = np.array([{"evil": 1}] * len(arrays["value"]), dtype=object)
    np.savez(buf, **arrays)
    doc = json.loads((saved / "model.json").read_text())
    _rewrite(saved, doc, buf.getvalue())
    with pytest.raises(ModelError, match=r"unreadable|dtype"):
        load_model(saved)


def test_consistent_but_malformed_arrays_are_refused(saved: Path) -> None:
    arrays = dict(np.load(saved / "arrays.npz", allow_pickle=False))
    arrays["left"] = arrays["left"].copy()
    arrays["left"][0] = 0  # a cycle at the first root
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, arr in arrays.items():
            member = io.BytesIO()
            np.lib.format.write_array(member, arr, allow_pickle=False)
            zf.writestr(f"{name}.npy", member.getvalue())
    doc = json.loads((saved / "model.json").read_text())
    _rewrite(saved, doc, buf.getvalue())
    with pytest.raises(ModelError, match="child index"):
        load_model(saved)


def test_wrong_kind_missing_and_garbage(saved: Path, tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="not a letters model"):
        load_model(saved, "letters")
    with pytest.raises(ModelError, match="cannot read"):
        load_model(tmp_path / "nothing")
    (saved / "model.json").write_bytes(b"\x80not json")
    with pytest.raises(ModelError, match="not JSON"):
        load_model(saved)


def test_bundled_models_load_and_report_failures(tmp_path: Path, saved: Path) -> None:
    models, warnings = bundled_models()
    assert set(models) == {"flows", "letters"}, warnings
    assert warnings == []
    (tmp_path / "x" / "flows").mkdir(parents=True)
    (tmp_path / "x" / "flows" / "model.json").write_text("{}")
    (tmp_path / "x" / "flows" / "arrays.npz").write_bytes(b"PK")
    models, warnings = bundled_models(tmp_path / "x")
    assert models == {}
    assert any("not a Starling model" in w for w in warnings)
    assert any("no letters model" in w for w in warnings)


def test_repeat_rule_round_trip_and_refusals(tmp_path: Path, flow_model: FlowModel) -> None:
    from dataclasses import replace

    from detection.ml._models import RepeatRule

    ruled = replace(flow_model, repeat=RepeatRule(10, 0.55))
    saved = save_model(tmp_path / "r", ruled, {"training": {"seed": 0}})
    back = load_model(saved, "flows")
    assert isinstance(back, FlowModel) and back.repeat == RepeatRule(10, 0.55)
    assert json.loads((saved / "model.json").read_text())["repeat"] == {
        "min_flows": 10,
        "threshold": 0.55,
    }
    # without a rule the key is absent and none is loaded (models written before it)
    plain = save_model(tmp_path / "p", flow_model, {})
    assert "repeat" not in json.loads((plain / "model.json").read_text())
    assert load_model(plain, "flows").repeat is None  # type: ignore[union-attr]
    doc = json.loads((saved / "model.json").read_text())
    doc["repeat"]["threshold"] = 0.05  # an edit that would make the detector noisy
    (saved / "model.json").write_text(json.dumps(doc))
    with pytest.raises(ModelError, match="modified"):
        load_model(saved)
    blob = (saved / "arrays.npz").read_bytes()
    for hostile, why in (
        ({"min_flows": 10.5, "threshold": 0.5}, "integer"),
        ({"min_flows": 1, "threshold": 0.5}, "min_flows"),
        ({"min_flows": 10, "threshold": 2.0}, "threshold"),
        ({"min_flows": 10}, "repeat rule"),
        ([10, 0.5], "repeat rule"),
    ):
        doc["repeat"] = hostile
        _rewrite(saved, doc, blob)
        with pytest.raises(ModelError, match=why):
            load_model(saved)
