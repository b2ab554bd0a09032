//! Typed parameters and the checking of their values. The same rules apply to a default
//! (checked by `validate`), a `-p NAME=VALUE`, an environment variable and a typed answer.

use super::Duration;
use crate::load::yaml::Span;
use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use serde::Serialize;
use std::fmt;

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Param {
    pub name: String,
    #[serde(rename = "type")]
    pub param_type: ParamType,
    pub default: Option<String>,
    pub env: Option<String>,
    pub secret: bool,
    pub choices: Vec<String>,
    pub pattern: Option<String>,
    pub prompt: Option<String>,
    pub description: Option<String>,
    /// Where the param's name is written.
    #[serde(skip)]
    pub span: Span,
    /// Where its `default` and `pattern` are written, for diagnostics about them.
    #[serde(skip)]
    pub default_span: Option<Span>,
    #[serde(skip)]
    pub pattern_span: Option<Span>,
    #[serde(skip)]
    pub path: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ParamType {
    #[default]
    String,
    Integer,
    Number,
    Boolean,
    Path,
    Datetime,
    Duration,
}

impl ParamType {
    /// Whether values of this type are numbers (safe anywhere in a command line).
    pub fn is_numeric(self) -> bool {
        matches!(self, ParamType::Integer | ParamType::Number)
    }

    pub fn parse(text: &str) -> Option<ParamType> {
        Some(match text {
            "string" => ParamType::String,
            "integer" => ParamType::Integer,
            "number" => ParamType::Number,
            "boolean" => ParamType::Boolean,
            "path" => ParamType::Path,
            "datetime" => ParamType::Datetime,
            "duration" => ParamType::Duration,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ParamType::String => "string",
            ParamType::Integer => "integer",
            ParamType::Number => "number",
            ParamType::Boolean => "boolean",
            ParamType::Path => "path",
            ParamType::Datetime => "datetime",
            ParamType::Duration => "duration",
        }
    }
}

/// A parameter value after its type was checked.
#[derive(Clone, Debug, PartialEq)]
pub enum TypedValue {
    String(String),
    Integer(i64),
    Number(f64),
    Boolean(bool),
}

impl TypedValue {
    pub fn to_template_value(&self) -> minijinja::Value {
        match self {
            TypedValue::String(text) => minijinja::Value::from(text.as_str()),
            TypedValue::Integer(value) => minijinja::Value::from(*value),
            TypedValue::Number(value) => minijinja::Value::from(*value),
            TypedValue::Boolean(value) => minijinja::Value::from(*value),
        }
    }
}

/// Why a value is not acceptable for a parameter.
#[derive(Clone, Debug, PartialEq)]
pub enum ValueError {
    WrongType {
        expected: ParamType,
    },
    Empty,
    NotAChoice {
        choices: Vec<String>,
    },
    PatternMismatch {
        pattern: String,
    },
    BadPattern {
        pattern: String,
        error: String,
    },
    /// A date and time without a UTC offset: the same wall-clock time written with the
    /// operator's local offset and in UTC, ready to paste.
    NoOffset {
        local: String,
        utc: String,
    },
}

impl fmt::Display for ValueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ValueError::WrongType { expected } => match expected {
                ParamType::Integer => write!(f, "is not an integer"),
                ParamType::Number => write!(f, "is not a number"),
                ParamType::Boolean => write!(f, "is not a boolean (true or false)"),
                ParamType::Datetime => write!(
                    f,
                    "is not a date and time (RFC 3339 such as 2025-01-15T14:30:00Z, or 2025-01-15 14:30:00)"
                ),
                ParamType::Duration => write!(f, "is not a duration (such as 90s, 30m, 2h, 1h30m)"),
                ParamType::String | ParamType::Path => write!(f, "is not a {}", expected.as_str()),
            },
            ValueError::Empty => write!(f, "is empty"),
            ValueError::NotAChoice { choices } => {
                write!(f, "is not one of: {}", choices.join(", "))
            }
            ValueError::PatternMismatch { pattern } => {
                write!(f, "does not match the pattern `{pattern}`")
            }
            ValueError::BadPattern { pattern, error } => {
                write!(
                    f,
                    "cannot be checked: the pattern `{pattern}` is invalid: {error}"
                )
            }
            ValueError::NoOffset { local, utc } => write!(
                f,
                "has no UTC offset, and a time read in the wrong zone is hours off: write {local} (this wall-clock time at this machine's offset) or {utc} (the same wall-clock time in UTC)"
            ),
        }
    }
}

impl Param {
    /// Checks `text` against the type, `choices` and `pattern`, returning the typed value.
    pub fn check(&self, text: &str) -> Result<TypedValue, ValueError> {
        check_value(
            self.param_type,
            &self.choices,
            self.pattern.as_deref(),
            text,
        )
    }

    /// A description of what is accepted, for prompts and help texts.
    pub fn expectation(&self) -> String {
        if !self.choices.is_empty() {
            return format!("one of {}", self.choices.join(", "));
        }
        let mut text = self.param_type.as_str().to_owned();
        if let Some(pattern) = &self.pattern {
            text.push_str(&format!(" matching `{pattern}`"));
        }
        text
    }
}

pub fn check_value(
    param_type: ParamType,
    choices: &[String],
    pattern: Option<&str>,
    text: &str,
) -> Result<TypedValue, ValueError> {
    let wrong = || ValueError::WrongType {
        expected: param_type,
    };
    let typed = match param_type {
        ParamType::String => TypedValue::String(text.to_owned()),
        ParamType::Path => {
            if text.is_empty() {
                return Err(ValueError::Empty);
            }
            TypedValue::String(text.to_owned())
        }
        ParamType::Integer => TypedValue::Integer(text.trim().parse().map_err(|_| wrong())?),
        ParamType::Number => {
            let number: f64 = text.trim().parse().map_err(|_| wrong())?;
            if !number.is_finite() {
                return Err(wrong());
            }
            TypedValue::Number(number)
        }
        ParamType::Boolean => {
            TypedValue::Boolean(match text.trim().to_ascii_lowercase().as_str() {
                "true" | "yes" | "1" => true,
                "false" | "no" | "0" => false,
                _ => return Err(wrong()),
            })
        }
        ParamType::Datetime => TypedValue::String(match normalize_datetime(text) {
            Some(normalized) => normalized,
            None => return Err(without_offset(text).unwrap_or_else(wrong)),
        }),
        ParamType::Duration => {
            Duration::parse(text).ok_or_else(wrong)?;
            TypedValue::String(text.trim().to_owned())
        }
    };
    if !choices.is_empty() && !choices.iter().any(|choice| choice == text) {
        return Err(ValueError::NotAChoice {
            choices: choices.to_vec(),
        });
    }
    if let Some(pattern) = pattern {
        let regex = compile_pattern(pattern)?;
        if !regex.is_match(text) {
            return Err(ValueError::PatternMismatch {
                pattern: pattern.to_owned(),
            });
        }
    }
    Ok(typed)
}

/// Compiles a `pattern:` so that it must match the whole value.
pub fn compile_pattern(pattern: &str) -> Result<regex::Regex, ValueError> {
    regex::Regex::new(&format!("^(?:{pattern})$")).map_err(|error| ValueError::BadPattern {
        pattern: pattern.to_owned(),
        error: error
            .to_string()
            .lines()
            .last()
            .unwrap_or_default()
            .trim()
            .trim_start_matches("error: ")
            .to_owned(),
    })
}

/// Datetimes are normalised to an explicit UTC offset (`2025-01-15 14:30:00+00:00`), the
/// form PostgreSQL's `recovery_target_time` reads without consulting the server's time
/// zone. A value must carry its offset (docs/runbook-format.md, "params"): `None` for
/// anything else, including a well-formed time without one (see `without_offset`).
pub fn normalize_datetime(text: &str) -> Option<String> {
    let text = text.trim();
    let utc: DateTime<Utc> = if let Ok(parsed) = DateTime::parse_from_rfc3339(text) {
        parsed.with_timezone(&Utc)
    } else {
        DateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f%#z")
            .or_else(|_| DateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f%#z"))
            .ok()?
            .with_timezone(&Utc)
    };
    Some(utc.format("%Y-%m-%d %H:%M:%S%.f+00:00").to_string())
}

/// For a date and time written without an offset (`2025-01-15 14:30:00`): the error
/// that shows it with this machine's local offset and in UTC. The seed's own restore
/// point, typed in New York and read as UTC, recovered to a point five hours off.
pub fn without_offset(text: &str) -> Option<ValueError> {
    let text = text.trim();
    let naive = NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f")
        .or_else(|_| NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f"))
        .or_else(|_| NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M"))
        .or_else(|_| NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M"))
        .ok()?;
    let local = chrono::Local
        .from_local_datetime(&naive)
        .earliest()
        .map_or_else(
            || format!("{}Z", naive.format("%Y-%m-%dT%H:%M:%S%.f")),
            |local| local.format("%Y-%m-%dT%H:%M:%S%.f%:z").to_string(),
        );
    Some(ValueError::NoOffset {
        local,
        utc: format!("{}Z", naive.format("%Y-%m-%dT%H:%M:%S%.f")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(param_type: ParamType, text: &str) -> Result<TypedValue, ValueError> {
        check_value(param_type, &[], None, text)
    }

    #[test]
    fn typed_values() {
        assert_eq!(check(ParamType::Integer, "4"), Ok(TypedValue::Integer(4)));
        assert!(check(ParamType::Integer, "four").is_err());
        assert_eq!(
            check(ParamType::Boolean, "true"),
            Ok(TypedValue::Boolean(true))
        );
        assert!(check(ParamType::Boolean, "maybe").is_err());
        assert!(check(ParamType::Number, "NaN").is_err());
        assert!(check(ParamType::Duration, "1h30m").is_ok());
        assert!(check(ParamType::Duration, "2 hours").is_err());
        assert!(check(ParamType::Path, "").is_err());
    }

    #[test]
    fn datetimes_get_an_explicit_utc_offset() {
        let cases = [
            ("2025-01-15T14:30:00Z", "2025-01-15 14:30:00+00:00"),
            ("2025-01-15 14:30:00+01:00", "2025-01-15 13:30:00+00:00"),
            ("2025-01-15T16:30:00+02:00", "2025-01-15 14:30:00+00:00"),
            ("2025-01-15 14:30:00.25+00", "2025-01-15 14:30:00.250+00:00"),
        ];
        for (input, expected) in cases {
            assert_eq!(
                normalize_datetime(input).as_deref(),
                Some(expected),
                "{input}"
            );
        }
        assert_eq!(normalize_datetime("yesterday"), None);
        assert_eq!(normalize_datetime("2025-01-15 14:30:00"), None);
        assert_eq!(normalize_datetime("2025-13-01 00:00:00"), None);
    }

    #[test]
    fn a_datetime_without_an_offset_is_refused_with_both_forms_to_paste() {
        let error = check(ParamType::Datetime, "2025-01-15 14:30:00").expect_err("refused");
        let ValueError::NoOffset { local, utc } = &error else {
            panic!("{error:?}");
        };
        assert_eq!(utc, "2025-01-15T14:30:00Z");
        assert!(local.starts_with("2025-01-15T14:30:00"), "{local}");
        assert!(normalize_datetime(local).is_some(), "{local} is accepted");
        assert!(error.to_string().contains("has no UTC offset"), "{error}");
        assert!(matches!(
            check(ParamType::Datetime, "yesterday"),
            Err(ValueError::WrongType { .. })
        ));
    }

    #[test]
    fn choices_and_patterns() {
        let choices = vec!["custom".to_owned(), "plain".to_owned()];
        assert!(check_value(ParamType::String, &choices, None, "custom").is_ok());
        assert!(matches!(
            check_value(ParamType::String, &choices, None, "tar"),
            Err(ValueError::NotAChoice { .. })
        ));
        assert!(check_value(ParamType::String, &[], Some("[a-z]+"), "abc").is_ok());
        assert!(matches!(
            check_value(ParamType::String, &[], Some("[a-z]+"), "abc1"),
            Err(ValueError::PatternMismatch { .. })
        ));
        assert!(matches!(
            check_value(ParamType::String, &[], Some("(unclosed"), "x"),
            Err(ValueError::BadPattern { .. })
        ));
    }
}
