"""sheetopt verify: every step of every sheet re-checked with torch, and each sheet replayed."""
from __future__ import annotations

from .. import api
from . import add_command


def register(subparsers) -> None:
    parser = add_command(
        subparsers, "verify",
        "Check a spec's runs with torch, two ways. Re-check: every step of every sheet is "
        "recomputed at once as batched tensors (steps along the first dimension) from the "
        "trace's own inputs -- predictions, loss, the gradient by torch autograd, finite "
        "differences, optimizer state and parameters after the step -- and the links between "
        "steps checked (parameters before a step = the previous step's after, the run's start "
        "at the first; rows = the spec's data). Replay: torch-flavour sheets are rerun with "
        "torch.optim itself (lecture-flavour ones with the torch rendering of the rules) and "
        "whole trajectories compared; the gradient is torch autograd's, except for sheets that "
        "step with a finite difference (gradient = forward or central): torch.optim is handed "
        "the trace's gradient of each step, which the re-check has recomputed from that step's "
        "inputs (a difference quotient would magnify torch's last-bit rounding differences "
        "into false failures). Prints the max abs and rel difference per sheet and quantity; exits 1 when "
        "one exceeds the tolerance, naming the sheet, quantity and (epoch, step). "
        "rel = |a-b| / max(|a|, |b|, scale): scale is the sum of the per-row parts of a "
        "batch gradient, the largest size a replayed column has had so far, else 0.",
        "sheetopt verify lesson5 --device cpu --tol 1e-12")
    parser.add_argument("spec", help="a run spec (.toml) or a preset name")
    parser.add_argument("--sheet", help="verify only this sheet")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                        help="where the re-check runs (default: CUDA when available)")
    parser.add_argument("--tol", type=float, default=1e-12,
                        help="largest relative difference accepted (default 1e-12)")
    parser.add_argument("--worst", action="store_true",
                        help="list only the worst quantity per sheet and check (and failures)")
    parser.set_defaults(run=run)


def run(args) -> int:
    found = api.verify_run(args.spec, args.sheet, args.device, args.tol)
    sheets, tol = found.sheets, found.tol
    print(f"{found.spec.title}: {len(sheets)} sheet(s), device {found.device}, tolerance "
          f"{tol:g} relative")
    for sheet in sheets:
        if sheet.flavor == "torch" and sheet.gradient != "analytic":
            print(f"note: sheet {sheet.name!r} steps with {sheet.gradient} differences: its replay "
                  f"hands torch.optim the trace's gradients (the re-check recomputes them)")
    results = found.differences
    print(render(results, show_all=not args.worst), end="")
    failed = [d for d in results if not d.ok]
    for d in failed:
        epoch, step = d.first_bad
        print(f"FAIL: sheet {d.sheet!r} {d.check} {d.quantity} differs from {d.against} at "
              f"epoch {epoch}, step {step} (max rel {d.max_rel:.3g} > {tol:g})")
    if not failed:
        print(f"OK: every step of {len(sheets)} sheet(s) agrees within {tol:g}")
    return 1 if failed else 0


def _worst(results):
    """Per sheet and check, the quantity with the largest relative difference, plus failures."""
    chosen, seen = [], {}
    for d in results:
        key = (d.sheet, d.check)
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
              "ok" if d.ok else "FAIL at e%d s%d" % d.first_bad] for d in rows]
    widths = [max(len(c) for c in column) for column in zip(headers, *cells)]
    line = lambda row: "  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip()  # noqa: E731
    note = "" if show_all else "(the worst quantity per sheet and check, and any failure)\n"
    return "\n".join([line(headers), line(["-" * w for w in widths]), *map(line, cells)]) + "\n" + note
