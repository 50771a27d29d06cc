"""The folders are the architecture: the pure core imports nothing from the shells.

hostns/core/ (images, patterns, exceptions, the matching rule, pods, workloads,
findings) is what `scan`, `audit` and the operator share; it must stay free of
I/O and of kopf so that it can be tested and benchmarked as plain functions.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "operator" / "hostns"
# Libraries that do I/O or run an event loop: none of them belongs in the core.
SHELL_LIBRARIES = {"kopf", "kubernetes_asyncio", "kubernetes", "aiohttp", "asyncio",
                   "prometheus_client", "socket", "ssl", "http", "urllib", "subprocess"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            if node.module == "hostns":
                names.update(f"hostns.{alias.name}" for alias in node.names)
    return names


def _modules(room: str) -> list[Path]:
    return sorted((PACKAGE / room).glob("*.py"))


def test_every_module_lives_in_a_room() -> None:
    loose = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert loose == ["__init__.py", "__main__.py", "cli.py", "plugin.py"]
    assert all(_modules(room) for room in ("core", "live", "offline"))


@pytest.mark.parametrize("path", _modules("core"), ids=lambda p: p.stem)
def test_the_core_imports_only_the_core_and_no_io_library(path: Path) -> None:
    imports = _imports(path)
    outside = sorted(name for name in imports
                     if name.startswith("hostns") and not name.startswith("hostns.core"))
    assert outside == []
    assert sorted(name for name in imports if name.split(".")[0] in SHELL_LIBRARIES) == []


@pytest.mark.parametrize("path", _modules("offline"), ids=lambda p: p.stem)
def test_the_offline_readers_do_not_import_the_live_operator(path: Path) -> None:
    assert sorted(name for name in _imports(path) if name.startswith("hostns.live")) == []
