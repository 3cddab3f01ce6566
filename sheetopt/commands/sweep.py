"""sheetopt sweep: many configurations of one sheet at once, the LR-finder picture."""
from __future__ import annotations

import csv
import io
import json
import math
import sys

import numpy as np

from .. import api
from ..errors import SheetoptError
from ..files import check_target
from . import add_command

FORMATS = ("table", "csv", "json")
TABLE_ROWS = 40  # a longer sweep's table shows the best ones; csv and json give all


def register(subparsers) -> None:
    parser = add_command(
        subparsers, "sweep",
        "Run one sheet under many hyperparameter settings at once (every combination of the "
        "given values), as arrays shaped (configurations, parameters) stepping through the rows "
        "together. Prints the final loss (true RMSE over the last epoch) of each configuration "
        "and the best one; diverged configurations are marked, not fatal. --plot draws final "
        "loss against lr on log axes: the LR-finder picture.",
        "sheetopt sweep lesson5 --sheet adam --lr 1e-3:10:25 --log --mom 0.8,0.9 --plot lr.png")
    parser.add_argument("spec", help="a run spec (.toml) or a preset name")
    parser.add_argument("--sheet", required=True, help="the sheet whose settings are swept")
    parser.add_argument("--lr", required=True, metavar="START:STOP:N",
                        help="learning rates: N values from START to STOP, or a list a,b,c")
    parser.add_argument("--log", action="store_true", help="space the lr values geometrically")
    parser.add_argument("--mom", metavar="VALUES", help="momentum values: a,b,c or START:STOP:N")
    parser.add_argument("--sqr-mom", metavar="VALUES",
                        help="squared-gradient average values: a,b,c or START:STOP:N")
    parser.add_argument("--backend", choices=("auto", "numpy", "torch"), default="auto",
                        help="numpy: the engine itself (its compiled executor when numba is "
                             "installed); torch: the rules on tensors; auto (default): torch on "
                             "a CUDA GPU when --device resolves to cuda, else numpy")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                        help="where to run: cuda needs torch and a GPU (and the torch backend); "
                             "auto (default): CUDA when torch sees a GPU, else the CPU")
    parser.add_argument("--dtype", choices=("float64", "float32"), default="float64",
                        help="torch backend only (the numpy engine is float64)")
    parser.add_argument("--format", choices=FORMATS, default="table")
    parser.add_argument("--plot", metavar="FILE.png", help="draw final loss against lr")
    parser.add_argument("--force", action="store_true", help="overwrite an existing plot file")
    parser.set_defaults(run=run)


def run(args) -> int:
    from ..sweeps.sweep import lr_finder_plot, parse_range

    if args.plot:
        if not args.plot.lower().endswith(".png"):
            raise SheetoptError(f"{args.plot}: the plot is written as PNG; name it *.png")
        check_target(args.plot, args.force)
    ranges = {"lr": parse_range(args.lr, "--lr", args.log),
              "mom": args.mom and parse_range(args.mom, "--mom"),
              "sqr_mom": args.sqr_mom and parse_range(args.sqr_mom, "--sqr-mom")}
    spec, sheet, result = api.sweep_run(args.spec, args.sheet, **ranges, backend=args.backend,
                                        device=args.device, dtype=args.dtype)
    write(spec, result, args.format, sys.stdout)
    if args.plot:
        lr_finder_plot(result, args.plot, args.force, f"{spec.title}: sheet {sheet.name}")
    return 0


CHUNK = 10_000  # configurations formatted at a time: csv and json of a big sweep stream out


def _row(spec, result, i: int) -> dict:
    """Configuration ``i`` (from 0) as a plain dict: its values, final loss, parameters."""
    epoch, step = (int(v) for v in result.diverged_at[i])
    loss = float(result.final_loss[i])
    return {
        "config": i + 1,
        **{n: float(result.grid[n][i]) for n in result.grid},
        "final_rmse": None if math.isnan(loss) else loss,
        **{p: float(result.params[i, j]) for j, p in enumerate(spec.model.params)},
        "diverged_at": [epoch, step] if epoch else None,
    }


def write(spec, result, fmt: str, out) -> None:
    """The sweep's result as a table, CSV or JSON, written to ``out`` a chunk at a time."""
    if fmt == "table":
        out.write(_table(spec, result))
        return
    count = len(result.final_loss)
    chunks = (range(start, min(start + CHUNK, count)) for start in range(0, count, CHUNK))
    if fmt == "csv":
        keys = [k for k in _row(spec, result, 0) if k != "diverged_at"]
        out.write(",".join([*keys, "diverged_epoch", "diverged_step"]) + "\n")
        for chunk in chunks:
            text = io.StringIO()
            writer = csv.writer(text, lineterminator="\n")
            for i in chunk:
                row = _row(spec, result, i)
                where = row["diverged_at"] or ["", ""]
                writer.writerow(["" if row[k] is None else repr(row[k]) for k in keys] + where)
            out.write(text.getvalue())
        return
    best = None if result.best is None else _row(spec, result, result.best)
    head = {"sheet": result.sheet, "backend": result.backend, "executor": result.executor,
            "device": result.device, "dtype": result.dtype, "best": best}
    out.write(json.dumps(head, indent=1)[:-2] + ',\n "configurations": [\n')
    for n, chunk in enumerate(chunks):
        text = ",\n".join("  " + json.dumps(_row(spec, result, i)) for i in chunk)
        out.write((",\n" if n else "") + text)
    out.write("\n ]\n}\n")


def _table(spec, result) -> str:
    from ..sweeps.sweep import describe

    swept = list(result.grid)
    count, loss = len(result.final_loss), result.final_loss
    diverged = int((result.diverged_at[:, 0] > 0).sum())
    head = [f"{spec.title}: sheet {result.sheet}, {count:,} configurations "
            f"[{result.where}]; {diverged:,} diverged"]
    head += [f"  {n}: {describe(np.unique(result.grid[n]))}" for n in swept]
    shown = np.arange(count)
    if count > TABLE_ROWS:
        ok = np.flatnonzero(~np.isnan(loss))
        shown = ok[np.argsort(loss[ok], kind="stable")[:TABLE_ROWS]]
        head.append(f"  (the {len(shown)} best by final RMSE; --format csv or json lists all)")
    rows = [_row(spec, result, int(i)) for i in shown]
    headers = ["config", *swept, "final RMSE", *spec.model.params, "status"]
    cells = [[str(r["config"]), *(f"{r[n]:.6g}" for n in swept),
              "-" if r["final_rmse"] is None else f"{r['final_rmse']:.6g}",
              *(f"{r[p]:.6g}" for p in spec.model.params),
              "DIVERGED at e%d s%d" % tuple(r["diverged_at"]) if r["diverged_at"] else "ok"]
             for r in rows]
    widths = [max(len(c) for c in column) for column in zip(headers, *cells)]
    line = lambda row: "  ".join(c.rjust(w) for c, w in zip(row, widths)).rstrip()  # noqa: E731
    lines = head + ["", line(headers), line(["-" * w for w in widths]), *map(line, cells), ""]
    if result.best is None:
        lines.append("best: none (every configuration diverged)")
    else:
        best = _row(spec, result, result.best)
        setting = ", ".join(f"{n}={best[n]:g}" for n in swept)
        lines.append(f"best: config {best['config']}: {setting} -> final RMSE "
                     f"{best['final_rmse']:.6g}")
    return "\n".join(lines) + "\n"
