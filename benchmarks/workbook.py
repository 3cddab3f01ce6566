"""How fast sheetopt writes workbooks, and whether the writer's memory grows with the run.

Prints, for an online run of 100,000 rows (1,000 data rows x 100 epochs, one lecture-adam
sheet): formula cells written per second with their cached values (the engine run itself not
counted), and the writer's peak Python memory (tracemalloc) for 10,000 and 100,000 rows and
their ratio (about 1 when memory does not grow with the run).
Baseline in the same process: the same cells through XlsxWriter's public write_formula,
which scans every formula for dynamic-array functions.

    python benchmarks/workbook.py [--rows 1000] [--epochs 100]
"""
from __future__ import annotations

import argparse
import tempfile
import time
import tracemalloc
from pathlib import Path

from sheetopt.protocol import engine
from sheetopt.spec import parse
from sheetopt.workbook import plan_sheets, write_plans
from sheetopt.workbook import writer as writer_module
from sheetopt.workbook.writer import ExactWorksheet

SPEC = {
    "title": "benchmark",
    "data": {"rows": 1000, "x": "uniform", "x_min": -1.0, "x_max": 1.0,
             "true": {"a": 3.0, "b": 2.0}, "noise": "normal", "noise_scale": 0.1, "seed": 1},
    "sheet": [{"name": "adam", "optimizer": "adam", "lr": 0.01, "mom": 0.9, "sqr_mom": 0.99,
               "epochs": 100, "init": {"a": 0.0, "b": 0.0},
               "state": {"grad_avg": {"a": 0.0, "b": 0.0}, "sqr_avg": {"a": 1.0, "b": 1.0}}}],
}


def make_spec(rows: int, epochs: int):
    raw = {**SPEC, "data": {**SPEC["data"], "rows": rows},
           "sheet": [{**SPEC["sheet"][0], "epochs": epochs}]}
    return parse(raw)


def timed_write(spec, traces, folder: Path, name: str) -> tuple[float, int]:
    plans = plan_sheets(spec, traces)
    started = time.perf_counter()
    count = write_plans(spec, plans, folder / name)
    return time.perf_counter() - started, count


def peak_memory(spec, traces, folder: Path) -> float:
    """Peak Python allocation (MiB) while writing, beyond what the traces already hold."""
    tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    timed_write(spec, traces, folder, "memory.xlsx")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return (peak - base) / 2**20


def public_api_write(sheet, row, col, text, fmt, value):
    sheet.write_formula(row, col, "=" + text, fmt, value)


def baseline_write(spec, traces, folder: Path) -> tuple[float, int]:
    """The same workbook with every cell through XlsxWriter's public API (no XML rows)."""
    saved = (writer_module.put_formula, ExactWorksheet.can_stream, ExactWorksheet.style_attr)
    writer_module.put_formula = public_api_write
    ExactWorksheet.can_stream = lambda self, row: False
    ExactWorksheet.style_attr = lambda self, formats: None
    try:
        return timed_write(spec, traces, folder, "baseline.xlsx")
    finally:
        writer_module.put_formula, ExactWorksheet.can_stream, ExactWorksheet.style_attr = saved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--epochs", type=int, default=100)
    args = parser.parse_args()
    spec = make_spec(args.rows, args.epochs)
    started = time.perf_counter()
    traces = engine.run_all(spec)
    engine_s = time.perf_counter() - started
    n = args.rows * args.epochs
    small = make_spec(args.rows, max(1, args.epochs // 10))
    small_traces = engine.run_all(small)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        seconds, count = timed_write(spec, traces, folder, "fast.xlsx")
        size = (folder / "fast.xlsx").stat().st_size
        print(f"run: {n:,} rows ({args.rows:,} data rows x {args.epochs} epochs), "
              f"engine {engine_s:.2f} s")
        print(f"sheetopt writer: {count:,} formula cells with cached values in {seconds:.2f} s "
              f"= {count / seconds:,.0f} formula cells/s (file {size / 2**20:.1f} MiB)")
        small_s, small_count = timed_write(small, small_traces, folder, "small.xlsx")
        base_s, base_count = baseline_write(small, small_traces, folder)
        print(f"on 1/10 of the rows: sheetopt {small_count / small_s:,.0f} cells/s, baseline "
              f"(XlsxWriter write_formula per cell) {base_count / base_s:,.0f} cells/s: "
              f"{base_s / small_s:.1f}x faster")
        peaks = []
        for label, (s, t) in (("1/10 of the rows", (small, small_traces)),
                              ("all rows", (spec, traces))):
            rows = len(s.data) * s.sheets[0].epochs
            peaks.append(peak_memory(s, t, folder))
            print(f"writer peak memory, {label} ({rows:,} rows): {peaks[-1]:.2f} MiB")
        print(f"peak memory ratio, all rows / 1/10 of the rows: {peaks[1] / peaks[0]:.2f} "
              f"(10x the rows)")


if __name__ == "__main__":
    main()
