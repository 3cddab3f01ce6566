"""Sweep throughput and the batched re-check time.

Prints config-steps per second (configurations x rows x epochs / seconds) for 1, 1,000 and
100,000 configurations of online Adam (the lecture sheet, from its reset) on the lecture's 29 rows,
for each path: the engine's numpy executor (the baseline, ratios are against it), the engine's
compiled executor (numba) when present, and the torch backend on the CPU in float64 and float32;
on a CUDA GPU, when one is visible, the torch backend there too. Then the time of the batched
re-check of a 1,000,000-step trace (online torch-flavour Adam over 1,000,000 generated rows), and
of verifying 3 full-batch steps of 20,000 rows.

    python benchmarks/sweep.py            # everything
    python benchmarks/sweep.py --api      # sheetopt.sweep against plain numpy, alone
    python benchmarks/sweep.py --quick    # smaller runs, for a smoke test
    python benchmarks/sweep.py --memory   # sweep memory against its estimate (minutes)

First of all, ``sheetopt.sweep`` itself (100,000 configurations of the lecture's online Adam, from
its reset, 5 epochs on the 29 rows: the whole call, DataFrame included) beside a plain numpy
vectorization of the same recurrences over the configurations, timed in the same run, with the
sweep's time split into its parts (the kernel calls, the start state, the result frame, the rest)
and its page faults, and the kernel's hot loop as machine code counts it (benchmarks/simd.py:
packed against scalar double instructions, the vector width, no fused multiply-adds).

Timings are printed, never asserted. Targets (2-core CPU): sheetopt.sweep at least 8 times the
plain numpy loop; >= 200 million config-steps/s for the best path at 100,000 configurations; the
1,000,000-step re-check in < 10 s; on a GPU >= 10 billion.
"""
from __future__ import annotations

import argparse
import os
import time
from dataclasses import replace

import numpy as np

from sheetopt.protocol import engine
from sheetopt.spec import load, parse
from sheetopt.sweeps.sweep import start_arrays

CONFIGS = (1, 1_000, 100_000)
API_CONFIGS = 100_000


def plain_numpy_adam(x, y, lr, mom, sqr_mom, start, epochs, reset_passes, reset_sqr,
                     bound=1e30):
    """The lecture's online Adam (no bias correction, no epsilon) over every configuration at
    once, written as anyone would in numpy: one array of C values per quantity, a few whole-array
    operations per row, diverged configurations frozen by a mask. The lecture's reset first
    (``reset_passes`` passes from a = b = ``start`` with the squared average at ``reset_sqr``,
    only the averages kept), then ``epochs`` epochs. Returns the last epoch's true RMSE (NaN
    where a configuration diverged) and the final a and b."""
    C = len(lr)
    grad_avg = [np.zeros(C), np.zeros(C)]
    sqr_avg = [np.full(C, reset_sqr), np.full(C, reset_sqr)]
    one_mom, one_sqr = 1 - mom, 1 - sqr_mom
    alive = np.ones(C, dtype=bool)

    def epoch(a, b, grad_avg, sqr_avg, alive):
        total = np.zeros(C)
        for xi, yi in zip(x.tolist(), y.tolist()):
            err = b + a * xi - yi
            e2 = (yi - (b + a * xi)) ** 2
            g = (xi * (2 * err), 2 * err)
            new_avg = [mom * grad_avg[j] + one_mom * g[j] for j in range(2)]
            new_sqr = [sqr_mom * sqr_avg[j] + one_sqr * g[j] ** 2 for j in range(2)]
            new_a = a - lr * new_avg[0] / np.sqrt(new_sqr[0])
            new_b = b - lr * new_avg[1] / np.sqrt(new_sqr[1])
            alive = alive & np.isfinite(e2) & (e2 <= bound) & np.isfinite(new_a) & np.isfinite(
                new_b)
            a, b = np.where(alive, new_a, a), np.where(alive, new_b, b)
            grad_avg = [np.where(alive, n, o) for n, o in zip(new_avg, grad_avg)]
            sqr_avg = [np.where(alive, n, o) for n, o in zip(new_sqr, sqr_avg)]
            total += np.where(alive, e2, 0.0)
        return a, b, grad_avg, sqr_avg, alive, total

    with np.errstate(all="ignore"):
        for _ in range(reset_passes):
            _, _, grad_avg, sqr_avg, alive, _ = epoch(np.full(C, start), np.full(C, start),
                                                      grad_avg, sqr_avg, alive)
        a, b = np.full(C, start), np.full(C, start)
        alive = np.ones(C, dtype=bool)
        for _ in range(epochs):
            a, b, grad_avg, sqr_avg, alive, total = epoch(a, b, grad_avg, sqr_avg, alive)
        rmse = np.where(alive, np.sqrt(total / len(x)), np.nan)
    return rmse, a, b


def sweep_against_plain_numpy(configs: int = API_CONFIGS, repeats: int = 7) -> None:
    """config-steps/s of sheetopt.sweep (the whole call) and of plain_numpy_adam, in one run."""
    import sheetopt
    from sheetopt.executors import compiled

    threads = "none (numba is not installed)"
    if compiled.HAVE_NUMBA:
        import numba

        threads = numba.get_num_threads()
    spec = load("lesson5")
    sheet = spec.sheet("adam")
    lr = np.geomspace(1e-3, 1.0, configs)
    hp = sheet.hypers
    reset = sheet.rule.reset
    work = configs * len(spec.data) * sheet.epochs

    def ours():
        return sheetopt.sweep("lesson5", "adam", lr=lr, backend="numpy")

    def plain():
        return plain_numpy_adam(spec.data.x, spec.data.y, lr, hp["mom"], hp["sqr_mom"],
                                sheet.init["a"], sheet.epochs, reset.passes,
                                reset.state["sqr_avg"])

    frame = ours()  # compiles (or loads) the kernels outside the timing
    rmse, a, b = plain()
    same = (np.array_equal(frame["final_rmse"].to_numpy(), rmse, equal_nan=True)
            and np.array_equal(frame["a"].to_numpy(), a)
            and np.array_equal(frame["b"].to_numpy(), b))
    times = []  # (ours, plain) side by side, so that both see the same load
    for _ in range(repeats):
        times.append((_time_once(ours), _time_once(plain)))
    ours_s, plain_s = np.median(times, axis=0)
    ratios = sorted(p / o for o, p in times)
    print(f"\nsheetopt.sweep against plain numpy: {configs:,} configurations of lesson5 'adam' "
          f"(online lecture Adam from its reset, {sheet.epochs} epochs x {len(spec.data)} rows = "
          f"{work:,} config-steps; the reset's {reset.passes} warm-up passes run by both, not "
          f"counted); median of {repeats}, each pair timed back to back; load average "
          f"{os.getloadavg()[0]:.1f}")
    print(f"  sheetopt.sweep (whole call, DataFrame)  {ours_s:8.3f} s  "
          f"{work / ours_s / 1e6:9.1f} M config-steps/s")
    print(f"  plain numpy vectorization               {plain_s:8.3f} s  "
          f"{work / plain_s / 1e6:9.1f} M config-steps/s")
    print(f"  sheetopt.sweep / plain numpy = {np.median(ratios):.1f}x (median of the pairs' "
          f"ratios; {ratios[0]:.1f}x to {ratios[-1]:.1f}x; target: 8x); same final RMSE, a and "
          f"b bit for bit: {same}; kernel threads: {threads}")
    sweep_parts(spec, sheet, lr)
    from simd import print_evidence  # benchmarks/simd.py, beside this script

    print_evidence(sheets=(("lesson5", "adam"),))


def sweep_parts(spec, sheet, lr, calls: int = 3) -> None:
    """Where the time of a sheetopt.sweep call goes (the median of ``calls`` calls, after the
    timed ones), each part timed by perf_counter around it: the kernel calls (the reset's
    warm-up passes' and the run's), the rest of the start state (the reset's passes outside
    their kernel calls), the result frame, and the rest (the grid, checks, the Result's
    arrays, the objective); and the minor page faults of a call (memory fresh from the
    system, each costing a fault per 4 KiB page on first touch)."""
    import resource

    import sheetopt
    from sheetopt import api
    from sheetopt.executors.compiled import executor
    from sheetopt.protocol import engine

    spent = {"kernel": 0.0, "start": 0.0, "frame": 0.0}
    inside = {"start": False}

    def timed(module, name, part):
        original = getattr(module, name)

        def run(*args, **kwargs):
            began = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                took = time.perf_counter() - began
                spent[part] += took
                if part == "kernel" and inside["start"]:
                    spent["start"] -= took  # counted with the kernel calls
        return original, run

    patched = [(executor, "_call", "kernel"), (engine, "start_state", "start"),
               (api, "sweep_frame", "frame")]
    originals = []
    for module, name, part in patched:
        original, run = timed(module, name, part)
        originals.append((module, name, original))
        if part == "start":
            run = _flagged(run, inside)
        setattr(module, name, run)
    rows = []
    try:
        for _ in range(calls):
            spent.update(kernel=0.0, start=0.0, frame=0.0)
            faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            total = _time_once(lambda: sheetopt.sweep("lesson5", "adam", lr=lr, backend="numpy"))
            faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults
            rows.append((total, spent["kernel"], spent["start"], spent["frame"], faults))
    finally:
        for module, name, original in originals:
            setattr(module, name, original)
    total, kernel, start, frame, faults = np.median(rows, axis=0)
    print(f"  one call's time ({total * 1e3:.1f} ms, median of {calls}): kernel calls "
          f"{kernel * 1e3:.1f} ms ({kernel / total:.0%}); start state besides its kernel calls "
          f"{start * 1e3:.1f} ms; result frame {frame * 1e3:.1f} ms; the rest "
          f"{(total - kernel - start - frame) * 1e3:.1f} ms (grid, checks, the Result's "
          f"arrays, the objective); {faults:,.0f} minor page faults")


def _flagged(run, inside: dict):
    """``run`` with ``inside["start"]`` True while it runs."""
    def flagged(*args, **kwargs):
        inside["start"] = True
        try:
            return run(*args, **kwargs)
        finally:
            inside["start"] = False
    return flagged


def _time_once(run) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def _setup(configs: int, epochs: int):
    spec = load("lesson5")
    sheet = replace(spec.sheet("adam"), epochs=epochs)
    hp, params, state, plan = start_arrays(spec, sheet, {"lr": np.geomspace(1e-3, 1.0, configs)})
    return spec, sheet, hp, params, state, plan


def _numpy_path(executor: str):
    def run(spec, sheet, hp, params, state, plan):
        return engine.simulate(spec, sheet, hp, params, state, plan, executor=executor).params
    return run


def _torch_path(device: str, dtype: str):
    def run(spec, sheet, hp, params, state, plan):
        import torch

        from sheetopt.executors.torch.simulate import simulate, to_tensors

        kind = getattr(torch, dtype)
        tensors = lambda values: to_tensors(values, torch.device(device), kind)  # noqa: E731
        result = simulate(spec, sheet, tensors(hp), tensors({"p": params})["p"], tensors(state),
                          plan)
        return result.params
    return run


def _paths():
    paths = {"numpy engine (baseline)": _numpy_path("numpy")}
    from sheetopt.executors import compiled

    if compiled.HAVE_NUMBA:
        paths["compiled engine (numba)"] = _numpy_path("compiled")
    else:
        print("compiled executor: numba is not installed, not measured")
    try:
        import torch
    except ImportError:
        print("torch backend: torch is not installed, not measured")
        return paths
    paths["torch cpu float64"] = _torch_path("cpu", "float64")
    paths["torch cpu float32"] = _torch_path("cpu", "float32")
    if torch.cuda.is_available():
        paths["torch cuda float64"] = _torch_path("cuda", "float64")
        paths["torch cuda float32"] = _torch_path("cuda", "float32")
    else:
        print(f"torch cuda: no CUDA GPU visible to torch {torch.__version__} here, not measured")
    return paths


def _epochs(configs: int, quick: bool) -> int:
    work = 3e6 if quick else 3e7  # config-steps per measurement, at least
    return max(2, int(work / (configs * 29)) if configs > 1 else (20 if quick else 200))


def _time(run, case, repeats: int = 2) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        run(*case)
        best = min(best, time.perf_counter() - start)
    return best


def sweep_throughput(quick: bool) -> None:
    print("\nonline Adam (lesson5 'adam', from lecture-reset) on the 29 lecture rows; "
          "best of 2 runs; warm-up run first")
    print(f"{'path':26} {'configs':>9} {'epochs':>7} {'seconds':>9} {'config-steps/s':>16} "
          f"{'vs numpy':>9}")
    paths = _paths()
    for configs in CONFIGS:
        epochs = _epochs(configs, quick)
        case = _setup(configs, epochs)
        work = configs * 29 * epochs
        baseline = None
        for name, run in paths.items():
            run(*_setup(min(configs, 10), 1))  # compile / warm up outside the timing
            seconds = _time(run, case)
            rate = work / seconds
            baseline = baseline or rate
            print(f"{name:26} {configs:>9,} {epochs:>7} {seconds:>9.3f} {rate:>16,.0f} "
                  f"{rate / baseline:>8.1f}x")


def recheck_time(steps: int) -> None:
    from sheetopt.verification.recheck import recheck

    spec = parse({"data": {"rows": steps, "true": {"a": 2.0, "b": 30.0}, "noise": "normal",
                           "noise_scale": 5.0, "seed": 1},
                  "model": {"kind": "linear"},
                  "sheet": [{"name": "adam", "optimizer": "adam", "flavor": "torch", "lr": 0.01,
                             "epochs": 1}]})
    sheet = spec.sheets[0]
    start = time.perf_counter()
    trace = engine.run(spec, sheet)
    made = time.perf_counter() - start
    times = []
    for _ in range(2):  # the first call includes torch's own start-up work
        start = time.perf_counter()
        differences = recheck(spec, sheet, trace)
        times.append(time.perf_counter() - start)
    worst = max(differences, key=lambda d: d.max_rel)
    print(f"\nbatched re-check of a {len(trace):,}-step trace (online torch-flavour Adam, "
          f"{steps:,} generated rows; the trace took {made:.2f} s to make) on the CPU: "
          f"{times[0]:.2f} s first call, {times[1]:.2f} s second "
          f"({len(trace) / times[1]:,.0f} steps/s); all within 1e-12: "
          f"{all(d.ok for d in differences)} (worst rel {worst.max_rel:.2g}, {worst.quantity})")


# The sweeps whose memory --memory measures: online and full-batch, 2 or 3 parameters, more
# or less state, finite differences shown.
MEMORY_SHEETS = {
    "online lecture Adam (reset), 1 epoch": ("linear", {"optimizer": "adam", "lr": 1.0,
                                                         "state": "lecture-reset"}),
    "online torch Adam, 5 epochs": ("linear", {"optimizer": "adam", "flavor": "torch",
                                               "lr": 0.1, "epochs": 5}),
    "full-batch SGD, show central, 3 epochs": ("linear", {
        "optimizer": "sgd", "flavor": "torch", "lr": 1e-4, "mom": 0.9, "batch": "full",
        "show": ["central"], "epochs": 3}),
    "batches of 7, quadratic RMSprop centered+mom, forward": ("quadratic", {
        "optimizer": "rmsprop", "flavor": "torch", "lr": 1e-3, "mom": 0.5, "centered": True,
        "batch": 7, "gradient": "forward", "init": {"a": 0.0, "b": 0.0, "c": 0.0}}),
}
MEMORY_PATHS = {  # name: (backend, dtype, environment)
    "numpy engine, compiled": ("numpy", "float64", {}),
    "numpy engine, numpy executor": ("numpy", "float64", {"SHEETOPT_EXECUTOR": "numpy"}),
    "torch cpu float64": ("torch", "float64", {}),
    "torch cpu float32": ("torch", "float32", {}),
}
# what `sheetopt sweep` does, less parsing and the memory check (so that sweeps it would
# refuse are measured too), in a fresh interpreter; prints its peak resident memory
_PEAK = """import json, os, resource, sys, warnings
warnings.simplefilter("ignore")
from sheetopt.commands.sweep import write
from sheetopt.spec import parse
from sheetopt.sweeps import sweep
raw, backend, dtype, count = sys.argv[1:]
spec = parse(json.loads(raw))
sheet = spec.sheets[0]
grid = sweep.make_grid(sheet, {"lr": sweep.parse_range(f"1e-4:1e-2:{count}", "--lr", True)})
result = sweep.run_sweep(spec, sheet, grid, backend, "cpu" if backend == "torch" else None, dtype)
with open(os.devnull, "w") as out:
    write(spec, result, "table", out)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
"""


def _peak_bytes(args: list[str], env: dict) -> int:
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", _PEAK, *args], capture_output=True, text=True,
                          env={**os.environ, **env})
    if done.returncode:
        raise SystemExit(f"sweep {args} failed: {done.stderr}")
    return int(done.stdout.split()[-1])


def sweep_memory(sizes=(1_000_000, 2_000_000), sheets=None) -> None:
    """Peak resident memory of a sweep (less a 1-configuration run of the same sweep) against
    the estimate `sheetopt sweep` refuses by (sweep.estimate_bytes)."""
    import json

    from sheetopt.sweeps import sweep

    print("\nsweep memory: peak RSS less a 1-configuration run, against the estimate "
          "(sweep.estimate_bytes); ratio = estimate / measured")
    print(f"{'sheet':54} {'path':29} {'configs':>9} {'measured':>9} {'estimate':>9} {'ratio':>6}")
    for title, (model, sheet) in (sheets or MEMORY_SHEETS).items():
        raw = {"title": "memory", "data": {"preset": "lecture"}, "model": {"kind": model},
               "sheet": [{"name": "s", "epochs": 1, **sheet}]}
        spec, text = parse(raw), json.dumps(raw)
        for name, (backend, dtype, env) in MEMORY_PATHS.items():
            baseline = _peak_bytes([text, backend, dtype, "1"], env)
            executor = None if backend == "torch" else (
                "numpy" if env else sweep._executor(spec, spec.sheets[0], "auto"))
            for size in sizes:
                used = _peak_bytes([text, backend, dtype, str(size)], env) - baseline
                guess = sweep.estimate_bytes(spec, spec.sheets[0], size, backend,
                                             4 if dtype == "float32" else 8, executor)
                print(f"{title:54} {name:29} {size:>9,} {used / 2**30:>8.2f}G "
                      f"{guess / 2**30:>8.2f}G {guess / max(used, 1):>6.2f}", flush=True)


def large_full_batch_spec(rows: int = 20_000):
    """Torch-flavour and lecture-flavour Adam, 3 full-batch steps of ``rows`` generated rows,
    finite differences shown and stepped with (tests/test_torch_verify.py checks it exactly)."""
    return parse({"data": {"rows": rows, "true": {"a": 2.0, "b": 30.0}, "noise": "normal",
                           "noise_scale": 5.0, "seed": 1},
                  "model": {"kind": "linear"},
                  "sheet": [{"name": "adam", "optimizer": "adam", "flavor": "torch", "lr": 0.1,
                             "batch": "full", "epochs": 3, "show": ["forward", "central"]},
                            {"name": "lecture", "optimizer": "adam", "lr": 0.1, "batch": "full",
                             "epochs": 3, "gradient": "central"}]})


def verify_large_batch_time(rows: int = 20_000) -> None:
    """What `sheetopt verify` does (re-check and replay) for ``large_full_batch_spec``."""
    from sheetopt.verification.replay import verify

    spec = large_full_batch_spec(rows)
    runs = [(sheet, engine.run(spec, sheet)) for sheet in spec.sheets]
    times = []
    for _ in range(2):
        start = time.perf_counter()
        differences = verify(spec, runs)
        times.append(time.perf_counter() - start)
    print(f"\nverify of {rows:,}-row full batches (2 sheets x 3 steps, finite differences): "
          f"{times[0]:.2f} s first call, {times[1]:.3f} s second; all within 1e-12: "
          f"{all(d.ok for d in differences)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller runs (a smoke test)")
    parser.add_argument("--memory", action="store_true",
                        help="only measure sweep memory against its estimate (1M and 2M "
                             "configurations of several sheets; a few minutes)")
    parser.add_argument("--api", action="store_true",
                        help="only sheetopt.sweep against a plain numpy vectorization")
    parser.add_argument("--torch-threads", type=int, metavar="N",
                        help="torch's CPU threads (default: torch's own choice); 1 avoids "
                             "oversubscription when other processes keep the cores busy")
    args = parser.parse_args()

    print(f"cpu cores: {os.cpu_count()}; load average: {os.getloadavg()[0]:.1f}")
    try:
        import torch

        if args.torch_threads:
            torch.set_num_threads(args.torch_threads)
        print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU thread(s)")
    except ImportError:
        pass
    if args.memory:
        sweep_memory((100_000, 200_000) if args.quick else (1_000_000, 2_000_000))
        return
    sweep_against_plain_numpy(10_000 if args.quick else API_CONFIGS)
    if args.api:
        return
    sweep_throughput(args.quick)
    recheck_time(100_000 if args.quick else 1_000_000)
    verify_large_batch_time()


if __name__ == "__main__":
    main()
