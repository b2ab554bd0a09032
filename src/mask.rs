//! Secret masking: every secret value (and the shell-quoted form it takes in rendered
//! commands) is replaced by `••••••` in anything the tool prints or stores. One
//! Aho-Corasick automaton scans for all secrets at once, so masking costs one pass.

use aho_corasick::{AhoCorasick, MatchKind};
use std::borrow::Cow;

pub const MASK: &str = "••••••";

#[derive(Clone, Debug, Default)]
pub struct Masker {
    automaton: Option<AhoCorasick>,
    /// The longest pattern, so streamed output can keep enough of a chunk's tail to
    /// catch a secret split across two reads.
    longest: usize,
}

impl Masker {
    pub fn new<'a>(secrets: impl IntoIterator<Item = &'a str>) -> Masker {
        let mut patterns: Vec<String> = Vec::new();
        for secret in secrets {
            if secret.is_empty() {
                continue;
            }
            patterns.push(secret.to_owned());
            let quoted = crate::template::shell_quote(secret);
            if quoted != secret {
                patterns.push(quoted.into_owned());
            }
            // A secret may span lines; each line of it is masked on its own too, since
            // output is masked line by line.
            if secret.contains('\n') {
                patterns.extend(
                    secret
                        .lines()
                        .filter(|line| line.len() >= 4)
                        .map(str::to_owned),
                );
            }
        }
        patterns.sort();
        patterns.dedup();
        if patterns.is_empty() {
            return Masker::default();
        }
        let longest = patterns.iter().map(String::len).max().unwrap_or(0);
        let automaton = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostLongest)
            .build(&patterns)
            .ok();
        Masker { automaton, longest }
    }

    pub fn is_empty(&self) -> bool {
        self.automaton.is_none()
    }

    pub fn longest(&self) -> usize {
        self.longest
    }

    /// Where a long unterminated line can be cut so that no secret is split: at most
    /// `len - (longest - 1)` (a secret starting before the cut is then wholly inside the
    /// data), and never inside a secret already present.
    pub fn safe_cut(&self, bytes: &[u8]) -> usize {
        let Some(automaton) = &self.automaton else {
            return bytes.len();
        };
        let mut cut = bytes.len().saturating_sub(self.longest.saturating_sub(1));
        // Only a secret starting in the last `longest` bytes before the cut can span it.
        let from = cut.saturating_sub(self.longest);
        for found in automaton.find_iter(&bytes[from..]) {
            let (start, end) = (from + found.start(), from + found.end());
            if start < cut && end > cut {
                cut = start;
                break;
            }
        }
        cut
    }

    pub fn mask<'a>(&self, text: &'a str) -> Cow<'a, str> {
        match &self.automaton {
            Some(automaton) if automaton.is_match(text) => {
                Cow::Owned(automaton.replace_all(text, &vec![MASK; automaton.patterns_len()]))
            }
            _ => Cow::Borrowed(text),
        }
    }

    pub fn mask_bytes<'a>(&self, bytes: &'a [u8]) -> Cow<'a, [u8]> {
        match &self.automaton {
            Some(automaton) if automaton.is_match(bytes) => Cow::Owned(
                automaton
                    .replace_all_bytes(bytes, &vec![MASK.as_bytes(); automaton.patterns_len()]),
            ),
            _ => Cow::Borrowed(bytes),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_every_secret_and_its_quoted_form() {
        let masker = Masker::new(["hunter2", "pa ss'word"]);
        assert_eq!(masker.mask("login hunter2 ok"), "login •••••• ok");
        assert_eq!(masker.mask("echo 'pa ss'\\''word'"), "echo ••••••");
        assert_eq!(masker.mask("nothing here"), "nothing here");
        assert_eq!(&*masker.mask_bytes(b"x=hunter2\n"), "x=••••••\n".as_bytes());
    }

    #[test]
    fn cuts_never_split_a_secret() {
        let masker = Masker::new(["abcdef"]);
        assert_eq!(masker.safe_cut(b"xxxxxxxxabc"), 6);
        assert_eq!(masker.safe_cut(b"xxxxabcdefyy"), 4);
        assert_eq!(Masker::default().safe_cut(b"xyz"), 3);
    }

    #[test]
    fn no_secrets_means_no_work() {
        let masker = Masker::new(["", ""]);
        assert!(masker.is_empty());
        assert!(matches!(masker.mask("text"), Cow::Borrowed(_)));
    }
}
