//! The demo's service that is not released by shifting traffic: three simulated pods on one
//! loopback address, rolled over pod by pod (`POST /deploy`, as `kubectl apply` then
//! `rollout status` would) or swapped whole by a platform API (`POST /deploys`, as Render
//! does), and rolled back either way. Every simulated request hits one pod, so its latency
//! is that pod's version's.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::requests::{Lcg, RequestStats};

/// Pods in the service.
pub const PODS: usize = 3;

/// Simulated requests per second across the pods.
const REQUESTS_PER_SECOND: u64 = 200;
/// How often simulated traffic is generated (a second's worth each time).
const TRAFFIC_TICK: Duration = Duration::from_secs(1);
/// How much slower a slow new version answers: enough that a `> baseline * 1.5` level on
/// p95 breaches with only one pod of three on it.
const SLOW_FACTOR: f64 = 4.0;

/// How the service behaves.
#[derive(Debug, Clone)]
pub struct RolloutConfig {
    /// The version every pod runs at start (deploy `dep-1`).
    pub old_version: String,
    /// The version being released.
    pub new_version: String,
    /// The new version answers [`SLOW_FACTOR`] times slower (the `-bad` scenarios).
    pub slow_new_version: bool,
    /// How long one pod takes to be replaced.
    pub pod_every: Duration,
    /// How long a platform swap (or a swap back) takes.
    pub swap_after: Duration,
}

/// One deploy the platform API knows.
#[derive(Debug, Clone)]
struct PlatformDeploy {
    id: String,
    version: String,
}

#[derive(Debug)]
struct Pods {
    /// The version each pod runs.
    running: Vec<String>,
    /// The version the last deploy or rollback asked for: `/rollout` counts pods on it.
    desired: String,
    /// Every platform deploy, oldest first; the last one is live.
    deploys: Vec<PlatformDeploy>,
}

#[derive(Debug)]
struct ServiceState {
    config: RolloutConfig,
    pods: Mutex<Pods>,
    /// Held while pods change: a second deploy or a rollback waits for the first.
    changing: tokio::sync::Mutex<()>,
    stats: RequestStats,
    cancel: CancellationToken,
}

impl ServiceState {
    fn pods(&self) -> MutexGuard<'_, Pods> {
        // A panic while holding this lock leaves only plain data behind: keep serving.
        self.pods.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Waits `d`, or returns false when the fleet is stopping.
    async fn wait(&self, d: Duration) -> bool {
        tokio::select! {
            () = self.cancel.cancelled() => false,
            () = tokio::time::sleep(d) => true,
        }
    }
}

/// The running service.
#[derive(Debug, Clone)]
pub struct RolloutService {
    /// Its base URL.
    pub url: String,
    state: Arc<ServiceState>,
}

impl RolloutService {
    /// Starts the service and its traffic on 127.0.0.1 (port chosen now); both stop with
    /// `cancel`.
    pub async fn start(
        config: RolloutConfig,
        cancel: &CancellationToken,
    ) -> std::io::Result<RolloutService> {
        let first = PlatformDeploy { id: "dep-1".into(), version: config.old_version.clone() };
        let state = Arc::new(ServiceState {
            pods: Mutex::new(Pods {
                running: vec![config.old_version.clone(); PODS],
                desired: config.old_version.clone(),
                deploys: vec![first],
            }),
            config,
            changing: tokio::sync::Mutex::new(()),
            stats: RequestStats::default(),
            cancel: cancel.clone(),
        });
        let router = Router::new()
            .route("/health", get(health))
            .route("/metrics", get(metrics))
            .route("/deploy", post(roll))
            .route("/rollout", get(rollout_status))
            .route("/deploys", get(list_deploys).post(swap))
            .route("/deploys/{id}", get(deploy_status))
            .route("/rollback", post(rollback))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let stop = cancel.clone();
        tokio::spawn(async move {
            let _ =
                axum::serve(listener, router).with_graceful_shutdown(stop.cancelled_owned()).await;
        });
        tokio::spawn(generate_traffic(state.clone()));
        Ok(RolloutService { url, state })
    }

    /// The version each pod runs now.
    pub fn pod_versions(&self) -> Vec<String> {
        self.state.pods().running.clone()
    }
}

/// Pods needed on the new version for `target` percent of the rollout: the nearest whole
/// number of pods, at least one (33% is one pod of three and 67% two, where rounding up
/// would make 67% all three).
pub fn pods_for(target: u8) -> usize {
    ((PODS * usize::from(target.min(100)) + 50) / 100).max(1)
}

async fn generate_traffic(state: Arc<ServiceState>) {
    let mut rng = Lcg(0x5eed_0001);
    let mut tick = tokio::time::interval(TRAFFIC_TICK);
    let per_tick =
        REQUESTS_PER_SECOND * u64::try_from(TRAFFIC_TICK.as_millis()).unwrap_or(1000) / 1000;
    loop {
        tokio::select! {
            () = state.cancel.cancelled() => return,
            _ = tick.tick() => {}
        }
        let running = state.pods().running.clone();
        for i in 0..per_tick {
            let pod = &running[usize::try_from(i).unwrap_or(0) % PODS];
            let (error_p, slow) = if *pod != state.config.new_version {
                (0.002, 1.0)
            } else if state.config.slow_new_version {
                (0.002, SLOW_FACTOR)
            } else {
                (0.001, 0.95)
            };
            state.stats.record(&mut rng, error_p, slow);
        }
    }
}

/// `{"status": "healthy", "version": V, "pods": {"1.3.2": 2, "1.4.0": 1}}`: `version` is
/// what most pods run (the new one on a tie, as it is where the rollout is going).
async fn health(State(state): State<Arc<ServiceState>>) -> Json<Value> {
    let pods = state.pods();
    let on_new = pods.running.iter().filter(|v| **v == state.config.new_version).count();
    let mut mix = serde_json::Map::new();
    for version in &pods.running {
        let n = mix.get(version).and_then(Value::as_u64).unwrap_or(0);
        mix.insert(version.clone(), json!(n + 1));
    }
    let version =
        if on_new * 2 >= PODS { &state.config.new_version } else { &state.config.old_version };
    Json(json!({
        "status": "healthy",
        "version": version,
        "pods": mix,
        "checks": {"database": "ok", "redis": "ok"},
    }))
}

async fn metrics(State(state): State<Arc<ServiceState>>) -> impl IntoResponse {
    state.stats.exposition()
}

/// `N/M`: pods on the version last asked for, of all pods (what `rollout status` counts).
async fn rollout_status(State(state): State<Arc<ServiceState>>) -> String {
    let pods = state.pods();
    let updated = pods.running.iter().filter(|v| **v == pods.desired).count();
    format!("{updated}/{PODS}")
}

fn bad_request(message: &str) -> (StatusCode, Json<Value>) {
    (StatusCode::BAD_REQUEST, Json(json!({ "error": message })))
}

fn stopping() -> (StatusCode, Json<Value>) {
    (StatusCode::SERVICE_UNAVAILABLE, Json(json!({ "error": "the demo fleet is stopping" })))
}

/// A number given as a JSON number or as text (a plan's body values are filled as text).
fn number(value: Option<&Value>) -> Option<u64> {
    match value? {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().trim_end_matches('%').parse().ok(),
        _ => None,
    }
}

/// Replaces pods one by one, every `pod_every`, until `wanted` of them run `version`
/// (rolling back when `version` is the old one); false when the fleet stopped first.
async fn roll_pods(state: &ServiceState, version: &str, wanted: usize) -> bool {
    state.pods().desired = version.to_owned();
    // At most one pod per round, and never more rounds than pods.
    for _ in 0..PODS {
        let next = {
            let pods = state.pods();
            let on = pods.running.iter().filter(|v| *v == version).count();
            if on >= wanted {
                return true;
            }
            pods.running.iter().position(|v| v != version)
        };
        let Some(pod) = next else { return true };
        if !state.wait(state.config.pod_every).await {
            return false;
        }
        state.pods().running[pod] = version.to_owned();
    }
    true
}

/// `POST /deploy {"version": V, "target": 33}`: rolls pods over one by one until
/// ceil(3 × target / 100) run V; answers `{"updated": N, "desired": 3, "version": V}` then.
async fn roll(
    State(state): State<Arc<ServiceState>>,
    Json(body): Json<Value>,
) -> (StatusCode, Json<Value>) {
    let Some(version) = body.get("version").and_then(Value::as_str).map(str::to_owned) else {
        return bad_request("body must be {\"version\": \"1.4.0\", \"target\": 1..=100}");
    };
    let Some(target) = number(body.get("target")).filter(|t| (1..=100).contains(t)) else {
        return bad_request("`target` must be a percent of the pods, 1 to 100");
    };
    let _changing = state.changing.lock().await;
    let wanted = pods_for(u8::try_from(target).unwrap_or(100));
    if !roll_pods(&state, &version, wanted).await {
        return stopping();
    }
    let updated = state.pods().running.iter().filter(|v| **v == version).count();
    (StatusCode::OK, Json(json!({ "updated": updated, "desired": PODS, "version": version })))
}

/// Makes `version` live on every pod after `swap_after`, as a new platform deploy; returns
/// it and the one it replaced, or None when the fleet stopped first.
async fn swap_to(state: &ServiceState, version: &str) -> Option<(PlatformDeploy, PlatformDeploy)> {
    if !state.wait(state.config.swap_after).await {
        return None;
    }
    let mut pods = state.pods();
    let previous = pods.deploys.last().cloned()?;
    let deploy =
        PlatformDeploy { id: format!("dep-{}", pods.deploys.len() + 1), version: version.into() };
    pods.deploys.push(deploy.clone());
    pods.running = vec![version.to_owned(); PODS];
    pods.desired = version.to_owned();
    Some((deploy, previous))
}

/// `POST /deploys {"version": V}`: swaps the whole service to V and answers once it is live:
/// `{"id": "dep-2", "previous_id": "dep-1", "version": V, "status": "live"}`.
async fn swap(
    State(state): State<Arc<ServiceState>>,
    Json(body): Json<Value>,
) -> (StatusCode, Json<Value>) {
    let Some(version) = body.get("version").and_then(Value::as_str).map(str::to_owned) else {
        return bad_request("body must be {\"version\": \"1.4.0\"}");
    };
    let _changing = state.changing.lock().await;
    let Some((deploy, previous)) = swap_to(&state, &version).await else { return stopping() };
    (
        StatusCode::OK,
        Json(json!({
            "id": deploy.id,
            "previous_id": previous.id,
            "version": deploy.version,
            "status": "live",
        })),
    )
}

/// `GET /deploys`: every platform deploy, newest (the live one) first, as
/// `[{"id", "version", "status"}]`.
async fn list_deploys(State(state): State<Arc<ServiceState>>) -> Json<Value> {
    let pods = state.pods();
    let live = pods.deploys.len();
    let list: Vec<Value> = pods
        .deploys
        .iter()
        .enumerate()
        .rev()
        .map(|(i, d)| {
            let status = if i + 1 == live { "live" } else { "superseded" };
            json!({ "id": d.id, "version": d.version, "status": status })
        })
        .collect();
    Json(Value::Array(list))
}

/// `GET /deploys/{id}`: `{"id", "version", "status": "live" | "superseded"}`.
async fn deploy_status(
    State(state): State<Arc<ServiceState>>,
    Path(id): Path<String>,
) -> (StatusCode, Json<Value>) {
    let pods = state.pods();
    let live = pods.deploys.last().map(|d| d.id.clone());
    match pods.deploys.iter().find(|d| d.id == id) {
        Some(d) => {
            let status = if live.as_ref() == Some(&d.id) { "live" } else { "superseded" };
            (StatusCode::OK, Json(json!({ "id": d.id, "version": d.version, "status": status })))
        }
        None => (StatusCode::NOT_FOUND, Json(json!({ "error": format!("no deploy `{id}`") }))),
    }
}

/// `POST /rollback`: with `{"deploy_id": "dep-1"}`, swaps back to that platform deploy's
/// version (a new deploy, as Render does); with no deploy id, rolls every pod back to the old
/// version one by one. Answers when done.
async fn rollback(State(state): State<Arc<ServiceState>>, body: String) -> impl IntoResponse {
    let body: Value = if body.trim().is_empty() {
        Value::Null
    } else {
        match serde_json::from_str(&body) {
            Ok(v) => v,
            Err(e) => return bad_request(&format!("the body is not JSON ({e})")),
        }
    };
    let _changing = state.changing.lock().await;
    match body.get("deploy_id").and_then(Value::as_str) {
        Some(id) => {
            let target = state.pods().deploys.iter().find(|d| d.id == id).cloned();
            let Some(target) = target else {
                let message = format!("no deploy `{id}` to roll back to");
                return (StatusCode::NOT_FOUND, Json(json!({ "error": message })));
            };
            let Some((deploy, _)) = swap_to(&state, &target.version).await else {
                return stopping();
            };
            let answer = json!({
                "id": deploy.id,
                "rolled_back_to": target.id,
                "version": deploy.version,
                "status": "live",
            });
            (StatusCode::OK, Json(answer))
        }
        None => {
            let old = state.config.old_version.clone();
            if !roll_pods(&state, &old, PODS).await {
                return stopping();
            }
            (StatusCode::OK, Json(json!({ "updated": PODS, "desired": PODS, "version": old })))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_target_percent_rounds_up_to_whole_pods() {
        assert_eq!(pods_for(1), 1);
        assert_eq!(pods_for(33), 1);
        assert_eq!(pods_for(50), 2);
        assert_eq!(pods_for(67), 2);
        assert_eq!(pods_for(99), 3);
        assert_eq!(pods_for(100), 3);
    }
}
