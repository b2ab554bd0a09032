//! A YAML document as a tree of nodes that remember where they were written, so every
//! later diagnostic can point at a line and column. Hostile input is bounded here, before
//! anything else sees it: oversized files, alias bombs and absurd nesting fail fast.

use saphyr_parser::{Event, Parser, ScalarStyle, Span as YamlSpan};
use std::collections::HashMap;

/// Runbooks are hand-written procedures; anything larger is a mistake or an attack.
pub const MAX_SOURCE_BYTES: usize = 1024 * 1024;
/// Total nodes after expanding aliases: a "billion laughs" document trips this long before
/// it can exhaust memory.
pub const MAX_NODES: usize = 100_000;
/// Deeper nesting than this is never a runbook, and would only risk the stack.
pub const MAX_DEPTH: usize = 64;

pub use crate::load::yaml_error::YamlError;
pub use crate::runbook::located::Span;

impl Span {
    fn from_yaml(span: &YamlSpan) -> Span {
        let width = if span.end.line() == span.start.line() {
            span.end.col().saturating_sub(span.start.col())
        } else {
            0
        };
        Span {
            line: span.start.line(),
            column: span.start.col() + 1,
            width: width.max(1),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub kind: NodeKind,
    pub span: Span,
    /// Number of nodes in this subtree, used to bound alias expansion.
    size: usize,
}

#[derive(Clone, Debug, PartialEq)]
pub enum NodeKind {
    Scalar(Scalar),
    Sequence(Vec<Node>),
    Mapping(Vec<(Node, Node)>),
}

/// A scalar keeps its text and whether it was quoted: `"true"` is a string, `true` a
/// boolean, following the YAML 1.2 core schema.
#[derive(Clone, Debug, PartialEq)]
pub struct Scalar {
    pub text: String,
    pub quoted: bool,
    /// Written as a `|` or `>` block, so its text starts on the line after the key.
    pub block: bool,
}

/// What a scalar means once YAML's core schema has been applied.
#[derive(Clone, Debug, PartialEq)]
pub enum Resolved<'a> {
    Null,
    Bool(bool),
    Integer(i64),
    Float(f64),
    String(&'a str),
}

impl Scalar {
    pub fn resolve(&self) -> Resolved<'_> {
        if self.quoted {
            return Resolved::String(&self.text);
        }
        let text = self.text.as_str();
        match text {
            "" | "~" | "null" | "Null" | "NULL" => return Resolved::Null,
            "true" | "True" | "TRUE" => return Resolved::Bool(true),
            "false" | "False" | "FALSE" => return Resolved::Bool(false),
            _ => {}
        }
        if let Some(integer) = parse_integer(text) {
            return Resolved::Integer(integer);
        }
        if looks_like_float(text)
            && let Ok(float) = text.parse::<f64>()
        {
            return Resolved::Float(float);
        }
        Resolved::String(text)
    }
}

fn parse_integer(text: &str) -> Option<i64> {
    let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
    if let Some(hex) = digits.strip_prefix("0x") {
        let value = i64::from_str_radix(hex, 16).ok()?;
        return Some(if text.starts_with('-') { -value } else { value });
    }
    if let Some(octal) = digits.strip_prefix("0o") {
        let value = i64::from_str_radix(octal, 8).ok()?;
        return Some(if text.starts_with('-') { -value } else { value });
    }
    if !digits.is_empty() && digits.bytes().all(|byte| byte.is_ascii_digit()) {
        return text.parse().ok();
    }
    None
}

fn looks_like_float(text: &str) -> bool {
    matches!(text, ".inf" | "-.inf" | "+.inf" | ".nan")
        || (text.bytes().any(|byte| byte.is_ascii_digit())
            && text.bytes().all(|byte| {
                byte.is_ascii_digit() || matches!(byte, b'.' | b'e' | b'E' | b'+' | b'-')
            }))
}

impl Node {
    /// What the node is, with its value when it is a short scalar: "a string `maybe`".
    pub fn describe_value(&self) -> String {
        match self.as_scalar() {
            Some(scalar)
                if !matches!(scalar.resolve(), Resolved::Null)
                    && scalar.text.len() <= 40
                    && !scalar.text.contains('\n') =>
            {
                format!("{} `{}`", self.describe(), scalar.text)
            }
            _ => self.describe().to_owned(),
        }
    }

    pub fn describe(&self) -> &'static str {
        match &self.kind {
            NodeKind::Sequence(_) => "a list",
            NodeKind::Mapping(_) => "a mapping",
            NodeKind::Scalar(scalar) => match scalar.resolve() {
                Resolved::Null => "nothing (null)",
                Resolved::Bool(_) => "a boolean",
                Resolved::Integer(_) => "an integer",
                Resolved::Float(_) => "a number",
                Resolved::String(_) => "a string",
            },
        }
    }

    pub fn as_mapping(&self) -> Option<&[(Node, Node)]> {
        match &self.kind {
            NodeKind::Mapping(entries) => Some(entries),
            _ => None,
        }
    }

    pub fn as_sequence(&self) -> Option<&[Node]> {
        match &self.kind {
            NodeKind::Sequence(items) => Some(items),
            _ => None,
        }
    }

    pub fn as_scalar(&self) -> Option<&Scalar> {
        match &self.kind {
            NodeKind::Scalar(scalar) => Some(scalar),
            _ => None,
        }
    }

    /// The raw scalar text, whatever type it resolves to: `4` and `"4"` both give "4".
    pub fn scalar_text(&self) -> Option<&str> {
        self.as_scalar().map(|scalar| scalar.text.as_str())
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self.as_scalar()?.resolve() {
            Resolved::Bool(value) => Some(value),
            _ => None,
        }
    }

    pub fn as_integer(&self) -> Option<i64> {
        match self.as_scalar()?.resolve() {
            Resolved::Integer(value) => Some(value),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self.as_scalar().map(Scalar::resolve), Some(Resolved::Null))
    }

    /// The value under `key` in a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_mapping()?
            .iter()
            .find(|(name, _)| name.scalar_text() == Some(key))
            .map(|(_, value)| value)
    }

    /// The mapping entry whose key is `key`, for diagnostics that point at the key.
    pub fn entry(&self, key: &str) -> Option<(&Node, &Node)> {
        self.as_mapping()?
            .iter()
            .find(|(name, _)| name.scalar_text() == Some(key))
            .map(|(name, value)| (name, value))
    }
}

/// Parses one YAML document into a tree.
pub fn parse(text: &str) -> Result<Node, YamlError> {
    if text.len() > MAX_SOURCE_BYTES {
        return Err(YamlError::TooLarge { bytes: text.len() });
    }
    let mut builder = TreeBuilder {
        parser: Parser::new_from_str(text),
        anchors: HashMap::new(),
        total_nodes: 0,
        aliases_used: false,
    };
    builder.document()
}

struct TreeBuilder<'input> {
    parser: Parser<'input, saphyr_parser::StrInput<'input>>,
    anchors: HashMap<usize, Node>,
    total_nodes: usize,
    /// Whether an alias was expanded, so a node-limit error blames the right thing.
    aliases_used: bool,
}

impl<'input> TreeBuilder<'input> {
    fn next(&mut self) -> Result<(Event<'input>, Span), YamlError> {
        match self.parser.next_event() {
            Some(Ok((event, span))) => Ok((event, Span::from_yaml(&span))),
            Some(Err(error)) => Err(YamlError::Syntax {
                message: error.info().to_owned(),
                span: Span {
                    line: error.marker().line(),
                    column: error.marker().col() + 1,
                    width: 1,
                },
            }),
            None => Ok((Event::StreamEnd, Span::default())),
        }
    }

    fn document(&mut self) -> Result<Node, YamlError> {
        let mut root = None;
        loop {
            let (event, span) = self.next()?;
            match event {
                Event::StreamStart | Event::DocumentEnd | Event::Nothing => {}
                Event::StreamEnd => break,
                Event::DocumentStart(_) => {
                    if root.is_some() {
                        return Err(YamlError::MultipleDocuments { span });
                    }
                    let (event, span) = self.next()?;
                    root = Some(self.node(event, span, 0)?);
                }
                other => {
                    let node = self.node(other, span, 0)?;
                    if root.is_some() {
                        return Err(YamlError::MultipleDocuments { span: node.span });
                    }
                    root = Some(node);
                }
            }
        }
        match root {
            Some(node) if !node.is_null() => Ok(node),
            _ => Err(YamlError::Empty),
        }
    }

    fn node(&mut self, event: Event<'input>, span: Span, depth: usize) -> Result<Node, YamlError> {
        if depth > MAX_DEPTH {
            return Err(YamlError::TooDeep { span });
        }
        let (node, anchor) = match event {
            Event::Scalar(text, style, anchor, _tag) => {
                let quoted = !matches!(style, ScalarStyle::Plain);
                let block = matches!(style, ScalarStyle::Literal | ScalarStyle::Folded);
                let node = Node {
                    kind: NodeKind::Scalar(Scalar {
                        text: text.into_owned(),
                        quoted,
                        block,
                    }),
                    span,
                    size: 1,
                };
                (node, anchor)
            }
            Event::SequenceStart(anchor, _tag) => {
                let mut items = Vec::new();
                let mut size = 1;
                loop {
                    let (event, item_span) = self.next()?;
                    if matches!(event, Event::SequenceEnd) {
                        break;
                    }
                    let item = self.node(event, item_span, depth + 1)?;
                    size += item.size;
                    items.push(item);
                }
                let node = Node {
                    kind: NodeKind::Sequence(items),
                    span,
                    size,
                };
                (node, anchor)
            }
            Event::MappingStart(anchor, _tag) => {
                let mut entries = Vec::new();
                let mut size = 1;
                loop {
                    let (event, key_span) = self.next()?;
                    if matches!(event, Event::MappingEnd) {
                        break;
                    }
                    let key = self.node(event, key_span, depth + 1)?;
                    let (event, value_span) = self.next()?;
                    let value = self.node(event, value_span, depth + 1)?;
                    size += key.size + value.size;
                    entries.push((key, value));
                }
                let node = Node {
                    kind: NodeKind::Mapping(entries),
                    span,
                    size,
                };
                (node, anchor)
            }
            Event::Alias(anchor) => {
                let target = self
                    .anchors
                    .get(&anchor)
                    .ok_or(YamlError::UnknownAlias { span })?;
                self.total_nodes += target.size;
                self.aliases_used = true;
                if self.total_nodes > MAX_NODES {
                    return Err(YamlError::AliasBomb { span });
                }
                let mut copy = target.clone();
                copy.span = span;
                return Ok(copy);
            }
            _ => {
                return Err(YamlError::Syntax {
                    message: "unexpected YAML structure".into(),
                    span,
                });
            }
        };
        self.total_nodes += 1;
        if self.total_nodes > MAX_NODES {
            // Blame the aliases only when there are any.
            return Err(if self.aliases_used {
                YamlError::AliasBomb { span }
            } else {
                YamlError::TooManyNodes { span }
            });
        }
        if anchor != 0 {
            self.anchors.insert(anchor, node.clone());
        }
        Ok(node)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalars_follow_the_core_schema() {
        let node =
            parse("a: true\nb: 'true'\nc: 42\nd: 4.5\ne: ~\nf: 1h\ng: -7\n").expect("parses");
        assert_eq!(node.get("a").and_then(Node::as_bool), Some(true));
        assert_eq!(node.get("b").map(Node::describe), Some("a string"));
        assert_eq!(node.get("c").and_then(Node::as_integer), Some(42));
        assert_eq!(node.get("d").map(Node::describe), Some("a number"));
        assert!(node.get("e").is_some_and(Node::is_null));
        assert_eq!(node.get("f").and_then(Node::scalar_text), Some("1h"));
        assert_eq!(node.get("g").and_then(Node::as_integer), Some(-7));
    }

    #[test]
    fn spans_are_one_based() {
        let node = parse("name: x\nsteps:\n  - id: a\n").expect("parses");
        let steps = node.get("steps").expect("steps");
        let first = &steps.as_sequence().expect("list")[0];
        let (key, _) = first.entry("id").expect("id");
        assert_eq!((key.span.line, key.span.column, key.span.width), (3, 5, 2));
    }

    #[test]
    fn aliases_expand() {
        let node = parse("a: &x [1, 2]\nb: *x\n").expect("parses");
        assert_eq!(
            node.get("b").and_then(Node::as_sequence).map(<[Node]>::len),
            Some(2)
        );
    }

    #[test]
    fn alias_bomb_fails_fast() {
        let mut text = String::from("a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
        for level in 1..10 {
            let previous = format!("*a{}", level - 1);
            let items = [previous.as_str(); 9].join(", ");
            text.push_str(&format!("a{level}: &a{level} [{items}]\n"));
        }
        let started = std::time::Instant::now();
        let error = parse(&text).expect_err("must refuse");
        assert!(matches!(error, YamlError::AliasBomb { .. }), "{error:?}");
        assert!(started.elapsed().as_secs() < 2);
    }

    #[test]
    fn large_files_are_refused_before_parsing() {
        let text = "# x\n".repeat(MAX_SOURCE_BYTES);
        assert!(matches!(parse(&text), Err(YamlError::TooLarge { .. })));
    }

    #[test]
    fn syntax_errors_have_a_location() {
        let error = parse("a: [1, 2\nb: 3\n").expect_err("unclosed");
        assert!(error.span().is_some_and(|span| span.line >= 1), "{error:?}");
    }

    #[test]
    fn deep_nesting_is_refused() {
        let text = format!("{}1{}", "[".repeat(200), "]".repeat(200));
        assert!(matches!(parse(&text), Err(YamlError::TooDeep { .. })));
    }
}
