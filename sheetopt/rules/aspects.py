"""Where updates of the same name differ: per aspect (eps, bias correction, momentum, start,
weight decay) a phrase for each way a framework does it, written once, so that two rules
that do the same thing say it in the same words (``translate`` compares them; the docs table
prints them). A keras, optax or fastai rule names its phrases in ``Library.differs``; the
torch and lecture rules', which have no Library, are in ``TORCH`` and ``LECTURE`` below.
"""
from __future__ import annotations

from typing import Mapping, NamedTuple


class Switch(NamedTuple):
    """An aspect a flag decides: ``off`` without it, ``on`` with it."""

    flag: str
    off: str
    on: str

    def words(self, static: Mapping | None = None) -> str:
        if static is None:
            return f"{self.off}; with {self.flag}: {self.on}"
        return self.on if static.get(self.flag) else self.off

ASPECTS = {"eps": "where eps goes", "bias": "bias correction", "momentum": "momentum / lr",
           "start": "starting state", "decay": "weight decay"}

NONE = "none"
# eps
EPS_AFTER_CORRECTION = "after the bias correction: sqrt(v_hat) + eps"
EPS_RAW_ROOT = "added to the raw sqrt(v), before the bias correction (\"epsilon hat\")"
EPS_INSIDE_ROOT = "inside the root: sqrt(v + eps)"
EPS_AFTER_ROOT = "after the root: sqrt(v) + eps"
ADADELTA_EPS = "inside both roots: sqrt(acc_delta + eps)/sqrt(v + eps)"
# bias correction
BIAS_BOTH = "both moments divided by 1 - beta^t"
BIAS_FOLDED = BIAS_BOTH + " (folded into the step size: lr*sqrt(1 - beta_2^t)/(1 - beta_1^t))"
BIAS_FIRST = "the first moment only: 1 - beta_1^t"
# momentum
EWMA = "EWMA of g: b*m + (1 - b)*g"
LR_OUTSIDE = "lr outside the buffer: buf = m*buf + g; p -= lr*buf"
LR_INSIDE = "lr inside the buffer: v = m*v - lr*g; p += v"
RMS_LR_OUTSIDE = "lr outside the buffer: buf = m*buf + g/denominator; p -= lr*buf"
RMS_LR_INSIDE = "lr inside the buffer: buf = m*buf + lr*g/denominator; p -= buf"
RMS_RAW = "on the raw gradient, divided afterwards: buf = m*buf + g; p -= lr*buf/denominator"
LION = "sign(b1*m + (1 - b1)*g), then m = b2*m + (1 - b2)*g"
NADAM_TORCH = "mu_t = beta_1*(1 - 0.5*0.96^(0.004*t))"
NADAM_KERAS = "mu_t = beta_1*(1 - 0.5*0.96^t)"
NADAM_OPTAX = "Nesterov: b1*mu/(1 - b1^(t+1)) + (1 - b1)*g/(1 - b1^t)"
_TRUST = EWMA + "; the step u times the trust ratio ||p||/||u||"
_TRUST_WHY = " (1 where a norm is 0; each parameter its own tensor)"
LAMB_TRUST = _TRUST + _TRUST_WHY
LAMB_TRUST_CAPPED = _TRUST + ", at most 10" + _TRUST_WHY
# start
ZEROS = "zeros"
FIRST_GRADIENT = ZEROS + " (the buffer starts at the first gradient: the same numbers)"
RADAM_BIAS = BIAS_BOTH + " (rectified once rho_t > 5; plain momentum SGD before)"
SUM_START = "the sum starts at initial_accumulator_value"
# weight decay
COUPLED = "coupled (L2): g + wd*p"
DECOUPLED = "decoupled: p*(1 - lr*wd) first"
IN_UPDATE = DECOUPLED + " (written inside the update: p -= lr*(u + wd*p))"
FASTAI_DECAY = Switch("decouple_wd", COUPLED, DECOUPLED)

_TORCH_ADAM = dict(eps=EPS_AFTER_CORRECTION, bias=BIAS_BOTH, momentum=EWMA, start=ZEROS,
                   decay=Switch("decoupled_weight_decay", COUPLED, DECOUPLED))
TORCH: Mapping[str, Mapping[str, str]] = {
    "sgd": dict(eps=NONE, bias=NONE, momentum=Switch("momentum", NONE, LR_OUTSIDE),
                start=FIRST_GRADIENT, decay=COUPLED),
    "rmsprop": dict(eps=EPS_AFTER_ROOT, bias=NONE,
                    momentum=Switch("momentum", NONE, RMS_LR_OUTSIDE), start=ZEROS,
                    decay=COUPLED),
    "adam": _TORCH_ADAM,
    "adamw": dict(_TORCH_ADAM, decay=DECOUPLED),
    "adamax": dict(eps="inside the max: max(beta_2*u, |g| + eps)", bias=BIAS_FIRST,
                   momentum=EWMA, start=ZEROS, decay=COUPLED),
    "adagrad": dict(eps=EPS_AFTER_ROOT, bias=NONE, momentum=NONE, start=SUM_START,
                    decay=COUPLED),
    "nadam": dict(_TORCH_ADAM, momentum=NADAM_TORCH),
    "adadelta": dict(eps=ADADELTA_EPS, bias=NONE, momentum=NONE, start=ZEROS, decay=COUPLED),
    "radam": dict(_TORCH_ADAM, eps=EPS_RAW_ROOT, bias=RADAM_BIAS),
}
LECTURE: Mapping[str, Mapping[str, str]] = {
    "sgd": dict(eps=NONE, bias=NONE, momentum=NONE, start=NONE, decay=NONE),
    "momentum": dict(eps=NONE, bias=NONE, momentum="damped: lr*(m*avg + (1 - m)*g)",
                     start="reset passes", decay=NONE),
    "rmsprop": dict(eps=NONE, bias=NONE, momentum=NONE, start="reset passes", decay=NONE),
    "adam": dict(eps=NONE, bias=NONE, momentum=EWMA, start="reset passes", decay=NONE),
}


def aspects_of(rule, static: Mapping | None = None) -> dict[str, str]:
    """What ``rule`` does for each aspect (empty when nothing is recorded for it), with the
    flags of ``static`` (a sheet's) applied, or every flag's effect spelled out when None."""
    if rule.library is not None:
        said = rule.library.differs
    else:
        said = (TORCH if rule.flavor == "torch" else LECTURE).get(rule.optimizer, {})
    flags = None if static is None else _framework_flags(rule, static)
    return {key: value.words(flags) if isinstance(value, Switch) else value
            for key, value in said.items()}


def _framework_flags(rule, static: Mapping) -> dict:
    """A sheet's flags under the framework's names (a Switch names the framework's flag)."""
    out = dict(static)
    for arg, ours in rule.spellings.items():
        if isinstance(ours, str) and ours in static:
            out[arg] = static[ours]
    return out


def _gist(phrase: str) -> str:
    """A phrase without its explanation in brackets: what is compared."""
    return phrase.split(" (")[0]


def differing(a, b, static_a: Mapping | None = None,
              static_b: Mapping | None = None) -> dict[str, tuple[str, str]]:
    """The aspects two rules do differently: aspect -> (a's words, b's words). Phrases are
    compared without their bracketed explanations ("both moments divided by 1 - beta^t
    (folded into the step size...)" does what "both moments divided by 1 - beta^t" does).

    Example:
        >>> from sheetopt.rules import rule_for
        >>> sorted(differing(rule_for("adam", "torch"), rule_for("adam", "keras")))
        ['decay', 'eps']
    """
    mine, theirs = aspects_of(a, static_a), aspects_of(b, static_b)
    return {key: (mine[key], theirs[key]) for key in ASPECTS
            if key in mine and key in theirs and _gist(mine[key]) != _gist(theirs[key])}
