-- Probe readings, so a second cockpit, the CLI and the report see the numbers the driving
-- cockpit saw. Bounded: inserts prune each series to its newest rows (see store/samples.rs).
-- A row has a value, or an error (the probe failed), or neither (the source had no data).

CREATE TABLE samples (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    release_id  INTEGER NOT NULL REFERENCES releases(id),
    -- The [[metrics]] or [[health]] id (unique across both in a plan).
    series      TEXT    NOT NULL,
    -- 'metric' or 'health' (for health, value is the round trip in milliseconds).
    kind        TEXT    NOT NULL,
    at          INTEGER NOT NULL,
    value       REAL,
    error       TEXT
);

CREATE INDEX samples_by_series ON samples(release_id, series, id);
CREATE INDEX samples_by_time ON samples(release_id, at);
