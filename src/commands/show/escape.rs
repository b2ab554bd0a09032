//! Writing Markdown that stays what it says: values as code spans that read as exactly
//! that value, prose whose filled-in values cannot become Markdown, fences and table
//! rows that their contents cannot end, and one blank line between blocks.

use crate::plan::fill::Filler;
use crate::template::shell_quote;
use std::fmt::Write as _;

/// A value as an inline code span, written so that it reads as exactly that value: an
/// empty one as `*(empty)*`, one with spaces at either end or a line break quoted as
/// bash would take it (`' lead'`, `$'a\nb'`).
pub(super) fn value_code(text: &str) -> String {
    if text.is_empty() {
        return "*(empty)*".to_owned();
    }
    if text.chars().any(char::is_control) {
        let mut quoted = String::from("$'");
        for c in text.chars() {
            match c {
                '\n' => quoted.push_str("\\n"),
                '\t' => quoted.push_str("\\t"),
                '\r' => quoted.push_str("\\r"),
                '\\' => quoted.push_str("\\\\"),
                '\'' => quoted.push_str("\\'"),
                c if c.is_control() => {
                    let _ = write!(quoted, "\\x{:02x}", u32::from(c));
                }
                c => quoted.push(c),
            }
        }
        quoted.push('\'');
        return code(&quoted);
    }
    if text.trim() != text {
        return code(&shell_quote(text));
    }
    code(text)
}

/// Text for one line of Markdown (a heading, a list item): line breaks become spaces,
/// and `<` cannot open HTML.
pub(super) fn inline(text: &str) -> String {
    let joined = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut out = String::with_capacity(joined.len());
    let mut escaped = false;
    for c in joined.chars() {
        if c == '<' && !escaped {
            out.push('\\');
        }
        escaped = c == '\\' && !escaped;
        out.push(c);
    }
    out
}

/// A message (a guard's, an expectation's, a confirmation's) filled in as prose on one
/// line: the values in it escaped so that they read as text, not Markdown.
pub(super) fn prose(fill: &Filler, located: &crate::runbook::Located) -> String {
    inline(fill.fill_escaped(located, &escape_prose).trim())
}

/// A value filled into prose: Markdown's punctuation escaped, line breaks as spaces.
pub(super) fn escape_prose(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\n' | '\r' => out.push(' '),
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '#' | '|' | '~' | '!' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

/// `text` as an inline code span, with enough backticks around it that a backtick
/// inside cannot end it.
pub(super) fn code(text: &str) -> String {
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let ticks = "`".repeat(longest + 1);
    let pad = if text.starts_with('`') || text.ends_with('`') || longest > 0 {
        " "
    } else {
        ""
    };
    format!("{ticks}{pad}{text}{pad}{ticks}")
}

/// A fenced code block whose fence is longer than any run of backticks inside.
pub(super) fn fence(language: &str, text: &str) -> String {
    let longest = text
        .lines()
        .filter(|line| line.trim_start().starts_with("```"))
        .map(|line| line.trim_start().chars().take_while(|&c| c == '`').count())
        .max()
        .unwrap_or(0);
    let ticks = "`".repeat(longest.max(2) + 1);
    format!("{ticks}{language}\n{text}\n{ticks}")
}

/// A table row. A `|` would end a cell even inside a code span, so it is escaped; an
/// empty cell is one space (markdownlint's compact style).
pub(super) fn row(cells: &[String]) -> String {
    let mut row = String::from("|");
    for cell in cells {
        if cell.is_empty() {
            row.push_str(" |");
        } else {
            let _ = write!(row, " {} |", cell.replace('|', "\\|"));
        }
    }
    row
}

/// One blank line between blocks and no trailing spaces, outside code blocks (which are
/// printed exactly).
pub(super) fn tidy(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut fence: Option<String> = None;
    let mut blank = false;
    for line in text.lines() {
        let trimmed = line.trim_start();
        match &fence {
            Some(open) => {
                if trimmed.starts_with(open.as_str()) && trimmed.trim_end() == open {
                    fence = None;
                }
                out.push_str(line);
                out.push('\n');
                continue;
            }
            None => {
                if trimmed.starts_with("```") {
                    fence = Some(trimmed.chars().take_while(|&c| c == '`').collect());
                }
            }
        }
        let line = line.trim_end();
        if line.is_empty() {
            if blank || out.is_empty() {
                continue;
            }
            blank = true;
        } else {
            blank = false;
        }
        out.push_str(line);
        out.push('\n');
    }
    while out.ends_with("\n\n") {
        out.pop();
    }
    out
}
