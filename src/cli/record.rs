//! The record verbs: `report`, `verify`, `export` and `import`. None of them changes an
//! event; `import` only adds releases, after verifying their chains.

use std::io::Write;
use std::path::Path;

use super::verbs::{Failure, open, open_reading};
use super::{Cli, EXIT_USAGE};
use crate::{report, transfer};

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

/// `flightdeck report [RELEASE] [--format md|json] [-o FILE]`
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

/// `flightdeck verify [RELEASE]`: exit 0 when every chain holds, 1 naming the first break.
pub async fn verify(cli: &Cli, release: Option<&str>) -> Result<(), Failure> {
    let store = open_reading(cli).await?;
    let rows = match release {
        Some(sel) => vec![store.find(Some(sel)).await?],
        None => {
            let mut all = store.releases().await?;
            all.reverse();
            all
        }
    };
    if rows.is_empty() {
        println!("no releases in {}", store.path().display());
        return Ok(());
    }
    let mut broken = Vec::new();
    for row in &rows {
        let chain = store.verify(row.id).await?;
        println!("release {} ({} {}): {}", row.id, row.service, row.version, chain.summary());
        if let Some(p) = &chain.problem {
            broken.push(format!("release {} event {} {}", row.id, p.seq, p.tamper.as_str()));
        }
    }
    if broken.is_empty() {
        Ok(())
    } else {
        Err(Failure::error(format!("the record was tampered with: {}", broken.join("; "))))
    }
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
