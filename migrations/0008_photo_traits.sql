-- migrate: no-transaction
-- migrate: replaces 78b9e2464b3aaff0702c12d58ed38fefd1478d922032bc3389ccfebe24c27930
-- What the photo checks learned from each stored image (README "Photo findings"), kept with the
-- photo so that a later attempt or another request finds it without decoding the image again.
-- NULL where nothing was measured (checks off, or the image could not be decoded: qa_error).
--
-- Outside a transaction, so that an upgrade never locks photos (issue 17); each statement can
-- run again after a crash. (Older databases applied the former text, in a transaction.)
ALTER TABLE photos
    ADD COLUMN IF NOT EXISTS phash          bigint,            -- 64-bit perceptual hash (DCT), as a signed int
    ADD COLUMN IF NOT EXISTS sharpness      real,              -- variance of the Laplacian, long side 512 px
    ADD COLUMN IF NOT EXISTS brightness     real,              -- mean luminance, 0-255
    ADD COLUMN IF NOT EXISTS exif_taken_at  timestamptz,       -- EXIF DateTimeOriginal (with its offset)
    ADD COLUMN IF NOT EXISTS exif_latitude  double precision,  -- EXIF GPS, WGS84 degrees
    ADD COLUMN IF NOT EXISTS exif_longitude double precision,
    ADD COLUMN IF NOT EXISTS qa_error       text;              -- why the image could not be checked

-- Exact reuse: the same bytes already stored for another request.
CREATE INDEX CONCURRENTLY IF NOT EXISTS photos_sha256 ON photos (sha256);

-- Near reuse: "a stored hash within distance k of this one" without scanning every photo.
-- The 64 bits are cut into 4 bands of 16. If two hashes differ in at most k bits, one band
-- differs in at most floor(k / 4) bits (pigeonhole), so probing each band's index with its value
-- (and, for k >= 4, the 16 values one bit away) finds every candidate; the distance is then
-- checked on the few rows found.
CREATE OR REPLACE FUNCTION phash_band(hash bigint, band integer) RETURNS integer
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN ((hash >> (16 * band)) & 65535)::integer;

CREATE INDEX CONCURRENTLY IF NOT EXISTS photos_phash_band0
    ON photos (phash_band(phash, 0)) WHERE phash IS NOT NULL;
CREATE INDEX CONCURRENTLY IF NOT EXISTS photos_phash_band1
    ON photos (phash_band(phash, 1)) WHERE phash IS NOT NULL;
CREATE INDEX CONCURRENTLY IF NOT EXISTS photos_phash_band2
    ON photos (phash_band(phash, 2)) WHERE phash IS NOT NULL;
CREATE INDEX CONCURRENTLY IF NOT EXISTS photos_phash_band3
    ON photos (phash_band(phash, 3)) WHERE phash IS NOT NULL;
