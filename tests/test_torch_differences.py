"""The torch flavour accepts what torch 2.13 accepts: every difference the probe finds is one
docs/torch-differences.md lists (and why); nothing torch refuses is accepted. Also the places
where it now follows torch: SGD's default lr, OneCycleLR cycling SGD's momentum from 0, and a
torch argument name selecting the torch flavour."""
from __future__ import annotations

import math

import numpy as np
import pytest

import sheetopt
from benchmark_cases import benchmark
from conftest import options_id
from sheetopt.spec import Spec, parse

torch = pytest.importorskip("torch")
probe = benchmark("torch_differences")

COUNTS = {"step_size", "total_iters", "T_max", "step_size_up", "step_size_down", "patience",
          "cooldown"}
NEGATIVE_FACTORS = {("OneCycleLR", "div_factor"), ("OneCycleLR", "final_div_factor"),
                    ("ReduceLROnPlateau", "factor")}


def documented(v) -> bool:
    """Whether a difference is one of docs/torch-differences.md's rows."""
    if not math.isfinite(v.value):
        return True
    if v.argument in COUNTS:
        return v.value < 0 or v.value != int(v.value) or isinstance(v.value, float)
    return (v.optimizer, v.argument) in NEGATIVE_FACTORS and v.value < 0


def test_every_difference_from_torch_is_documented():
    found = probe.differences()
    assert found, "the probe compares nothing"
    assert not [v for v in found if v.sheetopt and not v.torch]  # nothing torch refuses
    undocumented = [v for v in found if not documented(v)]
    assert not undocumented, probe.markdown(undocumented)
    # on every finite value of every optimizer argument the two agree
    assert all(not math.isfinite(v.value) for v in found if v.optimizer[0].isupper()
               and not v.optimizer.endswith(("LR", "Plateau")))


def test_sgd_defaults_lr_as_torch_does():
    sheet = parse({"data": {"preset": "lecture"},
                   "sheet": [{"optimizer": "sgd", "flavor": "torch"}]}).sheets[0]
    assert sheet.hypers["lr"] == torch.optim.SGD([torch.zeros(1)]).defaults["lr"] == 1e-3
    with pytest.raises(sheetopt.SheetoptError, match="lr is required"):
        parse({"data": {"preset": "lecture"}, "sheet": [{"optimizer": "sgd"}]})


def test_one_cycle_cycles_the_momentum_of_sgd_built_without_it():
    spec = Spec.from_toml('[data]\npreset = "lecture"\n[[sheet]]\nname = "oc"\n'
                          'optimizer = "sgd"\nflavor = "torch"\nepochs = 2\nschedule = { torch '
                          '= "OneCycleLR", max_lr = 0.0001, total_steps = 58, per = "step" }\n')
    trace = sheetopt.run(spec)["oc"]
    assert trace.steps["mom"][0] == 0.95 and trace.steps["mom"][-1] == pytest.approx(0.95)
    # torch itself: SGD(momentum=0) under OneCycleLR, one row a step
    x, y = (torch.tensor(np.asarray(v, dtype=float)) for v in (spec.data.x, spec.data.y))
    a, b = (torch.tensor([1.0], dtype=torch.float64, requires_grad=True) for _ in range(2))
    optimizer = torch.optim.SGD([a, b], momentum=0.0, foreach=False)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=0.0001, total_steps=58)
    assert optimizer.param_groups[0]["momentum"] == 0.95  # torch turned momentum on
    found = []
    for _ in range(2):
        for i in range(len(x)):
            optimizer.zero_grad()
            ((a * x[i] + b - y[i]) ** 2).sum().backward()
            optimizer.step()
            scheduler.step()
            found.append((a.item(), b.item()))
    ours = np.column_stack([trace.steps["new_a"], trace.steps["new_b"]])
    np.testing.assert_allclose(ours, np.array(found), rtol=1e-12, atol=0)


TORCH_ONLY_KEYS = [({"betas": [0.9, 0.99]}, "torch"), ({"weight_decay": 0.01}, "torch"),
                   ({"eps": 1e-8}, "torch"), ({"mom": 0.9}, "lecture"),
                   ({"flavor": "lecture", "mom": 0.9}, "lecture")]


@pytest.mark.parametrize("keys, flavor", TORCH_ONLY_KEYS, ids=[
    f"{options_id('adam', keys)} is {flavor}" for keys, flavor in TORCH_ONLY_KEYS])
def test_a_torch_only_key_selects_the_torch_flavour(keys, flavor, capsys, tmp_path):
    sheet = {"optimizer": "adam", "lr": 0.1, **keys}
    assert parse({"data": {"preset": "lecture"}, "sheet": [sheet]}).sheets[0].flavor == flavor
    from sheetopt import cli

    path = tmp_path / "s.toml"
    path.write_text('[data]\npreset = "lecture"\n[[sheet]]\nname = "s"\n' + "".join(
        f"{k} = {v!r}\n".replace("'", '"') for k, v in sheet.items()))
    assert cli.main(["compare", str(path), "--format", "csv"]) == 0
    assert capsys.readouterr().out.splitlines()[1].split(",")[2] == flavor  # said in the output
