"""sheetopt compare: every sheet's loss per epoch and final parameters, side by side."""
from __future__ import annotations

import csv
import io
import json

import math
import os

import numpy as np

from .. import api
from ..protocol import report
from ..errors import SheetoptError
from ..files import check_target
from ..protocol.results import RunResult
from ..spec import Spec
from ..tables import table, terminal_width, wrap
from . import add_command, output_or_stdout, write_output

FORMATS = ("table", "csv", "json", "markdown")
EPOCH_FIGURES = {  # what each per-epoch figure is, said in the JSON (those a model has)
    "lecture_rmse": "sqrt(SUM of err^2 over the epoch's rows): the lecture's rmse cell",
    "rmse": "sqrt(MEAN of err^2 over the epoch's rows)",
    "loss": "the mean of the epoch's per-step losses",
    "lr": "the lr of the epoch's first step",
    "params": "the parameters at the end of the epoch",
    "accuracy": "the share of all rows the epoch's end parameters classify right",
    "distance": "the distance of the epoch's end parameters to the true ones",
}


def epoch_figures(model) -> dict[str, str]:
    """What each per-epoch figure of ``model``'s runs is, in words, as the JSON says it.

    >>> from sheetopt.models import LINEAR
    >>> list(epoch_figures(LINEAR))
    ['lecture_rmse', 'rmse', 'lr', 'params', 'distance']
    """
    figures = {*model.loss_figures, "lr", "params", "distance"}
    if model.accuracy is not None:
        figures.add("accuracy")
    return {key: words for key, words in EPOCH_FIGURES.items() if key in figures}
MAX_EPOCH_COLUMNS = 8  # wider tables show the first and last epochs around a gap


def register(subparsers) -> None:
    parser = add_command(
        subparsers, "compare",
        "Run every sheet of a spec and compare, per epoch, the loss, the parameters and their "
        "distance to the true parameters; the flavour column says whose rules each sheet ran "
        "(lecture, torch, ...).",
        "sheetopt compare lesson5 --plot lesson5.png",
        line="loss, parameters and distance to the truth, per epoch")
    parser.add_argument("spec", help="a run spec (.toml) or a preset name: lesson5, lesson2, ...")
    parser.add_argument("--format", choices=FORMATS, default="table", help="output format")
    parser.add_argument("-o", "--output", metavar="FILE",
                        help="write the comparison here (- or none: standard output)")
    parser.add_argument("--plot", metavar="FILE.png",
                        help="also draw loss per epoch (log scale) and the fitted lines")
    parser.add_argument("--force", action="store_true",
                        help="overwrite an existing output or plot file")
    parser.add_argument("--record", choices=("summary", "step", "epoch"), default="summary",
                        help="what a run keeps: each epoch's figures, and the steps of a sheet "
                             "that diverges, for the epoch it cut short (summary, the default); "
                             "every step (step); each epoch's figures only (epoch: no cut-short "
                             "epoch)")
    parser.set_defaults(run=run)


def run(args) -> int:
    spec = api.spec_of(args.spec)
    if args.plot:
        if not args.plot.lower().endswith(".png"):
            raise SheetoptError(f"{args.plot}: the plot is written as PNG; name it *.png")
        check_target(args.plot, args.force)
    if not output_or_stdout(args.output):
        if args.plot and os.path.abspath(args.output) == os.path.abspath(args.plot):
            raise SheetoptError(f"{args.output}: given as both -o and --plot; name two files")
        check_target(args.output, args.force)
    result = api.run(spec, record=args.record)
    write_output(render(result, args.format), args.output, args.force)
    if args.plot:
        from ..plots import compare_plot

        compare_plot(spec, result.summaries, args.plot, args.force)
    return 0


def render(result: RunResult, fmt: str) -> str:
    """The comparison as a table, markdown, CSV (``RunResult.summary()``'s rows) or JSON."""
    if fmt == "json":
        return json.dumps(_document(result.spec, result.summaries), indent=1) + "\n"
    if fmt == "csv":
        return _csv(result.summary())
    return _tables(result.spec, result.summaries, markdown=fmt == "markdown")


def _status(summary: report.Summary) -> str:
    if summary.diverged_at:
        epoch, step = summary.diverged_at
        return f"DIVERGED at epoch {epoch}, step {step}"
    return "ok"


def _document(spec: Spec, summaries) -> dict:
    from ..protocol.trace import _finite

    return _finite({
        "title": spec.title,
        "data": spec.data.source,
        "rows": len(spec.data),
        "params": list(spec.model.params),
        "true": dict(spec.data.true),
        "epoch_figures": epoch_figures(spec.model),
        "sheets": [{
            "name": s.name, "optimizer": s.optimizer, "flavor": s.flavor,
            "epochs": [dict(zip(s.epochs, values)) for values in zip(*s.epochs.values())],
            "final": s.final, "distance": s.distance,
            "diverged_at": list(s.diverged_at) if s.diverged_at else None,
            "partial_epoch": s.partial,
        } for s in summaries],
    })


def _csv(summary) -> str:
    """The summary frame's rows; floats in their shortest exact form, flags as true/false,
    an unknown distance as an empty cell."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(summary.columns)
    for row in summary.itertuples(index=False):
        writer.writerow([_csv_cell(name, value) for name, value in zip(summary.columns, row)])
    return out.getvalue()


def _csv_cell(name: str, value) -> str:
    if value is None:  # a figure not kept for part of an epoch (a classifier's accuracy)
        return ""
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value)).lower()
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return "" if name == "distance" and math.isnan(value) else repr(float(value))
    return str(value)


def _loss_cell(summary: report.Summary, key: str, column: int | None) -> str:
    """One epoch's figure; the epoch a divergence cut short is starred."""
    values = summary.epochs[key]
    if column is None:
        return "..."
    if column < len(values):
        return f"{values[column]:.6g}"
    if summary.partial and summary.partial["epoch"] == column + 1:
        value = summary.partial[key]
        return "-" if value is None else f"{value:.6g}*"
    return "-"


def _epoch_columns(count: int, room: int = MAX_EPOCH_COLUMNS) -> list[int | None]:
    """The epochs shown: all when they fit in ``room`` columns, else the first and last
    around a gap."""
    room = max(2, min(room, MAX_EPOCH_COLUMNS))
    if count <= room:
        return list(range(count))
    half = room // 2
    return [*range(half), None, *range(count - half, count)]


def _room(summaries, markdown: bool) -> int:
    """How many epoch columns fit beside the sheet, optimizer and flavor columns in the
    terminal (a figure takes up to 11 characters and its gap)."""
    if markdown:
        return MAX_EPOCH_COLUMNS
    fixed = sum(max(len(getattr(s, k)) for s in summaries) + 2 for k in ("name", "optimizer",
                                                                        "flavor"))
    return (terminal_width() - max(fixed, 27)) // 11


def _grid(headers: list[str], rows: list[list[str]], markdown: bool) -> str:
    return table(headers, rows, markdown=markdown)


def _tables(spec: Spec, summaries, markdown: bool) -> str:
    heading = (lambda text: f"\n### {text}\n\n") if markdown else (lambda text: f"\n{wrap(text)}\n")
    out = [f"## {spec.title}\n\n" if markdown else f"{spec.title}\n", (report.describe_data(spec) if markdown else wrap(report.describe_data(spec))) + "\n"]
    most = max(max(len(s.epochs["epoch"]), s.partial["epoch"] if s.partial else 0)
               for s in summaries)
    columns = _epoch_columns(most, _room(summaries, markdown))
    if spec.model.reports_rmse:
        figures = [("lecture_rmse", "Loss per epoch: sqrt(SUM of err^2 over the epoch's rows) "
                                    "-- the lecture's \"rmse\" cell, a root of the sum"),
                   ("rmse", "True RMSE per epoch: sqrt(MEAN of err^2 over the epoch's rows)")]
    else:
        figures = [("loss", "Loss per step: f(x, y) before the step" if not spec.model.has_data
                    else f"Loss per epoch: the mean per-step {spec.model.loss_name}")]
    if spec.model.accuracy is not None:
        figures.append(("accuracy", "Accuracy per epoch: the share of all rows the epoch's "
                                    "final parameters classify right (p > 0.5 is a 1)"))
    if report.knows_distance(spec):
        figures.append(("distance", "Distance to the " + (
            "nearest minimum" if spec.model.minima else "true parameters") + " per epoch (of "
            "the parameters at the epoch's end)"))
    for key, title in figures:
        headers = ["sheet", "optimizer", "flavor",
                   *("..." if c is None else str(c + 1) for c in columns)]
        rows = [[s.name, s.optimizer, s.flavor, *(_loss_cell(s, key, c) for c in columns)]
                for s in summaries]
        out += [heading(title), _grid(headers, rows, markdown)]
    cut = [s for s in summaries if s.partial]
    if cut:
        out.append("\n" + "".join(
            f"* {s.name}: epoch {s.partial['epoch']} cut short by the divergence; its figures "
            f"cover the {s.partial['steps']:,} step(s) before it\n" for s in cut))
    params = list(spec.model.params)
    truth = "distance to nearest minimum" if spec.model.minima else "distance to truth"
    headers = ["sheet", "optimizer", "flavor", *params, truth, "status"]
    rows = [[s.name, s.optimizer, s.flavor, *(f"{s.final[p]:.6g}" for p in params),
             "-" if s.distance is None else f"{s.distance:.6g}", _status(s)] for s in summaries]
    out += [heading("Final parameters"), _grid(headers, rows, markdown)]
    return "".join(out)
