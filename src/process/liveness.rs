//! Whether a process or a process group is still alive: `resume` and a new run must not
//! race a step a killed run left behind, and clean-up waits for a group to be empty.

use nix::sys::signal::killpg;
use nix::unistd::Pid;

/// Whether any live (non-zombie) process is still in process group `pgid`.
pub fn group_alive(pgid: u32) -> bool {
    i32::try_from(pgid).is_ok_and(|pgid| pgid > 0 && alive_group(Pid::from_raw(pgid)))
}

/// When a live (non-zombie) process started, in clock ticks since boot (field 22 of
/// `/proc/PID/stat`): with the pid, it names one process for good, since a pid is
/// reused only by a process that starts later.
pub fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = stat.rsplit_once(") ")?.1;
    let mut fields = rest.split(' ');
    let state = fields.next()?;
    if state == "Z" || state == "X" {
        return None;
    }
    // `rest` starts at field 3 (state); the start time is field 22.
    fields.nth(22 - 4)?.parse().ok()
}

/// Whether the process `pid` that started at `start` is still alive. Without a
/// recorded start time (a record from an older version), any live process with that
/// pid counts, whatever its name.
pub fn process_alive(pid: u32, start: Option<u64>) -> bool {
    match (start_time(pid), start) {
        (Some(now), Some(recorded)) => now == recorded,
        (Some(_), None) => pid != 0,
        (None, _) => false,
    }
}

/// Whether the process group a step ran in is still alive: it has live members, and
/// its leader (the step's shell, pid = pgid) is either gone or the same process as the
/// one recorded (not a new group that reused the number).
pub fn group_alive_since(pgid: u32, leader_start: Option<u64>) -> bool {
    if !group_alive(pgid) {
        return false;
    }
    match (start_time(pgid), leader_start) {
        (Some(now), Some(recorded)) => now == recorded,
        _ => true,
    }
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

/// A process that left its step's process group (`su -c`, `timeout` and `setsid` start
/// their own) but still descends from the step's shell, with its start time so a pid
/// reused later is never signalled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Escaped {
    pub pid: Pid,
    start: Option<u64>,
}

impl Escaped {
    pub(crate) fn alive(&self) -> bool {
        u32::try_from(self.pid.as_raw()).is_ok_and(|pid| process_alive(pid, self.start))
    }
}

/// The live descendants of `root` that are not in process group `group`: found while
/// `root` still runs (an orphan is reparented and loses its ancestry).
pub(crate) fn escaped_descendants(root: Pid, group: Pid) -> Vec<Escaped> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    // pid → (parent, process group), for every live process.
    let mut processes: Vec<(i32, i32, i32)> = Vec::new();
    for entry in entries.filter_map(Result::ok) {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|name| name.parse::<i32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let Some(rest) = stat.rsplit_once(") ").map(|(_, rest)| rest) else {
            continue;
        };
        let mut fields = rest.split(' ');
        let state = fields.next().unwrap_or("Z");
        let parent = fields.next().and_then(|field| field.parse::<i32>().ok());
        let pgrp = fields.next().and_then(|field| field.parse::<i32>().ok());
        if let (Some(parent), Some(pgrp)) = (parent, pgrp)
            && state != "Z"
            && state != "X"
        {
            processes.push((pid, parent, pgrp));
        }
    }
    let mut found = Vec::new();
    let mut frontier = vec![root.as_raw()];
    while let Some(parent) = frontier.pop() {
        for &(pid, _, pgrp) in processes.iter().filter(|process| process.1 == parent) {
            if found.len() > 100_000 {
                break;
            }
            frontier.push(pid);
            if pgrp != group.as_raw() {
                found.push(Escaped {
                    pid: Pid::from_raw(pid),
                    start: u32::try_from(pid).ok().and_then(start_time),
                });
            }
        }
    }
    found
}
