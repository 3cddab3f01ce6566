"""Recording per epoch only: long runs without a per-step trace give the same comparison."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

import sheetopt
from sheetopt import cli
from sheetopt.protocol import engine


@pytest.mark.parametrize("preset", sheetopt.preset_names())
def test_the_summary_is_the_same_bit_for_bit(preset):
    every_step = sheetopt.run(preset)
    per_epoch = sheetopt.run(preset, record="epoch")
    for sheet in every_step:
        assert len(per_epoch[sheet]) == 0 and len(per_epoch[sheet].rows["err2"]) == 0
        assert per_epoch[sheet].final() == every_step[sheet].final()
        assert per_epoch[sheet].final_state() == every_step[sheet].final_state()
    a, b = every_step.summary(), per_epoch.summary()
    assert a.drop(columns="partial").equals(b.drop(columns="partial"))


def test_compare_record_epoch_prints_the_same_json(capsys):
    assert cli.main(["compare", "lesson5", "--format", "json"]) == 0
    steps = json.loads(capsys.readouterr().out)
    assert cli.main(["compare", "lesson5", "--format", "json", "--record", "epoch"]) == 0
    assert json.loads(capsys.readouterr().out) == steps


def test_a_long_run_recorded_per_epoch_takes_a_fraction_of_the_memory():
    spec = sheetopt.Spec.load("lesson5").with_sheet("adam", epochs=100_000)
    sheet = spec.sheet("adam")
    every_step = engine.run_bytes(spec, sheet)  # about 790 MB at its peak
    assert engine.epoch_trace_bytes(spec, sheet) * 10 < every_step.kept + every_step.working


def test_a_diverged_run_recorded_per_epoch_keeps_where_it_stopped():
    spec = sheetopt.Spec.load("lesson5").with_sheet("basic", lr=0.01)
    every_step, per_epoch = (sheetopt.run(spec, "basic", record=r)["basic"]
                             for r in ("step", "epoch"))
    assert every_step.diverged_at is not None
    assert per_epoch.diverged_at == every_step.diverged_at
    assert per_epoch.final() == every_step.final()


def diverging_spec(folder) -> str:
    """lesson5 as a TOML file, its basic sheet diverging at step 12 of epoch 2 and its
    momentum sheet within its first epoch, beside sheets that finish."""
    text = (Path(sheetopt.__file__).parent / "presets" / "lesson5.toml").read_text()
    basic, momentum = "lr = 0.0001\nshow", "lr = 0.0001\nmom = 0.9"
    assert basic in text and momentum in text
    path = folder / "diverging.toml"
    path.write_text(text.replace(basic, "lr = 0.0012\nshow").replace(momentum,
                                                                     "lr = 0.01\nmom = 0.9"))
    return str(path)


def test_summary_reruns_only_a_sheet_cut_short_and_reports_the_same(tmp_path):
    spec = diverging_spec(tmp_path)
    every_step = sheetopt.run(spec)
    summary = sheetopt.run(spec, record="summary")
    assert every_step["basic"].diverged_at == (2, 12)
    assert every_step["momentum"].diverged_at[0] == 1
    assert len(summary["basic"]) == len(every_step["basic"]) > 0  # run again, recorded
    assert len(summary["adam"]) == 0  # per epoch only
    assert set(every_step.summary().query("partial")["sheet"]) == {"basic", "momentum"}
    assert summary.summary().equals(every_step.summary())


@pytest.mark.parametrize("fmt", ["table", "csv", "json", "markdown"])
def test_compare_prints_what_a_run_of_every_step_prints(fmt, tmp_path, capsys):
    """compare records per epoch by default; its output is that of a run recording every step,
    byte for byte, the epochs cut short by a divergence included."""
    spec = diverging_spec(tmp_path)
    assert cli.main(["compare", spec, "--format", fmt]) == 0
    default = capsys.readouterr().out
    assert cli.main(["compare", spec, "--format", fmt, "--record", "step"]) == 0
    every_step = capsys.readouterr().out
    assert default == every_step and "basic" in default
    assert ("*" in default) == (fmt in ("table", "markdown"))  # the cut-short epochs shown


def test_an_unknown_record_is_one_line():
    with pytest.raises(sheetopt.SheetoptError, match="record must be one of step, epoch, summary"):
        sheetopt.run("lesson5", record="row")
