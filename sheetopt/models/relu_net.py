"""A small ReLU network of one feature: ``hidden`` units, one output.

    pred = v1*a1 + v2*a2 + ... + vH*aH + d,   a_j = max(0, c_j + w_j*x)

fitted with the lecture's row loss (y - pred)^2. Parameters, in torch's order for
``nn.Sequential(nn.Linear(1, H), nn.ReLU(), nn.Linear(H, 1))``: the first layer's weights
``w1..wH`` and biases ``c1..cH``, then the output weights ``v1..vH`` and bias ``d``.

The gradient at the kink: a unit whose activation is exactly 0 (``c_j + w_j*x <= 0``) passes no
gradient to ``w_j`` and ``c_j``, as torch's ``relu`` does (its backward tests the output,
``a_j > 0``); the one-sided derivative 1 is never used.

Default starts (deterministic, so that runs reproduce on every machine; a sheet's ``init``
overrides any of them): ``w_j`` alternates +1, -1, +1, ...; the units' kinks are spread
evenly, unit j's at ``x = j - (H + 1)/2`` (``c_j = -w_j`` times it: two units bend at -0.5 and
0.5, the first active to the right, the second to the left); ``v_j = 1``; ``d = 0``. Equal
starts would keep every unit the same for ever (each gets the same gradient).

>>> net = relu_net({"hidden": 2})
>>> net.params
('w1', 'w2', 'c1', 'c2', 'v1', 'v2', 'd')
>>> float(net.predict({**net.starts, "d": 0.5}, 2.0))  # a1 = max(0, 0.5 + 2), a2 = 0
3.0
"""
from __future__ import annotations

from typing import Mapping

from .base import Model, squared_error_slope
from ..errors import SheetoptError
from ..ops import ops_for

MAX_HIDDEN = 64  # a small net: each unit is a column of the workbook, and 3 parameters


def hidden_units(value) -> int:
    """``hidden`` as a whole number of units from 1 to :data:`MAX_HIDDEN`, else a one-line
    error naming the key."""
    number = float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) \
        else float("nan")
    if not (number.is_integer() and 1 <= number <= MAX_HIDDEN):
        raise SheetoptError(f"model.hidden must be a whole number of units from 1 to "
                            f"{MAX_HIDDEN} (got {number:g})")
    return int(number)


def _names(units: int) -> tuple[str, ...]:
    return (*(f"w{j}" for j in range(1, units + 1)), *(f"c{j}" for j in range(1, units + 1)),
            *(f"v{j}" for j in range(1, units + 1)), "d")


def relu_net(keys: Mapping[str, float]) -> Model:
    """The model of ``kind = "relu_net"`` with ``hidden`` units (default 2)."""
    units = hidden_units(keys.get("hidden", 2))
    j_s = range(1, units + 1)

    def activations(p, x) -> dict:
        ops = ops_for(x, *(p[f"w{j}"] for j in j_s))
        return {f"a{j}": ops.relu(p[f"c{j}"] + p[f"w{j}"] * x) for j in j_s}

    def output(p, acts):
        total = p["v1"] * acts["a1"]
        for j in j_s[1:]:
            total = total + p[f"v{j}"] * acts[f"a{j}"]
        return total + p["d"]

    def predict(p, x):
        return output(p, activations(p, x))

    def gradient(p, x, y):
        acts = activations(p, x)
        ops = ops_for(x, *acts.values())
        d_pred = squared_error_slope(output(p, acts), y)
        grads = {}
        for j in j_s:
            # relu's backward: the activation's gradient where a_j > 0, else 0 (the kink too)
            d_z = ops.where(acts[f"a{j}"] > 0, p[f"v{j}"] * d_pred, 0.0)
            grads[f"w{j}"], grads[f"c{j}"] = d_z * x, d_z
        for j in j_s:
            grads[f"v{j}"] = acts[f"a{j}"] * d_pred
        grads["d"] = d_pred
        return grads

    starts = {**{f"w{j}": float((-1) ** (j + 1)) for j in j_s},
              **{f"c{j}": -float((-1) ** (j + 1)) * (j - (units + 1) / 2) for j in j_s},
              **{f"v{j}": 1.0 for j in j_s}, "d": 0.0}
    terms = " + ".join(f"v{j}*a{j}" for j in j_s)
    return Model(kind="relu_net", params=_names(units),
                 formula=f"y = {terms} + d, a_j = max(0, c_j + w_j*x) ({units} "
                         f"unit{'s' if units > 1 else ''})",
                 predict=predict, gradient=gradient, keys={"hidden": float(units)},
                 starts=starts, parts=activations)
