//! Moving a release between stores: reading one out exactly as stored (row, plan, events with
//! their hashes, probe readings) and writing one in, after its chain is verified, in a single
//! transaction. Imported events keep their payload bytes and hashes; nothing is re-encoded.

use serde::{Deserialize, Serialize};
use sqlx::Row;

use super::chain::{StoredEvent, verify_events};
use super::{SampleKind, SampleRow, Store, StoreError};
use crate::release::{State, Timestamp};

/// A release's row as exported: what identifies it, its plan, and its chain anchor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportedRelease {
    /// The id its hashes were computed with (its id in the store that recorded it).
    pub id: i64,
    /// Service name.
    pub service: String,
    /// Target environment.
    pub environment: String,
    /// Version released.
    pub version: String,
    /// Regular, hotfix or emergency.
    pub release_type: String,
    /// Where the plan was read from.
    pub plan_path: String,
    /// The plan's text, as started.
    pub plan_toml: String,
    /// When it was created.
    pub created_at: Timestamp,
    /// The last seq written before chain support (0: all chained).
    pub unchained_through: u64,
    /// How many events follow.
    pub events: u64,
    /// The last event's hash.
    pub head: Option<String>,
}

/// A probe reading as exported.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExportedSample {
    /// Metric or health id.
    pub series: String,
    /// `metric` or `health`.
    pub kind: String,
    /// When it was read.
    pub at: Timestamp,
    /// The value, if any.
    pub value: Option<f64>,
    /// Why the read failed.
    pub error: Option<String>,
}

impl From<&SampleRow> for ExportedSample {
    fn from(r: &SampleRow) -> Self {
        Self {
            series: r.series.clone(),
            kind: match r.kind {
                SampleKind::Metric => "metric".into(),
                SampleKind::Health => "health".into(),
            },
            at: r.at,
            value: r.value,
            error: r.error.clone(),
        }
    }
}

/// One release to import, as read from an export.
#[derive(Debug, Clone)]
pub struct Importing {
    /// Its row.
    pub release: ExportedRelease,
    /// Its events, in seq order, as stored where it came from.
    pub events: Vec<StoredEvent>,
    /// Its probe readings, oldest first.
    pub samples: Vec<ExportedSample>,
}

impl Importing {
    /// Checks the chain and that every event reads under the stored plan; returns the state.
    pub fn check(&self) -> Result<State, String> {
        let r = &self.release;
        let what = format!("release {} ({} {})", r.id, r.service, r.version);
        let count = u64::try_from(self.events.len()).unwrap_or(u64::MAX);
        if count != r.events {
            return Err(format!(
                "{what}: the export says {} events but holds {count}: the file is incomplete",
                r.events
            ));
        }
        let last = self.events.last().map_or(0, |e| e.seq);
        let chain = verify_events(&self.events, r.id, r.unchained_through, Some(last));
        if let Some(p) = &chain.problem {
            return Err(format!(
                "{what}: the chain is broken at event {} ({}): {}",
                p.seq,
                p.tamper.as_str(),
                p.detail
            ));
        }
        if chain.head != r.head {
            return Err(format!(
                "{what}: the last event's hash is {} but the export says {}: the file was cut or edited",
                chain.head.as_deref().unwrap_or("none"),
                r.head.as_deref().unwrap_or("none")
            ));
        }
        let plan = crate::plan::parse(&r.plan_toml, &format!("plan of {what}"))
            .map_err(|e| format!("{what}: its plan does not parse here: {e}"))?;
        let records = self
            .events
            .iter()
            .map(StoredEvent::record)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("{what}: {e}"))?;
        if records.is_empty() {
            return Err(format!("{what}: it has no events"));
        }
        let state = State::replay(&plan, &records);
        if crate::store::is_active(state.status.as_str()) {
            // An imported release is history: a running copy would be driven from two
            // stores at once (its actions run, its automation roll back) and fork the record.
            return Err(format!(
                "{what} is still {}; export it again once it has completed, rolled back or been aborted",
                state.status.as_str().replace('_', " ")
            ));
        }
        Ok(state)
    }
}

impl Store {
    /// A release exactly as stored, for export.
    pub async fn export(&self, release_id: i64) -> Result<Importing, StoreError> {
        let row = sqlx::query(
            "SELECT service, environment, version, release_type, plan_path, plan_toml, \
             created_at FROM releases WHERE id = $1",
        )
        .bind(release_id)
        .fetch_optional(self.pool())
        .await
        .map_err(|e| self.err(e))?
        .ok_or_else(|| StoreError::NotFound(format!("no release {release_id}")))?;
        let anchor = self.anchor(release_id).await?;
        let events = self.stored_events(release_id).await?;
        let samples = self.samples_since(release_id, Timestamp(i64::MIN)).await?;
        Ok(Importing {
            release: ExportedRelease {
                id: anchor.origin_id,
                service: row.get("service"),
                environment: row.get("environment"),
                version: row.get("version"),
                release_type: row.get("release_type"),
                plan_path: row.get("plan_path"),
                plan_toml: row.get("plan_toml"),
                created_at: Timestamp(row.get("created_at")),
                unchained_through: anchor.unchained_through,
                events: u64::try_from(events.len()).unwrap_or(u64::MAX),
                head: events.last().and_then(|e| e.hash.clone()),
            },
            events,
            samples: samples.iter().map(ExportedSample::from).collect(),
        })
    }

    /// The id of a release here that is the same as `release` (same service, version,
    /// creation time and first event hash), if there is one.
    pub async fn same_release(
        &self,
        release: &ExportedRelease,
        first_hash: Option<&str>,
    ) -> Result<Option<i64>, StoreError> {
        let row = sqlx::query(
            "SELECT r.id FROM releases r JOIN events e ON e.release_id = r.id AND e.seq = 1 \
             WHERE r.service = $1 AND r.version = $2 AND r.created_at = $3 AND e.hash IS NOT DISTINCT FROM $4",
        )
        .bind(&release.service)
        .bind(&release.version)
        .bind(release.created_at.0)
        .bind(first_hash)
        .fetch_optional(self.pool())
        .await
        .map_err(|e| self.err(e))?;
        Ok(row.map(|r| r.get(0)))
    }

    /// Verifies every release, refuses any that is already here, then writes them all in one
    /// transaction. Returns their new ids. Nothing is written unless everything checks out.
    pub async fn import(&self, releases: &[Importing]) -> Result<Vec<i64>, StoreError> {
        if self.is_read_only() {
            return Err(StoreError::ReadOnly {
                path: self.path(),
                detail: "opened with --read-only".into(),
            });
        }
        let mut states = Vec::new();
        for item in releases {
            let state = item.check().map_err(StoreError::Other)?;
            let first = item.events.first().and_then(|e| e.hash.as_deref());
            if let Some(id) = self.same_release(&item.release, first).await? {
                let r = &item.release;
                return Err(StoreError::Other(format!(
                    "release {} {} (created {} UTC) is already in {} as release {id}; nothing was imported",
                    r.service,
                    r.version,
                    crate::release::format_date_time(r.created_at),
                    self.path().display()
                )));
            }
            states.push(state);
        }
        let mut tx = self.begin_write().await?;
        let mut ids = Vec::new();
        for (item, state) in releases.iter().zip(&states) {
            let r = &item.release;
            let last = item.events.last();
            let id: i64 = sqlx::query(
                "INSERT INTO releases (service, environment, version, release_type, plan_path, \
                 plan_toml, created_at, status, last_seq, updated_at, origin_id) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
            )
            .bind(&r.service)
            .bind(&r.environment)
            .bind(&r.version)
            .bind(&r.release_type)
            .bind(&r.plan_path)
            .bind(&r.plan_toml)
            .bind(r.created_at.0)
            .bind(state.status.as_str())
            .bind(i64::try_from(last.map_or(0, |e| e.seq)).unwrap_or(i64::MAX))
            .bind(last.map_or(r.created_at.0, |e| e.at.0))
            .bind(r.id)
            .fetch_one(&mut *tx)
            .await
            .map_err(|e| self.err(e))?
            .get(0);
            for e in &item.events {
                e.insert(&mut tx, id, e.hash.as_deref()).await.map_err(|e| self.err(e))?;
            }
            if r.unchained_through > 0 {
                sqlx::query("INSERT INTO unchained (release_id, through_seq) VALUES ($1, $2)")
                    .bind(id)
                    .bind(i64::try_from(r.unchained_through).unwrap_or(i64::MAX))
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| self.err(e))?;
            }
            for s in &item.samples {
                sqlx::query(
                    "INSERT INTO samples (release_id, series, kind, at, value, error) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(id)
                .bind(&s.series)
                .bind(if s.kind == "health" { "health" } else { "metric" })
                .bind(s.at.0)
                .bind(s.value.filter(|v| v.is_finite()))
                .bind(s.error.as_deref())
                .execute(&mut *tx)
                .await
                .map_err(|e| self.err(e))?;
            }
            ids.push(id);
        }
        tx.commit().await.map_err(|e| self.err(e))?;
        Ok(ids)
    }
}
