"""Field extraction on real receipt layouts: text fixtures transcribed from SROIE dev-set
receipts (several TOTAL-like amounts, rounding, cash and change, RM amounts, an address
above the date, vendor names wrapped over lines with registration numbers), and from
invoice conventions of several countries."""

from __future__ import annotations

import pytest

from ocr_agents.extract import extract_fields
from ocr_agents.types import OcrLine


def _extract(text: str):
    lines = [OcrLine(t, 0.95, (10.0, 30.0 * i, 400.0, 30.0 * i + 22), 0) for i, t in enumerate(text.split("\n"))]
    return extract_fields(lines, text)


# SROIE 001: a cashier's name above the shop, total before rounding, "RM" on its own row
GIFT_SHOP = """tan woon yann
INDAH GIFT & HOME DECO
27,JALAN DEDAP 13
TAMAN JOHOR JAYA,
81100 JOHOR BAHRU,JOHOR.
Tel:07-3507405 Fax:07-3558160
RECEIPT
19/10/2018 20:49:59 #01
Cashier: CN Location/SP: 05 /0531
Desc/Item Qty Price Amt(RM)
GF-TABLE LAMP/STITCH <i>
62483 55.90 55.90
@DISC 10.00% -5.59
#Total Qty 2
TOTAL AMT. RM 60.31
ROUNDING ADJ. -0.01
RM 60.30
CASH.. RM 70.30
CHANGE. RM 10.00
Thank You ! Please Come Again"""

# SROIE 186: total incl. GST, a rounding row that holds the rounded total, credit card
SPEED_MART = """99 SPEED MART S/B (519537-X)
LOT P.T. 2811, JALAN ANGSA,
TAMAN BERKELEY
41150 KLANG, SELANGOR
1132-MINI MART BKT RAJA
GST ID. : 000181747712
INVOICE NO. : 16757/102/T0132
07-02-18 11:23AM
2471 888 LYCHEES IN SYRUP 5 RM10.14 s
270 CSR GULA 12*1KG^ RM35.20 z
Total Sales (Inclusive GST) RM 45.34
Rounding Adjustment RM .01
Rounding RM 45.35
CREDIT RM 45.35
CHANGE RM .00
GST Summary Amount(RM) Tax(RM)
S = 6% 9.57 0.57
Z = 0% 35.20 0.00"""

# SROIE 011: the registered name wrapped over three lines, a registration number below it
HARDWARE = """AIK HUAT HARDWARE
ENTERPRISE (SETIA
ALAM) SDN BHD
822737-X
NO. 17-G, JALAN SETIA INDAH
(X) U13/X, SETIA ALAM,
SEKSYEN U13, 40170 SHAH ALAM
TEL: 012 - 6651783 FAX: 03 - 33623608
GST NO: 000394528768
SIMPLIFIED TAX INVOICE
RECEIPT #: CSP0393921 DATE: 15/06/2017
2000160000024 1 15.00 15.00
SUB-TOTAL (GST) 15.00
DISC 0.00
ROUNDING 0.00
TOTAL 15.00
CASH 15.00
CHANGE 0.00
GST SUMMARY
CODE AMOUNT % TAX/AMT
SR 14.15 6 0.85
TAX TOTAL: 0.85"""

# SROIE 161: amounts glued to "RM", tax included in the total, cash and change
BAKERY = """NADEJE PRESTIGE SDN BHD
(1142058-D)
LOT NO.:G1.116A,GROUND FLOOR,
GST ID:000182431744
22 Feb 18 13:11
Original Slice 2 RM26.00
DoubleChoc Slice RM13.00
Grand Total RM39.00
(Bill Inclusive of 6% GST : RM2.21)
Cash RM50.00
Change RM11.00"""


def test_total_after_rounding_cashier_name_and_rm():
    r = _extract(GIFT_SHOP)
    assert r.values["total"] == 60.30  # after rounding: what the customer owed (= cash - change)
    assert r.values["vendor"] == "INDAH GIFT & HOME DECO"  # not the handwritten name above it
    assert r.values["date"] == "2018-10-19" and r.values["currency"] == "MYR"
    assert r.fields["vendor"].raw_text == "INDAH GIFT & HOME DECO" and r.fields["vendor"].box == (10.0, 30.0, 400.0, 52.0)


def test_rounding_row_holding_the_total_and_registration_number_dropped():
    r = _extract(SPEED_MART)
    assert r.values["total"] == 45.35 and r.values["date"] == "2018-02-07"
    assert r.values["vendor"] == "99 SPEED MART S/B"
    assert r.fields["total"].raw_text in ("Rounding RM 45.35", "CREDIT RM 45.35")


def test_wrapped_vendor_name_and_tax_summary_ignored():
    r = _extract(HARDWARE)
    assert r.values["vendor"] == "AIK HUAT HARDWARE ENTERPRISE (SETIA ALAM) SDN BHD"
    assert r.fields["vendor"].raw_text == "AIK HUAT HARDWARE\nENTERPRISE (SETIA\nALAM) SDN BHD"
    assert r.fields["vendor"].box == (10.0, 0.0, 400.0, 82.0)  # the three rows
    assert r.values["total"] == 15.0 and r.values["date"] == "2017-06-15"


def test_glued_rm_amounts_and_month_name_with_two_digit_year():
    r = _extract(BAKERY)
    assert r.values["total"] == 39.0 and r.values["currency"] == "MYR"
    assert r.values["date"] == "2018-02-22" and r.values["vendor"] == "NADEJE PRESTIGE SDN BHD"
    assert [i.amount for i in r.line_items] == [26.0, 13.0]


@pytest.mark.parametrize("text,total,date,currency", [
    ("Musterfirma GmbH\nHauptstr. 5, 10115 Berlin\nRechnungsdatum: 20.10.2015\nNettobetrag 100,00 EUR\n"
     "MwSt 19% 19,00 EUR\nGesamtbetrag 119,00 EUR", 119.0, "2015-10-20", "EUR"),
    ("Boulangerie Martin SARL\n12 rue de la Paix, 75002 Paris\nFacture du 20/10/2015\nTotal HT 50,00 €\n"
     "TVA 20% 10,00 €\nTotal TTC 60,00 €", 60.0, "2015-10-20", "EUR"),
    ("Bakkerij de Vries B.V.\nDamstraat 1, 1012 JS Amsterdam\nFactuurdatum 2015-10-20\nSubtotaal 10,00\n"
     "BTW 21% 2,10\nTotaal 12,10 EUR", 12.10, "2015-10-20", "EUR"),
    ("Sklep Kowalski Sp. z o.o.\nul. Polna 3, 00-001 Warszawa\nData 20.10.2015\nRazem netto 100,00 zł\n"
     "VAT 23% 23,00 zł\nRazem 123,00 zł", 123.0, "2015-10-20", "PLN"),
    ("Acme Widgets Inc.\n500 Market Street, San Francisco CA 94105\nInvoice date: March 20, 2023\n"
     "Subtotal $1,200.00\nSales tax $99.00\nAmount due $1,299.00", 1299.0, "2023-03-20", "USD"),
])
def test_invoice_labels_and_dates_of_several_countries(text, total, date, currency):
    r = _extract(text)
    assert (r.values["total"], r.values["date"], r.values["currency"]) == (total, date, currency)
    assert r.values["vendor"] == text.split("\n")[0]


def test_article_code_before_price_is_no_quantity():
    r = _extract(GIFT_SHOP)
    lamp = [i for i in r.line_items if i.amount == 55.9]
    assert lamp and (lamp[0].quantity, lamp[0].unit_price) == (1.0, 55.9)
    assert lamp[0].raw_text == "GF-TABLE LAMP/STITCH <i>\n62483 55.90 55.90"


# a line-items table whose header ends in a field word ("Tax"), each item's code and numbers
# on a row of their own above its description (a machinery shop's cash sale)
TABLE_HEADER = """SOON HUAT MACHINERY ENTERPRISE
NO.53 JALAN PUTRA 1,
TAMAN SRI PUTRA,
81200 JOHOR BAHRU
CASH SALES
Doc No. : CS00004040 Date: 11/01/2019
Item Qty S/Price S/Price Amount Tax
1072 80.00 80.00 80.00
REPAIR ENGINE POWER SPRAYER (1UNIT)
70549 1 160.00 160.00 160.00
ENGINE OIL
70791 1 10.00 10.00 10.00
Total Qty: 3 250.00
Total Sales : 250.00
CASH : 250.00"""


def test_a_table_header_is_no_label_for_the_row_below():
    r = _extract(TABLE_HEADER)
    assert r.values["tax"] is None  # "Tax" names a column; 80.00 is the first item's amount
    assert r.values["total"] == 250.0 and r.values["date"] == "2019-01-11"
    assert r.values["vendor"] == "SOON HUAT MACHINERY ENTERPRISE"
