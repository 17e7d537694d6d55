//! Webhook deliveries: one row per attempt to tell a `[[notify]]` hook about an event. Kept
//! apart from the events on purpose: a webhook that fails never changes a release's state
//! or its record, it is only noted here.

use sqlx::Row;

use super::{Store, StoreError};
use crate::release::Timestamp;

/// One attempt at one delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The release.
    pub release_id: i64,
    /// The event notified about.
    pub seq: u64,
    /// The milestone word (`started`, `rollback_started`, ...).
    pub event: String,
    /// The hook's URL with secrets shown as `***`.
    pub target: String,
    /// `slack` or `json`.
    pub format: String,
    /// 1 for the first try, 2, 3 on retries.
    pub attempt: u32,
    /// When the attempt ended.
    pub at: Timestamp,
    /// Whether the hook accepted it (a 2xx answer).
    pub ok: bool,
    /// The HTTP status, if one came back.
    pub status: Option<u16>,
    /// What went wrong.
    pub error: Option<String>,
}

impl Store {
    /// Notes one delivery attempt.
    pub async fn record_delivery(&self, d: &Delivery) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO deliveries (release_id, seq, event, target, format, attempt, at, ok, \
             status, error) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(d.release_id)
        .bind(i64::try_from(d.seq).unwrap_or(i64::MAX))
        .bind(&d.event)
        .bind(&d.target)
        .bind(&d.format)
        .bind(i64::from(d.attempt))
        .bind(d.at.0)
        .bind(i64::from(d.ok))
        .bind(d.status.map(i64::from))
        .bind(d.error.as_deref())
        .execute(self.pool())
        .await
        .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Every delivery attempt for a release, in the order they were noted.
    pub async fn deliveries(&self, release_id: i64) -> Result<Vec<Delivery>, StoreError> {
        let rows = sqlx::query(
            "SELECT release_id, seq, event, target, format, attempt, at, ok, status, error \
             FROM deliveries WHERE release_id = $1 ORDER BY id",
        )
        .bind(release_id)
        .fetch_all(self.pool())
        .await
        .map_err(|e| self.err(e))?;
        Ok(rows
            .iter()
            .map(|r| Delivery {
                release_id: r.get("release_id"),
                seq: u64::try_from(r.get::<i64, _>("seq")).unwrap_or(0),
                event: r.get("event"),
                target: r.get("target"),
                format: r.get("format"),
                attempt: u32::try_from(r.get::<i64, _>("attempt")).unwrap_or(0),
                at: Timestamp(r.get("at")),
                ok: r.get::<i64, _>("ok") != 0,
                status: r.get::<Option<i64>, _>("status").and_then(|s| u16::try_from(s).ok()),
                error: r.get("error"),
            })
            .collect())
    }
}
