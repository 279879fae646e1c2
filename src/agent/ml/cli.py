"""`starling ml train|evaluate`: the ML models' command line (docs/ml.md).

Exit codes: 0 done; 1 the data held nothing usable (no labelled rows of both
classes to train on, nothing to evaluate); 2 usage errors — unknown kind,
unreadable or foreign files, a model that fails verification. Errors are one
line on stderr, never a traceback.
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer

__all__ = ["ml_app"]

ml_app = typer.Typer(
    help="ML detectors: train and evaluate the flow and C&C letters models (docs/ml.md).",
    no_args_is_help=True,
)

KINDS = ("flows", "letters")
OutputOption = Annotated[str, typer.Option("-o", "--output", help="human|json")]


def _fail(message: str, code: int = 2) -> typer.Exit:
    typer.echo(f"starling: {message}", err=True)
    return typer.Exit(code)


def _check(kind: str, output: str) -> None:
    if kind not in KINDS:
        raise _fail(f"unknown model kind {kind!r} (flows|letters)")
    if output not in ("human", "json"):
        raise _fail(f"unknown --output {output!r} (human|json)")


def _emit(output: str, data: object, human: Callable[[], None]) -> None:
    if output == "json":
        sys.stdout.buffer.write(orjson.dumps(data, default=str) + b"\n")
    else:
        human()


def _fmt(v: object) -> str:
    return "-" if v is None else (f"{v:.3f}" if isinstance(v, float) else str(v))


@ml_app.command("train")
def ml_train(  # noqa: PLR0917  # typer maps parameters to options
    kind: Annotated[str, typer.Argument(help="flows|letters")],
    data: Annotated[list[Path], typer.Option("--data", help="dataset file or directory (repeat)")],
    out: Annotated[Path, typer.Option("--out", help="model directory to write")],
    seed: Annotated[int, typer.Option("--seed", help="random seed")] = 0,
    validate: Annotated[
        bool, typer.Option("--validate/--no-validate", help="leave-one-capture-out first")
    ] = True,
    output: OutputOption = "human",
) -> None:
    """Train a model on labelled data (validated capture by capture) and save it to OUT."""
    _check(kind, output)
    from agent.ml.datasets import DatasetError  # noqa: PLC0415  # lazy: `starling --help` stays fast
    from agent.ml.train import train  # noqa: PLC0415  # lazy: `starling --help` stays fast

    def progress(line: str) -> None:
        if output == "human":
            typer.echo(f"  held out {line}", err=True)

    try:
        model, meta = train(kind, data, out, seed=seed, folds=validate, progress=progress)
    except DatasetError as exc:
        raise _fail(str(exc)) from None
    except ValueError as exc:
        raise _fail(str(exc), 1) from None
    result = {
        "model": str(out),
        "kind": kind,
        "threshold": model.threshold,
        **_repeat(model),
        **meta,
    }

    def human() -> None:
        typer.echo(
            f"{kind} model written to {out} (threshold {model.threshold:.4f}{_repeat_text(model)})"
        )
        table = meta["validation"].get("per_capture", {})
        if table:
            _print_table(table)

    _emit(output, result, human)


def _print_table(table: dict[str, dict[str, Any]]) -> None:
    cols = ("rows", "malicious", "alerts", "precision", "recall", "f1", "fpr", "roc_auc")
    typer.echo(f"{'capture':44} " + " ".join(f"{c:>9}" for c in cols))
    for name, m in table.items():
        typer.echo(f"{name[:44]:44} " + " ".join(f"{_fmt(m.get(c)):>9}" for c in cols))


@ml_app.command("evaluate")
def ml_evaluate(
    kind: Annotated[str, typer.Argument(help="flows|letters")],
    files: Annotated[list[Path], typer.Argument(help="labelled files (IoT-23 CSV, Zeek, .psv)")],
    model_dir: Annotated[
        Path | None, typer.Option("--model", help="model directory (default: the shipped one)")
    ] = None,
    predictions: Annotated[
        Path | None, typer.Option("--predictions", help="CSV: row,score,predicted,label")
    ] = None,
    output: OutputOption = "human",
) -> None:
    """Score labelled files with a model; per-file precision, recall, F1, FPR, ROC AUC."""
    _check(kind, output)
    import numpy as np  # noqa: PLC0415  # lazy: `starling --help` stays fast

    from agent.ml.datasets import DatasetError, iter_paths, read_flows, read_letters_file  # noqa: PLC0415  # lazy: `starling --help` stays fast
    from agent.ml.io import ModelError, bundled_model_dir, load_model  # noqa: PLC0415  # lazy: `starling --help` stays fast
    from agent.ml.train import flagged, metrics, score  # noqa: PLC0415  # lazy: `starling --help` stays fast

    try:
        model = load_model(model_dir or bundled_model_dir() / kind, kind)
    except ModelError as exc:
        raise _fail(str(exc)) from None
    results: dict[str, Any] = {}
    pred_rows: list[tuple[str, int, float, int, str]] = []
    try:
        paths = list(iter_paths(files))
        for path in paths:
            if kind == "flows":
                fs = read_flows(path)
                items, labels, rows, skipped = fs.flows, fs.labels, fs.rows, fs.skipped
                groups = None
            else:
                ls = read_letters_file(path)
                items, labels, rows, skipped = ls.texts, ls.labels, ls.rows, ls.skipped
                groups = ls.captures
            y = np.array(labels, dtype=np.int64)
            s = score(model, items) if items else np.zeros(0)
            # flows: the per-flow threshold or the model's repeat rule, over the file's
            # rows in order (one capture per file)
            flags = flagged(model, items, s)
            entry: dict[str, Any] = {
                **metrics(y, s, model.threshold, flags),
                "skipped": dict(skipped),
            }
            if groups is not None:
                entry["per_capture"] = {
                    g: metrics(y[m], s[m], model.threshold, flags[m])
                    for g in sorted(set(groups))
                    for m in [np.array([c == g for c in groups])]
                }
            results[str(path)] = entry
            for r, sc, flag, lab in zip(rows, s.tolist(), flags.tolist(), labels, strict=True):
                pred_rows.append((str(path), r, sc, int(flag), _label(lab)))
    except DatasetError as exc:
        raise _fail(str(exc)) from None
    if predictions is not None:
        _write_predictions(predictions, pred_rows, multi=len(paths) > 1)
    data = {"kind": kind, "threshold": model.threshold, **_repeat(model), "files": results}

    def human() -> None:
        typer.echo(f"{kind} model, threshold {model.threshold:.4f}{_repeat_text(model)}")
        _print_table(
            {
                Path(k).name
                if Path(k).name not in ("conn.log.labeled",)
                else Path(k).parent.name: v
                for k, v in results.items()
            }
        )
        for k, v in results.items():
            if "per_capture" in v:
                typer.echo(f"per capture in {Path(k).name}:")
                _print_table(v["per_capture"])

    _emit(output, data, human)
    if not pred_rows:
        raise typer.Exit(1)


def _label(v: int) -> str:
    return {1: "malicious", 0: "benign"}.get(v, "")


def _write_predictions(
    path: Path, rows: list[tuple[str, int, float, int, str]], *, multi: bool
) -> None:
    try:
        with path.open("w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(
                ["file", "row", "score", "predicted", "label"]
                if multi
                else ["row", "score", "predicted", "label"]
            )
            for file, r, sc, pred, lab in rows:
                vals = [r, f"{sc:.6f}", pred, lab]
                w.writerow([file, *vals] if multi else vals)
    except OSError as exc:
        raise _fail(f"cannot write {path}: {exc.strerror or exc}") from None


def _repeat(model: object) -> dict[str, Any]:
    rule = getattr(model, "repeat", None)
    if rule is None:
        return {}
    return {"repeat": {"min_flows": rule.min_flows, "threshold": rule.threshold}}


def _repeat_text(model: object) -> str:
    rule = getattr(model, "repeat", None)
    if rule is None:
        return ""
    return (
        f"; or a mean ≥ {rule.threshold:.2f} over ≥ {rule.min_flows} flows of one source, "
        "port and protocol in an hour"
    )
