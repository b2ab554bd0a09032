//! The JSON Schema of the runbook format, generated from the same tables the checker
//! uses (`runbook::shape`), so editor hints and `validate` agree. The committed
//! `schemas/runbook.schema.json` must equal this output byte for byte (a test guards it).

use crate::runbook::shape::{self, Object, Type};
use serde_json::{Map, Value, json};

pub fn schema() -> Value {
    let mut definitions = Map::new();
    for object in shape::OBJECTS {
        definitions.insert(definition_name(object), object_schema(object));
    }
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "urn:runbook:schema:runbook:1",
        "title": "runbook",
        "description": "A declarative runbook executed by the `runbook` tool. Reference: docs/runbook-format.md.",
        "$ref": "#/$defs/runbook",
        "$defs": definitions,
    })
}

/// Writes `runbook.schema.json` into `dir` (created if missing); returns its path.
pub fn write_into(dir: &std::path::Path) -> std::io::Result<std::path::PathBuf> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join("runbook.schema.json");
    std::fs::write(&path, schema_json())?;
    Ok(path)
}

/// The schema as committed: pretty-printed with a final newline.
pub fn schema_json() -> String {
    let mut text = serde_json::to_string_pretty(&schema()).unwrap_or_default();
    text.push('\n');
    text
}

fn definition_name(object: &Object) -> String {
    object
        .name
        .split(' ')
        .next()
        .unwrap_or(object.name)
        .to_owned()
}

fn object_schema(object: &Object) -> Value {
    let mut properties = Map::new();
    for field in object.fields {
        let mut property = type_schema(field.value);
        if let Value::Object(map) = &mut property {
            map.insert("description".into(), Value::from(field.doc));
            // yaml-language-server renders this one as markdown (the docs use `code`).
            map.insert("markdownDescription".into(), Value::from(field.doc));
            // A non-empty procedure: `steps: []` is refused by `validate` too.
            if field.key == "steps" {
                map.insert("minItems".into(), json!(1));
            }
            // A param's `pattern` is a regular expression.
            if field.key == "pattern" {
                map.insert("format".into(), json!("regex"));
            }
        }
        properties.insert(field.key.into(), property);
    }
    let required: Vec<&str> = object
        .fields
        .iter()
        .filter(|field| field.required)
        .map(|field| field.key)
        .collect();
    let mut schema = Map::new();
    schema.insert("type".into(), json!("object"));
    schema.insert("description".into(), json!(object.doc));
    schema.insert("markdownDescription".into(), json!(object.doc));
    schema.insert("additionalProperties".into(), json!(false));
    if !required.is_empty() {
        schema.insert("required".into(), json!(required));
    }
    schema.insert("properties".into(), Value::Object(properties));
    if !object.exactly_one_of.is_empty() {
        let alternatives: Vec<Value> = object
            .exactly_one_of
            .iter()
            .map(|key| json!({ "required": [key] }))
            .collect();
        schema.insert("oneOf".into(), Value::Array(alternatives));
    }
    if !object.depends.is_empty() {
        let mut dependent = Map::new();
        for (key, needs) in object.depends {
            dependent.insert((*key).into(), json!([needs]));
        }
        schema.insert("dependentRequired".into(), Value::Object(dependent));
    }
    let mut rules: Vec<Value> = object
        .flag_requires
        .iter()
        .map(|(flag, needs)| {
            json!({
                "if": { "properties": { *flag: { "const": true } }, "required": [flag] },
                "then": { "required": [needs] }
            })
        })
        .collect();
    if std::ptr::eq(object, &shape::PARAM) {
        rules.extend(default_rules());
    }
    if !rules.is_empty() {
        schema.insert("allOf".into(), Value::Array(rules));
    }
    if let Some(snippets) = snippets(&definition_name(object)) {
        schema.insert("defaultSnippets".into(), snippets);
    }
    Value::Object(schema)
}

/// A duration as `runbook::Duration` reads it (`1h30m`), and what to say when one is not.
const DURATION: &str = "([0-9]+d)?([0-9]+h)?([0-9]+m)?([0-9]+s)?([0-9]+ms)?";
const DURATION_MESSAGE: &str = "a duration such as 500ms, 30s, 10m, 4h or 1h30m";

/// A param's `default` checked against its `type`, as `validate` checks it
/// (`runbook::param::check`): the editor flags `default: four` on an integer while it is
/// typed. Strings are accepted where the checker parses them (`default: "4"`).
fn default_rules() -> Vec<Value> {
    let spaced = |core: &str| format!("^\\s*{core}\\s*$");
    let rule = |kind: &str, default: Value| {
        json!({
            "if": { "properties": { "type": { "const": kind } }, "required": ["type"] },
            "then": { "properties": { "default": default } }
        })
    };
    // The checker lowercases: `True`, `YES` and `no` are booleans too.
    let any_case = |word: &str| -> String {
        word.chars()
            .map(|c| {
                if c.is_ascii_alphabetic() {
                    format!("[{}{}]", c.to_ascii_lowercase(), c.to_ascii_uppercase())
                } else {
                    c.to_string()
                }
            })
            .collect()
    };
    let booleans: Vec<String> = ["true", "false", "yes", "no", "1", "0"]
        .iter()
        .map(|word| any_case(word))
        .collect();
    vec![
        rule(
            "integer",
            json!({
                "anyOf": [
                    { "type": "integer" },
                    { "type": "string", "pattern": spaced("[+-]?[0-9]+") }
                ],
                "errorMessage": "an integer such as 5432"
            }),
        ),
        rule(
            "number",
            json!({
                "anyOf": [
                    { "type": "number" },
                    { "type": "string", "pattern": spaced("[+-]?([0-9]+\\.?[0-9]*|\\.[0-9]+)([eE][+-]?[0-9]+)?") }
                ],
                "errorMessage": "a number such as 0.5"
            }),
        ),
        rule(
            "boolean",
            json!({
                "anyOf": [
                    { "type": "boolean" },
                    { "enum": [0, 1] },
                    { "type": "string", "pattern": spaced(&format!("({})", booleans.join("|"))) }
                ],
                "errorMessage": "true or false (also yes/no, 1/0)"
            }),
        ),
        rule(
            "path",
            json!({ "type": "string", "minLength": 1, "errorMessage": "a non-empty path" }),
        ),
        rule(
            "duration",
            json!({
                "type": "string",
                "pattern": spaced(DURATION),
                "minLength": 2,
                "patternErrorMessage": DURATION_MESSAGE
            }),
        ),
        rule(
            "datetime",
            json!({
                "type": "string",
                "pattern": spaced("[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]+)?([Zz]|[+-][0-9]{2}(:?[0-9]{2})?)"),
                "patternErrorMessage": "a date and time with its UTC offset, such as 2025-01-15T14:30:00Z or 2025-01-15 09:30:00-05:00"
            }),
        ),
    ]
}

/// yaml-language-server's `defaultSnippets`: what an editor offers to insert, with
/// tab stops. Each body validates against its definition once the tab stops hold their
/// default text (tests/integration/schema.rs checks).
fn snippets(definition: &str) -> Option<Value> {
    let snippets = match definition {
        "runbook" => json!([{
            "label": "runbook",
            "description": "A runbook with a param, a guarded step and clean-up",
            "body": {
                "name": "${1:my-runbook}",
                "title": "${2:What this procedure does}",
                "kind": "${3:maintenance}",
                "params": { "${4:target}": { "type": "string", "description": "${5:What it is for}" } },
                "steps": [{ "id": "${6:first-step}", "run": "${7:echo hello}" }]
            }
        }]),
        "step" => json!([
            {
                "label": "run a command",
                "body": { "id": "${1:step-id}", "name": "${2:What it does}", "run": "${3:echo hello}" }
            },
            {
                "label": "destructive step with a typed confirmation",
                "description": "The operator types the text to go on; unattended runs need --approve",
                "body": {
                    "id": "${1:drop-old}",
                    "destructive": true,
                    "confirm": { "message": "${2:Drop the old copy?}", "type": "${3:old-copy}" },
                    "run": "${4:echo dropping}"
                }
            },
            {
                "label": "capture output and check it",
                "body": {
                    "id": "${1:count}",
                    "run": "${2:echo 42}",
                    "capture": "${3:count}",
                    "expect": [{ "expr": "${4:count | int > 0}", "message": "${5:nothing was counted}" }]
                }
            },
            {
                "label": "manual step with an input",
                "body": {
                    "id": "${1:check-dashboard}",
                    "manual": "${2:Look at the dashboard and note the error rate.}",
                    "input": { "${3:error_rate}": { "type": "number", "description": "${4:Errors per second}" } }
                }
            },
            {
                "label": "include another runbook",
                "body": { "id": "${1:verify}", "include": "${2:verify-restore}", "with": { "${3:db_name}": "${4:chatcard}" } }
            },
            {
                "label": "parallel group",
                "body": {
                    "id": "${1:both}",
                    "parallel": [
                        { "id": "${2:first}", "run": "${3:echo one}" },
                        { "id": "${4:second}", "run": "${5:echo two}" }
                    ]
                }
            }
        ]),
        "param" => json!([
            { "label": "string", "body": { "type": "string", "description": "${1:What it is for}" } },
            { "label": "integer with a default", "body": { "type": "integer", "default": 5432 } },
            { "label": "one of a few values", "body": { "type": "string", "choices": ["${1:rdb}", "${2:aof}"], "default": "${1:rdb}" } },
            { "label": "secret from the environment", "body": { "type": "string", "secret": true, "env": "${1:DATABASE_URL}" } },
            { "label": "date and time (with its UTC offset)", "body": { "type": "datetime", "description": "${1:e.g. 2025-01-15T14:30:00Z}" } }
        ]),
        "host" => json!([
            { "label": "one host", "body": { "ssh": "${1:postgres@db1}" } },
            { "label": "a group, two at a time", "body": { "ssh": ["${1:deploy@app1}", "${2:deploy@app2}"], "max_parallel": 2 } }
        ]),
        "guard" => json!([
            { "label": "a command must succeed", "body": { "command": "${1:pg_isready}", "message": "${2:the server is down}" } },
            { "label": "an expression must hold", "body": { "expr": "${1:target != ''}", "message": "${2:give -p target=...}" } }
        ]),
        "notify" => json!([{
            "label": "tell a chat when it fails",
            "body": { "on": ["failure"], "run": "${1:curl -fsS -d @- https://hooks.example.com/runbook}" }
        }]),
        _ => return None,
    };
    Some(snippets)
}

fn type_schema(value_type: &Type) -> Value {
    match value_type {
        Type::Text | Type::Template | Type::Expression | Type::Scalar => {
            json!({ "type": ["string", "number", "boolean"] })
        }
        Type::Boolean => json!({ "type": "boolean" }),
        Type::Count => json!({ "type": "integer", "minimum": 0 }),
        Type::Duration => json!({
            "type": "string",
            "pattern": format!("^{DURATION}$"),
            "minLength": 2,
            "patternErrorMessage": DURATION_MESSAGE,
            "examples": ["30s", "10m", "4h"]
        }),
        Type::Name(rule) => json!({
            "type": "string",
            "pattern": rule.pattern(),
            "patternErrorMessage": rule.describe()
        }),
        Type::Choice(choices) => json!({ "enum": choices }),
        Type::List(item) => json!({ "type": "array", "items": type_schema(item) }),
        Type::Map(rule, item) => json!({
            "type": "object",
            "propertyNames": { "pattern": rule.pattern() },
            "additionalProperties": type_schema(item)
        }),
        Type::Object(object) => json!({ "$ref": format!("#/$defs/{}", definition_name(object)) }),
        Type::Either(alternatives) => {
            json!({ "anyOf": alternatives.iter().map(type_schema).collect::<Vec<_>>() })
        }
    }
}
