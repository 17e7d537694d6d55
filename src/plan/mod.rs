//! The release plan: typed, validated data that a team writes in TOML. Pure: parsing and
//! validation never touch the clock or the network; only `load_file` reads a file.

mod duration;
mod gates;
mod messages;
pub mod outputs;
pub mod provider;
mod raw;
pub mod roles;
pub mod selector;
mod size;
mod syntax;
pub mod template;
mod threshold;
mod validate;
pub mod windows;

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use duration::{format_duration, parse_duration};
pub use gates::{GateDeadline, GateInput, OnTimeout};
pub use size::{DEFAULT_MAX_BODY, MAX_MAX_BODY, format_size, parse_size};
pub use template::placeholders;
pub use threshold::{Bound, Comparison, THRESHOLD_FORMS, Threshold, Thresholds, number_in_unit};

/// A validated release plan.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The service being released and its default environment.
    pub service: Service,
    /// What each kind of release requires.
    pub release_types: BTreeMap<ReleaseType, ReleaseTypePolicy>,
    /// Who may do what.
    pub policy: Policy,
    /// Health endpoints to poll.
    pub health: Vec<HealthProbe>,
    /// Metric series to watch.
    pub metrics: Vec<MetricProbe>,
    /// Named side effects steps and the rollback procedure refer to.
    pub actions: BTreeMap<String, ActionSpec>,
    /// How the new version's share of traffic is set and read back.
    pub traffic: Option<Traffic>,
    /// What a rollback runs, in order.
    pub rollback: Rollback,
    /// The ordered stages of the release.
    pub stages: Vec<Stage>,
    /// Webhooks told about the release's milestones.
    pub notify: Vec<Notify>,
    /// Whether people may claim steps, and for how long; `None`: claims are off.
    pub claims: Option<Claims>,
    /// `[roles]`: who may fill each role a gate `requires` (names as flightdeck records
    /// approvers).
    pub roles: BTreeMap<String, Vec<String>>,
    /// When releases may start (`[[windows]]`), in plan order.
    pub windows: Vec<windows::Window>,
    /// `[deploy]`: how the new version reaches production.
    pub deploy: Deploy,
    /// `[watch]`: how long a completed release stays watched (and may be rolled back).
    pub watch: Option<Watch>,
}

/// How the new version reaches production: the release's shape on screen, in the report and
/// in `status --json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// Traffic steps move a percentage of requests to the new version (the default).
    #[default]
    Traffic,
    /// A `deploy` step rolls instances over to the new version (a Kubernetes Deployment).
    Rolling,
    /// A `deploy` step swaps the whole service at once (Render, Heroku, a blue/green flip).
    Swap,
}

impl Strategy {
    /// Every strategy.
    pub const ALL: [Strategy; 3] = [Self::Traffic, Self::Rolling, Self::Swap];

    /// The word in the plan.
    pub fn word(self) -> &'static str {
        match self {
            Self::Traffic => "traffic",
            Self::Rolling => "rolling",
            Self::Swap => "swap",
        }
    }

    /// Parses the word in the plan.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.word() == text)
    }
}

/// `[deploy]`
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Deploy {
    /// `traffic`, `rolling` or `swap`.
    pub strategy: Strategy,
}

/// `[watch]`: after the release completes, the supervisor keeps judging the metrics'
/// `after_release_*` levels for `after_release`; a breach at abort level does `on_breach`,
/// and a person may roll the completed release back until the window ends.
#[derive(Debug, Clone, PartialEq)]
pub struct Watch {
    /// How long the completed release is watched.
    pub after_release: Duration,
    /// What an abort-level breach does to the completed release.
    pub on_breach: OnBreach,
    /// The metric and health ids watched; by default every metric with an
    /// `after_release_warn` or `after_release_abort` level.
    pub probes: Vec<String>,
}

/// The pseudo step id under which breaches seen while a completed release is watched are
/// recorded (no plan step may take it).
pub const AFTER_RELEASE_STEP: &str = "after-release";

/// `[claims]`: an operator may claim a step so others see who is on it. A claim lasts `ttl`
/// unless renewed, and someone else may take it over only with a reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Claims {
    /// How long a claim lasts unless renewed.
    pub ttl: Duration,
}

impl Claims {
    /// The TTL when `[claims]` leaves it out.
    pub const DEFAULT_TTL: Duration = Duration::from_secs(20 * 60);
    /// The shortest TTL: a claim that lapses while someone reads the screen helps nobody.
    pub const MIN_TTL: Duration = Duration::from_secs(60);
    /// The longest TTL: a claim should not outlive an on-call shift.
    pub const MAX_TTL: Duration = Duration::from_secs(24 * 3600);
}

/// `[service]`
#[derive(Debug, Clone, PartialEq)]
pub struct Service {
    /// Service name, e.g. `checkout-api`.
    pub name: String,
    /// The environment production stages run in, e.g. `production`.
    pub environment: String,
    /// One line on what the service is.
    pub description: Option<String>,
    /// Link to the service's runbook.
    pub runbook: Option<String>,
}

/// The kind of release; each kind has its own approval policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReleaseType {
    /// A planned release.
    Regular,
    /// An urgent fix with a lighter go/no-go.
    Hotfix,
    /// A fire: named stages may be skipped.
    Emergency,
}

impl ReleaseType {
    /// All release types, in order.
    pub const ALL: [ReleaseType; 3] = [Self::Regular, Self::Hotfix, Self::Emergency];

    /// The word used in plans, the CLI and the screen.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Regular => "regular",
            Self::Hotfix => "hotfix",
            Self::Emergency => "emergency",
        }
    }

    /// Parses `regular`, `hotfix` or `emergency`.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == text)
    }
}

impl fmt::Display for ReleaseType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What one release type requires.
#[derive(Debug, Clone, PartialEq)]
pub struct ReleaseTypePolicy {
    /// Approvals needed at gates that do not set their own number.
    pub approvals: u32,
    /// Stages this type of release skips entirely.
    pub skip_stages: Vec<String>,
    /// May start outside the release windows, with a reason (recorded and flagged).
    pub override_windows: bool,
}

/// `[policy]`
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// Whoever started the release may not approve its gates.
    pub forbid_self_approval: bool,
    /// Operators may declare a name (`--operator`) on shared accounts; approvals then count
    /// declared names.
    pub declared_operators: bool,
    /// Approvals and rollbacks started by a person are signed with the operator's SSH key
    /// through their ssh-agent (`ssh-keygen -Y sign`), and refused without one;
    /// `flightdeck verify --allowed-signers FILE` checks every signature.
    pub signed_approvals: bool,
}

/// Which side of the fleet a health endpoint belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The version being replaced (blue).
    Stable,
    /// The version being released (green).
    Canary,
    /// Shared infrastructure, e.g. the load balancer.
    Shared,
}

/// One `[[health]]` endpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct HealthProbe {
    /// Unique id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// URL polled with GET; may contain `${env:NAME}`.
    pub url: String,
    /// Stable, canary or shared.
    pub role: Role,
    /// How often it is polled.
    pub interval: Duration,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Expected HTTP status.
    pub expect_status: u16,
    /// JSON pointer to the status word in the body.
    pub status_pointer: String,
    /// Status words that mean healthy.
    pub healthy_values: Vec<String>,
    /// JSON pointer to the version in the body.
    pub version_pointer: String,
    /// Flag a version different from the one expected for this role.
    pub expect_version: bool,
    /// Consecutive failures before the endpoint counts as down.
    pub down_after: u32,
    /// Consecutive successes before a down endpoint counts as up.
    pub up_after: u32,
    /// Request headers; values may contain `${env:NAME}`.
    pub headers: BTreeMap<String, String>,
    /// The largest response body read, in bytes; a larger one is a probe error.
    pub max_body: u64,
    /// Fields the JSON body must hold: JSON pointer → expected text (`"/checks/database" =
    /// "ok"`); any other value, or none, fails the check, saying which pointer and what was
    /// found.
    pub require: BTreeMap<String, String>,
}

/// One `[[metrics]]` series.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricProbe {
    /// Unique id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Unit shown after the value: `%`, `ms`, `req/s`, `ratio` or free text.
    pub unit: String,
    /// How often it is read.
    pub interval: Duration,
    /// Where the value comes from.
    pub source: MetricSource,
    /// Level that is shown and recorded (any one of its thresholds breaching counts).
    pub warn: Option<Thresholds>,
    /// Level that triggers the bake's `on_breach`.
    pub abort: Option<Thresholds>,
    /// Looser warn level once the release has completed.
    pub after_release_warn: Option<Thresholds>,
    /// Looser abort level once the release has completed.
    pub after_release_abort: Option<Thresholds>,
    /// How long a breach must persist before it counts.
    pub for_duration: Duration,
    /// What missing data means.
    pub no_data: NoDataPolicy,
    /// The value a series missing from a successful read counts as (`absent = 0`: an
    /// error ratio with no errors yet); `None`: a missing series is no data.
    pub absent: Option<f64>,
    /// Window over which the baseline median is taken: before the first shift, or (live)
    /// the moving window up to each reading.
    pub baseline_window: Duration,
    /// The largest response body read, in bytes; a larger one is a probe error.
    pub max_body: u64,
    /// The stable counterpart of a metric that is not split `by_label`: the metric whose
    /// readings are the baseline (its own id: this metric before any traffic moved).
    pub baseline_from: Option<String>,
    /// Captured once before the first shift, or compared live during the bake.
    pub baseline_mode: BaselineMode,
}

/// When a relative threshold's baseline is taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BaselineMode {
    /// Once, over `baseline_window` of the stable side before the first traffic shift.
    #[default]
    Before,
    /// During the bake: the stable side's median over the same moving window.
    Live,
}

impl MetricProbe {
    /// Whether any of its levels is relative to a baseline.
    pub fn relative(&self) -> bool {
        [&self.warn, &self.abort, &self.after_release_warn, &self.after_release_abort]
            .into_iter()
            .flatten()
            .any(Thresholds::relative)
    }

    /// Whether the first traffic shift must wait for its baseline to be captured.
    pub fn needs_captured_baseline(&self) -> bool {
        self.relative() && self.baseline_mode == BaselineMode::Before
    }

    /// The label a Prometheus result is split by, if any.
    pub fn by_label(&self) -> Option<&str> {
        match &self.source {
            MetricSource::Prometheus { by_label, .. } => by_label.as_deref(),
            MetricSource::Scrape { .. } | MetricSource::Json { .. } => None,
        }
    }
}

/// Where a metric's value comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum MetricSource {
    /// An instant query against the Prometheus HTTP API.
    Prometheus {
        /// Base URL of the Prometheus server.
        url: String,
        /// PromQL expression.
        query: String,
        /// Label that splits the result into one series per value (e.g. `version`).
        by_label: Option<String>,
    },
    /// Scraping a `/metrics` endpoint and computing the value between scrapes.
    Scrape {
        /// URL of the text exposition endpoint.
        url: String,
        /// What to compute.
        compute: ScrapeCompute,
    },
    /// A number in any JSON document served over HTTP (a status page, a platform's API).
    Json {
        /// URL fetched with GET; may contain `${env:NAME}`.
        url: String,
        /// JSON pointer to the value (a number, or a string holding one).
        pointer: String,
    },
}

/// A value computed from scraped text exposition samples.
#[derive(Debug, Clone, PartialEq)]
pub enum ScrapeCompute {
    /// The current value of a gauge.
    Gauge(String),
    /// Per-second rate of a counter.
    Rate(String),
    /// Rate of one counter over the rate of another.
    Ratio {
        /// Counter selector on top, e.g. `http_requests_total{code="500"}`.
        numerator: String,
        /// Counter selector below.
        denominator: String,
    },
    /// The sum of one gauge over the sum of another, in the same scrape (memory used over
    /// its limit): `ratio = { ..., kind = "gauge" }`.
    GaugeRatio {
        /// Gauge selector on top, e.g. `container_memory_working_set_bytes`.
        numerator: String,
        /// Gauge selector below, e.g. `container_spec_memory_limit_bytes`.
        denominator: String,
    },
    /// A quantile of a histogram over the last interval.
    Quantile {
        /// Histogram base name.
        histogram: String,
        /// The quantile, 0 < q < 1.
        q: f64,
    },
}

/// What missing data means for a series.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum NoDataPolicy {
    /// Missing data never counts against the release.
    Ignore,
    /// Missing data is shown as a warning.
    Warn,
    /// Missing data for longer than this is a breach.
    BreachAfter(Duration),
}

/// A side effect.
#[derive(Debug, Clone, PartialEq)]
pub struct ActionSpec {
    /// Its key under `[actions]`.
    pub id: String,
    /// Display name.
    pub name: String,
    /// What it does.
    pub kind: ActionKind,
    /// Killed (with its process group) after this long.
    pub timeout: Duration,
    /// Values it passes on, by name: JSON pointers into its stdout (a command) or response
    /// body (an http action), read by later actions as `{outputs.STEP.NAME}`.
    pub outputs: BTreeMap<String, String>,
}

/// The two kinds of side effect.
#[derive(Debug, Clone, PartialEq)]
pub enum ActionKind {
    /// A process started from an argv, without a shell unless `shell = true`.
    Command {
        /// Program and arguments; templates allowed.
        argv: Vec<String>,
        /// Run `argv[0]` through `sh -c`.
        shell: bool,
        /// Working directory.
        cwd: Option<String>,
        /// Extra environment; values may contain `${env:NAME}`.
        env: BTreeMap<String, String>,
        /// JSON pointer to the weight in its output, for a read-back action (else the output
        /// is the number itself).
        weight_pointer: Option<String>,
    },
    /// An HTTP request.
    Http {
        /// Method, upper case.
        method: String,
        /// URL; templates allowed.
        url: String,
        /// Headers; values may contain `${env:NAME}`.
        headers: BTreeMap<String, String>,
        /// JSON body; string values are templates.
        body: Option<serde_json::Value>,
        /// Status that means success.
        expect_status: u16,
        /// Retries with backoff, only when idempotent.
        retries: u32,
        /// JSON pointer to the weight in a read-back response (else the body is the number).
        weight_pointer: Option<String>,
    },
}

/// `[traffic]`: the provider that moves traffic.
#[derive(Debug, Clone, PartialEq)]
pub struct Traffic {
    /// Action that sets the new version's weight (receives `{weight}`); with a built-in
    /// `provider`, the provider's name (events record it as the action that ran).
    pub set_action: String,
    /// Action that reads the weight back, if the provider can: after every shift (until it
    /// matches or the shift's timeout ends) and every `check_every` while traffic is on the
    /// new version.
    pub read_action: Option<String>,
    /// How often the weight is read back between shifts.
    pub check_every: std::time::Duration,
    /// What a weight that drifted from the recorded one does to the release.
    pub on_drift: OnDrift,
    /// Name of the stable side, e.g. `blue`.
    pub stable_label: String,
    /// Name of the new side, e.g. `green`.
    pub canary_label: String,
    /// A built-in provider (`provider = "haproxy"`) that sets and reads the weight itself,
    /// instead of the set and read actions.
    pub provider: Option<provider::ProviderSpec>,
}

/// What flightdeck does when the provider's weight differs from the recorded one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnDrift {
    /// Hold the release for a person (the default).
    Pause,
    /// Start the rollback procedure.
    Rollback,
}

/// The default `traffic.check_every`.
pub const DEFAULT_TRAFFIC_CHECK_EVERY: std::time::Duration = std::time::Duration::from_secs(10);

/// One `[[notify]]` webhook: told about the milestones it asks for, never in the way of
/// the release.
#[derive(Debug, Clone, PartialEq)]
pub struct Notify {
    /// Where to POST; may contain `${env:NAME}`, resolved only when sending.
    pub url: String,
    /// The body's shape.
    pub format: NotifyFormat,
    /// The milestones it is told about.
    pub events: Vec<NotifyEvent>,
    /// How long one attempt may take.
    pub timeout: Duration,
    /// Attempts after the first, with backoff.
    pub retries: u32,
}

/// The body a webhook receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotifyFormat {
    /// `{"text": "..."}`, what Slack (and Mattermost, Teams connectors...) accept.
    Slack,
    /// `{"release": {...}, "event": "...", "sentence": "...", ...}`.
    Json,
}

impl NotifyFormat {
    /// The word used in plans.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Slack => "slack",
            Self::Json => "json",
        }
    }
}

/// A milestone a webhook can be told about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotifyEvent {
    /// The release started.
    Started,
    /// A gate passed.
    GatePassed,
    /// A gate's deadline passed with nobody deciding: flightdeck rejected it or paused.
    GateTimedOut,
    /// A release started outside its windows, overridden with a reason.
    WindowsOverridden,
    /// An action (of the rollout or the rollback) failed or was interrupted.
    StepFailed,
    /// A bake recorded a threshold breach.
    ThresholdBreached,
    /// The rollback procedure started.
    RollbackStarted,
    /// The rollback procedure finished.
    RollbackFinished,
    /// The release completed.
    Completed,
    /// The watch after a completed release (`[watch] after_release`) ended with no rollback:
    /// the release is closed.
    WatchClosed,
    /// The release was aborted.
    Aborted,
}

impl NotifyEvent {
    /// Every milestone, in the order a release meets them.
    pub const ALL: [NotifyEvent; 11] = [
        Self::Started,
        Self::WindowsOverridden,
        Self::GatePassed,
        Self::GateTimedOut,
        Self::StepFailed,
        Self::ThresholdBreached,
        Self::RollbackStarted,
        Self::RollbackFinished,
        Self::Completed,
        Self::WatchClosed,
        Self::Aborted,
    ];

    /// The word used in plans.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Started => "started",
            Self::GatePassed => "gate_passed",
            Self::GateTimedOut => "gate_timed_out",
            Self::WindowsOverridden => "windows_overridden",
            Self::StepFailed => "step_failed",
            Self::ThresholdBreached => "threshold_breached",
            Self::RollbackStarted => "rollback_started",
            Self::RollbackFinished => "rollback_finished",
            Self::Completed => "completed",
            Self::WatchClosed => "watch_closed",
            Self::Aborted => "aborted",
        }
    }

    /// Parses the word used in plans.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.as_str() == text)
    }
}

/// What a failed rollback step does to the rest of the procedure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnFailure {
    /// Stop and wait for a person.
    Halt,
    /// Record the failure and run the next step.
    Continue,
}

/// `[rollback]`
#[derive(Debug, Clone, PartialEq)]
pub struct Rollback {
    /// Actions run in order after traffic is returned to the stable version.
    pub steps: Vec<RollbackStep>,
    /// What a failed step does.
    pub on_failure: OnFailure,
}

/// One step of the rollback procedure.
#[derive(Debug, Clone, PartialEq)]
pub struct RollbackStep {
    /// Key under `[actions]`.
    pub action: String,
    /// Rollout steps that must all have completed in this release for it to run (else it
    /// is recorded as skipped); empty: it always runs.
    pub if_done: Vec<String>,
}

/// One stage: a named group of steps.
#[derive(Debug, Clone, PartialEq)]
pub struct Stage {
    /// Unique id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Environment this stage acts on.
    pub environment: String,
    /// Ordered steps.
    pub steps: Vec<Step>,
}

/// One step of a stage.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// Unique id across the plan.
    pub id: String,
    /// Display name.
    pub name: String,
    /// What a person should know.
    pub help: Option<String>,
    /// Runbook link.
    pub runbook: Option<String>,
    /// The environment its action acts on, filled in as `{environment}`: the step's own
    /// `environment`, else its stage's, else the service's.
    pub environment: String,
    /// What the step is.
    pub kind: StepKind,
    /// Starts by itself as soon as the step before it completes: a paced deploy's bake, so
    /// the rollout never holds at a fraction unwatched.
    pub auto_start: bool,
}

/// What a step does.
#[derive(Debug, Clone, PartialEq)]
pub enum StepKind {
    /// Items ticked by people.
    Checklist {
        /// The items, in order.
        items: Vec<Item>,
    },
    /// Approvals from distinct people.
    Gate {
        /// Approvals needed; `None` takes the release type's number.
        approvals: Option<u32>,
        /// Minimum time between the gate opening and it passing.
        min_wait: Duration,
        /// People needed per role (`release_manager = 1`), distinct people, one role each.
        requires: BTreeMap<String, u32>,
        /// How long it may wait for a decision, and what flightdeck decides then.
        deadline: Option<GateDeadline>,
        /// Values a person must give (a change ticket, ...) before it passes.
        inputs: Vec<GateInput>,
    },
    /// Run a named action.
    Action {
        /// Key under `[actions]`.
        action: String,
        /// What a failure of the action does.
        on_failure: OnActionFailure,
    },
    /// The step that changes production under a `rolling` or `swap` strategy: runs its
    /// action (like an action step), while the supervisor polls its `progress` source. A
    /// `pace`d deploy is written once and becomes one deploy step per fraction, each followed
    /// by a bake.
    Deploy {
        /// Key under `[actions]`: the first segment's action (later segments run
        /// `continue_action`).
        action: String,
        /// What a failure of the action does.
        on_failure: OnActionFailure,
        /// Where the rollout's progress is read, if anywhere.
        progress: Option<Progress>,
        /// The percent of the rollout this step brings it to (`{target}` in its action): 100
        /// for an unpaced deploy and for the last segment of a paced one.
        target: u8,
    },
    /// Set the new version's weight through the traffic provider.
    Traffic {
        /// Percent of traffic to the new version.
        weight: u8,
    },
    /// Watch probes for a while.
    Bake {
        /// How long to watch.
        duration: Duration,
        /// Metric and health ids watched.
        probes: Vec<String>,
        /// What an abort-level breach does.
        on_breach: OnBreach,
        /// Times into the bake when a person must confirm a review.
        checkpoints: Vec<Duration>,
    },
}

impl StepKind {
    /// One word for the kind.
    pub fn word(&self) -> &'static str {
        match self {
            Self::Checklist { .. } => "checklist",
            Self::Gate { .. } => "gate",
            Self::Action { .. } => "action",
            Self::Deploy { .. } => "deploy",
            Self::Traffic { .. } => "traffic",
            Self::Bake { .. } => "bake",
        }
    }
}

impl StepKind {
    /// Whether this step changes what production runs (a traffic shift or a deploy): the
    /// baseline is captured before the first such step.
    pub fn changes_production(&self) -> bool {
        matches!(self, Self::Traffic { .. } | Self::Deploy { .. })
    }

    /// The action a step runs itself (an action or deploy step), if any.
    pub fn own_action(&self) -> Option<(&str, OnActionFailure)> {
        match self {
            Self::Action { action, on_failure } | Self::Deploy { action, on_failure, .. } => {
                Some((action.as_str(), *on_failure))
            }
            _ => None,
        }
    }
}

/// A deploy step's `progress = { ... }`: where the rollout's progress is read while the
/// deploy runs.
#[derive(Debug, Clone, PartialEq)]
pub struct Progress {
    /// The source.
    pub source: ProgressSource,
    /// How often it is read while the deploy runs.
    pub every: Duration,
    /// What is counted, shown after `N/M` (`pods`).
    pub unit: String,
}

/// Where a rollout's progress comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum ProgressSource {
    /// A metric whose value is the updated fraction (unit `ratio`: 0–1; unit `%`: 0–100).
    Metric(String),
    /// An action (command or http) whose output is `N/M` (updated of desired), plain or
    /// under `pointer` in JSON.
    Action(String),
}

/// The default `progress.every`.
pub const DEFAULT_PROGRESS_EVERY: Duration = Duration::from_secs(5);

/// What a failed action step does (`on_failure` on the step); an interrupted one always
/// waits for a person, since nobody knows whether it ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnActionFailure {
    /// Wait for a person to retry, resolve, skip or roll back.
    #[default]
    Ask,
    /// Pause the release, saying why.
    Pause,
    /// Start the rollback procedure.
    Rollback,
}

impl OnActionFailure {
    /// The word in the plan.
    pub fn word(self) -> &'static str {
        match self {
            Self::Ask => "ask",
            Self::Pause => "pause",
            Self::Rollback => "rollback",
        }
    }
}

/// What an abort-level breach during a bake does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnBreach {
    /// Start the rollback procedure automatically.
    Rollback,
    /// Pause the release for a person to decide.
    Pause,
}

/// One checklist item.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    /// Unique within its step.
    pub id: String,
    /// What to check.
    pub text: String,
    /// More detail.
    pub help: Option<String>,
    /// Runbook link.
    pub runbook: Option<String>,
}

/// A position in the plan's flattened list of steps.
#[derive(Debug, Clone, Copy)]
pub struct StepRef<'a> {
    /// Index into [`Plan::flat_steps`].
    pub index: usize,
    /// The stage holding the step.
    pub stage: &'a Stage,
    /// The step.
    pub step: &'a Step,
}

impl Plan {
    /// The declared `unit` of metric `series` ("" for a health probe or an unknown id).
    pub fn unit_of(&self, series: &str) -> &str {
        self.metrics.iter().find(|m| m.id == series).map_or("", |m| m.unit.as_str())
    }

    /// Every step of every stage, in order.
    pub fn flat_steps(&self) -> Vec<StepRef<'_>> {
        self.stages
            .iter()
            .flat_map(|stage| stage.steps.iter().map(move |step| (stage, step)))
            .enumerate()
            .map(|(index, (stage, step))| StepRef { index, stage, step })
            .collect()
    }

    /// The step with this id.
    pub fn step(&self, id: &str) -> Option<StepRef<'_>> {
        self.flat_steps().into_iter().find(|s| s.step.id == id)
    }

    /// Approvals a gate needs for a release of this type: its own number, else the release
    /// type's, and never fewer than the people its roles require.
    pub fn approvals_needed(&self, step: &Step, release_type: ReleaseType) -> u32 {
        let by_roles = match &step.kind {
            StepKind::Gate { requires, .. } => requires.values().sum(),
            _ => 0,
        };
        let own = match step.kind {
            StepKind::Gate { approvals: Some(n), .. } => n,
            _ => self.release_types.get(&release_type).map_or(1, |p| p.approvals),
        };
        own.max(by_roles)
    }

    /// The roles a gate still lacks, given who approved it; empty when met (or it requires
    /// no roles).
    pub fn roles_missing<'n>(
        &self,
        step: &Step,
        approvers: impl IntoIterator<Item = &'n str>,
    ) -> Vec<roles::Missing> {
        let StepKind::Gate { requires, .. } = &step.kind else { return Vec::new() };
        let approvers: Vec<&str> = approvers.into_iter().collect();
        roles::missing(requires, &self.roles, &approvers)
    }

    /// The action with this id.
    pub fn action(&self, id: &str) -> Option<&ActionSpec> {
        self.actions.get(id)
    }

    /// How the new version reaches production.
    pub fn strategy(&self) -> Strategy {
        self.deploy.strategy
    }

    /// The first step that changes what production runs (a traffic shift or a deploy):
    /// baselines are captured while it waits.
    pub fn first_change_step(&self) -> Option<StepRef<'_>> {
        self.flat_steps().into_iter().find(|r| r.step.kind.changes_production())
    }

    /// The deploy steps (one per `pace` segment), in order.
    pub fn deploy_steps(&self) -> Vec<StepRef<'_>> {
        self.flat_steps()
            .into_iter()
            .filter(|r| matches!(r.step.kind, StepKind::Deploy { .. }))
            .collect()
    }

    /// Whether this environment name means production.
    pub fn is_production(environment: &str) -> bool {
        matches!(environment.to_ascii_lowercase().as_str(), "production" | "prod" | "prd")
    }
}

/// Where in the plan file a problem is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
}

/// One problem found in a plan file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanProblem {
    /// Where it is, if known.
    pub location: Option<Location>,
    /// The field, as a dotted path (`stages[2].steps[0].weight`).
    pub field: String,
    /// What is wrong.
    pub message: String,
    /// What to do about it.
    pub hint: String,
}

/// Every problem found in a plan file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanError {
    /// The file's path as given.
    pub file: String,
    /// The problems, in file order.
    pub problems: Vec<PlanProblem>,
}

impl fmt::Display for PlanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.problems.len();
        writeln!(f, "{}: {n} problem{} in the plan", self.file, if n == 1 { "" } else { "s" })?;
        for p in &self.problems {
            match &p.location {
                Some(loc) => write!(f, "{}:{}:{}: ", self.file, loc.line, loc.column)?,
                None => write!(f, "{}: ", self.file)?,
            }
            writeln!(f, "{}: {}", p.field, p.message)?;
            if !p.hint.is_empty() {
                writeln!(f, "    hint: {}", p.hint)?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for PlanError {}

/// `text` cut to `max` characters with `…` when longer, so a huge value never fills a
/// message.
pub fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Parses and validates plan text; `file` is used in messages only.
pub fn parse(text: &str, file: &str) -> Result<Plan, PlanError> {
    validate::parse(text, file)
}

/// The plan's bytes as text; bytes that are not UTF-8 are reported with their line, column
/// and offset in the file.
pub fn text_of(bytes: Vec<u8>, file: &str) -> Result<String, PlanError> {
    String::from_utf8(bytes).map_err(|e| {
        let good = e.utf8_error().valid_up_to();
        let bytes = e.as_bytes();
        let before = &bytes[..good];
        let line = before.iter().filter(|b| **b == b'\n').count() + 1;
        let line_start = before.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        let column = String::from_utf8_lossy(&before[line_start..]).chars().count() + 1;
        PlanError {
            file: file.to_owned(),
            problems: vec![PlanProblem {
                location: Some(Location { line, column }),
                field: "(file)".into(),
                message: format!(
                    "the plan is not UTF-8 text: byte 0x{:02X} at line {line}, byte {} of the file",
                    bytes[good],
                    good + 1
                ),
                hint: "save the plan as UTF-8 (e.g. `iconv -f latin1 -t utf-8`)".into(),
            }],
        }
    })
}

/// Reads and validates a plan file.
pub fn load_file(path: &Path) -> Result<(Plan, String), PlanError> {
    let file = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| PlanError {
        file: file.clone(),
        problems: vec![PlanProblem {
            location: None,
            field: "(file)".into(),
            message: format!("cannot read the plan: {e}"),
            hint: "check the path; `flightdeck init PATH` writes a starter plan".into(),
        }],
    })?;
    let text = text_of(bytes, &file)?;
    let plan = parse(&text, &file)?;
    Ok((plan, text))
}
