"""sheetopt torch-suite: sheetopt's optimizers and schedulers against the installed torch.optim,
through every code path torch has on the device."""
from __future__ import annotations

import json
import sys

from ..errors import SheetoptError
from . import add_command


def register(subparsers) -> None:
    parser = add_command(
        subparsers, "torch-suite",
        "The regression suite of torch.optim semantics, against the torch installed here. "
        "Every torch.optim class of sheetopt's rule registry runs over its registry grid of "
        "options on the lecture's rows, and every torch scheduler drives SGD with momentum and "
        "Adam on generated rows, for several epochs of online steps. sheetopt runs N configurations "
        "side by side, each with its own start; torch runs one tensor of N elements per model "
        "parameter through each code path it has on the device: the loop (foreach=False), "
        "foreach=True and fused=True where the class has it. Each step's parameters are "
        "compared element by element. Exits 1 when the loop path differs by more than 1e-12 "
        "relative or a vectorized path by more than 1e-10 (they round differently in the "
        "last bits, and that compounds: the largest measured on torch 2.13 CPU is 7.9e-12, "
        "foreach NAdam), else 0. A case whose own trajectories amplify rounding is judged "
        "by its conditioning instead: the engine reruns from starts one ulp away, and the "
        "bound is max(tolerance, 10 x that sensitivity), at most 1e-8; the table's "
        "sensitivity and bound columns say which bound judged each row. --device auto is CUDA when torch sees a GPU, else the CPU.",
        "sheetopt torch-suite --device cpu --elements 1000")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                        help="where torch runs (default auto: CUDA when available, else CPU)")
    parser.add_argument("--elements", type=int, default=1000,
                        help="configurations side by side = elements per torch tensor "
                             "(default 1000)")
    parser.add_argument("--epochs", type=int, default=3, help="epochs of online steps "
                        "(default 3)")
    parser.add_argument("--optimizer", action="append",
                        help="only this optimizer (repeatable; default all)")
    parser.add_argument("--scheduler", action="append",
                        help="only this scheduler (repeatable; 'none' for no scheduler cases)")
    parser.add_argument("--path", action="append", metavar="PATH",
                        help="only this code path of torch's (repeatable): loop, foreach, "
                             "fused, or one of the CUDA-only paths: capturable, 'foreach "
                             "capturable', 'foreach capturable lr tensor' (lr as a one-element "
                             "tensor), 'fused lr tensor'; default: loop, foreach and fused, and "
                             "on CUDA the CUDA-only paths too; each runs where torch accepts it")
    parser.add_argument("--format", choices=("table", "json"), default="table")
    parser.set_defaults(run=run)


def run(args) -> int:
    from ..schedules import TORCH_SCHEDULERS
    from ..verification import suite

    if args.elements < 1:
        raise SheetoptError(f"--elements must be at least 1 (got {args.elements})")
    if args.epochs < 1:
        raise SheetoptError(f"--epochs must be at least 1 (got {args.epochs})")
    known = suite.optimizer_names()
    for name in args.optimizer or []:
        if name not in known:
            raise SheetoptError(f"--optimizer {name!r} is not one of {', '.join(known)}")
    schedulers = args.scheduler
    if schedulers == ["none"]:
        schedulers = []
    for name in schedulers or []:
        if name not in TORCH_SCHEDULERS:
            raise SheetoptError(f"--scheduler {name!r} is not one of "
                                f"{', '.join(TORCH_SCHEDULERS)} (or none)")
    for name in args.path or []:
        if name not in suite.PATH_OPTIONS:
            raise SheetoptError(f"--path {name!r} is not one of "
                                f"{', '.join(map(repr, suite.PATH_OPTIONS))}")
    from ..executors.torch.device import pick_device

    device = pick_device(args.device)
    paths = tuple(args.path) if args.path else suite.default_paths(device)
    version = suite.torch_version()
    table = args.format == "table"
    if table:
        print(f"torch {version} on {device}; {args.elements} elements per tensor, "
              f"{args.epochs} epochs; paths {', '.join(paths)}; tolerance loop "
              f"{suite.LOOP_TOL:g}, the others {suite.VECTOR_TOL:g} relative, or {suite.SENSITIVITY_FACTOR:g} x the case's "
              f"sensitivity to a one-ulp change of its starts where larger (at most "
              f"{suite.MAX_BOUND:g})")
        widths = _widths(paths)
        print(_line(HEADERS, widths))
        sys.stdout.flush()
    skipped = {}  # path -> {torch class's optimizer: why torch does not run it}
    rows = suite.run_suite(str(device.type), args.elements, args.epochs, args.optimizer,
                           schedulers, paths, executor="numpy",
                           on_row=(lambda row: print(_line(_cells(row), widths), flush=True))
                           if table else None,
                           on_skip=lambda case, path, reason: skipped.setdefault(
                               path, {}).setdefault(case.optimizer, reason))
    failed = [r for r in rows if not r.ok]
    if table:
        by_path = {}
        for r in rows:
            by_path[r.path] = max(by_path.get(r.path, 0.0), r.max_rel)
        print(f"{len(rows)} runs ({len({(r.optimizer, r.options) for r in rows})} cases); largest "
              f"difference per path: " + ", ".join(f"{p} {v:.3g}" for p, v in by_path.items()))
        for path, reasons in skipped.items():
            print(f"not run on {device}: {path} for " + "; ".join(
                f"{name} ({reason})" for name, reason in reasons.items()))
        raised = [r for r in rows if r.judged_by != "tol"]
        print(f"{len(rows) - len(raised)} runs judged by the path's tolerance, {len(raised)} by "
              f"{suite.SENSITIVITY_FACTOR:g} x sensitivity" + "".join(
                  f"; {r.optimizer} ({r.options}) {r.path}: sensitivity {r.sensitivity:.3g}, "
                  f"bound {r.tolerance:.3g}, difference {r.max_rel:.3g}" for r in raised))
        for r in failed:
            epoch, step = r.first_bad
            print(f"FAIL: {r.optimizer} ({r.options}) {r.path} differs from sheetopt by "
                  f"{r.max_rel:.3g} relative, first beyond {r.tolerance:g} at epoch {epoch}, "
                  f"step {step}")
        if not failed:
            print(f"OK: torch {version} agrees with sheetopt on every case and path")
    else:
        print(json.dumps({"torch": version, "device": str(device),
                          "elements": args.elements, "epochs": args.epochs,
                          "paths": list(paths),
                          "tolerance": {"loop": suite.LOOP_TOL, "vector": suite.VECTOR_TOL,
                                        "sensitivity_factor": suite.SENSITIVITY_FACTOR,
                                        "max_bound": suite.MAX_BOUND},
                          "rows": [r.as_dict() for r in rows], "not_run": skipped,
                          "ok": not failed}, indent=1))
    return 1 if failed else 0


HEADERS = ["optimizer", "options", "path", "steps", "max rel diff", "max ulps", "worst at",
           "sensitivity", "bound", "verdict"]
WIDTHS = [10, 60, 8, 6, 12, 9, 9, 11, 15, 20]


def _cells(row) -> list[str]:
    worst = "-" if row.worst_at is None else "e%d s%d" % row.worst_at
    verdict = "ok" if row.ok else "FAIL at e%d s%d" % row.first_bad
    return [row.optimizer, row.options, row.path, str(row.steps), f"{row.max_rel:.3g}",
            str(row.max_ulps), worst, f"{row.sensitivity:.2g}",
            f"{row.tolerance:.2g}" + ("" if row.judged_by == "tol" else f" ({row.judged_by})"),
            verdict + (f"  ({row.note})" if row.note else "")]


def _widths(paths) -> list[int]:
    widths = list(WIDTHS)
    widths[HEADERS.index("path")] = max([WIDTHS[HEADERS.index("path")], *map(len, paths)])
    return widths


def _line(cells, widths=WIDTHS) -> str:
    return "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()
