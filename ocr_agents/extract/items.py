"""Line items: ``description [qty] [unit price] amount`` rows above the totals."""

from __future__ import annotations

import re
from typing import Any

from ocr_agents.extract.amounts import Amount, close, find_amounts, readings
from ocr_agents.extract.labels import PAYMENT, SUBTOTAL_LABELS, TOTAL_LABELS
from ocr_agents.extract.text import Row, letters_key, phrase_match


def _item_from_numbers(desc: str, nums: list[Amount], lead_qty: float | None) -> tuple[dict, float] | None:
    """Item dict and a parse quality from the numbers of an item row (amount last)."""
    if not nums or not nums[-1].two_decimals:
        return None
    amount = nums[-1].value
    qty, unit, q = lead_qty, None, 0.75
    if len(nums) >= 3:
        qv, uv = nums[-3].value, nums[-2].value
        if close(qv * uv, amount):
            qty, unit, q = qv, uv, 1.0
        elif lead_qty is None and close(uv, amount):  # "62483 55.90 55.90": an article code, one unit
            qty, unit, q = 1.0, uv, 0.9
        elif lead_qty is None:
            qty, unit, q = qv, uv, 0.6
    if unit is None and len(nums) >= 2:
        a = nums[-2].value
        if qty is not None and close(qty * a, amount):
            unit, q = a, 1.0
        elif close(a, amount):
            qty, unit, q = 1.0, a, 0.9
        elif a.is_integer() and a > 0 and not nums[-2].two_decimals and qty is None:
            qty, unit, q = a, round(amount / a, 2), 0.7
        else:
            unit, q = a, 0.5
    if qty is None:
        qty = 1.0
    if unit is None:
        unit = round(amount / qty, 2) if qty else amount
        if qty != 1.0 and not close(unit * qty, amount):
            q = min(q, 0.5)
    return {"description": desc, "quantity": float(qty), "unit_price": float(unit), "amount": float(amount)}, q


def _parse_item_row(text: str) -> tuple[dict, float] | None:
    """One line item from a row like ``desc [qty] [unit] amount``, ``2 x desc amount``,
    ``desc 2 @ 3.50 7.00`` or ``2 x 3.50 7.00`` (desc empty). Tries plain and
    space-joined number readings and keeps the most consistent."""
    best: tuple[dict, float] | None = None
    for nums in readings(text):
        if not nums:
            continue
        lead_qty = None
        t = text
        m = re.match(r"^\s*(\d{1,3})\s*[xX×*]\s+(?=\D)", t)
        if m:
            lead_qty = float(m.group(1))
            nums = [n for n in nums if n.start >= m.end()]
            t = t[m.end():]
            nums = [Amount(n.value, n.start - m.end(), n.end - m.end(), n.two_decimals, n.spaced) for n in nums]
        desc_end = nums[0].start if nums else len(t)
        desc = t[:desc_end]
        desc = re.sub(r"\s*(\d+\s*[xX×@*]|[xX×@*])\s*$", "", desc).strip(" :-.$€£")
        m2 = re.search(r"(?<![\w.,])(\d{1,3})\s*[xX×@*]\s*[\d$€£]", t)
        if m2 and len(nums) == 2:
            nums = [Amount(float(m2.group(1)), 0, 0, False)] + nums
        got = _item_from_numbers(desc, nums, lead_qty)
        if got and (best is None or got[1] > best[1]):
            best = got
    return best


def line_items(rows: list[Row], start: int, end: int) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    pending_desc: Row | None = None
    for r in rows[start:end]:
        key = letters_key(r.text)
        if any(phrase_match(key, x) >= 0.9 for x in PAYMENT + TOTAL_LABELS + SUBTOTAL_LABELS):
            pending_desc = None
            continue
        if re.fullmatch(r"[\s\-=*_.~#]*", r.text):
            pending_desc = None
            continue
        got = _parse_item_row(r.text)
        if got is None:
            letters = sum(c.isalpha() for c in r.text)
            pending_desc = r if letters >= 3 and not find_amounts(r.text) else None
            continue
        item, q = got
        conf = r.conf
        item["_rows"] = (r.idx,)
        if not item["description"] and pending_desc is not None:
            item["description"] = pending_desc.raw.strip()
            conf = (conf + pending_desc.conf) / 2
            item["_rows"] = (pending_desc.idx, r.idx)
        pending_desc = None
        if not item["description"] or sum(c.isalpha() for c in item["description"]) < 2:
            continue
        item["confidence"] = round(conf * q, 4)
        items.append(item)
    return items

