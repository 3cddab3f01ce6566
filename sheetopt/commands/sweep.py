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
from ..tables import table
from . import add_command

FORMATS = ("table", "csv", "json")
TABLE_ROWS = 40  # a longer sweep's table shows the best ones; csv and json give all


def register(subparsers) -> None:
    parser = add_command(
        subparsers, "sweep",
        "Run one sheet under many settings at once (every combination of the given values of "
        "its hyperparameters and schedule arguments), as arrays shaped (configurations, "
        "parameters) stepping through the rows together. Prints each configuration's "
        "objective (--objective: the final, best or an epoch's RMSE, or a step's loss) and the "
        "best one; "
        "diverged configurations are marked, not fatal. --plot draws the objective against "
        "the first swept value on log axes: the LR-finder picture.",
        "sheetopt sweep lesson5 --sheet adam --lr 1e-3:10:25 --log --mom 0.8,0.9 --plot lr.png",
        line="run one sheet under many settings at once")
    parser.add_argument("spec", help="a run spec (.toml) or a preset name")
    parser.add_argument("--sheet", required=True, help="the sheet whose settings are swept")
    parser.add_argument("--lr", metavar="START:STOP:N",
                        help="learning rates: N values from START to STOP, or a list a,b,c")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUES",
                        help="any numeric hyperparameter (eps, wd, ...) or schedule argument "
                             "(max_lr, pct_start, ...) of the sheet: NAME=START:STOP:N or "
                             "NAME=a,b,c; repeatable")
    parser.add_argument("--log", action="store_true",
                        help="space the START:STOP:N values of --lr and --set geometrically")
    parser.add_argument("--objective", default="final", metavar="final|best|epoch:N|step:N",
                        help="what ranks the configurations: final (true RMSE over the last "
                             "epoch, the default), best (the smallest RMSE of an epoch), "
                             "epoch:N (the RMSE over epoch N) or step:N (the loss at step N of "
                             "the run, as trace's loss column); a surface or classifier is "
                             "measured by its mean loss instead of the RMSE")
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
    ranges = {"lr": args.lr and parse_range(args.lr, "--lr", args.log),
              "mom": args.mom and parse_range(args.mom, "--mom"),
              "sqr_mom": args.sqr_mom and parse_range(args.sqr_mom, "--sqr-mom")}
    for text in args.set:
        name, values = _setting(text)
        if ranges.get(name) is not None:
            raise SheetoptError(f"--set {name}: {name} is swept twice; give its values once")
        ranges[name] = parse_range(values, f"--set {name}", args.log)
    spec, sheet, result = api.sweep_run(args.spec, args.sheet, **ranges, backend=args.backend,
                                        device=args.device, dtype=args.dtype,
                                        objective=args.objective)
    write(spec, result, args.format, sys.stdout)
    if args.plot:
        lr_finder_plot(result, args.plot, args.force, f"{spec.title}: sheet {sheet.name}")
    return 0


def _setting(text: str) -> tuple[str, str]:
    """``NAME=VALUES`` of --set, split; one line when it is not that."""
    name, sign, values = text.partition("=")
    name = name.strip()
    if not sign or not name.isidentifier() or not values.strip():
        raise SheetoptError(f"--set {text!r}: expected NAME=VALUES, e.g. max_lr=0.01:1:20 or "
                            f"eps=1e-8,1e-6")
    return name, values.strip()


CHUNK = 10_000  # configurations formatted at a time: csv and json of a big sweep stream out


def _row(spec, result, i: int) -> dict:
    """Configuration ``i`` (from 0) as a plain dict: its values, final loss, parameters."""
    epoch, step = (int(v) for v in result.diverged_at[i])
    number = lambda v: None if math.isnan(v) else v  # noqa: E731
    return {
        "config": i + 1,
        **{n: float(result.grid[n][i]) for n in result.grid},
        result.objective.final.column: number(float(result.final_loss[i])),
        result.objective.column: number(float(result.loss[i])),
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
            "device": result.device, "dtype": result.dtype,
            "objective": result.objective.column, "objective_words": result.objective.words,
            "best": best, "tied": result.tied}
    out.write(json.dumps(head, indent=1)[:-2] + ',\n "configurations": [\n')
    for n, chunk in enumerate(chunks):
        text = ",\n".join("  " + json.dumps(_row(spec, result, i)) for i in chunk)
        out.write((",\n" if n else "") + text)
    out.write("\n ]\n}\n")


def _table(spec, result) -> str:
    from ..sweeps.sweep import describe

    swept = list(result.grid)
    goal = result.objective
    count = len(result.final_loss)
    diverged = int((result.diverged_at[:, 0] > 0).sum())
    head = [f"{spec.title}: sheet {result.sheet}, {count:,} configurations "
            f"[{result.where}]; {diverged:,} diverged"]
    head += [f"  {n}: {describe(np.unique(result.grid[n]))}" for n in swept]
    head.append(f"  objective: {goal.words}")
    shown = np.arange(count)
    if count > TABLE_ROWS:
        shown = result.ranked[:TABLE_ROWS]
        head.append(f"  (the {len(shown)} best by {goal.short}; --format csv or json lists all)")
    rows = [_row(spec, result, int(i)) for i in shown]
    final = goal.final
    extra = [goal.column] if goal.column != final.column else []
    number = lambda v: "-" if v is None else f"{v:.6g}"  # noqa: E731
    headers = ["config", *swept, final.short, *(goal.short for _ in extra),
               *spec.model.params, "status"]
    cells = [[str(r["config"]), *(f"{r[n]:.6g}" for n in swept), number(r[final.column]),
              *(number(r[c]) for c in extra), *(f"{r[p]:.6g}" for p in spec.model.params),
              "DIVERGED at e%d s%d" % tuple(r["diverged_at"]) if r["diverged_at"] else "ok"]
             for r in rows]
    lines = head + ["", table(headers, cells)]
    lines.append(_best_line(result, swept))
    return "\n".join(lines) + "\n"


def _best_line(result, swept) -> str:
    """The best configuration by the objective, or why none is named."""
    goal = result.objective
    if result.best is not None:
        i = result.best
        setting = ", ".join(f"{n}={result.grid[n][i]:g}" for n in swept)
        return f"best: config {i + 1}: {setting} -> {goal.short} {result.loss[i]:.6g}"
    if result.tied > 1:
        value = result.loss[result.ranked[0]]
        return (f"best: none ({result.tied:,} configurations tie at {goal.short} {value:.6g}: "
                f"the same result, nothing to choose between them)")
    return "best: none (every configuration diverged)"
