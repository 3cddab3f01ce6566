"""The CUDA path: the re-check, the verify command and sweeps on a GPU give the CPU's answers.
Every test here skips, saying why, where torch or a CUDA GPU is missing."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch is not installed (pip install 'sheetopt[torch]')")
pytestmark = pytest.mark.skipif(not torch.cuda.is_available(),
                                reason=f"no CUDA GPU visible to torch {torch.__version__}")

from benchmark_cases import benchmark  # noqa: E402
from sheetopt import cli
from sheetopt.protocol import engine  # noqa: E402
from sheetopt.spec import load  # noqa: E402
from sheetopt.sweeps import sweep  # noqa: E402
from sheetopt.verification.recheck import recheck  # noqa: E402


def test_recheck_on_cuda_passes_every_sheet():
    spec = load("lecture-vs-torch")
    for sheet in spec.sheets:
        differences = recheck(spec, sheet, engine.run(spec, sheet), torch.device("cuda"))
        assert all(d.ok for d in differences), [d for d in differences if not d.ok]


def test_verify_command_on_cuda(capsys):
    assert cli.main(["verify", "lesson5", "--device", "cuda"]) == 0
    assert "device cuda" in capsys.readouterr().out


@pytest.mark.parametrize("dtype,rtol", [("float64", 1e-12), ("float32", 1e-3)])
def test_sweep_on_cuda_equals_numpy_engine(dtype, rtol):
    spec = load("lesson5")
    sheet = spec.sheet("adam")
    grid = sweep.make_grid(sheet, {"lr": sweep.parse_range("1e-3:10:16", "--lr", True),
                                   "mom": sweep.parse_range("0.5,0.9", "--mom")})
    on_cpu = sweep.run_sweep(spec, sheet, grid, "numpy")
    on_gpu = sweep.run_sweep(spec, sheet, grid, "torch", "cuda", dtype)
    assert on_gpu.device.startswith("cuda")
    np.testing.assert_allclose(on_gpu.final_loss, on_cpu.final_loss, rtol=rtol)


def test_sweep_backend_auto_runs_torch_on_the_gpu(capsys):
    import json

    assert cli.main(["sweep", "lesson5", "--sheet", "adam", "--lr", "0.1,1", "--format",
                     "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["backend"] == "torch" and document["device"].startswith("cuda")


def test_full_batch_recheck_on_cuda_sums_rows_in_the_engines_order():
    # the case benchmarks/sweep.py times, on 2,000 rows (the GPU adds them column by column)
    spec = benchmark("sweep").large_full_batch_spec(2_000)
    sheet = spec.sheet("adam")
    differences = recheck(spec, sheet, engine.run(spec, sheet), torch.device("cuda"))
    assert all(d.ok for d in differences), [d for d in differences if not d.ok]
