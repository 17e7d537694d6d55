//! An action as the Detail pane shows it: its command or request, with what the release
//! already knows filled in as the runner will fill it.

use crate::plan::ActionKind;
use crate::tui::model::ReleaseView;

/// What an action runs, with the placeholders this release already knows filled in as the
/// runner fills them (`{image}`, `{version}`, ...; one the release was started without is
/// empty, as it will be when it runs); those known only when it runs (`{date}`,
/// `{outputs.…}`) and `${env:…}` secrets stay as written.
/// A deploy segment's `{target}` is its percent of the rollout.
pub(super) fn describe_action(
    kind: &ActionKind,
    release: &ReleaseView,
    environment: &str,
    target: Option<u8>,
) -> String {
    let text = match kind {
        ActionKind::Command { argv, .. } => format!("$ {}", argv.join(" ")),
        ActionKind::Http { method, url, .. } => format!("{method} {url}"),
    };
    let Some(info) = &release.state.info else { return text };
    crate::plan::template::fill(&text, |name| match name {
        "version" => Some(info.version.clone()),
        "previous_version" => Some(info.previous_version.clone().unwrap_or_default()),
        "release_id" => Some(release.id.to_string()),
        "environment" => Some(environment.to_owned()),
        "service" => Some(info.service.clone()),
        "sha" => Some(info.sha.clone().unwrap_or_default()),
        "image" => Some(info.image.clone().unwrap_or_default()),
        "target" => target.map(|t| t.to_string()),
        _ => None,
    })
}
