"""Every torch-flavour optimizer equals torch.optim itself, over grids of its options.

Each case runs the engine (``engine.run``) and, independently, a plain torch.optim loop written
here: the same rows in the same batches (online, mini-batches of 7 with a short last one, full
batch, and a shuffled case), 3 epochs with the optimizer state carried across them, the gradient
by autograd of the batch's mean squared error. Parameters after every step must agree to 1e-12
relative in float64; the optimizer state, which can shrink toward zero as gradients alternate in
sign, to 1e-12 of the largest size it has had so far (rounding differences of torch's fused
kernels are carried forward, they do not grow).

The full grids run on the engine's numpy executor; the compiled (numba) executor, which the
engine picks for big jobs, runs a corner of each grid with every option switched on.
"""
from __future__ import annotations

import itertools

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch is not installed (pip install 'sheetopt[torch]')")

from conftest import options_id  # noqa: E402
from sheetopt.protocol import engine  # noqa: E402
from sheetopt.spec import parse  # noqa: E402

TOL = 1e-12
EPOCHS = 3
BATCHES = ("online", 7, "full")
DATA = {"preset": "lecture", "true": {"a": 2.0, "b": 30.0}}


def _spec(sheet: dict):
    return parse({"data": DATA, "model": {"kind": "linear"},
                  "sheet": [{"name": "s", "flavor": "torch", "epochs": EPOCHS,
                             "init": {"a": 1.0, "b": 1.0}, **sheet}]})


def _plan(n: int, batch, shuffle: bool, seed: int) -> list[np.ndarray]:
    """Every step's row indices: consecutive slices, of a fresh seeded permutation per epoch
    when shuffled (the documented meaning of batch/shuffle/seed in a spec)."""
    size = 1 if batch == "online" else n if batch == "full" else batch
    rng = np.random.default_rng(seed)
    steps = []
    for _ in range(EPOCHS):
        order = rng.permutation(n) if shuffle else np.arange(n)
        steps += [order[i:i + size] for i in range(0, n, size)]
    return steps


def _torch_loop(make_optimizer, x, y, plan, state_keys):
    weights = torch.tensor([1.0, 1.0], dtype=torch.float64, requires_grad=True)
    optimizer = make_optimizer([weights])
    out = {"new_a": [], "new_b": [], "loss": []}
    out.update({f"{ours}_{p}": [] for ours in state_keys for p in "ab"})
    for rows in plan:
        optimizer.zero_grad()
        xs = torch.tensor(x[rows], dtype=torch.float64)
        ys = torch.tensor(y[rows], dtype=torch.float64)
        loss = ((ys - (weights[0] * xs + weights[1])) ** 2).mean()
        loss.backward()
        optimizer.step()
        out["loss"].append(loss.item())
        out["new_a"].append(weights[0].item())
        out["new_b"].append(weights[1].item())
        for ours, theirs in state_keys.items():
            buffer = optimizer.state[weights][theirs]
            out[f"{ours}_a"].append(buffer[0].item())
            out[f"{ours}_b"].append(buffer[1].item())
    return {k: np.array(v) for k, v in out.items()}


def _assert_same(trace, expected):
    assert len(trace) == len(expected["new_a"])
    for key, want in expected.items():
        got = np.asarray(trace.steps[key])
        size = np.maximum(np.abs(got), np.abs(want))
        if not key.startswith("new_"):
            size = np.maximum(size, np.maximum.accumulate(np.abs(want)))
        gap = np.abs(got - want)
        worst = int(np.argmax(gap / np.where(size > 0, size, 1.0)))
        assert np.all(gap <= TOL * size), (
            f"{key} differs at step {worst + 1}: engine {got[worst]!r}, torch {want[worst]!r}")


@pytest.fixture(autouse=True)
def numpy_executor(request, monkeypatch):
    compiled = request.node.name.startswith("test_compiled_executor")
    monkeypatch.setenv("SHEETOPT_EXECUTOR", "compiled" if compiled else "numpy")


def _case(sheet: dict, make_optimizer, state_keys, batch, shuffle=False):
    spec = _spec({**sheet, "batch": batch, "shuffle": shuffle, "seed": 5})
    trace = engine.run(spec, spec.sheets[0])
    assert trace.diverged_at is None
    plan = _plan(len(spec.data), batch, shuffle, 5)
    expected = _torch_loop(make_optimizer, spec.data.x, spec.data.y, plan, state_keys)
    _assert_same(trace, expected)


SGD_GRID = [(mom, damp, nesterov, wd)
            for mom, damp, nesterov, wd in itertools.product((0.0, 0.9), (0.0, 0.3), (False, True),
                                                              (0.0, 0.01))
            if not (nesterov and (mom == 0 or damp))]  # torch: nesterov needs momentum, no dampening


@pytest.mark.parametrize("batch", BATCHES)
@pytest.mark.parametrize("mom,dampening,nesterov,wd", SGD_GRID)
def test_sgd_matches_torch_optim_sgd(mom, dampening, nesterov, wd, batch):
    sheet = {"optimizer": "sgd", "lr": 1e-4, "mom": mom, "dampening": dampening,
             "nesterov": nesterov, "wd": wd}
    _case(sheet, lambda w: torch.optim.SGD(w, lr=1e-4, momentum=mom, dampening=dampening,
                                           nesterov=nesterov, weight_decay=wd, foreach=False),
          {"mom_buf": "momentum_buffer"} if mom else {}, batch)


RMSPROP_GRID = list(itertools.product((0.9, 0.99), (1e-8, 1e-3), (0.0, 0.5), (False, True),
                                      (0.0, 0.01)))


@pytest.mark.parametrize("batch", BATCHES)
@pytest.mark.parametrize("alpha,eps,mom,centered,wd", RMSPROP_GRID)
def test_rmsprop_matches_torch_optim_rmsprop(alpha, eps, mom, centered, wd, batch):
    sheet = {"optimizer": "rmsprop", "lr": 0.01, "sqr_mom": alpha, "eps": eps, "mom": mom,
             "centered": centered, "wd": wd}
    keys = {"sqr_avg": "square_avg"}
    if centered:
        keys["grad_avg"] = "grad_avg"
    if mom:
        keys["mom_buf"] = "momentum_buffer"
    _case(sheet, lambda w: torch.optim.RMSprop(w, lr=0.01, alpha=alpha, eps=eps, momentum=mom,
                                               centered=centered, weight_decay=wd,
                                               foreach=False), keys, batch)


# beta1 = 0.3 makes torch's lerp_ take its other branch (weight 1 - beta1 >= 0.5)
ADAM_GRID = list(itertools.product(("adam", "adamw"), ((0.9, 0.999), (0.3, 0.9)), (1e-8, 1e-2),
                                   (0.0, 0.05), (False, True)))


@pytest.mark.parametrize("batch", BATCHES)
@pytest.mark.parametrize("kind,betas,eps,wd,amsgrad", ADAM_GRID, ids=[
    options_id(kind, {"betas": betas, "eps": eps, "weight_decay": wd, "amsgrad": amsgrad})
    for kind, betas, eps, wd, amsgrad in ADAM_GRID])
def test_adam_and_adamw_match_torch_optim(kind, betas, eps, wd, amsgrad, batch):
    sheet = {"optimizer": kind, "lr": 0.1, "mom": betas[0], "sqr_mom": betas[1], "eps": eps,
             "wd": wd, "amsgrad": amsgrad}
    keys = {"grad_avg": "exp_avg", "sqr_avg": "exp_avg_sq"}
    if amsgrad:
        keys["max_sqr_avg"] = "max_exp_avg_sq"
    optim = torch.optim.AdamW if kind == "adamw" else torch.optim.Adam
    _case(sheet, lambda w: optim(w, lr=0.1, betas=betas, eps=eps, weight_decay=wd,
                                 amsgrad=amsgrad, foreach=False), keys, batch)


@pytest.mark.parametrize("optimizer", ("sgd", "rmsprop", "adam"))
def test_shuffled_mini_batches_match_torch_optim(optimizer):
    makers = {
        "sgd": ({"lr": 1e-4, "mom": 0.9}, lambda w: torch.optim.SGD(
            w, lr=1e-4, momentum=0.9, foreach=False), {"mom_buf": "momentum_buffer"}),
        "rmsprop": ({"lr": 0.01}, lambda w: torch.optim.RMSprop(w, lr=0.01, foreach=False),
                    {"sqr_avg": "square_avg"}),
        "adam": ({"lr": 0.1}, lambda w: torch.optim.Adam(w, lr=0.1, foreach=False),
                 {"grad_avg": "exp_avg", "sqr_avg": "exp_avg_sq"}),
    }
    hypers, make, keys = makers[optimizer]
    _case({"optimizer": optimizer, **hypers}, make, keys, 6, shuffle=True)


CORNERS = {
    "sgd": ({"lr": 1e-4, "mom": 0.9, "nesterov": True, "wd": 0.01}, lambda w: torch.optim.SGD(
        w, lr=1e-4, momentum=0.9, nesterov=True, weight_decay=0.01, foreach=False),
            {"mom_buf": "momentum_buffer"}),
    "rmsprop": ({"lr": 0.01, "sqr_mom": 0.9, "eps": 1e-3, "mom": 0.5, "centered": True,
                 "wd": 0.01}, lambda w: torch.optim.RMSprop(
        w, lr=0.01, alpha=0.9, eps=1e-3, momentum=0.5, centered=True, weight_decay=0.01,
        foreach=False), {"sqr_avg": "square_avg", "grad_avg": "grad_avg",
                         "mom_buf": "momentum_buffer"}),
    "adamw": ({"lr": 0.1, "mom": 0.3, "sqr_mom": 0.9, "eps": 1e-2, "wd": 0.05, "amsgrad": True},
              lambda w: torch.optim.AdamW(w, lr=0.1, betas=(0.3, 0.9), eps=1e-2, weight_decay=0.05,
                                          amsgrad=True, foreach=False),
              {"grad_avg": "exp_avg", "sqr_avg": "exp_avg_sq", "max_sqr_avg": "max_exp_avg_sq"}),
}


@pytest.mark.parametrize("batch", BATCHES)
@pytest.mark.parametrize("optimizer", sorted(CORNERS))
def test_compiled_executor_matches_torch_optim(optimizer, batch):
    hypers, make, keys = CORNERS[optimizer]
    _case({"optimizer": optimizer, **hypers}, make, keys, batch)
