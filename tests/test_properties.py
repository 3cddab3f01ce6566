"""Finite differences against the analytic gradient, over random parameters and rows.

The loss of a row is (y - pred)^2 and pred is linear in the parameters, so the loss is exactly
quadratic in each parameter p:  L(p + d) = L(p) + g*d + k*d^2  with k = d2L/dp2 / 2 =
mean(c_p^2), where c_p is pred's coefficient of p (x for the linear model's a, 1 for b; x^2, x,
1 for the quadratic's a, b, c). Hence, with no rounding:
- central difference (L(p+h) - L(p-h)) / 2h = g exactly;
- forward difference (L(p+h) - L(p)) / h = g + h*mean(c_p^2).

Rounding tolerance. Let M be a row's magnitude bound |y| + sum over parameters of
(|p| + h)*|c_p|, which bounds |pred| + |y| at every shifted point. Computing err = y - pred
costs at most a few ulps of M, so err^2 is off by at most about 4*eps*M^2 (plus eps*err^2
<= eps*M^2); rounding p + h moves p by eps*|p+h|/2, which changes the loss by at most
|dL/dp|*eps*(|p|+h) <= 2*eps*M^2. Summing n rows and dividing adds a relative n*eps. So each
loss value is within 8*eps*mean(M^2), the difference of two within 16*eps*mean(M^2), and after
dividing by h (forward) or 2h (central) the estimate is within 16*eps*mean(M^2)/h of its exact
value. The analytic gradient's own error (a few ulps of 2*|c_p|*M) is far below that.
"""
from __future__ import annotations

import math

from hypothesis import given, settings, strategies as st

from sheetopt.models import gradients
from sheetopt.models import LINEAR, QUADRATIC

EPS = 2.0 ** -52
SETTINGS = settings(max_examples=150, deadline=None)


def coefficients(model, x):
    """pred's coefficient of each parameter at x."""
    if model is LINEAR:
        return {"a": x, "b": 1.0}
    return {"a": x * x, "b": x, "c": 1.0}


def rounding_bound(model, params, xs, ys, h) -> float:
    """16*eps*mean(M^2)/h: the module docstring's bound on a difference quotient's rounding."""
    squares = []
    for x, y in zip(xs, ys):
        m = abs(y) + sum((abs(params[p]) + h) * abs(c) for p, c in coefficients(model, x).items())
        squares.append(m * m)
    return 16 * EPS * (sum(squares) / len(squares)) / h


def curvature(model, p, xs) -> float:
    """h's coefficient in forward - analytic: mean of pred's coefficient of p, squared."""
    return sum(coefficients(model, x)[p] ** 2 for x in xs) / len(xs)


finite = dict(allow_nan=False, allow_infinity=False)
params_linear = st.fixed_dictionaries({"a": st.floats(-100, 100, **finite),
                                       "b": st.floats(-100, 100, **finite)})
params_quadratic = st.fixed_dictionaries({"a": st.floats(-10, 10, **finite),
                                          "b": st.floats(-100, 100, **finite),
                                          "c": st.floats(-100, 100, **finite)})


def rows(x_range: float, y_range: float, online: bool):
    size = st.just(1) if online else st.integers(2, 30)
    return size.flatmap(lambda n: st.tuples(
        st.lists(st.floats(-x_range, x_range, **finite), min_size=n, max_size=n),
        st.lists(st.floats(-y_range, y_range, **finite), min_size=n, max_size=n)))


steps = st.floats(1e-4, 1.0, **finite)
# Forward differences resolve the curvature h only when h^2 >> eps*M^2; from the lecture's
# h = 0.01 up, the bound below is under 5% of h for these ranges, so the check has teeth.
forward_steps = st.floats(0.01, 1.0, **finite)
CASES = [(LINEAR, params_linear, 100.0, 1000.0), (QUADRATIC, params_quadratic, 20.0, 1000.0)]


def check_central(model, params, data, h):
    xs, ys = data
    analytic = gradients.analytic(model, params, xs, ys)
    central = gradients.central(model, params, xs, ys, h)
    tol = rounding_bound(model, params, xs, ys, h)
    for p in model.params:
        assert abs(central[p] - analytic[p]) <= tol, (p, central[p], analytic[p], tol)


def check_forward(model, params, data, h):
    xs, ys = data
    analytic = gradients.analytic(model, params, xs, ys)
    forward = gradients.forward(model, params, xs, ys, h)
    tol = 2 * rounding_bound(model, params, xs, ys, h)  # divided by h, not 2h
    assert tol < 0.05 * h, "the tolerance would hide the intercept's curvature term h"
    for p in model.params:
        expected = analytic[p] + h * curvature(model, p, xs)
        assert abs(forward[p] - expected) <= tol, (p, forward[p], expected, tol)


@SETTINGS
@given(params_linear, rows(100.0, 1000.0, online=True), steps)
def test_central_difference_is_analytic_linear_online(params, data, h):
    check_central(LINEAR, params, data, h)


@SETTINGS
@given(params_linear, rows(100.0, 1000.0, online=False), steps)
def test_central_difference_is_analytic_linear_batch(params, data, h):
    check_central(LINEAR, params, data, h)


@SETTINGS
@given(params_quadratic, rows(20.0, 1000.0, online=True), steps)
def test_central_difference_is_analytic_quadratic_online(params, data, h):
    check_central(QUADRATIC, params, data, h)


@SETTINGS
@given(params_quadratic, rows(20.0, 1000.0, online=False), steps)
def test_central_difference_is_analytic_quadratic_batch(params, data, h):
    check_central(QUADRATIC, params, data, h)


@SETTINGS
@given(params_linear, rows(100.0, 1000.0, online=True), forward_steps)
def test_forward_difference_exceeds_analytic_by_curvature_linear_online(params, data, h):
    check_forward(LINEAR, params, data, h)


@SETTINGS
@given(params_linear, rows(100.0, 1000.0, online=False), forward_steps)
def test_forward_difference_exceeds_analytic_by_curvature_linear_batch(params, data, h):
    check_forward(LINEAR, params, data, h)


@SETTINGS
@given(params_quadratic, rows(20.0, 1000.0, online=True), forward_steps)
def test_forward_difference_exceeds_analytic_by_curvature_quadratic_online(params, data, h):
    check_forward(QUADRATIC, params, data, h)


@SETTINGS
@given(params_quadratic, rows(20.0, 1000.0, online=False), forward_steps)
def test_forward_difference_exceeds_analytic_by_curvature_quadratic_batch(params, data, h):
    check_forward(QUADRATIC, params, data, h)


def test_curvature_terms_are_the_ones_the_lecture_names():
    # h*mean(x^2) for a and h for b (linear); h*mean(x^4), h*mean(x^2), h (quadratic).
    xs = [2.0, 3.0]
    assert curvature(LINEAR, "a", xs) == (4 + 9) / 2 and curvature(LINEAR, "b", xs) == 1
    assert curvature(QUADRATIC, "a", xs) == (16 + 81) / 2
    assert curvature(QUADRATIC, "b", xs) == (4 + 9) / 2 and curvature(QUADRATIC, "c", xs) == 1


def test_the_bound_is_tight_enough_to_see_the_curvature():
    # The check means something: at the lecture's h = 0.01 on a lecture-like row the curvature
    # term (h*x^2 = 19.6 for x = 44) dwarfs the rounding tolerance.
    params, xs, ys = {"a": 2.5, "b": 1.3}, [44.0], [118.0]
    tol = 2 * rounding_bound(LINEAR, params, xs, ys, 0.01)
    assert 0.01 * curvature(LINEAR, "a", xs) > 1e6 * tol and 0.01 > 1e3 * tol
    forward = gradients.forward(LINEAR, params, xs, ys, 0.01)
    analytic = gradients.analytic(LINEAR, params, xs, ys)
    assert math.isclose(forward["a"] - analytic["a"], 0.01 * 44 ** 2, rel_tol=1e-9)
    assert math.isclose(forward["b"] - analytic["b"], 0.01, rel_tol=1e-9)
