//! `show -p NAME=VALUE`: the procedure with the values a person already knows filled
//! in, and everything else left as written. A `{{ … }}` is filled only when every name
//! it reads has a value here: a param given with `-p`, a param's default (unless the
//! param is read from the environment, which only the run has), a manual step's input
//! given with `-p`, a var computed from those, `runbook.*`, or `run.dry_run` (false:
//! a person following the procedure is not rehearsing it). Secrets are
//! never filled in, nor is anything that reads the clock (`now()`): a printed procedure
//! must not carry the time it was printed as the time it will run. Commands are filled
//! with the same quoting a run uses (docs/runbook-format.md, "Where a value may go").

use crate::engine::params::{self, ParamProblem, Resolution, ValueSource};
use crate::engine::runbook_fields;
use crate::load::shell_lint::interpolations;
use crate::runbook::{Action, Located, Runbook};
use crate::template::Templates;
use chrono::Utc;
use minijinja::value::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Fills what can be filled in a runbook's templates; `as_written` fills nothing.
pub struct Filler {
    /// `None`: nothing is filled (no `-p` given).
    state: Option<State>,
}

struct State {
    templates: Templates,
    /// Set when a template read the clock: its rendering is not used.
    clock_read: Arc<AtomicBool>,
    values: BTreeMap<String, Value>,
}

/// A value filled in, as `show` lists it: where it came from.
pub struct Filled {
    pub name: String,
    pub value: String,
    pub source: ValueSource,
}

impl Filler {
    pub fn as_written() -> Filler {
        Filler { state: None }
    }

    /// Whether anything is filled in.
    pub fn is_filling(&self) -> bool {
        self.state.is_some()
    }

    /// The filler of `runbook` with `given` param values and `inputs` (manual-step
    /// inputs given with `-p`, by name: filled only into the runbook whose own manual
    /// steps ask for them). Params named in `unknown` have a value only at run time (an
    /// include's `with:` that reads a step's output): they are not filled, not even with
    /// their default. A name a step captures or a manual step asks for holds that value
    /// once the step has run, so a param or var of the same name is not filled either.
    /// Returns the problems of the given values (an invalid value is not filled in)
    /// and the params filled in.
    pub fn new(
        runbook: &Runbook,
        given: &BTreeMap<String, String>,
        unknown: &BTreeSet<String>,
        inputs: &BTreeMap<String, String>,
    ) -> (Filler, Vec<Filled>, Vec<ParamProblem>) {
        let clock_read = Arc::new(AtomicBool::new(false));
        let flag = clock_read.clone();
        let templates = Templates::new(Arc::new(move || {
            flag.store(true, Ordering::Relaxed);
            Utc::now()
        }));
        // Names whose value a step sets: captures and manual inputs.
        let mut set_by_steps = BTreeSet::new();
        let mut asked = Vec::new();
        for step in runbook.all_steps() {
            if let Some(capture) = &step.capture {
                set_by_steps.insert(capture.clone());
            }
            if let Action::Manual { input, .. } = &step.action {
                for param in input {
                    set_by_steps.insert(param.name.clone());
                    asked.push(param);
                }
            }
        }
        let mut values = BTreeMap::new();
        let mut filled = Vec::new();
        let (resolved, problems) = params::resolve(&runbook.params, given, &|_| None);
        for (name, resolution) in resolved {
            let Some(param) = runbook.param(&name) else {
                continue;
            };
            let Resolution::Value(value) = resolution else {
                continue;
            };
            // A param read from the environment gets its value where it runs: only a
            // value given here is filled in.
            let from_environment = param.env.is_some() && value.source != ValueSource::Given;
            if param.secret
                || unknown.contains(&name)
                || from_environment
                || set_by_steps.contains(&name)
            {
                continue;
            }
            filled.push(Filled {
                name: name.clone(),
                value: value.text.clone(),
                source: value.source,
            });
            values.insert(name, value.typed.to_template_value());
        }
        // An input given with `-p` is the answer its manual step takes; steps after it
        // read it. Filled only when nothing else of the runbook has that name and no
        // manual step asks for it as a secret.
        for param in &asked {
            let shadowed = runbook.param(&param.name).is_some()
                || runbook.vars.iter().any(|var| var.name == param.name)
                || runbook
                    .all_steps()
                    .iter()
                    .any(|step| step.capture.as_deref() == Some(param.name.as_str()));
            let secret = asked
                .iter()
                .any(|other| other.name == param.name && other.secret);
            if shadowed || secret || values.contains_key(&param.name) {
                continue;
            }
            if let Some(text) = inputs.get(&param.name)
                && let Ok(typed) = param.check(text)
            {
                values.insert(param.name.clone(), typed.to_template_value());
            }
        }
        values.insert(
            "runbook".to_owned(),
            Value::from(BTreeMap::from(runbook_fields(runbook))),
        );
        // Followed by hand, nothing is a dry-run; the rest of `run.*` (who, when, the
        // run's id) is known only at run time: `knows` lets only `run.dry_run` through.
        values.insert(
            "run".to_owned(),
            Value::from(BTreeMap::from([("dry_run", Value::from(false))])),
        );
        let mut state = State {
            templates,
            clock_read,
            values,
        };
        // Vars in order: each one known when everything it reads is.
        for var in &runbook.vars {
            if set_by_steps.contains(&var.name) {
                continue;
            }
            if let Render::Done(value) = state.render_whole(&var.value, None) {
                state.values.insert(var.name.clone(), Value::from(value));
            }
        }
        (Filler { state: Some(state) }, filled, problems)
    }

    /// `located` with what can be filled filled in (commands quoted as a run quotes
    /// them), the rest as written.
    pub fn fill(&self, located: &Located) -> String {
        match &self.state {
            Some(state) => state.fill(located, None),
            None => located.text.clone(),
        }
    }

    /// Like `fill`, with every string value passed through `escape` first: a value
    /// filled into Markdown prose must not become Markdown.
    pub fn fill_escaped(&self, located: &Located, escape: &dyn Fn(&str) -> String) -> String {
        match &self.state {
            Some(state) => state.fill(located, Some(escape)),
            None => located.text.clone(),
        }
    }

    /// `located` rendered, when everything it reads is known here (an include's
    /// `with:` value passed on to the included runbook).
    pub fn complete(&self, located: &Located) -> Option<String> {
        match self.state.as_ref()?.render_whole(located, None) {
            Render::Done(text) => Some(text),
            Render::Unknown | Render::Refused => None,
        }
    }

    /// A var's value, when it is known here.
    pub fn var(&self, name: &str) -> Option<String> {
        let value = self.state.as_ref()?.values.get(name)?;
        Some(value.to_string())
    }

    /// The value of a `when:` expression, when everything it reads is known here.
    pub fn condition(&self, expression: &str) -> Option<bool> {
        let state = self.state.as_ref()?;
        let names = state.templates.expression_variables(expression).ok()?;
        if !state.knows(&names) {
            return None;
        }
        state.clock_read.store(false, Ordering::Relaxed);
        let value = state
            .templates
            .eval(expression, &state.context(None))
            .ok()?;
        (!state.clock_read.load(Ordering::Relaxed)).then(|| value.is_true())
    }
}

/// What rendering a template gave.
enum Render {
    Done(String),
    /// It reads a name known only at run time, or the clock.
    Unknown,
    /// Everything is known, and the run would refuse it (a value where its quoting does
    /// not hold, which `| safe` can bring about): shown as written.
    Refused,
}

impl State {
    /// Whether every name is known. Of `run.*`, only `run.dry_run` is.
    fn knows(&self, names: &std::collections::HashSet<String>) -> bool {
        names.iter().all(|name| {
            let root = name.split('.').next().unwrap_or(name);
            if root == "run" {
                return name == "run.dry_run";
            }
            self.values.contains_key(root)
        })
    }

    fn context(&self, escape: Option<&dyn Fn(&str) -> String>) -> Value {
        match escape {
            None => Value::from(self.values.clone()),
            Some(escape) => Value::from(
                self.values
                    .iter()
                    .map(|(name, value)| {
                        let value = match value.as_str() {
                            Some(text) => Value::from(escape(text)),
                            None => value.clone(),
                        };
                        (name.clone(), value)
                    })
                    .collect::<BTreeMap<_, _>>(),
            ),
        }
    }

    /// The whole template rendered, when everything it reads is known and it does not
    /// read the clock.
    fn render_whole(&self, located: &Located, escape: Option<&dyn Fn(&str) -> String>) -> Render {
        let Ok(names) = self
            .templates
            .template_variables(&located.path, &located.text)
        else {
            return Render::Unknown;
        };
        if !self.knows(&names) {
            return Render::Unknown;
        }
        self.clock_read.store(false, Ordering::Relaxed);
        let rendered = self
            .templates
            .render(&located.path, &located.text, &self.context(escape));
        if self.clock_read.load(Ordering::Relaxed) {
            return Render::Unknown;
        }
        match rendered {
            Ok(text) => Render::Done(text),
            Err(_) => Render::Refused,
        }
    }

    fn fill(&self, located: &Located, escape: Option<&dyn Fn(&str) -> String>) -> String {
        let text = &located.text;
        if !text.contains("{{") && !text.contains("{%") {
            return text.clone();
        }
        match self.render_whole(located, escape) {
            Render::Done(whole) => return whole,
            Render::Refused => return text.clone(),
            Render::Unknown => {}
        }
        // Tags and whitespace control shape the text around them: all or nothing.
        if text.contains("{%") || text.contains("{{-") || text.contains("-}}") {
            return text.clone();
        }
        let mut out = String::with_capacity(text.len());
        let mut at = 0;
        for interpolation in interpolations(text) {
            let piece = Located {
                text: format!("{{{{ {} }}}}", interpolation.expression),
                path: located.path.clone(),
                ..located.clone()
            };
            out.push_str(&text[at..interpolation.offset]);
            let end = interpolation.offset + interpolation.len;
            // `| safe` is code that shapes the command around it: without all of the
            // command's values, where the others land cannot be checked.
            let code = interpolation.is_code();
            match self.render_whole(&piece, escape) {
                Render::Done(value) if !code => out.push_str(&value),
                _ => out.push_str(&text[interpolation.offset..end]),
            }
            at = end;
        }
        out.push_str(&text[at..]);
        out
    }
}
