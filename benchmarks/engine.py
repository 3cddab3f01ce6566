"""Engine speed: one online Adam run over 1,000,000 rows, and sweeps of many configurations.

Prints, in one run:
- rows/s of engine.run (trace recorded) on the compiled executor, compile time apart;
- rows/s of the numpy executor and of a torch.optim.Adam loop, each timed on a slice;
- config-steps/s of online Adam on the lecture's rows for C = 1, 1,000 and 100,000
  configurations, compiled (multi-threaded from sheetopt.executors.compiled.PARALLEL_FROM on) and numpy;
- rows/s of engine.run for every torch.optim class of the rules registry (online, trace
  recorded, compiled), each as a ratio to torch-flavour Adam timed in the same run;
- the whole `sheetopt compare` process from a 1,000,000-row CSV beside a bare pandas.read_csv
  process of the same file (benchmarks/startup.py: each the median of 5, numba's disk cache
  warm), and their ratio;
- the same 1,044,000 online steps as 36,000 epochs of 29 rows and as 1 epoch of 1,044,000
  rows (engine.run, trace recorded, best of 3), and their ratio.

Run:  python benchmarks/engine.py            (add --quick for a smaller run; --optimizers for
                                              the per-optimizer figures alone; --only
                                              csv,epochs for those parts alone)
Figures are printed, never asserted.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

# numba's compile time is part of what we report: measure it cold, in a fresh cache folder
os.environ.setdefault("SHEETOPT_CACHE_DIR", tempfile.mkdtemp(prefix="sheetopt-bench-kernels-"))

from sheetopt.executors import compiled
from sheetopt.protocol import engine
from sheetopt import spec as spec_mod  # noqa: E402
from sheetopt.rules import torch_classes  # noqa: E402
from sheetopt.sweeps.sweep import start_arrays  # noqa: E402

ROWS = 1_000_000
SLICE_NUMPY = 20_000
SLICE_TORCH = 20_000
SWEEP_SIZES = (1, 1_000, 100_000)


def big_spec(rows: int) -> spec_mod.Spec:
    """Generated linear data (y = 2x + 30 plus a little noise) and two online Adam sheets."""
    return spec_mod.parse({
        "data": {"rows": rows, "true": {"a": 2.0, "b": 30.0}, "x": "uniform", "x_min": 0.0,
                 "x_max": 10.0, "seed": 1, "noise": "normal", "noise_scale": 0.1},
        "model": {"kind": "linear"},
        "sheet": [
            {"name": "adam_lecture", "optimizer": "adam", "flavor": "lecture", "lr": 0.01,
             "mom": 0.9, "sqr_mom": 0.99,
             "state": {"grad_avg": {"a": 0.0, "b": 0.0}, "sqr_avg": {"a": 1.0, "b": 1.0}}},
            {"name": "adam_torch", "optimizer": "adam", "flavor": "torch", "lr": 0.01,
             "mom": 0.9, "sqr_mom": 0.999, "eps": 1e-8},
        ],
    })


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    value = fn(*args, **kwargs)
    return value, time.perf_counter() - start


def first_rows(spec: spec_mod.Spec, rows: int) -> spec_mod.Spec:
    """The same spec on its first ``rows`` rows."""
    from dataclasses import replace

    data = replace(spec.data, x=spec.data.x[:rows].copy(), y=spec.data.y[:rows].copy())
    return replace(spec, data=data)


def numpy_rate(spec, sheet, rows: int) -> float:
    """rows/s of engine.simulate on the numpy executor, trace recorded, over the first rows."""
    part = first_rows(spec, rows)
    hp = engine.hyper_arrays(sheet)
    params = np.array([[sheet.init[p] for p in spec.model.params]])
    state = engine.start_state(part, sheet, hp)
    plan = engine.batches(rows, 1, 1, False, 0)
    _, seconds = timed(engine.simulate, part, sheet, hp, params, state, plan, record=True,
                       executor="numpy")
    return rows / seconds


def torch_adam_loop(spec, sheet, rows: int):
    """torch.optim.Adam, one step per row (float64, loss.backward), as a user would write it.
    Returns (final a, final b, rows/s)."""
    import torch

    x = torch.tensor(spec.data.x[:rows], dtype=torch.float64)
    y = torch.tensor(spec.data.y[:rows], dtype=torch.float64)
    a = torch.tensor(sheet.init["a"], dtype=torch.float64, requires_grad=True)
    b = torch.tensor(sheet.init["b"], dtype=torch.float64, requires_grad=True)
    h = sheet.hypers
    opt = torch.optim.Adam([a, b], lr=h["lr"], betas=(h["mom"], h["sqr_mom"]), eps=h["eps"],
                           weight_decay=h["wd"])
    start = time.perf_counter()
    for i in range(rows):
        opt.zero_grad()
        loss = (y[i] - (b + a * x[i])) ** 2
        loss.backward()
        opt.step()
    seconds = time.perf_counter() - start
    return float(a.detach()), float(b.detach()), rows / seconds


def sweep_inputs(spec, sheet, configs: int, seed: int = 0):
    """A grid of ``configs`` configurations of the sheet (lr log-uniform around the sheet's,
    mom and sqr_mom uniform) with its start state and plan."""
    rng = np.random.default_rng(seed)
    grid = {"lr": sheet.hypers["lr"] * 10 ** rng.uniform(-2, 0.5, configs)}
    if "mom" in sheet.hypers:
        grid["mom"] = rng.uniform(0.5, 0.99, configs)
    if "sqr_mom" in sheet.hypers:
        grid["sqr_mom"] = rng.uniform(0.8, 0.999, configs)
    return start_arrays(spec, sheet, grid)


def sweep_rate(spec, sheet, configs: int, executor: str, repeat: int = 1,
               parallel: bool | None = None) -> float:
    """config-steps/s of a grid run without trace, best of ``repeat`` runs after one warm-up
    run (which compiles). ``executor``: "numpy" or "compiled" (then ``parallel`` picks the
    multi-threaded kernel; None: sheetopt.executors.compiled decides by the number of configurations)."""
    hp, params, state, plan = sweep_inputs(spec, sheet, configs)
    steps = sum(len(epoch) for epoch in plan)
    if executor == "compiled":
        def go():
            return compiled.simulate(spec, sheet, hp, params, state, plan, parallel=parallel)
    else:
        def go():
            return engine.simulate(spec, sheet, hp, params, state, plan, executor=executor)
    go()
    best = min(timed(go)[1] for _ in range(repeat))
    return configs * steps / best


def cached_compile_seconds(cache: str) -> str:
    """Time to get the kernel in a fresh process from numba's disk cache filled by this run."""
    code = ("import time, numpy as np; t = time.perf_counter();"
            "import benchmarks.engine as b; from sheetopt.protocol import engine;"
            "s = b.big_spec(1000); engine.run(s, s.sheet('adam_lecture'));"
            "print(time.perf_counter() - t)")
    env = dict(os.environ, SHEETOPT_CACHE_DIR=cache)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=root, capture_output=True,
                         text=True)
    return f"{float(out.stdout.strip()):.2f} s" if out.returncode == 0 else "failed"


OPTIMIZER_ROWS = 200_000


def optimizer_rates(rows: int) -> None:
    """rows/s of one online run per torch.optim class (its registry grid's first options),
    trace recorded, compiled executor (compile excluded), best of 3, and the ratio to the
    torch-flavour Adam sheet's (the baseline, timed in the same run)."""
    data = {"rows": rows, "true": {"a": 2.0, "b": 30.0}, "x": "uniform", "x_min": 0.0,
            "x_max": 10.0, "seed": 1, "noise": "normal", "noise_scale": 0.1}
    rules = torch_classes()
    spec = spec_mod.parse({"data": data, "sheet": [
        {"name": r.optimizer, "optimizer": r.optimizer, "flavor": "torch", **r.grid[0]}
        for r in rules]})
    small = first_rows(spec, 1000)
    print(f"\n== every torch.optim class: one online run over {rows:,} rows, trace recorded, "
          f"compiled executor (compile excluded), best of 3 ==")
    sheets = [spec.sheet(rule.optimizer) for rule in rules]
    for sheet in sheets:
        assert compiled.supports(spec, sheet, record=True), sheet.name
        engine.run(small, sheet)  # compiles
    best: dict[str, tuple] = {}
    for _ in range(3):  # rounds over all classes, so that the machine's ups and downs spread
        for sheet in sheets:
            trace, seconds = timed(engine.run, spec, sheet)
            if sheet.name not in best or seconds < best[sheet.name][1]:
                best[sheet.name] = (trace, seconds)
    rates = {name: (len(trace) / seconds, len(trace), trace.diverged)
             for name, (trace, seconds) in best.items()}
    baseline = rates["adam"][0]
    for name, (rate, steps, diverged) in rates.items():
        note = f" (diverged at {diverged}, {steps:,} steps)" if diverged else ""
        print(f"{name:>10}: {rate:>12,.0f} rows/s   {rate / baseline:5.2f}x torch Adam's{note}")


def csv_process_figures(rows: int) -> None:
    """The whole `sheetopt compare` process from a CSV beside a bare pandas.read_csv process
    (benchmarks/startup.py, median of 5)."""
    from startup import csv_figures  # benchmarks/ is the script's folder, first on sys.path

    csv_figures(rows)


def epochs_split_figures(steps: int = 1_044_000, rows: int = 29) -> None:
    """The same online steps as many short epochs and as one long one (engine.run)."""
    def spec_of(n_rows: int, epochs: int) -> spec_mod.Spec:
        return spec_mod.parse({
            "data": {"rows": n_rows, "true": {"a": 2.0, "b": 30.0}, "x": "uniform",
                     "x_min": 0.0, "x_max": 10.0, "seed": 1},
            "model": {"kind": "linear"},
            "sheet": [{"name": "adam", "optimizer": "adam", "flavor": "torch", "lr": 0.01,
                       "epochs": epochs}]})

    many, one = spec_of(rows, steps // rows), spec_of(steps, 1)
    engine.run(spec_of(rows, 2), "adam")  # compiles the kernel
    best = lambda spec: min(timed(engine.run, spec, "adam")[1] for _ in range(3))  # noqa: E731
    split, whole = best(many), best(one)
    print(f"\n== {steps:,} online torch Adam steps, trace recorded (engine.run), best of 3 ==")
    print(f"{steps // rows:,} epochs x {rows} rows: {split:.3f} s")
    print(f"1 epoch x {steps:,} rows: {whole:.3f} s")
    print(f"{steps // rows:,} epochs / 1 epoch = {split / whole:.2f} (target: at most 2)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100,000 rows and smaller sweeps")
    parser.add_argument("--optimizers", action="store_true",
                        help="only the per-optimizer rows/s (every torch.optim class)")
    parser.add_argument("--only", metavar="PARTS",
                        help="comma-separated parts to run alone: csv, epochs")
    args = parser.parse_args()
    if args.only:
        parts = set(args.only.split(","))
        if "csv" in parts:
            csv_process_figures(100_000 if args.quick else ROWS)
        if "epochs" in parts:
            epochs_split_figures(104_400 if args.quick else 1_044_000)
        return
    if args.optimizers:
        optimizer_rates(OPTIMIZER_ROWS // 10 if args.quick else OPTIMIZER_ROWS)
        return
    rows = 100_000 if args.quick else ROWS
    sizes = (1, 1_000, 10_000) if args.quick else SWEEP_SIZES
    print(f"numba available: {compiled.available()}; threads: "
          f"{os.environ.get('NUMBA_NUM_THREADS', os.cpu_count())}; kernel cache: "
          f"{compiled.cache_dir()}")
    spec = big_spec(rows)
    small = first_rows(spec, 1000)
    print(f"\n== one online Adam run over {rows:,} generated rows, trace recorded (engine.run) ==")
    for name in ("adam_lecture", "adam_torch"):
        sheet = spec.sheet(name)
        _, compile_s = timed(engine.run, small, sheet)  # first call: generates and compiles
        seconds = min(timed(engine.run, spec, sheet)[1] for _ in range(2))
        trace, _ = timed(engine.run, spec, sheet)
        compiled_rate = rows / seconds
        numpy_rows = numpy_rate(spec, sheet, SLICE_NUMPY)
        print(f"{name}: compiled {compiled_rate:,.0f} rows/s ({seconds:.3f} s for {len(trace):,} "
              f"steps, best of 2, plan building and trace assembly included; compile "
              f"{compile_s:.2f} s, excluded)")
        print(f"{name}: numpy executor {numpy_rows:,.0f} rows/s (first {SLICE_NUMPY:,} rows); "
              f"compiled / numpy = {compiled_rate / numpy_rows:,.0f}x")
        if name == "adam_torch":
            try:
                a, b, torch_rows = torch_adam_loop(spec, sheet, SLICE_TORCH)
            except ImportError:
                print("torch not installed: no torch.optim comparison")
                continue
            ours = {p: float(trace.steps[f"new_{p}"][SLICE_TORCH - 1]) for p in ("a", "b")}
            gap = max(abs(a - ours["a"]) / abs(a), abs(b - ours["b"]) / abs(b))
            print(f"torch.optim.Adam loop (float64, one step per row, loss.backward): "
                  f"{torch_rows:,.0f} rows/s (first {SLICE_TORCH:,} rows); same trajectory: "
                  f"largest relative difference after {SLICE_TORCH:,} rows {gap:.1e}")
            print(f"compiled / torch.optim loop = {compiled_rate / torch_rows:,.0f}x")
    print(f"kernel compile, cold: see 'compile' above; from numba's disk cache in a fresh "
          f"process (including imports and a 1,000-row run): "
          f"{cached_compile_seconds(str(compiled.cache_dir()))}")

    lecture = spec_mod.load("lesson5")
    sheet = lecture.sheet("adam")
    steps = len(lecture.data) * sheet.epochs
    print(f"\n== sweeps: online lecture Adam on the lecture's {len(lecture.data)} rows, "
          f"{sheet.epochs} epochs ({steps} steps per configuration), no trace ==")
    for configs in sizes:
        serial = sweep_rate(lecture, sheet, configs, "compiled", repeat=3, parallel=False)
        threads = sweep_rate(lecture, sheet, configs, "compiled", repeat=3, parallel=True)
        slow = sweep_rate(lecture, sheet, configs, "numpy")
        print(f"C = {configs:>7,}: compiled serial {serial / 1e6:8.2f}, parallel "
              f"{threads / 1e6:8.2f} M config-steps/s; numpy {slow / 1e6:6.2f} M config-steps/s;"
              f" best compiled / numpy {max(serial, threads) / slow:,.0f}x")
    print(f"(engine.simulate picks the parallel kernel from C = {compiled.PARALLEL_FROM:,} on; "
          f"timings on a shared machine vary from run to run)")
    optimizer_rates(OPTIMIZER_ROWS // 10 if args.quick else OPTIMIZER_ROWS)
    csv_process_figures(100_000 if args.quick else ROWS)
    epochs_split_figures(104_400 if args.quick else 1_044_000)


if __name__ == "__main__":
    main()
