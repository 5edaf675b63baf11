"""Where ocrstream finds its bundled data (Avro schemas, SQL migrations).

In a checkout (editable install) they are the repo's ``schemas/`` and
``clickhouse/`` folders; in a built wheel they are packaged under
``ocrstream/_data/`` (see pyproject's force-include).
"""

from __future__ import annotations

from pathlib import Path

_PKG = Path(__file__).resolve().parent
#: The checkout (the folder above the package): bundled data in an editable install, dev caches.
REPO_ROOT = _PKG.parent


def _find(name: str) -> Path:
    for candidate in (REPO_ROOT / name, _PKG / "_data" / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"ocrstream data folder {name!r} not found next to {_PKG}")


def schemas_dir() -> Path:
    """Folder of ``*.avsc`` files (current versions; ``history/`` holds older ones)."""
    return _find("schemas")


def migrations_dir() -> Path:
    """Folder of ``NNN_name.sql`` ClickHouse migrations."""
    return _find("clickhouse")
