"""Recording per epoch only: long runs without a per-step trace give the same comparison."""
from __future__ import annotations

import json

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


def test_an_unknown_record_is_one_line():
    with pytest.raises(sheetopt.SheetoptError, match="record must be one of step, epoch"):
        sheetopt.run("lesson5", record="row")
