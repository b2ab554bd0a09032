//! Secret masking: every secret value (and the shell-quoted form it takes in rendered
//! commands) is replaced by `••••••` in anything the tool prints or stores. One
//! Aho-Corasick automaton scans for all secrets at once, so masking costs one pass.

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};
use std::borrow::Cow;
use std::sync::{Arc, RwLock};

pub const MASK: &str = "••••••";

/// Secrets shorter than this (in characters) are not searched for in text: a 1–3
/// character string occurs everywhere, and masking it would garble all output. Such a
/// secret is still never stored, and shown as `••••••` wherever the tool knows it is the
/// value (parameters, inputs); `run` warns about it (docs/runbook-format.md, "Secrets").
pub const MIN_MASKED_CHARS: usize = 4;

#[derive(Clone, Debug, Default)]
pub struct Masker {
    automaton: Option<AhoCorasick>,
    /// The longest pattern, so streamed output can keep enough of a chunk's tail to
    /// catch a secret split across two reads.
    longest: usize,
}

/// The forms a secret takes in what the tool prints or stores: as is, shell-quoted (in
/// rendered commands), escaped as JSON, Rust and minijinja escape it (in error messages
/// and records), percent-encoded (in URLs), and each line of a multi-line secret on its
/// own (output is masked line by line).
pub fn forms(secret: &str) -> Vec<String> {
    let mut forms = vec![secret.to_owned()];
    forms.push(crate::template::shell_quote(secret).into_owned());
    if let Ok(json) = serde_json::to_string(secret) {
        forms.push(json[1..json.len() - 1].to_owned());
    }
    forms.push(secret.escape_debug().to_string());
    forms.push(secret.escape_default().to_string());
    forms.push(percent_encode(secret, false));
    forms.push(percent_encode(secret, true));
    if secret.contains('\n') {
        forms.extend(secret.lines().map(str::to_owned));
    }
    forms.retain(|form| form.chars().count() >= MIN_MASKED_CHARS);
    forms.sort();
    forms.dedup();
    forms
}

/// Percent-encoding of every byte but the unreserved ones (and `/` when `keep_slash`),
/// as `urlencode` and URL builders write it.
fn percent_encode(text: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) || (keep_slash && byte == b'/') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

impl Masker {
    /// One automaton for every form of every secret, built in time linear in their
    /// total length (a contiguous NFA: the DFA's construction is quadratic in the
    /// length of a long secret).
    pub fn new<'a>(secrets: impl IntoIterator<Item = &'a str>) -> Masker {
        let mut patterns: Vec<String> = secrets.into_iter().flat_map(forms).collect();
        patterns.sort();
        patterns.dedup();
        if patterns.is_empty() {
            return Masker::default();
        }
        let longest = patterns.iter().map(String::len).max().unwrap_or(0);
        let automaton = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostLongest)
            .kind(Some(AhoCorasickKind::ContiguousNFA))
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

/// The run's secrets and their masker, shared by everything that prints or stores: the
/// terminal and log writer, the audit record, the engine. Secrets are added as they
/// become known (a param, an input, a value derived from a secret).
#[derive(Clone, Debug, Default)]
pub struct SharedMasker(Arc<RwLock<Shared>>);

#[derive(Debug, Default)]
struct Shared {
    secrets: Vec<String>,
    masker: Masker,
}

impl SharedMasker {
    /// Adds secrets; the masker is rebuilt once if any is new.
    pub fn add<'a>(&self, secrets: impl IntoIterator<Item = &'a str>) {
        let Ok(mut shared) = self.0.write() else {
            return;
        };
        let mut changed = false;
        for secret in secrets {
            if !secret.is_empty() && !shared.secrets.iter().any(|known| known == secret) {
                shared.secrets.push(secret.to_owned());
                changed = true;
            }
        }
        if changed {
            shared.masker = Masker::new(shared.secrets.iter().map(String::as_str));
        }
    }

    pub fn masker(&self) -> Masker {
        self.0
            .read()
            .map(|shared| shared.masker.clone())
            .unwrap_or_default()
    }

    pub fn mask(&self, text: &str) -> String {
        self.masker().mask(text).into_owned()
    }

    /// Whether `text` holds a secret in any of its forms.
    pub fn reveals(&self, text: &str) -> bool {
        matches!(self.masker().mask(text), Cow::Owned(_))
    }

    /// The secrets too short to be masked in text.
    pub fn short_secrets(&self) -> usize {
        self.0.read().map_or(0, |shared| {
            shared
                .secrets
                .iter()
                .filter(|secret| secret.chars().count() < MIN_MASKED_CHARS)
                .count()
        })
    }

    /// Masks every string in a JSON value (an audit event's fields).
    pub fn mask_json(&self, value: &mut serde_json::Value) {
        let masker = self.masker();
        if masker.is_empty() {
            return;
        }
        mask_json(&masker, value);
    }
}

fn mask_json(masker: &Masker, value: &mut serde_json::Value) {
    match value {
        serde_json::Value::String(text) => {
            if let Cow::Owned(masked) = masker.mask(text) {
                *text = masked;
            }
        }
        serde_json::Value::Array(items) => {
            for item in items {
                mask_json(masker, item);
            }
        }
        serde_json::Value::Object(fields) => {
            for (_, item) in fields.iter_mut() {
                mask_json(masker, item);
            }
        }
        _ => {}
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
    fn masks_escaped_and_encoded_forms() {
        let masker = Masker::new(["p\"w@d\\x"]);
        assert_eq!(masker.mask(r#"got "p\"w@d\\x""#), r#"got "••••••""#);
        assert_eq!(
            masker.mask("postgresql://u:p%22w%40d%5Cx@h/db"),
            "postgresql://u:••••••@h/db"
        );
        assert_eq!(masker.mask("dbg: p\\\"w@d\\\\x"), "dbg: ••••••");
    }

    #[test]
    fn short_secrets_are_not_searched_for() {
        let masker = Masker::new(["ab", "abcd"]);
        assert_eq!(masker.mask("ab abcd"), "ab ••••••");
    }

    #[test]
    fn a_long_secret_is_masked() {
        let secret = "a".repeat(200_000);
        // With the DFA this took minutes; `scripts/bench` measures it.
        let masker = Masker::new([secret.as_str()]);
        assert_eq!(masker.mask(&format!("x{secret}y")), "x••••••y");
    }

    #[test]
    fn the_shared_masker_masks_every_string_of_an_event() {
        let shared = SharedMasker::default();
        shared.add(["hunter22"]);
        let mut event = serde_json::json!({"message": "pw hunter22", "list": ["hunter22"], "n": 1});
        shared.mask_json(&mut event);
        assert_eq!(
            event,
            serde_json::json!({"message": "pw ••••••", "list": ["••••••"], "n": 1})
        );
        assert!(shared.reveals("xhunter22") && !shared.reveals("hunter2"));
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
