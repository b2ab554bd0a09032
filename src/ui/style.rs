//! Colour by role (`error`, `warning`, `ok`, `step`, `dim`, ...), decided once per stream
//! from `--color`, `NO_COLOR` and whether the stream is a terminal.

use console::Style;

#[derive(Clone, Debug)]
pub struct Styles {
    pub error: Style,
    pub warning: Style,
    pub help: Style,
    pub ok: Style,
    pub step: Style,
    pub strong: Style,
    pub dim: Style,
    pub destructive: Style,
}

impl Styles {
    pub fn new(enabled: bool) -> Styles {
        let style = |style: Style| style.force_styling(enabled);
        Styles {
            error: style(Style::new().red().bold()),
            warning: style(Style::new().yellow().bold()),
            help: style(Style::new().cyan().bold()),
            ok: style(Style::new().green()),
            step: style(Style::new().bold()),
            strong: style(Style::new().bold()),
            dim: style(Style::new().dim()),
            destructive: style(Style::new().red().bold()),
        }
    }

    /// `error: MESSAGE` and, when there is one, `  = help: HELP`, newline-terminated:
    /// the one shape every fatal message takes.
    pub fn error_message(&self, message: &str, help: Option<&str>) -> String {
        let mut text = format!("{}: {message}\n", self.error.apply_to("error"));
        if let Some(help) = help {
            text.push_str(&format!(
                "  {} {}: {help}\n",
                self.dim.apply_to("="),
                self.help.apply_to("help")
            ));
        }
        text
    }

    /// `warning: MESSAGE`, newline-terminated.
    pub fn warning_message(&self, message: &str) -> String {
        format!("{}: {message}\n", self.warning.apply_to("warning"))
    }

    pub fn plain() -> Styles {
        Styles::new(false)
    }
}
