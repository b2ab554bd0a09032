//! The `runbook` binary: everything lives in the library; this only turns its result into
//! the process exit code.

fn main() -> std::process::ExitCode {
    runbook::main()
}
