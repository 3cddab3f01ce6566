"""The memory estimate of a recorded run is within a factor of 1.5 of the peak it measures: each
case runs in a fresh interpreter, which compiles its kernels on a 10-row copy of the spec first,
resets the peak (/proc/self/clear_refs) and reads it back (VmHWM) after the run, from Python and
from the command line. Sizes are kept to tens of MiB, so that a peak stands out of the noise."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from sheetopt.executors import compiled
from sheetopt.protocol import engine
from sheetopt.spec import load

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")

MEASURE = textwrap.dedent('''
    import json, os, sys
    import sheetopt
    from sheetopt import cli
    from sheetopt.protocol import engine

    def status(key):
        with open("/proc/self/status") as handle:
            return next(int(l.split()[1]) * 1024 for l in handle if l.startswith(key + ":"))

    text, how = sys.argv[1], sys.argv[2]
    small = text.replace("rows = ", "rows = 10 #")
    open("small.toml", "w").write(small)
    open("big.toml", "w").write(text)
    spec = sheetopt.Spec.from_toml(text)
    # compare recording every step (by default it records per epoch: a few KiB)
    run = ((lambda path: cli.main(["compare", path, "--record", "step"])) if how == "cli"
           else sheetopt.run)
    run("small.toml")  # imports and compiles what the big run needs
    base = status("VmRSS")
    try:
        open("/proc/self/clear_refs", "w").write("5")  # VmHWM from here on
    except OSError:
        pass
    run("big.toml")
    print(json.dumps({"measured": status("VmHWM") - base,
                      "estimate": engine.peak_bytes(spec, spec.sheets)}))
''')


def spec_text(rows: int, *sheets: str) -> str:
    return (f'[data]\nrows = {rows}\nx = "uniform"\ntrue = {{ a = 2.0, b = 30.0 }}\n'
            f'noise = "normal"\n[model]\nkind = "linear"\n'
            + "".join(f"[[sheet]]\nname = 's{i}'\n{sheet}\n" for i, sheet in enumerate(sheets)))


ADAM = 'optimizer = "adam"\nflavor = "torch"\nlr = 0.01\n'
CASES = {
    "online adam, 2 epochs": (spec_text(150_000, ADAM + "epochs = 2"), "python"),
    "two sheets, shuffled batches of 10": (spec_text(
        50_000, ADAM + "epochs = 10\nbatch = 10\nshuffle = true",
        'optimizer = "sgd"\nflavor = "torch"\nlr = 0.001\nmom = 0.9\nepochs = 10\nbatch = 10'),
        "python"),
    "full batch rmsprop, 30 epochs": (spec_text(
        10_000, 'optimizer = "rmsprop"\nflavor = "torch"\nlr = 0.01\nepochs = 30\n'
                'batch = "full"'), "python"),
    "compare from the command line": (spec_text(
        100_000, ADAM + "epochs = 2", 'optimizer = "adamw"\nflavor = "torch"\nlr = 0.01\n'
                                      "epochs = 1\nshuffle = true"), "cli"),
}


def measure(tmp_path, text: str, how: str, env: dict | None = None) -> dict:
    import os

    done = subprocess.run([sys.executable, "-c", MEASURE, text, how], cwd=tmp_path,
                          capture_output=True, text=True, timeout=600,
                          env={**os.environ, **(env or {})})
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not compiled.available(), reason="numba is not installed")
@pytest.mark.parametrize("case", CASES)
def test_the_estimate_is_within_half_again_of_the_measured_peak(case, tmp_path):
    # the 10-row warm-up would run on numpy (too small to repay compiling): compiled for both
    figures = measure(tmp_path, *CASES[case], {"SHEETOPT_EXECUTOR": "compiled"})
    ratio = figures["estimate"] / figures["measured"]
    assert figures["measured"] > 20 << 20, figures  # large enough to stand out of the noise
    assert 1 / 1.5 <= ratio <= 1.5, (case, figures, ratio)


def test_the_numpy_executors_estimate_too(tmp_path):
    """Without numba (or with SHEETOPT_EXECUTOR=numpy) every cell is a small array while it is
    recorded: the estimate says so."""
    figures = measure(tmp_path, spec_text(8_000, ADAM), "python", {"SHEETOPT_EXECUTOR": "numpy"})
    ratio = figures["estimate"] / figures["measured"]
    assert figures["measured"] > 20 << 20, figures
    assert 1 / 1.5 <= ratio <= 1.5, (figures, ratio)


def test_two_sheets_keep_both_traces_but_work_one_at_a_time():
    spec = load("lesson5")
    one = engine.run_bytes(spec, spec.sheet("adam"))
    both = engine.peak_bytes(spec, [spec.sheet("adam"), spec.sheet("adam_ann")])
    other = engine.run_bytes(spec, spec.sheet("adam_ann"))
    assert both == one.kept + other.kept + max(one.working, other.working)
    # 145 steps of 19 columns and 145 rows of 7, in float64
    assert one.kept == 8 * 145 * (19 + 7)
