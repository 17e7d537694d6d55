//! HAProxy through its runtime API (a `stats socket … level admin`, unix or TCP): one
//! command per connection. The new version's share is set as the canary server's weight W
//! and the stable server's 100 − W (HAProxy weights run 0..256), read back with `get weight`
//! on both, and a server's UP/DOWN comes from `show stat`.

use futures_util::future::BoxFuture;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpStream, UnixStream};

use super::{CALL_TIMEOUT, ServerState, TrafficProvider};
use crate::plan::provider::{Endpoint, HaProxySpec};

/// The most of an answer read (`show stat` on a large configuration is long).
const MAX_ANSWER_BYTES: u64 = 8 * 1024 * 1024;

/// An HAProxy runtime API and the backend it moves traffic in.
#[derive(Debug, Clone)]
pub struct HaProxy {
    spec: HaProxySpec,
}

impl HaProxy {
    /// The provider for `spec`; nothing is connected until a call.
    pub fn new(spec: HaProxySpec) -> Self {
        Self { spec }
    }

    /// Sends one command and returns HAProxy's answer.
    pub async fn call(&self, command: &str) -> Result<String, String> {
        let exchange = async {
            match &self.spec.endpoint {
                Endpoint::Unix(path) => {
                    let stream = UnixStream::connect(path)
                        .await
                        .map_err(|e| format!("cannot connect: {}", describe_io(&e)))?;
                    exchange(stream, command).await
                }
                Endpoint::Tcp(address) => {
                    let stream = TcpStream::connect(address.as_str())
                        .await
                        .map_err(|e| connect_error(address, &e))?;
                    exchange(stream, command).await
                }
            }
        };
        match tokio::time::timeout(CALL_TIMEOUT, exchange).await {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(e)) => Err(format!("{}: `{command}`: {e}", self.describe())),
            Err(_) => Err(format!(
                "{}: `{command}` got no answer within {}",
                self.describe(),
                crate::plan::format_duration(CALL_TIMEOUT)
            )),
        }
    }

    async fn get_weight(&self, server: &str) -> Result<u32, String> {
        let command = format!("get weight {}/{server}", self.spec.backend);
        let answer = self.call(&command).await?;
        parse_weight_answer(&answer)
            .ok_or_else(|| format!("{}: `{command}`: {}", self.describe(), answer_text(&answer)))
    }

    async fn set_server_weight(&self, server: &str, weight: u8) -> Result<(), String> {
        let command = format!("set weight {}/{server} {weight}", self.spec.backend);
        let answer = self.call(&command).await?;
        // HAProxy answers nothing when the weight was set, and a sentence when it was not.
        if answer.trim().is_empty() {
            Ok(())
        } else {
            Err(format!("{}: `{command}`: {}", self.describe(), answer_text(&answer)))
        }
    }
}

impl TrafficProvider for HaProxy {
    fn name(&self) -> &'static str {
        "haproxy"
    }

    fn describe(&self) -> String {
        format!("haproxy at {}", self.spec.endpoint)
    }

    fn set_weight(&self, weight: u8) -> BoxFuture<'_, Result<String, String>> {
        Box::pin(async move {
            let weight = weight.min(100);
            let stable = 100 - weight;
            let (backend, canary_server, stable_server) =
                (&self.spec.backend, &self.spec.canary_server, &self.spec.stable_server);
            // Moving towards the new version, the canary gains first; moving back, the stable
            // server does: the backend never has both at 0 on the way.
            if weight >= self.read_canary_weight_or_zero().await {
                self.set_server_weight(canary_server, weight).await?;
                self.set_server_weight(stable_server, stable).await?;
            } else {
                self.set_server_weight(stable_server, stable).await?;
                self.set_server_weight(canary_server, weight).await?;
            }
            Ok(format!(
                "{}: set weight {backend}/{canary_server} {weight}, {backend}/{stable_server} {stable}",
                self.describe()
            ))
        })
    }

    fn read_weight(&self) -> BoxFuture<'_, Result<u8, String>> {
        Box::pin(async move {
            let canary = self.get_weight(&self.spec.canary_server).await?;
            let stable = self.get_weight(&self.spec.stable_server).await?;
            share(canary, stable).ok_or_else(|| {
                format!(
                    "{}: both {}/{} and {}/{} have weight 0: no server takes traffic",
                    self.describe(),
                    self.spec.backend,
                    self.spec.canary_server,
                    self.spec.backend,
                    self.spec.stable_server
                )
            })
        })
    }

    fn server_state<'a>(&'a self, server: &'a str) -> BoxFuture<'a, Result<ServerState, String>> {
        Box::pin(async move {
            let answer = self.call("show stat").await?;
            let status = stat_status(&answer, &self.spec.backend, server).ok_or_else(|| {
                format!(
                    "{}: `show stat` lists no server {}/{server}",
                    self.describe(),
                    self.spec.backend
                )
            })?;
            Ok(ServerState { server: server.to_owned(), up: is_up(&status), status })
        })
    }
}

impl HaProxy {
    async fn read_canary_weight_or_zero(&self) -> u8 {
        let weight = self.get_weight(&self.spec.canary_server).await.unwrap_or(0);
        u8::try_from(weight).unwrap_or(u8::MAX)
    }
}

async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    command: &str,
) -> Result<String, String> {
    stream
        .write_all(format!("{command}\n").as_bytes())
        .await
        .map_err(|e| format!("cannot send: {}", describe_io(&e)))?;
    let mut answer = Vec::new();
    (&mut stream)
        .take(MAX_ANSWER_BYTES)
        .read_to_end(&mut answer)
        .await
        .map_err(|e| format!("cannot read the answer: {}", describe_io(&e)))?;
    Ok(String::from_utf8_lossy(&answer).into_owned())
}

fn connect_error(address: &str, e: &std::io::Error) -> String {
    let host = address.rsplit_once(':').map_or(address, |(h, _)| h);
    let text = e.to_string();
    if text.contains("lookup") || text.contains("Name or service not known") {
        format!("DNS lookup failed for host {host}")
    } else {
        format!("cannot connect: {}", describe_io(e))
    }
}

fn describe_io(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => {
            "no such socket (is HAProxy running, with this `stats socket`?)".into()
        }
        std::io::ErrorKind::ConnectionRefused => {
            "connection refused (is HAProxy running, with this stats socket?)".into()
        }
        std::io::ErrorKind::PermissionDenied => {
            "permission denied (the socket's owner or mode keeps this user out)".into()
        }
        _ => e.to_string(),
    }
}

/// `get weight`'s answer: `10 (initial 1)`.
fn parse_weight_answer(answer: &str) -> Option<u32> {
    answer.split_whitespace().next()?.parse().ok()
}

/// The new version's percent from the two servers' weights, `None` when both are 0.
fn share(canary: u32, stable: u32) -> Option<u8> {
    let total = u64::from(canary) + u64::from(stable);
    if total == 0 {
        return None;
    }
    let percent = (u64::from(canary) * 100 + total / 2) / total;
    u8::try_from(percent).ok()
}

/// A server's `status` column in `show stat`'s CSV.
fn stat_status(csv: &str, backend: &str, server: &str) -> Option<String> {
    let mut lines = csv.lines();
    let header = lines.next()?.trim_start_matches('#').trim();
    let columns: Vec<&str> = header.split(',').collect();
    let at = |name: &str| columns.iter().position(|c| *c == name);
    let (px, sv, status) = (at("pxname")?, at("svname")?, at("status")?);
    lines.map(|l| l.split(',').collect::<Vec<_>>()).find_map(|fields| {
        (fields.get(px) == Some(&backend) && fields.get(sv) == Some(&server))
            .then(|| fields.get(status).map(|s| (*s).to_owned()))
            .flatten()
    })
}

/// `UP`, `UP 1/3` (going down but still up), `no check` (not checked) and `DRAIN` servers
/// still take connections; `DOWN`, `MAINT`, `NOLB` and the rest do not.
fn is_up(status: &str) -> bool {
    status.starts_with("UP") || status == "no check" || status == "DRAIN"
}

fn answer_text(answer: &str) -> String {
    let text = answer.trim();
    if text.is_empty() {
        "HAProxy answered nothing".into()
    } else {
        format!("HAProxy answered `{}`", text.lines().next().unwrap_or(text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn get_weight_answers_are_read() {
        assert_eq!(parse_weight_answer("10 (initial 1)\n"), Some(10));
        assert_eq!(parse_weight_answer("No such server.\n"), None);
        assert_eq!(parse_weight_answer(""), None);
    }

    #[test]
    fn the_share_is_the_canary_part_of_both_weights() {
        assert_eq!(share(10, 90), Some(10));
        assert_eq!(share(0, 100), Some(0));
        assert_eq!(share(100, 0), Some(100));
        assert_eq!(share(1, 1), Some(50));
        assert_eq!(share(0, 0), None);
    }

    #[test]
    fn show_stat_gives_each_server_its_status() {
        let csv = "# pxname,svname,qcur,status,weight\nweb,FRONTEND,,OPEN,\nweb,blue,0,UP,90\nweb,green,0,DOWN,10\n";
        assert_eq!(stat_status(csv, "web", "blue").as_deref(), Some("UP"));
        assert_eq!(stat_status(csv, "web", "green").as_deref(), Some("DOWN"));
        assert_eq!(stat_status(csv, "web", "red"), None);
        assert!(is_up("UP 1/3") && is_up("no check") && !is_up("DOWN") && !is_up("MAINT"));
    }
}
