//! Durations as operators write them: `90s`, `30m`, `2h`, `1h30m`, `1d`.

use std::fmt;
use std::time::Duration as StdDuration;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Duration(pub StdDuration);

impl Duration {
    /// Parses `1h30m`-style text. Units: `ms`, `s`, `m`, `h`, `d`, each at most once, largest
    /// first. A bare number is refused: `timeout: 30` is ambiguous (seconds? minutes?).
    pub fn parse(text: &str) -> Option<Duration> {
        const UNITS: [(&str, u64); 5] = [
            ("d", 86_400_000),
            ("h", 3_600_000),
            ("m", 60_000),
            ("s", 1_000),
            ("ms", 1),
        ];
        let text = text.trim();
        if text.is_empty() {
            return None;
        }
        let mut rest = text;
        let mut millis: u64 = 0;
        let mut last_unit = None;
        while !rest.is_empty() {
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 {
                return None;
            }
            let number: u64 = rest[..digits].parse().ok()?;
            rest = &rest[digits..];
            let letters = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
            let unit = &rest[..letters];
            rest = &rest[letters..];
            let position = UNITS.iter().position(|(name, _)| *name == unit)?;
            if last_unit.is_some_and(|last| position <= last) {
                return None;
            }
            last_unit = Some(position);
            millis = millis.checked_add(number.checked_mul(UNITS[position].1)?)?;
        }
        Some(Duration(StdDuration::from_millis(millis)))
    }

    pub fn as_secs(self) -> u64 {
        self.0.as_secs()
    }

    pub fn from_secs(seconds: u64) -> Duration {
        Duration(StdDuration::from_secs(seconds))
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let millis = self.0.as_millis();
        if millis == 0 {
            return write!(f, "0s");
        }
        if millis < 1000 {
            return write!(f, "{millis}ms");
        }
        let mut seconds = self.0.as_secs();
        for (unit, size) in [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)] {
            if seconds >= size {
                write!(f, "{}{unit}", seconds / size)?;
                seconds %= size;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::Duration;

    #[test]
    fn parses_operator_durations() {
        for (text, seconds) in [
            ("90s", 90),
            ("30m", 1800),
            ("2h", 7200),
            ("1h30m", 5400),
            ("1d", 86_400),
            ("1h0m5s", 3605),
        ] {
            assert_eq!(
                Duration::parse(text).map(Duration::as_secs),
                Some(seconds),
                "{text}"
            );
        }
        assert_eq!(Duration::parse("250ms").map(|d| d.0.as_millis()), Some(250));
    }

    #[test]
    fn refuses_ambiguous_or_malformed() {
        for text in [
            "", "30", "2 hours", "4hrs", "1m1h", "1h1h", "h", "-5s", "1.5h", "10 s",
        ] {
            assert_eq!(Duration::parse(text), None, "{text}");
        }
    }

    #[test]
    fn displays_compactly() {
        for (seconds, text) in [
            (5400, "1h30m"),
            (90, "1m30s"),
            (0, "0s"),
            (86_400 + 1, "1d1s"),
        ] {
            assert_eq!(Duration::from_secs(seconds).to_string(), text);
        }
    }
}
