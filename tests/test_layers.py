"""The package's import graph, read with `ast` from the source (every import, those inside
functions and under TYPE_CHECKING too): no circle, and no import that runs back up a floor.
Each module has a floor; a new module must be given one here."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "mnist_cli"

# Floors from the bottom up, by module name or folder. A module may import its own floor and
# the floors below it, never one above.
FLOORS = [
    # What everything stands on: pure Python, no torch at import.
    [
        "mnist_cli",
        "mnist_cli.errors",
        "mnist_cli.config",
        "mnist_cli.config_file",
        "mnist_cli.models",
        "mnist_cli.networks",
        "mnist_cli.files",
        "mnist_cli.locks",
        "mnist_cli.pictures",
        "mnist_cli.checkpoint.format",
    ],
    ["mnist_cli.paths", "mnist_cli.data"],  # a user's paths; the datasets
    ["mnist_cli.checkpoint"],  # the one file they all share: write, read
    ["mnist_cli.inference"],  # the model that answers
    ["mnist_cli.evaluate", "mnist_cli.predict"],
    ["mnist_cli.train", "mnist_cli.documents"],
    ["mnist_cli.export", "mnist_cli.tune", "mnist_cli.serve"],
    ["mnist_cli.cli", "mnist_cli.__main__"],
]


def _modules() -> dict[str, Path]:
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        modules[name] = path
    return modules


def _imports(path: Path, modules: dict[str, Path]) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module.split(".")[0] != "mnist_cli":
                continue
            for alias in node.names:
                whole = f"{node.module}.{alias.name}"
                found.add(whole if whole in modules else node.module)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "mnist_cli"}
        elif isinstance(node, ast.ImportFrom) and node.level:
            raise AssertionError(f"{path}: relative import (the house imports by full name)")
    return found


def graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(path, modules) - {name} for name, path in modules.items()}


def floor_of(module: str) -> int:
    """The floor of the longest name or folder in FLOORS that holds `module`."""
    best, floor = -1, None
    for index, names in enumerate(FLOORS):
        for name in names:
            if (module == name or module.startswith(name + ".")) and len(name) > best:
                best, floor = len(name), index
    assert floor is not None, f"{module} has no floor in tests/test_layers.py"
    return floor


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The import circles: Tarjan's strongly connected components of more than one module."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in sorted(edges.get(node, ())):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_the_package_has_no_import_circle():
    assert cycles(graph()) == []


def test_no_import_runs_back_up_a_floor():
    upward = [
        f"{module} (floor {floor_of(module)}) imports {other} (floor {floor_of(other)})"
        for module, imported in sorted(graph().items())
        for other in sorted(imported)
        if floor_of(other) > floor_of(module)
    ]
    assert upward == []


def test_every_module_has_a_floor():
    for module in graph():
        floor_of(module)


def test_the_checks_catch_a_circle_and_an_upward_import():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert floor_of("mnist_cli.checkpoint.format") < floor_of("mnist_cli.checkpoint.read")
    assert floor_of("mnist_cli.inference.loader") > floor_of("mnist_cli.checkpoint.read")
    assert floor_of("mnist_cli.cli.app") == len(FLOORS) - 1
