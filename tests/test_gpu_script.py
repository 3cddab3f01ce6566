"""benchmarks/gpu.py, the prepared GPU run, rehearsed on the CPU at its smallest sizes: every stage
runs in its own process and writes its figures as JSON, each labelled a CPU rehearsal; a stage
that overruns its limit is reported and the next still runs. So the script cannot rot between
the rare runs on a GPU (docs/gpu.md)."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from benchmark_cases import BENCHMARKS, benchmark

torch = pytest.importorskip("torch")
gpu = benchmark("gpu")


def rehearse(out, *extra: str) -> tuple[int, str, dict]:
    done = subprocess.run([sys.executable, str(BENCHMARKS / "gpu.py"), "--rehearse-on-cpu",
                           "--quick", "--out", str(out), *extra],
                          capture_output=True, text=True, timeout=900)
    summary = json.loads((out / "summary.json").read_text())
    return done.returncode, done.stdout + done.stderr, summary


@pytest.fixture(scope="module")
def rehearsal(tmp_path_factory):
    out = tmp_path_factory.mktemp("gpu")
    return (out, *rehearse(out))


def test_every_stage_runs_and_says_it_is_a_cpu_rehearsal(rehearsal):
    out, code, printed, summary = rehearsal
    assert code == 0, printed
    assert set(summary["stages"]) == set(gpu.STAGES)
    assert {s["status"] for s in summary["stages"].values()} == {"ok"}, summary
    assert summary["rehearsal"] is True and summary["device"] == "cpu"
    assert printed.splitlines()[0].startswith("sheetopt CPU REHEARSAL (every figure is a CPU "
                                              "figure, none is a GPU figure)")
    assert printed.rstrip().endswith("(CPU REHEARSAL: no GPU figure here) ===")
    for stage in gpu.STAGES:  # every file of figures carries the label too
        document = json.loads((out / f"{stage}.json").read_text())
        assert document["rehearsal"] is True and "CPU REHEARSAL" in document["label"]
        assert (out / f"{stage}.log").stat().st_size > 0


def test_the_checks_hold_on_the_cpu(rehearsal):
    stages = rehearsal[3]["stages"]
    verify = stages["verify"]["figures"]["lesson5"]
    assert verify["ok"] and verify["device"] == "cpu"
    assert 0 <= verify["worst"]["re-check"]["max_rel"] <= 1e-12
    suite = stages["suite"]["figures"]
    assert suite["complete"] and suite["ok"]
    # the CUDA-only paths are not asked for on the CPU; the registry's all run
    assert suite["paths"] == ["loop", "foreach", "fused"]
    assert suite["per_path"]["loop"]["runs"] > 0 and suite["per_path"]["loop"]["max_rel"] <= 1e-12
    assert {r["optimizer"] for r in suite["rows"]} == {"sgd", "adam"}
    recheck = stages["recheck"]["figures"]
    assert recheck["steps"] == 500 and recheck["devices"]["cpu"]["ok"]
    tests = stages["tests"]["figures"]
    if not torch.cuda.is_available():  # the CUDA tests are collected and say why they skip
        skipped = [t for t in tests["tests"] if t["outcome"] == "skipped"]
        assert len(skipped) >= 7 and all("no CUDA GPU" in t["message"] for t in skipped)
    assert tests["counts"]["failed"] == tests["counts"]["error"] == 0


def test_the_sweep_compares_torch_with_the_compiled_engine(rehearsal):
    rows = rehearsal[3]["stages"]["sweep"]["figures"]["rows"]
    assert [r["path"] for r in rows] == list(gpu.sweep_paths(gpu.QUICK))
    engine, float64, float32 = rows
    assert engine["path"] == "compiled CPU engine" and engine["vs_cpu_engine"] == 1.0
    assert float64["device"] == float32["device"] == "cpu"
    assert float64["params_max_rel"] <= 1e-12 and float64["finite_mismatches"] == 0
    assert 0 < float32["params_max_rel"] <= 1e-3
    for row in rows:
        assert row["configs"] == 1000 and row["steps"] == 29 * row["epochs"]
        assert row["config_steps_per_s"] == pytest.approx(
            row["configs"] * row["steps"] / row["seconds"])


def test_a_stage_past_its_limit_is_reported_and_the_next_still_runs(tmp_path):
    code, printed, summary = rehearse(tmp_path, "--stages", "verify,recheck",
                                      "--limit", "verify=0.5")
    assert code == 1
    assert summary["stages"]["verify"]["status"] == "timed out after 0.5 s"
    assert summary["stages"]["recheck"]["status"] == "ok"
    assert summary["stages"]["recheck"]["figures"]["devices"]["cpu"]["ok"]
    assert "NOT ALL HELD" in printed


def test_the_wheels_are_what_a_gpu_machine_lacks():
    wanted = gpu.wheel_requirements()
    names = {w.split(">")[0].split("=")[0].lower() for w in wanted}
    assert {"xlsxwriter", "openpyxl", "pytest"} <= names
    assert not names & {"numpy", "pandas", "torch", "numba"}
    assert all(";" not in w for w in wanted)
