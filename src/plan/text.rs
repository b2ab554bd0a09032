//! The one text printer of plans: a dry-run's plan and `show`'s procedure.

use crate::plan::{Plan, PlanStep, PlanWhen};
use crate::ui::style::Styles;
use std::fmt::Write as _;

impl Plan {
    pub fn text(&self, styles: &Styles) -> String {
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

/// One step and its children, numbered and indented; the same lines for a dry-run and
/// for `show`.
pub fn step_text(out: &mut String, step: &PlanStep, indent: usize, styles: &Styles) {
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
    if let Some(description) = &step.description {
        for line in description.trim_end().lines() {
            let _ = writeln!(out, "{detail}{line}");
        }
    }
    match &step.when {
        Some(PlanWhen::Written { expression }) => {
            let _ = writeln!(out, "{detail}when: {expression}");
        }
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
        // A multi-line guard command keeps its lines under the first one.
        for (index, line) in guard.lines().enumerate() {
            let label = if index == 0 {
                "requires: "
            } else {
                "            "
            };
            let _ = writeln!(out, "{detail}{label}{line}");
        }
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
        let with = if step.with.is_empty() {
            String::new()
        } else {
            format!(" with {}", step.with.join(", "))
        };
        let colon = if step.children.is_empty() { "" } else { ":" };
        let _ = writeln!(out, "{detail}runs runbook {include}{with}{colon}");
    }
    if let Some(host) = &step.host {
        let _ = writeln!(out, "{detail}on: {host}");
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
