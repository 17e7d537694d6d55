-- The first schema. Migrations only ever add: a newer flightdeck must open an older store.

CREATE TABLE releases (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    service       TEXT    NOT NULL,
    environment   TEXT    NOT NULL,
    version       TEXT    NOT NULL,
    release_type  TEXT    NOT NULL,
    plan_path     TEXT    NOT NULL,
    plan_toml     TEXT    NOT NULL,
    created_at    INTEGER NOT NULL,
    -- A cache of the fold, updated in the same transaction as each append.
    status        TEXT    NOT NULL,
    last_seq      INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);

CREATE TABLE events (
    release_id  INTEGER NOT NULL REFERENCES releases(id),
    seq         INTEGER NOT NULL,
    at          INTEGER NOT NULL,
    actor       TEXT    NOT NULL,
    account     TEXT    NOT NULL,
    host        TEXT    NOT NULL,
    pid         INTEGER NOT NULL,
    automatic   INTEGER NOT NULL,
    kind        TEXT    NOT NULL,
    schema      INTEGER NOT NULL,
    payload     TEXT    NOT NULL,
    PRIMARY KEY (release_id, seq)
) WITHOUT ROWID;

-- Folded state at some seq, so opening a long release reads only the tail. A cache: it is
-- ignored when its engine version differs, and rebuilt from events.
CREATE TABLE snapshots (
    release_id      INTEGER PRIMARY KEY REFERENCES releases(id),
    seq             INTEGER NOT NULL,
    engine_version  INTEGER NOT NULL,
    state           TEXT    NOT NULL
);

CREATE INDEX releases_by_status ON releases(status, id);

-- Events are append-only: no verb may edit or delete one.
CREATE TRIGGER events_no_update BEFORE UPDATE ON events
BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;
CREATE TRIGGER events_no_delete BEFORE DELETE ON events
BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;
