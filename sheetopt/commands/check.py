"""sheetopt check: does a workbook's every stored value agree with a fresh engine run?"""
from __future__ import annotations

from ..reader.check import REL_TOL, check_workbook, edits
from ..tables import table
from . import add_command


def register(subparsers) -> None:
    parser = add_command(
        subparsers, "check",
        "Read back a workbook that sheetopt wrote (possibly edited and saved by a spreadsheet "
        "program since), rerun the engine on its input cells (data, hyperparameters, start "
        "values) and compare every stored value. Exit status 0: all agree; 1: some differ, or "
        "formulas were replaced by plain values (saved \"as values\": no longer live); 2: the "
        "file cannot be checked, said in one line naming the part, sheet and cell (not a "
        "sheetopt workbook, damaged, a zip or XML bomb, an input cell that is not a number, "
        "edited metadata, or saved without computed values, e.g. by a script: open it in a "
        "spreadsheet program and save it there first). It also lists the input cells edited "
        "since sheetopt wrote the file and each sheet's results as written and now (final "
        "parameters, last epoch's RMSE or, for a model whose loss is not the squared error, "
        "its mean loss, distance to the truth).",
        "sheetopt check lesson5.xlsx",
        line="rerun an (edited) workbook and compare every stored value")
    parser.add_argument("workbook", metavar="FILE.xlsx")
    parser.set_defaults(run=run)


def run(args) -> int:
    results = check_workbook(args.workbook)
    width = max(len(r.sheet) for r in results)
    for r in results:
        status = ("ok" if r.ok else f"DIFFERS in {r.bad:,} cells" if r.bad
                  else f"NOT LIVE: {r.plain:,} formula cells hold plain values")
        print(f"{r.sheet:<{width}}  {r.cells:>8,} cells  max abs diff {r.max_abs:.3g}  "
              f"max rel diff {r.max_rel:.3g}  {status}")
        if r.bad:
            print(f"{'':<{width}}  first: {r.first_bad}")
    plain = sum(r.plain for r in results)
    if plain:
        print(f"{args.workbook}: no longer live: {plain:,} of {sum(r.cells for r in results):,} "
              f"formula cells were replaced by plain values (saved \"as values\"?); "
              f"regenerate it with sheetopt workbook")
    print(describe_edits(*edits(args.workbook)), end="")
    bad = [r for r in results if r.bad]
    if bad:
        print(f"{args.workbook}: {len(bad)} sheet(s) disagree with the engine "
              f"(tolerance {REL_TOL:g} relative)")
    if bad or plain:
        return 1
    print(f"{args.workbook}: every stored value agrees with the engine")
    return 0


def describe_edits(found, outcomes) -> str:
    """The edited input cells and each sheet's results as written and now, as text."""
    if not found:
        return "inputs: as sheetopt wrote them (no cell edited)\n"
    lines = [f"inputs edited since sheetopt wrote the workbook ({len(found)}):"]
    lines += [f"  {e.where}: {e.written:.10g} -> {e.now:.10g}" for e in found]
    keys = [k for k in outcomes[0].written if k != "distance" or any(
        o.written["distance"] is not None for o in outcomes)]
    headers = ["sheet"] + [f"{k} {when}" for k in keys for when in ("written", "now")]
    rows = [[o.sheet] + [_figure(part[k]) for k in keys for part in (o.written, o.now)]
            for o in outcomes]
    figure = "mean loss" if "mean loss" in keys else "rmse"
    lines += [f"rerun with the edited inputs (final parameters, last epoch's {figure}, distance "
              "to the truth; as written -> now):", table(headers, rows).rstrip("\n")]
    return "\n".join(lines) + "\n"


def _figure(value) -> str:
    return "-" if value is None else f"{value:.6g}"
