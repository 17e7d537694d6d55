//! The simulated fleet behind `flightdeck demo`: real HTTP servers on 127.0.0.1 (ports chosen
//! at run time) for the stable (blue) and new (green) versions, each with `/health` and
//! `/metrics` in the Prometheus text format, plus a load balancer whose admin endpoint sets
//! the weight. Simulated traffic is split by that weight; the scenario shapes what green does.
//! Beside them runs the three-pod service the rolling and swap scenarios release
//! ([`super::rollout`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::requests::{Lcg, RequestStats};
use super::rollout::{RolloutConfig, RolloutService};

pub use super::requests::BUCKETS_S;

/// Simulated requests per second across both colours.
const REQUESTS_PER_SECOND: u64 = 200;
/// How often simulated traffic is generated (each tick, a second's worth: the probes read
/// at most every second, and a quiet demo should not wake ten times a second).
const TRAFFIC_TICK: Duration = Duration::from_secs(1);

/// What the demo shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    /// Everything goes well: the release completes at 100%.
    Happy,
    /// Green's error rate climbs at 50%; flightdeck rolls back by itself.
    BadCanary,
    /// Green's health flaps; the down/up rules show.
    FlakyHealth,
    /// The migration hits its timeout.
    SlowMigration,
    /// A rolling deploy, pod by pod with a watch at each fraction; completes and is watched.
    Rolling,
    /// The new version's pods answer slowly: the watch at the first fraction breaches its
    /// latency baseline and flightdeck rolls back by itself.
    RollingBad,
    /// A platform swap of the whole service; completes and is watched.
    Swap,
    /// The swapped-in version answers slowly: the bake after the swap breaches its latency
    /// baseline and flightdeck rolls back to the previous deploy by itself.
    SwapBad,
}

impl Scenario {
    /// Every scenario with its name.
    pub const ALL: [(Scenario, &'static str); 8] = [
        (Scenario::Happy, "happy"),
        (Scenario::BadCanary, "bad-canary"),
        (Scenario::FlakyHealth, "flaky-health"),
        (Scenario::SlowMigration, "slow-migration"),
        (Scenario::Rolling, "rolling"),
        (Scenario::RollingBad, "rolling-bad"),
        (Scenario::Swap, "swap"),
        (Scenario::SwapBad, "swap-bad"),
    ];

    /// Parses a scenario name.
    pub fn parse(name: &str) -> Option<Scenario> {
        Self::ALL.iter().find(|(_, n)| *n == name).map(|(s, _)| *s)
    }

    /// The scenario's name.
    pub fn name(self) -> &'static str {
        Self::ALL.iter().find(|(s, _)| *s == self).map_or("happy", |(_, n)| n)
    }

    /// How the release changes production: a traffic shift between blue and green, or the
    /// rolling/swap service.
    pub fn strategy(self) -> crate::plan::Strategy {
        match self {
            Self::Rolling | Self::RollingBad => crate::plan::Strategy::Rolling,
            Self::Swap | Self::SwapBad => crate::plan::Strategy::Swap,
            Self::Happy | Self::BadCanary | Self::FlakyHealth | Self::SlowMigration => {
                crate::plan::Strategy::Traffic
            }
        }
    }

    /// Whether the new version answers slowly once it serves.
    pub fn slow_new_version(self) -> bool {
        matches!(self, Self::RollingBad | Self::SwapBad)
    }
}

/// How long one pod of the demo's rolling service takes to be replaced.
pub const POD_EVERY: Duration = Duration::from_secs(2);
/// How long the demo's platform takes to swap the service.
pub const SWAP_AFTER: Duration = Duration::from_secs(3);

#[derive(Debug)]
struct FleetState {
    scenario: Scenario,
    weight: AtomicU8,
    blue: RequestStats,
    green: RequestStats,
    blue_version: String,
    green_version: String,
}

#[derive(Clone)]
struct Side {
    fleet: Arc<FleetState>,
    green: bool,
}

/// A running fleet.
#[derive(Debug)]
pub struct Fleet {
    /// Base URL of blue (stable).
    pub blue_url: String,
    /// Base URL of green (new).
    pub green_url: String,
    /// Base URL of the load balancer.
    pub lb_url: String,
    /// How many extra `/health` paths the fleet serves (`demo --extra-endpoints`).
    pub extra_endpoints: usize,
    /// Base URL of the server holding them: `{extra_url}/extra/{n}/health`, n in 1..=N.
    pub extra_url: Option<String>,
    /// The three-pod service the rolling and swap scenarios release.
    pub app: RolloutService,
    state: Arc<FleetState>,
    cancel: CancellationToken,
}

impl Fleet {
    /// Starts the servers and the traffic generator.
    pub async fn start(
        scenario: Scenario,
        blue_version: &str,
        green_version: &str,
    ) -> std::io::Result<Fleet> {
        Self::start_with_extra(scenario, blue_version, green_version, 0).await
    }

    /// Like [`Fleet::start`], plus one more server answering `extra_endpoints` healthy
    /// `/extra/{n}/health` paths (for measuring a cockpit polling many endpoints).
    pub async fn start_with_extra(
        scenario: Scenario,
        blue_version: &str,
        green_version: &str,
        extra_endpoints: usize,
    ) -> std::io::Result<Fleet> {
        let state = Arc::new(FleetState {
            scenario,
            weight: AtomicU8::new(0),
            blue: RequestStats::default(),
            green: RequestStats::default(),
            blue_version: blue_version.to_owned(),
            green_version: green_version.to_owned(),
        });
        let cancel = CancellationToken::new();
        let service = |green: bool| {
            Router::new()
                .route("/health", get(health))
                .route("/metrics", get(metrics))
                .with_state(Side { fleet: state.clone(), green })
        };
        let lb = Router::new()
            .route("/admin/weight", get(get_weight).post(set_weight))
            .route("/health", get(lb_health))
            .with_state(state.clone());
        let blue_url = serve(service(false), &cancel).await?;
        let green_url = serve(service(true), &cancel).await?;
        let lb_url = serve(lb, &cancel).await?;
        let extra_url = if extra_endpoints > 0 {
            let extra = Router::new().route("/extra/{n}/health", get(lb_health));
            Some(serve(extra, &cancel).await?)
        } else {
            None
        };
        let rollout = RolloutConfig {
            old_version: blue_version.to_owned(),
            new_version: green_version.to_owned(),
            slow_new_version: scenario.slow_new_version(),
            pod_every: POD_EVERY,
            swap_after: SWAP_AFTER,
        };
        let app = RolloutService::start(rollout, &cancel).await?;
        tokio::spawn(generate_traffic(state.clone(), cancel.clone()));
        Ok(Fleet { blue_url, green_url, lb_url, extra_endpoints, extra_url, app, state, cancel })
    }

    /// The weight the load balancer currently applies.
    pub fn weight(&self) -> u8 {
        self.state.weight.load(Ordering::Relaxed)
    }

    /// Stops every server and the generator.
    pub fn stop(&self) {
        self.cancel.cancel();
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

async fn serve(router: Router, cancel: &CancellationToken) -> std::io::Result<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let cancel = cancel.clone();
    tokio::spawn(async move {
        let _ =
            axum::serve(listener, router).with_graceful_shutdown(cancel.cancelled_owned()).await;
    });
    Ok(url)
}

/// Error probability and latency scale for a colour at a weight.
fn profile(scenario: Scenario, green: bool, weight: u8) -> (f64, f64) {
    match (scenario, green) {
        (_, false) => (0.002, 1.0),
        (Scenario::BadCanary, true) if weight >= 50 => (0.09, 1.6),
        (_, true) => (0.001, 0.95),
    }
}

async fn generate_traffic(state: Arc<FleetState>, cancel: CancellationToken) {
    let mut rng = Lcg(0x5eed);
    let mut tick = tokio::time::interval(TRAFFIC_TICK);
    let per_tick =
        REQUESTS_PER_SECOND * u64::try_from(TRAFFIC_TICK.as_millis()).unwrap_or(100) / 1000;
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            _ = tick.tick() => {}
        }
        let weight = state.weight.load(Ordering::Relaxed);
        let to_green = (per_tick * u64::from(weight) + 50) / 100;
        for i in 0..per_tick {
            let green = i < to_green;
            let (error_p, slow) = profile(state.scenario, green, weight);
            let stats = if green { &state.green } else { &state.blue };
            stats.record(&mut rng, error_p, slow);
        }
    }
}

async fn health(State(side): State<Side>) -> impl IntoResponse {
    let stats = if side.green { &side.fleet.green } else { &side.fleet.blue };
    let n = stats.health_checks.fetch_add(1, Ordering::Relaxed);
    let version = if side.green { &side.fleet.green_version } else { &side.fleet.blue_version };
    // Flaky green: two failures in a row out of every seven checks — a flap, which
    // `down_after = 3` keeps from counting as an outage.
    let failing = side.green && side.fleet.scenario == Scenario::FlakyHealth && n % 7 >= 5;
    if failing {
        let body = json!({"status": "degraded", "version": version, "checks": {"database": "timeout", "redis": "ok"}});
        return (StatusCode::SERVICE_UNAVAILABLE, Json(body));
    }
    (
        StatusCode::OK,
        Json(
            json!({"status": "healthy", "version": version, "checks": {"database": "ok", "redis": "ok"}}),
        ),
    )
}

async fn metrics(State(side): State<Side>) -> impl IntoResponse {
    let stats = if side.green { &side.fleet.green } else { &side.fleet.blue };
    stats.exposition()
}

async fn get_weight(State(fleet): State<Arc<FleetState>>) -> Json<Value> {
    Json(json!({ "weight": fleet.weight.load(Ordering::Relaxed) }))
}

async fn set_weight(
    State(fleet): State<Arc<FleetState>>,
    Json(body): Json<Value>,
) -> impl IntoResponse {
    let weight = body.get("weight").and_then(Value::as_u64).filter(|w| *w <= 100);
    match weight.and_then(|w| u8::try_from(w).ok()) {
        Some(w) => {
            fleet.weight.store(w, Ordering::Relaxed);
            (StatusCode::OK, Json(json!({ "weight": w })))
        }
        None => (
            StatusCode::BAD_REQUEST,
            Json(json!({ "error": "body must be {\"weight\": 0..=100}" })),
        ),
    }
}

async fn lb_health() -> Json<Value> {
    Json(json!({"status": "healthy", "checks": {"upstreams": "ok"}}))
}
