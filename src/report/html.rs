//! The report as one self-contained HTML file: inline CSS, inline SVG sparklines, no scripts,
//! no fonts or images fetched from anywhere. The first page a manager reads, then the record
//! in detail. Pure text from a [`Report`]; every piece of recorded text is escaped.

use std::fmt::Write;
use std::time::Duration;

use super::markdown::{comparison_window, production_row, stable_words};
use super::overview::{mark, with_unit};
use super::production::capitalised;
use super::{Report, Time};
use crate::plan::format_duration;
use crate::release::{format_date_time, format_elapsed};

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;\
padding:0 1rem;color:#222}table{border-collapse:collapse;margin:.5rem 0 1.5rem}\
td,th{border:1px solid #ccc;padding:.25rem .5rem;text-align:left;vertical-align:top}\
th{background:#f3f3f3}.ok{color:#17702e}.bad{color:#b3261e;font-weight:bold}\
.warn{color:#8a5a00}pre{background:#f6f6f6;padding:.5rem;overflow-x:auto}\
svg{vertical-align:middle}code{font-size:.9em}";

/// Escapes text for HTML content and attributes.
fn esc(text: &str) -> String {
    let mut s = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => s.push_str("&amp;"),
            '<' => s.push_str("&lt;"),
            '>' => s.push_str("&gt;"),
            '"' => s.push_str("&quot;"),
            '\'' => s.push_str("&#39;"),
            c => s.push(c),
        }
    }
    s
}

fn time(t: Time) -> String {
    format_date_time(t.0)
}

fn took(ms: Option<u64>) -> String {
    ms.map_or_else(|| "—".into(), |ms| format_duration(Duration::from_millis(ms)))
}

fn table(out: &mut String, header: &[&str], rows: &[Vec<String>]) {
    out.push_str("<table><tr>");
    for h in header {
        let _ = write!(out, "<th>{}</th>", esc(h));
    }
    out.push_str("</tr>\n");
    for row in rows {
        out.push_str("<tr>");
        for c in row {
            let _ = write!(out, "<td>{c}</td>");
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</table>\n");
}

/// A small line chart of `values` as inline SVG (no axes; the table carries the numbers).
pub fn sparkline(values: &[f64]) -> String {
    const W: f64 = 120.0;
    const H: f64 = 24.0;
    let finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if finite.len() < 2 {
        return String::new();
    }
    let lo = finite.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = finite.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let range = if hi > lo { hi - lo } else { 1.0 };
    let step = W / (finite.len() - 1) as f64;
    let points: Vec<String> = finite
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let y = H - 2.0 - (v - lo) / range * (H - 4.0);
            format!("{:.1},{:.1}", i as f64 * step, y)
        })
        .collect();
    format!(
        "<svg width=\"{W}\" height=\"{H}\" viewBox=\"0 0 {W} {H}\" role=\"img\" \
         aria-label=\"readings\"><polyline fill=\"none\" stroke=\"#3367d6\" stroke-width=\"1.5\" \
         points=\"{}\"/></svg>",
        points.join(" ")
    )
}

/// Renders the report as one HTML document.
pub fn render(r: &Report) -> String {
    let s = &r.release;
    let o = &r.overview;
    let mut out = String::new();
    let title = format!("Deployment report: {} {} → {}", s.service, s.version, s.environment);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>{}</title><style>{STYLE}</style></head><body>\n<h1>{}</h1>\n",
        esc(&title),
        esc(&title)
    );
    let class = match s.status.as_str() {
        "completed" => "ok",
        "rolled_back" | "aborted" | "rolling_back" => "bad",
        _ => "warn",
    };
    let mut rows = vec![
        vec!["Outcome".into(), format!("<span class=\"{class}\">{}</span>", esc(&o.outcome))],
        vec![
            "Release".into(),
            format!(
                "#{} · {} · {}{}",
                s.id,
                esc(&s.release_type),
                s.previous_version
                    .as_deref()
                    .map_or_else(String::new, |p| format!("{} → ", esc(p))),
                esc(&s.version)
            ),
        ],
        vec![
            "Started".into(),
            match (&s.started_at, &s.started_by) {
                (Some(at), Some(by)) => format!("{} UTC by {}", time(*at), esc(by)),
                _ => "—".into(),
            },
        ],
        vec![
            "Ended".into(),
            s.ended_at.map_or_else(
                || "— (still open)".into(),
                |t| {
                    let took = s.duration_ms.map_or_else(|| "—".into(), format_elapsed);
                    format!("{} UTC, after {took}", time(t))
                },
            ),
        ],
        vec!["Approved".into(), esc(&o.approved_by.join("; "))],
        production_row(r, esc),
    ];
    if let Some(w) = r.watch.as_ref().filter(|w| w.from.is_some()) {
        rows.push(vec!["Watch after release".into(), esc(&capitalised(&w.text))]);
    }
    if let Some(breach) = o.first_breach_at {
        rows.push(vec![
            "First breach".into(),
            format!(
                "{} UTC; rollback requested {} later, {} {} later",
                time(breach),
                took(o.breach_to_rollback_ms),
                stable_words(r),
                took(o.breach_to_stable_ms)
            ),
        ]);
    }
    if let Some(reason) = &s.abort_reason {
        rows.push(vec!["Aborted because".into(), esc(reason)]);
    }
    table(&mut out, &["", ""], &rows);

    out.push_str("<h2>Before → after</h2>\n");
    if o.series.is_empty() {
        let note = o.readings_note.as_deref().unwrap_or("No metric readings were stored.");
        let _ = writeln!(out, "<p>{}</p>", esc(note));
    } else {
        if let Some(window) = comparison_window(r) {
            let _ = writeln!(out, "<p>{}</p>", esc(&window));
        }
        let traffic = s.production.is_traffic();
        let mut weights: Vec<u8> = Vec::new();
        for series in &o.series {
            for l in &series.levels {
                if !weights.contains(&l.weight) {
                    weights.push(l.weight);
                }
            }
        }
        let mut header: Vec<String> = vec!["Series".into(), "Baseline".into()];
        header.extend(weights.iter().map(|w| format!("at {w}%")));
        let last = if traffic { "Final" } else { "After" };
        header.extend([last.into(), "Readings".into(), "Thresholds".into(), "".into()]);
        let header: Vec<&str> = header.iter().map(String::as_str).collect();
        let rows: Vec<Vec<String>> = o
            .series
            .iter()
            .map(|c| {
                let v =
                    |x: Option<f64>| x.map_or_else(|| "—".into(), |x| esc(&with_unit(x, &c.unit)));
                let mut row = vec![format!("<code>{}</code>", esc(&c.series)), v(c.baseline)];
                row.extend(
                    weights
                        .iter()
                        .map(|w| v(c.levels.iter().find(|l| l.weight == *w).and_then(|l| l.mean))),
                );
                row.push(v(if traffic { c.last } else { c.after }));
                row.push(sparkline(&c.values));
                row.push(esc(&c.thresholds));
                let class = match c.verdict.as_str() {
                    "ok" => "ok",
                    "breach" => "bad",
                    _ => "warn",
                };
                row.push(format!("<span class=\"{class}\">{}</span>", esc(mark(&c.verdict))));
                row
            })
            .collect();
        table(&mut out, &header, &rows);
    }

    out.push_str("<h2>Issues encountered</h2>\n");
    if o.issues.is_empty() {
        out.push_str("<p>None.</p>\n");
    } else {
        let rows: Vec<Vec<String>> =
            o.issues.iter().map(|i| vec![time(i.at), esc(&i.kind), esc(&i.text)]).collect();
        table(&mut out, &["Time (UTC)", "What", "Details"], &rows);
    }

    out.push_str("<hr>\n<h1>Appendix: the record in detail</h1>\n<h2>Timeline</h2>\n");
    let rows: Vec<Vec<String>> = r
        .timeline
        .iter()
        .map(|t| vec![t.seq.to_string(), time(t.at), esc(&t.event), esc(&t.actor), esc(&t.result)])
        .collect();
    table(&mut out, &["#", "Time (UTC)", "Event", "Actor", "Result"], &rows);

    gates_and_checklists(&mut out, r);
    actions(&mut out, r);

    out.push_str("<h2>Audit</h2>\n");
    let a = &r.audit;
    let rows = vec![
        vec!["Git SHA".into(), esc(a.sha.as_deref().unwrap_or("—"))],
        vec!["Image".into(), esc(a.image.as_deref().unwrap_or("—"))],
        vec!["Plan".into(), format!("{} (sha256 {})", esc(&a.plan_path), esc(&a.plan_sha256))],
        vec!["Events".into(), a.events.to_string()],
        vec![
            "Hash chain".into(),
            match (&a.chain.problem, &a.chain.head) {
                (Some(p), _) => format!("<span class=\"bad\">TAMPERED: {}</span>", esc(p)),
                (None, Some(h)) => format!("intact, head <code>{}</code>", esc(h)),
                (None, None) => "intact (no chained events)".into(),
            },
        ],
    ];
    table(&mut out, &["", ""], &rows);
    out.push_str("</body></html>\n");
    out
}

/// One row per gate and per checklist, as in the Markdown: who approved, answered or ticked
/// what, and when, in one cell.
fn gates_and_checklists(out: &mut String, r: &Report) {
    out.push_str("<h2>Gates and checklists</h2>\n");
    if r.gates.is_empty() && r.checklists.is_empty() {
        out.push_str("<p>The plan has no gates or checklists.</p>\n");
        return;
    }
    let who = |by: Option<&str>, at: Option<Time>| {
        format!("{}, {}", esc(by.unwrap_or("—")), at.map_or_else(|| "—".into(), time))
    };
    let mut rows: Vec<Vec<String>> = Vec::new();
    for g in &r.gates {
        let step = format!(
            "{} (<code>{}</code>), {}, {}/{} approvals",
            esc(&g.name),
            esc(&g.step),
            esc(&g.status),
            g.approvals.len(),
            g.approvals_needed
        );
        let mut decisions: Vec<String> = Vec::new();
        for a in &g.approvals {
            decisions.push(format!("approved: {}", who(Some(&a.by), Some(a.at))));
        }
        for i in &g.inputs {
            let what = match &i.value {
                Some(v) => format!(
                    "{} (<code>{}</code>) = <code>{}</code>",
                    esc(&i.prompt),
                    esc(&i.id),
                    esc(v)
                ),
                None => format!("{} (<code>{}</code>) not given", esc(&i.prompt), esc(&i.id)),
            };
            decisions.push(format!("{what}: {}", who(i.by.as_deref(), i.at)));
        }
        for a in &g.no_gos {
            let why = a.reason.as_deref().map_or_else(String::new, |r| format!(" ({})", esc(r)));
            decisions.push(format!(
                "<span class=\"bad\">no-go</span>{why}: {}",
                who(Some(&a.by), Some(a.at))
            ));
        }
        if decisions.is_empty() {
            decisions.push("no approvals".into());
        }
        rows.push(vec![step, decisions.join("<br>")]);
    }
    for c in &r.checklists {
        let ticked = c.items.iter().filter(|i| i.ticked).count();
        let step = format!(
            "{} (<code>{}</code>), {}, {ticked}/{} ticked",
            esc(&c.name),
            esc(&c.step),
            esc(&c.status),
            c.items.len()
        );
        let items: Vec<String> = c
            .items
            .iter()
            .map(|i| {
                let mark = if i.ticked { "✓" } else { "·" };
                let what = format!("{mark} {} (<code>{}</code>)", esc(&i.text), esc(&i.id));
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

/// Every run under a heading that says everything about it but its output, as in the Markdown.
fn actions(out: &mut String, r: &Report) {
    out.push_str("<h2>Actions</h2>\n");
    if r.actions.is_empty() {
        out.push_str("<p>No action ran.</p>\n");
    }
    for a in &r.actions {
        let exit = a.exit_code.map_or_else(String::new, |c| format!(", exit {c}"));
        let _ = writeln!(
            out,
            "<h3><code>{}</code> (<code>{}</code>, {}), attempt {}, by {}, started {} UTC, took \
             {}{exit}: {}</h3>",
            esc(&a.step),
            esc(&a.action),
            esc(&a.phase),
            a.attempt,
            esc(&a.started_by),
            time(a.started_at),
            took(a.duration_ms),
            esc(&a.outcome)
        );
        if let Some(e) = &a.error {
            let _ = writeln!(out, "<p class=\"bad\">{}</p>", esc(e));
        }
        if let Some(res) = &a.resolution {
            let _ = writeln!(
                out,
                "<p>Marked {} by {} at {} UTC: {}</p>",
                if res.succeeded { "succeeded" } else { "failed" },
                esc(&res.by),
                time(res.at),
                esc(&res.reason)
            );
        }
        if let Some(text) = a.output_excerpt.as_deref().filter(|t| !t.is_empty()) {
            let _ = writeln!(out, "<pre>{}</pre>", esc(text));
        }
    }
}
