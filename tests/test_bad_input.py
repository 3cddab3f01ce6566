"""Every bad input issue 2 lists: one line on stderr naming the file, key, row or value, exit
status 2, no traceback, and no file written or overwritten.

Most cases run the CLI in-process (fast); a few run ``python -m sheetopt`` and the console
script to prove that nothing but that one line reaches the terminal.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from sheetopt import cli

GOOD_ROWS = "x,y\n1,32\n2,34\n3,36\n4,38\n5,40\n"  # 5 rows
PRECIOUS = b"an earlier result that must survive\n"
GOOD_SHEET = {"name": "s", "optimizer": "sgd", "lr": 0.01}


def toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return repr(value)


def spec_text(sheet: dict | None = None, data: dict | None = None, model: str = "linear",
              extra: str = "") -> str:
    sheet = {**GOOD_SHEET, **(sheet or {})}
    data = data or {"csv": "rows.csv"}
    lines = [extra, "[data]", *(f"{k} = {toml_value(v)}" for k, v in data.items()),
             "[model]", f'kind = "{model}"', "[[sheet]]",
             *(f"{k} = {toml_value(v)}" for k, v in sheet.items() if v is not None)]
    return "\n".join(lines) + "\n"


DIRECTORY = object()  # write a folder where a file is expected


@dataclass
class Case:
    id: str
    expect: list[str]  # substrings of the one error line
    spec: object = None  # spec text/bytes, DIRECTORY, or None for the good spec
    csv: object = GOOD_ROWS  # rows.csv text/bytes or DIRECTORY
    args: list[str] = field(default_factory=lambda: ["-o", "out.csv", "--force"])
    spec_name: str = "spec.toml"
    command: str = "trace"
    write_spec: bool = True


def sheet_case(id: str, expect: list[str], **sheet) -> Case:
    return Case(id, expect, spec=spec_text(sheet))


def csv_case(id: str, body: str, expect: list[str]) -> Case:
    return Case(id, ["rows.csv", *expect], csv=body)


SYNTAX_ERROR = '\n[data]\ncsv = "rows.csv"\n[[sheet]]\noptimizer "sgd"\nlr = 0.01\n'  # line 5

CASES = [
    # the spec file itself
    Case("missing spec", ["nope.toml", "not found"], spec_name="nope.toml", write_spec=False),
    Case("spec is a folder", ["spec.toml", "cannot read"], spec=DIRECTORY),
    Case("spec not UTF-8", ["spec.toml", "cannot read"],
         spec=b'title = "caf\xe9"\n' + spec_text().encode()),
    Case("TOML syntax error", ["spec.toml", "TOML", "line 5"], spec=SYNTAX_ERROR),
    # keys and names
    sheet_case("unknown sheet key", ["spec.toml", "epoch", "did you mean 'epochs'"], epoch=3),
    Case("unknown data key", ["spec.toml", "data.seeds", "did you mean 'seed'"],
         spec=spec_text(data={"rows": 10, "seeds": 1, "true": {"a": 1.0, "b": 2.0}})),
    Case("unknown top-level key", ["spec.toml", "titel", "did you mean 'title'"],
         spec=spec_text(extra='titel = "x"')),
    sheet_case("unknown optimizer", ["spec.toml", "'adamm'", "did you mean 'adam'"],
               optimizer="adamm"),
    sheet_case("unknown flavor", ["spec.toml", "'torchh'", "did you mean 'torch'"],
               flavor="torchh"),
    Case("unknown model", ["spec.toml", "'linearr'", "did you mean 'linear'"],
         spec=spec_text(model="linearr")),
    # hyperparameters out of range
    sheet_case("lr zero", ["spec.toml", "lr", "> 0"], lr=0.0),
    sheet_case("lr negative", ["spec.toml", "lr", "> 0", "-0.5"], lr=-0.5),
    sheet_case("mom one", ["spec.toml", "mom", "[0, 1)"], optimizer="momentum", mom=1.0),
    sheet_case("mom negative", ["spec.toml", "mom", "[0, 1)"], optimizer="momentum", mom=-0.1),
    sheet_case("sqr_mom one", ["spec.toml", "sqr_mom", "[0, 1)"], optimizer="rmsprop",
               sqr_mom=1.0),
    sheet_case("sqr_mom above one", ["spec.toml", "sqr_mom", "[0, 1)"], optimizer="adam",
               sqr_mom=1.5),
    sheet_case("sqr_mom negative", ["spec.toml", "sqr_mom", "[0, 1)", "-0.2"],
               optimizer="rmsprop", flavor="torch", sqr_mom=-0.2),
    sheet_case("eps negative", ["spec.toml", "eps", ">= 0"], optimizer="adam", flavor="torch",
               eps=-1e-8),
    sheet_case("lr NaN", ["spec.toml", "lr", "finite", "nan"], lr=float("nan")),
    sheet_case("lr inf", ["spec.toml", "lr", "finite", "inf"], lr=float("inf")),
    sheet_case("lr a string", ["spec.toml", "lr", "number", "'0.1'"], lr="0.1"),
    sheet_case("epochs zero", ["spec.toml", "epochs", "at least 1"], epochs=0),
    sheet_case("epochs negative", ["spec.toml", "epochs", "-2"], epochs=-2),
    sheet_case("epochs fractional", ["spec.toml", "epochs", "whole number"], epochs=1.5),
    sheet_case("batch zero", ["spec.toml", "batch", "0"], batch=0),
    sheet_case("batch above rows", ["spec.toml", "batch", "6", "5"], batch=6),
    sheet_case("batch a word", ["spec.toml", "batch", "'half'"], batch="half"),
    sheet_case("nesterov without momentum", ["spec.toml", "nesterov", "mom > 0"],
               flavor="torch", nesterov=True),
    sheet_case("nesterov with dampening", ["spec.toml", "nesterov", "dampening = 0", "0.5"],
               flavor="torch", nesterov=True, mom=0.9, dampening=0.5),
    sheet_case("diverge_above negative", ["spec.toml", "diverge_above", "> 0"],
               diverge_above=-1.0),
    sheet_case("one-cycle div zero", ["spec.toml", "schedule.div", "> 0"], optimizer="adam",
               flavor="torch", schedule={"kind": "one_cycle", "div": 0.0}),
    sheet_case("one-cycle div_final negative", ["spec.toml", "schedule.div_final", "> 0"],
               optimizer="adam", flavor="torch", schedule={"kind": "one_cycle", "div_final": -1.0}),
    sheet_case("one-cycle moms above one", ["spec.toml", "schedule.moms", "[0, 1)"],
               optimizer="adam", flavor="torch",
               schedule={"kind": "one_cycle", "moms": [1.5, 0.85, 0.95]}),
    # names from other libraries, and typos of the reset state, get a hint
    sheet_case("learning_rate", ["spec.toml", "learning_rate", "did you mean 'lr'"],
               learning_rate=0.1),
    sheet_case("weight_decay", ["spec.toml", "weight_decay", "did you mean 'wd'"],
               weight_decay=0.1),
    sheet_case("lecture_reset", ["spec.toml", "'lecture_reset'", "did you mean 'lecture-reset'"],
               optimizer="momentum", state="lecture_reset"),
    # sizes no machine holds: refused before anything is allocated
    sheet_case("epochs beyond memory", ["spec.toml", "10,000,000,000,000 epochs", "memory",
                                        "fewer epochs"], epochs=10 ** 13),
    Case("rows beyond memory", ["spec.toml", "data.rows", "memory", "fewer rows"],
         spec=spec_text(data={"rows": 5 * 10 ** 12, "true": {"a": 1.0, "b": 2.0}})),
    Case("x range overflows", ["spec.toml", "data.x_min", "overflows"],
         spec=spec_text(data={"rows": 5, "x": "uniform", "x_min": -1e308, "x_max": 1e308,
                              "true": {"a": 1.0, "b": 2.0}})),
    Case("generated y overflows", ["spec.toml", "overflow"],
         spec=spec_text(data={"rows": 5, "x": "uniform", "x_min": 1e300, "x_max": 1e308,
                              "true": {"a": 1e10, "b": 2.0}})),
    # seeds and kinds of the wrong type (these once escaped as tracebacks)
    sheet_case("negative sheet seed", ["spec.toml", "seed", "-1"], seed=-1, batch=2,
               shuffle=True),
    Case("negative data seed", ["spec.toml", "data.seed", "-3"],
         spec=spec_text(data={"rows": 10, "seed": -3, "true": {"a": 1.0, "b": 2.0}})),
    Case("fractional integer range", ["spec.toml", "data.x_min", "whole numbers"],
         spec=spec_text(data={"rows": 10, "x_min": 0.5, "x_max": 0.7,
                              "true": {"a": 1.0, "b": 2.0}})),
    Case("model kind a list", ["spec.toml", "model.kind"],
         spec=spec_text().replace('kind = "linear"', 'kind = ["linear"]')),
    Case("preset a list", ["spec.toml", "data.preset"], spec=spec_text(data={"preset": ["x"]})),
    Case("data preset unknown", ["spec.toml", "'lectur'", "did you mean 'lecture'"],
         spec=spec_text(data={"preset": "lectur"})),
    # parameters the model lacks
    sheet_case("init names c", ["spec.toml", "init.c", "'c'"], init={"a": 1.0, "c": 2.0}),
    sheet_case("state names c", ["spec.toml", "state.grad_avg.c", "'c'"], optimizer="momentum",
               state={"grad_avg": {"c": 0.0}}),
    sheet_case("state the rule lacks", ["spec.toml", "state.sqr_avg"], optimizer="momentum",
               state={"sqr_avg": {"a": 0.0}}),
    # the data CSV
    Case("missing CSV", ["missing.csv", "not found"],
         spec=spec_text(data={"csv": "missing.csv"})),
    Case("CSV is a folder", ["rows.csv", "cannot read"], csv=DIRECTORY),
    Case("CSV not UTF-8", ["rows.csv", "cannot read"], csv=b"x,y\n1,2\n\xff\xfe,3\n"),
    csv_case("empty cell", "x,y\n1,2\n3,\n4,5\n", ["line 3", "empty"]),
    csv_case("empty x cell", "x,y\n1,2\n3,4\n ,5\n", ["line 4", "column x", "empty"]),
    csv_case("non-numeric cell", "x,y\n1,2\nthree,4\n", ["line 3", "'three'"]),
    csv_case("NaN cell", "x,y\n1,2\n3,4\n5,6\nnan,7\n", ["line 5", "nan"]),
    csv_case("NaN spelled NaN", "x,y\n1,NaN\n", ["line 2", "NaN"]),
    csv_case("inf cell", "x,y\n1,2\n2,inf\n", ["line 3", "inf"]),
    csv_case("-inf cell", "x,y\n-inf,2\n", ["line 2", "-inf"]),
    csv_case("Infinity cell", "x,y\n1,2\n2,3\n3,Infinity\n", ["line 4", "Infinity"]),
    csv_case("no rows", "x,y\n", ["no rows"]),
    csv_case("no rows, blank lines", "x,y\n\n\n", ["no rows"]),
    csv_case("empty file", "", ["empty"]),
    csv_case("wrong header", "u,v\n1,2\n", ["line 1", "header"]),
    csv_case("three cells", "x,y\n1,2\n3,4,5\n", ["line 3", "2 cells"]),
    csv_case("digit separators", "x,y\n1,2\n1_000,3\n", ["line 3", "'1_000'"]),
    # output paths
    Case("output in a missing folder", ["nowhere", "does not exist"],
         args=["-o", "nowhere/out.csv"]),
    Case("output exists, no --force", ["out.csv", "already exists", "--force"],
         args=["-o", "out.csv"]),
    Case("output is a folder", ["a-folder", "folder"], args=["-o", "a-folder", "--force"]),
    Case("plot in a missing folder", ["nowhere", "does not exist"], command="compare",
         args=["--plot", "nowhere/plot.png"]),
    Case("plot exists, no --force", ["plot.png", "already exists"], command="compare",
         args=["--plot", "plot.png"]),
    Case("unknown sheet", ["'nosuch'"], args=["--sheet", "nosuch", "-o", "out.csv", "--force"]),
]


def write(target: Path, content) -> None:
    if content is DIRECTORY:
        target.mkdir()
    elif isinstance(content, bytes):
        target.write_bytes(content)
    else:
        target.write_text(content)


def prepare(root: Path, case: Case) -> list[str]:
    """Writes the case's files into ``root`` and returns the CLI arguments."""
    write(root / "rows.csv", case.csv)
    if case.write_spec:
        write(root / case.spec_name, spec_text() if case.spec is None else case.spec)
    (root / "out.csv").write_bytes(PRECIOUS)
    (root / "plot.png").write_bytes(PRECIOUS)
    (root / "a-folder").mkdir()
    return [case.command, case.spec_name, *case.args]


def snapshot(root: Path) -> dict[str, bytes | None]:
    return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None)
            for p in sorted(root.rglob("*"))}


def check_error(root: Path, before: dict, code: int, out: str, err: str, case: Case) -> None:
    assert code == 2, (code, err)
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1 and err.endswith("\n"), err
    for text in case.expect:
        assert text in lines[0], (text, lines[0])
    if case.command == "trace":
        assert out == ""
    after = snapshot(root)
    assert after == before, "a file was written, removed or changed"
    assert (root / "out.csv").read_bytes() == PRECIOUS


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_in_process(tmp_path, monkeypatch, capsys, case):
    args = prepare(tmp_path, case)
    monkeypatch.chdir(tmp_path)
    before = snapshot(tmp_path)
    code = cli.main(args)
    out, err = capsys.readouterr()
    check_error(tmp_path, before, code, out, err, case)
    assert err.startswith(f"sheetopt {case.command}: error: ")


def test_the_good_spec_really_runs(tmp_path, monkeypatch, capsys):
    # The cases above differ from this run by their one fault: without it, out.csv is replaced.
    args = prepare(tmp_path, Case("good", []))
    monkeypatch.chdir(tmp_path)
    assert cli.main(args) == 0
    assert (tmp_path / "out.csv").read_bytes().startswith(b"epoch,step")
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp file
    assert cli.main(["compare", "spec.toml", "--format", "csv"]) == 0


SUBPROCESS_CASES = ["missing spec", "spec not UTF-8", "TOML syntax error", "unknown optimizer",
                    "NaN cell", "output exists, no --force", "batch above rows"]


def run_cli(root: Path, args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sheetopt", *args], cwd=root,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("case", [c for c in CASES if c.id in SUBPROCESS_CASES],
                         ids=SUBPROCESS_CASES)
def test_bad_input_via_python_m(tmp_path, case):
    args = prepare(tmp_path, case)
    before = snapshot(tmp_path)
    result = run_cli(tmp_path, args)
    check_error(tmp_path, before, result.returncode, result.stdout, result.stderr, case)


def test_bad_input_via_console_script(tmp_path):
    script = Path(sys.executable).with_name("sheetopt")
    if not script.exists():
        pytest.skip("the sheetopt console script is not installed beside this Python")
    case = next(c for c in CASES if c.id == "unknown sheet key")
    args = prepare(tmp_path, case)
    before = snapshot(tmp_path)
    result = subprocess.run([str(script), *args], cwd=tmp_path, capture_output=True, text=True,
                            timeout=120)
    check_error(tmp_path, before, result.returncode, result.stdout, result.stderr, case)


# --- the command line's own answers ---------------------------------------------------------
def test_version(tmp_path):
    from sheetopt import __version__

    result = run_cli(tmp_path, ["--version"])
    assert result.returncode == 0 and result.stdout.strip() == f"sheetopt {__version__}"


@pytest.mark.parametrize("command", ["compare", "trace"])
def test_every_command_explains_itself_with_an_example(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main([command, "--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    assert "example:" in text and f"sheetopt {command} " in text.split("example:")[1]


def test_unknown_format_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["trace", "lesson5", "--format", "xlsx"])
    assert exit_.value.code == 2
    assert "Traceback" not in capsys.readouterr().err


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_a_failure_while_writing_leaves_the_old_file_and_no_temp_file(tmp_path, error):
    from sheetopt.files import atomic_output

    target = tmp_path / "out.csv"
    target.write_bytes(PRECIOUS)
    with pytest.raises(error):
        with atomic_output(target, force=True) as temp:
            temp.write_text("half a result")
            raise error()
    assert target.read_bytes() == PRECIOUS
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]


def test_sigterm_while_writing_a_workbook_leaves_no_file(tmp_path):
    """A killed run (SIGTERM, as from `kill` or a job scheduler) cleans up like Ctrl-C."""
    (tmp_path / "big.toml").write_text(
        '[data]\nrows = 200000\nx = "uniform"\nx_min = 0.0\nx_max = 1.0\n'
        'true = { a = 2.0, b = 30.0 }\n[[sheet]]\noptimizer = "sgd"\nlr = 0.01\n')
    process = subprocess.Popen([sys.executable, "-m", "sheetopt", "workbook", "big.toml",
                                "-o", "big.xlsx"], cwd=tmp_path, stderr=subprocess.PIPE,
                               text=True)
    deadline = time.monotonic() + 60
    while not list(tmp_path.glob(".big.xlsx.*.part")):  # the temporary file is being written
        assert process.poll() is None and time.monotonic() < deadline, "no temporary file seen"
        time.sleep(0.01)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 143
    assert err.strip().splitlines() == ["sheetopt: terminated"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.toml"]


def test_sigterm_inside_a_catch_all_still_terminates(tmp_path, monkeypatch, capsys):
    """The signal can land inside someone's ``except Exception`` (an optional import's fallback,
    as numba's is, runs while the temporary file exists): it must still stop the run."""
    from sheetopt.protocol import engine

    run_all = engine.run_all

    def run_all_with_a_catch_all(spec):
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)  # the handler runs here, inside the try
        except Exception:
            pass
        return run_all(spec)

    monkeypatch.setattr(engine, "run_all", run_all_with_a_catch_all)
    monkeypatch.chdir(tmp_path)
    assert cli.main(["workbook", "lesson5", "-o", "out.xlsx"]) == 143
    assert capsys.readouterr().err.strip() == "sheetopt: terminated"
    assert list(tmp_path.iterdir()) == []
