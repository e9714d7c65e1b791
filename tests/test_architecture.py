"""The architecture rules of DESIGN.md: no module imports another module's private name,
and (with import-linter, in ``make lint``) imports run one way."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "facplan"


def _is_module(name: str) -> bool:
    """True when ``name`` (``facplan.x.y``) is a module or package of this project."""
    base = ROOT.joinpath(*name.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _package_of(module: str, is_package: bool) -> str:
    return module if is_package else module.rpartition(".")[0]


def _private_imports(path: Path) -> list[str]:
    """``from X import _name`` (or ``import X._mod``) where X is another facplan module and
    ``_name`` is private to it; a package's own private submodules are its business."""
    module = _module_name(path)
    package = _package_of(module, path.name == "__init__.py")
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module or ""
            if not target.startswith("facplan"):
                continue
            for alias in node.names:
                name = alias.name
                if not name.startswith("_") or name.startswith("__"):
                    continue
                # a private submodule of the importer's own package is allowed
                if target == package and _is_module(f"{target}.{name}"):
                    continue
                found.append(f"{module}:{node.lineno}: from {target} import {name}")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] != "facplan":
                    continue
                for i, p in enumerate(parts[1:], start=1):
                    if p.startswith("_") and not p.startswith("__"):
                        owner = ".".join(parts[:i])
                        if owner != package:
                            found.append(f"{module}:{node.lineno}: import {alias.name}")
                        break
    # a private module imported from outside its package
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and not node.level and node.module:
            parts = node.module.split(".")
            if parts[0] != "facplan":
                continue
            for i, p in enumerate(parts[1:], start=1):
                if p.startswith("_") and not p.startswith("__"):
                    owner = ".".join(parts[:i])
                    if owner != package and not package.startswith(owner + ".") \
                            and node.module != "facplan._errors":
                        found.append(f"{module}:{node.lineno}: from {node.module} import …")
                    break
    return found


def test_no_module_imports_another_modules_private_name() -> None:
    sys.path.insert(0, str(ROOT))
    problems = []
    for path in sorted(PACKAGE.rglob("*.py")):
        problems += _private_imports(path)
    assert problems == []


@pytest.mark.parametrize("source, expected", [
    ("from facplan.network import _snap\n", 1),
    ("from facplan.io.osm import (\n    open_pbf,\n    _tagged,\n)\n", 1),
    ("from facplan.network import snap\n", 0),
    ("from facplan._errors import InputError\n", 0),
])
def test_private_import_check_finds_them(tmp_path: Path, source: str, expected: int) -> None:
    """The check above cannot pass vacuously: it finds a private import in a module."""
    fake = PACKAGE / "_probe_architecture.py"
    fake.write_text(source, encoding="utf-8")
    try:
        assert len(_private_imports(fake)) == expected
    finally:
        fake.unlink()


def _module_level_imports(path: Path) -> set[str]:
    """facplan modules imported at module level (not inside functions or
    ``if TYPE_CHECKING:``), as absolute names."""
    module = _module_name(path)
    package = _package_of(module, path.name == "__init__.py")
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    out: set[str] = set()

    def visit(body: list[ast.stmt]) -> None:
        for node in body:
            if isinstance(node, ast.If):
                test = ast.unparse(node.test)
                if "TYPE_CHECKING" not in test:
                    visit(node.body)
                    visit(node.orelse)
            elif isinstance(node, ast.Try):
                visit(node.body)
            elif isinstance(node, ast.Import):
                out.update(a.name for a in node.names if a.name.startswith("facplan"))
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                    target = f"{base}.{node.module}" if node.module else base
                else:
                    target = node.module or ""
                if target.startswith("facplan"):
                    out.add(target)
                    for a in node.names:  # `from facplan.io import network` is a module
                        if _is_module(f"{target}.{a.name}"):
                            out.add(f"{target}.{a.name}")

    visit(tree.body)
    return out


def test_no_module_level_import_cycle() -> None:
    import networkx as nx

    sys.path.insert(0, str(ROOT))
    g = nx.DiGraph()
    for path in sorted(PACKAGE.rglob("*.py")):
        name = _module_name(path)
        g.add_node(name)
        for target in _module_level_imports(path):
            # importing a.b.c first runs a and a.b: edges to the parents too
            parts = target.split(".")
            for i in range(1, len(parts) + 1):
                parent = ".".join(parts[:i])
                if parent != name and not name.startswith(parent + "."):
                    g.add_edge(name, parent)
    cycles = list(nx.simple_cycles(g))
    assert cycles == []
