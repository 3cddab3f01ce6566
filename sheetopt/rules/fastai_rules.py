"""The fastai flavour: fastai's optimizers as fastai/optimizer.py builds them, each a list of
callbacks: ``weight_decay`` (p*(1 - lr*wd), the default ``decouple_wd=True``) or ``l2_reg``
(g + wd*p), then ``average_grad`` / ``average_sqr_grad`` / ``step_stat``, then one ``*_step``.
``t`` is fastai's ``step`` statistic. torch's in-place ``add_(x, alpha=-c)`` and
``addcdiv_(a, b, value=-c)`` are written p - c*x and p - c*a/b (the same numbers).
"""
from __future__ import annotations

from .aspects import (BIAS_BOTH, EPS_AFTER_CORRECTION, EWMA, FASTAI_DECAY, LAMB_TRUST_CAPPED,
                      LR_OUTSIDE, NONE, RADAM_BIAS, RMS_RAW, ZEROS, Switch)
from .base import Library, Rule
from .pieces import (fastai_debias, fastai_grad, fastai_param, square_average, tensor_norm,
                     trust_ratio)

SOURCE = "fastai/optimizer.py"
# fastai's RMSProp takes eps but never hands it to its Optimizer, so rms_prop_step always adds
# its own default: the constructor's eps has no effect (fastai 2.8)
RMSPROP_EPS = 1e-8


def _average_grad(state, g, hp, damped: bool):
    """``average_grad``: grad_avg*mom + damp*g, damp = 1 - mom (Adam's) or 1 (SGD's)."""
    return state["grad_avg"] * hp["mom"] + ((1 - hp["mom"]) * g if damped else g)


def _debiased(hp, t, ops):
    return (fastai_debias(hp["mom"], 1 - hp["mom"], t, ops),
            fastai_debias(hp["sqr_mom"], 1 - hp["sqr_mom"], t, ops))


# --- SGD ----------------------------------------------------------------------------------------
def sgd_states(static):
    return ("grad_avg",) if static.get("mom") else ()


def sgd_state(p, g, state, hp, t, ops, static):
    if not static.get("mom"):
        return {}
    return {"grad_avg": _average_grad(state, fastai_grad(p, g, hp, static), hp, damped=False)}


def sgd_step(p, g, prev, new, hp, t, ops, static):
    g = fastai_grad(p, g, hp, static)
    p = fastai_param(p, hp, static)
    return p - hp["lr"] * (new["grad_avg"] if static.get("mom") else g)


# --- RMSProp ------------------------------------------------------------------------------------
def rmsprop_states(static):
    return ("grad_avg", "sqr_avg") if static.get("mom") else ("sqr_avg",)


def rmsprop_state(p, g, state, hp, t, ops, static):
    g = fastai_grad(p, g, hp, static)
    new = {"sqr_avg": square_average(state["sqr_avg"], g, hp["sqr_mom"])}
    if static.get("mom"):  # momentum on the RAW gradient, divided afterwards
        new["grad_avg"] = _average_grad(state, g, hp, damped=False)
    return new


def rmsprop_step(p, g, prev, new, hp, t, ops, static):
    g = fastai_grad(p, g, hp, static)
    p = fastai_param(p, hp, static)
    top = new["grad_avg"] if static.get("mom") else g
    return p - hp["lr"] * top / (ops.sqrt(new["sqr_avg"]) + RMSPROP_EPS)


# --- Adam, RAdam, QHAdam ------------------------------------------------------------------------
def adam_state(p, g, state, hp, t, ops, static):
    g = fastai_grad(p, g, hp, static)
    return {"grad_avg": _average_grad(state, g, hp, damped=True),
            "sqr_avg": square_average(state["sqr_avg"], g, hp["sqr_mom"])}


def adam_step(p, g, prev, new, hp, t, ops, static):
    p = fastai_param(p, hp, static)
    debias1, debias2 = _debiased(hp, t, ops)
    return p - hp["lr"] / debias1 * new["grad_avg"] / (
        ops.sqrt(new["sqr_avg"] / debias2) + hp["eps"])


def radam_step(p, g, prev, new, hp, t, ops, static):
    p = fastai_param(p, hp, static)
    debias1, debias2 = _debiased(hp, t, ops)
    beta2 = hp["sqr_mom"]
    r_inf = 2 / (1 - beta2) - 1
    r = r_inf - 2 * t * ops.power(beta2, t) / (1 - ops.power(beta2, t))
    # the rectification; its branch depends on the step and sqr_mom only
    v = ops.sqrt(ops.abs(((r - 4) * (r - 2) * r_inf) / ((r_inf - 4) * (r_inf - 2) * r)))
    rectified = p - hp["lr"] * v / debias1 * new["grad_avg"] / (
        ops.sqrt(new["sqr_avg"] / debias2) + hp["eps"])
    return ops.where(r > 5, rectified, p - hp["lr"] / debias1 * new["grad_avg"])


def qhadam_step(p, g, prev, new, hp, t, ops, static):
    g = fastai_grad(p, g, hp, static)
    p = fastai_param(p, hp, static)
    debias1, debias2 = _debiased(hp, t, ops)
    top = (1 - hp["nu_1"]) * g + hp["nu_1"] * (new["grad_avg"] / debias1)
    root = ops.sqrt((1 - hp["nu_2"]) * g ** 2 + hp["nu_2"] * (new["sqr_avg"] / debias2))
    return p - hp["lr"] * top / (root + hp["eps"])


def lamb_step(p, g, prev, new, hp, t, ops, static):
    p = fastai_param(p, hp, static)
    debias1, debias2 = _debiased(hp, t, ops)
    step = (new["grad_avg"] / debias1) / (ops.sqrt(new["sqr_avg"] / debias2) + hp["eps"])
    # r1 = p.pow(2).mean().sqrt(): the root mean square of a one-element tensor is its norm
    q = ops.minimum(trust_ratio(tensor_norm(p, ops), tensor_norm(step, ops), ops), 10.0)
    return p - hp["lr"] * q * step


# --- LARC / LARS ----------------------------------------------------------------------------------
def larc_step(p, g, prev, new, hp, t, ops, static):
    g = fastai_grad(p, g, hp, static)
    p = fastai_param(p, hp, static)
    p_norm, g_norm = tensor_norm(p, ops), tensor_norm(g, ops)
    # larc_layer_lr: wd enters the layer's lr whether or not it is decoupled
    local_lr = hp["lr"] * hp["trust_coeff"] * p_norm / (g_norm + p_norm * hp["wd"] + hp["eps"])
    if static.get("clip"):  # min(lr, local_lr): local_lr when it is the smaller
        local_lr = ops.where(local_lr < hp["lr"], local_lr, hp["lr"])
    return p - local_lr * (new["grad_avg"] if static.get("mom") else g)


def _library(cls: str, args: dict, **differs) -> Library:
    return Library(name=f"fastai.optimizer.{cls}", source=SOURCE,
                   args={"lr": "lr", **args, "wd": "wd", "decouple_wd": "decoupled"},
                   state_keys={"grad_avg": "grad_avg", "sqr_avg": "sqr_avg"}, differs=differs)


_ADAM_DIFFERS = dict(eps=EPS_AFTER_CORRECTION, bias=BIAS_BOTH, momentum=EWMA, start=ZEROS,
                     decay=FASTAI_DECAY)
_BETAS = {"mom": "mom", "sqr_mom": "sqr_mom", "eps": "eps"}


def _adam_like(name: str, cls: str, step, hypers: dict, grid: tuple, **differs) -> Rule:
    return Rule(optimizer=name, flavor="fastai",
                summary=f"fastai.optimizer.{cls}(lr, " + ", ".join(
                    k for k in hypers if k != "lr") + ", decouple_wd)",
                hypers=hypers,
                flags={"decoupled": True}, state_names=lambda static: ("grad_avg", "sqr_avg"),
                update_state=adam_state, step=step, nonnegative=("sqr_avg",),
                library=_library(cls, {**_BETAS, **{k: k for k in hypers if k.startswith("nu")}},
                                 **{**_ADAM_DIFFERS, **differs}),
                grid=grid)


RULES: tuple[Rule, ...] = (
    Rule(optimizer="sgd", flavor="fastai", summary="fastai.optimizer.SGD(lr, mom, wd, decouple_wd)",
         hypers={"lr": None, "mom": 0.0, "wd": 0.0}, flags={"decoupled": True},
         state_names=sgd_states, update_state=sgd_state, step=sgd_step,
         library=_library("SGD", {"mom": "mom"}, eps=NONE, bias=NONE,
                          momentum=Switch("mom", NONE, LR_OUTSIDE), start=ZEROS,
                          decay=FASTAI_DECAY),
         grid=({"lr": 0.0001}, {"lr": 0.0001, "mom": 0.9, "wd": 0.01},
               {"lr": 0.0001, "mom": 0.5, "wd": 0.01, "decouple_wd": False})),
    Rule(optimizer="rmsprop", flavor="fastai",
         summary="fastai.optimizer.RMSProp(lr, mom, sqr_mom, wd, decouple_wd); eps is 1e-8 "
                 "whatever is given",
         hypers={"lr": None, "mom": 0.0, "sqr_mom": 0.99, "wd": 0.0},
         flags={"decoupled": True}, state_names=rmsprop_states, update_state=rmsprop_state,
         step=rmsprop_step, nonnegative=("sqr_avg",),
         notes={"grad_avg": "fastai RMSProp: momentum averages the RAW gradient "
                            "(grad_avg = mom*grad_avg + g); the step divides it by "
                            "sqrt(sqr_avg) + 1e-8 afterwards.",
                "new_p": "fastai RMSProp: eps is always 1e-8 (rms_prop_step's default): the "
                         "constructor's eps never reaches the step."},
         library=_library("RMSProp", {"mom": "mom", "sqr_mom": "sqr_mom"},
                          eps="after the root: sqrt(sqr_avg) + 1e-8; RMSProp's own eps "
                              "argument is never passed on (no effect)",
                          bias=NONE, momentum=Switch("mom", NONE, RMS_RAW), start=ZEROS,
                          decay=FASTAI_DECAY),
         grid=({"lr": 0.01}, {"lr": 0.01, "mom": 0.9, "sqr_mom": 0.5, "wd": 0.01},
               {"lr": 0.01, "wd": 0.05, "decouple_wd": False})),
    _adam_like("adam", "Adam", adam_step,
               {"lr": None, "mom": 0.9, "sqr_mom": 0.99, "eps": 1e-5, "wd": 0.01},
               ({"lr": 0.1}, {"lr": 0.1, "mom": 0.5, "sqr_mom": 0.999, "wd": 0.0},
                {"lr": 0.1, "eps": 1e-3, "wd": 0.05, "decouple_wd": False})),
    _adam_like("radam", "RAdam", radam_step,
               {"lr": None, "mom": 0.9, "sqr_mom": 0.99, "eps": 1e-5, "wd": 0.0},
               ({"lr": 0.01}, {"lr": 0.01, "sqr_mom": 0.9, "wd": 0.05},
                {"lr": 0.01, "sqr_mom": 0.5, "wd": 0.05, "decouple_wd": False}),
               bias=RADAM_BIAS),
    _adam_like("qhadam", "QHAdam", qhadam_step,
               {"lr": None, "mom": 0.999, "sqr_mom": 0.999, "nu_1": 0.7, "nu_2": 1.0,
                "eps": 1e-8, "wd": 0.0},
               ({"lr": 0.1}, {"lr": 0.1, "mom": 0.9, "nu_1": 0.5, "nu_2": 0.5, "wd": 0.05},
                {"lr": 0.1, "wd": 0.05, "decouple_wd": False}),
               momentum="quasi-hyperbolic: (1-nu_1)*g + nu_1*grad_avg/debias1"),
    _adam_like("lamb", "Lamb", lamb_step,
               {"lr": None, "mom": 0.9, "sqr_mom": 0.99, "eps": 1e-5, "wd": 0.0},
               ({"lr": 0.01}, {"lr": 0.01, "mom": 0.5, "sqr_mom": 0.9, "wd": 0.05},
                {"lr": 0.01, "eps": 1e-3, "wd": 0.05, "decouple_wd": False}),
               momentum=LAMB_TRUST_CAPPED),
    Rule(optimizer="larc", flavor="fastai",
         summary="fastai.optimizer.Larc(lr, mom, clip, trust_coeff, eps, wd, decouple_wd)",
         hypers={"lr": None, "mom": 0.9, "trust_coeff": 0.02, "eps": 1e-8, "wd": 0.0},
         flags={"clip": True, "decoupled": True}, state_names=sgd_states,
         update_state=sgd_state, step=larc_step,  # sgd_state: average_grad when mom != 0
         notes={"new_p": "fastai Larc: the layer's lr is lr*trust_coeff*||p|| / (||g|| + "
                         "wd*||p|| + eps), at most lr with clip (LARC; LARS without); each "
                         "parameter is its own tensor, so ||p|| is |p|."},
         library=_library("Larc", {"mom": "mom", "clip": "clip", "trust_coeff": "trust_coeff",
                                   "eps": "eps"},
                          eps="in the layer's lr: ||g|| + wd*||p|| + eps", bias=NONE,
                          momentum=Switch("mom", NONE, LR_OUTSIDE + " (lr: the layer's)"),
                          start=ZEROS, decay=FASTAI_DECAY),
         grid=({"lr": 0.1}, {"lr": 0.1, "mom": 0.0, "clip": False, "trust_coeff": 0.5,
                             "wd": 0.01},
               {"lr": 0.1, "wd": 0.05, "decouple_wd": False, "eps": 1e-3})),
)
