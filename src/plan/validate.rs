//! Turns a raw plan into a typed [`Plan`], collecting every problem with its position, the
//! field's path and a hint, instead of stopping at the first.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::time::Duration;

use toml::Spanned;

mod deploy;

use super::raw::{
    RawAction, RawGateInput, RawHealth, RawLevel, RawMetric, RawPlan, RawReleaseType,
    RawRollbackStep, RawSize, RawStep, RawWindow,
};
use super::size::{DEFAULT_MAX_BODY, MAX_MAX_BODY, format_size, parse_size};
use super::threshold::THRESHOLD_FORMS;
use super::{
    ActionKind, ActionSpec, BaselineMode, Claims, HealthProbe, Item, Location, MetricProbe,
    MetricSource, NoDataPolicy, Notify, NotifyEvent, NotifyFormat, OnActionFailure, OnBreach,
    OnFailure, Plan, PlanError, PlanProblem, Policy, ReleaseType, ReleaseTypePolicy, Role,
    Rollback, RollbackStep, ScrapeCompute, Service, Stage, Step, StepKind, Strategy, Threshold,
    Thresholds, Traffic, format_duration, parse_duration, shorten,
};

/// Placeholders an action may use; anything else in braces is a plan error.
pub const TEMPLATE_PLACEHOLDERS: &[&str] = &[
    "version",
    "previous_version",
    "weight",
    "release_id",
    "environment",
    "sha",
    "image",
    "service",
    "date",
    "timestamp",
    "target",
];

struct Checker<'a> {
    text: &'a str,
    problems: Vec<(usize, PlanProblem)>,
}

impl Checker<'_> {
    fn location(&self, offset: usize) -> Location {
        let before = &self.text[..offset.min(self.text.len())];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        Location { line, column }
    }

    fn problem(&mut self, span: Range<usize>, field: &str, message: String, hint: &str) {
        let location = Some(self.location(span.start));
        let problem = PlanProblem {
            location,
            field: shorten(field, 120),
            message: cut_values(&message),
            hint: hint.to_owned(),
        };
        self.problems.push((span.start, problem));
    }

    fn duration(
        &mut self,
        value: Option<&Spanned<String>>,
        field: &str,
        default: Duration,
    ) -> Duration {
        match value {
            None => default,
            Some(v) => match parse_duration(v.get_ref()) {
                Ok(d) => d,
                Err(e) => {
                    self.problem(
                        v.span(),
                        field,
                        e,
                        "write a duration such as \"30s\", \"10m\" or \"1h30m\"",
                    );
                    default
                }
            },
        }
    }

    /// A probe's `max_body`: bytes or a size with a unit, at least 1 KiB and at most
    /// [`MAX_MAX_BODY`].
    fn max_body(&mut self, value: Option<&Spanned<RawSize>>, field: &str) -> u64 {
        let Some(v) = value else { return DEFAULT_MAX_BODY };
        let parsed = match v.get_ref() {
            RawSize::Bytes(n) => u64::try_from(*n).map_err(|_| format!("{n} is negative")),
            RawSize::Text(t) => parse_size(t),
        };
        let hint = "write a size such as \"4MiB\", \"512KiB\" or a number of bytes";
        match parsed {
            Ok(bytes) if bytes < 1024 => {
                self.problem(
                    v.span(),
                    field,
                    format!("{} is too small for any health or metric answer", format_size(bytes)),
                    "at least 1KiB; the default is 1MiB",
                );
                DEFAULT_MAX_BODY
            }
            Ok(bytes) if bytes > MAX_MAX_BODY => {
                self.problem(
                    v.span(),
                    field,
                    format!(
                        "{} is more than the {} a probe may read",
                        format_size(bytes),
                        format_size(MAX_MAX_BODY)
                    ),
                    "a probe reads its body at every interval; ask the endpoint for less",
                );
                DEFAULT_MAX_BODY
            }
            Ok(bytes) => bytes,
            Err(e) => {
                self.problem(v.span(), field, e, hint);
                DEFAULT_MAX_BODY
            }
        }
    }

    /// A whole number within `min..=max` (`default` when left out or out of bounds).
    fn count(
        &mut self,
        value: Option<&Spanned<i64>>,
        field: &str,
        default: u32,
        (min, max): (i64, i64),
    ) -> u32 {
        match value {
            None => default,
            Some(v) if !(min..=max).contains(v.get_ref()) => {
                self.problem(
                    v.span(),
                    field,
                    format!("must be {min} to {max}, found {}", v.get_ref()),
                    &format!("use a whole number from {min} to {max}"),
                );
                default
            }
            Some(v) => u32::try_from(*v.get_ref()).unwrap_or(default),
        }
    }

    /// An http(s) URL.
    fn url(&mut self, value: &Spanned<String>, field: &str) {
        if let Err(e) = super::syntax::check_url(value.get_ref()) {
            self.problem(
                value.span(),
                field,
                e,
                "write an http:// or https:// URL with a host, e.g. \"http://10.0.0.5:8080/health\"; secrets as ${env:NAME}",
            );
        }
    }

    /// An expected HTTP status (default 200).
    fn http_status(&mut self, value: Option<&Spanned<i64>>, field: &str) -> u16 {
        match value {
            Some(s) if !(100..=599).contains(s.get_ref()) => {
                self.problem(
                    s.span(),
                    field,
                    format!("{} is not an HTTP status", s.get_ref()),
                    "use e.g. 200",
                );
                200
            }
            Some(s) => u16::try_from(*s.get_ref()).unwrap_or(200),
            None => 200,
        }
    }

    /// A level: one threshold or a list, each in the metric's `unit`.
    fn level(
        &mut self,
        value: Option<&Spanned<RawLevel>>,
        field: &str,
        unit: &str,
    ) -> Option<Thresholds> {
        let v = value?;
        let hint = format!("write one of: {THRESHOLD_FORMS}");
        let mut any = Vec::new();
        match v.get_ref() {
            RawLevel::One(text) => match Threshold::parse_in(text, unit) {
                Ok(t) => any.push(t),
                Err(e) => self.problem(v.span(), field, e, &hint),
            },
            RawLevel::Any(list) => {
                if list.is_empty() {
                    self.problem(
                        v.span(),
                        field,
                        "an empty list never breaches".into(),
                        "list at least one threshold, or leave the level out",
                    );
                }
                for (i, text) in list.iter().enumerate() {
                    match Threshold::parse_in(text.get_ref(), unit) {
                        Ok(t) => any.push(t),
                        Err(e) => self.problem(text.span(), &format!("{field}[{i}]"), e, &hint),
                    }
                }
            }
        }
        Thresholds::new(any)
    }

    fn templates(&mut self, text: &str, span: Range<usize>, field: &str) {
        for name in placeholders(text) {
            // `{outputs.STEP.NAME}` is checked against the steps once they are known.
            let output = name.starts_with(super::outputs::PREFIX);
            if !output && !TEMPLATE_PLACEHOLDERS.contains(&name.as_str()) {
                self.problem(
                    span.clone(),
                    field,
                    format!("unknown placeholder `{{{name}}}`"),
                    &format!(
                        "placeholders are {}, and {{outputs.STEP.NAME}}",
                        TEMPLATE_PLACEHOLDERS.map_join()
                    ),
                );
            }
        }
    }
}

trait MapJoin {
    fn map_join(&self) -> String;
}

impl MapJoin for [&str] {
    fn map_join(&self) -> String {
        self.iter().map(|p| format!("{{{p}}}")).collect::<Vec<_>>().join(", ")
    }
}

use super::messages::{cut_values, field_at, plain_types};
use super::template::placeholders;

/// Parses and validates; see [`super::parse`].
pub fn parse(text: &str, file: &str) -> Result<Plan, PlanError> {
    let raw: RawPlan = match toml::from_str(text) {
        Ok(raw) => raw,
        Err(e) => {
            let mut checker = Checker { text, problems: Vec::new() };
            let span = e.span().unwrap_or(0..0);
            let message = plain_types(e.message().trim());
            let at = span.start.min(text.len());
            let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
            let on_header = text[line_start..].trim_start().starts_with('[');
            let field = if on_header && !message.contains("field") {
                "(syntax)".to_owned()
            } else {
                field_at(text, span.start)
            };
            let hint = if message.contains("unknown field") {
                "remove or rename the key; see config.example.toml for every field"
            } else if message.contains("missing field") {
                "add the field; see config.example.toml"
            } else if message.contains("invalid type") || message.contains("too large") {
                "write the kind of value expected here; config.example.toml shows each field"
            } else {
                "fix the TOML at this position"
            };
            checker.problem(span, &field, message, hint);
            return Err(finish(checker, file).unwrap_err());
        }
    };
    let mut c = Checker { text, problems: Vec::new() };
    let plan = check(&mut c, raw);
    check_output_references(&mut c, &plan);
    match finish(c, file) {
        Ok(()) => Ok(plan),
        Err(e) => Err(e),
    }
}

/// `{outputs.STEP.NAME}` placeholders that can never be filled, each at its action.
fn check_output_references(c: &mut Checker<'_>, plan: &Plan) {
    for m in super::outputs::misuses(plan, |id| action_texts(plan, id)) {
        let header = format!("[actions.{}]", m.action);
        let span = c.text.find(&header).map_or(0..0, |at| at..at + header.len());
        c.problem(
            span,
            &format!("actions.{}", m.action),
            format!("{} cannot be filled: {}", m.placeholder, m.why),
            "read outputs of an earlier action step whose action lists the name in `outputs`",
        );
    }
}

/// Every text of an action that may hold placeholders.
fn action_texts(plan: &Plan, id: &str) -> Vec<String> {
    match plan.action(id).map(|a| &a.kind) {
        Some(ActionKind::Command { argv, env, .. }) => {
            argv.iter().chain(env.values()).cloned().collect()
        }
        Some(ActionKind::Http { url, headers, body, .. }) => {
            let mut texts: Vec<String> = headers.values().cloned().collect();
            texts.push(url.clone());
            texts.extend(body.iter().map(ToString::to_string));
            texts
        }
        None => Vec::new(),
    }
}

fn finish(mut c: Checker<'_>, file: &str) -> Result<(), PlanError> {
    if c.problems.is_empty() {
        return Ok(());
    }
    c.problems.sort_by_key(|(offset, _)| *offset);
    Err(PlanError {
        file: file.to_owned(),
        problems: c.problems.into_iter().map(|(_, p)| p).collect(),
    })
}

fn check(c: &mut Checker<'_>, raw: RawPlan) -> Plan {
    let raw_service = raw.service.into_inner();
    for (value, field) in
        [(&raw_service.name, "service.name"), (&raw_service.environment, "service.environment")]
    {
        if value.get_ref().trim().is_empty() {
            c.problem(
                value.span(),
                field,
                "must not be empty".into(),
                "name it, e.g. \"checkout-api\"",
            );
        }
    }
    let service = Service {
        name: raw_service.name.into_inner(),
        environment: raw_service.environment.into_inner(),
        description: raw_service.description,
        runbook: raw_service.runbook,
    };

    let stage_ids: BTreeSet<String> =
        raw.stages.iter().map(|s| s.get_ref().id.get_ref().clone()).collect();
    let release_types = check_release_types(c, raw.release_types, &stage_ids);
    let policy = Policy {
        forbid_self_approval: raw
            .policy
            .forbid_self_approval
            .unwrap_or_else(|| Plan::is_production(&service.environment)),
        declared_operators: raw.policy.declared_operators.unwrap_or(false),
        signed_approvals: raw.policy.signed_approvals.unwrap_or(false),
    };

    let mut probe_ids = BTreeSet::new();
    let health: Vec<HealthProbe> = raw
        .health
        .into_iter()
        .enumerate()
        .map(|(i, h)| check_health(c, i, h, &mut probe_ids))
        .collect();
    let metric_ids: BTreeSet<String> =
        raw.metrics.iter().map(|m| m.get_ref().id.get_ref().clone()).collect();
    // Metrics are judged against the strategy (checked, with its errors, after the steps).
    let strategy = raw
        .deploy
        .as_ref()
        .and_then(|d| d.get_ref().strategy.as_ref())
        .and_then(|w| Strategy::parse(w.get_ref()))
        .unwrap_or_default();
    let metric_spans: BTreeMap<String, Range<usize>> =
        raw.metrics.iter().map(|m| (m.get_ref().id.get_ref().clone(), m.span())).collect();
    let metrics: Vec<MetricProbe> = raw
        .metrics
        .into_iter()
        .enumerate()
        .filter_map(|(i, m)| check_metric(c, i, m, &mut probe_ids, &metric_ids, strategy))
        .collect();

    let actions: BTreeMap<String, ActionSpec> = raw
        .actions
        .into_iter()
        .filter_map(|(id, a)| check_action(c, id.clone(), a).map(|spec| (id, spec)))
        .collect();
    let known_action = |c: &mut Checker<'_>,
                        name: &Spanned<String>,
                        field: &str,
                        actions: &BTreeMap<String, ActionSpec>| {
        if !actions.contains_key(name.get_ref()) {
            let known: Vec<&str> = actions.keys().map(String::as_str).collect();
            c.problem(
                name.span(),
                field,
                format!("refers to unknown action `{}`", name.get_ref()),
                &format!("define [actions.{}] or use one of: {}", name.get_ref(), known.join(", ")),
            );
        }
    };

    let traffic_table = raw.traffic.as_ref().map(Spanned::span);
    let traffic = raw.traffic.map(|t| {
        let table = t.span();
        let t = t.into_inner();
        let provider = check_provider(c, &t, table.clone(), &actions);
        match (&t.set, &provider) {
            (Some(set), None) => known_action(c, set, "traffic.set", &actions),
            (None, None) if t.provider.is_none() => c.problem(
                table,
                "traffic.set",
                "[traffic] needs `set` (the action that sets the weight) or a `provider`".into(),
                "add set = \"ACTION\", or provider = \"haproxy\" with its socket, backend and servers",
            ),
            _ => {}
        }
        if let (Some(read), None) = (&t.read, &provider) {
            known_action(c, read, "traffic.read", &actions);
        }
        let reads_back = t.read.is_some() || provider.is_some();
        let check_every = c.duration(
            t.check_every.as_ref(),
            "traffic.check_every",
            crate::plan::DEFAULT_TRAFFIC_CHECK_EVERY,
        );
        if let Some(v) = &t.check_every {
            if !reads_back {
                c.problem(
                    v.span(),
                    "traffic.check_every",
                    "there is nothing to check: `traffic.read` is not set".into(),
                    "name a read-back action with read = \"ACTION\", or remove check_every",
                );
            } else if check_every < std::time::Duration::from_secs(1) {
                c.problem(
                    v.span(),
                    "traffic.check_every",
                    "must be at least 1s".into(),
                    "e.g. check_every = \"10s\"",
                );
            }
        }
        let on_drift = match t.on_drift.as_ref().map(|v| (v.get_ref().as_str(), v.span())) {
            None | Some(("pause", _)) => crate::plan::OnDrift::Pause,
            Some(("rollback", _)) => crate::plan::OnDrift::Rollback,
            Some((other, span)) => {
                c.problem(
                    span,
                    "traffic.on_drift",
                    format!("`{other}` is not a drift policy"),
                    "use \"pause\" (the default) or \"rollback\"",
                );
                crate::plan::OnDrift::Pause
            }
        };
        if let (Some(v), false) = (&t.on_drift, reads_back) {
            c.problem(
                v.span(),
                "traffic.on_drift",
                "drift cannot be seen: `traffic.read` is not set".into(),
                "name a read-back action with read = \"ACTION\", or remove on_drift",
            );
        }
        let by_provider = provider.as_ref().map(|p| p.name().to_owned());
        Traffic {
            set_action: by_provider
                .clone()
                .or_else(|| t.set.map(Spanned::into_inner))
                .unwrap_or_default(),
            read_action: by_provider.or_else(|| t.read.map(Spanned::into_inner)),
            check_every,
            on_drift,
            stable_label: t.stable_label.unwrap_or_else(|| "stable".into()),
            canary_label: t.canary_label.unwrap_or_else(|| "canary".into()),
            provider,
        }
    });
    // A provider's servers show in the Health pane beside the plan's own endpoints.
    let mut health = health;
    if let Some(spec) = traffic.as_ref().and_then(|t| t.provider.as_ref()) {
        let interval = traffic.as_ref().map_or(crate::plan::DEFAULT_TRAFFIC_CHECK_EVERY, |t| {
            t.check_every.min(Duration::from_secs(5))
        });
        for probe in spec.server_probes(interval) {
            if !probe_ids.insert(probe.id.clone()) {
                c.problem(
                    0..0,
                    "health",
                    format!("probe id `{}` is taken by the traffic provider's server", probe.id),
                    "rename that probe",
                );
            }
            health.push(probe);
        }
    }

    let has_rollback = raw.rollback.is_some();
    let mut rollback_conditions: Vec<(String, Vec<Spanned<String>>)> = Vec::new();
    let rollback = match raw.rollback {
        None => Rollback { steps: Vec::new(), on_failure: OnFailure::Halt },
        Some(r) => {
            let r = r.into_inner();
            let mut steps = Vec::new();
            for (i, step) in r.steps.into_iter().enumerate() {
                let field = format!("rollback.steps[{i}]");
                let span = step.span();
                match step.into_inner() {
                    RawRollbackStep::Plain(action) => {
                        let action = Spanned::new(span, action);
                        known_action(c, &action, &field, &actions);
                        steps.push(RollbackStep {
                            action: action.into_inner(),
                            if_done: Vec::new(),
                        });
                    }
                    RawRollbackStep::Conditional(s) => {
                        known_action(c, &s.action, &format!("{field}.action"), &actions);
                        if s.if_done.is_empty() {
                            c.problem(
                                span,
                                &format!("{field}.if_done"),
                                "an empty `if_done` is no condition".into(),
                                "list rollout step ids, e.g. if_done = [\"migrate\"], or write the action id alone",
                            );
                        }
                        rollback_conditions.push((field, s.if_done.clone()));
                        steps.push(RollbackStep {
                            action: s.action.into_inner(),
                            if_done: s.if_done.into_iter().map(Spanned::into_inner).collect(),
                        });
                    }
                }
            }
            let on_failure = match r.on_failure.as_ref().map(|v| (v.get_ref().as_str(), v.span())) {
                None | Some(("halt", _)) => OnFailure::Halt,
                Some(("continue", _)) => OnFailure::Continue,
                Some((other, span)) => {
                    c.problem(
                        span,
                        "rollback.on_failure",
                        format!("`{other}` is not a choice"),
                        "use \"halt\" or \"continue\"",
                    );
                    OnFailure::Halt
                }
            };
            Rollback { steps, on_failure }
        }
    };

    let roles = check_roles(c, raw.roles);
    let mut stages = Vec::new();
    let mut seen_stage = BTreeSet::new();
    let mut seen_step = BTreeSet::new();
    let mut last_weight: Option<(u8, String)> = None;
    let mut traffic_steps = Vec::new();
    let mut deploy_steps = Vec::new();
    if raw.stages.is_empty() {
        c.problem(
            0..0,
            "stages",
            "the plan has no stages".into(),
            "add at least one [[stages]] table with steps",
        );
    }
    for (si, raw_stage) in raw.stages.into_iter().enumerate() {
        let stage_span = raw_stage.span();
        let stage = raw_stage.into_inner();
        let field = format!("stages[{si}].id");
        if !seen_stage.insert(stage.id.get_ref().clone()) {
            c.problem(
                stage.id.span(),
                &field,
                format!("duplicate stage id `{}`", stage.id.get_ref()),
                "give every stage its own id",
            );
        }
        if stage.steps.is_empty() {
            c.problem(
                stage_span,
                &format!("stages[{si}].steps"),
                format!("stage `{}` has no steps", stage.id.get_ref()),
                "add [[stages.steps]] tables under it, or remove the stage",
            );
        }
        let stage_environment =
            stage.environment.clone().unwrap_or_else(|| service.environment.clone());
        let mut steps = Vec::new();
        for (pi, raw_step) in stage.steps.into_iter().enumerate() {
            let path = format!("stages[{si}].steps[{pi}]");
            let mut step = raw_step.into_inner();
            let kind_span = step.kind.span();
            let pacing = (step.kind.get_ref() == "deploy").then(|| deploy::take_pacing(&mut step));
            if deploy::reserved_step_id(step.id.get_ref()) {
                c.problem(
                    step.id.span(),
                    &format!("{path}.id"),
                    format!("step id `{}` is reserved", step.id.get_ref()),
                    "breaches seen while a completed release is watched are recorded under it; rename the step",
                );
            }
            if !seen_step.insert(step.id.get_ref().clone()) {
                c.problem(
                    step.id.span(),
                    &format!("{path}.id"),
                    format!("duplicate step id `{}`", step.id.get_ref()),
                    "step ids must be unique across the whole plan",
                );
            }
            if step.id.get_ref().starts_with("rollback-") {
                c.problem(
                    step.id.span(),
                    &format!("{path}.id"),
                    format!("step id `{}` is reserved", step.id.get_ref()),
                    "ids starting with `rollback-` name the rollback procedure's steps; rename it",
                );
            }
            let known = Known {
                roles: &roles,
                actions: &actions,
                probe_ids: &probe_ids,
                metrics: &metrics,
            };
            let checked = check_step(c, &path, &stage_environment, step, &known, &mut last_weight);
            let expanded = match (checked, pacing) {
                (Some(step), Some(pacing)) => {
                    deploy_steps.push((step.id.clone(), kind_span.clone()));
                    deploy::expand(c, &path, step, pacing, &known, &mut seen_step)
                }
                (Some(step), None) => vec![step],
                (None, _) => Vec::new(),
            };
            for step in expanded {
                if matches!(step.kind, StepKind::Traffic { .. }) {
                    traffic_steps.push((step.id.clone(), kind_span.clone()));
                    if traffic.is_none() {
                        c.problem(kind_span.clone(), &format!("{path}.kind"), format!("traffic step `{}` but the plan has no [traffic] provider", step.id), "add [traffic] with `set = \"ACTION\"` naming the action that sets the weight");
                    }
                    if !has_rollback {
                        c.problem(kind_span.clone(), &format!("{path}.kind"), format!("traffic step `{}` but the plan has no [rollback] procedure", step.id), "add a [rollback] table (steps may be empty: traffic returns to the stable version first)");
                    }
                }
                steps.push(step);
            }
        }
        stages.push(Stage {
            name: stage.name.unwrap_or_else(|| stage.id.get_ref().clone()),
            id: stage.id.into_inner(),
            environment: stage_environment,
            steps,
        });
    }

    for (field, if_done) in &rollback_conditions {
        for (j, id) in if_done.iter().enumerate() {
            if !seen_step.contains(id.get_ref()) {
                c.problem(
                    id.span(),
                    &format!("{field}.if_done[{j}]"),
                    format!("no rollout step `{}`", shorten(id.get_ref(), 80)),
                    "name a step id from [[stages.steps]]",
                );
            }
        }
    }
    let notify = raw.notify.into_iter().enumerate().map(|(i, n)| check_notify(c, i, n)).collect();
    let claims = raw.claims.map(|raw| check_claims(c, raw));
    let windows =
        raw.windows.into_iter().enumerate().filter_map(|(i, w)| check_window(c, i, w)).collect();
    let deploy =
        deploy::check_strategy(c, raw.deploy, &traffic_steps, &deploy_steps, traffic_table);
    deploy::check_baselines_possible(c, &stages, &metrics, &metric_spans);
    let watch = deploy::check_watch(c, raw.watch, &metrics, &probe_ids);

    Plan {
        service,
        release_types,
        policy,
        health,
        metrics,
        actions,
        traffic,
        rollback,
        stages,
        notify,
        claims,
        roles,
        windows,
        deploy,
        watch,
    }
}

/// `[roles]`: each role a list of distinct, non-empty names.
fn check_roles(
    c: &mut Checker<'_>,
    raw: BTreeMap<String, Spanned<Vec<Spanned<String>>>>,
) -> BTreeMap<String, Vec<String>> {
    let mut out = BTreeMap::new();
    for (role, members) in raw {
        let mut names: Vec<String> = Vec::new();
        for (i, name) in members.get_ref().iter().enumerate() {
            let field = format!("roles.{role}[{i}]");
            if name.get_ref().trim().is_empty() {
                c.problem(
                    name.span(),
                    &field,
                    "must not be empty".into(),
                    "write the name flightdeck records for the person (see `flightdeck whoami`)",
                );
            } else if names.contains(name.get_ref()) {
                c.problem(
                    name.span(),
                    &field,
                    format!("`{}` is listed twice", shorten(name.get_ref(), 80)),
                    "list each person once",
                );
            } else {
                names.push(name.get_ref().clone());
            }
        }
        out.insert(role, names);
    }
    out
}

/// A gate's `requires = { ROLE = N }`: known roles, 1..=their member count each.
fn check_requires(
    c: &mut Checker<'_>,
    path: &str,
    raw: Option<&Spanned<BTreeMap<String, Spanned<i64>>>>,
    roles: &BTreeMap<String, Vec<String>>,
) -> BTreeMap<String, u32> {
    let mut out = BTreeMap::new();
    let Some(raw) = raw else { return out };
    for (role, n) in raw.get_ref() {
        let field = format!("{path}.requires.{role}");
        let Some(members) = roles.get(role) else {
            let known: Vec<&str> = roles.keys().map(String::as_str).collect();
            c.problem(
                n.span(),
                &field,
                format!("no role `{}` in [roles]", shorten(role, 80)),
                &if known.is_empty() {
                    format!("define it: [roles] {role} = [\"alice\", \"bob\"]")
                } else {
                    format!("define it under [roles], or use one of: {}", known.join(", "))
                },
            );
            continue;
        };
        let count = *n.get_ref();
        let size = i64::try_from(members.len()).unwrap_or(i64::MAX);
        if count < 1 {
            c.problem(
                n.span(),
                &field,
                format!("must be at least 1, found {count}"),
                "require at least one person of the role, or remove it from `requires`",
            );
        } else if count > size {
            c.problem(
                n.span(),
                &field,
                format!(
                    "needs {count} {role}{} but [roles] lists {size}",
                    if count == 1 { "" } else { "s" }
                ),
                &format!("add people to roles.{role}, or require at most {size}"),
            );
        } else {
            out.insert(role.clone(), u32::try_from(count).unwrap_or(1));
        }
    }
    out
}

fn check_claims(c: &mut Checker<'_>, raw: Spanned<super::raw::RawClaims>) -> Claims {
    let raw = raw.into_inner();
    let ttl = c.duration(raw.ttl.as_ref(), "claims.ttl", Claims::DEFAULT_TTL);
    if let Some(value) = &raw.ttl {
        if !(Claims::MIN_TTL..=Claims::MAX_TTL).contains(&ttl) {
            c.problem(
                value.span(),
                "claims.ttl",
                format!("a claim lasting {} is outside 1m..=24h", format_duration(ttl)),
                "a claim is renewed by claiming again; pick e.g. \"20m\"",
            );
            return Claims { ttl: ttl.clamp(Claims::MIN_TTL, Claims::MAX_TTL) };
        }
    }
    Claims { ttl }
}

/// Most attempts after the first a webhook may ask for.
const NOTIFY_MAX_RETRIES: i64 = 10;
/// Most attempts after the first an idempotent http action may ask for.
const MAX_RETRIES: i64 = 10;
/// Most approvals a gate may ask for.
const MAX_APPROVALS: i64 = 100;
/// Longest time one webhook attempt may take.
const NOTIFY_MAX_TIMEOUT: Duration = Duration::from_secs(60);

fn check_notify(c: &mut Checker<'_>, i: usize, raw: Spanned<super::raw::RawNotify>) -> Notify {
    let n = raw.into_inner();
    let path = format!("notify[{i}]");
    let url = n.url.get_ref().trim();
    // A whole URL from a secret is checked when it is sent.
    if !url.starts_with("${env:") {
        c.url(&n.url, &format!("{path}.url"));
    }
    if let Some(name) = placeholders(url).first() {
        c.problem(
            n.url.span(),
            &format!("{path}.url"),
            format!("webhook URLs take no placeholders, found `{{{name}}}`"),
            "only ${env:NAME} secrets are filled in; the body says which release it is",
        );
    }
    let format = match n.format.as_ref().map(|f| (f.get_ref().as_str(), f.span())) {
        None | Some(("json", _)) => NotifyFormat::Json,
        Some(("slack", _)) => NotifyFormat::Slack,
        Some((other, span)) => {
            c.problem(
                span,
                &format!("{path}.format"),
                format!("`{other}` is not a format"),
                "use \"slack\" ({\"text\": ...}) or \"json\"",
            );
            NotifyFormat::Json
        }
    };
    let events = match n.events {
        None => NotifyEvent::ALL.to_vec(),
        Some(list) => {
            if list.is_empty() {
                c.problem(
                    0..0,
                    &format!("{path}.events"),
                    "an empty list would never notify".into(),
                    "leave `events` out for every milestone, or name some",
                );
            }
            let mut events = Vec::new();
            for (j, e) in list.iter().enumerate() {
                match NotifyEvent::parse(e.get_ref()) {
                    Some(ev) if !events.contains(&ev) => events.push(ev),
                    Some(_) => {}
                    None => c.problem(
                        e.span(),
                        &format!("{path}.events[{j}]"),
                        format!("`{}` is not a milestone", e.get_ref()),
                        &format!(
                            "use any of: {}",
                            NotifyEvent::ALL.map(NotifyEvent::as_str).join(", ")
                        ),
                    ),
                }
            }
            events
        }
    };
    let timeout =
        c.duration(n.timeout.as_ref(), &format!("{path}.timeout"), Duration::from_secs(5));
    if let Some(t) = &n.timeout {
        if timeout.is_zero() || timeout > NOTIFY_MAX_TIMEOUT {
            c.problem(
                t.span(),
                &format!("{path}.timeout"),
                format!("{} is outside 1ms..=60s", t.get_ref()),
                "a webhook must answer quickly or be given up on; e.g. \"5s\"",
            );
        }
    }
    let retries = match &n.retries {
        Some(r) if !(0..=NOTIFY_MAX_RETRIES).contains(r.get_ref()) => {
            c.problem(
                r.span(),
                &format!("{path}.retries"),
                format!("{} is outside 0..={NOTIFY_MAX_RETRIES}", r.get_ref()),
                "retries are bounded, so a dead webhook is given up on",
            );
            3
        }
        Some(r) => u32::try_from(*r.get_ref()).unwrap_or(3),
        None => 3,
    };
    Notify { url: n.url.get_ref().clone(), format, events, timeout, retries }
}

fn check_release_types(
    c: &mut Checker<'_>,
    raw: Option<Spanned<super::raw::RawReleaseTypes>>,
    stage_ids: &BTreeSet<String>,
) -> BTreeMap<ReleaseType, ReleaseTypePolicy> {
    let defaults =
        [(ReleaseType::Regular, 2), (ReleaseType::Hotfix, 1), (ReleaseType::Emergency, 1)];
    let mut out: BTreeMap<ReleaseType, ReleaseTypePolicy> = defaults
        .into_iter()
        .map(|(t, n)| {
            (
                t,
                ReleaseTypePolicy {
                    approvals: n,
                    skip_stages: Vec::new(),
                    override_windows: false,
                },
            )
        })
        .collect();
    let Some(raw) = raw else { return out };
    let raw = raw.into_inner();
    let mut take = |t: ReleaseType, v: Option<Spanned<RawReleaseType>>| {
        let Some(v) = v else { return };
        let v = v.into_inner();
        let field = format!("release_types.{t}.approvals");
        let approvals = if *v.approvals.get_ref() < 1 {
            c.problem(
                v.approvals.span(),
                &field,
                format!("a gate needing {} approvers would pass by itself", v.approvals.get_ref()),
                "require at least 1 approval",
            );
            1
        } else if *v.approvals.get_ref() > MAX_APPROVALS {
            c.problem(
                v.approvals.span(),
                &field,
                format!("must be 1 to {MAX_APPROVALS}, found {}", v.approvals.get_ref()),
                "a gate counts distinct people; ask for a number a team can give",
            );
            1
        } else {
            u32::try_from(*v.approvals.get_ref()).unwrap_or(1)
        };
        for (i, s) in v.skip_stages.iter().enumerate() {
            if !stage_ids.contains(s.get_ref()) {
                c.problem(
                    s.span(),
                    &format!("release_types.{t}.skip_stages[{i}]"),
                    format!("unknown stage `{}`", s.get_ref()),
                    "name a stage id from [[stages]]",
                );
            }
        }
        out.insert(
            t,
            ReleaseTypePolicy {
                approvals,
                skip_stages: v.skip_stages.into_iter().map(Spanned::into_inner).collect(),
                override_windows: v.override_windows,
            },
        );
    };
    take(ReleaseType::Regular, raw.regular);
    take(ReleaseType::Hotfix, raw.hotfix);
    take(ReleaseType::Emergency, raw.emergency);
    out
}

fn unique_probe(
    c: &mut Checker<'_>,
    id: &Spanned<String>,
    field: &str,
    seen: &mut BTreeSet<String>,
) {
    if !seen.insert(id.get_ref().clone()) {
        c.problem(
            id.span(),
            field,
            format!("duplicate probe id `{}`", id.get_ref()),
            "health and metric ids share one namespace; rename one",
        );
    }
}

fn check_health(
    c: &mut Checker<'_>,
    i: usize,
    raw: Spanned<RawHealth>,
    seen: &mut BTreeSet<String>,
) -> HealthProbe {
    let h = raw.into_inner();
    let path = format!("health[{i}]");
    unique_probe(c, &h.id, &format!("{path}.id"), seen);
    c.url(&h.url, &format!("{path}.url"));
    let role = match h.role.as_ref().map(|r| (r.get_ref().as_str(), r.span())) {
        None | Some(("shared", _)) => Role::Shared,
        Some(("stable", _)) => Role::Stable,
        Some(("canary", _)) => Role::Canary,
        Some((other, span)) => {
            c.problem(
                span,
                &format!("{path}.role"),
                format!("`{other}` is not a role"),
                "use \"stable\", \"canary\" or \"shared\"",
            );
            Role::Shared
        }
    };
    let expect_status = c.http_status(h.expect_status.as_ref(), &format!("{path}.expect_status"));
    let mut require = BTreeMap::new();
    if let Some(r) = h.require {
        let span = r.span();
        for (pointer, expected) in r.into_inner() {
            if !pointer.starts_with('/') {
                c.problem(
                    span.clone(),
                    &format!("{path}.require"),
                    format!("`{pointer}` is not a JSON pointer"),
                    "start it with /, e.g. require = { \"/checks/database\" = \"ok\" }",
                );
            }
            require.insert(pointer, expected);
        }
    }
    HealthProbe {
        require,
        name: h.name.unwrap_or_else(|| h.id.get_ref().clone()),
        interval: c.duration(
            h.interval.as_ref(),
            &format!("{path}.interval"),
            Duration::from_secs(5),
        ),
        timeout: c.duration(h.timeout.as_ref(), &format!("{path}.timeout"), Duration::from_secs(2)),
        down_after: c.count(h.down_after.as_ref(), &format!("{path}.down_after"), 3, (1, 100)),
        up_after: c.count(h.up_after.as_ref(), &format!("{path}.up_after"), 2, (1, 100)),
        id: h.id.into_inner(),
        url: h.url.into_inner(),
        role,
        expect_status,
        status_pointer: h.status_pointer.unwrap_or_else(|| "/status".into()),
        healthy_values: h
            .healthy_values
            .unwrap_or_else(|| vec!["healthy".into(), "ok".into(), "up".into(), "pass".into()]),
        version_pointer: h.version_pointer.unwrap_or_else(|| "/version".into()),
        expect_version: h.expect_version.unwrap_or(true),
        headers: h.headers,
        max_body: c.max_body(h.max_body.as_ref(), &format!("{path}.max_body")),
    }
}

fn check_metric(
    c: &mut Checker<'_>,
    i: usize,
    raw: Spanned<RawMetric>,
    seen: &mut BTreeSet<String>,
    metric_ids: &BTreeSet<String>,
    strategy: Strategy,
) -> Option<MetricProbe> {
    let span = raw.span();
    let m = raw.into_inner();
    let path = format!("metrics[{i}]");
    unique_probe(c, &m.id, &format!("{path}.id"), seen);
    let json = match (m.json, m.prometheus.is_some() || m.scrape.is_some()) {
        (Some(j), false) => {
            let j = j.into_inner();
            if !j.pointer.get_ref().starts_with('/') {
                c.problem(
                    j.pointer.span(),
                    &format!("{path}.json.pointer"),
                    format!("`{}` is not a JSON pointer", j.pointer.get_ref()),
                    "start it with /, e.g. pointer = \"/memory/used_ratio\"",
                );
            }
            Some(MetricSource::Json { url: j.url.into_inner(), pointer: j.pointer.into_inner() })
        }
        (Some(j), true) => {
            c.problem(
                j.span(),
                &path,
                format!("metric `{}` needs exactly one source", m.id.get_ref()),
                "keep one of `prometheus`, `scrape` or `json`",
            );
            None
        }
        (None, _) => None,
    };
    let source = match (m.prometheus, m.scrape) {
        _ if json.is_some() => json,
        (Some(p), None) => {
            let p = p.into_inner();
            c.url(&p.url, &format!("{path}.prometheus.url"));
            if let Err(e) = super::syntax::check_query(p.query.get_ref()) {
                c.problem(
                    p.query.span(),
                    &format!("{path}.prometheus.query"),
                    e,
                    "write a PromQL expression, e.g. sum(rate(http_requests_total{code=~\"5..\"}[5m]))",
                );
            }
            Some(MetricSource::Prometheus {
                url: p.url.into_inner(),
                query: p.query.into_inner(),
                by_label: p.by_label,
            })
        }
        (None, Some(s)) => {
            let s_span = s.span();
            let s = s.into_inner();
            c.url(&s.url, &format!("{path}.scrape.url"));
            let selectors = [
                ("gauge", s.gauge.as_deref()),
                ("rate", s.rate.as_deref()),
                ("ratio.numerator", s.ratio.as_ref().map(|r| r.numerator.as_str())),
                ("ratio.denominator", s.ratio.as_ref().map(|r| r.denominator.as_str())),
                ("quantile.histogram", s.quantile.as_ref().map(|q| q.histogram.as_str())),
            ];
            for (name, selector) in selectors {
                if let Some(Err(e)) = selector.map(super::selector::Selector::parse) {
                    c.problem(
                        s_span.clone(),
                        &format!("{path}.scrape.{name}"),
                        e,
                        "write a series selector: name, name{label=\"value\"} or name{label=~\"regex\"}",
                    );
                }
            }
            let computes =
                [s.gauge.is_some(), s.rate.is_some(), s.ratio.is_some(), s.quantile.is_some()];
            if computes.iter().filter(|x| **x).count() != 1 {
                c.problem(s_span, &format!("{path}.scrape"), "needs exactly one of gauge, rate, ratio, quantile".into(), "e.g. scrape = { url = \"...\", ratio = { numerator = \"...\", denominator = \"...\" } }");
                None
            } else {
                let compute = if let Some(g) = s.gauge {
                    ScrapeCompute::Gauge(g)
                } else if let Some(r) = s.rate {
                    ScrapeCompute::Rate(r)
                } else if let Some(r) = s.ratio {
                    match r.kind.as_deref() {
                        None | Some("counter") => ScrapeCompute::Ratio {
                            numerator: r.numerator,
                            denominator: r.denominator,
                        },
                        Some("gauge") => ScrapeCompute::GaugeRatio {
                            numerator: r.numerator,
                            denominator: r.denominator,
                        },
                        Some(other) => {
                            c.problem(
                                s_span.clone(),
                                &format!("{path}.scrape.ratio.kind"),
                                format!("`{other}` is not a kind of ratio"),
                                "use \"counter\" (increase over increase, the default) or \"gauge\" (value over value)",
                            );
                            return None;
                        }
                    }
                } else {
                    let q = s.quantile?;
                    if !(q.q > 0.0 && q.q < 1.0) {
                        c.problem(
                            s_span.clone(),
                            &format!("{path}.scrape.quantile.q"),
                            format!("{} is not between 0 and 1", q.q),
                            "use e.g. 0.95 for p95",
                        );
                    }
                    ScrapeCompute::Quantile { histogram: q.histogram, q: q.q }
                };
                Some(MetricSource::Scrape { url: s.url.into_inner(), compute })
            }
        }
        (Some(_), Some(_)) | (None, None) => {
            c.problem(
                span.clone(),
                &path,
                format!("metric `{}` needs exactly one source", m.id.get_ref()),
                "add one of `prometheus = { url, query }`, `scrape = { url, ... }` or `json = { url, pointer }`",
            );
            None
        }
    };
    let unit = m.unit.as_ref().map_or("", |u| u.get_ref().as_str());
    let warn = c.level(m.warn.as_ref(), &format!("{path}.warn"), unit);
    let abort = c.level(m.abort.as_ref(), &format!("{path}.abort"), unit);
    let after_release_warn =
        c.level(m.after_release_warn.as_ref(), &format!("{path}.after_release_warn"), unit);
    let after_release_abort =
        c.level(m.after_release_abort.as_ref(), &format!("{path}.after_release_abort"), unit);
    if let Some(a) = &m.absent {
        if !a.get_ref().is_finite() {
            c.problem(
                a.span(),
                &format!("{path}.absent"),
                "must be a finite number".into(),
                "the value a series missing from a successful read counts as, e.g. absent = 0",
            );
        }
    }
    let no_data_after = c.duration(
        m.no_data_after.as_ref(),
        &format!("{path}.no_data_after"),
        Duration::from_secs(60),
    );
    let no_data = match m.no_data.as_ref().map(|v| (v.get_ref().as_str(), v.span())) {
        None | Some(("warn", _)) => NoDataPolicy::Warn,
        Some(("ignore", _)) => NoDataPolicy::Ignore,
        Some(("breach", _)) => NoDataPolicy::BreachAfter(no_data_after),
        Some((other, span)) => {
            c.problem(
                span,
                &format!("{path}.no_data"),
                format!("`{other}` is not a choice"),
                "use \"ignore\", \"warn\" or \"breach\" (with no_data_after)",
            );
            NoDataPolicy::Warn
        }
    };
    let max_body = c.max_body(m.max_body.as_ref(), &format!("{path}.max_body"));
    let baseline_mode = match m.baseline_mode.as_ref().map(|v| (v.get_ref().as_str(), v.span())) {
        None | Some(("before", _)) => BaselineMode::Before,
        Some(("live", _)) => BaselineMode::Live,
        Some((other, span)) => {
            c.problem(
                span,
                &format!("{path}.baseline_mode"),
                format!("`{other}` is not a baseline mode"),
                "use \"before\" (captured before the first shift) or \"live\" (the stable side over the same moving window during the bake)",
            );
            BaselineMode::Before
        }
    };
    let by_label = match &source {
        Some(MetricSource::Prometheus { by_label, .. }) => by_label.is_some(),
        _ => false,
    };
    let id = m.id.get_ref().clone();
    if let Some(from) = &m.baseline_from {
        let field = format!("{path}.baseline_from");
        let name = from.get_ref();
        if !metric_ids.contains(name) {
            let known: Vec<&str> = metric_ids.iter().map(String::as_str).collect();
            c.problem(
                from.span(),
                &field,
                format!("no metric `{name}` to take the baseline of `{id}` from"),
                &format!("name the stable counterpart's [[metrics]] id: {}", known.join(", ")),
            );
        } else if *name == id && baseline_mode == BaselineMode::Live {
            c.problem(
                from.span(),
                &field,
                format!("`{id}` cannot be its own stable side in live mode: during the bake it mixes both versions"),
                "name a metric that reads only the stable version, or use baseline_mode = \"before\"",
            );
        } else if by_label {
            c.problem(
                from.span(),
                &field,
                format!("`{id}` is split by_label: its baseline is the stable version's series"),
                "remove baseline_from, or by_label",
            );
        }
    }
    let relative = [&warn, &abort, &after_release_warn, &after_release_abort]
        .into_iter()
        .flatten()
        .any(Thresholds::relative);
    let whole_service = strategy != Strategy::Traffic;
    if whole_service
        && baseline_mode == BaselineMode::Live
        && !(by_label && strategy == Strategy::Rolling)
    {
        let span = m.baseline_mode.as_ref().map_or(span.clone(), Spanned::span);
        c.problem(
            span,
            &format!("{path}.baseline_mode"),
            format!(
                "`{id}` compares live against the stable side, but with strategy \"{}\" no stable side runs beside the new version after the deploy",
                strategy.word()
            ),
            "use baseline_mode = \"before\": the baseline is captured before the deploy step, from the only version running then",
        );
    }
    // Under rolling or swap the metric itself, before the deploy step, is the baseline: the
    // only version running then.
    if relative && !by_label && m.baseline_from.is_none() && !whole_service {
        c.problem(
            span,
            &path,
            format!("`{id}` has a threshold relative to the baseline but no stable side to take it from"),
            &format!("split the query by version with `by_label = \"version\"` in `prometheus = {{ ... }}`, or name the stable counterpart with `baseline_from = \"METRIC_ID\"` (`baseline_from = \"{id}\"` takes it from this metric before any traffic moves)"),
        );
    }
    Some(MetricProbe {
        max_body,
        baseline_from: m.baseline_from.map(Spanned::into_inner),
        baseline_mode,
        name: m.name.unwrap_or_else(|| m.id.get_ref().clone()),
        unit: m.unit.map(Spanned::into_inner).unwrap_or_default(),
        interval: c.duration(
            m.interval.as_ref(),
            &format!("{path}.interval"),
            Duration::from_secs(5),
        ),
        for_duration: c.duration(m.for_.as_ref(), &format!("{path}.for"), Duration::ZERO),
        baseline_window: c.duration(
            m.baseline_window.as_ref(),
            &format!("{path}.baseline_window"),
            Duration::from_secs(300),
        ),
        id: m.id.into_inner(),
        source: source?,
        warn,
        abort,
        after_release_warn,
        after_release_abort,
        no_data,
        absent: m.absent.map(Spanned::into_inner).filter(|v| v.is_finite()),
    })
}

fn check_action(c: &mut Checker<'_>, id: String, raw: Spanned<RawAction>) -> Option<ActionSpec> {
    let span = raw.span();
    let a = raw.into_inner();
    let path = format!("actions.{id}");
    let timeout =
        c.duration(a.timeout.as_ref(), &format!("{path}.timeout"), Duration::from_secs(300));
    let kind = match a.kind.get_ref().as_str() {
        "command" => {
            for (value, field) in [(&a.method, "method"), (&a.url, "url")] {
                if let Some(v) = value {
                    c.problem(
                        v.span(),
                        &format!("{path}.{field}"),
                        format!("`{field}` does not apply to a command action"),
                        "remove it, or use kind = \"http\"",
                    );
                }
            }
            let Some(argv) = a.argv else {
                c.problem(
                    span,
                    &format!("{path}.argv"),
                    "a command action needs `argv`".into(),
                    "e.g. argv = [\"./scripts/backup.sh\", \"{version}\"]",
                );
                return None;
            };
            if argv.get_ref().is_empty() {
                c.problem(
                    argv.span(),
                    &format!("{path}.argv"),
                    "must not be empty".into(),
                    "the program first, then its arguments",
                );
            }
            for (i, arg) in argv.get_ref().iter().enumerate() {
                c.templates(arg, argv.span(), &format!("{path}.argv[{i}]"));
            }
            for (k, v) in &a.env {
                c.templates(v, span.clone(), &format!("{path}.env.{k}"));
            }
            ActionKind::Command {
                argv: argv.into_inner(),
                shell: a.shell.unwrap_or(false),
                cwd: a.cwd,
                env: a.env,
                weight_pointer: a.weight_pointer,
            }
        }
        "http" => {
            if let Some(argv) = &a.argv {
                c.problem(
                    argv.span(),
                    &format!("{path}.argv"),
                    "`argv` does not apply to an http action".into(),
                    "remove it, or use kind = \"command\"",
                );
            }
            let Some(url) = a.url else {
                c.problem(
                    span,
                    &format!("{path}.url"),
                    "an http action needs `url`".into(),
                    "e.g. url = \"http://lb.internal/admin/weight\"",
                );
                return None;
            };
            c.templates(url.get_ref(), url.span(), &format!("{path}.url"));
            c.url(&url, &format!("{path}.url"));
            let body = a.body.map(|b| serde_json::to_value(b).unwrap_or(serde_json::Value::Null));
            if let Some(b) = &body {
                c.templates(&b.to_string(), span.clone(), &format!("{path}.body"));
            }
            let method = a
                .method
                .as_ref()
                .map_or_else(|| "POST".to_owned(), |m| m.get_ref().to_ascii_uppercase());
            if !["GET", "POST", "PUT", "PATCH", "DELETE"].contains(&method.as_str()) {
                if let Some(m) = &a.method {
                    c.problem(
                        m.span(),
                        &format!("{path}.method"),
                        format!("`{}` is not a supported method", m.get_ref()),
                        "use GET, POST, PUT, PATCH or DELETE",
                    );
                }
            }
            let retries =
                c.count(a.retries.as_ref(), &format!("{path}.retries"), 0, (0, MAX_RETRIES));
            if retries > 0 && !a.idempotent.unwrap_or(false) {
                if let Some(r) = &a.retries {
                    c.problem(
                        r.span(),
                        &format!("{path}.retries"),
                        "retries on a call not marked idempotent could apply it twice".into(),
                        "set idempotent = true if repeating the call is safe, or remove retries",
                    );
                }
            }
            let expect_status =
                c.http_status(a.expect_status.as_ref(), &format!("{path}.expect_status"));
            ActionKind::Http {
                method,
                url: url.into_inner(),
                headers: a.headers,
                body,
                expect_status,
                retries,
                weight_pointer: a.weight_pointer,
            }
        }
        other => {
            c.problem(
                a.kind.span(),
                &format!("{path}.kind"),
                format!("`{other}` is not an action kind"),
                "use \"command\" or \"http\"",
            );
            return None;
        }
    };
    let mut outputs = BTreeMap::new();
    if let Some(declared) = a.outputs {
        let span = declared.span();
        for (name, pointer) in declared.into_inner() {
            let field = format!("{path}.outputs.{name}");
            if !super::outputs::valid_name(&name) {
                c.problem(
                    span.clone(),
                    &field,
                    format!("`{name}` is not an output name"),
                    "use letters, digits and _ (it is written {outputs.STEP.NAME})",
                );
            }
            if !(pointer.is_empty() || pointer.starts_with('/')) {
                c.problem(
                    span.clone(),
                    &field,
                    format!("`{pointer}` is not a JSON pointer"),
                    "start it with /, e.g. \"/id\" or \"/deploy/id\" (\"\" is the whole output)",
                );
            }
            outputs.insert(name, pointer);
        }
    }
    Some(ActionSpec { name: a.name.unwrap_or_else(|| id.clone()), id, kind, timeout, outputs })
}

/// What a step is checked against: the rest of the plan, already checked.
struct Known<'p> {
    roles: &'p BTreeMap<String, Vec<String>>,
    actions: &'p BTreeMap<String, ActionSpec>,
    probe_ids: &'p BTreeSet<String>,
    metrics: &'p [MetricProbe],
}

fn check_step(
    c: &mut Checker<'_>,
    path: &str,
    stage_environment: &str,
    s: RawStep,
    known: &Known<'_>,
    last_weight: &mut Option<(u8, String)>,
) -> Option<Step> {
    let Known { roles, actions, probe_ids, .. } = *known;
    let kind_word = s.kind.get_ref().clone();
    let allowed: &[&str] = match kind_word.as_str() {
        "checklist" => &["items"],
        "gate" => &["approvals", "min_wait", "requires", "timeout", "on_timeout", "inputs"],
        "action" => &["action", "environment", "on_failure"],
        "deploy" => &["action", "environment", "on_failure", "progress"],
        "traffic" => &["weight", "environment"],
        "bake" => &["duration", "probes", "on_breach", "checkpoints"],
        other => {
            c.problem(
                s.kind.span(),
                &format!("{path}.kind"),
                format!("`{other}` is not a step kind"),
                "use checklist, gate, action, deploy, traffic or bake",
            );
            return None;
        }
    };
    let present: [(&str, Option<Range<usize>>); 19] = [
        ("progress", s.progress.as_ref().map(Spanned::span)),
        ("pace", s.pace.as_ref().map(Spanned::span)),
        ("pace_bake", s.pace_bake.as_ref().map(Spanned::span)),
        ("continue", s.continue_action.as_ref().map(Spanned::span)),
        ("environment", s.environment.as_ref().map(Spanned::span)),
        ("requires", s.requires.as_ref().map(Spanned::span)),
        ("inputs", s.inputs.as_ref().map(Spanned::span)),
        ("items", s.items.as_ref().map(Spanned::span)),
        ("approvals", s.approvals.as_ref().map(Spanned::span)),
        ("min_wait", s.min_wait.as_ref().map(Spanned::span)),
        ("timeout", s.timeout.as_ref().map(Spanned::span)),
        ("on_timeout", s.on_timeout.as_ref().map(Spanned::span)),
        ("action", s.action.as_ref().map(Spanned::span)),
        ("on_failure", s.on_failure.as_ref().map(Spanned::span)),
        ("weight", s.weight.as_ref().map(Spanned::span)),
        ("duration", s.duration.as_ref().map(Spanned::span)),
        ("probes", s.probes.as_ref().map(Spanned::span)),
        ("on_breach", s.on_breach.as_ref().map(Spanned::span)),
        ("checkpoints", s.checkpoints.as_ref().and_then(|c| c.first()).map(Spanned::span)),
    ];
    for (field, span) in present {
        if let Some(span) = span {
            if !allowed.contains(&field) {
                c.problem(
                    span,
                    &format!("{path}.{field}"),
                    format!("`{field}` does not apply to a {kind_word} step"),
                    &format!("a {kind_word} step takes: {}", allowed.join(", ")),
                );
            }
        }
    }
    let id_span = s.id.span();
    let kind = match kind_word.as_str() {
        "checklist" => {
            let Some(items) = s.items else {
                c.problem(
                    id_span,
                    &format!("{path}.items"),
                    "a checklist step needs `items`".into(),
                    "items = [{ id = \"tests\", text = \"CI is green\" }]",
                );
                return None;
            };
            if items.get_ref().is_empty() {
                c.problem(
                    items.span(),
                    &format!("{path}.items"),
                    "a checklist needs at least one item".into(),
                    "add items, or remove the step",
                );
            }
            let mut seen = BTreeSet::new();
            let mut out = Vec::new();
            for (i, item) in items.into_inner().into_iter().enumerate() {
                let item = item.into_inner();
                if !seen.insert(item.id.get_ref().clone()) {
                    c.problem(
                        item.id.span(),
                        &format!("{path}.items[{i}].id"),
                        format!("duplicate item id `{}`", item.id.get_ref()),
                        "item ids must be unique within their checklist",
                    );
                }
                out.push(Item {
                    id: item.id.into_inner(),
                    text: item.text,
                    help: item.help,
                    runbook: item.runbook,
                });
            }
            StepKind::Checklist { items: out }
        }
        "gate" => {
            let approvals = match &s.approvals {
                Some(a) if *a.get_ref() < 1 => {
                    c.problem(
                        a.span(),
                        &format!("{path}.approvals"),
                        format!("a gate needing {} approvers would pass by itself", a.get_ref()),
                        "require at least 1, or leave it out to use the release type's number",
                    );
                    None
                }
                Some(a) if *a.get_ref() > MAX_APPROVALS => {
                    c.problem(
                        a.span(),
                        &format!("{path}.approvals"),
                        format!("must be 1 to {MAX_APPROVALS}, found {}", a.get_ref()),
                        "a gate counts distinct people; ask for a number a team can give",
                    );
                    None
                }
                Some(a) => u32::try_from(*a.get_ref()).ok(),
                None => None,
            };
            let requires = check_requires(c, path, s.requires.as_ref(), roles);
            let min_wait =
                c.duration(s.min_wait.as_ref(), &format!("{path}.min_wait"), Duration::ZERO);
            let deadline =
                gate_deadline(c, s.timeout.as_ref(), s.on_timeout.as_ref(), path, min_wait);
            let inputs = gate_inputs(c, s.inputs.as_ref(), path);
            StepKind::Gate { approvals, min_wait, requires, deadline, inputs }
        }
        "action" | "deploy" => {
            let Some(action) = s.action else {
                c.problem(
                    id_span,
                    &format!("{path}.action"),
                    format!("a {kind_word} step needs `action`"),
                    "name a key under [actions]",
                );
                return None;
            };
            if !actions.contains_key(action.get_ref()) {
                let known: Vec<&str> = actions.keys().map(String::as_str).collect();
                c.problem(
                    action.span(),
                    &format!("{path}.action"),
                    format!("refers to unknown action `{}`", action.get_ref()),
                    &format!(
                        "define [actions.{}] or use one of: {}",
                        action.get_ref(),
                        known.join(", ")
                    ),
                );
            }
            let on_failure = match s.on_failure.as_ref().map(|v| (v.get_ref().as_str(), v.span())) {
                None | Some(("ask", _)) => OnActionFailure::Ask,
                Some(("pause", _)) => OnActionFailure::Pause,
                Some(("rollback", _)) => OnActionFailure::Rollback,
                Some((other, span)) => {
                    c.problem(
                        span,
                        &format!("{path}.on_failure"),
                        format!("`{other}` is not a choice"),
                        "use \"ask\" (wait for a person, the default), \"pause\" or \"rollback\"",
                    );
                    OnActionFailure::Ask
                }
            };
            if kind_word == "deploy" {
                let progress = deploy::check_progress(c, path, s.progress, known, known.metrics);
                StepKind::Deploy { action: action.into_inner(), on_failure, progress, target: 100 }
            } else {
                StepKind::Action { action: action.into_inner(), on_failure }
            }
        }
        "traffic" => {
            let Some(weight) = s.weight else {
                c.problem(
                    id_span,
                    &format!("{path}.weight"),
                    "a traffic step needs `weight`".into(),
                    "the percent of traffic for the new version, e.g. weight = 10",
                );
                return None;
            };
            let w = *weight.get_ref();
            if !(0..=100).contains(&w) {
                c.problem(
                    weight.span(),
                    &format!("{path}.weight"),
                    format!("{w} is outside 0..=100"),
                    "a weight is a percent of traffic",
                );
                return None;
            }
            let w = u8::try_from(w).unwrap_or(0);
            if let Some((prev, prev_id)) = last_weight.as_ref() {
                if w <= *prev {
                    c.problem(
                        weight.span(),
                        &format!("{path}.weight"),
                        format!("{w}% does not increase on `{prev_id}` ({prev}%)"),
                        "traffic steps must rise; a decrease is what rollback is for",
                    );
                }
            }
            *last_weight = Some((w, s.id.get_ref().clone()));
            StepKind::Traffic { weight: w }
        }
        _ => {
            let Some(duration) = s.duration.as_ref() else {
                c.problem(
                    id_span,
                    &format!("{path}.duration"),
                    "a bake step needs `duration`".into(),
                    "how long to watch, e.g. duration = \"10m\"",
                );
                return None;
            };
            let duration =
                c.duration(Some(duration), &format!("{path}.duration"), Duration::from_secs(60));
            let probes = match s.probes {
                Some(p) if !p.get_ref().is_empty() => p.into_inner(),
                Some(p) => {
                    c.problem(
                        p.span(),
                        &format!("{path}.probes"),
                        "a bake without probes watches nothing".into(),
                        "list health or metric ids to watch",
                    );
                    Vec::new()
                }
                None => {
                    c.problem(
                        id_span,
                        &format!("{path}.probes"),
                        "a bake without probes watches nothing".into(),
                        "add probes = [\"error_rate\", ...] naming [[health]] or [[metrics]] ids",
                    );
                    Vec::new()
                }
            };
            known_probes(c, &probes, &format!("{path}.probes"), probe_ids);
            let on_breach = on_breach(c, s.on_breach.as_ref(), &format!("{path}.on_breach"));
            let mut checkpoints = Vec::new();
            for (i, cp) in s.checkpoints.iter().flatten().enumerate() {
                let d = c.duration(Some(cp), &format!("{path}.checkpoints[{i}]"), Duration::ZERO);
                if d > duration {
                    c.problem(
                        cp.span(),
                        &format!("{path}.checkpoints[{i}]"),
                        "checkpoint falls after the bake ends".into(),
                        "keep checkpoints within the bake's duration",
                    );
                }
                checkpoints.push(d);
            }
            StepKind::Bake {
                duration,
                probes: probes.into_iter().map(Spanned::into_inner).collect(),
                on_breach,
                checkpoints,
            }
        }
    };
    let environment = match s.environment {
        Some(e) if e.get_ref().trim().is_empty() => {
            c.problem(
                e.span(),
                &format!("{path}.environment"),
                "must not be empty".into(),
                "name the environment this step acts on, or leave it out to use the stage's",
            );
            stage_environment.to_owned()
        }
        Some(e) => e.into_inner(),
        None => stage_environment.to_owned(),
    };
    Some(Step {
        name: s.name.unwrap_or_else(|| s.id.get_ref().clone()),
        environment,
        id: s.id.into_inner(),
        help: s.help,
        runbook: s.runbook,
        kind,
        auto_start: false,
    })
}

/// Every id of a probe list names a `[[health]]` or `[[metrics]]` entry.
fn known_probes(
    c: &mut Checker<'_>,
    probes: &[Spanned<String>],
    field: &str,
    probe_ids: &BTreeSet<String>,
) {
    for (i, p) in probes.iter().enumerate() {
        if !probe_ids.contains(p.get_ref()) {
            c.problem(
                p.span(),
                &format!("{field}[{i}]"),
                format!("refers to unknown probe `{}`", p.get_ref()),
                "name an id from [[health]] or [[metrics]]",
            );
        }
    }
}

/// What an abort-level breach does: `"rollback"` (the default) or `"pause"`.
fn on_breach(c: &mut Checker<'_>, value: Option<&Spanned<String>>, field: &str) -> OnBreach {
    match value.map(|v| (v.get_ref().as_str(), v.span())) {
        None | Some(("rollback", _)) => OnBreach::Rollback,
        Some(("pause", _)) => OnBreach::Pause,
        Some((other, span)) => {
            c.problem(
                span,
                field,
                format!("`{other}` is not a choice"),
                "use \"rollback\" (the default) or \"pause\"",
            );
            OnBreach::Rollback
        }
    }
}

/// The `[traffic]` provider fields, checked; a provider refuses the set and read actions it
/// replaces.
fn check_provider(
    c: &mut Checker<'_>,
    t: &super::raw::RawTraffic,
    table: Range<usize>,
    actions: &BTreeMap<String, ActionSpec>,
) -> Option<super::provider::ProviderSpec> {
    let raw = super::provider::RawProvider {
        provider: t.provider.as_ref(),
        socket: t.socket.as_ref(),
        address: t.address.as_ref(),
        backend: t.backend.as_ref(),
        stable_server: t.stable_server.as_ref(),
        canary_server: t.canary_server.as_ref(),
        table,
    };
    let mut problems = Vec::new();
    let spec = super::provider::check(&raw, &mut problems);
    for p in problems {
        c.problem(p.span, &p.field, p.message, &p.hint);
    }
    let spec = spec?;
    for (field, value) in [("set", &t.set), ("read", &t.read)] {
        if let Some(v) = value {
            c.problem(
                v.span(),
                &format!("traffic.{field}"),
                format!("`provider = \"{}\"` sets and reads the weight itself", spec.name()),
                &format!("remove {field} = \"{}\" (or the provider, to keep driving traffic with actions)", v.get_ref()),
            );
        }
    }
    if actions.contains_key(spec.name()) {
        c.problem(
            t.provider.as_ref().map_or(0..0, Spanned::span),
            "traffic.provider",
            format!("an action is also named `{}`, the name events give the provider", spec.name()),
            "rename that action",
        );
    }
    Some(spec)
}

/// A gate's `timeout` and `on_timeout` (`reject` unless said): a timeout must be longer than
/// the gate's `min_wait`, or the gate could never pass.
fn gate_deadline(
    c: &mut Checker<'_>,
    timeout: Option<&Spanned<String>>,
    on_timeout: Option<&Spanned<String>>,
    path: &str,
    min_wait: Duration,
) -> Option<crate::plan::GateDeadline> {
    use crate::plan::OnTimeout;
    let on_timeout_word = on_timeout;
    let on_timeout = match on_timeout_word {
        None => OnTimeout::Reject,
        Some(word) => match OnTimeout::parse(word.get_ref()) {
            Some(o) => o,
            None => {
                c.problem(
                    word.span(),
                    &format!("{path}.on_timeout"),
                    format!("`{}` is not what a gate can do on timeout", word.get_ref()),
                    "use \"reject\" (the default) or \"pause\"",
                );
                OnTimeout::Reject
            }
        },
    };
    let Some(raw) = timeout else {
        if let Some(word) = on_timeout_word {
            c.problem(
                word.span(),
                &format!("{path}.on_timeout"),
                "`on_timeout` without a `timeout` never applies".into(),
                "add `timeout = \"30m\"` (how long the gate may wait), or remove on_timeout",
            );
        }
        return None;
    };
    let timeout = c.duration(Some(raw), &format!("{path}.timeout"), Duration::ZERO);
    if timeout.is_zero() {
        return None;
    }
    if timeout <= min_wait {
        c.problem(
            raw.span(),
            &format!("{path}.timeout"),
            format!(
                "the gate times out after {} but may not pass before {} (min_wait)",
                crate::plan::format_duration(timeout),
                crate::plan::format_duration(min_wait)
            ),
            "make the timeout longer than min_wait",
        );
        return None;
    }
    Some(crate::plan::GateDeadline { timeout, on_timeout })
}

/// A gate's `inputs`: unique ids, a prompt each, and patterns that compile.
fn gate_inputs(
    c: &mut Checker<'_>,
    raw: Option<&Spanned<Vec<Spanned<RawGateInput>>>>,
    path: &str,
) -> Vec<crate::plan::GateInput> {
    let mut out: Vec<crate::plan::GateInput> = Vec::new();
    for (i, input) in raw.map(|r| r.get_ref().as_slice()).unwrap_or_default().iter().enumerate() {
        let input = input.get_ref();
        let field = format!("{path}.inputs[{i}]");
        let id = input.id.get_ref().trim();
        if id.is_empty() || !id.chars().all(|ch| ch.is_ascii_alphanumeric() || "-_".contains(ch)) {
            c.problem(
                input.id.span(),
                &format!("{field}.id"),
                format!("`{id}` is not an input id"),
                "use letters, digits, - and _ (it is typed as `approve --input ID=VALUE`)",
            );
            continue;
        }
        if out.iter().any(|o| o.id == id) {
            c.problem(
                input.id.span(),
                &format!("{field}.id"),
                format!("input `{id}` is declared twice in this gate"),
                "give each input its own id",
            );
            continue;
        }
        let pattern = input.pattern.as_ref().and_then(|p| match regex::Regex::new(p.get_ref()) {
            Ok(_) => Some(p.get_ref().clone()),
            Err(e) => {
                c.problem(
                    p.span(),
                    &format!("{field}.pattern"),
                    format!("the pattern does not compile: {e}"),
                    "write a regular expression such as \"^CHG-[0-9]+$\"",
                );
                None
            }
        });
        out.push(crate::plan::GateInput {
            id: id.to_owned(),
            prompt: input.prompt.clone(),
            pattern,
        });
    }
    out
}

/// `mon`..`sun` or the whole name (`tuesday`), any case; nothing else (`tuesday-ish` is
/// not a day).
fn weekday_index(written: &str) -> Option<usize> {
    const NAMES: [&str; 7] =
        ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"];
    let word = written.trim().to_ascii_lowercase();
    NAMES.iter().position(|full| word == *full || word == full[..3])
}

/// One `[[windows]]` entry: allow or deny, weekdays, `from`–`to` (local, `from` before `to`),
/// an IANA time zone the bundled database knows, an optional `until` date, release types.
fn check_window(
    c: &mut Checker<'_>,
    i: usize,
    raw: Spanned<RawWindow>,
) -> Option<crate::plan::windows::Window> {
    use crate::plan::windows::{Window, WindowKind, known_timezone, parse_clock};
    let w = raw.into_inner();
    let path = format!("windows[{i}]");
    let kind = match w.kind.get_ref().as_str() {
        "allow" => WindowKind::Allow,
        "deny" => WindowKind::Deny,
        other => {
            c.problem(
                w.kind.span(),
                &format!("{path}.kind"),
                format!("`{other}` is not a window kind"),
                "use \"allow\" (releases start only inside) or \"deny\" (a freeze)",
            );
            return None;
        }
    };
    let mut days = Vec::new();
    for d in &w.days {
        match weekday_index(d.get_ref()) {
            Some(n) => days.push(u8::try_from(n).unwrap_or(0)),
            None => c.problem(
                d.span(),
                &format!("{path}.days"),
                format!("`{}` is not a weekday", d.get_ref()),
                "use mon, tue, wed, thu, fri, sat or sun",
            ),
        }
    }
    let mut clock = |v: &Option<Spanned<String>>, field: &str, default: u16| match v {
        None => default,
        Some(t) => parse_clock(t.get_ref()).unwrap_or_else(|| {
            c.problem(
                t.span(),
                &format!("{path}.{field}"),
                format!("`{}` is not a time of day", t.get_ref()),
                "write HH:MM, e.g. \"10:00\" (\"24:00\" for the end of the day)",
            );
            default
        }),
    };
    let from_minute = clock(&w.from, "from", 0);
    let to_minute = clock(&w.to, "to", 24 * 60);
    if from_minute >= to_minute {
        c.problem(
            w.to.as_ref().map_or(w.name.span(), Spanned::span),
            &format!("{path}.to"),
            "the window ends before it starts".into(),
            "make `to` later than `from` (split a window across midnight in two)",
        );
        return None;
    }
    let timezone = w.timezone.as_ref().map_or_else(|| "UTC".to_owned(), |t| t.get_ref().clone());
    if !known_timezone(&timezone) {
        let span = w.timezone.as_ref().map_or(w.name.span(), Spanned::span);
        c.problem(
            span,
            &format!("{path}.timezone"),
            format!("`{timezone}` is not a time zone flightdeck knows"),
            "use an IANA name such as \"Europe/Berlin\", \"America/New_York\" or \"UTC\"",
        );
        return None;
    }
    let until = match &w.until {
        None => None,
        Some(t) => match t.get_ref().parse::<jiff::civil::Date>() {
            Ok(d) => Some((d.year(), d.month(), d.day())),
            Err(_) => {
                c.problem(
                    t.span(),
                    &format!("{path}.until"),
                    format!("`{}` is not a date", t.get_ref()),
                    "write YYYY-MM-DD, the last day the window applies (in its time zone)",
                );
                return None;
            }
        },
    };
    let mut release_types = Vec::new();
    for t in &w.release_types {
        match ReleaseType::parse(t.get_ref()) {
            Some(rt) => release_types.push(rt),
            None => c.problem(
                t.span(),
                &format!("{path}.release_types"),
                format!("`{}` is not a release type", t.get_ref()),
                "use regular, hotfix or emergency",
            ),
        }
    }
    Some(Window {
        name: w.name.into_inner(),
        kind,
        days,
        from_minute,
        to_minute,
        timezone,
        until,
        release_types,
    })
}
