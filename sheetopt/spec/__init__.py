"""Run specs: a TOML file (or a preset name) describing data, model and a list of sheets."""
from __future__ import annotations

import difflib
import math
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from . import data as data_mod
from ..protocol import memory
from .data import DataSet
from ..errors import SheetoptError
from .numbers import number as _number, whole as _integer
from ..models.gradients import METHODS
from ..models import MODELS, Model, kinds, model_for
from ..rules import (FLAVORS, LECTURE_RULES, OPTIMIZERS, REGISTRY, RULE_ALIASES, STATE_NAMES,
                     TORCH_RULES, Rule, hyper_range, rule_for)
from ..schedules import Schedule, constructed_momentum
from ..schedules.parse import parse_schedule

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

LECTURE_RESET = "lecture-reset"
# every optimizer's numeric hyperparameters and flags in sheetopt's names, and the torch.optim
# constructor arguments that torch-flavour sheets may use instead (all from the registry)
HYPERS = tuple(dict.fromkeys(h for r in REGISTRY for h in r.hypers))
FLAGS = tuple(dict.fromkeys(f for r in REGISTRY for f in r.settable_flags))
TORCH_ARGS = tuple(dict.fromkeys(a for r in REGISTRY for a in r.spellings
                                 if a not in HYPERS and a not in FLAGS))
SHEET_KEYS = ("name", "optimizer", "flavor", *HYPERS, *FLAGS, *TORCH_ARGS, "epochs", "steps", "init",
              "state", "batch", "shuffle", "seed", "gradient", "h", "show", "schedule",
              "diverge_above")
DATA_KEYS = ("preset", "csv", "true", "rows", "x", "x_min", "x_max", "seed", "noise",
             "noise_scale")
TOP_KEYS = ("title", "description", "data", "model", "defaults", "sheet")


@dataclass(kw_only=True, frozen=True)
class Sheet:
    """One optimizer run: a sheet of the workbook, a line of the comparison. Made by the
    spec parser from a ``[[sheet]]`` table (or a dict given to ``Spec.from_arrays``).

    Example:
        >>> sheet = Spec.load("lesson5").sheet("adam")
        >>> sheet.optimizer, sheet.flavor, sheet.hypers["lr"], sheet.epochs
        ('adam', 'lecture', 1.0, 5)
    """

    name: str
    rule: Rule
    hypers: Mapping[str, float]
    flags: Mapping[str, bool]
    epochs: int
    init: Mapping[str, float]
    state: Mapping[str, Mapping[str, float]] | str  # or "lecture-reset"
    batch_size: int
    shuffle: bool = False
    seed: int = 0
    gradient: str = "analytic"
    h: float = 0.01
    show: tuple[str, ...] = ()  # finite-difference estimates to record beside the gradient
    schedule: Schedule = field(default_factory=Schedule)
    diverge_above: float = 1e30
    shape: Mapping | None = None  # pinned values for ``static``; None: the hypers and flags

    @property
    def optimizer(self) -> str:
        """The optimizer's name: its rule's (an alias such as adam_ann names its own rule)."""
        return self.rule.optimizer

    @property
    def flavor(self) -> str:
        return self.rule.flavor

    @property
    def static(self) -> dict:
        """Every hyperparameter and flag as a plain value (see rules.py): what decides the
        shape of the computation. ``shape`` pins it, e.g. to the values a workbook's formulas
        were written from while its cells now hold others."""
        return dict(self.shape) if self.shape is not None else {**self.hypers, **self.flags}

    def with_hypers(self, **changes: float) -> "Sheet":
        """This sheet with some hyperparameters changed (not re-validated).

        Example:
            >>> Spec.load("lesson5").sheet("adam").with_hypers(lr=0.1).hypers["lr"]
            0.1
        """
        return replace(self, hypers={**self.hypers, **changes})

    def __repr__(self) -> str:
        hypers = ", ".join(f"{k}={v:g}" for k, v in self.hypers.items())
        return (f"Sheet({self.name!r}, {self.optimizer}, {self.flavor}, {hypers}, "
                f"{self.epochs} epoch{'s' if self.epochs != 1 else ''})")


@dataclass(frozen=True)
class Spec:
    """A validated run spec: data rows, a model and the optimizer sheets to run on them.

    Make one from a TOML file or preset (``Spec.load``), TOML text (``Spec.from_toml``) or
    Python values (``Spec.from_arrays``); ``sheetopt.run(spec)`` runs it.

    Example:
        >>> import sheetopt
        >>> spec = sheetopt.Spec.load("lesson5")
        >>> [sheet.name for sheet in spec.sheets]
        ['basic', 'momentum', 'rmsprop', 'adam', 'adam_ann']
    """

    title: str
    model: Model
    data: DataSet
    sheets: tuple[Sheet, ...]
    path: Path | None = None
    description: str = ""
    # the tables it was parsed from (less [data]), for ``with_sheet``; None when built otherwise
    raw: Mapping[str, Any] | None = field(default=None, compare=False, repr=False)

    def with_sheet(self, sheet: str, **changes: Any) -> "Spec":
        """This spec with one sheet's keys changed (any key of a ``[[sheet]]`` table: lr,
        mom, epochs, init, batch, flavor...), checked as the spec's own were; the data rows
        are kept as they are.

        Example:
            >>> spec = Spec.load("lesson5").with_sheet("adam", lr=0.1, epochs=10)
            >>> spec.sheet("adam").hypers["lr"], spec.sheet("adam").epochs
            (0.1, 10)
        """
        name = self.sheet(sheet).name
        if self.raw is None:
            raise SheetoptError(f"{self.label}: this spec was not read from TOML or Python "
                                f"values, so its sheets cannot be edited here")
        raw = {key: value for key, value in self.raw.items() if key != "data"}
        everything = parse(raw, self.path, data=self.data, label=self.label)
        tables = [dict(table) for table in raw["sheet"]]
        tables[[s.name for s in everything.sheets].index(name)].update(changes)
        edited = parse({**raw, "sheet": tables}, self.path, data=self.data, label=self.label)
        kept = {s.name for s in self.sheets}
        return replace(edited, sheets=tuple(s for s in edited.sheets if s.name in kept),
                       title=self.title, description=self.description)

    @staticmethod
    def load(path_or_preset: str | Path) -> "Spec":
        """The spec in a TOML file, or the shipped preset of that name (lesson5, lesson2,
        quadratic, lecture-vs-torch, ...).

        Example:
            >>> Spec.load("lesson5").title
            'Lesson 5: gradient descent in a spreadsheet'
        """
        return load(path_or_preset)

    @staticmethod
    def from_toml(text: str) -> "Spec":
        """The spec written in TOML ``text`` (the contents of a spec file; a relative
        ``data.csv`` path is read from the current folder).

        Example:
            >>> spec = Spec.from_toml('''
            ... [data]
            ... preset = "lecture"
            ... [[sheet]]
            ... optimizer = "adam"
            ... lr = 0.1
            ... ''')
            >>> spec.sheets[0].hypers["lr"]
            0.1
        """
        return parse(_toml(text, "TOML text"))

    @staticmethod
    def from_arrays(x, y=None, sheets=({"optimizer": "sgd", "lr": 0.0001},),
                    model: str = "linear", true: Mapping[str, float] | None = None,
                    title: str = "arrays", defaults: Mapping[str, Any] | None = None) -> "Spec":
        """A spec of your own rows: ``x`` and ``y`` as numpy arrays, lists or pandas Series,
        or ``x`` one DataFrame with columns x and y (and ``y`` None). Several features: ``x``
        a DataFrame of feature columns and y (the linear model's weights are named
        ``w_<column>``), or a 2-D array of columns x1, x2, ... beside ``y``. ``sheets`` are dicts
        with the keys of a spec's ``[[sheet]]`` tables, ``defaults`` the keys they share;
        ``model`` is "linear" or "quadratic"; ``true`` the true parameters, when known. The
        rows are checked like a CSV's (finite numbers, equal lengths, not empty).

        Example:
            >>> import numpy as np
            >>> x = np.arange(1.0, 30.0)
            >>> spec = Spec.from_arrays(x, 2 * x + 30, sheets=[{"optimizer": "adam", "lr": 0.5}],
            ...                         true={"a": 2, "b": 30})
            >>> len(spec.data), spec.sheets[0].optimizer
            (29, 'adam')
        """
        from .arrays import from_arrays

        label = "Spec.from_arrays"
        chosen = _model(model, label, "model")
        if true is not None and not isinstance(true, Mapping):
            raise SheetoptError(f"{label}: true must be a dict like {{'a': 2.0, 'b': 30.0}}")
        rows = from_arrays(x, y, chosen)
        true = _param_table(dict(true or {}), _bound(chosen, rows, label), "true", label)
        if isinstance(sheets, Mapping):
            sheets = [sheets]
        if isinstance(sheets, (str, bytes)) or not hasattr(sheets, "__iter__"):
            raise SheetoptError(f"{label}: sheets must be a list of dicts like "
                                f"[{{'optimizer': 'adam', 'lr': 0.1}}]")
        raw = {"title": title, "model": {"kind": model}, "sheet": [
            dict(s) if isinstance(s, Mapping) else s for s in sheets]}
        if defaults is not None:
            raw["defaults"] = dict(defaults) if isinstance(defaults, Mapping) else defaults
        return parse(raw, data=replace(rows, true=true), label=label)

    def __repr__(self) -> str:
        return (f"Spec({self.title!r}: {self.model.kind} model, {len(self.data):,} rows, sheets "
                f"{', '.join(s.name for s in self.sheets)})")

    def steps(self, sheet: Sheet) -> int:
        """How many optimizer steps the sheet takes: epochs x batches per epoch."""
        return sheet.epochs * -(-len(self.data) // sheet.batch_size)

    def sheet(self, name: str) -> Sheet:
        """The sheet called ``name``; a one-line error naming the sheets there are.

        Example:
            >>> Spec.load("lesson5").sheet("adam").optimizer
            'adam'
        """
        for sheet in self.sheets:
            if sheet.name == name:
                return sheet
        names = [s.name for s in self.sheets]
        raise SheetoptError(f"{self.label}: no sheet named {name!r}{_suggest(name, names)}; "
                            f"sheets: {', '.join(names)}")

    @property
    def label(self) -> str:
        return str(self.path) if self.path else self.title


def preset_names() -> list[str]:
    """The names of the shipped specs, which work wherever a spec path does.

    Example:
        >>> "lesson5" in preset_names()
        True
    """
    return sorted(p.stem for p in data_mod.PRESET_DIR.glob("*.toml"))


def resolve(spec_ref: str | Path) -> Path:
    """A spec path, or the path of the preset with that name."""
    path = Path(spec_ref)
    try:
        if path.exists():
            return path
    except OSError as exc:  # a name longer than the file system takes, a loop of links
        text = str(spec_ref)
        short = text if len(text) <= 80 else f"{text[:80]}... ({len(text)} characters)"
        raise SheetoptError(f"{short}: cannot read spec ({exc.strerror or exc})") from None
    preset = data_mod.PRESET_DIR / f"{spec_ref}.toml"
    if not str(spec_ref).endswith(".toml") and preset.exists():
        return preset
    raise SheetoptError(f"{spec_ref}: spec file not found (presets: {', '.join(preset_names())})")


def load(spec_ref: str | Path) -> Spec:
    """The spec in a TOML file or the preset of that name (see ``Spec.load``)."""
    if not isinstance(spec_ref, (str, Path)):
        raise SheetoptError(f"a spec is a preset name, a path or a sheetopt.Spec "
                            f"(got {type(spec_ref).__name__})")
    if str(spec_ref) == "":
        raise SheetoptError("the spec is empty: give a preset name or a path")
    path = resolve(spec_ref)
    if _is_workbook(path):
        raise SheetoptError(f"{path}: is a workbook, not a run spec; to rerun and compare an "
                            f"edited workbook: sheetopt check {path}")
    try:
        text = path.read_text(encoding="utf-8-sig")  # a byte order mark (Notepad's) is dropped
    except (OSError, UnicodeDecodeError) as exc:
        raise SheetoptError(f"{path}: cannot read spec ({exc.__class__.__name__}: {exc})") from None
    return parse(_toml(text, str(path)), path)


def from_text(text: str, label: str = "standard input") -> Spec:
    """The spec in TOML ``text`` read from somewhere without a path (``sheetopt compare -``
    reads standard input); errors name ``label``; a relative ``data.csv`` is read from the
    current folder.

    Example:
        >>> from_text('[data]\\npreset = "lecture"\\n[[sheet]]\\noptimizer = "sgd"\\n'
        ...           'lr = 0.0001\\n').sheets[0].optimizer
        'sgd'
    """
    return parse(_toml(text, label), label=label)


def _is_workbook(path: Path) -> bool:
    """An .xlsx (a zip) where a TOML spec belongs."""
    if path.suffix.lower() in (".xlsx", ".xlsm", ".xls", ".ods"):
        return True
    try:
        with open(path, "rb") as handle:
            return handle.read(4) == b"PK\x03\x04"
    except OSError:
        return False


def _toml(text: str, label: str) -> dict:
    if not isinstance(text, str):
        raise SheetoptError(f"{label}: expected TOML text (got {type(text).__name__})")
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SheetoptError(f"{label}: TOML syntax error: {exc}") from None


def _model(kind, label: str, key: str = "model.kind", table: Mapping | None = None) -> Model:
    if not isinstance(kind, str) or kind not in kinds():
        raise SheetoptError(f"{label}: {key} {kind!r} is not one of {', '.join(kinds())}"
                            f"{_suggest(kind, kinds())}")
    table = dict(table or {})
    allowed = ("kind", *model_for(kind).keys)
    for name in table:
        if name not in allowed:
            has = ", ".join(allowed[1:]) or "no keys but kind"
            raise SheetoptError(f"{label}: unknown key model.{name}{_suggest(name, allowed)} "
                                f"(the {kind} model takes {has})")
    defaults = model_for(kind).keys
    keys = {name: value if isinstance(defaults.get(name), str)  # a choice, checked by the model
            else _number(value, f"model.{name}", label)
            for name, value in table.items() if name != "kind"}
    try:
        return model_for(kind, keys)
    except SheetoptError as exc:
        raise SheetoptError(f"{label}: {exc}") from None


def _check_classes(model: Model, data: DataSet, label: str) -> None:
    """A classifier's labels: every y one of the model's classes, else one line naming the row."""
    if model.classes is None:
        return
    bad = np.flatnonzero(~np.isin(data.y, model.classes))
    if len(bad):
        i = int(bad[0])
        names = " or ".join(f"{c:g}" for c in model.classes)
        raise SheetoptError(f"{label}: {data.source}: data row {i + 1}: y = {data.y[i]:g} is "
                            f"not a label {names} (the {model.kind} model classifies; "
                            f"{len(bad):,} row{'s' if len(bad) > 1 else ''} like it)")


def _no_data(model: Model) -> DataSet:
    """A test surface's trivial plan: one row, never read (each step is the whole function)."""
    return DataSet(np.zeros(1), np.zeros(1), source=f"none: the {model.kind} surface has no "
                   f"data (each step evaluates the whole function)", headers=())


def parse(raw: Mapping[str, Any], path: Path | None = None, data: DataSet | None = None,
          label: str | None = None) -> Spec:
    """Validates a spec already read into Python values; every error names the key at fault.
    ``data``, when given, holds the rows (and the spec has no [data] table)."""
    label = label or (str(path) if path else "spec")
    _check_keys(raw, TOP_KEYS, label, "")
    model_table = _table(raw, "model", label, required=False)
    model = _model(model_table.get("kind", "linear"), label, table=model_table)
    if not model.has_data and "data" in raw:
        raise SheetoptError(f"{label}: the {model.kind} surface has no data; remove the [data] "
                            f"table (each step evaluates the whole function; steps = N runs N)")
    if data is None and not model.has_data:
        data = _no_data(model)
    elif data is None:
        data, model = _parse_data(_table(raw, "data", label), model, label, path)
    elif "data" in raw:
        raise SheetoptError(f"{label}: the rows are given as arrays; the spec has no [data] table")
    else:
        model = _bound(model, data, label)
    _check_classes(model, data, label)
    defaults = _table(raw, "defaults", label, required=False)
    _check_keys(defaults, SHEET_KEYS, label, "defaults.")
    sheet_tables = raw.get("sheet")
    if not isinstance(sheet_tables, list) or not sheet_tables:
        raise SheetoptError(f"{label}: the spec has no [[sheet]] tables; add at least one")
    sheets, seen = [], set()
    for number, table in enumerate(sheet_tables, start=1):
        if not isinstance(table, dict):
            raise SheetoptError(f"{label}: sheet {number} must be a table")
        sheet = _parse_sheet({**defaults, **table}, number, model, data, label)
        if sheet.name in seen:
            raise SheetoptError(f"{label}: sheet {number}: the name {sheet.name!r} is used twice")
        seen.add(sheet.name)
        sheets.append(sheet)
    title = str(raw.get("title", path.stem if path else "sheetopt run"))
    return Spec(title=title, model=model, data=data, sheets=tuple(sheets), path=path,
                description=str(raw.get("description", "")),
                raw={key: value for key, value in raw.items() if key != "data"})


# --- pieces --------------------------------------------------------------------------------
# names other libraries use for sheetopt's keys, for the "did you mean" hint
ALIASES = {"learning_rate": "lr", "momentum": "mom", "beta": "mom", "beta1": "mom",
           "beta2": "sqr_mom", "betas": "mom", "alpha": "sqr_mom", "weight_decay": "wd",
           "epsilon": "eps", "n_epochs": "epochs", "batch_size": "batch"}


def _suggest(word: str, choices) -> str:
    choices = list(choices)
    if ALIASES.get(str(word)) in choices:
        return f" (did you mean {ALIASES[str(word)]!r}?)"
    close = difflib.get_close_matches(str(word), choices, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _check_keys(table: Mapping, allowed, label: str, prefix: str, where: str = "") -> None:
    for key in table:
        if key not in allowed:
            raise SheetoptError(f"{label}: {where}unknown key {prefix}{key}{_suggest(key, allowed)}")


def _table(raw: Mapping, key: str, label: str, required: bool = True) -> Mapping:
    value = raw.get(key)
    if value is None:
        if required:
            raise SheetoptError(f"{label}: missing [{key}] table")
        return {}
    if not isinstance(value, dict):
        raise SheetoptError(f"{label}: {key} must be a table")
    return value


def _seed(value, where: str, label: str) -> int:
    seed = _integer(value, where, label)
    if not 0 <= seed < 2 ** 64:
        raise SheetoptError(f"{label}: {where} must be between 0 and 2^64 - 1 (got {seed})")
    return seed


def _param_table(value, model: Model, where: str, label: str) -> dict[str, float]:
    if not isinstance(value, dict):
        raise SheetoptError(f"{label}: {where} must be a table like {{ a = 1.0, b = 1.0 }}")
    out = {}
    for key, number in value.items():
        if key not in model.params:
            raise SheetoptError(f"{label}: {where}.{key}: the {model.kind} model has no parameter "
                                f"{key!r} (it has {', '.join(model.params)})")
        out[key] = _number(number, f"{where}.{key}", label)
    return out


def _bound(model: Model, data: DataSet, label: str) -> Model:
    """The model for the data's columns (a family takes its parameter names from them)."""
    if not model.has_data:
        return model
    try:
        return model.for_header(data.headers)
    except ValueError as exc:
        raise SheetoptError(f"{label}: the data's columns: {exc}") from None


def _parse_data(table: Mapping, model: Model, label: str,
                path: Path | None) -> tuple[DataSet, Model]:
    """The rows of the [data] table and the model bound to their columns."""
    _check_keys(table, DATA_KEYS, label, "data.")
    if "true" in table and not isinstance(table["true"], dict):
        _param_table(table["true"], model, "data.true", label)  # raises, naming the key
    data = _data_rows(table, model, label, path)
    model = _bound(model, data, label)
    true = _param_table(table.get("true", {}), model, "data.true", label)
    return (replace(data, true=true) if true else data), model


def _data_rows(table: Mapping, model: Model, label: str, path: Path | None) -> DataSet:
    sources = [key for key in ("preset", "csv", "rows") if key in table]
    if len(sources) != 1:
        raise SheetoptError(f"{label}: [data] needs exactly one of preset, csv or rows "
                            f"(generated data); found {', '.join(sources) or 'none'}")
    if "preset" in table:
        name = table["preset"]
        if not isinstance(name, str) or name not in data_mod.DATA_PRESETS:
            raise SheetoptError(f"{label}: data.preset {name!r} is not one of "
                                f"{', '.join(data_mod.DATA_PRESETS)}{_suggest(name, data_mod.DATA_PRESETS)}")
        csv_path = data_mod.PRESET_DIR / data_mod.DATA_PRESETS[name]
        return data_mod.read_csv(csv_path, model, label=f"preset {name}")
    if "csv" in table:
        if not isinstance(table["csv"], str):
            raise SheetoptError(f"{label}: data.csv must be a path")
        csv_path = Path(table["csv"])
        if not csv_path.is_absolute() and path is not None:
            csv_path = path.parent / csv_path
        return data_mod.read_csv(csv_path, model)
    if not model.target:
        raise SheetoptError(f"{label}: the {model.kind} model reads its rows from a file; "
                            f"give data.csv")
    true = _param_table(table.get("true", {}), model, "data.true", label)
    return _generated(table, model, true, label)


def _generated(table: Mapping, model: Model, true: Mapping, label: str) -> DataSet:
    missing = [p for p in model.params if p not in true]
    if missing:
        raise SheetoptError(f"{label}: generated data needs data.true with {', '.join(missing)}")
    rows = _integer(table["rows"], "data.rows", label)
    if rows < 1:
        raise SheetoptError(f"{label}: data.rows must be at least 1 (got {rows})")
    x = table.get("x", "integers")
    if x not in data_mod.X_KINDS:
        raise SheetoptError(f"{label}: data.x {x!r} is not one of {', '.join(data_mod.X_KINDS)}")
    noise = table.get("noise", "none")
    if noise not in data_mod.NOISE_KINDS:
        raise SheetoptError(f"{label}: data.noise {noise!r} is not one of "
                            f"{', '.join(data_mod.NOISE_KINDS)}")
    x_min = _number(table.get("x_min", 1), "data.x_min", label)
    x_max = _number(table.get("x_max", 100), "data.x_max", label)
    if x_max < x_min:
        raise SheetoptError(f"{label}: data.x_max ({x_max:g}) is below data.x_min ({x_min:g})")
    if not math.isfinite(x_max - x_min):
        raise SheetoptError(f"{label}: data.x_min and data.x_max are too far apart "
                            f"({x_min:g} to {x_max:g}); their difference overflows")
    scale = _number(table.get("noise_scale", 1.0), "data.noise_scale", label)
    if scale < 0:
        raise SheetoptError(f"{label}: data.noise_scale must be >= 0 (got {scale:g})")
    if x == "integers" and not all(v.is_integer() and abs(v) <= 2 ** 53 for v in (x_min, x_max)):
        raise SheetoptError(f"{label}: data.x_min and data.x_max must be whole numbers when "
                            f"data.x is \"integers\" (got {x_min:g} and {x_max:g})")
    seed = _seed(table.get("seed", 0), "data.seed", label)
    memory.require(rows * data_mod.BYTES_PER_ROW, f"{label}: data.rows = {rows:,}",
                   "generate fewer rows")
    with np.errstate(over="ignore", invalid="ignore"):
        data = data_mod.generate(model, true, rows, x=x, x_min=x_min, x_max=x_max, seed=seed,
                                 noise=noise, noise_scale=scale)
    if not (np.isfinite(data.x).all() and np.isfinite(data.y).all()):
        raise SheetoptError(f"{label}: [data] generates values that overflow (x_min, x_max, "
                            f"data.true or noise_scale too large)")
    return data


def _parse_sheet(table: Mapping, number: int, model: Model, data: DataSet, label: str) -> Sheet:
    _check_keys(table, SHEET_KEYS, label, "", where=f"sheet {number}: ")
    name = str(table.get("name", table.get("optimizer", f"sheet{number}")))
    where = f"sheet {name!r}"
    optimizer = table.get("optimizer")
    if optimizer not in OPTIMIZERS:
        raise SheetoptError(f"{label}: {where}: optimizer {optimizer!r} is not one of "
                            f"{', '.join(OPTIMIZERS)}{_suggest(optimizer, OPTIMIZERS)}")
    flavor = table["flavor"] if "flavor" in table else implied_flavor(table, optimizer)
    if flavor not in FLAVORS:
        raise SheetoptError(f"{label}: {where}: flavor {flavor!r} is not one of "
                            f"{', '.join(FLAVORS)}{_suggest(flavor, FLAVORS)}")
    try:
        rule = rule_for(optimizer, flavor)
    except KeyError:
        raise SheetoptError(f"{label}: {where}: optimizer {optimizer!r} has no {flavor} flavour") from None
    hypers, flags = _parse_hypers(table, rule, where, label)
    if flags.get("nesterov") and "dampening" in hypers and (hypers["mom"] <= 0
                                                          or hypers["dampening"] != 0):
        raise SheetoptError(f"{label}: {where}: nesterov needs mom > 0 and dampening = 0 "
                            f"(as torch.optim.SGD does); got mom {hypers['mom']:g}, "
                            f"dampening {hypers['dampening']:g}")
    epochs = _epochs(table, model, where, label)
    if epochs < 1:
        raise SheetoptError(f"{label}: {where}: epochs must be at least 1 (got {epochs})")
    init = {p: model.start(p) for p in model.params}
    init.update(_param_table(table.get("init", {}), model, f"{where}: init", label))
    static = {**hypers, **flags}
    state = _parse_state(table.get("state"), rule, static, model, where, label)
    batch_size = _parse_batch(table.get("batch", "online"), len(data), where, label)
    gradient = table.get("gradient", "analytic")
    show = table.get("show", [])
    if isinstance(show, str):  # one method named on its own
        show = [show]
    for method in [gradient, *show] if isinstance(show, list) else [gradient, show]:
        if method not in METHODS:
            raise SheetoptError(f"{label}: {where}: gradient method {method!r} is not one of "
                                f"{', '.join(METHODS)}{_suggest(method, METHODS)}")
    h = _number(table.get("h", 0.01), f"{where}: h", label)
    if h <= 0:
        raise SheetoptError(f"{label}: {where}: h must be > 0 (got {h:g})")
    steps = epochs * -(-len(data) // batch_size)
    schedule = parse_schedule(table.get("schedule", rule.schedule), rule, static, steps=steps,
                              epochs=epochs, where=where, label=label)
    started = constructed_momentum(schedule, hypers)
    if rule.flavor == "torch" and started is not None and hypers["mom"] == 0:
        # torch's OneCycleLR and CyclicLR set the group's momentum to max_momentum in their
        # constructors, so an SGD (or RMSprop) built with momentum 0 steps with a buffer
        hypers = {**hypers, "mom": started}
    bound = _number(table.get("diverge_above", 1e30), f"{where}: diverge_above", label)
    if bound <= 0:
        raise SheetoptError(f"{label}: {where}: diverge_above must be > 0 (got {bound:g})")
    shuffle = table.get("shuffle", False)
    if not isinstance(shuffle, bool):
        raise SheetoptError(f"{label}: {where}: shuffle must be true or false")
    return Sheet(name=name, rule=rule, hypers=hypers, flags=flags, epochs=epochs, init=init,
                 state=state, batch_size=batch_size, shuffle=shuffle,
                 seed=_seed(table.get("seed", 0), f"{where}: seed", label), gradient=gradient,
                 h=h, show=tuple(show), schedule=schedule, diverge_above=bound)


def implied_flavor(table: Mapping, optimizer: str) -> str:
    """The flavour of a sheet that names none: torch for an optimizer the lecture did not
    have (adagrad, rprop...), and for one given a key only torch's flavour takes (torch.optim's
    names such as betas, weight_decay, momentum, or eps, wd, nesterov); else the lecture's.

    Example:
        >>> implied_flavor({"optimizer": "adam", "betas": [0.9, 0.999]}, "adam")
        'torch'
        >>> implied_flavor({"optimizer": "adam", "mom": 0.9}, "adam")
        'lecture'
    """
    lecture = LECTURE_RULES.get(optimizer)
    torch = TORCH_RULES.get(optimizer)
    if lecture is None:
        return "torch"
    if torch is None:
        return "lecture"
    takes = {*lecture.hypers, *lecture.settable_flags}
    torch_takes = {*torch.hypers, *torch.settable_flags, *(torch.torch.args if torch.torch
                                                          else ())}
    return "torch" if any(k in torch_takes and k not in takes for k in table) else "lecture"


def _epochs(table: Mapping, model: Model, where: str, label: str) -> int:
    """A sheet's epochs; a model without data counts ``steps`` (one step an epoch) too."""
    if "steps" not in table:
        return _integer(table.get("epochs", 1), f"{where}: epochs", label)
    if model.has_data:
        raise SheetoptError(f"{label}: {where}: steps is for models without data (test "
                            f"surfaces); the {model.kind} model counts epochs")
    steps = _integer(table["steps"], f"{where}: steps", label)
    if "epochs" in table and _integer(table["epochs"], f"{where}: epochs", label) != steps:
        raise SheetoptError(f"{label}: {where}: steps ({steps}) and epochs "
                            f"({table['epochs']}) differ; on a surface they mean the same, "
                            f"keep one")
    if steps < 1:
        raise SheetoptError(f"{label}: {where}: steps must be at least 1 (got {steps})")
    return steps


def _given_values(table: Mapping, rule: Rule, where: str, label: str) -> dict[str, tuple]:
    """sheetopt name -> (value, the key it was given as) for the rule's hyperparameters and
    flags, in sheetopt's spelling or (torch flavour) in torch.optim's."""
    ours = (*rule.hypers, *rule.settable_flags)
    args = dict(rule.spellings)
    given: dict[str, tuple] = {}
    for key in [k for k in table if k in HYPERS or k in FLAGS or k in TORCH_ARGS]:
        if key in ours:
            names, values = (key,), (table[key],)
        elif key in args:
            names = args[key] if isinstance(args[key], tuple) else (args[key],)
            values = _torch_values(table[key], names, key, where, label)
        else:
            raise SheetoptError(f"{label}: {where}: {_not_taken(key, rule)}")
        for name, value in zip(names, values):
            if name in given:
                raise SheetoptError(f"{label}: {where}: {given[name][1]} and {key} both give "
                                    f"{name}; keep one")
            given[name] = (value, key)
    return given


def _torch_values(value, names: tuple, key: str, where: str, label: str) -> tuple:
    if len(names) == 1:
        return (value,)
    if not isinstance(value, list) or len(value) != len(names):
        raise SheetoptError(f"{label}: {where}: {key} must be a list of {len(names)} numbers "
                            f"({', '.join(names)}), like [{', '.join(['0.5'] * len(names))}]"
                            f" (got {value!r})")
    return tuple(value)


def _not_taken(key: str, rule: Rule) -> str:
    """Why a hyperparameter key does not fit the sheet's rule, with the closest that does."""
    takes = [*rule.hypers, *rule.settable_flags]
    torch_rule = next((r for r in REGISTRY if r.torch and r.optimizer == rule.optimizer), None)
    if rule.flavor == "lecture" and torch_rule and key in torch_rule.torch.args:
        ours = torch_rule.torch.args[key]
        ours = ours if isinstance(ours, tuple) else (ours,)
        hint = " and ".join(repr(o) for o in ours)
        flavor = "" if all(o in takes for o in ours) else ' with flavor = "torch"'
        return (f"{key} is torch.optim's name, for torch-flavour sheets only (did you mean "
                f"{hint}{flavor}?); the lecture flavour's {rule.optimizer} takes "
                f"{', '.join(takes)}")
    elsewhere = [r for r in REGISTRY if r.optimizer == rule.optimizer and r.flavor != rule.flavor
                 and r.library is not None and key in r.spellings]
    if elsewhere:
        flavors = ", ".join(f"{r.flavor}'s" for r in elsewhere)
        name = elsewhere[0].spellings[key]
        spelled = [a for a, n in (rule.torch.args.items() if rule.torch else ()) if n == name]
        also = f", torch.optim's {spelled[0]!r}" if spelled else ""
        hint = f" (did you mean {name!r}{also}?)" if name in takes else ""
        return (f"{key} is {flavors} name for {name!r}, for sheets with flavor = "
                f"\"{elsewhere[0].flavor}\"{hint}; {rule.optimizer} ({rule.flavor}) takes "
                f"{', '.join(takes)}")
    choices = takes + ([a for a in rule.torch.args if a not in takes] if rule.torch else [])
    owners = [r.optimizer for r in REGISTRY
              if r.flavor == "torch" and r.optimizer not in RULE_ALIASES
              and (key in r.hypers or key in r.settable_flags
                   or (r.torch and key in r.torch.args))]
    return (f"{rule.optimizer} ({rule.flavor}) has no hyperparameter or option {key!r}"
            f"{_suggest(key, choices)}"
            + (f" ({key} is {', '.join(owners)}'s)" if owners else "")
            + f"; it takes {', '.join(takes)}"
            + (f" (torch.optim.{rule.torch.name}'s names also work: "
               f"{', '.join(rule.torch.args)})" if rule.torch else ""))


def _parse_hypers(table: Mapping, rule: Rule, where: str, label: str):
    """The sheet's hyperparameters (numbers) and flags, defaults filled in, ranges checked."""
    given = _given_values(table, rule, where, label)
    spelled = {name: key if key == name else f"{key} ({name})"
               for name, (_, key) in given.items()}
    hypers, flags = {}, dict(rule.flags)
    for key, default in rule.hypers.items():
        if key in given:
            hypers[key] = _number(given[key][0], f"{where}: {spelled[key]}", label)
        elif default is None:
            raise SheetoptError(f"{label}: {where}: {key} is required for {rule.optimizer}")
        else:
            hypers[key] = float(default)
    for key in rule.settable_flags:
        if key in given:
            if not isinstance(given[key][0], bool):
                raise SheetoptError(f"{label}: {where}: {spelled[key]} must be true or false")
            flags[key] = given[key][0]
    for key, value in hypers.items():
        test, words = hyper_range(rule, key)
        if not test(value):
            raise SheetoptError(f"{label}: {where}: {spelled.get(key, key)} must be {words} "
                                f"(got {value:g})")
    problem = rule.check(hypers) if rule.check else None
    if problem:
        keys = ", ".join(dict.fromkeys(given[n][1] for n in given if n in problem)) or "values"
        raise SheetoptError(f"{label}: {where}: {keys}: {rule.optimizer} {problem}")
    return hypers, flags


def _parse_state(value, rule: Rule, static: Mapping, model: Model, where: str, label: str):
    names = rule.states(static)
    if value is None:
        value = LECTURE_RESET if rule.flavor == "lecture" else {}
    if value == LECTURE_RESET:
        if rule.flavor != "lecture":
            raise SheetoptError(f"{label}: {where}: state \"lecture-reset\" is for the lecture "
                                f"flavour; torch-flavour state starts at torch's zeros")
        return LECTURE_RESET
    if isinstance(value, str):
        raise SheetoptError(f"{label}: {where}: state {value!r} is not \"{LECTURE_RESET}\""
                            f"{_suggest(value, [LECTURE_RESET])}; or give a table of "
                            f"{', '.join(names) or 'nothing (this rule has no state)'}")
    if not isinstance(value, dict):
        raise SheetoptError(f"{label}: {where}: state must be \"lecture-reset\" or a table of "
                            f"{', '.join(names) or 'nothing (this rule has no state)'}")
    state = {}
    for key, params in value.items():
        if key not in names:
            known = STATE_NAMES if key not in STATE_NAMES else names
            raise SheetoptError(f"{label}: {where}: state.{key}: {rule.optimizer} ({rule.flavor}) "
                                f"keeps no {key!r}{_suggest(key, known)}; it keeps "
                                f"{', '.join(names) or 'no state'}")
        state[key] = _param_table(params, model, f"{where}: state.{key}", label)
        for p, number in state[key].items():
            if key in rule.nonnegative and number < 0:
                raise SheetoptError(f"{label}: {where}: state.{key}.{p} must be >= 0 (got "
                                    f"{number:g}): {rule.optimizer}'s {key} cannot be negative")
    return state


def _parse_batch(value, rows: int, where: str, label: str) -> int:
    if value == "online":
        return 1
    if value == "full":
        return rows
    if isinstance(value, bool) or not isinstance(value, int):
        raise SheetoptError(f"{label}: {where}: batch must be \"online\", \"full\" or a size "
                            f"(got {value!r})")
    if not 1 <= value <= rows:
        raise SheetoptError(f"{label}: {where}: batch size {value} must be between 1 and the "
                            f"row count {rows}")
    return value
