"""The package's shape, measured from its source: the criteria of the run protocol's design.

- no import circle between sheetopt's modules (imports inside functions count; a package's
  ``__init__`` counts as a module of its own);
- the schedule's kind is asked inside ``schedules/`` (and ``rules/``) only: few lines elsewhere
  branch on a schedule's ``kind``, ``per``, ``per_step`` or the name "adam_ann";
- every function fits on a screen (at most 80 lines);
- records are built by name: few calls pass 7 or more positional arguments.
"""
from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path


PACKAGE = Path(__file__).resolve().parents[1] / "sheetopt"
OWN_SCHEDULES = ("schedules", "rules")  # the packages that may ask a schedule's kind

MAX_FUNCTION_LINES = 80
MAX_POSITIONAL = 7
MAX_POSITIONAL_CALLS = 10
MAX_KIND_LINES, MAX_KIND_FILES = 12, 4


def modules() -> dict[str, Path]:
    """Every module of the package by dotted name (packages by their own name)."""
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = ["sheetopt", *path.relative_to(PACKAGE).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


MODULES = modules()


def parsed(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), str(path))


def imports(name: str, path: Path) -> set[str]:
    """The package's modules that ``name`` imports, anywhere in its source."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found = set()
    for node in ast.walk(parsed(path)):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package[:len(package) - node.level + 1] + ([base] if base else []))
            # ``from package import submodule`` imports the submodule (its package is being
            # imported already); any other name is read from the package's ``__init__``
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base
                       for alias in node.names]
        else:
            continue
        found.update(t for t in targets if t in MODULES and t != name)
    return found


def circles() -> list[list[str]]:
    """Each import circle (strongly connected set of modules) of more than one module."""
    graph = {name: imports(name, path) for name, path in MODULES.items()}
    index, low, stack, on_stack, out = {}, {}, [], set(), []

    def visit(v):  # Tarjan's algorithm
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                out.append(sorted(group))

    for v in graph:
        if v not in index:
            visit(v)
    return out


def _asks_kind(node: ast.AST) -> bool:
    """Whether an expression reads a schedule's kind, per, per_step or names adam_ann."""
    for sub in ast.walk(node):
        if isinstance(sub, ast.Attribute) and sub.attr in ("per", "per_step"):
            return True
        if isinstance(sub, ast.Attribute) and sub.attr == "kind" and "schedule" in ast.unparse(
                sub.value):
            return True
        if isinstance(sub, ast.Constant) and sub.value == "adam_ann":
            return True
    return False


def kind_branches() -> dict[str, list[int]]:
    """Lines outside schedules/ and rules/ whose condition or comparison asks a schedule's kind."""
    out = defaultdict(list)
    for name, path in MODULES.items():
        if name.split(".")[1:2] and name.split(".")[1] in OWN_SCHEDULES:
            continue
        lines = set()
        for node in ast.walk(parsed(path)):
            tests = []
            if isinstance(node, (ast.If, ast.IfExp, ast.While)):
                tests = [node.test]
            elif isinstance(node, ast.comprehension):
                tests = list(node.ifs)
            elif isinstance(node, (ast.Compare, ast.BoolOp)):
                tests = [node]
            lines.update(t.lineno for t in tests if _asks_kind(t))
        if lines:
            out[str(path.relative_to(PACKAGE))] = sorted(lines)
    return dict(out)


def long_functions() -> list[str]:
    out = []
    for path in MODULES.values():
        for node in ast.walk(parsed(path)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    out.append(f"{path.relative_to(PACKAGE)}:{node.lineno} {node.name} "
                               f"({length} lines)")
    return out


def positional_calls() -> list[str]:
    out = []
    for path in MODULES.values():
        for node in ast.walk(parsed(path)):
            if isinstance(node, ast.Call) and len(node.args) >= MAX_POSITIONAL:
                out.append(f"{path.relative_to(PACKAGE)}:{node.lineno} "
                           f"{ast.unparse(node.func)} ({len(node.args)} positional)")
    return out


def test_no_import_circle():
    assert circles() == []


def test_no_executor_verification_or_protocol_module_asks_the_schedules_kind():
    found = kind_branches()
    asking = {f: v for f, v in found.items()
              if f.split("/")[0] in ("executors", "protocol", "verification", "sweeps")}
    assert asking == {}


def test_the_schedules_kind_is_asked_in_few_places():
    """The workbook, the executors and the rest ask the schedule (its lr_cells, sets,
    step_cells, kernel_hypers, ...), not which kind it is."""
    found = kind_branches()
    where = "; ".join(f"{f}: lines {v}" for f, v in found.items())
    assert sum(map(len, found.values())) <= MAX_KIND_LINES and len(found) <= MAX_KIND_FILES, where


def test_every_function_fits_on_a_screen():
    assert long_functions() == []


def test_few_calls_pass_many_positional_arguments():
    """Records and helpers are called by name: the calls left are a rule's own update and step
    (Rule.updated/stepped, whose definitions are positional functions) and a workbook row's
    compiled template."""
    found = positional_calls()
    assert len(found) <= MAX_POSITIONAL_CALLS, "\n".join(found)


def test_the_measures_see_what_they_measure(tmp_path):
    """The detectors find a circle, a kind branch, a long function and a positional call."""
    code = ("def f(schedule):\n    if schedule.kind == 'adam_ann':\n        g(1, 2, 3, 4, 5, 6, 7)\n"
            + "    x = 1\n" * 80)
    tree = ast.parse(code)
    test = next(n for n in ast.walk(tree) if isinstance(n, ast.If)).test
    call = next(n for n in ast.walk(tree) if isinstance(n, ast.Call))
    function = tree.body[0]
    assert _asks_kind(test) and len(call.args) >= MAX_POSITIONAL
    assert function.end_lineno - function.lineno + 1 > MAX_FUNCTION_LINES
