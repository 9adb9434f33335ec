"""The code's shape, as the project brief asks: short functions, no reaching into another module's
private names, a Server that only paces, infers and publishes. Read with ``ast``, nothing imported."""

import ast
from pathlib import Path

import pytest

from conftest import ROOT

MAX_FUNCTION_LINES = 60
MAX_SERVER_LINES = 200
PACKAGE = ROOT / "ganplug"


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def long_functions(source: str, limit: int = MAX_FUNCTION_LINES) -> list[str]:
    """``name (N lines)`` for every function or method longer than ``limit`` lines (def line to last line)."""
    out = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            lines = node.end_lineno - node.lineno + 1
            if lines > limit:
                out.append(f"{node.name} ({lines} lines)")
    return out


def _resolve(module: str, node: ast.ImportFrom, is_package: bool) -> str:
    """The absolute module an ``from ... import`` names, seen from ``module``."""
    if not node.level:
        return node.module or ""
    base = module.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def private_imports(source: str, module: str, is_package: bool = False) -> list[str]:
    """Private names this module takes from another ganplug module: ``from x import _y``, ``import x._y``,
    and ``m._y`` where ``m`` is a ganplug module it imported."""
    found, modules = [], set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom):
            origin = _resolve(module, node, is_package)
            if origin.split(".")[0] != "ganplug" or origin == module:
                continue
            for alias in node.names:
                if _private(alias.name) or any(_private(p) for p in origin.split(".")):
                    found.append(f"from {origin} import {alias.name}")
                modules.add(alias.asname or alias.name)  # a module or an object of one: its _names are private too
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "ganplug":
                    if any(_private(p) for p in alias.name.split(".")):
                        found.append(f"import {alias.name}")
                    modules.add(alias.asname or alias.name.split(".")[0])
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute) and _private(node.attr) and isinstance(node.value, ast.Name) \
                and node.value.id in modules:
            found.append(f"{node.value.id}.{node.attr}")
    return found


def class_lines(source: str, name: str) -> int:
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ClassDef) and node.name == name:
            return node.end_lineno - node.lineno + 1
    raise AssertionError(f"no class {name}")


SOURCES = sorted(PACKAGE.rglob("*.py"))


# ---------------------------------------------------------------- the checks catch what they should

def test_checks_catch_synthetic_violations():
    long_fn = "def f():\n" + "    x = 1\n" * 60 + "\n\ndef g():\n    return 1\n"
    assert long_functions(long_fn) == ["f (61 lines)"]
    assert long_functions("class A:\n    def m(self):\n" + "        pass\n" * 59) == []  # 60 lines: allowed
    assert long_functions("class A:\n    def m(self):\n" + "        pass\n" * 60) == ["m (61 lines)"]
    src = ("from ..export import _load_generator, export\n"
           "from . import contract\n"
           "from .engine import Engine as _E\n"
           "import ganplug.osc._hidden\n"
           "from ._impl import thing\n"
           "from .. import __version__\n"
           "x = contract._fail('p', 'w')\n"
           "y = self._own\n")
    assert private_imports(src, "ganplug.runtime.bench") == [
        "from ganplug.export import _load_generator", "import ganplug.osc._hidden",
        "from ganplug.runtime._impl import thing", "contract._fail"]
    assert private_imports("from ._x import y\n", "ganplug.osc", is_package=True) == ["from ganplug.osc._x import y"]
    assert private_imports("from numpy import _core\nfrom typing import _T\n", "ganplug.a") == []  # others' libraries: not ours to judge
    assert class_lines("class Server:\n" + "    x = 1\n" * 250, "Server") == 251


# ---------------------------------------------------------------- the package

@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_function_longer_than_60_lines(path):
    assert long_functions(path.read_text()) == []


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_imports_another_modules_private_names(path):
    assert private_imports(path.read_text(), _module_name(path), path.name == "__init__.py") == []


def test_server_class_is_small():
    assert class_lines((PACKAGE / "runtime" / "server.py").read_text(), "Server") < MAX_SERVER_LINES
