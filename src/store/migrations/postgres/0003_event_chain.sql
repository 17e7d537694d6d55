-- Tamper evidence (see store/chain.rs), as sqlite/0003.

-- SHA-256 (hex) over the previous event's hash and this event's stored content.
ALTER TABLE events ADD COLUMN hash TEXT;

-- The release id the hashes were computed with: its id in the store that recorded it.
-- NULL means this store; an imported release keeps its origin's id here.
ALTER TABLE releases ADD COLUMN origin_id BIGINT;

-- Per release, the last seq written before chain support. Only these events may lack a hash.
CREATE TABLE unchained (
    release_id   BIGINT  PRIMARY KEY REFERENCES releases(id),
    through_seq  BIGINT  NOT NULL
);
INSERT INTO unchained (release_id, through_seq)
    SELECT release_id, max(seq) FROM events GROUP BY release_id;
