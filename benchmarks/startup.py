"""Start-up: small jobs as whole processes, beside the bare imports they cannot avoid.

Prints, in one run (each figure the median of --repeat runs, after one warm-up run):
- `sheetopt compare lesson5` and `sheetopt --version` as whole processes (interpreter start,
  imports, work, exit) beside `python -c "import numpy"`, and their ratios (target: compare
  lesson5 at most 4 times import numpy);
- `sheetopt compare` of a spec reading a 1,000,000-row CSV beside a bare
  `python -c "import pandas; pandas.read_csv(...)"` of the same file, and their ratio (target:
  at most 2.5); numba's disk cache warm for its kernel;
- the config-steps per second of `sheetopt.sweep` (100,000 configurations of online lecture
  Adam on the lecture's rows) beside a plain numpy vectorization of the same recurrences,
  timed in this process (target: 8 times it; `benchmarks/sweep.py --api` prints it alone).
Each process is timed by the wall clock and by its CPU time (user + system, from the operating
system's accounting of the finished child); on a busy machine the CPU ratio is the steadier.

Run:  python benchmarks/startup.py            (--rows 100000 for a smaller CSV, --repeat N,
                                               --no-sweep to leave out the sweep)
Figures are printed, never asserted.
"""
from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

ROWS = 1_000_000


def process_times(args: list[str], cwd: str | None = None, repeat: int = 5) -> tuple[float, float]:
    """Median wall and median CPU seconds (user + system) of a whole process, over ``repeat``
    runs after one warm-up; with Python's bytecode cache on, as a user has it."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    walls, cpus = [], []
    for attempt in range(repeat + 1):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        done = subprocess.run(args, cwd=cwd, capture_output=True, text=True, env=env)
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} failed: {done.stderr.strip()}")
        if attempt:  # the first run warms the disk caches (and numba's)
            walls.append(wall)
            cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return statistics.median(walls), statistics.median(cpus)


def _row(label: str, times: tuple[float, float], base: tuple[float, float] | None = None) -> str:
    wall, cpu = times
    text = f"{label:<58} wall {wall:6.3f} s   cpu {cpu:6.3f} s"
    if base is not None:
        text += f"   = {wall / base[0]:5.2f}x wall, {cpu / base[1]:5.2f}x cpu"
    return text


def small_job_figures(repeat: int) -> None:
    """compare lesson5 and --version beside import numpy."""
    python = sys.executable
    numpy_alone = process_times([python, "-c", "import numpy"], repeat=repeat)
    version = process_times([python, "-m", "sheetopt", "--version"], repeat=repeat)
    compare = process_times([python, "-m", "sheetopt", "compare", "lesson5"], repeat=repeat)
    print(f"== small jobs as whole processes, median of {repeat} ==")
    print(_row('python -c "import numpy"', numpy_alone))
    print(_row("sheetopt --version", version, numpy_alone))
    print(_row("sheetopt compare lesson5 (5 sheets x 145 steps)", compare, numpy_alone))
    print(f"compare lesson5 / import numpy = {compare[0] / numpy_alone[0]:.2f} wall, "
          f"{compare[1] / numpy_alone[1]:.2f} cpu (target: at most 4)")


def csv_figures(rows: int, repeat: int = 5) -> None:
    """`sheetopt compare` of a spec reading a rows-row CSV, beside `pandas.read_csv` of it."""
    folder = tempfile.mkdtemp(prefix="sheetopt-bench-csv-")
    rng = np.random.default_rng(1)  # y = 2x + 30 plus a little noise, x uniform in [0, 10)
    x = rng.uniform(0.0, 10.0, rows)
    y = 2.0 * x + 30.0 + rng.normal(0.0, 0.1, rows)
    with open(os.path.join(folder, "rows.csv"), "w") as handle:
        handle.write("x,y\n")
        handle.writelines(f"{a!r},{b!r}\n" for a, b in zip(x.tolist(), y.tolist()))
    with open(os.path.join(folder, "spec.toml"), "w") as handle:
        handle.write('[data]\ncsv = "rows.csv"\n[model]\nkind = "linear"\n[[sheet]]\n'
                     'name = "adam"\noptimizer = "adam"\nflavor = "torch"\nlr = 0.01\n')
    size = os.path.getsize(os.path.join(folder, "rows.csv")) / 2**20
    compare = process_times([sys.executable, "-m", "sheetopt", "compare", "spec.toml"], folder,
                            repeat)
    bare = process_times([sys.executable, "-c", "import pandas; pandas.read_csv('rows.csv')"],
                         folder, repeat)
    print(f"\n== whole processes on a {rows:,}-row CSV ({size:.1f} MiB), median of {repeat} ==")
    print(_row("python -c 'import pandas; pandas.read_csv(...)'", bare))
    print(_row("sheetopt compare (read, run one online torch Adam sheet, report)", compare,
               bare))
    print(f"compare / bare pandas.read_csv = {compare[0] / bare[0]:.2f} wall, "
          f"{compare[1] / bare[1]:.2f} cpu (target: at most 2.5)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=ROWS, help="rows of the CSV (1,000,000)")
    parser.add_argument("--repeat", type=int, default=5, help="runs per figure (5)")
    parser.add_argument("--no-sweep", action="store_true", help="leave out the sweep figures")
    args = parser.parse_args()
    small_job_figures(args.repeat)
    csv_figures(args.rows, args.repeat)
    if not args.no_sweep:
        from sweep import sweep_against_plain_numpy  # benchmarks/sweep.py, beside this script

        sweep_against_plain_numpy()


if __name__ == "__main__":
    main()
