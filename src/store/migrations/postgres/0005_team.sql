-- Team mode, as sqlite/0005: who has a cockpit open on which release, and which one process
-- drives it. Soft state with expiries; the event log stays the only record of what happened.

CREATE TABLE presence (
    id          TEXT    PRIMARY KEY,        -- host:pid
    release_id  BIGINT,
    operator    TEXT    NOT NULL,
    account     TEXT    NOT NULL,
    host        TEXT    NOT NULL,
    pid         BIGINT  NOT NULL,
    tty         TEXT    NOT NULL,
    read_only   BIGINT  NOT NULL,
    started_at  BIGINT  NOT NULL,
    last_seen   BIGINT  NOT NULL
);

CREATE TABLE leases (
    release_id  BIGINT  PRIMARY KEY REFERENCES releases(id),
    holder      TEXT    NOT NULL,           -- host:pid
    operator    TEXT    NOT NULL,
    host        TEXT    NOT NULL,
    pid         BIGINT  NOT NULL,
    acquired_at BIGINT  NOT NULL,
    expires_at  BIGINT  NOT NULL
);
