-- Tamper evidence (see store/chain.rs). Only adds: events written before this migration keep
-- a NULL hash and still load; `flightdeck verify` calls them unchained, not tampered.

-- SHA-256 (hex) over the previous event's hash and this event's stored content.
ALTER TABLE events ADD COLUMN hash TEXT;

-- The release id the hashes were computed with: its id in the store that recorded it.
-- NULL means this store; an imported release keeps its origin's id here.
ALTER TABLE releases ADD COLUMN origin_id INTEGER;

-- Per release, the last seq written before chain support (by this migration, or in the store
-- an imported release came from). Only these events may lack a hash.
CREATE TABLE unchained (
    release_id   INTEGER PRIMARY KEY REFERENCES releases(id),
    through_seq  INTEGER NOT NULL
);
INSERT INTO unchained (release_id, through_seq)
    SELECT release_id, max(seq) FROM events GROUP BY release_id;
