"""Synthetic data stays out of the product: no production stage imports ``synth``.

Every ``import`` statement of every module (module level and inside functions)
of ``producers/``, ``ocr_agents/``, ``streams/``, ``serving/`` and ``ocrstream/`` is read from
its syntax tree; only the roof (the CLI, the demo) may import ``synth``.
"""

from __future__ import annotations

from tests.support import REPO
from tests.support.imports import imported_modules

STAGES = ("producers", "ocr_agents", "streams", "serving", "ocrstream")
ROOF = "ocrstream/cli/"  # the roof package (the CLI, the demo) composes every stage


def test_no_production_stage_imports_synth() -> None:
    offenders = []
    checked = 0
    for stage in STAGES:
        for path in sorted((REPO / stage).rglob("*.py")):
            rel = path.relative_to(REPO).as_posix()
            if rel.startswith(ROOF):
                continue
            checked += 1
            bad = sorted(m for m in imported_modules(path) if m == "synth" or m.startswith("synth."))
            if bad:
                offenders.append(f"{rel}: {', '.join(bad)}")
    assert checked > 80  # every stage's modules were read
    assert not offenders, "production code imports synthetic data:\n" + "\n".join(offenders)


def test_the_roof_uses_synth() -> None:
    """The check above can fail: the demo really imports synth (so an import in a stage would be seen)."""
    assert any(m.startswith("synth.") for m in imported_modules(REPO / "ocrstream" / "cli" / "demo.py"))
