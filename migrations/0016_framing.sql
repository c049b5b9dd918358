-- The spec's framing rules (docs/findings.md). Nullable columns without defaults: adding
-- them changes only the catalog, however big the tables.
--
-- The PTO reference the message declares (CR_STOC field `referencePTO`, optional).
ALTER TABLE photo_requests ADD COLUMN reference_pto text;

-- What the review read on a PTO photo's label. label_method: 'barcode' or 'ocr' when a
-- reference was read, 'none' when it was looked for and none could be read, NULL when it was
-- not looked for (not a PTO photo, or not reviewed yet). No CHECK constraint: on a big table,
-- adding one would scan every row under an exclusive lock.
ALTER TABLE photos
    ADD COLUMN label_text       text,       -- the reference read, as the pattern settles it
    ADD COLUMN label_box        integer[],  -- x0, y0, x1, y1 in pixels of the upright photo
    ADD COLUMN label_method     text,
    ADD COLUMN label_confidence real;       -- 1 for a barcode; the OCR's score
