"""The batch plan (five numbers; each epoch's order drawn when walked) gives the runs it gave as
one index array per step; memory estimates respect the process's own limits."""
from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

from sheetopt.executors import compiled
from sheetopt.protocol import engine, memory
from sheetopt.spec import parse


def old_plan(n_rows, size, epochs, shuffle, seed):
    """The plan as it was written before: every step's row indices, epoch by epoch."""
    rng = np.random.default_rng(seed)
    plan = []
    for _ in range(epochs):
        order = rng.permutation(n_rows) if shuffle else np.arange(n_rows)
        plan.append([order[i:i + size] for i in range(0, n_rows, size)])
    return plan


@pytest.mark.parametrize("rows, size, epochs, shuffle", [
    (29, 1, 3, False), (29, 1, 4, True), (29, 7, 5, True), (30, 7, 2, False), (29, 29, 3, True),
    (1, 1, 3, True)])
def test_the_plan_walks_the_rows_the_step_arrays_did(rows, size, epochs, shuffle):
    plan = engine.batches(rows, size, epochs, shuffle, seed=3)
    old = old_plan(rows, size, epochs, shuffle, seed=3)
    assert plan.steps == sum(len(e) for e in old) and plan.epochs == len(old)
    assert [[b.tolist() for b in e] for e in plan] == [[b.tolist() for b in e] for e in old]
    bounds = plan.bounds()
    assert bounds[0] == 0 and bounds[-1] == rows and len(bounds) == plan.steps_per_epoch + 1


def test_the_plan_takes_the_memory_of_one_epoch_whatever_the_epochs():
    assert (engine.batches(1000, 7, 1, True, 0).nbytes
            == engine.batches(1000, 7, 100_000, True, 0).nbytes < 20_000)


SHEETS = [
    {"optimizer": "adam", "flavor": "torch", "lr": 0.1, "batch": 7, "shuffle": True, "seed": 2},
    {"optimizer": "rmsprop", "flavor": "torch", "lr": 0.01, "shuffle": True},
    {"optimizer": "sgd", "flavor": "torch", "lr": 1e-4, "mom": 0.9, "batch": "full"},
    {"optimizer": "adam_ann", "lr": 0.5},  # lr anneals between epochs: one epoch a call
    {"optimizer": "adam", "flavor": "torch", "lr": 0.05, "batch": 4,
     "schedule": {"kind": "one_cycle"}},
]


@pytest.mark.skipif(not compiled.available(), reason="numba is not installed")
@pytest.mark.parametrize("sheet", SHEETS, ids=lambda s: f"{s['optimizer']}-{s.get('batch', 1)}")
def test_many_epochs_per_kernel_call_give_the_numpy_executors_trace(sheet, monkeypatch):
    spec = parse({"data": {"preset": "lecture"}, "model": {"kind": "linear"},
                  "sheet": [{"name": "s", "epochs": 40, **sheet}]})
    sheet = spec.sheets[0]
    monkeypatch.setenv("SHEETOPT_EXECUTOR", "compiled")  # a small job: numpy's by size
    fast = engine.run(spec, sheet)  # several epochs per kernel call
    monkeypatch.setattr(compiled, "TABLE_CELLS", 1)  # one epoch per call
    one_by_one = engine.run(spec, sheet)
    monkeypatch.setenv("SHEETOPT_EXECUTOR", "numpy")
    slow = engine.run(spec, sheet)
    for other in (one_by_one, slow):
        for table in ("steps", "rows", "epochs"):
            mine, theirs = getattr(fast, table), getattr(other, table)
            assert mine.keys() == theirs.keys()
            for key in mine:
                assert np.array_equal(mine[key], theirs[key], equal_nan=True), (table, key)
    # each epoch visits the rows in the order the old plan drew
    old = old_plan(len(spec.data), sheet.batch_size, sheet.epochs, sheet.shuffle, sheet.seed)
    assert fast.rows["row"].astype(int).tolist() == [int(r) + 1 for e in old for b in e
                                                     for r in b]


def test_cgroup_limits_v2_and_v1_are_read_up_the_tree(tmp_path):
    leaf = tmp_path / "a" / "b"
    leaf.mkdir(parents=True)
    (leaf / "memory.max").write_text("max\n")
    (leaf / "memory.current").write_text("100\n")
    (tmp_path / "a" / "memory.max").write_text(str(10 << 20))
    (tmp_path / "a" / "memory.current").write_text(str(4 << 20))
    (tmp_path / "a" / "memory.stat").write_text(f"anon 5\ninactive_file {1 << 20}\n")
    assert memory.cgroup_room(tmp_path, "0::/a/b\n") == 7 << 20  # 10 - 4 + 1 reclaimable
    v1 = tmp_path / "memory" / "job"
    v1.mkdir(parents=True)
    (v1 / "memory.limit_in_bytes").write_text(str(3 << 30))
    (v1 / "memory.usage_in_bytes").write_text(str(1 << 30))
    (tmp_path / "memory" / "memory.limit_in_bytes").write_text("9223372036854771712")
    (tmp_path / "memory" / "memory.usage_in_bytes").write_text("5")
    assert memory.cgroup_room(tmp_path, "4:memory:/job\n1:cpu:/\n") == 2 << 30
    assert memory.cgroup_room(tmp_path, "4:cpu:/\n") is None


LIMITED = textwrap.dedent("""
    import resource, sys
    from sheetopt import cli
    from sheetopt.protocol import memory
    used = memory._status_kib("VmSize") * 1024
    resource.setrlimit(resource.RLIMIT_AS, (used + (768 << 20), resource.RLIM_INFINITY))
    sys.exit(cli.main(sys.argv[1:]))
""")


def limited(tmp_path, data: str, epochs: int, command: str = "trace"):
    path = tmp_path / "spec.toml"
    path.write_text(f"[data]\n{data}\ntrue = {{ a = 2.0, b = 30.0 }}\n[[sheet]]\n"
                    f'optimizer = "adam"\nlr = 0.1\nepochs = {epochs}\n')
    out = ["-o", str(tmp_path / "out.csv")] if command == "trace" else []
    return subprocess.run([sys.executable, "-c", LIMITED, command, str(path), *out],
                          capture_output=True, text=True, timeout=120)


def refused(done) -> str:
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert "this process's address-space limit (RLIMIT_AS, ulimit -v) leaves" in done.stderr
    return done.stderr.rstrip()


def test_a_run_beyond_the_address_space_limit_is_refused_before_it_starts(tmp_path):
    text = refused(limited(tmp_path, "rows = 29", 2_000_000))
    assert "sheet 'adam' (2,000,000 epochs of 29 rows, every step recorded) would need" in text
    assert text.endswith("use fewer epochs (now 2,000,000)")
    assert refused(limited(tmp_path, "rows = 3000000", 1)).endswith(
        "use fewer rows (now 3,000,000)")
    text = refused(limited(tmp_path, "rows = 29", 2_000_000, "compare"))
    assert text.endswith("use fewer epochs (now 2,000,000)")
    assert not (tmp_path / "out.csv").exists()
    fits = limited(tmp_path, "rows = 29", 5)  # the same limit lets a small run through
    assert fits.returncode == 0, fits.stderr
