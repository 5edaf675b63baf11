"""Consistency checks between fields, their effect on confidences, and the document score.

Checks: ``subtotal + tax == total`` (to 0.015), ``sum(line amounts) == subtotal`` (or
``== total`` when there is no subtotal), tax rate ``tax / subtotal`` in (0, 30 %], date
year in [2000, this year + 1]; a check runs only on values read from the page (not
derived). Each check a field takes part in moves its confidence::

    passed: c = c + (1 - c) / 2   # halve the remaining doubt
    failed: c = 0.7 * c

Document score in [0, 1], a weighted mean of field confidences with penalties::

    score = sum(w_f * c_f) / sum(w_f) * 0.8 ** n_failed_checks
    w = {total: .35, date: .20, vendor: .15, subtotal: .10, tax: .10, currency: .10}
"""

from __future__ import annotations

from typing import Any

from ocr_agents.extract.amounts import close
from ocr_agents.extract.totals import Cand
from ocr_agents.types import FIELD_NAMES

WEIGHTS: dict[str, float] = {"total": 0.35, "date": 0.20, "vendor": 0.15, "subtotal": 0.10, "tax": 0.10,
                             "currency": 0.10}


def boost(c: float, passed: bool) -> float:
    """A confidence after one check (see module docstring)."""
    return c + (1.0 - c) * 0.5 if passed else c * 0.7


def run_checks(conf: dict[str, float], t: Cand | None, s: Cand | None, x: Cand | None,
               items: list[dict[str, Any]], items_sum: float | None, date_plausible: bool | None) -> dict[str, bool]:
    """Run every applicable check, updating ``conf`` (and the items' confidences) in place."""
    checks: dict[str, bool] = {}
    if t and s and x and not (t.derived or s.derived or x.derived):
        ok = close(s.value + x.value, t.value)
        checks["subtotal_plus_tax_eq_total"] = ok
        for n in ("total", "subtotal", "tax"):
            conf[n] = boost(conf[n], ok)
    if items_sum is not None:
        ref = ("subtotal", s) if s is not None and not s.derived else ("total", t)
        if ref[1] is not None and not ref[1].derived:
            ok = close(items_sum, ref[1].value)
            checks[f"items_sum_eq_{ref[0]}"] = ok
            conf[ref[0]] = boost(conf[ref[0]], ok)
            for it in items:
                it["confidence"] = round(boost(it["confidence"], ok), 4)
    if s and x and s.value > 0:
        ok = 0 < x.value / s.value <= 0.3
        checks["tax_rate_plausible"] = ok
        conf["tax"] = boost(conf["tax"], ok)
    if date_plausible is not None:
        checks["date_plausible"] = date_plausible
        conf["date"] = boost(conf["date"], date_plausible)
    return checks


def document_score(conf: dict[str, float], checks: dict[str, bool]) -> float:
    """The weighted score of the module docstring, in [0, 1]."""
    n_failed = sum(not v for v in checks.values())
    score = sum(WEIGHTS[k] * conf.get(k, 0.0) for k in FIELD_NAMES) / sum(WEIGHTS.values()) * 0.8 ** n_failed
    return round(max(0.0, min(1.0, score)), 4)
