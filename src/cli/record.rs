//! The record verbs: `report`, `verify`, `export` and `import`. None of them changes an
//! event; `import` only adds releases, after verifying their chains. `verify` checks the
//! chain, the stored plan against its hash, the snapshot against the events, a head written
//! down elsewhere and (with `--allowed-signers`) every signed approval.

use std::io::Write;
use std::path::Path;

use serde::Serialize;
use serde_json::json;

use super::verbs::{Failure, open, open_reading};
use super::{Cli, EXIT_USAGE};
use crate::release::EventRecord;
use crate::signing::{self, SignatureReport};
use crate::store::{
    self, AnchoredHead, ChainReport, Head, PlanCheck, ReleaseRow, SnapshotCheck, Store,
};
use crate::{plan, report, transfer};

fn write_out(output: Option<&Path>, text: &str) -> Result<(), Failure> {
    match output {
        Some(path) => std::fs::write(path, text)
            .map_err(|e| Failure::error(format!("cannot write {}: {e}", path.display()))),
        None => {
            let stdout = std::io::stdout();
            let mut out = stdout.lock();
            // A closed pipe (`| head`) is not an error worth reporting.
            let _ = out.write_all(text.as_bytes());
            let _ = out.flush();
            Ok(())
        }
    }
}

/// `flightdeck report [RELEASE] [--format md|json|html] [-o FILE]`
pub async fn report(
    cli: &Cli,
    release: Option<&str>,
    format: &str,
    output: Option<&Path>,
) -> Result<(), Failure> {
    let store = open_reading(cli).await?;
    let row = store.find(release).await?;
    let built = report::load(&store, row.id).await?;
    let text = match format {
        "md" => report::markdown::render(&built),
        "json" => report::json::render(&built),
        "html" => report::html::render(&built),
        other => {
            return Err(Failure { code: EXIT_USAGE, message: format!("unknown format {other}") });
        }
    };
    write_out(output, &text)?;
    if let Some(path) = output {
        eprintln!("wrote the report of release {} to {}", row.id, path.display());
    }
    Ok(())
}

/// What `verify` checks beyond the chain.
#[derive(Debug, Clone, Copy, Default)]
pub struct VerifyOptions<'a> {
    /// `--head`: a head written down earlier.
    pub head: Option<&'a str>,
    /// `--allowed-signers`: the ssh-keygen allowed_signers file.
    pub allowed_signers: Option<&'a Path>,
    /// `--json`.
    pub json: bool,
}

/// Everything `verify` found about one release.
#[derive(Debug, Serialize)]
struct Verified {
    release: serde_json::Value,
    intact: bool,
    head: Head,
    chain: ChainReport,
    plan: PlanCheck,
    snapshot: SnapshotCheck,
    anchored_head: Option<serde_json::Value>,
    signatures: SignatureReport,
    problems: Vec<String>,
}

/// `flightdeck verify [RELEASE] [--head SEQ:HASH] [--allowed-signers FILE] [--json]`: exit 0
/// when every record holds; 1 naming the first break of each release that does not (its
/// chain, its stored plan, its snapshot, the anchored head, its signatures).
pub async fn verify(
    cli: &Cli,
    release: Option<&str>,
    options: &VerifyOptions<'_>,
) -> Result<(), Failure> {
    let anchored = options
        .head
        .map(AnchoredHead::parse)
        .transpose()
        .map_err(|e| Failure { code: EXIT_USAGE, message: format!("--head {e}") })?;
    if let Some(file) = options.allowed_signers {
        if !file.is_file() {
            return Err(Failure {
                code: EXIT_USAGE,
                message: format!(
                    "--allowed-signers {}: no such file (one line per signer: `NAME \
                     ssh-ed25519 AAAA...`, see README: Signed approvals)",
                    file.display()
                ),
            });
        }
    }
    let store = open_reading(cli).await?;
    let rows = match (release, &anchored) {
        (Some(sel), _) => vec![store.find(Some(sel)).await?],
        (None, Some(head)) => vec![release_of_head(&store, head).await?],
        (None, None) => {
            let mut all = store.releases().await?;
            all.reverse();
            all
        }
    };
    if rows.is_empty() {
        if options.json {
            println!("{}", json!({ "intact": true, "releases": [] }));
        } else {
            println!("no releases in {}", store.path().display());
        }
        return Ok(());
    }
    let mut all = Vec::new();
    for row in &rows {
        all.push(verify_one(&store, row, anchored.as_ref(), options.allowed_signers).await?);
    }
    let broken: Vec<String> = all
        .iter()
        .filter(|v| !v.intact)
        .map(|v| format!("release {}: {}", v.release["id"], v.problems.join("; ")))
        .collect();
    if options.json {
        let text =
            serde_json::to_string_pretty(&json!({ "intact": broken.is_empty(), "releases": all }))
                .unwrap_or_default();
        println!("{text}");
    } else {
        for v in &all {
            print_verified(v);
        }
    }
    if broken.is_empty() {
        Ok(())
    } else {
        Err(Failure::error(format!("the record was tampered with: {}", broken.join("; "))))
    }
}

fn print_verified(v: &Verified) {
    println!(
        "release {} ({} {}): {}",
        v.release["id"],
        v.release["service"].as_str().unwrap_or_default(),
        v.release["version"].as_str().unwrap_or_default(),
        v.chain.summary()
    );
    println!("  head {}", v.head.shown());
    println!("  {}", v.plan.summary());
    if let Some(s) = v.snapshot.summary() {
        println!("  SNAPSHOT: {s}");
    }
    if let Some(a) = &v.anchored_head {
        println!("  {}", a["summary"].as_str().unwrap_or_default());
    }
    if let Some(s) = v.signatures.summary() {
        println!("  {s}");
    }
}

/// The release whose events hold `head` (with a seq: at that seq), else the only one.
async fn release_of_head(store: &Store, head: &AnchoredHead) -> Result<ReleaseRow, Failure> {
    let all = store.releases().await?;
    for row in &all {
        if head.check(&store.stored_events(row.id).await?).is_ok() {
            return Ok(row.clone());
        }
    }
    match all.as_slice() {
        [only] => Ok(only.clone()),
        [] => Err(Failure::error(format!("no release in {}", store.path().display()))),
        _ => Err(Failure::error(format!(
            "no release's events reach the anchored head {}: its events were removed or \
             rewritten; name the release (`flightdeck verify RELEASE --head ...`) to see which",
            head.hash
        ))),
    }
}

async fn verify_one(
    store: &Store,
    row: &ReleaseRow,
    anchored: Option<&AnchoredHead>,
    allowed_signers: Option<&Path>,
) -> Result<Verified, Failure> {
    let chain = store.verify(row.id).await?;
    let head = store.head(row.id).await?;
    let plan_check = store.check_plan(row.id).await?;
    let (plan_toml, _) = store.stored_plan(row.id).await?;
    let events = store.stored_events(row.id).await?;
    let origin_id = store.anchor(row.id).await?.origin_id;
    let mut problems = Vec::new();
    if let Some(p) = &chain.problem {
        problems.push(format!("event {} {}: {}", p.seq, p.tamper.as_str(), p.detail));
    }
    if let PlanCheck::Mismatch { .. } = plan_check {
        problems.push(plan_check.summary());
    }
    let parsed = plan::parse(&plan_toml, &format!("plan of release {}", row.id)).ok();
    let snapshot = match &parsed {
        Some(plan) => store.snapshot_check(row.id, plan, true).await?.0,
        None => SnapshotCheck::Absent,
    };
    if let Some(s) = snapshot.summary() {
        problems.push(s);
    }
    let anchored_head = anchored.map(|a| {
        let (ok, summary) = match a.check(&events) {
            Ok(seq) => (true, format!("anchored head reached unchanged at event {seq}")),
            Err(why) => (false, format!("ANCHORED HEAD NOT REACHED: {why}")),
        };
        if !ok {
            problems.push(summary.clone());
        }
        json!({ "given": a.seq.map_or_else(|| a.hash.clone(), |s| format!("{s}:{}", a.hash)), "reached": ok, "summary": summary })
    });
    let records: Vec<EventRecord> = events.iter().filter_map(|e| e.record().ok()).collect();
    let required = parsed.as_ref().is_some_and(|p| p.policy.signed_approvals);
    let plan_sha = store::plan_digest(&plan_toml);
    let allowed = allowed_signers.map(Path::to_path_buf);
    let signatures = tokio::task::spawn_blocking(move || {
        signing::check_release(origin_id, &plan_sha, required, &records, allowed.as_deref())
    })
    .await
    .map_err(|e| Failure::error(format!("checking signatures failed: {e}")))?;
    for p in &signatures.problems {
        problems.push(format!("event {}: {}", p.seq, p.detail));
    }
    Ok(Verified {
        release: json!({ "id": row.id, "service": row.service, "version": row.version, "environment": row.environment }),
        intact: problems.is_empty(),
        head,
        chain,
        plan: plan_check,
        snapshot,
        anchored_head,
        signatures,
        problems,
    })
}

/// `flightdeck export [RELEASE] [-o FILE]`
pub async fn export(
    cli: &Cli,
    release: Option<&str>,
    output: Option<&Path>,
) -> Result<(), Failure> {
    let store = open_reading(cli).await?;
    let row = store.find(release).await?;
    let exported = store.export(row.id).await?;
    let text = transfer::write(std::slice::from_ref(&exported))
        .map_err(|e| Failure::error(format!("cannot encode release {}: {e}", row.id)))?;
    write_out(output, &text)?;
    if let Some(path) = output {
        eprintln!(
            "exported release {} ({} events) to {}",
            row.id,
            exported.events.len(),
            path.display()
        );
    }
    Ok(())
}

/// `flightdeck import FILE`
pub async fn import(cli: &Cli, file: &Path) -> Result<(), Failure> {
    if cli.read_only {
        return Err(Failure {
            code: super::EXIT_REJECTED,
            message: "rejected: --read-only: cannot import".into(),
        });
    }
    let text = std::fs::read_to_string(file)
        .map_err(|e| Failure::error(format!("cannot read {}: {e}", file.display())))?;
    let releases = transfer::read(&text)
        .map_err(|e| Failure::error(format!("{}: {e}; nothing was imported", file.display())))?;
    let store = open(cli).await?;
    let ids = store.import(&releases).await.map_err(|e| {
        let text = e.to_string();
        if text.contains("nothing was imported") {
            Failure::error(text)
        } else {
            Failure::error(format!("{text}; nothing was imported"))
        }
    })?;
    for (r, id) in releases.iter().zip(ids) {
        println!(
            "imported {} {} → {} as release {id} ({} events, chain verified{})",
            r.release.service,
            r.release.version,
            r.release.environment,
            r.events.len(),
            if r.release.unchained_through > 0 {
                format!("; {} unchained, written before chain support", r.release.unchained_through)
            } else {
                String::new()
            }
        );
    }
    Ok(())
}
