"""sheetopt verify: every step of every sheet re-checked with torch, and each sheet replayed."""
from __future__ import annotations

from .. import api
from ..verification.replay import DRIFT_STEPS  # (imports torch only when it runs)
from . import add_command


def register(subparsers) -> None:
    parser = add_command(
        subparsers, "verify",
        "Check a spec's runs with torch. Re-check: every step of every sheet is "
        "recomputed at once as batched tensors (steps along the first dimension) from the "
        "trace's own inputs -- predictions, loss, the gradient by torch autograd, finite "
        "differences, optimizer state and parameters after the step -- and the links between "
        "steps checked (parameters before a step = the previous step's after, the run's start "
        "at the first; rows = the spec's data). Replay: every step of a torch-flavour sheet "
        "is handed to torch.optim itself from the trace's own state before it (parameters, "
        "state, step count, the schedule's lr and the step's gradient, which the re-check has "
        "recomputed), all steps at once, and the parameters and state after it compared. "
        "Drift (information, never a failure): the first --drift-steps steps replayed from the "
        "start alone (torch.optim with autograd's gradient; lecture sheets: the torch "
        "rendering of the rules); a chaotic trajectory amplifies the last bit, so it strays, "
        "and verify says how far and how fast it grows. Prints the max abs and rel difference "
        "per sheet and quantity; exits 1 when one exceeds the tolerance, naming the sheet, "
        "quantity and (epoch, step). rel = |a-b| / max(|a|, |b|, scale): scale is the sum of "
        "the per-row parts of a batch gradient, the operands' size (the value before the "
        "step) in the replay, the largest size a column has had so far in the drift, else 0.",
        "sheetopt verify lesson5 --device cpu --tol 1e-12")
    parser.add_argument("spec", help="a run spec (.toml) or a preset name")
    parser.add_argument("--sheet", help="verify only this sheet")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                        help="where the re-check runs (default: CUDA when available)")
    parser.add_argument("--tol", type=float, default=1e-12,
                        help="largest relative difference accepted (default 1e-12)")
    parser.add_argument("--drift-steps", type=int, default=DRIFT_STEPS, metavar="N",
                        help=f"steps of each sheet replayed from the start alone to measure "
                             f"the drift (default {DRIFT_STEPS:,}; 0: none)")
    parser.add_argument("--worst", action="store_true",
                        help="list only the worst quantity per sheet and check (and failures)")
    parser.set_defaults(run=run)


def run(args) -> int:
    found = api.verify_run(args.spec, args.sheet, args.device, args.tol, args.drift_steps)
    sheets, tol = found.sheets, found.tol
    print(f"{found.spec.title}: {len(sheets)} sheet(s), device {found.device}, tolerance "
          f"{tol:g} relative")
    for sheet in sheets:
        if sheet.flavor == "torch" and sheet.gradient != "analytic":
            print(f"note: sheet {sheet.name!r} steps with {sheet.gradient} differences: its replay "
                  f"hands torch.optim the trace's gradients (the re-check recomputes them)")
    results = found.differences
    print(render(results, show_all=not args.worst), end="")
    planned = {sheet.name: found.spec.steps(sheet) for sheet in sheets}
    for d in results:
        if d.info:
            print(drift_line(d, planned[d.sheet]))
    failed = [d for d in results if not d.ok]
    for d in failed:
        epoch, step = d.first_bad
        print(f"FAIL: sheet {d.sheet!r} {d.check} {d.quantity} differs from {d.against} at "
              f"epoch {epoch}, step {step} (max rel {d.max_rel:.3g} > {tol:g})")
    if not failed:
        print(f"OK: every step of {len(sheets)} sheet(s) agrees within {tol:g}")
    return 1 if failed else 0


def drift_line(d, steps: int) -> str:
    """One sheet's drift in words: how far its replay from the start strays, and how fast."""
    column = d.quantity.split(" ")[0]  # "loss (trajectory)": the column that strays most
    where = f"up to {d.max_rel:.3g} ({column} at e{d.worst_at[0]} s{d.worst_at[1]})"
    if d.max_rel == 0:
        trend = "it stays bit for bit on the trace"
    elif d.growth is None or d.growth <= 0:
        trend = f"{where}, not growing"
    else:
        trend = f"{where}, growing x10 every {1000 / d.growth:,.0f} steps"
    return (f"drift (information): sheet {d.sheet!r} replayed from its start alone "
            f"({d.count:,} of {steps:,} steps, {d.against.split(',')[0]}): {trend}")


def _worst(results):
    """Per sheet and check, the quantity with the largest relative difference, plus failures."""
    chosen, seen = [], {}
    for d in results:
        key = (d.sheet, d.check)
        if d.info:
            continue
        if key not in seen or d.max_rel > seen[key].max_rel:
            seen[key] = d
    for d in results:
        if seen.get((d.sheet, d.check)) is d or not d.ok:
            chosen.append(d)
    return chosen


def render(results, show_all: bool = False) -> str:
    rows = results if show_all else _worst(results)
    headers = ["sheet", "check", "quantity", "compared with", "values", "max abs", "max rel",
               "worst at", "status"]
    cells = [[d.sheet, d.check, d.quantity, d.against, str(d.count), f"{d.max_abs:.3g}",
              f"{d.max_rel:.3g}", "-" if d.worst_at is None or d.max_rel == 0 else "e%d s%d" % d.worst_at,
              "info" if d.info else "ok" if d.ok else "FAIL at e%d s%d" % d.first_bad]
             for d in rows]
    widths = [max(len(c) for c in column) for column in zip(headers, *cells)]
    line = lambda row: "  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip()  # noqa: E731
    note = "" if show_all else "(the worst quantity per sheet and check, and any failure)\n"
    return "\n".join([line(headers), line(["-" * w for w in widths]), *map(line, cells)]) + "\n" + note
