//! Step progress. On a terminal: one indicatif spinner per running step (`[3/9] name`,
//! elapsed time, the RTO budget left), replaced by a permanent status line when the step
//! ends. Elsewhere: plain `==> [3/9] id (name)` / `<== ok 1.2s` lines, nothing redrawn.

use crate::engine::event::StepStatus;
use crate::ui::style::Styles;
use indicatif::{MultiProgress, ProgressBar, ProgressState, ProgressStyle};
use std::cell::RefCell;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

pub enum Progress {
    Plain,
    Bars(Spinners),
    Quiet,
}

/// The spinners of a run and the switch of the terminal they are drawn on.
pub struct Spinners {
    multi: MultiProgress,
    /// Set to stop the current target from touching the terminal.
    paused: RefCell<Arc<AtomicBool>>,
}

impl Spinners {
    pub fn on_stderr() -> Spinners {
        let paused = Arc::new(AtomicBool::new(false));
        Spinners {
            multi: MultiProgress::with_draw_target(draw_target(paused.clone())),
            paused: RefCell::new(paused),
        }
    }

    /// Erases the spinners and keeps them off the terminal until [`Spinners::show`]:
    /// a tick would redraw over a question while it waits. The erase and the switch
    /// happen under indicatif's one lock (inside `suspend`), so no ticker can draw a
    /// frame between them that nothing would erase.
    pub fn hide(&self) {
        let paused = self.paused.borrow().clone();
        self.multi.suspend(|| paused.store(true, Ordering::SeqCst));
    }

    /// Draws the spinners again from the current line, on a fresh target: the paused
    /// one still counts the lines it pretended to draw, and would erase real ones.
    pub fn show(&self) {
        let paused = Arc::new(AtomicBool::new(false));
        self.multi.set_draw_target(draw_target(paused.clone()));
        *self.paused.borrow_mut() = paused;
    }
}

/// A step being shown as running.
pub struct StepLine {
    bar: Option<ProgressBar>,
    label: String,
    nested: bool,
    started: Instant,
}

/// The run's RTO budget, for the live countdown.
#[derive(Clone, Copy)]
pub struct Budget {
    pub started: Instant,
    pub rto: Duration,
}

impl Budget {
    pub fn left(&self) -> String {
        let used = self.started.elapsed();
        if used > self.rto {
            format!("RTO exceeded by {}", short(used - self.rto))
        } else {
            format!("RTO {} left", short(self.rto - used))
        }
    }
}

pub fn short(duration: Duration) -> String {
    let seconds = duration.as_secs_f64();
    if seconds < 60.0 {
        format!("{seconds:.1}s")
    } else {
        crate::runbook::Duration::from_secs(duration.as_secs()).to_string()
    }
}

/// The spinners' stderr, two columns narrower than the terminal. indicatif pads each
/// line to the full width and leaves the cursor at the right edge; the `^C` a terminal
/// echoes there wraps to a new line, the clear that follows erases only that line, and
/// the frame above it stays on screen for good. With two columns to spare, the echo
/// lands on the spinner's own line and is cleared with it.
/// While its switch is set it writes nothing: see [`Spinners::hide`].
#[derive(Debug)]
struct Margin {
    term: console::Term,
    paused: Arc<AtomicBool>,
}

impl Margin {
    fn drawing(&self) -> bool {
        !self.paused.load(Ordering::SeqCst)
    }
}

/// Columns left free at the right of a spinner line: the width of an echoed `^C`.
const MARGIN: u16 = 2;

impl indicatif::TermLike for Margin {
    fn width(&self) -> u16 {
        self.term.size().1.saturating_sub(MARGIN).max(1)
    }

    fn height(&self) -> u16 {
        self.term.size().0
    }

    fn move_cursor_up(&self, n: usize) -> std::io::Result<()> {
        if self.drawing() {
            self.term.move_cursor_up(n)?;
        }
        Ok(())
    }

    fn move_cursor_down(&self, n: usize) -> std::io::Result<()> {
        if self.drawing() {
            self.term.move_cursor_down(n)?;
        }
        Ok(())
    }

    fn move_cursor_right(&self, n: usize) -> std::io::Result<()> {
        if self.drawing() {
            self.term.move_cursor_right(n)?;
        }
        Ok(())
    }

    fn move_cursor_left(&self, n: usize) -> std::io::Result<()> {
        if self.drawing() {
            self.term.move_cursor_left(n)?;
        }
        Ok(())
    }

    fn write_line(&self, s: &str) -> std::io::Result<()> {
        if self.drawing() {
            self.term.write_line(s)?;
        }
        Ok(())
    }

    fn write_str(&self, s: &str) -> std::io::Result<()> {
        if self.drawing() {
            self.term.write_str(s)?;
        }
        Ok(())
    }

    fn clear_line(&self) -> std::io::Result<()> {
        if self.drawing() {
            self.term.clear_line()?;
        }
        Ok(())
    }

    fn flush(&self) -> std::io::Result<()> {
        if self.drawing() {
            self.term.flush()?;
        }
        Ok(())
    }
}

/// Where the spinners are drawn: stderr, ten frames a second, with a margin.
fn draw_target(paused: Arc<AtomicBool>) -> indicatif::ProgressDrawTarget {
    let margin = Margin {
        term: console::Term::stderr(),
        paused,
    };
    indicatif::ProgressDrawTarget::term_like_with_hz(Box::new(margin), 10)
}

impl Progress {
    pub fn bars(&self) -> Option<MultiProgress> {
        match self {
            Progress::Bars(spinners) => Some(spinners.multi.clone()),
            _ => None,
        }
    }

    /// Shows a step as started. `counter` is `3/9`; `nested` marks steps inside a
    /// parallel group or an include.
    pub fn start(
        &self,
        counter: &str,
        id: &str,
        name: &str,
        nested: bool,
        budget: Option<Budget>,
        styles: &Styles,
    ) -> (StepLine, Option<String>) {
        let label = if name == id {
            format!("[{counter}] {id}")
        } else {
            format!("[{counter}] {id} ({name})")
        };
        match self {
            Progress::Bars(spinners) => {
                let bar = spinners.multi.add(ProgressBar::new_spinner());
                let style =
                    ProgressStyle::with_template("{spinner:.cyan} {msg} {elapsed:.dim} {rto:.dim}")
                        .unwrap_or_else(|_| ProgressStyle::default_spinner())
                        .with_key(
                            "rto",
                            move |_: &ProgressState, out: &mut dyn std::fmt::Write| {
                                if let Some(budget) = budget {
                                    let _ = write!(out, "· {}", budget.left());
                                }
                            },
                        );
                bar.set_style(style);
                bar.set_message(label.clone());
                bar.enable_steady_tick(Duration::from_millis(120));
                (
                    StepLine {
                        bar: Some(bar),
                        label,
                        nested,
                        started: Instant::now(),
                    },
                    None,
                )
            }
            Progress::Plain => {
                let line = format!("{} {label}\n", styles.step.apply_to("==>"));
                (
                    StepLine {
                        bar: None,
                        label,
                        nested,
                        started: Instant::now(),
                    },
                    Some(line),
                )
            }
            Progress::Quiet => (
                StepLine {
                    bar: None,
                    label,
                    nested,
                    started: Instant::now(),
                },
                None,
            ),
        }
    }

    /// Ends a step's line; returns the text to print (through the output path).
    pub fn finish(
        &self,
        line: StepLine,
        status: StepStatus,
        detail: Option<&str>,
        styles: &Styles,
    ) -> Option<String> {
        let elapsed = short(line.started.elapsed());
        let status_text = match status {
            StepStatus::Ok => styles.ok.apply_to(status.as_str()).to_string(),
            StepStatus::Skipped => styles.dim.apply_to(status.as_str()).to_string(),
            StepStatus::Failed
            | StepStatus::Declined
            | StepStatus::Interrupted
            | StepStatus::NotRun => styles.error.apply_to(status.as_str()).to_string(),
        };
        let detail = detail
            .map(|detail| format!(": {detail}"))
            .unwrap_or_default();
        match self {
            Progress::Bars(_) => {
                if let Some(bar) = line.bar {
                    bar.finish_and_clear();
                }
                let mark = match status {
                    StepStatus::Ok => styles.ok.apply_to("✓"),
                    StepStatus::Skipped => styles.dim.apply_to("-"),
                    StepStatus::Failed
                    | StepStatus::Declined
                    | StepStatus::Interrupted
                    | StepStatus::NotRun => styles.error.apply_to("✗"),
                };
                Some(format!(
                    "{mark} {} {status_text} {elapsed}{detail}\n",
                    line.label
                ))
            }
            Progress::Plain => {
                let which = if line.nested {
                    format!(" {}", line.label)
                } else {
                    String::new()
                };
                Some(format!(
                    "{} {status_text} {elapsed}{which}{detail}\n",
                    styles.step.apply_to("<==")
                ))
            }
            Progress::Quiet => match status {
                StepStatus::Ok | StepStatus::Skipped => None,
                StepStatus::Failed
                | StepStatus::Declined
                | StepStatus::Interrupted
                | StepStatus::NotRun => Some(format!("{} {status_text}{detail}\n", line.label)),
            },
        }
    }
}
