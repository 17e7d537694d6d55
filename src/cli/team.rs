//! Team verbs: `team` shows who has a cockpit open on a release and who drives it; `handover`
//! offers the driver lease to another cockpit (or to one operator), which takes it at its next
//! heartbeat while the current driver keeps driving until then.

use serde_json::json;

use super::verbs::{Failure, open_existing, open_reading};
use super::{Cli, EXIT_REJECTED};
use crate::store::{Lease, OFFERED_TO_ANYONE, Presence};
use crate::{clock, release};

/// `flightdeck team [RELEASE] [--json]`.
pub async fn show(cli: &Cli, selector: Option<&str>, as_json: bool) -> Result<(), Failure> {
    let store = open_reading(cli).await?;
    let row = store.find(selector).await?;
    let now = clock::now();
    let present = store.present(row.id, now).await?;
    let lease = store.lease(row.id).await?.filter(|l| !l.expired(now));
    if as_json {
        let value = json!({
            "schema": 1,
            "release": row.id,
            "driver": lease.as_ref().map(lease_json),
            "present": present.iter().map(presence_json).collect::<Vec<_>>(),
        });
        println!("{}", serde_json::to_string_pretty(&value).unwrap_or_default());
        return Ok(());
    }
    println!("release {} ({} {} in {})", row.id, row.service, row.version, row.environment);
    match &lease {
        Some(l) => println!("driven by {}", describe(l)),
        None => println!("nobody drives it: the next cockpit opened on it will"),
    }
    if present.is_empty() {
        println!("no cockpit is open on it");
    }
    for p in &present {
        let mode = if p.read_only { "watching read-only" } else { "open" };
        let seen = release::format_clock(p.last_seen);
        println!(
            "  {} on {} (pid {}, {}), {mode}, seen {seen}",
            p.label(),
            p.tty,
            p.pid,
            p.account
        );
    }
    Ok(())
}

/// `flightdeck handover [RELEASE] [--to OPERATOR]`.
pub async fn hand_over(cli: &Cli, selector: Option<&str>, to: Option<&str>) -> Result<(), Failure> {
    if cli.read_only {
        return Err(Failure {
            code: EXIT_REJECTED,
            message: "--read-only: a watcher cannot hand over driving".into(),
        });
    }
    let store = open_existing(cli).await?;
    let row = store.find(selector).await?;
    let now = clock::now();
    match store.lease(row.id).await? {
        Some(lease) if !lease.expired(now) => {}
        _ => {
            return Err(Failure {
                code: EXIT_REJECTED,
                message: format!(
                    "nobody drives release {} now: the next cockpit opened on it takes over by itself",
                    row.id
                ),
            });
        }
    }
    let Some(lease) = store.offer_lease(row.id, to).await? else {
        return Err(Failure::error("the lease vanished while offering it; try again"));
    };
    let whom = match to {
        Some(name) => format!("{name}'s cockpit"),
        None => "the next other cockpit that looks (within a few seconds)".into(),
    };
    println!(
        "driving of release {} offered: {} keeps driving until {whom} takes over",
        row.id,
        describe(&lease)
    );
    Ok(())
}

fn describe(lease: &Lease) -> String {
    let offer = match lease.offered_to.as_deref() {
        None => String::new(),
        Some(OFFERED_TO_ANYONE) => ", offered to anyone".into(),
        Some(name) => format!(", offered to {name}"),
    };
    format!("{}@{} (pid {}){offer}", lease.operator, lease.host, lease.pid)
}

fn lease_json(lease: &Lease) -> serde_json::Value {
    json!({
        "operator": lease.operator,
        "host": lease.host,
        "pid": lease.pid,
        "expires_at": release::format_date_time(lease.expires_at),
        "offered_to": lease.offered_to,
    })
}

fn presence_json(p: &Presence) -> serde_json::Value {
    json!({
        "operator": p.operator,
        "account": p.account,
        "host": p.host,
        "pid": p.pid,
        "tty": p.tty,
        "read_only": p.read_only,
        "last_seen": release::format_date_time(p.last_seen),
    })
}
