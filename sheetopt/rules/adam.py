"""The Adam family of torch.optim: Adam and AdamW (amsgrad, decoupled weight decay), Adamax
(an infinity-norm second moment), NAdam (Nesterov momentum with a decaying mu) and RAdam (the
variance rectification)."""
from __future__ import annotations

from .pieces import bias_correction, decoupled_decay, lerp, square_average, torch_grad


def _first_moment(state, g, hp, static):
    """``exp_avg.lerp_(grad, 1 - beta1)``."""
    return lerp(state["grad_avg"], g, 1 - hp["mom"], 1 - static["mom"])


def _decayed_param(p, hp, static):
    """Decoupled weight decay (AdamW, or ``decoupled_weight_decay=True``) acts on p first."""
    return decoupled_decay(p, hp) if static.get("decoupled") else p


# --- Adam and AdamW -------------------------------------------------------------------------
def adam_states(static):
    return ("grad_avg", "sqr_avg", "max_sqr_avg") if static.get("amsgrad") else (
        "grad_avg", "sqr_avg")


def adam_state(p, g, state, hp, t, ops, static):
    g = torch_grad(p, g, hp, static)
    new = {"grad_avg": _first_moment(state, g, hp, static),
           "sqr_avg": square_average(state["sqr_avg"], g, hp["sqr_mom"])}
    if static.get("amsgrad"):
        new["max_sqr_avg"] = ops.maximum(state["max_sqr_avg"], new["sqr_avg"])
    return new


def adam_step(p, g, prev, new, hp, t, ops, static):
    p = _decayed_param(p, hp, static)
    step_size = hp["lr"] / bias_correction(hp["mom"], t, ops)
    second = new["max_sqr_avg"] if static.get("amsgrad") else new["sqr_avg"]
    denom = ops.sqrt(second) / ops.sqrt(bias_correction(hp["sqr_mom"], t, ops)) + hp["eps"]
    return p - step_size * new["grad_avg"] / denom


# --- Adamax ---------------------------------------------------------------------------------
def adamax_state(p, g, state, hp, t, ops, static):
    g = torch_grad(p, g, hp, static)
    return {"grad_avg": _first_moment(state, g, hp, static),
            "exp_inf": ops.maximum(state["exp_inf"] * hp["sqr_mom"], ops.abs(g) + hp["eps"])}


def adamax_step(p, g, prev, new, hp, t, ops, static):
    clr = hp["lr"] / bias_correction(hp["mom"], t, ops)
    return p - clr * new["grad_avg"] / new["exp_inf"]


# --- NAdam ----------------------------------------------------------------------------------
def _nadam_mu(step, hp, ops):
    """The momentum of step ``step``: beta1 * (1 - 0.5 * 0.96^(step * momentum_decay))."""
    return hp["mom"] * (1 - 0.5 * ops.power(0.96, step * hp["mom_decay"]))


def nadam_state(p, g, state, hp, t, ops, static):
    g = torch_grad(p, g, hp, static)
    return {"grad_avg": _first_moment(state, g, hp, static),
            "sqr_avg": square_average(state["sqr_avg"], g, hp["sqr_mom"]),
            "mu_product": state["mu_product"] * _nadam_mu(t, hp, ops)}


def nadam_step(p, g, prev, new, hp, t, ops, static):
    p = _decayed_param(p, hp, static)
    g = torch_grad(p, g, hp, static)
    mu, mu_next = _nadam_mu(t, hp, ops), _nadam_mu(t + 1, hp, ops)
    denom = ops.sqrt(new["sqr_avg"] / bias_correction(hp["sqr_mom"], t, ops)) + hp["eps"]
    product = new["mu_product"]
    p = p - hp["lr"] * (1 - mu) / (1 - product) * g / denom
    return p - hp["lr"] * mu_next / (1 - product * mu_next) * new["grad_avg"] / denom


# --- RAdam ----------------------------------------------------------------------------------
def radam_state(p, g, state, hp, t, ops, static):
    g = torch_grad(p, g, hp, static)
    return {"grad_avg": _first_moment(state, g, hp, static),
            "sqr_avg": square_average(state["sqr_avg"], g, hp["sqr_mom"])}


def radam_step(p, g, prev, new, hp, t, ops, static):
    p = _decayed_param(p, hp, static)
    beta2 = hp["sqr_mom"]
    correction2 = bias_correction(beta2, t, ops)
    corrected = new["grad_avg"] / bias_correction(hp["mom"], t, ops)
    # the length of the approximated simple moving average, and its limit; both depend on the
    # step and beta2 only, so the branch below is decided before the step runs
    rho_inf = 2 / (1 - beta2) - 1
    rho_t = rho_inf - 2 * t * ops.power(beta2, t) / correction2
    rect = ops.power((rho_t - 4) * (rho_t - 2) * rho_inf
                     / ((rho_inf - 4) * (rho_inf - 2) * rho_t), 0.5)
    adaptive = ops.power(correction2, 0.5) / (ops.sqrt(new["sqr_avg"]) + hp["eps"])
    return ops.where(rho_t > 5, p - corrected * hp["lr"] * adaptive * rect,
                     p - corrected * hp["lr"])
