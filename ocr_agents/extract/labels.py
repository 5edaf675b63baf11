"""Label vocabularies of receipts and invoices, lower-case letters-only (see
:func:`ocr_agents.extract.text.letters_key`), in English, French, German, Dutch, Polish,
Spanish, Italian, Portuguese and Malay. Matching is fuzzy (one edit per word of 4+
letters), so accents and OCR slips need no extra entries."""

TOTAL_LABELS: list[str] = [
    "grand total", "total due", "amount due", "balance due", "total amount", "total to pay", "amount payable",
    "total payable", "total", "balance", "to pay", "due", "nett total", "net total incl", "total incl", "total inclusive",
    "total sales", "total rm", "jumlah", "jumlah besar", "amt due", "total amt", "amt payable", "nett amt",
    "net amount due", "total after adj", "total incl gst", "total gst incl", "rounded total", "total rounded",
    "total ttc", "montant ttc", "montant total", "net a payer", "a payer", "total a payer",  # fr
    "gesamtbetrag", "gesamt", "summe", "endbetrag", "rechnungsbetrag", "zu zahlen", "zahlbetrag", "brutto",  # de
    "totaal", "totaalbedrag", "te betalen", "totaal incl",  # nl
    "razem", "do zaplaty", "suma", "razem do zaplaty", "wartosc brutto",  # pl
    "importe total", "total a pagar", "totale", "importo totale", "valor total",  # es, it, pt
]
SUBTOTAL_LABELS: list[str] = [
    "subtotal", "sub total", "net amount", "net total", "total net", "total excl", "total excluding", "net",
    "total before tax", "amount before tax", "total ht", "montant ht", "sous total", "zwischensumme", "nettobetrag",
    "netto", "summe netto", "subtotaal", "totaal excl", "wartosc netto", "razem netto", "base imponible",
    "imponibile", "total exclusive",
]
TAX_LABELS: list[str] = [
    "sales tax", "tax", "vat", "gst", "sst", "hst", "pst", "qst", "mwst", "tva", "iva", "ust", "btw", "tax amount",
    "vat amount", "total gst", "gst amount", "service tax", "umsatzsteuer", "mehrwertsteuer", "podatek", "kwota vat",
    "montant tva", "impuesto", "imposta",
]
# labels that contain a total/tax word but are something else
NOT_TOTAL: list[str] = [
    "subtotal", "sub total", "total tax", "tax total", "total items", "total item", "total qty", "total quantity",
    "total savings", "total discount", "total net", "net total excl", "total excl", "total before", "items total",
    "total vat", "total gst", "gst summary", "total saving", "total excluding", "total ht", "total qty tender",
    "total number", "total pcs", "total units", "no of items", "total exclusive", "total excl gst",
]
# words of a line-items table's column headings ("Item Qty S/Price Amount Tax",
# "Description Qty Price Total"): a row with two or more of them is a table header, and
# its last heading ("Tax", "Total") labels a column, not the amount on the row below
COLUMN_HEADINGS: frozenset[str] = frozenset({
    "item", "items", "qty", "quantity", "price", "unit", "amount", "amt", "description", "desc", "uom", "code",
    "rate", "disc", "sku", "article", "menge", "preis", "betrag", "artikel", "prix", "quantite", "designation",
    "cantidad", "precio", "importe", "ilosc", "cena", "kuantiti", "harga", "jumlah",
})
# headings of the tax analysis table printed under the totals; its rows are no totals
SUMMARY: list[str] = ["gst summary", "tax summary", "vat summary", "summary", "tax analysis", "vat analysis",
                      "mwst uebersicht", "btw overzicht", "tva recapitulatif"]
# a label with one of these words is the total including tax, whatever else it names
INCLUSIVE: list[str] = ["incl", "inclusive", "inkl", "ttc", "brutto", "incluido"]
NOT_TAX: list[str] = [
    "vat id", "vat no", "vat number", "vat reg", "tax id", "tax no", "tax number", "tax invoice", "gst no", "gst reg",
    "gst id", "abn", "ust id", "ust idnr", "tva intra", "incl", "inclusive", "gst summary", "tax code", "steuernummer",
    "btw nummer", "nip", "sst reg", "sst no", "simplified tax invoice", "gst reg no",
]
PAYMENT: list[str] = [
    "cash", "change", "tendered", "card", "visa", "mastercard", "amex", "debit", "credit", "paid", "tip", "payment",
    "payment terms", "iban", "customer paid", "amount paid", "amount tendered", "cash tendered", "balance change",
    "especes", "rendu", "monnaie", "bar", "gegeben", "ruckgeld", "contant", "wisselgeld", "pin", "gotowka",
    "reszta", "karta", "efectivo", "cambio", "tunai", "baki",
]
CHANGE: list[str] = ["change", "balance change", "change due", "rendu", "monnaie", "ruckgeld", "wisselgeld", "reszta",
                     "cambio", "baki"]
TENDERED: list[str] = ["cash", "tendered", "cash tendered", "amount tendered", "customer paid", "amount paid",
                       "paid", "especes", "gegeben", "bar", "contant", "gotowka", "efectivo", "tunai"]
ROUNDING: list[str] = ["rounding", "rounding adj", "rounding adjustment", "round adj", "round off", "adjustment",
                       "arrondi", "rundung", "afronding", "zaokraglenie", "redondeo", "pelarasan"]
