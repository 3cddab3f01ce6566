"""Animations: the lesson-2 GIF has one frame per point of the run (the start and each step)
and its last frame draws the trace's final line; the HTML page plays in a real browser; the
frame and size bounds refuse in one line, writing nothing."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
from PIL import Image

from browser import screenshot
from sheetopt import SheetoptError, plots
from sheetopt.protocol import engine
from sheetopt.cli import main
from sheetopt.plots import animation, surface
from sheetopt.spec import load

BLUE = np.array([0x1F, 0x77, 0xB4])  # matplotlib's C0: the sgd sheet's colour


@pytest.fixture(scope="module")
def lesson2():
    spec = load("lesson2")
    return spec, engine.run_all(spec)


def line_pixels(movie, params, spec) -> list[tuple[int, int]]:
    """Where the fitted line at ``params`` is drawn, in pixels of the figure (row, column)."""
    fig = movie.figure
    ax = fig.axes[0]
    xs = np.linspace(spec.data.x.min(), spec.data.x.max(), 12)[1:-1]
    ys = spec.model.predict(params, xs)
    height = fig.canvas.get_width_height()[1]
    out = []
    for x, y in ax.transData.transform(np.column_stack([xs, ys])):
        out.append((int(round(height - y)), int(round(x))))
    return out


def near(pixels: np.ndarray, where, colour, radius: int = 2, tol: int = 40) -> bool:
    r, c = where
    patch = pixels[max(0, r - radius):r + radius + 1, max(0, c - radius):c + radius + 1, :3]
    return bool((np.abs(patch.astype(int) - colour).max(axis=-1) < tol).any())


def test_lesson2_gif_has_a_frame_per_step_and_ends_on_the_trace(tmp_path, lesson2, capsys):
    spec, traces = lesson2
    trace = traces["sgd"]
    out = tmp_path / "fit.gif"
    assert main(["animate", "lesson2", "--sheet", "sgd", "-o", str(out)]) == 0
    with Image.open(out) as gif:
        assert gif.n_frames == len(trace) + 1 == 101
        gif.seek(gif.n_frames - 1)
        last = np.asarray(gif.convert("RGB"))
        gif.seek(0)
        first = np.asarray(gif.convert("RGB"))
    movie = plots.animate(spec, traces, "sgd")
    assert len(movie) == 101 and movie.steps[-1] == len(trace)
    final = trace.final()
    line = next(ln for ln in movie.figure.axes[0].lines if ln.get_gid() == "fit")
    assert np.allclose(line.get_ydata(), final["b"] + final["a"] * line.get_xdata(), rtol=1e-14)
    mse = float(surface.mse(spec, {p: np.array(v) for p, v in final.items()}))
    assert "after step 100 of 100" in movie.figure.axes[0].get_title()
    assert f"MSE over the data = {mse:.6g}" in movie.figure.axes[0].get_title()
    assert mse == pytest.approx(0.0747, abs=5e-4)
    # the GIF's last frame draws that line, its first frame the start's (a = -1, b = 1)
    end = line_pixels(movie, final, spec)
    start = line_pixels(movie, {"a": -1.0, "b": 1.0}, spec)
    assert last.shape[:2] == (336, 512)
    assert all(near(last, where, BLUE) for where in end)
    assert all(near(first, where, BLUE) for where in start)
    assert sum(near(last, where, BLUE) for where in start) <= 2  # the start's line is gone


def test_frames_option_spaces_frames_evenly(lesson2):
    spec, traces = lesson2
    movie = plots.animate(spec, traces, "sgd", frames=11)
    assert movie.steps.tolist() == list(range(0, 101, 10))
    frames = list(movie.frames())
    assert len(frames) == 11 and not np.array_equal(frames[0], frames[-1])


def test_path_animation_grows_the_path(tmp_path, lesson2):
    spec, traces = lesson2
    movie = plots.animate(spec, traces, "sgd", kind="path", frames=5)
    grown = next(ln for ln in movie.figure.axes[0].lines if ln.get_gid() == "path:sgd")
    movie.show(2)  # frame 2 of 5: the point after step 50
    assert movie.steps[2] == 50
    assert np.array_equal(grown.get_ydata(), np.concatenate(
        [[-1.0], traces["sgd"].steps["new_a"][:50]]))
    out = movie.save(tmp_path / "path.gif")
    with Image.open(out) as gif:
        assert gif.n_frames == 5


def test_html_animation_plays_in_headless_chromium(tmp_path, lesson2):
    page = tmp_path / "fit.html"
    assert main(["animate", "lesson2", "--sheet", "sgd", "--frames", "20", "-o", str(page)]) == 0
    text = page.read_text()
    assert text.count("data:image/png;base64") == 20  # the frames are in the page
    shot = np.asarray(Image.open(screenshot(page, tmp_path / "shot.png")).convert("RGB"))
    colours = len(np.unique(shot.reshape(-1, 3), axis=0))
    assert colours > 50, f"the page looks blank ({colours} colours)"
    assert (np.abs(shot.astype(int) - BLUE).max(axis=-1) < 40).sum() > 200  # the line
    assert (shot.sum(axis=-1) < 100).sum() > 500  # the data points and the text


def test_size_bound_refuses_and_writes_nothing(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(animation, "MAX_BYTES", 50_000)
    out = tmp_path / "fit.gif"
    assert main(["animate", "lesson2", "--sheet", "sgd", "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "more than the 0.0477 MB bound; use --frames" in err, err
    assert list(tmp_path.iterdir()) == []


def test_more_frames_than_steps_give_one_per_step(lesson2):
    spec, traces = lesson2
    assert len(plots.animate(spec, traces, "sgd", frames=500)) == 101
    with pytest.raises(SheetoptError, match="at most 600 frames"):
        plots.animate(spec, traces, "sgd", frames=601)


def test_a_classifiers_fit_animation_draws_p_and_names_its_mean_loss():
    """The blobs' fit: the curve is p = sigmoid(z) in [0, 1] (the fits picture's), not the
    logit z, and the title's figure is the mean cross-entropy, not an "MSE"."""
    spec = load("blobs")
    movie = animation.animate(spec, engine.run_all(spec), "Adam", frames=3)
    fit = next(line for line in movie.figure.axes[0].lines if line.get_gid() == "fit")
    z = spec.model.predict(engine.run(spec, "Adam").final(), fit.get_xdata())
    assert np.allclose(fit.get_ydata(), 1 / (1 + np.exp(-z)), rtol=1e-12)
    title = movie.figure.axes[0].get_title()
    assert "mean loss over the data" in title and "MSE" not in title


def test_a_path_at_float64s_limits_is_refused_without_a_warning(tmp_path, capsys):
    (tmp_path / "far.toml").write_text(
        '[model]\nkind = "booth"\n[[sheet]]\nname = "s"\noptimizer = "adam"\nlr = 0.01\n'
        'steps = 2\ninit = { x = 1e308, y = -1e308 }\n')
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy's overflow warning would fail the command
        code = main(["animate", str(tmp_path / "far.toml"), "--sheet", "s",
                     "-o", str(tmp_path / "far.gif")])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and "cannot be drawn" in err
    assert not (tmp_path / "far.gif").exists()


def test_a_model_of_several_inputs_animates_its_predictions_against_y(tmp_path):
    """Three features (houses): no curve over one input and no path of 4 parameters, so the
    fit is each row's prediction against its y, the last frame the run's final parameters."""
    (tmp_path / "h.toml").write_text('[data]\npreset = "houses"\n[[sheet]]\nname = "adam"\n'
                                     'optimizer = "adam"\nflavor = "torch"\nlr = 0.1\n'
                                     'epochs = 2\n')
    spec = load(str(tmp_path / "h.toml"))
    assert animation.default_kind(spec.model) == "fit"
    movie = animation.animate(spec, engine.run_all(spec), "adam", frames=4)
    dots = next(c for c in movie.figure.axes[0].collections if c.get_gid() == "fit")
    final = engine.run(spec, "adam").final()
    want = spec.model.predict(final, spec.model.row(spec.data.inputs()))
    assert np.array_equal(dots.get_offsets()[:, 0], spec.data.y)
    assert np.allclose(dots.get_offsets()[:, 1], want, rtol=1e-12)
    assert main(["animate", str(tmp_path / "h.toml"), "--sheet", "adam", "--frames", "3",
                 "-o", str(tmp_path / "h.gif")]) == 0
    assert Image.open(tmp_path / "h.gif").n_frames == 3


def test_given_gradients_have_nothing_to_animate_and_say_what_to_plot(tmp_path, capsys):
    (tmp_path / "g.toml").write_text('[model]\nkind = "gradients"\n[data]\n'
                                     'preset = "keras-golden"\n[[sheet]]\nname = "s"\n'
                                     'optimizer = "adam"\nflavor = "torch"\n')
    assert main(["animate", str(tmp_path / "g.toml"), "--sheet", "s",
                 "-o", str(tmp_path / "g.gif")]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "sheetopt plot --kind" in err
    assert not (tmp_path / "g.gif").exists()
