"""Wide models: a linear model of P features fitted by forward differences, which cost P + 1
model evaluations of P terms per row, P^2 work per row. Each figure is printed per unit of
that work (rows x P^2) and against a baseline timed in the same run, so that a flat column
means cost linear in the work:

- the engine, numpy executor and compiled one (its kernel loaded before timing; the load or
  compile of a kernel not yet in the disk cache is printed apart), against numpy computing
  the same predictions (every row's P + 1 shifted predictions as one matrix product);
- the workbook's writing (planning and formula text included, the run's traces given),
  against XlsxWriter writing as many formula cells of as many characters.

Run:  python benchmarks/wide.py             (P = 25, 50, 100, 200; --quick: 25, 50, 100)
      python benchmarks/wide.py --no-numpy  (skip the numpy executor, slow at P = 200)
"""
from __future__ import annotations

import argparse
import re
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np

from sheetopt import api
from sheetopt.protocol import engine
from sheetopt.protocol.results import RunResult
from sheetopt.spec import parse

ROWS, EPOCHS = 100, 2


def wide_spec(P: int, folder: Path):
    rng = np.random.default_rng(P)
    x = rng.normal(size=(ROWS, P))
    y = x @ rng.normal(size=P) + 0.5
    lines = [",".join([*(f"f{j}" for j in range(P)), "y"])]
    lines += [",".join(repr(float(v)) for v in (*row, t)) for row, t in zip(x, y)]
    csv = folder / f"wide{P}.csv"
    csv.write_text("\n".join(lines) + "\n")
    return parse({"data": {"csv": str(csv)}, "model": {"kind": "linear"},
                  "sheet": [{"name": "adam", "optimizer": "adam", "flavor": "torch", "lr": 0.01,
                             "epochs": EPOCHS,
                             "gradient": "forward"}]})


def cpu(function) -> tuple[float, object]:
    start = time.process_time()
    out = function()
    return time.process_time() - start, out


def baseline_predictions(spec) -> float:
    """numpy: every step's row against its P + 1 parameter vectors (base and shifted)."""
    x = np.asarray(spec.data.x, dtype=float).reshape(ROWS, -1)
    P = x.shape[1]
    W = np.ones((P + 1, P)) + np.vstack([np.zeros(P), np.eye(P) * 1e-4])
    start = time.process_time()
    for _ in range(EPOCHS):
        for i in range(ROWS):
            (W @ x[i] + 1.0).sum()
    return time.process_time() - start


def formula_cells(path: Path) -> tuple[int, int]:
    """The formula cells of a workbook and their characters."""
    count = chars = 0
    with zipfile.ZipFile(path) as z:
        for name in z.namelist():
            if name.startswith("xl/worksheets/sheet"):
                for formula in re.findall(rb"<f>(.*?)</f>", z.read(name)):
                    count += 1
                    chars += len(formula)
    return count, chars


def baseline_write(count: int, chars: int, folder: Path) -> float:
    import xlsxwriter

    length = max(1, chars // max(count, 1))
    text = "=" + "+".join(["A1"] * (length // 3 + 1))[:length]
    start = time.process_time()
    workbook = xlsxwriter.Workbook(str(folder / "baseline.xlsx"))
    sheet = workbook.add_worksheet()
    width = 200
    for k in range(count):
        sheet.write_formula(1 + k // width, k % width, text, None, 0.5)
    workbook.close()
    return time.process_time() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--no-numpy", action="store_true")
    parser.add_argument("--no-compiled", action="store_true",
                        help="skip the compiled executor (the workbook then takes numpy's run)")
    args = parser.parse_args()
    sizes = (25, 50, 100) if args.quick else (25, 50, 100, 200)
    print(f"{ROWS} rows, {EPOCHS} epochs, online torch Adam, forward differences; CPU seconds; "
          f"'/unit': microseconds per row x P^2")
    print(f"{'P':>4} {'chosen':>8} {'numpy':>8} {'/unit':>6} {'x base':>7} {'kernel':>7} "
          f"{'compiled':>8} {'/unit':>6} {'x base':>7} {'workbook':>8} {'/unit':>6} "
          f"{'x xlsxw':>7}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for P in sizes:
            spec = wide_spec(P, folder)
            sheet = spec.sheets[0]
            units = EPOCHS * ROWS * P * P / 1e6
            base = baseline_predictions(spec)
            chosen = getattr(engine.run(spec, sheet), "executor", "?")  # "?": not reported
            slow, traces = (cpu(lambda: {sheet.name: engine.run(spec, sheet, executor="numpy")})
                            if not args.no_numpy else (float("nan"), None))
            load = fast = float("nan")
            if not args.no_compiled:
                load, _ = cpu(lambda: engine.run(spec, sheet, executor="compiled"))
                fast, traces = cpu(lambda: {sheet.name: engine.run(spec, sheet,
                                                                   executor="compiled")})
            path = folder / f"wide{P}.xlsx"
            write, _ = cpu(lambda: api.write_workbook(RunResult(spec, traces), path,
                                                           force=True))
            count, chars = formula_cells(path)
            xlsx = baseline_write(count, chars, folder)
            print(f"{P:>4} {chosen:>8} {slow:8.2f} {slow / units:6.1f} {slow / base:7.0f} "
                  f"{load - fast:7.2f} {fast:8.3f} {fast / units:6.2f} {fast / base:7.1f} "
                  f"{write:8.2f} {write / units:6.1f} {write / xlsx:7.2f}", flush=True)


if __name__ == "__main__":
    main()
