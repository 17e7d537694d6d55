//! Who is acting: the OS account of the real uid (never `$USER`, which anyone can set), the
//! host name, and an optional declared operator name for shared accounts.

use std::ffi::CStr;

use crate::release::Actor;

/// The account name of the real uid, or `uid N` if it has no passwd entry.
pub fn os_account() -> String {
    // SAFETY: getuid cannot fail; getpwuid_r writes only into the buffers we own.
    unsafe {
        let uid = libc::getuid();
        let mut pwd: libc::passwd = std::mem::zeroed();
        let mut buf = vec![0 as libc::c_char; 4096];
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        let rc = libc::getpwuid_r(uid, &mut pwd, buf.as_mut_ptr(), buf.len(), &mut result);
        if rc == 0 && !result.is_null() && !pwd.pw_name.is_null() {
            return CStr::from_ptr(pwd.pw_name).to_string_lossy().into_owned();
        }
        format!("uid {uid}")
    }
}

/// This machine's host name.
pub fn host_name() -> String {
    let mut buf = [0 as libc::c_char; 256];
    // SAFETY: the buffer is ours and its length is passed.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr(), buf.len()) };
    if rc != 0 {
        return "unknown-host".into();
    }
    // SAFETY: gethostname NUL-terminates within the buffer on success (we zeroed it too).
    unsafe { CStr::from_ptr(buf.as_ptr()) }.to_string_lossy().into_owned()
}

/// The actor for this process: the OS account, or a declared operator name on it.
pub fn current_actor(declared_operator: Option<&str>) -> Actor {
    let account = os_account();
    let mut actor = Actor::person(&account, &host_name(), std::process::id());
    if let Some(name) = declared_operator.map(str::trim).filter(|n| !n.is_empty()) {
        actor.name = name.to_owned();
    }
    actor
}

/// Whether a process with this pid exists on this host.
pub fn process_alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else { return false };
    // SAFETY: signal 0 only checks for existence and permission.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// The terminal device of standard input, e.g. `/dev/pts/3`, or `-` without one.
pub fn tty_name() -> String {
    // SAFETY: ttyname returns a pointer to a static buffer or null; we copy it at once.
    unsafe {
        let name = libc::ttyname(0);
        if name.is_null() {
            return "-".into();
        }
        CStr::from_ptr(name).to_string_lossy().into_owned()
    }
}
