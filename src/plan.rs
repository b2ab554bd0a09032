//! The dry-run plan: every step as it would run, rendered with secrets masked, values
//! that only exist at run time as visible placeholders, and a fidelity summary saying how
//! much of it is exact.

use serde::Serialize;
use std::fmt::Write as _;

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
    #[serde(skip_serializing_if = "Option::is_none")]
    pub when: Option<PlanWhen>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub guards: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub confirmation: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manual: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub inputs: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub include: Option<String>,
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
        let mut fidelity = Fidelity::default();
        fidelity.count(&self.steps);
        fidelity.count(&self.on_failure);
        fidelity.count(&self.finally_steps);
        self.fidelity = fidelity;
    }

    pub fn text(&self, styles: &crate::ui::style::Styles) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{} {} — {}",
            styles.strong.apply_to("Plan for"),
            styles.strong.apply_to(&self.runbook),
            self.title
        );
        let _ = writeln!(
            out,
            "{}",
            styles.dim.apply_to(match self.probed {
                0 => "dry run: nothing below was executed".to_owned(),
                probed => format!("dry run: nothing below was executed except {probed} probe step(s) marked `probed`"),
            })
        );
        if !self.params.is_empty() {
            let _ = writeln!(out, "\nparams:");
            for param in &self.params {
                let value = if param.value.is_empty() {
                    "\"\""
                } else {
                    param.value.as_str()
                };
                let source = styles.dim.apply_to(format!("({})", param.source));
                let _ = writeln!(out, "  {} = {value}  {source}", param.name);
            }
        }
        let sections: [(&str, &[PlanStep]); 3] = [
            ("steps:", &self.steps),
            ("on failure:", &self.on_failure),
            ("finally:", &self.finally_steps),
        ];
        for (title, steps) in sections {
            if steps.is_empty() {
                continue;
            }
            let _ = writeln!(out, "\n{title}");
            for step in steps {
                step_text(&mut out, step, 2, styles);
            }
        }
        if !self.notify.is_empty() {
            let _ = writeln!(out, "\nnotify:");
            for notify in &self.notify {
                let _ = writeln!(out, "  {notify}");
            }
        }
        let _ = writeln!(out, "\n{}", styles.strong.apply_to(self.fidelity.summary()));
        out
    }
}

fn step_text(out: &mut String, step: &PlanStep, indent: usize, styles: &crate::ui::style::Styles) {
    let pad = " ".repeat(indent);
    let detail = " ".repeat(indent + step.number.len() + 2);
    let markers = if step.markers.is_empty() {
        String::new()
    } else {
        let text = format!("  [{}]", step.markers.join(", "));
        if step.markers.contains(&"destructive") {
            styles.destructive.apply_to(text).to_string()
        } else {
            styles.dim.apply_to(text).to_string()
        }
    };
    let title = if step.name == step.id {
        step.id.clone()
    } else {
        format!("{} — {}", step.id, step.name)
    };
    let _ = writeln!(
        out,
        "{pad}{}. {}{markers}",
        step.number,
        styles.step.apply_to(title)
    );
    match &step.when {
        Some(PlanWhen::Now { expression, value }) => {
            let _ = writeln!(
                out,
                "{detail}when: {expression}  → {value}{}",
                if *value { "" } else { " (skipped)" }
            );
        }
        Some(PlanWhen::AtRunTime {
            expression,
            depends_on,
        }) => {
            let _ = writeln!(
                out,
                "{detail}when: {expression}  → decided at run time (depends on: {})",
                depends_on.join(", ")
            );
        }
        None => {}
    }
    for guard in &step.guards {
        let _ = writeln!(out, "{detail}requires: {guard}");
    }
    if let Some(confirmation) = &step.confirmation {
        let _ = writeln!(
            out,
            "{detail}{}",
            styles.warning.apply_to(format!("confirm: {confirmation}"))
        );
    }
    if let Some(manual) = &step.manual {
        for line in manual.trim_end().lines() {
            let _ = writeln!(out, "{detail}> {line}");
        }
    }
    for input in &step.inputs {
        let _ = writeln!(out, "{detail}input: {input}");
    }
    if let Some(include) = &step.include {
        let _ = writeln!(out, "{detail}runs runbook {include}:");
    }
    if let Some(command) = &step.command {
        for (index, line) in command.trim_end().lines().enumerate() {
            let _ = writeln!(
                out,
                "{detail}{}{line}",
                if index == 0 { "$ " } else { "  " }
            );
        }
    }
    if let Some(capture) = &step.capture {
        let _ = writeln!(out, "{detail}captures: {capture}");
    }
    for expectation in &step.expect {
        let _ = writeln!(out, "{detail}expects: {expectation}");
    }
    if !step.limits.is_empty() {
        let _ = writeln!(
            out,
            "{detail}{}",
            styles.dim.apply_to(step.limits.join(", "))
        );
    }
    if let Some(probed) = &step.probed {
        let _ = writeln!(
            out,
            "{detail}{}",
            styles.dim.apply_to(format!("probed: {probed}"))
        );
    }
    for child in &step.children {
        step_text(out, child, indent + step.number.len() + 2, styles);
    }
}
