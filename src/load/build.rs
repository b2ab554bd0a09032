//! Builds the runbook model from a YAML tree that the structural check has already
//! reported on. It is lenient by design: a malformed value becomes "absent" here (its
//! error is already in the report), so later checks still run and every problem in the
//! file is reported in one go.

use crate::load::yaml::{Node, NodeKind};
use crate::runbook::{
    Action, Confirm, ConfirmPolicy, Duration, EnvVar, Expectation, Guard, GuardCheck, Host,
    HostRef, Kind, Located, Notify, NotifyEvent, Param, ParamType, Runbook, Step, TextStyle, Var,
};

pub fn build(root: &Node) -> Runbook {
    let text = |key: &str| root.get(key).and_then(Node::scalar_text).map(str::to_owned);
    Runbook {
        name: text("name").unwrap_or_default(),
        name_span: root.get("name").map(|node| node.span),
        title: text("title").unwrap_or_default(),
        description: text("description"),
        kind: root
            .get("kind")
            .and_then(Node::scalar_text)
            .and_then(Kind::parse)
            .unwrap_or(Kind::Maintenance),
        tags: root
            .get("tags")
            .and_then(Node::as_sequence)
            .map(|tags| {
                tags.iter()
                    .filter_map(Node::scalar_text)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default(),
        rto: duration(root.get("rto")),
        rpo: duration(root.get("rpo")),
        lock: located_key(root, "lock", ""),
        shell: text("shell").unwrap_or_else(|| "bash".to_owned()),
        hosts: hosts(root.get("hosts")),
        params: params(root.get("params"), "params"),
        vars: entries(root.get("vars"), "vars")
            .map(|(name, value)| Var { name, value })
            .collect(),
        env: env(root.get("env"), "env"),
        steps: steps(root.get("steps"), "steps"),
        on_failure: steps(root.get("on_failure"), "on_failure"),
        finally_steps: steps(root.get("finally"), "finally"),
        notify: notify(root.get("notify")),
    }
}

fn located(node: &Node, path: String) -> Option<Located> {
    if node.is_null() {
        return None;
    }
    let scalar = node.as_scalar()?;
    let style = if scalar.block {
        TextStyle::Block
    } else if scalar.quoted {
        TextStyle::Quoted
    } else {
        TextStyle::Plain
    };
    Some(Located {
        text: scalar.text.clone(),
        span: node.span,
        path,
        style,
    })
}

fn located_key(parent: &Node, key: &str, path: &str) -> Option<Located> {
    located(parent.get(key)?, format!("{path}.{key}"))
}

fn duration(node: Option<&Node>) -> Option<Duration> {
    Duration::parse(node?.scalar_text()?)
}

fn flag(node: &Node, key: &str) -> bool {
    node.get(key).and_then(Node::as_bool).unwrap_or(false)
}

/// The entries of a name → template mapping, as located texts.
fn entries<'a>(
    node: Option<&'a Node>,
    path: &'a str,
) -> impl Iterator<Item = (String, Located)> + 'a {
    node.and_then(Node::as_mapping)
        .unwrap_or_default()
        .iter()
        .filter_map(move |(key, value)| {
            let name = key.scalar_text()?.to_owned();
            let value = located(value, format!("{path}.{name}"))?;
            Some((name, value))
        })
}

fn env(node: Option<&Node>, path: &str) -> Vec<EnvVar> {
    entries(node, path)
        .map(|(name, value)| EnvVar { name, value })
        .collect()
}

pub fn params(node: Option<&Node>, path: &str) -> Vec<Param> {
    let Some(entries) = node.and_then(Node::as_mapping) else {
        return Vec::new();
    };
    entries
        .iter()
        .filter_map(|(key, spec)| {
            let name = key.scalar_text()?.to_owned();
            let text = |key: &str| spec.get(key).and_then(Node::scalar_text).map(str::to_owned);
            Some(Param {
                param_type: spec
                    .get("type")
                    .and_then(Node::scalar_text)
                    .and_then(ParamType::parse)
                    .unwrap_or_default(),
                default: spec
                    .get("default")
                    .filter(|node| !node.is_null())
                    .and_then(Node::scalar_text)
                    .map(str::to_owned),
                env: text("env"),
                secret: flag(spec, "secret"),
                choices: spec
                    .get("choices")
                    .and_then(Node::as_sequence)
                    .map(|choices| {
                        choices
                            .iter()
                            .filter_map(Node::scalar_text)
                            .map(str::to_owned)
                            .collect()
                    })
                    .unwrap_or_default(),
                pattern: text("pattern"),
                prompt: text("prompt"),
                description: text("description"),
                span: key.span,
                default_span: spec.get("default").map(|node| node.span),
                pattern_span: spec.get("pattern").map(|node| node.span),
                path: format!("{path}.{name}"),
                name,
            })
        })
        .collect()
}

fn steps(node: Option<&Node>, path: &str) -> Vec<Step> {
    node.and_then(Node::as_sequence)
        .unwrap_or_default()
        .iter()
        .enumerate()
        .filter(|(_, node)| matches!(node.kind, NodeKind::Mapping(_)))
        .map(|(index, node)| step(node, format!("{path}[{index}]")))
        .collect()
}

fn step(node: &Node, path: String) -> Step {
    let text = |key: &str| node.get(key).and_then(Node::scalar_text).map(str::to_owned);
    let action = if let Some(command) = located_key(node, "run", &path) {
        Action::Run { command }
    } else if let Some(instructions) = located_key(node, "manual", &path) {
        Action::Manual {
            instructions,
            input: params(node.get("input"), &format!("{path}.input")),
        }
    } else if let Some(runbook) = text("include") {
        Action::Include {
            runbook,
            with: entries(node.get("with"), &format!("{path}.with")).collect(),
            span: node
                .get("include")
                .map_or(node.span, |include| include.span),
        }
    } else if let Some(children) = node.get("parallel") {
        Action::Parallel(steps(Some(children), &format!("{path}.parallel")))
    } else {
        // No valid action: already reported. An empty `run` keeps later checks going.
        Action::Run {
            command: Located {
                text: String::new(),
                span: node.span,
                path: format!("{path}.run"),
                style: TextStyle::Plain,
            },
        }
    };
    Step {
        id: text("id").unwrap_or_default(),
        name: located_key(node, "name", &path),
        description: located_key(node, "description", &path),
        when: located_key(node, "when", &path),
        require: guards(node.get("require"), &format!("{path}.require")),
        confirm: node
            .get("confirm")
            .and_then(|confirm| self::confirm(confirm, format!("{path}.confirm"))),
        action,
        capture: text("capture"),
        metric: text("metric"),
        expect: node
            .get("expect")
            .and_then(Node::as_sequence)
            .unwrap_or_default()
            .iter()
            .enumerate()
            .filter_map(|(index, item)| {
                let item_path = format!("{path}.expect[{index}]");
                Some(Expectation {
                    expr: located_key(item, "expr", &item_path)?,
                    message: located_key(item, "message", &item_path),
                })
            })
            .collect(),
        timeout: duration(node.get("timeout")),
        retries: node
            .get("retries")
            .and_then(Node::as_integer)
            .map(|retries| u32::try_from(retries).unwrap_or(u32::MAX))
            .unwrap_or(0),
        retry_delay: duration(node.get("retry_delay")),
        continue_on_error: flag(node, "continue_on_error"),
        rerun_on_resume: flag(node, "rerun_on_resume"),
        destructive: flag(node, "destructive"),
        probe: flag(node, "probe"),
        interactive: flag(node, "interactive"),
        env: env(node.get("env"), &format!("{path}.env")),
        shell: text("shell"),
        workdir: located_key(node, "workdir", &path),
        host: host_ref(node, &path),
        span: node.span,
        path,
    }
}

fn host_ref(node: &Node, path: &str) -> Option<HostRef> {
    let value = node.get("host")?;
    Some(HostRef {
        name: value.scalar_text()?.to_owned(),
        span: value.span,
        path: format!("{path}.host"),
    })
}

fn hosts(node: Option<&Node>) -> Vec<Host> {
    node.and_then(Node::as_mapping)
        .unwrap_or_default()
        .iter()
        .filter_map(|(key, spec)| {
            let name = key.scalar_text()?.to_owned();
            let path = format!("hosts.{name}");
            let ssh = spec.get("ssh")?;
            let (destinations, group) = match ssh.as_sequence() {
                Some(members) => (
                    members
                        .iter()
                        .enumerate()
                        .filter_map(|(index, member)| {
                            located(member, format!("{path}.ssh[{index}]"))
                        })
                        .collect(),
                    true,
                ),
                None => (
                    located(ssh, format!("{path}.ssh")).into_iter().collect(),
                    false,
                ),
            };
            let count = |key: &str| {
                spec.get(key)
                    .and_then(Node::as_integer)
                    .and_then(|count| u64::try_from(count).ok())
            };
            Some(Host {
                destinations,
                group,
                port: count("port"),
                max_parallel: count("max_parallel"),
                forward_agent: flag(spec, "forward_agent"),
                span: key.span,
                path,
                name,
            })
        })
        .collect()
}

fn guards(node: Option<&Node>, path: &str) -> Vec<Guard> {
    node.and_then(Node::as_sequence)
        .unwrap_or_default()
        .iter()
        .enumerate()
        .filter_map(|(index, item)| {
            let item_path = format!("{path}[{index}]");
            let check = if let Some(command) = located_key(item, "command", &item_path) {
                GuardCheck::Command(command)
            } else {
                GuardCheck::Expr(located_key(item, "expr", &item_path)?)
            };
            Some(Guard {
                check,
                message: located_key(item, "message", &item_path),
                host: host_ref(item, &item_path),
            })
        })
        .collect()
}

fn confirm(node: &Node, path: String) -> Option<Confirm> {
    if node.as_mapping().is_none() {
        return Some(Confirm {
            message: located(node, path)?,
            typed: None,
            auto: ConfirmPolicy::Allow,
        });
    }
    Some(Confirm {
        message: located_key(node, "message", &path)?,
        typed: located_key(node, "type", &path),
        auto: match node.get("auto").and_then(Node::scalar_text) {
            Some("deny") => ConfirmPolicy::Deny,
            _ => ConfirmPolicy::Allow,
        },
    })
}

fn notify(node: Option<&Node>) -> Vec<Notify> {
    node.and_then(Node::as_sequence)
        .unwrap_or_default()
        .iter()
        .enumerate()
        .filter_map(|(index, item)| {
            let path = format!("notify[{index}]");
            let on: Vec<NotifyEvent> = item
                .get("on")
                .and_then(Node::as_sequence)
                .unwrap_or_default()
                .iter()
                .filter_map(|event| event.scalar_text().and_then(NotifyEvent::parse))
                .collect();
            Some(Notify {
                on: if on.is_empty() {
                    vec![NotifyEvent::Always]
                } else {
                    on
                },
                when: located_key(item, "when", &path),
                run: located_key(item, "run", &path)?,
                host: host_ref(item, &path),
            })
        })
        .collect()
}
