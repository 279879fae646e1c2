"""Model files: a directory with ``model.json`` and ``arrays.npz``; nothing executes on load.

Theory of operation
-------------------
A pickled model (Slips ships its flow classifier as one) runs arbitrary code
when it is loaded. A Starling model is data only:

* ``arrays.npz`` — the numeric arrays of the scorer (`detection.ml._models`),
  written by `save_model` as a zip of ``.npy`` members with fixed timestamps, so
  the same arrays always give the same bytes; read with ``allow_pickle=False``
  (an object array is refused by numpy, and by us before that: only integer and
  float dtypes are accepted);
* ``model.json`` — format name and version, kind (``flows`` | ``letters``),
  scorer family, feature names (and the letters vocabulary), alert threshold,
  the member names, dtypes and shapes of the arrays, the SHA-256 of
  ``arrays.npz``, training provenance (SHA-256 of each training file, seed,
  parameters, scikit-learn/numpy versions) and validation metrics; last, a
  ``digest``: the SHA-256 of the document's canonical form without it.

`load_model` checks, in order: the JSON parses and its digest matches (any edit
to model.json is refused), format and version, kind, the npz hash, member
names, dtypes and shapes, then builds the scorer whose constructor checks the
arrays' contents (indices in range, finite values). Any failure is a
`ModelError` naming the file and the reason; nothing half-loaded escapes.

The digest and hash detect corruption and edits, not a forger who recomputes
them: a model directory is trusted like the code that reads it.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from detection.ml._features import FLOW_FEATURES, LettersFeaturizer
from detection.ml._models import (
    FlowModel,
    LettersModel,
    LinearScorer,
    RepeatRule,
    Scorer,
    TreeScorer,
)

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "ModelError",
    "bundled_model_dir",
    "bundled_models",
    "canonical_json",
    "load_model",
    "save_model",
]

FORMAT = "starling-model"
FORMAT_VERSION = 1
KINDS = ("flows", "letters")
_ARRAYS = {
    "linear": ("coef", "intercept", "mean", "scale"),
    "trees": ("feature", "left", "right", "roots", "threshold", "value"),
}
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)
_MAX_JSON = 16 << 20
_MAX_NPZ = 256 << 20

Model = FlowModel | LettersModel


class ModelError(Exception):
    """A model directory that cannot be used: missing, malformed, modified or foreign."""


def canonical_json(doc: Mapping[str, Any]) -> bytes:
    """Sorted keys, fixed separators, ASCII: the same document gives the same bytes."""
    return (
        json.dumps(doc, sort_keys=True, indent=1, ensure_ascii=True, allow_nan=False) + "\n"
    ).encode()


def _digest(doc: Mapping[str, Any]) -> str:
    body = {k: v for k, v in doc.items() if k != "digest"}
    return hashlib.sha256(canonical_json(body)).hexdigest()


def _npz_bytes(arrays: Mapping[str, np.ndarray]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name in sorted(arrays):
            info = zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            member = io.BytesIO()
            np.lib.format.write_array(
                member, np.ascontiguousarray(arrays[name]), allow_pickle=False
            )
            zf.writestr(info, member.getvalue())
    return buf.getvalue()


def save_model(
    directory: Path,
    model: Model,
    meta: Mapping[str, Any],
) -> Path:
    """Write `model` (and `meta`: training provenance, validation) to `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    scorer = model.scorer
    arrays = scorer.arrays()
    blob = _npz_bytes(arrays)
    doc: dict[str, Any] = dict(meta)
    doc.update(
        {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "kind": "flows" if isinstance(model, FlowModel) else "letters",
            "scorer": scorer.kind,
            "n_features": scorer.n_features,
            "threshold": float(model.threshold),
            "arrays": {
                "file": "arrays.npz",
                "sha256": hashlib.sha256(blob).hexdigest(),
                "members": {
                    name: {"dtype": arrays[name].dtype.str, "shape": list(arrays[name].shape)}
                    for name in sorted(arrays)
                },
            },
        }
    )
    if isinstance(model, FlowModel):
        doc["features"] = list(FLOW_FEATURES)
        if model.repeat is not None:
            doc["repeat"] = {
                "min_flows": model.repeat.min_flows,
                "threshold": float(model.repeat.threshold),
            }
    else:
        fz = model.featurizer
        doc["features"] = list(fz.feature_names)
        doc["letters"] = {
            "vocabulary": list(fz.vocabulary),
            "n_max": fz.n_max,
            "max_chars": fz.max_chars,
        }
    doc["digest"] = _digest(doc)
    (directory / "arrays.npz").write_bytes(blob)
    (directory / "model.json").write_bytes(canonical_json(doc))
    return directory


def _fail(path: Path, why: str) -> ModelError:
    return ModelError(f"model {path}: {why}")


def _read_arrays(
    path: Path, blob: bytes, spec: Mapping[str, Any], family: str
) -> dict[str, np.ndarray]:
    expected = _ARRAYS[family]
    members = spec.get("members")
    if not isinstance(members, dict) or sorted(members) != sorted(expected):
        raise _fail(path, f"model.json must list the arrays {', '.join(expected)}")
    try:
        with np.load(io.BytesIO(blob), allow_pickle=False) as npz:
            if sorted(npz.files) != sorted(expected):
                raise _fail(
                    path, f"arrays.npz holds {sorted(npz.files)}, expected {list(expected)}"
                )
            out = {}
            for name in expected:
                arr = npz[name]
                if arr.dtype.kind not in "fiu" or arr.dtype.hasobject:
                    raise _fail(path, f"array {name} has dtype {arr.dtype}, not a number type")
                want = members[name]
                if (
                    not isinstance(want, dict)
                    or list(arr.shape) != want.get("shape")
                    or (arr.dtype.str != want.get("dtype"))
                ):
                    raise _fail(
                        path,
                        f"array {name} is {arr.dtype.str}{list(arr.shape)}, model.json says {want}",
                    )
                out[name] = arr
            return out
    except ModelError:
        raise
    except (ValueError, OSError, zipfile.BadZipFile, KeyError, EOFError) as exc:
        # numpy raises ValueError for object arrays under allow_pickle=False
        raise _fail(path, f"arrays.npz unreadable: {str(exc)[:160]}") from None


def load_model(directory: Path, kind: str | None = None) -> Model:
    """The verified model in `directory` (optionally required to be of `kind`)."""
    jpath, npath = directory / "model.json", directory / "arrays.npz"
    try:
        raw = jpath.read_bytes()[: _MAX_JSON + 1]
        blob = npath.read_bytes()
    except OSError as exc:
        raise _fail(directory, f"cannot read {exc.filename}: {exc.strerror}") from None
    if len(raw) > _MAX_JSON or len(blob) > _MAX_NPZ:
        raise _fail(directory, "file too large for a model")
    try:
        doc = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise _fail(directory, f"model.json is not JSON ({exc})") from None
    if not isinstance(doc, dict):
        raise _fail(directory, "model.json must hold an object")
    if doc.get("format") != FORMAT:
        raise _fail(directory, f"not a Starling model (format {doc.get('format')!r})")
    if doc.get("digest") != _digest(doc):
        raise _fail(directory, "model.json was modified after it was written (digest mismatch)")
    if doc.get("format_version") != FORMAT_VERSION:
        raise _fail(
            directory,
            f"format version {doc.get('format_version')!r} is not supported "
            f"(this Starling reads {FORMAT_VERSION})",
        )
    found = doc.get("kind")
    if found not in KINDS:
        raise _fail(directory, f"unknown model kind {found!r}")
    if kind is not None and found != kind:
        raise _fail(directory, f"a {found} model, not a {kind} model")
    spec = doc.get("arrays")
    if not isinstance(spec, dict) or spec.get("sha256") != hashlib.sha256(blob).hexdigest():
        raise _fail(directory, "arrays.npz does not match the SHA-256 in model.json")
    family = doc.get("scorer")
    if family not in _ARRAYS:
        raise _fail(directory, f"unknown scorer {family!r}")
    arrays = _read_arrays(directory, blob, spec, family)
    try:
        n_features = int(doc["n_features"])
        scorer: Scorer = (
            LinearScorer.from_arrays(arrays)
            if family == "linear"
            else TreeScorer.from_arrays(arrays, n_features)
        )
        threshold = float(doc["threshold"])
        meta = {k: doc[k] for k in ("training", "validation") if k in doc}
        if found == "flows":
            if doc.get("features") != list(FLOW_FEATURES):
                raise ValueError("its flow features are not the ones this version computes")
            rule = doc.get("repeat")
            repeat = None
            if rule is not None:
                if not isinstance(rule, dict) or set(rule) != {"min_flows", "threshold"}:
                    raise ValueError("its repeat rule must be {min_flows, threshold}")
                if type(rule["min_flows"]) is not int:
                    raise ValueError("its repeat rule's min_flows must be an integer")
                repeat = RepeatRule(rule["min_flows"], float(rule["threshold"]))
            return FlowModel(scorer, threshold, meta, repeat)
        letters = doc["letters"]
        fz = LettersFeaturizer(
            [str(g) for g in letters["vocabulary"]],
            int(letters["n_max"]),
            int(letters["max_chars"]),
        )
        if doc.get("features") != list(fz.feature_names):
            raise ValueError("its feature names do not match its vocabulary")
        return LettersModel(scorer, fz, threshold, meta)
    except (ValueError, KeyError, TypeError) as exc:
        raise _fail(directory, str(exc)[:200]) from None


def bundled_model_dir() -> Path:
    return Path(__file__).resolve().parents[1] / "data" / "models"


def bundled_models(base: Path | None = None) -> tuple[dict[str, Model], list[str]]:
    """The models shipped in the package (or under `base`), by kind; failures as warnings."""
    root = base if base is not None else bundled_model_dir()
    models: dict[str, Model] = {}
    warnings: list[str] = []
    for kind in KINDS:
        d = root / kind
        if not (d / "model.json").exists():
            warnings.append(f"no {kind} model in {root}: the {kind} detector stays quiet")
            continue
        try:
            models[kind] = load_model(d, kind)
        except ModelError as exc:
            warnings.append(f"{exc}: the {kind} detector stays quiet")
    return models, warnings
