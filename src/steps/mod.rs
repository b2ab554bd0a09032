//! Runners for step actions that touch the system: the shell command runner.

pub mod shell;
