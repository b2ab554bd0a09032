//! Everything that can be wrong with a runbook, as data. Each problem knows its message
//! and, where there is one, the fix to suggest.

use crate::load::yaml::YamlError;
use crate::runbook::param::ValueError;
use std::fmt;

#[derive(Clone, Debug)]
pub enum Problem {
    Yaml(YamlError),
    UnknownKey {
        key: String,
        object: &'static str,
        suggestion: Option<String>,
        known: Vec<&'static str>,
    },
    DuplicateKey {
        key: String,
    },
    NonStringKey,
    WrongType {
        key: String,
        expected: String,
        found: String,
    },
    MissingKey {
        key: &'static str,
        object: &'static str,
    },
    BadName {
        key: String,
        value: String,
        rule: &'static str,
        fixed: Option<String>,
    },
    NotAChoice {
        key: String,
        value: String,
        choices: &'static [&'static str],
        suggestion: Option<String>,
    },
    BadDuration {
        key: String,
        value: String,
    },
    EmptySteps {
        key: &'static str,
    },
    NoAction {
        object: &'static str,
        keys: &'static [&'static str],
    },
    ConflictingKeys {
        object: &'static str,
        keys: Vec<String>,
    },
    DependsOn {
        key: String,
        needs: &'static str,
    },
    FlagRequires {
        flag: &'static str,
        needs: &'static str,
    },
    NameMismatch {
        name: String,
        stem: String,
    },
    DuplicateStepId {
        id: String,
        first_line: usize,
    },
    DuplicateVariable {
        name: String,
        first: &'static str,
    },
    BadDefault {
        param: String,
        value: String,
        error: ValueError,
    },
    BadPattern {
        param: String,
        error: String,
    },
    UnknownInclude {
        name: String,
        suggestion: Option<String>,
    },
    IncludeCycle {
        chain: Vec<String>,
    },
    IncludeTooDeep {
        /// The deepest chain of includes from this runbook, by name.
        chain: Vec<String>,
        limit: usize,
    },
    IncludeUnreadable {
        name: String,
        error: String,
    },
    /// A template or expression failed while running (see engine/error.rs).
    RunTime {
        message: String,
        /// The variables it reads and their values, masked.
        values: Vec<(String, String)>,
    },
    IncludeInvalid {
        name: String,
        errors: usize,
        /// What to give `runbook validate` to see them: the file the include resolved
        /// to (a sibling may not be on the search path), or a built-in runbook's name.
        validate: String,
    },
    IncludeUnknownParam {
        runbook: String,
        param: String,
        suggestion: Option<String>,
    },
    IncludeMissingParam {
        runbook: String,
        param: String,
    },
    UndefinedVariable {
        name: String,
        suggestion: Option<String>,
        defined_later: Option<String>,
        /// The capture belongs to the step that uses it (e.g. in its own `when`).
        same_step: bool,
    },
    TemplateSyntax {
        message: String,
    },
    ExpressionSyntax {
        message: String,
    },
    SecretInCommand {
        name: String,
    },
    SecretToPlainParam {
        secret: String,
        runbook: String,
        param: String,
    },
    /// A value interpolated where one level of quoting does not hold.
    UnsafeInterpolation {
        name: String,
        expression: String,
        context: crate::quoting::Context,
    },
    /// A secret read by a lock name: lock files are readable by every user.
    SecretInLock {
        name: String,
    },
    /// A command that does not parse as bash.
    ShellSyntax {
        message: String,
        with_values: bool,
    },
    ManualInParallel,
    InteractiveCapture,
    InteractiveInParallel,
    /// `host:` names no host of `hosts:`.
    UnknownHost {
        name: String,
        suggestion: Option<String>,
        known: Vec<String>,
    },
    /// `hosts: {local: …}`: `local` always means this machine.
    ReservedHostName,
    /// A destination template reads a secret: it would be on `ssh`'s command line.
    SecretInHost {
        name: String,
    },
    /// A destination written in the runbook that OpenSSH would misread.
    BadDestination {
        value: String,
        why: &'static str,
    },
    InteractiveRemote,
    BadPort {
        value: usize,
    },
    ZeroParallel,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Yaml(error) => write!(f, "{error}"),
            Problem::UnknownKey { key, object, .. } => write!(f, "unknown key `{key}` in {object}"),
            Problem::DuplicateKey { key } => write!(f, "key `{key}` appears twice"),
            Problem::NonStringKey => write!(f, "mapping keys must be strings"),
            Problem::WrongType {
                key,
                expected,
                found,
            } => {
                write!(f, "`{key}` must be {expected}, found {found}")
            }
            Problem::MissingKey { key, object } => write!(f, "{object} is missing `{key}`"),
            Problem::BadName { key, value, .. } => write!(f, "`{value}` is not a valid {key}"),
            Problem::NotAChoice {
                key,
                value,
                choices,
                ..
            } => write!(
                f,
                "`{key}` must be one of {}, found `{value}`",
                choices.join(", ")
            ),
            Problem::BadDuration { key, value } => {
                write!(f, "`{key}` is not a valid duration: `{value}`")
            }
            Problem::EmptySteps { key } => write!(f, "`{key}` has no steps"),
            Problem::NoAction { object, keys } => {
                write!(
                    f,
                    "{object} needs one of {}",
                    backticked(keys.iter().copied())
                )
            }
            Problem::ConflictingKeys { object, keys } => write!(
                f,
                "{object} has more than one of {}",
                backticked(keys.iter().map(String::as_str))
            ),
            Problem::DependsOn { key, needs } => {
                write!(f, "`{key}` is only valid on a `{needs}` step")
            }
            Problem::FlagRequires { flag, needs } => {
                write!(f, "a `{flag}` step must have a `{needs}`")
            }
            Problem::NameMismatch { name, stem } => write!(
                f,
                "runbook name `{name}` does not match its file name `{stem}.yaml`"
            ),
            Problem::DuplicateStepId { id, first_line } => {
                write!(f, "step id `{id}` is already used (line {first_line})")
            }
            Problem::DuplicateVariable { name, first } => {
                write!(f, "`{name}` is already defined as a {first}")
            }
            Problem::BadDefault {
                param,
                value,
                error,
            } => {
                write!(f, "default `{value}` of param `{param}` {error}")
            }
            Problem::BadPattern { param, error } => {
                write!(
                    f,
                    "`pattern` of param `{param}` is not a valid regular expression: {error}"
                )
            }
            Problem::UnknownInclude { name, .. } => {
                write!(f, "included runbook `{name}` not found")
            }
            Problem::IncludeCycle { chain } => write!(f, "include cycle: {}", chain.join(" -> ")),
            Problem::IncludeTooDeep { chain, limit } => {
                let shown = if chain.len() > 8 {
                    format!(
                        "{} -> … -> {}",
                        chain[..4].join(" -> "),
                        chain[chain.len() - 2..].join(" -> ")
                    )
                } else {
                    chain.join(" -> ")
                };
                write!(
                    f,
                    "includes nest {} levels deep ({shown}); the limit is {limit}",
                    chain.len() - 1
                )
            }
            Problem::IncludeUnreadable { name, error } => {
                write!(f, "included runbook `{name}` cannot be read: {error}")
            }
            Problem::RunTime { message, .. } => write!(f, "{message}"),
            Problem::IncludeInvalid { name, errors, .. } => write!(
                f,
                "included runbook `{name}` is invalid ({errors} error{})",
                if *errors == 1 { "" } else { "s" }
            ),
            Problem::IncludeUnknownParam { runbook, param, .. } => {
                write!(f, "runbook `{runbook}` has no param `{param}`")
            }
            Problem::IncludeMissingParam { runbook, param } => write!(
                f,
                "runbook `{runbook}` needs param `{param}`, which has no default and is not given in `with`"
            ),
            Problem::UndefinedVariable {
                name,
                same_step: true,
                ..
            } => write!(
                f,
                "`{name}` is captured by this step, so it does not exist yet where it is used here"
            ),
            Problem::UndefinedVariable {
                name,
                defined_later: Some(step),
                ..
            } => write!(
                f,
                "`{name}` is used before it is defined: it is captured by step `{step}`, which runs later"
            ),
            Problem::UndefinedVariable { name, .. } => write!(f, "undefined variable `{name}`"),
            Problem::TemplateSyntax { message } => write!(f, "template error: {message}"),
            Problem::ExpressionSyntax { message } => write!(f, "invalid expression: {message}"),
            Problem::SecretInCommand { name } => write!(
                f,
                "secret `{name}` is interpolated into a command line, where `ps` and /proc show it"
            ),
            Problem::SecretToPlainParam {
                secret,
                runbook,
                param,
            } => write!(
                f,
                "secret `{secret}` is passed to param `{param}` of `{runbook}`, which is not secret there: it would not be masked"
            ),
            Problem::UnsafeInterpolation { name, context, .. } => write!(
                f,
                "`{name}` is interpolated {context}, where its quoting does not hold: {}",
                context.why()
            ),
            Problem::SecretInLock { name } => write!(
                f,
                "the lock name reads secret `{name}`, but lock files are readable by every user of the host"
            ),
            Problem::ShellSyntax { message, .. } => {
                write!(f, "this command cannot be checked: {message}")
            }
            Problem::ManualInParallel => write!(f, "a manual step cannot run inside `parallel`"),
            Problem::UnknownHost { name, .. } => write!(f, "unknown host `{name}`"),
            Problem::ReservedHostName => {
                write!(
                    f,
                    "`local` is not a host name to declare: it always means this machine"
                )
            }
            Problem::SecretInHost { name } => write!(
                f,
                "the destination reads secret `{name}`, but it is on `ssh`'s command line, which every user of this machine can read"
            ),
            Problem::BadDestination { value, why } => {
                write!(f, "`{value}` is not an ssh destination: {why}")
            }
            Problem::InteractiveRemote => write!(
                f,
                "an `interactive` step cannot run on a `host`: it is given this machine's terminal"
            ),
            Problem::BadPort { value } => write!(f, "`{value}` is not a TCP port"),
            Problem::ZeroParallel => write!(f, "`max_parallel: 0` would run on no member"),
            Problem::InteractiveCapture => {
                write!(
                    f,
                    "an `interactive` step cannot `capture`: its output goes to the terminal"
                )
            }
            Problem::InteractiveInParallel => {
                write!(f, "an interactive step cannot run inside `parallel`")
            }
        }
    }
}

fn backticked<'a>(keys: impl Iterator<Item = &'a str>) -> String {
    keys.map(|key| format!("`{key}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Problem {
    pub fn help(&self) -> Option<String> {
        match self {
            Problem::Yaml(error) => error.help(),
            Problem::UnknownKey { suggestion: Some(suggestion), .. } => {
                Some(format!("did you mean `{suggestion}`?"))
            }
            Problem::UnknownKey { key, known, .. } if key == "<<" => Some(format!(
                "YAML merge keys are not supported; write the keys out. Valid keys: {}",
                known.join(", ")
            )),
            Problem::UnknownKey { known, .. } => Some(format!("valid keys: {}", known.join(", "))),
            Problem::DuplicateKey { .. } => Some("remove one of them; YAML keys must be unique".into()),
            Problem::NonStringKey => None,
            Problem::WrongType { expected, .. } if expected == "a boolean" => {
                Some("write `true` or `false` without quotes".into())
            }
            Problem::WrongType { expected, .. } if expected.starts_with("an integer") => {
                Some("write a whole number without quotes, e.g. `3`".into())
            }
            Problem::WrongType { .. } => None,
            Problem::MissingKey { key, .. } => Some(format!("add `{key}:`")),
            Problem::BadName { fixed: Some(fixed), .. } => Some(format!("did you mean `{fixed}`?")),
            Problem::BadName { rule, .. } => Some(format!("use {rule}")),
            Problem::NotAChoice { suggestion: Some(suggestion), .. } => {
                Some(format!("did you mean `{suggestion}`?"))
            }
            Problem::NotAChoice { .. } => None,
            Problem::BadDuration { .. } => Some(
                "write a number with a unit, largest unit first, no spaces: `90s`, `30m`, `2h`, `1h30m`, `1d`"
                    .into(),
            ),
            Problem::EmptySteps { .. } => Some("add at least one step, or remove the key".into()),
            Problem::NoAction { keys, .. } => Some(format!(
                "give the step exactly one action: {}",
                backticked(keys.iter().copied())
            )),
            Problem::ConflictingKeys { object, .. } if *object == "step" => {
                Some("split this into separate steps, one action each".into())
            }
            Problem::ConflictingKeys { object, .. } => {
                Some(format!("a {object} checks one thing: split it into two {object}s"))
            }
            Problem::DependsOn { needs, .. } => Some(format!("remove it, or make this a `{needs}` step")),
            Problem::FlagRequires { .. } => Some(
                "add `confirm: {message: \"...\", type: \"...\"}` so an operator approves the destruction"
                    .into(),
            ),
            Problem::NameMismatch { stem, .. } => {
                Some(format!("set `name: {stem}` or rename the file"))
            }
            Problem::DuplicateStepId { .. } => Some(
                "step ids must be unique in the runbook (including `on_failure`, `finally` and `parallel`)"
                    .into(),
            ),
            Problem::DuplicateVariable { .. } => Some("rename one of them".into()),
            Problem::BadDefault { .. } => Some("fix the default, or the param's type, `choices` or `pattern`".into()),
            Problem::BadPattern { .. } => Some("patterns use Rust `regex` syntax and must match the whole value".into()),
            Problem::UnknownInclude { suggestion: Some(suggestion), .. } => {
                Some(format!("did you mean `{suggestion}`?"))
            }
            Problem::UnknownInclude { .. } => {
                Some("`runbook list` shows the runbooks that can be included".into())
            }
            Problem::IncludeCycle { .. } => Some("a runbook cannot include itself, directly or through others".into()),
            Problem::IncludeTooDeep { .. } => Some(
                "flatten the procedure: include the deeper runbooks from a shallower level".into(),
            ),
            Problem::IncludeUnreadable { .. } => Some("fix the file's permissions or encoding".into()),
            Problem::RunTime { values, .. } if values.is_empty() => None,
            Problem::RunTime { values, .. } => Some(format!(
                "values here: {}",
                values
                    .iter()
                    .map(|(name, value)| format!("{name} = {value}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
            Problem::IncludeInvalid { validate, .. } => Some(format!("run `runbook validate {validate}` for details")),
            Problem::IncludeUnknownParam { suggestion: Some(suggestion), .. } => {
                Some(format!("did you mean `{suggestion}`?"))
            }
            Problem::IncludeUnknownParam { runbook, .. } => {
                Some(format!("`runbook show {runbook}` lists its params"))
            }
            Problem::IncludeMissingParam { param, .. } => {
                Some(format!("add `{param}: ...` under `with:`"))
            }
            Problem::UndefinedVariable { same_step: true, .. } => Some(
                "a step's capture can be used in its own `expect` and in later steps".into(),
            ),
            Problem::UndefinedVariable { defined_later: Some(_), .. } => Some(
                "move the step that captures it earlier, or use the value only after it".into(),
            ),
            Problem::UndefinedVariable { suggestion: Some(suggestion), .. } => {
                Some(format!("did you mean `{suggestion}`?"))
            }
            Problem::UndefinedVariable { name, .. } if name.starts_with("steps.") => Some(
                "write step ids with `_` instead of `-` here (`steps.count_users` for step `count-users`); only earlier steps can be used"
                    .into(),
            ),
            Problem::UndefinedVariable { .. } => Some(
                "templates can use params, vars, captures and inputs of earlier steps, env.NAME, run.*, steps.ID.* and runbook.*"
                    .into(),
            ),
            Problem::TemplateSyntax { .. } => Some("templates use minijinja syntax: `{{ name }}`, `{% if x %}...{% endif %}`".into()),
            Problem::ExpressionSyntax { .. } => Some(
                "`when` and `expr` are expressions without braces, e.g. `mode == 'swap'` or `users | int > 0`"
                    .into(),
            ),
            Problem::SecretInCommand { .. } => Some(
                "give the param `env: NAME` and use \"$NAME\" in the command instead".into(),
            ),
            Problem::SecretToPlainParam { param, runbook, .. } => Some(format!(
                "mark `{param}` with `secret: true` in `{runbook}`"
            )),
            Problem::UnsafeInterpolation {
                expression,
                context,
                ..
            } => Some(context.help(expression)),
            Problem::SecretInLock { .. } => {
                Some("name the lock after what it protects (a database, a directory), not a credential".into())
            }
            Problem::ShellSyntax { with_values, .. } => Some(if *with_values {
                "values can only be checked, and interpolated, in a command that parses as bash: fix the syntax".into()
            } else {
                "bash would refuse it too: fix the syntax".into()
            }),
            Problem::InteractiveCapture => Some("remove `capture`, or `interactive`".into()),
            Problem::UnknownHost {
                suggestion: Some(suggestion),
                ..
            } => Some(format!("did you mean `{suggestion}`?")),
            Problem::UnknownHost { known, .. } if known.is_empty() => Some(
                "declare it under `hosts:` (`hosts: {db: {ssh: \"postgres@db1\"}}`), or use `local` for this machine".into(),
            ),
            Problem::UnknownHost { known, .. } => Some(format!(
                "the runbook declares {}; `local` is this machine",
                known
                    .iter()
                    .map(|name| format!("`{name}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
            Problem::ReservedHostName => Some("give the host another name".into()),
            Problem::SecretInHost { .. } => Some(
                "name hosts after machines; put credentials in the ssh configuration or an agent (docs/remote.md)".into(),
            ),
            Problem::BadDestination { .. } => Some(
                "write `[user@]host` or an alias of your ssh configuration; set the port with `port:`".into(),
            ),
            Problem::InteractiveRemote => Some(
                "drop `interactive`, or make it a local step that runs `ssh -t HOST …` itself".into(),
            ),
            Problem::BadPort { .. } => Some("ports go from 1 to 65535".into()),
            Problem::ZeroParallel => Some("leave it out to run on every member at once".into()),
            Problem::ManualInParallel | Problem::InteractiveInParallel => {
                Some("an operator can only answer one step at a time; move it out of the group".into())
            }
        }
    }
}
