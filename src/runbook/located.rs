//! Where runbook text was written: `Span` (a place in the file) and `Located` (a piece of
//! text with its span and YAML path), and the mapping from an offset inside such a text
//! back to the file, so any error about it — found by `validate` or while running — can
//! point at the line and column.

use serde::Serialize;

/// Where a node starts (1-based line and column, in characters) and how many characters
/// of that line it covers, for the caret underline.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Span {
    pub line: usize,
    pub column: usize,
    pub width: usize,
}

/// A piece of runbook text together with where it was written, so that errors found when
/// it is rendered (at validation or at run time) can point back at the YAML.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Located {
    pub text: String,
    #[serde(skip)]
    pub span: Span,
    /// YAML path such as `steps[2].run`; also the template's name.
    #[serde(skip)]
    pub path: String,
    /// How the scalar was written, to map offsets in `text` back to the file.
    #[serde(skip)]
    pub style: TextStyle,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum TextStyle {
    #[default]
    Plain,
    Quoted,
    Block,
}

/// Where a minijinja error points inside a located text.
pub(crate) fn error_span(located: &Located, error: &minijinja::Error) -> Span {
    match error.range() {
        Some(range) => offset_span(located, range.start, range.end.saturating_sub(range.start)),
        None => match error.line() {
            Some(line) => offset_span(located, line_offset(&located.text, line), 1),
            None => located.span,
        },
    }
}

fn line_offset(text: &str, line: usize) -> usize {
    text.split_inclusive('\n')
        .take(line.saturating_sub(1))
        .map(str::len)
        .sum()
}

/// The span of the first mention of `name` in the text (falls back to the whole value).
pub(crate) fn name_span(located: &Located, name: &str) -> Span {
    let text = &located.text;
    let is_word = |byte: u8| byte.is_ascii_alphanumeric() || byte == b'_';
    let mut start = 0;
    while let Some(found) = text[start..].find(name) {
        let offset = start + found;
        let end = offset + name.len();
        let before_ok = offset == 0 || !is_word(text.as_bytes()[offset - 1]);
        let after_ok = end >= text.len() || !is_word(text.as_bytes()[end]);
        if before_ok && after_ok {
            return offset_span(located, offset, name.len());
        }
        start = end;
    }
    located.span
}

/// Maps a byte offset within a located text to a file position.
pub(crate) fn offset_span(located: &Located, offset: usize, width: usize) -> Span {
    let offset = offset.min(located.text.len());
    if !located.text.is_char_boundary(offset) {
        return located.span;
    }
    let before = &located.text[..offset];
    let line_index = before.matches('\n').count();
    let column_in_line = before
        .rsplit('\n')
        .next()
        .unwrap_or_default()
        .chars()
        .count();
    let width = width.max(1);
    match located.style {
        // A block scalar's span starts at its first content line, and every content
        // line shares that indentation.
        TextStyle::Block => Span {
            line: located.span.line + line_index,
            column: located.span.column + column_in_line,
            width,
        },
        TextStyle::Plain | TextStyle::Quoted if line_index == 0 => {
            let quote = usize::from(located.style == TextStyle::Quoted);
            Span {
                line: located.span.line,
                column: located.span.column + quote + column_in_line,
                width,
            }
        }
        // A plain or quoted scalar folded over several lines: its lines no longer
        // map one to one, so point at the value.
        TextStyle::Plain | TextStyle::Quoted => located.span,
    }
}
