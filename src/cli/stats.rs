//! `flightdeck stats`: loads every matching release's events from the store and prints the
//! figures `report::stats` computes from them, as a table with a bar chart or as JSON.

use super::verbs::{Failure, open_reading};
use super::{Cli, EXIT_USAGE};
use crate::release::Timestamp;
use crate::report::stats::{self, Filter, History};

/// What `stats` was asked for.
#[derive(Debug)]
pub struct Options<'a> {
    /// `--service`.
    pub service: Option<String>,
    /// `--environment`.
    pub environment: Option<String>,
    /// `--since`, as typed.
    pub since: &'a str,
    /// `--until`, as typed.
    pub until: Option<&'a str>,
    /// `--json`.
    pub json: bool,
}

fn usage(message: String) -> Failure {
    Failure { code: EXIT_USAGE, message }
}

/// `flightdeck stats [--service S] [--environment E] [--since 90d] [--until DATE] [--json]`
pub async fn show(cli: &Cli, options: &Options<'_>) -> Result<(), Failure> {
    let span = stats::parse_span(options.since).map_err(|e| usage(format!("--since: {e}")))?;
    let until = match options.until {
        Some(day) => stats::parse_day_end(day).map_err(|e| usage(format!("--until: {e}")))?,
        None => crate::clock::now(),
    };
    let since = Timestamp(until.0.saturating_sub(i64::try_from(span).unwrap_or(i64::MAX)));
    let filter =
        Filter { service: options.service.clone(), environment: options.environment.clone() };
    let store = open_reading(cli).await?;
    let mut histories = Vec::new();
    for row in store.releases().await? {
        let wanted = filter.service.as_ref().is_none_or(|s| *s == row.service)
            && filter.environment.as_ref().is_none_or(|e| *e == row.environment)
            && row.created_at < until
            && row.updated_at >= since;
        if !wanted {
            continue;
        }
        let events = store.events_after(row.id, 0).await?;
        histories.push(History {
            id: row.id,
            service: row.service,
            environment: row.environment,
            version: row.version,
            events,
        });
    }
    let figures = stats::compute(&histories, &filter, since, until);
    if options.json {
        println!("{}", serde_json::to_string_pretty(&figures).unwrap_or_default());
    } else {
        print!("{}", stats::render_text(&figures));
    }
    Ok(())
}
