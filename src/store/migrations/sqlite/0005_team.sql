-- Team mode: who has a cockpit open on which release, and which one process drives it
-- (runs actions and automated decisions). Both are soft state with expiries; the event log
-- stays the only record of what happened.

CREATE TABLE presence (
    id          TEXT    PRIMARY KEY,        -- host:pid
    release_id  INTEGER,
    operator    TEXT    NOT NULL,
    account     TEXT    NOT NULL,
    host        TEXT    NOT NULL,
    pid         INTEGER NOT NULL,
    tty         TEXT    NOT NULL,
    read_only   INTEGER NOT NULL,
    started_at  INTEGER NOT NULL,
    last_seen   INTEGER NOT NULL
);

CREATE TABLE leases (
    release_id  INTEGER PRIMARY KEY REFERENCES releases(id),
    holder      TEXT    NOT NULL,           -- host:pid
    operator    TEXT    NOT NULL,
    host        TEXT    NOT NULL,
    pid         INTEGER NOT NULL,
    acquired_at INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
);
