//! Webhook notifications: the plan's `[[notify]]` hooks are told about the milestones they
//! ask for (started, gate passed, step failed, threshold breached, rollback started and
//! finished, completed, aborted).
//!
//! Delivery never delays or blocks the release: events are handed over after they are
//! committed, and each delivery runs on its own task, bounded by the hook's `timeout` per
//! attempt and its `retries` (with backoff). Every attempt is noted in the store's
//! `deliveries` table — never as a release event: a dead webhook changes nothing about the
//! release. Only the process that appended an event notifies for it, so each event is
//! delivered once however many cockpits and shells watch the release. Every body carries the
//! chain head after its event (`SEQ:HASH`), so the receiver keeps a copy of the record's head
//! outside the database.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::task::{JoinHandle, JoinSet};

use crate::action::template;
use crate::plan::{Notify, NotifyEvent, NotifyFormat, Plan, StepKind};
use crate::release::{Event, EventRecord, ReleaseInfo, format_clock, format_date_time};
use crate::store::{Delivery, Head, Store};

/// The first wait between attempts; it doubles after each failure.
const FIRST_BACKOFF: Duration = Duration::from_millis(200);
/// The longest wait between attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// The milestone an event is, if it is one.
pub fn milestone(plan: &Plan, event: &Event) -> Option<NotifyEvent> {
    Some(match event {
        Event::ReleaseStarted { .. } => NotifyEvent::Started,
        Event::StepCompleted { step }
            if plan.step(step).is_some_and(|r| matches!(r.step.kind, StepKind::Gate { .. })) =>
        {
            NotifyEvent::GatePassed
        }
        Event::GateTimedOut { .. } => NotifyEvent::GateTimedOut,
        Event::WindowsOverridden { .. } => NotifyEvent::WindowsOverridden,
        Event::ActionFailed { .. } | Event::ActionInterrupted { .. } => NotifyEvent::StepFailed,
        Event::ThresholdBreached { .. } => NotifyEvent::ThresholdBreached,
        Event::RollbackStarted { .. } => NotifyEvent::RollbackStarted,
        Event::RollbackFinished => NotifyEvent::RollbackFinished,
        Event::Completed => NotifyEvent::Completed,
        Event::WatchClosed { .. } => NotifyEvent::WatchClosed,
        Event::Aborted { .. } => NotifyEvent::Aborted,
        _ => return None,
    })
}

/// Which release an event belongs to, for the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseRef {
    /// Store id.
    pub id: i64,
    /// Service name.
    pub service: String,
    /// Version released.
    pub version: String,
    /// Target environment.
    pub environment: String,
}

impl ReleaseRef {
    /// From the release's facts (or, for its first event, from the event itself).
    pub fn new(id: i64, info: Option<&ReleaseInfo>, records: &[EventRecord]) -> Option<Self> {
        if let Some(i) = info {
            return Some(Self {
                id,
                service: i.service.clone(),
                version: i.version.clone(),
                environment: i.environment.clone(),
            });
        }
        records.iter().find_map(|r| match &r.event {
            Event::ReleaseStarted { service, version, environment, .. } => Some(Self {
                id,
                service: service.clone(),
                version: version.clone(),
                environment: environment.clone(),
            }),
            _ => None,
        })
    }
}

/// The body a hook receives for an event.
pub fn body(
    format: NotifyFormat,
    release: &ReleaseRef,
    record: &EventRecord,
    what: NotifyEvent,
    plan: &Plan,
) -> Value {
    // In the plan's words, as the screen says it: a breach in its metric's unit.
    let sentence = record.event.sentence_in(plan);
    match format {
        NotifyFormat::Slack => json!({
            "text": format!(
                "[{} {} → {}] {sentence} ({}, {} UTC)",
                release.service,
                release.version,
                release.environment,
                record.actor.short(),
                format_clock(record.at)
            ),
        }),
        NotifyFormat::Json => json!({
            "release": {
                "id": release.id,
                "service": release.service,
                "version": release.version,
                "environment": release.environment,
            },
            "event": what.as_str(),
            "kind": record.event.kind(),
            "seq": record.seq,
            "at": { "ms": record.at.0, "utc": format_date_time(record.at) },
            "actor": record.actor.short(),
            "sentence": sentence,
        }),
    }
}

/// Adds the chain head after the event (its seq and hash) to a body: a copy of the record's
/// head kept outside the database, so `flightdeck verify --head` can tell whether events
/// were later removed or rewritten.
pub fn add_head(format: NotifyFormat, body: &mut Value, head: &Head) {
    match format {
        NotifyFormat::Json => body["head"] = head.json(),
        NotifyFormat::Slack => {
            if let Some(text) = body.get_mut("text") {
                *text = Value::from(format!(
                    "{} · chain head {}",
                    text.as_str().unwrap_or_default(),
                    head.shown()
                ));
            }
        }
    }
}

/// The longest a verb waits for its deliveries before exiting: the largest hook timeout.
pub fn exit_wait(plan: &Plan) -> Duration {
    plan.notify.iter().map(|n| n.timeout).max().unwrap_or(Duration::ZERO)
}

/// One delivery: one event to one hook.
#[derive(Debug, Clone)]
struct Job {
    id: u64,
    release_id: i64,
    seq: u64,
    event: NotifyEvent,
    hook: Notify,
    body: Value,
}

type Pending = Arc<Mutex<BTreeMap<u64, Job>>>;

/// Delivers notifications in the background. Handing it events never waits.
#[derive(Debug)]
pub struct Notifier {
    store: Store,
    tx: mpsc::UnboundedSender<Job>,
    worker: JoinHandle<()>,
    pending: Pending,
    next_id: u64,
}

impl Notifier {
    /// Starts the delivery worker (on the current tokio runtime).
    pub fn spawn(store: Store, client: reqwest::Client) -> Self {
        let (tx, mut rx) = mpsc::unbounded_channel::<Job>();
        let pending: Pending = Arc::default();
        let worker = {
            let store = store.clone();
            let pending = pending.clone();
            tokio::spawn(async move {
                let mut running = JoinSet::new();
                loop {
                    tokio::select! {
                        job = rx.recv() => match job {
                            Some(job) => {
                                running.spawn(deliver(store.clone(), client.clone(), job, pending.clone()));
                            }
                            None => break,
                        },
                        Some(_) = running.join_next(), if !running.is_empty() => {}
                    }
                }
                while running.join_next().await.is_some() {}
            })
        };
        Self { store, tx, worker, pending, next_id: 0 }
    }

    /// Hands over events this process has just committed; returns at once. Events that are
    /// no milestone, or that no hook asked for, are ignored.
    pub fn committed(
        &mut self,
        release_id: i64,
        plan: &Plan,
        info: Option<&ReleaseInfo>,
        records: &[EventRecord],
    ) {
        if plan.notify.is_empty() {
            return;
        }
        let Some(release) = ReleaseRef::new(release_id, info, records) else { return };
        for record in records {
            let Some(what) = milestone(plan, &record.event) else { continue };
            for hook in plan.notify.iter().filter(|h| h.events.contains(&what)) {
                self.next_id += 1;
                let job = Job {
                    id: self.next_id,
                    release_id,
                    seq: record.seq,
                    event: what,
                    hook: hook.clone(),
                    body: body(hook.format, &release, record, what, plan),
                };
                if let Ok(mut pending) = self.pending.lock() {
                    pending.insert(job.id, job.clone());
                }
                let _ = self.tx.send(job);
            }
        }
    }

    /// How many deliveries have not finished (successfully or by running out of retries).
    pub fn in_flight(&self) -> usize {
        self.pending.lock().map_or(0, |p| p.len())
    }

    /// Waits at most `within` for deliveries under way, then gives up on the rest, noting
    /// each as abandoned. Returns how many were abandoned.
    pub async fn finish(self, within: Duration) -> usize {
        let Self { store, tx, mut worker, pending, .. } = self;
        drop(tx);
        if tokio::time::timeout(within, &mut worker).await.is_err() {
            worker.abort();
            let _ = worker.await;
        }
        let left: Vec<Job> =
            pending.lock().map(|p| p.values().cloned().collect()).unwrap_or_default();
        for job in &left {
            let (target, _) = shown_target(&job.hook.url);
            let _ = store
                .record_delivery(&Delivery {
                    release_id: job.release_id,
                    seq: job.seq,
                    event: job.event.as_str().into(),
                    target,
                    format: job.hook.format.as_str().into(),
                    attempt: 0,
                    at: crate::clock::now(),
                    ok: false,
                    status: None,
                    error: Some("abandoned: flightdeck exited before the delivery finished".into()),
                })
                .await;
        }
        left.len()
    }
}

/// The URL with secrets resolved (or why it cannot be) and as shown (secrets as `***`).
fn shown_target(url: &str) -> (String, Result<(String, Vec<String>), String>) {
    let mut secrets = Vec::new();
    match template::resolve_secrets(url, &mut secrets) {
        Ok(r) => (r.shown, Ok((r.secret, secrets))),
        Err(e) => (url.to_owned(), Err(e)),
    }
}

/// Delivers one job: attempts with backoff until one is accepted or retries run out.
async fn deliver(store: Store, client: reqwest::Client, mut job: Job, pending: Pending) {
    // The event was committed before it was handed over, so its hash is there to read.
    if let Ok(hash) = store.event_hash(job.release_id, job.seq).await {
        add_head(job.hook.format, &mut job.body, &Head { seq: job.seq, hash });
    }
    let (target, resolved) = shown_target(&job.hook.url);
    let attempts = job.hook.retries.saturating_add(1);
    let mut backoff = FIRST_BACKOFF;
    for attempt in 1..=attempts {
        let (ok, status, error) = match &resolved {
            Err(e) => (false, None, Some(e.clone())),
            Ok((url, secrets)) => {
                let request = client.post(url).timeout(job.hook.timeout).json(&job.body).send();
                match tokio::time::timeout(job.hook.timeout, request).await {
                    Err(_) => (
                        false,
                        None,
                        Some(format!(
                            "no answer within {}",
                            crate::plan::format_duration(job.hook.timeout)
                        )),
                    ),
                    Ok(Err(e)) => (
                        false,
                        None,
                        Some(template::redact(&describe(&e, job.hook.timeout), secrets)),
                    ),
                    Ok(Ok(response)) => {
                        let code = response.status();
                        if code.is_success() {
                            (true, Some(code.as_u16()), None)
                        } else {
                            (false, Some(code.as_u16()), Some(format!("HTTP {code}")))
                        }
                    }
                }
            }
        };
        let _ = store
            .record_delivery(&Delivery {
                release_id: job.release_id,
                seq: job.seq,
                event: job.event.as_str().into(),
                target: target.clone(),
                format: job.hook.format.as_str().into(),
                attempt,
                at: crate::clock::now(),
                ok,
                status,
                error,
            })
            .await;
        // A URL that cannot be resolved will not resolve on a retry.
        if ok || resolved.is_err() {
            break;
        }
        if attempt < attempts {
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }
    if let Ok(mut p) = pending.lock() {
        p.remove(&job.id);
    }
}

fn describe(e: &reqwest::Error, timeout: Duration) -> String {
    if e.is_timeout() {
        format!("no answer within {}", crate::plan::format_duration(timeout))
    } else if e.is_connect() {
        "cannot connect".into()
    } else {
        let mut text = e.to_string();
        let mut source = std::error::Error::source(e);
        while let Some(s) = source {
            text.push_str(&format!(": {s}"));
            source = s.source();
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLAN: &str = r#"
[service]
name = "shop"
environment = "production"

[[stages]]
id = "prepare"
name = "Prepare"

[[stages.steps]]
id = "go"
name = "Go/no-go"
kind = "gate"
timeout = "15m"
on_timeout = "pause"
"#;

    /// A gate nobody answered and a window override are milestones a webhook can page on
    /// (the runbooks page on-call when a gate goes unanswered).
    #[test]
    fn a_gate_timeout_and_a_window_override_are_milestones() {
        let plan = crate::plan::parse(PLAN, "plan.toml").expect("plan");
        let timed_out = Event::GateTimedOut {
            step: "go".into(),
            timeout_ms: 900_000,
            on_timeout: crate::plan::OnTimeout::Pause,
        };
        assert_eq!(milestone(&plan, &timed_out), Some(NotifyEvent::GateTimedOut));
        let overridden =
            Event::WindowsOverridden { windows: vec!["freeze".into()], reason: "outage".into() };
        assert_eq!(milestone(&plan, &overridden), Some(NotifyEvent::WindowsOverridden));
        assert_eq!(NotifyEvent::parse("gate_timed_out"), Some(NotifyEvent::GateTimedOut));
        assert_eq!(NotifyEvent::parse("windows_overridden"), Some(NotifyEvent::WindowsOverridden));
    }

    /// A breach reaches the channel in its metric's unit, as the screen shows it (`8.1%`,
    /// not the stored fraction `0.081`).
    #[test]
    fn a_breach_is_told_in_its_metrics_unit() {
        let text = format!(
            "{PLAN}\n[[metrics]]\nid = \"errors\"\nunit = \"ratio\"\nscrape = {{ url = \"http://127.0.0.1:9/metrics\", gauge = \"e\" }}\nabort = \"> 2%\"\n"
        );
        let plan = crate::plan::parse(&text, "plan.toml").expect("plan");
        let breach = crate::release::Breach {
            series: "errors".into(),
            level: crate::release::Level::Abort,
            value: 0.081,
            threshold: "> 0.02".into(),
            limit: Some(0.02),
            baseline: None,
            samples: 6,
            window_ms: 90_000,
        };
        let record = EventRecord {
            seq: 7,
            at: crate::release::Timestamp(0),
            actor: crate::identity::current_actor(None),
            event: Event::ThresholdBreached { step: "bake".into(), breach },
        };
        let release = ReleaseRef {
            id: 1,
            service: "shop".into(),
            version: "1.4.0".into(),
            environment: "production".into(),
        };
        let slack =
            body(NotifyFormat::Slack, &release, &record, NotifyEvent::ThresholdBreached, &plan);
        let text = slack["text"].as_str().expect("text");
        assert!(text.contains("errors 8.1") && text.contains("> 2%"), "{text}");
    }

    /// The end of the watch after release closes the release: the channel that heard
    /// `completed` hears that nothing can roll it back any more.
    #[test]
    fn the_watch_closing_is_a_milestone() {
        let plan = crate::plan::parse(PLAN, "plan.toml").expect("plan");
        let closed = Event::WatchClosed { after_release_ms: 86_400_000 };
        assert_eq!(milestone(&plan, &closed), Some(NotifyEvent::WatchClosed));
        assert_eq!(NotifyEvent::parse("watch_closed"), Some(NotifyEvent::WatchClosed));
    }
}
