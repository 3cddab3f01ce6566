"""sheetopt torch-suite: sheetopt's optimizers and schedulers against the installed torch.optim,
through every code path torch has on the device."""
from __future__ import annotations

import json

from ..errors import SheetoptError
from ..tables import Columns, terminal_width, wrap
from . import add_command


def register(subparsers) -> None:
    parser = add_command(
        subparsers, "torch-suite",
        "The regression suite of torch.optim semantics, against the torch installed here: "
        "every torch.optim class over its registry grid of options and every torch scheduler, "
        "N configurations side by side against one tensor of N elements per parameter, "
        "through each code path torch has on the device (loop, foreach, fused). Exits 1 when "
        "the loop differs by more than 1e-12 relative or a vectorized path by more than "
        "1e-10 (or, for a case that amplifies rounding, 10 x its sensitivity, at most 1e-8).",
        "sheetopt torch-suite --device cpu --elements 1000",
        line="torch.optim's semantics against the installed torch")
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

    suite.suite_cases(args.elements, args.epochs, args.optimizer, schedulers)  # fits?
    device = pick_device(args.device)
    paths = tuple(args.path) if args.path else suite.default_paths(device)
    version = suite.torch_version()
    table = args.format == "table"
    if table:
        print(wrap(f"torch {version} on {device}; {args.elements} elements per tensor, "
                   f"{args.epochs} epochs; paths {', '.join(paths)}; tolerance loop "
                   f"{suite.LOOP_TOL:g}, the others {suite.VECTOR_TOL:g} relative, or "
                   f"{suite.SENSITIVITY_FACTOR:g} x the case's sensitivity to a one-ulp change "
                   f"of its starts where larger (at most {suite.MAX_BOUND:g})"))
        table_columns = columns(paths)
        print(table_columns.head(), flush=True)
    skipped = {}  # path -> {torch class's optimizer: why torch does not run it}
    rows = suite.run_suite(str(device.type), args.elements, args.epochs, args.optimizer,
                           schedulers, paths, executor="numpy",
                           on_row=(lambda row: print(table_columns.line(_cells(row)), flush=True))
                           if table else None,
                           on_skip=lambda case, path, reason: skipped.setdefault(
                               path, {}).setdefault(case.optimizer, reason))
    failed = [r for r in rows if not r.ok]
    if table:
        by_path = {}
        for r in rows:
            by_path[r.path] = max(by_path.get(r.path, 0.0), r.max_rel)
        print(wrap(f"{len(rows)} runs ({len({(r.optimizer, r.options) for r in rows})} cases); "
                   f"largest difference per path: "
                   + ", ".join(f"{p} {v:.3g}" for p, v in by_path.items())))
        for path, reasons in skipped.items():
            print(wrap(f"not run on {device}: {path} for " + "; ".join(
                f"{name} ({reason})" for name, reason in reasons.items())))
        raised = [r for r in rows if r.judged_by != "tol"]
        print(wrap(f"{len(rows) - len(raised)} runs judged by the path's tolerance, "
                   f"{len(raised)} by {suite.SENSITIVITY_FACTOR:g} x sensitivity" + "".join(
                       f"; {r.optimizer} ({r.options}) {r.path}: sensitivity "
                       f"{r.sensitivity:.3g}, bound {r.tolerance:.3g}, difference "
                       f"{r.max_rel:.3g}" for r in raised)))
        for r in failed:
            epoch, step = r.first_bad
            print(wrap(f"FAIL: {r.optimizer} ({r.options}) {r.path} differs from sheetopt by "
                       f"{r.max_rel:.3g} relative, first beyond {r.tolerance:g} at epoch "
                       f"{epoch}, step {step}"))
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


HEADERS = ["optimizer", "options", "path", "steps", "max rel", "ulps", "worst", "sens",
           "bound", "verdict"]
WIDTHS = [9, 0, 7, 5, 8, 5, 8, 7, 9, 7]  # options: what the terminal leaves (at least 16)


def columns(paths=()) -> Columns:
    """The table's columns: the rows stream out as they are measured, so the widths are
    fixed up front (the path column as wide as the longest path run); options and verdict
    wrap within theirs."""
    widths = list(WIDTHS)
    widths[2] = max([widths[2], *map(len, paths)])
    widths[1] = max(16, min(terminal_width(), 200) - sum(widths) - 2 * (len(widths) - 1))
    return Columns(HEADERS, widths, right=[False, False, False, True, True, True, False,
                                           True, True, False])


def _cells(row) -> list[str]:
    worst = "-" if row.worst_at is None else "e%d s%d" % row.worst_at
    verdict = "ok" if row.ok else "FAIL at e%d s%d" % row.first_bad
    return [row.optimizer, row.options, row.path, str(row.steps), f"{row.max_rel:.3g}",
            str(row.max_ulps), worst, f"{row.sensitivity:.2g}",
            f"{row.tolerance:.2g}" + {"tol": "", "sensitivity": " s", "cap": " cap"}[row.judged_by],
            verdict + (f"  ({row.note})" if row.note else "")]


