"""The keras flavour: Keras 3's optimizers as keras/src/optimizers/*.py compute them.

Every Keras optimizer first decays the weights when ``weight_decay`` is set, p*(1 - wd*lr)
(decoupled: Keras's AdamW is Adam with a default weight_decay), then runs its update_step;
``t`` is Keras's ``iterations + 1``. With no weight decay the factor is 1 - 0*lr = 1, exact.
"""
from __future__ import annotations

from .aspects import (ADADELTA_EPS, BIAS_BOTH, BIAS_FIRST, BIAS_FOLDED, DECOUPLED,
                      EPS_AFTER_CORRECTION, EPS_INSIDE_ROOT, EPS_RAW_ROOT, EWMA, LAMB_TRUST, LION,
                      LR_INSIDE, NADAM_KERAS, NONE, RMS_LR_INSIDE, SUM_START, ZEROS, Switch)
from .base import Library, Rule
from .pieces import decoupled_decay, ewma, moved_toward, tensor_norm, trust_ratio

SOURCE = "keras/src/optimizers/{}.py"
# what KERAS_BACKEND=torch runs in place of update_step for some classes (torch's foreach ops)
TORCH_SOURCE = "keras/src/backend/torch/optimizers/torch_{}.py"
_COMMON = {"learning_rate": "lr", "weight_decay": "wd"}
_BETAS = {**_COMMON, "beta_1": "mom", "beta_2": "sqr_mom", "epsilon": "eps"}


# --- SGD ----------------------------------------------------------------------------------------
def sgd_states(static):
    return ("mom_buf",) if static.get("mom") else ()


def sgd_state(p, g, state, hp, t, ops, static):
    if not static.get("mom"):
        return {}
    return {"mom_buf": state["mom_buf"] * hp["mom"] - g * hp["lr"]}  # lr inside the velocity


def sgd_step(p, g, prev, new, hp, t, ops, static):
    p = decoupled_decay(p, hp)
    if not static.get("mom"):
        return p - g * hp["lr"]
    if static.get("nesterov"):
        return p + (new["mom_buf"] * hp["mom"] - g * hp["lr"])
    return p + new["mom_buf"]


# --- RMSprop ------------------------------------------------------------------------------------
def rmsprop_states(static):
    return ("sqr_avg", *(("grad_avg",) if static.get("centered") else ()),
            *(("mom_buf",) if static.get("mom") else ()))


def _rmsprop_increment(g, new, hp, ops, static):
    """lr*g / sqrt(v + eps): eps INSIDE the root, lr applied before the momentum."""
    if static.get("centered"):
        denominator = new["sqr_avg"] - new["grad_avg"] * new["grad_avg"] + hp["eps"]
    else:
        denominator = new["sqr_avg"] + hp["eps"]
    return hp["lr"] * g / ops.sqrt(denominator)


def rmsprop_state(p, g, state, hp, t, ops, static):
    new = {"sqr_avg": ewma(state["sqr_avg"], g * g, hp["sqr_mom"])}
    if static.get("centered"):
        new["grad_avg"] = ewma(state["grad_avg"], g, hp["sqr_mom"])
    if static.get("mom"):
        new["mom_buf"] = hp["mom"] * state["mom_buf"] + _rmsprop_increment(g, new, hp, ops,
                                                                           static)
    return new


def rmsprop_step(p, g, prev, new, hp, t, ops, static):
    p = decoupled_decay(p, hp)
    if static.get("mom"):
        return p - new["mom_buf"]
    return p - _rmsprop_increment(g, new, hp, ops, static)


# --- Adam, AdamW, Adamax ------------------------------------------------------------------------
def adam_states(static):
    return ("grad_avg", "sqr_avg", *(("max_sqr_avg",) if static.get("amsgrad") else ()))


def adam_state(p, g, state, hp, t, ops, static):
    new = {"grad_avg": moved_toward(state["grad_avg"], g, hp["mom"]),
           "sqr_avg": moved_toward(state["sqr_avg"], g * g, hp["sqr_mom"])}
    if static.get("amsgrad"):
        new["max_sqr_avg"] = ops.maximum(state["max_sqr_avg"], new["sqr_avg"])
    return new


def adam_step(p, g, prev, new, hp, t, ops, static):
    p = decoupled_decay(p, hp)
    # the bias corrections folded into the step size; eps is added to the RAW sqrt(v)
    alpha = hp["lr"] * ops.sqrt(1 - ops.power(hp["sqr_mom"], t)) / (
        1 - ops.power(hp["mom"], t))
    second = new["max_sqr_avg"] if static.get("amsgrad") else new["sqr_avg"]
    return p - new["grad_avg"] * alpha / (ops.sqrt(second) + hp["eps"])


def adamax_state(p, g, state, hp, t, ops, static):
    return {"grad_avg": moved_toward(state["grad_avg"], g, hp["mom"]),
            "exp_inf": ops.maximum(hp["sqr_mom"] * state["exp_inf"], ops.abs(g))}


def adamax_step(p, g, prev, new, hp, t, ops, static):
    p = decoupled_decay(p, hp)
    return p - hp["lr"] * new["grad_avg"] / (
        (1 - ops.power(hp["mom"], t)) * (new["exp_inf"] + hp["eps"]))


# --- Adagrad ------------------------------------------------------------------------------------
def adagrad_state(p, g, state, hp, t, ops, static):
    return {"sum": state["sum"] + g * g}


def adagrad_step(p, g, prev, new, hp, t, ops, static):
    p = decoupled_decay(p, hp)
    return p - hp["lr"] * g / ops.sqrt(new["sum"] + hp["eps"])


# --- Lion ---------------------------------------------------------------------------------------
def lion_state(p, g, state, hp, t, ops, static):
    return {"grad_avg": state["grad_avg"] * hp["sqr_mom"] + g * (1.0 - hp["sqr_mom"])}


def lion_step(p, g, prev, new, hp, t, ops, static):
    p = decoupled_decay(p, hp)
    # the sign of a mix with beta_1 of the average from BEFORE this step
    return p - hp["lr"] * ops.sign(prev["grad_avg"] * hp["mom"] + g * (1.0 - hp["mom"]))


# --- Adadelta (the torch backend's _parallel_update_step) ---------------------------------------
def _square_average(avg, value, rho):
    """``_foreach_mul_(avg, rho); _foreach_add_(avg, value*value, alpha=1 - rho)``."""
    return avg * rho + (1 - rho) * (value * value)


def _adadelta_delta(g, acc_delta, sqr_avg, hp, ops):
    """rms(acc_delta)*g / rms(sqr_avg), rms(x) = sqrt(x + eps): acc_delta from before the step."""
    return ops.sqrt(acc_delta + hp["eps"]) * g / ops.sqrt(sqr_avg + hp["eps"])


def adadelta_state(p, g, state, hp, t, ops, static):
    sqr_avg = _square_average(state["sqr_avg"], g, hp["rho"])
    delta = _adadelta_delta(g, state["acc_delta"], sqr_avg, hp, ops)
    return {"sqr_avg": sqr_avg, "acc_delta": _square_average(state["acc_delta"], delta,
                                                             hp["rho"])}


def adadelta_step(p, g, prev, new, hp, t, ops, static):
    p = decoupled_decay(p, hp)
    return p - hp["lr"] * _adadelta_delta(g, prev["acc_delta"], new["sqr_avg"], hp, ops)


# --- Nadam (the torch backend's _parallel_update_step) -------------------------------------------
def _nadam_mus(hp, t, ops):
    """u_t = beta_1*(1 - 0.5*0.96^t) and the next step's: Keras 3's momentum schedule."""
    return (hp["mom"] * (1.0 - 0.5 * ops.power(0.96, t)),
            hp["mom"] * (1.0 - 0.5 * ops.power(0.96, t + 1)))


def nadam_state(p, g, state, hp, t, ops, static):
    u_t, _ = _nadam_mus(hp, t, ops)
    return {"grad_avg": state["grad_avg"] * hp["mom"] + (1 - hp["mom"]) * g,
            "sqr_avg": _square_average(state["sqr_avg"], g, hp["sqr_mom"]),
            "mu_product": state["mu_product"] * u_t}


def nadam_step(p, g, prev, new, hp, t, ops, static):
    p = decoupled_decay(p, hp)
    u_t, u_next = _nadam_mus(hp, t, ops)
    m_hat = (new["grad_avg"] * u_next / (1 - new["mu_product"] * u_next)
             + g * (1 - u_t) / (1 - new["mu_product"]))
    v_hat = new["sqr_avg"] / (1 - ops.power(hp["sqr_mom"], t))
    return p - m_hat * hp["lr"] / (ops.sqrt(v_hat) + hp["eps"])


# --- Lamb ---------------------------------------------------------------------------------------
def lamb_step(p, g, prev, new, hp, t, ops, static):
    p = decoupled_decay(p, hp)
    m_hat = new["grad_avg"] / (1.0 - ops.power(hp["mom"], t))
    update = m_hat / (ops.sqrt(new["sqr_avg"] / (1.0 - ops.power(hp["sqr_mom"], t)))
                      + hp["eps"])
    ratio = trust_ratio(tensor_norm(p, ops), tensor_norm(update, ops), ops)
    return p - ratio * hp["lr"] * update


def _library(cls: str, module: str, args: dict, state_keys: dict, source: str = SOURCE,
             **differs) -> Library:
    return Library(name=f"keras.optimizers.{cls}", source=source.format(module), args=args,
                   state_keys=state_keys, differs=differs)


_ADAM_ARGS = {**_BETAS, "amsgrad": "amsgrad"}
_ADAM_KEYS = {"grad_avg": "momentums", "sqr_avg": "velocities", "max_sqr_avg": "velocity_hats"}
_ADAM_DIFFERS = dict(eps=EPS_RAW_ROOT, bias=BIAS_FOLDED, momentum=EWMA, start=ZEROS,
                     decay=DECOUPLED)


def _adam(name: str, cls: str, module: str, wd: float) -> Rule:
    return Rule(optimizer=name, flavor="keras", summary=f"keras.optimizers.{cls}(learning_rate, "
                "beta_1, beta_2, epsilon, amsgrad, weight_decay)",
                hypers={"lr": 0.001, "mom": 0.9, "sqr_mom": 0.999, "eps": 1e-7, "wd": wd},
                flags={"amsgrad": False}, state_names=adam_states, update_state=adam_state,
                step=adam_step, nonnegative=("sqr_avg", "max_sqr_avg"),
                notes={"new_p": "Keras: eps is added to sqrt(v) BEFORE the bias correction "
                                "(folded into lr*sqrt(1-beta_2^t)/(1-beta_1^t))."},
                library=_library(cls, module, _ADAM_ARGS, _ADAM_KEYS, **_ADAM_DIFFERS),
                grid=({"learning_rate": 0.1}, {"learning_rate": 0.1, "amsgrad": True,
                                               "beta_1": 0.5, "epsilon": 1e-3},
                      {"learning_rate": 0.1, "weight_decay": 0.05, "beta_2": 0.9}))


RULES: tuple[Rule, ...] = (
    Rule(optimizer="sgd", flavor="keras",
         summary="keras.optimizers.SGD(learning_rate, momentum, nesterov, weight_decay)",
         hypers={"lr": 0.01, "mom": 0.0, "wd": 0.0}, flags={"nesterov": False},
         state_names=sgd_states, update_state=sgd_state, step=sgd_step,
         notes={"mom_buf": "Keras: the velocity holds lr: v = mom*v - lr*g; p += v."},
         library=_library("SGD", "sgd", {**_COMMON, "momentum": "mom", "nesterov": "nesterov"},
                          {"mom_buf": "momentums"}, eps=NONE, bias=NONE,
                          momentum=Switch("momentum", NONE, LR_INSIDE), start=ZEROS,
                          decay=DECOUPLED),
         grid=({"learning_rate": 0.0001}, {"learning_rate": 0.0001, "momentum": 0.9},
               {"learning_rate": 0.0001, "momentum": 0.5, "nesterov": True,
                "weight_decay": 0.01})),
    Rule(optimizer="rmsprop", flavor="keras",
         summary="keras.optimizers.RMSprop(learning_rate, rho, momentum, epsilon, centered, "
                 "weight_decay)",
         hypers={"lr": 0.001, "sqr_mom": 0.9, "mom": 0.0, "eps": 1e-7, "wd": 0.0},
         flags={"centered": False}, state_names=rmsprop_states, update_state=rmsprop_state,
         step=rmsprop_step, nonnegative=("sqr_avg",),
         notes={"new_p": "Keras RMSprop: eps INSIDE the square root, lr inside the momentum."},
         library=_library("RMSprop", "rmsprop",
                          {**_COMMON, "rho": "sqr_mom", "momentum": "mom", "epsilon": "eps",
                           "centered": "centered"},
                          {"sqr_avg": "_velocities", "grad_avg": "_average_gradients",
                           "mom_buf": "_momentums"},
                          eps=EPS_INSIDE_ROOT, bias=NONE,
                          momentum=Switch("momentum", NONE, RMS_LR_INSIDE), start=ZEROS,
                          decay=DECOUPLED),
         grid=({"learning_rate": 0.01}, {"learning_rate": 0.01, "momentum": 0.9,
                                         "centered": True, "rho": 0.5},
               {"learning_rate": 0.01, "epsilon": 1e-3, "weight_decay": 0.05})),
    _adam("adam", "Adam", "adam", 0.0),
    _adam("adamw", "AdamW", "adamw", 0.004),
    Rule(optimizer="adamax", flavor="keras",
         summary="keras.optimizers.Adamax(learning_rate, beta_1, beta_2, epsilon, weight_decay)",
         hypers={"lr": 0.001, "mom": 0.9, "sqr_mom": 0.999, "eps": 1e-7, "wd": 0.0}, flags={},
         state_names=lambda static: ("grad_avg", "exp_inf"), update_state=adamax_state,
         step=adamax_step, nonnegative=("exp_inf",),
         library=_library("Adamax", "adamax", _BETAS, {"grad_avg": "_m", "exp_inf": "_u"},
                          eps="after the max: (1 - beta_1^t)*(u + eps)", bias=BIAS_FIRST,
                          momentum=EWMA, start=ZEROS, decay=DECOUPLED),
         grid=({"learning_rate": 0.1}, {"learning_rate": 0.1, "beta_1": 0.3, "beta_2": 0.5,
                                        "weight_decay": 0.05})),
    Rule(optimizer="adagrad", flavor="keras",
         summary="keras.optimizers.Adagrad(learning_rate, initial_accumulator_value, epsilon, "
                 "weight_decay)",
         hypers={"lr": 0.001, "init_acc": 0.1, "eps": 1e-7, "wd": 0.0}, flags={},
         state_names=lambda static: ("sum",), update_state=adagrad_state, step=adagrad_step,
         start={"sum": "init_acc"}, nonnegative=("sum",),
         library=_library("Adagrad", "adagrad",
                          {**_COMMON, "initial_accumulator_value": "init_acc",
                           "epsilon": "eps"}, {"sum": "_accumulators"},
                          eps=EPS_INSIDE_ROOT, bias=NONE, momentum=NONE,
                          start=SUM_START, decay=DECOUPLED),
         grid=({"learning_rate": 0.5}, {"learning_rate": 0.5, "initial_accumulator_value": 0.0,
                                        "epsilon": 1e-3, "weight_decay": 0.01})),
    Rule(optimizer="lion", flavor="keras",
         summary="keras.optimizers.Lion(learning_rate, beta_1, beta_2, weight_decay)",
         hypers={"lr": 0.001, "mom": 0.9, "sqr_mom": 0.99, "wd": 0.0}, flags={},
         state_names=lambda static: ("grad_avg",), update_state=lion_state, step=lion_step,
         library=_library("Lion", "lion", {**_COMMON, "beta_1": "mom", "beta_2": "sqr_mom"},
                          {"grad_avg": "_momentums"}, eps=NONE, bias=NONE, momentum=LION,
                          start=ZEROS, decay=DECOUPLED),
         grid=({"learning_rate": 0.001}, {"learning_rate": 0.01, "beta_1": 0.5, "beta_2": 0.9,
                                          "weight_decay": 0.1})),
    Rule(optimizer="adadelta", flavor="keras",
         summary="keras.optimizers.Adadelta(learning_rate, rho, epsilon, weight_decay)",
         hypers={"lr": 0.001, "rho": 0.95, "eps": 1e-7, "wd": 0.0}, flags={},
         state_names=lambda static: ("sqr_avg", "acc_delta"), update_state=adadelta_state,
         step=adadelta_step, nonnegative=("sqr_avg", "acc_delta"),
         library=_library("Adadelta", "adadelta", {**_COMMON, "rho": "rho", "epsilon": "eps"},
                          {"sqr_avg": "_accumulated_grads",
                           "acc_delta": "_accumulated_delta_vars"}, source=TORCH_SOURCE,
                          eps=ADADELTA_EPS, bias=NONE, momentum=NONE, start=ZEROS,
                          decay=DECOUPLED),
         grid=({"learning_rate": 1.0}, {"learning_rate": 0.5, "rho": 0.5, "epsilon": 1e-3,
                                        "weight_decay": 0.01})),
    Rule(optimizer="nadam", flavor="keras",
         summary="keras.optimizers.Nadam(learning_rate, beta_1, beta_2, epsilon, weight_decay)",
         hypers={"lr": 0.001, "mom": 0.9, "sqr_mom": 0.999, "eps": 1e-7, "wd": 0.0}, flags={},
         state_names=lambda static: ("grad_avg", "sqr_avg", "mu_product"),
         update_state=nadam_state, step=nadam_step, start={"mu_product": 1.0},
         nonnegative=("sqr_avg",),
         notes={"mu_product": "Keras Nadam: the product of the momenta u_t = beta_1 * (1 - "
                              "0.5 * 0.96^t) so far (torch's is 0.96^(0.004 t))."},
         library=_library("Nadam", "nadam", _BETAS,
                          {"grad_avg": "_momentums", "sqr_avg": "_velocities",
                           "mu_product": "_u_product"}, source=TORCH_SOURCE,
                          eps=EPS_AFTER_CORRECTION, bias=BIAS_BOTH,
                          momentum=NADAM_KERAS, start=ZEROS, decay=DECOUPLED),
         grid=({"learning_rate": 0.1}, {"learning_rate": 0.1, "beta_1": 0.5, "beta_2": 0.9,
                                        "epsilon": 1e-3, "weight_decay": 0.05})),
    Rule(optimizer="lamb", flavor="keras",
         summary="keras.optimizers.Lamb(learning_rate, beta_1, beta_2, epsilon, weight_decay)",
         hypers={"lr": 0.001, "mom": 0.9, "sqr_mom": 0.999, "eps": 1e-7, "wd": 0.0}, flags={},
         state_names=lambda static: ("grad_avg", "sqr_avg"), update_state=adam_state,
         step=lamb_step, nonnegative=("sqr_avg",),
         notes={"new_p": "Keras Lamb: Adam's update u times the trust ratio ||p||/||u||; "
                         "each parameter is its own tensor, so ||p|| is |p|."},
         library=_library("Lamb", "lamb", _BETAS,
                          {"grad_avg": "_momentums", "sqr_avg": "_velocities"},
                          eps=EPS_AFTER_CORRECTION, bias=BIAS_BOTH, momentum=LAMB_TRUST,
                          start=ZEROS, decay=DECOUPLED),
         grid=({"learning_rate": 0.01}, {"learning_rate": 0.01, "beta_1": 0.5, "epsilon": 1e-3,
                                         "weight_decay": 0.05})),
)
