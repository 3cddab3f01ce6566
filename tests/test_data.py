"""Data sets: generated rows, the lecture preset, the notebooks' data and the user's own CSV."""
from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest

from lecture_files import LECTURE_CSV, needs_lecture_files
from sheetopt import spec as spec_mod



def generated(model: str = "linear", **data):
    true = {"a": 2.0, "b": 30.0} if model == "linear" else {"a": 0.5, "b": -1.0, "c": 3.0}
    raw = {"data": {"true": true, **data}, "model": {"kind": model},
           "sheet": [{"optimizer": "sgd", "lr": 0.1}]}
    return spec_mod.parse(raw).data


def test_generated_data_is_reproducible_from_its_seed():
    for x in ("integers", "uniform", "range"):
        for noise in ("none", "uniform", "normal"):
            first = generated(rows=50, x=x, noise=noise, seed=11)
            again = generated(rows=50, x=x, noise=noise, seed=11)
            assert first.x.tolist() == again.x.tolist() and first.y.tolist() == again.y.tolist()


@pytest.mark.parametrize("x, noise", [("integers", "none"), ("uniform", "none"),
                                      ("range", "normal"), ("range", "uniform")])
def test_generated_data_differs_across_seeds(x, noise):
    one = generated(rows=50, x=x, noise=noise, seed=1)
    two = generated(rows=50, x=x, noise=noise, seed=2)
    assert one.x.tolist() != two.x.tolist() or one.y.tolist() != two.y.tolist()


def test_integers_cover_the_range_inclusive():
    data = generated(rows=3000, x="integers", x_min=1, x_max=4, seed=5)
    assert (data.x == np.round(data.x)).all()
    assert set(data.x.tolist()) == {1.0, 2.0, 3.0, 4.0}  # both ends can be drawn
    lecture_like = generated(rows=29, seed=0)  # defaults: integers in 1..100
    assert lecture_like.x.min() >= 1 and lecture_like.x.max() <= 100
    assert (lecture_like.x == np.round(lecture_like.x)).all()


def test_uniform_reals_lie_in_the_half_open_range():
    data = generated(rows=20000, x="uniform", x_min=-1.0, x_max=1.0, seed=3)
    assert data.x.min() >= -1.0 and data.x.max() < 1.0
    assert (data.x != np.round(data.x)).mean() > 0.99  # reals, not integers
    # mean 0, sd 1/sqrt(3): within 5 standard errors
    assert abs(data.x.mean()) < 5 * (1 / math.sqrt(3)) / math.sqrt(20000)
    assert abs(data.x.std() - 1 / math.sqrt(3)) < 0.01


def test_range_is_evenly_spaced_from_x_min():
    data = generated(rows=20, x="range", x_min=0.0, x_max=19.0)
    assert data.x.tolist() == [float(t) for t in range(20)]
    assert generated(rows=3, x="range", x_min=-2.5, x_max=0.0).x.tolist() == [-2.5, -1.5, -0.5]


def test_no_noise_lies_on_the_true_line():
    data = generated(rows=40, x="uniform", x_min=-3.0, x_max=7.0, seed=9)
    assert data.y.tolist() == (30.0 + 2.0 * data.x).tolist()
    quad = generated("quadratic", rows=10, x="range", x_min=-5.0, x_max=4.0)
    assert np.allclose(quad.y, 0.5 * quad.x ** 2 - quad.x + 3.0, rtol=1e-15, atol=0)


def test_uniform_noise_is_in_zero_to_scale():
    n, scale = 20000, 2.0
    data = generated(rows=n, x="uniform", noise="uniform", noise_scale=scale, seed=4)
    noise = data.y - (30.0 + 2.0 * data.x)
    assert noise.min() >= -1e-12 and noise.max() < scale + 1e-12
    sd = scale / math.sqrt(12)
    assert abs(noise.mean() - scale / 2) < 5 * sd / math.sqrt(n)
    assert abs(noise.std() - sd) < 0.02 * sd


def test_normal_noise_has_the_scale_as_standard_deviation():
    n, scale = 20000, 3.0
    data = generated(rows=n, x="range", x_min=0.0, x_max=1.0, noise="normal",
                     noise_scale=scale, seed=8)
    noise = data.y - (30.0 + 2.0 * data.x)
    assert abs(noise.mean()) < 5 * scale / math.sqrt(n)
    assert abs(noise.std() - scale) < 5 * scale / math.sqrt(2 * n)
    assert (noise < 0).any() and (noise > 0).any()


def read_pairs(path: Path) -> tuple[list[float], list[float]]:
    with open(path, newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["x", "y"]
    return [float(r[0]) for r in rows[1:]], [float(r[1]) for r in rows[1:]]


@needs_lecture_files
def test_lecture_preset_equals_the_shared_lecture_rows():
    x, y = read_pairs(LECTURE_CSV)
    assert len(x) == 29
    for spec in (spec_mod.load("lesson5"),
                 spec_mod.parse({"data": {"preset": "lecture"},
                                 "sheet": [{"optimizer": "sgd", "lr": 1.0}]})):
        assert spec.data.x.tolist() == x and spec.data.y.tolist() == y


def test_lecture_rows_follow_the_lecture_line():
    data = spec_mod.load("lesson5").data
    assert data.y.tolist() == (30 + 2 * data.x).tolist()  # y = 30 + 2x, no noise
    assert data.x.min() >= 1 and data.x.max() <= 100
    assert data.true == {"a": 2.0, "b": 30.0}


def test_lesson2_data_is_the_notebooks():
    data = spec_mod.load("lesson2").data
    assert len(data) == 100
    assert data.x.min() >= -1 and data.x.max() < 1
    noise = data.y - (3 * data.x + 2)
    assert noise.min() >= -1e-12 and noise.max() < 1  # uniform [0, 1) noise: intercept ~2.5
    assert 0.35 < noise.mean() < 0.65


def test_quadratic_data_is_fastbooks():
    spec = spec_mod.load("quadratic")
    t, speed = spec.data.x, spec.data.y
    assert t.tolist() == [float(i) for i in range(20)]
    noise = speed - (0.75 * (t - 9.5) ** 2 + 1)
    assert 1.0 < noise.std() < 5.0  # sd 3 noise over 20 rows
    true = spec.data.true
    assert np.allclose(true["a"] * t ** 2 + true["b"] * t + true["c"], 0.75 * (t - 9.5) ** 2 + 1,
                       rtol=1e-14, atol=1e-12)


def user_spec(tmp_path: Path, header: str, body: str, model: str = "linear") -> Path:
    (tmp_path / "rows.csv").write_text(f"{header}\n{body}")
    path = tmp_path / "spec.toml"
    path.write_text(f'[data]\ncsv = "rows.csv"\n[model]\nkind = "{model}"\n'
                    '[[sheet]]\noptimizer = "sgd"\nlr = 0.001\n')
    return path


def test_user_csv_with_x_y(tmp_path):
    spec = spec_mod.load(user_spec(tmp_path, "x,y", "1,5\n2.5,-7e-3\n\n 3 , 1e3\n"))
    assert spec.data.x.tolist() == [1.0, 2.5, 3.0]
    assert spec.data.y.tolist() == [5.0, -7e-3, 1000.0]
    assert spec.data.true == {}


def test_user_csv_with_the_quadratic_models_names(tmp_path):
    spec = spec_mod.load(user_spec(tmp_path, "t,speed", "0,72.5\n1,55.25\n2,47\n", "quadratic"))
    assert spec.data.x.tolist() == [0.0, 1.0, 2.0]
    assert spec.data.y.tolist() == [72.5, 55.25, 47.0]
    assert tuple(spec.data.headers) == ("t", "speed")


def test_user_csv_path_is_relative_to_the_spec(tmp_path, monkeypatch):
    path = user_spec(tmp_path, "x,y", "1,2\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert spec_mod.load(path).data.x.tolist() == [1.0]


def test_user_csv_with_a_byte_order_mark(tmp_path):
    path = user_spec(tmp_path, "x,y", "1,2\n")
    (tmp_path / "rows.csv").write_bytes(b"\xef\xbb\xbfx,y\r\n1,2\r\n")
    assert spec_mod.load(path).data.y.tolist() == [2.0]
