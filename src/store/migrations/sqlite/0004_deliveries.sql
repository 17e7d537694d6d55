-- Webhook deliveries (see notify.rs): every attempt to tell a plan's [[notify]] hook about an
-- event, and how it went. Not events: a failed webhook never changes a release's state.

CREATE TABLE deliveries (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    release_id  INTEGER NOT NULL REFERENCES releases(id),
    -- The event notified about.
    seq         INTEGER NOT NULL,
    -- The event kind as notified (started, gate_passed, ...).
    event       TEXT    NOT NULL,
    -- The hook's URL with secrets shown as ***.
    target      TEXT    NOT NULL,
    format      TEXT    NOT NULL,
    -- 1 for the first try, then 2, 3 on retries.
    attempt     INTEGER NOT NULL,
    at          INTEGER NOT NULL,
    ok          INTEGER NOT NULL,
    -- The HTTP status, if one came back.
    status      INTEGER,
    error       TEXT
);

CREATE INDEX deliveries_by_release ON deliveries(release_id, seq);
