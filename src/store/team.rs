//! Team mode in the store: presence (every open cockpit heartbeats; entries expire) and the
//! driver lease (exactly one process at a time runs actions and automated decisions for a
//! release; it renews the lease, and another cockpit takes over once it expires).

use sqlx::Row;

use super::{Store, StoreError};
use crate::release::{Actor, Timestamp};

/// How long a presence entry lives without a heartbeat.
pub const PRESENCE_TTL_MS: u64 = 6_000;
/// How long a driver lease lives without renewal.
pub const LEASE_TTL_MS: u64 = 8_000;

/// One open cockpit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Presence {
    /// The operator's name.
    pub operator: String,
    /// OS account.
    pub account: String,
    /// Host.
    pub host: String,
    /// Process id.
    pub pid: u32,
    /// Terminal device.
    pub tty: String,
    /// Watching only.
    pub read_only: bool,
    /// Last heartbeat.
    pub last_seen: Timestamp,
}

impl Presence {
    /// `alice@bastion-1`.
    pub fn label(&self) -> String {
        format!("{}@{}", self.operator, self.host)
    }
}

/// Who drives a release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The holder's operator name.
    pub operator: String,
    /// Its host.
    pub host: String,
    /// Its pid.
    pub pid: u32,
    /// When it lapses unless renewed.
    pub expires_at: Timestamp,
    /// Offered for hand-over: to this operator, or to anyone (`*`). The holder keeps driving
    /// until another cockpit takes it.
    pub offered_to: Option<String>,
}

/// `offered_to` meaning any other cockpit may take the lease.
pub const OFFERED_TO_ANYONE: &str = "*";

impl Lease {
    /// Whether `actor`'s process holds it.
    pub fn held_by(&self, actor: &Actor) -> bool {
        self.host == actor.host && self.pid == actor.pid
    }

    /// Whether `actor` (not the holder) may take it now, without waiting for it to expire.
    pub fn offered_to(&self, actor: &Actor) -> bool {
        !self.held_by(actor)
            && self
                .offered_to
                .as_deref()
                .is_some_and(|to| to == OFFERED_TO_ANYONE || to == actor.name)
    }

    /// Whether it lapsed before `now`: its holder stopped renewing (killed, host gone, ssh
    /// dropped), so what it was running is presumed dead.
    pub fn expired(&self, now: Timestamp) -> bool {
        self.expires_at < now
    }
}

/// The outcome of a claim: who holds the lease now, and the holder it was taken from when
/// that lease had expired (its in-flight actions are orphans).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claimed {
    /// The lease after the claim.
    pub lease: Lease,
    /// The expired lease this claim replaced, if this claim took it.
    pub took_expired: Option<Lease>,
}

fn key(actor: &Actor) -> String {
    format!("{}:{}", actor.host, actor.pid)
}

impl Store {
    /// Records that this cockpit is open on `release_id` (or on no release yet).
    pub async fn heartbeat(
        &self,
        actor: &Actor,
        release_id: Option<i64>,
        tty: &str,
        read_only: bool,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO presence (id, release_id, operator, account, host, pid, tty, read_only, \
             started_at, last_seen) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
             ON CONFLICT(id) DO UPDATE SET release_id = excluded.release_id, \
             operator = excluded.operator, last_seen = excluded.last_seen",
        )
        .bind(key(actor))
        .bind(release_id)
        .bind(&actor.name)
        .bind(&actor.account)
        .bind(&actor.host)
        .bind(i64::from(actor.pid))
        .bind(tty)
        .bind(i64::from(read_only))
        .bind(now.0)
        .bind(now.0)
        .execute(self.pool())
        .await
        .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Removes this cockpit's presence (on quit).
    pub async fn leave(&self, actor: &Actor) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM presence WHERE id = $1")
            .bind(key(actor))
            .execute(self.pool())
            .await
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// The cockpits open on a release that heartbeated recently, oldest first; expired
    /// entries are pruned.
    pub async fn present(
        &self,
        release_id: i64,
        now: Timestamp,
    ) -> Result<Vec<Presence>, StoreError> {
        let horizon = now.0.saturating_sub(i64::try_from(PRESENCE_TTL_MS).unwrap_or(i64::MAX));
        // Pruning is housekeeping: a watcher that may not write still sees only the living.
        let _ = sqlx::query("DELETE FROM presence WHERE last_seen < $1")
            .bind(horizon)
            .execute(self.pool())
            .await;
        let rows = sqlx::query(
            "SELECT operator, account, host, pid, tty, read_only, last_seen FROM presence \
             WHERE release_id = $1 AND last_seen >= $2 ORDER BY started_at, id",
        )
        .bind(release_id)
        .bind(horizon)
        .fetch_all(self.pool())
        .await
        .map_err(|e| self.err(e))?;
        Ok(rows
            .iter()
            .map(|r| Presence {
                operator: r.get("operator"),
                account: r.get("account"),
                host: r.get("host"),
                pid: u32::try_from(r.get::<i64, _>("pid")).unwrap_or(0),
                tty: r.get("tty"),
                read_only: r.get::<i64, _>("read_only") != 0,
                last_seen: Timestamp(r.get("last_seen")),
            })
            .collect())
    }

    /// Takes or renews the driver lease if it is free, expired, offered to `actor` or already
    /// ours; returns who holds it afterwards. One statement decides, so two cockpits never
    /// both win.
    pub async fn claim_lease(
        &self,
        release_id: i64,
        actor: &Actor,
        now: Timestamp,
    ) -> Result<Lease, StoreError> {
        Ok(self.claim_lease_noting(release_id, actor, now).await?.lease)
    }

    /// [`Store::claim_lease`], also telling whether this claim replaced an expired lease
    /// (read just before the claim; only the winner of a race reports it).
    pub async fn claim_lease_noting(
        &self,
        release_id: i64,
        actor: &Actor,
        now: Timestamp,
    ) -> Result<Claimed, StoreError> {
        let before = self.lease(release_id).await?;
        let expires = now.plus_millis(LEASE_TTL_MS);
        sqlx::query(
            "INSERT INTO leases (release_id, holder, operator, host, pid, acquired_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT(release_id) DO UPDATE SET holder = excluded.holder, \
             operator = excluded.operator, host = excluded.host, pid = excluded.pid, \
             acquired_at = CASE WHEN leases.holder = excluded.holder THEN leases.acquired_at \
                                ELSE excluded.acquired_at END, \
             expires_at = excluded.expires_at, \
             offered_to = CASE WHEN leases.holder = excluded.holder THEN leases.offered_to \
                               ELSE NULL END \
             WHERE leases.holder = excluded.holder OR leases.expires_at < $8 \
                OR leases.offered_to = $9 OR leases.offered_to = $10",
        )
        .bind(release_id)
        .bind(key(actor))
        .bind(&actor.name)
        .bind(&actor.host)
        .bind(i64::from(actor.pid))
        .bind(now.0)
        .bind(expires.0)
        .bind(now.0)
        .bind(OFFERED_TO_ANYONE)
        .bind(&actor.name)
        .execute(self.pool())
        .await
        .map_err(|e| self.err(e))?;
        let lease = self
            .lease(release_id)
            .await?
            .ok_or_else(|| StoreError::Other("lease vanished".into()))?;
        let took_expired =
            before.filter(|b| lease.held_by(actor) && !b.held_by(actor) && b.expired(now));
        Ok(Claimed { lease, took_expired })
    }

    /// Offers the lease for hand-over: to `to` (an operator name) or to anyone. The holder
    /// keeps driving until another cockpit claims it (within a heartbeat). Returns the lease
    /// as offered, or `None` when nobody drives the release.
    pub async fn offer_lease(
        &self,
        release_id: i64,
        to: Option<&str>,
    ) -> Result<Option<Lease>, StoreError> {
        self.refuse_if_read_only()?;
        sqlx::query("UPDATE leases SET offered_to = $1 WHERE release_id = $2")
            .bind(to.unwrap_or(OFFERED_TO_ANYONE))
            .bind(release_id)
            .execute(self.pool())
            .await
            .map_err(|e| self.err(e))?;
        self.lease(release_id).await
    }

    /// Hands the lease to whoever claims next (explicit hand-over, or on quit).
    pub async fn release_lease(&self, release_id: i64, actor: &Actor) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM leases WHERE release_id = $1 AND holder = $2")
            .bind(release_id)
            .bind(key(actor))
            .execute(self.pool())
            .await
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// The current lease of a release, if any.
    pub async fn lease(&self, release_id: i64) -> Result<Option<Lease>, StoreError> {
        let row = sqlx::query(
            "SELECT operator, host, pid, expires_at, offered_to FROM leases WHERE release_id = $1",
        )
        .bind(release_id)
        .fetch_optional(self.pool())
        .await
        .map_err(|e| self.err(e))?;
        Ok(row.map(|r| Lease {
            operator: r.get("operator"),
            host: r.get("host"),
            pid: u32::try_from(r.get::<i64, _>("pid")).unwrap_or(0),
            expires_at: Timestamp(r.get("expires_at")),
            offered_to: r.get("offered_to"),
        }))
    }
}
