"""step_loss smoothing as fastai's recorder does it (an exponentially weighted average with bias
correction, beta 0.98): the numbers against fastai's own AvgSmoothLoss and exact fractions, the
picture from Python and from the command line, on by default for online runs only."""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

import sheetopt
from sheetopt import SheetoptError, cli, plots
from sheetopt.plots.canvas import stored_fingerprint
from sheetopt.protocol.smoothing import BETA, smoothed

ROOT = Path(__file__).resolve().parent.parent
PICTURE = ROOT / "workbooks" / "lesson5-step-loss.png"
COMMAND = "sheetopt plot lesson5 --kind step_loss -o workbooks/lesson5-step-loss.png --force"


def test_the_smoothed_loss_is_the_bias_corrected_average():
    # val_t = 0.98 val_{t-1} + 0.02 loss_t from 0, shown as val_t / (1 - 0.98**t):
    # losses 1, 0, 0 give 1, 0.0196/0.0396 = 49/99, 0.019208/0.058808 = 2401/7351
    assert smoothed([1.0, 0.0, 0.0]) == pytest.approx(
        [1.0, float(Fraction(49, 99)), float(Fraction(2401, 7351))], rel=1e-15)
    # without the correction a constant loss would start at 2% of itself
    assert smoothed(np.full(500, 7.0)) == pytest.approx(np.full(500, 7.0), rel=1e-14)
    assert smoothed([3.0, 5.0, 1.0], beta=0.0).tolist() == [3.0, 5.0, 1.0]
    assert len(smoothed([])) == 0


@pytest.mark.parametrize("beta", [1.0, -0.1, float("nan"), "abc", None])
def test_a_beta_outside_0_1_is_one_line(beta):
    with pytest.raises(SheetoptError, match="beta") as error:
        smoothed([1.0, 2.0], beta=beta)
    assert "\n" not in str(error.value)


def test_the_smoothed_loss_equals_fastais_recorder():
    torch = pytest.importorskip("torch")
    learner = pytest.importorskip("fastai.learner")
    losses = sheetopt.run("lesson5", "adam").trace("adam")["loss"].to_numpy()
    meter = learner.AvgSmoothLoss()  # fastai's default beta
    assert meter.beta == BETA
    meter.reset()
    meter.val = torch.zeros((), dtype=torch.float64)  # reset's tensor(0.), in float64
    theirs = []
    for value in losses:
        meter.accumulate(type("Learn", (), {"loss": torch.tensor(value, dtype=torch.float64)}))
        theirs.append(float(meter.value))
    assert len(theirs) == 145 and theirs[0] == losses[0]
    np.testing.assert_allclose(smoothed(losses), theirs, rtol=1e-12)


def lines(figure) -> dict:
    return {line.get_gid(): line for ax in figure.axes for line in ax.lines if line.get_gid()}


def test_online_runs_are_smoothed_by_default_with_the_raw_losses_faint():
    result = sheetopt.run("lesson5")
    drawn = lines(result.plot("step_loss"))
    for sheet in ("basic", "adam"):
        losses = result.trace(sheet)["loss"].to_numpy()
        raw, smooth = drawn[f"step_loss_raw:{sheet}"], drawn[f"step_loss:{sheet}"]
        np.testing.assert_array_equal(raw.get_ydata(), losses)
        np.testing.assert_array_equal(smooth.get_ydata(), smoothed(losses, 0.98))
        assert raw.get_alpha() <= 0.3 and smooth.get_alpha() is None
        assert raw.get_color() == smooth.get_color()
    # adam's last step: 145 losses averaged, far from that step's own loss
    assert drawn["step_loss:adam"].get_ydata()[-1] == pytest.approx(
        smoothed(result.trace("adam")["loss"])[-1])
    legend = result.plot("step_loss").axes[0].get_legend()
    assert "beta 0.98" in legend.get_title().get_text()


def test_full_batch_runs_are_drawn_raw_by_default_and_smoothed_on_request():
    result = sheetopt.run("lesson2")
    losses = result.trace("sgd")["loss"].to_numpy()
    drawn = lines(result.plot("step_loss"))
    assert "step_loss_raw:sgd" not in drawn
    np.testing.assert_array_equal(drawn["step_loss:sgd"].get_ydata(), losses)
    drawn = lines(result.plot("step_loss", smooth=0.5))
    np.testing.assert_allclose(drawn["step_loss:sgd"].get_ydata()[:2],
                               [losses[0], (0.5 * losses[0] + losses[1]) / 1.5], rtol=1e-15)


def test_smoothing_turned_off_and_in_the_all_picture():
    result = sheetopt.run("lesson5", ["adam"])
    losses = result.trace("adam")["loss"].to_numpy()
    drawn = lines(result.plot("step_loss", smooth=False))
    assert "step_loss_raw:adam" not in drawn
    np.testing.assert_array_equal(drawn["step_loss:adam"].get_ydata(), losses)
    drawn = lines(result.plot("all", smooth=0.9))
    np.testing.assert_array_equal(drawn["step_loss:adam"].get_ydata(), smoothed(losses, 0.9))
    with pytest.raises(SheetoptError, match="only the step_loss picture"):
        result.plot("loss", smooth=0.9)


def test_the_command_line_smooths_by_default_and_takes_a_beta_or_no_smooth(tmp_path,
                                                                            monkeypatch):
    drawn = {}
    monkeypatch.setattr(plots, "save", lambda fig, path, force=False: drawn.update(lines(fig)))
    losses = sheetopt.run("lesson5", "rmsprop").trace("rmsprop")["loss"].to_numpy()
    out = str(tmp_path / "loss.png")
    for options, expect in (([], smoothed(losses)), (["--smooth", "0.5"], smoothed(losses, 0.5)),
                            (["--no-smooth"], losses)):
        drawn.clear()
        argv = ["plot", "lesson5", "--kind", "step_loss", "--sheet", "rmsprop", "-o", out]
        assert cli.main(argv + options) == 0
        np.testing.assert_array_equal(drawn["step_loss:rmsprop"].get_ydata(), expect)
        assert ("step_loss_raw:rmsprop" in drawn) == (options != ["--no-smooth"])


@pytest.mark.parametrize("options, message", [
    (["--smooth", "1"], "must be in [0, 1)"), (["--smooth", "x"], "give a smoothing factor"),
    (["--kind", "path", "--no-smooth"], "only --kind step_loss"),
])
def test_bad_smoothing_options_are_one_line(options, message, tmp_path, capsys):
    argv = ["plot", "lesson5", "--kind", "step_loss", "-o", str(tmp_path / "x.png"), *options]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "x.png").exists()


def test_the_committed_step_loss_picture_is_what_the_readme_command_draws(tmp_path):
    assert COMMAND in (ROOT / "README.md").read_text()
    fresh = tmp_path / "fresh.png"
    argv = COMMAND.split()[1:]
    argv[argv.index("workbooks/lesson5-step-loss.png")] = str(fresh)
    assert cli.main(argv) == 0
    assert stored_fingerprint(fresh) == stored_fingerprint(PICTURE), f"stale; run: {COMMAND}"
