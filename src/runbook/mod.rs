//! The runbook model: what a YAML runbook means once loaded and checked. Pure data; the
//! loader builds it, the planner and engine read it.

pub mod duration;
pub mod host;
pub mod located;
pub mod param;
pub mod shape;
mod step;

pub use duration::Duration;
pub use host::{Host, HostRef};
pub use located::{Located, Span, TextStyle};
pub use param::{Param, ParamType};
pub use step::{Action, Confirm, ConfirmPolicy, Expectation, Guard, GuardCheck, Step};

use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Backup,
    Restore,
    Dr,
    Test,
    Check,
    Maintenance,
}

impl Kind {
    pub fn parse(text: &str) -> Option<Kind> {
        Some(match text {
            "backup" => Kind::Backup,
            "restore" => Kind::Restore,
            "dr" => Kind::Dr,
            "test" => Kind::Test,
            "check" => Kind::Check,
            "maintenance" => Kind::Maintenance,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Backup => "backup",
            Kind::Restore => "restore",
            Kind::Dr => "dr",
            Kind::Test => "test",
            Kind::Check => "check",
            Kind::Maintenance => "maintenance",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Var {
    pub name: String,
    pub value: Located,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EnvVar {
    pub name: String,
    pub value: Located,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum NotifyEvent {
    Success,
    Failure,
    Aborted,
    Interrupted,
    Always,
}

impl NotifyEvent {
    pub fn parse(text: &str) -> Option<NotifyEvent> {
        Some(match text {
            "success" => NotifyEvent::Success,
            "failure" => NotifyEvent::Failure,
            "aborted" => NotifyEvent::Aborted,
            "interrupted" => NotifyEvent::Interrupted,
            "always" => NotifyEvent::Always,
            _ => return None,
        })
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Notify {
    pub on: Vec<NotifyEvent>,
    pub when: Option<Located>,
    pub run: Located,
    /// Where the hook runs (default: this machine).
    pub host: Option<HostRef>,
}

/// A loaded runbook.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Runbook {
    pub name: String,
    /// Where `name:` is written.
    #[serde(skip)]
    pub name_span: Option<Span>,
    pub title: String,
    pub description: Option<String>,
    pub kind: Kind,
    pub tags: Vec<String>,
    pub rto: Option<Duration>,
    pub rpo: Option<Duration>,
    /// A template over the runbook's params (`pg-{{ db_name }}`), or a plain name.
    pub lock: Option<Located>,
    pub shell: String,
    /// Machines steps may run on, by name (docs/remote.md).
    pub hosts: Vec<Host>,
    pub params: Vec<Param>,
    pub vars: Vec<Var>,
    pub env: Vec<EnvVar>,
    pub steps: Vec<Step>,
    pub on_failure: Vec<Step>,
    #[serde(rename = "finally")]
    pub finally_steps: Vec<Step>,
    pub notify: Vec<Notify>,
}

impl Runbook {
    pub fn param(&self, name: &str) -> Option<&Param> {
        self.params.iter().find(|param| param.name == name)
    }

    pub fn host(&self, name: &str) -> Option<&Host> {
        self.hosts.iter().find(|host| host.name == name)
    }

    /// Every step, nested ones included, in document order: main steps, then
    /// `on_failure`, then `finally`.
    pub fn all_steps(&self) -> Vec<&Step> {
        fn walk<'a>(steps: &'a [Step], out: &mut Vec<&'a Step>) {
            for step in steps {
                out.push(step);
                if let Action::Parallel(children) = &step.action {
                    walk(children, out);
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.steps, &mut out);
        walk(&self.on_failure, &mut out);
        walk(&self.finally_steps, &mut out);
        out
    }
}

impl serde::Serialize for Duration {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}
