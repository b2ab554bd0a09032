//! The runbook format as data: every object, key, type and constraint, written down once.
//! The structural checker, the JSON Schema and the docs test all read these tables, so
//! they cannot drift apart.

/// The type of a value in the runbook format.
#[derive(Debug)]
pub enum Type {
    /// Plain text, no template.
    Text,
    /// A minijinja template (shell-quoted on interpolation where the field is a command).
    Template,
    /// A minijinja expression, written without braces.
    Expression,
    Boolean,
    /// A non-negative integer.
    Count,
    /// `90s`, `30m`, `2h`, `1h30m`, `1d`.
    Duration,
    /// A string matching a naming rule.
    Name(NameRule),
    /// One of a fixed set of words.
    Choice(&'static [&'static str]),
    /// Any scalar: string, number or boolean (param defaults, `with` values).
    Scalar,
    List(&'static Type),
    /// A mapping whose keys follow a naming rule and whose values share one type.
    Map(NameRule, &'static Type),
    Object(&'static Object),
    /// The first alternative whose YAML kind matches is used.
    Either(&'static [Type]),
}

/// Naming rules for identifiers, as regular expressions (also emitted into the schema).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameRule {
    /// Runbook names: `[a-z0-9][a-z0-9-]*`.
    Runbook,
    /// Step ids: `[a-z0-9][a-z0-9_-]*`.
    StepId,
    /// Template variable names (params, vars, captures, inputs): `[a-z_][a-z0-9_]*`.
    Variable,
    /// Environment variable names: `[A-Za-z_][A-Za-z0-9_]*`.
    EnvVar,
}

impl NameRule {
    pub fn pattern(self) -> &'static str {
        match self {
            NameRule::Runbook => "^[a-z0-9][a-z0-9-]*$",
            NameRule::StepId => "^[a-z0-9][a-z0-9_-]*$",
            NameRule::Variable => "^[a-z_][a-z0-9_]*$",
            NameRule::EnvVar => "^[A-Za-z_][A-Za-z0-9_]*$",
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            NameRule::Runbook => {
                "lowercase letters, digits and `-`, starting with a letter or digit"
            }
            NameRule::StepId => {
                "lowercase letters, digits, `_` and `-`, starting with a letter or digit"
            }
            NameRule::Variable => "lowercase letters, digits and `_`, not starting with a digit",
            NameRule::EnvVar => "letters, digits and `_`, not starting with a digit",
        }
    }

    /// The obvious correction of a name that breaks the rule (`Restore DB` → `restore-db`),
    /// when there is one.
    pub fn fix(self, text: &str) -> Option<String> {
        let separator = match self {
            NameRule::Runbook | NameRule::StepId => '-',
            NameRule::Variable => '_',
            NameRule::EnvVar => return None,
        };
        let fixed: String = text
            .trim()
            .chars()
            .map(|c| {
                if c == ' ' || c == '-' || c == '_' {
                    separator
                } else {
                    c.to_ascii_lowercase()
                }
            })
            .collect();
        (fixed != text && self.matches(&fixed)).then_some(fixed)
    }

    pub fn matches(self, text: &str) -> bool {
        let mut chars = text.chars();
        let Some(first) = chars.next() else {
            return false;
        };
        let lower_alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
        match self {
            NameRule::Runbook => lower_alnum(first) && chars.all(|c| lower_alnum(c) || c == '-'),
            NameRule::StepId => {
                lower_alnum(first) && chars.all(|c| lower_alnum(c) || c == '-' || c == '_')
            }
            NameRule::Variable => {
                (first.is_ascii_lowercase() || first == '_')
                    && chars.all(|c| lower_alnum(c) || c == '_')
            }
            NameRule::EnvVar => {
                (first.is_ascii_alphabetic() || first == '_')
                    && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
            }
        }
    }
}

#[derive(Debug)]
pub struct Field {
    pub key: &'static str,
    pub value: &'static Type,
    pub required: bool,
    pub doc: &'static str,
}

/// A YAML mapping with a closed set of keys.
#[derive(Debug)]
pub struct Object {
    /// Name used in messages ("step") and as the schema definition name.
    pub name: &'static str,
    pub doc: &'static str,
    pub fields: &'static [Field],
    /// Exactly one of these keys must be present (a step's action, a guard's kind).
    pub exactly_one_of: &'static [&'static str],
    /// `(key, needs)`: `key` is only meaningful next to `needs`.
    pub depends: &'static [(&'static str, &'static str)],
    /// `(flag, needs)`: when boolean `flag` is true, `needs` must be present.
    pub flag_requires: &'static [(&'static str, &'static str)],
}

impl Object {
    pub fn field(&self, key: &str) -> Option<&'static Field> {
        self.fields.iter().find(|field| field.key == key)
    }

    pub fn keys(&self) -> impl Iterator<Item = &'static str> {
        self.fields.iter().map(|field| field.key)
    }
}

const fn field(key: &'static str, value: &'static Type, doc: &'static str) -> Field {
    Field {
        key,
        value,
        required: false,
        doc,
    }
}

const fn required(key: &'static str, value: &'static Type, doc: &'static str) -> Field {
    Field {
        key,
        value,
        required: true,
        doc,
    }
}

pub const KINDS: &[&str] = &["backup", "restore", "dr", "test", "check", "maintenance"];
pub const PARAM_TYPES: &[&str] = &[
    "string", "integer", "number", "boolean", "path", "datetime", "duration",
];
pub const CONFIRM_POLICIES: &[&str] = &["allow", "deny"];
pub const NOTIFY_EVENTS: &[&str] = &["success", "failure", "aborted", "interrupted", "always"];
pub const ACTIONS: &[&str] = &["run", "manual", "include", "parallel"];

static TEXT_LIST: Type = Type::List(&Type::Text);
static SCALAR_LIST: Type = Type::List(&Type::Scalar);
static ENV_MAP: Type = Type::Map(NameRule::EnvVar, &Type::Template);
static PARAM_MAP: Type = Type::Map(NameRule::Variable, &PARAM_TYPE);
static PARAM_TYPE: Type = Type::Object(&PARAM);
static VARS_MAP: Type = Type::Map(NameRule::Variable, &Type::Template);
static WITH_MAP: Type = Type::Map(NameRule::Variable, &Type::Scalar);
static STEP_TYPE: Type = Type::Object(&STEP);
static STEP_LIST: Type = Type::List(&STEP_TYPE);
static GUARD_TYPE: Type = Type::Object(&GUARD);
static EXPECTATION_TYPE: Type = Type::Object(&EXPECTATION);
static NOTIFY_TYPE: Type = Type::Object(&NOTIFY);
static NOTIFY_EVENT: Type = Type::Choice(NOTIFY_EVENTS);
static GUARD_LIST: Type = Type::List(&GUARD_TYPE);
static EXPECTATION_LIST: Type = Type::List(&EXPECTATION_TYPE);
static NOTIFY_LIST: Type = Type::List(&NOTIFY_TYPE);
static NOTIFY_EVENTS_LIST: Type = Type::List(&NOTIFY_EVENT);
static CONFIRM_ALTERNATIVES: [Type; 2] = [Type::Template, Type::Object(&CONFIRM)];
static CONFIRM_TYPE: Type = Type::Either(&CONFIRM_ALTERNATIVES);
static HOST_TYPE: Type = Type::Object(&HOST);
static HOST_MAP: Type = Type::Map(NameRule::StepId, &HOST_TYPE);
static HOST_NAME: Type = Type::Name(NameRule::StepId);
static DESTINATION_ALTERNATIVES: [Type; 2] = [Type::Template, TEMPLATE_LIST_INLINE];
const TEMPLATE_LIST_INLINE: Type = Type::List(&Type::Template);
static DESTINATIONS: Type = Type::Either(&DESTINATION_ALTERNATIVES);

pub static RUNBOOK: Object = Object {
    name: "runbook",
    doc: "A runbook: a named, parameterised procedure of steps.",
    fields: &[
        required(
            "name",
            &Type::Name(NameRule::Runbook),
            "Unique name; equal to the file name without `.yaml`.",
        ),
        required(
            "title",
            &Type::Text,
            "One-line title shown by `list` and at run start.",
        ),
        field(
            "description",
            &Type::Text,
            "Markdown shown by `show` and at run start.",
        ),
        required(
            "kind",
            &Type::Choice(KINDS),
            "What sort of procedure this is.",
        ),
        field("tags", &TEXT_LIST, "Free-form labels."),
        field(
            "rto",
            &Type::Duration,
            "Recovery time objective: the time budget shown live during the run.",
        ),
        field(
            "rpo",
            &Type::Duration,
            "Recovery point objective, available to templates as `runbook.rpo` (seconds).",
        ),
        field(
            "lock",
            &Type::Template,
            "Only one run at a time (on this host, any user) may hold a lock of this name. A template over the params, so a runbook can lock its target: `pg-{{ db_name }}`.",
        ),
        field(
            "shell",
            &Type::Text,
            "Shell for `run` commands (default `bash`, run as `bash -euo pipefail -c`).",
        ),
        field(
            "hosts",
            &HOST_MAP,
            "Machines steps run on over OpenSSH, by name; a step names one with `host:` (see docs/remote.md).",
        ),
        field(
            "params",
            &PARAM_MAP,
            "Typed parameters, given with `-p NAME=VALUE`, from the environment, or prompted.",
        ),
        field(
            "vars",
            &VARS_MAP,
            "Derived values, in order; each may use params and earlier vars.",
        ),
        field(
            "env",
            &ENV_MAP,
            "Environment variables exported to every step (values are templates, not shell-quoted).",
        ),
        required("steps", &STEP_LIST, "The procedure, in order."),
        field(
            "on_failure",
            &STEP_LIST,
            "Steps run when the run failed (not when it was declined).",
        ),
        field(
            "finally",
            &STEP_LIST,
            "Steps run after everything else, whatever happened.",
        ),
        field(
            "notify",
            &NOTIFY_LIST,
            "Hooks run at the end of the run, with `run.status` and `run.summary`.",
        ),
    ],
    exactly_one_of: &[],
    depends: &[],
    flag_requires: &[],
};

pub static PARAM: Object = Object {
    name: "param",
    doc: "A typed parameter (also used for the `input` of manual steps).",
    fields: &[
        field(
            "type",
            &Type::Choice(PARAM_TYPES),
            "Value type, checked before the run (default `string`).",
        ),
        field(
            "default",
            &Type::Scalar,
            "Value when none is given; must satisfy the type, `choices` and `pattern`.",
        ),
        field(
            "env",
            &Type::Name(NameRule::EnvVar),
            "Environment variable the value is read from, and exported as to every step.",
        ),
        field(
            "secret",
            &Type::Boolean,
            "Mask the value everywhere it would be printed or stored.",
        ),
        field("choices", &SCALAR_LIST, "The allowed values."),
        field(
            "pattern",
            &Type::Text,
            "A regular expression the whole value must match.",
        ),
        field(
            "prompt",
            &Type::Text,
            "Question asked when the value is missing and a terminal is available.",
        ),
        field("description", &Type::Text, "What the value is for."),
    ],
    exactly_one_of: &[],
    depends: &[],
    flag_requires: &[],
};

pub static STEP: Object = Object {
    name: "step",
    doc: "One step of the procedure, with exactly one action: `run`, `manual`, `include` or `parallel`.",
    fields: &[
        required(
            "id",
            &Type::Name(NameRule::StepId),
            "Unique id, used by `--approve`, `steps.ID.*` and the audit log.",
        ),
        field(
            "name",
            &Type::Template,
            "Human-readable name shown in progress and plans (a template).",
        ),
        field(
            "description",
            &Type::Template,
            "Why the step exists and what it changes (a template).",
        ),
        field(
            "when",
            &Type::Expression,
            "Run the step only when this expression is true.",
        ),
        field(
            "require",
            &GUARD_LIST,
            "Guards that must all hold before the step runs.",
        ),
        field(
            "confirm",
            &CONFIRM_TYPE,
            "Ask before running: a message, or `{message, type, auto}`.",
        ),
        field(
            "run",
            &Type::Template,
            "Shell command(s); interpolated values are shell-quoted automatically.",
        ),
        field(
            "manual",
            &Type::Template,
            "Instructions for the operator, who acknowledges them.",
        ),
        field(
            "input",
            &PARAM_MAP,
            "Values the operator enters after a manual step (answerable with `-p`).",
        ),
        field(
            "include",
            &Type::Name(NameRule::Runbook),
            "Run another runbook as this step.",
        ),
        field(
            "with",
            &WITH_MAP,
            "Parameters for the included runbook (templates).",
        ),
        field(
            "parallel",
            &STEP_LIST,
            "Steps run concurrently; the group fails if any fails.",
        ),
        field(
            "capture",
            &Type::Name(NameRule::Variable),
            "Store the trimmed stdout as this variable for later steps.",
        ),
        field(
            "metric",
            &Type::Name(NameRule::Variable),
            "Publish the captured number in `--metrics-file` as `runbook_metric{name=\"NAME\"}` (backup bytes, an age, seconds).",
        ),
        field(
            "expect",
            &EXPECTATION_LIST,
            "Assertions checked after the step ran.",
        ),
        field(
            "timeout",
            &Type::Duration,
            "Kill the command (SIGTERM, grace, SIGKILL) after this long.",
        ),
        field("retries", &Type::Count, "Extra attempts after a failure."),
        field("retry_delay", &Type::Duration, "Pause between attempts."),
        field(
            "continue_on_error",
            &Type::Boolean,
            "A failure of this step does not stop the run.",
        ),
        field(
            "rerun_on_resume",
            &Type::Boolean,
            "Run this step again when the run is resumed, even if it completed: it sets up what `finally` tears down (a server started for the run).",
        ),
        field(
            "destructive",
            &Type::Boolean,
            "The step destroys data; requires `confirm` and is marked everywhere.",
        ),
        field(
            "probe",
            &Type::Boolean,
            "Read-only: may run during `--dry-run --probe`.",
        ),
        field(
            "interactive",
            &Type::Boolean,
            "Pass the terminal through to the command; output is not captured.",
        ),
        field(
            "env",
            &ENV_MAP,
            "Extra environment variables for this step.",
        ),
        field("shell", &Type::Text, "Shell for this step's command."),
        field(
            "workdir",
            &Type::Template,
            "Working directory of the command (on its host).",
        ),
        field(
            "host",
            &HOST_NAME,
            "Run the command on this host of `hosts:` (default: this machine; `local` says so explicitly).",
        ),
    ],
    exactly_one_of: ACTIONS,
    depends: &[
        ("input", "manual"),
        ("with", "include"),
        ("capture", "run"),
        ("metric", "capture"),
        ("interactive", "run"),
        ("shell", "run"),
        ("host", "run"),
    ],
    flag_requires: &[("destructive", "confirm")],
};

pub static CONFIRM: Object = Object {
    name: "confirmation",
    doc: "A question the operator must answer before the step runs.",
    fields: &[
        required("message", &Type::Template, "What is about to happen."),
        field(
            "type",
            &Type::Template,
            "The operator must type exactly this (rendered) text.",
        ),
        field(
            "auto",
            &Type::Choice(CONFIRM_POLICIES),
            "`allow` (default): `--yes` approves. `deny`: only a person or `--approve STEP_ID`.",
        ),
    ],
    exactly_one_of: &[],
    depends: &[],
    flag_requires: &[],
};

pub static GUARD: Object = Object {
    name: "guard",
    doc: "A precondition: a command that must exit 0, or an expression that must be true.",
    fields: &[
        field(
            "command",
            &Type::Template,
            "Shell command that must succeed.",
        ),
        field("expr", &Type::Expression, "Expression that must be true."),
        field(
            "message",
            &Type::Template,
            "Why the step cannot run when the guard fails.",
        ),
        field(
            "host",
            &HOST_NAME,
            "Where the guard command runs (default: where its step runs; `local`: this machine).",
        ),
    ],
    exactly_one_of: &["command", "expr"],
    depends: &[("host", "command")],
    flag_requires: &[],
};

pub static EXPECTATION: Object = Object {
    name: "expectation",
    doc: "An assertion checked after the step ran, usually on its captured output.",
    fields: &[
        required("expr", &Type::Expression, "Expression that must be true."),
        field(
            "message",
            &Type::Template,
            "What went wrong when it is false.",
        ),
    ],
    exactly_one_of: &[],
    depends: &[],
    flag_requires: &[],
};

pub static NOTIFY: Object = Object {
    name: "notify hook",
    doc: "A command run after the run ends, e.g. a webhook.",
    fields: &[
        field(
            "on",
            &NOTIFY_EVENTS_LIST,
            "Run statuses that trigger the hook (default `always`).",
        ),
        field(
            "when",
            &Type::Expression,
            "Run the hook only when this expression is true.",
        ),
        required(
            "run",
            &Type::Template,
            "Shell command; `run.status` and `run.summary` are available.",
        ),
        field(
            "host",
            &HOST_NAME,
            "Run the hook on this host of `hosts:` (default: this machine).",
        ),
    ],
    exactly_one_of: &[],
    depends: &[],
    flag_requires: &[],
};

pub static HOST: Object = Object {
    name: "host",
    doc: "A machine (or a group of machines) reached with the system's OpenSSH client.",
    fields: &[
        required(
            "ssh",
            &DESTINATIONS,
            "OpenSSH destination (`[user@]host` or a config alias), a template; a list makes a group and the step runs on each member. Empty means this machine.",
        ),
        field(
            "port",
            &Type::Count,
            "TCP port (default: from the ssh configuration, else 22).",
        ),
        field(
            "max_parallel",
            &Type::Count,
            "For a group: how many members run a step at once (default: all).",
        ),
        field(
            "forward_agent",
            &Type::Boolean,
            "Forward the operator's ssh agent to the host (default: no).",
        ),
    ],
    exactly_one_of: &[],
    depends: &[],
    flag_requires: &[],
};

/// Every object of the format, in the order the schema lists them.
pub static OBJECTS: &[&Object] = &[
    &RUNBOOK,
    &HOST,
    &PARAM,
    &STEP,
    &CONFIRM,
    &GUARD,
    &EXPECTATION,
    &NOTIFY,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_rules_match_their_patterns() {
        let cases = [
            (NameRule::Runbook, "restore-postgres", true),
            (NameRule::Runbook, "Restore", false),
            (NameRule::Runbook, "-x", false),
            (NameRule::StepId, "count_users-2", true),
            (NameRule::StepId, "count users", false),
            (NameRule::Variable, "_db_name2", true),
            (NameRule::Variable, "2db", false),
            (NameRule::Variable, "db-name", false),
            (NameRule::EnvVar, "DATABASE_URL", true),
            (NameRule::EnvVar, "1X", false),
        ];
        for (rule, text, expected) in cases {
            assert_eq!(rule.matches(text), expected, "{rule:?} {text}");
            let regex = regex::Regex::new(rule.pattern()).expect("valid pattern");
            assert_eq!(
                regex.is_match(text),
                expected,
                "pattern of {rule:?} on {text}"
            );
        }
    }

    #[test]
    fn dependencies_name_real_fields() {
        for object in OBJECTS {
            for (key, needs) in object.depends.iter().chain(object.flag_requires) {
                assert!(object.field(key).is_some(), "{}.{key}", object.name);
                assert!(object.field(needs).is_some(), "{}.{needs}", object.name);
            }
            for key in object.exactly_one_of {
                assert!(object.field(key).is_some(), "{}.{key}", object.name);
            }
        }
    }
}
