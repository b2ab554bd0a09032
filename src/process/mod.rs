//! Everything about child processes: how a step's script becomes a program to start
//! (`Program`), spawning it in its own process group with its output streamed and
//! masked (`shell`), whether a process or group is still alive (`liveness`), and the
//! signals that interrupt a run (`signals`). The engine decides *what* runs; this module
//! owns *how*, so a new kind of target (a remote host) is one more `Program` variant.

pub mod liveness;
pub mod program;
pub mod remote;
pub mod shell;
pub mod signals;

pub use liveness::{group_alive, group_alive_since, process_alive, start_time};
pub use program::{Program, SshTarget};
