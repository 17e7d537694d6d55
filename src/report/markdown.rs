//! The report as Markdown for a code host: headings, pipe tables and fenced output excerpts.
//! Pure text from a [`Report`]; every cell is escaped so a `|` in a note cannot break a table.

use std::fmt::Write;
use std::time::Duration;

use super::overview::{mark, with_unit};
use super::production::capitalised;
use super::{ActionRunReport, Report, Time, number};
use crate::plan::format_duration;
use crate::release::{format_date_time, format_elapsed};

/// Renders the report as Markdown: a first page a manager reads in a minute (outcome,
/// approvals, before → after, issues), then the whole record as an appendix.
pub fn render(r: &Report) -> String {
    let mut out = String::new();
    summary(&mut out, r);
    before_after(&mut out, r);
    issues(&mut out, r);
    let _ = writeln!(out, "---\n\n# Appendix: the record in detail\n");
    timeline(&mut out, r);
    approvals_and_checks(&mut out, r);
    actions(&mut out, r);
    metrics(&mut out, r);
    rollback(&mut out, r);
    audit(&mut out, r);
    out
}

/// Escapes text for a table cell: pipes and line breaks, HTML, and the emphasis and code
/// markers that could pair up across a cell (`_` and `*` inside a word are left alone, as
/// code hosts do not treat them as emphasis there).
fn cell(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut s = String::with_capacity(text.len());
    for (i, &c) in chars.iter().enumerate() {
        let word =
            |j: Option<usize>| j.and_then(|j| chars.get(j)).is_some_and(|c| c.is_alphanumeric());
        match c {
            '|' => s.push_str("\\|"),
            '\n' => s.push_str("<br>"),
            '\r' => {}
            '<' => s.push_str("&lt;"),
            '`' | '\\' => {
                s.push('\\');
                s.push(c);
            }
            '_' | '*' if !(word(i.checked_sub(1)) && word(Some(i + 1))) => {
                s.push('\\');
                s.push(c);
            }
            c => s.push(c),
        }
    }
    s
}

/// An id in code style (backticks cannot occur in plan ids, but are dropped to be sure).
fn code(text: &str) -> String {
    format!("`{}`", text.replace('`', "'").replace('|', "\\|"))
}

fn time(t: Time) -> String {
    format_date_time(t.0)
}

fn opt_time(t: Option<Time>) -> String {
    t.map_or_else(|| "—".into(), time)
}

fn span(ms: Option<u64>) -> String {
    ms.map_or_else(|| "—".into(), format_elapsed)
}

/// An action's run time: `800ms`, `2m14s`.
fn took(ms: Option<u64>) -> String {
    ms.map_or_else(|| "—".into(), |ms| format_duration(Duration::from_millis(ms)))
}

fn opt_num(v: Option<f64>) -> String {
    v.map_or_else(|| "—".into(), number)
}

fn table(out: &mut String, header: &[&str], rows: &[Vec<String>]) {
    let _ = writeln!(out, "| {} |", header.join(" | "));
    let _ = writeln!(out, "|{}", header.iter().map(|_| "---|").collect::<String>());
    for row in rows {
        let _ = writeln!(out, "| {} |", row.join(" | "));
    }
    out.push('\n');
}

fn summary(out: &mut String, r: &Report) {
    let s = &r.release;
    let o = &r.overview;
    let _ = writeln!(
        out,
        "# Deployment report: {} {} → {}\n",
        cell(&s.service),
        cell(&s.version),
        cell(&s.environment)
    );
    let mut kind = cell(&s.release_type);
    if !s.skipped_stages.is_empty() {
        kind.push_str(&format!(
            " (skips stages {}, decided at start)",
            cell(&s.skipped_stages.join(", "))
        ));
    }
    let versions = match &s.previous_version {
        Some(prev) => format!("{} → {}", cell(prev), cell(&s.version)),
        None => cell(&s.version),
    };
    let mut rows = vec![
        vec!["Outcome".into(), format!("**{}**", cell(&o.outcome))],
        vec!["Release".into(), format!("#{} · {kind} · {versions}", s.id)],
        vec![
            "Started".into(),
            match (&s.started_at, &s.started_by) {
                (Some(at), Some(by)) => format!("{} UTC by {}", time(*at), cell(by)),
                _ => "—".into(),
            },
        ],
        vec![
            "Ended".into(),
            s.ended_at.map_or_else(
                || "— (still open)".into(),
                |t| format!("{} UTC, after {}", time(t), span(s.duration_ms)),
            ),
        ],
        vec![
            "Approved".into(),
            if o.approved_by.is_empty() {
                "no gates".into()
            } else {
                cell(&o.approved_by.join("; "))
            },
        ],
        production_row(r, cell),
        vec![
            "Smoke tests".into(),
            if r.smoke_tests.is_empty() {
                "none ran".into()
            } else {
                r.smoke_tests
                    .iter()
                    .map(|a| format!("{} {} ({})", code(&a.step), a.outcome, took(a.duration_ms)))
                    .collect::<Vec<_>>()
                    .join(", ")
            },
        ],
        vec![
            "Rollback".into(),
            if !r.rollback.needed {
                "not needed".into()
            } else if r.rollback.automatic {
                "**yes, automatic**".into()
            } else {
                format!("**yes**, by {}", r.rollback.by.as_deref().map_or_else(String::new, cell))
            },
        ],
    ];
    if let Some(w) = r.watch.as_ref().filter(|w| w.from.is_some()) {
        rows.push(vec!["Watch after release".into(), cell(&capitalised(&w.text))]);
    }
    if let Some(breach) = o.first_breach_at {
        let after = |ms: Option<u64>| ms.map_or_else(|| "—".into(), |ms| took(Some(ms)));
        rows.push(vec![
            "First breach".into(),
            format!(
                "{} UTC; rollback requested {} later, {} {} later",
                time(breach),
                after(o.breach_to_rollback_ms),
                stable_words(r),
                after(o.breach_to_stable_ms)
            ),
        ]);
    }
    if let Some(reason) = &s.abort_reason {
        rows.push(vec!["Aborted because".into(), cell(reason)]);
    }
    if let Some(head) = &s.chain_head {
        rows.push(vec!["Chain head".into(), code(head)]);
    }
    table(out, &["", ""], &rows);
}

/// The summary's row for production: the traffic weight, or the rollout or swap in words.
pub(super) fn production_row(r: &Report, escape: impl Fn(&str) -> String) -> Vec<String> {
    let s = &r.release;
    if s.production.is_traffic() {
        vec!["Final traffic".into(), format!("{}% on {}", s.final_weight, escape(&s.version))]
    } else {
        vec!["Production".into(), escape(&s.production.text)]
    }
}

/// What "back on the stable version" means for the strategy.
pub(super) fn stable_words(r: &Report) -> &'static str {
    if r.release.production.is_traffic() { "traffic at 0%" } else { "rollback finished" }
}

/// For rolling and swap releases, which readings "before" and "after" are.
pub(super) fn comparison_window(r: &Report) -> Option<String> {
    let p = &r.release.production;
    if p.is_traffic() {
        return None;
    }
    let before = match p.change_started_at {
        Some(t) => format!("before the deploy started ({} UTC)", time(t)),
        None => "before any deploy".to_owned(),
    };
    let after = match p.change_finished_at {
        Some(t) => format!("from the deploy's end ({} UTC) to the release's end", time(t)),
        None => "none: the deploy did not finish".to_owned(),
    };
    Some(format!("Baseline: {before}; after: {after}."))
}

fn before_after(out: &mut String, r: &Report) {
    let o = &r.overview;
    let _ = writeln!(out, "## Before → after\n");
    if o.series.is_empty() {
        let note = o.readings_note.as_deref().unwrap_or("No metric readings were stored.");
        let _ = writeln!(out, "{}\n", cell(note));
        return;
    }
    if let Some(window) = comparison_window(r) {
        let _ = writeln!(out, "{}\n", cell(&window));
    }
    let traffic = r.release.production.is_traffic();
    let mut weights: Vec<u8> = Vec::new();
    for s in &o.series {
        for l in &s.levels {
            if !weights.contains(&l.weight) {
                weights.push(l.weight);
            }
        }
    }
    let mut header: Vec<String> = vec!["Series".into(), "Baseline".into()];
    header.extend(weights.iter().map(|w| format!("at {w}%")));
    header.extend([if traffic { "Final" } else { "After" }.into(), "Thresholds".into(), "".into()]);
    let header: Vec<&str> = header.iter().map(String::as_str).collect();
    let rows: Vec<Vec<String>> = o
        .series
        .iter()
        .map(|s| {
            let v = |x: Option<f64>| x.map_or_else(|| "—".into(), |x| cell(&with_unit(x, &s.unit)));
            let mut row = vec![code(&s.series), v(s.baseline)];
            row.extend(
                weights
                    .iter()
                    .map(|w| v(s.levels.iter().find(|l| l.weight == *w).and_then(|l| l.mean))),
            );
            row.push(v(if traffic { s.last } else { s.after }));
            row.push(cell(&s.thresholds));
            row.push(mark(&s.verdict).into());
            row
        })
        .collect();
    table(out, &header, &rows);
}

fn issues(out: &mut String, r: &Report) {
    let _ = writeln!(out, "## Issues encountered\n");
    if r.overview.issues.is_empty() {
        let _ = writeln!(out, "None.\n");
        return;
    }
    let rows: Vec<Vec<String>> =
        r.overview.issues.iter().map(|i| vec![time(i.at), cell(&i.kind), cell(&i.text)]).collect();
    table(out, &["Time (UTC)", "What", "Details"], &rows);
}

fn timeline(out: &mut String, r: &Report) {
    let _ = writeln!(out, "## Timeline\n");
    let rows: Vec<Vec<String>> = r
        .timeline
        .iter()
        .map(|t| {
            vec![t.seq.to_string(), time(t.at), cell(&t.event), cell(&t.actor), cell(&t.result)]
        })
        .collect();
    table(out, &["#", "Time (UTC)", "Event", "Actor", "Result"], &rows);
}

/// One row per gate and per checklist: who approved, answered or ticked what, and when, in
/// one cell (a line each).
fn approvals_and_checks(out: &mut String, r: &Report) {
    let _ = writeln!(out, "## Gates and checklists\n");
    if r.gates.is_empty() && r.checklists.is_empty() {
        let _ = writeln!(out, "The plan has no gates or checklists.\n");
        return;
    }
    let who = |by: Option<&str>, at: Option<Time>| {
        format!("{}, {}", by.map_or_else(|| "—".into(), cell), opt_time(at))
    };
    let mut rows: Vec<Vec<String>> = Vec::new();
    for g in &r.gates {
        let step = format!(
            "{} ({}), {}, {}/{} approvals",
            cell(&g.name),
            code(&g.step),
            g.status,
            g.approvals.len(),
            g.approvals_needed
        );
        let mut decisions: Vec<String> = Vec::new();
        for a in &g.approvals {
            decisions.push(format!("approved: {}", who(Some(&a.by), Some(a.at))));
        }
        for i in &g.inputs {
            let what = match &i.value {
                Some(v) => format!("{} ({}) = {}", cell(&i.prompt), code(&i.id), code(v)),
                None => format!("{} ({}) not given", cell(&i.prompt), code(&i.id)),
            };
            decisions.push(format!("{what}: {}", who(i.by.as_deref(), i.at)));
        }
        for a in &g.no_gos {
            let why = a.reason.as_deref().map_or_else(String::new, |r| format!(" ({})", cell(r)));
            decisions.push(format!("**no-go**{why}: {}", who(Some(&a.by), Some(a.at))));
        }
        if decisions.is_empty() {
            decisions.push("no approvals".into());
        }
        rows.push(vec![step, decisions.join("<br>")]);
    }
    for c in &r.checklists {
        let ticked = c.items.iter().filter(|i| i.ticked).count();
        let step = format!(
            "{} ({}), {}, {ticked}/{} ticked",
            cell(&c.name),
            code(&c.step),
            c.status,
            c.items.len()
        );
        let items: Vec<String> = c
            .items
            .iter()
            .map(|i| {
                let mark = if i.ticked { "✓" } else { "·" };
                let what = format!("{mark} {} ({})", cell(&i.text), code(&i.id));
                if i.by.is_none() && i.at.is_none() {
                    what
                } else {
                    format!("{what}: {}", who(i.by.as_deref(), i.at))
                }
            })
            .collect();
        rows.push(vec![step, items.join("<br>")]);
    }
    table(out, &["Step", "Who did what, when (UTC)"], &rows);
}

fn fence(text: &str) -> String {
    let mut longest = 0;
    let mut run = 0;
    for c in text.chars() {
        if c == '`' {
            run += 1;
            longest = longest.max(run);
        } else {
            run = 0;
        }
    }
    "`".repeat(longest.max(2) + 1)
}

/// How many lines of a succeeded run's output the Markdown quotes.
const SUCCEEDED_OUTPUT_LINES: usize = 5;

/// A run's header line in the output block: everything about the run but its output.
fn run_header(a: &ActionRunReport) -> String {
    let action = if a.action == a.step { String::new() } else { format!(" (action {})", a.action) };
    let exit = a.exit_code.map_or_else(String::new, |c| format!(", exit {c}"));
    let mut result = a.outcome.clone();
    if let Some(e) = &a.error {
        result.push_str(&format!(": {e}"));
    }
    if let Some(res) = &a.resolution {
        result.push_str(&format!(
            "; marked {} by {} at {} UTC: {}",
            if res.succeeded { "succeeded" } else { "failed" },
            res.by,
            time(res.at),
            res.reason
        ));
    }
    format!(
        "── {}{action}, attempt {}, by {}, started {} UTC, took {}{exit}: {result}",
        a.step,
        a.attempt,
        a.started_by,
        time(a.started_at),
        took(a.duration_ms)
    )
}

/// Every run in one block, each under a header line naming the run and how it went: a run that
/// went well needs its last few lines of output; one that did not, all we kept.
fn actions(out: &mut String, r: &Report) {
    let _ = writeln!(out, "## Actions\n");
    if r.actions.is_empty() {
        let _ = writeln!(out, "No action ran.\n");
        return;
    }
    let mut block = String::new();
    for a in &r.actions {
        let _ = writeln!(block, "{}", run_header(a));
        let Some(text) = a.output_excerpt.as_deref().filter(|t| !t.is_empty()) else { continue };
        let keep = if a.outcome == "succeeded" { SUCCEEDED_OUTPUT_LINES } else { usize::MAX };
        let lines: Vec<&str> = text.lines().collect();
        for line in &lines[lines.len().saturating_sub(keep)..] {
            let _ = writeln!(block, "{line}");
        }
    }
    let f = fence(&block);
    let _ = writeln!(
        out,
        "Each run, then the last {SUCCEEDED_OUTPUT_LINES} lines of its output (all we kept if \
         it did not succeed):\n\n{f}text\n{block}{f}\n"
    );
}

fn metrics(out: &mut String, r: &Report) {
    let m = &r.metrics;
    let _ = writeln!(out, "## Metrics\n");
    // With none, "Issues encountered" already says so.
    if !m.breaches.is_empty() {
        let _ = writeln!(out, "### Threshold breaches\n");
        let rows: Vec<Vec<String>> = m
            .breaches
            .iter()
            .map(|b| {
                vec![
                    time(b.at),
                    code(&b.step),
                    if b.level == "abort" { "**ABORT**".into() } else { "warn".into() },
                    cell(&b.explanation),
                ]
            })
            .collect();
        table(out, &["Time (UTC)", "Bake", "Level", "What"], &rows);
        // Only needed to tell the readings from the breaches above them.
        let _ = writeln!(out, "### Readings\n");
    }
    if m.windows.is_empty() {
        let note = r.overview.readings_note.as_deref().unwrap_or("No probe readings were stored.");
        let _ = writeln!(out, "{}\n", cell(note));
        return;
    }
    if r.release.production.is_traffic() {
        let _ = writeln!(
            out,
            "Before traffic moved, during each bake, the rollback and after (every step's window \
             and each traffic level's from and until are in the JSON report; the timeline says who \
             moved traffic when). Margins are the distance from the worst reading to the limit; \
             negative means past it."
        );
    } else {
        let _ = writeln!(
            out,
            "Before the deploy, during each bake, after the deploy (to the release's end), the \
             rollback and after the release (every step's window is in the JSON report; the \
             timeline has the rollout's progress). Margins are the distance from the worst \
             reading to the limit; negative means past it."
        );
    }
    let mut rows: Vec<Vec<String>> = Vec::new();
    for w in m.windows.iter().filter(|w| w.step.is_none() || w.step_kind.as_deref() == Some("bake"))
    {
        let until = w.until.map_or_else(|| "…".into(), |t| format_date_time(t.0)[11..].to_owned());
        let label = format!("{} ({} → {until})", cell(&w.label), &time(w.from)[11..]);
        // Health round trips are in the JSON; the table is for what the plan watches.
        let watched: Vec<_> = w.series.iter().filter(|s| s.kind != "health").collect();
        // A series with no reading in the window has nothing for a row: one line says so.
        let empty: Vec<String> = watched
            .iter()
            .filter(|s| s.samples == 0)
            .map(|s| format!("{} ({} gaps)", code(&s.series), s.gaps))
            .collect();
        if !empty.is_empty() {
            let _ = writeln!(out, "- No readings {label}: {}.", empty.join(", "));
        }
        for s in watched.into_iter().filter(|s| s.samples > 0) {
            rows.push(vec![
                label.clone(),
                code(&s.series),
                format!("{} ({} gaps)", s.samples, s.gaps),
                opt_num(s.min),
                opt_num(s.mean),
                opt_num(s.max),
                opt_num(s.baseline),
                s.vs_baseline_pct.map_or_else(|| "—".into(), |p| format!("{}%", number(p))),
                match (&s.warn, s.warn_margin) {
                    (Some(t), m) => format!("{} ({})", cell(t), opt_num(m)),
                    (None, _) => "—".into(),
                },
                match (&s.abort, s.abort_margin) {
                    (Some(t), m) => format!("{} ({})", cell(t), opt_num(m)),
                    (None, _) => "—".into(),
                },
            ]);
        }
    }
    out.push('\n');
    if rows.is_empty() {
        return;
    }
    table(
        out,
        &[
            "Window (UTC)",
            "Series",
            "Readings",
            "Min",
            "Mean",
            "Max",
            "Baseline",
            "Mean vs baseline",
            "Warn (margin)",
            "Abort (margin)",
        ],
        &rows,
    );
}

fn rollback(out: &mut String, r: &Report) {
    let rb = &r.rollback;
    // The first page says when none was needed.
    if !rb.needed {
        return;
    }
    let _ = writeln!(out, "## Rollback\n");
    let reason = rb.reason.as_deref().unwrap_or_default();
    let mut rows = vec![
        vec!["Started by".into(), rb.by.as_deref().map_or_else(String::new, cell)],
        vec!["Automatic".into(), if rb.automatic { "yes".into() } else { "no".into() }],
        vec!["Reason".into(), cell(reason)],
    ];
    if let Some(t) = rb.trigger.as_deref().filter(|t| !reason.contains(*t)) {
        rows.push(vec!["Triggered by".into(), cell(t)]);
    }
    rows.push(vec!["Started".into(), opt_time(rb.started_at)]);
    rows.push(vec![
        "Finished".into(),
        rb.finished_at.map_or_else(|| "— (not finished)".into(), time),
    ]);
    rows.push(vec!["Took".into(), span(rb.duration_ms)]);
    table(out, &["", ""], &rows);
    let rows: Vec<Vec<String>> = rb
        .steps
        .iter()
        .map(|s| {
            vec![
                code(&s.id),
                code(&s.action),
                s.status.clone(),
                s.outcome.clone().unwrap_or_else(|| "—".into()),
                took(s.duration_ms),
            ]
        })
        .collect();
    if !rows.is_empty() {
        table(out, &["Step", "Action", "Status", "Outcome", "Duration"], &rows);
    }
}

fn audit(out: &mut String, r: &Report) {
    let a = &r.audit;
    let _ = writeln!(out, "## Audit\n");
    let chain = match (&a.chain.problem, &a.chain.head) {
        (Some(p), _) => format!("**TAMPERED**: {}", cell(p)),
        (None, Some(head)) => format!("intact, head {}", code(head)),
        (None, None) => "intact (no chained events)".into(),
    };
    let mut rows = vec![
        vec!["Git SHA".into(), a.sha.as_deref().map_or_else(|| "—".into(), code)],
        vec!["Image".into(), a.image.as_deref().map_or_else(|| "—".into(), code)],
        vec!["Plan".into(), format!("{} (sha256 {})", code(&a.plan_path), code(&a.plan_sha256))],
        vec!["Events".into(), a.events.to_string()],
        vec!["Hash chain".into(), chain],
    ];
    if a.chain.unchained > 0 {
        rows.push(vec![
            "Unchained".into(),
            format!("{} events written before chain support", a.chain.unchained),
        ]);
    }
    table(out, &["", ""], &rows);
    if !a.overrides.is_empty() {
        let _ = writeln!(out, "### Manual overrides\n");
        for o in &a.overrides {
            let _ = writeln!(out, "- **{}**", cell(o));
        }
        let _ = writeln!(out);
    }
    let _ = writeln!(out, "### Who did what\n");
    let rows: Vec<Vec<String>> = a
        .actors
        .iter()
        .map(|p| {
            vec![cell(&p.name), cell(&p.account), p.events.to_string(), cell(&p.did.join(", "))]
        })
        .collect();
    table(out, &["Who", "Account", "Events", "Did"], &rows);
}
