"""The keras, optax and fastai flavours equal the frameworks themselves, step by step.

Every rule of those flavours runs each option set of its registry grid on the lecture's data,
online and in mini-batches of 5; the framework's own optimizer, built with the same arguments
in its own spelling, is fed the same gradients from the same start, and every parameter after
every step must agree to 1e-12 relative (all three run in float64 here).
"""
from __future__ import annotations

import numpy as np
import pytest

import sheetopt
from sheetopt.rules.registry import FRAMEWORK_RULES

from frameworks import library_path, require, rule_path

TOL = 1e-12
CASES = [pytest.param(rule, options, batch,
                      id=f"{rule.flavor}-{rule.optimizer}-{n}-{batch}")
         for rule in FRAMEWORK_RULES for n, options in enumerate(rule.grid)
         for batch in ("online", 5)]


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value)


def sheet_toml(flavor: str, optimizer: str, options: dict, batch, epochs: int = 2) -> str:
    """A spec on the lecture's data with one sheet of ``optimizer`` in ``flavor``, its
    arguments spelled as the framework spells them."""
    lines = ['[data]', 'preset = "lecture"', '[[sheet]]', f'name = "{flavor}-{optimizer}"',
             f'optimizer = "{optimizer}"', f'flavor = "{flavor}"', f'epochs = {epochs}',
             f'batch = {_toml_value(batch) if batch != "online" else chr(34) + "online" + chr(34)}',
             *(f"{key} = {_toml_value(value)}" for key, value in options.items())]
    return "\n".join(lines) + "\n"


def ours_and_theirs(flavor, optimizer, options, batch):
    spec = sheetopt.Spec.from_toml(sheet_toml(flavor, optimizer, options, batch))
    sheet = spec.sheets[0]
    trace = sheetopt.run(spec)[sheet.name]
    params = trace.params
    grads = np.stack([trace.steps[f"grad_{p}"] for p in params], axis=1)
    ours = np.stack([trace.steps[f"new_{p}"] for p in params], axis=1)
    start = [trace.start[p] for p in params]
    return ours, library_path(flavor, optimizer, options, start, grads)


@pytest.mark.parametrize("rule, options, batch", CASES)
def test_each_step_equals_the_framework(rule, options, batch):
    ours, theirs = ours_and_theirs(rule.flavor, rule.optimizer, options, batch)
    assert np.isfinite(theirs).all()
    scale = np.maximum.accumulate(np.abs(theirs), axis=0)
    rel = np.abs(ours - theirs) / scale
    worst = np.unravel_index(np.argmax(rel), rel.shape)
    assert rel.max() <= TOL, (f"{rule.flavor} {rule.optimizer} {options} {batch}: step "
                              f"{worst[0] + 1} differs by {rel.max():.3g} relative "
                              f"(ours {ours[worst]!r}, theirs {theirs[worst]!r})")


def test_every_framework_rule_has_a_grid():
    assert all(len(rule.grid) >= 2 for rule in FRAMEWORK_RULES)


def test_fastai_rmsprop_ignores_its_eps_argument():
    """Why sheetopt's fastai rmsprop takes no eps: fastai's RMSProp accepts one but never hands
    it to its Optimizer, so the step adds rms_prop_step's 1e-8 whatever is given. When fastai
    passes it on, this fails and the rule gets its eps back."""
    grads = np.array([[0.1, 0.2], [0.3, -0.1], [0.05, 0.4]])
    tiny = library_path("fastai", "rmsprop", {"lr": 0.01, "eps": 1e-8}, [1.0, 2.0], grads)
    huge = library_path("fastai", "rmsprop", {"lr": 0.01, "eps": 10.0}, [1.0, 2.0], grads)
    np.testing.assert_array_equal(tiny, huge)


def test_fit_one_cycle_schedule_against_fastai():
    """sheetopt's fastai_one_cycle against fastai's own combined_cos (what fit_one_cycle
    schedules lr and mom with). fastai computes each phase's position in float32 (its
    ``pcts`` are a float32 tensor), sheetopt in float64: measured on 87 steps, lr differs by
    7.0e-6 relative at most (near the end, where lr is lr_max/1e5 and steep in the position),
    mom by 9.1e-9. Given fastai's float32 positions, sheetopt's cosine is bit for bit."""
    require("fastai")
    import torch
    from fastai.callback.schedule import combined_cos

    from sheetopt.ops import numpy_ops
    from sheetopt.schedules import Schedule
    from sheetopt.schedules.fastai import cosine, one_cycle

    lr_max, n = 0.1, 87
    theirs_lr = combined_cos(0.25, lr_max / 25, lr_max, lr_max / 1e5)
    theirs_mom = combined_cos(0.25, 0.95, 0.85, 0.95)
    pcts = torch.tensor([0.0, 0.25, 1.0])
    schedule = Schedule("fastai_one_cycle", {})
    for i in range(n):
        pos = i / n
        lr, mom = one_cycle(np.float64(pos), lr_max, schedule, numpy_ops)
        assert float(lr) == pytest.approx(float(theirs_lr(pos)), rel=1e-5)
        assert float(mom) == pytest.approx(float(theirs_mom(pos)), rel=1e-8)
        phase = 0 if pos < 0.25 else 1
        at = float((pos - pcts[phase]) / (pcts[phase + 1] - pcts[phase]))  # fastai's float32
        start, end = [(lr_max / 25, lr_max), (lr_max, lr_max / 1e5)][phase]
        assert float(cosine(start, end, np.float64(at), numpy_ops)) == float(theirs_lr(pos))


def test_optax_adadelta_climbs_without_a_learning_rate():
    """Why sheetopt's optax adadelta asks for learning_rate: optax's default None scales by
    nothing and flips no sign, so the update is added and p climbs the gradient. With
    learning_rate=1 the step is the same size, downhill. When optax changes this, this fails."""
    grads = np.array([[0.5, -0.5]])
    start = [1.0, 2.0]
    default = library_path("optax", "adadelta", {}, start, grads)
    one = library_path("optax", "adadelta", {"learning_rate": 1.0}, start, grads)
    np.testing.assert_allclose(default - start, -(one - start), rtol=1e-12)
    assert (np.sign(default - start) == np.sign(grads)).all()
    np.testing.assert_array_equal(one, rule_path("optax", "adadelta", {"learning_rate": 1.0},
                                                 start, grads))
