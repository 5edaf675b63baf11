-- Real documents (issue 10): where each extracted field was read, so a document
-- view can highlight it on the page image.
--
-- field_evidence: JSON object, field name (vendor, date, currency, subtotal, tax,
-- total) -> {"value", "confidence", "raw_text", "page", "box": [x0, y0, x1, y1]};
-- a field that was not found has no key; page -1 / box [] = derived from other
-- fields. page_sizes: JSON array, per page, {"width", "height"}: the pixel frame
-- of every box (lines, line_items, field_evidence): the page image as decoded
-- (EXIF applied) or the PDF page rendered at ocr.pdf_dpi. Rows written before
-- this migration read '{}' / '[]'. Same shape as OcrResult.field_evidence /
-- page_sizes (schemas/OcrResult.avsc).

ALTER TABLE documents ADD COLUMN IF NOT EXISTS field_evidence String DEFAULT '{}'
    COMMENT 'JSON object: field -> {value, confidence, raw_text, page, box}';

ALTER TABLE documents ADD COLUMN IF NOT EXISTS page_sizes String DEFAULT '[]'
    COMMENT 'JSON array of {width, height}: the pixel frame of every box, per page';
