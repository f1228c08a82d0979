"""The engine is pure: it imports nothing from the adapters or the application."""

from __future__ import annotations

import ast
from pathlib import Path

ENGINE = Path(__file__).resolve().parents[1] / "engine"
FORBIDDEN_PREFIXES = ("alluse.adapters", "alluse.cli", "alluse.app", "alluse.node", "alluse.settings",
                      "alluse.runtime")
FORBIDDEN_MODULES = {"sqlalchemy", "ib_async", "watchfiles", "apscheduler", "smtplib", "socket", "requests"}


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


def test_engine_imports_no_adapter_app_or_io_library():
    """Every module under engine/ stays off adapters, the app and I/O libraries."""
    offenders = []
    for path in sorted(ENGINE.rglob("*.py")):
        for name in _imports(path):
            if name.startswith(FORBIDDEN_PREFIXES) or name.split(".")[0] in FORBIDDEN_MODULES:
                offenders.append(f"{path.relative_to(ENGINE.parent)}: {name}")
    assert [] == offenders
