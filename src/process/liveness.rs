//! Whether a process or a process group is still alive: `resume` and a new run must not
//! race a step a killed run left behind, and clean-up waits for a group to be empty.

use nix::sys::signal::killpg;
use nix::unistd::Pid;
use std::path::Path;

/// Whether any live (non-zombie) process is still in process group `pgid`.
pub fn group_alive(pgid: u32) -> bool {
    i32::try_from(pgid).is_ok_and(|pgid| pgid > 0 && alive_group(Pid::from_raw(pgid)))
}

/// Whether `pid` is a live `runbook` process (not a zombie, not a reused pid).
pub fn is_runbook(pid: u32) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let alive = stat
        .rsplit_once(") ")
        .is_some_and(|(_, rest)| !rest.starts_with('Z') && !rest.starts_with('X'));
    let command = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let program = command.split(|byte| *byte == 0).next().unwrap_or_default();
    alive
        && Path::new(std::str::from_utf8(program).unwrap_or_default())
            .file_name()
            .is_some_and(|name| name == "runbook")
}

/// Whether any live (non-zombie) process is still in the process group. Zombies are
/// dead already; they only wait for their parent to reap them.
pub(crate) fn alive_group(group: Pid) -> bool {
    // The common case, an empty group, costs one system call; only a group with members
    // left (possibly just zombies) needs the scan of /proc.
    if killpg(group, None).is_err() {
        return false;
    }
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return true;
    };
    let wanted = group.as_raw();
    entries.filter_map(Result::ok).any(|entry| {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .filter(|name| name.bytes().all(|byte| byte.is_ascii_digit()))
        else {
            return false;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            return false;
        };
        // Fields after the parenthesised command name: state, ppid, pgrp, ...
        let Some(rest) = stat.rsplit_once(") ").map(|(_, rest)| rest) else {
            return false;
        };
        let mut fields = rest.split(' ');
        let state = fields.next().unwrap_or("Z");
        let pgrp = fields.nth(1).and_then(|field| field.parse::<i32>().ok());
        state != "Z" && state != "X" && pgrp == Some(wanted)
    })
}
