"""sheetopt translate: the namesakes of an optimizer in the other frameworks, run side by side
on the lecture's rows, with the arguments that reproduce it or the closest ones."""
from __future__ import annotations

import io
import json
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import openpyxl
import pytest
from hypothesis import given, settings, strategies as st

import sheetopt
from sheetopt import SheetoptError
from sheetopt.cli import main
from sheetopt.framework_page import page

ROOT = Path(__file__).resolve().parents[1]
STEP_LR = {"torch": "StepLR", "step_size": 29, "gamma": 0.5, "per": "step"}


def by_flavor(answer):
    return {m.flavor: m for m in answer.matches}


def test_torch_adam_is_optax_and_fastai_exactly_but_not_keras():
    found = by_flavor(sheetopt.translate("adam", "torch", {"lr": 0.1}, epochs=1))
    assert found["optax"].verdict() == "exact" and found["optax"].max_rel < 1e-14
    assert found["fastai"].verdict() == "exact"
    # fastai's own defaults differ: the arguments that make it torch's Adam are spelled out
    assert found["fastai"].args == {"lr": 0.1, "sqr_mom": 0.999, "eps": 1e-8, "wd": 0.0,
                                    "decouple_wd": False}
    keras = found["keras"]
    assert keras.verdict() == "closest" and keras.first_step == 1
    assert 1e-12 < keras.max_rel < 1e-6 and list(keras.differs) == ["eps"]


def test_torch_rmsprop_with_momentum_needs_eps_after_the_root_in_optax():
    found = by_flavor(sheetopt.translate("rmsprop", "torch", {"lr": 0.01, "momentum": 0.9},
                                         epochs=1))
    assert found["optax"].exact and found["optax"].args["eps_in_sqrt"] is False
    # lr inside optax's trace: the same numbers only while lr is constant
    assert found["optax"].verdict() == "exact here" and "momentum" in found["optax"].differs
    assert found["fastai"].verdict() == "closest" and found["fastai"].first_step == 2
    assert found["fastai"].max_rel > 0.01


def test_keras_sgd_parts_from_torch_at_the_first_lr_change():
    constant = by_flavor(sheetopt.translate("sgd", "torch", {"lr": 3e-5, "momentum": 0.9}))
    assert constant["keras"].exact
    scheduled = by_flavor(sheetopt.translate("sgd", "torch", {"lr": 3e-5, "momentum": 0.9},
                                             schedule=STEP_LR))
    assert not scheduled["keras"].exact and scheduled["keras"].first_step == 30
    assert scheduled["optax"].exact and scheduled["fastai"].exact


def test_from_keras_into_one_framework_with_its_spelling():
    answer = sheetopt.translate("adam", "keras", {"learning_rate": 0.1, "epsilon": 1e-7},
                                into=["torch"], epochs=1, batch=5)
    (match,) = answer.matches
    assert match.flavor == "torch" and "lr" in match.args and "learning_rate" not in match.args
    assert answer.to_dict()["args"]["epsilon"] == 1e-7
    frame = answer.to_dataframe()
    assert list(frame["flavor"]) == ["torch"] and frame["max_rel"][0] == match.max_rel


def test_the_cli_prints_the_table_and_json(capsys):
    assert main(["translate", "rmsprop", "lr=0.01", "momentum=0.9", "--epochs", "1"]) == 0
    out = capsys.readouterr().out
    assert "optax" in out and "exact here" in out and "eps_in_sqrt=False" in out
    assert "fastai differs in momentum / lr" in out
    assert main(["translate", "keras.adam", "learning_rate=0.1", "--json", "--into", "optax",
                 "--epochs", "1"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["flavor"] == "keras" and data["frameworks"][0]["flavor"] == "optax"
    assert data["frameworks"][0]["verdict"] == "closest"


@pytest.mark.parametrize("argv, words", [
    (["translate", "adamx"], "torch has no optimizer 'adamx'"),
    (["translate", "jax.adam"], "flavor 'jax' is not one of"),
    (["translate", "adam", "lr=x"], "argument lr: 'x' is not a number"),
    (["translate", "adam", "lr"], "write it NAME=VALUE"),
    (["translate", "adam", "lr=-1"], "lr must be >= 0"),
    (["translate", "adam", "learning_rate=0.1"], "learning_rate"),
    (["translate", "keras.adam", "--from", "optax"], "comes from keras, but --from says optax"),
    (["translate", "adam", "--batch", "x"], "--batch"),
    (["translate", "lion", "--into", "torch"], "lion"),
])
def test_bad_input_is_one_line(argv, words, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert words in err and len(err.strip().splitlines()) == 1


def test_lion_has_no_torch_namesake():
    with pytest.raises(SheetoptError, match="torch has no optimizer 'lion'"):
        sheetopt.translate("lion", "torch")
    answer = sheetopt.translate("lion", "keras", {}, epochs=1)
    assert [m.flavor for m in answer.matches] == ["optax"]


def test_workbook_has_each_framework_and_live_differences(tmp_path):
    path = tmp_path / "t.xlsx"
    assert main(["translate", "sgd", "lr=3e-5", "momentum=0.9", "--epochs", "1",
                 "-o", str(path)]) == 0
    book = openpyxl.load_workbook(path)
    assert {"torch sgd", "keras sgd", "optax sgd", "fastai sgd", "differences"} <= set(
        book.sheetnames)
    sheet = book["differences"]
    heads = [c.value for c in sheet[4]]
    column = heads.index("keras sgd - torch sgd: b") + 1
    assert sheet.cell(5, column).value.startswith("=")
    assert main(["check", str(path)]) == 0
    assert main(["translate", "sgd", "lr=3e-5", "-o", str(path)]) == 2  # no clobbering


def test_docs_page_is_generated_from_the_registry(monkeypatch):
    # the numpy executor: the same page bit for bit (the executors agree: test_compiled), without
    # compiling the 21 kernels of its 481 short runs where the kernel cache is cold (CI): 18 s of
    # CPU cold, 5.4 s on numpy, 3.5 s warm
    monkeypatch.setenv("SHEETOPT_EXECUTOR", "numpy")
    stored = (ROOT / "docs" / "frameworks.md").read_text()
    assert stored == page(), "docs/frameworks.md is stale: python -m sheetopt.framework_page " \
                             "> docs/frameworks.md"
    assert "](docs/frameworks.md)" in (ROOT / "README.md").read_text()


@pytest.fixture(scope="module")
def recalculated_translation(tmp_path_factory):
    """A translate workbook and a copy with the source sheet's lr edited, both recalculated by
    LibreOffice: (answer, recalculated, recalculated edited)."""
    from libreoffice import recalculate, require_soffice
    require_soffice()
    src, out = tmp_path_factory.mktemp("written"), tmp_path_factory.mktemp("recalculated")
    answer = sheetopt.translate("sgd", "torch", {"lr": 3e-5, "momentum": 0.9}, epochs=1,
                                schedule=STEP_LR)
    written, edited = src / "translate.xlsx", src / "edited.xlsx"
    answer.write_workbook(written)
    book = openpyxl.load_workbook(written)
    sheet_name, cell = book.defined_names["torch_sgd_lr"].attr_text.split("!")
    book[sheet_name.strip("'")][cell.replace("$", "")] = EDITED_LR
    book.save(edited)
    lo, lo_edited = recalculate([written, edited], out)
    return answer, lo, lo_edited


EDITED_LR = 1e-5


def differences(path):
    rows = list(openpyxl.load_workbook(path, read_only=True, data_only=True)["differences"]
                .iter_rows(values_only=True))
    heads = list(rows[3])
    return heads, [r for r in rows[4:] if r and r[0] is not None]


def test_libreoffice_recomputes_the_live_differences(recalculated_translation):
    answer, lo, lo_edited = recalculated_translation
    keras = by_flavor(answer)["keras"]
    for path, source_lr in ((lo, 3e-5), (lo_edited, EDITED_LR)):
        heads, rows = differences(path)
        mine = heads.index("torch sgd: b")
        theirs = heads.index("keras sgd: b")
        gap = heads.index("keras sgd - torch sgd: b")
        expected = sheetopt.translate("sgd", "torch", {"lr": source_lr, "momentum": 0.9},
                                      epochs=1, schedule=STEP_LR)
        engine_b = expected.traces["source"].steps["new_b"]
        keras_b = answer.traces[keras.sheet.name].steps["new_b"]  # its own lr is unchanged
        assert len(rows) == len(engine_b) == 29
        for k, row in enumerate(rows):
            assert row[mine] == pytest.approx(float(engine_b[k]), rel=1e-12)
            assert row[theirs] == pytest.approx(float(keras_b[k]), rel=1e-12)
            assert row[gap] == pytest.approx(row[theirs] - row[mine], abs=1e-12 * abs(row[mine]))
    _, before = differences(lo)
    _, after = differences(lo_edited)
    assert before[-1][gap] != pytest.approx(after[-1][gap])  # the edit reached the column


NAMES = ["lr", "learning_rate", "momentum", "mom", "eps", "epsilon", "betas", "b1", "rho",
         "decouple_wd", "nesterov", "centered", "weight_decay", "x"]
VALUES = ["0.1", "-1", "0", "1e308", "nan", "true", "[0.9, 0.99]", "[1]", "'a'", "", "inf"]


@settings(max_examples=25, deadline=None)
@given(st.sampled_from(["sgd", "adam", "rmsprop", "keras.adam", "fastai.rmsprop", "optax.sgd",
                        "lion", "keras.nadam"]),
       st.lists(st.tuples(st.sampled_from(NAMES), st.sampled_from(VALUES)), max_size=3))
def test_fuzzed_arguments_answer_or_refuse_in_one_line(optimizer, pairs):
    argv = ["translate", optimizer, *(f"{n}={v}" for n, v in pairs), "--epochs", "1",
            "--into", "optax,fastai", "--json"]
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        status = main(argv)
    assert status in (0, 2), (argv, status)
    if status == 2:
        assert len(err.getvalue().strip().splitlines()) == 1 and "Traceback" not in err.getvalue()
    else:
        json.loads(out.getvalue())


def test_every_row_of_the_differences_table_is_translated():
    """Every optimizer of the "same name, different update" table, in every framework that has
    it, appears in the page's translation table with a verdict and drift figures: translated
    from torch's where torch has the name (from Keras's for Lion and Lamb)."""
    from sheetopt.framework_page import CASES, namesakes
    stored = (ROOT / "docs" / "frameworks.md").read_text()
    rows = [line.split(" | ") for line in stored.splitlines()
            if line.startswith("| torch `") or line.startswith("| keras `")]
    covered = {(r[0][2:].split("`")[1], r[1]) for r in rows if r[2] in
               ("exact", "exact here", "closest")}
    for name, rules in namesakes().items():
        source = next(c[0] for c in CASES if c[1] == name)
        assert source == rules[0].flavor, name  # torch's when torch has it
        for rule in rules[1:]:
            assert (name, rule.flavor) in covered, (name, rule.flavor)
    assert {"adadelta", "nadam", "radam", "adamax", "lamb"} <= set(namesakes())
