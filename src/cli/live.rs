//! `flightdeck check --live PLAN`: proves before a release that what the plan needs answers.
//! Every secret is resolved (actions, probes, webhooks), each health endpoint is polled once,
//! each metric read once, the traffic weight read back once, and each webhook's host reached
//! (never posted to). Actions are not run. The result is a table; anything that did not
//! answer makes the check fail.

use std::time::Duration;

use crate::action::{self, template};
use crate::plan::{MetricSource, Plan, ReleaseType};
use crate::probe::{Versions, health, metrics::MetricReader};
use crate::release::ReleaseInfo;
use crate::supervisor::readback;
use crate::{clock, identity};

/// How long reaching a webhook's host may take.
const WEBHOOK_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest a cell is shown.
const CELL_CHARS: usize = 60;

/// One line of the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveRow {
    /// What was tried: `secret API_TOKEN`, `health api`, `metric error_rate`.
    pub what: String,
    /// Where (the configured URL or socket; secrets unresolved).
    pub target: String,
    /// Whether it answered.
    pub answered: bool,
    /// What it answered.
    pub value: String,
    /// Why it did not.
    pub failure: String,
}

impl LiveRow {
    fn ok(what: String, target: String, value: String) -> Self {
        Self { what, target, answered: true, value, failure: String::new() }
    }

    fn failed(what: String, target: String, failure: String) -> Self {
        Self { what, target, answered: false, value: String::new(), failure }
    }
}

/// Tries everything the plan needs once.
pub async fn run(plan: &Plan) -> Vec<LiveRow> {
    let mut rows = secrets(plan);
    let client = action::http_client(Duration::from_secs(30));
    for probe in &plan.health {
        let reading = match crate::provider::server_probe(plan, probe) {
            Some((provider, server)) => {
                crate::provider::check_server(provider.as_ref(), &server, clock::now).await
            }
            None => health::check(&client, probe, clock::now).await,
        };
        let what = format!("health {}", probe.id);
        rows.push(match reading.error {
            Some(e) => LiveRow::failed(what, probe.url.clone(), with_host(&e, &probe.url)),
            None => {
                let mut value = match reading.status_code {
                    Some(code) => format!("HTTP {code} in {} ms", reading.latency_ms),
                    None => format!("answered in {} ms", reading.latency_ms),
                };
                if let Some(version) = &reading.version {
                    value.push_str(&format!(", version {version}"));
                }
                for (name, state) in &reading.checks {
                    value.push_str(&format!(", {name} {state}"));
                }
                LiveRow::ok(what, probe.url.clone(), value)
            }
        });
    }
    for probe in &plan.metrics {
        let url = match &probe.source {
            MetricSource::Prometheus { url, .. }
            | MetricSource::Scrape { url, .. }
            | MetricSource::Json { url, .. } => url.clone(),
        };
        let mut reader = MetricReader::new(probe.clone(), Versions::default());
        let what = format!("metric {}", probe.id);
        rows.push(match reader.read(&client, clock::now()).await {
            Some(Ok(Some(value))) => {
                let value = format!("{} {}", trim_number(value), probe.unit);
                LiveRow::ok(what, url, value.trim_end().to_owned())
            }
            Some(Ok(None)) => LiveRow::ok(what, url, "answered, no data yet".into()),
            None => LiveRow::ok(what, url, "scraped (a rate needs a second scrape)".into()),
            Some(Err(e)) => {
                let failure = with_host(&e, &url);
                LiveRow::failed(what, url, failure)
            }
        });
    }
    if let Some(source) = readback::Source::of(plan) {
        let target = match plan.traffic.as_ref().and_then(|t| t.provider.as_ref()) {
            Some(spec) => crate::provider::connect(spec).describe(),
            None => format!("action {}", source.name()),
        };
        let what = "traffic read-back".to_owned();
        rows.push(match readback::read(&source, &placeholder_info(plan), 0, &client).await {
            Ok(0) => LiveRow::ok(what, target, "0% on the new version".into()),
            // A release starts at 0%: any other weight is drift at the first read-back.
            Ok(weight) => LiveRow {
                what,
                target,
                answered: false,
                value: format!("{weight}% on the new version"),
                failure: format!(
                    "a release starts with 0% on the new version: the provider says {weight}% (set it to 0 first, or the first read-back is drift)"
                ),
            },
            Err(e) => LiveRow::failed(what, target, e),
        });
    }
    for (i, hook) in plan.notify.iter().enumerate() {
        rows.push(reach_webhook(i, &hook.url).await);
    }
    rows
}

/// One row per `${env:NAME}` the plan uses: set (its value never shown) or not.
fn secrets(plan: &Plan) -> Vec<LiveRow> {
    let mut rows: Vec<LiveRow> = Vec::new();
    for (user, texts) in action::secret_users(plan) {
        for name in texts.iter().flat_map(|t| template::secret_names(t)) {
            let what = format!("secret {name}");
            if let Some(row) = rows.iter_mut().find(|r| r.what == what) {
                row.target.push_str(&format!(", {user}"));
                continue;
            }
            rows.push(if std::env::var_os(&name).is_some() {
                LiveRow::ok(what, user.clone(), "set".into())
            } else {
                LiveRow::failed(what, user.clone(), "not set in this environment".into())
            });
        }
    }
    rows
}

/// A webhook is reached, not posted to: its host must resolve and accept a connection.
async fn reach_webhook(index: usize, url: &str) -> LiveRow {
    let what = format!("webhook notify[{index}]");
    let mut secrets = Vec::new();
    let resolved = match template::resolve_secrets(url, &mut secrets) {
        Ok(r) => r.secret,
        Err(e) => return LiveRow::failed(what, url.to_owned(), e),
    };
    let Ok(parsed) = reqwest::Url::parse(&resolved) else {
        return LiveRow::failed(what, url.to_owned(), "not a URL".into());
    };
    let (Some(host), Some(port)) = (parsed.host_str(), parsed.port_or_known_default()) else {
        return LiveRow::failed(what, url.to_owned(), "the URL names no host".into());
    };
    let address = format!("{host}:{port}");
    let connect = tokio::net::TcpStream::connect(address.as_str());
    match tokio::time::timeout(WEBHOOK_CONNECT_TIMEOUT, connect).await {
        Ok(Ok(_)) => {
            LiveRow::ok(what, url.to_owned(), format!("{address} reachable (not posted to)"))
        }
        Ok(Err(e)) if e.to_string().contains("lookup") || e.to_string().contains("not known") => {
            LiveRow::failed(what, url.to_owned(), format!("DNS lookup failed for host {host}"))
        }
        Ok(Err(e)) => LiveRow::failed(what, url.to_owned(), format!("{address}: {e}")),
        Err(_) => LiveRow::failed(what, url.to_owned(), format!("{address}: no answer within 5s")),
    }
}

/// The release a read-back action is filled with before any release exists.
fn placeholder_info(plan: &Plan) -> ReleaseInfo {
    ReleaseInfo {
        service: plan.service.name.clone(),
        environment: plan.service.environment.clone(),
        version: String::new(),
        previous_version: None,
        sha: None,
        image: None,
        release_type: ReleaseType::Regular,
        started_at: clock::now(),
        started_by: identity::current_actor(None),
    }
}

/// An error that does not say which host it came from gets the host of `url`.
fn with_host(error: &str, url: &str) -> String {
    let host = reqwest::Url::parse(url).ok().and_then(|u| {
        let host = u.host_str()?.to_owned();
        Some(u.port().map_or(host.clone(), |p| format!("{host}:{p}")))
    });
    match host {
        Some(host) if !error.contains(host.split(':').next().unwrap_or(&host)) => {
            format!("{error} ({host})")
        }
        _ => error.to_owned(),
    }
}

fn trim_number(value: f64) -> String {
    let text = format!("{value:.4}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// The table, one row per line, with a header.
pub fn table(rows: &[LiveRow]) -> String {
    let cells: Vec<[String; 5]> = rows
        .iter()
        .map(|r| {
            [
                cut(&r.what),
                cut(&r.target),
                if r.answered { "yes".into() } else { "NO".into() },
                cut(&r.value),
                r.failure.clone(),
            ]
        })
        .collect();
    let header = ["what", "where", "answered", "value", "why not"].map(str::to_owned);
    let widths: Vec<usize> = (0..4)
        .map(|i| cells.iter().chain([&header]).map(|c| c[i].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in std::iter::once(&header).chain(&cells) {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i < 4 {
                line.push_str(&format!("{cell:<width$}  ", width = widths[i]));
            } else {
                line.push_str(cell);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn cut(s: &str) -> String {
    if s.chars().count() > CELL_CHARS {
        format!("{}…", s.chars().take(CELL_CHARS - 1).collect::<String>())
    } else {
        s.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_get_the_host_they_came_from() {
        assert_eq!(
            with_host("connection refused", "http://10.0.0.5:8080/health"),
            "connection refused (10.0.0.5:8080)"
        );
        assert_eq!(
            with_host("DNS lookup failed for host api.internal", "http://api.internal/health"),
            "DNS lookup failed for host api.internal"
        );
    }

    #[test]
    fn secrets_of_probes_metrics_and_webhooks_are_listed_once_with_every_user() {
        let plan = crate::plan::parse(
            r#"[service]
name = "api"
environment = "staging"

[[health]]
id = "api"
url = "http://h/health"
headers = { Authorization = "Bearer ${env:FD_UNIT_UNSET_TOKEN}" }

[[metrics]]
id = "m"
prometheus = { url = "http://${env:FD_UNIT_UNSET_TOKEN}@p:9090", query = "up" }

[[notify]]
url = "https://hooks.example.com/${env:FD_UNIT_UNSET_HOOK}"

[actions.a]
kind = "command"
argv = ["true"]

[[stages]]
id = "s"
name = "S"

  [[stages.steps]]
  id = "a"
  kind = "action"
  action = "a"
"#,
            "unit.toml",
        )
        .expect("plan");
        let rows = secrets(&plan);
        let shown: Vec<(&str, &str, bool)> =
            rows.iter().map(|r| (r.what.as_str(), r.target.as_str(), r.answered)).collect();
        assert_eq!(
            shown,
            [
                ("secret FD_UNIT_UNSET_TOKEN", "health probe api, metric m", false),
                ("secret FD_UNIT_UNSET_HOOK", "webhook notify[0]", false),
            ]
        );
        let missing = crate::action::missing_secrets(&plan);
        assert_eq!(missing.len(), 2, "{missing:?}");
        assert_eq!(missing[1], ("webhook notify[0]".into(), "FD_UNIT_UNSET_HOOK".into()));
    }

    #[test]
    fn the_table_lines_up() {
        let rows = vec![
            LiveRow::ok("health api".into(), "http://x".into(), "HTTP 200 in 3 ms".into()),
            LiveRow::failed("secret T".into(), "action a".into(), "not set".into()),
        ];
        let text = table(&rows);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[2].contains("NO") && lines[2].ends_with("not set"), "{text}");
        assert_eq!(lines[1].find("http://x"), lines[2].find("action a"));
    }
}
