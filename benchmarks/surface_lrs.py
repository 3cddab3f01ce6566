"""Chooses the lr of each sheet of a surface preset (workbooks/rosenbrock.toml, rastrigin.toml).

For every sheet, one sweep over a log-spaced lr grid (``sheetopt.sweep``, the numpy engine),
and a second sweep from a start moved by 1e-13 (relative). Among the lrs whose final point
moved by less than 1e-12 (relative: the run is not chaotic, so a spreadsheet recomputes it to
12 digits, and so do other machines), the one with the smallest final loss is kept. Prints
the lr chosen per sheet; ``--write`` puts them into the preset.

    python benchmarks/surface_lrs.py rosenbrock 1e-4 1 41 --write
"""
from __future__ import annotations

import argparse
import re
from pathlib import Path

import numpy as np

import sheetopt

MOVE = 1e-13  # the relative change of the start
STABLE = 1e-12  # the largest relative change of the end that counts as not chaotic


def choose(spec, sheet: str, grid: np.ndarray) -> tuple[float, float]:
    """(lr, final loss) of the best stable lr for ``sheet``."""
    base = sheetopt.sweep(spec, sheet, lr=grid, backend="numpy")
    start = spec.sheet(sheet).init
    moved_spec = spec.with_sheet(sheet, init={p: v * (1 + MOVE) + MOVE for p, v in start.items()})
    moved = sheetopt.sweep(moved_spec, sheet, lr=grid, backend="numpy")
    params = list(spec.model.params)
    a, b = base[params].to_numpy(), moved[params].to_numpy()
    change = np.max(np.abs(a - b) / np.maximum(np.abs(a), 1.0), axis=1)
    loss = base["final_rmse"].to_numpy()
    ok = np.isfinite(loss) & (change < STABLE)
    best = int(np.nanargmin(np.where(ok, loss, np.nan)))
    return float(grid[best]), float(loss[best] ** 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("preset")
    parser.add_argument("lo", type=float)
    parser.add_argument("hi", type=float)
    parser.add_argument("count", type=int)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    path = Path(__file__).resolve().parents[1] / "workbooks" / f"{args.preset}.toml"
    spec = sheetopt.Spec.load(path)
    grid = np.geomspace(args.lo, args.hi, args.count)
    text = path.read_text()
    for sheet in spec.sheets:
        lr, loss = choose(spec, sheet.name, grid)
        print(f"{sheet.name:14s} lr {lr:.3g}  final loss {loss:.3g}")
        block = re.compile(rf'(name = "{re.escape(sheet.name)}"\noptimizer = "[^"]+"\nlr = )[^\n]+')
        text = block.sub(lambda m: m.group(1) + repr(float(f"{lr:.3g}")), text)
    if args.write:
        path.write_text(text)


if __name__ == "__main__":
    main()
