//! What each verb does. Acting verbs load the release, go through `store::execute` (the
//! same path as the cockpit's keys), then run any action this process claimed.

use std::io::Write;
use std::path::Path;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{
    Cli, EXIT_ERROR, EXIT_OK, EXIT_REJECTED, EXIT_USAGE, Target, Verb, json, record, summary, team,
};
use crate::plan::{self, ReleaseType};
use crate::release::{Actor, Command, EventRecord, Resolution};
use crate::store::{self, ExecuteError, Location, Store, StoreError};
use crate::{action, automation, clock, identity, notify, signing};

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

/// Runs a non-cockpit verb; returns the exit code.
pub async fn run(cli: Cli) -> u8 {
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
        Verb::Check { plan } => check(plan),
        Verb::Start { plan, version, previous_version, sha, image, release_type } => {
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
            start(&cli, plan, &command).await
        }
        Verb::List { json } => {
            let store = open_existing(&cli).await?;
            let rows = store.releases().await?;
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
            let store = open_existing(&cli).await?;
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
            let store = open_existing(&cli).await?;
            let row = store.find(release.as_deref()).await?;
            let events = store.events_after(row.id, 0).await?;
            let stdout = std::io::stdout();
            let mut out = stdout.lock();
            for e in &events {
                let line = if *json { json::event(e).to_string() } else { summary::event_line(e) };
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
        Verb::Approve { target } => act(&cli, target, Command::Approve).await,
        Verb::Revoke { target } => act(&cli, target, Command::Revoke).await,
        Verb::Decline { reason, target } => {
            act(&cli, target, Command::Decline { reason: reason.clone() }).await
        }
        Verb::Next { confirm, target } => {
            act(&cli, target, Command::Next { confirmed: *confirm }).await
        }
        Verb::Shift { confirm, target } => {
            act(&cli, target, Command::Shift { confirmed: *confirm }).await
        }
        Verb::Skip { reason, confirm, target } => {
            act(&cli, target, Command::Skip { reason: reason.clone(), confirmed: *confirm }).await
        }
        Verb::Retry { target } => act(&cli, target, Command::Retry).await,
        Verb::ConfirmReview { target } => act(&cli, target, Command::ConfirmCheckpoint).await,
        Verb::Resolve { succeeded, reason, target, .. } => {
            let resolution = if *succeeded { Resolution::Succeeded } else { Resolution::Failed };
            act(&cli, target, Command::Resolve { resolution, reason: reason.clone() }).await
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
        Verb::Claim { step, take_over, target } => {
            let step = step_or_current(&cli, target, step.as_deref(), "claim").await?;
            act(&cli, target, Command::Claim { step, reason: take_over.clone() }).await
        }
        Verb::Unclaim { step, target } => {
            let step = step_or_current(&cli, target, step.as_deref(), "unclaim").await?;
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
        Verb::Team { release, json } => team::show(&cli, release.as_deref(), *json).await,
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

fn check(path: &Path) -> Result<(), Failure> {
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
        let list: Vec<String> = missing.iter().map(|(a, n)| format!("{n} (action {a})")).collect();
        println!("note: not set in this environment: {}", list.join(", "));
        println!("      set them before `flightdeck start`, which refuses to start without them");
    }
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

async fn start(cli: &Cli, plan_path: &Path, command: &Command) -> Result<(), Failure> {
    refuse_read_only(cli, "start a release")?;
    let (plan, text) = plan::load_file(plan_path)
        .map_err(|e| Failure::error(e.to_string().trim_end().to_owned()))?;
    let missing = action::missing_secrets(&plan);
    if !missing.is_empty() {
        let list: Vec<String> =
            missing.iter().map(|(a, n)| format!("{n} (used by action {a})")).collect();
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
    println!(
        "started release {id}: {} {} → {} ({} events)",
        plan.service.name,
        version_of(command),
        plan.service.environment,
        records.len()
    );
    println!("open the cockpit with `flightdeck` or follow with `flightdeck status`");
    let mut notifier = notify::Notifier::spawn(store.clone(), notify_client());
    notifier.committed(id, &plan, None, &records);
    notifier.finish(notify::exit_wait(&plan)).await;
    Ok(())
}

/// The client webhooks are sent with (each hook's own timeout applies per attempt).
fn notify_client() -> reqwest::Client {
    action::http_client(std::time::Duration::from_secs(60))
}

fn version_of(command: &Command) -> &str {
    match command {
        Command::Start { version, .. } => version,
        _ => "",
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
    // Webhooks hear about what this process records; the verb waits for them at most the
    // plan's longest webhook timeout before it exits.
    let mut notifier = notify::Notifier::spawn(store.clone(), notify_client());
    // An action whose process died on this host is recorded as interrupted before anything
    // else, so the person's command is decided on the truth.
    let automation = Actor::automation(&actor.account, &actor.host, actor.pid);
    for orphan in automation::orphans(&loaded.state, &actor, identity::process_alive) {
        if let Ok((records, after)) =
            store::execute(&store, row.id, &orphan, &automation, None, clock::now).await
        {
            for r in &records {
                println!("{}", summary::event_line(r));
            }
            notifier.committed(row.id, &after.plan, after.state.info.as_ref(), &records);
        }
    }
    // Where the plan requires signed approvals, the person signs through their ssh-agent
    // before anything is decided (refused here, naming what to do, without an agent).
    let signed = signing::sign_command(&store, &loaded, &command, &actor, clock::now())
        .await
        .map_err(signing_failure)?;
    let (records, loaded) = store::execute_signed(
        &store,
        row.id,
        &command,
        &actor,
        target.expect_seq,
        None,
        signed.as_ref(),
        clock::now,
    )
    .await?;
    for r in &records {
        println!("{}", summary::event_line(r));
    }
    notifier.committed(row.id, &loaded.plan, loaded.state.info.as_ref(), &records);
    if !action::claims_of(&loaded.plan, &loaded.state, &actor).is_empty() {
        let ran = run_claimed(&store, row.id, &actor).await;
        if let Ok(records) = &ran {
            notifier.committed(row.id, &loaded.plan, loaded.state.info.as_ref(), records);
        }
        notifier.finish(notify::exit_wait(&loaded.plan)).await;
        ran?;
    } else {
        notifier.finish(notify::exit_wait(&loaded.plan)).await;
    }
    store.close().await;
    Ok(())
}

/// A command that could not be signed: refused (exit 3) without an agent or key, else an
/// error.
fn signing_failure(e: signing::SigningError) -> Failure {
    match e {
        signing::SigningError::Unavailable(_) => {
            Failure { code: EXIT_REJECTED, message: format!("rejected: {e}") }
        }
        _ => Failure::error(e.to_string()),
    }
}

/// Runs this process's claimed actions in the foreground, printing their output.
async fn run_claimed(
    store: &Store,
    release_id: i64,
    actor: &Actor,
) -> Result<Vec<EventRecord>, Failure> {
    let client = action::http_client(std::time::Duration::from_secs(30));
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    let cancel = CancellationToken::new();
    let printer = tokio::spawn(async move {
        while let Some(line) = rx.recv().await {
            println!("  | {line}");
        }
    });
    let interrupt = {
        let cancel = cancel.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                eprintln!(
                    "flightdeck: interrupted; stopping the action and recording it as failed"
                );
                cancel.cancel();
            }
        })
    };
    let result = action::drive_claims(store, release_id, actor, &client, &tx, &cancel).await;
    drop(tx);
    let _ = printer.await;
    interrupt.abort();
    let records = result?;
    for r in &records {
        println!("{}", summary::event_line(r));
    }
    Ok(records)
}
