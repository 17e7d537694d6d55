//! Tamper evidence: every event stores a SHA-256 hash over the previous event's hash and its
//! own stored content, so altering, inserting or removing an event breaks the chain from that
//! point on. `verify` recomputes it and names the first event that no longer fits.
//!
//! What it proves: the events are the ones written, in the order written — as long as the
//! head hash is also kept somewhere else (a filed report prints it). Anyone who can write the
//! file can recompute every hash; the head written down elsewhere is what they cannot change.
//! This module never edits or deletes an event: it only reads them and hashes new ones.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::Row;

use super::{Store, StoreError};
use crate::release::{Actor, Event, EventRecord, SCHEMA_VERSION, Timestamp};

/// The "previous hash" of a release's first chained event.
pub const GENESIS: &str = "";

/// Bytes that start every hashed message, so a change of encoding can never collide.
const DOMAIN: &[u8] = b"flightdeck event chain v1";

/// An event exactly as stored: the raw payload text and the hash, as read from the row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredEvent {
    /// 1-based position in the release.
    pub seq: u64,
    /// When it was recorded.
    pub at: Timestamp,
    /// Who caused it.
    pub actor: Actor,
    /// The `kind` column.
    pub kind: String,
    /// The schema version it was written with.
    pub schema: i64,
    /// The payload text as stored (never re-serialized: the hash is over these bytes).
    pub payload: String,
    /// Its chain hash; `None` for events written before chain support.
    pub hash: Option<String>,
}

impl StoredEvent {
    /// Writes this event as the row of `release_id`, with `hash` in its hash column. The one
    /// INSERT into `events`, for appends and imports alike.
    pub(super) async fn insert(
        &self,
        conn: &mut sqlx::AnyConnection,
        release_id: i64,
        hash: Option<&str>,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO events (release_id, seq, at, actor, account, host, pid, automatic, kind, \
             schema, payload, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(release_id)
        .bind(i64::try_from(self.seq).unwrap_or(i64::MAX))
        .bind(self.at.0)
        .bind(&self.actor.name)
        .bind(&self.actor.account)
        .bind(&self.actor.host)
        .bind(i64::from(self.actor.pid))
        .bind(i64::from(self.actor.automatic))
        .bind(&self.kind)
        .bind(self.schema)
        .bind(&self.payload)
        .bind(hash)
        .execute(conn)
        .await?;
        Ok(())
    }

    /// The same event as the store would write it now (hash not yet computed).
    pub fn of(record: &EventRecord) -> Result<Self, serde_json::Error> {
        Ok(Self {
            seq: record.seq,
            at: record.at,
            actor: record.actor.clone(),
            kind: record.event.kind().to_owned(),
            schema: i64::from(SCHEMA_VERSION),
            payload: serde_json::to_string(&record.event)?,
            hash: None,
        })
    }

    /// The event it records, or why it cannot be read.
    pub fn record(&self) -> Result<EventRecord, String> {
        if self.schema > i64::from(SCHEMA_VERSION) {
            return Err(format!(
                "event {} has schema {}; this flightdeck reads up to {SCHEMA_VERSION}",
                self.seq, self.schema
            ));
        }
        let event: Event = serde_json::from_str(&self.payload)
            .map_err(|e| format!("event {} does not parse: {e}", self.seq))?;
        Ok(EventRecord { seq: self.seq, at: self.at, actor: self.actor.clone(), event })
    }

    /// This event's hash when chained after `prev` in release `origin_id`.
    pub fn compute_hash(&self, prev: &str, origin_id: i64) -> String {
        self.hash_as(prev, origin_id, self.seq)
    }

    fn hash_as(&self, prev: &str, origin_id: i64, seq: u64) -> String {
        let mut h = Sha256::new();
        h.update(DOMAIN);
        let a = &self.actor;
        let numbers = [
            origin_id.to_string(),
            seq.to_string(),
            self.at.0.to_string(),
            a.pid.to_string(),
            self.schema.to_string(),
        ];
        let [origin, seq, at, pid, schema] = &numbers;
        let fields: [&[u8]; 12] = [
            prev.as_bytes(),
            origin.as_bytes(),
            seq.as_bytes(),
            at.as_bytes(),
            a.name.as_bytes(),
            a.account.as_bytes(),
            a.host.as_bytes(),
            pid.as_bytes(),
            if a.automatic { b"1" } else { b"0" },
            self.kind.as_bytes(),
            schema.as_bytes(),
            self.payload.as_bytes(),
        ];
        for field in fields {
            // Length-prefixed, so no two different field lists hash the same bytes.
            h.update(u64::try_from(field.len()).unwrap_or(u64::MAX).to_be_bytes());
            h.update(field);
        }
        hex(&h.finalize())
    }
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    s
}

/// What is wrong at the first event that breaks the chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Tamper {
    /// Its content no longer matches its hash (the next event still chains to that hash).
    Altered,
    /// It was not written by flightdeck in this place: the next event chains over it.
    Inserted,
    /// One or more events before it are missing.
    Removed,
    /// It fits neither its hash nor its neighbours: altered, or events around it were added
    /// or taken away.
    Broken,
}

impl Tamper {
    /// The word for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Altered => "altered",
            Self::Inserted => "inserted",
            Self::Removed => "removed",
            Self::Broken => "broken",
        }
    }
}

/// The first place the chain breaks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChainProblem {
    /// The seq named: the altered or inserted event, or the first missing one.
    pub seq: u64,
    /// What happened there.
    pub tamper: Tamper,
    /// A sentence saying so.
    pub detail: String,
}

/// The outcome of recomputing a release's chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChainReport {
    /// Events stored.
    pub events: u64,
    /// Events written before chain support (they carry no hash and cannot be checked).
    pub unchained: u64,
    /// The hash of the last event, if it has one.
    pub head: Option<String>,
    /// The first break, if any.
    pub problem: Option<ChainProblem>,
}

impl ChainReport {
    /// Whether the chain holds.
    pub fn intact(&self) -> bool {
        self.problem.is_none()
    }

    /// One line: `intact: 42 events, head 3f2a…` or what is wrong.
    pub fn summary(&self) -> String {
        match &self.problem {
            Some(p) => format!("TAMPERED: event {} {}: {}", p.seq, p.tamper.as_str(), p.detail),
            None => {
                let mut s = format!(
                    "intact: {} event{}",
                    self.events,
                    if self.events == 1 { "" } else { "s" }
                );
                if self.unchained > 0 {
                    s.push_str(&format!(
                        ", {} unchained (written before chain support)",
                        self.unchained
                    ));
                }
                if let Some(head) = &self.head {
                    s.push_str(&format!(", head {head}"));
                }
                s
            }
        }
    }
}

/// Recomputes the chain of one release's events (in seq order).
///
/// `origin_id` is the id the hashes were computed with; `unchained_through` the last seq that
/// may lack a hash (written before chain support); `last_seq` the seq the release row says is
/// its last, so removing the newest events is noticed too.
pub fn verify_events(
    events: &[StoredEvent],
    origin_id: i64,
    unchained_through: u64,
    last_seq: Option<u64>,
) -> ChainReport {
    let mut report = ChainReport {
        events: u64::try_from(events.len()).unwrap_or(u64::MAX),
        unchained: 0,
        head: None,
        problem: None,
    };
    let mut prev = GENESIS.to_owned();
    let mut chained = 0_u64;
    for (i, e) in events.iter().enumerate() {
        let expected_seq = u64::try_from(i).unwrap_or(u64::MAX) + 1;
        if e.seq != expected_seq {
            let detail = if e.seq == expected_seq + 1 {
                format!(
                    "event {expected_seq} is missing (the events jump from {} to {})",
                    expected_seq - 1,
                    e.seq
                )
            } else {
                format!(
                    "events {expected_seq} to {} are missing (the events jump from {} to {})",
                    e.seq - 1,
                    expected_seq - 1,
                    e.seq
                )
            };
            report.problem =
                Some(ChainProblem { seq: expected_seq, tamper: Tamper::Removed, detail });
            return report;
        }
        let Some(hash) = &e.hash else {
            if chained == 0 && e.seq <= unchained_through {
                report.unchained += 1;
                prev = GENESIS.to_owned();
                continue;
            }
            report.problem = Some(ChainProblem {
                seq: e.seq,
                tamper: Tamper::Inserted,
                detail: format!(
                    "event {} has no hash although it was written with chain support: it was inserted by hand (or its hash was stripped)",
                    e.seq
                ),
            });
            return report;
        };
        if e.compute_hash(&prev, origin_id) == *hash {
            chained += 1;
            prev.clone_from(hash);
            continue;
        }
        report.problem = Some(diagnose(events, i, &prev, origin_id));
        return report;
    }
    report.head = events.last().and_then(|e| e.hash.clone());
    if let (Some(last), Some(expected)) = (events.last().map(|e| e.seq), last_seq) {
        if expected > last {
            report.problem = Some(ChainProblem {
                seq: last + 1,
                tamper: Tamper::Removed,
                detail: format!(
                    "the release's last event is {expected} but the events end at {last}: the newest were removed"
                ),
            });
        }
    } else if events.is_empty() && last_seq.is_some_and(|s| s > 0) {
        report.problem = Some(ChainProblem {
            seq: 1,
            tamper: Tamper::Removed,
            detail: "the release has no events left".into(),
        });
    }
    report
}

/// Says what most likely happened at `events[i]`, whose hash does not follow from `prev`.
fn diagnose(events: &[StoredEvent], i: usize, prev: &str, origin: i64) -> ChainProblem {
    let e = &events[i];
    let stored = e.hash.as_deref().unwrap_or_default();
    let next = events.get(i + 1).filter(|n| n.hash.is_some());
    let next_hash = next.and_then(|n| n.hash.as_deref()).unwrap_or_default();
    let problem = |seq, tamper, detail: String| ChainProblem { seq, tamper, detail };
    // The event before it was slipped in with a made-up (but well-formed) hash, and the
    // events after it renumbered: this one chains to the one before that, one seq lower.
    if i >= 1 && e.seq >= 2 {
        let before_prev = if i >= 2 {
            events[i - 2].hash.clone().unwrap_or_default()
        } else {
            GENESIS.to_owned()
        };
        if e.hash_as(&before_prev, origin, e.seq - 1) == stored {
            return problem(
                e.seq - 1,
                Tamper::Inserted,
                format!(
                    "event {} was inserted: event {} was written as {} and chains to the event before it",
                    e.seq - 1,
                    e.seq,
                    e.seq - 1
                ),
            );
        }
    }
    if let Some(n) = next {
        if n.compute_hash(stored, origin) == next_hash {
            return problem(
                e.seq,
                Tamper::Altered,
                format!(
                    "event {} was altered: its content no longer matches the hash it was written with",
                    e.seq
                ),
            );
        }
        if n.seq >= 2 && n.hash_as(prev, origin, n.seq - 1) == next_hash {
            return problem(
                e.seq,
                Tamper::Inserted,
                format!(
                    "event {} was inserted: event {} was written as {} and chains to event {}",
                    e.seq,
                    n.seq,
                    n.seq - 1,
                    e.seq - 1
                ),
            );
        }
        if n.hash_as(stored, origin, n.seq + 1) == next_hash {
            return problem(
                e.seq,
                Tamper::Removed,
                format!(
                    "an event was removed before event {}: it was written as {} and the events after it were renumbered",
                    e.seq,
                    e.seq + 1
                ),
            );
        }
    }
    problem(
        e.seq,
        Tamper::Broken,
        format!(
            "event {} does not match its hash or chain to event {}: it was altered, or events around it were inserted or removed",
            e.seq,
            e.seq.saturating_sub(1)
        ),
    )
}

/// Where a release's chain is anchored: the id its hashes use and its unchained prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Anchor {
    /// The id the hashes were computed with (the release's id in the store that recorded it).
    pub origin_id: i64,
    /// The last seq written before chain support (0: every event is chained).
    pub unchained_through: u64,
    /// The last seq, as the release row says.
    pub last_seq: u64,
}

impl Store {
    /// Every event of a release exactly as stored, in seq order.
    pub async fn stored_events(&self, release_id: i64) -> Result<Vec<StoredEvent>, StoreError> {
        let rows = sqlx::query(
            "SELECT seq, at, actor, account, host, pid, automatic, kind, schema, payload, hash \
             FROM events WHERE release_id = $1 ORDER BY seq",
        )
        .bind(release_id)
        .fetch_all(self.pool())
        .await
        .map_err(|e| self.err(e))?;
        Ok(rows
            .iter()
            .map(|r| StoredEvent {
                seq: u64::try_from(r.get::<i64, _>("seq")).unwrap_or(0),
                at: Timestamp(r.get("at")),
                actor: actor_of(r),
                kind: r.get("kind"),
                schema: r.get("schema"),
                payload: r.get("payload"),
                hash: r.get("hash"),
            })
            .collect())
    }

    /// The release's chain anchor.
    pub async fn anchor(&self, release_id: i64) -> Result<Anchor, StoreError> {
        let row = sqlx::query(
            "SELECT COALESCE(r.origin_id, r.id) AS origin, r.last_seq, \
             COALESCE(u.through_seq, 0) AS through FROM releases r \
             LEFT JOIN unchained u ON u.release_id = r.id WHERE r.id = $1",
        )
        .bind(release_id)
        .fetch_optional(self.pool())
        .await
        .map_err(|e| self.err(e))?
        .ok_or_else(|| StoreError::NotFound(format!("no release {release_id}")))?;
        Ok(Anchor {
            origin_id: row.get("origin"),
            unchained_through: u64::try_from(row.get::<i64, _>("through")).unwrap_or(0),
            last_seq: u64::try_from(row.get::<i64, _>("last_seq")).unwrap_or(0),
        })
    }

    /// Recomputes a release's chain.
    pub async fn verify(&self, release_id: i64) -> Result<ChainReport, StoreError> {
        let anchor = self.anchor(release_id).await?;
        let events = self.stored_events(release_id).await?;
        Ok(verify_events(
            &events,
            anchor.origin_id,
            anchor.unchained_through,
            Some(anchor.last_seq),
        ))
    }
}

/// The id to hash a release's new events with, and the hash they chain to (read inside the
/// appending transaction, so it is the hash of the event just before `first_seq`).
pub(super) async fn tail(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    release_id: i64,
    first_seq: u64,
) -> Result<(i64, String), sqlx::Error> {
    let origin: i64 = sqlx::query("SELECT COALESCE(origin_id, id) FROM releases WHERE id = $1")
        .bind(release_id)
        .fetch_optional(&mut **tx)
        .await?
        .map_or(release_id, |r| r.get(0));
    let prev: Option<String> = if first_seq <= 1 {
        None
    } else {
        sqlx::query("SELECT hash FROM events WHERE release_id = $1 AND seq = $2")
            .bind(release_id)
            .bind(i64::try_from(first_seq - 1).unwrap_or(i64::MAX))
            .fetch_optional(&mut **tx)
            .await?
            .and_then(|r| r.get(0))
    };
    Ok((origin, prev.unwrap_or_else(|| GENESIS.to_owned())))
}

/// The actor columns of an `events` row.
pub(super) fn actor_of(row: &sqlx::any::AnyRow) -> Actor {
    Actor {
        name: row.get("actor"),
        account: row.get("account"),
        host: row.get("host"),
        pid: u32::try_from(row.get::<i64, _>("pid")).unwrap_or(0),
        automatic: row.get::<i64, _>("automatic") != 0,
    }
}

/// SHA-256 (hex) of a plan's text: what the start event records and loading checks.
pub fn plan_digest(plan_toml: &str) -> String {
    hex(&Sha256::digest(plan_toml.as_bytes()))
}

/// The newest event of a release and its chain hash: the value to keep outside the database
/// (a ticket, a chat message, the webhook) so that removing or rewriting events is caught by
/// `flightdeck verify --head SEQ:HASH`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Head {
    /// The newest event's seq (0: no events).
    pub seq: u64,
    /// Its hash; `None` when it was written before chain support.
    pub hash: Option<String>,
}

impl Head {
    /// `SEQ:HASH`, the form `verify --head` takes.
    pub fn shown(&self) -> String {
        format!("{}:{}", self.seq, self.hash.as_deref().unwrap_or("unchained"))
    }

    /// `{"seq": N, "hash": "...", "anchor": "N:..."}`: the `head` of every `--json` output.
    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({ "seq": self.seq, "hash": self.hash, "anchor": self.shown() })
    }
}

impl std::fmt::Display for Head {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.shown())
    }
}

/// A head written down earlier, as given to `verify --head`: `SEQ:HASH` or just `HASH`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnchoredHead {
    /// The seq, if given.
    pub seq: Option<u64>,
    /// The hash (lower-case hex).
    pub hash: String,
}

impl AnchoredHead {
    /// Reads `SEQ:HASH` or `HASH` (64 hex digits).
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let (seq, hash) = match text.split_once(':') {
            Some((seq, hash)) => {
                let seq = seq.parse::<u64>().map_err(|_| {
                    format!("`{text}`: the part before `:` must be an event seq (a number)")
                })?;
                (Some(seq), hash)
            }
            None => (None, text),
        };
        let hash = hash.to_ascii_lowercase();
        if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!(
                "`{text}`: a head is SEQ:HASH or HASH, the hash being the 64 hex digits \
                 `verify`, `status --json`, the report or a webhook printed"
            ));
        }
        Ok(Self { seq, hash })
    }

    /// Whether the events reach this head unchanged; if not, what is wrong. Events after it
    /// are fine: the record grew since the head was written down.
    pub fn check(&self, events: &[StoredEvent]) -> Result<u64, String> {
        let last = events.last().map_or(0, |e| e.seq);
        match self.seq {
            Some(seq) => match events.iter().find(|e| e.seq == seq) {
                None => Err(format!(
                    "the events end at {last}, before the anchored head {seq}:{}: the newest \
                     events were removed",
                    self.hash
                )),
                Some(e) if e.hash.as_deref() == Some(self.hash.as_str()) => Ok(seq),
                Some(e) => Err(format!(
                    "event {seq} has hash {}, not the anchored {}: the record up to it was \
                     rewritten",
                    e.hash.as_deref().unwrap_or("(none)"),
                    self.hash
                )),
            },
            None => events
                .iter()
                .find(|e| e.hash.as_deref() == Some(self.hash.as_str()))
                .map(|e| e.seq)
                .ok_or_else(|| {
                    format!(
                        "no event has the anchored head hash {} (the events end at {last}): the \
                         newest events were removed, or the record was rewritten",
                        self.hash
                    )
                }),
        }
    }
}

/// Whether the stored plan text is the one the release was started with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum PlanCheck {
    /// Its SHA-256 matches the start event's.
    Matches {
        /// The hash.
        sha256: String,
    },
    /// The start event carries no hash: recorded before flightdeck hashed plans.
    NotHashed,
    /// It was changed.
    Mismatch {
        /// What the start event recorded.
        recorded: String,
        /// The stored text's hash now.
        stored: String,
    },
}

impl PlanCheck {
    /// Compares the stored plan text with the hash in the start event's payload.
    pub fn of(start_payload: Option<&str>, plan_toml: &str) -> Self {
        let recorded = start_payload.and_then(|p| serde_json::from_str::<Event>(p).ok()).and_then(
            |e| match e {
                Event::ReleaseStarted { plan_sha256, .. } => plan_sha256,
                _ => None,
            },
        );
        let stored = plan_digest(plan_toml);
        match recorded {
            None => Self::NotHashed,
            Some(recorded) if recorded.eq_ignore_ascii_case(&stored) => {
                Self::Matches { sha256: stored }
            }
            Some(recorded) => Self::Mismatch { recorded, stored },
        }
    }

    /// One sentence.
    pub fn summary(&self) -> String {
        match self {
            Self::Matches { .. } => "plan matches the hash its start event recorded".into(),
            Self::NotHashed => {
                "plan not hashed (recorded before flightdeck put the plan's sha256 in the start \
                 event): the stored plan cannot be checked"
                    .into()
            }
            Self::Mismatch { recorded, stored } => format!(
                "the stored plan (releases.plan_toml) was changed: its sha256 is {stored}, the \
                 start event recorded {recorded}"
            ),
        }
    }
}

impl Store {
    /// The newest event's seq and hash (seq 0 when there are none).
    pub async fn head(&self, release_id: i64) -> Result<Head, StoreError> {
        let row = sqlx::query(
            "SELECT seq, hash FROM events WHERE release_id = $1 ORDER BY seq DESC LIMIT 1",
        )
        .bind(release_id)
        .fetch_optional(self.pool())
        .await
        .map_err(|e| self.err(e))?;
        Ok(row.map_or(Head { seq: 0, hash: None }, |r| Head {
            seq: u64::try_from(r.get::<i64, _>("seq")).unwrap_or(0),
            hash: r.get("hash"),
        }))
    }

    /// The chain hash of event `seq`, if it exists and has one.
    pub async fn event_hash(
        &self,
        release_id: i64,
        seq: u64,
    ) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT hash FROM events WHERE release_id = $1 AND seq = $2")
            .bind(release_id)
            .bind(i64::try_from(seq).unwrap_or(i64::MAX))
            .fetch_optional(self.pool())
            .await
            .map_err(|e| self.err(e))?;
        Ok(row.and_then(|r| r.get("hash")))
    }

    /// The stored plan text and the start event's payload, for [`PlanCheck::of`].
    pub async fn stored_plan(
        &self,
        release_id: i64,
    ) -> Result<(String, Option<String>), StoreError> {
        let plan_toml: String = sqlx::query("SELECT plan_toml FROM releases WHERE id = $1")
            .bind(release_id)
            .fetch_optional(self.pool())
            .await
            .map_err(|e| self.err(e))?
            .ok_or_else(|| StoreError::NotFound(format!("no release {release_id}")))?
            .get(0);
        let start: Option<String> =
            sqlx::query("SELECT payload FROM events WHERE release_id = $1 AND seq = 1")
                .bind(release_id)
                .fetch_optional(self.pool())
                .await
                .map_err(|e| self.err(e))?
                .map(|r| r.get(0));
        Ok((plan_toml, start))
    }

    /// Compares the stored plan with the hash its start event recorded.
    pub async fn check_plan(&self, release_id: i64) -> Result<PlanCheck, StoreError> {
        let (plan_toml, start) = self.stored_plan(release_id).await?;
        Ok(PlanCheck::of(start.as_deref(), &plan_toml))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_anchored_head_is_seq_and_hash_or_just_the_hash() {
        let hash = "AB".repeat(32);
        let a = AnchoredHead::parse(&format!("12:{hash}")).expect("SEQ:HASH");
        assert_eq!((a.seq, a.hash.as_str()), (Some(12), hash.to_lowercase().as_str()));
        assert_eq!(AnchoredHead::parse(&hash).expect("HASH").seq, None);
        for bad in ["12:abc".to_owned(), "x:".to_owned() + &hash, "g".repeat(64), String::new()] {
            assert!(AnchoredHead::parse(bad.as_ref()).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_plan_check_tells_matching_unhashed_and_edited_plans_apart() {
        let start = |sha: Option<String>| {
            serde_json::to_string(&Event::ReleaseStarted {
                service: "s".into(),
                environment: "e".into(),
                version: "1".into(),
                previous_version: None,
                sha: None,
                image: None,
                release_type: crate::plan::ReleaseType::Regular,
                plan_sha256: sha,
            })
            .expect("json")
        };
        let plan = "approvals = 2";
        let hashed = start(Some(plan_digest(plan)));
        assert!(matches!(PlanCheck::of(Some(&hashed), plan), PlanCheck::Matches { .. }));
        assert!(matches!(
            PlanCheck::of(Some(&hashed), "approvals = 1"),
            PlanCheck::Mismatch { .. }
        ));
        assert_eq!(PlanCheck::of(Some(&start(None)), plan), PlanCheck::NotHashed);
        assert!(!start(None).contains("plan_sha256"), "older payloads are unchanged");
    }
}
