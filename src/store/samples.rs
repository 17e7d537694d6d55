//! Probe readings in the store: written in batches by the cockpit that polls, read by
//! another cockpit, the CLI and the report. Bounded: every batch prunes the series it
//! touched to their newest `SAMPLES_KEPT_PER_SERIES` rows.

use sqlx::Row;

use super::{Store, StoreError};
use crate::release::Timestamp;

/// Rows kept per series and release; older ones are pruned as new ones arrive.
pub const SAMPLES_KEPT_PER_SERIES: i64 = 2000;

pub use crate::analysis::{SampleKind, SampleRow};

fn row_of(r: &sqlx::any::AnyRow) -> SampleRow {
    SampleRow {
        series: r.get("series"),
        kind: SampleKind::parse(r.get::<String, _>("kind").as_str()),
        at: Timestamp(r.get("at")),
        value: r.get("value"),
        error: r.get("error"),
    }
}

impl Store {
    /// Records a batch of readings in one transaction and prunes the series it touched.
    /// Non-finite values are stored as "no data" (SQLite has no NaN).
    pub async fn record_samples(
        &self,
        release_id: i64,
        rows: &[SampleRow],
    ) -> Result<(), StoreError> {
        if rows.is_empty() {
            return Ok(());
        }
        if self.is_read_only() {
            return Err(StoreError::ReadOnly {
                path: self.path(),
                detail: "opened with --read-only".into(),
            });
        }
        let mut tx = self.pool().begin().await.map_err(|e| self.err(e))?;
        for r in rows {
            sqlx::query(
                "INSERT INTO samples (release_id, series, kind, at, value, error) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(release_id)
            .bind(&r.series)
            .bind(r.kind.as_str())
            .bind(r.at.0)
            .bind(r.value.filter(|v| v.is_finite()))
            .bind(r.error.as_deref())
            .execute(&mut *tx)
            .await
            .map_err(|e| self.err(e))?;
        }
        let mut touched: Vec<&str> = rows.iter().map(|r| r.series.as_str()).collect();
        touched.sort_unstable();
        touched.dedup();
        for series in touched {
            sqlx::query(
                "DELETE FROM samples WHERE release_id = $1 AND series = $2 AND id <= \
                 (SELECT id FROM samples WHERE release_id = $1 AND series = $2 \
                  ORDER BY id DESC LIMIT 1 OFFSET $3)",
            )
            .bind(release_id)
            .bind(series)
            .bind(SAMPLES_KEPT_PER_SERIES)
            .execute(&mut *tx)
            .await
            .map_err(|e| self.err(e))?;
        }
        tx.commit().await.map_err(|e| self.err(e))
    }

    /// The newest `limit` readings of one series, oldest first.
    pub async fn samples(
        &self,
        release_id: i64,
        series: &str,
        limit: u32,
    ) -> Result<Vec<SampleRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT series, kind, at, value, error FROM samples \
             WHERE release_id = $1 AND series = $2 ORDER BY id DESC LIMIT $3",
        )
        .bind(release_id)
        .bind(series)
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await
        .map_err(|e| self.err(e))?;
        Ok(rows.iter().rev().map(row_of).collect())
    }

    /// Every reading of a release taken at or after `since`, oldest first (bounded by the
    /// retention per series).
    pub async fn samples_since(
        &self,
        release_id: i64,
        since: Timestamp,
    ) -> Result<Vec<SampleRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT series, kind, at, value, error FROM samples \
             WHERE release_id = $1 AND at >= $2 ORDER BY at, id",
        )
        .bind(release_id)
        .bind(since.0)
        .fetch_all(self.pool())
        .await
        .map_err(|e| self.err(e))?;
        Ok(rows.iter().map(row_of).collect())
    }
}
