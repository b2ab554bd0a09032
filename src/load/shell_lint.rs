//! The static side of the shell check: a command template's `{{ … }}` become marker
//! words, `{% … %}` tags are dropped, and the text is parsed as bash by the same check
//! `run` applies to every rendered command (`crate::quoting`). What `validate` finds
//! here, `run` refuses before anything runs.

use crate::quoting::{self, Context, Kind, Markers, Unparsable};

/// One `{{ … }}` of a template.
pub struct Interpolation {
    /// Byte offset of `{{` in the template.
    pub offset: usize,
    /// Length up to and including `}}`.
    pub len: usize,
    /// The expression inside, trimmed (`dir | shell_quote`).
    pub expression: String,
    /// The name it starts with (`dir`).
    pub name: String,
}

impl Interpolation {
    /// The filters applied, in order, without their arguments (`["shell_quote"]`).
    pub fn filters(&self) -> Vec<&str> {
        self.expression
            .split('|')
            .skip(1)
            .map(|filter| filter.split('(').next().unwrap_or(filter).trim())
            .collect()
    }

    /// Whether the value is shell code by design (`| safe` last): inserted unquoted.
    pub fn is_code(&self) -> bool {
        self.filters().last() == Some(&"safe")
    }
}

/// An interpolation refused where it stands.
pub struct Refused {
    pub interpolation: Interpolation,
    pub context: Context,
}

pub struct Lint {
    pub refused: Vec<Refused>,
    /// The text does not parse (reported only when no `{% … %}` tag or `| safe` value
    /// could explain it), and whether values are interpolated into it.
    pub unparsable: Option<(Unparsable, bool)>,
}

/// A template cut into literal text, `{% … %}`/`{# … #}` tags and `{{ … }}`.
enum Piece<'t> {
    Text(&'t str),
    Tag,
    Interpolation(Interpolation),
}

fn pieces(text: &str) -> Vec<Piece<'_>> {
    let mut pieces = Vec::new();
    let mut index = 0;
    let mut literal_start = 0;
    while let Some(open) = text[index..].find('{') {
        let start = index + open;
        let tail = &text[start..];
        let closing = if tail.starts_with("{{") {
            "}}"
        } else if tail.starts_with("{%") {
            "%}"
        } else if tail.starts_with("{#") {
            "#}"
        } else {
            index = start + 1;
            continue;
        };
        pieces.push(Piece::Text(&text[literal_start..start]));
        // An unclosed `{{` runs to the end (minijinja reports it; this only must not
        // cut a character in two).
        let inner_end = tail[2..]
            .find(closing)
            .map_or(text.len(), |end| start + 2 + end);
        let end = (inner_end + closing.len()).min(text.len());
        index = end;
        literal_start = end;
        if closing != "}}" {
            pieces.push(Piece::Tag);
            continue;
        }
        let inner = text[start + 2..inner_end]
            .trim_matches(|c: char| c == '-' || c == '+' || c.is_whitespace());
        let name = inner
            .split(['|', ' ', '.', '[', '('])
            .next()
            .unwrap_or(inner)
            .to_owned();
        pieces.push(Piece::Interpolation(Interpolation {
            offset: start,
            len: end - start,
            expression: inner.to_owned(),
            name,
        }));
    }
    pieces.push(Piece::Text(&text[literal_start.min(text.len())..]));
    pieces
}

/// Built-in names whose values are numbers: `runbook.rto`, `steps.x.exit_code`, …
fn numeric_name(expression: &str) -> bool {
    let parts: Vec<&str> = expression.split('.').map(str::trim).collect();
    matches!(
        parts.as_slice(),
        ["runbook", "rto" | "rpo"]
            | ["run", "exit_code" | "duration"]
            | ["steps", _, "exit_code" | "attempts" | "duration"]
    )
}

/// Every `{{ … }}` of a template, in order.
pub fn interpolations(text: &str) -> Vec<Interpolation> {
    pieces(text)
        .into_iter()
        .filter_map(|piece| match piece {
            Piece::Interpolation(interpolation) => Some(interpolation),
            _ => None,
        })
        .collect()
}

/// Checks a command template. `number` says whether a name holds a number (a param or
/// input of type `integer` or `number`).
pub fn lint(text: &str, number: &dyn Fn(&str) -> bool) -> Lint {
    let mut markers = Markers::new(text);
    let mut marked = String::with_capacity(text.len());
    let mut interpolations = Vec::new();
    let mut uncertain = false;
    for piece in pieces(text) {
        let interpolation = match piece {
            Piece::Text(literal) => {
                marked.push_str(literal);
                continue;
            }
            Piece::Tag => {
                // A tag decides at run time what the text is; `run` checks the result.
                uncertain = true;
                continue;
            }
            Piece::Interpolation(interpolation) => interpolation,
        };
        let filters = interpolation.filters();
        if interpolation.is_code() {
            // Shell code by design: unknown here, inserted as is at run time.
            uncertain = true;
            marked.push_str("VALUE");
            continue;
        }
        let numeric = match filters.last() {
            Some(filter) => matches!(*filter, "int" | "float" | "length" | "count" | "round"),
            None => number(&interpolation.name) || numeric_name(&interpolation.expression),
        };
        let kind = if numeric {
            Kind::Plain
        } else {
            let extra = filters
                .iter()
                .rev()
                .take_while(|filter| **filter == "shell_quote")
                .count();
            Kind::Text {
                extra: u8::try_from(extra).unwrap_or(u8::MAX),
            }
        };
        marked.push_str(&markers.push(kind, String::new()));
        interpolations.push(Some(interpolation));
    }
    match quoting::check(&marked, &markers) {
        Ok(refusals) => Lint {
            refused: refusals
                .into_iter()
                .filter_map(|refusal| {
                    let interpolation = interpolations.get_mut(refusal.marker)?.take()?;
                    Some(Refused {
                        interpolation,
                        context: refusal.context,
                    })
                })
                .collect(),
            unparsable: None,
        },
        Err(unparsable) => Lint {
            refused: Vec::new(),
            unparsable: (!uncertain).then(|| (unparsable, !markers.is_empty())),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::lint;

    fn refused(text: &str) -> Vec<(String, String)> {
        lint(text, &|name| name == "count")
            .refused
            .into_iter()
            .map(|refused| {
                (
                    refused.interpolation.expression,
                    refused.context.to_string(),
                )
            })
            .collect()
    }

    #[test]
    fn finds_each_refused_interpolation_with_its_context() {
        let found =
            refused("echo {{ a }} \"{{ b }}\" '{{ c | int }}' $(( {{ d }} + {{ count }} ))");
        assert_eq!(
            found,
            [
                ("b".to_owned(), "inside double quotes".to_owned()),
                ("d".to_owned(), "in arithmetic (`$(( ))`)".to_owned()),
            ]
        );
        assert!(refused("echo \"$X\" {{ a }} {{ b | safe }} \"{{ c | safe }}\"").is_empty());
        assert!(refused("{% if a %}echo {{ a }}{% else %}echo{% endif %}").is_empty());
        assert_eq!(
            refused("{%- if a -%}echo \"{{- a -}}\"{% endif %}").len(),
            1
        );
        assert_eq!(
            refused("ssh db ls {{ dir }} {{ dir | shell_quote }}"),
            [(
                "dir".to_owned(),
                "in the arguments of `ssh`, which a second shell parses again".to_owned()
            )]
        );
    }

    #[test]
    fn an_unclosed_interpolation_before_a_wide_character_is_not_cut_in_two() {
        // Found by the fuzzer: the end of `{{ backup_file }é` fell inside `é`.
        let found = lint("pg_restore {{ backup_file }é", &|_| false);
        assert!(found.refused.is_empty());
        let interpolations = super::interpolations("a {{ x }é");
        assert_eq!(interpolations[0].expression, "x }é");
    }

    #[test]
    fn reports_a_command_that_does_not_parse_unless_a_tag_could_explain_it() {
        let lint_of = |text: &str| lint(text, &|_| false).unparsable.map(|(_, values)| values);
        assert_eq!(lint_of("echo {{ a }} )"), Some(true));
        assert_eq!(lint_of("echo )"), Some(false));
        assert_eq!(lint_of("{% if a %}( {% endif %}echo )"), None);
        assert_eq!(lint_of("echo {{ code | safe }}"), None);
    }
}
