//! Traffic providers flightdeck drives itself (`[traffic] provider = "…"`): set the new
//! version's weight, read it back, and report the state of the servers behind it. Each
//! provider is a file implementing [`TrafficProvider`]; HAProxy is the first.

pub mod haproxy;

use std::time::Duration;

use futures_util::future::BoxFuture;

use crate::plan::provider::ProviderSpec;
use crate::plan::{HealthProbe, Plan};
use crate::probe::HealthReading;
use crate::release::Timestamp;

/// How long one call to a provider may take.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(5);

/// One server behind the provider and whether it takes traffic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerState {
    /// The server's name at the provider.
    pub server: String,
    /// Whether it is up (or not checked, which the provider treats as up).
    pub up: bool,
    /// The provider's own word for its state (`UP`, `DOWN`, `no check`, `MAINT`).
    pub status: String,
}

/// What every provider does. Errors are sentences that name the provider's address.
pub trait TrafficProvider: Send + Sync {
    /// The provider's name as plans write it: `haproxy`.
    fn name(&self) -> &'static str;

    /// The provider and where it is, for messages: `haproxy at unix socket /run/h.sock`.
    fn describe(&self) -> String;

    /// Sends `weight` percent of the traffic to the new version and the rest to the stable
    /// one. Returns what was done, for the action's output.
    fn set_weight(&self, weight: u8) -> BoxFuture<'_, Result<String, String>>;

    /// The percent of the traffic the new version gets now.
    fn read_weight(&self) -> BoxFuture<'_, Result<u8, String>>;

    /// The state of one server.
    fn server_state<'a>(&'a self, server: &'a str) -> BoxFuture<'a, Result<ServerState, String>>;
}

/// The provider a plan configures.
pub fn connect(spec: &ProviderSpec) -> Box<dyn TrafficProvider> {
    match spec {
        ProviderSpec::HaProxy(h) => Box::new(haproxy::HaProxy::new(h.clone())),
    }
}

/// The plan's provider, if it has one.
pub fn of_plan(plan: &Plan) -> Option<Box<dyn TrafficProvider>> {
    plan.traffic.as_ref().and_then(|t| t.provider.as_ref()).map(connect)
}

/// The provider and server a health probe watches, when the probe shows a provider's server.
pub fn server_probe(
    plan: &Plan,
    probe: &HealthProbe,
) -> Option<(Box<dyn TrafficProvider>, String)> {
    let spec = plan.traffic.as_ref()?.provider.as_ref()?;
    let server = spec.server_of_probe(probe)?;
    Some((connect(spec), server))
}

/// Checks a provider's server once, as a health reading (a down server is a failure).
pub async fn check_server(
    provider: &dyn TrafficProvider,
    server: &str,
    now: impl Fn() -> Timestamp,
) -> HealthReading {
    let at = now();
    let started = crate::clock::instant();
    let state = provider.server_state(server).await;
    let latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    // The provider's word for the state, lower case: the Health pane shows a check whose
    // value is not `up` (or `ok`) beside the row, so `no check` or `up 1/3` stay visible.
    let (checks, error) = match state {
        Ok(s) if s.up => (vec![(provider.name().to_owned(), s.status.to_lowercase())], None),
        Ok(s) => {
            // What matters first: the Health pane cuts the end of a long line.
            let error = format!("server {server} is {} ({})", s.status, provider.describe());
            (vec![(provider.name().to_owned(), s.status.to_lowercase())], Some(error))
        }
        Err(e) => (Vec::new(), Some(e)),
    };
    HealthReading { at, status_code: None, latency_ms, version: None, checks, error }
}
