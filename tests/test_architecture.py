"""The architecture rules of DESIGN.md: no module imports another module's private name,
and (with import-linter, in ``make lint``) imports run one way."""

from __future__ import annotations

import ast
import importlib
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "facplan"


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
                if target == package and importlib.util.find_spec(f"{target}.{name}"):
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
