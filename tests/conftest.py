"""Fixtures and helpers shared by the test files (helpers importable as
``from conftest import ...``: tests/ is on the path)."""
from __future__ import annotations

import fcntl
import gc
import os
import tempfile
from pathlib import Path
from typing import Callable

import pytest

from sheetopt import spec as spec_mod

RAM_DISK, RAM_DISK_ROOM = "/dev/shm", 4 * 2**30


def _temporary_files_in_memory() -> None:
    """Temporary files (pytest's tmp_path, XlsxWriter's parts of each workbook, LibreOffice's
    and Gnumeric's files) on the machine's RAM disk when it has one with room and $TMPDIR is
    not set: creating and deleting the thousands of small files a run makes costs milliseconds
    each on a disk mounted with online discard (a 77-sheet workbook's write took 3.3 s there
    and 0.8 s on the RAM disk; test_model_matrix.py 81 -> 41 s). Subprocesses inherit it."""
    if os.environ.get("TMPDIR") or not os.path.isdir(RAM_DISK) or not os.access(RAM_DISK, os.W_OK):
        return
    room = os.statvfs(RAM_DISK)
    if room.f_bavail * room.f_frsize < RAM_DISK_ROOM:
        return
    folder = os.path.join(RAM_DISK, f"sheetopt-tests-{os.getuid()}")
    os.makedirs(folder, mode=0o700, exist_ok=True)
    os.environ["TMPDIR"] = folder
    tempfile.tempdir = None  # gettempdir() reads $TMPDIR again


_temporary_files_in_memory()


def pytest_configure(config) -> None:
    """The collector set as the ``sheetopt`` program sets it (cli.COLLECT_AFTER): a worker holds
    numba's, torch's and pandas' objects for its whole life, and Python's default young
    generation of 700 objects made every older collection walk them again."""
    from sheetopt.cli import COLLECT_AFTER

    gc.set_threshold(*COLLECT_AFTER)


def pytest_collection_finish(session) -> None:
    """What collection imported (the test modules and the libraries they import) lives until
    the worker ends: frozen, the collector no longer walks it."""
    gc.collect()
    gc.freeze()


@pytest.fixture(scope="session")
def preset_workbook(tmp_path_factory) -> Callable[[str], Path]:
    """``preset_workbook(name)``: the workbook ``sheetopt workbook NAME`` writes for a shipped
    preset, written once per test run and shared, by pytest-xdist's workers too (the first to
    ask writes it under a file lock; the others wait and read it): read it, never change it
    (copy it first). Writing the big presets takes seconds each.

    Example: ``openpyxl.load_workbook(preset_workbook("lesson5"))``."""
    from sheetopt.cli import main

    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):  # each worker's basetemp is in the run's folder
        root = root.parent
    folder = root / "preset-workbooks"
    folder.mkdir(exist_ok=True)

    def workbook(name: str) -> Path:
        path = folder / f"{name}.xlsx"
        with open(folder / f"{name}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
            if not path.exists():  # sheetopt writes a temporary file, then renames it
                assert main(["workbook", name, "-o", str(path)]) == 0
                path.chmod(0o444)  # shared: a test that writes to it fails, not misleads others
        return path

    return workbook


@pytest.fixture(autouse=True)
def _no_terminal_width(monkeypatch):
    """Tables and help wrap to $COLUMNS, which pytest-xdist's workers inherit or set: each test
    starts without it (output not to a terminal is not wrapped) and sets it where it measures."""
    monkeypatch.delenv("COLUMNS", raising=False)


# the lecture's 29 rows, with the truth the lecture's data was made from
LECTURE_DATA = {"preset": "lecture", "true": {"a": 2.0, "b": 30.0}}


def spec_with(sheets: list[dict], data: dict | None = None, model: str = "linear"):
    """A parsed spec of ``sheets`` (dicts as a ``[[sheet]]`` table) on ``data`` (default the
    lecture's rows) with the ``model`` kind."""
    return spec_mod.parse({"data": data or LECTURE_DATA, "model": {"kind": model},
                           "sheet": sheets})


def assert_executors_agree(spec, sheet, hp, params, state, plan) -> None:
    """The numpy and compiled executors give the same run bit for bit, recorded (every step's
    column) and not (the unrolled sweep kernel): final parameters and per-epoch losses."""
    import numpy as np

    from sheetopt.protocol import engine

    for record in (True, False):
        a, b = (engine.simulate(spec, sheet, hp, params, state, plan, record=record,
                                executor=executor) for executor in ("numpy", "compiled"))
        assert np.array_equal(a.params, b.params, equal_nan=True)
        assert np.array_equal(a.epoch_loss, b.epoch_loss, equal_nan=True)
        assert np.array_equal(a.epoch_sum_err2, b.epoch_sum_err2, equal_nan=True)
        if record:
            assert a.steps.keys() == b.steps.keys()
            for key in a.steps:
                assert np.array_equal(a.steps[key], b.steps[key], equal_nan=True), key


def options_id(optimizer: str, options: dict) -> str:
    """A test id that reads as a description: "adam amsgrad weight_decay=0.1", not "adam-1".

    >>> options_id("adam", {"lr": 0.1, "amsgrad": True, "betas": [0.9, 0.99], "maximize": False})
    'adam lr=0.1 amsgrad betas=0.9,0.99'
    """
    def text(value) -> str:
        return ",".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)

    words = [key if value is True else f"{key}={text(value)}"
             for key, value in options.items() if value is not False]
    return " ".join([optimizer, *words]) if words else f"{optimizer} defaults"


# The test files that take longest, longest first, by CPU seconds (user+sys, `python -m pytest
# -n 0 FILE`, kernel cache warm): the docs' examples 76, Gnumeric on every shipped workbook 64,
# LibreOffice on 16 workbooks 57, ... down to about 14. They are handed to the workers first
# (pyproject's addopts: --dist loadfile --no-loadscope-reorder), so that no long file starts
# last and the workers end together; the short files fill in behind them.
LONGEST_FIRST = ("test_docs.py", "test_workbook_gnumeric.py", "test_workbook_libreoffice.py",
                 "test_api.py", "test_check_damage.py", "test_gpu_script.py",
                 "test_framework_recalc.py", "test_relu_net.py", "test_fuzz.py",
                 "test_torch_schedules.py", "test_workbook.py", "test_workbook_path_charts.py",
                 "test_framework_schedules.py", "test_frameworks.py", "test_translate.py",
                 "test_torch_suite.py", "test_flavour_pipeline.py", "test_logistic.py",
                 "test_torch_optimizers.py", "test_verify_verdict.py", "test_surfaces.py",
                 "test_notebook.py", "test_workbook_files.py", "test_torch_verify.py",
                 "test_torch_differences.py", "test_torch_parity.py")


def pytest_collection_modifyitems(items) -> None:
    """The longest files first (see LONGEST_FIRST), the others in their usual order."""
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))


# The test files that step Keras, optax or fastai themselves. Importing the three takes about
# 8 CPU-seconds (Keras on torch alone 5): these files go to one worker together, so that the
# other never imports them.
FRAMEWORK_FILES = ("test_frameworks.py", "test_framework_schedules.py",
                   "test_framework_goldens.py", "test_smoothing.py")


def pytest_xdist_make_scheduler(config, log):
    """``--dist loadfile``, with FRAMEWORK_FILES one unit of work."""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class FilesWithFrameworksTogether(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            scope = super()._split_scope(nodeid)
            return "the framework files" if Path(scope).name in FRAMEWORK_FILES else scope

    return FilesWithFrameworksTogether(config, log)
