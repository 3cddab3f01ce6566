"""The pieces optimizer rules share, each written once (fastai's ``optimizer.py`` way): the
averages, weight decay (coupled and decoupled), maximize and bias correction.

The torch pieces follow torch's single-tensor code paths operation by operation, including
the order of the multiplications inside ``addcmul_``/``addcdiv_`` (``self + value*t1*t2``,
``self + value*t1/t2``) and the two branches of ``lerp_``, so float64 results agree to the
last bit. A negated scalar (``value=-lr``) is written as a subtraction: IEEE rounding is
symmetric, so ``p + (-c)*g`` and ``p - c*g`` are the same number.
"""
from __future__ import annotations


# --- the lecture's ------------------------------------------------------------------------------
def ewma(avg, value, beta):
    """The lecture's exponentially weighted average: beta*avg + (1 - beta)*value."""
    return beta * avg + (1 - beta) * value


# --- torch's ------------------------------------------------------------------------------------
def lerp(start, end, weight, static_weight: float):
    """torch's ``lerp_``: which of its two formulas runs depends on the weight's size.

    The branch is chosen from the spec's value (``static_weight``); both are the same average,
    they differ only in rounding.
    """
    if abs(static_weight) < 0.5:
        return start + weight * (end - start)
    return end - (end - start) * (1 - weight)


def lerp_at(start, end, weight, ops):
    """``lerp_`` with a weight that changes from step to step (Adafactor's t^beta2_decay): the
    branch is a ``where`` on the weight, which depends on the step only (host-computable)."""
    return ops.where(ops.abs(weight) < 0.5, start + weight * (end - start),
                     end - (end - start) * (1 - weight))


def square_average(avg, g, beta):
    """``avg.mul_(beta).addcmul_(g, g, value=1 - beta)``: torch's EWMA of g^2."""
    return avg * beta + (1 - beta) * g * g


def maximized(g, static):
    """torch's ``maximize``: the rule ascends, stepping along -g."""
    return -g if static.get("maximize") else g


def coupled_decay(p, g, hp):
    """torch's coupled weight decay ``grad.add(param, alpha=weight_decay)``: g + wd*p.

    torch skips it when wd is 0; the term is kept here so that a workbook's wd cell stays live
    (g + 0*p is g exactly for a finite p, and a non-finite p has already stopped the run)."""
    return g + hp["wd"] * p


def decoupled_decay(p, hp):
    """torch's decoupled weight decay ``param.mul_(1 - lr*weight_decay)`` (AdamW's; exact when
    wd is 0)."""
    return p * (1 - hp["lr"] * hp["wd"])


def torch_grad(p, g, hp, static):
    """The gradient a torch rule steps with: maximize's sign first, then coupled weight decay
    (unless the rule decays the parameter itself, ``decoupled``, or has no weight decay)."""
    g = maximized(g, static)
    if "wd" in hp and not static.get("decoupled"):
        g = coupled_decay(p, g, hp)
    return g


def bias_correction(beta, t, ops):
    """1 - beta^t: what an average started at 0 is divided by after t steps."""
    return 1 - ops.power(beta, t)


# --- Keras's, optax's and fastai's --------------------------------------------------------------
def moved_toward(avg, value, beta):
    """Keras's EWMA ``m + (value - m)*(1 - beta)``: the same average as ``ewma``, rounded
    differently (Adam, Adamax)."""
    return avg + (value - avg) * (1 - beta)


def fastai_debias(beta, damp, t, ops):
    """fastai's ``debias(mom, damp, step) = damp * (1 - mom**step) / (1 - mom)``: what its
    averages are divided by (1 - beta^t for a damped average, written fastai's way)."""
    return damp * (1 - ops.power(beta, t)) / (1 - beta)


def fastai_grad(p, g, hp, static):
    """fastai's ``l2_reg`` (``decouple_wd=False``): g + wd*p; with ``decouple_wd`` the
    gradient is left alone and the step decays p instead (``weight_decay``)."""
    return g if static.get("decoupled") else coupled_decay(p, g, hp)


def fastai_param(p, hp, static):
    """fastai's ``weight_decay`` (``decouple_wd=True``, its default): p*(1 - lr*wd), the first
    thing a step does."""
    return decoupled_decay(p, hp) if static.get("decoupled") else p


def tensor_norm(x, ops):
    """The norm of a one-element tensor as the frameworks compute it, sqrt(x*x): |x|, except
    where x*x overflows or underflows, as theirs does. sheetopt's parameters are scalars, each
    its own tensor, so a layer-wise norm (Lamb's, LARC's) is this."""
    return ops.sqrt(x * x)


def trust_ratio(w_norm, u_norm, ops):
    """Lamb's ``||p|| / ||u||``, or 1 when either norm is 0 (Keras's, optax's and fastai's
    rule). The division is by a norm made safe first, so no branch divides by zero."""
    safe = ops.where(u_norm > 0, u_norm, 1.0)
    return ops.where(w_norm > 0, ops.where(u_norm > 0, w_norm / safe, 1.0), 1.0)
