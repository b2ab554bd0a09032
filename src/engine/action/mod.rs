//! One file per step action, each with how it runs (and, in the engine's dry-run walk,
//! how it is described): `run` (a shell command), `manual` (instructions and inputs),
//! `include` (another runbook) and `parallel` (a group).

mod include;
mod manual;
mod parallel;
mod run;
