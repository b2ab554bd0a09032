//! The filters that format values for people and commands: `date` (a time in any
//! strftime format, UTC), `bytes` (1.5 GiB) and `duration` (1h30m).

use crate::runbook::Duration;
use crate::runbook::param::normalize_datetime;
use chrono::{DateTime, TimeZone, Utc};
use minijinja::value::Value;
use minijinja::{Error, ErrorKind};

pub(super) fn date_filter(value: Value, format: Option<String>) -> Result<String, Error> {
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

pub(super) fn bytes_filter(value: Value) -> Result<String, Error> {
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

pub(super) fn duration_filter(value: Value) -> Result<String, Error> {
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
