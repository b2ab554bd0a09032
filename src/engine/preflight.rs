//! What is checked before anything runs, across the runbook and everything it includes:
//! the names `-p` may set, input values given with `-p`, the step ids `--approve` may
//! name, inputs that an unattended run will need, and the locks to take. Each question
//! walks the library once (every reachable runbook once, by identity), so a runbook
//! included from several places costs nothing extra and a deep chain stays linear.

use crate::engine::params::{self, ParamProblem, Resolution};
use crate::engine::resume::Prior;
use crate::engine::runtime::Runtime;
use crate::error::Error;
use crate::exit::Exit;
use crate::load::library::Library;
use crate::process::signals::{Interrupts, Signal};
use crate::runbook::{Action, Param, Runbook};
use crate::settings::RunSettings;
use crate::ui::{self, Ui};
use std::collections::{BTreeMap, HashSet, VecDeque};

/// Everything that can be known wrong before the run starts, reported at once: `-p`
/// names, values and inputs, `--approve` ids, and — when nobody can be asked — missing
/// params and inputs. Returns the root runbook's params resolved (a resumed run keeps
/// the earlier run's non-secret values unless they are given again).
pub fn check(
    library: &Library,
    run: &RunSettings,
    prior: Option<&Prior>,
) -> Result<Vec<(String, Resolution)>, Error> {
    let Some(runbook) = library.root().runbook() else {
        return Err(Error::Invalid { errors: 1 });
    };
    let mut problems = run.malformed.clone();
    let mut given = run.given.clone();
    let known = known_names(library);
    problems.extend(params::unknown_names(
        &given,
        &known.iter().map(String::as_str).collect::<Vec<_>>(),
    ));
    problems.extend(unknown_approvals(library, &run.approve));
    let unattended = !run.interactive && !run.dry_run;
    if unattended && prior.is_none() {
        problems.extend(missing_inputs(library, &given));
    }
    if let Some(prior) = prior {
        for (name, value) in &prior.params {
            given.entry(name.clone()).or_insert_with(|| value.clone());
        }
    }
    problems.extend(check_inputs(library, &given));
    let (resolved, resolve_problems) =
        params::resolve(&runbook.params, &given, &|name| std::env::var(name).ok());
    problems.extend(resolve_problems);
    if unattended {
        // A value given but invalid is reported as such, not also as missing.
        let invalid: Vec<String> = problems
            .iter()
            .filter_map(|problem| {
                if let ParamProblem::Invalid { name, .. } = problem {
                    Some(name.clone())
                } else {
                    None
                }
            })
            .collect();
        problems.extend(
            resolved
                .iter()
                .filter(|(name, resolution)| {
                    matches!(resolution, Resolution::Missing) && !invalid.contains(name)
                })
                .filter_map(|(name, _)| runbook.param(name))
                .map(|param| ParamProblem::Missing {
                    name: param.name.clone(),
                    env: param.env.clone(),
                }),
        );
    }
    if problems.is_empty() {
        Ok(resolved)
    } else {
        Err(Error::Params(problems))
    }
}

/// The runbooks a run of `library`'s root can reach, the root first.
fn reachable(library: &Library) -> impl Iterator<Item = &Runbook> {
    library
        .reachable(library.root_index())
        .into_iter()
        .filter_map(|index| library.entry(index).runbook())
}

/// Params of the runbook and inputs of every manual step, its includes' too: the names
/// `-p` may set.
pub fn known_names(library: &Library) -> Vec<String> {
    let mut names: Vec<String> = library
        .root()
        .runbook()
        .map(|runbook| {
            runbook
                .params
                .iter()
                .map(|param| param.name.clone())
                .collect()
        })
        .unwrap_or_default();
    for runbook in reachable(library) {
        names.extend(inputs(runbook).map(|(_, param)| param.name.clone()));
    }
    names.sort();
    names.dedup();
    names
}

/// Input values given with `-p` are checked before anything runs.
pub fn check_inputs(library: &Library, given: &BTreeMap<String, String>) -> Vec<ParamProblem> {
    let root = library.root().runbook();
    let mut problems = Vec::new();
    let mut seen = HashSet::new();
    for runbook in reachable(library) {
        for (_, param) in inputs(runbook) {
            if root.is_some_and(|root| root.param(&param.name).is_some())
                || !seen.insert(param.name.clone())
            {
                continue;
            }
            if let Some(value) = given.get(&param.name)
                && let Err(error) = param.check(value)
            {
                problems.push(ParamProblem::Invalid {
                    name: param.name.clone(),
                    shown: if param.secret {
                        crate::mask::MASK.to_owned()
                    } else {
                        value.clone()
                    },
                    error,
                });
            }
        }
    }
    problems
}

/// `--approve` ids that name no step: a typo would otherwise only show when that step
/// is reached, after the steps before it ran.
pub fn unknown_approvals(library: &Library, approve: &[String]) -> Vec<ParamProblem> {
    let bare = bare_ids(library);
    approve
        .iter()
        .filter(|id| !bare.contains(id.as_str()) && !step_path_exists(library, id))
        .map(|id| {
            let candidates = approval_ids(library);
            ParamProblem::UnknownStep {
                id: id.clone(),
                suggestion: crate::load::suggest::suggest(
                    id,
                    candidates.iter().map(String::as_str),
                ),
            }
        })
        .collect()
}

/// The ids of the steps of every runbook a run can reach.
fn bare_ids(library: &Library) -> HashSet<&str> {
    reachable(library)
        .flat_map(|runbook| runbook.all_steps().into_iter().map(|step| step.id.as_str()))
        .collect()
}

/// What `--approve` may name, as offered to a person (suggestions, completion): every
/// reachable step's id, and `include-step/step` one level down.
pub fn approval_ids(library: &Library) -> Vec<String> {
    let mut ids: Vec<String> = bare_ids(library).into_iter().map(str::to_owned).collect();
    ids.extend(first_level_paths(library));
    ids
}

/// Whether `include-step/…/step` names a step through a chain of include steps.
fn step_path_exists(library: &Library, path: &str) -> bool {
    let mut entry = library.root_index();
    let mut segments = path.split('/').peekable();
    while let Some(segment) = segments.next() {
        let Some(runbook) = library.entry(entry).runbook() else {
            return false;
        };
        let Some(step) = runbook
            .all_steps()
            .into_iter()
            .find(|step| step.id == segment)
        else {
            return false;
        };
        if segments.peek().is_none() {
            return true;
        }
        let Action::Include { runbook: name, .. } = &step.action else {
            return false;
        };
        let Some((next, _)) = library.include(entry, name) else {
            return false;
        };
        entry = next;
    }
    false
}

/// `include-step/step` for the root's includes, as suggestions for a mistyped path.
fn first_level_paths(library: &Library) -> Vec<String> {
    let root = library.root_index();
    let Some(runbook) = library.root().runbook() else {
        return Vec::new();
    };
    let mut paths = Vec::new();
    for step in runbook.all_steps() {
        if let Action::Include { runbook: name, .. } = &step.action
            && let Some((_, included)) = library.include(root, name)
        {
            for child in included.all_steps() {
                paths.push(format!("{}/{}", step.id, child.id));
            }
        }
    }
    paths
}

/// Inputs of manual steps that will surely be reached (no `when` on the step or on any
/// include step leading to it) with no `-p` value: without a terminal they can only be
/// reported, so report them all before anything runs.
pub fn missing_inputs(library: &Library, given: &BTreeMap<String, String>) -> Vec<ParamProblem> {
    let mut problems = Vec::new();
    let mut seen = HashSet::from([library.root_index()]);
    // Each runbook with the path of the include steps that first reach it, so a step
    // is named as `--approve` and the audit log name it (`include-step/step`).
    let mut queue = VecDeque::from([(library.root_index(), String::new())]);
    while let Some((entry, prefix)) = queue.pop_front() {
        let Some(runbook) = library.entry(entry).runbook() else {
            continue;
        };
        for step in runbook.steps.iter().filter(|step| step.when.is_none()) {
            match &step.action {
                Action::Manual { input, .. } => {
                    for param in input
                        .iter()
                        .filter(|param| !given.contains_key(&param.name) && param.default.is_none())
                    {
                        problems.push(ParamProblem::MissingInput {
                            name: param.name.clone(),
                            step: format!("{prefix}{}", step.id),
                        });
                    }
                }
                Action::Include { runbook: name, .. } => {
                    if let Some((next, _)) = library.include(entry, name)
                        && seen.insert(next)
                    {
                        queue.push_back((next, format!("{prefix}{}/", step.id)));
                    }
                }
                Action::Run { .. } | Action::Parallel(_) => {}
            }
        }
    }
    problems
}

/// Whether a lock is a template (`pg-{{ db_name }}`) rather than a plain name.
pub fn templated(lock: &crate::runbook::Located) -> bool {
    lock.text.contains("{{") || lock.text.contains("{%")
}

/// The locks taken before anything runs: the runbook's own, rendered with its params,
/// and the plain locks of everything it may include. An included runbook's templated
/// lock depends on the values it is given, so it is taken when its include step starts
/// (docs/audit.md, "Locks").
pub fn locks(
    library: &Library,
    templates: &crate::template::Templates,
    resolved: &[(String, Resolution)],
) -> Result<Vec<String>, String> {
    let mut names = Vec::new();
    if let Some(root) = library.root().runbook()
        && let Some(lock) = &root.lock
    {
        let values: std::collections::BTreeMap<&str, minijinja::Value> = resolved
            .iter()
            .filter_map(|(name, resolution)| match resolution {
                Resolution::Value(value) => Some((name.as_str(), value.typed.to_template_value())),
                Resolution::Missing => None,
            })
            .collect();
        names.push(render_lock(
            templates,
            lock,
            &minijinja::Value::from(values),
        )?);
    }
    let root_index = library.root_index();
    for index in library.reachable(root_index) {
        if index == root_index {
            continue;
        }
        if let Some(lock) = library
            .entry(index)
            .runbook()
            .and_then(|runbook| runbook.lock.as_ref())
            && !templated(lock)
        {
            names.push(lock.text.trim().to_owned());
        }
    }
    let mut seen = HashSet::new();
    names.retain(|name| seen.insert(name.clone()));
    Ok(names)
}

/// A lock's name: its template rendered with `context`, trimmed, not empty.
pub fn render_lock(
    templates: &crate::template::Templates,
    lock: &crate::runbook::Located,
    context: &minijinja::Value,
) -> Result<String, String> {
    let name = templates
        .render(&lock.path, &lock.text, context)
        .map_err(|error| {
            format!(
                "cannot render the lock name `{}`: {error}",
                lock.text.trim()
            )
        })?;
    let name = name.trim().to_owned();
    if name.is_empty() {
        return Err(format!(
            "the lock name `{}` renders empty",
            lock.text.trim()
        ));
    }
    Ok(name)
}

/// Manual-step inputs of one runbook, with the id of their step.
fn inputs(runbook: &Runbook) -> impl Iterator<Item = (&str, &Param)> {
    runbook
        .all_steps()
        .into_iter()
        .flat_map(|step| match &step.action {
            Action::Manual { input, .. } => input
                .iter()
                .map(|param| (step.id.as_str(), param))
                .collect::<Vec<_>>(),
            Action::Run { .. } | Action::Include { .. } | Action::Parallel(_) => Vec::new(),
        })
}

/// Params still missing: asked for on a terminal (a dry-run shows placeholders).
pub fn ask_missing(
    runtime: &Runtime,
    ui: &Ui,
    interrupts: &Interrupts,
    runbook: &Runbook,
    run: &RunSettings,
    resolved: &mut [(String, Resolution)],
) -> Result<(), Error> {
    if run.dry_run {
        return Ok(());
    }
    let mut asked = false;
    for (name, resolution) in resolved.iter_mut() {
        let (Resolution::Missing, Some(param)) = (&resolution, runbook.param(name)) else {
            continue;
        };
        if !asked {
            ui.message(&format!("{} needs:\n", runbook.name));
            asked = true;
        }
        match runtime.block_on(ui::ask_param(ui, interrupts, param)) {
            Ok((text, typed)) => {
                *resolution = Resolution::Value(crate::engine::params::ParamValue {
                    text,
                    typed,
                    source: crate::engine::params::ValueSource::Prompted,
                });
            }
            Err(answer) => {
                return Err(Error::NoAnswer {
                    param: name.clone(),
                    exit: match answer {
                        ui::prompt::NoAnswer::Interrupted => match interrupts.first() {
                            Some(Signal::Terminate) => Exit::Terminated,
                            Some(Signal::HangUp) => Exit::HangUp,
                            Some(Signal::Interrupt) | None => Exit::Interrupted,
                        },
                        ui::prompt::NoAnswer::Closed => Exit::Invalid,
                        ui::prompt::NoAnswer::Aborted => Exit::Declined,
                    },
                });
            }
        }
    }
    Ok(())
}
