//! `runbook show`: a runbook as a procedure a person can read. `--format markdown` is a
//! document an on-call engineer can follow by hand when the tool itself is unavailable,
//! with every included runbook appended once.

mod escape;
mod markdown;

use crate::cli::ShowFormat;
use crate::engine::params::{self, ParamProblem, ValueSource};
use crate::engine::preflight;
use crate::error::Error;
use crate::exit::Exit;
use crate::load::Loaded;
use crate::load::library::Library;
use crate::plan::fill::{Filled, Filler};
use crate::plan::outline::{outline, summary};
use crate::plan::text::step_text;
use crate::runbook::{Action, NotifyEvent, Runbook};
use crate::settings::Settings;
use crate::template::{Templates, system_clock};
use crate::ui::style::Styles;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::io::Write;

pub fn show(
    config: &Settings,
    argument: &str,
    format: ShowFormat,
    assignments: &[String],
) -> Result<Exit, Error> {
    let templates = Templates::new(system_clock());
    let library = Library::load_argument(&config.catalog, &templates, argument)?;
    let loaded = &library.root().loaded;
    let Some(runbook) = valid(loaded, config)? else {
        return Err(Error::Invalid {
            errors: loaded.error_count(),
        });
    };
    let includes: Vec<Runbook> = library
        .reachable(library.root_index())
        .into_iter()
        .skip(1)
        .filter_map(|index| library.entry(index).runbook().cloned())
        .collect();
    let fillers = Fillers::new(&library, runbook, &includes, assignments)?;
    let text = match format {
        ShowFormat::Text => text(
            runbook,
            &loaded.source.display_name(),
            &config.stdout_styles,
            &fillers,
        ),
        ShowFormat::Markdown => markdown::markdown(runbook, &includes, &fillers),
    };
    std::io::stdout().lock().write_all(text.as_bytes())?;
    Ok(Exit::Success)
}

/// What `-p` fills in: the root runbook's filler, and each included runbook's, built
/// from the `with:` of the step that includes it. A runbook reached along more than one
/// path of includes is shown as written (its values differ from place to place), and so
/// is everything it includes.
pub(super) struct Fillers {
    root: Filler,
    includes: HashMap<String, Filler>,
    /// How many include paths reach each included runbook, counted up to 2.
    paths: HashMap<String, usize>,
    as_written: Filler,
    filled: Vec<Filled>,
}

impl Fillers {
    fn new(
        library: &Library,
        runbook: &Runbook,
        includes: &[Runbook],
        assignments: &[String],
    ) -> Result<Fillers, Error> {
        let mut fillers = Fillers {
            root: Filler::as_written(),
            includes: HashMap::new(),
            paths: HashMap::new(),
            as_written: Filler::as_written(),
            filled: Vec::new(),
        };
        if assignments.is_empty() {
            return Ok(fillers);
        }
        let given = params::parse_assignments(assignments).map_err(Error::Params)?;
        let known = preflight::known_names(library);
        let mut problems: Vec<ParamProblem> = params::unknown_names(
            &given,
            &known.iter().map(String::as_str).collect::<Vec<_>>(),
        );
        problems.extend(preflight::check_inputs(library, &given));
        // Names that are not the root's params answer manual steps' inputs.
        let inputs: BTreeMap<String, String> = given
            .iter()
            .filter(|(name, _)| runbook.param(name).is_none())
            .map(|(name, value)| (name.clone(), value.clone()))
            .collect();
        let (root, filled, resolve_problems) =
            Filler::new(runbook, &given, &BTreeSet::new(), &inputs);
        problems.extend(resolve_problems);
        if !problems.is_empty() {
            return Err(Error::Params(problems));
        }
        let paths = include_paths(runbook, includes);
        let mut sites = HashMap::new();
        include_sites(runbook, &root, includes, &inputs, &paths, &mut sites);
        fillers.root = root;
        fillers.includes = sites;
        fillers.paths = paths;
        fillers.filled = filled;
        Ok(fillers)
    }

    pub(super) fn root(&self) -> &Filler {
        &self.root
    }

    /// The filler of an included runbook: as written unless one path reaches it.
    pub(super) fn include(&self, name: &str) -> &Filler {
        self.includes.get(name).unwrap_or(&self.as_written)
    }

    /// Whether `-p` was given but an included runbook is shown as written because more
    /// than one path of includes reaches it.
    pub(super) fn shown_as_written(&self, name: &str) -> bool {
        self.root.is_filling() && self.paths.get(name).is_some_and(|paths| *paths > 1)
    }
}

/// The include steps of a runbook: (included runbook, `with:`).
fn include_steps(runbook: &Runbook) -> Vec<(&str, &[(String, crate::runbook::Located)])> {
    runbook
        .all_steps()
        .into_iter()
        .filter_map(|step| match &step.action {
            Action::Include { runbook, with, .. } => Some((runbook.as_str(), with.as_slice())),
            _ => None,
        })
        .collect()
}

/// For each included runbook, how many paths of include steps lead to it from `root`,
/// counted up to 2 (one step of a runbook reached twice is two paths). Linear in the
/// number of runbooks and include steps, however the includes fan out.
fn include_paths(root: &Runbook, includes: &[Runbook]) -> HashMap<String, usize> {
    let mut parents: HashMap<&str, Vec<&str>> = HashMap::new();
    for runbook in std::iter::once(root).chain(includes) {
        for (child, _) in include_steps(runbook) {
            parents
                .entry(child)
                .or_default()
                .push(runbook.name.as_str());
        }
    }
    fn count<'a>(
        name: &'a str,
        root: &str,
        parents: &HashMap<&'a str, Vec<&'a str>>,
        memo: &mut HashMap<&'a str, usize>,
        visiting: &mut BTreeSet<&'a str>,
    ) -> usize {
        if name == root {
            return 1;
        }
        if let Some(paths) = memo.get(name) {
            return *paths;
        }
        // The library refuses include cycles; one would count as many paths here.
        if !visiting.insert(name) {
            return 2;
        }
        let mut paths = 0;
        for parent in parents.get(name).into_iter().flatten() {
            paths = (paths + count(parent, root, parents, memo, visiting)).min(2);
        }
        visiting.remove(name);
        memo.insert(name, paths);
        paths
    }
    let mut memo = HashMap::new();
    let mut visiting = BTreeSet::new();
    includes
        .iter()
        .map(|included| {
            let paths = count(
                included.name.as_str(),
                root.name.as_str(),
                &parents,
                &mut memo,
                &mut visiting,
            );
            (included.name.clone(), paths)
        })
        .collect()
}

/// The fillers of the runbooks `runbook` includes that one path reaches, from its
/// steps' `with:` as `fill` renders them, and of theirs in turn: each runbook once.
fn include_sites(
    runbook: &Runbook,
    fill: &Filler,
    includes: &[Runbook],
    inputs: &BTreeMap<String, String>,
    paths: &HashMap<String, usize>,
    sites: &mut HashMap<String, Filler>,
) {
    for (name, with) in include_steps(runbook) {
        if paths.get(name) != Some(&1) || sites.contains_key(name) {
            continue;
        }
        let Some(included) = includes.iter().find(|included| included.name == name) else {
            continue;
        };
        let mut given = BTreeMap::new();
        let mut unknown = BTreeSet::new();
        for (param, value) in with {
            match fill.complete(value) {
                Some(text) => {
                    given.insert(param.clone(), text);
                }
                None => {
                    unknown.insert(param.clone());
                }
            }
        }
        let (child, _, _) = Filler::new(included, &given, &unknown, inputs);
        include_sites(included, &child, includes, inputs, paths, sites);
        sites.insert(name.to_owned(), child);
    }
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

fn text(runbook: &Runbook, source: &str, styles: &Styles, fillers: &Fillers) -> String {
    let fill = fillers.root();
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
        facts.push(format!("lock: {}", fill.fill(lock)));
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
            let value = fillers
                .filled
                .iter()
                .find(|filled| filled.name == param.name && filled.source == ValueSource::Given)
                .map(|filled| format!(" = {}  (given)", filled.value))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "  {:width$}{value}  {}",
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
            let value = fill
                .var(&var.name)
                .unwrap_or_else(|| var.value.text.clone());
            let _ = writeln!(out, "  {} = {value}", var.name);
        }
    }
    let sections: [(&str, &[crate::runbook::Step]); 3] = [
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
                &outline(step, &format!("{}", index + 1), fill),
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
