"""alluse.engine's curated public API: a sorted __all__, one lazy table, and names that resolve."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

import alluse.engine as engine

INIT = Path(__file__).resolve().parents[2] / "engine" / "__init__.py"


def _type_checking_imports() -> dict[str, str]:
    """Name → module of each import under `if TYPE_CHECKING:` (what type checkers and editors see)."""
    found: dict[str, str] = {}
    for node in ast.parse(INIT.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            for stmt in node.body:
                assert isinstance(stmt, ast.ImportFrom) and stmt.module, ast.unparse(stmt)
                found.update({alias.asname or alias.name: stmt.module for alias in stmt.names})
    return found


def test_all_is_sorted_without_duplicates():
    """__all__ is sorted (house style) and names each export once."""
    assert sorted(set(engine.__all__)) == engine.__all__


def test_all_equals_the_lazy_export_table():
    """Every name in __all__ is in the lazy table, and the table exports nothing __all__ leaves out."""
    assert engine.__all__ == sorted(engine._WHERE)


def test_type_checking_imports_match_the_lazy_table():
    """Type checkers see the same names, from the same modules, as the lazy import serves at run time."""
    expected = {name: f"alluse.engine.{module}" for name, module in engine._WHERE.items()}
    assert expected == _type_checking_imports()


@pytest.mark.parametrize("name", engine.__all__)
def test_each_exported_name_resolves_to_its_module_object(name: str):
    """`alluse.engine.X` is the very object its module defines."""
    module = importlib.import_module(f"alluse.engine.{engine._WHERE[name]}")
    assert getattr(module, name) is getattr(engine, name)


def test_star_import_binds_every_exported_name():
    """`from alluse.engine import *` goes through the lazy loader and binds all of __all__."""
    namespace: dict[str, object] = {}
    exec("from alluse.engine import *", namespace)
    assert set(engine.__all__) == set(namespace) - {"__builtins__"}


def test_unknown_name_is_an_attribute_error():
    """A name outside the API fails like any missing module attribute."""
    with pytest.raises(AttributeError, match="has no attribute 'Nope'"):
        _ = engine.Nope  # type: ignore[attr-defined]
