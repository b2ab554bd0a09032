//! The exit-code table (docs/running.md, "Exit codes"), in one place. Every way the
//! process can end maps to one of these, so scripts and cron can rely on the numbers.

use std::process::ExitCode;

/// How a command ended, as the shell sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// Success, also a clean dry-run or validation.
    Success,
    /// A step, guard, expectation or timeout failed.
    Failure,
    /// Invalid runbook, parameters or usage: nothing was executed.
    Invalid,
    /// A confirmation was declined or could not be asked; operator abort.
    Declined,
    /// The runbook's lock is held by another run.
    Locked,
    /// Interrupted by SIGINT.
    Interrupted,
    /// Terminated by SIGTERM.
    Terminated,
    /// The terminal or SSH session hung up (SIGHUP).
    HangUp,
}

impl Exit {
    pub fn code(self) -> u8 {
        match self {
            Exit::Success => 0,
            Exit::Failure => 1,
            Exit::Invalid => 2,
            Exit::Declined => 3,
            Exit::Locked => 4,
            Exit::Interrupted => 130,
            Exit::Terminated => 143,
            Exit::HangUp => 129,
        }
    }
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> ExitCode {
        ExitCode::from(exit.code())
    }
}

#[cfg(test)]
mod tests {
    use super::Exit;

    #[test]
    fn codes_match_the_spec_table() {
        let table = [
            (Exit::Success, 0),
            (Exit::Failure, 1),
            (Exit::Invalid, 2),
            (Exit::Declined, 3),
            (Exit::Locked, 4),
            (Exit::Interrupted, 130),
            (Exit::Terminated, 143),
            (Exit::HangUp, 129),
        ];
        for (exit, code) in table {
            assert_eq!(exit.code(), code, "{exit:?}");
        }
    }
}
