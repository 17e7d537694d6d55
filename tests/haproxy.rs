//! The built-in HAProxy provider against a real HAProxy (issue 14): a release shifts
//! 10 → 50 → 100 and rolls back through the runtime API on a unix socket, and the weights
//! HAProxy itself reports are checked at each point; `check --live` reads the weight and the
//! servers' UP/DOWN over a TCP stats socket.
//!
//! HAProxy (the Debian package) runs on 127.0.0.1 with run-time ports and its socket in a
//! temp dir; both servers are TCP listeners of this test. Without `haproxy` on the PATH the
//! tests say why and pass, unless FLIGHTDECK_REQUIRE_SERVERS=1 (CI). Every HAProxy started
//! is killed when its guard drops.

mod support;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use support::cli::Deck;
use support::pty::now;

/// `haproxy` on the PATH, or why the test is skipped.
fn have_haproxy(test: &str) -> bool {
    let found = Command::new("haproxy")
        .arg("-v")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if found {
        return true;
    }
    if std::env::var("FLIGHTDECK_REQUIRE_SERVERS").as_deref() == Ok("1") {
        panic!("FLIGHTDECK_REQUIRE_SERVERS=1 but {test} has no haproxy (apt-get install haproxy)");
    }
    eprintln!("skipping {test}: haproxy is not installed (the Debian package `haproxy`)");
    false
}

/// A free loopback port (bound and let go; HAProxy binds it next).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

/// A running HAProxy with a backend `web` of two servers, `blue` (weight 100) and `green`
/// (weight 0); killed on drop.
struct HaProxy {
    child: Child,
    socket: PathBuf,
    admin: String,
    _servers: Vec<TcpListener>,
}

impl HaProxy {
    /// Starts HAProxy in `dir`; `green_up` false points green at a closed port (it goes DOWN).
    fn start(dir: &Path, green_up: bool) -> Self {
        let blue = TcpListener::bind("127.0.0.1:0").expect("bind blue");
        let green = TcpListener::bind("127.0.0.1:0").expect("bind green");
        let blue_port = blue.local_addr().expect("addr").port();
        let green_port =
            if green_up { green.local_addr().expect("addr").port() } else { free_port() };
        let socket = dir.join("admin.sock");
        let admin = format!("127.0.0.1:{}", free_port());
        let config = format!(
            r"global
    stats socket {socket} mode 600 level admin
    stats socket ipv4@{admin} level admin

defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s

frontend site
    bind 127.0.0.1:{front}
    default_backend web

backend web
    balance roundrobin
    server blue 127.0.0.1:{blue_port} weight 100 check inter 200ms
    server green 127.0.0.1:{green_port} weight 0 check inter 200ms
",
            socket = socket.display(),
            front = free_port(),
        );
        let config_path = dir.join("haproxy.cfg");
        std::fs::write(&config_path, config).expect("write haproxy.cfg");
        let child = Command::new("haproxy")
            .arg("-db")
            .arg("-f")
            .arg(&config_path)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start haproxy");
        let mut proxy = Self { child, socket, admin, _servers: vec![blue, green] };
        let deadline = now() + Duration::from_secs(20);
        while proxy.ask("show info").is_err() {
            if let Ok(Some(status)) = proxy.child.try_wait() {
                let mut stderr = String::new();
                if let Some(mut e) = proxy.child.stderr.take() {
                    let _ = e.read_to_string(&mut stderr);
                }
                panic!("haproxy exited ({status}) at start:\n{stderr}");
            }
            assert!(now() < deadline, "haproxy's socket never answered");
            std::thread::sleep(Duration::from_millis(50));
        }
        proxy
    }

    /// One runtime API command on the unix socket, as HAProxy answers it.
    fn ask(&self, command: &str) -> std::io::Result<String> {
        let mut stream = UnixStream::connect(&self.socket)?;
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        stream.write_all(format!("{command}\n").as_bytes())?;
        let mut answer = String::new();
        stream.read_to_string(&mut answer)?;
        Ok(answer)
    }

    /// The weight HAProxy reports for `server` (`get weight`'s first number).
    fn weight(&self, server: &str) -> u32 {
        let answer = self.ask(&format!("get weight web/{server}")).expect("get weight");
        answer
            .split_whitespace()
            .next()
            .and_then(|w| w.parse().ok())
            .unwrap_or_else(|| panic!("get weight web/{server} answered {answer:?}"))
    }

    fn weights(&self) -> (u32, u32) {
        (self.weight("green"), self.weight("blue"))
    }
}

impl Drop for HaProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A plan moving traffic through the HAProxy provider: 10 → 50 → 100, then an action step
/// (so the release is still running for a rollback).
fn plan(deck: &Deck, endpoint: &str) -> PathBuf {
    deck.write(
        "plan.toml",
        &format!(
            r#"[service]
name = "checkout-api"
environment = "production"

[actions.announce]
kind = "command"
argv = ["echo", "released {{version}}"]
timeout = "10s"

[traffic]
provider = "haproxy"
{endpoint}
backend = "web"
stable_server = "blue"
canary_server = "green"
check_every = "1s"

[rollback]
steps = []

[[stages]]
id = "canary"
name = "Canary"

  [[stages.steps]]
  id = "shift-10"
  kind = "traffic"
  weight = 10

  [[stages.steps]]
  id = "shift-50"
  kind = "traffic"
  weight = 50

  [[stages.steps]]
  id = "shift-100"
  kind = "traffic"
  weight = 100

  [[stages.steps]]
  id = "announce"
  kind = "action"
  action = "announce"
"#
        ),
    )
}

#[test]
fn a_release_moves_haproxy_weights_and_rolls_them_back() {
    if !have_haproxy("a_release_moves_haproxy_weights_and_rolls_them_back") {
        return;
    }
    let deck = Deck::new();
    let proxy = HaProxy::start(deck.dir.path(), true);
    assert_eq!(proxy.weights(), (0, 100), "the configured weights");
    let plan = plan(&deck, &format!("socket = \"{}\"", proxy.socket.display()));
    deck.ok(&["check", &plan.display().to_string()]);
    deck.ok(&["start", &plan.display().to_string(), "--version", "1.4.0"]);
    for (weight, stable) in [(10, 90), (50, 50), (100, 0)] {
        let out = if weight == 100 { deck.ok(&["next", "--confirm"]) } else { deck.ok(&["next"]) };
        assert_eq!(proxy.weights(), (weight, stable), "after the shift to {weight}%:\n{out:?}");
        let status = deck.status();
        assert_eq!(status["release"]["weight"], weight, "{status:#}");
    }
    let events = deck.events();
    let started: Vec<&str> = events
        .iter()
        .filter(|e| e["event"]["kind"] == "action_started")
        .filter_map(|e| e["event"]["action"].as_str())
        .collect();
    assert_eq!(started, ["haproxy"; 3], "the provider stands for the set action");
    let said: Vec<&str> = events
        .iter()
        .filter(|e| e["event"]["kind"] == "action_finished")
        .filter_map(|e| e["event"]["output_tail"].as_str())
        .collect();
    assert_eq!(said.len(), 3, "{events:#?}");
    assert!(said[0].contains("set weight web/green 10, web/blue 90"), "{said:?}");
    deck.ok(&["rollback", "--reason", "bad canary", "--confirm"]);
    assert_eq!(proxy.weights(), (0, 100), "after the rollback");
    let status = deck.status();
    assert_eq!(status["release"]["weight"], 0, "{status:#}");
}

#[test]
fn check_live_reads_haproxy_over_tcp_and_names_a_down_server() {
    if !have_haproxy("check_live_reads_haproxy_over_tcp_and_names_a_down_server") {
        return;
    }
    let deck = Deck::new();
    let proxy = HaProxy::start(deck.dir.path(), false);
    let plan = plan(&deck, &format!("address = \"{}\"", proxy.admin));
    // Green's health check fails against a closed port: wait until HAProxy says DOWN.
    let deadline = now() + Duration::from_secs(20);
    while !proxy
        .ask("show stat")
        .expect("show stat")
        .lines()
        .any(|l| l.starts_with("web,green,") && l.contains(",DOWN,"))
    {
        assert!(now() < deadline, "green never went DOWN");
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = deck.run(&["check", "--live", &plan.display().to_string()]);
    assert_eq!(out.code, Some(1), "a DOWN server fails the live check:\n{out:?}");
    let blue = out
        .stdout
        .lines()
        .find(|l| l.starts_with("health haproxy:web/blue"))
        .unwrap_or_else(|| panic!("{}", out.stdout));
    assert!(blue.contains("yes") && blue.contains("haproxy up"), "{blue}");
    let green = out
        .stdout
        .lines()
        .find(|l| l.starts_with("health haproxy:web/green"))
        .unwrap_or_else(|| panic!("{}", out.stdout));
    assert!(green.contains("NO") && green.contains("server green is DOWN"), "{green}");
    assert!(green.contains(&proxy.admin), "the failure names the address: {green}");
    let read = out
        .stdout
        .lines()
        .find(|l| l.starts_with("traffic read-back"))
        .unwrap_or_else(|| panic!("{}", out.stdout));
    assert!(read.contains("yes") && read.contains("0% on the new version"), "{read}");
    assert!(out.stderr.contains("1 of 3 did not answer"), "{}", out.stderr);
    // A split left over from an earlier release would be drift at the first read-back.
    assert_eq!(proxy.ask("set weight web/green 50").expect("set weight").trim(), "");
    let out = deck.run(&["check", "--live", &plan.display().to_string()]);
    let read = out
        .stdout
        .lines()
        .find(|l| l.starts_with("traffic read-back"))
        .unwrap_or_else(|| panic!("{}", out.stdout));
    assert!(read.contains("NO") && read.contains("the provider says 33%"), "{read}");
}

#[test]
fn a_dead_haproxy_socket_is_named_in_the_failure() {
    let deck = Deck::new();
    let socket = deck.dir.path().join("nobody.sock");
    let plan = plan(&deck, &format!("socket = \"{}\"", socket.display()));
    let out = deck.run(&["check", "--live", &plan.display().to_string()]);
    assert_eq!(out.code, Some(1), "{out:?}");
    let read = out
        .stdout
        .lines()
        .find(|l| l.starts_with("traffic read-back"))
        .unwrap_or_else(|| panic!("{}", out.stdout));
    assert!(read.contains("NO") && read.contains(&socket.display().to_string()), "{read}");
    assert!(read.contains("no such socket"), "{read}");
}

#[test]
fn a_weight_changed_in_haproxy_behind_flightdecks_back_is_drift() {
    if !have_haproxy("a_weight_changed_in_haproxy_behind_flightdecks_back_is_drift") {
        return;
    }
    let deck = Deck::new();
    let proxy = HaProxy::start(deck.dir.path(), true);
    let plan = plan(&deck, &format!("socket = \"{}\"", proxy.socket.display()));
    deck.ok(&["start", &plan.display().to_string(), "--version", "1.4.0"]);
    deck.ok(&["next"]);
    assert_eq!(proxy.weights(), (10, 90));
    let supervisor = deck.spawn(&["supervise"]);
    // Someone moves traffic by hand: 30 of 100 on green is 30%, not the recorded 10%.
    assert_eq!(proxy.ask("set weight web/green 30").expect("set weight").trim(), "");
    assert_eq!(proxy.ask("set weight web/blue 70").expect("set weight").trim(), "");
    let events = deck.wait_events("a drift", Duration::from_secs(60), |e| {
        e.iter().any(|e| e["event"]["kind"] == "paused")
    });
    // SAFETY: kill only sends a signal to the child we started.
    unsafe {
        libc::kill(i32::try_from(supervisor.id()).expect("pid"), libc::SIGTERM);
    }
    let out = supervisor.wait();
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let drift = events
        .iter()
        .find(|e| e["event"]["kind"] == "traffic_drift")
        .unwrap_or_else(|| panic!("no traffic_drift: {events:#?}"));
    assert_eq!(drift["event"]["desired"], 10, "{drift}");
    assert_eq!(drift["event"]["actual"], 30, "{drift}");
    assert_eq!(drift["event"]["source"], "haproxy", "{drift}");
}

#[test]
fn check_refuses_a_provider_beside_a_set_action_and_half_a_provider() {
    let deck = Deck::new();
    let both = deck.write(
        "both.toml",
        r#"[service]
name = "api"
environment = "production"

[actions.set_weight]
kind = "command"
argv = ["echo", "{weight}"]

[traffic]
provider = "haproxy"
set = "set_weight"
socket = "/run/haproxy/admin.sock"
address = "127.0.0.1:9999"
backend = "web"
stable_server = "blue"

[rollback]
steps = []

[[stages]]
id = "s"
name = "S"

  [[stages.steps]]
  id = "shift"
  kind = "traffic"
  weight = 10
"#,
    );
    let out = deck.run(&["check", &both.display().to_string()]);
    assert_eq!(out.code, Some(1), "{out:?}");
    let text = format!("{}{}", out.stdout, out.stderr);
    for (line, field, says) in [
        (11, "traffic.set", "sets and reads the weight itself"),
        (13, "traffic.address", "both `socket` and `address` are set"),
        (9, "traffic.canary_server", "needs `canary_server`"),
    ] {
        assert!(
            text.lines()
                .any(|l| l.contains(&format!(":{line}:")) && l.contains(field) && l.contains(says)),
            "line {line}, {field}: {says}\n{text}"
        );
    }
}

#[test]
fn check_names_a_traffic_table_without_set_or_provider_and_an_unknown_provider() {
    let deck = Deck::new();
    let plan_with = |traffic: &str| {
        deck.write(
            "t.toml",
            &format!(
                "[service]\nname = \"api\"\nenvironment = \"production\"\n\n[traffic]\n{traffic}\n\n[rollback]\nsteps = []\n\n[[stages]]\nid = \"s\"\nname = \"S\"\n\n  [[stages.steps]]\n  id = \"shift\"\n  kind = \"traffic\"\n  weight = 10\n"
            ),
        )
    };
    for (traffic, line, field, says) in [
        ("stable_label = \"blue\"", 5, "traffic.set", "needs `set`"),
        ("provider = \"nginx\"", 6, "traffic.provider", "`nginx` is not a provider"),
        ("backend = \"web\"", 6, "traffic.backend", "there is no `provider`"),
    ] {
        let plan = plan_with(traffic);
        let out = deck.run(&["check", &plan.display().to_string()]);
        assert_eq!(out.code, Some(1), "{traffic}: {out:?}");
        let text = format!("{}{}", out.stdout, out.stderr);
        assert!(
            text.lines()
                .any(|l| l.contains(&format!(":{line}:")) && l.contains(field) && l.contains(says)),
            "{traffic}: line {line}, {field}: {says}\n{text}"
        );
    }
}
