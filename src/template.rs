//! The one minijinja environment: strict undefined, automatic shell quoting of every value
//! interpolated into a command, and the filters runbooks need (`date`, `bytes`,
//! `duration`, `shell_quote`, `now()`). Templates are named after their YAML path, so an
//! error says where it came from.

use crate::quoting::{self, Kind, Markers};
use crate::runbook::Duration;
use crate::runbook::param::normalize_datetime;
use chrono::{DateTime, TimeZone, Utc};
use minijinja::value::{Enumerator, Object, ObjectRepr, Value, ValueKind};
use minijinja::{AutoEscape, Environment, Error, ErrorKind, UndefinedBehavior};
use std::borrow::Cow;
use std::cell::Cell;
use std::collections::HashSet;
use std::sync::Arc;

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

fn date_filter(value: Value, format: Option<String>) -> Result<String, Error> {
    let format = format.unwrap_or_else(|| "%Y-%m-%dT%H:%M:%SZ".to_owned());
    let instant: DateTime<Utc> = if let Some(text) = value.as_str() {
        // Text produced by commands (`2025-01-15 14:30:00` from psql) is read as UTC
        // here; only what an operator types (a `datetime` param) must carry an offset.
        let naive_as_utc = || {
            chrono::NaiveDateTime::parse_from_str(text.trim(), "%Y-%m-%d %H:%M:%S%.f")
                .or_else(|_| {
                    chrono::NaiveDateTime::parse_from_str(text.trim(), "%Y-%m-%dT%H:%M:%S%.f")
                })
                .ok()
                .map(|naive| {
                    naive
                        .and_utc()
                        .format("%Y-%m-%d %H:%M:%S%.f+00:00")
                        .to_string()
                })
        };
        let normalized = normalize_datetime(text)
            .or_else(naive_as_utc)
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::InvalidOperation,
                    format!("`date` cannot read {text:?} as a date and time"),
                )
            })?;
        DateTime::parse_from_str(&normalized, "%Y-%m-%d %H:%M:%S%.f%:z")
            .map_err(|error| Error::new(ErrorKind::InvalidOperation, error.to_string()))?
            .with_timezone(&Utc)
    } else if let Ok(seconds) = i64::try_from(value.clone()) {
        Utc.timestamp_opt(seconds, 0).single().ok_or_else(|| {
            Error::new(
                ErrorKind::InvalidOperation,
                format!("`date` got an out-of-range timestamp {seconds}"),
            )
        })?
    } else {
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            format!(
                "`date` needs a date string or a unix timestamp, got {}",
                value.kind()
            ),
        ));
    };
    let mut out = String::new();
    use std::fmt::Write as _;
    write!(out, "{}", instant.format(&format)).map_err(|_| {
        Error::new(
            ErrorKind::InvalidOperation,
            format!("invalid date format {format:?}"),
        )
    })?;
    Ok(out)
}

fn number(value: &Value, filter: &str) -> Result<f64, Error> {
    if let Some(text) = value.as_str() {
        return text.trim().parse().map_err(|_| {
            Error::new(
                ErrorKind::InvalidOperation,
                format!("`{filter}` needs a number, got {text:?}"),
            )
        });
    }
    f64::try_from(value.clone()).map_err(|_| {
        Error::new(
            ErrorKind::InvalidOperation,
            format!("`{filter}` needs a number, got {}", value.kind()),
        )
    })
}

fn bytes_filter(value: Value) -> Result<String, Error> {
    let mut size = number(&value, "bytes")?;
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut unit = 0;
    while size.abs() >= 1024.0 && unit < UNITS.len() - 1 {
        size /= 1024.0;
        unit += 1;
    }
    Ok(if unit == 0 {
        format!("{size} B")
    } else {
        format!("{size:.1} {}", UNITS[unit])
    })
}

fn duration_filter(value: Value) -> Result<String, Error> {
    if let Some(text) = value.as_str()
        && let Some(duration) = Duration::parse(text)
    {
        return Ok(duration.to_string());
    }
    let seconds = number(&value, "duration")?;
    if seconds < 0.0 {
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            "`duration` got a negative number",
        ));
    }
    Ok(Duration(std::time::Duration::from_secs_f64(seconds)).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use minijinja::context;

    fn fixed_clock() -> Clock {
        Arc::new(|| {
            Utc.with_ymd_and_hms(2025, 1, 15, 14, 30, 0)
                .single()
                .expect("valid")
        })
    }

    fn render_command(source: &str, value: &str) -> String {
        let templates = Templates::new(fixed_clock());
        templates
            .render("steps[0].run", source, &context! { x => value })
            .expect("renders")
    }

    /// Runs the rendered command through a real shell and returns what `printf` saw.
    fn shell_sees(value: &str) -> String {
        let command = render_command("printf %s {{ x }}", value);
        let output = std::process::Command::new("bash")
            .args(["-euo", "pipefail", "-c", &command])
            .output()
            .expect("bash runs");
        String::from_utf8(output.stdout).expect("utf-8")
    }

    #[test]
    fn hostile_values_reach_the_command_as_one_literal_argument() {
        let hostile = [
            "x'; rm -rf / #",
            "$(id)",
            "`id`",
            "a\nb; touch PWNED",
            "ünïcødé ✓",
            "",
            "'",
            "\"$HOME\"",
            "--help",
            "a b\tc",
            "*",
            "~",
        ];
        for value in hostile {
            assert_eq!(shell_sees(value), value, "value {value:?}");
        }
    }

    #[test]
    fn plain_words_stay_readable() {
        assert_eq!(
            render_command("dropdb {{ x }}", "chatcard"),
            "dropdb chatcard"
        );
        assert_eq!(
            render_command("ls {{ x }}", "/var/backups/a-1.dump"),
            "ls /var/backups/a-1.dump"
        );
        assert_eq!(render_command("echo {{ x }}", "it's"), r"echo 'it'\''s'");
    }

    #[test]
    fn safe_opts_out_and_non_commands_are_not_quoted() {
        assert_eq!(render_command("echo {{ x | safe }}", "a b"), "echo a b");
        let templates = Templates::new(fixed_clock());
        let message = templates
            .render(
                "steps[0].confirm.message",
                "Drop {{ x }}?",
                &context! { x => "my db" },
            )
            .expect("renders");
        assert_eq!(message, "Drop my db?");
    }

    #[test]
    fn shell_quote_adds_a_level_for_a_second_shell() {
        // In a command: quoted for this shell and once more for the one `ssh` or
        // `sh -c` hands it to.
        assert_eq!(
            render_command("sh -c {{ x | shell_quote }}", "a b"),
            r"sh -c ''\''a b'\'''"
        );
        let templates = Templates::new(fixed_clock());
        let var = templates
            .render(
                "vars.opts",
                "--table={{ x | shell_quote }}",
                &context! { x => "a b" },
            )
            .expect("renders");
        assert_eq!(var, "--table='a b'");
        // The second shell receives the value as one word: here, a command name.
        let command = render_command("bash -c {{ x | shell_quote }}", "printf ok; touch x");
        let output = std::process::Command::new("bash")
            .args(["-c", &command])
            .output()
            .expect("bash runs");
        assert!(output.stdout.is_empty());
        assert!(
            String::from_utf8_lossy(&output.stderr)
                .contains("printf ok; touch x: command not found")
        );
    }

    #[test]
    fn filters_that_mark_html_safe_do_not_skip_shell_quoting() {
        let templates = Templates::new(fixed_clock());
        let render = |source: &str| {
            templates
                .render("steps[0].run", source, &context! { x => "$(touch p)" })
                .expect("renders")
        };
        assert_eq!(render("echo {{ x | tojson }}"), r#"echo '"$(touch p)"'"#);
        assert_eq!(
            render("echo {{ x | urlencode }}"),
            "echo %24%28touch%20p%29"
        );
        assert_eq!(render("echo {{ x | e }}"), "echo '$(touch p)'");
    }

    #[test]
    fn a_value_where_its_quoting_does_not_hold_is_refused() {
        let templates = Templates::new(fixed_clock());
        for source in [
            r#"echo "{{ x }}""#,
            "(( {{ x }} > 0 ))",
            "cat <<EOF\n{{ x }}\nEOF",
            "ssh host ls {{ x }}",
            r#"echo "{{ x | tojson }}""#,
        ] {
            let error = templates
                .render("steps[0].run", source, &context! { x => "HOME[$(id)]" })
                .expect_err(source);
            assert!(error.to_string().contains("refused"), "{source}: {error}");
        }
        // A number may go into arithmetic; `| safe` is code by design.
        let rendered = templates
            .render(
                "steps[0].run",
                "(( {{ n }} > 0 )) && {{ code | safe }}",
                &context! { n => 5, code => r#"echo "ok""# },
            )
            .expect("renders");
        assert_eq!(rendered, r#"(( 5 > 0 )) && echo "ok""#);
    }

    #[test]
    fn only_command_paths_are_quoted() {
        for path in [
            "steps[0].run",
            "finally[1].parallel[0].run",
            "steps[3].require[0].command",
            "notify[0].run",
        ] {
            assert!(is_command(path), "{path}");
        }
        for path in [
            "vars.run",
            "steps[0].env.run",
            "vars.command",
            "steps[0].confirm.message",
        ] {
            assert!(!is_command(path), "{path}");
        }
    }

    #[test]
    fn booleans_render_as_the_shell_spells_them() {
        let templates = Templates::new(fixed_clock());
        let rendered = templates
            .render(
                "steps[0].run",
                "if {{ a }}; then echo {{ b }}; fi",
                &context! { a => true, b => false },
            )
            .expect("renders");
        assert_eq!(rendered, "if true; then echo false; fi");
    }

    #[test]
    fn undefined_is_an_error() {
        let templates = Templates::new(fixed_clock());
        let error = templates
            .render("steps[0].run", "echo {{ missing }}", &context! {})
            .expect_err("strict");
        assert_eq!(error.kind(), ErrorKind::UndefinedError);
    }

    #[test]
    fn filters() {
        let templates = Templates::new(fixed_clock());
        let render = |source: &str| {
            templates
                .render("vars.x", source, &context! {})
                .expect("renders")
        };
        assert_eq!(render("{{ now() }}"), "2025-01-15T14:30:00Z");
        assert_eq!(
            render("{{ now() | date('%Y%m%dT%H%M%SZ') }}"),
            "20250115T143000Z"
        );
        assert_eq!(render("{{ 0 | date('%Y') }}"), "1970");
        assert_eq!(render("{{ 1536 | bytes }}"), "1.5 KiB");
        assert_eq!(render("{{ 100 | bytes }}"), "100 B");
        assert_eq!(render("{{ 5400 | duration }}"), "1h30m");
        assert_eq!(render("{{ '90m' | duration }}"), "1h30m");
    }

    #[test]
    fn variables_are_listed_without_functions() {
        let templates = Templates::new(fixed_clock());
        let names = templates
            .template_variables("x.run", "{{ now() | date('%Y') }} {{ run.id }} {{ users }} {% for f in files %}{{ f }}{% endfor %}")
            .expect("parses");
        let mut names: Vec<_> = names.into_iter().collect();
        names.sort();
        assert_eq!(names, ["files", "run.id", "users"]);
    }
}
