//! The event log: creating a release, appending events with optimistic concurrency, snapshots,
//! and loading a release from its latest snapshot plus the events after it. The SQL is
//! written once for both backends (`$n` parameters, standard upserts).

use sqlx::Row;
use sqlx::any::AnyRow;

use serde::{Deserialize, Serialize};

use super::chain::PlanCheck;
use super::{ACTIVE_STATUSES, Backend, Loaded, ReleaseRow, Store, StoreError, chain, is_active};
use crate::plan;
use crate::release::{self, Event, EventRecord, SCHEMA_VERSION, State, Timestamp};

/// Bumped whenever `State`'s shape changes, so stale snapshots are ignored.
pub const ENGINE_VERSION: i64 = 2;

/// How many events may follow a snapshot before a new one is written.
const SNAPSHOT_EVERY_EVENTS: u64 = 256;

/// The write lock of one release, held by an open transaction (see
/// [`Store::lock_for_append`]); dropping it rolls back and releases it.
#[derive(Debug)]
pub struct AppendLock {
    tx: sqlx::Transaction<'static, sqlx::Any>,
}

/// What [`Store::create_release_unless_active`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Created {
    /// Created the release with this id.
    Release(i64),
    /// Created nothing: this release of the same service and environment is active.
    AlreadyActive(ReleaseRow),
}

/// The PostgreSQL transaction lock two starts of one service and environment share: a stable
/// 64-bit FNV-1a hash of both names.
fn start_lock_key(service: &str, environment: &str) -> i64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in service.bytes().chain([0]).chain(environment.bytes()) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    i64::from_ne_bytes(hash.to_ne_bytes())
}

impl Store {
    /// Creates a release with its first events (seq 1..) in one transaction.
    pub async fn create_release(
        &self,
        plan_path: &str,
        plan_toml: &str,
        records: &[EventRecord],
    ) -> Result<i64, StoreError> {
        match self.create_release_checked(plan_path, plan_toml, records, false).await? {
            Created::Release(id) => Ok(id),
            Created::AlreadyActive(row) => Err(StoreError::Other(format!(
                "release {} of {} is active in {}",
                row.id, row.service, row.environment
            ))),
        }
    }

    /// Creates a release like [`Store::create_release`], unless a release of the same
    /// service and environment is active: decided inside the write transaction (SQLite's
    /// write lock; on PostgreSQL a transaction lock on the service and environment), so of
    /// racing starts exactly one creates and the others are told which one won.
    pub async fn create_release_unless_active(
        &self,
        plan_path: &str,
        plan_toml: &str,
        records: &[EventRecord],
    ) -> Result<Created, StoreError> {
        self.create_release_checked(plan_path, plan_toml, records, true).await
    }

    async fn create_release_checked(
        &self,
        plan_path: &str,
        plan_toml: &str,
        records: &[EventRecord],
        only_if_none_active: bool,
    ) -> Result<Created, StoreError> {
        self.refuse_if_read_only()?;
        let mut records = records.to_vec();
        stamp_plan(&mut records, plan_toml);
        let records = records.as_slice();
        let Some(Event::ReleaseStarted { service, environment, version, release_type, .. }) =
            records.first().map(|r| &r.event)
        else {
            return Err(StoreError::Other("a release must begin with ReleaseStarted".into()));
        };
        let first = records.first().map_or(Timestamp(0), |r| r.at);
        let last_seq = records.last().map_or(0, |r| r.seq);
        let status = fold_status(records);
        let mut tx = self.begin_write().await?;
        if only_if_none_active {
            if self.backend() == Backend::Postgres {
                // Two transactions of READ COMMITTED would both see no active release; the
                // second waits here until the first commits, then sees its release.
                sqlx::query("SELECT pg_advisory_xact_lock($1)")
                    .bind(start_lock_key(service, environment))
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| self.err(e))?;
            }
            let active = sqlx::query(
                "SELECT id, service, environment, version, release_type, plan_path, created_at, \
                 updated_at, status, last_seq FROM releases \
                 WHERE service = $1 AND environment = $2 AND status IN ($3, $4, $5) \
                 ORDER BY id LIMIT 1",
            )
            .bind(service)
            .bind(environment)
            .bind(ACTIVE_STATUSES[0])
            .bind(ACTIVE_STATUSES[1])
            .bind(ACTIVE_STATUSES[2])
            .fetch_optional(&mut *tx)
            .await
            .map_err(|e| self.err(e))?;
            if let Some(row) = active {
                return Ok(Created::AlreadyActive(release_row(&row)));
            }
        }
        let id: i64 = sqlx::query(
            "INSERT INTO releases (service, environment, version, release_type, plan_path, \
             plan_toml, created_at, status, last_seq, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
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
        Ok(Created::Release(id))
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
        let tx = self.begin_write().await?;
        self.append_in(tx, release_id, expected_seq, records, new_state).await
    }

    /// Takes the write lock for appending to `release_id` (SQLite's write lock; on PostgreSQL
    /// the release's row), to hold while its state is loaded and a command decided, so that
    /// writers queue instead of racing. Pass it to [`Store::append_locked`].
    pub async fn lock_for_append(&self, release_id: i64) -> Result<AppendLock, StoreError> {
        self.refuse_if_read_only()?;
        let mut tx = self.begin_locked().await?;
        if self.backend() == Backend::Postgres {
            sqlx::query("SELECT id FROM releases WHERE id = $1 FOR UPDATE")
                .bind(release_id)
                .execute(&mut *tx)
                .await
                .map_err(|e| self.err(e))?;
        }
        Ok(AppendLock { tx })
    }

    /// [`Store::append`] under a lock taken by [`Store::lock_for_append`] (dropping the lock
    /// instead releases it without writing).
    pub async fn append_locked(
        &self,
        lock: AppendLock,
        release_id: i64,
        expected_seq: u64,
        records: &[EventRecord],
        new_state: &State,
    ) -> Result<(), StoreError> {
        self.append_in(lock.tx, release_id, expected_seq, records, new_state).await
    }

    async fn append_in(
        &self,
        mut tx: sqlx::Transaction<'static, sqlx::Any>,
        release_id: i64,
        expected_seq: u64,
        records: &[EventRecord],
        new_state: &State,
    ) -> Result<(), StoreError> {
        let Some(last) = records.last() else { return Ok(()) };
        let updated = sqlx::query(
            "UPDATE releases SET last_seq = $1, status = $2, updated_at = $3 \
             WHERE id = $4 AND last_seq = $5",
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

    /// Writes the folded state so later opens read only the events after it. The snapshot is
    /// sealed to the chain hash of the event it folds up to (see [`SealedSnapshot`]).
    pub async fn save_snapshot(&self, release_id: i64, state: &State) -> Result<(), StoreError> {
        self.refuse_if_read_only()?;
        let hash = self.event_hash(release_id, state.seq).await?.unwrap_or_default();
        let json = SealedSnapshot::seal(state, hash)?;
        sqlx::query(
            "INSERT INTO snapshots (release_id, seq, engine_version, state) VALUES ($1, $2, $3, $4) \
             ON CONFLICT(release_id) DO UPDATE SET seq = excluded.seq, \
             engine_version = excluded.engine_version, state = excluded.state \
             WHERE excluded.seq > snapshots.seq",
        )
        .bind(release_id)
        .bind(i64::try_from(state.seq).unwrap_or(i64::MAX))
        .bind(ENGINE_VERSION)
        .bind(json)
        .execute(self.pool())
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
        .fetch_all(self.pool())
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
                        self.location()
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
    ///
    /// Refuses (`StoreError::Tampered`) a release whose stored plan no longer matches the hash
    /// its start event recorded. A snapshot is used only when it is sealed to the chain hash of
    /// the event it folds up to; any other is ignored and the state is folded from the events.
    pub async fn load(&self, release_id: i64) -> Result<Loaded, StoreError> {
        self.load_with(release_id, true).await
    }

    /// Like [`Store::load`], folding every event and never the snapshot: what decisions are
    /// made on (`store::execute`), so a snapshot edited and resealed by someone with write
    /// access can mislead a view until `verify` names it, but never a decision.
    pub async fn load_from_events(&self, release_id: i64) -> Result<Loaded, StoreError> {
        self.load_with(release_id, false).await
    }

    async fn load_with(&self, release_id: i64, use_snapshot: bool) -> Result<Loaded, StoreError> {
        let row = sqlx::query(
            "SELECT id, service, environment, version, release_type, plan_path, created_at, \
             updated_at, status, last_seq, plan_toml FROM releases WHERE id = $1",
        )
        .bind(release_id)
        .fetch_optional(self.pool())
        .await
        .map_err(|e| self.err(e))?
        .ok_or_else(|| StoreError::NotFound(format!("no release {release_id}")))?;
        let plan_toml: String = row.get("plan_toml");
        let release = release_row(&row);
        let (_, start) = self.stored_plan(release_id).await?;
        if let PlanCheck::Mismatch { .. } = PlanCheck::of(start.as_deref(), &plan_toml) {
            return Err(StoreError::Tampered {
                release_id,
                detail: PlanCheck::of(start.as_deref(), &plan_toml).summary(),
            });
        }
        let plan = plan::parse(&plan_toml, &format!("plan of release {release_id}"))
            .map_err(|e| StoreError::Other(format!("the stored plan no longer parses: {e}")))?;
        let mut state = State::new(&plan);
        if use_snapshot {
            if let (SnapshotCheck::Agrees { .. }, Some(sealed)) =
                self.snapshot_check(release_id, &plan, false).await?
            {
                state = sealed;
            }
        }
        for record in self.events_after(release_id, state.seq).await? {
            release::apply(&mut state, &record);
        }
        Ok(Loaded { row: release, plan, plan_toml, state })
    }

    /// Whether the release's snapshot may be used, and its state if so. With `refold`, the
    /// events up to it are also folded afresh and compared with it (what `verify` does), so
    /// even a snapshot whose seal was recomputed by hand is caught.
    pub async fn snapshot_check(
        &self,
        release_id: i64,
        plan: &plan::Plan,
        refold: bool,
    ) -> Result<(SnapshotCheck, Option<State>), StoreError> {
        let Some(row) =
            sqlx::query("SELECT seq, engine_version, state FROM snapshots WHERE release_id = $1")
                .bind(release_id)
                .fetch_optional(self.pool())
                .await
                .map_err(|e| self.err(e))?
        else {
            return Ok((SnapshotCheck::Absent, None));
        };
        let seq = u64::try_from(row.get::<i64, _>("seq")).unwrap_or(0);
        if row.get::<i64, _>("engine_version") != ENGINE_VERSION {
            return Ok((SnapshotCheck::Stale { seq }, None));
        }
        let text: String = row.get("state");
        let Ok(sealed) = serde_json::from_str::<SealedSnapshot>(&text) else {
            // Written before snapshots were sealed (a bare state), or not JSON at all.
            return Ok((SnapshotCheck::Stale { seq }, None));
        };
        let disagrees = |detail: String| Ok((SnapshotCheck::Disagrees { seq, detail }, None));
        if sealed.seq != seq {
            return disagrees(format!(
                "it says it folds up to event {}, its row says {seq}",
                sealed.seq
            ));
        }
        let hash = self.event_hash(release_id, seq).await?;
        if hash.as_deref() != Some(sealed.hash.as_str()) || sealed.hash.is_empty() {
            return disagrees(format!(
                "it was sealed to hash {} of event {seq}, but that event's hash is {}",
                if sealed.hash.is_empty() { "(none)" } else { &sealed.hash },
                hash.as_deref().unwrap_or("(no such event)")
            ));
        }
        if sealed.digest != SealedSnapshot::digest_of(&sealed.hash, &sealed.state) {
            return disagrees(
                "its state was edited after it was written (its seal does not match)".into(),
            );
        }
        let Ok(state) = serde_json::from_str::<State>(&sealed.state) else {
            return disagrees("its state does not parse".into());
        };
        if state.seq != seq || state.steps.len() != plan.flat_steps().len() {
            return disagrees(format!(
                "its state is at event {} with {} steps; it should be at {seq} with {}",
                state.seq,
                state.steps.len(),
                plan.flat_steps().len()
            ));
        }
        if refold {
            let mut fresh = State::new(plan);
            for record in self.events_after(release_id, 0).await? {
                if record.seq > seq {
                    break;
                }
                release::apply(&mut fresh, &record);
            }
            let as_json = |s: &State| serde_json::to_value(s).ok();
            if as_json(&fresh) != as_json(&state) {
                return disagrees(format!(
                    "its state is not the fold of events 1 to {seq} (it was edited and resealed)"
                ));
            }
        }
        Ok((SnapshotCheck::Agrees { seq }, Some(state)))
    }

    /// Events with seq greater than `after`, in order.
    pub async fn events_after(
        &self,
        release_id: i64,
        after: u64,
    ) -> Result<Vec<EventRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT seq, at, actor, account, host, pid, automatic, schema, payload FROM events \
             WHERE release_id = $1 AND seq > $2 ORDER BY seq",
        )
        .bind(release_id)
        .bind(i64::try_from(after).unwrap_or(i64::MAX))
        .fetch_all(self.pool())
        .await
        .map_err(|e| self.err(e))?;
        rows.iter().map(|r| self.event_record(r)).collect()
    }

    /// The highest seq of a release, cheaply.
    pub async fn last_seq(&self, release_id: i64) -> Result<u64, StoreError> {
        let seq: i64 = sqlx::query("SELECT last_seq FROM releases WHERE id = $1")
            .bind(release_id)
            .fetch_optional(self.pool())
            .await
            .map_err(|e| self.err(e))?
            .map_or(0, |r| r.get(0));
        Ok(u64::try_from(seq).unwrap_or(0))
    }

    fn event_record(&self, row: &AnyRow) -> Result<EventRecord, StoreError> {
        let seq: i64 = row.get("seq");
        let schema: i64 = row.get("schema");
        if schema > i64::from(SCHEMA_VERSION) {
            return Err(StoreError::TooNew {
                path: self.path(),
                detail: format!(
                    "event {seq} has schema {schema}; this flightdeck reads up to {SCHEMA_VERSION}"
                ),
            });
        }
        let payload: String = row.get("payload");
        let event: Event = serde_json::from_str(&payload).map_err(|e| StoreError::Corrupt {
            path: self.path(),
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

fn release_row(row: &AnyRow) -> ReleaseRow {
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

/// Puts the SHA-256 of the plan text in the start event, so an edit of the stored plan is
/// caught when the release is loaded.
pub(super) fn stamp_plan(records: &mut [EventRecord], plan_toml: &str) {
    if let Some(EventRecord { event: Event::ReleaseStarted { plan_sha256, .. }, .. }) =
        records.first_mut()
    {
        *plan_sha256 = Some(chain::plan_digest(plan_toml));
    }
}

/// What the snapshot of a release is worth.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum SnapshotCheck {
    /// There is none.
    Absent,
    /// Written by another engine version or before snapshots were sealed: ignored.
    Stale {
        /// The seq it claims to fold up to.
        seq: u64,
    },
    /// Sealed to the events and (with a refold) their fold.
    Agrees {
        /// The seq it folds up to.
        seq: u64,
    },
    /// It does not match the events: it is ignored and the state is folded from the events.
    Disagrees {
        /// The seq it claims to fold up to.
        seq: u64,
        /// What does not match.
        detail: String,
    },
}

impl SnapshotCheck {
    /// One sentence, or `None` when there is nothing worth saying.
    pub fn summary(&self) -> Option<String> {
        match self {
            Self::Absent | Self::Stale { .. } | Self::Agrees { .. } => None,
            Self::Disagrees { seq, detail } => Some(format!(
                "the snapshot at event {seq} disagrees with the events ({detail}): it was \
                 discarded and the state rebuilt from the events"
            )),
        }
    }
}

/// A snapshot as stored in `snapshots.state`: the state's JSON text, sealed to the chain hash
/// of the event it folds up to. Anyone able to write the database could recompute the seal;
/// it catches a cache that fell out of step with the events or was edited in place, and
/// `verify` refolds the events to catch the rest.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SealedSnapshot {
    /// The seq it folds up to.
    pub seq: u64,
    /// The chain hash of event `seq`.
    pub hash: String,
    /// SHA-256 over the hash and the state text.
    pub digest: String,
    /// The state, as JSON text (kept as text so the digest is over these exact bytes).
    pub state: String,
}

impl SealedSnapshot {
    fn seal(state: &State, hash: String) -> Result<String, StoreError> {
        let text = serde_json::to_string(state).map_err(|e| StoreError::Other(e.to_string()))?;
        let sealed =
            Self { seq: state.seq, digest: Self::digest_of(&hash, &text), hash, state: text };
        serde_json::to_string(&sealed).map_err(|e| StoreError::Other(e.to_string()))
    }

    /// The seal over the chain hash and the state text.
    pub fn digest_of(hash: &str, state: &str) -> String {
        chain::plan_digest(&format!("flightdeck snapshot v1\n{}\n{hash}\n{state}", hash.len()))
    }
}

async fn insert_events(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
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
