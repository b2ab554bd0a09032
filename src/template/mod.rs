//! The one minijinja environment: strict undefined, automatic shell quoting of every value
//! interpolated into a command, and the filters runbooks need (`date`, `bytes`,
//! `duration`, `shell_quote`, `now()`). Templates are named after their YAML path, so an
//! error says where it came from.

use crate::quoting::{self, Kind, Markers};
use chrono::{DateTime, Utc};
use minijinja::value::{Enumerator, Object, ObjectRepr, Value, ValueKind};
use minijinja::{AutoEscape, Environment, Error, ErrorKind, UndefinedBehavior};
use std::borrow::Cow;
use std::cell::Cell;
use std::collections::HashSet;
use std::sync::Arc;

mod filters;

use filters::{bytes_filter, date_filter, duration_filter};

/// Marks templates that become shell command lines, whose interpolations are quoted.
const SHELL: &str = "shell";

fn shell_escape() -> AutoEscape {
    AutoEscape::Custom(Cow::Borrowed(SHELL))
}

/// Where the current time comes from: the real clock, or a fixed instant in tests.
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

pub fn system_clock() -> Clock {
    Arc::new(Utc::now)
}

/// Whether a template named by its YAML path is a shell command line: a step's `run`
/// (`steps[2].run`), a guard's `command` (`steps[2].require[0].command`) or a notify
/// hook's `run` (`notify[0].run`). A var or env entry that happens to be called `run`
/// (`vars.run`, `steps[2].env.run`) is not.
pub fn is_command(path: &str) -> bool {
    path.ends_with("].run") || path.ends_with("].command")
}

thread_local! {
    /// The markers of the command line being rendered (see [`Templates::render`]).
    static MARKERS: std::cell::RefCell<Option<Markers>> = const { std::cell::RefCell::new(None) };
    /// Set when a placeholder was rendered, so the dry-run can tell an exact rendering
    /// from one that depends on run-time values.
    static PLACEHOLDER_RENDERED: Cell<bool> = const { Cell::new(false) };
}

/// A marker word for a value of the command line being rendered, if one is.
fn mark(kind: Kind, text: String) -> Option<String> {
    MARKERS.with(|markers| {
        markers
            .borrow_mut()
            .as_mut()
            .map(|markers| markers.push(kind, text))
    })
}

/// The result of `| safe`: shell code by design, inserted into a command unquoted. Only
/// this filter opts out; other filters that mark strings safe for HTML (`tojson`,
/// `urlencode`, `escape`) do not.
#[derive(Debug)]
struct Raw(String);

impl Object for Raw {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }

    fn render(self: &Arc<Self>, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result
    where
        Self: Sized + 'static,
    {
        f.write_str(&self.0)
    }
}

/// The result of `| shell_quote`: the text quoted `levels` times. In a var it is the
/// quoted text; in a command it is quoted once more, for a command that hands its
/// arguments to a second shell (`ssh host ls {{ dir | shell_quote }}`).
#[derive(Debug)]
struct Quoted {
    levels: u8,
    text: String,
}

impl Object for Quoted {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }

    fn render(self: &Arc<Self>, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result
    where
        Self: Sized + 'static,
    {
        f.write_str(&self.text)
    }
}

pub fn reset_placeholder_flag() {
    PLACEHOLDER_RENDERED.with(|flag| flag.set(false));
}

pub fn placeholder_rendered() -> bool {
    PLACEHOLDER_RENDERED.with(Cell::get)
}

/// A value that only exists at run time.
/// A value that only exists at run time, shown in a dry-run as `<label>`.
#[derive(Debug)]
pub struct Unknown {
    pub label: String,
}

impl Unknown {
    pub fn value(label: impl Into<String>) -> Value {
        Value::from_object(Unknown {
            label: label.into(),
        })
    }

    /// The placeholder text, noting that one was used.
    pub fn rendered(&self) -> String {
        PLACEHOLDER_RENDERED.with(|flag| flag.set(true));
        format!("<{}>", self.label)
    }
}

impl Object for Unknown {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        Some(Unknown::value(format!("{}.{key}", self.label)))
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Empty
    }

    fn render(self: &Arc<Self>, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result
    where
        Self: Sized + 'static,
    {
        f.write_str(&self.rendered())
    }
}

pub struct Templates {
    env: Environment<'static>,
}

impl Templates {
    pub fn new(clock: Clock) -> Templates {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_auto_escape_callback(|name| {
            if is_command(name) {
                shell_escape()
            } else {
                AutoEscape::None
            }
        });
        env.set_formatter(|out, state, value| {
            let write = |out: &mut minijinja::Output, text: &str| {
                out.write_str(text)
                    .map_err(|_| Error::new(ErrorKind::WriteFailure, "formatting failed"))
            };
            let shell = matches!(state.auto_escape(), AutoEscape::Custom(name) if name == SHELL);
            if value.kind() == ValueKind::Bool {
                // `true`/`false`, as the shell spells them, not Python's `True`.
                write(out, if value.is_true() { "true" } else { "false" })
            } else if let Some(unknown) = value.downcast_object_ref::<Unknown>() {
                // A placeholder is shown as is: quoting `<capture of x>` would suggest
                // it is the value.
                let text = unknown.rendered();
                let marked = shell.then(|| mark(Kind::Unknown, text.clone())).flatten();
                write(out, marked.as_deref().unwrap_or(&text))
            } else if !shell {
                minijinja::escape_formatter(out, state, value)
            } else if let Some(raw) = value.downcast_object_ref::<Raw>() {
                // `| safe`: shell code by design, inserted as is (and parsed as code).
                write(out, &raw.0)
            } else if value.kind() == ValueKind::Number {
                // Digits need no quoting anywhere, arithmetic included.
                write(out, &value.to_string())
            } else {
                let (extra, text) = match value.downcast_object_ref::<Quoted>() {
                    Some(quoted) => (quoted.levels, quoted.text.clone()),
                    None => (0, value.to_string()),
                };
                let quoted = shell_quote(&text).into_owned();
                match mark(Kind::Text { extra }, quoted.clone()) {
                    Some(marker) => write(out, &marker),
                    None => write(out, &quoted),
                }
            }
        });
        env.add_function("now", move || {
            Value::from(clock().format("%Y-%m-%dT%H:%M:%SZ").to_string())
        });
        env.add_filter("date", date_filter);
        env.add_filter("shell_quote", |value: Value| {
            let (levels, text) = match value.downcast_object_ref::<Quoted>() {
                Some(inner) => (inner.levels.saturating_add(1), inner.text.clone()),
                None => (1, value.to_string()),
            };
            Value::from_object(Quoted {
                levels,
                text: shell_quote(&text).into_owned(),
            })
        });
        env.add_filter("safe", |value: Value| {
            Value::from_object(Raw(value.to_string()))
        });
        // A dry-run placeholder stays a placeholder through a conversion to a number.
        env.add_filter(
            "int",
            |state: &minijinja::State,
             value: Value,
             default: Option<Value>,
             base: Option<u32>,
             kwargs: minijinja::value::Kwargs| {
                if value.downcast_object_ref::<Unknown>().is_some() {
                    return Ok(value);
                }
                minijinja::filters::int(state, &value, default, base, kwargs)
            },
        );
        env.add_filter(
            "float",
            |state: &minijinja::State,
             value: Value,
             default: Option<Value>,
             kwargs: minijinja::value::Kwargs| {
                if value.downcast_object_ref::<Unknown>().is_some() {
                    return Ok(value);
                }
                minijinja::filters::float(state, &value, default, kwargs)
            },
        );
        // HTML escaping means nothing to a shell: the value is quoted like any other.
        for name in ["escape", "e"] {
            env.add_filter(name, |value: Value| Value::from(value.to_string()));
        }
        env.add_filter("bytes", bytes_filter);
        env.add_filter("duration", duration_filter);
        Templates { env }
    }

    pub fn environment(&self) -> &Environment<'static> {
        &self.env
    }

    /// Renders `source` (named by its YAML path) with `context`. A command line is
    /// rendered with a marker in place of every quoted value and parsed as bash; a value
    /// that lands where its quoting does not hold is refused (docs/runbook-format.md,
    /// "Where a value may go").
    pub fn render(&self, path: &str, source: &str, context: &Value) -> Result<String, Error> {
        let template = self.env.template_from_named_str(path, source)?;
        if !is_command(path) {
            return template.render(context);
        }
        let previous = MARKERS.with(|markers| markers.replace(Some(Markers::new(source))));
        let rendered = template.render(context);
        let markers = MARKERS.with(|markers| markers.replace(previous));
        let rendered = rendered?;
        let Some(markers) = markers.filter(|markers| !markers.is_empty()) else {
            return Ok(rendered);
        };
        match quoting::check(&rendered, &markers) {
            Ok(refusals) => match refusals.first() {
                None => Ok(markers.substitute(&rendered)),
                Some(refusal) => Err(Error::new(
                    ErrorKind::InvalidOperation,
                    format!(
                        "refused: a value lands {} in the rendered command, where one level of quoting does not hold: {}",
                        refusal.context,
                        refusal.context.why()
                    ),
                )),
            },
            Err(unparsable) => Err(Error::new(
                ErrorKind::InvalidOperation,
                format!("refused: cannot check where the values land, because {unparsable}"),
            )),
        }
    }

    /// Evaluates a `when`/`expr` expression.
    pub fn eval(&self, source: &str, context: &Value) -> Result<Value, Error> {
        self.env.compile_expression(source)?.eval(context)
    }

    /// The variables a template reads (dotted for attribute lookups such as `run.id`),
    /// minus the environment's own functions.
    pub fn template_variables(&self, path: &str, source: &str) -> Result<HashSet<String>, Error> {
        let template = self.env.template_from_named_str(path, source)?;
        Ok(self.without_globals(template.undeclared_variables(true)))
    }

    pub fn expression_variables(&self, source: &str) -> Result<HashSet<String>, Error> {
        let expression = self.env.compile_expression(source)?;
        Ok(self.without_globals(expression.undeclared_variables(true)))
    }

    fn without_globals(&self, mut names: HashSet<String>) -> HashSet<String> {
        let globals: HashSet<&str> = self.env.globals().map(|(name, _)| name).collect();
        names.retain(|name| {
            let root = name.split('.').next().unwrap_or(name);
            !globals.contains(root)
        });
        names
    }
}

/// Quotes `text` for a POSIX shell, leaving words that need no quoting as they are so
/// that rendered commands stay readable.
pub fn shell_quote(text: &str) -> Cow<'_, str> {
    let plain = |byte: u8| byte.is_ascii_alphanumeric() || b"_@%+=:,./-".contains(&byte);
    if !text.is_empty() && text.bytes().all(plain) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(format!("'{}'", text.replace('\'', r"'\''")))
}

#[cfg(test)]
mod tests;
