//! Values that variables carry: an assignment, a `for` loop or `read` puts a value in a
//! variable, and where the variable is expanded later (`eval "$x"`, `(( x ))`, a second
//! shell's arguments) the value is refused as if written there.

use super::Walker;
use crate::quoting::{Context, Kind, Markers};
use brush_parser::ast::Word;
use brush_parser::word::{self, WordPiece};

impl Walker<'_> {
    /// `name` now holds these markers' values (an assignment, a `for` loop, `read`).
    /// Assigning a value to an integer variable is arithmetic; to a nameref, a name.
    pub fn carry(&mut self, name: &str, held: &[usize]) {
        if held.is_empty() {
            return;
        }
        let held: Vec<usize> = held
            .iter()
            .copied()
            .filter(|marker| self.markers.kind(*marker) != Kind::Plain)
            .collect();
        for marker in &held {
            if self.integers.contains(name) {
                self.push(*marker, Context::Arithmetic("an integer variable"));
            }
            if self.namerefs.contains(name) {
                self.push(*marker, Context::VariableName("a nameref".into()));
            }
            self.mark_seen(*marker);
        }
        self.carriers
            .entry(name.to_owned())
            .or_default()
            .extend(held);
    }

    /// The markers a word's value is made of: those in its text and double-quoted text,
    /// not those inside expansions.
    pub(super) fn held(&self, word: &Word) -> Vec<usize> {
        fn collect(
            pieces: &[brush_parser::word::WordPieceWithSource],
            markers: &Markers,
            out: &mut Vec<usize>,
        ) {
            for piece in pieces {
                match &piece.piece {
                    WordPiece::Text(text) | WordPiece::SingleQuotedText(text) => {
                        out.extend(markers.find(text));
                    }
                    WordPiece::DoubleQuotedSequence(inner)
                    | WordPiece::GettextDoubleQuotedSequence(inner) => collect(inner, markers, out),
                    _ => {}
                }
            }
        }
        if self.markers.find(&word.value).is_empty() {
            return Vec::new();
        }
        let mut out = Vec::new();
        if let Ok(pieces) = word::parse(&word.value, &self.options) {
            collect(&pieces, self.markers, &mut out);
        }
        out
    }

    /// The markers held by variables that `text` refers to (`$x`, `${x}`, and with
    /// `bare`, `x` alone, as arithmetic reads it).
    pub fn carried(&self, text: &str, bare: bool) -> Vec<usize> {
        if self.carriers.is_empty() {
            return Vec::new();
        }
        let mut found = Vec::new();
        let bytes = text.as_bytes();
        let mut index = 0;
        while index < bytes.len() {
            // What a command substitution reads is its own business (its arguments),
            // not arithmetic's.
            // Byte by byte: `index` may stand inside a multi-byte character here.
            if bytes[index..].starts_with(b"$(") && !bytes[index..].starts_with(b"$((") {
                let mut depth = 0usize;
                while index < bytes.len() {
                    match bytes[index] {
                        b'(' => depth += 1,
                        b')' => {
                            depth = depth.saturating_sub(1);
                            if depth == 0 {
                                index += 1;
                                break;
                            }
                        }
                        _ => {}
                    }
                    index += 1;
                }
                continue;
            }
            if bytes[index] == b'`' {
                index += 1;
                while index < bytes.len() && bytes[index] != b'`' {
                    index += 1;
                }
                index += 1;
                continue;
            }
            let start = index;
            if bytes[index].is_ascii_alphabetic() || bytes[index] == b'_' {
                while index < bytes.len()
                    && (bytes[index].is_ascii_alphanumeric() || bytes[index] == b'_')
                {
                    index += 1;
                }
                let name = &text[start..index];
                let before = text[..start].trim_end_matches('{');
                let referenced = before.ends_with('$') || bare;
                if referenced && let Some(markers) = self.carriers.get(name) {
                    found.extend(markers.iter().copied());
                }
            } else {
                index += 1;
            }
        }
        found.retain(|marker| self.markers.kind(*marker) != Kind::Plain);
        found
    }

    /// Refuses the markers carried by variables that the shell expands in `word` before
    /// handing it on (`"$x"`, `$x`; not `'$x'`, which stays text).
    pub fn refuse_expanded(&mut self, word: &str, context: Context) {
        if self.carriers.is_empty() || !word.contains('$') {
            return;
        }
        fn expansions(pieces: &[brush_parser::word::WordPieceWithSource], out: &mut String) {
            for piece in pieces {
                match &piece.piece {
                    WordPiece::ParameterExpansion(expansion) => {
                        out.push_str(&format!(" {expansion:?} "));
                    }
                    WordPiece::DoubleQuotedSequence(inner)
                    | WordPiece::GettextDoubleQuotedSequence(inner) => expansions(inner, out),
                    _ => {}
                }
            }
        }
        let mut text = String::new();
        if let Ok(pieces) = word::parse(word, &self.options) {
            expansions(&pieces, &mut text);
        }
        for marker in self.carried(&text, true) {
            if let Kind::Text { extra } = self.markers.kind(marker)
                && matches!(&context, Context::Reparsed { levels, .. } if extra >= *levels)
            {
                continue;
            }
            self.push(marker, context.clone());
        }
    }

    /// Refuses the markers carried by variables `text` refers to, in `context`.
    pub fn refuse_carried(&mut self, text: &str, context: Context) {
        for marker in self.carried(text, false) {
            if let Kind::Text { extra } = self.markers.kind(marker)
                && matches!(context, Context::Reparsed { levels, .. } if extra >= levels)
            {
                continue;
            }
            self.push(marker, context.clone());
        }
    }
}
