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

from frameworks import library_path

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
