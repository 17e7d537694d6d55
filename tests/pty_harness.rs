//! Self-tests of the PTY harness in `tests/support/pty.rs`, independent of
//! flightdeck's own features: they drive `/bin/sh` and `sleep`.

mod support;

use std::path::Path;
use std::time::Duration;

use support::pty::{Pty, now, timeout};

fn sh(script: &str, cols: u16, rows: u16) -> Pty {
    Pty::spawn_program(Path::new("/bin/sh"), &["-c", script], cols, rows, &[])
}

#[test]
fn echoes_input_and_exits_successfully() {
    let pty = sh(r#"printf "hello\n"; read x; printf "got %s\n" "$x""#, 80, 24);
    pty.wait_for_text("hello", timeout(10)).unwrap();
    pty.send_str("abc");
    pty.enter();
    pty.wait_for_text("got abc", timeout(10)).unwrap();
    let status = pty.wait_exit(timeout(10)).expect("sh exits");
    assert!(status.success(), "exit status: {status:?}");
    assert!(pty.bytes_read() > 0);
    assert!(!pty.alternate_screen());
    assert!(!pty.hide_cursor());
}

#[test]
fn honours_the_screen_size() {
    let pty = sh("stty size; sleep 1", 80, 24);
    pty.wait_for_text("24 80", timeout(10)).unwrap();
}

#[test]
fn resize_reaches_the_child() {
    let pty = sh("read x; stty size", 80, 24);
    pty.resize(100, 30);
    pty.enter();
    pty.wait_for_text("30 100", timeout(10)).unwrap();
    assert_eq!(pty.with_screen(vt100::Screen::size).1.get(), 100);
}

#[test]
fn default_environment() {
    let pty = Pty::spawn_program(
        Path::new("/bin/sh"),
        &[
            "-c",
            r#"printf "[%s|%s|%s]\n" "$TERM" "$NO_COLOR" "${FLIGHTDECK_PTY_HARNESS_PROBE-unset}""#,
        ],
        80,
        24,
        &[("NO_COLOR", "yes")],
    );
    pty.wait_for_text("[xterm-256color|yes|unset]", timeout(10)).unwrap();
}

#[test]
fn timeout_error_shows_the_screen() {
    let pty = sh(r#"printf "on screen\n"; sleep 5"#, 80, 24);
    pty.wait_for_text("on screen", timeout(10)).unwrap();
    let err = pty.wait_for_text("never printed", Duration::from_millis(100)).unwrap_err();
    assert!(err.contains("never printed"), "{err}");
    assert!(err.contains("on screen"), "{err}");
}

#[test]
fn signal_reaches_the_child() {
    let pty = Pty::spawn_program(Path::new("sleep"), &["30"], 80, 24, &[]);
    pty.signal(libc::SIGTERM);
    let status = pty.wait_exit(timeout(5)).expect("sleep dies on SIGTERM");
    assert!(!status.success(), "exit status: {status:?}");
}

#[test]
fn drop_kills_a_running_child() {
    let pty = Pty::spawn_program(Path::new("sleep"), &["30"], 80, 24, &[]);
    let pid = pty.pid();
    // SAFETY: signal 0 only checks that the process exists.
    assert_eq!(unsafe { libc::kill(pid, 0) }, 0, "sleep is running");
    drop(pty);
    let deadline = now() + Duration::from_secs(2);
    // SAFETY: as above.
    while unsafe { libc::kill(pid, 0) } != -1 {
        assert!(now() < deadline, "pid {pid} still alive after drop");
        std::thread::sleep(Duration::from_millis(20));
    }
}
