//! Steps on other hosts, through the system's OpenSSH client (docs/remote.md).
//!
//! One master connection per destination per run (`ControlMaster`, its socket in a
//! private 0700 directory), opened on first use with `BatchMode=yes` and the user's own
//! host-key checking, and closed when the run ends (`connections`). Each command is a
//! multiplexed session whose remote command line is a fixed bootstrap holding no value
//! (`bootstrap`): the environment, the working directory and the script follow on the
//! session's stdin, which then stays open as a control channel. The bootstrap runs the
//! script in its own process group and ends it — SIGTERM, the grace period, SIGKILL —
//! when told to (`TERM`, `KILL`), when its stdin closes because the connection or
//! this process went away, or when the local side's heartbeat stops arriving (a network
//! gone quiet), so no remote process outlives its step.

mod bootstrap;
mod connections;

pub use bootstrap::{
    MISSED_HEARTBEATS, boot, check_destination, remote_command, request, shell_words,
};
pub use connections::{ConnectError, Connection, Connections, Endpoint};
