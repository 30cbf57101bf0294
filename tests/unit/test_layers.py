"""The house rules, read from the source: no import cycle (lazy imports included), and no layer imports a higher one.

Layers, lowest first (``docs/architecture.md``)::

    config | classic < session < linalg < text | lsi < evaluation < modeling < lake < features < synth < app

``text`` and ``lsi`` stand side by side and do not import each other. The wheel holds no
benchmark code and the library imports no development-only package.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "churn_spark"

LAYERS = [("churn_spark.config", 0), ("churn_spark.classic", 0),
          ("churn_spark.session", 1), ("churn_spark.linalg", 2), ("churn_spark.text", 3),
          ("churn_spark.lsi", 3), ("churn_spark.evaluation", 4), ("churn_spark.modeling", 5), ("churn_spark.lake", 6),
          ("churn_spark.features", 7), ("churn_spark.synth", 8), ("churn_spark.app", 9)]
DEV_ONLY = ("sklearn", "statsmodels", "joblib", "pytest", "bench")


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def _imports(path: Path) -> set[str]:
    """Every module ``path`` imports anywhere (top level, inside functions, under TYPE_CHECKING)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:  # ``from package import submodule`` imports the submodule
                sub = f"{node.module}.{alias.name}"
                found.add(sub if sub in MODULES else node.module)
    return found


GRAPH = {name: {m for m in _imports(path) if m in MODULES and m != name} for name, path in MODULES.items()}


def _layer(module: str) -> tuple[str, int]:
    for prefix, rank in LAYERS:
        if module == prefix or module.startswith(prefix + "."):
            return prefix, rank
    return "churn_spark", -1  # the package's __init__


def test_no_module_imports_a_higher_layer_or_its_neighbour():
    wrong = []
    for module, imported in GRAPH.items():
        prefix, rank = _layer(module)
        for target in imported:
            target_prefix, target_rank = _layer(target)
            if target_rank > rank or (target_rank == rank and target_prefix != prefix):
                wrong.append(f"{module} -> {target}")
    assert not wrong, wrong


def test_no_import_cycle():
    state: dict[str, int] = {}  # 1 on the current path, 2 done

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for target in sorted(GRAPH[module]):
            if state.get(target) == 1:
                pytest.fail("import cycle: " + " -> ".join(path[path.index(target):] + [target]))
            if target not in state:
                visit(target, [*path, target])
        state[module] = 2

    for module in sorted(GRAPH):
        if module not in state:
            visit(module, [module])


def test_the_library_needs_no_development_package():
    wrong = [f"{name} imports {m}" for name, path in MODULES.items() for m in _imports(path)
             if m.split(".")[0] in DEV_ONLY]
    assert not wrong, wrong


def test_a_cycle_or_an_upward_import_would_be_seen():
    """The checks above read real imports: this module's own parse finds the imports it makes."""
    assert {"ast", "pathlib", "pytest"} <= _imports(Path(__file__))
    assert "churn_spark.app.context" in GRAPH["churn_spark.app.pipeline"]


def test_the_wheel_holds_the_library_its_data_and_no_benchmark(tmp_path):
    # built from a copy (bench/, tests/, jobs/ included): setuptools writes build/ beside the sources
    source = tmp_path / "checkout"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        ".git", ".venv", "build", "dist", "*.egg-info", "warehouse", "spark-warehouse", "metastore_db", ".cluster",
        "__pycache__", ".pytest_cache", ".ruff_cache"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(tmp_path), str(source)], check=True, capture_output=True, timeout=300)
    (wheel,) = tmp_path.glob("churn_spark-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert not [n for n in names if n.startswith(("bench/", "tests/", "jobs/")) or "/bench" in n]
    assert "churn_spark/app/cli.py" in names and "churn_spark/conf/pipeline.yaml" in names
    assert any(n.startswith("churn_spark/synth/data/") for n in names)
