"""The optax flavour: optax's optimizers as the chains of optax/_src/alias.py compute them
(``scale_by_adam``, ``scale_by_rms``, ``trace``... in optax/_src/transform.py and
optax/transforms/_accumulation.py), ending in ``scale_by_learning_rate``: the update u is
multiplied by -lr and added to p, written p - lr*u (the same number). ``t`` is optax's
``count`` after its increment.
"""
from __future__ import annotations

from .aspects import (ADADELTA_EPS, BIAS_BOTH, BIAS_FIRST, COUPLED, EPS_AFTER_CORRECTION,
                      EPS_AFTER_ROOT, EPS_INSIDE_ROOT, EWMA, IN_UPDATE, LAMB_TRUST, LION,
                      LR_OUTSIDE, NADAM_OPTAX, NONE, RMS_LR_INSIDE, SUM_START, ZEROS, Switch)
from .base import Library, Rule
from .pieces import ewma, tensor_norm, trust_ratio

SOURCE = "optax/_src/alias.py"


def _corrected(avg, beta, t, ops):
    """``optax.tree.bias_correction``: avg / (1 - beta^t)."""
    return avg / (1 - ops.power(beta, t))


def _decayed_update(u, p, hp):
    """``add_decayed_weights``: u + wd*p, before the learning rate (adamw, lion)."""
    return u + hp["wd"] * p


# --- SGD: trace, then the learning rate ---------------------------------------------------------
def sgd_states(static):
    return ("mom_buf",) if static.get("mom") else ()


def sgd_state(p, g, state, hp, t, ops, static):
    return {"mom_buf": g + hp["mom"] * state["mom_buf"]} if static.get("mom") else {}


def sgd_step(p, g, prev, new, hp, t, ops, static):
    if not static.get("mom"):
        return p - hp["lr"] * g
    u = g + hp["mom"] * new["mom_buf"] if static.get("nesterov") else new["mom_buf"]
    return p - hp["lr"] * u


# --- RMSprop: scale_by_rms (or scale_by_stddev), the learning rate, then trace ------------------
def rmsprop_states(static):
    return ("sqr_avg", *(("grad_avg",) if static.get("centered") else ()),
            *(("mom_buf",) if static.get("mom") else ()))


def _rms_update(g, new, hp, t, ops, static):
    """-lr * g / root: the root of the (centered, bias-corrected) average, eps inside it when
    ``eps_in_sqrt`` (optax's default) or after it."""
    nu = new["sqr_avg"]
    if static.get("bias_correction"):
        nu = _corrected(nu, hp["sqr_mom"], t, ops)
    if static.get("centered"):
        mu = new["grad_avg"]
        if static.get("bias_correction"):
            mu = _corrected(mu, hp["sqr_mom"], t, ops)
        nu = nu - mu * mu
    if static.get("eps_in_sqrt"):
        scaling = 1 / ops.sqrt(nu + hp["eps"])  # jax.lax.rsqrt(nu + eps)
    else:
        scaling = 1 / (ops.sqrt(nu) + hp["eps"])
    return -hp["lr"] * (scaling * g)


def rmsprop_state(p, g, state, hp, t, ops, static):
    new = {"sqr_avg": ewma(state["sqr_avg"], g * g, hp["sqr_mom"])}
    if static.get("centered"):
        new["grad_avg"] = ewma(state["grad_avg"], g, hp["sqr_mom"])
    if static.get("mom"):
        # the trace of the updates AFTER the learning rate: lr inside the buffer (negated)
        new["mom_buf"] = _rms_update(g, new, hp, t, ops, static) + hp["mom"] * state["mom_buf"]
    return new


def rmsprop_step(p, g, prev, new, hp, t, ops, static):
    if not static.get("mom"):
        return p + _rms_update(g, new, hp, t, ops, static)
    if static.get("nesterov"):
        return p + (_rms_update(g, new, hp, t, ops, static) + hp["mom"] * new["mom_buf"])
    return p + new["mom_buf"]


# --- Adam, AdamW, NAdam, AMSGrad ----------------------------------------------------------------
def adam_states(static):
    return ("grad_avg", "sqr_avg", *(("max_sqr_avg",) if static.get("amsgrad") else ()))


def adam_state(p, g, state, hp, t, ops, static):
    new = {"grad_avg": ewma(state["grad_avg"], g, hp["mom"]),
           "sqr_avg": ewma(state["sqr_avg"], g * g, hp["sqr_mom"])}
    if static.get("amsgrad"):  # the max of the bias-CORRECTED averages
        new["max_sqr_avg"] = ops.maximum(state["max_sqr_avg"],
                                         _corrected(new["sqr_avg"], hp["sqr_mom"], t, ops))
    return new


def _adam_update(p, g, new, hp, t, ops, static):
    b1 = hp["mom"]
    if static.get("nesterov"):
        mu_hat = (b1 * _corrected(new["grad_avg"], b1, t + 1, ops)
                  + (1 - b1) * _corrected(g, b1, t, ops))
    else:
        mu_hat = _corrected(new["grad_avg"], b1, t, ops)
    nu_hat = new["max_sqr_avg"] if static.get("amsgrad") else _corrected(
        new["sqr_avg"], hp["sqr_mom"], t, ops)
    u = mu_hat / (ops.sqrt(nu_hat + hp["eps_root"]) + hp["eps"])
    return _decayed_update(u, p, hp) if "wd" in hp else u


def adam_step(p, g, prev, new, hp, t, ops, static):
    return p - hp["lr"] * _adam_update(p, g, new, hp=hp, t=t, ops=ops, static=static)


# --- Adagrad ------------------------------------------------------------------------------------
def adagrad_state(p, g, state, hp, t, ops, static):
    return {"sum": g * g + state["sum"]}


def adagrad_step(p, g, prev, new, hp, t, ops, static):
    total = new["sum"]
    scaling = ops.where(total > 0, 1 / ops.sqrt(total + hp["eps"]), 0.0)
    return p - hp["lr"] * (scaling * g)


# --- Lion ---------------------------------------------------------------------------------------
def lion_state(p, g, state, hp, t, ops, static):
    return {"grad_avg": ewma(state["grad_avg"], g, hp["sqr_mom"])}


def lion_step(p, g, prev, new, hp, t, ops, static):
    u = ops.sign((1.0 - hp["mom"]) * g + hp["mom"] * prev["grad_avg"])
    return p - hp["lr"] * _decayed_update(u, p, hp)


# --- Adadelta: add_decayed_weights, scale_by_adadelta, the learning rate -----------------------
def _adadelta_update(g, e_x, e_g, hp, ops):
    """sqrt(e_x + eps) / sqrt(e_g + eps) * g, with e_x from before the step."""
    return ops.sqrt(e_x + hp["eps"]) / ops.sqrt(e_g + hp["eps"]) * g


def adadelta_state(p, g, state, hp, t, ops, static):
    g = _decayed_update(g, p, hp)  # weight decay added to the GRADIENT: coupled
    e_g = ewma(state["sqr_avg"], g * g, hp["rho"])
    u = _adadelta_update(g, state["acc_delta"], e_g, hp, ops)
    return {"sqr_avg": e_g, "acc_delta": ewma(state["acc_delta"], u * u, hp["rho"])}


def adadelta_step(p, g, prev, new, hp, t, ops, static):
    g = _decayed_update(g, p, hp)
    return p - hp["lr"] * _adadelta_update(g, prev["acc_delta"], new["sqr_avg"], hp, ops)


# --- Adamax -------------------------------------------------------------------------------------
def adamax_state(p, g, state, hp, t, ops, static):
    return {"grad_avg": ewma(state["grad_avg"], g, hp["mom"]),
            "exp_inf": ops.maximum(ops.abs(g) + hp["eps"], hp["sqr_mom"] * state["exp_inf"])}


def adamax_step(p, g, prev, new, hp, t, ops, static):
    return p - hp["lr"] * (_corrected(new["grad_avg"], hp["mom"], t, ops) / new["exp_inf"])


# --- RAdam --------------------------------------------------------------------------------------
def radam_state(p, g, state, hp, t, ops, static):
    return {"grad_avg": ewma(state["grad_avg"], g, hp["mom"]),
            "sqr_avg": ewma(state["sqr_avg"], g * g, hp["sqr_mom"])}


def radam_step(p, g, prev, new, hp, t, ops, static):
    b1, b2 = hp["mom"], hp["sqr_mom"]
    ro_inf = 2.0 / (1.0 - b2) - 1.0
    b2t = ops.power(b2, t)
    ro = ro_inf - 2 * t * b2t / (1 - b2t)  # a function of the step: host-computable
    if static.get("nesterov"):
        mu_hat = b1 * _corrected(new["grad_avg"], b1, t + 1, ops) + (1 - b1) * _corrected(
            g, b1, t, ops)
    else:
        mu_hat = _corrected(new["grad_avg"], b1, t, ops)
    nu_hat = _corrected(new["sqr_avg"], b2, t, ops)
    rectified = ro >= hp["threshold"]
    # the root's argument is negative for 2 < ro < 4, where optax's discarded branch is NaN:
    # 1 stands in there, so no branch takes the root of a negative number
    square = (ro - 4.0) * (ro - 2.0) * ro_inf / ((ro_inf - 4.0) * (ro_inf - 2.0) * ro)
    r = ops.sqrt(ops.where(rectified, square, 1.0))
    update = r * mu_hat / (ops.sqrt(nu_hat + hp["eps_root"]) + hp["eps"])
    return p - hp["lr"] * ops.where(rectified, update, mu_hat)


# --- Lamb: scale_by_adam, add_decayed_weights, scale_by_trust_ratio, the learning rate ----------
def lamb_step(p, g, prev, new, hp, t, ops, static):
    adam_hp = {k: v for k, v in hp.items() if k != "wd"}  # the decay comes after the moments
    u = _decayed_update(_adam_update(p, g, new, adam_hp, t, ops=ops, static=static), p, hp)
    return p - hp["lr"] * (u * trust_ratio(tensor_norm(p, ops), tensor_norm(u, ops), ops))


def _library(function: str, args: dict, state_keys: dict, **differs) -> Library:
    return Library(name=f"optax.{function}", source=SOURCE, args={"learning_rate": "lr", **args},
                   state_keys=state_keys, differs=differs)


_ADAM_ARGS = {"b1": "mom", "b2": "sqr_mom", "eps": "eps", "eps_root": "eps_root"}
_ADAM_KEYS = {"grad_avg": "mu", "sqr_avg": "nu", "max_sqr_avg": "nu_max"}
_ADAM_HYPERS = {"lr": None, "mom": 0.9, "sqr_mom": 0.999, "eps": 1e-8, "eps_root": 0.0}
_ADAM_DIFFERS = dict(eps=EPS_AFTER_CORRECTION, bias=BIAS_BOTH, momentum=EWMA, start=ZEROS)


def _adam(name: str, hypers: dict, flags: dict, options: tuple, args: dict, summary: str,
          grid: tuple, **differs) -> Rule:
    return Rule(optimizer=name, flavor="optax", summary=summary,
                hypers={**_ADAM_HYPERS, **hypers}, flags={"nesterov": False, "amsgrad": False,
                                                          **flags},
                state_names=adam_states, update_state=adam_state, step=adam_step,
                nonnegative=("sqr_avg", "max_sqr_avg"), options=options,
                library=_library(name, {**_ADAM_ARGS, **args}, _ADAM_KEYS,
                                 **{**_ADAM_DIFFERS, **differs}),
                grid=grid)


_ADAM_GRID = ({"learning_rate": 0.1}, {"learning_rate": 0.1, "b1": 0.5, "eps": 1e-3,
                                       "eps_root": 1e-4})

RULES: tuple[Rule, ...] = (
    Rule(optimizer="sgd", flavor="optax",
         summary="optax.sgd(learning_rate, momentum, nesterov)",
         hypers={"lr": None, "mom": 0.0}, flags={"nesterov": False},
         state_names=sgd_states, update_state=sgd_state, step=sgd_step,
         library=_library("sgd", {"momentum": "mom", "nesterov": "nesterov"},
                          {"mom_buf": "trace"}, eps=NONE, bias=NONE,
                          momentum=Switch("momentum", NONE, LR_OUTSIDE), start=ZEROS,
                          decay=NONE),
         grid=({"learning_rate": 0.0001}, {"learning_rate": 0.0001, "momentum": 0.9},
               {"learning_rate": 0.0001, "momentum": 0.5, "nesterov": True})),
    Rule(optimizer="rmsprop", flavor="optax",
         summary="optax.rmsprop(learning_rate, decay, eps, initial_scale, eps_in_sqrt, centered, "
                 "momentum, nesterov, bias_correction)",
         hypers={"lr": None, "sqr_mom": 0.9, "eps": 1e-8, "init_acc": 0.0, "mom": 0.0},
         flags={"eps_in_sqrt": True, "centered": False, "nesterov": False,
                "bias_correction": False},
         state_names=rmsprop_states, update_state=rmsprop_state, step=rmsprop_step,
         start={"sqr_avg": "init_acc"}, nonnegative=("sqr_avg",),
         notes={"new_p": "optax rmsprop: eps inside the root by default (eps_in_sqrt), the "
                         "momentum trace taken after the learning rate."},
         library=_library("rmsprop", {"decay": "sqr_mom", "eps": "eps",
                                      "initial_scale": "init_acc", "eps_in_sqrt": "eps_in_sqrt",
                                      "centered": "centered", "momentum": "mom",
                                      "nesterov": "nesterov",
                                      "bias_correction": "bias_correction"},
                          {"sqr_avg": "nu", "grad_avg": "mu", "mom_buf": "trace"},
                          eps=Switch("eps_in_sqrt", EPS_AFTER_ROOT, EPS_INSIDE_ROOT),
                          bias=Switch("bias_correction", NONE, "the average divided by "
                                                                "1 - decay^t"),
                          momentum=Switch("momentum", NONE, RMS_LR_INSIDE),
                          start=ZEROS + " (the average starts at initial_scale)", decay=NONE),
         grid=({"learning_rate": 0.01}, {"learning_rate": 0.01, "momentum": 0.9,
                                         "centered": True, "decay": 0.5},
               {"learning_rate": 0.01, "eps_in_sqrt": False, "bias_correction": True,
                "momentum": 0.5, "nesterov": True, "initial_scale": 0.1})),
    _adam(name="adam", hypers={}, flags={}, options=("nesterov",), args={"nesterov": "nesterov"},
          summary="optax.adam(learning_rate, b1, b2, eps, eps_root, nesterov)",
          grid=(*_ADAM_GRID, {"learning_rate": 0.1, "nesterov": True, "b2": 0.9}), decay=NONE),
    _adam(name="adamw", hypers={"wd": 1e-4}, flags={}, options=("nesterov",),
          args={"weight_decay": "wd", "nesterov": "nesterov"},
          summary="optax.adamw(learning_rate, b1, b2, eps, eps_root, weight_decay, nesterov)",
          grid=(*_ADAM_GRID, {"learning_rate": 0.1, "weight_decay": 0.05, "nesterov": True}),
          decay=IN_UPDATE),
    _adam(name="nadam", hypers={}, flags={"nesterov": True}, options=(), args={},
          summary="optax.nadam(learning_rate, b1, b2, eps, eps_root): adam with nesterov=True",
          grid=_ADAM_GRID, momentum=NADAM_OPTAX, decay=NONE),
    _adam(name="amsgrad", hypers={}, flags={"amsgrad": True}, options=(), args={},
          summary="optax.amsgrad(learning_rate, b1, b2, eps, eps_root)", grid=_ADAM_GRID,
          bias=BIAS_BOTH + "; the max is taken after the correction", decay=NONE),
    Rule(optimizer="adagrad", flavor="optax",
         summary="optax.adagrad(learning_rate, initial_accumulator_value, eps)",
         hypers={"lr": None, "init_acc": 0.1, "eps": 1e-7}, flags={},
         state_names=lambda static: ("sum",), update_state=adagrad_state, step=adagrad_step,
         start={"sum": "init_acc"}, nonnegative=("sum",),
         library=_library("adagrad", {"initial_accumulator_value": "init_acc", "eps": "eps"},
                          {"sum": "sum_of_squares"}, eps=EPS_INSIDE_ROOT,
                          bias=NONE, momentum=NONE,
                          start=SUM_START, decay=NONE),
         grid=({"learning_rate": 0.5}, {"learning_rate": 0.5, "initial_accumulator_value": 0.0,
                                        "eps": 1e-3})),
    Rule(optimizer="lion", flavor="optax",
         summary="optax.lion(learning_rate, b1, b2, weight_decay)",
         hypers={"lr": None, "mom": 0.9, "sqr_mom": 0.99, "wd": 1e-3}, flags={},
         state_names=lambda static: ("grad_avg",), update_state=lion_state, step=lion_step,
         library=_library("lion", {"b1": "mom", "b2": "sqr_mom", "weight_decay": "wd"},
                          {"grad_avg": "mu"}, eps=NONE, bias=NONE, momentum=LION,
                          start=ZEROS, decay=IN_UPDATE),
         grid=({"learning_rate": 0.001}, {"learning_rate": 0.01, "b1": 0.5, "b2": 0.9,
                                          "weight_decay": 0.1})),
    Rule(optimizer="adadelta", flavor="optax",
         summary="optax.adadelta(learning_rate, rho, eps, weight_decay)",
         hypers={"lr": None, "rho": 0.9, "eps": 1e-6, "wd": 0.0}, flags={},
         state_names=lambda static: ("sqr_avg", "acc_delta"), update_state=adadelta_state,
         step=adadelta_step, nonnegative=("sqr_avg", "acc_delta"),
         notes={"new_p": "optax adadelta: learning_rate defaults to None, which scales by "
                         "nothing and flips no sign: the update is ADDED (ascent). sheetopt "
                         "asks for a learning rate."},
         library=_library("adadelta", {"rho": "rho", "eps": "eps", "weight_decay": "wd"},
                          {"sqr_avg": "e_g", "acc_delta": "e_x"}, eps=ADADELTA_EPS,
                          bias=NONE, momentum=NONE, start=ZEROS, decay=COUPLED),
         grid=({"learning_rate": 1.0}, {"learning_rate": 0.5, "rho": 0.5, "eps": 1e-3,
                                        "weight_decay": 0.01})),
    Rule(optimizer="adamax", flavor="optax",
         summary="optax.adamax(learning_rate, b1, b2, eps)",
         hypers={"lr": None, "mom": 0.9, "sqr_mom": 0.999, "eps": 1e-8}, flags={},
         state_names=lambda static: ("grad_avg", "exp_inf"), update_state=adamax_state,
         step=adamax_step, nonnegative=("exp_inf",),
         library=_library("adamax", {"b1": "mom", "b2": "sqr_mom", "eps": "eps"},
                          {"grad_avg": "mu", "exp_inf": "nu"},
                          eps="inside the max: max(beta_2*u, |g| + eps)", bias=BIAS_FIRST,
                          momentum=EWMA, start=ZEROS, decay=NONE),
         grid=({"learning_rate": 0.1}, {"learning_rate": 0.1, "b1": 0.3, "b2": 0.5,
                                        "eps": 1e-3})),
    Rule(optimizer="radam", flavor="optax",
         summary="optax.radam(learning_rate, b1, b2, eps, eps_root, threshold, nesterov)",
         hypers={**_ADAM_HYPERS, "threshold": 5.0}, flags={"nesterov": False},
         state_names=lambda static: ("grad_avg", "sqr_avg"), update_state=radam_state,
         step=radam_step, nonnegative=("sqr_avg",),
         library=_library("radam", {**_ADAM_ARGS, "threshold": "threshold",
                                     "nesterov": "nesterov"},
                          {"grad_avg": "mu", "sqr_avg": "nu"}, eps=EPS_AFTER_CORRECTION,
                          bias=BIAS_BOTH + " (rectified once rho_t >= threshold, 5; the "
                                           "bias-corrected momentum alone before)",
                          momentum=Switch("nesterov", EWMA, NADAM_OPTAX), start=ZEROS,
                          decay=NONE),
         grid=({"learning_rate": 0.01}, {"learning_rate": 0.01, "b2": 0.9, "eps": 1e-3,
                                         "eps_root": 1e-4},
               {"learning_rate": 0.01, "b2": 0.9, "threshold": 4.5, "nesterov": True})),
    Rule(optimizer="lamb", flavor="optax",
         summary="optax.lamb(learning_rate, b1, b2, eps, eps_root, weight_decay)",
         hypers={**_ADAM_HYPERS, "eps": 1e-6, "wd": 0.0}, flags={},
         state_names=lambda static: ("grad_avg", "sqr_avg"), update_state=adam_state,
         step=lamb_step, nonnegative=("sqr_avg",),
         library=_library("lamb", {**_ADAM_ARGS, "weight_decay": "wd"},
                          {"grad_avg": "mu", "sqr_avg": "nu"}, eps=EPS_AFTER_CORRECTION,
                          bias=BIAS_BOTH, momentum=LAMB_TRUST, start=ZEROS,
                          decay=IN_UPDATE + ", before the trust ratio"),
         grid=({"learning_rate": 0.01}, {"learning_rate": 0.01, "b1": 0.5, "eps": 1e-3,
                                         "eps_root": 1e-4, "weight_decay": 0.05})),
)
