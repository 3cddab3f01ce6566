"""torch's SequentialLR and ChainedScheduler over a list of the other schedulers.

Both build their children first, in order, on the same param group (so a child's constructor
sees the lr its predecessors left). SequentialLR then puts the lr back to ``initial_lr``, undoes
its children's first steps and redoes that of the child for step 0; at a milestone it switches
child with ``_update_lr(0)``. ChainedScheduler steps every child, in order, each from the lr
the one before it left.
"""
from __future__ import annotations

from .torch_base import REQUIRED, TorchScheduler, pick, same


def _children_construct(node, g, ops):
    state = []
    for child in node.children:
        g, p = child.construct(g, ops)
        state.extend(p)
    return g, state


def _sequential_setup(node, g, ops):
    g, state = _children_construct(node, g, ops)
    g = dict(g, lr=g["initial_lr"])
    first = sum(1 for m in node.args["milestones"] if m <= 0)  # bisect_right(milestones, 0)
    child = node.children[first]
    g, p = child.cls.get_lr(g, state[first], 0, child.args, ops, True)
    state[first] = p
    return g, state


def _sequential_step(node, g, state, k, ops):
    milestones = list(node.args["milestones"])

    def segment(i):
        child = node.children[i]
        start = milestones[i - 1] if i else 0

        def stepped():
            g2, p = child.cls.get_lr(g, state[i], k - start, child.args, ops, False)
            return g2, _replace(state, i, p)

        def switched():
            g2, p = child.cls.update_zero(g, state[i], child.args, ops)
            return g2, _replace(state, i, p)
        run = stepped if i == 0 else (lambda: pick(same(k, start, ops), switched, stepped, ops))
        if i == len(milestones):
            return run()
        return pick(k < milestones[i], run, lambda: segment(i + 1), ops)
    g, state = segment(0)
    return g, list(state)


def _replace(state, i, p):
    return tuple(p if j == i else s for j, s in enumerate(state))


def _chained_step(node, g, state, k, ops):
    state = list(state)
    for i, child in enumerate(node.children):
        g, p = child.cls.get_lr(g, state[i], k, child.args, ops, False)
        state[i] = p
    return g, state


SequentialLR = TorchScheduler(
    "SequentialLR", "one scheduler after another, switching at the milestones",
    {"schedulers": REQUIRED, "milestones": REQUIRED}, _sequential_step,
    setup=_sequential_setup, composite=True,
    example={"milestones": [20], "schedulers": [
        {"torch": "LinearLR", "start_factor": 0.1, "total_iters": 20},
        {"torch": "CosineAnnealingLR", "T_max": 40}]})
ChainedScheduler = TorchScheduler(
    "ChainedScheduler", "every scheduler stepped in turn, each from the lr the last one left",
    {"schedulers": REQUIRED}, _chained_step, setup=_children_construct, composite=True,
    example={"schedulers": [{"torch": "ConstantLR", "factor": 0.5, "total_iters": 20},
                            {"torch": "ExponentialLR", "gamma": 0.98}]})

CLASSES = (SequentialLR, ChainedScheduler)
