//! The sole owner of the terminal: styles, progress, the masked output path and prompts.

pub mod output;
pub mod progress;
pub mod prompt;
pub mod style;

use output::Output;
use progress::Progress;
use prompt::Prompter;
use style::Styles;

pub struct Ui {
    /// Styles for stderr, where the conversation and progress go.
    pub styles: Styles,
    pub output: Output,
    pub progress: Progress,
    pub prompter: Prompter,
    /// Whether prompts may be shown: a terminal, and not `--non-interactive`.
    pub interactive: bool,
}

impl Ui {
    pub fn message(&self, text: &str) {
        self.output.message(text);
    }
}
