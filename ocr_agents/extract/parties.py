"""The vendor: the business that issued the document, among its first lines.

Real receipts and invoices print the seller's name at the top, usually with its legal
form (``Sdn Bhd``, ``Ltd``, ``GmbH``, ``S.A.R.L.``, ``B.V.``, ``Sp. z o.o.`` ...), above its
registration number, address and phone; a shop's brand or branch line may stand above
or below it, and a long name may wrap over two or three lines. Each of the first
:data:`TOP_ROWS` rows (and runs of up to three rows that end in a legal form) is
scored::

    score = 1 - 0.06 * row index            # earlier is likelier
          + 1.0 if it ends in a legal form  # the registered name
          + 0.3 if it has a business word   # "trading", "restaurant", "hardware" ...
          + 0.4 * height / tallest height   # printed large
          + 0.2 if an address, registration or phone line follows within 2 rows
          - 0.3 if all lower case           # handwriting, a cashier's name

Skipped: rows holding a date, an amount, a label (``invoice``, ``tel``, ``cashier`` ...),
an address (house number, street word, postcode), contact details, or the customer's
block (rows after ``bill to`` / ``ship to`` / ``customer`` ...). The name is cut after
its legal form (registration numbers printed after it are dropped). Confidence: the
rows' OCR confidence x ``min(1, 0.4 + 0.3 * score)``.
"""

from __future__ import annotations

import re

from ocr_agents.extract.text import Row, letters_key, phrase_match

TOP_ROWS = 12

_LEGAL = re.compile(
    r"(?:\bsdn\.?\s*bhd\.?|\bberhad\b|\bbhd\.?|\bs/b\b|\bltd\.?|\blimited\b|\bllc\b|\binc\.?|\bcorp\.?|"
    r"\bcorporation\b|\bco\.(?=\s*$)|\bgmbh\b|\bag\b|\bkg\b|\bug\b|\be\.\s?k\.|\bs\.\s?a\.?(?:s\.?)?\b|"
    r"\bsarl\b|\bs\.a\.r\.l\.?|\bs\.?r\.?l\.?\b|\bs\.?p\.?a\.?\b|\bb\.\s?v\.?|\bn\.\s?v\.?|\bbv\b|"
    r"\bsp\.?\s*z\s*o\.?\s*o\.?|\bs\.\s?c\.|\bpty\.?\b|\bpte\.?\b|\bplc\b|\boy\b|\bab\b|\ba/s\b|\baps\b|\bkft\.?\b|"
    r"\bs\.\s?l\.?\b|\bsl\b|\bsas\b|\bsprl\b|\bbvba\b|\bsrl\b|\bspa\b|\bllp\b|\bpvt\.?\s*ltd\.?)",
    re.I)
_BUSINESS = re.compile(
    r"\b(?:enterprise|trading|restaurant|restoran|cafe|café|coffee|bakery|bakeries|hardware|stationery|store|"
    r"stores|shop|mart|market|supermarket|pharmacy|hotel|kitchen|food|foods|machinery|industries|services|"
    r"solutions|systems|group|holdings|international|boutique|gallery|books?|marketing|electrical|motors?|"
    r"station|centre|center|express|pizza|bistro|bar|pub|deli|studio|optical|clinic|agency|consulting|"
    r"handel|gesellschaft|magasin|boulangerie|winkel|sklep|tienda|negozio)\b", re.I)
_STREET = (r"jalan|jln|lorong|taman|street|st\.|road|rd\.?|avenue|ave\.?|boulevard|blvd|lane|drive|highway|"
           r"strasse|straße|str\.?|weg|platz|rue|chemin|straat|laan|plein|ulica|ul\.|calle|via|piazza|rua|floor|"
           r"flr|level|building|bldg|kompleks|bandar|seksyen|persiaran|kawasan|p\.?o\.?\s*box|suite|unit|lot")
# an address line: a street word with a number on the row, a leading house number or
# "No."/"Lot", a postcode (5 digits, NL "1234 AB", UK "SW1A 1AA"), or "digit," / ", digit"
_ADDRESS = re.compile(
    r"(?:^\s*(?:no\.?\s*\d|lot\b|unit\b|suite\b|blok\b|block\b|g-?\d|\d+[a-z]?[\s,/-])|"
    r"(?=.*\d)(?=.*\b(?:" + _STREET + r")\b)|\b\d{5}\b|\b\d{4}\s?[A-Z]{2}\b|\b[A-Z]{1,2}\d{1,2}[A-Z]?\s?\d[A-Z]{2}\b|"
    r",\s*\d|\d\s*,)", re.I)
_CONTACT = re.compile(r"\b(?:tel|phone|fax|mobile|hp|email|e-mail|www|http|gst|sst|reg|co\.?\s*no|company\s*no|"
                      r"tax\s*id|vat|nip|siret|ust|kvk|abn)\b|@|\(\s*\d{3,}[\w-]*\s*\)|\b\d{5,}-[A-Z]\b", re.I)
_NOT_VENDOR = ["invoice", "tax invoice", "simplified tax invoice", "receipt", "sales receipt", "official receipt",
               "bill to", "ship to", "date", "tel", "phone", "fax", "www", "email", "customer", "welcome",
               "cashier", "vat id", "page", "cash bill", "invoice no", "facture",
               "rechnung", "factuur", "faktura", "quittung", "ticket", "thank you"]
_MONEY_WORDS = ["total", "subtotal", "sub total", "amount", "qty", "price", "balance", "change", "cash"]
_CUSTOMER = ["bill to", "ship to", "sold to", "invoice to", "customer", "client", "deliver to", "billed to",
             "facture a", "rechnung an", "kunde", "klant", "nabywca", "cliente", "attention"]


def _clean(text: str) -> str:
    """Drop a document title glued to the name and what follows its legal form."""
    t = re.sub(r"\s*(tax\s*)?([il1|]?nv[o0]ice|receipt)\s*$", "", text.strip(), flags=re.I).strip(" :-|*")
    matches = list(_LEGAL.finditer(t))
    if matches:
        end = matches[-1].end()
        end += 1 if t[end:end + 1] == "." else 0
        tail = t[end:]
        if re.search(r"\d", tail) or not tail.strip(" .,)"):
            t = t[:end] + (")" if t[:end].count("(") > t[:end].count(")") else "")
    t = re.sub(r"\s*[\(\[]\s*[\w-]*\d{3,}[\w-]*\s*[\)\]]?\s*$", "", t)  # a trailing registration number
    return t.strip(" :-|*,")


def _skip(r: Row, date_rows: set[int]) -> bool:
    t = _clean(r.raw)
    letters = sum(c.isalpha() for c in t)
    if r.idx in date_rows or letters < 3 or letters / max(1, len(t.replace(" ", ""))) < 0.55:
        return True
    key = letters_key(t)
    if key.split()[:1] and any(phrase_match(" ".join(key.split()[:2]), x) >= 0.9 for x in _MONEY_WORDS):
        return True  # "Total Sales (Inc)", "Subtotal"
    return (any(phrase_match(key, x) >= 0.9 for x in _NOT_VENDOR) and not _LEGAL.search(t)) or bool(
        re.search(r"\d+[.,]\d{2}\b", t))


def _is_detail(r: Row) -> bool:
    """An address, registration or contact line (what follows a vendor's name)."""
    return bool(_ADDRESS.search(r.raw) or _CONTACT.search(r.raw))


def find_vendor(rows: list[Row], date_rows: set[int]) -> tuple[str | None, float, tuple[int, ...]]:
    """(vendor name, confidence, source row indices) or (None, 0, ())."""
    top = [r for r in rows[:TOP_ROWS] if r.page == rows[0].page]
    if not top:
        return None, 0.0, ()
    heights = [max(0.0, r.box[3] - r.box[1]) for r in top]
    max_h = max(heights) or 1.0
    customer_until = -1
    best: tuple[float, str | None, float, tuple[int, ...]] = (-9.0, None, 0.0, ())
    for i, r in enumerate(top):
        if any(phrase_match(letters_key(r.raw), x) >= 0.9 for x in _CUSTOMER):
            customer_until = i + 4
            continue
        if i <= customer_until or _skip(r, date_rows) or (_ADDRESS.search(r.raw) and not _LEGAL.search(r.raw)):
            continue
        if _CONTACT.search(r.raw) and not _LEGAL.search(r.raw):
            continue
        runs = [(i,)]
        # a long name wrapped over the next rows, ending in its legal form
        for j in (i + 1, i + 2):
            # (only when the legal form's row is no name of its own: at most 1 other word)
            if j < len(top) and not _LEGAL.search(r.raw) and _LEGAL.search(top[j].raw) and len(
                    re.sub(r"\(\s*\w\s*\)|\bco\b\.?|&", "", _LEGAL.sub("", top[j].raw)).split()) <= 1 and all(
                    not _skip(top[k], date_rows) and not _ADDRESS.search(_LEGAL.sub("", top[k].raw))
                    for k in range(i + 1, j + 1)):
                runs.append(tuple(range(i, j + 1)))
        for run in runs:
            text = " ".join(top[k].raw.strip() for k in run)
            name = _clean(text)
            own = re.sub(r"\(\s*\w\s*\)", "", _LEGAL.sub("", name))  # the name without legal forms, "(M)"
            if sum(c.isalpha() for c in own) < 4:
                continue
            s = 1.0 - 0.06 * i
            s += 1.0 if _LEGAL.search(name) else 0.0
            s += 0.3 if _BUSINESS.search(name) else 0.0
            s += 0.4 * max(heights[k] for k in run) / max_h
            s += 0.2 if any(_is_detail(x) for x in top[run[-1] + 1: run[-1] + 3]) else 0.0
            s -= 0.3 if name == name.lower() else 0.0
            s -= 0.03 * (len(run) - 1)
            if s > best[0]:
                conf = min(top[k].conf for k in run) * min(1.0, 0.4 + 0.3 * s)
                best = (s, name, conf, tuple(top[k].idx for k in run))
    return best[1], best[2], best[3]
