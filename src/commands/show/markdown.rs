//! `show --format markdown`: a document to follow by hand when the tool is unavailable,
//! every included runbook appended once. It passes markdownlint with line length off
//! (commands are printed exactly as they run, never wrapped): see tests/markdownlint.jsonc.

use super::Fillers;
use super::escape::{code, escape_prose, fence, inline, prose, row, tidy, value_code};
use crate::engine::params::ValueSource;
use crate::plan::fill::{Filled, Filler};
use crate::process::remote::check_destination;
use crate::runbook::{Action, ConfirmPolicy, GuardCheck, HostRef, Param, Runbook, Step};
use crate::template::shell_quote;
use std::fmt::Write as _;

pub(super) fn markdown(runbook: &Runbook, includes: &[Runbook], fillers: &Fillers) -> String {
    let mut out = String::new();
    let document = Document { includes, fillers };
    document.runbook(
        &mut out,
        runbook,
        "#",
        fillers.root(),
        Some(&fillers.filled),
    );
    if !includes.is_empty() {
        let _ = writeln!(out, "\n---\n\n## Appendix: included procedures\n");
        for included in includes {
            document.runbook(
                &mut out,
                included,
                "###",
                fillers.include(&included.name),
                None,
            );
        }
    }
    tidy(&out)
}

struct Document<'a> {
    includes: &'a [Runbook],
    fillers: &'a Fillers,
}

impl Document<'_> {
    fn runbook(
        &self,
        out: &mut String,
        runbook: &Runbook,
        heading: &str,
        fill: &Filler,
        filled: Option<&[Filled]>,
    ) {
        let sub = format!("{heading}#");
        let _ = writeln!(
            out,
            "{heading} {} (`{}`)\n",
            inline(&runbook.title),
            runbook.name
        );
        let mut facts = vec![format!("**Kind:** {}", runbook.kind.as_str())];
        if let Some(rto) = runbook.rto {
            facts.push(format!("**RTO:** {rto}"));
        }
        if let Some(rpo) = runbook.rpo {
            facts.push(format!("**RPO:** {rpo}"));
        }
        if let Some(lock) = &runbook.lock {
            facts.push(format!(
                "**Lock:** {} (only one person runs this at a time)",
                code(&fill.fill(lock))
            ));
        }
        if !runbook.tags.is_empty() {
            facts.push(format!("**Tags:** {}", runbook.tags.join(", ")));
        }
        let _ = writeln!(out, "{}\n", facts.join(" · "));
        if let Some(description) = &runbook.description {
            let _ = writeln!(out, "{}\n", description.trim_end());
        }
        if filled.is_none() && self.fillers.shown_as_written(&runbook.name) {
            let _ = writeln!(
                out,
                "*Reached along more than one path of includes, with values that may differ: shown as written.*\n"
            );
        }
        self.params(out, runbook, &sub, fill, filled);
        if !runbook.vars.is_empty() || !runbook.env.is_empty() {
            let _ = writeln!(out, "{sub} Values used below\n");
            for var in &runbook.vars {
                let value = fill
                    .var(&var.name)
                    .map_or_else(|| code(var.value.text.trim()), |value| value_code(&value));
                let _ = writeln!(out, "- `{}` = {value}", var.name);
            }
            for env in &runbook.env {
                // Filled in, the value is quoted as the run exports it: it is a value,
                // not shell code to paste.
                let value = match fill.complete(&env.value) {
                    Some(value) => shell_quote(&value).into_owned(),
                    None => env.value.text.trim().to_owned(),
                };
                let _ = writeln!(
                    out,
                    "- environment: {}",
                    code(&format!("export {}={value}", env.name))
                );
            }
            let _ = writeln!(out);
        }
        self.before_you_start(out, runbook, &sub, fill);
        let _ = writeln!(out, "{sub} Procedure\n");
        for (index, step) in runbook.steps.iter().enumerate() {
            self.step(out, runbook, step, &format!("{}", index + 1), &sub, fill);
        }
        if !runbook.on_failure.is_empty() {
            let _ = writeln!(out, "{sub} If something fails\n");
            for (index, step) in runbook.on_failure.iter().enumerate() {
                self.step(out, runbook, step, &format!("F{}", index + 1), &sub, fill);
            }
        }
        if !runbook.finally_steps.is_empty() {
            let _ = writeln!(out, "{sub} Always, at the end (also after a failure)\n");
            for (index, step) in runbook.finally_steps.iter().enumerate() {
                self.step(out, runbook, step, &format!("E{}", index + 1), &sub, fill);
            }
        }
        if !runbook.notify.is_empty() {
            let _ = writeln!(out, "{sub} Notify\n");
            for notify in &runbook.notify {
                let on: Vec<&str> = notify
                    .on
                    .iter()
                    .map(|event| super::notify_event(*event))
                    .collect();
                let on = match on.split_last() {
                    Some((last, rest)) if !rest.is_empty() => {
                        format!("{} or {last}", rest.join(", "))
                    }
                    _ => on.join(""),
                };
                let when = notify
                    .when
                    .as_ref()
                    .map(|when| format!(" (when {})", code(when.text.trim())))
                    .unwrap_or_default();
                // The hook's command is a template over the run's outcome, which a person
                // following this by hand does not have: say what it is for instead.
                let _ = writeln!(
                    out,
                    "- On {on}{when}: tell the team how the run ended — what was done, what \
                     failed and where things stand (the tool posts this itself; `runbook show \
                     {}` prints its command).\n",
                    runbook.name
                );
            }
        }
    }

    fn params(
        &self,
        out: &mut String,
        runbook: &Runbook,
        sub: &str,
        fill: &Filler,
        filled: Option<&[Filled]>,
    ) {
        if runbook.params.is_empty() {
            return;
        }
        let _ = writeln!(out, "{sub} Parameters\n");
        let value_column = if fill.is_filling() {
            "Value"
        } else {
            "Default"
        };
        let _ = writeln!(
            out,
            "| Name | Type | {value_column} | From environment | Description |"
        );
        let _ = writeln!(out, "| --- | --- | --- | --- | --- |");
        for param in &runbook.params {
            let mut kind = param.param_type.as_str().to_owned();
            if param.secret {
                kind.push_str(", **secret**");
            }
            if !param.choices.is_empty() {
                let choices: Vec<String> =
                    param.choices.iter().map(|choice| code(choice)).collect();
                let _ = write!(kind, ", one of {}", choices.join(" "));
            }
            if let Some(pattern) = &param.pattern {
                let _ = write!(kind, ", matching {}", code(pattern));
            }
            let given = filled
                .and_then(|filled| filled.iter().find(|filled| filled.name == param.name))
                .filter(|filled| filled.source == ValueSource::Given);
            let value = match (given, &param.default, param.secret) {
                (Some(given), _, _) => format!("{} (given)", value_code(&given.value)),
                (None, Some(_), true) => crate::mask::MASK.to_owned(),
                (None, Some(default), false) if default.is_empty() => "*(empty)*".to_owned(),
                (None, Some(default), false) => value_code(default),
                (None, None, _) if param.secret && fill.is_filling() => {
                    "*secret, not shown*".to_owned()
                }
                (None, None, _) => "*required*".to_owned(),
            };
            let env = param
                .env
                .as_ref()
                .map(|env| code(&format!("${env}")))
                .unwrap_or_default();
            let description = param
                .description
                .as_deref()
                .unwrap_or_default()
                .replace('\n', " ");
            let _ = writeln!(
                out,
                "{}",
                row(&[
                    code(&param.name),
                    kind,
                    value,
                    env,
                    description.trim().to_owned()
                ])
            );
        }
        let _ = writeln!(out);
    }

    fn before_you_start(&self, out: &mut String, runbook: &Runbook, sub: &str, fill: &Filler) {
        let _ = writeln!(out, "{sub} Before you start\n");
        let _ = writeln!(
            out,
            "- Write down the time you start{}.",
            runbook
                .rto
                .map(|rto| format!(": the recovery time objective is {rto}"))
                .unwrap_or_default()
        );
        if fill.is_filling() {
            let _ = writeln!(
                out,
                "- The values given with `-p` and the defaults are filled in below, quoted as \
                 the tool quotes them. `{{{{ name }}}}` is left where a value is known only at \
                 run time (an earlier step's output, the time) or is a secret. When typing it \
                 by hand, put the value in single quotes if it contains anything but letters, \
                 digits and `_@%+=:,./-`."
            );
        } else {
            let _ = writeln!(
                out,
                "- `{{{{ name }}}}` stands for the value of a parameter, variable or an earlier \
                 step's output (`runbook show -p NAME=VALUE` fills in the ones you know). When \
                 typing a command by hand, put the value in single quotes if it contains \
                 anything but letters, digits and `_@%+=:,./-`."
            );
        }
        // Point only at sections this document has.
        let after_failure = match (
            runbook.on_failure.is_empty(),
            runbook.finally_steps.is_empty(),
        ) {
            (false, false) => ": go to *If something fails* below, then *Always, at the end*",
            (false, true) => ": go to *If something fails* below",
            (true, false) => ": go to *Always, at the end* below",
            (true, true) => "",
        };
        let _ = writeln!(
            out,
            "- Run each command in `bash` with `set -euo pipefail`, and stop at the first \
             failure{after_failure}."
        );
        for (env, param) in runbook
            .params
            .iter()
            .filter_map(|param| param.env.as_ref().map(|env| (env, param)))
        {
            let _ = writeln!(
                out,
                "- `export {env}=...` ({})",
                param.description.as_deref().unwrap_or(&param.name).trim()
            );
        }
        let _ = writeln!(out);
    }

    fn step(
        &self,
        out: &mut String,
        runbook: &Runbook,
        step: &Step,
        number: &str,
        heading: &str,
        fill: &Filler,
    ) {
        let markers = step.markers();
        let markers = if markers.is_empty() {
            String::new()
        } else {
            format!(" — *{}*", markers.join(", "))
        };
        let _ = writeln!(
            out,
            "{heading}# {number}. {} (`{}`){markers}\n",
            inline(step.title()),
            step.id
        );
        if step.destructive {
            let _ = writeln!(
                out,
                "> **⚠ DESTRUCTIVE.** This step destroys data. Read it twice.\n"
            );
        }
        if let Some(description) = &step.description {
            let _ = writeln!(out, "{}\n", description.text.trim_end());
        }
        if let Some(when) = &step.when {
            let expression = code(when.text.trim());
            let _ = match fill.condition(&when.text) {
                Some(true) => writeln!(
                    out,
                    "**Only if** {expression}: with the values above it is true, so do this step.\n"
                ),
                Some(false) => writeln!(
                    out,
                    "**Only if** {expression}: with the values above it is false, so **skip this \
                     step**.\n"
                ),
                None => writeln!(out, "**Only if** {expression}; otherwise skip this step.\n"),
            };
        }
        if !step.require.is_empty() {
            let _ = writeln!(out, "**Check first** (do not continue unless all hold):\n");
            for guard in &step.require {
                let message = guard
                    .message
                    .as_ref()
                    .map(|message| format!(" — otherwise: {}", prose(fill, message)))
                    .unwrap_or_default();
                match &guard.check {
                    GuardCheck::Command(command) => {
                        let on = host(runbook, guard.host.as_ref().or(step.host.as_ref()), fill)
                            .map(|on| format!(" {on}"))
                            .unwrap_or_default();
                        let _ = writeln!(
                            out,
                            "- [ ] {} succeeds{on}{message}",
                            code(fill.fill(command).trim())
                        );
                    }
                    GuardCheck::Expr(expr) => {
                        let _ = writeln!(out, "- [ ] {} is true{message}", code(expr.text.trim()));
                    }
                }
            }
            let _ = writeln!(out);
        }
        if let Some(confirm) = &step.confirm {
            let _ = write!(
                out,
                "**Confirm before running:** {}",
                prose(fill, &confirm.message)
            );
            if let Some(typed) = &confirm.typed {
                let _ = write!(
                    out,
                    " (the tool asks to type {})",
                    value_code(fill.fill(typed).trim())
                );
            }
            if confirm.auto == ConfirmPolicy::Deny {
                let _ = write!(out, " — a person must approve; `--yes` is not enough");
            }
            let _ = writeln!(out, "\n");
        }
        match &step.action {
            Action::Run { command } => {
                if let Some(on) = host(runbook, step.host.as_ref(), fill) {
                    let _ = writeln!(out, "Run {on}:\n");
                }
                let _ = writeln!(out, "{}\n", fence("bash", fill.fill(command).trim_end()));
            }
            Action::Manual {
                instructions,
                input,
            } => {
                for line in fill
                    .fill_escaped(instructions, &escape_prose)
                    .trim_end()
                    .lines()
                {
                    let _ = writeln!(out, "> {line}");
                }
                let _ = writeln!(out);
                if !input.is_empty() {
                    let _ = writeln!(out, "Write down:\n");
                    for param in input {
                        let prompt = param
                            .prompt
                            .as_deref()
                            .or(param.description.as_deref())
                            .unwrap_or(&param.name);
                        let _ = writeln!(
                            out,
                            "- `{}` ({}): {} `____________`",
                            param.name,
                            input_kind(param),
                            inline(prompt)
                        );
                    }
                    let _ = writeln!(out);
                }
            }
            Action::Include { runbook, with, .. } => {
                let title = self
                    .includes
                    .iter()
                    .find(|included| &included.name == runbook)
                    .map_or(runbook.as_str(), |included| included.title.as_str());
                let title = inline(title);
                let _ = writeln!(
                    out,
                    "Follow the procedure **{title}** (`{runbook}`, in the appendix)"
                );
                if with.is_empty() {
                    let _ = writeln!(out, "with its default parameters.\n");
                } else {
                    let _ = writeln!(out, "with these parameters:\n");
                    for (name, value) in with {
                        let value = match fill.complete(value) {
                            Some(value) => value_code(&value),
                            None => code(value.text.trim()),
                        };
                        let _ = writeln!(out, "- `{name}` = {value}");
                    }
                    let _ = writeln!(out);
                }
            }
            Action::Parallel(children) => {
                let _ = writeln!(
                    out,
                    "These can be done at the same time (by different people, or one after \
                     another):\n"
                );
                for (index, child) in children.iter().enumerate() {
                    self.step(
                        out,
                        runbook,
                        child,
                        &format!("{number}.{}", index + 1),
                        &format!("{heading}#"),
                        fill,
                    );
                }
            }
        }
        if let Some(capture) = &step.capture {
            let _ = writeln!(out, "Note the output: later steps use it as `{capture}`.\n");
        }
        if !step.expect.is_empty() {
            let _ = writeln!(out, "**Verify:**\n");
            for expectation in &step.expect {
                let message = expectation
                    .message
                    .as_ref()
                    .map(|message| format!(" — otherwise: {}", prose(fill, message)))
                    .unwrap_or_default();
                let _ = writeln!(out, "- [ ] {}{message}", code(expectation.expr.text.trim()));
            }
            let _ = writeln!(out);
        }
        let mut limits = Vec::new();
        if let Some(timeout) = step.timeout {
            limits.push(format!("give up after {timeout}"));
        }
        if step.retries > 0 {
            let delay = step
                .retry_delay
                .map(|delay| format!(", waiting {delay} between tries"))
                .unwrap_or_default();
            limits.push(format!("retry up to {} time(s){delay}", step.retries));
        }
        if step.continue_on_error {
            limits.push("a failure here does not stop the procedure".to_owned());
        }
        if !limits.is_empty() {
            let _ = writeln!(out, "*{}.*\n", capitalize(&limits.join("; ")));
        }
        if !matches!(step.action, Action::Parallel(_)) {
            let _ = writeln!(out, "- [ ] Done at `____:____`\n");
        }
    }
}

/// Where a command runs, for someone following the procedure by hand: `on host `db`
/// (`ssh postgres@db1`; empty: this machine)`. `None` on this machine.
fn host(runbook: &Runbook, host: Option<&HostRef>, fill: &Filler) -> Option<String> {
    let reference = host.filter(|host| !host.is_local())?;
    let destinations: Vec<String> = runbook
        .host(&reference.name)
        .map(|host| {
            host.destinations
                .iter()
                .map(|destination| {
                    // A destination the run would refuse is not shown as if it worked.
                    let filled = fill.fill(destination).trim().to_owned();
                    match check_destination(&filled) {
                        Ok(()) => filled,
                        Err(_) => destination.text.trim().to_owned(),
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    match destinations.as_slice() {
        // Filled in as empty: this machine.
        [one] if one.is_empty() => None,
        [one] => Some(format!(
            "on host `{}` ({}; an empty destination means this machine)",
            reference.name,
            code(&format!("ssh {one}"))
        )),
        many => Some(format!(
            "on each host of `{}`: {}",
            reference.name,
            many.iter()
                .filter(|destination| !destination.is_empty())
                .map(|destination| code(destination))
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

/// An input's type and constraints, the pattern and values as code.
fn input_kind(param: &Param) -> String {
    let mut parts = vec![param.param_type.as_str().to_owned()];
    if param.secret {
        parts.push("secret".into());
    }
    if !param.choices.is_empty() {
        let choices: Vec<String> = param.choices.iter().map(|choice| code(choice)).collect();
        parts.push(format!("one of {}", choices.join(" ")));
    }
    if let Some(pattern) = &param.pattern {
        parts.push(format!("matching {}", code(pattern)));
    }
    match (&param.default, param.secret) {
        (Some(_), true) => parts.push(format!("default {}", crate::mask::MASK)),
        (Some(default), false) => parts.push(format!("default {}", value_code(default))),
        (None, _) => parts.push("required".into()),
    }
    parts.join(", ")
}

fn capitalize(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}
