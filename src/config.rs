//! Settings resolved once from flags, environment and the terminal: where runbooks are
//! searched, whether each stream gets colour, how chatty to be.

use crate::cli::{ColorChoice, GlobalArgs};
use crate::load::source::Catalog;
use crate::ui::style::Styles;
use std::io::IsTerminal;
use std::path::PathBuf;

pub struct Config {
    pub catalog: Catalog,
    /// Where run records go: `--audit-dir`, `RUNBOOK_AUDIT_DIR`, or the state directory.
    pub audit_directory: PathBuf,
    /// Styles for stdout (results) and stderr (conversation), decided separately.
    pub stdout_styles: Styles,
    pub stderr_styles: Styles,
    pub quiet: bool,
    pub verbose: u8,
}

impl Config {
    pub fn resolve(args: &GlobalArgs) -> Config {
        let mut directories = args.dirs.clone();
        if let Some(path) = std::env::var_os("RUNBOOK_PATH") {
            directories
                .extend(std::env::split_paths(&path).filter(|path| !path.as_os_str().is_empty()));
        }
        directories.push(PathBuf::from("runbooks"));
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|value| !value.is_empty());
        let enabled = |is_terminal: bool| match args.color {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => is_terminal && !no_color,
        };
        Config {
            catalog: Catalog::new(directories, true),
            audit_directory: args
                .audit_dir
                .clone()
                .unwrap_or_else(crate::audit::default_directory),
            stdout_styles: Styles::new(enabled(std::io::stdout().is_terminal())),
            stderr_styles: Styles::new(enabled(std::io::stderr().is_terminal())),
            quiet: args.quiet,
            verbose: args.verbose,
        }
    }
}
