"""Ctrl-C: from Python a plain KeyboardInterrupt raised from the function that was called (not a
traceback through numba, numpy or pandas), also while the compiled kernel runs; from the command
line one line and exit status 130; no partial or temporary file either way."""
from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

pytest.importorskip("numba")

SPEC = """
[data]
rows = {rows}
x = "uniform"
true = {{ a = 2.0, b = 30.0 }}
[model]
kind = "linear"
[[sheet]]
name = "adam"
optimizer = "adam"
flavor = "torch"
lr = 0.01
epochs = {epochs}
"""

PYTHON = textwrap.dedent('''
    import sys, numpy as np, sheetopt
    SPEC = {spec!r}
    small = sheetopt.Spec.from_toml(SPEC.format(rows=10, epochs=1))
    big = sheetopt.Spec.from_toml(SPEC.format(rows={rows}, epochs={epochs}))
    lrs = np.geomspace(1e-4, 1e-2, 8)
    {warm}                          # compiles the kernel the long call runs
    print("ready", flush=True)
    {call}
    print("finished", flush=True)
''')


def interrupt(argv, folder: Path, ready, after: float = 2.0):
    """Starts ``argv`` in ``folder``, sends SIGINT ``after`` seconds once ``ready(process)``
    holds, and returns (exit status, stdout, stderr, seconds from SIGINT to exit)."""
    # a shell's background job ignores SIGINT and its children inherit that: undo it, as a
    # terminal's foreground process has it
    process = subprocess.Popen(argv, cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 300
    while not ready(process):
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the run never got going"
        time.sleep(0.01)
    time.sleep(after)
    assert process.poll() is None, "finished before it could be interrupted"
    process.send_signal(signal.SIGINT)
    sent = time.monotonic()
    out, err = process.communicate(timeout=120)
    return process.returncode, out, err, time.monotonic() - sent


def said_ready(process) -> bool:
    return process.stdout.readline().strip() == "ready"


def assert_plain(err: str, called: str) -> None:
    lines = err.strip().splitlines()
    assert lines[0] == "Traceback (most recent call last):" and lines[-1] == "KeyboardInterrupt"
    assert len(lines) <= 8, err  # the caller's line, then the public function's
    assert f"in {called}" in err or "in interruptible" in err, err
    for deep in ("numba", "compiled", "engine.py", "numpy", "pandas", "During handling"):
        assert deep not in err, err


def test_ctrl_c_in_the_compiled_kernel_is_a_plain_keyboard_interrupt(tmp_path):
    """A sweep of 8 configurations x 400 epochs of 100,000 rows takes about a minute, in
    kernel calls of 20 epochs: Ctrl-C stops it within a call."""
    code = PYTHON.format(spec=SPEC, rows=100_000, epochs=400,
                         warm='sheetopt.sweep(small, "adam", lr=lrs)',
                         call='sheetopt.sweep(big, "adam", lr=lrs)')
    status, out, err, took = interrupt([sys.executable, "-c", code], tmp_path, said_ready)
    assert status == -signal.SIGINT, err  # Python's own exit on an uncaught KeyboardInterrupt
    assert "finished" not in out
    assert_plain(err, "sweep")
    assert took < 30


def test_ctrl_c_while_a_workbook_is_written_leaves_no_file(tmp_path):
    code = PYTHON.format(spec=SPEC, rows=200_000, epochs=1, warm="sheetopt.run(small)",
                         call='sheetopt.write_workbook(big, "big.xlsx")')
    status, out, err, _ = interrupt(
        [sys.executable, "-c", code], tmp_path,
        lambda process: list(tmp_path.glob(".big.xlsx.*.part")), after=0.2)
    assert status == -signal.SIGINT, err
    assert_plain(err, "write_workbook")
    assert list(tmp_path.iterdir()) == []


def test_ctrl_c_on_the_command_line_is_one_line_and_exit_130(tmp_path):
    (tmp_path / "big.toml").write_text(SPEC.format(rows=200_000, epochs=1))
    status, out, err, _ = interrupt(
        [sys.executable, "-m", "sheetopt", "workbook", "big.toml", "-o", "big.xlsx"], tmp_path,
        lambda process: list(tmp_path.glob(".big.xlsx.*.part")), after=0.2)
    # 130, or (rarely, when the signal lands inside the interpreter's own code) killed by
    # SIGINT after the cleanup: a shell reports both as status 130
    assert status in (130, -signal.SIGINT) and err == "sheetopt: interrupted\n", (status, err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.toml"]


def test_sigterm_in_a_callback_from_c_is_held_until_the_compile_ends(recwarn):
    """LLVM calls back into Python while a kernel compiles (llvmlite's object cache), and Python
    prints and drops an exception raised there: SIGTERM landing in that callback let a killed
    ``sheetopt workbook`` write its workbook (tests/test_bad_input.py saw it, under load).
    Within interrupt_kept, which wraps a kernel's first call, the program's SIGTERM is held and
    raised as Terminated when the block ends."""
    import ctypes
    import os

    from sheetopt.errors import Terminated, interrupt_kept, raise_terminated

    unraisable = []
    hook, sys.unraisablehook = sys.unraisablehook, unraisable.append
    previous = signal.signal(signal.SIGTERM, raise_terminated)
    kill = ctypes.CFUNCTYPE(None)(lambda: os.kill(os.getpid(), signal.SIGTERM))
    try:
        kill()  # outside the block: raised in the callback, dropped
        assert [type(u.exc_value) for u in unraisable] == [Terminated]
        ran_on = False
        with pytest.raises(Terminated):
            with interrupt_kept():
                kill()
                ran_on = True
        assert ran_on and len(unraisable) == 1
        assert signal.getsignal(signal.SIGTERM) is raise_terminated
    finally:
        signal.signal(signal.SIGTERM, previous)
        sys.unraisablehook = hook
