"""explain/ is generic: it imports no model module and never asks which family it has."""

from __future__ import annotations

import ast
from pathlib import Path

import prognosis.explain
from prognosis.models.registry import MODEL_NAMES, estimator_class

EXPLAIN = Path(prognosis.explain.__file__).parent


def _trees() -> dict[str, ast.Module]:
    return {path.name: ast.parse(path.read_text()) for path in sorted(EXPLAIN.glob("*.py"))}


def test_explain_imports_no_model_module() -> None:
    imported = {
        (name, module)
        for name, tree in _trees().items()
        for node in ast.walk(tree)
        for module in (
            [alias.name for alias in node.names]
            if isinstance(node, ast.Import)
            else [node.module or ""]
            if isinstance(node, ast.ImportFrom)
            else []
        )
        if module == "prognosis.models" or module.startswith("prognosis.models.")
    }
    assert imported == set()


def test_explain_names_no_estimator_class_of_the_registry() -> None:
    families = {estimator_class(name).__name__ for name in MODEL_NAMES}
    named = {
        (name, node.id if isinstance(node, ast.Name) else node.attr)
        for name, tree in _trees().items()
        for node in ast.walk(tree)
        if isinstance(node, ast.Name | ast.Attribute)
        and (node.id if isinstance(node, ast.Name) else node.attr) in families
    }
    assert named == set()
