//! The plan: one outline of a step (`PlanStep`) and one printer (`text.rs`) for both
//! views of a procedure. A dry-run fills the outline with what would run, rendered, with
//! secrets masked and run-time values as visible placeholders, plus a fidelity summary
//! saying how much of it is exact; `show` fills it from the runbook as written
//! (`outline.rs`). Both print through the same code, so they cannot drift apart.

pub mod fill;
pub mod outline;
pub mod text;

use serde::Serialize;

#[derive(Debug, Default, Serialize)]
pub struct Plan {
    pub runbook: String,
    pub title: String,
    pub params: Vec<PlanParam>,
    pub steps: Vec<PlanStep>,
    pub on_failure: Vec<PlanStep>,
    #[serde(rename = "finally")]
    pub finally_steps: Vec<PlanStep>,
    pub notify: Vec<String>,
    pub fidelity: Fidelity,
    /// How many probe steps ran for real (`--probe`).
    pub probed: usize,
    /// The probe steps that ran and did not succeed: the run would stop there.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub probes_failed: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct PlanParam {
    pub name: String,
    pub value: String,
    pub source: &'static str,
}

#[derive(Debug, Default, Serialize)]
pub struct PlanStep {
    pub number: String,
    pub id: String,
    pub name: String,
    pub markers: Vec<&'static str>,
    /// `show` only: the step's description, as written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub when: Option<PlanWhen>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub guards: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub confirmation: Option<String>,
    /// Where the command runs, when not on this machine: `db (postgres@db1)`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manual: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub inputs: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub include: Option<String>,
    /// `show` only: the include's `with:` as written, `name=value`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub with: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capture: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub expect: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub limits: Vec<String>,
    /// Everything shown is exactly what would run.
    pub exact: bool,
    /// Ran for real during `--dry-run --probe`, with this status.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub probed: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<PlanStep>,
}

#[derive(Debug, Serialize)]
#[serde(tag = "decided", rename_all = "snake_case")]
pub enum PlanWhen {
    /// As written (`show`): decided when the step is reached.
    Written {
        expression: String,
    },
    Now {
        expression: String,
        value: bool,
    },
    AtRunTime {
        expression: String,
        depends_on: Vec<String>,
    },
}

#[derive(Debug, Default, Serialize)]
pub struct Fidelity {
    pub steps: usize,
    pub exact: usize,
    pub run_time: usize,
    pub manual: usize,
    pub skipped: usize,
}

impl Fidelity {
    fn count(&mut self, steps: &[PlanStep]) {
        for step in steps {
            if !step.children.is_empty() {
                self.count(&step.children);
                continue;
            }
            self.steps += 1;
            if matches!(step.when, Some(PlanWhen::Now { value: false, .. })) {
                self.skipped += 1;
            } else if step.manual.is_some() {
                self.manual += 1;
            } else if step.exact {
                self.exact += 1;
            } else {
                self.run_time += 1;
            }
        }
    }

    pub fn summary(&self) -> String {
        let mut parts = vec![format!("{} rendered exactly", self.exact)];
        if self.run_time > 0 {
            parts.push(format!(
                "{} depend{} on run-time values",
                self.run_time,
                if self.run_time == 1 { "s" } else { "" }
            ));
        }
        if self.manual > 0 {
            parts.push(format!("{} manual", self.manual));
        }
        if self.skipped > 0 {
            parts.push(format!("{} skipped (`when` is false)", self.skipped));
        }
        format!(
            "{} step{}: {}",
            self.steps,
            if self.steps == 1 { "" } else { "s" },
            parts.join(", ")
        )
    }
}

impl Plan {
    pub fn finish(&mut self) {
        fn probed(steps: &[PlanStep]) -> usize {
            steps
                .iter()
                .map(|step| usize::from(step.probed.is_some()) + probed(&step.children))
                .sum()
        }
        self.probed = probed(&self.steps) + probed(&self.on_failure) + probed(&self.finally_steps);
        fn failed(steps: &[PlanStep], into: &mut Vec<String>) {
            for step in steps {
                if step.probed.as_deref().is_some_and(|status| status != "ok") {
                    into.push(step.id.clone());
                }
                failed(&step.children, into);
            }
        }
        let mut probes_failed = Vec::new();
        failed(&self.steps, &mut probes_failed);
        self.probes_failed = probes_failed;
        let mut fidelity = Fidelity::default();
        fidelity.count(&self.steps);
        fidelity.count(&self.on_failure);
        fidelity.count(&self.finally_steps);
        self.fidelity = fidelity;
    }
}
