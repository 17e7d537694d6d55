//! The deployment report: Markdown and JSON snapshots of a completed release, an automatically
//! rolled-back one and an aborted one, each recorded through the engine with a fixed clock;
//! the same release always gives the same bytes; export → import gives the same report.

mod recorded;

use flightdeck::release::format_date_time;
use flightdeck::report::{self, json, markdown};
use flightdeck::store::Store;
use flightdeck::transfer;
use recorded::Rec;

async fn both(r: &Rec) -> (String, String) {
    let built = report::load(&r.store, r.id).await.expect("report");
    (markdown::render(&built), json::render(&built))
}

#[tokio::test]
async fn completed_release() {
    let r = recorded::completed().await;
    let (md, js) = both(&r).await;
    insta::assert_snapshot!("completed_md", md);
    insta::assert_snapshot!("completed_json", js);
}

#[tokio::test]
async fn automatically_rolled_back_release() {
    let r = recorded::rolled_back().await;
    let (md, js) = both(&r).await;
    insta::assert_snapshot!("rolled_back_md", md);
    insta::assert_snapshot!("rolled_back_json", js);
}

#[tokio::test]
async fn aborted_release() {
    let r = recorded::aborted().await;
    let (md, js) = both(&r).await;
    insta::assert_snapshot!("aborted_md", md);
    insta::assert_snapshot!("aborted_json", js);
}

#[tokio::test]
async fn the_same_release_always_gives_the_same_bytes() {
    let r = recorded::rolled_back().await;
    let first = both(&r).await;
    // A second store handle (a fresh process, as it were) reads the same bytes.
    let again = Store::open(&r.path, true).await.expect("reopen read-only");
    let built = report::load(&again, r.id).await.expect("report");
    assert_eq!(first, (markdown::render(&built), json::render(&built)));
    assert_eq!(first, both(&r).await);
}

/// Records an unrelated release in `store`, so the next one gets another id than at home.
async fn occupy(store: &Store) {
    let plan = flightdeck::plan::parse(recorded::PLAN, "record.toml").expect("plan");
    let command = flightdeck::release::Command::Start {
        version: "0.9.0".into(),
        previous_version: None,
        sha: None,
        image: None,
        release_type: flightdeck::plan::ReleaseType::Hotfix,
    };
    flightdeck::store::start(
        store,
        &plan,
        "p.toml",
        recorded::PLAN,
        &command,
        &recorded::person("dan"),
        recorded::T0,
    )
    .await
    .expect("start another release");
}

#[tokio::test]
async fn export_then_import_into_another_store_gives_byte_identical_reports() {
    for r in [recorded::completed().await, recorded::rolled_back().await, recorded::aborted().await]
    {
        let before = both(&r).await;
        let exported = r.store.export(r.id).await.expect("export");
        let text = transfer::write(std::slice::from_ref(&exported)).expect("encode");
        assert_eq!(
            text.lines().count(),
            1 + exported.events.len() + exported.samples.len(),
            "one line for the release, one per event, one per reading"
        );

        let other_dir = tempfile::tempdir().expect("temp dir");
        let other = Store::open(&other_dir.path().join("laptop.db"), false).await.expect("open");
        // Take id 1 in the other store first, so the imported release gets another id there.
        occupy(&other).await;
        let read = transfer::read(&text).expect("decode");
        let ids = other.import(&read).await.expect("import");
        assert_eq!(ids.len(), 1);
        assert_ne!(ids[0], r.id, "the imported release has a new id in the other store");
        let built = report::load(&other, ids[0]).await.expect("report after import");
        assert_eq!(before.0, markdown::render(&built), "markdown differs after import");
        assert_eq!(before.1, json::render(&built), "json differs after import");
        assert!(other.verify(ids[0]).await.expect("verify").intact());

        // The same release again, here or back where it came from, is refused.
        let again = other.import(&read).await.expect_err("a second import must be refused");
        assert!(again.to_string().contains("already in"), "{again}");
        let home = r.store.import(&read).await.expect_err("importing into its own store");
        assert!(home.to_string().contains("already in"), "{home}");
    }
}

/// Runs the binary (without blocking the test's runtime).
async fn flightdeck(args: &[&str]) -> std::process::Output {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_flightdeck"))
        .args(args)
        .env_remove("FLIGHTDECK_DB")
        .env_remove("FLIGHTDECK_OPERATOR")
        .output()
        .await
        .expect("run flightdeck");
    assert!(out.status.success(), "flightdeck {args:?}: {out:?}");
    out
}

#[tokio::test]
async fn the_verbs_write_the_same_report_and_move_it_to_another_store() {
    let r = recorded::rolled_back().await;
    let (md, js) = both(&r).await;
    let db = r.path.display().to_string();
    let dir = tempfile::tempdir().expect("temp dir");
    let file = |name: &str| dir.path().join(name).display().to_string();

    let stdout = flightdeck(&["--db", &db, "report"]).await.stdout;
    assert_eq!(String::from_utf8_lossy(&stdout), md);
    flightdeck(&["--db", &db, "report", "1", "--format", "json", "-o", &file("r.json")]).await;
    assert_eq!(std::fs::read_to_string(file("r.json")).expect("read"), js);

    flightdeck(&["--db", &db, "export", "1.4.0", "-o", &file("r.jsonl")]).await;
    let laptop = file("laptop.db");
    let imported = flightdeck(&["--db", &laptop, "import", &file("r.jsonl")]).await;
    assert!(String::from_utf8_lossy(&imported.stdout).contains("chain verified"), "{imported:?}");
    let again = flightdeck(&["--db", &laptop, "report", "--format", "json"]).await.stdout;
    assert_eq!(String::from_utf8_lossy(&again), js);
    let verified = flightdeck(&["--db", &laptop, "verify"]).await.stdout;
    assert!(String::from_utf8_lossy(&verified).contains("intact: 25 events"), "{verified:?}");
}

/// Claims are in the record: the timeline says who claimed or took over which step and why
/// (a takeover's result says from whom), and the audit lists it among what each person did.
#[tokio::test]
async fn claims_and_takeovers_are_in_the_timeline_and_the_audit() {
    use flightdeck::release::Command;
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(&dir.path().join("flightdeck.db"), false).await.expect("open");
    let text = format!("{}\n[claims]\nttl = \"20m\"\n", recorded::PLAN);
    let plan = flightdeck::plan::parse(&text, "claims.toml").expect("plan");
    let start = Command::Start {
        version: "1.4.0".into(),
        previous_version: None,
        sha: None,
        image: None,
        release_type: flightdeck::plan::ReleaseType::Regular,
    };
    let (alice, bob) = (recorded::person("alice"), recorded::person("bob"));
    let (id, _) =
        flightdeck::store::start(&store, &plan, "claims.toml", &text, &start, &alice, recorded::T0)
            .await
            .expect("start");
    for (secs, by, command) in [
        (10, &alice, Command::Claim { step: "checklist".into(), reason: None }),
        (70, &bob, Command::Claim { step: "checklist".into(), reason: Some("alice paged".into()) }),
        (90, &bob, Command::Unclaim { step: "checklist".into() }),
    ] {
        let now = recorded::at(secs);
        flightdeck::store::execute(&store, id, &command, by, None, || now).await.expect("claim");
    }
    let built = report::load(&store, id).await.expect("report");
    let rows: Vec<(&str, &str, &str, &str)> = built.timeline[1..]
        .iter()
        .map(|r| (r.kind.as_str(), r.event.as_str(), r.actor.as_str(), r.result.as_str()))
        .collect();
    assert_eq!(
        rows,
        [
            ("step_claimed", "claimed checklist until 11:02 UTC", "alice", ""),
            (
                "step_claimed",
                "took over checklist from alice, until 11:03 UTC: alice paged",
                "bob",
                "taken over from alice"
            ),
            ("claim_released", "released the claim on checklist", "bob", ""),
        ]
    );
    let did = |name: &str| {
        built
            .audit
            .actors
            .iter()
            .find(|a| a.name == name)
            .map(|a| a.did.clone())
            .unwrap_or_default()
    };
    assert!(did("alice").contains(&"claimed checklist".to_owned()), "{:?}", did("alice"));
    assert_eq!(did("bob"), ["took over checklist", "released checklist"]);
    let md = markdown::render(&built);
    assert!(md.contains("took over checklist from alice, until 11:03 UTC: alice paged"), "{md}");
}

/// The first page a manager reads: the happy run's whole report stays under 150 lines, and
/// its top says the outcome, who approved, and each series before → after with units.
#[tokio::test]
async fn a_happy_run_reads_in_a_minute() {
    let r = recorded::completed().await;
    let (md, _) = both(&r).await;
    assert!(md.lines().count() < 150, "{} lines:\n{md}", md.lines().count());
    let first_page = md.split("# Appendix").next().expect("first page");
    for expected in [
        "| Outcome | **completed** |",
        "| Approved | Go/no-go: bob, carol |",
        "| `error_rate` | 0.1% | 0.2% | 0.15% | 0.15% | warn > 1%, abort > 2% | ✓ |",
        "| `p95_latency` | 180 ms | 210 ms | 190 ms | 190 ms | warn > 800 ms, abort > baseline × 1.5 | ✓ |",
        "## Issues encountered\n\nNone.",
    ] {
        assert!(first_page.contains(expected), "missing {expected:?} in\n{first_page}");
    }
}

/// A rolled-back run's first page lists the breach and the rollback with their times, and
/// how long it took from the breach to the rollback and to traffic at 0%.
#[tokio::test]
async fn a_rolled_back_run_says_what_went_wrong_and_how_fast_it_was_undone() {
    let r = recorded::rolled_back().await;
    let built = report::load(&r.store, r.id).await.expect("report");
    let o = &built.overview;
    assert_eq!(o.outcome, "rolled back automatically");
    assert_eq!((o.breach_to_rollback_ms, o.breach_to_stable_ms), (Some(0), Some(2_000)));
    let kinds: Vec<&str> = o.issues.iter().map(|i| i.kind.as_str()).collect();
    assert_eq!(kinds, ["breach", "rollback"]);
    let verdicts: Vec<(&str, &str)> =
        o.series.iter().map(|s| (s.series.as_str(), s.verdict.as_str())).collect();
    assert_eq!(verdicts, [("error_rate", "breach"), ("p95_latency", "ok")]);
    let md = markdown::render(&built);
    assert!(
        md.contains("| First breach | 2026-11-22 10:48:51 UTC; rollback requested 0s later, traffic at 0% 2s later |"),
        "{md}"
    );
}

/// `--format html`: one file that needs nothing else: inline style and SVG, no script, no
/// link or source to fetch, and recorded text escaped.
#[tokio::test]
async fn the_html_report_is_one_self_contained_file() {
    let r = recorded::completed().await;
    let db = r.path.display().to_string();
    let html =
        String::from_utf8(flightdeck(&["--db", &db, "report", "--format", "html"]).await.stdout)
            .expect("utf-8");
    assert!(html.starts_with("<!DOCTYPE html>"), "{html}");
    assert!(html.contains("<style>") && html.contains("<svg"), "{html}");
    for forbidden in ["<script", "<link", "src=", "href=", "@import", "url("] {
        assert!(!html.contains(forbidden), "{forbidden} in {html}");
    }
    assert!(html.contains("dashboards | error budget look fine at 10%"), "{html}");
    assert!(html.contains("<td>0.1%</td><td>0.2%</td><td>0.15%</td><td>0.15%</td>"), "{html}");
}

/// A release with no stored readings says why its comparison is empty.
#[tokio::test]
async fn a_release_without_readings_says_why_there_is_nothing_to_compare() {
    let r = recorded::aborted().await;
    let built = report::load(&r.store, r.id).await.expect("report");
    let md = markdown::render(&built);
    assert!(md.contains("## Before → after\n\nNo readings were stored for this release"), "{md}");
}

/// Issue 15: the real headless demo's happy release (more gates, actions, bakes and readings
/// than the recorded fixture) also reads in under 150 lines, with every run still named once
/// with its attempt, who, when, how long, exit and result, and one row per gate or checklist.
#[tokio::test]
async fn the_headless_demos_happy_report_is_under_150_lines() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("demo.db").display().to_string();
    flightdeck(&["demo", "--headless", "--scenario", "happy", "--db", &db]).await;
    let md = String::from_utf8(flightdeck(&["--db", &db, "report"]).await.stdout).expect("utf-8");
    let lines = md.lines().count();
    assert!(lines < 150, "{lines} lines:\n{md}");
    assert!(md.contains("| Outcome | **completed** |"), "{md}");
    for run in ["backup", "migrate", "deploy-green", "shift-10", "shift-50", "shift-100"] {
        let (plain, with_action) = (format!("── {run},"), format!("── {run} (action "));
        let headers: Vec<&str> =
            md.lines().filter(|l| l.starts_with(&plain) || l.starts_with(&with_action)).collect();
        assert_eq!(headers.len(), 1, "one header line for {run}:\n{md}");
        for fact in [", attempt 1, by alice (demo), started 20", " UTC, took ", ": succeeded"] {
            assert!(headers[0].contains(fact), "{fact:?} missing in {:?}", headers[0]);
        }
    }
    let gates = md.split("## Gates and checklists").nth(1).expect("gates section");
    let gates = gates.split("\n\n").nth(1).expect("gates table");
    assert_eq!(gates.lines().count(), 2 + 3, "go/no-go, checklist, post-checks:\n{gates}");
    assert!(!md.contains("## Traffic"), "{md}");
}

/// Releases of the rolling and swap plans, folded from events written here (no store, no
/// engine rules): these tests are about the report's words for what each strategy did.
mod folded {
    use flightdeck::plan::{self, Plan, ReleaseType};
    use flightdeck::release::{
        Actor, Breach, Event, EventRecord, Level, Phase, RollbackStepRef, Timestamp,
    };
    use flightdeck::report::{self, Report};
    use flightdeck::store::{ChainReport, ReleaseRow, SampleKind, SampleRow};

    pub const ROLLING: &str = include_str!("fixtures/rolling.toml");
    pub const SWAP: &str = include_str!("fixtures/swap.toml");

    /// 2026-11-22 10:00:00 UTC, so the times read like the runbook's.
    const T0: Timestamp = Timestamp(1_795_341_600_000);

    pub fn at(secs: i64) -> Timestamp {
        Timestamp(T0.0 + secs * 1000)
    }

    pub struct Folded {
        pub plan: Plan,
        toml: &'static str,
        pub records: Vec<EventRecord>,
        samples: Vec<SampleRow>,
    }

    pub fn alice() -> Actor {
        Actor::person("alice", "bastion-1", 4242)
    }

    pub fn auto() -> Actor {
        Actor::automation("alice", "bastion-1", 4242)
    }

    impl Folded {
        /// Version `version` of the plan `toml`, started at 10:00 by alice.
        pub fn start(toml: &'static str, version: &str) -> Self {
            let plan = plan::parse(toml, "plan.toml").expect("fixture plan parses");
            let mut f = Self { plan, toml, records: Vec::new(), samples: Vec::new() };
            let service = f.plan.service.name.clone();
            f.at(
                0,
                &alice(),
                Event::ReleaseStarted {
                    service,
                    environment: "production".into(),
                    version: version.into(),
                    previous_version: Some("0.9.0".into()),
                    sha: None,
                    image: None,
                    release_type: ReleaseType::Regular,
                    plan_sha256: None,
                },
            );
            f
        }

        pub fn at(&mut self, secs: i64, by: &Actor, event: Event) {
            let seq = self.records.len() as u64 + 1;
            self.records.push(EventRecord { seq, at: at(secs), actor: by.clone(), event });
        }

        /// An action step that ran from `from` to `until` and completed.
        pub fn action(&mut self, from: i64, until: i64, step: &str, action: &str) {
            let me = alice();
            self.at(
                from,
                &me,
                Event::ActionStarted {
                    step: step.into(),
                    attempt: 1,
                    action: action.into(),
                    phase: Phase::Rollout,
                },
            );
            self.at(
                until,
                &me,
                Event::ActionFinished {
                    step: step.into(),
                    attempt: 1,
                    exit_code: Some(0),
                    duration_ms: u64::try_from((until - from) * 1000).expect("positive"),
                    output_tail: None,
                    outputs: Default::default(),
                },
            );
            self.at(until, &me, Event::StepCompleted { step: step.into() });
        }

        pub fn progress(&mut self, secs: i64, step: &str, updated: u32, desired: u32) {
            let fraction = f64::from(updated) / f64::from(desired);
            let event = Event::RolloutProgress {
                step: step.into(),
                fraction,
                updated: Some(updated),
                desired: Some(desired),
            };
            self.at(secs, &auto(), event);
        }

        pub fn bake(&mut self, from: i64, until: i64, step: &str) {
            self.at(from, &auto(), Event::BakeStarted { step: step.into() });
            self.at(until, &auto(), Event::StepCompleted { step: step.into() });
        }

        pub fn baseline(&mut self, secs: i64, series: &str, value: f64) {
            let event = Event::BaselineCaptured {
                series: series.into(),
                value,
                samples: 5,
                window_ms: 300_000,
                from_series: None,
                from_version: None,
            };
            self.at(secs, &auto(), event);
        }

        /// An abort-level breach of `series` at `value` during `step`.
        pub fn breach(&mut self, secs: i64, step: &str, series: &str, value: f64) {
            let breach = Breach {
                series: series.into(),
                level: Level::Abort,
                value,
                threshold: "> 0.02".into(),
                limit: Some(0.02),
                baseline: None,
                samples: 3,
                window_ms: 180_000,
            };
            self.at(secs, &auto(), Event::ThresholdBreached { step: step.into(), breach });
        }

        /// The plan's rollback, run by flightdeck from `from` to `until`.
        pub fn rollback(&mut self, from: i64, until: i64, reason: &str) {
            let undo = self.plan.rollback.steps[0].action.clone();
            let id = format!("rollback-1-{undo}");
            let steps = vec![RollbackStepRef {
                id: id.clone(),
                action: undo.clone(),
                sets_weight_zero: false,
                halt_on_failure: true,
                if_done: Vec::new(),
            }];
            let event = Event::RollbackStarted {
                reason: reason.into(),
                automatic: true,
                steps,
                signature: None,
            };
            self.at(from, &auto(), event);
            let started = Event::ActionStarted {
                step: id.clone(),
                attempt: 1,
                action: undo,
                phase: Phase::Rollback,
            };
            self.at(from, &auto(), started);
            let finished = Event::ActionFinished {
                step: id.clone(),
                attempt: 1,
                exit_code: Some(0),
                duration_ms: 1_000,
                output_tail: None,
                outputs: Default::default(),
            };
            self.at(until, &auto(), finished);
            self.at(until, &auto(), Event::RollbackFinished);
        }

        /// One reading per series every `every` seconds from `from` to `until`.
        pub fn readings(&mut self, from: i64, until: i64, every: i64, values: &[(&str, f64)]) {
            let mut t = from;
            while t < until {
                for (series, value) in values {
                    self.samples.push(SampleRow {
                        series: (*series).into(),
                        kind: SampleKind::Metric,
                        at: at(t),
                        value: Some(*value),
                        error: None,
                    });
                }
                t += every;
            }
        }

        pub fn report(&self) -> Report {
            let last = self.records.last().expect("started");
            let row = ReleaseRow {
                id: 1,
                service: self.plan.service.name.clone(),
                environment: "production".into(),
                version: String::new(),
                release_type: "regular".into(),
                plan_path: "plan.toml".into(),
                created_at: T0,
                updated_at: last.at,
                status: String::new(),
                last_seq: last.seq,
            };
            let chain =
                ChainReport { events: last.seq, unchained: last.seq, head: None, problem: None };
            let mut samples = self.samples.clone();
            samples.sort_by_key(|s| s.at);
            report::build(&report::Input {
                row: &row,
                origin_id: 1,
                plan: &self.plan,
                plan_toml: self.toml,
                records: &self.records,
                chain: &chain,
                samples: &samples,
            })
        }
    }

    /// The runbook's rolling deploy of 1.0.0: backup, three pods with a health watch after
    /// the first two, smoke tests, complete at 10:23 (readings before, during, after the
    /// deploy, and while watched, each at its own level).
    pub fn rolling() -> Folded {
        let mut f = Folded::start(ROLLING, "1.0.0");
        f.readings(0, 480, 60, &[("error_rate", 0.001), ("p95_latency", 0.172)]);
        f.readings(480, 1140, 60, &[("error_rate", 0.004), ("p95_latency", 0.2)]);
        f.readings(1140, 1380, 60, &[("error_rate", 0.0015), ("p95_latency", 0.178)]);
        f.readings(1380, 1800, 60, &[("error_rate", 0.0009), ("p95_latency", 0.17)]);
        f.action(60, 120, "backup", "backup");
        f.baseline(470, "error_rate", 0.001);
        f.baseline(470, "p95_latency", 0.172);
        f.at(480, &alice(), started("deploy-33", "apply"));
        f.progress(490, "deploy-33", 1, 3);
        finish(&mut f, 500, "deploy-33", 20);
        f.bake(500, 620, "deploy-33-bake");
        f.at(720, &alice(), started("deploy-67", "resume"));
        f.progress(730, "deploy-67", 2, 3);
        finish(&mut f, 740, "deploy-67", 20);
        f.bake(740, 860, "deploy-67-bake");
        f.at(960, &alice(), started("deploy", "resume"));
        f.progress(975, "deploy", 3, 3);
        finish(&mut f, 1140, "deploy", 180);
        f.action(1200, 1380, "smoke", "smoke");
        f.at(1380, &alice(), Event::Completed);
        f
    }

    pub fn started(step: &str, action: &str) -> Event {
        Event::ActionStarted {
            step: step.into(),
            attempt: 1,
            action: action.into(),
            phase: Phase::Rollout,
        }
    }

    pub fn finish(f: &mut Folded, secs: i64, step: &str, took_secs: u64) {
        let event = Event::ActionFinished {
            step: step.into(),
            attempt: 1,
            exit_code: Some(0),
            duration_ms: took_secs * 1000,
            output_tail: None,
            outputs: Default::default(),
        };
        f.at(secs, &alice(), event);
        f.at(secs, &alice(), Event::StepCompleted { step: step.into() });
    }

    /// A swap to 1.4.0: backup, the deploy from 10:10 to 10:12, smoke tests, complete at
    /// 10:15; readings before, during and after.
    pub fn swap() -> Folded {
        let mut f = Folded::start(SWAP, "1.4.0");
        f.readings(0, 600, 60, &[("error_rate", 0.001)]);
        f.readings(600, 720, 60, &[("error_rate", 0.006)]);
        f.readings(720, 900, 60, &[("error_rate", 0.002)]);
        f.action(60, 120, "backup", "backup");
        f.baseline(590, "error_rate", 0.001);
        f.action(600, 720, "deploy", "render_deploy");
        f.action(780, 900, "smoke", "smoke");
        f.at(900, &alice(), Event::Completed);
        f
    }
}

/// Issue 16: a rolling release's report says what rolled out (never a traffic percentage),
/// has a timeline row per progress reading and per health watch, and compares the baseline
/// before the deploy with the readings from the deploy's end to the release's end.
#[test]
fn a_rolling_release_reports_its_rollout_not_traffic() {
    let mut f = folded::rolling();
    f.at(
        1380 + 86_400,
        &folded::auto(),
        flightdeck::release::Event::WatchClosed { after_release_ms: 86_400_000 },
    );
    let built = f.report();
    let md = markdown::render(&built);
    for wrong in ["Final traffic", "Traffic never moved", "0% on 1.0.0", "traffic at 0%"] {
        assert!(!md.contains(wrong), "{wrong:?} in a rolling report:\n{md}");
    }
    for expected in [
        "| Production | Rolled out 3/3 pods to 1.0.0 at 2026-11-22 10:19:00 UTC |",
        "| Watch after release | Watched 24h after completion: no breach; closed at 2026-11-23 \
         10:23:00 UTC |",
        "| Rollback | not needed |",
    ] {
        assert!(md.contains(expected), "missing {expected:?} in\n{md}");
    }
    let rows: Vec<(String, &str, &str)> = built
        .timeline
        .iter()
        .filter(|t| {
            t.kind == "rollout_progress"
                || t.event.contains("health watch")
                || t.event.contains("deploy finished")
        })
        .map(|t| (format_date_time(t.at.0)[11..16].to_owned(), t.event.as_str(), t.result.as_str()))
        .collect();
    let rows: Vec<(&str, &str, &str)> = rows.iter().map(|(a, b, c)| (a.as_str(), *b, *c)).collect();
    assert_eq!(
        rows,
        [
            ("10:08", "deploy-33: 1/3 pods on 1.0.0", "33%"),
            ("10:08", "deploy-33-bake: health watch at 33% started", ""),
            ("10:10", "deploy-33-bake: health watch at 33% passed", "passed"),
            ("10:12", "deploy-67: 2/3 pods on 1.0.0", "67%"),
            ("10:12", "deploy-67-bake: health watch at 67% started", ""),
            ("10:14", "deploy-67-bake: health watch at 67% passed", "passed"),
            ("10:16", "deploy: 3/3 pods on 1.0.0", "100%"),
            ("10:19", "deploy finished in 3m (exit 0): all pods on 1.0.0", "ok (exit 0)"),
        ]
    );
    assert_eq!(built.release.production.strategy, "rolling");
    assert_eq!(
        (built.release.production.updated, built.release.production.desired),
        (Some(3), Some(3))
    );
}

/// Issue 16: before → after for a rolling release: the baseline captured before the deploy,
/// each paced fraction while it held, and "after" from the deploy's end to the release's end
/// (not the whole release, not the watch after it).
#[test]
fn a_rolling_releases_comparison_is_around_its_deploy() {
    let built = folded::rolling().report();
    let p95 = built.overview.series.iter().find(|s| s.series == "p95_latency").expect("p95");
    assert_eq!(p95.baseline, Some(0.172));
    let shown = |v: Option<f64>| v.map(report::number);
    let levels: Vec<(u8, Option<String>)> =
        p95.levels.iter().map(|l| (l.weight, shown(l.mean))).collect();
    assert_eq!(levels, [(33, Some("0.2".into())), (67, Some("0.2".into()))]);
    assert_eq!(shown(p95.after).as_deref(), Some("0.178"), "from 10:19 to 10:23 only");
    let md = markdown::render(&built);
    for expected in [
        "Baseline: before the deploy started (2026-11-22 10:08:00 UTC); after: from the \
         deploy's end (2026-11-22 10:19:00 UTC) to the release's end.",
        "| Series | Baseline | at 33% | at 67% | After | Thresholds |  |",
        "| `p95_latency` | 172 ms | 200 ms | 200 ms | 178 ms | warn > 800 ms, abort > baseline × 1.5 | ✓ |",
    ] {
        assert!(md.contains(expected), "missing {expected:?} in\n{md}");
    }
    let windows: Vec<(&str, String, Option<String>)> = built
        .metrics
        .windows
        .iter()
        .filter(|w| w.step.is_none())
        .map(|w| {
            let t = |at: flightdeck::report::Time| format_date_time(at.0)[11..16].to_owned();
            (w.label.as_str(), t(w.from), w.until.map(t))
        })
        .collect();
    assert_eq!(
        windows,
        [
            ("before the deploy", "10:00".to_owned(), Some("10:08".to_owned())),
            ("after the deploy", "10:19".to_owned(), Some("10:23".to_owned())),
            ("after the release", "10:23".to_owned(), None),
        ]
    );
    insta::assert_snapshot!("rolling_md", md);
}

/// Issue 16: a rolling release rolled back mid-way says how far it got.
#[test]
fn a_rolled_back_rollout_says_how_far_it_got() {
    let mut f = folded::Folded::start(folded::ROLLING, "1.0.0");
    f.action(60, 120, "backup", "backup");
    f.at(480, &folded::alice(), folded::started("deploy-33", "apply"));
    f.progress(490, "deploy-33", 1, 3);
    folded::finish(&mut f, 500, "deploy-33", 20);
    f.at(
        500,
        &folded::auto(),
        flightdeck::release::Event::BakeStarted { step: "deploy-33-bake".into() },
    );
    f.breach(560, "deploy-33-bake", "error_rate", 0.05);
    f.rollback(560, 600, "error_rate above its abort level during deploy-33-bake");
    let built = f.report();
    assert_eq!(
        built.release.production.text,
        "Rolled back at 2026-11-22 10:10:00 UTC after 1/3 pods reached 1.0.0"
    );
    let mut early = folded::Folded::start(folded::ROLLING, "1.0.0");
    early.action(60, 120, "backup", "backup");
    early.rollback(180, 200, "the backup looked short");
    assert_eq!(
        early.report().release.production.text,
        "Rolled back at 2026-11-22 10:03:20 UTC before any of the pods ran 1.0.0"
    );
    let md = markdown::render(&built);
    assert!(
        md.contains(
            "| First breach | 2026-11-22 10:09:20 UTC; rollback requested 0s later, \
                     rollback finished 40s later |"
        ),
        "{md}"
    );
}

/// Issue 16: a swap says when it swapped; its comparison is around the deploy step; a
/// completed release still watched says until when (the report reads no clock).
#[test]
fn a_swap_release_says_when_it_swapped() {
    let built = folded::swap().report();
    let md = markdown::render(&built);
    for expected in [
        "| Production | Swapped to 1.4.0 at 2026-11-22 10:12:00 UTC |",
        "| Watch after release | Watching 24h after completion, until 2026-11-23 10:15:00 UTC: \
         no breach so far |",
        "| `error_rate` | 0.1% | 0.2% | warn > 1%, abort > 2% | ✓ |",
    ] {
        assert!(md.contains(expected), "missing {expected:?} in\n{md}");
    }
    assert!(!md.contains("Final traffic") && !md.contains("% on 1.4.0"), "{md}");
    let finished = built.timeline.iter().find(|t| t.event.starts_with("deploy finished"));
    assert_eq!(
        finished.map(|t| t.event.as_str()),
        Some("deploy finished in 2m (exit 0): swapped to 1.4.0")
    );
    let html = flightdeck::report::html::render(&built);
    assert!(
        html.contains("<td>Production</td><td>Swapped to 1.4.0 at 2026-11-22 10:12:00 UTC</td>"),
        "{html}"
    );
}

/// Issue 16: a completed release whose watch saw an abort-level breach and rolled it back:
/// the outcome, the production line, the watch row, the issues and the timeline say so.
#[test]
fn a_breach_while_watched_is_reported_with_its_rollback() {
    let mut f = folded::swap();
    f.readings(900, 1800, 60, &[("error_rate", 0.003)]);
    f.breach(900 + 5_400, flightdeck::plan::AFTER_RELEASE_STEP, "error_rate", 0.05);
    f.rollback(900 + 5_400, 900 + 5_460, "error_rate above its after-release abort level");
    let built = f.report();
    assert_eq!(built.overview.outcome, "rolled back automatically after completion");
    assert_eq!(
        built.release.production.text,
        "Swapped to 1.4.0 at 2026-11-22 10:12:00 UTC, rolled back at 2026-11-22 11:46:00 UTC"
    );
    let watch = built.watch.as_ref().expect("the plan has [watch]");
    assert_eq!(
        watch.text,
        "breach after completion at 2026-11-22 11:45:00 UTC: error_rate 5% breached > 2% [3 \
         samples over 3m] → rolled back at 2026-11-22 11:45:00 UTC"
    );
    let issue = built.overview.issues.iter().find(|i| i.kind == "breach").expect("breach issue");
    assert!(issue.text.ends_with("(after completion)"), "{}", issue.text);
    let md = markdown::render(&built);
    assert!(md.contains("| Watch after release | Breach after completion at"), "{md}");
    assert!(md.contains("ABORT after completion (watch): error_rate"), "{md}");
    assert!(md.contains("| rollback finished; 0.9.0 is back in production |"), "{md}");
    assert!(!md.contains("traffic back"), "{md}");
    insta::assert_snapshot!("swap_rolled_back_while_watched_md", md);
    // The comparison's "after" ends at completion... or at the rollback, whichever is first:
    // the watch's readings are not the deploy's.
    let error_rate = &built.overview.series[0];
    assert_eq!(error_rate.after.map(report::number).as_deref(), Some("0.002"));
}

/// Issue 16: the watch's other endings: a breach that paused the completed release, and a
/// person's rollback within the window.
#[test]
fn a_watch_says_when_it_paused_or_a_person_rolled_back() {
    use flightdeck::release::{Actor, Event};
    let mut paused = folded::swap();
    paused.breach(4_500, flightdeck::plan::AFTER_RELEASE_STEP, "error_rate", 0.05);
    paused.at(4_500, &folded::auto(), Event::Paused { reason: "breach after completion".into() });
    let watch = paused.report().watch.expect("watch");
    assert!(
        watch.text.ends_with("[3 samples over 3m] → paused at 2026-11-22 11:15:00 UTC"),
        "{}",
        watch.text
    );

    let mut by_hand = folded::swap();
    let bob = Actor::person("bob", "bastion-1", 4343);
    let steps = Vec::new();
    let reason = "support reports failed logins".to_owned();
    let event = Event::RollbackStarted { reason, automatic: false, steps, signature: None };
    by_hand.at(7_200, &bob, event);
    let built = by_hand.report();
    assert_eq!(
        built.watch.expect("watch").text,
        "rolled back by bob at 2026-11-22 12:00:00 UTC, within the 24h watch"
    );
    assert_eq!(built.overview.outcome, "rolling back after completion");
}
