"""Sweeps: the torch backend equals the numpy engine configuration by configuration, each
configuration equals a single run of the sheet, bad input is refused in one line, and sheetopt
runs without torch."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch is not installed (pip install 'sheetopt[torch]')")

from conftest import options_id  # noqa: E402
from sheetopt import cli
from sheetopt.protocol import engine, memory  # noqa: E402
from sheetopt.errors import SheetoptError  # noqa: E402
from sheetopt.spec import load  # noqa: E402
from sheetopt.sweeps import sweep  # noqa: E402


def _grid(spec, sheet_name, lr, **others):
    ranges = {"lr": sweep.parse_range(lr, "--lr", log=True)}
    ranges.update({k: sweep.parse_range(v, k) for k, v in others.items()})
    return sweep.make_grid(spec.sheet(sheet_name), ranges)


def test_parse_range_linear_log_and_lists():
    assert np.allclose(sweep.parse_range("1e-3:10:5", "--lr", True).values(),
                       [1e-3, 1e-2, 1e-1, 1, 10], rtol=1e-14)
    assert np.allclose(sweep.parse_range("0.5:0.9:3", "--mom").values(), [0.5, 0.7, 0.9])
    assert sweep.parse_range("0.8,0.9", "--mom").values().tolist() == [0.8, 0.9]


PER_CONFIGURATION = [
    ("momentum", "1e-5:1e-2:8", {"mom": "0.5,0.9"}),  # the larger rates diverge
    # up to lr 10: above it Adam on this data is chaotic, and torch's vectorized pow (for the
    # bias corrections' beta^t) is a last bit away from the C library's for some beta and t on
    # some CPUs, a difference such a run grows past 1e-12 within 145 steps
    ("adam", "1e-3:10:9", {"mom": "0.5,0.9", "sqr_mom": "0.9,0.99"}),
    ("rmsprop", "1e-3:10:8", {"sqr_mom": "0.8,0.95"}),
    ("adam_ann", "1e-2:10:6", {"sqr_mom": "0.8,0.95"}),  # lr annealed between epochs
]


@pytest.mark.parametrize("sheet_name,lr,others", PER_CONFIGURATION, ids=[
    options_id(name, {"lr": lr, **others}) for name, lr, others in PER_CONFIGURATION])
def test_torch_backend_equals_numpy_engine_per_configuration(sheet_name, lr, others):
    spec = load("lesson5")
    sheet = spec.sheet(sheet_name)
    grid = _grid(spec, sheet_name, lr, **others)
    numpy_result = sweep.run_sweep(spec, sheet, grid, "numpy")
    torch_result = sweep.run_sweep(spec, sheet, grid, "torch", "cpu", "float64")
    if sheet_name == "momentum":
        assert (numpy_result.diverged_at > 0).any() and (numpy_result.diverged_at == 0).any()
    np.testing.assert_array_equal(numpy_result.diverged_at, torch_result.diverged_at)
    np.testing.assert_allclose(torch_result.final_loss, numpy_result.final_loss, rtol=1e-12)
    assert numpy_result.best == torch_result.best


def test_each_configuration_equals_a_single_run_of_the_sheet():
    spec = load("lesson5")
    sheet = spec.sheet("momentum")
    grid = _grid(spec, "momentum", "1e-5:1e-3:4", mom="0.5,0.9")
    result = sweep.run_sweep(spec, sheet, grid, "torch", "cpu")
    for i in range(len(result.final_loss)):
        single = engine.run(spec, sheet.with_hypers(lr=grid["lr"][i], mom=grid["mom"][i]))
        if single.diverged_at:
            assert tuple(result.diverged_at[i]) == single.diverged_at
            assert np.isnan(result.final_loss[i])
        else:
            assert result.final_loss[i] == pytest.approx(single.epochs["rmse"][-1], rel=1e-12)
            assert result.params[i].tolist() == pytest.approx(list(single.final().values()),
                                                              rel=1e-12)


def test_float32_sweep_is_close_to_float64():
    spec = load("lesson5")
    grid = _grid(spec, "adam", "1e-2:1:5")
    f64 = sweep.run_sweep(spec, spec.sheet("adam"), grid, "torch", "cpu", "float64")
    f32 = sweep.run_sweep(spec, spec.sheet("adam"), grid, "torch", "cpu", "float32")
    np.testing.assert_allclose(f32.final_loss, f64.final_loss, rtol=1e-3)


def test_sweep_command_table_best_and_plot(tmp_path, capsys):
    plot = tmp_path / "lr.png"
    assert cli.main(["sweep", "lesson5", "--sheet", "basic", "--lr", "1e-5:1e-2:8", "--log",
                     "--plot", str(plot)]) == 0
    out = capsys.readouterr().out
    assert "8 configurations" in out and "DIVERGED at e1" in out
    assert "best: config 1: lr=1e-05" in out  # lecture-reset basic sheet: smallest lr is best
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_sweep_command_csv_and_json(capsys):
    import json

    assert cli.main(["sweep", "lesson5", "--sheet", "adam", "--lr", "0.1,1", "--mom", "0.9",
                     "--backend", "torch", "--format", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert [c["lr"] for c in document["configurations"]] == [0.1, 1.0]
    assert document["best"]["config"] in (1, 2)
    assert (document["backend"], document["device"], document["dtype"]) == ("torch", "cpu",
                                                                             "float64")
    assert cli.main(["sweep", "lesson5", "--sheet", "adam", "--lr", "0.1,1", "--backend", "torch",
                     "--device", "cpu", "--dtype", "float32", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["dtype"] == "float32"
    assert cli.main(["sweep", "lesson5", "--sheet", "adam", "--lr", "0.1,1", "--backend", "numpy",
                     "--format", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert (document["backend"], document["device"], document["dtype"]) == ("numpy", "cpu",
                                                                             "float64")
    assert document["executor"] in ("compiled", "numpy")
    assert cli.main(["sweep", "lesson5", "--sheet", "adam", "--lr", "0.1,1", "--format",
                     "csv"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "config,lr,final_rmse,a,b,diverged_epoch,diverged_step" and len(lines) == 3


@pytest.mark.parametrize("args,message", [
    (["--lr", "0:1:5", "--log"], "a log-scale range needs START and STOP > 0"),
    (["--lr", "1e-3:1:0"], "the range is empty"),
    (["--lr=-1,0.1"], "every learning rate must be > 0"),
    (["--lr", "1e-3:1:x"], "expected START:STOP:N"),
    (["--lr", "1e-6:1:200000000000", "--log"], "would need about"),
    (["--lr", "0.1", "--mom", "1.2"], "--mom: values must be in [0, 1)"),
    (["--lr", "0.1", "--dtype", "float32"], "--dtype float32 is for --backend torch"),
    # values that start with '-' reach the command's own checks, not argparse's usage message
    (["--lr", "-1:1:5", "--log"], "a log-scale range needs START and STOP > 0"),
    (["--lr", "-1e-3,0.1"], "every learning rate must be > 0"),
    (["--lr", "0.1", "--mom", "-0.5:0.9:3"], "--mom: values must be in [0, 1)"),
    (["--lr", "0.1", "--sqr-mom", "-.5"], "--sqr-mom: values must be in [0, 1)"),
    (["--lr", "-inf:1:3"], "values must be finite"),
    (["--lr", "0.1", "--backend", "numpy", "--device", "cuda"],
     "--backend numpy runs on the CPU; --device cuda needs --backend torch (or auto)"),
])
def test_sweep_bad_input_is_one_line_and_exit_2(args, message, capsys):
    assert cli.main(["sweep", "lesson5", "--sheet", "adam", *args]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_verify_tolerance_starting_with_minus_is_answered_in_one_line(capsys):
    assert cli.main(["verify", "lesson5", "--tol", "-1e-3"]) == 2
    err = capsys.readouterr().err
    assert "--tol must be a number >= 0 (got -0.001)" in err and err.count("\n") == 1


def test_nesterov_sweep_refuses_a_momentum_of_zero(capsys):
    # torch.optim.SGD refuses nesterov without momentum; so does the spec, and so the grid
    command = ["sweep", "lecture-vs-torch", "--sheet", "torch_sgd_nesterov", "--lr", "1e-4"]
    assert cli.main([*command, "--mom", "0,0.9"]) == 2
    err = capsys.readouterr().err
    assert err == ("sheetopt sweep: error: --mom: sheet 'torch_sgd_nesterov' uses nesterov, "
                   "which needs mom > 0 (as torch.optim.SGD does); got 0\n")
    assert cli.main([*command, "--mom", "0.5,0.9"]) == 0


SWEPT = [
    # a spec mom of 0 has no momentum buffer; swept values above 0 need one
    ({"optimizer": "sgd", "lr": 1e-4, "dampening": 0.3}, {"mom": "0,0.5,0.9"}),
    ({"optimizer": "rmsprop", "lr": 1e-2, "centered": True}, {"mom": "0,0.5", "sqr_mom": "0.3,0.9"}),
    # torch's lerp takes its other formula for beta1 <= 0.5
    ({"optimizer": "adam", "lr": 0.1, "amsgrad": True}, {"mom": "0.3,0.9"}),
]


@pytest.mark.parametrize("backend", ["numpy", "torch"])
@pytest.mark.parametrize("sheet,swept", SWEPT, ids=[
    options_id(sheet["optimizer"], {**{k: v for k, v in sheet.items() if k != "optimizer"},
                                    **{f"swept {k}": v for k, v in swept.items()}})
    for sheet, swept in SWEPT])
def test_each_swept_configuration_equals_a_run_of_the_sheet_with_its_values(sheet, swept,
                                                                            backend):
    from sheetopt.spec import parse

    spec = parse({"data": {"preset": "lecture"}, "model": {"kind": "linear"},
                  "sheet": [{"name": "s", "flavor": "torch", "epochs": 2, **sheet}]})
    base = spec.sheets[0]
    grid = sweep.make_grid(base, {"lr": sweep.parse_range(str(sheet["lr"]), "--lr"),
                                  **{k: sweep.parse_range(v, k) for k, v in swept.items()}})
    result = sweep.run_sweep(spec, base, grid, backend, "cpu")
    for i in range(len(result.final_loss)):
        values = {k: float(v[i]) for k, v in grid.items()}
        single = engine.run(spec, base.with_hypers(**values))
        assert single.diverged_at is None
        assert result.final_loss[i] == pytest.approx(single.epochs["rmse"][-1], rel=1e-12, abs=0)
        assert result.params[i].tolist() == pytest.approx(list(single.final().values()),
                                                          rel=1e-12, abs=0)


def test_sweep_memory_refusal_at_the_threshold(monkeypatch, capsys):
    spec = load("lesson5")
    sheet = spec.sheet("adam")
    configs = 1_000_000
    need = (sweep.estimate_bytes(spec, sheet, configs, "numpy", 8, "compiled")
            + sweep.fixed_bytes(spec, sheet))
    enough = int(need / memory.SHARE) + 1024
    sweep.check_memory(spec, sheet, configs, "numpy", 8, free=enough)  # just fits
    with pytest.raises(SheetoptError, match=r"a sweep of 1,000,000 configurations would need "
                                            r"about .* this machine has .* free"):
        sweep.check_memory(spec, sheet, configs, "numpy", 8, free=enough - 2048)
    # the command asks the same question of the machine's figure
    monkeypatch.setattr(sweep, "_executor", lambda *args: "compiled")
    monkeypatch.setattr(memory, "limit", lambda: (enough - 2048, "this machine has {} available"))
    assert cli.main(["sweep", "lesson5", "--sheet", "adam", "--backend", "numpy", "--lr",
                     "1e-3:1:1000", "--mom", "0.1:0.9:1000", "--log"]) == 2
    err = capsys.readouterr().err
    assert "would need about" in err and err.count("\n") == 1


def test_sweep_memory_estimate_counts_what_grows_with_the_sweep():
    spec = load("lesson5")
    adam, basic = spec.sheet("adam"), spec.sheet("basic")
    size = lambda sheet, **kw: sweep.estimate_bytes(spec, sheet, 1000, **kw)  # noqa: E731
    assert size(adam) > size(basic)  # two averages per parameter
    assert size(adam.__class__(**{**adam.__dict__, "epochs": 50})) > size(adam)
    full = adam.__class__(**{**adam.__dict__, "batch_size": 29})
    # the torch backend holds a batch's rows at once, (configurations, rows) tensors
    assert (size(full, backend="torch") - size(adam, backend="torch")
            >= 1000 * 8 * 29 * (1 + len(spec.model.params)))  # rows x (parameters + loss)
    assert size(adam, backend="torch", itemsize=4) < size(adam, backend="torch", itemsize=8)
    assert sweep.estimate_bytes(spec, adam, 2000) == 2 * size(adam)


@pytest.mark.parametrize("backend,device,visible,expected", [
    ("auto", "auto", True, ("torch", "cuda")),
    ("auto", "auto", False, ("numpy", "cpu")),
    ("auto", "cpu", True, ("numpy", "cpu")),
    ("auto", "cuda", True, ("torch", "cuda")),
    ("torch", "auto", True, ("torch", "cuda")),
    ("torch", "auto", False, ("torch", "cpu")),
    ("numpy", "auto", True, ("numpy", "cpu")),
])
def test_backend_auto_picks_torch_on_a_visible_gpu_else_numpy(backend, device, visible,
                                                             expected, monkeypatch):
    from sheetopt.executors.torch import device as devices

    monkeypatch.setattr(devices, "cuda_available", lambda: visible)
    assert sweep.resolve_backend(backend, device) == expected


def test_sweep_command_runs_torch_where_auto_finds_a_gpu(monkeypatch, capsys):
    from sheetopt.executors.torch import device as devices

    asked = []
    monkeypatch.setattr(devices, "cuda_available", lambda: True)
    monkeypatch.setattr(devices, "pick_device", lambda name: asked.append(name) or
                        torch.device("cpu"))  # stands in for the GPU
    monkeypatch.setattr(sweep, "available_bytes", lambda device=None: 1 << 40)
    assert cli.main(["sweep", "lesson5", "--sheet", "adam", "--lr", "0.1,1"]) == 0
    assert asked == ["cuda"] and "[torch, cpu, float64]" in capsys.readouterr().out
    monkeypatch.setattr(devices, "cuda_available", lambda: False)
    assert cli.main(["sweep", "lesson5", "--sheet", "adam", "--lr", "0.1,1"]) == 0
    assert "[numpy engine, " in capsys.readouterr().out and asked == ["cuda"]


def test_best_setting_names_every_swept_value():
    spec = load("lesson5")
    sheet = spec.sheet("adam")
    grid = sweep.make_grid(sheet, {"lr": sweep.parse_range("0.1,1", "--lr"),
                                   "mom": sweep.parse_range("0.5,0.9", "--mom"),
                                   "sqr_mom": sweep.parse_range("0.9", "--sqr-mom")})
    result = sweep.run_sweep(spec, sheet, grid, "numpy")
    best = result.best
    assert sweep.best_setting(result) == (f"lr={grid['lr'][best]:g}, mom={grid['mom'][best]:g}, "
                                          f"sqr_mom=0.9")


def test_broken_torch_install_gets_the_install_hint(monkeypatch):
    import importlib

    from sheetopt.executors.torch import device

    real = importlib.import_module

    def failing(name, *args):
        if name == "torch":
            raise OSError("libtorch_cpu.so: cannot open shared object file\nmore detail")
        return real(name, *args)

    monkeypatch.setattr(importlib, "import_module", failing)
    with pytest.raises(SheetoptError) as caught:
        device.require_torch()
    message = str(caught.value)
    assert "\n" not in message and "OSError: libtorch_cpu.so" in message
    assert message.endswith("pip install 'sheetopt[torch]'")


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA GPU is present")
@pytest.mark.parametrize("command", [
    ["sweep", "lesson5", "--sheet", "adam", "--lr", "0.1", "--backend", "torch"],
    ["sweep", "lesson5", "--sheet", "adam", "--lr", "0.1"],
    ["verify", "lesson5"],
])
def test_cuda_without_a_gpu_is_refused(command, capsys):
    assert cli.main([*command, "--device", "cuda"]) == 2
    assert "no CUDA GPU is available" in capsys.readouterr().err


def _without_torch(code: str) -> subprocess.CompletedProcess:
    """Runs ``code`` in a fresh interpreter where importing torch fails, as if not installed."""
    blocker = "import sys; sys.modules['torch'] = None\n"
    return subprocess.run([sys.executable, "-c", blocker + code], capture_output=True, text=True)


def test_sheetopt_works_without_torch_and_torch_commands_say_how_to_install():
    done = _without_torch("from sheetopt import cli; import sys\n"
                          "code = cli.main(['compare', 'lesson5'])\n"
                          "assert code == 0 and sys.modules['torch'] is None\n"
                          "code = cli.main(['sweep', 'lesson5', '--sheet', 'adam', '--lr', '0.1'])\n"
                          "assert code == 0, 'the numpy sweep needs no torch'\n"
                          "sys.exit(cli.main(['verify', 'lesson5']))")
    assert done.returncode == 2, done.stderr
    assert "Lesson 5" in done.stdout
    assert done.stderr.strip().splitlines() == [
        "sheetopt verify: error: this command needs torch, which is not installed: pip install "
        "torch==2.13.0 (the CPU build), then pip install 'sheetopt[torch]'"]


def test_too_old_torch_is_refused(monkeypatch):
    from sheetopt.executors.torch import device

    monkeypatch.setattr(torch, "__version__", "2.0.1")  # pyproject.toml asks for torch>=2.1
    with pytest.raises(SheetoptError, match=r"torch 2\.0\.1 is too old \(sheetopt needs 2\.1 "
                                            r"or later\).* pip install torch=="):
        device.require_torch()
