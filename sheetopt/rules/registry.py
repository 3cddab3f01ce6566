"""The one table of optimizers (torch's ``OptimizerInfo`` idea): every rule sheetopt has, with
its hyperparameters and defaults, flags, state names and start state, the states that may not
start negative, the torch.optim class it follows (constructor names, state keys, code paths)
and the option grid its parity tests run. The spec parser, the compiled executor, the
workbook, the torch replay and the tests all read this table; adding an optimizer is a rule
plus an entry here.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Mapping

from . import (adafactor, adam, asgd, fastai_rules, keras_rules, lecture, optax_rules, rmsprop,
               rprop, sgd)
from .base import Reset, Rule, TorchClass

FLAVORS = ("lecture", "torch", "keras", "optax", "fastai")
# the flavours that follow another framework than torch.optim, each in its own module
FRAMEWORK_RULES = (*keras_rules.RULES, *optax_rules.RULES, *fastai_rules.RULES)


def _no_state(static):
    return ()


def _keep(_p, _g, state, *_):
    return dict(state)


def _states(*names):
    return lambda static: names


def _betas(extra: Mapping[str, str] | None = None) -> dict:
    return {"lr": "lr", "betas": ("mom", "sqr_mom"), "eps": "eps", "weight_decay": "wd",
            **(extra or {}), "maximize": "maximize"}


def _rprop_check(values: Mapping) -> str | None:
    if not 0 < values["eta_minus"] < 1 < values["eta_plus"]:
        return (f"needs 0 < eta_minus < 1 < eta_plus, as torch.optim.Rprop does "
                f"(got {values['eta_minus']:g} and {values['eta_plus']:g})")
    return None  # (torch does not check step_sizes: clamp(min, max) takes max where min > max)


_ADAM_HYPERS = {"lr": 0.001, "mom": 0.9, "sqr_mom": 0.999, "eps": 1e-8, "wd": 0.0}
_ADAM_STATE_KEYS = {"grad_avg": "exp_avg", "sqr_avg": "exp_avg_sq",
                    "max_sqr_avg": "max_exp_avg_sq"}
# float64's machine epsilon: Adafactor's eps1 default (torch.finfo(param.dtype).eps)
FLOAT64_EPS = 2.220446049250313e-16

_LECTURE = (
    Rule(optimizer="sgd", flavor="lecture", summary="p -= lr * g", hypers={"lr": None}, flags={},
         state_names=_no_state, update_state=_keep, step=lecture.sgd_step),
    Rule(optimizer="momentum", flavor="lecture",
         summary="grad_avg = mom*grad_avg + (1-mom)*g; p -= lr * grad_avg",
         hypers={"lr": None, "mom": 0.9}, flags={}, state_names=_states("grad_avg"),
         update_state=lecture.momentum_state, step=lecture.momentum_step,
         reset=Reset({"grad_avg": 0.0}, passes=1), notes=lecture.NOTES["momentum"]),
    Rule(optimizer="rmsprop", flavor="lecture",
         summary="sqr_avg = sqr_mom*sqr_avg + (1-sqr_mom)*g^2; p -= lr * g / sqrt(previous sqr_avg)",
         hypers={"lr": None, "sqr_mom": 0.9}, flags={}, state_names=_states("sqr_avg"),
         update_state=lecture.rmsprop_state, step=lecture.rmsprop_step,
         reset=Reset({"sqr_avg": 10000.0}, passes=2), notes=lecture.NOTES["rmsprop"],
         nonnegative=("sqr_avg",)),
    Rule(optimizer="adam", flavor="lecture",
         summary="grad_avg and sqr_avg as EWMAs of g and g^2; p -= lr * grad_avg / sqrt(sqr_avg)",
         hypers={"lr": None, "mom": 0.9, "sqr_mom": 0.9}, flags={},
         state_names=_states("grad_avg", "sqr_avg"), update_state=lecture.adam_state,
         step=lecture.adam_step, reset=Reset({"grad_avg": 0.0, "sqr_avg": 10000.0}, passes=2),
         notes=lecture.NOTES["adam"], nonnegative=("sqr_avg",)),
)

_SGD = Rule(optimizer="sgd", flavor="torch",
            summary="torch.optim.SGD(lr, momentum=mom, dampening, nesterov, weight_decay=wd)",
            hypers={"lr": 0.001, "mom": 0.0, "dampening": 0.0, "wd": 0.0},
            flags={"nesterov": False, "maximize": False}, state_names=sgd.states,
            update_state=sgd.update_state, step=sgd.step,
            notes={"mom_buf": "torch: the buffer starts at the first gradient (no (1-mom) damping)."},
            torch=TorchClass("SGD", {"lr": "lr", "momentum": "mom", "dampening": "dampening",
                             "weight_decay": "wd", "nesterov": "nesterov",
                             "maximize": "maximize"},
                     {"mom_buf": "momentum_buffer"}, paths=("foreach", "fused"), preload=False),
            grid=({"lr": 0.0001}, {"lr": 0.0001, "momentum": 0.9, "dampening": 0.1, "weight_decay": 0.01},
          {"lr": 1e-6, "momentum": 0.9, "nesterov": True, "maximize": True}))

_TORCH = (
    _SGD,
    # "momentum" in the torch flavour: torch.optim.SGD with a momentum buffer (mom 0.9 unless
    # given)
    replace(_SGD, optimizer="momentum",
            summary="torch.optim.SGD(lr, momentum=mom, dampening, nesterov, weight_decay=wd), "
                    "mom 0.9", hypers={**_SGD.hypers, "mom": 0.9}, grid=()),
    Rule(optimizer="rmsprop", flavor="torch",
         summary="torch.optim.RMSprop(lr, alpha=sqr_mom, eps, weight_decay=wd, momentum=mom, centered)",
         hypers={"lr": 0.01, "sqr_mom": 0.99, "eps": 1e-8, "wd": 0.0, "mom": 0.0},
         flags={"centered": False, "maximize": False}, state_names=rmsprop.rmsprop_states,
         update_state=rmsprop.rmsprop_state, step=rmsprop.rmsprop_step, nonnegative=("sqr_avg",),
         torch=TorchClass("RMSprop", {"lr": "lr", "alpha": "sqr_mom", "eps": "eps",
                                      "weight_decay": "wd", "momentum": "mom",
                                      "centered": "centered", "maximize": "maximize"},
                          {"sqr_avg": "square_avg", "grad_avg": "grad_avg",
                           "mom_buf": "momentum_buffer"}),
         grid=({"lr": 0.01}, {"lr": 0.01, "momentum": 0.9, "centered": True, "weight_decay": 0.01},
               {"lr": 0.01, "alpha": 0.3, "maximize": True})),
    Rule(optimizer="adam", flavor="torch",
         summary="torch.optim.Adam(lr, betas=(mom, sqr_mom), eps, weight_decay=wd, amsgrad, "
         "decoupled_weight_decay=decoupled)",
         hypers=_ADAM_HYPERS, flags={"amsgrad": False, "decoupled": False, "maximize": False},
         state_names=adam.adam_states, update_state=adam.adam_state, step=adam.adam_step,
         notes={"new_p": "torch: bias-corrected by 1 - beta^t, epsilon added after the sqrt."},
         nonnegative=("sqr_avg", "max_sqr_avg"),
         torch=TorchClass("Adam", _betas({"amsgrad": "amsgrad",
                                          "decoupled_weight_decay": "decoupled"}),
                          _ADAM_STATE_KEYS, paths=("foreach", "fused")),
         grid=({"lr": 0.1}, {"lr": 0.1, "amsgrad": True, "weight_decay": 0.05, "betas": [0.3, 0.999]},
               {"lr": 0.1, "decoupled_weight_decay": True, "weight_decay": 0.05,
                "maximize": True})),
    Rule(optimizer="adamw", flavor="torch",
         summary="torch.optim.AdamW(lr, betas=(mom, sqr_mom), eps, weight_decay=wd, amsgrad)",
         hypers=dict(_ADAM_HYPERS, wd=0.01),
         flags={"amsgrad": False, "decoupled": True, "maximize": False},
         state_names=adam.adam_states, update_state=adam.adam_state, step=adam.adam_step,
         notes={"new_p": "torch AdamW: p is first multiplied by (1 - lr*wd)."},
         nonnegative=("sqr_avg", "max_sqr_avg"), options=("amsgrad", "maximize"),
         torch=TorchClass("AdamW", _betas({"amsgrad": "amsgrad"}), _ADAM_STATE_KEYS,
                          paths=("foreach", "fused")),
         grid=({"lr": 0.1}, {"lr": 0.1, "amsgrad": True, "weight_decay": 0.05, "maximize": True})),
    Rule(optimizer="adagrad", flavor="torch",
         summary="torch.optim.Adagrad(lr, lr_decay, weight_decay=wd, initial_accumulator_value=init_acc, "
         "eps)",
         hypers={"lr": 0.01, "lr_decay": 0.0, "wd": 0.0, "init_acc": 0.0, "eps": 1e-10},
         flags={"maximize": False}, state_names=_states("sum"), update_state=rmsprop.adagrad_state,
         step=rmsprop.adagrad_step,
         notes={"sum": "torch Adagrad: a SUM of g^2 (no decay), started at "
                       "initial_accumulator_value; the step is lr / (1 + (t-1)*lr_decay) "
                       "* g / (sqrt(sum) + eps)."},
         start={"sum": "init_acc"}, nonnegative=("sum",),
         torch=TorchClass("Adagrad", {"lr": "lr", "lr_decay": "lr_decay", "weight_decay": "wd",
                                      "initial_accumulator_value": "init_acc", "eps": "eps",
                                      "maximize": "maximize"}, {"sum": "sum"},
                          paths=("foreach", "fused")),
         grid=({"lr": 0.5}, {"lr": 0.5, "lr_decay": 0.01, "initial_accumulator_value": 0.1,
                             "weight_decay": 0.01},
               {"lr": 0.5, "eps": 1e-3, "maximize": True})),
    Rule(optimizer="adadelta", flavor="torch",
         summary="torch.optim.Adadelta(lr, rho, eps, weight_decay=wd)",
         hypers={"lr": 1.0, "rho": 0.9, "eps": 1e-6, "wd": 0.0}, flags={"maximize": False},
         state_names=_states("sqr_avg", "acc_delta"), update_state=rmsprop.adadelta_state,
         step=rmsprop.adadelta_step,
         notes={"acc_delta": "torch Adadelta: the step is sqrt(acc_delta + eps) / "
                             "sqrt(sqr_avg + eps) * g with the acc_delta of BEFORE this step; "
                             "acc_delta then averages the squared steps."},
         nonnegative=("sqr_avg", "acc_delta"),
         torch=TorchClass("Adadelta", {"lr": "lr", "rho": "rho", "eps": "eps",
                                       "weight_decay": "wd", "maximize": "maximize"},
                          {"sqr_avg": "square_avg", "acc_delta": "acc_delta"}),
         grid=({"lr": 1.0}, {"lr": 5.0, "rho": 0.5, "eps": 1e-3, "weight_decay": 0.01},
               {"lr": 1.0, "rho": 0.99, "maximize": True})),
    Rule(optimizer="adamax", flavor="torch",
         summary="torch.optim.Adamax(lr, betas=(mom, sqr_mom), eps, weight_decay=wd)",
         hypers=dict(_ADAM_HYPERS, lr=0.002), flags={"maximize": False},
         state_names=_states("grad_avg", "exp_inf"), update_state=adam.adamax_state,
         step=adam.adamax_step,
         notes={"exp_inf": "torch Adamax: max(sqr_mom * exp_inf, |g| + eps), an infinity norm "
                           "in place of Adam's root of squares; only the first moment is "
                           "bias-corrected."},
         nonnegative=("exp_inf",),
         torch=TorchClass("Adamax", _betas(), {"grad_avg": "exp_avg", "exp_inf": "exp_inf"}),
         grid=({"lr": 0.1}, {"lr": 0.1, "betas": [0.3, 0.5], "weight_decay": 0.05},
               {"lr": 0.1, "eps": 1e-3, "maximize": True})),
    Rule(optimizer="nadam", flavor="torch",
         summary="torch.optim.NAdam(lr, betas=(mom, sqr_mom), eps, weight_decay=wd, "
         "momentum_decay=mom_decay, decoupled_weight_decay=decoupled)",
         hypers=dict(_ADAM_HYPERS, lr=0.002, mom_decay=0.004),
         flags={"decoupled": False, "maximize": False},
         state_names=_states("grad_avg", "sqr_avg", "mu_product"), update_state=adam.nadam_state,
         step=adam.nadam_step,
         notes={"mu_product": "torch NAdam: the product of the momenta mu_t = mom * (1 - "
                              "0.5 * 0.96^(t * mom_decay)) so far; the step mixes g and "
                              "grad_avg with this and the next step's mu."},
         start={"mu_product": 1.0}, nonnegative=("sqr_avg",),
         torch=TorchClass("NAdam", _betas({"momentum_decay": "mom_decay",
                                           "decoupled_weight_decay": "decoupled"}),
                          {"grad_avg": "exp_avg", "sqr_avg": "exp_avg_sq",
                           "mu_product": "mu_product"}, scalar_states=("mu_product",),
                          float64_default=True),
         grid=({"lr": 0.1}, {"lr": 0.1, "momentum_decay": 0.04, "weight_decay": 0.05,
                             "betas": [0.3, 0.999]},
               {"lr": 0.1, "decoupled_weight_decay": True, "weight_decay": 0.05,
                "maximize": True})),
    Rule(optimizer="radam", flavor="torch",
         summary="torch.optim.RAdam(lr, betas=(mom, sqr_mom), eps, weight_decay=wd, "
         "decoupled_weight_decay=decoupled)",
         hypers=_ADAM_HYPERS, flags={"decoupled": False, "maximize": False},
         state_names=_states("grad_avg", "sqr_avg"), update_state=adam.radam_state,
         step=adam.radam_step,
         notes={"new_p": "torch RAdam: while rho_t = rho_inf - 2t sqr_mom^t / (1 - sqr_mom^t) "
                         "is at most 5 the step is plain momentum SGD (no division by "
                         "sqr_avg); after that, Adam's step times the rectification term."},
         nonnegative=("sqr_avg",),
         torch=TorchClass("RAdam", _betas({"decoupled_weight_decay": "decoupled"}),
                          {"grad_avg": "exp_avg", "sqr_avg": "exp_avg_sq"}),
         grid=({"lr": 0.001}, {"lr": 0.01, "betas": [0.9, 0.9], "weight_decay": 0.05},
               {"lr": 0.001, "decoupled_weight_decay": True, "weight_decay": 0.05,
                "maximize": True})),
    Rule(optimizer="asgd", flavor="torch",
         summary="torch.optim.ASGD(lr, lambd, alpha, t0, weight_decay=wd)",
         hypers={"lr": 0.01, "lambd": 1e-4, "alpha": 0.75, "t0": 1e6, "wd": 0.0},
         flags={"maximize": False}, state_names=_states("eta", "mu", "ax"),
         update_state=asgd.update_state, step=asgd.step,
         notes={"ax": "torch ASGD: ax is the running average of the parameters from step t0 "
                      "on (a copy of them before); the parameters themselves are what the "
                      "loss sees.",
                "eta": "torch ASGD: eta = lr / (1 + lambd*lr*t)^alpha, used by the NEXT step "
                       "(the first step uses lr)."},
         start={"eta": "lr", "mu": 1.0},
         torch=TorchClass("ASGD", {"lr": "lr", "lambd": "lambd", "alpha": "alpha", "t0": "t0",
                                   "weight_decay": "wd", "maximize": "maximize"},
                          {"eta": "eta", "mu": "mu", "ax": "ax"}, float64_default=True,
                          scalar_states=("eta", "mu")),
         grid=({"lr": 0.0001}, {"lr": 0.0001, "lambd": 0.01, "alpha": 0.5, "t0": 20.0,
                                "weight_decay": 0.01},
               {"lr": 0.0001, "t0": 0.0, "maximize": True})),
    Rule(optimizer="rprop", flavor="torch",
         summary="torch.optim.Rprop(lr, etas=(eta_minus, eta_plus), "
         "step_sizes=(step_min, step_max))",
         hypers={"lr": 0.01, "eta_minus": 0.5, "eta_plus": 1.2, "step_min": 1e-6, "step_max": 50.0},
         flags={"maximize": False}, state_names=_states("prev", "step_size"),
         update_state=rprop.update_state, step=rprop.step,
         notes={"step_size": "torch Rprop: the step size grows by eta_plus while de/dp keeps "
                             "its sign, shrinks by eta_minus when it flips (and that step is "
                             "skipped: prev is set to 0), clamped to [step_min, step_max]; "
                             "it starts at lr."},
         start={"step_size": "lr"}, nonnegative=("step_size",), check=_rprop_check,
         torch=TorchClass("Rprop", {"lr": "lr", "etas": ("eta_minus", "eta_plus"),
                                    "step_sizes": ("step_min", "step_max"),
                                    "maximize": "maximize"},
                          {"prev": "prev", "step_size": "step_size"}),
         grid=({"lr": 0.01}, {"lr": 0.5, "etas": [0.3, 1.5], "step_sizes": [1e-6, 2.0]},
               {"lr": 0.01, "step_sizes": [0.001, 50.0], "maximize": True})),
    Rule(optimizer="adafactor", flavor="torch",
         summary="torch.optim.Adafactor(lr, beta2_decay, eps=(eps1, eps2), d, weight_decay=wd)",
         hypers={"lr": 0.01, "beta2_decay": -0.8, "eps1": FLOAT64_EPS, "eps2": 1e-3, "d": 1.0,
          "wd": 0.0}, flags={"maximize": False}, state_names=_states("sqr_avg"),
         update_state=adafactor.update_state, step=adafactor.step,
         notes={"sqr_avg": "torch Adafactor (unfactored: a scalar parameter): an average of "
                           "g^2 with weight t^beta2_decay, no bias correction needed.",
                "new_p": "torch Adafactor: the step is max(eps2, |p|) * min(lr, 1/sqrt(t)) "
                         "times g / sqrt(sqr_avg), clipped to at most d in size. |p| and the "
                         "clip are torch's norms over the whole tensor: here each parameter "
                         "is its own tensor."},
         nonnegative=("sqr_avg",),
         torch=TorchClass("Adafactor", {"lr": "lr", "beta2_decay": "beta2_decay",
                                        "eps": ("eps1", "eps2"), "d": "d",
                                        "weight_decay": "wd", "maximize": "maximize"},
                          {"sqr_avg": "variance"}, elementwise=False),
         grid=({"lr": 0.01}, {"lr": 0.5, "beta2_decay": -0.5, "eps": [1e-20, 0.1], "d": 2.0,
                              "weight_decay": 0.01},
               {"lr": 0.01, "maximize": True})),
)


def _named(rules: tuple[Rule, ...], optimizer: str) -> Rule:
    return next(rule for rule in rules if rule.optimizer == optimizer)


def _annealed(rule: Rule) -> Rule:
    """adam_ann: adam with the lecture's learning-rate annealing between epochs."""
    return replace(rule, optimizer="adam_ann", schedule="adam_ann", grid=())


REGISTRY: tuple[Rule, ...] = (
    *_LECTURE, _annealed(_named(_LECTURE, "adam")), *_TORCH, _annealed(_named(_TORCH, "adam")),
    *FRAMEWORK_RULES)

LECTURE_RULES = {r.optimizer: r for r in REGISTRY if r.flavor == "lecture"}
TORCH_RULES = {r.optimizer: r for r in REGISTRY if r.flavor == "torch"}
OPTIMIZERS = tuple(dict.fromkeys(r.optimizer for r in REGISTRY))

# the range each hyperparameter must lie in, as torch.optim checks it (lr > 0 is sheetopt's own:
# a zero step shows nothing)
HYPER_RANGES = {
    "lr": (lambda v: v > 0, "> 0"),
    "mom": (lambda v: 0 <= v < 1, "in [0, 1)"),
    "sqr_mom": (lambda v: 0 <= v < 1, "in [0, 1)"),
    "eps": (lambda v: v >= 0, ">= 0"),
    "wd": (lambda v: v >= 0, ">= 0"),
    "dampening": (lambda v: 0 <= v <= 1, "in [0, 1]"),
    "lr_decay": (lambda v: v >= 0, ">= 0"),
    "init_acc": (lambda v: v >= 0, ">= 0"),
    "rho": (lambda v: 0 <= v <= 1, "in [0, 1]"),
    "mom_decay": (lambda v: v >= 0, ">= 0"),
    "lambd": (lambda v: v >= 0, ">= 0"),
    "alpha": (lambda v: v >= 0, ">= 0"),
    "t0": (lambda v: True, "a number"),
    "eta_minus": (lambda v: v > 0, "> 0"),
    "eta_plus": (lambda v: v > 0, "> 0"),
    "step_min": (lambda v: v >= 0, ">= 0"),
    "step_max": (lambda v: v > 0, "> 0"),
    "beta2_decay": (lambda v: v <= 0, "<= 0"),
    "eps1": (lambda v: v >= 0, ">= 0"),
    "eps2": (lambda v: v >= 0, ">= 0"),
    "d": (lambda v: v >= 1, ">= 1"),
    "eps_root": (lambda v: v >= 0, ">= 0"),
    "nu_1": (lambda v: 0 <= v <= 1, "in [0, 1]"),
    "nu_2": (lambda v: 0 <= v <= 1, "in [0, 1]"),
    "threshold": (lambda v: True, "a number"),
    "trust_coeff": (lambda v: v >= 0, ">= 0"),
}


ANY = (lambda v: True, "a number")
# torch.optim's own checks (torch 2.13's constructors), where they differ from the above: the
# torch flavour accepts what torch accepts (docs/torch-differences.md lists each case)
TORCH_RANGES = {
    "lr": (lambda v: v >= 0, ">= 0"),
    "dampening": ANY, "lambd": ANY, "alpha": ANY, "t0": ANY, "step_min": ANY, "step_max": ANY,
}
TORCH_CLASS_RANGES = {  # momentum and alpha unbounded above in SGD and RMSprop
    "SGD": {"mom": (lambda v: v >= 0, ">= 0")},
    "RMSprop": {"mom": (lambda v: v >= 0, ">= 0"), "sqr_mom": (lambda v: v >= 0, ">= 0")},
}


def hyper_range(rule: Rule, name: str) -> tuple:
    """(test, words): the range a hyperparameter of ``rule`` must lie in; a torch-flavour
    rule's is torch.optim's own check.

    Example:
        >>> test, words = hyper_range(rule_for("sgd", "torch"), "mom")
        >>> test(1.5), words
        (True, '>= 0')
    """
    if rule.flavor == "torch" and rule.torch is not None:
        own = TORCH_CLASS_RANGES.get(rule.torch.name, {})
        if name in own:
            return own[name]
        if name in TORCH_RANGES:
            return TORCH_RANGES[name]
    return HYPER_RANGES[name]


def rule_for(optimizer: str, flavor: str) -> Rule:
    """The rule behind an optimizer name in a flavour (KeyError when there is none)."""
    for rule in REGISTRY:
        if rule.optimizer == optimizer and rule.flavor == flavor:
            return rule
    raise KeyError(optimizer)


# names that stand for another rule: SGD with a momentum buffer, Adam under the lecture's annealing
RULE_ALIASES = ("momentum", "adam_ann")


def torch_classes() -> tuple[Rule, ...]:
    """One rule per torch.optim class (the aliases momentum and adam_ann left out), in the
    table's order: what a suite over every class iterates."""
    return tuple(r for r in REGISTRY if r.flavor == "torch"
                 and r.optimizer not in RULE_ALIASES)


def state_label(state: str, param: str) -> str:
    """What a state column of parameter ``param`` is called in words (workbook headers)."""
    return STATE_LABELS.get(state, state.replace("_", " ") + " {p}").format(p=param)


STATE_LABELS = {"grad_avg": "avg de/d{p}", "sqr_avg": "avg (de/d{p})^2", "mom_buf": "buf {p}",
                "max_sqr_avg": "max avg (de/d{p})^2", "sum": "sum (de/d{p})^2",
                "acc_delta": "avg delta {p}^2", "exp_inf": "max |de/d{p}|",
                "mu_product": "mu product {p}", "eta": "eta {p}", "mu": "mu {p}",
                "ax": "avg {p}", "prev": "prev de/d{p}", "step_size": "step size {p}"}


def _all_states(rule: Rule) -> tuple[str, ...]:
    """Every state a rule may keep, over all of its flag and momentum shapes."""
    found: dict[str, None] = {}
    for mom in (0.0, 0.5):
        for on in (False, True):
            static = {**rule.hypers, **{f: on for f in rule.flags}, "mom": mom}
            found.update(dict.fromkeys(rule.states(static)))
    return tuple(found)


STATE_NAMES = tuple(dict.fromkeys(s for r in REGISTRY for s in _all_states(r)))


def markdown_table() -> str:
    """The table of torch.optim classes in docs/optimizers.md: sheetopt's optimizer key, the
    class, its arguments as torch spells them (sheetopt's name in brackets where it differs, then
    the default), the state kept (torch's state key in brackets where it differs) and torch's other
    code paths."""
    lines = ["| `optimizer` | torch.optim class | arguments (sheetopt's name) default | "
             "state (torch's key) | other torch paths |", "|---|---|---|---|---|"]
    for rule in torch_classes():
        info, args = rule.torch, []
        for arg, ours in info.args.items():
            names = ours if isinstance(ours, tuple) else (ours,)
            spelled = f"[{', '.join(names)}]" if isinstance(ours, tuple) else ours
            text = f"`{arg}`" + (f" (`{spelled}`)" if spelled != arg else "")
            if names[0] in rule.hypers:
                text += " " + ", ".join("required" if rule.hypers[n] is None
                                        else "machine eps" if rule.hypers[n] == FLOAT64_EPS
                                        else f"{rule.hypers[n]:g}" for n in names)
            args.append(text)
        states = ", ".join(f"`{s}`" + (f" (`{key}`)" if key != s else "")
                           for s, key in info.state_keys.items())
        lines.append(f"| `{rule.optimizer}` | {info.name} | {', '.join(args)} | {states} | "
                     f"{', '.join(info.paths)} |")
    return "\n".join(lines)
