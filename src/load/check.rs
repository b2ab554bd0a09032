//! The structural check: walks the YAML tree against the format tables of
//! `runbook::shape` and reports every unknown key, wrong type, missing key and malformed
//! value at once. After it, building the model can trust the shapes it reads.

use crate::load::diagnostic::Report;
use crate::load::problem::Problem;
use crate::load::suggest::suggest;
use crate::load::yaml::{Node, NodeKind, Resolved};
use crate::runbook::Duration;
use crate::runbook::shape::{self, Object, Type};
use std::collections::HashSet;

pub fn check(root: &Node, report: &mut Report) {
    let checker = Checker { step_id: None };
    checker.value(root, &Type::Object(&shape::RUNBOOK), "runbook", "", report);
}

#[derive(Clone, Copy)]
struct Checker<'a> {
    /// The id of the innermost step being checked, for messages.
    step_id: Option<&'a str>,
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

impl<'a> Checker<'a> {
    fn value(
        self,
        node: &'a Node,
        value_type: &Type,
        label: &str,
        path: &str,
        report: &mut Report,
    ) {
        match value_type {
            Type::Object(object) => self.object(node, object, label, path, report),
            Type::Either(alternatives) => {
                let fits = |alternative: &Type| {
                    matches!(
                        (&node.kind, alternative),
                        (NodeKind::Mapping(_), Type::Object(_))
                            | (NodeKind::Sequence(_), Type::List(_))
                            | (NodeKind::Scalar(_), Type::Text | Type::Template)
                    )
                };
                let expected = if alternatives
                    .iter()
                    .any(|alternative| matches!(alternative, Type::List(_)))
                {
                    "a string or a list of strings"
                } else {
                    "a string or a mapping"
                };
                match alternatives.iter().find(|alternative| fits(alternative)) {
                    Some(alternative) => self.value(node, alternative, label, path, report),
                    None => self.wrong_type(node, label, expected, path, report),
                }
            }
            Type::List(item_type) => {
                let Some(items) = node.as_sequence() else {
                    return self.wrong_type(node, label, "a list", path, report);
                };
                for (index, item) in items.iter().enumerate() {
                    let item_path = format!("{path}[{index}]");
                    self.value(
                        item,
                        item_type,
                        &format!("{label}[{index}]"),
                        &item_path,
                        report,
                    );
                }
            }
            Type::Map(rule, item_type) => {
                let Some(entries) = node.as_mapping() else {
                    return self.wrong_type(node, label, "a mapping", path, report);
                };
                let mut seen = HashSet::new();
                for (key, item) in entries {
                    let Some(name) = key.scalar_text() else {
                        report.error(Problem::NonStringKey, Some(key.span), path, self.step_id);
                        continue;
                    };
                    if !seen.insert(name) {
                        let problem = Problem::DuplicateKey {
                            key: name.to_owned(),
                        };
                        report.error(problem, Some(key.span), path, self.step_id);
                    }
                    if !rule.matches(name) {
                        let problem = Problem::BadName {
                            key: format!("name in `{label}`"),
                            value: name.to_owned(),
                            rule: rule.describe(),
                            fixed: rule.fix(name),
                        };
                        report.error(problem, Some(key.span), path, self.step_id);
                    }
                    self.value(item, item_type, name, &join(path, name), report);
                }
            }
            scalar_type => self.scalar(node, scalar_type, label, path, report),
        }
    }

    fn scalar(self, node: &Node, value_type: &Type, label: &str, path: &str, report: &mut Report) {
        let Some(scalar) = node.as_scalar() else {
            let expected = match value_type {
                Type::Boolean => "a boolean",
                Type::Count => "an integer",
                Type::Scalar => "a single value",
                _ => "a string",
            };
            return self.wrong_type(node, label, expected, path, report);
        };
        let resolved = scalar.resolve();
        if matches!(resolved, Resolved::Null) {
            let expected = match value_type {
                Type::Boolean => "a boolean",
                Type::Count => "an integer",
                _ => "a value",
            };
            return self.wrong_type(node, label, expected, path, report);
        }
        let text = scalar.text.as_str();
        match value_type {
            Type::Text | Type::Template | Type::Expression | Type::Scalar => {}
            Type::Boolean => {
                if !matches!(resolved, Resolved::Bool(_)) {
                    self.wrong_type(node, label, "a boolean", path, report);
                }
            }
            Type::Count => match resolved {
                Resolved::Integer(value) if value >= 0 => {}
                _ => self.wrong_type(node, label, "an integer of 0 or more", path, report),
            },
            Type::Duration => {
                if Duration::parse(text).is_none() {
                    let problem = Problem::BadDuration {
                        key: label.to_owned(),
                        value: text.to_owned(),
                    };
                    report.error(problem, Some(node.span), path, self.step_id);
                }
            }
            Type::Name(rule) => {
                if !rule.matches(text) {
                    let problem = Problem::BadName {
                        key: format!("`{label}`"),
                        value: text.to_owned(),
                        rule: rule.describe(),
                        fixed: rule.fix(text),
                    };
                    report.error(problem, Some(node.span), path, self.step_id);
                }
            }
            Type::Choice(choices) => {
                if !choices.contains(&text) {
                    let problem = Problem::NotAChoice {
                        key: label.to_owned(),
                        value: text.to_owned(),
                        choices,
                        suggestion: suggest(text, choices.iter().copied()),
                    };
                    report.error(problem, Some(node.span), path, self.step_id);
                }
            }
            Type::List(_) | Type::Map(..) | Type::Object(_) | Type::Either(_) => {}
        }
    }

    fn wrong_type(self, node: &Node, label: &str, expected: &str, path: &str, report: &mut Report) {
        let problem = Problem::WrongType {
            key: label.to_owned(),
            expected: expected.to_owned(),
            found: node.describe_value(),
        };
        report.error(problem, Some(node.span), path, self.step_id);
    }

    fn object(
        mut self,
        node: &'a Node,
        object: &'static Object,
        label: &str,
        path: &str,
        report: &mut Report,
    ) {
        let Some(entries) = node.as_mapping() else {
            let expected = if object.name == "runbook" {
                "a mapping of keys (name, title, kind, steps, ...)".to_owned()
            } else {
                format!("a mapping ({})", object.name)
            };
            let problem = Problem::WrongType {
                key: label.to_owned(),
                expected,
                found: node.describe_value(),
            };
            return report.error(problem, Some(node.span), path, self.step_id);
        };
        if std::ptr::eq(object, &shape::STEP) {
            self.step_id = node.get("id").and_then(Node::scalar_text).or(self.step_id);
        }
        let mut seen = HashSet::new();
        for (key, value) in entries {
            let Some(name) = key.scalar_text() else {
                report.error(Problem::NonStringKey, Some(key.span), path, self.step_id);
                continue;
            };
            if !seen.insert(name) {
                let problem = Problem::DuplicateKey {
                    key: name.to_owned(),
                };
                report.error(problem, Some(key.span), path, self.step_id);
                continue;
            }
            match object.field(name) {
                Some(field) => self.value(value, field.value, name, &join(path, name), report),
                None => {
                    let problem = Problem::UnknownKey {
                        key: name.to_owned(),
                        object: object.name,
                        suggestion: suggest(name, object.keys()),
                        known: object.keys().collect(),
                    };
                    report.error(problem, Some(key.span), path, self.step_id);
                }
            }
        }
        for field in object.fields.iter().filter(|field| field.required) {
            if !seen.contains(field.key) {
                let problem = Problem::MissingKey {
                    key: field.key,
                    object: object.name,
                };
                report.error(problem, Some(node.span), path, self.step_id);
            }
        }
        let mut has_action = true;
        if !object.exactly_one_of.is_empty() {
            let present: Vec<&(Node, Node)> = entries
                .iter()
                .filter(|(key, _)| {
                    key.scalar_text()
                        .is_some_and(|name| object.exactly_one_of.contains(&name))
                })
                .collect();
            has_action = !present.is_empty();
            let distinct: HashSet<&str> = present
                .iter()
                .filter_map(|(key, _)| key.scalar_text())
                .collect();
            match present.as_slice() {
                _ if distinct.len() == 1 => {}
                [] => {
                    let problem = Problem::NoAction {
                        object: object.name,
                        keys: object.exactly_one_of,
                    };
                    report.error(problem, Some(node.span), path, self.step_id);
                }
                [_] => {}
                [_, second, ..] => {
                    let problem = Problem::ConflictingKeys {
                        object: object.name,
                        keys: {
                            let mut keys: Vec<String> = present
                                .iter()
                                .filter_map(|(key, _)| key.scalar_text().map(str::to_owned))
                                .collect();
                            keys.dedup();
                            keys
                        },
                    };
                    report.error(problem, Some(second.0.span), path, self.step_id);
                }
            }
        }
        for (key, needs) in object.depends {
            if let Some((key_node, _)) = node.entry(key)
                && has_action
                && !seen.contains(needs)
            {
                let problem = Problem::DependsOn {
                    key: (*key).to_owned(),
                    needs,
                };
                report.error(problem, Some(key_node.span), path, self.step_id);
            }
        }
        for (flag, needs) in object.flag_requires {
            if let Some((key_node, value)) = node.entry(flag)
                && value.as_bool() == Some(true)
                && !seen.contains(needs)
            {
                let problem = Problem::FlagRequires { flag, needs };
                report.error(problem, Some(key_node.span), path, self.step_id);
            }
        }
        if std::ptr::eq(object, &shape::RUNBOOK)
            && let Some((key, steps)) = node.entry("steps")
            && steps.as_sequence().is_some_and(<[Node]>::is_empty)
        {
            report.error(
                Problem::EmptySteps { key: "steps" },
                Some(key.span),
                path,
                None,
            );
        }
    }
}
