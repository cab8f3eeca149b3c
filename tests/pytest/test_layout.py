"""The package's layout holds: imports go one way (docs/architecture.md, Layout) and no module
imports another that imports it back."""

from __future__ import annotations

import ast
from pathlib import Path

from conftest import ROOT

SRC = ROOT / "src" / "pstn"
# Which subpackages each may import; top-level modules (settings, errors, files...) are open to all.
ALLOWED = {
    "ingest": {"ingest"},
    "fetch": {"fetch"},
    "serve": {"serve"},
    "report": {"report"},
    "ops": {"ops", "ingest", "fetch", "serve", "report"},
}


def _module(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports() -> dict[str, set[str]]:
    graph = {}
    for path in SRC.rglob("*.py"):
        names = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("pstn"):
                names.add(node.module)
                names |= {f"{node.module}.{a.name}" for a in node.names}
            elif isinstance(node, ast.Import):
                names |= {a.name for a in node.names if a.name.startswith("pstn")}
        graph[_module(path)] = names
    return {m: {n for n in names if n in graph and n != m} for m, names in graph.items()}


def test_imports_go_one_way() -> None:
    graph = _imports()
    assert len(graph) > 30
    wrong = []
    for module, names in graph.items():
        package = module.split(".")[1] if "." in module else None  # subpackage or top-level module
        for name in names:
            target = name.split(".")[1] if name.count(".") >= 2 else None  # the subpackage imported
            if name == "pstn.cli":
                allowed = module == "pstn.__main__"
            elif target is None:
                allowed = True  # a top-level helper
            elif package in ALLOWED:
                allowed = target in ALLOWED[package]
            else:
                allowed = module == "pstn.cli"  # only the command line reaches into every subpackage
            if not allowed:
                wrong.append((module, name))
    assert wrong == []


def test_no_import_cycles() -> None:
    graph = _imports()
    seen: dict[str, int] = {}

    def visit(module: str, path: list[str]) -> None:
        seen[module] = 1
        for name in graph[module]:
            assert seen.get(name) != 1, " -> ".join([*path, name])
            if name not in seen:
                visit(name, [*path, name])
        seen[module] = 2

    for module in graph:
        if module not in seen:
            visit(module, [module])
