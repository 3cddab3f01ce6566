"""sheetopt sweep: many configurations of one sheet at once, the LR-finder picture."""
from __future__ import annotations

import csv
import io
import json

import numpy as np

from ..errors import SheetoptError
from ..files import check_target
from ..spec import load
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
    parser.add_argument("--backend", choices=("numpy", "torch"), default="numpy",
                        help="numpy: the engine itself; torch: the rules on tensors")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                        help="torch backend only: where to run (default: CUDA when available)")
    parser.add_argument("--dtype", choices=("float64", "float32"), default="float64",
                        help="torch backend only (the numpy backend is float64)")
    parser.add_argument("--format", choices=FORMATS, default="table")
    parser.add_argument("--plot", metavar="FILE.png", help="draw final loss against lr")
    parser.add_argument("--force", action="store_true", help="overwrite an existing plot file")
    parser.set_defaults(run=run)


def run(args) -> int:
    from ..torch_backend import sweep

    if args.plot:
        if not args.plot.lower().endswith(".png"):
            raise SheetoptError(f"{args.plot}: the plot is written as PNG; name it *.png")
        check_target(args.plot, args.force)
    if args.backend == "numpy" and args.dtype != "float64":
        raise SheetoptError("--dtype float32 is for --backend torch; the numpy engine is float64")
    ranges = {"lr": sweep.parse_range(args.lr, "--lr", args.log),
              "mom": args.mom and sweep.parse_range(args.mom, "--mom"),
              "sqr_mom": args.sqr_mom and sweep.parse_range(args.sqr_mom, "--sqr-mom")}
    spec = load(args.spec)
    sheet = spec.sheet(args.sheet)
    device = None
    if args.backend == "torch":
        from ..torch_backend.device import pick_device

        device = pick_device(args.device)
    configs = sweep.count_configurations(ranges)
    sweep.check_memory(spec, sheet, configs, 4 if args.dtype == "float32" else 8, device)
    grid = sweep.make_grid(sheet, ranges)
    result = sweep.run_sweep(spec, sheet, grid, args.backend, device, args.dtype)
    print(render(spec, result, args.format), end="")
    if args.plot:
        sweep.lr_finder_plot(result, args.plot, args.force, f"{spec.title}: sheet {sheet.name}")
    return 0


def _rows(spec, result):
    names = list(result.grid)
    for i in range(len(result.final_loss)):
        epoch, step = (int(v) for v in result.diverged_at[i])
        yield {
            "config": i + 1,
            **{n: float(result.grid[n][i]) for n in names},
            "final_rmse": None if np.isnan(result.final_loss[i]) else float(result.final_loss[i]),
            **{p: float(result.params[i, j]) for j, p in enumerate(spec.model.params)},
            "diverged_at": [epoch, step] if epoch else None,
        }


def render(spec, result, fmt: str) -> str:
    rows = list(_rows(spec, result))
    best = None if result.best is None else rows[result.best]
    if fmt == "json":
        return json.dumps({"sheet": result.sheet, "backend": result.backend,
                           "device": result.device, "configurations": rows, "best": best},
                          indent=1) + "\n"
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        keys = [k for k in rows[0] if k != "diverged_at"]
        writer.writerow([*keys, "diverged_epoch", "diverged_step"])
        for row in rows:
            where = row["diverged_at"] or ["", ""]
            writer.writerow(["" if row[k] is None else repr(row[k]) for k in keys] + where)
        return out.getvalue()
    return _table(spec, result, rows, best)


def _table(spec, result, rows, best) -> str:
    from ..torch_backend.sweep import describe

    swept = list(result.grid)
    diverged = sum(1 for r in rows if r["diverged_at"])
    head = [f"{spec.title}: sheet {result.sheet}, {len(rows):,} configurations "
            f"({result.backend} on {result.device}); {diverged:,} diverged"]
    head += [f"  {n}: {describe(np.unique(result.grid[n]))}" for n in swept]
    shown = rows
    if len(rows) > TABLE_ROWS:
        ok = sorted((r for r in rows if r["final_rmse"] is not None), key=lambda r: r["final_rmse"])
        shown = ok[:TABLE_ROWS]
        head.append(f"  (the {len(shown)} best by final RMSE; --format csv or json lists all)")
    headers = ["config", *swept, "final RMSE", *spec.model.params, "status"]
    cells = [[str(r["config"]), *(f"{r[n]:.6g}" for n in swept),
              "-" if r["final_rmse"] is None else f"{r['final_rmse']:.6g}",
              *(f"{r[p]:.6g}" for p in spec.model.params),
              "DIVERGED at e%d s%d" % tuple(r["diverged_at"]) if r["diverged_at"] else "ok"]
             for r in shown]
    widths = [max(len(c) for c in column) for column in zip(headers, *cells)]
    line = lambda row: "  ".join(c.rjust(w) for c, w in zip(row, widths)).rstrip()  # noqa: E731
    lines = head + ["", line(headers), line(["-" * w for w in widths]), *map(line, cells), ""]
    if best is None:
        lines.append("best: none (every configuration diverged)")
    else:
        setting = ", ".join(f"{n}={best[n]:g}" for n in swept)
        lines.append(f"best: config {best['config']}: {setting} -> final RMSE "
                     f"{best['final_rmse']:.6g}")
    return "\n".join(lines) + "\n"
