//! Opening a store on either backend — a SQLite file (WAL, full sync, busy timeout, mode
//! 0600) or a PostgreSQL database — through one sqlx `Any` pool, applying the backend's
//! embedded migrations, and watching for other processes' commits.

use std::collections::BTreeSet;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use sqlx::any::AnyPoolOptions;
use sqlx::{AnyPool, Executor, Row};

use super::{Location, StoreError};

/// How long a SQLite writer waits for another's lock before giving up (also spelled out in
/// the `PRAGMA busy_timeout` each pooled connection runs), and how long an append that
/// commutes keeps retrying after lost races.
pub(super) const BUSY_TIMEOUT: Duration = Duration::from_secs(20);

/// How long connecting to PostgreSQL may take before the open fails.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The PostgreSQL advisory lock key migrations run under (any fixed number; "fdmigrat").
const MIGRATION_LOCK: i64 = 0x6664_6d69_6772_6174;

/// How a read-only open's refusal of an outdated schema begins (so the reading verbs can
/// tell it from other refusals and upgrade when allowed).
const SCHEMA_IS_OLDER: &str = "its schema is older than this flightdeck";

/// The channel PostgreSQL's append trigger notifies (see migrations/postgres/0001).
const EVENTS_CHANNEL: &str = "flightdeck_events";

/// Which database a store is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite file.
    Sqlite,
    /// A PostgreSQL database.
    Postgres,
}

/// An open store.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    /// One connection of its own, made when first needed, that holds the write lock while a
    /// command is decided (see `lock_for_append`): apart from `pool`, so that holding it
    /// never leaves the loads it waits for without a connection.
    lock_pool: AnyPool,
    /// For a SQLite store read as a snapshot: the live read-only pool it switches to once a
    /// writer has the store open (its `-wal`/`-shm` exist), so a long-running watcher follows.
    live: Option<Arc<OnceLock<AnyPool>>>,
    location: Location,
    read_only: bool,
}

impl Store {
    /// Opens (creating if needed, with mode 0600) the SQLite database at `path` and migrates
    /// it. With `read_only`, the file must exist and nothing is ever written.
    pub async fn open(path: &Path, read_only: bool) -> Result<Self, StoreError> {
        Self::open_at(&Location::Sqlite(path.to_path_buf()), read_only).await
    }

    /// Opens the store at `location` (a SQLite file or a PostgreSQL URL) and migrates it.
    /// A store whose schema is current is not touched, so a role that may only read can open
    /// it; with `read_only` nothing is ever written, and a SQLite file is opened so that no
    /// file is created beside it (see [`SqliteReading`]).
    pub async fn open_at(location: &Location, read_only: bool) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let (pool, reading) = match location {
            Location::Sqlite(path) => {
                prepare_file(path, read_only)?;
                connect_sqlite(path, read_only).await.map(|(pool, reading)| (pool, Some(reading)))
            }
            Location::Postgres(url) => connect_postgres(url).await.map(|pool| (pool, None)),
        }
        .map_err(|e| location.error(e))?;
        let live = (read_only && reading == Some(SqliteReading::Snapshot))
            .then(|| Arc::new(OnceLock::new()));
        let lock_pool = match location {
            Location::Sqlite(path) => lazy_sqlite_lock_pool(path),
            Location::Postgres(url) => AnyPoolOptions::new()
                .max_connections(1)
                .acquire_timeout(BUSY_TIMEOUT)
                .connect_lazy(url),
        }
        .map_err(|e| location.error(e))?;
        let store = Self { pool, lock_pool, live, location: location.clone(), read_only };
        match store.check_and_migrate().await {
            Ok(()) => Ok(store),
            Err(e) => {
                // Close before reporting, so a refused SQLite file is left exactly as it was
                // found (no WAL beside it) by the time the caller looks.
                store.close().await;
                Err(e)
            }
        }
    }

    /// Opens the store for a verb that only reads: read-only, unless its schema is older
    /// than this flightdeck (or, on PostgreSQL, not there yet) and `may_upgrade` (the person
    /// did not ask for --read-only), in which case it is opened to write so the migrations
    /// run, as before.
    pub async fn open_for_reading(
        location: &Location,
        may_upgrade: bool,
    ) -> Result<Self, StoreError> {
        match Self::open_at(location, true).await {
            Err(StoreError::ReadOnly { detail, .. })
                if may_upgrade && detail.starts_with(SCHEMA_IS_OLDER) =>
            {
                Self::open_at(location, false).await
            }
            // A new PostgreSQL database gets its schema from the first opener that may write
            // (README: open it once as the owner, e.g. with `list`).
            Err(StoreError::NotFound(_))
                if may_upgrade && matches!(location, Location::Postgres(_)) =>
            {
                Self::open_at(location, false).await
            }
            other => other,
        }
    }

    async fn check_and_migrate(&self) -> Result<(), StoreError> {
        // Touch the schema first, so a file that is not a database is reported before
        // anything tries to write to it.
        let probe = match self.backend() {
            Backend::Sqlite => "SELECT count(*) FROM sqlite_master",
            Backend::Postgres => "SELECT count(*) FROM pg_catalog.pg_tables",
        };
        sqlx::query(probe).fetch_one(&self.pool).await.map_err(|e| self.err(e))?;
        let migrator = match self.backend() {
            Backend::Sqlite => sqlx::migrate!("src/store/migrations/sqlite"),
            Backend::Postgres => sqlx::migrate!("src/store/migrations/postgres"),
        };
        let known: BTreeSet<i64> = migrator.iter().map(|m| m.version).collect();
        let applied = self.applied_migrations().await;
        if let Some(unknown) = applied.iter().find(|v| !known.contains(v)) {
            return Err(StoreError::TooNew {
                path: self.location.shown(),
                detail: format!(
                    "its schema has migration {unknown}, which this flightdeck does not know"
                ),
            });
        }
        if applied == known {
            return Ok(());
        }
        if self.read_only {
            if self.backend() == Backend::Sqlite && applied.is_empty() && self.is_empty().await {
                return Err(StoreError::NotFound(format!(
                    "{} holds no flightdeck data yet; start a release first",
                    self.location
                )));
            }
            if self.backend() == Backend::Postgres && applied.is_empty() {
                return Err(StoreError::NotFound(format!(
                    "{} holds no flightdeck data yet; start a release first",
                    self.location
                )));
            }
            return Err(StoreError::ReadOnly {
                path: self.location.shown(),
                detail: format!(
                    "{SCHEMA_IS_OLDER} and must be upgraded by a writer first: open it once \
                     without --read-only"
                ),
            });
        }
        self.migrate(&migrator).await
    }

    /// Applies the migrations this store lacks, one process at a time: first opens of a new
    /// store race, and the losers must find the schema made, not fail creating it again.
    async fn migrate(&self, migrator: &sqlx::migrate::Migrator) -> Result<(), StoreError> {
        match self.backend() {
            Backend::Sqlite => {
                // The write lock, taken before the migrator reads what is applied: a second
                // opener waits here (busy timeout), then finds every migration applied. The
                // migrator's own transactions nest as savepoints inside this one.
                let mut tx = self.begin_write().await?;
                // `run_direct` is `run` on one connection (sqlx's own way around `Acquire`'s
                // lifetimes, which futures spawned on the runtime cannot satisfy).
                migrator.run_direct(None, &mut *tx, false).await.map_err(|e| self.err(e.into()))?;
                tx.commit().await.map_err(|e| self.err(e))
            }
            Backend::Postgres => {
                // A session lock of our own around the whole run: sqlx's migrator locks too,
                // but only after it created its bookkeeping table, which two first opens race
                // to create.
                let mut conn = self.pool.acquire().await.map_err(|e| self.err(e))?;
                sqlx::query("SELECT pg_advisory_lock($1)")
                    .bind(MIGRATION_LOCK)
                    .execute(&mut *conn)
                    .await
                    .map_err(|e| self.err(e))?;
                let ran = migrator
                    .run_direct(None, &mut *conn, false)
                    .await
                    .map_err(|e| self.err(e.into()));
                let unlocked = sqlx::query("SELECT pg_advisory_unlock($1)")
                    .bind(MIGRATION_LOCK)
                    .execute(&mut *conn)
                    .await
                    .map_err(|e| self.err(e));
                ran.and(unlocked.map(|_| ()))
            }
        }
    }

    /// The migration versions recorded as applied (none if the table does not exist yet).
    async fn applied_migrations(&self) -> BTreeSet<i64> {
        sqlx::query("SELECT version FROM _sqlx_migrations WHERE success")
            .fetch_all(&self.pool)
            .await
            .map(|rows| rows.iter().map(|r| r.get::<i64, _>(0)).collect())
            .unwrap_or_default()
    }

    async fn is_empty(&self) -> bool {
        sqlx::query("SELECT count(*) FROM sqlite_master")
            .fetch_one(&self.pool)
            .await
            .is_ok_and(|r| r.get::<i64, _>(0) == 0)
    }

    /// Closes every connection; on SQLite this checkpoints the WAL so the file stands alone.
    pub async fn close(&self) {
        self.lock_pool.close().await;
        if let Some(live) = self.live.as_ref().and_then(|l| l.get()) {
            live.close().await;
        }
        self.pool.close().await;
    }

    /// Where the store is.
    pub fn location(&self) -> &Location {
        &self.location
    }

    /// Which database holds it.
    pub fn backend(&self) -> Backend {
        match self.location {
            Location::Sqlite(_) => Backend::Sqlite,
            Location::Postgres(_) => Backend::Postgres,
        }
    }

    /// The store as named in messages: the file, or the URL without its password.
    pub fn path(&self) -> PathBuf {
        self.location.shown()
    }

    /// Whether this store was opened read-only.
    pub fn is_read_only(&self) -> bool {
        self.read_only
    }

    /// The connection pool, for the tables' methods.
    pub(super) fn pool(&self) -> &AnyPool {
        let (Some(live), Location::Sqlite(path)) = (&self.live, &self.location) else {
            return &self.pool;
        };
        if let Some(pool) = live.get() {
            return pool;
        }
        if SqliteReading::for_file(path) == SqliteReading::Live {
            if let Ok(pool) = lazy_sqlite_live_pool(path) {
                let _ = live.set(pool);
            }
        }
        live.get().unwrap_or(&self.pool)
    }

    pub(super) fn err(&self, e: sqlx::Error) -> StoreError {
        self.location.error(e)
    }

    pub(super) fn refuse_if_read_only(&self) -> Result<(), StoreError> {
        if self.read_only {
            return Err(StoreError::ReadOnly {
                path: self.location.shown(),
                detail: "opened with --read-only".into(),
            });
        }
        Ok(())
    }

    /// Begins a transaction that writes: on SQLite it takes the write lock at once, so two
    /// writers queue on the busy timeout instead of failing at commit.
    pub(super) async fn begin_write(
        &self,
    ) -> Result<sqlx::Transaction<'static, sqlx::Any>, StoreError> {
        let begun = match self.backend() {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await,
            Backend::Postgres => self.pool.begin().await,
        };
        begun.map_err(|e| self.err(e))
    }

    /// Begins a write transaction on the store's own lock connection (see `lock_pool`),
    /// waiting at most the busy timeout for it.
    pub(super) async fn begin_locked(
        &self,
    ) -> Result<sqlx::Transaction<'static, sqlx::Any>, StoreError> {
        let begun = match self.backend() {
            Backend::Sqlite => self.lock_pool.begin_with("BEGIN IMMEDIATE").await,
            Backend::Postgres => self.lock_pool.begin().await,
        };
        begun.map_err(|e| match e {
            // Another task of this process holds the lock connection for that long.
            sqlx::Error::PoolTimedOut => StoreError::Locked { path: self.location.shown() },
            e => self.err(e),
        })
    }

    /// Opens a connection of its own that tells whether anything was committed since it last
    /// looked: on SQLite one `PRAGMA data_version` per poll, on PostgreSQL the notifications
    /// of the append trigger (LISTEN), so a poll costs no query at all.
    pub async fn change_watch(&self) -> Result<ChangeWatch, StoreError> {
        let source = match &self.location {
            Location::Sqlite(path) => {
                use sqlx::Connection;
                let reading = SqliteReading::for_file(path);
                if self.live.is_some() || (self.read_only && reading == SqliteReading::Snapshot) {
                    // A snapshot's data_version never moves: the files themselves are watched.
                    WatchSource::Files { path: path.clone(), last: None }
                } else {
                    let options = sqlite_options(path, self.read_only, reading);
                    let conn = sqlx::sqlite::SqliteConnection::connect_with(&options)
                        .await
                        .map_err(|e| self.err(e))?;
                    WatchSource::DataVersion { conn, last: None }
                }
            }
            Location::Postgres(url) => {
                let mut listener =
                    sqlx::postgres::PgListener::connect(url).await.map_err(|e| self.err(e))?;
                listener.listen(EVENTS_CHANNEL).await.map_err(|e| self.err(e))?;
                WatchSource::Notifications { listener, first: true }
            }
        };
        Ok(ChangeWatch { source, location: self.location.clone() })
    }
}

/// A dedicated connection watching for commits (see [`Store::change_watch`]).
#[derive(Debug)]
pub struct ChangeWatch {
    source: WatchSource,
    location: Location,
}

#[derive(Debug)]
enum WatchSource {
    DataVersion { conn: sqlx::sqlite::SqliteConnection, last: Option<i64> },
    Files { path: PathBuf, last: Option<FilesStamp> },
    Notifications { listener: sqlx::postgres::PgListener, first: bool },
}

impl ChangeWatch {
    /// Whether anything was committed since the last call (true on the first). Never waits
    /// for a change: it looks and answers.
    pub async fn changed(&mut self) -> Result<bool, StoreError> {
        match &mut self.source {
            WatchSource::DataVersion { conn, last } => {
                let version: i64 = sqlx::query("PRAGMA data_version")
                    .fetch_one(&mut *conn)
                    .await
                    .map_err(|e| self.location.error(e))?
                    .get(0);
                Ok(last.replace(version) != Some(version))
            }
            WatchSource::Files { path, last } => {
                let stamp = FilesStamp::of(path);
                Ok(last.replace(stamp) != Some(stamp))
            }
            WatchSource::Notifications { listener, first } => {
                let mut changed = std::mem::replace(first, false);
                // Drain what has arrived; a lost connection counts as a change, because
                // notifications sent while it was down are gone.
                loop {
                    match tokio::time::timeout(Duration::ZERO, listener.try_recv()).await {
                        Err(_) => return Ok(changed),
                        Ok(Ok(Some(_))) => changed = true,
                        Ok(Ok(None)) => return Ok(true),
                        Ok(Err(e)) => return Err(self.location.error(e)),
                    }
                }
            }
        }
    }
}

/// What a SQLite store's files look like from outside: sizes and modification times of the
/// file and its `-wal` (a commit changes one of them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FilesStamp {
    file: Option<(u64, std::time::SystemTime)>,
    wal: Option<(u64, std::time::SystemTime)>,
}

impl FilesStamp {
    fn of(path: &Path) -> Self {
        let look =
            |p: &Path| std::fs::metadata(p).ok().and_then(|m| Some((m.len(), m.modified().ok()?)));
        Self { file: look(path), wal: look(&sidecar(path, "-wal")) }
    }
}

/// A read-only open needs the file; a writing one creates it privately.
fn prepare_file(path: &Path, read_only: bool) -> Result<(), StoreError> {
    if !read_only {
        return create_private(path);
    }
    if path.exists() {
        return Ok(());
    }
    Err(StoreError::NotFound(format!(
        "no database at {}; start a release first, or pass --db",
        path.display()
    )))
}

/// How a read-only open reads a SQLite file without creating anything beside it.
///
/// A WAL database is read through its `-wal` and `-shm` files; SQLite creates them when they
/// are missing, even for a read-only connection — files owned by whoever watched, which can
/// then lock the owner out of their own store, and which cannot be made at all on read-only
/// media. So a reader uses them only when they already exist (a writer has the store open);
/// otherwise the file alone is the whole store (its last writer checkpointed it on close) and
/// it is read as an immutable snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SqliteReading {
    /// `mode=ro` through the existing `-wal`/`-shm`: sees other processes' commits.
    Live,
    /// `mode=ro&immutable=1`: the file as it is, no locks, no files created.
    Snapshot,
}

impl SqliteReading {
    /// Live when a writer left the `-wal` and `-shm` files beside `path`, else a snapshot.
    pub fn for_file(path: &Path) -> Self {
        if sidecar(path, "-wal").exists() && sidecar(path, "-shm").exists() {
            Self::Live
        } else {
            Self::Snapshot
        }
    }
}

/// `flightdeck.db` → `flightdeck.db-wal` (SQLite's names for its companion files).
fn sidecar(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// The options of one direct connection to a SQLite file.
fn sqlite_options(
    path: &Path,
    read_only: bool,
    reading: SqliteReading,
) -> sqlx::sqlite::SqliteConnectOptions {
    use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
    let options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(false)
        .read_only(read_only)
        .foreign_keys(true)
        .busy_timeout(BUSY_TIMEOUT);
    if read_only {
        options.immutable(reading == SqliteReading::Snapshot)
    } else {
        options.journal_mode(SqliteJournalMode::Wal).synchronous(SqliteSynchronous::Full)
    }
}

async fn connect_sqlite(
    path: &Path,
    read_only: bool,
) -> Result<(AnyPool, SqliteReading), sqlx::Error> {
    use sqlx::Connection;
    // Open once directly with the same settings: a file that is not a database or cannot be
    // written fails here with SQLite's own words, where the pool would only retry its
    // connection until it timed out.
    let mut reading = SqliteReading::for_file(path);
    let opened =
        sqlx::sqlite::SqliteConnection::connect_with(&sqlite_options(path, read_only, reading))
            .await;
    match opened {
        Ok(conn) => conn.close().await?,
        // The companion files exist but cannot be used from here (another user's `-shm`,
        // read-only media): the file alone, as a snapshot.
        Err(_) if read_only && reading == SqliteReading::Live => {
            reading = SqliteReading::Snapshot;
            sqlx::sqlite::SqliteConnection::connect_with(&sqlite_options(path, true, reading))
                .await?
                .close()
                .await?;
        }
        Err(e) => return Err(e),
    }
    let absolute = std::path::absolute(path).map_err(sqlx::Error::Io)?;
    let mode = match (read_only, reading) {
        (false, _) => "rw",
        (true, SqliteReading::Live) => "ro",
        (true, SqliteReading::Snapshot) => "ro&immutable=true",
    };
    let url = format!("sqlite://{}?mode={mode}", encode_path(&absolute));
    let options = match (read_only, reading) {
        (false, _) => sqlite_pool_options(false),
        (true, SqliteReading::Live) => live_reading_options(),
        // An immutable connection never notices later changes to the file: each query gets a
        // fresh one, so a watcher sees what writers that closed the store left in it.
        (true, SqliteReading::Snapshot) => {
            sqlite_pool_options(true).before_acquire(|_, _| Box::pin(async { Ok(false) }))
        }
    };
    Ok((options.max_connections(4).connect(&url).await?, reading))
}

/// A read-only pool through existing `-wal`/`-shm` files keeps one connection open for its
/// whole life: while it is open the writers' last close does not remove those files, so no
/// later connection of the pool finds them missing (and would create them).
fn live_reading_options() -> AnyPoolOptions {
    sqlite_pool_options(true).min_connections(1).idle_timeout(None).max_lifetime(None)
}

/// The live read-only pool a snapshot store switches to (connected when first used).
fn lazy_sqlite_live_pool(path: &Path) -> Result<AnyPool, sqlx::Error> {
    let absolute = std::path::absolute(path).map_err(sqlx::Error::Io)?;
    let url = format!("sqlite://{}?mode=ro", encode_path(&absolute));
    live_reading_options().max_connections(4).connect_lazy(&url)
}

/// The settings every pooled writing or reading connection to a SQLite file runs.
fn sqlite_pool_options(read_only: bool) -> AnyPoolOptions {
    AnyPoolOptions::new().after_connect(move |conn, _| {
        Box::pin(async move {
            conn.execute("PRAGMA busy_timeout = 20000").await?;
            conn.execute("PRAGMA foreign_keys = ON").await?;
            // A read-only connection must not try to switch the journal mode.
            if !read_only {
                conn.execute("PRAGMA journal_mode = WAL").await?;
                conn.execute("PRAGMA synchronous = FULL").await?;
            }
            Ok(())
        })
    })
}

/// The pool of the one writing connection that holds the lock (made when first used).
fn lazy_sqlite_lock_pool(path: &Path) -> Result<AnyPool, sqlx::Error> {
    let absolute = std::path::absolute(path).map_err(sqlx::Error::Io)?;
    let url = format!("sqlite://{}?mode=rw", encode_path(&absolute));
    sqlite_pool_options(false).max_connections(1).acquire_timeout(BUSY_TIMEOUT).connect_lazy(&url)
}

async fn connect_postgres(url: &str) -> Result<AnyPool, sqlx::Error> {
    AnyPoolOptions::new().max_connections(4).acquire_timeout(CONNECT_TIMEOUT).connect(url).await
}

/// Percent-encodes a path for a `sqlite://` URL (sqlx decodes it back).
fn encode_path(path: &Path) -> String {
    let mut out = String::new();
    for byte in path.as_os_str().as_encoded_bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'/' | b'-' | b'_' | b'.' | b'~' => {
                out.push(char::from(*byte));
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// Creates the database file (mode 0600) and its directory (0700) if they do not exist.
fn create_private(path: &Path) -> Result<(), StoreError> {
    let refused = |detail: String| StoreError::ReadOnly { path: path.to_path_buf(), detail };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty() && !d.exists()) {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| refused(format!("cannot create {}: {e}", dir.display())))?;
    }
    if path.exists() {
        return Ok(());
    }
    match std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(refused(format!("cannot create it: {e}"))),
    }
}
