//! The deployment report: Markdown and JSON snapshots of a completed release, an automatically
//! rolled-back one and an aborted one, each recorded through the engine with a fixed clock;
//! the same release always gives the same bytes; export → import gives the same report.

mod recorded;

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
