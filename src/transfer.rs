//! `flightdeck export` / `import`: a release as JSON lines — one line for the release (its
//! row, plan text and chain anchor), one per event exactly as stored (payload text and hash),
//! then one per stored probe reading. Import verifies the chain before writing anything.

use serde::{Deserialize, Serialize};

use crate::store::{ExportedRelease, ExportedSample, Importing, StoredEvent};

/// Version of the line format.
pub const EXPORT_FORMAT: u32 = 1;

/// One line of an export.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Line {
    /// Starts a release; its events and readings follow.
    Release {
        /// [`EXPORT_FORMAT`].
        format: u32,
        /// The release.
        #[serde(flatten)]
        release: ExportedRelease,
    },
    /// One event, exactly as stored.
    Event(StoredEvent),
    /// One probe reading.
    Sample(ExportedSample),
}

/// The export of releases as JSON lines, each ending in a newline.
pub fn write(releases: &[Importing]) -> Result<String, serde_json::Error> {
    let mut out = String::new();
    for r in releases {
        let head = Line::Release { format: EXPORT_FORMAT, release: r.release.clone() };
        out.push_str(&serde_json::to_string(&head)?);
        out.push('\n');
        for e in &r.events {
            out.push_str(&serde_json::to_string(&Line::Event(e.clone()))?);
            out.push('\n');
        }
        for s in &r.samples {
            out.push_str(&serde_json::to_string(&Line::Sample(s.clone()))?);
            out.push('\n');
        }
    }
    Ok(out)
}

/// Reads an export back; an error names the line.
pub fn read(text: &str) -> Result<Vec<Importing>, String> {
    let mut releases: Vec<Importing> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        if line.trim().is_empty() {
            continue;
        }
        let parsed: Line = serde_json::from_str(line)
            .map_err(|e| format!("line {n}: not a flightdeck export line: {e}"))?;
        match parsed {
            Line::Release { format, release } => {
                if format > EXPORT_FORMAT {
                    return Err(format!(
                        "line {n}: export format {format}; this flightdeck reads up to {EXPORT_FORMAT}"
                    ));
                }
                releases.push(Importing { release, events: Vec::new(), samples: Vec::new() });
            }
            Line::Event(e) => match releases.last_mut() {
                Some(r) => r.events.push(e),
                None => return Err(format!("line {n}: an event before any release line")),
            },
            Line::Sample(s) => match releases.last_mut() {
                Some(r) => r.samples.push(s),
                None => return Err(format!("line {n}: a reading before any release line")),
            },
        }
    }
    if releases.is_empty() {
        return Err("no release in the file".into());
    }
    Ok(releases)
}
