//! The sole owner of the terminal: styles, progress, the masked output path and prompts.

pub mod output;
pub mod progress;
pub mod prompt;
pub mod style;
pub mod summary;

use crate::cli::OutputFormat;
use crate::process::signals::Interrupts;
use crate::runbook::Param;
use crate::settings::{ProgressStyle, RunSettings, Settings};
use output::Output;
use progress::Progress;
use prompt::NoAnswer;
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
    /// Time spent waiting for the operator's answers so far, so step durations can
    /// leave it out.
    waited: std::cell::Cell<std::time::Duration>,
}

impl Ui {
    /// The terminal of a run, set up as its settings say.
    pub fn for_run(settings: &Settings, run: &RunSettings) -> Ui {
        let progress = match run.progress {
            ProgressStyle::Quiet => Progress::Quiet,
            ProgressStyle::Plain => Progress::Plain,
            ProgressStyle::Bars => Progress::Bars(progress::Spinners::on_stderr()),
        };
        let output = Output::new(
            Box::new(std::io::BufWriter::with_capacity(
                64 * 1024,
                std::io::stdout(),
            )),
            Box::new(std::io::stderr()),
            progress.bars(),
            run.stdout_is_terminal,
        );
        if run.format == OutputFormat::Json {
            output.keep_stdout_for_results();
        }
        Ui::new(
            settings.stderr_styles.clone(),
            output,
            progress,
            Prompter::Terminal,
            run.interactive,
        )
    }

    pub fn new(
        styles: Styles,
        output: Output,
        progress: Progress,
        prompter: Prompter,
        interactive: bool,
    ) -> Ui {
        Ui {
            styles,
            output,
            progress,
            prompter,
            interactive,
            waited: std::cell::Cell::new(std::time::Duration::ZERO),
        }
    }

    /// How long the run has waited for answers so far.
    pub fn waited(&self) -> std::time::Duration {
        self.waited.get()
    }

    pub fn message(&self, text: &str) {
        self.output.message(text);
    }

    /// Asks a question and reads the answer. Spinners are hidden meanwhile: their ticks
    /// would redraw the line and erase the question while it waits.
    pub async fn ask(
        &self,
        question: &str,
        interrupts: &Interrupts,
        secret: bool,
    ) -> Result<String, NoAnswer> {
        if let Progress::Bars(spinners) = &self.progress {
            spinners.hide();
        }
        self.output.message(question);
        let asked = std::time::Instant::now();
        let answer = self.prompter.line(interrupts, secret).await;
        self.waited.set(self.waited.get() + asked.elapsed());
        if let Progress::Bars(spinners) = &self.progress {
            spinners.show();
        }
        answer
    }
}

/// Asks for a parameter or input value until it is valid.
pub async fn ask_param(
    ui: &Ui,
    interrupts: &Interrupts,
    param: &Param,
) -> Result<(String, crate::runbook::param::TypedValue), NoAnswer> {
    loop {
        let question = param
            .prompt
            .clone()
            .or_else(|| param.description.clone())
            .unwrap_or_else(|| param.name.clone());
        let default = param
            .default
            .as_ref()
            .filter(|_| !param.secret)
            .map(|default| format!(" [{default}]"))
            .unwrap_or_default();
        let text = format!("  {} ({}){default}: ", question, param.expectation());
        let answer = ui.ask(&text, interrupts, param.secret).await?;
        // `abort` stops the run at every prompt (a value `abort` itself goes with -p).
        if answer.trim() == "abort" {
            return Err(NoAnswer::Aborted);
        }
        let answer = match (&param.default, answer.is_empty()) {
            (Some(default), true) => default.clone(),
            _ => answer,
        };
        match param.check(&answer) {
            Ok(typed) => return Ok((answer, typed)),
            Err(error) => {
                let shown = if param.secret {
                    crate::mask::MASK.to_owned()
                } else {
                    answer
                };
                ui.message(&format!(
                    "  {}: `{shown}` {error}; try again\n",
                    ui.styles.error.apply_to("invalid")
                ));
            }
        }
    }
}
