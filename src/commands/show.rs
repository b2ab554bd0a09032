//! `runbook show`: a runbook as a procedure a person can read. `--format markdown` is a
//! document an on-call engineer can follow by hand when the tool itself is unavailable,
//! with every included runbook appended once.

use crate::cli::ShowFormat;
use crate::error::Error;
use crate::exit::Exit;
use crate::load::Loaded;
use crate::load::library::Library;
use crate::plan::outline::{outline, summary};
use crate::plan::text::step_text;
use crate::runbook::{Action, ConfirmPolicy, GuardCheck, NotifyEvent, Runbook, Step};
use crate::settings::Settings;
use crate::template::{Templates, system_clock};
use crate::ui::style::Styles;
use std::fmt::Write as _;
use std::io::Write;

pub fn show(config: &Settings, argument: &str, format: ShowFormat) -> Result<Exit, Error> {
    let templates = Templates::new(system_clock());
    let library = Library::load_argument(&config.catalog, &templates, argument)?;
    let loaded = &library.root().loaded;
    let Some(runbook) = valid(loaded, config)? else {
        return Err(Error::Invalid {
            errors: loaded.error_count(),
        });
    };
    let text = match format {
        ShowFormat::Text => text(
            runbook,
            &loaded.source.display_name(),
            &config.stdout_styles,
        ),
        ShowFormat::Markdown => {
            let includes: Vec<Runbook> = library
                .reachable(library.root_index())
                .into_iter()
                .skip(1)
                .filter_map(|index| library.entry(index).runbook().cloned())
                .collect();
            markdown(runbook, &includes)
        }
    };
    std::io::stdout().lock().write_all(text.as_bytes())?;
    Ok(Exit::Success)
}

/// Prints the diagnostics of an invalid runbook; returns the runbook when it is valid.
fn valid<'a>(loaded: &'a Loaded, config: &Settings) -> Result<Option<&'a Runbook>, Error> {
    if loaded.error_count() == 0 {
        return Ok(loaded.runbook.as_ref());
    }
    let mut stderr = std::io::stderr().lock();
    for diagnostic in loaded
        .diagnostics
        .iter()
        .filter(|diagnostic| diagnostic.is_error())
    {
        write!(stderr, "{}", diagnostic.render(&config.stderr_styles))?;
        writeln!(stderr)?;
    }
    Ok(None)
}

fn text(runbook: &Runbook, source: &str, styles: &Styles) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} — {}",
        styles.strong.apply_to(&runbook.name),
        runbook.title
    );
    let mut facts = vec![format!("kind: {}", runbook.kind.as_str())];
    if let Some(rto) = runbook.rto {
        facts.push(format!("rto: {rto}"));
    }
    if let Some(rpo) = runbook.rpo {
        facts.push(format!("rpo: {rpo}"));
    }
    if let Some(lock) = &runbook.lock {
        facts.push(format!("lock: {}", lock.text));
    }
    if !runbook.tags.is_empty() {
        facts.push(format!("tags: {}", runbook.tags.join(", ")));
    }
    facts.push(format!("source: {source}"));
    let _ = writeln!(out, "{}", styles.dim.apply_to(facts.join("   ")));
    if let Some(description) = &runbook.description {
        let _ = writeln!(out, "\n{}", description.trim_end());
    }
    if !runbook.params.is_empty() {
        let _ = writeln!(out, "\n{}", styles.strong.apply_to("Parameters"));
        let width = runbook
            .params
            .iter()
            .map(|param| param.name.len())
            .max()
            .unwrap_or(0);
        for param in &runbook.params {
            let _ = writeln!(
                out,
                "  {:width$}  {}",
                param.name,
                styles.dim.apply_to(summary(param))
            );
            if let Some(description) = &param.description {
                let _ = writeln!(out, "  {:width$}  {description}", "");
            }
        }
    }
    if !runbook.vars.is_empty() {
        let _ = writeln!(out, "\n{}", styles.strong.apply_to("Variables"));
        for var in &runbook.vars {
            let _ = writeln!(out, "  {} = {}", var.name, var.value.text);
        }
    }
    let sections: [(&str, &[Step]); 3] = [
        ("Steps", &runbook.steps),
        ("On failure", &runbook.on_failure),
        ("Finally", &runbook.finally_steps),
    ];
    for (title, steps) in sections {
        if steps.is_empty() {
            continue;
        }
        let _ = writeln!(out, "\n{}", styles.strong.apply_to(title));
        for (index, step) in steps.iter().enumerate() {
            step_text(
                &mut out,
                &outline(step, &format!("{}", index + 1)),
                2,
                styles,
            );
        }
    }
    if !runbook.notify.is_empty() {
        let _ = writeln!(out, "\n{}", styles.strong.apply_to("Notify"));
        for notify in &runbook.notify {
            let on: Vec<&str> = notify.on.iter().map(|event| notify_event(*event)).collect();
            let _ = writeln!(out, "  on {}: $ {}", on.join(", "), notify.run.text.trim());
        }
    }
    out
}

fn notify_event(event: NotifyEvent) -> &'static str {
    match event {
        NotifyEvent::Success => "success",
        NotifyEvent::Failure => "failure",
        NotifyEvent::Aborted => "aborted",
        NotifyEvent::Interrupted => "interrupted",
        NotifyEvent::Always => "always",
    }
}

fn markdown(runbook: &Runbook, includes: &[Runbook]) -> String {
    let mut out = String::new();
    markdown_runbook(&mut out, runbook, "#", includes);
    if !includes.is_empty() {
        let _ = writeln!(out, "\n---\n\n# Appendix: included procedures\n");
        for included in includes {
            markdown_runbook(&mut out, included, "##", includes);
        }
    }
    out
}

fn markdown_runbook(out: &mut String, runbook: &Runbook, heading: &str, includes: &[Runbook]) {
    let sub = format!("{heading}#");
    let _ = writeln!(out, "{heading} {} (`{}`)\n", runbook.title, runbook.name);
    let mut facts = vec![format!("**Kind:** {}", runbook.kind.as_str())];
    if let Some(rto) = runbook.rto {
        facts.push(format!("**RTO:** {rto}"));
    }
    if let Some(rpo) = runbook.rpo {
        facts.push(format!("**RPO:** {rpo}"));
    }
    if let Some(lock) = &runbook.lock {
        facts.push(format!(
            "**Lock:** `{}` (only one person runs this at a time)",
            lock.text
        ));
    }
    if !runbook.tags.is_empty() {
        facts.push(format!("**Tags:** {}", runbook.tags.join(", ")));
    }
    let _ = writeln!(out, "{}\n", facts.join(" · "));
    if let Some(description) = &runbook.description {
        let _ = writeln!(out, "{}\n", description.trim_end());
    }
    if !runbook.params.is_empty() {
        let _ = writeln!(out, "{sub} Parameters\n");
        let _ = writeln!(
            out,
            "| Name | Type | Default | From environment | Description |"
        );
        let _ = writeln!(out, "|---|---|---|---|---|");
        for param in &runbook.params {
            let mut kind = param.param_type.as_str().to_owned();
            if param.secret {
                kind.push_str(", **secret**");
            }
            if !param.choices.is_empty() {
                let _ = write!(
                    kind,
                    ", one of {}",
                    param
                        .choices
                        .iter()
                        .map(|choice| format!("`{choice}`"))
                        .collect::<Vec<_>>()
                        .join(" ")
                );
            }
            if let Some(pattern) = &param.pattern {
                let _ = write!(kind, ", matching `{pattern}`");
            }
            let default = match (&param.default, param.secret) {
                (Some(_), true) => "••••••".to_owned(),
                (Some(default), false) if default.is_empty() => "*(empty)*".to_owned(),
                (Some(default), false) => format!("`{default}`"),
                (None, _) => "*required*".to_owned(),
            };
            let env = param
                .env
                .as_ref()
                .map(|env| format!("`${env}`"))
                .unwrap_or_default();
            let description = param
                .description
                .as_deref()
                .unwrap_or_default()
                .replace('\n', " ");
            let _ = writeln!(
                out,
                "| `{}` | {kind} | {default} | {env} | {description} |",
                param.name
            );
        }
        let _ = writeln!(out);
    }
    if !runbook.vars.is_empty() || !runbook.env.is_empty() {
        let _ = writeln!(out, "{sub} Values used below\n");
        for var in &runbook.vars {
            let _ = writeln!(out, "- `{}` = `{}`", var.name, var.value.text.trim());
        }
        for env in &runbook.env {
            let _ = writeln!(
                out,
                "- environment: `export {}={}`",
                env.name,
                env.value.text.trim()
            );
        }
        let _ = writeln!(out);
    }
    let _ = writeln!(out, "{sub} Before you start\n");
    let _ = writeln!(
        out,
        "- Write down the time you start{}.",
        runbook
            .rto
            .map(|rto| format!(": the recovery time objective is {rto}"))
            .unwrap_or_default()
    );
    let _ = writeln!(
        out,
        "- `{{{{ name }}}}` stands for the value of a parameter, variable or an earlier step's output. \
         When typing a command by hand, put the value in single quotes if it contains anything \
         but letters, digits and `_@%+=:,./-`."
    );
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
    for env in runbook
        .params
        .iter()
        .filter_map(|param| param.env.as_ref().map(|env| (env, param)))
    {
        let (env, param) = env;
        let _ = writeln!(
            out,
            "- `export {env}=...` ({})",
            param.description.as_deref().unwrap_or(&param.name)
        );
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "{sub} Procedure\n");
    for (index, step) in runbook.steps.iter().enumerate() {
        markdown_step(
            out,
            runbook,
            step,
            &format!("{}", index + 1),
            &sub,
            includes,
        );
    }
    if !runbook.on_failure.is_empty() {
        let _ = writeln!(out, "{sub} If something fails\n");
        for (index, step) in runbook.on_failure.iter().enumerate() {
            markdown_step(
                out,
                runbook,
                step,
                &format!("F{}", index + 1),
                &sub,
                includes,
            );
        }
    }
    if !runbook.finally_steps.is_empty() {
        let _ = writeln!(out, "{sub} Always, at the end (also after a failure)\n");
        for (index, step) in runbook.finally_steps.iter().enumerate() {
            markdown_step(
                out,
                runbook,
                step,
                &format!("E{}", index + 1),
                &sub,
                includes,
            );
        }
    }
    if !runbook.notify.is_empty() {
        let _ = writeln!(out, "{sub} Notify\n");
        for notify in &runbook.notify {
            let on: Vec<&str> = notify.on.iter().map(|event| notify_event(*event)).collect();
            let on = match on.split_last() {
                Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
                _ => on.join(""),
            };
            let when = notify
                .when
                .as_ref()
                .map(|when| format!(" (when `{}`)", when.text.trim()))
                .unwrap_or_default();
            // The hook's command is a template over the run's outcome, which a person
            // following this by hand does not have: say what it is for instead.
            let _ = writeln!(
                out,
                "- On {on}{when}: tell the team how the run ended — what was done, what failed and \
                 where things stand (the tool posts this itself; `runbook show {}` prints its command).\n",
                runbook.name
            );
        }
    }
}

/// Where a command runs, for someone following the procedure by hand: `on host `db`
/// (`ssh postgres@db1`; empty: this machine)`.
fn markdown_host(runbook: &Runbook, host: Option<&crate::runbook::HostRef>) -> Option<String> {
    let reference = host.filter(|host| !host.is_local())?;
    let destinations: Vec<String> = runbook
        .host(&reference.name)
        .map(|host| {
            host.destinations
                .iter()
                .map(|destination| format!("`{}`", destination.text.trim()))
                .collect()
        })
        .unwrap_or_default();
    Some(match destinations.as_slice() {
        [one] => format!(
            "on host `{}` (`ssh {}`; an empty destination means this machine)",
            reference.name,
            one.trim_matches('`')
        ),
        many => format!("on each host of `{}`: {}", reference.name, many.join(", ")),
    })
}

fn markdown_step(
    out: &mut String,
    runbook: &Runbook,
    step: &Step,
    number: &str,
    heading: &str,
    includes: &[Runbook],
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
        step.title(),
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
        let _ = writeln!(
            out,
            "**Only if** `{}`; otherwise skip this step.\n",
            when.text.trim()
        );
    }
    if !step.require.is_empty() {
        let _ = writeln!(out, "**Check first** (do not continue unless all hold):\n");
        for guard in &step.require {
            let message = guard
                .message
                .as_ref()
                .map(|message| format!(" — otherwise: {}", message.text.trim()))
                .unwrap_or_default();
            match &guard.check {
                GuardCheck::Command(command) => {
                    let on = markdown_host(runbook, guard.host.as_ref().or(step.host.as_ref()))
                        .map(|on| format!(" {on}"))
                        .unwrap_or_default();
                    let _ = writeln!(out, "- [ ] `{}` succeeds{on}{message}", command.text.trim());
                }
                GuardCheck::Expr(expr) => {
                    let _ = writeln!(out, "- [ ] `{}` is true{message}", expr.text.trim());
                }
            }
        }
        let _ = writeln!(out);
    }
    if let Some(confirm) = &step.confirm {
        let _ = write!(
            out,
            "**Confirm before running:** {}",
            confirm.message.text.trim()
        );
        if let Some(typed) = &confirm.typed {
            let _ = write!(out, " (the tool asks to type `{}`)", typed.text.trim());
        }
        if confirm.auto == ConfirmPolicy::Deny {
            let _ = write!(out, " — a person must approve; `--yes` is not enough");
        }
        let _ = writeln!(out, "\n");
    }
    match &step.action {
        Action::Run { command } => {
            if let Some(on) = markdown_host(runbook, step.host.as_ref()) {
                let _ = writeln!(out, "Run {on}:\n");
            }
            let _ = writeln!(out, "```bash\n{}\n```\n", command.text.trim_end());
        }
        Action::Manual {
            instructions,
            input,
        } => {
            for line in instructions.text.trim_end().lines() {
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
                        "- `{}` ({}): {prompt} ____________",
                        param.name,
                        summary(param)
                    );
                }
                let _ = writeln!(out);
            }
        }
        Action::Include { runbook, with, .. } => {
            let title = includes
                .iter()
                .find(|included| &included.name == runbook)
                .map(|included| included.title.as_str())
                .unwrap_or(runbook);
            let _ = writeln!(
                out,
                "Follow the procedure **{title}** (`{runbook}`, in the appendix)"
            );
            if with.is_empty() {
                let _ = writeln!(out, "with its default parameters.\n");
            } else {
                let _ = writeln!(out, "with these parameters:\n");
                for (name, value) in with {
                    let _ = writeln!(out, "- `{name}` = `{}`", value.text.trim());
                }
                let _ = writeln!(out);
            }
        }
        Action::Parallel(children) => {
            let _ = writeln!(
                out,
                "These can be done at the same time (by different people, or one after another):\n"
            );
            for (index, child) in children.iter().enumerate() {
                markdown_step(
                    out,
                    runbook,
                    child,
                    &format!("{number}.{}", index + 1),
                    &format!("{heading}#"),
                    includes,
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
                .map(|message| format!(" — otherwise: {}", message.text.trim()))
                .unwrap_or_default();
            let _ = writeln!(out, "- [ ] `{}`{message}", expectation.expr.text.trim());
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
        let _ = writeln!(out, "- [ ] Done at ____:____\n");
    }
}

fn capitalize(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}
