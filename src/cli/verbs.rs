//! What each verb does. Acting verbs load the release, go through the supervisor (the
//! same path as the cockpit's keys), then run any action this process claimed.

use std::io::Write;
use std::path::Path;

use super::{
    Cli, EXIT_ACTION_FAILED, EXIT_ERROR, EXIT_OK, EXIT_REJECTED, EXIT_USAGE, Target, Verb, json,
    record, summary, team,
};
use crate::plan::{self, ReleaseType};
use crate::release::{Actor, Command, Event, EventRecord, Resolution, State, Timestamp};
use crate::store::{self, ExecuteError, Location, Store, StoreError};
use crate::supervisor::{Report, Submit, Supervisor};
use crate::{action, clock, identity, notify, signing};

/// A failure with its exit code.
#[derive(Debug)]
pub struct Failure {
    /// Exit code.
    pub code: u8,
    /// What to print on stderr.
    pub message: String,
}

impl Failure {
    pub(super) fn error(message: impl Into<String>) -> Self {
        Self { code: EXIT_ERROR, message: message.into() }
    }
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        Self::error(e.to_string())
    }
}

impl From<ExecuteError> for Failure {
    fn from(e: ExecuteError) -> Self {
        match e {
            ExecuteError::Rejected(r) => {
                Self { code: EXIT_REJECTED, message: format!("rejected: {r}") }
            }
            ExecuteError::Store(e) => e.into(),
        }
    }
}

/// The starter plan `init` writes: the same file as `config.example.toml`.
pub const STARTER_PLAN: &str = include_str!("../../config.example.toml");

/// When this process was asked to act: the person (or script) issued the command no later
/// than this, so a step that became current after it was not the one they looked at.
static INVOKED_AT: std::sync::OnceLock<Timestamp> = std::sync::OnceLock::new();

fn invoked_at() -> Timestamp {
    *INVOKED_AT.get_or_init(|| {
        let now = clock::now();
        // The process was started (by the shell, when Enter was pressed) some milliseconds
        // before this runs; under load, long enough for a racing command to pass a gate.
        let age = process_age_ms().unwrap_or(0);
        Timestamp(now.0.saturating_sub(i64::try_from(age).unwrap_or(0)))
    })
}

/// How long ago this process started, from /proc (Linux; 10 ms resolution); `None` elsewhere.
fn process_age_ms() -> Option<u64> {
    // Both are in USER_HZ (100 per second on every Linux) or seconds since boot.
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let after_name = stat.rsplit_once(')')?.1;
    let start_ticks: u64 = after_name.split_whitespace().nth(19)?.parse().ok()?;
    let uptime = std::fs::read_to_string("/proc/uptime").ok()?;
    let uptime_s: f64 = uptime.split_whitespace().next()?.parse().ok()?;
    let uptime_ms = (uptime_s * 1000.0) as u64;
    Some(uptime_ms.saturating_sub(start_ticks * 10).min(60_000))
}

/// Runs a non-cockpit verb; returns the exit code.
pub async fn run(cli: Cli) -> u8 {
    invoked_at();
    match &cli.verb {
        None => return crate::tui::open(&cli, None).await,
        Some(Verb::Open { release }) => return crate::tui::open(&cli, release.as_deref()).await,
        Some(Verb::Demo { scenario, headless, extra_endpoints }) => {
            let db = match cli.db.as_deref().map(Location::parse) {
                None => None,
                Some(Location::Sqlite(path)) => Some(path),
                Some(Location::Postgres(_)) => {
                    eprintln!(
                        "flightdeck: the demo keeps its simulated release in a SQLite file; pass \
                         --db PATH (or nothing) instead of a postgres:// URL"
                    );
                    return EXIT_ERROR;
                }
            };
            return crate::demo::run(db, scenario, *headless, *extra_endpoints, &cli).await;
        }
        _ => {}
    }
    match run_verb(cli).await {
        Ok(()) => EXIT_OK,
        Err(f) => {
            eprintln!("flightdeck: {}", f.message);
            f.code
        }
    }
}

/// Where the store is: `--db` / `FLIGHTDECK_DB` (a file or a postgres:// URL), else the
/// default file.
pub fn db_location(cli_db: Option<&str>) -> Result<Location, StoreError> {
    Location::from_flag(cli_db)
}

pub(super) async fn open(cli: &Cli) -> Result<Store, Failure> {
    let location = db_location(cli.db.as_deref())?;
    Ok(Store::open_at(&location, cli.read_only).await?)
}

pub(super) async fn open_existing(cli: &Cli) -> Result<Store, Failure> {
    let location = db_location(cli.db.as_deref())?;
    if !location.may_exist() {
        return Err(Failure::error(format!(
            "no database at {location}; start a release first (`flightdeck start PLAN --version V`) or pass --db"
        )));
    }
    Ok(Store::open_at(&location, cli.read_only).await?)
}

/// Opens the store for a verb that only reads: read-only, so that nothing is created beside
/// a SQLite file (it works on read-only media and as another user who may only read it);
/// a schema older than this flightdeck is upgraded first unless --read-only was given.
pub(super) async fn open_reading(cli: &Cli) -> Result<Store, Failure> {
    let location = db_location(cli.db.as_deref())?;
    if !location.may_exist() {
        return Err(Failure::error(format!(
            "no database at {location}; start a release first (`flightdeck start PLAN --version V`) or pass --db"
        )));
    }
    Ok(Store::open_for_reading(&location, !cli.read_only).await?)
}

/// Every release, newest first; none when the store does not exist yet or holds nothing.
async fn list_rows(cli: &Cli) -> Result<Vec<store::ReleaseRow>, Failure> {
    let location = db_location(cli.db.as_deref())?;
    if !location.may_exist() {
        return Ok(Vec::new());
    }
    let store = match Store::open_for_reading(&location, !cli.read_only).await {
        Ok(store) => store,
        Err(StoreError::NotFound(_)) => return Ok(Vec::new()),
        Err(e) => return Err(e.into()),
    };
    let rows = store.releases().await;
    store.close().await;
    Ok(rows?)
}

fn print_json(value: &serde_json::Value) {
    println!("{}", serde_json::to_string_pretty(value).unwrap_or_default());
}

async fn run_verb(cli: Cli) -> Result<(), Failure> {
    let Some(verb) = &cli.verb else {
        return Err(Failure { code: EXIT_USAGE, message: "no verb".into() });
    };
    match verb {
        Verb::Open { .. } | Verb::Demo { .. } => {
            Err(Failure { code: EXIT_USAGE, message: "handled before the verbs".into() })
        }
        Verb::Init { path } => init(path),
        Verb::Check { plan, live } => check(plan, *live).await,
        Verb::Start {
            plan,
            version,
            previous_version,
            sha,
            image,
            release_type,
            override_windows,
            json,
        } => {
            let release_type = ReleaseType::parse(release_type).ok_or_else(|| Failure {
                code: EXIT_USAGE,
                message: format!("unknown release type {release_type}"),
            })?;
            let command = Command::Start {
                version: version.clone(),
                previous_version: previous_version.clone(),
                sha: sha.clone(),
                image: image.clone(),
                release_type,
            };
            start(&cli, plan, &command, override_windows.as_deref(), *json).await
        }
        Verb::List { json } => {
            let rows = list_rows(&cli).await?;
            if *json {
                print_json(&json::releases(&rows));
            } else if rows.is_empty() {
                println!("no releases yet");
            } else {
                println!(
                    "{:>4}  {:<20} {:<12} {:<12} {:<9} {:<13} started (UTC)",
                    "id", "service", "version", "environment", "type", "status"
                );
                for r in rows {
                    println!(
                        "{:>4}  {:<20} {:<12} {:<12} {:<9} {:<13} {}",
                        r.id,
                        r.service,
                        r.version,
                        r.environment,
                        r.release_type,
                        r.status,
                        crate::release::format_date_time(r.created_at)
                    );
                }
            }
            Ok(())
        }
        Verb::Status { release, json } => {
            let store = open_reading(&cli).await?;
            let row = store.find(release.as_deref()).await?;
            let loaded = store.load(row.id).await?;
            let now = clock::now();
            if *json {
                let mut value = json::status(&loaded.plan, &loaded.state, &loaded.row, now);
                // The chain head, to keep outside the database (`verify --head`).
                value["head"] = store.head(row.id).await?.json();
                print_json(&value);
            } else {
                print!("{}", summary::status_text(&loaded.plan, &loaded.state, &loaded.row, now));
            }
            Ok(())
        }
        Verb::Events { release, json } => {
            let store = open_reading(&cli).await?;
            let row = store.find(release.as_deref()).await?;
            let events = store.events_after(row.id, 0).await?;
            let plan = if *json { None } else { Some(store.load(row.id).await?.plan) };
            let stdout = std::io::stdout();
            let mut out = stdout.lock();
            for e in &events {
                let line = match &plan {
                    Some(plan) => summary::event_line_in(e, plan),
                    None => json::event(e).to_string(),
                };
                if writeln!(out, "{line}").is_err() {
                    break;
                }
            }
            Ok(())
        }
        Verb::Tick { item, target } => {
            act(&cli, target, Command::Tick { item: item.clone() }).await
        }
        Verb::Untick { item, target } => {
            act(&cli, target, Command::Untick { item: item.clone() }).await
        }
        Verb::Approve { inputs, target } => {
            if !inputs.is_empty() {
                let mut values = Vec::new();
                for pair in inputs {
                    let Some((id, value)) = pair.split_once('=') else {
                        return Err(Failure {
                            code: EXIT_USAGE,
                            message: format!(
                                "--input `{pair}`: write ID=VALUE, e.g. --input ticket=CHG-42"
                            ),
                        });
                    };
                    values.push((id.trim().to_owned(), value.trim().to_owned()));
                }
                // Whether this person already approved: then the inputs are all they add.
                let already = {
                    let store = open_existing(&cli).await?;
                    let row = store.find(target.release.as_deref()).await?;
                    let loaded = store.load(row.id).await?;
                    let me = actor_for(&cli, &loaded.plan)?;
                    loaded.state.current().is_some_and(|s| s.approvals.contains_key(&me.name))
                };
                act(&cli, target, Command::GiveInputs { values }).await?;
                if already {
                    return Ok(());
                }
                // The inputs moved the release on by their events: the approval follows them.
                let target = Target { expect_seq: None, ..target.clone() };
                return act(&cli, &target, Command::Approve).await;
            }
            act(&cli, target, Command::Approve).await
        }
        Verb::Revoke { target } => act(&cli, target, Command::Revoke).await,
        Verb::Decline { reason, target } => {
            act(&cli, target, Command::Decline { reason: reason.clone() }).await
        }
        Verb::Next { confirm, override_readings, reason, target } => {
            let command = next_command(&cli, target, *confirm, *override_readings, reason).await?;
            act(&cli, target, command).await
        }
        Verb::Shift { confirm, target } => {
            act(&cli, target, Command::Shift { confirmed: *confirm }).await
        }
        Verb::Skip { reason, confirm, target } => {
            act(&cli, target, Command::Skip { reason: reason.clone(), confirmed: *confirm }).await
        }
        Verb::Retry { confirm, target } => {
            act(&cli, target, Command::Retry { confirmed: *confirm }).await
        }
        Verb::ConfirmReview { target } => act(&cli, target, Command::ConfirmCheckpoint).await,
        Verb::Resolve { succeeded, reason, confirm, target, .. } => {
            let resolution = if *succeeded { Resolution::Succeeded } else { Resolution::Failed };
            let command =
                Command::Resolve { resolution, reason: reason.clone(), confirmed: *confirm };
            act(&cli, target, command).await
        }
        Verb::Pause { reason, target } => {
            act(&cli, target, Command::Pause { reason: reason.clone() }).await
        }
        Verb::Resume { target } => act(&cli, target, Command::Resume).await,
        Verb::Rollback { reason, confirm, target } => {
            act(
                &cli,
                target,
                Command::Rollback { reason: reason.clone(), confirmed: *confirm, automatic: false },
            )
            .await
        }
        Verb::Abort { reason, target } => {
            act(&cli, target, Command::Abort { reason: reason.clone() }).await
        }
        Verb::Note { text, target } => {
            act(&cli, target, Command::Note { text: text.clone() }).await
        }
        Verb::Claim { take_over, target } => {
            let step = step_or_current(&cli, target, target.step.as_deref(), "claim").await?;
            act(&cli, target, Command::Claim { step, reason: take_over.clone() }).await
        }
        Verb::Unclaim { target } => {
            let step = step_or_current(&cli, target, target.step.as_deref(), "unclaim").await?;
            act(&cli, target, Command::Unclaim { step }).await
        }
        Verb::Report { release, format, output } => {
            record::report(&cli, release.as_deref(), format, output.as_deref()).await
        }
        Verb::Verify { release, head, allowed_signers, json } => {
            let options = record::VerifyOptions {
                head: head.as_deref(),
                allowed_signers: allowed_signers.as_deref(),
                json: *json,
            };
            record::verify(&cli, release.as_deref(), &options).await
        }
        Verb::Stats { service, environment, since, until, json } => {
            let options = super::stats::Options {
                service: service.clone(),
                environment: environment.clone(),
                since,
                until: until.as_deref(),
                json: *json,
            };
            super::stats::show(&cli, &options).await
        }
        Verb::Team { release, json } => team::show(&cli, release.as_deref(), *json).await,
        Verb::Supervise { release, all } => {
            refuse_read_only(&cli, "supervise")?;
            let store = open_existing(&cli).await?;
            let scope = if *all {
                crate::supervisor::headless::Scope::All
            } else {
                crate::supervisor::headless::Scope::One(release.clone())
            };
            let code = crate::supervisor::headless::run(
                store.clone(),
                cli.operator.as_deref(),
                scope,
                cli.log.as_deref(),
            )
            .await;
            store.close().await;
            if code == EXIT_OK {
                Ok(())
            } else {
                Err(Failure { code, message: "supervision ended with an error".into() })
            }
        }
        Verb::Handover { release, to } => {
            team::hand_over(&cli, release.as_deref(), to.as_deref()).await
        }
        Verb::Export { release, output } => {
            record::export(&cli, release.as_deref(), output.as_deref()).await
        }
        Verb::Import { file } => record::import(&cli, file).await,
    }
}

fn init(path: &Path) -> Result<(), Failure> {
    if path.exists() {
        return Err(Failure::error(format!(
            "{} already exists; not overwriting it",
            path.display()
        )));
    }
    std::fs::write(path, STARTER_PLAN)
        .map_err(|e| Failure::error(format!("cannot write {}: {e}", path.display())))?;
    println!("wrote {}: edit it, then `flightdeck check {}`", path.display(), path.display());
    Ok(())
}

async fn check(path: &Path, live: bool) -> Result<(), Failure> {
    let (plan, _) =
        plan::load_file(path).map_err(|e| Failure::error(e.to_string().trim_end().to_owned()))?;
    print!("{}", summary::plan_summary(&plan, &path.display().to_string()));
    if plan.policy.signed_approvals && !signing::ssh_keygen_installed() {
        return Err(Failure::error(format!(
            "{}: [policy] signed_approvals = true, but ssh-keygen is not installed here, so \
             approvals could not be signed; install openssh-client, or set it to false",
            path.display()
        )));
    }
    let missing = action::missing_secrets(&plan);
    if !missing.is_empty() {
        let list: Vec<String> = missing.iter().map(|(a, n)| format!("{n} ({a})")).collect();
        println!("note: not set in this environment: {}", list.join(", "));
        println!("      set them before `flightdeck start`, which refuses to start without them");
    }
    if !live {
        return Ok(());
    }
    println!("\nlive check (each once; no action is run):");
    let rows = super::live::run(&plan).await;
    print!("{}", super::live::table(&rows));
    let failed = rows.iter().filter(|r| !r.answered).count();
    if failed > 0 {
        return Err(Failure::error(format!(
            "{failed} of {} did not answer; the release would meet them mid-way: fix them first",
            rows.len()
        )));
    }
    println!("everything the plan needs answered");
    Ok(())
}

/// The actor for this invocation, checking declared operators against the plan.
fn actor_for(cli: &Cli, plan: &plan::Plan) -> Result<Actor, Failure> {
    if cli.operator.is_some() && !plan.policy.declared_operators {
        return Err(Failure {
            code: EXIT_USAGE,
            message: "this plan records OS accounts only; --operator needs `declared_operators = true` in [policy]".into(),
        });
    }
    Ok(identity::current_actor(cli.operator.as_deref()))
}

fn refuse_read_only(cli: &Cli, verb: &str) -> Result<(), Failure> {
    if cli.read_only {
        return Err(Failure {
            code: EXIT_REJECTED,
            message: format!("rejected: --read-only: cannot {verb}"),
        });
    }
    Ok(())
}

/// Whether the plan's release windows let a release of this type start at `now`: `Ok(None)`
/// inside them, `Ok(Some(windows))` outside them with an override the type allows, else the
/// refusal (exit 3) naming the window and the next allowed moment.
fn windows_allow(
    plan: &plan::Plan,
    release_type: ReleaseType,
    override_reason: Option<&str>,
    now: Timestamp,
) -> Result<Option<Vec<String>>, Failure> {
    let Err(closed) = plan::windows::check(&plan.windows, release_type, now) else {
        return Ok(None);
    };
    let may_override = plan.release_types.get(&release_type).is_some_and(|p| p.override_windows);
    if may_override && override_reason.is_some_and(|r| !r.trim().is_empty()) {
        return Ok(Some(closed.windows));
    }
    let next = closed.next_allowed.map_or_else(
        || "none within 60 days".to_owned(),
        |at| format!("{} UTC", crate::release::format_date_time(at)),
    );
    let way_out = if may_override {
        format!("; a {release_type} release may start anyway with --override-windows REASON")
    } else {
        String::new()
    };
    Err(Failure {
        code: EXIT_REJECTED,
        message: format!(
            "refused: a {release_type} release may not start now: {}; next allowed: {next}{way_out} (nothing was recorded)",
            closed.reason
        ),
    })
}

async fn start(
    cli: &Cli,
    plan_path: &Path,
    command: &Command,
    override_windows: Option<&str>,
    json: bool,
) -> Result<(), Failure> {
    refuse_read_only(cli, "start a release")?;
    let (plan, text) = plan::load_file(plan_path)
        .map_err(|e| Failure::error(e.to_string().trim_end().to_owned()))?;
    let release_type = match command {
        Command::Start { release_type, .. } => *release_type,
        _ => ReleaseType::Regular,
    };
    let overridden = windows_allow(&plan, release_type, override_windows, clock::now())?;
    let missing = action::missing_secrets(&plan);
    if !missing.is_empty() {
        let list: Vec<String> = missing.iter().map(|(a, n)| format!("{n} (used by {a})")).collect();
        return Err(Failure::error(format!(
            "environment variables the plan needs are not set: {}; set them and start again (nothing was recorded)",
            list.join(", ")
        )));
    }
    let actor = actor_for(cli, &plan)?;
    let store = open(cli).await?;
    let shown_path = std::fs::canonicalize(plan_path).unwrap_or_else(|_| plan_path.to_path_buf());
    let (id, records) = store::start(
        &store,
        &plan,
        &shown_path.display().to_string(),
        &text,
        command,
        &actor,
        clock::now(),
    )
    .await?;
    let mut supervisor = Supervisor::new(store.clone(), actor.clone());
    let mut records = records;
    if let Some(windows) = overridden {
        let submit = Submit {
            release_id: id,
            command: Command::OverrideWindows {
                windows,
                reason: override_windows.unwrap_or_default().trim().to_owned(),
            },
            actor: actor.clone(),
            expect_seq: None,
            seen_step: None,
            verb: "override release windows".into(),
        };
        let (more, _) = supervisor.execute(submit).await?;
        records.extend(more);
    }
    if json {
        let seq = records.last().map_or(0, |r| r.seq);
        print_json(&json::acted(id, command.verb(), seq, &records, &[]));
    } else {
        println!(
            "started release {id}: {} {} → {} ({} events)",
            plan.service.name,
            version_of(command),
            plan.service.environment,
            records.len()
        );
        println!("open the cockpit with `flightdeck` or follow with `flightdeck status`");
    }
    warn_if_undriven(&store, id).await;
    supervisor.started(id, &plan, &records);
    supervisor.finish(notify::exit_wait(&plan)).await;
    Ok(())
}

fn version_of(command: &Command) -> &str {
    match command {
        Command::Start { version, .. } => version,
        _ => "",
    }
}

/// `next`: on a running bake, passing it on the evidence the store judges (or by override);
/// on any other step, the plain `Next`. Warns when no driver holds the lease.
async fn next_command(
    cli: &Cli,
    target: &Target,
    confirmed: bool,
    override_readings: bool,
    reason: &Option<String>,
) -> Result<Command, Failure> {
    let store = open_existing(cli).await?;
    let row = store.find(target.release.as_deref()).await?;
    let loaded = store.load(row.id).await?;
    warn_if_undriven(&store, row.id).await;
    store.close().await;
    let bake_running = loaded.state.current().is_some_and(|s| {
        s.status == crate::release::StepStatus::Running
            && loaded
                .plan
                .step(&s.id)
                .is_some_and(|r| matches!(r.step.kind, plan::StepKind::Bake { .. }))
    });
    if bake_running {
        return Ok(Command::PassBake {
            evidence: None,
            override_reason: override_readings.then(|| reason.clone().unwrap_or_default()),
            confirmed,
        });
    }
    if override_readings {
        return Err(Failure {
            code: EXIT_USAGE,
            message: "--override passes a bake against its readings; the current step is not a running bake".into(),
        });
    }
    Ok(Command::Next { confirmed })
}

/// Prints a warning when nobody drives the release: no automation watches its probes.
async fn warn_if_undriven(store: &Store, release_id: i64) {
    let now = clock::now();
    match store.lease(release_id).await {
        Ok(Some(lease)) if lease.expires_at > now => {}
        Ok(_) => eprintln!(
            "flightdeck: warning: no driver holds release {release_id}: nobody watches its probes or acts on a breach; run `flightdeck supervise` or open the cockpit"
        ),
        Err(_) => {}
    }
}

/// The step a claim verb names, else the release's current step.
async fn step_or_current(
    cli: &Cli,
    target: &Target,
    step: Option<&str>,
    verb: &str,
) -> Result<String, Failure> {
    if let Some(step) = step {
        return Ok(step.to_owned());
    }
    refuse_read_only(cli, verb)?;
    let store = open_existing(cli).await?;
    let row = store.find(target.release.as_deref()).await?;
    let loaded = store.load(row.id).await?;
    store.close().await;
    // A finished release keeps a current step only if it ended early; the engine says why
    // nothing can be claimed there.
    loaded.state.current().map(|s| s.id.clone()).ok_or_else(|| Failure {
        code: EXIT_REJECTED,
        message: format!("rejected: cannot {verb}: every step is done"),
    })
}

async fn act(cli: &Cli, target: &Target, command: Command) -> Result<(), Failure> {
    refuse_read_only(cli, command.verb())?;
    let store = open_existing(cli).await?;
    let row = store.find(target.release.as_deref()).await?;
    let loaded = store.load(row.id).await?;
    let actor = actor_for(cli, &loaded.plan)?;
    // The step this command acts on: the one named, else the one current when the command was
    // issued (this process's start). If another step is current when the command is decided,
    // it is refused rather than applied to a step nobody looked at.
    let seen_step = target.step.clone().or_else(|| step_current_at(&loaded.state, invoked_at()));
    let json_out = target.json;
    // With --json, stdout carries one JSON document; the human lines go to stderr.
    let say = move |line: String| {
        if json_out {
            eprintln!("{line}");
        } else {
            println!("{line}");
        }
    };
    let mut supervisor = Supervisor::new(store.clone(), actor.clone());
    let verb = command.verb().to_owned();
    let submit = Submit {
        release_id: row.id,
        command: command.clone(),
        actor,
        expect_seq: target.expect_seq,
        seen_step,
        verb,
    };
    let executed = supervisor.execute(submit).await;
    let (records, loaded) = match executed {
        Ok(done) => done,
        Err(e) => {
            supervisor.finish(notify::exit_wait(&loaded.plan)).await;
            return Err(e.into());
        }
    };
    for r in &records {
        say(summary::event_line_in(r, &loaded.plan));
    }
    let mut recorded = records;
    // The actions this command claimed run in the foreground, their output printed.
    let mut ran: Vec<EventRecord> = Vec::new();
    supervisor
        .settle(row.id, |report| {
            if let Report::Committed { records, .. } = report {
                ran.extend(records.iter().cloned());
            }
            print_report(report, json_out);
        })
        .await;
    // A failed action whose step says `on_failure = "pause" | "rollback"`: the plan decides
    // now, as flightdeck, and the rollback's actions run here like the command's own.
    let mut followed: Vec<EventRecord> = Vec::new();
    if !failed_runs(&ran).is_empty() {
        match supervisor.follow_on_failure(row.id).await {
            Ok(records) => followed = records,
            Err(e) => eprintln!("flightdeck: the plan's on_failure was not recorded: {e}"),
        }
        for r in &followed {
            say(summary::event_line_in(r, &loaded.plan));
        }
        if !followed.is_empty() {
            supervisor
                .settle(row.id, |report| {
                    if let Report::Committed { records, .. } = report {
                        followed.extend(records.iter().cloned());
                    }
                    print_report(report, json_out);
                })
                .await;
        }
    }
    supervisor.finish(notify::exit_wait(&loaded.plan)).await;
    recorded.extend(ran.iter().cloned());
    recorded.extend(followed.iter().cloned());
    if target.json {
        let seq = recorded.last().map_or(loaded.state.seq, |r| r.seq.max(loaded.state.seq));
        let mut out = json::acted(row.id, command.verb(), seq, &recorded, &ran);
        // The chain head to write down elsewhere: `verify --head` later proves nothing after
        // it was removed.
        out["head"] = store.head(row.id).await.map_or(serde_json::Value::Null, |h| h.json());
        print_json(&out);
    }
    store.close().await;
    match failed_runs(&ran).as_slice() {
        [] => Ok(()),
        failed => Err(Failure {
            code: EXIT_ACTION_FAILED,
            message: format!("{}; {}", failed.join("; "), after_failure(&followed)),
        }),
    }
}

/// How far a process's start, as read from /proc, may be off: `/proc/uptime` and the start
/// ticks both count in 10 ms steps, and the wall clock is read apart from them.
const INVOKED_AT_ERROR_MS: i64 = 100;

/// The step that was current at `at`: the earliest step finished after `at` (someone passed it
/// while this process was starting: it is what its issuer was looking at), else the current
/// one. Clocks of other hosts count here; with NTP their skew is far below a person's pace.
/// A step finished within the measuring error of `at` counts as passed before it: a script
/// that runs `next` right after `next` returned means the step that is current now.
fn step_current_at(state: &State, at: Timestamp) -> Option<String> {
    let passed_since = state
        .steps
        .iter()
        .take(state.cursor)
        .filter(|s| s.finished_at.is_some_and(|f| f.0 > at.0 + INVOKED_AT_ERROR_MS))
        .min_by_key(|s| s.finished_at);
    passed_since.or_else(|| state.current()).map(|s| s.id.clone())
}

/// What became of the release after a failed action: what the plan's `on_failure` did (from
/// the events it recorded), else that it waits for a person.
fn after_failure(followed: &[EventRecord]) -> String {
    let rolled_back = followed.iter().any(|r| matches!(r.event, Event::RollbackFinished));
    let rolling_back = followed.iter().any(|r| matches!(r.event, Event::RollbackStarted { .. }));
    let paused = followed.iter().any(|r| matches!(r.event, Event::Paused { .. }));
    if rolled_back {
        "the failure is recorded and, as the plan's on_failure says, the release was rolled back"
            .into()
    } else if rolling_back {
        "the failure is recorded and, as the plan's on_failure says, the rollback started: `flightdeck status` shows where it is".into()
    } else if paused {
        "the failure is recorded and, as the plan's on_failure says, the release is paused: `flightdeck rollback`, or `flightdeck resume` then `flightdeck retry` or `flightdeck resolve`".into()
    } else {
        "the failure is recorded and the release waits: `flightdeck retry`, `flightdeck resolve`, or `flightdeck rollback`".into()
    }
}

/// The runs of this process that failed, as sentences: what makes a verb exit 4.
fn failed_runs(ran: &[EventRecord]) -> Vec<String> {
    ran.iter()
        .filter_map(|r| match &r.event {
            Event::ActionFailed { step, attempt, error, .. } => {
                Some(format!("`{step}` attempt {attempt} failed: {error}"))
            }
            Event::ActionInterrupted { step, attempt, reason } => {
                Some(format!("`{step}` attempt {attempt} was interrupted: {reason}"))
            }
            _ => None,
        })
        .collect()
}

/// Prints what the supervisor reports while a verb's actions run (on stderr with `--json`,
/// whose stdout is one JSON document).
fn print_report(report: &Report, json: bool) {
    let say = |line: String| {
        if json {
            eprintln!("{line}");
        } else {
            println!("{line}");
        }
    };
    match report {
        Report::Output { line, .. } => say(format!("  | {line}")),
        Report::Committed { records, .. } => {
            for r in records {
                say(summary::event_line(r));
            }
        }
        Report::RunEnded { error: Some(e), .. } | Report::TaskFailed { error: e, .. } => {
            eprintln!("flightdeck: {e}");
        }
        Report::Rejected { verb, message, .. } => eprintln!("flightdeck: {verb}: {message}"),
        Report::RunStarted { .. } | Report::RunEnded { .. } => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::release::{Event, apply};

    fn record(state: &State, at: i64, event: Event) -> EventRecord {
        EventRecord {
            seq: state.seq + 1,
            at: Timestamp(at),
            actor: Actor::person("bob", "host", 1),
            event,
        }
    }

    /// A command issued while `pre` was current acts on `pre`, even if this process reads
    /// the release only after bob passed it.
    #[test]
    fn the_step_seen_is_the_one_current_when_the_command_was_issued() {
        let plan =
            crate::plan::parse(include_str!("../../tests/fixtures/basic.toml"), "basic.toml")
                .expect("fixture plan");
        let mut state = State::new(&plan);
        let start = Command::Start {
            version: "1".into(),
            previous_version: None,
            sha: None,
            image: None,
            release_type: ReleaseType::Regular,
        };
        let actor = Actor::person("bob", "host", 1);
        for e in crate::release::decide(&plan, &state, &start, &actor, Timestamp(1_000), None)
            .expect("start")
        {
            let r = record(&state, 1_000, e);
            apply(&mut state, &r);
        }
        assert_eq!(step_current_at(&state, Timestamp(1_500)).as_deref(), Some("pre"));
        let r = record(&state, 2_000, Event::StepCompleted { step: "pre".into() });
        apply(&mut state, &r);
        assert_eq!(step_current_at(&state, Timestamp(1_500)).as_deref(), Some("pre"));
        assert_eq!(step_current_at(&state, Timestamp(2_000)).as_deref(), Some("go"));
        assert_eq!(step_current_at(&state, Timestamp(2_500)).as_deref(), Some("go"));
        // Found in CI: `next` run right after `next` returned, its start read a few ms early,
        // means the step current now, not the one the previous command just finished.
        assert_eq!(step_current_at(&state, Timestamp(1_950)).as_deref(), Some("go"));
    }

    #[test]
    fn this_process_is_younger_than_a_minute() {
        if cfg!(target_os = "linux") {
            assert!(process_age_ms().is_some_and(|ms| ms <= 60_000), "/proc could not be read");
        }
    }
}
