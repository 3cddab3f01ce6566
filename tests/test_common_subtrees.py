"""symbolic.common_subtrees, which the compiled kernels use to compute what a row's loss and
gradient terms repeat once: random trees (with repeated subtrees, conditions and calls) give
bit for bit the values the trees as given give, and each shared value reads only the inputs and
values named before it."""
from __future__ import annotations

import numpy as np
from hypothesis import given, settings, strategies as st

from sheetopt.ops import symbolic_ops as ops
from sheetopt.ops.symbolic import common_subtrees, to_python, var, variables

NAMES = ("a", "b", "c")
NAMESPACE = {"exp": np.exp, "log": np.log, "sqrt": np.sqrt, "abs": np.abs,
             "maximum": np.maximum, "minimum": np.minimum, "sign": np.sign,
             "sel": lambda keep, new, old: new if keep else old}


def trees(pool_size: int = 6):
    """Lists of trees drawn from a small pool of subtrees, so that subtrees repeat."""
    leaves = st.one_of(st.sampled_from(NAMES).map(var),
                       st.sampled_from([0.5, 1.0, 2.0, -3.0]).map(ops.sqrt))

    def grow(children):
        pair = st.tuples(children, children)
        return st.one_of(
            pair.map(lambda p: p[0] + p[1]), pair.map(lambda p: p[0] - p[1]),
            pair.map(lambda p: p[0] * p[1]), pair.map(lambda p: p[0] / p[1]),
            children.map(lambda x: -x), children.map(ops.exp), children.map(ops.abs),
            pair.map(lambda p: ops.maximum(p[0], p[1])),
            st.tuples(children, children, children).map(
                lambda t: ops.where(t[0] >= t[1], t[1], t[2])))

    pool = st.lists(st.recursive(leaves, grow, max_leaves=8), min_size=1, max_size=pool_size)
    return pool.flatmap(lambda shared: st.lists(
        st.recursive(st.sampled_from(shared), grow, max_leaves=6), min_size=1, max_size=5))


def value(tree, values: dict) -> float:
    with np.errstate(all="ignore"):
        return eval(to_python(tree, select="sel"), {"__builtins__": {}},  # noqa: S307
                    {**NAMESPACE, **values})


def same(x, y) -> bool:
    return np.array_equal(np.float64(x), np.float64(y), equal_nan=True)


@settings(max_examples=300, deadline=None)
@given(trees(), st.lists(st.floats(-50, 50), min_size=3, max_size=3))
def test_the_shared_values_give_the_trees_values_bit_for_bit(given_trees, numbers):
    inputs = {n: np.float64(x) for n, x in zip(NAMES, numbers)}
    named = {f"t{i}": tree for i, tree in enumerate(given_trees)}
    shared, rewritten = common_subtrees(named)
    values = dict(inputs)
    for name, tree in shared.items():
        assert variables(tree) <= set(NAMES) | set(values), name  # reads only earlier names
        values[name] = value(tree, values)
    for name, tree in rewritten.items():
        assert same(value(tree, values), value(named[name], inputs)), name


def test_a_repeated_subtree_is_computed_once():
    x, y = var("x"), var("y")
    grad = ops.exp(x * y) / (1 + ops.exp(x * y))
    shared, out = common_subtrees({"g0": x * grad, "g1": y * grad})
    assert [to_python(t) for t in shared.values()] == ["x*y", "exp(cs0)", "1+cs1", "cs1/cs2"]
    assert {n: to_python(t) for n, t in out.items()} == {"g0": "x*cs3", "g1": "y*cs3"}
