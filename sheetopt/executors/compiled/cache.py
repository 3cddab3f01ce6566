"""The kernel cache: each shape of run's kernel generated once per process, its source written to
:func:`cache_dir` and imported, so numba's ``cache=True`` reuses the machine code across processes."""
from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
import tempfile
from pathlib import Path

from ...schedules import records_mom
from .codegen import Kernel, Shape, generate
from .native import HAVE_NUMBA

_KERNELS: dict[str, Kernel] = {}
_GENERATED: dict[tuple, Kernel] = {}


def cache_dir() -> Path:
    """Where generated kernel sources (and numba's cache beside them) live:
    $SHEETOPT_CACHE_DIR, else $XDG_CACHE_HOME/sheetopt/kernels, else ~/.cache/sheetopt/kernels."""
    if os.environ.get("SHEETOPT_CACHE_DIR"):
        return Path(os.environ["SHEETOPT_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "sheetopt" / "kernels"


def _load(kernel: Kernel) -> Kernel:
    digest = hashlib.sha256(kernel.source.encode()).hexdigest()[:20]
    if digest in _KERNELS:
        # the same source may read other host tables (a schedule's constants live in the
        # tables' expressions, not in the source): share the compiled function, keep our tables
        loaded = _KERNELS[digest]
        kernel.function, kernel.meta["path"] = loaded.function, loaded.meta["path"]
        return kernel
    module_name = f"sheetopt_kernel_{digest}"
    folder = cache_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{module_name}.py"
        if not path.exists() or path.read_text() != kernel.source:
            fd, temp = tempfile.mkstemp(dir=folder, suffix=".tmp")
            try:  # Ctrl-C or a full disk leaves no partial source behind
                with os.fdopen(fd, "w") as handle:
                    handle.write(kernel.source)
                os.replace(temp, path)
            finally:
                if os.path.exists(temp):
                    os.unlink(temp)
    except OSError:  # an unwritable cache: compile from a private temporary folder
        folder = Path(tempfile.mkdtemp(prefix="sheetopt-kernels-"))
        path = folder / f"{module_name}.py"
        path.write_text(kernel.source)
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    kernel.function = module.kernel
    kernel.meta["path"] = str(path)
    _KERNELS[digest] = kernel
    return kernel


def kernel_for(spec, sheet, *, schedule, record: bool, online: bool, parallel: bool,
               hyper_names, load: bool = True, capture: bool = False) -> Kernel:
    """The kernel for this shape of run, generated (and loaded) once per process; ``schedule``:
    the one the run follows (None: constant lr); ``capture``: it keeps one step's loss."""
    model, rule, static = spec.model, sheet.rule, sheet.static
    mom_column = records_mom(sheet.schedule, sheet.hypers)
    key = (model.kind, tuple(sorted(model.keys.items())), model.params, model.inputs,
           rule.optimizer, rule.flavor,
           tuple(sorted(static.items())), tuple(hyper_names), sheet.gradient,
           tuple(sheet.show) if record else (),
           None if schedule is None else schedule.kernel_key(),
           mom_column, record, online, parallel, capture)
    if key not in _GENERATED:
        _GENERATED[key] = generate(Shape(
            model=model, rule=rule, static=static, state_names=rule.states(static),
            hyper_names=hyper_names, gradient=sheet.gradient, show=sheet.show,
            schedule=schedule, mom_column=mom_column, record=record, online=online,
            parallel=parallel, capture=capture))
    kernel = _GENERATED[key]
    return _load(kernel) if load else kernel


def available() -> bool:
    return HAVE_NUMBA

