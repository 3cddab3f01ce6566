"""The GPU run: every CUDA figure sheetopt has, from one command (docs/gpu.md).

On a machine with a CUDA GPU (the wheels it lacks brought along, as docs/gpu.md says):

    bash benchmarks/gpu.sh                  # sets up, then runs this script; figures under $OUT
    python benchmarks/gpu.py --out DIR      # this script alone

Anywhere, a rehearsal: every stage on the CPU at small sizes. Its figures are CPU figures,
labelled as a rehearsal everywhere they appear, never GPU figures:

    python benchmarks/gpu.py --rehearse-on-cpu --out out/gpu-rehearsal [--quick]

Stages, each in its own process with a time limit (a stage that fails, crashes or overruns is
reported and the others still run). The checks run side by side; the timed stages run alone
after them, so that nothing else competes with what they time:

- env: the GPU, its driver and memory, CUDA, torch, numba, numpy, python;
- tests: tests/test_torch_cuda.py and the CUDA tests of tests/test_torch_suite.py (pytest);
- verify: what ``sheetopt verify --device cuda`` checks, on every preset (re-check, replay, drift);
- suite: ``sheetopt torch-suite --device cuda`` (1,000 elements, 3 epochs): every path, torch's
  CUDA-only ones included (capturable, a tensor lr);
- sweep: benchmarks/sweep.py's case (lesson5's Adam, lr swept) for 1,000 to 10,000,000
  configurations: config-steps per second of the compiled CPU engine and of torch on CUDA in
  float64 and in float32, in the same run; their final parameters against the CPU engine's;
  CUDA's peak memory beside the estimate ``sheetopt sweep`` checks before it runs;
- recheck: the batched re-check of a 1,000,000-step trace, on CUDA and on the CPU.

Every figure is printed and written as JSON: DIR/STAGE.json, rewritten as a stage goes (one
stopped at its limit keeps what it had), DIR/STAGE.log (all it printed), DIR/summary.json (each
stage's status, seconds and figures). Exit status: 0 when every stage ran and every check held.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEST_FILES = ("tests/test_torch_cuda.py", "tests/test_torch_suite.py")
# What the GPU machine's python3 has; the rest of sheetopt's requirements (pyproject.toml) and
# pytest come as wheels. pytest's requirements on Python 3.10 are named too: pip download
# resolves markers for the Python it runs on, not the target.
GPU_MACHINE_HAS = ("torch", "numba", "numpy", "pandas", "matplotlib", "jax", "optax")
TEST_WHEELS = ("pytest", "exceptiongroup", "typing_extensions", "tomli")
SITE = ROOT / ".gpu-site"  # where the wheels are installed (ignored by git)
CHECKS_FAILED = 3  # a stage's exit status when it ran to its end and a check did not hold


@dataclass(frozen=True)
class Plan:
    """What a run measures, and how long each stage may take (seconds)."""

    device: str  # where torch runs: "cuda", or "cpu" in a rehearsal
    rehearsal: bool
    presets: tuple[str, ...] | None  # None: every preset
    drift_steps: int | None  # None: verify's default
    suite_elements: int
    suite_epochs: int
    suite_optimizers: tuple[str, ...] | None  # None: all
    suite_schedulers: tuple[str, ...] | None
    sweep_configs: tuple[int, ...]
    sweep_seconds: float  # the least time one timed sweep run should take (epochs are added)
    recheck_steps: int
    limits: dict

    @property
    def label(self) -> str:
        return ("CPU REHEARSAL (every figure is a CPU figure, none is a GPU figure)"
                if self.rehearsal else "GPU run")


# The GPU run fits in about 8 minutes: env, then the three checks side by side, then the
# timed stages one after the other.
GPU = Plan(device="cuda", rehearsal=False, presets=None, drift_steps=None, suite_elements=1000,
           suite_epochs=3, suite_optimizers=None, suite_schedulers=None,
           sweep_configs=(1_000, 10_000, 100_000, 1_000_000, 10_000_000), sweep_seconds=0.3,
           recheck_steps=1_000_000,
           limits={"env": 45, "tests": 180, "verify": 180, "suite": 180, "sweep": 150,
                   "recheck": 90})
REHEARSAL = Plan(device="cpu", rehearsal=True, presets=None, drift_steps=50, suite_elements=16,
                 suite_epochs=1, suite_optimizers=None, suite_schedulers=None,
                 sweep_configs=(1_000, 10_000), sweep_seconds=0.05, recheck_steps=10_000,
                 limits={"env": 60, "tests": 300, "verify": 400, "suite": 400, "sweep": 200,
                         "recheck": 120})
QUICK = replace(REHEARSAL, presets=("lesson5",), drift_steps=10, suite_elements=4,
                suite_optimizers=("sgd", "adam"), suite_schedulers=("StepLR",),
                sweep_configs=(1_000,), sweep_seconds=0.0, recheck_steps=500)
PHASES = (("env",), ("tests", "verify", "suite"), ("sweep",), ("recheck",))


# --- the stages (each runs in its own process: python gpu.py --stage NAME --out DIR) ---------

def stage_env(plan: Plan, record, out: Path) -> bool:
    from importlib import metadata

    import numpy
    import torch

    found = {"python": platform.python_version(), "platform": platform.platform(),
             "cpu_count": os.cpu_count(), "cpu_model": _cpu_model(),
             "numpy": numpy.__version__, "torch": torch.__version__,
             "torch_cuda": torch.version.cuda, "cuda_available": torch.cuda.is_available()}
    for name in ("numba", "pandas", "matplotlib"):  # (not imported: matplotlib's first
        try:                                         # import may build its font cache)
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    import sheetopt

    found["sheetopt"] = sheetopt.__version__
    found["commit"] = _git_commit()
    found["tree_digest"] = tree_digest()
    if torch.cuda.is_available():
        found["gpus"] = [_gpu(torch, i) for i in range(torch.cuda.device_count())]
    if shutil.which("nvidia-smi"):
        done = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total,"
                               "clocks.max.sm,power.limit", "--format=csv"],
                              capture_output=True, text=True)
        found["nvidia_smi"] = done.stdout.strip() or done.stderr.strip()
    for key, value in found.items():
        print(f"{key}: {value}")
    record(found)
    return plan.rehearsal or found["cuda_available"]


def _gpu(torch, index: int) -> dict:
    props = torch.cuda.get_device_properties(index)
    return {"name": props.name, "capability": f"{props.major}.{props.minor}",
            "memory_gib": round(props.total_memory / 2**30, 1),
            "multiprocessors": props.multi_processor_count}


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def tree_digest() -> str:
    """SHA-256 of the package's and the benchmarks' Python files (paths and contents): which
    code ran, where the tree came without its git history."""
    import hashlib

    digest = hashlib.sha256()
    for path in sorted([*ROOT.glob("sheetopt/**/*.py"), *ROOT.glob("benchmarks/*.py")]):
        digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def _git_commit() -> str | None:
    try:
        done = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True,
                              text=True)
    except OSError:
        return None
    return done.stdout.strip() or None


def stage_tests(plan: Plan, record, out: Path) -> bool:
    """pytest on the CUDA tests; the outcome of each test from its JUnit XML."""
    xml = out / "tests.xml"
    command = [sys.executable, "-m", "pytest", *TEST_FILES, "-k", "cuda", "-v", "-rs",
               "-p", "no:cacheprovider", "-o", "addopts=", f"--junitxml={xml}"]
    print(" ".join(command), flush=True)
    code = subprocess.call(command, cwd=ROOT)
    tests = _junit(xml) if xml.exists() else []
    counts = {o: sum(t["outcome"] == o for t in tests)
              for o in ("passed", "failed", "error", "skipped")}
    record({"exit_status": code, "counts": counts, "tests": tests})
    # on a GPU nothing may skip: a skip there means the GPU was not seen
    return code == 0 and bool(tests) and (plan.rehearsal or counts["skipped"] == 0)


def _junit(path: Path) -> list[dict]:
    import xml.etree.ElementTree as ET

    out = []
    for case in ET.parse(path).iter("testcase"):
        outcome, message = "passed", ""
        for tag in ("failure", "error", "skipped"):
            found = case.find(tag)
            if found is not None:
                outcome = {"failure": "failed"}.get(tag, tag)
                message = (found.get("message") or "")[:500]
        out.append({"test": f"{case.get('classname')}::{case.get('name')}", "outcome": outcome,
                    "seconds": float(case.get("time") or 0), "message": message})
    return out


def stage_verify(plan: Plan, record, out: Path) -> bool:
    """sheetopt.verify (what ``sheetopt verify`` runs and prints) on every preset."""
    import sheetopt

    found = {}
    for preset in plan.presets or sheetopt.preset_names():
        start = time.perf_counter()
        try:
            frame = sheetopt.verify(preset, device=plan.device, drift_steps=plan.drift_steps)
        except Exception as exc:  # noqa: BLE001 -- reported, and the next preset runs
            found[preset] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
            print(f"{preset}: ERROR {found[preset]['error']}", flush=True)
            record(found)
            continue
        seconds = time.perf_counter() - start
        worst = {check: _worst_row(rows) for check, rows in frame.groupby("check", sort=False)}
        found[preset] = {"ok": bool(frame["ok"].all()), "seconds": round(seconds, 2),
                         "device": frame.attrs["device"], "worst": worst,
                         "rows": _records(frame)}
        print(f"{preset}: {'ok' if found[preset]['ok'] else 'FAIL'} on {frame.attrs['device']} "
              f"in {seconds:.1f} s; worst per check: " + "; ".join(
                  f"{check} {w['max_rel']:.3g} ({w['sheet']} {w['quantity']})"
                  for check, w in worst.items()), flush=True)
        for failed in frame[~frame["ok"]].itertuples():
            print(f"  FAIL {failed.sheet} {failed.check} {failed.quantity}: max rel "
                  f"{failed.max_rel:.3g} first at e{failed.bad_epoch} s{failed.bad_step}")
        record(found)
    return all(v["ok"] for v in found.values())


def _worst_row(rows) -> dict:
    row = rows.loc[rows["max_rel"].idxmax()]
    return {"max_rel": float(row["max_rel"]), "sheet": row["sheet"],
            "quantity": row["quantity"], "ok": bool(rows["ok"].all())}


def _records(frame) -> list[dict]:
    return json.loads(frame.to_json(orient="records"))


def stage_suite(plan: Plan, record, out: Path) -> bool:
    """The torch-suite's cases (what ``sheetopt torch-suite --device cuda`` runs), every path
    (torch's CUDA-only ones on CUDA), each row recorded as it comes."""
    from sheetopt.verification import suite

    paths = suite.default_paths(plan.device)
    rows, not_run = [], {}
    print(f"torch {suite.torch_version()} on {plan.device}: {plan.suite_elements} elements, "
          f"{plan.suite_epochs} epochs; paths {', '.join(paths)}", flush=True)

    def on_row(row):
        rows.append(row.as_dict())
        print(f"{row.optimizer:10} {row.options:62} {row.path:28} {row.max_rel:9.3g} "
              f"bound {row.tolerance:.2g} {'ok' if row.ok else 'FAIL'}", flush=True)
        record(_suite_figures(paths, rows, not_run))

    def on_skip(case, path, reason):
        not_run.setdefault(path, {}).setdefault(case.optimizer, reason)

    suite.run_suite(plan.device, plan.suite_elements, plan.suite_epochs, plan.suite_optimizers,
                    plan.suite_schedulers, paths, on_row=on_row, on_skip=on_skip)
    figures = _suite_figures(paths, rows, not_run, done=True)
    record(figures)
    for path, worst in figures["per_path"].items():
        print(f"{path}: {worst['runs']} runs, largest difference {worst['max_rel']:.3g}, "
              f"{worst['failed']} failed")
    for path, reasons in not_run.items():
        print(f"not run: {path} for {', '.join(reasons)}")
    return figures["ok"]


def _suite_figures(paths, rows, not_run, done: bool = False) -> dict:
    per_path = {}
    for row in rows:
        entry = per_path.setdefault(row["path"], {"runs": 0, "max_rel": 0.0, "failed": 0})
        entry["runs"] += 1
        entry["max_rel"] = max(entry["max_rel"], row["max_rel"])
        entry["failed"] += row["verdict"] != "ok"
    return {"paths": list(paths), "complete": done, "ok": done and all(
        r["verdict"] == "ok" for r in rows), "per_path": per_path, "not_run": not_run,
        "rows": rows}


def sweep_paths(plan: Plan) -> dict:
    """name -> (executor, torch device, dtype): the compiled CPU engine (the numpy executor
    where numba is missing), then torch on the plan's device in float64 and float32."""
    from sheetopt.executors import compiled

    engine = "compiled CPU engine" if compiled.HAVE_NUMBA else "numpy CPU engine (no numba)"
    return {engine: ("compiled" if compiled.HAVE_NUMBA else "numpy", None, "float64"),
            f"torch {plan.device} float64": (None, plan.device, "float64"),
            f"torch {plan.device} float32": (None, plan.device, "float32")}


def _sweep_benchmark():
    """benchmarks/sweep.py as a module: its case (lesson5's Adam from its reset, lr swept over
    the configurations) and its runs of each path, timed here as it times them."""
    import importlib.util

    found = importlib.util.spec_from_file_location("benchmarks_sweep",
                                                   Path(__file__).with_name("sweep.py"))
    module = importlib.util.module_from_spec(found)
    sys.modules[found.name] = module
    found.loader.exec_module(module)
    return module


def stage_sweep(plan: Plan, record, out: Path) -> bool:
    bench = _sweep_benchmark()
    paths = {name: (bench._numpy_path(executor) if executor else bench._torch_path(device, dtype),
                    device, dtype) for name, (executor, device, dtype) in sweep_paths(plan).items()}
    for run, _, _ in paths.values():  # compile and warm up, untimed
        run(*bench._setup(10, 1))
    rows, ok = [], True
    print(f"{'path':28} {'configs':>11} {'epochs':>7} {'seconds':>9} {'config-steps/s':>16} "
          f"{'vs CPU':>8} {'params vs CPU':>14}", flush=True)
    for configs in plan.sweep_configs:
        one_epoch = bench._setup(configs, 1)
        reference = None
        for name, (run, device, dtype) in paths.items():
            row, params = _sweep_row(plan, bench, name, run, one_epoch, device, dtype)
            if reference is None:
                reference, baseline = params, row["config_steps_per_s"]
            row["vs_cpu_engine"] = row["config_steps_per_s"] / baseline
            row.update(_params_against(params, reference, dtype))
            ok = ok and row["agrees"]
            rows.append(row)
            print(f"{name:28} {configs:>11,} {row['epochs']:>7} {row['seconds']:>9.3f} "
                  f"{row['config_steps_per_s']:>16,.0f} {row['vs_cpu_engine']:>7.2f}x "
                  f"{row['params_max_rel']:>14.3g}" + _memory_text(row), flush=True)
            record({"case": "benchmarks/sweep.py's: lesson5's adam sheet (lecture flavour, "
                            "from its reset) on the 29 lecture rows, lr swept; config-steps = "
                            "configurations x 29 x epochs, the reset's passes untimed",
                    "rows": rows})
    return ok


def _sweep_row(plan: Plan, bench, name, run, one_epoch, device, dtype):
    """One path at one size: one epoch (its final parameters are compared across paths), then,
    when that took less than ``plan.sweep_seconds``, as many epochs as take that long, the best
    of two runs; a run of over 2 s is timed once."""
    import numpy as np

    configs = len(one_epoch[3])
    peak = _peak_memory(device)
    start = time.perf_counter()
    params = _numpy(run(*one_epoch))
    once = time.perf_counter() - start
    memory = peak()
    epochs, seconds = 1, once
    if once < plan.sweep_seconds:
        epochs = min(1000, math.ceil(plan.sweep_seconds / max(once, 1e-6)))
        case = bench._setup(configs, epochs)
        seconds = min(_timed(lambda: run(*case)) for _ in range(2))
    elif once < 2.0:
        seconds = min(once, _timed(lambda: run(*one_epoch)))
    steps = one_epoch[0].steps(one_epoch[1]) * epochs
    row = {"path": name, "configs": configs, "epochs": epochs, "steps": steps,
           "seconds": seconds, "config_steps_per_s": configs * steps / seconds,
           "dtype": dtype, "device": device or "cpu"}
    if memory is not None:
        from sheetopt import Spec
        from sheetopt.sweeps.sweep import estimate_bytes

        spec = Spec.load("lesson5")
        row.update(cuda_peak_bytes=memory, estimate_bytes=estimate_bytes(
            spec, spec.sheet("adam"), configs, "torch", 4 if dtype == "float32" else 8))
    return row, np.asarray(params, dtype=float)


def _numpy(values):
    return values.detach().cpu().numpy() if hasattr(values, "detach") else values


def _timed(run) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def _peak_memory(device):
    """A function returning CUDA's peak allocated bytes since now (None off CUDA)."""
    if device != "cuda":
        return lambda: None
    import torch

    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    return torch.cuda.max_memory_allocated


def _params_against(params, reference, dtype: str) -> dict:
    """The largest relative difference of the final parameters from the CPU engine's (over
    the entries finite in both), and how many configurations are finite in one and not the
    other. float64 must agree to 1e-12; float32 only to its own precision (1e-3 over an
    epoch of Adam)."""
    import numpy as np

    both = np.isfinite(params) & np.isfinite(reference)
    with np.errstate(all="ignore"):
        rel = (np.abs(params[both] - reference[both])
               / np.maximum(np.abs(reference[both]), np.finfo(float).tiny))
    worst = float(rel.max()) if rel.size else 0.0
    mismatched = int(np.sum(np.isfinite(params).all(1) != np.isfinite(reference).all(1)))
    tol = 1e-12 if dtype == "float64" else 1e-3
    return {"params_max_rel": worst, "params_tolerance": tol, "finite_mismatches": mismatched,
            "agrees": worst <= tol and (dtype != "float64" or mismatched == 0)}


def _memory_text(row: dict) -> str:
    if "cuda_peak_bytes" not in row:
        return ""
    return (f"  CUDA peak {row['cuda_peak_bytes'] / 2**20:,.0f} MiB (the sweep's estimate for "
            f"the whole process {row['estimate_bytes'] / 2**20:,.0f} MiB)")


def recheck_spec(steps: int):
    """Online torch-flavour Adam over ``steps`` generated rows, one epoch: a trace of
    ``steps`` steps (benchmarks/sweep.py times the same case on the CPU)."""
    from sheetopt import Spec

    return Spec.from_toml(f"""
[data]
rows = {steps}
true = {{ a = 2.0, b = 30.0 }}
noise = "normal"
noise_scale = 5.0
seed = 1

[model]
kind = "linear"

[[sheet]]
name = "adam"
optimizer = "adam"
flavor = "torch"
lr = 0.01
epochs = 1
""")


def stage_recheck(plan: Plan, record, out: Path) -> bool:
    import sheetopt
    from sheetopt.verification.recheck import recheck

    spec = recheck_spec(plan.recheck_steps)
    sheet = spec.sheets[0]
    start = time.perf_counter()
    trace = sheetopt.run(spec, sheet.name)[sheet.name]
    made = time.perf_counter() - start
    print(f"a {len(trace):,}-step trace (online torch-flavour Adam) made in {made:.2f} s",
          flush=True)
    found, ok = {"steps": len(trace), "trace_seconds": made, "devices": {}}, True
    for device in dict.fromkeys([plan.device, "cpu"]):
        times = []
        for _ in range(2):  # the first call includes torch's (and CUDA's) own start-up work
            start = time.perf_counter()
            differences = recheck(spec, sheet, trace, _torch_device(device))
            times.append(time.perf_counter() - start)
        worst = max(differences, key=lambda d: d.max_rel)
        passed = all(d.ok for d in differences)
        ok = ok and passed
        found["devices"][device] = {"first_seconds": times[0], "second_seconds": times[1],
                                    "steps_per_s": len(trace) / times[1], "ok": passed,
                                    "worst_rel": worst.max_rel, "worst_quantity": worst.quantity,
                                    "quantities": len(differences)}
        print(f"re-check on {device}: {times[0]:.2f} s first call, {times[1]:.2f} s second "
              f"({len(trace) / times[1]:,.0f} steps/s); every quantity within 1e-12: {passed} "
              f"(worst rel {worst.max_rel:.2g}, {worst.quantity})", flush=True)
        record(found)
    return ok


def _torch_device(name: str):
    import torch

    return torch.device(name)


# name -> stage(plan, record, out): runs, calls record(figures) as it goes, returns whether
# every check held
STAGES = {"env": stage_env, "tests": stage_tests, "verify": stage_verify, "suite": stage_suite,
          "sweep": stage_sweep, "recheck": stage_recheck}


def run_stage(name: str, plan: Plan, out: Path) -> int:
    """In the stage's own process: runs it; its JSON is rewritten at each ``record``."""
    target = out / f"{name}.json"

    def record(figures) -> None:
        document = {"stage": name, "label": plan.label, "rehearsal": plan.rehearsal,
                    "device": plan.device, "figures": figures}
        partial = target.with_suffix(".partial")
        partial.write_text(json.dumps(document, indent=1, default=_plain))
        partial.replace(target)

    return 0 if STAGES[name](plan, record, out) else CHECKS_FAILED


def _plain(value):
    """JSON for numpy scalars and arrays."""
    return value.tolist() if hasattr(value, "tolist") else str(value)


# --- the run: stages in their own processes, time-boxed ---------------------------------------

@dataclass
class Outcome:
    stage: str
    status: str  # "ok", "checks failed", "error (exit N)", "timed out after N s", "not run"
    seconds: float


def run_all(plan: Plan, out: Path, stages: tuple[str, ...]) -> list[Outcome]:
    out.mkdir(parents=True, exist_ok=True)
    (out / "plan.json").write_text(json.dumps(asdict(plan), indent=1))
    print(f"sheetopt {plan.label}: stages {', '.join(stages)}; figures under {out}", flush=True)
    outcomes, began = [], time.perf_counter()
    for phase in PHASES:
        chosen = [s for s in phase if s in stages]
        if not chosen:
            continue
        if outcomes and outcomes[0].stage == "env" and outcomes[0].status != "ok":
            outcomes += [Outcome(s, "not run: no CUDA GPU", 0.0) for s in chosen]
            continue
        for outcome in _run_together(chosen, plan, out):
            if outcome.stage == "env" and outcome.status == "checks failed":
                outcome.status = ("no CUDA GPU visible to torch: nothing measured (a CPU "
                                  "rehearsal: --rehearse-on-cpu)")
            outcomes.append(outcome)
            print(f"[{time.perf_counter() - began:6.1f} s] {outcome.stage}: {outcome.status} "
                  f"({outcome.seconds:.1f} s)", flush=True)
    return outcomes


def _run_together(names, plan: Plan, out: Path):
    """Starts the stages at once; yields each one's Outcome as it ends or runs out of time."""
    running = {name: _start(name, plan, out) for name in names}
    while running:
        for name, (process, started, log) in list(running.items()):
            seconds = time.perf_counter() - started
            code = process.poll()
            if code is None and seconds < plan.limits[name]:
                continue
            if code is None:
                _stop(process)
                status = f"timed out after {plan.limits[name]:g} s"
            else:
                status = {0: "ok", CHECKS_FAILED: "checks failed"}.get(
                    code, f"error (exit {code}; see {name}.log)")
            log.close()
            del running[name]
            yield Outcome(name, status, seconds)
        time.sleep(0.1)


def _start(name: str, plan: Plan, out: Path):
    log = open(out / f"{name}.log", "w")
    command = [sys.executable, str(Path(__file__).resolve()), "--stage", name, "--out",
               str(out), "--plan", str(out / "plan.json")]
    process = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                               start_new_session=True)
    return process, time.perf_counter(), log


def _stop(process) -> None:
    """Ends the stage's process group (the stage and what it started: pytest)."""
    for sig, wait in ((signal.SIGTERM, 5), (signal.SIGKILL, 5)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


# --- the wheels: downloaded where there is a registry, installed where there is none --------

def wheel_requirements() -> list[str]:
    """sheetopt's requirements the GPU machine lacks, without markers, and pytest's.

    >>> "openpyxl>=3.1" in wheel_requirements() and "pytest" in wheel_requirements()
    True
    """
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = [r.split(";")[0].strip() for r in project["dependencies"]]
    name = lambda r: r.split(">")[0].split("=")[0].split("<")[0].strip().lower()  # noqa: E731
    return [r for r in wanted if name(r) not in GPU_MACHINE_HAS] + list(TEST_WHEELS)


def download_wheels(folder: Path) -> int:
    """pip download of ``wheel_requirements()`` (pure-Python wheels) into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "pip", "download", "--dest", str(folder),
               "--only-binary=:all:", "--python-version", "3.10", *wheel_requirements()]
    print(" ".join(command), flush=True)
    return subprocess.call(command)


def install_wheels(folder: Path) -> list[str]:
    """The wheels of ``folder`` whose distribution this Python lacks, installed into SITE
    (pip, no index, no requirements resolved: the folder holds them all; unzipped where there
    is no pip). Returns what it installed."""
    from importlib import metadata

    missing = []
    for wheel in sorted(folder.glob("*.whl")):
        try:
            metadata.distribution(wheel.name.split("-")[0])
        except metadata.PackageNotFoundError:
            missing.append(wheel)
    if not missing:
        return []
    SITE.mkdir(exist_ok=True)
    done = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-index",
                           "--no-deps", "--upgrade", "--target", str(SITE), *map(str, missing)],
                          capture_output=True, text=True)
    if done.returncode:
        import zipfile

        print(f"pip install failed ({done.stderr.strip()[-300:]}); unzipping the wheels")
        for wheel in missing:
            zipfile.ZipFile(wheel).extractall(SITE)
    return [w.name for w in missing]


def use_tree() -> None:
    """sheetopt from this tree and the installed wheels, for every stage's process: sheetopt
    itself needs no installing (as ``pip install --no-deps -e .`` would give, without pip)."""
    paths = [str(ROOT), str(SITE), *filter(None, [os.environ.get("PYTHONPATH")])]
    os.environ["PYTHONPATH"] = os.pathsep.join(paths)


# --- the summary --------------------------------------------------------------------------------

def summarize(plan: Plan, out: Path, outcomes: list[Outcome]) -> dict:
    """summary.json: each stage's status, seconds and figures; the lines printed at the end."""
    stages = {}
    for o in outcomes:
        path = out / f"{o.stage}.json"
        figures = json.loads(path.read_text())["figures"] if path.exists() else None
        stages[o.stage] = {"status": o.status, "seconds": round(o.seconds, 1),
                           "figures": figures}
    summary = {"label": plan.label, "rehearsal": plan.rehearsal, "device": plan.device,
               "when": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
               "ok": all(o.status == "ok" for o in outcomes), "stages": stages}
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    return summary


def summary_lines(summary: dict) -> list[str]:
    lines = [f"=== {summary['label']}, {summary['when']} ==="]
    for name, stage in summary["stages"].items():
        lines.append(f"-- {name}: {stage['status']} ({stage['seconds']} s)")
        figures = stage["figures"]
        if figures is not None:
            lines += ["   " + line for line in LINES[name](figures)]
    lines.append(f"=== {'every stage ran and every check held' if summary['ok'] else 'NOT ALL HELD'}"
                 f"{' (CPU REHEARSAL: no GPU figure here)' if summary['rehearsal'] else ''} ===")
    return lines


def _env_lines(f) -> list[str]:
    gpus = "; ".join(f"{g['name']} (sm {g['capability']}, {g['memory_gib']} GiB)"
                     for g in f.get("gpus", [])) or "no CUDA GPU"
    return [f"{gpus}; torch {f['torch']} (CUDA {f['torch_cuda']}), numba {f.get('numba')}, "
            f"numpy {f['numpy']}, python {f['python']}, {f['cpu_count']} CPU cores "
            f"({f.get('cpu_model')}); "
            f"commit {f.get('commit')}, tree {f.get('tree_digest')}"]


def _tests_lines(f) -> list[str]:
    c = f["counts"]
    out = [f"{c['passed']} passed, {c['failed']} failed, {c['error']} errors, "
           f"{c['skipped']} skipped"]
    return out + [f"{t['outcome']}: {t['test']} {t['message'][:150]}" for t in f["tests"]
                  if t["outcome"] != "passed"][:20]


def _verify_lines(f) -> list[str]:
    out = []
    for preset, found in f.items():
        if "error" in found:
            out.append(f"{preset}: ERROR {found['error'][:200]}")
            continue
        out.append(f"{preset}: {'ok' if found['ok'] else 'FAIL'} ({found['seconds']} s) " +
                   "; ".join(f"{check} {w['max_rel']:.3g}" for check, w in found["worst"].items()))
    return out


def _suite_lines(f) -> list[str]:
    out = [f"{'complete' if f['complete'] else 'INCOMPLETE'}; " + ", ".join(
        f"{p} {v['runs']} runs max {v['max_rel']:.3g} failed {v['failed']}"
        for p, v in f["per_path"].items())]
    out += [f"FAIL {r['optimizer']} ({r['options']}) {r['path']}: {r['max_rel']:.3g}"
            for r in f["rows"] if r["verdict"] != "ok"][:20]
    return out + [f"not run: {p} for {', '.join(reasons)}" for p, reasons in f["not_run"].items()]


def _sweep_lines(f) -> list[str]:
    return [f"{r['path']:28} {r['configs']:>11,} {r['config_steps_per_s']:>16,.0f}/s "
            f"{r['vs_cpu_engine']:6.2f}x  params vs CPU {r['params_max_rel']:.2g}"
            + _memory_text(r)
            for r in f["rows"]]


def _recheck_lines(f) -> list[str]:
    return [f"{f['steps']:,} steps on {device}: {d['second_seconds']:.2f} s "
            f"({d['steps_per_s']:,.0f} steps/s; first call {d['first_seconds']:.2f} s), "
            f"ok {d['ok']}, worst rel {d['worst_rel']:.2g}"
            for device, d in f["devices"].items()]


LINES = {"env": _env_lines, "tests": _tests_lines, "verify": _verify_lines,
         "suite": _suite_lines, "sweep": _sweep_lines, "recheck": _recheck_lines}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(os.environ.get("OUT") or ROOT / "out"
                                                         / "gpu"),
                        help="where the figures go (default $OUT, else out/gpu)")
    parser.add_argument("--rehearse-on-cpu", action="store_true",
                        help="every stage on the CPU at small sizes (CPU figures, labelled so)")
    parser.add_argument("--quick", action="store_true",
                        help="with --rehearse-on-cpu: the smallest sizes, one preset (a test)")
    parser.add_argument("--stages", default=",".join(STAGES),
                        help=f"which stages (default all: {','.join(STAGES)})")
    parser.add_argument("--limit", action="append", default=[], metavar="STAGE=SECONDS",
                        help="a stage's time limit (repeatable; default: the plan's)")
    parser.add_argument("--wheels", type=Path, metavar="DIR",
                        help="first install the wheels of DIR this Python lacks (into .gpu-site)")
    parser.add_argument("--download-wheels", type=Path, metavar="DIR",
                        help="only download the wheels a GPU machine lacks into DIR, and stop")
    parser.add_argument("--stage", help=argparse.SUPPRESS)  # in a stage's own process
    parser.add_argument("--plan", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.stage:
        return run_stage(args.stage, Plan(**json.loads(args.plan.read_text())), args.out)
    if args.download_wheels:
        return download_wheels(args.download_wheels)
    if args.quick and not args.rehearse_on_cpu:
        parser.error("--quick is for --rehearse-on-cpu")
    stages = tuple(s for s in args.stages.split(",") if s)
    unknown = [s for s in stages if s not in STAGES]
    if unknown:
        parser.error(f"unknown stage(s) {', '.join(unknown)}: the stages are {', '.join(STAGES)}")
    plan = (QUICK if args.quick else REHEARSAL) if args.rehearse_on_cpu else GPU
    limits = dict(plan.limits)
    for text in args.limit:
        stage, _, seconds = text.partition("=")
        try:
            limits[stage] = float(seconds)
        except ValueError:
            parser.error(f"--limit {text!r}: give STAGE=SECONDS")
        if stage not in STAGES:
            parser.error(f"--limit {text!r}: the stages are {', '.join(STAGES)}")
    plan = replace(plan, limits=limits)
    if args.wheels:
        if not args.wheels.is_dir():
            parser.error(f"--wheels {args.wheels}: no such folder (make it where there is a "
                         f"registry: python benchmarks/gpu.py --download-wheels wheels)")
        print(f"installed from {args.wheels}: {', '.join(install_wheels(args.wheels)) or 'nothing (all present)'}")
    use_tree()
    outcomes = run_all(plan, args.out, stages)
    summary = summarize(plan, args.out, outcomes)
    print("\n".join(summary_lines(summary)))
    return 0 if summary["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
