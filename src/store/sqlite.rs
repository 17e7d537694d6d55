//! SQLite through sqlx: opening (WAL, full sync, busy timeout, mode 0600, embedded
//! migrations), appending events with optimistic concurrency, and loading a release from its
//! latest snapshot plus the events after it.

use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use sqlx::Row;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};

use super::{Loaded, ReleaseRow, StoreError, chain, is_active};
use crate::plan;
use crate::release::{self, Event, EventRecord, SCHEMA_VERSION, State, Timestamp};

/// Bumped whenever `State`'s shape changes, so stale snapshots are ignored.
pub const ENGINE_VERSION: i64 = 1;

/// How many events may follow a snapshot before a new one is written.
const SNAPSHOT_EVERY_EVENTS: u64 = 256;

/// How long a writer waits for another's lock before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// An open store.
#[derive(Debug, Clone)]
pub struct Store {
    pool: SqlitePool,
    path: PathBuf,
    read_only: bool,
}

impl Store {
    /// Opens (creating if needed, with mode 0600) the database at `path` and migrates it.
    /// With `read_only`, the file must exist and nothing is ever written.
    pub async fn open(path: &Path, read_only: bool) -> Result<Self, StoreError> {
        if read_only {
            if !path.exists() {
                return Err(StoreError::NotFound(format!(
                    "no database at {}; start a release first, or pass --db",
                    path.display()
                )));
            }
        } else {
            create_private(path)?;
        }
        let base = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(false)
            .read_only(read_only)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        // A read-only connection must not try to switch the journal mode.
        let options = if read_only {
            base
        } else {
            base.journal_mode(SqliteJournalMode::Wal).synchronous(SqliteSynchronous::Full)
        };
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await
            .map_err(|e| StoreError::from_sqlx(path, e))?;
        let store = Self { pool, path: path.to_path_buf(), read_only };
        match store.check_and_migrate().await {
            Ok(()) => Ok(store),
            Err(e) => {
                // Close before reporting, so a refused file is left exactly as it was found
                // (no WAL beside it) by the time the caller looks.
                store.close().await;
                Err(e)
            }
        }
    }

    async fn check_and_migrate(&self) -> Result<(), StoreError> {
        // Touch the schema first, so a file that is not a database is reported before
        // anything tries to write to it.
        sqlx::query("SELECT count(*) FROM sqlite_master")
            .fetch_one(&self.pool)
            .await
            .map_err(|e| self.err(e))?;
        if !self.read_only {
            sqlx::migrate!("src/store/migrations")
                .run(&self.pool)
                .await
                .map_err(|e| self.err(e.into()))?;
        }
        Ok(())
    }

    /// Closes every connection, checkpointing the WAL so the file stands on its own.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether this store was opened read-only.
    pub fn is_read_only(&self) -> bool {
        self.read_only
    }

    /// The connection pool, for the other tables' methods (samples).
    pub(super) fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    pub(super) fn err(&self, e: sqlx::Error) -> StoreError {
        StoreError::from_sqlx(&self.path, e)
    }

    fn refuse_if_read_only(&self) -> Result<(), StoreError> {
        if self.read_only {
            return Err(StoreError::ReadOnly {
                path: self.path.clone(),
                detail: "opened with --read-only".into(),
            });
        }
        Ok(())
    }

    /// Creates a release with its first events (seq 1..) in one transaction.
    pub async fn create_release(
        &self,
        plan_path: &str,
        plan_toml: &str,
        records: &[EventRecord],
    ) -> Result<i64, StoreError> {
        self.refuse_if_read_only()?;
        let Some(Event::ReleaseStarted { service, environment, version, release_type, .. }) =
            records.first().map(|r| &r.event)
        else {
            return Err(StoreError::Other("a release must begin with ReleaseStarted".into()));
        };
        let first = records.first().map_or(Timestamp(0), |r| r.at);
        let last_seq = records.last().map_or(0, |r| r.seq);
        let status = fold_status(records);
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await.map_err(|e| self.err(e))?;
        let id: i64 = sqlx::query(
            "INSERT INTO releases (service, environment, version, release_type, plan_path, \
             plan_toml, created_at, status, last_seq, updated_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(service)
        .bind(environment)
        .bind(version)
        .bind(release_type.as_str())
        .bind(plan_path)
        .bind(plan_toml)
        .bind(first.0)
        .bind(status)
        .bind(i64::try_from(last_seq).unwrap_or(i64::MAX))
        .bind(first.0)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| self.err(e))?
        .get(0);
        insert_events(&mut tx, id, records).await.map_err(|e| self.err(e))?;
        tx.commit().await.map_err(|e| self.err(e))?;
        Ok(id)
    }

    /// Appends events after `expected_seq`; `Err(Conflict)` if someone else appended first.
    pub async fn append(
        &self,
        release_id: i64,
        expected_seq: u64,
        records: &[EventRecord],
        new_state: &State,
    ) -> Result<(), StoreError> {
        self.refuse_if_read_only()?;
        let Some(last) = records.last() else { return Ok(()) };
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await.map_err(|e| self.err(e))?;
        let updated = sqlx::query(
            "UPDATE releases SET last_seq = ?, status = ?, updated_at = ? \
             WHERE id = ? AND last_seq = ?",
        )
        .bind(i64::try_from(last.seq).unwrap_or(i64::MAX))
        .bind(new_state.status.as_str())
        .bind(last.at.0)
        .bind(release_id)
        .bind(i64::try_from(expected_seq).unwrap_or(i64::MAX))
        .execute(&mut *tx)
        .await
        .map_err(|e| self.err(e))?;
        if updated.rows_affected() != 1 {
            return Err(StoreError::Conflict);
        }
        insert_events(&mut tx, release_id, records).await.map_err(|e| self.err(e))?;
        tx.commit().await.map_err(|e| self.err(e))?;
        if new_state.seq % SNAPSHOT_EVERY_EVENTS < u64::try_from(records.len()).unwrap_or(0) {
            // A snapshot is a cache: failing to write one loses nothing.
            let _ = self.save_snapshot(release_id, new_state).await;
        }
        Ok(())
    }

    /// Writes the folded state so later opens read only the events after it.
    pub async fn save_snapshot(&self, release_id: i64, state: &State) -> Result<(), StoreError> {
        self.refuse_if_read_only()?;
        let json = serde_json::to_string(state).map_err(|e| StoreError::Other(e.to_string()))?;
        sqlx::query(
            "INSERT INTO snapshots (release_id, seq, engine_version, state) VALUES (?, ?, ?, ?) \
             ON CONFLICT(release_id) DO UPDATE SET seq = excluded.seq, \
             engine_version = excluded.engine_version, state = excluded.state \
             WHERE excluded.seq > snapshots.seq",
        )
        .bind(release_id)
        .bind(i64::try_from(state.seq).unwrap_or(i64::MAX))
        .bind(ENGINE_VERSION)
        .bind(json)
        .execute(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Every release, newest first.
    pub async fn releases(&self) -> Result<Vec<ReleaseRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, service, environment, version, release_type, plan_path, created_at, \
             updated_at, status, last_seq FROM releases ORDER BY id DESC",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        Ok(rows.iter().map(release_row).collect())
    }

    /// Finds a release by id or version; without a selector, the active one (or the newest).
    pub async fn find(&self, selector: Option<&str>) -> Result<ReleaseRow, StoreError> {
        let all = self.releases().await?;
        match selector {
            None => all
                .iter()
                .find(|r| is_active(&r.status))
                .or_else(|| all.first())
                .cloned()
                .ok_or_else(|| {
                    StoreError::NotFound(format!(
                        "no release in {} yet; start one with `flightdeck start PLAN --version V`",
                        self.path.display()
                    ))
                }),
            Some(sel) => {
                let by_id = sel.trim_start_matches('#').parse::<i64>().ok();
                all.iter()
                    .find(|r| Some(r.id) == by_id)
                    .or_else(|| all.iter().find(|r| r.version == sel))
                    .cloned()
                    .ok_or_else(|| {
                        StoreError::NotFound(format!(
                            "no release `{sel}`; `flightdeck list` shows ids and versions"
                        ))
                    })
            }
        }
    }

    /// Loads a release's plan and state from its snapshot and the events after it.
    pub async fn load(&self, release_id: i64) -> Result<Loaded, StoreError> {
        let row = sqlx::query(
            "SELECT id, service, environment, version, release_type, plan_path, created_at, \
             updated_at, status, last_seq, plan_toml FROM releases WHERE id = ?",
        )
        .bind(release_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| self.err(e))?
        .ok_or_else(|| StoreError::NotFound(format!("no release {release_id}")))?;
        let plan_toml: String = row.get("plan_toml");
        let release = release_row(&row);
        let plan = plan::parse(&plan_toml, &format!("plan of release {release_id}"))
            .map_err(|e| StoreError::Other(format!("the stored plan no longer parses: {e}")))?;
        let snapshot =
            sqlx::query("SELECT seq, engine_version, state FROM snapshots WHERE release_id = ?")
                .bind(release_id)
                .fetch_optional(&self.pool)
                .await
                .map_err(|e| self.err(e))?;
        let mut state = snapshot
            .filter(|s| s.get::<i64, _>("engine_version") == ENGINE_VERSION)
            .and_then(|s| serde_json::from_str::<State>(&s.get::<String, _>("state")).ok())
            .filter(|s| s.steps.len() == plan.flat_steps().len())
            .unwrap_or_else(|| State::new(&plan));
        for record in self.events_after(release_id, state.seq).await? {
            release::apply(&mut state, &record);
        }
        Ok(Loaded { row: release, plan, plan_toml, state })
    }

    /// Events with seq greater than `after`, in order.
    pub async fn events_after(
        &self,
        release_id: i64,
        after: u64,
    ) -> Result<Vec<EventRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT seq, at, actor, account, host, pid, automatic, schema, payload FROM events \
             WHERE release_id = ? AND seq > ? ORDER BY seq",
        )
        .bind(release_id)
        .bind(i64::try_from(after).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.err(e))?;
        rows.iter().map(|r| self.event_record(r)).collect()
    }

    /// The highest seq of a release, cheaply.
    pub async fn last_seq(&self, release_id: i64) -> Result<u64, StoreError> {
        let seq: i64 = sqlx::query("SELECT last_seq FROM releases WHERE id = ?")
            .bind(release_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| self.err(e))?
            .map_or(0, |r| r.get(0));
        Ok(u64::try_from(seq).unwrap_or(0))
    }

    /// Opens a connection of its own that tells whether anything was committed since it last
    /// looked (`PRAGMA data_version`): one cheap pragma per poll instead of a query through
    /// the pool. Commits through this store's pool count too: they come from other connections.
    pub async fn change_watch(&self) -> Result<ChangeWatch, StoreError> {
        use sqlx::Connection;
        let options = SqliteConnectOptions::new()
            .filename(&self.path)
            .create_if_missing(false)
            .read_only(self.read_only)
            .busy_timeout(BUSY_TIMEOUT);
        let conn = sqlx::SqliteConnection::connect_with(&options).await.map_err(|e| self.err(e))?;
        Ok(ChangeWatch { conn, path: self.path.clone(), last: None })
    }

    /// SQLite's counter of commits by other connections: cheap change detection.
    pub async fn data_version(&self) -> Result<i64, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(|e| self.err(e))?;
        let row = sqlx::query("PRAGMA data_version")
            .fetch_one(&mut *conn)
            .await
            .map_err(|e| self.err(e))?;
        Ok(row.get(0))
    }

    fn event_record(&self, row: &SqliteRow) -> Result<EventRecord, StoreError> {
        let seq: i64 = row.get("seq");
        let schema: i64 = row.get("schema");
        if schema > i64::from(SCHEMA_VERSION) {
            return Err(StoreError::TooNew {
                path: self.path.clone(),
                detail: format!(
                    "event {seq} has schema {schema}; this flightdeck reads up to {SCHEMA_VERSION}"
                ),
            });
        }
        let payload: String = row.get("payload");
        let event: Event = serde_json::from_str(&payload).map_err(|e| StoreError::Corrupt {
            path: self.path.clone(),
            detail: format!("event {seq} does not parse: {e}"),
        })?;
        Ok(EventRecord {
            seq: u64::try_from(seq).unwrap_or(0),
            at: Timestamp(row.get("at")),
            actor: chain::actor_of(row),
            event,
        })
    }
}

/// A dedicated connection watching for commits (see [`Store::change_watch`]).
#[derive(Debug)]
pub struct ChangeWatch {
    conn: sqlx::SqliteConnection,
    path: PathBuf,
    last: Option<i64>,
}

impl ChangeWatch {
    /// Whether anything was committed since the last call (true on the first).
    pub async fn changed(&mut self) -> Result<bool, StoreError> {
        let version: i64 = sqlx::query("PRAGMA data_version")
            .fetch_one(&mut self.conn)
            .await
            .map_err(|e| StoreError::from_sqlx(&self.path, e))?
            .get(0);
        Ok(self.last.replace(version) != Some(version))
    }
}

fn release_row(row: &SqliteRow) -> ReleaseRow {
    ReleaseRow {
        id: row.get("id"),
        service: row.get("service"),
        environment: row.get("environment"),
        version: row.get("version"),
        release_type: row.get("release_type"),
        plan_path: row.get("plan_path"),
        created_at: Timestamp(row.get("created_at")),
        updated_at: Timestamp(row.get("updated_at")),
        status: row.get("status"),
        last_seq: u64::try_from(row.get::<i64, _>("last_seq")).unwrap_or(0),
    }
}

fn fold_status(records: &[EventRecord]) -> &'static str {
    let mut status = "running";
    for r in records {
        match r.event {
            Event::Completed => status = "completed",
            Event::Aborted { .. } => status = "aborted",
            _ => {}
        }
    }
    status
}

async fn insert_events(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    release_id: i64,
    records: &[EventRecord],
) -> Result<(), sqlx::Error> {
    let Some(first) = records.first() else { return Ok(()) };
    // Each event's hash chains it to the one before (see chain.rs).
    let (origin_id, mut prev) = chain::tail(tx, release_id, first.seq).await?;
    for r in records {
        let stored = chain::StoredEvent::of(r).map_err(|e| sqlx::Error::Protocol(e.to_string()))?;
        let hash = stored.compute_hash(&prev, origin_id);
        stored.insert(tx, release_id, Some(&hash)).await?;
        prev = hash;
    }
    Ok(())
}

/// Creates the database file (mode 0600) and its directory (0700) if they do not exist.
fn create_private(path: &Path) -> Result<(), StoreError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty() && !d.exists()) {
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(|e| {
            StoreError::ReadOnly {
                path: path.to_path_buf(),
                detail: format!("cannot create {}: {e}", dir.display()),
            }
        })?;
    }
    if path.exists() {
        return Ok(());
    }
    match std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(StoreError::ReadOnly {
            path: path.to_path_buf(),
            detail: format!("cannot create it: {e}"),
        }),
    }
}
