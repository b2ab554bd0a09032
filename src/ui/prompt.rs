//! Reading answers from the operator. The terminal is read on a blocking thread so that
//! Ctrl-C still reaches the engine while a prompt waits; tests replace the terminal
//! with a script of answers.

use crate::process::signals::Interrupts;
use std::cell::RefCell;
use std::collections::VecDeque;
use std::io::BufRead;

pub enum Prompter {
    /// Answers come from the terminal on stdin.
    Terminal,
    /// Answers come from a script (tests).
    Script(RefCell<VecDeque<String>>),
}

/// Why no answer came.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoAnswer {
    /// End of input: the terminal went away.
    Closed,
    /// A signal arrived while waiting.
    Interrupted,
    /// The operator answered `abort`.
    Aborted,
}

impl Prompter {
    pub fn script<I: IntoIterator<Item = S>, S: Into<String>>(answers: I) -> Prompter {
        Prompter::Script(RefCell::new(answers.into_iter().map(Into::into).collect()))
    }

    /// Reads one line (without its newline). `secret` turns echo off.
    pub async fn line(&self, interrupts: &Interrupts, secret: bool) -> Result<String, NoAnswer> {
        match self {
            Prompter::Script(answers) => answers.borrow_mut().pop_front().ok_or(NoAnswer::Closed),
            Prompter::Terminal => {
                let seen = interrupts.count();
                let read =
                    tokio::task::spawn_blocking(move || -> std::io::Result<Option<String>> {
                        if secret {
                            return console::Term::stderr().read_secure_line().map(Some);
                        }
                        let mut line = String::new();
                        let read = std::io::stdin().lock().read_line(&mut line)?;
                        Ok((read > 0).then(|| line.trim_end_matches(['\n', '\r']).to_owned()))
                    });
                tokio::select! {
                    result = read => match result {
                        Ok(Ok(Some(line))) => Ok(line),
                        _ => Err(NoAnswer::Closed),
                    },
                    _ = interrupts.beyond(seen) => Err(NoAnswer::Interrupted),
                }
            }
        }
    }
}
