-- migrate: no-transaction
-- pto_reference_elsewhere: "the PTO photos that read this reference" as an index probe. The key
-- writes O, I, S, B as 0, 1, 5, 8, as worker/findings/label_lookup.py asks for it, so that a
-- reference read with one twin for the other is still found. Built without locking photos.
CREATE INDEX CONCURRENTLY IF NOT EXISTS photos_label_key
    ON photos (translate(label_text, 'OISB', '0158')) WHERE label_text IS NOT NULL;
