"""Start-up proportional to the job: a command imports what it uses when it uses it.

Each case runs a command in a fresh interpreter and lists the heavy libraries it imported
(benchmarks/startup.py times the same processes)."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from sheetopt.executors.torch.device import DRIVER_FILES

HEAVY = ("pandas", "numba", "torch", "matplotlib", "openpyxl", "xlsxwriter", "numpy")
PROBE = """
import json, sys
from sheetopt.cli import main
try:
    code = main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
print(json.dumps({"code": code, "heavy": sorted({m.split('.')[0] for m in sys.modules}
                                                & set(%r))}), file=sys.stderr)
""" % (HEAVY,)


def imported(*args: str, cwd=None) -> list[str]:
    """The heavy libraries ``sheetopt ARGS`` imported, in a fresh process (exit status 0)."""
    done = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True,
                          cwd=cwd, timeout=300)
    report = json.loads(done.stderr.strip().splitlines()[-1])
    assert report["code"] in (0, None), done.stderr
    return report["heavy"]


def test_compare_of_a_lesson_imports_numpy_alone():
    assert imported("compare", "lesson5") == ["numpy"]


def test_version_imports_no_library_and_help_no_more_than_numpy():
    assert imported("--version") == []
    assert imported("compare", "--help") == ["numpy"]
    assert imported("torch-suite", "--help") == []


def test_a_small_csv_is_read_without_pandas(tmp_path):
    (tmp_path / "rows.csv").write_text("x,y\n" + "".join(f"{i},{2 * i + 30}\n" for i in range(500)))
    (tmp_path / "spec.toml").write_text('[data]\ncsv = "rows.csv"\n[[sheet]]\n'
                                        'optimizer = "sgd"\nlr = 0.0001\n')
    assert imported("compare", "spec.toml", cwd=tmp_path) == ["numpy"]
    assert imported("trace", "spec.toml", "--sheet", "sgd", "-o", "out.csv",
                    cwd=tmp_path) == ["numpy"]


def test_a_workbook_imports_its_writer(tmp_path):
    assert imported("workbook", "lesson5", "-o", "lesson5.xlsx", cwd=tmp_path) == [
        "numpy", "xlsxwriter"]


@pytest.mark.skipif(any(map(os.path.exists, DRIVER_FILES)), reason="an NVIDIA driver is here: "
                    "the sweep asks torch for a GPU")
def test_a_sweep_without_a_gpu_driver_does_not_import_torch_to_look_for_one(tmp_path):
    assert imported("sweep", "lesson5", "--sheet", "adam", "--lr", "1e-3:1:5",
                    cwd=tmp_path) == ["numpy"]


def test_a_compiled_run_on_the_command_line_leaves_scipy_linalg_alone(tmp_path):
    """numba probes scipy's BLAS when its targets load (0.3 s); the command hides scipy.linalg
    from that probe only, and numba's linear algebra still finds it when a function uses it."""
    pytest.importorskip("scipy.linalg")
    probe = ("import sys, numpy as np, numba\n"
             "from sheetopt.cli import main\n"
             "assert main(['compare', 'lesson5']) == 0\n"
             "print('scipy.linalg' in sys.modules, file=sys.stderr)\n"
             "dot = numba.njit(lambda a: np.dot(a, a))\n"
             "print(dot(np.arange(3.0)), file=sys.stderr)\n")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          cwd=tmp_path, timeout=300,
                          env={**os.environ, "SHEETOPT_EXECUTOR": "compiled"})
    assert done.returncode == 0, done.stderr
    assert done.stderr.split()[-2:] == ["False", "5.0"]


def test_the_program_ends_with_what_is_left_frozen(tmp_path):
    """The console script and ``python -m sheetopt`` run cli.program: the collector's young
    generation is COLLECT_AFTER's, and at the end the survivors are frozen (the exit then does
    not walk numba's objects); the output is whole. From Python, main leaves the collector be."""
    from importlib.metadata import entry_points

    (script,) = [e for e in entry_points(group="console_scripts") if e.name == "sheetopt"]
    assert script.value == "sheetopt.cli:program"
    probe = ("import gc, sys\nfrom sheetopt.cli import main, program\n"
             "before = gc.get_threshold()\nmain(['compare', 'lesson5'])\n"
             "print(gc.get_threshold() == before, gc.get_freeze_count(), file=sys.stderr)\n"
             "sys.argv = ['sheetopt', 'trace', 'lesson5', '--sheet', 'adam', '-o', 'adam.csv']\n"
             "code = program()\n"
             "print(code, gc.get_threshold(), gc.get_freeze_count() > 1000, file=sys.stderr)\n")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          cwd=tmp_path, timeout=300)
    lines = done.stderr.splitlines()
    assert (lines[0], lines[-1]) == ("True 0", "0 (20000, 20, 20) True"), done.stderr
    assert len((tmp_path / "adam.csv").read_text().splitlines()) == 146  # a header, 145 steps
    by_module = subprocess.run([sys.executable, "-m", "sheetopt", "compare", "lesson5"],
                               capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert by_module.returncode == 0 and by_module.stdout.startswith("Lesson 5:"), by_module
