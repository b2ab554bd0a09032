//! Hosts: the machines a runbook's steps run on, reached with the system's OpenSSH client
//! (docs/remote.md). A host is one destination or a group of them; steps, guards and
//! notify hooks name a host with `host:`.

use super::{Located, Span};
use serde::Serialize;

/// The name a step uses to say "this machine", whatever the runbook declares.
pub const LOCAL: &str = "local";

/// A host declared under `hosts:`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Host {
    pub name: String,
    /// OpenSSH destinations (`[user@]host`, an alias of the ssh configuration), each a
    /// template. One for a single host; a list makes a group. A destination that renders
    /// empty is left out; a host with no destination left is this machine.
    pub destinations: Vec<Located>,
    /// Written as a list: a group, whose captures are maps by member.
    pub group: bool,
    pub port: Option<u64>,
    /// How many members of a group run a step at once (default: all).
    pub max_parallel: Option<u64>,
    /// Forward the operator's ssh agent (off unless asked).
    pub forward_agent: bool,
    #[serde(skip)]
    pub span: Span,
    #[serde(skip)]
    pub path: String,
}

/// Where a step, guard or hook says it runs: a host's name, where it is written.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct HostRef {
    pub name: String,
    #[serde(skip)]
    pub span: Span,
    #[serde(skip)]
    pub path: String,
}

impl HostRef {
    /// `host: local`: this machine, even inside a step on another host.
    pub fn is_local(&self) -> bool {
        self.name == LOCAL
    }
}
