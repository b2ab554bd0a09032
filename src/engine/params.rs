//! Resolving parameter values: `-p NAME=VALUE` (or an include's `with:`), then the
//! param's environment variable, then its default; whatever is still missing is asked
//! for (interactive) or reported all at once (exit 2). Every value is type-checked.

use crate::load::suggest::suggest;
use crate::runbook::Param;
use crate::runbook::param::{TypedValue, ValueError};
use std::collections::BTreeMap;
use std::fmt;

/// A parameter's value and where it came from.
#[derive(Clone, Debug)]
pub struct ParamValue {
    pub text: String,
    pub typed: TypedValue,
    pub source: ValueSource,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValueSource {
    Given,
    Environment,
    Default,
    Prompted,
}

impl ValueSource {
    /// How the plan and `show` name it.
    pub fn as_str(self) -> &'static str {
        match self {
            ValueSource::Given => "given",
            ValueSource::Environment => "environment",
            ValueSource::Default => "default",
            ValueSource::Prompted => "prompted",
        }
    }
}

#[derive(Clone, Debug)]
pub enum ParamProblem {
    Unknown {
        name: String,
        suggestion: Option<String>,
    },
    Invalid {
        name: String,
        shown: String,
        error: ValueError,
    },
    Missing {
        name: String,
        env: Option<String>,
    },
    Malformed {
        argument: String,
    },
    UnknownStep {
        id: String,
        suggestion: Option<String>,
    },
    MissingInput {
        name: String,
        step: String,
    },
}

impl fmt::Display for ParamProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParamProblem::Unknown { name, suggestion } => {
                write!(f, "unknown parameter `{name}`")?;
                if let Some(suggestion) = suggestion {
                    write!(f, " (did you mean `{suggestion}`?)")?;
                }
                Ok(())
            }
            ParamProblem::Invalid { name, shown, error } => {
                write!(f, "parameter `{name}`: value `{shown}` {error}")
            }
            ParamProblem::Missing {
                name,
                env: Some(env),
            } => {
                write!(
                    f,
                    "missing parameter `{name}`: pass -p {name}=VALUE or set ${env}"
                )
            }
            ParamProblem::Missing { name, env: None } => {
                write!(f, "missing parameter `{name}`: pass -p {name}=VALUE")
            }
            ParamProblem::Malformed { argument } => {
                write!(f, "`-p {argument}` is not NAME=VALUE")
            }
            ParamProblem::UnknownStep { id, suggestion } => {
                write!(
                    f,
                    "`--approve {id}`: no step `{id}` in this runbook or its includes"
                )?;
                if let Some(suggestion) = suggestion {
                    write!(f, " (did you mean `{suggestion}`?)")?;
                }
                Ok(())
            }
            ParamProblem::MissingInput { name, step } => write!(
                f,
                "manual step `{step}` needs input `{name}` and there is no terminal to ask: pass -p {name}=VALUE"
            ),
        }
    }
}

/// Splits `-p` arguments into a map.
pub fn parse_assignments(
    arguments: &[String],
) -> Result<BTreeMap<String, String>, Vec<ParamProblem>> {
    let mut given = BTreeMap::new();
    let mut problems = Vec::new();
    for argument in arguments {
        match argument.split_once('=') {
            Some((name, value)) if !name.trim().is_empty() => {
                given.insert(name.trim().to_owned(), value.to_owned());
            }
            _ => problems.push(ParamProblem::Malformed {
                argument: argument.clone(),
            }),
        }
    }
    if problems.is_empty() {
        Ok(given)
    } else {
        Err(problems)
    }
}

/// The outcome for one param: a value, or missing (to prompt for or report).
pub enum Resolution {
    Value(ParamValue),
    Missing,
}

/// Resolves every param from `given`, then the environment, then defaults. Problems with
/// given or environment values are collected, not returned one at a time.
pub fn resolve(
    params: &[Param],
    given: &BTreeMap<String, String>,
    environment: &dyn Fn(&str) -> Option<String>,
) -> (Vec<(String, Resolution)>, Vec<ParamProblem>) {
    let mut problems = Vec::new();
    let mut resolved = Vec::new();
    for param in params {
        let candidate = given
            .get(&param.name)
            .map(|text| (text.clone(), ValueSource::Given))
            .or_else(|| {
                param
                    .env
                    .as_deref()
                    .and_then(environment)
                    .map(|text| (text, ValueSource::Environment))
            })
            .or_else(|| {
                param
                    .default
                    .clone()
                    .map(|text| (text, ValueSource::Default))
            });
        let resolution = match candidate {
            Some((text, source)) => match param.check(&text) {
                Ok(typed) => Resolution::Value(ParamValue {
                    text,
                    typed,
                    source,
                }),
                Err(error) => {
                    problems.push(ParamProblem::Invalid {
                        name: param.name.clone(),
                        shown: if param.secret {
                            crate::mask::MASK.to_owned()
                        } else {
                            text
                        },
                        error,
                    });
                    Resolution::Missing
                }
            },
            None => Resolution::Missing,
        };
        resolved.push((param.name.clone(), resolution));
    }
    (resolved, problems)
}

/// `-p` names that are neither params nor inputs of any manual step.
pub fn unknown_names(given: &BTreeMap<String, String>, known: &[&str]) -> Vec<ParamProblem> {
    given
        .keys()
        .filter(|name| !known.contains(&name.as_str()))
        .map(|name| ParamProblem::Unknown {
            name: name.clone(),
            suggestion: suggest(name, known.iter().copied()),
        })
        .collect()
}
