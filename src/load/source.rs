//! Finding runbooks: each `--dir`, then `RUNBOOK_PATH`, then `./runbooks`, then the ones
//! embedded in the binary; the first match wins. A path to a file is loaded directly.

use std::fmt;
use std::path::{Path, PathBuf};

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/embedded.rs"));
}

/// Where a runbook's text came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// A file on disk, found in a search directory or given as a path.
    File(PathBuf),
    /// Shipped inside the binary.
    Embedded,
}

/// Which runbook a source is, whatever name it was found under: a file by its canonical
/// path, a built-in runbook by its embedded name. Includes, cycles and the run's library
/// are keyed by this, never by the `name:` a file declares.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SourceId {
    File(PathBuf),
    Embedded(String),
}

/// A runbook's text and where it came from.
#[derive(Clone, Debug)]
pub struct Source {
    /// The name the runbook is found under: its file name without `.yaml`.
    pub stem: String,
    pub origin: Origin,
    pub text: String,
}

impl Source {
    /// How diagnostics and listings name the file.
    pub fn display_name(&self) -> String {
        match &self.origin {
            Origin::File(path) => path.display().to_string(),
            Origin::Embedded => format!("embedded:{}.yaml", self.stem),
        }
    }

    /// The directory of a file on disk, where its includes are looked up first.
    pub fn directory(&self) -> Option<PathBuf> {
        match &self.origin {
            Origin::File(path) => path.parent().map(Path::to_owned),
            Origin::Embedded => None,
        }
    }

    pub fn id(&self) -> SourceId {
        match &self.origin {
            Origin::File(path) => {
                SourceId::File(std::fs::canonicalize(path).unwrap_or_else(|_| path.clone()))
            }
            Origin::Embedded => SourceId::Embedded(self.stem.clone()),
        }
    }

    /// The runbook an include step of this one names: a sibling first (a file beside
    /// this file; for a built-in runbook, the built-in one), then the search path. The
    /// search path is the operator's order for names they type; an include is part of
    /// the procedure its author wrote and must not be taken over by a file that happens
    /// to sit in `./runbooks`.
    pub fn include(&self, name: &str, catalog: &Catalog) -> Result<Source, SourceError> {
        match &self.origin {
            Origin::File(path) => {
                if let Some(directory) = path.parent() {
                    for extension in ["yaml", "yml"] {
                        let sibling = directory.join(format!("{name}.{extension}"));
                        if sibling.is_file() {
                            return Source::read(&sibling);
                        }
                    }
                }
            }
            Origin::Embedded => {
                if let Some(source) = embedded(name) {
                    return Ok(source);
                }
            }
        }
        catalog.find(name)
    }

    pub fn read(path: &Path) -> Result<Source, SourceError> {
        let metadata = std::fs::metadata(path).map_err(|error| SourceError::Io {
            path: path.to_owned(),
            error: error.to_string(),
        })?;
        // Refuse before reading: a 10 GB file must not be pulled into memory.
        let limit = crate::load::yaml::MAX_SOURCE_BYTES as u64;
        if metadata.len() > limit {
            return Err(SourceError::TooLarge {
                path: path.to_owned(),
                bytes: metadata.len(),
            });
        }
        let bytes = std::fs::read(path).map_err(|error| SourceError::Io {
            path: path.to_owned(),
            error: error.to_string(),
        })?;
        let text = String::from_utf8(bytes).map_err(|_| SourceError::NotUtf8 {
            path: path.to_owned(),
        })?;
        let stem = path
            .file_stem()
            .and_then(|stem| stem.to_str())
            .unwrap_or_default()
            .to_owned();
        Ok(Source {
            stem,
            origin: Origin::File(path.to_owned()),
            text,
        })
    }
}

#[derive(Clone, Debug)]
pub enum SourceError {
    Io {
        path: PathBuf,
        error: String,
    },
    TooLarge {
        path: PathBuf,
        bytes: u64,
    },
    NotUtf8 {
        path: PathBuf,
    },
    NotFound {
        name: String,
        suggestion: Option<String>,
        searched: Vec<PathBuf>,
    },
}

impl fmt::Display for SourceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SourceError::Io { path, error } => write!(f, "cannot read {}: {error}", path.display()),
            SourceError::TooLarge { path, bytes } => write!(
                f,
                "{} is too large to be a runbook ({} KiB; the limit is {} KiB)",
                path.display(),
                bytes / 1024,
                crate::load::yaml::MAX_SOURCE_BYTES / 1024
            ),
            SourceError::NotUtf8 { path } => write!(f, "{} is not UTF-8 text", path.display()),
            SourceError::NotFound { name, .. } => write!(f, "no runbook named `{name}`"),
        }
    }
}

impl SourceError {
    pub fn help(&self) -> Option<String> {
        match self {
            SourceError::NotFound {
                suggestion: Some(suggestion),
                ..
            } => Some(format!("did you mean `{suggestion}`?")),
            SourceError::NotFound { searched, .. } => {
                let mut places: Vec<String> = searched
                    .iter()
                    .map(|path| path.display().to_string())
                    .collect();
                places.push("the runbooks built into this binary".to_owned());
                Some(format!(
                    "searched {}; `runbook list` shows what is available",
                    places.join(", ")
                ))
            }
            SourceError::TooLarge { .. } => {
                Some("split the procedure into smaller runbooks joined with `include:`".to_owned())
            }
            SourceError::Io { .. } | SourceError::NotUtf8 { .. } => None,
        }
    }
}

/// The ordered search path for runbook names.
#[derive(Clone, Debug, Default)]
pub struct Catalog {
    directories: Vec<PathBuf>,
    /// Whether the built-in runbooks are searched last.
    embedded: bool,
}

impl Catalog {
    pub fn new(directories: Vec<PathBuf>, embedded: bool) -> Catalog {
        Catalog {
            directories,
            embedded,
        }
    }

    pub fn directories(&self) -> &[PathBuf] {
        &self.directories
    }

    /// `NAME` is looked up along the search path; anything that looks like a path (has a
    /// slash or ends in `.yaml`/`.yml`) is read directly.
    pub fn resolve(&self, argument: &str) -> Result<Source, SourceError> {
        let path = Path::new(argument);
        let looks_like_path =
            argument.contains('/') || argument.ends_with(".yaml") || argument.ends_with(".yml");
        if looks_like_path || (path.is_file() && !argument.is_empty()) {
            return Source::read(path);
        }
        self.find(argument)
    }

    /// Finds a runbook by name: first match along the search path.
    pub fn find(&self, name: &str) -> Result<Source, SourceError> {
        tracing::trace!(name, directories = ?self.directories, "searching for runbook");
        for directory in &self.directories {
            for extension in ["yaml", "yml"] {
                let candidate = directory.join(format!("{name}.{extension}"));
                if candidate.is_file() {
                    tracing::debug!(name, path = %candidate.display(), "found runbook");
                    return Source::read(&candidate);
                }
            }
        }
        if self.embedded
            && let Some(source) = embedded_sources()
                .into_iter()
                .find(|source| source.stem == name)
        {
            return Ok(source);
        }
        let names = self
            .list()
            .into_iter()
            .map(|source| source.stem)
            .collect::<Vec<_>>();
        Err(SourceError::NotFound {
            name: name.to_owned(),
            suggestion: crate::load::suggest::suggest(name, names.iter().map(String::as_str)),
            searched: self.directories.clone(),
        })
    }

    /// Every runbook on the search path, the first of each name only, sorted by name.
    /// Unreadable files are returned as errors so `validate` can report them.
    pub fn list_all(&self) -> Vec<Result<Source, SourceError>> {
        let mut seen = std::collections::HashSet::new();
        let mut found = Vec::new();
        for directory in &self.directories {
            let Ok(entries) = std::fs::read_dir(directory) else {
                continue;
            };
            let mut paths: Vec<PathBuf> = entries
                .filter_map(Result::ok)
                .map(|entry| entry.path())
                .filter(|path| {
                    path.is_file()
                        && path
                            .extension()
                            .is_some_and(|extension| extension == "yaml" || extension == "yml")
                })
                .collect();
            paths.sort();
            for path in paths {
                let stem = path
                    .file_stem()
                    .and_then(|stem| stem.to_str())
                    .unwrap_or_default();
                if seen.insert(stem.to_owned()) {
                    found.push((stem.to_owned(), Source::read(&path)));
                }
            }
        }
        if self.embedded {
            for source in embedded_sources() {
                if seen.insert(source.stem.clone()) {
                    found.push((source.stem.clone(), Ok(source)));
                }
            }
        }
        found.sort_by(|a, b| a.0.cmp(&b.0));
        found.into_iter().map(|(_, source)| source).collect()
    }

    pub fn list(&self) -> Vec<Source> {
        self.list_all().into_iter().filter_map(Result::ok).collect()
    }
}

/// The built-in runbook of this name.
pub fn embedded(name: &str) -> Option<Source> {
    embedded_sources()
        .into_iter()
        .find(|source| source.stem == name)
}

fn embedded_sources() -> Vec<Source> {
    embedded::EMBEDDED
        .iter()
        .map(|(file, text)| Source {
            stem: file.trim_end_matches(".yaml").to_owned(),
            origin: Origin::Embedded,
            text: (*text).to_owned(),
        })
        .collect()
}
