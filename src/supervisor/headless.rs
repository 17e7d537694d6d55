//! `flightdeck supervise`: the same supervision as an open cockpit, with no screen. It takes
//! the driver lease when it is free, watches the probes and records their readings, decides
//! what automation decides (bake verdicts, breaches and rollbacks, baselines, reviews,
//! read-back), runs the actions it claims, and hands the lease over on SIGTERM. Restarted at
//! any moment it does nothing twice: automation is pinned to the seq it decided on, and an
//! action its previous run left unfinished is marked interrupted, never run again.

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use super::probes::LiveBoard;
use super::{Report, Supervisor};
use crate::plan::Plan;
use crate::release::{Actor, State};
use crate::store::{self, Store};
use crate::{clock, identity};

/// The operator name a supervisor's lease and presence are listed under.
pub const SUPERVISOR_NAME: &str = "supervise";

/// How often the lease is renewed (it lapses after `store::LEASE_TTL_MS`).
const LEASE_RENEW_INTERVAL: Duration = Duration::from_secs(2);
/// How often releases are looked at.
const LOOK_INTERVAL: Duration = Duration::from_secs(1);
/// How long actions under way may finish after SIGTERM before the lease is handed over.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(20);

/// Which releases to supervise.
#[derive(Debug, Clone)]
pub enum Scope {
    /// One release (id or version), until it ends.
    One(Option<String>),
    /// Every active release in the store (and every completed one still watched after
    /// completion), picking up new ones, until a signal.
    All,
}

/// One supervised release.
struct Watched {
    plan: Plan,
    state: State,
    /// Present while this process drives the release.
    probes: Option<(LiveBoard, CancellationToken)>,
    drives: bool,
    renewed: Option<Instant>,
}

/// Runs the supervisor until its release ends (one) or a signal arrives; returns the exit
/// code.
pub async fn run(
    store: Store,
    operator: Option<&str>,
    scope: Scope,
    log: Option<&std::path::Path>,
) -> u8 {
    match log {
        Some(path) => {
            if let Err(e) = super::log::to_file(path) {
                eprintln!("flightdeck: {e}");
                return crate::cli::EXIT_USAGE;
            }
        }
        None => {
            super::log::to_stderr();
        }
    }
    let mut me = identity::current_actor(operator);
    if operator.is_none() {
        me.name = SUPERVISOR_NAME.into();
    }
    let only = match &scope {
        Scope::One(selector) => match store.find(selector.as_deref()).await {
            Ok(row) => Some(row.id),
            Err(e) => {
                eprintln!("flightdeck: {e}");
                return crate::cli::EXIT_ERROR;
            }
        },
        Scope::All => None,
    };
    tracing::info!(
        who = %format!("{}@{}", me.name, me.host),
        pid = me.pid,
        "supervising {}",
        only.map_or_else(|| "every active release".to_owned(), |id| format!("release {id}"))
    );
    let mut sup = Supervisor::new(store.clone(), me.clone());
    let mut watched: BTreeMap<i64, Watched> = BTreeMap::new();
    let (Ok(mut term), Ok(mut int), Ok(mut hup)) = (
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()),
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt()),
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()),
    ) else {
        eprintln!("flightdeck: cannot listen for signals");
        return crate::cli::EXIT_ERROR;
    };
    let mut look = tokio::time::interval(LOOK_INTERVAL);
    look.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let mut code = crate::cli::EXIT_OK;
    let mut settled = BTreeMap::new();
    loop {
        tokio::select! {
            biased;
            _ = term.recv() => { tracing::info!("SIGTERM: handing over"); break; }
            _ = int.recv() => { tracing::info!("SIGINT: handing over"); break; }
            _ = hup.recv() => { tracing::info!("SIGHUP: handing over"); break; }
            report = sup.next() => {
                let Some(report) = report else { break };
                if let Report::Committed { release_id, state, .. } = &report {
                    if let Some(w) = watched.get_mut(release_id) {
                        if state.seq > w.state.seq {
                            w.state = (**state).clone();
                        }
                    }
                }
                log_report(&report);
            }
            _ = look.tick() => {
                match look_around(&store, &mut sup, &mut watched, only, &me, &mut settled).await {
                    Ok(true) => {}
                    Ok(false) => break,
                    Err(e) => {
                        tracing::error!("{e}");
                        if only.is_some() && matches!(e, store::StoreError::NotFound(_)) {
                            code = crate::cli::EXIT_ERROR;
                            break;
                        }
                    }
                }
            }
        }
    }
    // Let what is running finish (a rollback's shift above all), then hand over.
    let deadline = Instant::now() + SHUTDOWN_GRACE;
    for id in watched.keys() {
        if sup.running(*id) {
            tracing::info!(release = id, "waiting for actions under way before handing over");
        }
    }
    while watched.keys().any(|id| sup.running(*id)) && Instant::now() < deadline {
        match tokio::time::timeout_at(deadline, sup.next()).await {
            Ok(Some(report)) => log_report(&report),
            _ => break,
        }
    }
    for (id, w) in &mut watched {
        if let Some((_, cancel)) = w.probes.take() {
            cancel.cancel();
        }
        if w.drives {
            let _ = store.release_lease(*id, &me).await;
            tracing::info!(release = id, "handed the lease over");
        }
    }
    let _ = store.leave(&me).await;
    let wait = watched.values().map(|w| crate::notify::exit_wait(&w.plan)).max();
    sup.finish(wait.unwrap_or(Duration::ZERO)).await;
    code
}

/// One look at the store: picks up releases, renews the lease, starts or stops the probes,
/// and lets automation decide. Returns false when there is nothing left to supervise.
async fn look_around(
    store: &Store,
    sup: &mut Supervisor,
    watched: &mut BTreeMap<i64, Watched>,
    only: Option<i64>,
    me: &Actor,
    settled: &mut BTreeMap<i64, u64>,
) -> Result<bool, store::StoreError> {
    let now = clock::now();
    let ids: Vec<i64> = match only {
        Some(id) => vec![id],
        None => {
            let known = |id| watched.contains_key(&id);
            super::releases_to_supervise(store, known, settled).await?.into_iter().collect()
        }
    };
    for id in &ids {
        if !watched.contains_key(id) {
            let loaded = store.load(*id).await?;
            tracing::info!(
                release = id,
                "watching {} {} → {} ({})",
                loaded.plan.service.name,
                loaded.state.info.as_ref().map_or("?", |i| i.version.as_str()),
                loaded.plan.service.environment,
                loaded.state.status.as_str()
            );
            sup.observe(*id, &loaded.plan, &loaded.state);
            watched.insert(
                *id,
                Watched {
                    plan: loaded.plan,
                    state: loaded.state,
                    probes: None,
                    drives: false,
                    renewed: None,
                },
            );
        }
    }
    let mut finished = Vec::new();
    for (id, w) in watched.iter_mut() {
        let last = store.last_seq(*id).await?;
        if last > w.state.seq {
            let loaded = store.load(*id).await?;
            w.plan = loaded.plan;
            w.state = loaded.state;
            sup.observe(*id, &w.plan, &w.state);
        }
        if !crate::release::supervised(&w.plan, &w.state) && !sup.running(*id) {
            finished.push(*id);
            continue;
        }
        if w.renewed.is_none_or(|t| t.elapsed() >= LEASE_RENEW_INTERVAL) {
            w.renewed = Some(Instant::now());
            let _ = store.heartbeat(me, Some(*id), "supervise", false, now).await;
            match store.claim_lease_noting(*id, me, now).await {
                Ok(claimed) => {
                    let drives = claimed.lease.held_by(me);
                    if drives != w.drives {
                        if drives {
                            tracing::info!(release = id, "driving");
                        } else {
                            tracing::info!(
                                release = id,
                                "driven by {}@{}; watching",
                                claimed.lease.operator,
                                claimed.lease.host
                            );
                        }
                    }
                    w.drives = drives;
                    if let Some(old) = claimed.took_expired {
                        tracing::warn!(
                            release = id,
                            "took the lease from {}@{} (pid {}), which stopped renewing it",
                            old.operator,
                            old.host,
                            old.pid
                        );
                        sup.took_over_from(*id, old.host, old.pid);
                    }
                }
                Err(e) => tracing::error!(release = id, "cannot take the lease: {e}"),
            }
        }
        if w.drives && w.probes.is_none() {
            let cancel = CancellationToken::new();
            let board = LiveBoard::start(
                &w.plan,
                &w.state,
                Some((store.clone(), *id)),
                Some(sup.reporter()),
                cancel.clone(),
            )
            .await;
            w.probes = Some((board, cancel));
        } else if !w.drives {
            // The driver records readings; two writers would only double them.
            if let Some((_, cancel)) = w.probes.take() {
                cancel.cancel();
            }
        }
        if let Some((board, _)) = &w.probes {
            let board = board.board(&w.state);
            sup.automate(*id, &w.plan, &w.state, &board, now);
        }
    }
    for id in finished {
        if let Some(mut w) = watched.remove(&id) {
            let watched_after = w.state.watch_closed.is_some()
                || w.plan.watch.is_some() && w.state.completed_at.is_some();
            tracing::info!(
                release = id,
                "release {}{}: nothing left to supervise",
                w.state.status.as_str(),
                if watched_after { " and its watch after release is over" } else { "" }
            );
            if let Some((_, cancel)) = w.probes.take() {
                cancel.cancel();
            }
            let _ = store.release_lease(id, me).await;
        }
    }
    Ok(only.is_none() || !watched.is_empty())
}

fn log_report(report: &Report) {
    match report {
        Report::RunStarted { release_id, step, action } => {
            tracing::info!(release = release_id, step = %step, "running {action}");
        }
        Report::Output { release_id, line } if !line.is_empty() => {
            tracing::debug!(release = release_id, "| {line}");
        }
        Report::RunEnded { key, failed: Some(why), .. } => {
            tracing::warn!(release = key.release_id, step = %key.step, "action failed: {why}");
        }
        Report::RunEnded { key, error: Some(e), .. } => {
            tracing::error!(release = key.release_id, step = %key.step, "{e}");
        }
        // Committed records, refusals and task failures are logged where they are handled.
        _ => {}
    }
}
