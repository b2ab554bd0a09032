//! Shell contexts of interpolations in command templates: here-documents (where the
//! shell expands `$(…)` whatever the quoting) and values written inside shell quotes
//! (where the automatic quoting would become part of the value). A lexical scan, not a
//! parser: it knows quotes, `$( … )` and here-document delimiters.

/// Interpolations written inside shell quotes (`"{{ x }}"`, `'--dir={{ x }}'`): since
/// values are already shell-quoted, the quotes would become part of the value. Command
/// substitutions `$( … )` start a fresh quoting context, as they do in the shell.
/// The body of a here-document, and whether the shell expands `$(…)` in it (an
/// unquoted delimiter: `<<EOF`) or not (`<<'EOF'`).
pub(crate) struct Heredoc {
    pub(crate) range: std::ops::Range<usize>,
    pub(crate) expands: bool,
}

/// Finds here-document bodies. Shell-quoting cannot protect a value inside an unquoted
/// here-document: the shell expands `$(…)` and backticks there whatever the quotes.
pub(crate) fn heredoc_bodies(text: &str) -> Vec<Heredoc> {
    // Compiled once: `validate` checks hundreds of commands.
    static START: std::sync::LazyLock<Option<regex::Regex>> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r#"(^|[^<])<<(-?)[ \t]*(['"]?)([A-Za-z_][A-Za-z0-9_]*)(['"]?)"#).ok()
    });
    if !text.contains("<<") {
        return Vec::new();
    }
    let Some(start) = START.as_ref() else {
        return Vec::new();
    };
    let mut bodies = Vec::new();
    let mut offset = 0;
    let mut lines = text.split_inclusive('\n');
    while let Some(line) = lines.next() {
        offset += line.len();
        let Some(found) = start.captures(line) else {
            continue;
        };
        let strip_tabs = &found[2] == "-";
        let expands = found[3].is_empty();
        let delimiter = found[4].to_owned();
        let body_start = offset;
        let mut body_end = text.len();
        for body_line in lines.by_ref() {
            let content = body_line.trim_end_matches(['\n', '\r']);
            let content = if strip_tabs {
                content.trim_start_matches('\t')
            } else {
                content
            };
            if content == delimiter {
                body_end = offset;
                offset += body_line.len();
                break;
            }
            offset += body_line.len();
        }
        bodies.push(Heredoc {
            range: body_start..body_end.max(body_start),
            expands,
        });
    }
    bodies
}

/// Every `{{ … }}` in a text, with the name it starts with.
pub(crate) fn interpolations(text: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    let mut start = 0;
    while let Some(open) = text[start..].find("{{") {
        let index = start + open;
        let end = text[index..]
            .find("}}")
            .map_or(text.len(), |end| index + end + 2);
        let inner = text[index + 2..end.saturating_sub(2).max(index + 2)].trim();
        let name = inner
            .split(['|', ' ', '.', '[', '('])
            .next()
            .unwrap_or(inner);
        found.push((index, name.to_owned()));
        start = end;
    }
    found
}

pub(crate) fn quoted_interpolations(text: &str, heredocs: &[Heredoc]) -> Vec<(usize, String)> {
    #[derive(PartialEq)]
    enum Frame {
        Unquoted { parentheses: usize },
        Single,
        Double,
    }
    let bytes = text.as_bytes();
    let mut found = Vec::new();
    let mut stack = vec![Frame::Unquoted { parentheses: 0 }];
    let mut index = 0;
    while index < bytes.len() {
        if let Some(body) = heredocs.iter().find(|body| body.range.contains(&index)) {
            index = body.range.end;
            continue;
        }
        let rest = &text[index..];
        if rest.starts_with("{{") {
            let end = rest.find("}}").map_or(text.len(), |end| index + end + 2);
            let inner = text[index + 2..end.saturating_sub(2).max(index + 2)].trim();
            let quoted = !matches!(stack.last(), Some(Frame::Unquoted { .. }));
            let opted_out = inner.split('|').skip(1).any(|filter| {
                let filter = filter.trim();
                filter == "safe" || filter.starts_with("shell_quote")
            });
            if quoted && !opted_out {
                let name = inner
                    .split(['|', ' ', '.', '[', '('])
                    .next()
                    .unwrap_or(inner);
                found.push((index, name.to_owned()));
            }
            index = end;
            continue;
        }
        if rest.starts_with("{%") || rest.starts_with("{#") {
            let closing = if rest.starts_with("{%") { "%}" } else { "#}" };
            index = rest.find(closing).map_or(text.len(), |end| index + end + 2);
            continue;
        }
        let byte = bytes[index];
        let top = stack.last_mut();
        match (top, byte) {
            (Some(Frame::Unquoted { .. } | Frame::Double), b'\\') => {
                // Skip the escaped character, whatever its width.
                index += 1 + text[index + 1..].chars().next().map_or(0, char::len_utf8);
                continue;
            }
            (Some(Frame::Unquoted { .. } | Frame::Double), b'$') if rest.starts_with("$(") => {
                stack.push(Frame::Unquoted { parentheses: 0 });
                index += 1;
            }
            (Some(Frame::Unquoted { .. }), b'#')
                if index == 0 || bytes[index - 1].is_ascii_whitespace() =>
            {
                // A shell comment: skip to the end of the line.
                index = rest.find('\n').map_or(text.len(), |end| index + end);
                continue;
            }
            (Some(Frame::Unquoted { parentheses }), b'(') => *parentheses += 1,
            (Some(Frame::Unquoted { parentheses }), b')') => {
                if *parentheses > 0 {
                    *parentheses -= 1;
                } else if stack.len() > 1 {
                    stack.pop();
                }
            }
            (Some(Frame::Unquoted { .. }), b'\'') => stack.push(Frame::Single),
            (Some(Frame::Unquoted { .. }), b'"') => stack.push(Frame::Double),
            (Some(Frame::Single), b'\'') | (Some(Frame::Double), b'"') => {
                stack.pop();
            }
            _ => {}
        }
        index += rest.chars().next().map_or(1, char::len_utf8);
    }
    found
}

#[cfg(test)]
mod tests {
    use super::{heredoc_bodies, quoted_interpolations};

    #[test]
    fn finds_here_document_bodies() {
        let text =
            "psql <<SQL\nselect {{ x }};\nSQL\ncat <<-'EOF'\n\t{{ y }}\n\tEOF\necho <<< {{ z }}\n";
        let bodies = heredoc_bodies(text);
        assert_eq!(bodies.len(), 2);
        assert!(bodies[0].expands && !bodies[1].expands);
        assert_eq!(&text[bodies[0].range.clone()], "select {{ x }};\n");
        assert_eq!(&text[bodies[1].range.clone()], "\t{{ y }}\n");
    }

    #[test]
    fn finds_interpolations_inside_quotes() {
        let names = |text: &str| -> Vec<String> {
            quoted_interpolations(text, &heredoc_bodies(text))
                .into_iter()
                .map(|(_, name)| name)
                .collect()
        };
        assert_eq!(
            names("echo {{ a }} \"{{ b }}\" '{{ c | int }}'"),
            ["b", "c"]
        );
        assert_eq!(
            names("echo \"$X\" {{ a }} \"{{ b | safe }}\" \"{{ c|shell_quote }}\""),
            Vec::<String>::new()
        );
        assert_eq!(names("echo \"it's\" {{ a }}"), Vec::<String>::new());
        assert_eq!(names("echo \\\" {{ a }}"), Vec::<String>::new());
        assert_eq!(names("# don't\necho {{ a }}"), Vec::<String>::new());
        assert_eq!(names("psql -c \"SELECT {{ n }}\""), ["n"]);
        assert_eq!(
            names("x=\"$(basename {{ f }})\" y=\"$(f \"{{ g }}\")\""),
            ["g"]
        );
        assert_eq!(names("echo \"$( (cd {{ d }}) )\" \"{{ e }}\""), ["e"]);
        assert_eq!(names("echo \"{{ safety_dir }}\""), ["safety_dir"]);
        assert_eq!(
            names("cat <<'EOF'\ndon't {{ a }}\nEOF\necho \"{{ b }}\""),
            ["b"]
        );
        assert_eq!(names("echo '±5%' \\± \"ü {{ x }}\" {{ y }} ✓"), ["x"]);
    }
}
