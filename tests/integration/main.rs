//! End-to-end tests of the real `runbook` binary, one module per feature, all driven
//! through the `Test` builder.

mod test;

mod fixtures;
mod help;
mod list;
mod lookup;
mod schema;
mod show;
mod validate;
