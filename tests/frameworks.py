"""The frameworks as test oracles: Keras 3 (on torch, float64), optax (jax on the CPU, x64)
and fastai's optimizers (float64), each stepped on given gradients.

Each of sheetopt's parameters is its own one-element tensor (a Keras variable, an optax leaf, a
torch tensor), as the rules see them: Lamb's and LARC's layer-wise norms are then |p|.

A missing library skips loudly; under CI (CI=true) it fails instead, as tests/libreoffice.py
does: CI installs the ``dev`` extra, which has them all.
"""
from __future__ import annotations

import importlib
import os

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")  # Keras 3 on torch: no TensorFlow needed

INSTALL = {"keras": "keras", "optax": "jax optax",
           "fastai": '"torchvision==0.28.*" fastai (after torch==2.13.0)'}


def require(flavor: str):
    """The framework's module; skips (fails in CI) when it is not installed."""
    name = {"keras": "keras", "optax": "optax", "fastai": "fastai.optimizer"}[flavor]
    try:
        return importlib.import_module(name)
    except ImportError as error:
        message = (f"{flavor} is not installed ({error}): the {flavor} flavour CANNOT BE "
                   f"CHECKED against it here (pip install {INSTALL[flavor]})")
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


def _keras(name: str, args: dict, start, grads, lrs):
    keras = require("keras")
    import torch
    keras.config.set_floatx("float64")
    assert keras.backend.backend() == "torch", "KERAS_BACKEND must be torch"
    classes = {"sgd": "SGD", "rmsprop": "RMSprop", "adam": "Adam", "adamw": "AdamW",
               "adamax": "Adamax", "adagrad": "Adagrad", "lion": "Lion",
               "adadelta": "Adadelta", "nadam": "Nadam", "lamb": "Lamb"}
    optimizer = getattr(keras.optimizers, classes[name])(**args)
    variables = [keras.Variable(np.array([v], dtype=np.float64), dtype="float64")
                 for v in start]
    out = []
    for g in np.asarray(grads, dtype=np.float64):
        optimizer.apply([torch.tensor(g[i:i + 1], dtype=torch.float64)
                         for i in range(len(variables))], variables)
        out.append(np.concatenate([np.array(keras.ops.convert_to_numpy(v), dtype=float)
                                   for v in variables]))
    return np.array(out)


def _optax(name: str, args: dict, start, grads, lrs):
    optax = require("optax")
    import jax
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    optimizer = getattr(optax, name)(**args)
    params = [jnp.asarray([v], dtype=jnp.float64) for v in start]
    state = optimizer.init(params)
    out = []
    for g in np.asarray(grads, dtype=np.float64):
        leaves = [jnp.asarray(g[i:i + 1], dtype=jnp.float64) for i in range(len(params))]
        updates, state = optimizer.update(leaves, state, params)
        params = optax.apply_updates(params, updates)
        out.append(np.concatenate([np.asarray(v, dtype=float) for v in params]))
    return np.array(out)


def _fastai(name: str, args: dict, start, grads, lrs):
    optimizer_module = require("fastai")
    import torch
    classes = {"sgd": "SGD", "rmsprop": "RMSProp", "adam": "Adam", "radam": "RAdam",
               "qhadam": "QHAdam", "lamb": "Lamb", "larc": "Larc"}
    params = [torch.tensor([float(v)], dtype=torch.float64, requires_grad=True) for v in start]
    optimizer = getattr(optimizer_module, classes[name])(params, **args)
    out = []
    for g in np.asarray(grads, dtype=np.float64):
        for i, p in enumerate(params):
            p.grad = torch.tensor(g[i:i + 1], dtype=torch.float64)
        optimizer.step()
        out.append(np.concatenate([p.detach().numpy().copy() for p in params]))
    return np.array(out)


STEPPERS = {"keras": _keras, "optax": _optax, "fastai": _fastai}


def library_schedule(library: str, name: str, lr: float, args: dict):
    """The library's own schedule ``name`` (keras.optimizers.schedules' class, optax's
    function) with the sheet's ``lr`` as its starting value and ``args`` (its spelling)."""
    from sheetopt.schedules import LIBRARY_SCHEDULES
    spec = LIBRARY_SCHEDULES[library, name]
    args = dict(args)
    if library == "keras":
        keras = require("keras")
        keras.config.set_floatx("float64")
        if spec.lr_arg.startswith("values"):
            return keras.optimizers.schedules.PiecewiseConstantDecay(**args)
        return getattr(keras.optimizers.schedules, name)(**{spec.lr_arg: lr}, **args)
    optax = require("optax")
    import jax
    jax.config.update("jax_enable_x64", True)
    return getattr(optax, name)(**{spec.lr_arg: lr}, **args)


def schedule_values(library: str, schedule, steps: int, count: str = "int32") -> np.ndarray:
    """The library schedule's value at each step count 0, 1, ..., steps - 1: Keras's at an
    int64 iteration count, optax's at a ``count`` of that dtype (its optimizers' is int32)."""
    if library == "keras":
        import torch
        keras = require("keras")
        return np.array([float(keras.ops.convert_to_numpy(schedule(
            torch.tensor(k, dtype=torch.int64)))) for k in range(steps)])
    import jax.numpy as jnp
    return np.array([float(schedule(jnp.asarray(k, dtype=count))) for k in range(steps)])


def library_path(flavor: str, optimizer: str, args: dict, start, grads) -> np.ndarray:
    """The parameters after each step of the framework's optimizer ``optimizer`` built with
    ``args`` (its own spelling; ``learning_rate`` may be one of its schedules), started at
    ``start`` and fed ``grads`` (steps x params)."""
    return STEPPERS[flavor](optimizer, dict(args), start, grads, None)


def rule_path(flavor: str, optimizer: str, args: dict, start, grads) -> np.ndarray:
    """sheetopt's rule of ``optimizer`` in ``flavor``, built from ``args`` in the framework's
    own spelling, stepped straight through its two functions (numpy ops) from ``start`` on the
    given gradients (steps x elements): the parameters after each step. No library needed."""
    import sheetopt
    from sheetopt.ops import numpy_ops
    keys = "\n".join(f"{k} = {str(v).lower() if isinstance(v, bool) else repr(v)}"
                     for k, v in args.items())
    sheet = sheetopt.Spec.from_toml(f'[data]\npreset = "lecture"\n[[sheet]]\n'
                                    f'optimizer = "{optimizer}"\nflavor = "{flavor}"\n'
                                    f'{keys}\n').sheets[0]
    rule, static = sheet.rule, sheet.static
    hp = {k: np.float64(v) for k, v in sheet.hypers.items()}
    p = np.array(start, dtype=np.float64)
    state = {s: np.full_like(p, rule.start_value(s, hp)) for s in rule.states(static)}
    out = []
    for t, g in enumerate(np.asarray(grads, dtype=np.float64), start=1):
        new = rule.new_state(p, g, state, hp=hp, t=t, ops=numpy_ops, static=static)
        p = np.asarray(rule.step(p, g, state, new, hp, t, numpy_ops, static), dtype=np.float64)
        state = new
        out.append(p)
    return np.array(out)
