//! The report as JSON: the [`Report`] structure, pretty-printed with a trailing newline.
//! Stable: `schema` says which shape it is; fields are only ever added. The README documents
//! every field.

use super::Report;

/// Renders the report as pretty JSON.
pub fn render(report: &Report) -> String {
    let mut text = serde_json::to_string_pretty(report).unwrap_or_else(|e| {
        // Serializing plain structs of strings and numbers cannot fail; say so if it ever does.
        format!("{{\"schema\": {}, \"error\": \"{e}\"}}", super::REPORT_SCHEMA)
    });
    text.push('\n');
    text
}
