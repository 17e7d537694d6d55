//! Side effects: running the actions a release has claimed. An action runs only after its
//! `ActionStarted` event is appended by this process (the append is the lock), and its outcome
//! is recorded through the same `execute` path as every other command.

pub mod command;
pub mod http;
pub mod outputs;
pub mod template;

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::plan::{ActionKind, ActionSpec, Plan, StepKind};
use crate::release::{Actor, Outcome, ReleaseInfo, State};

/// An action ready to run: templates filled, secrets resolved, and the values to redact.
#[derive(Debug, Clone)]
pub enum Prepared {
    /// A process.
    Command(command::CommandSpec),
    /// An HTTP call.
    Http(http::HttpSpec),
}

/// A claimed run: which step, which attempt, which action, and the weight it sets if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    /// Step id.
    pub step: String,
    /// Attempt number.
    pub attempt: u32,
    /// Action id.
    pub action: String,
    /// Weight passed as `{weight}`, for traffic steps.
    pub weight: Option<u8>,
    /// The rollout percent passed as `{target}`, for deploy steps.
    pub target: Option<u8>,
    /// Who claimed it: its outcome is recorded in their name.
    pub by: Actor,
}

/// The runs in flight that this process claimed (same host and pid).
pub fn claims_of(plan: &Plan, state: &State, actor: &Actor) -> Vec<Claim> {
    state
        .runs_in_flight()
        .into_iter()
        .filter(|(_, run)| run.started.by.pid == actor.pid && run.started.by.host == actor.host)
        .map(|(step, run)| {
            let kind = plan.step(step).map(|r| &r.step.kind);
            let target = match kind {
                Some(StepKind::Deploy { target, .. }) => Some(*target),
                _ => None,
            };
            let weight = match kind {
                Some(StepKind::Traffic { weight }) => Some(*weight),
                _ => state
                    .rollback
                    .as_ref()
                    .and_then(|r| r.plan.iter().find(|p| p.id == step))
                    .filter(|p| p.sets_weight_zero)
                    .map(|_| 0),
            };
            Claim {
                step: step.to_owned(),
                attempt: run.attempt,
                action: run.action.clone(),
                weight,
                target,
                by: run.started.by.clone(),
            }
        })
        .collect()
}

/// The release's facts as `step`'s action sees them: `{environment}` is the environment
/// the step acts on (its own, else its stage's, else the service's).
pub fn info_for_step(plan: &Plan, step: &str, info: &ReleaseInfo) -> ReleaseInfo {
    let mut info = info.clone();
    if let Some(r) = plan.step(step) {
        info.environment.clone_from(&r.step.environment);
    }
    info
}

/// Fills templates and resolves secrets; `secrets` collects values to redact.
pub fn prepare(
    spec: &ActionSpec,
    info: &ReleaseInfo,
    release_id: i64,
    weight: Option<u8>,
    secrets: &mut Vec<String>,
) -> Result<Prepared, String> {
    let shares = Shares { weight, target: None };
    prepare_with(spec, info, release_id, shares, &BTreeMap::new(), secrets)
}

/// The percents a run acts on: `{weight}` for a traffic shift, `{target}` for a deploy step.
/// Empty when the run has none (a placeholder the step cannot fill was refused at check).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Shares {
    /// The weight a traffic step sets.
    pub weight: Option<u8>,
    /// The rollout percent a deploy step (or segment) brings production to.
    pub target: Option<u8>,
}

/// Like [`prepare`], with the outputs earlier steps recorded (`outputs.STEP.NAME` → value,
/// see [`outputs::recorded`]); `{date}` and `{timestamp}` are read from the clock now, as
/// the action is about to run. A `{outputs.STEP.NAME}` with no recorded value is an error.
pub fn prepare_with(
    spec: &ActionSpec,
    info: &ReleaseInfo,
    release_id: i64,
    shares: Shares,
    recorded: &BTreeMap<String, String>,
    secrets: &mut Vec<String>,
) -> Result<Prepared, String> {
    let mut vars = template::Vars::default();
    let now = crate::clock::now();
    vars.set("date", template::date(now)).set("timestamp", template::timestamp(now));
    for (name, value) in recorded {
        vars.set_owned(name.clone(), value.clone());
    }
    vars.set("version", &info.version)
        .set("previous_version", info.previous_version.clone().unwrap_or_default())
        .set("release_id", release_id.to_string())
        .set("environment", &info.environment)
        .set("service", &info.service)
        .set("sha", info.sha.clone().unwrap_or_default())
        .set("image", info.image.clone().unwrap_or_default())
        .set("weight", shares.weight.map(|w| w.to_string()).unwrap_or_default())
        .set("target", shares.target.map(|t| t.to_string()).unwrap_or_default());
    let mut resolve = |text: &str| {
        let filled = vars.fill(text);
        if let Some(missing) = crate::plan::placeholders(&filled)
            .into_iter()
            .find(|p| p.starts_with(crate::plan::outputs::PREFIX))
        {
            let (step, name) = crate::plan::outputs::reference(&missing).unwrap_or((&missing, ""));
            return Err(format!(
                "{{{missing}}} has no value: step `{step}` recorded no output `{name}` (it has not succeeded in this release)"
            ));
        }
        template::resolve_secrets(&filled, secrets)
    };
    match &spec.kind {
        ActionKind::Command { argv, shell, cwd, env, .. } => {
            let argv =
                argv.iter().map(|a| resolve(a).map(|r| r.secret)).collect::<Result<_, _>>()?;
            let env = env
                .iter()
                .map(|(k, v)| resolve(v).map(|r| (k.clone(), r.secret)))
                .collect::<Result<_, _>>()?;
            Ok(Prepared::Command(command::CommandSpec {
                argv,
                shell: *shell,
                cwd: cwd.clone(),
                env,
                timeout: spec.timeout,
            }))
        }
        ActionKind::Http { method, url, headers, body, expect_status, retries, .. } => {
            let url = resolve(url)?;
            let headers = headers
                .iter()
                .map(|(k, v)| resolve(v).map(|r| (k.clone(), r.secret)))
                .collect::<Result<_, _>>()?;
            let body = match body {
                Some(b) => Some(fill_json(b, &mut |s| resolve(s).map(|r| r.secret))?),
                None => None,
            };
            Ok(Prepared::Http(http::HttpSpec {
                method: method.clone(),
                url: url.secret,
                url_shown: url.shown,
                headers,
                body,
                expect_status: *expect_status,
                retries: *retries,
                timeout: spec.timeout,
            }))
        }
    }
}

/// Fills templates in every string of a JSON body; a string that becomes a number stays one
/// if it was exactly a placeholder (so `"{weight}"` sends `10`, not `"10"`).
fn fill_json(
    value: &serde_json::Value,
    fill: &mut dyn FnMut(&str) -> Result<String, String>,
) -> Result<serde_json::Value, String> {
    use serde_json::Value;
    Ok(match value {
        Value::String(s) => {
            let filled = fill(s)?;
            let whole_placeholder = s.starts_with('{') && s.ends_with('}') && !s.starts_with("${");
            match filled.parse::<i64>() {
                Ok(n) if whole_placeholder => Value::from(n),
                _ => Value::String(filled),
            }
        }
        Value::Array(items) => {
            Value::Array(items.iter().map(|v| fill_json(v, fill)).collect::<Result<_, _>>()?)
        }
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| fill_json(v, fill).map(|v| (k.clone(), v)))
                .collect::<Result<_, _>>()?,
        ),
        other => other.clone(),
    })
}

/// Every `${env:NAME}` the plan needs (actions, probes, webhooks) that is not set now,
/// with what needs it (`action deploy`, `health probe api`).
pub fn missing_secrets(plan: &Plan) -> Vec<(String, String)> {
    let mut missing: Vec<(String, String)> = Vec::new();
    for (user, texts) in secret_users(plan) {
        for name in texts.iter().flat_map(|t| template::secret_names(t)) {
            if std::env::var_os(&name).is_none() && !missing.iter().any(|(_, n)| n == &name) {
                missing.push((user.clone(), name));
            }
        }
    }
    missing
}

/// Every part of a plan that may hold `${env:NAME}`, with the texts it holds: its actions,
/// health probes, metric sources and webhooks.
pub fn secret_users(plan: &Plan) -> Vec<(String, Vec<String>)> {
    let mut users = Vec::new();
    for (id, spec) in &plan.actions {
        let texts: Vec<String> = match &spec.kind {
            ActionKind::Command { argv, env, .. } => {
                argv.iter().chain(env.values()).cloned().collect()
            }
            ActionKind::Http { url, headers, body, .. } => {
                let mut t: Vec<String> = headers.values().cloned().collect();
                t.push(url.clone());
                t.extend(body.iter().map(ToString::to_string));
                t
            }
        };
        users.push((format!("action {id}"), texts));
    }
    for h in &plan.health {
        let texts = std::iter::once(h.url.clone()).chain(h.headers.values().cloned()).collect();
        users.push((format!("health probe {}", h.id), texts));
    }
    for m in &plan.metrics {
        let url = match &m.source {
            crate::plan::MetricSource::Prometheus { url, .. }
            | crate::plan::MetricSource::Scrape { url, .. }
            | crate::plan::MetricSource::Json { url, .. } => url.clone(),
        };
        users.push((format!("metric {}", m.id), vec![url]));
    }
    for (i, n) in plan.notify.iter().enumerate() {
        users.push((format!("webhook notify[{i}]"), vec![n.url.clone()]));
    }
    users
}

/// The result of running one claimed action.
#[derive(Debug, Clone)]
pub struct Report {
    /// How it ended, ready for `Command::RecordOutcome`.
    pub outcome: Outcome,
    /// How long it ran.
    pub duration_ms: u64,
    /// The response body of an http action (for read-back and outputs), the output tail of
    /// a command (unredacted, for outputs).
    pub body: String,
}

/// Runs a prepared action; every output line (redacted) goes to `lines`.
pub async fn run_prepared(
    prepared: &Prepared,
    secrets: &[String],
    client: &reqwest::Client,
    lines: &mpsc::UnboundedSender<String>,
    cancel: &CancellationToken,
) -> Report {
    let started = crate::clock::instant();
    let (raw_lines_tx, mut raw_lines_rx) = mpsc::unbounded_channel::<String>();
    let redactor = {
        let lines = lines.clone();
        let secrets = secrets.to_vec();
        tokio::spawn(async move {
            while let Some(line) = raw_lines_rx.recv().await {
                let _ = lines.send(template::redact(&line, &secrets));
            }
        })
    };
    let (outcome, body) = match prepared {
        Prepared::Command(spec) => {
            let r = command::run(spec, &raw_lines_tx, cancel).await;
            let tail = Some(template::redact(&r.tail, secrets)).filter(|t| !t.is_empty());
            let outcome = match r.error {
                None => Outcome::Succeeded {
                    exit_code: r.exit_code,
                    output_tail: tail,
                    outputs: BTreeMap::new(),
                },
                // The error may quote the command (e.g. when it cannot start), secrets and all.
                Some(error) => Outcome::Failed {
                    error: template::redact(&error, secrets),
                    exit_code: r.exit_code,
                    output_tail: tail,
                },
            };
            (outcome, r.tail)
        }
        Prepared::Http(spec) => {
            let r = http::run(client, spec, cancel).await;
            for line in r.tail.lines() {
                let _ = raw_lines_tx.send(line.to_owned());
            }
            let tail = Some(template::redact(&r.tail, secrets)).filter(|t| !t.is_empty());
            let outcome = match r.error {
                None => Outcome::Succeeded {
                    exit_code: None,
                    output_tail: tail,
                    outputs: BTreeMap::new(),
                },
                Some(error) => Outcome::Failed {
                    error: template::redact(&error, secrets),
                    exit_code: None,
                    output_tail: tail,
                },
            };
            (outcome, r.body)
        }
    };
    drop(raw_lines_tx);
    let _ = redactor.await;
    let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    Report { outcome, duration_ms, body }
}

/// The shared HTTP client (rustls with the ring provider; no system OpenSSL).
pub fn http_client(timeout: Duration) -> reqwest::Client {
    install_crypto();
    reqwest::Client::builder()
        .timeout(timeout)
        .user_agent(concat!("flightdeck/", env!("CARGO_PKG_VERSION")))
        .build()
        .unwrap_or_else(|_| reqwest::Client::new())
}

/// Installs rustls's ring provider once per process.
pub fn install_crypto() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}
