//! End-to-end tests of the real `runbook` binary, one module per feature, all driven
//! through the `Test` builder.

mod servers;
mod test;

mod audit;
mod demo;
mod deploy;
mod dry_run;
mod e2e;
mod faults;
mod fixtures;
mod help;
mod identity;
mod includes;
mod injection;
mod list;
mod locks;
mod lookup;
mod metrics;
mod readme;
mod remote;
mod replay;
mod repository;
mod run;
mod schema;
mod sealing;
mod secrets;
mod show;
mod signals;
mod terminal;
mod validate;
