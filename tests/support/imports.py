"""The import graph of the checkout, read from syntax trees (nothing is imported).

:func:`imported_modules` reads every ``import`` statement of a file, at module
level and inside functions (``TYPE_CHECKING`` blocks included), with relative
imports resolved; ``from package import name`` counts as an import of
``package.name`` when that is a module of the checkout.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from tests.support import REPO

#: The packages of the product, each one folder of the checkout.
PACKAGES = ("ocrstream", "producers", "ocr_agents", "streams", "serving", "synth")


def module_name(path: Path, root: Path = REPO) -> str:
    """``producers/cli.py`` -> ``producers.cli``; ``serving/__init__.py`` -> ``serving``."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def module_path(name: str, root: Path = REPO) -> Path | None:
    """The file of module (or package) ``name`` in the checkout, or ``None``."""
    base = root.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def product_modules(root: Path = REPO) -> Iterator[tuple[str, Path]]:
    """``(module name, file)`` of every module of :data:`PACKAGES`, sorted."""
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            yield module_name(path, root), path


def imported_modules(path: Path, root: Path = REPO) -> set[str]:
    """Absolute names of the modules ``path`` imports anywhere in its code."""
    name = module_name(path, root)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            names.add(base)
            for alias in node.names:
                if module_path(f"{base}.{alias.name}", root) is not None:
                    names.add(f"{base}.{alias.name}")
    return names
