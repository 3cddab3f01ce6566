"""The torch.optim regression suite: sheetopt's rules and schedules against the torch installed.

Every torch.optim class of the rule registry (``rules.torch_classes()``) runs over its
registry grid (option sets spelled as torch's constructor takes them) on the lecture's rows,
and every scheduler of ``TORCH_SCHEDULERS`` (its ``example`` arguments) drives SGD with
momentum and Adam on generated rows, for several epochs of online steps. sheetopt runs C configurations side by side (the batched engine), each with its own
start; torch runs one tensor of C elements per model parameter, so that its vectorized code
paths run, through every path the registry lists for the class (``TorchClass.paths``) that torch accepts
on the device: the single-tensor loop (``foreach=False``, the reference), ``foreach=True`` and
``fused=True``. A class that is not ``stackable`` (Adafactor's norms run over the whole
tensor; ASGD keeps eta once per tensor) gets one one-element tensor per element instead: its
foreach path still runs over the list.
After every step each element's parameters are compared with sheetopt's.

On CUDA the suite also runs the paths torch offers only there (``CUDA_PATHS``): ``capturable=True``
(the step count and bias corrections kept as device tensors, so that the step can be captured
in a CUDA graph; torch asserts a CUDA device), on the loop and on foreach, and a one-element
tensor lr, which torch takes on foreach only with capturable, and on fused. Each runs for the
classes whose constructor takes its options and where a probe step on the device succeeds.

Tolerances: the loop path must agree within 1e-12 relative (it is the path the rules follow
operation by operation). The vectorized paths round differently in the last bits on tensors
larger than a vector register (fused AdamW uses fused multiply-adds; foreach NAdam computes
sqrt(v)/sqrt(bc) where the loop computes sqrt(v/bc)); those ulps compound over the steps. The
largest measured on torch 2.13 CPU with 1,000 elements is 7.9e-12 (foreach NAdam), so they are
held to ``VECTOR_TOL`` = 1e-10: ten times that, still a million times below what a changed
formula gives (a wrong bias correction, a missing epsilon: 1e-4 and up).

Conditioning. Even the loop path is not torch's arithmetic to the bit: ``param.add_(u,
alpha=s)`` is a fused multiply-add on a vectorizing CPU (measured on AVX512: 3,308 of 20,000
random one-element cases differ from ``p + s*u``, each the exactly rounded ``p + s*u``), where a
rule, like a spreadsheet, rounds twice; so the loop differs from the rule by one ulp in some
steps. Most trajectories shrink such an ulp; some amplify it (Adafactor with lr = 0.5, d = 2
on the lecture's rows: a one-ulp change of the start grows to 1.7e-11). So each case first
measures its own amplification: the engine reruns from every start moved one ulp up and one
ulp down (``np.nextafter``), and the case's ``sensitivity`` is the largest relative change
that makes, measured as the comparison with torch is. A path is held to
``bound(tol, sensitivity)`` = max(tol, ``SENSITIVITY_FACTOR`` x sensitivity), at most
``MAX_BOUND``: a well-conditioned case (sensitivity ~1e-15) keeps 1e-12 exactly. The factor 10:
torch's ulps enter at many steps, not only at the start, and a later ulp can grow more than a
first one (measured: torch's loop 1.1e-11 against a sensitivity of 1.7e-11 on that case;
per element, up to 11 times the element's own sensitivity among elements that amplify at all).
``MAX_BOUND`` = 1e-8 keeps every bound a hundred times below a wrong formula's 1e-6.
"""
from __future__ import annotations

import inspect
import warnings
from dataclasses import dataclass
from typing import Callable, Iterable

import numpy as np

from ..errors import SheetoptError
from ..protocol import engine
from ..rules import torch_classes
from ..schedules import TORCH_SCHEDULERS
from ..spec import Sheet, Spec, parse
from ..executors.torch.batch import BatchModel
from ..executors.torch.device import pick_device, require_torch
from .replay import torch_optimizer
from .schedulers import Stepper

LOOP_TOL, VECTOR_TOL = 1e-12, 1e-10
SENSITIVITY_FACTOR, MAX_BOUND = 10.0, 1e-8
PATHS = ("loop", "foreach", "fused")
# torch's constructor options per path; "lr": "tensor" hands lr over as a one-element tensor on
# the parameters' device (torch's CUDA-graph-friendly form, what a scheduler then fills in)
PATH_OPTIONS = {
    "loop": {"foreach": False},
    "foreach": {"foreach": True},
    "fused": {"fused": True},
    "capturable": {"foreach": False, "capturable": True},
    "foreach capturable": {"foreach": True, "capturable": True},
    "foreach capturable lr tensor": {"foreach": True, "capturable": True, "lr": "tensor"},
    "fused lr tensor": {"fused": True, "lr": "tensor"},
}
CUDA_PATHS = tuple(p for p in PATH_OPTIONS if p not in PATHS)  # run by default on CUDA only
LR = 0.01  # the scheduler cases' optimizer lr (the examples' lrs suit SCHEDULER_DATA)
OPTIMIZER_DATA = {"preset": "lecture", "true": {"a": 2.0, "b": 30.0}}  # the grids' lrs suit it
SCHEDULER_DATA = {"rows": 32, "x": "uniform", "x_min": -1.0, "x_max": 1.0, "noise": "normal",
                  "noise_scale": 0.1, "seed": 0, "true": {"a": 2.0, "b": -1.0}}
SCHEDULED = ("sgd", "adam")  # the optimizers every scheduler drives


@dataclass(kw_only=True)
class Row:
    """One case through one of torch's paths."""

    optimizer: str
    options: str
    path: str
    steps: int
    max_rel: float
    max_ulps: int
    worst_at: tuple[int, int] | None  # (epoch, step) of the largest difference
    first_bad: tuple[int, int] | None
    tolerance: float  # the bound the row is judged by: bound(base, sensitivity)
    elements: int
    note: str = ""
    sensitivity: float = 0.0  # the case's own amplification of a one-ulp change of its starts
    base: float = LOOP_TOL  # the path's tolerance before conditioning

    @property
    def judged_by(self) -> str:
        """"tol" when the path's own tolerance judged the row, "sensitivity" when the case's
        amplification raised the bound (or "cap" when MAX_BOUND clipped it)."""
        if self.tolerance == self.base:
            return "tol"
        return "cap" if self.tolerance == MAX_BOUND else "sensitivity"

    @property
    def ok(self) -> bool:
        return self.first_bad is None and bool(np.isfinite(self.max_rel))

    def as_dict(self) -> dict:
        return {"optimizer": self.optimizer, "options": self.options, "path": self.path,
                "steps": self.steps, "max_rel": self.max_rel, "max_ulps": self.max_ulps,
                "worst_at": self.worst_at, "first_bad": self.first_bad,
                "tolerance": self.tolerance, "base_tolerance": self.base,
                "sensitivity": self.sensitivity, "judged_by": self.judged_by,
                "elements": self.elements,
                "verdict": "ok" if self.ok else "FAIL", "note": self.note}


@dataclass
class Case:
    optimizer: str
    options: dict  # sheet keys beyond the optimizer
    label: str
    elements: int
    data: dict


def torch_version() -> str:
    return require_torch().__version__


def optimizer_names() -> list[str]:
    """The optimizers the suite runs: one per torch.optim class of the registry."""
    return [rule.optimizer for rule in torch_classes()]


def optimizer_cases(elements: int, names: Iterable[str] | None = None) -> list[Case]:
    """Every torch.optim class in the registry with each option set of its grid."""
    cases = []
    for rule in torch_classes():
        if names is not None and rule.optimizer not in names:
            continue
        for options in rule.grid:
            label = ", ".join(f"{k}={v}" for k, v in options.items()) or "defaults"
            cases.append(Case(rule.optimizer, dict(options), label, elements, OPTIMIZER_DATA))
    return cases


def scheduler_cases(elements: int, names: Iterable[str] | None = None,
                    optimizers: Iterable[str] = SCHEDULED) -> list[Case]:
    """Every scheduler's example on SGD with momentum and on Adam, stepped per step (and
    ReduceLROnPlateau per epoch, on one element: torch gives it one metric per optimizer)."""
    cases = []
    for name, cls in TORCH_SCHEDULERS.items():
        if names is not None and name not in names:
            continue
        per = "step" if cls.lr_scheduler else "epoch"
        for optimizer in optimizers:
            keys = {"mom": 0.9} if optimizer == "sgd" else {}
            cases.append(Case(optimizer, {"lr": LR, **keys, "schedule": {
                "torch": name, **cls.example, "per": per}},
                f"{name} per {per}" + (" mom=0.9" if keys else ""),
                elements if cls.lr_scheduler else 1, SCHEDULER_DATA))
    return cases


def _sheet_spec(case: Case, epochs: int) -> Spec:
    keys = {"optimizer": case.optimizer, "flavor": "torch", "epochs": epochs, **case.options}
    raw = {"data": case.data, "model": {"kind": "linear"}, "sheet": [{"name": "suite", **keys}]}
    schedule = keys.get("schedule")
    if schedule is not None and schedule.get("total_steps") == "RUN":
        steps = parse(dict(raw, sheet=[dict(raw["sheet"][0], schedule="constant")]))
        keys["schedule"] = dict(schedule, total_steps=steps.steps(steps.sheets[0]))
        raw["sheet"] = [{"name": "suite", **keys}]
    return parse(raw)


def _starts(elements: int, P: int, seed: int) -> np.ndarray:
    return 1.0 + 0.5 * np.random.default_rng(seed).standard_normal((elements, P))


def sheetopt_run(spec: Spec, sheet: Sheet, starts: np.ndarray, executor: str):
    """The batched engine's parameters after every step, (steps, configurations, params), and
    per configuration the first step (counted from 0) that is not comparable: where it
    diverged (the engine stops a configuration there; torch runs on), else the step count."""
    C = len(starts)
    hp = engine.hyper_arrays(sheet, C)
    state = engine.start_state(spec, sheet, hp)
    plan = engine.plan_for(spec, sheet, shuffle=False)
    result = engine.simulate(spec, sheet, hp, starts, state, plan, record=True,
                             executor=executor)
    values = np.stack([result.steps[f"new_{p}"] for p in spec.model.params], axis=-1)
    per_epoch = spec.steps(sheet) // sheet.epochs
    epoch, step = result.diverged_at[:, 0], result.diverged_at[:, 1]
    stop = np.where(epoch > 0, (epoch - 1) * per_epoch + step - 1, spec.steps(sheet))
    return values, stop


def default_paths(device) -> tuple[str, ...]:
    """The paths the suite runs unless told: the registry's everywhere, and on CUDA also the
    CUDA-only ones (capturable, a tensor lr).

    >>> default_paths("cpu")
    ('loop', 'foreach', 'fused')
    """
    return PATHS + (CUDA_PATHS if str(device).startswith("cuda") else ())


def class_paths(sheet: Sheet, wanted=PATHS) -> list[str]:
    """Of ``wanted``, the paths that concern the sheet's torch.optim class: the loop, those the
    registry lists for it, and the CUDA-only paths (``refusals`` then asks torch)."""
    listed = sheet.rule.torch.paths
    return [p for p in wanted if p == "loop" or p in listed or p in CUDA_PATHS]


def refusals(sheet: Sheet, device, paths) -> dict[str, str]:
    """Why torch does not run each of ``paths`` that it refuses for the sheet's class on this
    device: the constructor lacks an option, or a probe step fails (fused is CUDA-only for some
    classes, capturable for all).

    >>> from sheetopt.spec import load
    >>> refusals(load("torch-optim").sheet("Adadelta"), "cpu", ("loop", "fused"))
    {'fused': 'torch.optim.Adadelta has no fused option'}
    """
    torch = require_torch()
    out = {}
    for path in paths:
        if path == "loop":
            continue  # the reference: always runs
        # one element: a class that is not elementwise takes no more per tensor (Adafactor)
        probe = [torch.zeros(1, dtype=torch.float64, device=device, requires_grad=True)]
        try:
            optimizer = optimizer_on(sheet, probe, path)
            probe[0].grad = torch.zeros_like(probe[0])
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                optimizer.step()
        except OptionMissing as exc:
            out[path] = str(exc)
        except (RuntimeError, ValueError, TypeError, AssertionError) as exc:
            # (capturable off CUDA: an AssertionError naming the devices it needs)
            first = (str(exc).strip().splitlines() or [""])[0]
            out[path] = f"torch refuses it on {device}: {type(exc).__name__}: {first}"
    return out


class OptionMissing(TypeError):
    """The torch.optim class has no constructor option a path needs."""


def optimizer_on(sheet: Sheet, params: list, path: str):
    """The registry's torch.optim optimizer for the sheet (``replay.torch_optimizer``: class,
    arguments, float64 handling) on ``params``, through one of torch's paths."""
    template = torch_optimizer(sheet, params)
    if path == "loop":
        return template
    settings = dict(PATH_OPTIONS[path])
    accepted = inspect.signature(type(template).__init__).parameters
    missing = [k for k in settings if k != "lr" and k not in accepted]
    if missing:
        raise OptionMissing(f"torch.optim.{type(template).__name__} has no "
                            f"{', '.join(missing)} option")
    options = {k: v for k, v in template.defaults.items() if k in accepted}
    options.update(foreach=settings.get("foreach", False))
    if "fused" in accepted:
        options["fused"] = settings.get("fused") or None
    if "capturable" in accepted:
        options["capturable"] = settings.get("capturable", False)
    if settings.get("lr") == "tensor":
        torch = require_torch()
        options["lr"] = torch.tensor(float(options["lr"]), dtype=params[0].dtype,
                                     device=params[0].device)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        optimizer = type(template)(params, **options)
    return optimizer


def torch_run(spec: Spec, sheet: Sheet, starts: np.ndarray, path: str, device,
              separate: bool = False) -> np.ndarray:
    """torch.optim (and torch's scheduler) over the same steps: (steps, elements, params).
    ``separate``: one scalar tensor per element and parameter (for a class whose update of
    an element reads the whole tensor), else one tensor of all elements per parameter."""
    torch = require_torch()
    saved = torch.get_default_dtype()
    # torch keeps per-tensor scalars in the default dtype (``_get_scalar_dtype``: NAdam's
    # mu_product, ASGD's eta and mu), float32 unless set: 1e-8 off in a float64 run
    torch.set_default_dtype(torch.float64)
    try:
        return _torch_steps(spec, sheet, starts, path, device, separate)
    finally:
        torch.set_default_dtype(saved)


def _torch_steps(spec, sheet, starts, path, device, separate):
    torch = require_torch()
    names, model = spec.model.params, BatchModel(spec.model)
    dtype = torch.float64
    if separate:
        leaves = [[torch.tensor([v], dtype=dtype, device=device, requires_grad=True)
                   for v in starts[:, j]] for j in range(len(names))]
        flat = [leaf for column in leaves for leaf in column]
        current = lambda: torch.stack([torch.cat(col) for col in leaves], -1)  # noqa: E731
    else:
        tensors = [torch.tensor(starts[:, j], dtype=dtype, device=device, requires_grad=True)
                   for j in range(len(names))]
        flat = tensors
        current = lambda: torch.stack(tensors, -1)  # noqa: E731
    optimizer = optimizer_on(sheet, flat, path)
    stepper = Stepper(sheet.schedule, optimizer)
    x, y = (torch.as_tensor(np.asarray(v, dtype=float), dtype=dtype, device=device)
            for v in (spec.data.x, spec.data.y))
    plan = engine.plan_for(spec, sheet, shuffle=False)
    out = []
    for epoch in plan:
        for rows in epoch:
            index = torch.as_tensor(rows, device=device)
            optimizer.zero_grad()
            if separate:
                params = {p: torch.cat(leaves[j]) for j, p in enumerate(names)}
            else:
                params = {p: tensors[j] for j, p in enumerate(names)}
            loss = model.loss(params, x[index], y[index])  # (elements,)
            loss.sum().backward()  # each element's gradient is its own loss's
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                optimizer.step()
            stepper.after_step(float(loss.detach().mean()) if len(starts) > 1
                               else float(loss.detach()[0]))
            out.append(current().detach())
        stepper.after_epoch()
    return torch.stack(out).cpu().numpy()


def compare(mine: np.ndarray, theirs: np.ndarray, tol: float, steps_per_epoch: int,
            stop: np.ndarray | None = None):
    """(max relative difference, max ulps, worst (epoch, step), first step beyond tol), over
    arrays shaped (steps, elements, params)."""
    with np.errstate(all="ignore"):
        # relative to the largest size the element has had so far (a parameter passing
        # through zero would otherwise turn an ulp of its earlier size into a huge ratio)
        scale = np.maximum.accumulate(np.maximum(np.abs(mine), np.abs(theirs)), axis=0)
        rel = np.where(scale > 0, np.abs(mine - theirs) / scale, 0.0)
        rel = np.where(np.isnan(mine) | np.isnan(theirs), np.inf, rel)
    if stop is not None:  # a configuration that diverged is compared up to that step only
        valid = np.arange(len(rel))[:, None] < np.asarray(stop)[None, :]
        rel = np.where(valid[..., None], rel, 0.0)
        mine, theirs = np.where(valid[..., None], mine, 0.0), np.where(valid[..., None], theirs, 0.0)
    ulps = np.abs(mine.view(np.int64) - theirs.view(np.int64))
    per_step = rel.reshape(len(rel), -1).max(axis=1)
    at = lambda k: (k // steps_per_epoch + 1, k % steps_per_epoch + 1)  # noqa: E731
    worst = int(np.argmax(per_step)) if len(per_step) else 0
    bad = np.flatnonzero(per_step > tol)
    return (float(per_step.max()) if len(per_step) else 0.0, int(ulps.max()) if ulps.size else 0,
            at(worst) if len(per_step) and per_step[worst] > 0 else None,
            at(int(bad[0])) if len(bad) else None)


def bound(tol: float, sensitivity: float) -> float:
    """The bound a path is judged by: its tolerance, or SENSITIVITY_FACTOR times the case's
    sensitivity where that is larger, never above MAX_BOUND.

    >>> bound(1e-12, 1e-15), bound(1e-12, 2.5e-11), bound(1e-12, 1e-6)
    (1e-12, 2.5e-10, 1e-08)
    """
    return min(MAX_BOUND, max(tol, SENSITIVITY_FACTOR * sensitivity))


def sensitivity(spec: Spec, sheet: Sheet, starts: np.ndarray, mine: np.ndarray,
                stop: np.ndarray, executor: str) -> float:
    """How much the case's own trajectories amplify one ulp: the engine rerun from every start
    moved one ulp up, then one down, compared with ``mine`` as torch's run is (``compare``),
    the larger of the two relative differences.

    >>> spec = _sheet_spec(optimizer_cases(8, ["sgd"])[0], 1)
    >>> starts = _starts(8, 2, seed=0)
    >>> mine, stop = sheetopt_run(spec, spec.sheets[0], starts, "numpy")
    >>> sensitivity(spec, spec.sheets[0], starts, mine, stop, "numpy") < 1e-13
    True
    """
    per_epoch = spec.steps(sheet) // sheet.epochs
    worst = 0.0
    for towards in (np.inf, -np.inf):
        moved, moved_stop = sheetopt_run(spec, sheet, np.nextafter(starts, towards), executor)
        worst = max(worst, compare(mine, moved, np.inf, per_epoch,
                                   np.minimum(stop, moved_stop))[0])
    return worst


def separate_elements(rule) -> bool:
    """Whether each element needs its own tensor (the registry says the class is not
    stackable: Adafactor normalizes by the whole tensor's norm, ASGD keeps eta per tensor)."""
    return not rule.torch.stackable


def suite_cases(elements: int, epochs: int, optimizers: Iterable[str] | None = None,
                schedulers: Iterable[str] | None = None) -> list[Case]:
    """The suite's cases, its memory checked first (see :func:`require_memory`)."""
    optimizers = None if optimizers is None else list(optimizers)
    cases = optimizer_cases(elements, optimizers)
    if schedulers is None or list(schedulers):
        cases += scheduler_cases(elements, schedulers, [o for o in SCHEDULED if optimizers is None
                                                         or o in optimizers])
    require_memory([_sheet_spec(case, epochs) for case in cases], elements, epochs)
    return cases


def require_memory(specs: list, elements: int, epochs: int) -> None:
    """Refuses up front, in one line with its size, a suite whose largest case would not fit
    in memory: the engine's recorded steps of every element (its trace estimate per
    configuration) and torch's parameters after every step, twice (the steps and their
    stack)."""
    from ..protocol import memory

    def need(spec):
        sheet = spec.sheets[0]
        columns = len(engine.step_columns(spec, sheet)) + 3 * len(spec.model.params)
        return elements * spec.steps(sheet) * columns * 8
    biggest = max(specs, key=need, default=None)
    if biggest is not None:
        memory.require(need(biggest), f"torch-suite: {elements:,} elements x "
                       f"{biggest.steps(biggest.sheets[0]):,} steps per case",
                       memory.fewer(epochs=epochs, elements=elements))


def run_suite(device: str = "auto", elements: int = 1000, epochs: int = 3,
              optimizers: Iterable[str] | None = None, schedulers: Iterable[str] | None = None,
              paths: Iterable[str] | None = None, executor: str = "numpy",
              on_row: Callable[[Row], None] | None = None,
              on_skip: Callable[[Case, str, str], None] | None = None) -> list[Row]:
    """Runs the suite; returns one Row per case and path (``on_row`` sees each as it comes).
    ``paths``: names of ``PATH_OPTIONS`` (default ``default_paths(device)``); each runs for the
    classes and on the devices torch accepts it, and ``on_skip(case, path, reason)`` hears of
    each it does not run (``refusals``).

    >>> rows = run_suite(device="cpu", elements=8, epochs=1, optimizers=["sgd"],
    ...                  schedulers=[])  # doctest: +SKIP
    """
    device = pick_device(device)
    wanted = default_paths(device) if paths is None else tuple(paths)
    unknown = [p for p in wanted if p not in PATH_OPTIONS]
    if unknown:
        raise SheetoptError(f"unknown path(s) {', '.join(map(repr, unknown))}: the suite's "
                            f"paths are {', '.join(map(repr, PATH_OPTIONS))}")
    cases = suite_cases(elements, epochs, optimizers, schedulers)
    out = []
    for case in cases:
        spec = _sheet_spec(case, epochs)
        sheet = spec.sheets[0]
        starts = _starts(case.elements, len(spec.model.params), seed=len(out))
        mine, stop = sheetopt_run(spec, sheet, starts, executor)
        amplification = sensitivity(spec, sheet, starts, mine, stop, executor)
        diverged = int(np.sum(stop < spec.steps(sheet)))
        per_epoch = spec.steps(sheet) // sheet.epochs
        paths = class_paths(sheet, wanted)
        refused = refusals(sheet, device, paths)
        for path, reason in refused.items():
            if on_skip is not None:
                on_skip(case, path, reason)
        for path in (p for p in paths if p not in refused):
            theirs = torch_run(spec, sheet, starts, path, device,
                               separate_elements(sheet.rule))
            base = LOOP_TOL if path == "loop" else VECTOR_TOL
            tol = bound(base, amplification)
            theirs = theirs[:len(mine)]
            max_rel, ulps, worst, bad = compare(mine, theirs, tol, per_epoch, stop)
            row = Row(optimizer=case.optimizer, options=case.label, path=path, steps=len(mine),
                      max_rel=max_rel, max_ulps=ulps, worst_at=worst, first_bad=bad, tolerance=tol,
                      elements=case.elements,
                      note=f"{diverged} of {case.elements} elements diverged "
                      f"(compared up to there)" if diverged else "",
                      sensitivity=amplification, base=base)
            out.append(row)
            if on_row is not None:
                on_row(row)
    return out
