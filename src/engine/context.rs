//! The values templates see during a run: params, vars, captures and inputs by name,
//! `env`, `run`, `runbook` and `steps`. In a dry-run, values that only exist at run time
//! are `Unknown` placeholders that render as `<capture of count-users>`.

use minijinja::value::Value;
use std::collections::{BTreeMap, HashSet};

pub use crate::template::{Unknown, placeholder_rendered, reset_placeholder_flag};

#[derive(Clone, Debug, Default)]
pub struct Context {
    /// Params, vars, captures and inputs, by name.
    pub values: BTreeMap<String, Value>,
    pub steps: BTreeMap<String, Value>,
    pub run: BTreeMap<String, Value>,
    pub runbook: BTreeMap<String, Value>,
    pub env: BTreeMap<String, String>,
    /// Names whose values are placeholders (dry-run), for "depends on: …".
    pub unknown: HashSet<String>,
}

impl Context {
    pub fn set(&mut self, name: &str, value: Value) {
        self.unknown.remove(name);
        self.values.insert(name.to_owned(), value);
    }

    pub fn set_unknown(&mut self, name: &str, label: String) {
        self.values.insert(name.to_owned(), Unknown::value(label));
        self.unknown.insert(name.to_owned());
    }

    /// Records a finished step under its id, and under the id with `-` → `_` so that
    /// `steps.count_users` reaches step `count-users`.
    pub fn set_step(&mut self, id: &str, value: Value) {
        let alias = id.replace('-', "_");
        if alias != id {
            self.steps.insert(alias, value.clone());
        }
        self.steps.insert(id.to_owned(), value);
    }

    pub fn to_value(&self) -> Value {
        // A map Value, not `Value::from_iter` of pairs (which would make a list).
        let mut values: BTreeMap<String, Value> = self.values.clone();
        values.insert("steps".into(), Value::from(self.steps.clone()));
        values.insert("run".into(), Value::from(self.run.clone()));
        values.insert("runbook".into(), Value::from(self.runbook.clone()));
        values.insert("env".into(), Value::from(self.env.clone()));
        Value::from(values)
    }

    /// Which of `names` (as reported by `undeclared_variables`) are placeholders now.
    pub fn unknown_among<'a>(&self, names: impl IntoIterator<Item = &'a String>) -> Vec<String> {
        let mut unknown: Vec<String> = names
            .into_iter()
            .filter(|name| {
                let root = name.split('.').next().unwrap_or(name);
                self.unknown.contains(root) || self.unknown.contains(name.as_str())
            })
            .cloned()
            .collect();
        unknown.sort();
        unknown.dedup();
        unknown
    }
}
