"""The promise on bad input, fuzzed: every command exits 0 or 1, or 2 with exactly one line on
stderr (argparse's usage errors: its usage lines, then one error line); no traceback or
warning; no file left behind or changed; no hang (each case has a time bound).

The families and their generators live in benchmarks/fuzz.py, which also runs the deep
search (``python benchmarks/fuzz.py --cases 5000``). Here a few hundred cases run in-process
through ``sheetopt.cli.main``, deterministically (derandomized, no example database), and a
few through ``python -m sheetopt``.
"""
from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings

from benchmark_cases import benchmark

fuzz = benchmark("fuzz")

CASES = {"spec": 70, "csv": 60, "columns": 40, "models": 30, "options": 50, "workbook": 90,
         "output": 40, "edges": 40}


def _settings(cases: int):
    return settings(max_examples=cases, derandomize=True, database=None, deadline=None,
                    suppress_health_check=list(HealthCheck), print_blob=False)


def _family_test(name: str):
    @_settings(CASES[name])
    @given(fuzz.FAMILIES[name])
    def test(case):
        failure, (code, out, err) = fuzz.run_case(case)
        assert failure is None, f"{case.describe()}\n{failure}\nstderr: {err[-2000:]}"
    test.__name__ = f"test_fuzz_{name}"
    return test


test_fuzz_spec = _family_test("spec")
test_fuzz_csv = _family_test("csv")
test_fuzz_columns = _family_test("columns")
test_fuzz_models = _family_test("models")
test_fuzz_options = _family_test("options")
test_fuzz_workbook = _family_test("workbook")
test_fuzz_output = _family_test("output")
test_fuzz_edges = _family_test("edges")


# --- the judge itself: each broken promise is caught ------------------------------------------
def _judged(code, err, before=None, after=None, outputs=()):
    case = fuzz.Case("t", [], outputs=outputs)
    return fuzz.judge(case, code, "", err, before or {}, after or {})


def test_the_judge_catches_each_broken_promise():
    assert _judged(2, "sheetopt check: error: book.xlsx: damaged\n") is None
    assert _judged(2, "usage: sheetopt trace [-h]\nsheetopt trace: error: bad\n") is None
    assert "traceback" in _judged(2, "Traceback (most recent call last):\nValueError\n")
    assert "2 lines" in _judged(2, "sheetopt check: error: a\nmore\n")
    assert "does not say sheetopt" in _judged(2, "ValueError: x\n")
    assert "hang" in _judged("hang", "")
    assert "exit status 3" in _judged(3, "")
    assert "files changed" in _judged(2, "sheetopt x: error: y\n", {"a": b"1"}, {"a": b"2"})
    assert "unexpected" in _judged(0, "", {}, {".out.csv.part": b""})
    assert _judged(0, "", {}, {"out.csv": b"x"}, outputs=("out.csv",)) is None
    assert "warning" in _judged(0, "x.py:1: RuntimeWarning: overflow\n")


def test_a_case_over_its_time_bound_is_a_hang(monkeypatch, tmp_path):
    from sheetopt import cli
    import time

    monkeypatch.setattr(cli, "main", lambda argv: time.sleep(5))
    code, _, _ = fuzz.run_in_process(["compare", "lesson5"], tmp_path, seconds=0.2)
    assert code == "hang"


def test_the_workbook_mutations_reach_the_checks_they_aim_at(capsys):
    """Each kind of damage gets the one line that names it (the generators are not silently
    producing files that never reach the reader's checks)."""
    book = fuzz.small_workbook()
    parts = fuzz._parts(book)
    sheets = fuzz._sheet_parts(parts)
    bomb = dict(parts)
    head = bomb[sheets[2]][:bomb[sheets[2]].index(b"<sheetData>") + 11]
    bomb[sheets[2]] = head + b" " * 8 * 1024 ** 2 + b"</sheetData></worksheet>"
    cases = {
        "inflates": fuzz._zip(bomb, level=9),
        "unsupported compression method 14": fuzz._patch_directory(book, sheets[2], method=14),
        "bad CRC-32": fuzz._patch_directory(book, sheets[2], crc=12345),
        "not a zip file": book[: len(book) // 2],
        "empty XML": fuzz._zip({**parts, sheets[3]: b""}),
    }
    for expected, data in cases.items():
        with tempfile.TemporaryDirectory() as folder:
            root = Path(folder)
            (root / "book.xlsx").write_bytes(data)
            code, out, err = fuzz.run_in_process(["check", "book.xlsx"], root)
        assert code == 2 and expected in err and len(err.splitlines()) == 1, (expected, err)


def _subprocess_test(name: str):
    @_settings(2)
    @given(fuzz.FAMILIES[name])
    def test(case):
        with tempfile.TemporaryDirectory() as folder:
            root = Path(folder)
            fuzz.prepare(case, root)
            before = fuzz._snapshot(root)
            result = subprocess.run([sys.executable, "-m", "sheetopt", *case.argv], cwd=root,
                                    capture_output=True, text=True, timeout=300)
            failure = fuzz.judge(case, result.returncode, result.stdout, result.stderr, before,
                                 fuzz._snapshot(root))
        assert failure is None, f"{case.describe()}\n{failure}"
    test.__name__ = f"test_fuzz_{name}_via_python_m"
    return test


# The same judge on real processes: nothing but the one line reaches the terminal.
test_fuzz_workbook_via_python_m = _subprocess_test("workbook")
test_fuzz_output_via_python_m = _subprocess_test("output")
test_fuzz_spec_via_python_m = _subprocess_test("spec")
