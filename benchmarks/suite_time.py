"""Where the test suite's time goes: a pytest plugin that times each test file in its worker
(wall clock and the worker's own CPU) and numba's kernel compiles within it, and a report.

A file's wall time minus its CPU time is mostly waiting for the programs it starts
(LibreOffice, Gnumeric, Chromium, sheetopt processes, a Jupyter kernel). Compile time is the
CPU of numba's outermost ``Dispatcher.compile`` calls: a kernel's first compile, or a load
from the disk cache when the cache is warm (a few milliseconds).

Run, for a cold run's figures (an empty kernel cache, as on a fresh machine):

    SHEETOPT_CACHE_DIR=$(mktemp -d) PYTHONPATH=benchmarks python -m pytest -p suite_time

The report is printed at the end of the run (the 25 longest files; ``SUITE_TIME_TOP`` sets
how many) and again by ``python benchmarks/suite_time.py``. ``SUITE_TIME_TESTS=1`` reports
each test instead of each file. Each worker writes its figures as JSON to ``SUITE_TIME_DIR``
(default ``~/.cache/sheetopt/suite-time``), emptied when a run starts.

Figures are printed, never asserted.

    >>> report({"gw0": {"files": {"tests/a.py": [2.0, 1.5, 0.5, 1]}, "compiled": 1}}, 5)[0]
    'test files: wall 2.0 s, worker CPU 1.5 s, numba compiles 0.5 s (1 compiled, 1 tests)'
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

COMPILE_SECONDS = 0.05  # a compile this long compiled a kernel (a cache load takes ms)


class Unreadable(Exception):
    """A setting or a worker's file the report cannot read; the message names it."""


def top() -> int:
    """How many files the report lists: ``SUITE_TIME_TOP``, default 25."""
    text = os.environ.get("SUITE_TIME_TOP", "25")
    if not text.isdigit():
        raise Unreadable(f"SUITE_TIME_TOP={text!r}: not a whole number of files to list")
    return int(text)


def folder() -> Path:
    default = Path.home() / ".cache" / "sheetopt" / "suite-time"
    return Path(os.environ.get("SUITE_TIME_DIR") or default)


class _Clock:
    """The figures of one process: per test file (or test), [wall, CPU, compile CPU, tests]."""

    def __init__(self):
        self.files: dict[str, list] = {}
        self.compile = 0.0  # CPU seconds in outermost compiles so far
        self.compiled = 0  # compiles of at least COMPILE_SECONDS
        self.depth = 0

    def watch_numba(self) -> None:
        try:
            from numba.core import dispatcher
        except ImportError:
            return
        original = dispatcher.Dispatcher.compile
        if getattr(original, "suite_time", False):
            return
        clock = self

        def compile(self, sig):
            clock.depth += 1
            start = time.process_time()
            try:
                return original(self, sig)
            finally:
                clock.depth -= 1
                if clock.depth == 0:
                    spent = time.process_time() - start
                    clock.compile += spent
                    clock.compiled += spent >= COMPILE_SECONDS

        compile.suite_time = True
        dispatcher.Dispatcher.compile = compile


_CLOCK = _Clock()


def _worker() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


def pytest_configure(config) -> None:
    if _worker() == "main":  # the controller, or the only process: a new run's figures
        try:
            folder().mkdir(parents=True, exist_ok=True)
            for old in folder().glob("*.json"):
                old.unlink()
        except OSError as problem:
            raise pytest.UsageError(f"suite_time: SUITE_TIME_DIR {folder()}: {problem.strerror}")
    _CLOCK.watch_numba()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    wall, cpu, spent = time.perf_counter(), time.process_time(), _CLOCK.compile
    yield
    key = item.nodeid if os.environ.get("SUITE_TIME_TESTS") else item.nodeid.split("::")[0]
    figures = _CLOCK.files.setdefault(key, [0.0, 0.0, 0.0, 0])
    figures[0] += time.perf_counter() - wall
    figures[1] += time.process_time() - cpu
    figures[2] += _CLOCK.compile - spent
    figures[3] += 1


def pytest_sessionfinish(session) -> None:
    if _CLOCK.files:
        document = {"files": _CLOCK.files, "compiled": _CLOCK.compiled}
        (folder() / f"{_worker()}.json").write_text(json.dumps(document))


def pytest_terminal_summary(terminalreporter) -> None:
    if _worker() == "main":
        terminalreporter.write_line("")
        try:
            lines = report(read(), top())
        except Unreadable as problem:
            lines = [f"suite_time: {problem}"]
        for line in lines:
            terminalreporter.write_line(line)


def read() -> dict[str, dict]:
    """Each process's figures of the last run, by worker."""
    workers = {}
    for path in sorted(folder().glob("*.json")):
        try:
            document = json.loads(path.read_text())
            files = document["files"]
            if not isinstance(document["compiled"], int) or not all(
                    isinstance(f, list) and len(f) == 4 for f in files.values()):
                raise ValueError("figures of the wrong shape")
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as problem:
            raise Unreadable(f"{path}: not a worker's figures ({problem})") from None
        workers[path.stem] = document
    return workers


def report(workers: dict[str, dict], top: int = 25) -> list[str]:
    """The totals, each worker's, then the ``top`` files (or tests) by wall time."""
    files: dict[str, list] = {}
    for document in workers.values():
        for key, figures in document["files"].items():
            files[key] = [a + b for a, b in zip(files.get(key, [0.0, 0.0, 0.0, 0]), figures)]
    total = [sum(f[i] for f in files.values()) for i in range(4)]
    compiled = sum(d["compiled"] for d in workers.values())
    lines = [f"test files: wall {total[0]:.1f} s, worker CPU {total[1]:.1f} s, numba compiles "
             f"{total[2]:.1f} s ({compiled} compiled, {total[3]} tests)"]
    for name, document in workers.items():
        wall = sum(f[0] for f in document["files"].values())
        lines.append(f"  {name}: wall {wall:.1f} s, {len(document['files'])} files")
    lines.append(f"{'wall':>7} {'CPU':>7} {'compile':>7} {'tests':>5}  file")
    for key, (wall, cpu, spent, tests) in sorted(files.items(), key=lambda kv: -kv[1][0])[:top]:
        lines.append(f"{wall:7.1f} {cpu:7.1f} {spent:7.1f} {tests:5d}  {key}")
    return lines


if __name__ == "__main__":
    import sys

    try:
        print("\n".join(report(read(), top())))
    except Unreadable as problem:
        print(f"suite_time: {problem}", file=sys.stderr)
        sys.exit(2)
