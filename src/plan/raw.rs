//! The plan file exactly as written: serde structs that keep each field's position so that
//! validation can point at file, line and column. Nothing here judges meaning; `validate` does.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

/// A whole plan file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPlan {
    pub service: Spanned<RawService>,
    #[serde(default)]
    pub release_types: Option<Spanned<RawReleaseTypes>>,
    #[serde(default)]
    pub policy: RawPolicy,
    #[serde(default)]
    pub health: Vec<Spanned<RawHealth>>,
    #[serde(default)]
    pub metrics: Vec<Spanned<RawMetric>>,
    #[serde(default)]
    pub actions: BTreeMap<String, Spanned<RawAction>>,
    #[serde(default)]
    pub traffic: Option<Spanned<RawTraffic>>,
    #[serde(default)]
    pub rollback: Option<Spanned<RawRollback>>,
    #[serde(default)]
    pub stages: Vec<Spanned<RawStage>>,
    #[serde(default)]
    pub notify: Vec<Spanned<RawNotify>>,
    #[serde(default)]
    pub claims: Option<Spanned<RawClaims>>,
    #[serde(default)]
    pub roles: BTreeMap<String, Spanned<Vec<Spanned<String>>>>,
    #[serde(default)]
    pub windows: Vec<Spanned<RawWindow>>,
    #[serde(default)]
    pub deploy: Option<Spanned<RawDeploy>>,
    #[serde(default)]
    pub watch: Option<Spanned<RawWatch>>,
}

/// `[deploy]`: how the new version reaches production.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDeploy {
    #[serde(default)]
    pub strategy: Option<Spanned<String>>,
}

/// `[watch]`: how long a completed release stays watched.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWatch {
    pub after_release: Spanned<String>,
    #[serde(default)]
    pub on_breach: Option<Spanned<String>>,
    #[serde(default)]
    pub probes: Option<Spanned<Vec<Spanned<String>>>>,
}

/// A deploy step's `progress = { metric = "..." }` or `{ action = "..." }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawProgress {
    #[serde(default)]
    pub metric: Option<Spanned<String>>,
    #[serde(default)]
    pub action: Option<Spanned<String>>,
    #[serde(default)]
    pub every: Option<Spanned<String>>,
    #[serde(default)]
    pub unit: Option<String>,
}

/// `[claims]`: people may claim a step so others see who is on it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawClaims {
    #[serde(default)]
    pub ttl: Option<Spanned<String>>,
}

/// `[service]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawService {
    pub name: Spanned<String>,
    pub environment: Spanned<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub runbook: Option<String>,
}

/// `[release_types]`: the three kinds of release and what each requires.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawReleaseTypes {
    #[serde(default)]
    pub regular: Option<Spanned<RawReleaseType>>,
    #[serde(default)]
    pub hotfix: Option<Spanned<RawReleaseType>>,
    #[serde(default)]
    pub emergency: Option<Spanned<RawReleaseType>>,
}

/// One `[release_types.NAME]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawReleaseType {
    pub approvals: Spanned<i64>,
    #[serde(default)]
    pub skip_stages: Vec<Spanned<String>>,
    #[serde(default)]
    pub override_windows: bool,
}

/// One `[[windows]]` entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWindow {
    pub name: Spanned<String>,
    pub kind: Spanned<String>,
    #[serde(default)]
    pub days: Vec<Spanned<String>>,
    #[serde(default)]
    pub from: Option<Spanned<String>>,
    #[serde(default)]
    pub to: Option<Spanned<String>>,
    #[serde(default)]
    pub timezone: Option<Spanned<String>>,
    #[serde(default)]
    pub until: Option<Spanned<String>>,
    #[serde(default)]
    pub release_types: Vec<Spanned<String>>,
}

/// `[policy]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPolicy {
    #[serde(default)]
    pub forbid_self_approval: Option<bool>,
    #[serde(default)]
    pub declared_operators: Option<bool>,
    #[serde(default)]
    pub signed_approvals: Option<bool>,
}

/// One `[[health]]` endpoint.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHealth {
    pub id: Spanned<String>,
    #[serde(default)]
    pub name: Option<String>,
    pub url: Spanned<String>,
    #[serde(default)]
    pub role: Option<Spanned<String>>,
    #[serde(default)]
    pub interval: Option<Spanned<String>>,
    #[serde(default)]
    pub timeout: Option<Spanned<String>>,
    #[serde(default)]
    pub expect_status: Option<Spanned<i64>>,
    #[serde(default)]
    pub status_pointer: Option<String>,
    #[serde(default)]
    pub healthy_values: Option<Vec<String>>,
    #[serde(default)]
    pub version_pointer: Option<String>,
    #[serde(default)]
    pub expect_version: Option<bool>,
    #[serde(default)]
    pub down_after: Option<Spanned<i64>>,
    #[serde(default)]
    pub up_after: Option<Spanned<i64>>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default)]
    pub max_body: Option<Spanned<RawSize>>,
    #[serde(default)]
    pub require: Option<Spanned<BTreeMap<String, String>>>,
}

/// One `[[metrics]]` series.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMetric {
    pub id: Spanned<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub unit: Option<Spanned<String>>,
    #[serde(default)]
    pub interval: Option<Spanned<String>>,
    #[serde(default)]
    pub prometheus: Option<Spanned<RawPrometheus>>,
    #[serde(default)]
    pub scrape: Option<Spanned<RawScrape>>,
    #[serde(default)]
    pub json: Option<Spanned<RawJsonSource>>,
    #[serde(default)]
    pub warn: Option<Spanned<RawLevel>>,
    #[serde(default)]
    pub abort: Option<Spanned<RawLevel>>,
    #[serde(default)]
    pub after_release_warn: Option<Spanned<RawLevel>>,
    #[serde(default)]
    pub after_release_abort: Option<Spanned<RawLevel>>,
    #[serde(default)]
    pub absent: Option<Spanned<f64>>,
    #[serde(default, rename = "for")]
    pub for_: Option<Spanned<String>>,
    #[serde(default)]
    pub no_data: Option<Spanned<String>>,
    #[serde(default)]
    pub no_data_after: Option<Spanned<String>>,
    #[serde(default)]
    pub baseline_window: Option<Spanned<String>>,
    #[serde(default)]
    pub baseline_from: Option<Spanned<String>>,
    #[serde(default)]
    pub baseline_mode: Option<Spanned<String>>,
    #[serde(default)]
    pub max_body: Option<Spanned<RawSize>>,
}

/// A level (`warn`, `abort`): one threshold, or a list of which any one breaching counts.
#[derive(Debug)]
pub enum RawLevel {
    One(String),
    Any(Vec<Spanned<String>>),
}

impl<'de> Deserialize<'de> for RawLevel {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct LevelVisitor;
        impl<'de> serde::de::Visitor<'de> for LevelVisitor {
            type Value = RawLevel;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a threshold such as \"> 0.02\", or a list of them")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<RawLevel, E> {
                Ok(RawLevel::One(v.to_owned()))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<RawLevel, A::Error> {
                let mut any = Vec::new();
                while let Some(t) = seq.next_element::<Spanned<String>>()? {
                    any.push(t);
                }
                Ok(RawLevel::Any(any))
            }
        }
        deserializer.deserialize_any(LevelVisitor)
    }
}

/// A size written as a number of bytes (`1048576`) or with a unit (`"4MiB"`).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum RawSize {
    Bytes(i64),
    Text(String),
}

/// `prometheus = { url, query }`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPrometheus {
    pub url: Spanned<String>,
    pub query: Spanned<String>,
    #[serde(default)]
    pub by_label: Option<String>,
}

/// `json = { url, pointer }`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawJsonSource {
    pub url: Spanned<String>,
    pub pointer: Spanned<String>,
}

/// `scrape = { url, rate | ratio | quantile | gauge }`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawScrape {
    pub url: Spanned<String>,
    #[serde(default)]
    pub gauge: Option<String>,
    #[serde(default)]
    pub rate: Option<String>,
    #[serde(default)]
    pub ratio: Option<RawRatio>,
    #[serde(default)]
    pub quantile: Option<RawQuantile>,
}

/// A ratio of two counters' rates (e.g. 5xx over all requests).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRatio {
    pub numerator: String,
    pub denominator: String,
    /// "counter" (the default: a ratio of increases) or "gauge" (of current values).
    #[serde(default)]
    pub kind: Option<String>,
}

/// A quantile from a histogram's buckets.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawQuantile {
    pub histogram: String,
    pub q: f64,
}

/// One `[actions.NAME]` side effect.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAction {
    pub kind: Spanned<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub argv: Option<Spanned<Vec<String>>>,
    #[serde(default)]
    pub shell: Option<bool>,
    #[serde(default)]
    pub cwd: Option<String>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    #[serde(default)]
    pub method: Option<Spanned<String>>,
    #[serde(default)]
    pub url: Option<Spanned<String>>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default)]
    pub body: Option<toml::Value>,
    #[serde(default)]
    pub expect_status: Option<Spanned<i64>>,
    #[serde(default)]
    pub idempotent: Option<bool>,
    #[serde(default)]
    pub retries: Option<Spanned<i64>>,
    #[serde(default)]
    pub timeout: Option<Spanned<String>>,
    #[serde(default)]
    pub weight_pointer: Option<String>,
    #[serde(default)]
    pub outputs: Option<Spanned<BTreeMap<String, String>>>,
}

/// `[traffic]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTraffic {
    #[serde(default)]
    pub set: Option<Spanned<String>>,
    #[serde(default)]
    pub read: Option<Spanned<String>>,
    #[serde(default)]
    pub check_every: Option<Spanned<String>>,
    #[serde(default)]
    pub on_drift: Option<Spanned<String>>,
    #[serde(default)]
    pub stable_label: Option<String>,
    #[serde(default)]
    pub canary_label: Option<String>,
    #[serde(default)]
    pub provider: Option<Spanned<String>>,
    #[serde(default)]
    pub socket: Option<Spanned<String>>,
    #[serde(default)]
    pub address: Option<Spanned<String>>,
    #[serde(default)]
    pub backend: Option<Spanned<String>>,
    #[serde(default)]
    pub stable_server: Option<Spanned<String>>,
    #[serde(default)]
    pub canary_server: Option<Spanned<String>>,
}

/// `[rollback]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRollback {
    #[serde(default)]
    pub steps: Vec<Spanned<RawRollbackStep>>,
    #[serde(default)]
    pub on_failure: Option<Spanned<String>>,
}

/// One rollback step: an action id, or `{ action = "ID", if_done = ["STEP", ...] }`.
#[derive(Debug)]
pub enum RawRollbackStep {
    Plain(String),
    Conditional(RawConditionalStep),
}

/// `{ action, if_done }`: the action runs only if every listed step completed.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConditionalStep {
    pub action: Spanned<String>,
    #[serde(default)]
    pub if_done: Vec<Spanned<String>>,
}

impl<'de> Deserialize<'de> for RawRollbackStep {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct StepVisitor;
        impl<'de> serde::de::Visitor<'de> for StepVisitor {
            type Value = RawRollbackStep;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an action id, or { action = \"ID\", if_done = [\"STEP\"] }")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<RawRollbackStep, E> {
                Ok(RawRollbackStep::Plain(v.to_owned()))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<RawRollbackStep, A::Error> {
                RawConditionalStep::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(RawRollbackStep::Conditional)
            }
        }
        deserializer.deserialize_any(StepVisitor)
    }
}

/// One `[[stages]]` entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStage {
    pub id: Spanned<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub environment: Option<String>,
    #[serde(default)]
    pub steps: Vec<Spanned<RawStep>>,
}

/// One `[[stages.steps]]` entry; which fields apply depends on `kind`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStep {
    pub id: Spanned<String>,
    pub kind: Spanned<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub help: Option<String>,
    #[serde(default)]
    pub runbook: Option<String>,
    #[serde(default)]
    pub items: Option<Spanned<Vec<Spanned<RawItem>>>>,
    #[serde(default)]
    pub approvals: Option<Spanned<i64>>,
    #[serde(default)]
    pub min_wait: Option<Spanned<String>>,
    #[serde(default)]
    pub timeout: Option<Spanned<String>>,
    #[serde(default)]
    pub on_timeout: Option<Spanned<String>>,
    #[serde(default)]
    pub inputs: Option<Spanned<Vec<Spanned<RawGateInput>>>>,
    #[serde(default)]
    pub action: Option<Spanned<String>>,
    #[serde(default)]
    pub on_failure: Option<Spanned<String>>,
    #[serde(default)]
    pub weight: Option<Spanned<i64>>,
    #[serde(default)]
    pub duration: Option<Spanned<String>>,
    #[serde(default)]
    pub probes: Option<Spanned<Vec<Spanned<String>>>>,
    #[serde(default)]
    pub on_breach: Option<Spanned<String>>,
    #[serde(default)]
    pub checkpoints: Option<Vec<Spanned<String>>>,
    #[serde(default)]
    pub environment: Option<Spanned<String>>,
    #[serde(default)]
    pub requires: Option<Spanned<BTreeMap<String, Spanned<i64>>>>,
    #[serde(default)]
    pub progress: Option<Spanned<RawProgress>>,
    #[serde(default)]
    pub pace: Option<Spanned<Vec<Spanned<String>>>>,
    #[serde(default)]
    pub pace_bake: Option<Spanned<String>>,
    #[serde(default, rename = "continue")]
    pub continue_action: Option<Spanned<String>>,
}

/// One typed input of a gate.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGateInput {
    pub id: Spanned<String>,
    pub prompt: String,
    #[serde(default)]
    pub pattern: Option<Spanned<String>>,
}

/// One checklist item.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawItem {
    pub id: Spanned<String>,
    pub text: String,
    #[serde(default)]
    pub help: Option<String>,
    #[serde(default)]
    pub runbook: Option<String>,
}

/// One `[[notify]]` webhook.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNotify {
    pub url: Spanned<String>,
    #[serde(default)]
    pub format: Option<Spanned<String>>,
    #[serde(default)]
    pub events: Option<Vec<Spanned<String>>>,
    #[serde(default)]
    pub timeout: Option<Spanned<String>>,
    #[serde(default)]
    pub retries: Option<Spanned<i64>>,
}
