"""The pictures draw what the runs did: the path picture's lines are the traces' parameters,
its surface is the MSE over the data with log-spaced levels, a diverged path is cut, and the
curves per epoch and per step are the traces' columns. Also: the library never touches
pyplot's backend, and every bad plot option is one line, exit 2, nothing written."""
from __future__ import annotations

import subprocess
import sys
import textwrap
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from sheetopt import SheetoptError, Spec, plots
from sheetopt.protocol import engine
from sheetopt.cli import main
from sheetopt.models import Model
from sheetopt.plots import surface
from sheetopt.spec import load

LECTURE_CSV = Path(__file__).resolve().parents[1] / "workbooks" / "lecture-data.csv"


@pytest.fixture(scope="module")
def lesson5():
    spec = load("lesson5")
    return spec, engine.run_all(spec)


@pytest.fixture(scope="module")
def lesson5_path(lesson5):
    spec, traces = lesson5
    return plots.figure(spec, traces, "path")


def by_gid(ax, prefix: str) -> dict:
    return {line.get_gid()[len(prefix):]: line for line in ax.lines
            if str(line.get_gid()).startswith(prefix)}


def surface_of(ax):
    return next(c for c in ax.collections if c.get_gid() == "surface")


def path_points(trace, p):
    return np.concatenate([[trace.start[p]], trace.steps[f"new_{p}"]])


def test_path_lines_are_the_traces_parameters(lesson5, lesson5_path):
    spec, traces = lesson5
    main_ax = lesson5_path.axes[0]
    lines = by_gid(main_ax, "path:")
    assert list(lines) == [s.name for s in spec.sheets]  # one line per sheet, in order
    for name, line in lines.items():
        # x is the intercept b, y the slope a: the valley runs along x
        assert np.array_equal(line.get_xdata(), path_points(traces[name], "b"))
        assert np.array_equal(line.get_ydata(), path_points(traces[name], "a"))
        assert len(line.get_xdata()) == 29 * 5 + 1
        start, end = by_gid(main_ax, "start:")[name], by_gid(main_ax, "end:")[name]
        assert (start.get_xdata()[0], start.get_ydata()[0]) == (1.0, 1.0)
        assert end.get_xdata()[0] == traces[name].final()["b"]
    star = by_gid(main_ax, "minimum")[""]
    # the lecture's data are noise-free: the MSE's minimum is the truth, b = 30, a = 2
    assert star.get_xdata()[0] == pytest.approx(30.0, abs=1e-9)
    assert star.get_ydata()[0] == pytest.approx(2.0, abs=1e-9)
    x0, x1 = main_ax.get_xlim()
    y0, y1 = main_ax.get_ylim()
    for line in lines.values():  # every path and the minimum are in view
        assert x0 < line.get_xdata().min() and line.get_xdata().max() < x1
        assert y0 < line.get_ydata().min() and line.get_ydata().max() < y1
    assert x0 < 30 < x1 and y0 < 2 < y1


def test_contour_levels_are_log_spaced_over_the_mse(lesson5_path):
    for ax in lesson5_path.axes:
        if not any(c.get_gid() == "surface" for c in ax.collections):
            continue  # a colour bar
        levels = np.asarray(surface_of(ax).levels)
        ratios = np.diff(np.log(levels))
        assert len(levels) >= 20 and np.all(ratios > 0)
        assert np.allclose(ratios, ratios[0], rtol=1e-9)


def test_the_surface_is_the_mean_squared_error_of_the_lecture_rows(lesson5):
    spec, _ = lesson5
    x, y = np.loadtxt(LECTURE_CSV, delimiter=",", skiprows=1, unpack=True)
    a = np.array([1.0, 2.0, 2.5, -3.0])
    b = np.array([1.0, 30.0, 0.0, 100.0])
    expected = [np.mean((yi - (ai * x + bi)) ** 2) for ai, bi in zip(a, b)
                for yi in [y]]
    got = surface.mse(spec, {"a": a, "b": b})
    assert np.allclose(got, expected, rtol=1e-12)
    assert got[1] == 0.0


def test_lesson5_zooms_on_the_slow_sheets_crawl(lesson5, lesson5_path):
    spec, traces = lesson5
    assert len([ax for ax in lesson5_path.axes if any(
        c.get_gid() == "surface" for c in ax.collections)]) == 2
    zoom = lesson5_path.axes[2] if lesson5_path.axes[1].get_label() == "<colorbar>" else (
        lesson5_path.axes[1])
    assert "basic" in zoom.get_title() and "momentum" in zoom.get_title()
    x0, x1 = zoom.get_xlim()
    basic_b = path_points(traces["basic"], "b")
    # SGD's crawl: b moves from 1 to 1.3 in 145 steps; the zoom is a few units wide
    assert basic_b[-1] - basic_b[0] == pytest.approx(0.298, abs=1e-3)
    assert x1 - x0 < 4 and x0 < basic_b.min() and basic_b.max() < x1


def test_a_diverged_path_is_cut_where_it_leaves_the_view():
    spec = load("quadratic")  # 'aloud' (lr 1e-3) diverges; three parameters: a slice
    traces = engine.run_all(spec)
    fig = plots.figure(spec, traces, "path")
    ax = fig.axes[0]
    assert "slice through c = " in ax.get_title() and "'book'" in ax.get_title()
    assert f"{traces['book'].final()['c']:.4g}" in ax.get_title()
    line = by_gid(ax, "path:")["aloud"]
    xs, ys = line.get_xdata(), line.get_ydata()
    full_a, full_b = path_points(traces["aloud"], "a"), path_points(traces["aloud"], "b")
    assert traces["aloud"].diverged
    cut = len(xs) - 1
    assert 1 <= cut < len(full_a)  # cut before the recorded end, which ran off to 1e12
    assert np.array_equal(xs[:cut], full_a[:cut]) and np.array_equal(ys[:cut], full_b[:cut])
    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    on_edge = min(abs(xs[-1] - x0), abs(xs[-1] - x1)) < 1e-9 * (x1 - x0) or min(
        abs(ys[-1] - y0), abs(ys[-1] - y1)) < 1e-9 * (y1 - y0)
    assert on_edge
    end = by_gid(ax, "end:")["aloud"]
    assert end.get_marker() == "x" and end.get_xdata()[0] == xs[-1]
    assert "diverged at epoch 9, step 1" in line.get_label()


def test_curves_are_the_traces_columns(lesson5):
    spec, traces = lesson5
    step = plots.figure(spec, traces, "step_loss", sheets=["adam", "basic"], smooth=False).axes[0]
    lines = by_gid(step, "step_loss:")
    assert list(lines) == ["basic", "adam"] and step.get_yscale() == "log"
    assert np.array_equal(lines["adam"].get_ydata(), traces["adam"].steps["loss"])
    assert len([ln for ln in step.lines if ln.get_linestyle() == ":"]) == 4  # 5 epochs
    lr = by_gid(plots.figure(spec, traces, "lr").axes[0], "lr:")
    assert np.array_equal(lr["adam_ann"].get_ydata(), traces["adam_ann"].steps["lr"])
    assert lr["adam_ann"].get_ydata()[0] == 1.0
    loss = by_gid(plots.figure(spec, traces, "loss").axes[0], "loss:")
    assert np.array_equal(loss["rmsprop"].get_ydata(), traces["rmsprop"].epochs["rmse"])
    fits = by_gid(plots.figure(spec, traces, "fits").axes[0], "fit:")
    grid = np.linspace(spec.data.x.min(), spec.data.x.max(), 200)
    final = traces["adam"].final()
    assert np.allclose(fits["adam"].get_ydata(), final["b"] + final["a"] * grid, rtol=1e-14)


def test_figure_draws_on_a_given_axes_and_all_has_every_panel(lesson5):
    from matplotlib.figure import Figure

    spec, traces = lesson5
    fig = Figure()
    ax = fig.add_subplot()
    assert plots.figure(spec, traces, "path", ax=ax) is fig
    assert len(by_gid(ax, "path:")) == 5
    everything = plots.figure(spec, traces, "all")
    titles = [a.get_title() for a in everything.axes]
    for title in ("loss per epoch", "loss per step", "learning rate per step"):
        assert title in titles
    with pytest.raises(SheetoptError, match="several panels"):
        plots.figure(spec, traces, "all", ax=ax)
    with pytest.raises(SheetoptError, match="unknown kind 'paths'"):
        plots.figure(spec, traces, "paths")


def test_path_refuses_a_model_of_one_parameter():
    spec = load("lesson2")
    slope = Model(kind="slope", params=("a",), formula="y = a*x",
                  predict=lambda p, x: p["a"] * x, gradient=lambda p, x, y: {})
    with pytest.raises(SheetoptError, match="2 or 3 parameters; slope has 1"):
        plots.figure(replace(spec, model=slope), engine.run_all(spec), "path")


def test_the_library_never_touches_pyplot_or_the_backend(tmp_path):
    script = textwrap.dedent(f"""
        import sys
        from sheetopt import plots
        from sheetopt.protocol import engine
        from sheetopt.spec import load
        spec = load("lesson2")
        traces = engine.run_all(spec)
        plots.save(plots.figure(spec, traces, "all"), {str(tmp_path / 'all.png')!r})
        plots.animate(spec, traces, "sgd", frames=3).save({str(tmp_path / 'a.gif')!r})
        assert "matplotlib.pyplot" not in sys.modules, "pyplot was imported"
        import matplotlib
        assert matplotlib.rcParams._get_backend_or_none() is None, "a backend was chosen"
        print("clean")
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin", "MPLBACKEND": ""}, timeout=120)
    assert done.returncode == 0 and "clean" in done.stdout, done.stderr[-2000:]
    source = Path(plots.__file__).parent
    assert not [p for p in source.glob("*.py") if "matplotlib.use(" in p.read_text()]


def test_png_carries_the_fingerprint_of_its_data(lesson5, tmp_path):
    spec, traces = lesson5
    fig = plots.figure(spec, traces, "lr")
    written = plots.save(fig, tmp_path / "lr.png")
    assert plots.stored_fingerprint(written) == plots.fingerprint(fig)
    other = plots.figure(spec, traces, "lr", sheets=["basic"])
    assert plots.fingerprint(other) != plots.fingerprint(fig)


def test_svg_and_pdf_by_extension(tmp_path, capsys):
    for name in ("p.svg", "p.pdf"):
        assert main(["plot", "lesson2", "--kind", "fits", "-o", str(tmp_path / name)]) == 0
    assert (tmp_path / "p.svg").read_text().lstrip().startswith("<?xml")
    assert (tmp_path / "p.pdf").read_bytes().startswith(b"%PDF")


BAD = [
    (["plot", "lesson5", "--kind", "valley", "-o", "{out}.png"], "unknown kind 'valley'"),
    (["plot", "lesson5", "--kind", "path", "-o", "{out}.jpg"], "cannot write .jpg"),
    (["plot", "lesson5", "-o", "{out}"], "cannot write a file without an extension"),
    (["plot", "lesson5", "--sheet", "nope", "-o", "{out}.png"], "no sheet named 'nope'"),
    (["plot", "lesson5", "-o", "{missing}/p.png"], "does not exist"),
    (["animate", "lesson2", "--sheet", "sgd", "--frames", "0", "-o", "{out}.gif"],
     "--frames 0: give a positive whole number"),
    (["animate", "lesson2", "--sheet", "sgd", "--frames", "2.5", "-o", "{out}.gif"],
     "--frames 2.5: give a positive whole number"),
    (["animate", "lesson2", "--sheet", "sgd", "--frames", "-4", "-o", "{out}.gif"],
     "--frames -4: give a positive whole number"),
    (["animate", "lesson2", "--sheet", "sgd", "--frames", "ten", "-o", "{out}.gif"],
     "--frames ten: give a positive whole number"),
    (["animate", "lesson2", "--sheet", "sgd", "--frames", "5000", "-o", "{out}.gif"],
     "at most 600 frames"),
    (["animate", "lesson2", "--sheet", "sgd", "--kind", "loss", "-o", "{out}.gif"],
     "unknown animation kind 'loss'"),
    (["animate", "lesson2", "--sheet", "sgd", "-o", "{out}.mp4"], "cannot write .mp4"),
    (["animate", "lesson2", "--sheet", "sdg", "-o", "{out}.gif"], "no sheet named 'sdg'"),
]


@pytest.mark.parametrize("argv, message", BAD, ids=[" ".join(a[:1] + a[2:4]) for a, _ in BAD])
def test_bad_plot_options_are_one_line_and_write_nothing(tmp_path, capsys, argv, message):
    argv = [a.format(out=tmp_path / "out", missing=tmp_path / "missing") for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err
    assert list(tmp_path.iterdir()) == []


def test_existing_output_is_kept_without_force(tmp_path, capsys):
    target = tmp_path / "path.png"
    target.write_bytes(b"precious")
    assert main(["plot", "lesson2", "-o", str(target)]) == 2
    assert "already exists" in capsys.readouterr().err and target.read_bytes() == b"precious"
    assert main(["plot", "lesson2", "-o", str(target), "--force"]) == 0
    assert target.read_bytes().startswith(b"\x89PNG")


def test_missing_matplotlib_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib fails
    assert main(["plot", "lesson2", "-o", str(tmp_path / "p.png")]) == 2
    err = capsys.readouterr().err
    assert err == "sheetopt plot: error: plotting needs matplotlib: pip install 'sheetopt[plot]'\n"
    assert list(tmp_path.iterdir()) == []


def test_a_path_whose_least_squares_overflow_is_one_line(tmp_path, capsys):
    """A quadratic on x = 1e200: x^2 overflows, so the slice's minimum (least squares over the
    prediction's columns) cannot be found; numpy's LinAlgError used to escape as a traceback
    (found by `benchmarks/fuzz.py --cases 3000 --seed 25`, family edges)."""
    (tmp_path / "d.csv").write_text("x,y\n1e200,1\n2,3\n3,5\n")
    (tmp_path / "spec.toml").write_text('[data]\ncsv = "d.csv"\n[model]\nkind = "quadratic"\n'
                                        '[[sheet]]\nname = "s"\noptimizer = "sgd"\n'
                                        'lr = 1e-320\nepochs = 1\n')
    out = tmp_path / "p.png"
    assert main(["plot", str(tmp_path / "spec.toml"), "--kind", "path", "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "cannot be drawn" in err and not out.exists()


def test_a_zoom_inset_covers_the_markers_of_the_panel_under_it():
    """Drawn on a given Axes, the zoom is an inset above every marker of its panel: a minimum
    that lies under it (Himmelblau's (3, 2) here) must not show through, in the zoom, at a
    place that is no minimum."""
    from matplotlib.figure import Figure

    spec = Spec.from_toml('[model]\nkind = "himmelblau"\n[defaults]\nsteps = 30\n'
                          'init = { x = 0.5, y = 0.5 }\n[[sheet]]\nname = "adam"\n'
                          'optimizer = "adam"\nflavor = "torch"\nlr = 0.01\n')
    ax = Figure().add_subplot()
    plots.figure(spec, engine.run_all(spec), "path", ax=ax)
    insets = [child for child in ax.child_axes]
    assert len(insets) == 1
    stars = by_gid(ax, "minimum")
    assert stars and insets[0].get_zorder() > max(s.get_zorder() for s in stars.values())
