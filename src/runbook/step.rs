//! Steps and what hangs off them: guards, confirmations, expectations, actions.

use super::{Duration, EnvVar, HostRef, Located, Param};
use crate::load::yaml::Span;
use serde::Serialize;

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Step {
    pub id: String,
    pub name: Option<Located>,
    pub description: Option<Located>,
    pub when: Option<Located>,
    pub require: Vec<Guard>,
    pub confirm: Option<Confirm>,
    pub action: Action,
    pub capture: Option<String>,
    /// Publish the captured number as this metric (`runbook_metric{name=…}`).
    pub metric: Option<String>,
    pub expect: Vec<Expectation>,
    pub timeout: Option<Duration>,
    pub retries: u32,
    pub retry_delay: Option<Duration>,
    pub continue_on_error: bool,
    /// Runs again on resume even when it completed (it sets up what `finally` undoes).
    pub rerun_on_resume: bool,
    pub destructive: bool,
    pub probe: bool,
    pub interactive: bool,
    pub env: Vec<EnvVar>,
    pub shell: Option<String>,
    pub workdir: Option<Located>,
    /// The host the command runs on (default: this machine).
    pub host: Option<HostRef>,
    #[serde(skip)]
    pub span: Span,
    /// YAML path of the step, e.g. `steps[3]`.
    #[serde(skip)]
    pub path: String,
}

impl Step {
    /// The name to show: the `name:`, else the id.
    pub fn title(&self) -> &str {
        self.name.as_ref().map_or(&self.id, |name| &name.text)
    }

    /// The labels shown next to a step in plans and listings.
    pub fn markers(&self) -> Vec<&'static str> {
        let mut markers = Vec::new();
        if self.destructive {
            markers.push("destructive");
        }
        match self.action {
            Action::Manual { .. } => markers.push("manual"),
            Action::Parallel(_) => markers.push("parallel"),
            Action::Include { .. } => markers.push("include"),
            Action::Run { .. } => {}
        }
        if self.probe {
            markers.push("probe");
        }
        if self.interactive {
            markers.push("interactive");
        }
        if self.continue_on_error {
            markers.push("continue on error");
        }
        markers
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Action {
    Run {
        command: Located,
    },
    Manual {
        instructions: Located,
        input: Vec<Param>,
    },
    Include {
        runbook: String,
        with: Vec<(String, Located)>,
        /// Where the included name is written.
        #[serde(skip)]
        span: Span,
    },
    Parallel(Vec<Step>),
}

impl Action {
    pub fn kind(&self) -> &'static str {
        match self {
            Action::Run { .. } => "run",
            Action::Manual { .. } => "manual",
            Action::Include { .. } => "include",
            Action::Parallel(_) => "parallel",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Guard {
    pub check: GuardCheck,
    pub message: Option<Located>,
    /// Where a guard command runs; by default where its step runs.
    pub host: Option<HostRef>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GuardCheck {
    Command(Located),
    Expr(Located),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ConfirmPolicy {
    #[default]
    Allow,
    Deny,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Confirm {
    pub message: Located,
    /// Text the operator must type exactly.
    pub typed: Option<Located>,
    pub auto: ConfirmPolicy,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Expectation {
    pub expr: Located,
    pub message: Option<Located>,
}
