"""Records everything sheetopt produces, so that a refactor can be compared bit for bit.

    python benchmarks/snapshot.py record DIR            (every output, into DIR)
    python benchmarks/snapshot.py compare DIR1 DIR2     (exit 0 when equal bit for bit)

What is recorded, for every shipped preset (``sheetopt.preset_names()``):
- each sheet run on each executor: the numpy loop, the compiled kernel (where it supports the
  sheet) and the torch batched simulation (float64 on the CPU): every array of the result,
  per-step records included, saved with its dtype and shape (``.npz``) and compared by bytes;
- the regenerated workbooks (``workbook --all``), byte for byte, and ``check`` of each;
- the command line's output (stdout, stderr and exit status): ``compare`` in every format,
  ``trace`` of every sheet (csv and json), ``verify``, a few ``sweep`` runs on every backend,
  ``torch-suite`` at a reduced size.

The internal modules are looked up by every name they have had (see ``_find``), so the same
script records before and after modules move; everything else goes through the command line
and the public API.
"""
from __future__ import annotations

import contextlib
import importlib
import io
import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

os.environ.setdefault("MPLBACKEND", "Agg")
ROOT = str(Path(__file__).resolve().parent.parent)


def _find(name: str, *modules: str):
    """``name`` from the first of ``modules`` that has it (the modules' old and new homes)."""
    for module in modules:
        try:
            found = importlib.import_module(module)
        except ModuleNotFoundError:
            continue
        if hasattr(found, name):
            return getattr(found, name)
    raise LookupError(f"{name} in none of {modules}")


def _cli(argv: list[str]) -> str:
    """``sheetopt ARGV`` in this process: its exit status, stdout and stderr as one text."""
    from sheetopt.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(argv)
    text = (f"$ sheetopt {' '.join(argv)}\nexit {status}\n--- stdout\n{out.getvalue()}"
            f"--- stderr\n{err.getvalue()}")
    return text.replace(ROOT, "ROOT")  # the checkout's path: the same outputs from any clone


def _arrays(prefix: str, value, out: dict) -> None:
    """Every array inside a result (dataclass fields, dicts), flattened to names."""
    if value is None:
        return
    if isinstance(value, dict):
        for k, v in value.items():
            _arrays(f"{prefix}.{k}", v, out)
    elif hasattr(value, "__dataclass_fields__"):
        for k in value.__dataclass_fields__:
            _arrays(f"{prefix}.{k}", getattr(value, k), out)
    elif isinstance(value, (np.ndarray, float, int, np.generic)):
        out[prefix] = np.asarray(value)


def _executors(spec, sheet) -> dict:
    """The sheet run on each executor, as flat dicts of arrays."""
    start_arrays = _find("start_arrays", "sheetopt.sweeps.grid", "sheetopt.sweeps.sweep",
                         "sheetopt.sweeps", "sheetopt.torch_backend.sweep")
    simulate = _find("simulate", "sheetopt.protocol.driver", "sheetopt.protocol.engine",
                     "sheetopt.engine")
    supports = _find("supports", "sheetopt.executors.compiled", "sheetopt.compiled")
    torch_simulate = _find("simulate", "sheetopt.executors.torch.simulate",
                           "sheetopt.torch_backend.simulate")
    to_tensors = _find("to_tensors", "sheetopt.executors.torch.simulate",
                       "sheetopt.torch_backend.simulate")
    import torch

    out = {}
    hp, params, state, plan = start_arrays(spec, sheet, {})
    _arrays("numpy", simulate(spec, sheet, hp, params, state, plan, record=True,
                              executor="numpy"), out)
    if supports(spec, sheet, record=True):
        _arrays("compiled", simulate(spec, sheet, hp, params, state, plan, record=True,
                                     executor="compiled"), out)
    tensors = lambda values: to_tensors(values, torch.device("cpu"), torch.float64)  # noqa: E731
    _arrays("torch", torch_simulate(spec, sheet, tensors(hp), tensors({"p": params})["p"],
                                    tensors(state), plan), out)
    return out


SWEEPS = [
    ["lesson5", "--sheet", "adam", "--lr", "0.001:1:12", "--log"],
    ["lesson5", "--sheet", "adam_ann", "--lr", "0.001:1:6", "--log", "--sqr-mom", "0.9,0.99"],
    ["lesson5", "--sheet", "momentum", "--lr", "0.00001:0.001:7", "--mom", "0,0.5,0.9"],
    ["lesson2", "--sheet", "sgd", "--lr", "0.00001:0.001:9"],
    ["torch-schedules", "--sheet", "-", "--lr", "0.001:0.1:5"],
    ["torch-optim", "--sheet", "Adam", "--lr", "0.001:0.1:5", "--mom", "0.8,0.9"],
    ["lecture-vs-torch", "--sheet", "torch_rmsprop", "--lr", "0.001:0.1:5"],
    ["quadratic", "--sheet", "-", "--lr", "0.0001:0.01:5"],
]


def record(folder: Path) -> None:
    import sheetopt

    folder.mkdir(parents=True, exist_ok=True)
    presets = sheetopt.preset_names()
    spec_of = _find("spec_of", "sheetopt.api")
    for preset in presets:
        print(f"recording {preset}", file=sys.stderr)
        spec = spec_of(preset)
        arrays = {}
        for sheet in spec.sheets:
            arrays.update({f"{sheet.name}/{k}": v for k, v in _executors(spec, sheet).items()})
        np.savez(folder / f"executors-{preset}.npz", **arrays)
        texts = [_cli(["compare", preset, "--format", f])
                 for f in ("table", "csv", "json", "markdown")]
        for sheet in spec.sheets:
            texts += [_cli(["trace", preset, "--sheet", sheet.name, "--format", f])
                      for f in ("csv", "json")]
        (folder / f"cli-{preset}.txt").write_text("\n".join(texts))
        (folder / f"verify-{preset}.txt").write_text(_cli(["verify", preset, "--device", "cpu"]))
        first = spec.sheets[0].name
        sweeps = [[a if a != "-" else first for a in s] for s in SWEEPS if s[0] == preset]
        texts = []
        for argv in sweeps:
            for backend in ("numpy", "torch"):
                for fmt in ("table", "csv", "json"):
                    texts.append(_cli(["sweep", *argv, "--backend", backend, "--device", "cpu",
                                       "--format", fmt]))
            os.environ["SHEETOPT_EXECUTOR"] = "numpy"
            try:
                texts.append(_cli(["sweep", *argv, "--backend", "numpy", "--format", "json"]))
            finally:
                del os.environ["SHEETOPT_EXECUTOR"]
        (folder / f"sweep-{preset}.txt").write_text("\n".join(texts))
    _workbooks(folder)
    print("recording torch-suite", file=sys.stderr)
    (folder / "torch-suite.txt").write_text("\n".join(
        _cli(["torch-suite", "--device", "cpu", "--elements", "40", "--epochs", "1",
              "--format", fmt]) for fmt in ("table", "json")))


def _workbooks(folder: Path) -> None:
    """Every shipped spec's workbook regenerated (bytes), and ``check`` of each."""
    print("recording workbooks", file=sys.stderr)
    shipped = Path(__file__).resolve().parent.parent / "workbooks"
    with tempfile.TemporaryDirectory() as tmp:
        for toml in sorted(shipped.glob("*.toml")):
            shutil.copy(toml, tmp)
        for csv in sorted(shipped.glob("*.csv")):
            shutil.copy(csv, tmp)
        texts = [_cli(["workbook", "--all", tmp, "--force"]).replace(tmp, "FOLDER")]
        books = folder / "workbooks"
        books.mkdir(exist_ok=True)
        for book in sorted(Path(tmp).glob("*.xlsx")):
            shutil.copy(book, books / book.name)
            texts.append(_cli(["check", str(book)]).replace(tmp, "FOLDER"))
    (folder / "workbooks.txt").write_text("\n".join(texts))


def _npz_differences(a: Path, b: Path) -> list[str]:
    with np.load(a) as left, np.load(b) as right:
        problems = [f"{a.name}: {k} only in one" for k in sorted(set(left) ^ set(right))]
        for k in sorted(set(left) & set(right)):
            x, y = left[k], right[k]
            if x.dtype != y.dtype or x.shape != y.shape or x.tobytes() != y.tobytes():
                problems.append(f"{a.name}: {k} differs ({x.dtype}{x.shape} vs {y.dtype}{y.shape})")
    return problems


def compare(one: Path, two: Path) -> int:
    files = lambda d: {p.relative_to(d) for p in d.rglob("*") if p.is_file()}  # noqa: E731
    left, right = files(one), files(two)
    problems = [f"{p}: only in {one if p in left else two}" for p in sorted(left ^ right)]
    for path in sorted(left & right):
        a, b = one / path, two / path
        if path.suffix == ".npz":
            problems += _npz_differences(a, b)
        elif a.read_bytes() != b.read_bytes():
            problems.append(f"{path}: differs")
    for problem in problems:
        print(problem)
    print(f"{len(left & right)} files compared: "
          + ("identical" if not problems else f"{len(problems)} differences"))
    return 1 if problems else 0


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "record":
        record(Path(argv[1]))
        return 0
    if len(argv) == 3 and argv[0] == "compare":
        return compare(Path(argv[1]), Path(argv[2]))
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
