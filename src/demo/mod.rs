//! `flightdeck demo`: the whole cockpit on a simulated fleet with nothing else installed.
//! It starts the fleet on loopback, fills the demo plan's URLs, starts a release in a fresh
//! database, and opens the cockpit — or, headless, plays the operators itself to the end.

pub mod fleet;
pub mod operator;
mod requests;
pub mod rollout;

use std::path::PathBuf;

use crate::plan::ReleaseType;
use crate::plan::{self, Plan};
use crate::release::Command;
use crate::store::{self, Store};
use crate::{clock, identity};

pub use fleet::{Fleet, Scenario};

/// The demo plan with its tokens.
pub const DEMO_PLAN: &str = include_str!("../../assets/plans/demo.toml");
/// The rolling scenarios' plan with its tokens.
pub const DEMO_ROLLING_PLAN: &str = include_str!("../../assets/plans/demo-rolling.toml");
/// The swap scenarios' plan with its tokens.
pub const DEMO_SWAP_PLAN: &str = include_str!("../../assets/plans/demo-swap.toml");

/// The plan a scenario runs, with its tokens.
pub fn plan_template(scenario: Scenario) -> &'static str {
    match scenario.strategy() {
        crate::plan::Strategy::Traffic => DEMO_PLAN,
        crate::plan::Strategy::Rolling => DEMO_ROLLING_PLAN,
        crate::plan::Strategy::Swap => DEMO_SWAP_PLAN,
    }
}

/// The version the demo releases and the one it replaces.
pub const NEW_VERSION: &str = "1.4.0";
/// The stable version.
pub const OLD_VERSION: &str = "1.3.2";

/// The scenario's plan wired to a running fleet, with a `[[health]]` entry polled every
/// second for each of the fleet's extra endpoints.
pub fn plan_text(fleet: &Fleet, scenario: Scenario) -> String {
    let migration_seconds = if scenario == Scenario::SlowMigration { "30" } else { "3" };
    let text = plan_template(scenario)
        .replace("http://blue.demo.invalid", &fleet.blue_url)
        .replace("http://green.demo.invalid", &fleet.green_url)
        .replace("http://lb.demo.invalid", &fleet.lb_url)
        .replace("http://app.demo.invalid", &fleet.app.url)
        .replace("@MIGRATION_SECONDS@", migration_seconds);
    let Some(url) = fleet.extra_url.as_deref().filter(|_| fleet.extra_endpoints > 0) else {
        return text;
    };
    let mut extra = String::new();
    for n in 1..=fleet.extra_endpoints {
        extra.push_str(&format!(
            "[[health]]\nid = \"extra-{n:03}\"\nname = \"extra-{n:03}\"\n\
             url = \"{url}/extra/{n}/health\"\ninterval = \"1s\"\n\n"
        ));
    }
    text.replacen("\n[[metrics]]", &format!("\n{extra}[[metrics]]"), 1)
}

/// A fresh database path for a demo run.
pub fn fresh_db_path() -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "flightdeck-demo-{}-{}",
        std::process::id(),
        clock::now().0
    ));
    dir.join("demo.db")
}

/// Everything a demo run needs: the fleet, the store and the started release.
pub struct Setup {
    /// The simulated fleet (stopped when dropped).
    pub fleet: Fleet,
    /// The database.
    pub store: Store,
    /// The plan as wired.
    pub plan: Plan,
    /// The release id.
    pub release_id: i64,
}

/// Starts the fleet and a release of the demo plan in the database at `db`.
pub async fn set_up(scenario: Scenario, db: &std::path::Path) -> Result<Setup, String> {
    set_up_with_extra(scenario, db, 0).await
}

/// Like [`set_up`], with `extra_endpoints` more health endpoints polled every second.
pub async fn set_up_with_extra(
    scenario: Scenario,
    db: &std::path::Path,
    extra_endpoints: usize,
) -> Result<Setup, String> {
    let fleet = Fleet::start_with_extra(scenario, OLD_VERSION, NEW_VERSION, extra_endpoints)
        .await
        .map_err(|e| format!("cannot start the demo fleet: {e}"))?;
    let text = plan_text(&fleet, scenario);
    let plan = plan::parse(&text, "demo plan").map_err(|e| e.to_string())?;
    let store = Store::open(db, false).await.map_err(|e| e.to_string())?;
    let actor = identity::current_actor(None);
    let command = Command::Start {
        version: NEW_VERSION.into(),
        previous_version: Some(OLD_VERSION.into()),
        sha: Some("3f2a1c9".into()),
        image: Some(format!("checkout-api:{NEW_VERSION}")),
        release_type: ReleaseType::Regular,
    };
    let (release_id, _) = store::start(
        &store,
        &plan,
        &format!("demo ({})", scenario.name()),
        &text,
        &command,
        &actor,
        clock::now(),
    )
    .await
    .map_err(|e| e.to_string())?;
    Ok(Setup { fleet, store, plan, release_id })
}

/// Runs `flightdeck demo`; returns the exit code.
pub async fn run(
    db: Option<PathBuf>,
    scenario_name: &str,
    headless: bool,
    extra_endpoints: usize,
    cli: &crate::cli::Cli,
) -> u8 {
    let Some(scenario) = Scenario::parse(scenario_name) else {
        let names: Vec<&str> = Scenario::ALL.iter().map(|(_, n)| *n).collect();
        eprintln!(
            "flightdeck: unknown scenario `{scenario_name}`; choose one of: {}",
            names.join(", ")
        );
        return crate::cli::EXIT_USAGE;
    };
    let db = db.unwrap_or_else(fresh_db_path);
    let setup = match set_up_with_extra(scenario, &db, extra_endpoints).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("flightdeck: {e}");
            return crate::cli::EXIT_ERROR;
        }
    };
    if headless {
        let code = operator::run_headless(&setup, scenario).await;
        setup.fleet.stop();
        return code;
    }
    let colleague = operator::spawn_colleague(setup.store.clone(), setup.release_id);
    let code =
        crate::tui::open_at(&db, false, None, Some(&setup.release_id.to_string()), cli).await;
    colleague.abort();
    setup.fleet.stop();
    println!("demo database: {} (try `flightdeck --db {} events`)", db.display(), db.display());
    code
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn extra_endpoints_are_served_and_polled_every_second() {
        let fleet = Fleet::start_with_extra(Scenario::Happy, OLD_VERSION, NEW_VERSION, 3)
            .await
            .expect("fleet");
        let plan = plan::parse(&plan_text(&fleet, Scenario::Happy), "demo plan").expect("plan");
        let extra: Vec<_> = plan.health.iter().filter(|h| h.id.starts_with("extra-")).collect();
        assert_eq!(plan.health.len(), 6);
        assert_eq!(extra.len(), 3);
        assert!(extra.iter().all(|h| h.interval == std::time::Duration::from_secs(1)));
        let client = crate::action::http_client(std::time::Duration::from_secs(5));
        let response = client.get(&extra[2].url).send().await.expect("get");
        assert_eq!(response.status(), 200);
        fleet.stop();
    }
}
