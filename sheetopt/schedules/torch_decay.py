"""torch's multiplicative decays: StepLR, MultiStepLR, ConstantLR, LinearLR, ExponentialLR,
PolynomialLR, each ``get_lr`` as torch writes it (the new lr from the group's current one)."""
from __future__ import annotations

from .torch_base import REQUIRED, TorchScheduler, divides, pick, same, with_lr


def _step_lr(g, p, k, a, ops, initial):
    lr = g["lr"]
    lr = pick(same(k, 0, ops), lambda: lr,
              lambda: pick(divides(a["step_size"], k, ops), lambda: lr * a["gamma"],
                           lambda: lr, ops), ops)
    return with_lr(g, lr), p


def _multistep_lr(g, p, k, a, ops, initial):
    lr = g["lr"]
    counts: dict = {}
    for m in a["milestones"]:
        counts[m] = counts.get(m, 0) + 1

    def at(items):
        if not items:
            return lr
        (m, n), rest = items[0], items[1:]
        return pick(same(k, m, ops), lambda: lr * ops.power(a["gamma"], n), lambda: at(rest), ops)
    return with_lr(g, at(list(counts.items()))), p


def _multistep_zero(g, p, a, ops):
    below = sum(1 for m in a["milestones"] if m <= 0)  # bisect_right(milestones, 0)
    return with_lr(g, p["base"] * ops.power(a["gamma"], below)), p


def _constant_lr(g, p, k, a, ops, initial):
    lr = g["lr"]
    lr = pick(same(k, 0, ops), lambda: lr * a["factor"],
              lambda: pick(same(k, a["total_iters"], ops), lambda: lr * (1.0 / a["factor"]),
                           lambda: lr, ops), ops)
    return with_lr(g, lr), p


def _constant_zero(g, p, a, ops):
    done = pick(0 >= a["total_iters"], lambda: 1, lambda: 0, ops)
    return with_lr(g, p["base"] * (a["factor"] + done * (1 - a["factor"]))), p


def _linear_lr(g, p, k, a, ops, initial):
    lr, start, end, total = g["lr"], a["start_factor"], a["end_factor"], a["total_iters"]

    def later():
        if initial:
            return lr
        return pick(k > total, lambda: lr, lambda: lr * (
            1.0 + (end - start) / (total * start + (k - 1) * (end - start))), ops)
    return with_lr(g, pick(same(k, 0, ops), lambda: lr * start, later, ops)), p


def _linear_zero(g, p, a, ops):
    start, end = a["start_factor"], a["end_factor"]
    return with_lr(g, p["base"] * (start + (end - start) * 0 / a["total_iters"])), p


def _exponential_lr(g, p, k, a, ops, initial):
    return with_lr(g, g["lr"] if initial else g["lr"] * a["gamma"]), p


def _base_zero(g, p, a, ops):
    """base_lr * gamma ** 0 (or * 1.0 ** power): the base lr itself, exactly."""
    return with_lr(g, p["base"]), p


def _polynomial_lr(g, p, k, a, ops, initial):
    lr, total = g["lr"], a["total_iters"]
    if initial:
        return g, p
    lr = pick(k > total, lambda: lr, lambda: lr * ops.power(
        (1.0 - k / total) / (1.0 - (k - 1) / total), a["power"]), ops)
    return with_lr(g, lr), p


StepLR = TorchScheduler(
    "StepLR", "lr * gamma every step_size steps", {"step_size": REQUIRED, "gamma": 0.1},
    _step_lr, _base_zero, numeric=("step_size", "gamma"),
    example={"step_size": 10, "gamma": 0.5})
MultiStepLR = TorchScheduler(
    "MultiStepLR", "lr * gamma at each milestone", {"milestones": REQUIRED, "gamma": 0.1},
    _multistep_lr, _multistep_zero, numeric=("gamma",),
    example={"milestones": [20, 50, 50], "gamma": 0.5})
ConstantLR = TorchScheduler(
    "ConstantLR", "lr * factor until total_iters", {"factor": 1.0 / 3, "total_iters": 5},
    _constant_lr, _constant_zero, numeric=("factor", "total_iters"),
    example={"factor": 0.25, "total_iters": 30})
LinearLR = TorchScheduler(
    "LinearLR", "lr * a factor going linearly from start_factor to end_factor",
    {"start_factor": 1.0 / 3, "end_factor": 1.0, "total_iters": 5}, _linear_lr, _linear_zero,
    numeric=("start_factor", "end_factor", "total_iters"),
    example={"start_factor": 0.1, "end_factor": 0.8, "total_iters": 40})
ExponentialLR = TorchScheduler(
    "ExponentialLR", "lr * gamma every step", {"gamma": REQUIRED}, _exponential_lr, _base_zero,
    numeric=("gamma",), example={"gamma": 0.97})
PolynomialLR = TorchScheduler(
    "PolynomialLR", "lr * (1 - k/total_iters)^power, recursively",
    {"total_iters": 5, "power": 1.0}, _polynomial_lr, _base_zero,
    numeric=("total_iters", "power"), example={"total_iters": 60, "power": 1.7})

CLASSES = (StepLR, MultiStepLR, ConstantLR, LinearLR, ExponentialLR, PolynomialLR)
