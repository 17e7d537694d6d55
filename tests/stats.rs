//! `flightdeck stats` over a store with known releases, each recorded through the engine with
//! a fixed clock: the figures (releases per week, change failure rate, lead time, time to
//! restore, automatic and manual rollbacks) as text and as JSON.

mod recorded;

use flightdeck::plan::ReleaseType;
use flightdeck::release::Command;
use recorded::{Rec, person};

const DAY: i64 = 86_400;

/// Four releases over two weeks: completed (Sun 2026-11-22), automatically rolled back
/// (Tue 12-01), completed (Wed 12-02), rolled back by hand (Thu 12-03) and aborted (Fri 12-04).
async fn history() -> Rec {
    let mut r = Rec::start(ReleaseType::Regular).await;
    recorded::play_completed(&mut r).await;
    let mut r = Rec::start_later(r.dir, r.path, r.store, ReleaseType::Regular, 9 * DAY).await;
    recorded::play_rolled_back(&mut r).await;
    let mut r = Rec::start_later(r.dir, r.path, r.store, ReleaseType::Regular, 10 * DAY).await;
    recorded::play_completed(&mut r).await;
    let mut r = Rec::start_later(r.dir, r.path, r.store, ReleaseType::Regular, 11 * DAY).await;
    r.preflight().await;
    r.canary().await;
    let bob = person("bob");
    r.run(
        500,
        &bob,
        Command::Rollback { reason: "p95 too high".into(), confirmed: true, automatic: false },
    )
    .await;
    r.outcome(530, &bob, "rollback-1-traffic", Some(0), "weight=0", 700).await;
    r.outcome(560, &bob, "rollback-2-scale_down_green", Some(0), "scaled", 20_000).await;
    let mut r = Rec::start_later(r.dir, r.path, r.store, ReleaseType::Hotfix, 12 * DAY).await;
    let alice = person("alice");
    r.run(30, &alice, Command::Tick { item: "ci".into() }).await;
    r.run(200, &alice, Command::Abort { reason: "postponed".into() }).await;
    r
}

async fn flightdeck(args: &[&str]) -> String {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_flightdeck"))
        .args(args)
        .env_remove("FLIGHTDECK_DB")
        .output()
        .await
        .expect("run flightdeck");
    assert!(out.status.success(), "flightdeck {args:?}: {out:?}");
    String::from_utf8(out.stdout).expect("utf-8")
}

#[tokio::test]
async fn stats_count_known_releases() {
    let r = history().await;
    let db = r.path.display().to_string();
    let text = flightdeck(&["--db", &db, "stats", "--since", "30d", "--until", "2026-12-06"]).await;
    let json =
        flightdeck(&["--db", &db, "stats", "--since", "30d", "--until", "2026-12-06", "--json"])
            .await;
    let v: serde_json::Value = serde_json::from_str(&json).expect("json");
    assert_eq!(v["releases"], 5, "{json}");
    assert_eq!(v["completed"], 2);
    assert_eq!(v["rolled_back"], 2);
    assert_eq!(v["aborted"], 1);
    assert_eq!(v["in_progress"], 0);
    assert_eq!(v["change_failure_rate"], 0.5);
    assert_eq!(v["lead_time"]["median_ms"], 1_005_000);
    assert_eq!(v["lead_time"]["count"], 2);
    // Breach at +400 s → traffic at 0 at +402 s; by hand: asked at +500 s → 0 at +530 s.
    assert_eq!(v["time_to_restore"]["count"], 2);
    assert_eq!(v["time_to_restore"]["median_ms"], 2_000);
    assert_eq!(v["time_to_restore"]["p90_ms"], 30_000);
    assert_eq!(v["automatic_rollbacks"], 1);
    assert_eq!(v["manual_rollbacks"], 1);
    assert_eq!(v["overrides"], 0);
    let weeks: Vec<(String, u64)> = v["weeks"]
        .as_array()
        .expect("weeks")
        .iter()
        .map(|w| {
            (w["starts"].as_str().unwrap_or("").to_owned(), w["releases"].as_u64().unwrap_or(0))
        })
        .collect();
    assert_eq!(
        weeks,
        [
            ("2026-11-02".to_owned(), 0),
            ("2026-11-09".to_owned(), 0),
            ("2026-11-16".to_owned(), 1),
            ("2026-11-23".to_owned(), 0),
            ("2026-11-30".to_owned(), 4),
        ]
    );

    for expected in [
        "releases             5",
        "change failure rate  50% (2 of 4 finished)",
        "lead time            median 16m45s, p90 16m45s (of 2)",
        "time to restore      median 2s, p90 30s (of 2)",
        "rollbacks            1 automatic, 1 manual",
        "2026-11-16    1 ████████\n",
        "2026-11-23    0\n",
        "2026-11-30    4 ███████████████✗✗✗✗✗✗✗✗✗✗✗✗✗✗✗\n",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in\n{text}");
    }

    // Filters: another service has nothing; a shorter span leaves the first release out.
    let other = flightdeck(&[
        "--db",
        &db,
        "stats",
        "--service",
        "billing",
        "--until",
        "2026-12-06",
        "--json",
    ])
    .await;
    let other: serde_json::Value = serde_json::from_str(&other).expect("json");
    assert_eq!(other["releases"], 0);
    assert_eq!(other["change_failure_rate"], serde_json::Value::Null);
    let week =
        flightdeck(&["--db", &db, "stats", "--since", "7d", "--until", "2026-12-06", "--json"])
            .await;
    let week: serde_json::Value = serde_json::from_str(&week).expect("json");
    assert_eq!(week["releases"], 4);
}
