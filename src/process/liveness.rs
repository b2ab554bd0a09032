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

/// A process of a step, named by pid and start time so that a pid reused later is never
/// signalled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Escaped {
    pub pid: Pid,
    start: Option<u64>,
}

impl Escaped {
    /// The process `pid` as it is now (`None`: gone).
    pub(crate) fn now(pid: Pid) -> Option<Escaped> {
        let start = start_time(u32::try_from(pid.as_raw()).ok()?)?;
        Some(Escaped {
            pid,
            start: Some(start),
        })
    }

    pub(crate) fn alive(&self) -> bool {
        u32::try_from(self.pid.as_raw()).is_ok_and(|pid| process_alive(pid, self.start))
    }
}

/// The live processes that belong to a step but left its process group `group`: those
/// descending from a member of the group or from one of `roots` (still the processes
/// recorded), and from those in turn. `su -c`, `timeout` and `setsid` start their own
/// group; an orphan is reparented and loses its ancestry, so this is asked while the
/// step's processes run, and again as it is stopped.
pub(crate) fn escaped_descendants(group: Pid, roots: &[Escaped]) -> Vec<Escaped> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    // (pid, parent, process group, start time) of every live process.
    let mut processes: Vec<(i32, i32, i32, Option<u64>)> = Vec::new();
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
        let fields: Vec<&str> = rest.split(' ').collect();
        let state = fields.first().copied().unwrap_or("Z");
        let parent = fields.get(1).and_then(|field| field.parse::<i32>().ok());
        let pgrp = fields.get(2).and_then(|field| field.parse::<i32>().ok());
        // `rest` starts at field 3 (state); the start time is field 22.
        let start = fields
            .get(22 - 3)
            .and_then(|field| field.parse::<u64>().ok());
        if let (Some(parent), Some(pgrp)) = (parent, pgrp)
            && state != "Z"
            && state != "X"
        {
            processes.push((pid, parent, pgrp, start));
        }
    }
    let group = group.as_raw();
    let mut frontier: Vec<i32> = processes
        .iter()
        .filter(|process| process.2 == group)
        .map(|process| process.0)
        .collect();
    frontier.extend(roots.iter().filter_map(|root| {
        processes
            .iter()
            .find(|process| process.0 == root.pid.as_raw() && process.3 == root.start)
            .map(|process| process.0)
    }));
    let mut seen: std::collections::HashSet<i32> = frontier.iter().copied().collect();
    let mut found = Vec::new();
    while let Some(pid) = frontier.pop() {
        if let Some(process) = processes.iter().find(|process| process.0 == pid)
            && process.2 != group
        {
            found.push(Escaped {
                pid: Pid::from_raw(pid),
                start: process.3,
            });
        }
        for child in processes.iter().filter(|process| process.1 == pid) {
            if seen.insert(child.0) {
                frontier.push(child.0);
            }
        }
    }
    found
}
