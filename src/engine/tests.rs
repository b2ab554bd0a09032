//! The engine on its own: a runbook from text, answers from a script instead of a
//! terminal, events kept in memory instead of an audit file, output captured in memory.
//! Commands still run for real (in bash), since that is what the engine drives.

use crate::audit::event::{Approval, Event, RunStatus, StepStatus};
use crate::engine::event::Memory;
use crate::engine::{Engine, Launch, RunOptions, RunResult};
use crate::load::library::Library;
use crate::load::source::{Catalog, Origin, Source};
use crate::process::signals;
use crate::settings::RunIdentity;
use crate::template::{Templates, system_clock};
use crate::ui::Ui;
use crate::ui::output::Output;
use crate::ui::progress::Progress;
use crate::ui::prompt::Prompter;
use crate::ui::style::Styles;
use std::cell::RefCell;
use std::io::Write;
use std::rc::Rc;

/// A writer the test can read back.
#[derive(Clone, Default)]
struct Captured(Rc<RefCell<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.borrow_mut().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.borrow()).into_owned()
    }
}

struct Run {
    result: RunResult,
    events: Vec<Event>,
    stdout: String,
    stderr: String,
    /// Answers the script still had when the run ended.
    unanswered: usize,
}

/// Runs runbook `text` with scripted `answers`; `-p` values in `given`.
fn run(text: &str, answers: &[&str], options: RunOptions) -> Run {
    let catalog = Catalog::new(Vec::new(), false);
    let templates = Templates::new(system_clock());
    let source = Source {
        stem: "t".to_owned(),
        origin: Origin::File("/nonexistent/t.yaml".into()),
        text: text.to_owned(),
    };
    let library = Library::load(&catalog, &templates, vec![source]);
    let loaded = &library.root().loaded;
    assert_eq!(loaded.error_count(), 0, "{:#?}", loaded.diagnostics);
    let runbook = loaded.runbook().expect("a runbook");
    let (resolved, problems) =
        crate::engine::params::resolve(&runbook.params, &options.given, &|_| None);
    assert!(problems.is_empty(), "{problems:?}");
    let stdout = Captured::default();
    let stderr = Captured::default();
    let ui = Ui::new(
        Styles::plain(),
        Output::new(
            Box::new(stdout.clone()),
            Box::new(stderr.clone()),
            None,
            false,
        ),
        Progress::Plain,
        Prompter::script(answers.iter().copied()),
        true,
    );
    let (_trigger, interrupts) = signals::channel();
    let mut memory = Memory::default();
    let identity = RunIdentity::new();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let result = {
        let engine = Engine::new(
            &templates,
            &ui,
            &options,
            interrupts,
            &library,
            &mut memory,
            None,
        );
        runtime.block_on(engine.run(Launch {
            identity: &identity,
            resolved: &resolved,
            prior: None,
        }))
    };
    let unanswered = match &ui.prompter {
        Prompter::Script(answers) => answers.borrow().len(),
        Prompter::Terminal => 0,
    };
    Run {
        result,
        events: memory.events,
        stdout: stdout.text(),
        stderr: stderr.text(),
        unanswered,
    }
}

fn finished(events: &[Event]) -> Vec<(String, StepStatus)> {
    events
        .iter()
        .filter_map(|event| match event {
            Event::StepFinished {
                step_id, status, ..
            } => Some((step_id.clone(), *status)),
            _ => None,
        })
        .collect()
}

const CONFIRMED: &str = "name: t\ntitle: T\nkind: test\nsteps:\n  - id: drop\n    confirm: {message: Drop it?}\n    run: echo dropped\n  - id: after\n    run: echo after\n";

#[test]
fn a_confirmation_answered_yes_at_the_terminal_runs_the_step_and_is_recorded() {
    let run = run(CONFIRMED, &["y"], RunOptions::default());
    assert_eq!(run.result.status, RunStatus::Success);
    assert!(run.events.iter().any(|event| matches!(
        event,
        Event::Confirmation { step_id, approved: true, how: Some(Approval::Terminal) } if step_id == "drop"
    )));
    assert_eq!(
        finished(&run.events),
        [
            ("drop".to_owned(), StepStatus::Ok),
            ("after".to_owned(), StepStatus::Ok)
        ]
    );
    assert_eq!(run.stdout, "dropped\nafter\n");
    assert!(run.stderr.contains("Drop it?"), "{}", run.stderr);
}

#[test]
fn a_declined_confirmation_aborts_and_names_what_was_not_reached() {
    let run = run(CONFIRMED, &["n"], RunOptions::default());
    assert_eq!(run.result.status, RunStatus::Aborted);
    assert_eq!(
        finished(&run.events),
        [("drop".to_owned(), StepStatus::Declined)]
    );
    let summary: Vec<(&str, StepStatus)> = run
        .result
        .summary
        .iter()
        .map(|row| (row.id.as_str(), row.status))
        .collect();
    assert_eq!(
        summary,
        [
            ("drop", StepStatus::Declined),
            ("after", StepStatus::NotRun)
        ]
    );
    assert_eq!(run.stdout, "");
}

#[test]
fn step_mode_asks_about_main_steps_only_never_about_clean_up() {
    let text = "name: t\ntitle: T\nkind: test\nsteps:\n  - id: main\n    run: echo main\nfinally:\n  - id: group\n    parallel:\n      - id: tidy-a\n        run: echo tidy-a\n      - id: tidy-b\n        run: echo tidy-b\n";
    // One answer: skip `main`. Were a clean-up step asked, the script would be empty,
    // the question unanswered and the run aborted.
    let options = RunOptions {
        step_mode: true,
        ..RunOptions::default()
    };
    let run = run(text, &["s"], options);
    assert_eq!(run.result.status, RunStatus::Success, "{}", run.stderr);
    assert_eq!(run.unanswered, 0);
    let finished = finished(&run.events);
    assert!(finished.contains(&("main".to_owned(), StepStatus::Skipped)));
    assert!(finished.contains(&("tidy-a".to_owned(), StepStatus::Ok)));
    assert!(finished.contains(&("tidy-b".to_owned(), StepStatus::Ok)));
    assert!(!run.stdout.contains("main"), "{}", run.stdout);
}

#[test]
fn a_manual_input_is_asked_again_until_valid_then_recorded() {
    let text = "name: t\ntitle: T\nkind: test\nsteps:\n  - id: count\n    manual: Count the users.\n    input:\n      users: {type: integer}\n  - id: show\n    run: echo users={{ users }}\n";
    let run = run(text, &["many", "42", ""], RunOptions::default());
    assert_eq!(run.result.status, RunStatus::Success, "{}", run.stderr);
    assert!(run.events.iter().any(|event| matches!(
        event,
        Event::Input { name, value, .. } if name == "users" && value == "42"
    )));
    assert!(
        run.stderr.contains("`many` is not an integer"),
        "{}",
        run.stderr
    );
    assert_eq!(run.stdout, "users=42\n");
    assert_eq!(run.unanswered, 0);
}

#[test]
fn a_render_error_fails_the_step_with_a_located_message_and_runs_nothing() {
    let text = "name: t\ntitle: T\nkind: test\nsteps:\n  - id: read\n    capture: info\n    run: echo hello\n  - id: use\n    run: echo {{ info.port }}\n";
    let run = run(text, &[], RunOptions::default());
    assert_eq!(run.result.status, RunStatus::Failure);
    let reason = run.events.iter().find_map(|event| match event {
        Event::StepFinished {
            step_id, reason, ..
        } if step_id == "use" => reason.clone(),
        _ => None,
    });
    assert_eq!(
        reason.as_deref(),
        Some("cannot render steps[1].run: undefined value: `info.port` is undefined")
    );
    assert!(
        run.stderr
            .contains("--> /nonexistent/t.yaml:9:18 (at steps[1].run, step `use`)"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("info = 'hello', info.port = undefined"),
        "{}",
        run.stderr
    );
    assert_eq!(run.stdout, "hello\n");
}

#[test]
fn resolved_params_reach_templates_and_the_plan_keeps_secrets_masked() {
    let text = "name: t\ntitle: T\nkind: test\nparams:\n  token: {secret: true, env: TOKEN}\n  db: {default: chatcard}\nsteps:\n  - id: go\n    run: echo {{ db }} \"$TOKEN\"\n";
    let options = RunOptions {
        dry_run: true,
        given: [("token".to_owned(), "hunter22".to_owned())].into(),
        ..RunOptions::default()
    };
    let run = run(text, &[], options);
    let plan = run.result.plan.expect("a dry-run has a plan");
    let params: Vec<(&str, &str, &str)> = plan
        .params
        .iter()
        .map(|param| (param.name.as_str(), param.value.as_str(), param.source))
        .collect();
    assert_eq!(
        params,
        [("token", "••••••", "given"), ("db", "chatcard", "default")]
    );
    assert_eq!(
        plan.steps[0].command.as_deref(),
        Some("echo chatcard \"$TOKEN\"")
    );
    assert!(
        run.events.is_empty(),
        "a dry-run runs nothing: {:?}",
        run.events
    );
    // The secret never reached anything the run printed.
    assert!(!run.stderr.contains("hunter22") && !run.stdout.contains("hunter22"));
}
