//! `runbook show`: a runbook as a procedure a person can read. `--format markdown` is a
//! document an on-call engineer can follow by hand when the tool itself is unavailable,
//! with every included runbook appended once.

mod markdown;

use crate::cli::ShowFormat;
use crate::engine::params::{self, ParamProblem};
use crate::engine::preflight;
use crate::error::Error;
use crate::exit::Exit;
use crate::load::Loaded;
use crate::load::library::Library;
use crate::plan::fill::{Filled, Filler};
use crate::plan::outline::{outline, summary};
use crate::plan::text::step_text;
use crate::runbook::{Action, NotifyEvent, Param, Runbook};
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
/// from the `with:` of the step that includes it. A runbook included from more than one
/// place is shown as written (its values differ from place to place).
pub(super) struct Fillers {
    root: Filler,
    includes: HashMap<String, Vec<Filler>>,
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
        let inputs: Vec<&Param> = std::iter::once(runbook)
            .chain(includes)
            .flat_map(inputs)
            .collect();
        let (root, filled, resolve_problems) =
            Filler::new(runbook, &given, &BTreeSet::new(), &inputs);
        problems.extend(resolve_problems);
        if !problems.is_empty() {
            return Err(Error::Params(problems));
        }
        // Input values reach every runbook; params only the root.
        let input_values: BTreeMap<String, String> = given
            .iter()
            .filter(|(name, _)| runbook.param(name).is_none())
            .map(|(name, value)| (name.clone(), value.clone()))
            .collect();
        let mut sites = HashMap::new();
        include_sites(
            runbook,
            &root,
            includes,
            &input_values,
            &inputs,
            &mut sites,
            0,
        );
        fillers.root = root;
        fillers.includes = sites;
        fillers.filled = filled;
        Ok(fillers)
    }

    pub(super) fn root(&self) -> &Filler {
        &self.root
    }

    /// The filler of an included runbook: as written unless it is included once.
    pub(super) fn include(&self, name: &str) -> &Filler {
        match self.includes.get(name).map(Vec::as_slice) {
            Some([one]) => one,
            _ => &self.as_written,
        }
    }

    /// From how many places a runbook is included (once per place its includer is).
    pub(super) fn include_sites(&self, name: &str) -> usize {
        self.includes.get(name).map_or(0, Vec::len)
    }
}

/// The fillers of the runbooks `runbook` includes, from its steps' `with:` as `fill`
/// renders them, and of theirs in turn.
fn include_sites(
    runbook: &Runbook,
    fill: &Filler,
    includes: &[Runbook],
    input_values: &BTreeMap<String, String>,
    inputs: &[&Param],
    sites: &mut HashMap<String, Vec<Filler>>,
    depth: usize,
) {
    // The library refuses include cycles; this only bounds the walk.
    if depth > 64 {
        return;
    }
    for step in runbook.all_steps() {
        let Action::Include {
            runbook: name,
            with,
            ..
        } = &step.action
        else {
            continue;
        };
        let Some(included) = includes.iter().find(|included| &included.name == name) else {
            continue;
        };
        let mut given = input_values.clone();
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
        include_sites(
            included,
            &child,
            includes,
            input_values,
            inputs,
            sites,
            depth + 1,
        );
        sites.entry(name.clone()).or_default().push(child);
    }
}

/// Manual-step inputs of one runbook.
fn inputs(runbook: &Runbook) -> Vec<&Param> {
    runbook
        .all_steps()
        .into_iter()
        .flat_map(|step| match &step.action {
            Action::Manual { input, .. } => input.iter().collect::<Vec<_>>(),
            Action::Run { .. } | Action::Include { .. } | Action::Parallel(_) => Vec::new(),
        })
        .collect()
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
                .find(|filled| filled.name == param.name && filled.source == "given")
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
