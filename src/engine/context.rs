//! The values templates see during a run: params, vars, captures and inputs by name,
//! `env`, `run`, `runbook` and `steps`. In a dry-run, values that only exist at run time
//! are `Unknown` placeholders that render as `<capture of count-users>`.

use crate::audit::event::StepStatus;
use minijinja::value::{Enumerator, Object, Value};
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

pub use crate::template::{Unknown, placeholder_rendered, reset_placeholder_flag};

/// A name → value map shared with the template engine without copying: rendering takes
/// a reference-counted view, and the next change copies only if a view is still alive.
pub type Shared<T> = Arc<BTreeMap<String, T>>;

#[derive(Clone, Debug, Default)]
pub struct Context {
    /// Params, vars, captures and inputs, by name.
    pub values: Shared<Value>,
    pub steps: Shared<Value>,
    pub run: Shared<Value>,
    pub runbook: Shared<Value>,
    pub env: Shared<String>,
    /// Names whose values are placeholders (dry-run), for "depends on: …".
    pub unknown: HashSet<String>,
    /// Names whose values are secret: secret params and inputs, values derived from
    /// them (vars, `with:` values), and `env.NAME` of a secret exported as `NAME`.
    pub secrets: HashSet<String>,
}

impl Context {
    /// Whether a name a template reads (`pw`, `env.PGPASSWORD`, `dsn.host`) holds a
    /// secret.
    pub fn is_secret(&self, name: &str) -> bool {
        if self.secrets.contains(name) {
            return true;
        }
        let mut parts = name.split('.');
        let root = parts.next().unwrap_or(name);
        match (root, parts.next()) {
            ("env", Some(variable)) => self.secrets.contains(&format!("env.{variable}")),
            _ => self.secrets.contains(root),
        }
    }

    pub fn set(&mut self, name: &str, value: Value) {
        self.unknown.remove(name);
        Arc::make_mut(&mut self.values).insert(name.to_owned(), value);
    }

    pub fn set_unknown(&mut self, name: &str, label: String) {
        Arc::make_mut(&mut self.values).insert(name.to_owned(), Unknown::value(label));
        self.unknown.insert(name.to_owned());
    }

    pub fn set_run(&mut self, name: &str, value: Value) {
        Arc::make_mut(&mut self.run).insert(name.to_owned(), value);
    }

    /// `run.NAME` as a placeholder (a dry-run does not know the outcome).
    pub fn set_unknown_run(&mut self, name: &str) {
        self.set_run(name, Unknown::value(format!("run.{name}")));
        self.unknown.insert(format!("run.{name}"));
    }

    pub fn set_runbook(&mut self, name: &str, value: Value) {
        Arc::make_mut(&mut self.runbook).insert(name.to_owned(), value);
    }

    pub fn set_env(&mut self, name: &str, value: String) {
        Arc::make_mut(&mut self.env).insert(name.to_owned(), value);
    }

    /// `steps.ID` of a step: its status, exit code, attempts and duration. The one
    /// place that builds it, for steps that ran, were skipped, never ran or were done in
    /// the run being resumed.
    pub fn set_step_result(
        &mut self,
        id: &str,
        status: StepStatus,
        exit_code: Option<i32>,
        attempts: u32,
        duration: f64,
    ) {
        let value = Value::from(BTreeMap::from([
            ("status", Value::from(status.key())),
            ("exit_code", exit_code.map_or(Value::from(()), Value::from)),
            ("attempts", Value::from(attempts)),
            ("duration", Value::from(duration)),
        ]));
        self.set_step(id, value);
    }

    /// Records a finished step under its id, and under the id with `-` → `_` so that
    /// `steps.count_users` reaches step `count-users`.
    fn set_step(&mut self, id: &str, value: Value) {
        let steps = Arc::make_mut(&mut self.steps);
        let alias = id.replace('-', "_");
        if alias != id {
            steps.insert(alias, value.clone());
        }
        steps.insert(id.to_owned(), value);
    }

    /// The context as templates see it. Constant cost however long the run: the maps
    /// are shared, not copied (a run of 1000 steps would otherwise copy `steps` 1000
    /// times).
    pub fn to_value(&self) -> Value {
        Value::from_object(View(self.clone()))
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

/// The top-level template namespace over a context.
#[derive(Debug)]
struct View(Context);

impl Object for View {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let context = &self.0;
        match key.as_str()? {
            // In a dry-run a step that has not been described yet still has a result
            // to show: a placeholder, not an undefined value.
            "steps" if context.unknown.contains("steps") => {
                Some(Value::from_object(PlannedSteps(context.steps.clone())))
            }
            "steps" => Some(Value::from_dyn_object(context.steps.clone())),
            "run" => Some(Value::from_dyn_object(context.run.clone())),
            "runbook" => Some(Value::from_dyn_object(context.runbook.clone())),
            "env" => Some(Value::from_dyn_object(context.env.clone())),
            name => context.values.get(name).cloned(),
        }
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        let mut keys: Vec<Value> = self
            .0
            .values
            .keys()
            .map(|key| Value::from(key.as_str()))
            .collect();
        keys.extend(["steps", "run", "runbook", "env"].map(Value::from));
        Enumerator::Values(keys)
    }
}

/// `steps` during a dry-run: the results known so far, and a placeholder for any other
/// step (`<steps.restore.status>`).
#[derive(Debug)]
struct PlannedSteps(Shared<Value>);

impl Object for PlannedSteps {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let name = key.as_str()?;
        Some(
            self.0
                .get(name)
                .cloned()
                .unwrap_or_else(|| Unknown::value(format!("steps.{name}"))),
        )
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Values(self.0.keys().map(|key| Value::from(key.as_str())).collect())
    }
}
