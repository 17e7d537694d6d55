//! The built-in traffic providers a `[traffic]` table may name instead of a set-weight
//! action (`provider = "haproxy"`): their fields, checked, and the health probes that show
//! their servers' state. Pure: talking to the provider is `crate::provider`'s job.

use std::collections::BTreeMap;
use std::ops::Range;
use std::time::Duration;

use toml::Spanned;

use super::{HealthProbe, Role};

/// The providers flightdeck can drive itself.
pub const KNOWN_PROVIDERS: &[&str] = &["haproxy"];

/// A built-in provider, as the plan configures it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderSpec {
    /// HAProxy through its runtime API (stats socket).
    HaProxy(HaProxySpec),
}

impl ProviderSpec {
    /// The provider's name, which also stands for its set and read-back "action" in events.
    pub fn name(&self) -> &'static str {
        match self {
            Self::HaProxy(_) => "haproxy",
        }
    }

    /// The health probes that show the provider's servers in the Health pane.
    pub fn server_probes(&self, interval: Duration) -> Vec<HealthProbe> {
        match self {
            Self::HaProxy(h) => vec![
                h.server_probe(&h.stable_server, Role::Stable, interval),
                h.server_probe(&h.canary_server, Role::Canary, interval),
            ],
        }
    }

    /// The server a health probe made by [`Self::server_probes`] watches, if it is one.
    pub fn server_of_probe(&self, probe: &HealthProbe) -> Option<String> {
        match self {
            Self::HaProxy(h) => [&h.stable_server, &h.canary_server]
                .into_iter()
                .find(|s| probe.url == h.server_url(s))
                .cloned(),
        }
    }
}

/// Where a runtime API listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// A unix socket path.
    Unix(String),
    /// A TCP `host:port`.
    Tcp(String),
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Unix(path) => write!(f, "unix socket {path}"),
            Self::Tcp(address) => write!(f, "{address}"),
        }
    }
}

/// `provider = "haproxy"`: the backend and its two servers, one per version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HaProxySpec {
    /// The runtime API (stats socket).
    pub endpoint: Endpoint,
    /// The backend both servers are in.
    pub backend: String,
    /// The server running the stable version.
    pub stable_server: String,
    /// The server running the new version.
    pub canary_server: String,
}

impl HaProxySpec {
    /// What the Health pane shows as the probe's address.
    fn server_url(&self, server: &str) -> String {
        let place = match &self.endpoint {
            Endpoint::Unix(path) => format!("unix:{path}"),
            Endpoint::Tcp(address) => address.clone(),
        };
        format!("haproxy://{place}/{}/{server}", self.backend)
    }

    fn server_probe(&self, server: &str, role: Role, interval: Duration) -> HealthProbe {
        HealthProbe {
            id: format!("haproxy:{}/{server}", self.backend),
            name: format!("HAProxy {}/{server}", self.backend),
            url: self.server_url(server),
            role,
            interval,
            timeout: Duration::from_secs(2),
            expect_status: 200,
            status_pointer: String::new(),
            healthy_values: Vec::new(),
            version_pointer: String::new(),
            expect_version: false,
            down_after: 2,
            up_after: 1,
            headers: BTreeMap::new(),
            max_body: 0,
            require: BTreeMap::new(),
        }
    }
}

/// The provider fields of a `[traffic]` table, as written.
#[derive(Debug, Default)]
pub struct RawProvider<'a> {
    /// `provider`.
    pub provider: Option<&'a Spanned<String>>,
    /// `socket`.
    pub socket: Option<&'a Spanned<String>>,
    /// `address`.
    pub address: Option<&'a Spanned<String>>,
    /// `backend`.
    pub backend: Option<&'a Spanned<String>>,
    /// `stable_server`.
    pub stable_server: Option<&'a Spanned<String>>,
    /// `canary_server`.
    pub canary_server: Option<&'a Spanned<String>>,
    /// Where the `[traffic]` table is, for what is missing from it.
    pub table: Range<usize>,
}

/// A problem with the provider fields: where, which field, what, and what to do.
#[derive(Debug)]
pub struct ProviderProblem {
    /// Byte span in the plan.
    pub span: Range<usize>,
    /// The field's path.
    pub field: String,
    /// What is wrong.
    pub message: String,
    /// What to do.
    pub hint: String,
}

fn problem(span: Range<usize>, field: &str, message: String, hint: &str) -> ProviderProblem {
    ProviderProblem { span, field: format!("traffic.{field}"), message, hint: hint.to_owned() }
}

/// Checks the provider fields; `None` with no problems when there is no provider.
pub fn check(raw: &RawProvider<'_>, problems: &mut Vec<ProviderProblem>) -> Option<ProviderSpec> {
    let Some(name) = raw.provider else {
        for (field, value) in [
            ("socket", raw.socket),
            ("address", raw.address),
            ("backend", raw.backend),
            ("stable_server", raw.stable_server),
            ("canary_server", raw.canary_server),
        ] {
            if let Some(v) = value {
                problems.push(problem(
                    v.span(),
                    field,
                    "is a provider field, but there is no `provider`".into(),
                    "add provider = \"haproxy\", or remove it",
                ));
            }
        }
        return None;
    };
    if name.get_ref() != "haproxy" {
        problems.push(problem(
            name.span(),
            "provider",
            format!("`{}` is not a provider flightdeck knows", name.get_ref()),
            &format!(
                "use one of: {}; or drive any other provider with set = \"ACTION\" and read = \"ACTION\"",
                KNOWN_PROVIDERS.join(", ")
            ),
        ));
        return None;
    }
    let endpoint = match (raw.socket, raw.address) {
        (Some(s), Some(a)) => {
            problems.push(problem(
                a.span(),
                "address",
                "both `socket` and `address` are set".into(),
                "HAProxy's runtime API is one of them: keep the unix `socket` or the TCP `address`",
            ));
            Endpoint::Unix(s.get_ref().clone())
        }
        (None, None) => {
            problems.push(problem(
                raw.table.clone(),
                "socket",
                "provider \"haproxy\" needs `socket` or `address`".into(),
                "e.g. socket = \"/run/haproxy/admin.sock\" (a `stats socket` line with `level admin`), or address = \"127.0.0.1:9999\"",
            ));
            Endpoint::Unix(String::new())
        }
        (Some(s), None) => {
            if s.get_ref().trim().is_empty() {
                problems.push(problem(
                    s.span(),
                    "socket",
                    "must not be empty".into(),
                    "the path of HAProxy's stats socket, e.g. \"/run/haproxy/admin.sock\"",
                ));
            }
            Endpoint::Unix(s.get_ref().clone())
        }
        (None, Some(a)) => {
            if !is_host_port(a.get_ref()) {
                problems.push(problem(
                    a.span(),
                    "address",
                    format!("`{}` is not a host:port", shorten(a.get_ref())),
                    "the TCP stats socket, e.g. address = \"127.0.0.1:9999\"",
                ));
            }
            Endpoint::Tcp(a.get_ref().clone())
        }
    };
    let mut name_field = |value: Option<&Spanned<String>>, field: &str, example: &str| {
        match value {
            None => problems.push(problem(
                raw.table.clone(),
                field,
                format!("provider \"haproxy\" needs `{field}`"),
                &format!("e.g. {field} = \"{example}\""),
            )),
            Some(v) if v.get_ref().trim().is_empty() || v.get_ref().contains(['/', ' ', ';']) => {
                problems.push(problem(
                    v.span(),
                    field,
                    "must be a name as in haproxy.cfg (not empty, no `/`, `;` or spaces)".into(),
                    &format!("e.g. {field} = \"{example}\""),
                ));
            }
            Some(_) => {}
        }
        value.map(|v| v.get_ref().clone()).unwrap_or_default()
    };
    let backend = name_field(raw.backend, "backend", "web");
    let stable_server = name_field(raw.stable_server, "stable_server", "blue");
    let canary_server = name_field(raw.canary_server, "canary_server", "green");
    if !stable_server.is_empty() && stable_server == canary_server {
        if let Some(v) = raw.canary_server {
            problems.push(problem(
                v.span(),
                "canary_server",
                format!("is the same server as stable_server (`{stable_server}`)"),
                "traffic moves between two servers: name the one running the new version",
            ));
        }
    }
    Some(ProviderSpec::HaProxy(HaProxySpec { endpoint, backend, stable_server, canary_server }))
}

fn is_host_port(s: &str) -> bool {
    match s.rsplit_once(':') {
        Some((host, port)) => {
            !host.trim().is_empty()
                && !host.contains(' ')
                && port.parse::<u16>().is_ok_and(|p| p > 0)
        }
        None => false,
    }
}

fn shorten(s: &str) -> String {
    const SHOWN_CHARS: usize = 80;
    if s.chars().count() > SHOWN_CHARS {
        format!("{}…", s.chars().take(SHOWN_CHARS).collect::<String>())
    } else {
        s.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spanned(s: &str) -> Spanned<String> {
        Spanned::new(0..s.len(), s.to_owned())
    }

    #[test]
    fn a_complete_haproxy_table_is_a_provider() {
        let (p, s, b, st, ca) = (
            spanned("haproxy"),
            spanned("/run/h.sock"),
            spanned("web"),
            spanned("a"),
            spanned("b"),
        );
        let raw = RawProvider {
            provider: Some(&p),
            socket: Some(&s),
            backend: Some(&b),
            stable_server: Some(&st),
            canary_server: Some(&ca),
            ..RawProvider::default()
        };
        let mut problems = Vec::new();
        let spec = check(&raw, &mut problems).expect("a provider");
        assert!(problems.is_empty(), "{problems:?}");
        let probes = spec.server_probes(Duration::from_secs(5));
        assert_eq!(probes.len(), 2);
        assert_eq!(spec.server_of_probe(&probes[1]).as_deref(), Some("b"));
        assert_eq!(probes[0].url, "haproxy://unix:/run/h.sock/web/a");
    }

    #[test]
    fn socket_and_address_together_and_missing_names_are_refused() {
        let (p, s, a, st) =
            (spanned("haproxy"), spanned("/s"), spanned("127.0.0.1:1"), spanned("same"));
        let raw = RawProvider {
            provider: Some(&p),
            socket: Some(&s),
            address: Some(&a),
            stable_server: Some(&st),
            canary_server: Some(&st),
            ..RawProvider::default()
        };
        let mut problems = Vec::new();
        check(&raw, &mut problems);
        let fields: Vec<&str> = problems.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(
            fields,
            ["traffic.address", "traffic.backend", "traffic.canary_server"],
            "{problems:?}"
        );
    }

    #[test]
    fn an_address_must_be_host_and_port() {
        assert!(is_host_port("127.0.0.1:9999"));
        assert!(is_host_port("lb.internal:80"));
        assert!(!is_host_port("lb.internal"));
        assert!(!is_host_port(":80"));
        assert!(!is_host_port("h:0"));
    }
}
