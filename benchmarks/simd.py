"""Is the sweep kernel's loop over configurations vectorized? The machine code says.

Compiles the sweep kernel of a few sheets afresh (numba shows the machine code only of what it
compiled in this process), finds the hot loop (of the innermost loops, the one with the most
double-precision arithmetic) in ``inspect_asm()`` and counts its double-precision instructions:
packed (``...pd`` on xmm/ymm/zmm registers, several configurations each) against scalar
(``...sd``, one value), the vector width, and the fused multiply-adds (there must be none:
numba compiles without fastmath, so a*b+c stays two roundings, as numpy computes it).

    python benchmarks/simd.py                 # lesson5 adam, torch Adam, RMSprop, momentum, batch
    python benchmarks/simd.py --show          # and print the hot loop of lesson5 adam

x86-64 only (the mnemonics counted); elsewhere it says so.
"""
from __future__ import annotations

import argparse
import os
import platform
import re
import tempfile
from collections import Counter

import numpy as np

# (preset, sheet): online lecture Adam, torch Adam (bias corrections from the host's tables),
# lecture RMSprop and momentum, and a batch sheet (its loop over a batch's rows inside)
SHEETS = (("lesson5", "adam"), ("lecture-vs-torch", "torch_adam"), ("lesson5", "rmsprop"),
          ("lesson5", "momentum"), ("lesson2", "sgd"))
_INSTRUCTION = re.compile(r"^\s+([a-z][a-z0-9]*)\s*([^#\n]*)", re.M)
_LABEL = re.compile(r"^(\.?[A-Za-z0-9_$.]+):", re.M)
_ARITHMETIC = ("add", "sub", "mul", "div", "sqrt", "max", "min", "cmp", "and", "or", "xor",
               "blend", "fmadd", "fmsub", "fnmadd", "fnmsub")


def fresh_kernel(preset: str, sheet_name: str, configs: int = 64):
    """The sweep kernel (one thread, not recording) of a sheet, compiled in this process."""
    from sheetopt.executors import compiled
    from sheetopt.spec import load
    from sheetopt.sweeps.sweep import start_arrays

    compiled.cache._KERNELS.clear()  # numba shows only code it compiled in this process
    compiled.cache._GENERATED.clear()
    spec = load(preset)
    sheet = spec.sheet(sheet_name)
    hp, params, state, plan = start_arrays(spec, sheet, {
        "lr": sheet.hypers["lr"] * np.geomspace(0.1, 10, configs)}, executor="numpy")
    compiled.simulate(spec, sheet, hp, params, state, plan, parallel=False)
    return compiled.kernel_for(spec, sheet, schedule=compiled.executor.schedule_of(sheet, True),
                               record=False, online=plan.size == 1, parallel=False,
                               hyper_names=tuple(hp))


def hot_loop(asm: str) -> list[tuple[str, str]]:
    """The instructions of the hot loop of ``asm``: of the innermost loops (a label and the
    last jump back to it, with no such loop inside), the one with the most double-precision
    arithmetic (packed or scalar)."""
    lines = asm.splitlines()
    labels = {m.group(1): i for i, line in enumerate(lines) if (m := _LABEL.match(line))}
    spans = {}
    for j, line in enumerate(lines):
        jump = re.match(r"^\s+j[a-z]+\s+(\S+)\s*$", line)
        if jump and labels.get(jump.group(1), j) < j:
            spans[labels[jump.group(1)]] = j
    innermost = [(i, j) for i, j in spans.items()
                 if not any(i < a and b <= j and (a, b) != (i, j) for a, b in spans.items())]

    def body(span):
        text = "\n".join(lines[span[0]:span[1] + 1])
        return [(m.group(1), m.group(2).strip()) for m in _INSTRUCTION.finditer(text)]

    def weight(span):
        return sum(op.endswith(("pd", "sd")) and any(a in op for a in _ARITHMETIC)
                   for op, _ in body(span))

    return body(max(innermost, key=weight)) if innermost else []


def instruction_mix(loop: list[tuple[str, str]]) -> dict:
    """Counts of a loop's double-precision instructions: packed and scalar arithmetic, packed
    and scalar moves, fused multiply-adds, and the widest vector register used."""
    counts = Counter()
    widths = Counter()
    for op, args in loop:
        if op.endswith("pd") or op.startswith("vbroadcast"):
            kind = "arithmetic" if any(a in op for a in _ARITHMETIC) else "other"
            counts[f"packed {kind}"] += 1
            widths[next((r for r in ("zmm", "ymm", "xmm") if r in args), "?")] += 1
        elif op.endswith("sd") and op not in ("movsd",) or op == "vmovsd":
            kind = "arithmetic" if any(a in op for a in _ARITHMETIC) else "other"
            counts[f"scalar {kind}"] += 1
        if "fmadd" in op or "fmsub" in op:
            counts["fused multiply-add"] += 1
    lanes = {"zmm": 8, "ymm": 4, "xmm": 2}
    widest = max(widths, key=lambda r: lanes.get(r, 0)) if widths else None
    return {"instructions": len(loop), "packed arithmetic": counts["packed arithmetic"],
            "scalar arithmetic": counts["scalar arithmetic"],
            "packed moves": counts["packed other"], "scalar moves": counts["scalar other"],
            "fused multiply-add": counts["fused multiply-add"], "register": widest,
            "lanes": lanes.get(widest, 1)}


def evidence(preset: str, sheet: str, show: bool = False) -> str:
    """One line on the hot loop of a sheet's sweep kernel (and the loop itself with ``show``)."""
    kernel = fresh_kernel(preset, sheet)
    asm = "\n".join(kernel.function.inspect_asm().values())
    loop = hot_loop(asm)
    if not loop:
        return f"{preset} {sheet}: no loop found"
    mix = instruction_mix(loop)
    square_roots = sum(op in ("vsqrtpd", "sqrtpd") for op, _ in loop)
    line = (f"{preset + ' ' + sheet:28} hot loop: {mix['instructions']:3} instructions, "
            f"{mix['lanes']} configurations a vector ({mix['register']}); double arithmetic "
            f"packed {mix['packed arithmetic']:3} / scalar {mix['scalar arithmetic']:2}, "
            f"moves packed {mix['packed moves']:2} / scalar {mix['scalar moves']:2}; "
            f"packed sqrt {square_roots}; fused multiply-adds {mix['fused multiply-add']}")
    if show:
        line += "\n" + "\n".join(f"    {op:10} {args}" for op, args in loop)
    return line


def print_evidence(sheets=SHEETS, show: bool = False) -> None:
    """The evidence lines, in a fresh kernel cache folder (restored after)."""
    if platform.machine() not in ("x86_64", "AMD64"):
        print(f"vectorization evidence: x86-64 mnemonics only ({platform.machine()} here)")
        return
    saved = os.environ.get("SHEETOPT_CACHE_DIR")
    os.environ["SHEETOPT_CACHE_DIR"] = tempfile.mkdtemp(prefix="sheetopt-simd-")
    try:
        print("\nthe sweep kernel's loop over configurations, from numba's inspect_asm() "
              "(compiled afresh, one thread):")
        for preset, sheet in sheets:
            print("  " + evidence(preset, sheet, show and (preset, sheet) == sheets[0]))
    finally:
        from sheetopt.executors import compiled

        compiled.cache._KERNELS.clear()
        compiled.cache._GENERATED.clear()
        if saved is None:
            del os.environ["SHEETOPT_CACHE_DIR"]
        else:
            os.environ["SHEETOPT_CACHE_DIR"] = saved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--show", action="store_true", help="print the hot loop of the first")
    print_evidence(show=parser.parse_args().show)


if __name__ == "__main__":
    main()
