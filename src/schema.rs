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
    if !object.flag_requires.is_empty() {
        let rules: Vec<Value> = object
            .flag_requires
            .iter()
            .map(|(flag, needs)| {
                json!({
                    "if": { "properties": { *flag: { "const": true } }, "required": [flag] },
                    "then": { "required": [needs] }
                })
            })
            .collect();
        schema.insert("allOf".into(), Value::Array(rules));
    }
    Value::Object(schema)
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
            "pattern": "^([0-9]+d)?([0-9]+h)?([0-9]+m)?([0-9]+s)?([0-9]+ms)?$",
            "minLength": 2,
            "patternErrorMessage": "a duration such as 500ms, 30s, 10m, 4h or 1h30m",
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
