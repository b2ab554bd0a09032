//! Where interpolated values land in a shell command, decided by a real bash parser
//! (brush-parser), so that a value is refused wherever one level of quoting does not
//! protect it (docs/runbook-format.md, "Where a value may go").
//!
//! The caller renders a command with a marker word in place of every quoted value
//! (`rbk…m0z`, letters and digits only, so it parses as one plain word wherever it
//! stands), asks [`check`] where each marker landed, and only then puts the quoted
//! values in. Raw values (`| safe`) are shell code by design and are inserted before the
//! parse, so the parse sees the real structure.

mod clients;
mod commands;
mod consumers;
pub use commands::is_code_variable;
mod walk;

use std::fmt;

/// What kind of value a marker stands for: the contexts it may go into depend on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Text, quoted for the shell once, plus `extra` levels asked for with
    /// `| shell_quote` (for commands that hand their arguments to another shell).
    Text { extra: u8 },
    /// An integer or a boolean: digits, a sign, `true`/`false`. Harmless anywhere,
    /// arithmetic included.
    Plain,
    /// A dry-run placeholder: its value is unknown, the static check has covered it.
    Unknown,
}

/// The marker words of one rendering and what each stands for.
#[derive(Debug)]
pub struct Markers {
    prefix: String,
    entries: Vec<(Kind, String)>,
}

impl Markers {
    /// Markers that cannot be confused with anything in `source`.
    pub fn new(source: &str) -> Markers {
        use std::sync::atomic::{AtomicU64, Ordering};
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_nanos() as u64)
            ^ u64::from(std::process::id()).rotate_left(32);
        loop {
            let count = COUNTER.fetch_add(1, Ordering::Relaxed);
            let nonce = seed.wrapping_add(count.wrapping_mul(0x9e37_79b9_7f4a_7c15));
            let prefix = format!("rbk{:08x}m", nonce as u32);
            if !source.contains(&prefix) {
                return Markers {
                    prefix,
                    entries: Vec::new(),
                };
            }
        }
    }

    /// A new marker word for a value of `kind` that will finally read `text`.
    pub fn push(&mut self, kind: Kind, text: String) -> String {
        let word = self.word(self.entries.len());
        self.entries.push((kind, text));
        word
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn kind(&self, index: usize) -> Kind {
        self.entries
            .get(index)
            .map_or(Kind::Unknown, |entry| entry.0)
    }

    fn word(&self, index: usize) -> String {
        format!("{}{index}z", self.prefix)
    }

    /// The indices of the markers in `text`, in order.
    pub fn find(&self, text: &str) -> Vec<usize> {
        let mut found = Vec::new();
        if self.entries.is_empty()
            || memchr::memmem::find(text.as_bytes(), self.prefix.as_bytes()).is_none()
        {
            return found;
        }
        let mut rest = text;
        while let Some(start) = rest.find(&self.prefix) {
            let after = &rest[start + self.prefix.len()..];
            let digits = after.bytes().take_while(u8::is_ascii_digit).count();
            if digits > 0
                && after.as_bytes().get(digits) == Some(&b'z')
                && let Ok(index) = after[..digits].parse::<usize>()
                && index < self.entries.len()
            {
                found.push(index);
                rest = &after[digits + 1..];
            } else {
                rest = after;
            }
        }
        found
    }

    /// Where the first marker in `text` starts (a byte offset).
    pub fn position(&self, text: &str) -> Option<usize> {
        if self.entries.is_empty() {
            return None;
        }
        text.find(&self.prefix)
    }

    /// `text` with every marker replaced by the value's final text.
    pub fn substitute(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(start) = rest.find(&self.prefix) {
            out.push_str(&rest[..start]);
            let after = &rest[start + self.prefix.len()..];
            let digits = after.bytes().take_while(u8::is_ascii_digit).count();
            let entry = after[..digits]
                .parse::<usize>()
                .ok()
                .filter(|_| after.as_bytes().get(digits) == Some(&b'z'))
                .and_then(|index| self.entries.get(index));
            match entry {
                Some((_, value)) => {
                    out.push_str(value);
                    rest = &after[digits + 1..];
                }
                None => {
                    out.push_str(&self.prefix);
                    rest = after;
                }
            }
        }
        out.push_str(rest);
        out
    }
}

/// Where a value landed that one level of quoting does not protect.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Context {
    /// Inside `'…'`, `"…"` or `$'…'`: the value's own quotes become text, and inside
    /// double quotes the shell still runs `$(…)` and backquotes in the value.
    Quotes(&'static str),
    /// Inside backquotes, whose end the shell finds before any quoting.
    Backquotes,
    /// Inside `${…}`, whose words follow their own quoting rules.
    ParameterExpansion,
    /// Arithmetic (`(( ))`, `$(( ))`, `let`, `[[ -eq ]]`, an array subscript): bash
    /// evaluates text as an expression there, running `$(…)` in subscripts.
    Arithmetic(&'static str),
    /// A variable name (`test -v`, `unset`, `read`, `printf -v`, `declare`): bash
    /// evaluates array subscripts in names.
    VariableName(String),
    /// The body of a here-document with an unquoted delimiter, where `$(…)` runs
    /// whatever the quotes; or the delimiter itself.
    HereDocument,
    /// An argument of a command that hands it to another shell to parse again (`ssh`,
    /// `sh -c`, `su -c`, `eval`, `sudo -s`, `watch`): it needs `levels` more quoting.
    Reparsed { command: String, levels: u8 },
    /// The value of `declare`, `typeset` or `local`, which evaluate a value written like
    /// `( … )` as an array assignment, running `$(…)` in it.
    DeclareValue(String),
    /// A variable bash runs as code (`PS4`, `PROMPT_COMMAND`, `BASH_ENV`, `ENV`, an
    /// exported function `BASH_FUNC_…`).
    CodeVariable(String),
    /// Anywhere in a command that also runs code made at run time (`eval`, `source`,
    /// a shell reading a file or its input, an alias): a value can reach that code
    /// through files, functions or streams the check cannot follow.
    DynamicCode(String),
    /// An `ssh` destination not preceded by `--`: a value starting with `-` is read as
    /// an option (`-oProxyCommand=…` runs a command).
    SshDestination,
    /// An operand or an option word of `scp`, `sftp`, `rsync`, … before `--` (or a value
    /// inside an option cluster): a value starting with `-` is read as options, some
    /// of which run commands.
    BeforeOptionsEnd(String),
    /// Somewhere the checker does not recognise as safe.
    Unrecognised,
}

impl fmt::Display for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Context::Quotes(kind) => write!(f, "inside {kind}"),
            Context::Backquotes => write!(f, "inside backquotes"),
            Context::ParameterExpansion => write!(f, "inside a parameter expansion `${{…}}`"),
            Context::Arithmetic(form) => write!(f, "in arithmetic ({form})"),
            Context::VariableName(command) => write!(f, "as a variable name ({command})"),
            Context::HereDocument => write!(f, "in a here-document with an unquoted delimiter"),
            Context::Reparsed { command, .. } => {
                write!(
                    f,
                    "in the arguments of `{command}`, which a second shell parses again"
                )
            }
            Context::DeclareValue(command) => write!(f, "as the value in `{command} NAME=…`"),
            Context::CodeVariable(name) => {
                write!(f, "in `{name}`, a variable bash or a program runs as code")
            }
            Context::DynamicCode(construct) => {
                write!(
                    f,
                    "in a command that also runs code made at run time ({construct})"
                )
            }
            Context::SshDestination => write!(f, "as an `ssh` destination without `--` before it"),
            Context::BeforeOptionsEnd(program) => {
                write!(
                    f,
                    "among the options of `{program}`, with no `--` before it"
                )
            }
            Context::Unrecognised => write!(f, "in a place the shell check does not recognise"),
        }
    }
}

impl Context {
    /// Why one level of quoting does not hold there.
    pub fn why(&self) -> &'static str {
        match self {
            Context::Quotes(_) => {
                "the value's own quoting becomes part of the text, and inside double quotes the shell still runs `$(…)` and backquotes in it"
            }
            Context::Backquotes => {
                "the shell ends a backquoted command at the first backquote, whatever the quoting"
            }
            Context::ParameterExpansion => "words inside `${…}` follow their own quoting rules",
            Context::Arithmetic(_) => {
                "bash evaluates the text as an expression, and runs `$(…)` in an array subscript such as `x[$(cmd)]`"
            }
            Context::VariableName(_) => {
                "bash evaluates an array subscript in a name, running `$(…)` in it"
            }
            Context::HereDocument => {
                "the shell runs `$(…)` and backquotes in the body whatever the quotes"
            }
            Context::Reparsed { .. } => {
                "the first shell removes the quoting, and the second one runs what is left"
            }
            Context::DeclareValue(_) => {
                "bash evaluates a value written like `( … )` as an array assignment, running `$(…)` in it"
            }
            Context::CodeVariable(_) => {
                "bash or the program reading it runs the variable's value as code"
            }
            Context::DynamicCode(_) => {
                "a value can reach that code through a file, a function, an alias or a stream, which no check can follow"
            }
            Context::SshDestination => {
                "a value starting with `-` is read as an option, and `-oProxyCommand=…` runs a command"
            }
            Context::BeforeOptionsEnd(_) => {
                "a value starting with `-` is read as options, and some run commands (`-oProxyCommand=…`, rsync's `-e`, sftp's `-D`)"
            }
            Context::Unrecognised => "the value's quoting cannot be shown to hold there",
        }
    }

    /// The safe way to write it, for a value interpolated as `expression`.
    pub fn help(&self, expression: &str) -> String {
        let expression = expression.trim();
        let plain = format!("{{{{ {expression} }}}}");
        match self {
            Context::Quotes(_) => format!(
                "take it out of the quotes, it is quoted for the shell already: `\"--dir={plain}\"` → `--dir={plain}`; in a longer quoted string use a variable: `v={plain}; echo \"… $v …\"`"
            ),
            Context::Backquotes => format!("use `$( … )` instead of backquotes: `$(cmd {plain})`"),
            Context::ParameterExpansion => {
                format!("put the value in a variable first: `v={plain}; echo \"${{X:-$v}}\"`")
            }
            Context::Arithmetic(_) => format!(
                "make it a number first: `{{{{ {expression} | int }}}}` (or declare the param `type: integer`)"
            ),
            Context::VariableName(_) => {
                "name the variable in the runbook itself; pass values as values, not names".into()
            }
            Context::HereDocument => format!(
                "quote the delimiter (`<<'EOF'`) so the shell leaves the body alone, or pass the value in an environment variable (`env: {{V: \"{plain}\"}}`) and write `$V` in the body"
            ),
            Context::Reparsed { command, levels } => {
                let quoted = (0..*levels).fold(expression.to_owned(), |text, _| {
                    format!("{text} | shell_quote")
                });
                let mut help = format!(
                    "quote it for the second shell too: `{{{{ {quoted} }}}}`; if the value is a command by design (one the operator gives), run it as code with `{{{{ {expression} | safe }}}}`"
                );
                if command == "trap" {
                    help = format!(
                        "a trap's action is code: write the action in the runbook and keep the value in a variable it reads (`f={plain}; trap 'rm -f -- \"$f\"' EXIT`), or quote it for the second parse: `{{{{ {quoted} }}}}`"
                    );
                }
                if command == "ssh" {
                    help = format!(
                        "give the step `host:` (a host declared under `hosts:`) instead of running `ssh` yourself: the command then runs there with its values quoted for the remote shell, its secrets off the command line, and Ctrl-C and timeouts reaching the remote processes; or quote it for the remote shell: `{{{{ {quoted} }}}}`"
                    );
                }
                if matches!(
                    command.as_str(),
                    "sh" | "bash" | "dash" | "zsh" | "ksh" | "ash" | "mksh"
                ) {
                    help.push_str(&format!(
                        ", or pass it as an argument: `{command} -c 'cmd \"$1\"' {command} {plain}`"
                    ));
                }
                help
            }
            Context::DeclareValue(command) => {
                format!("declare first, assign apart: `{command} x; x={plain}`")
            }
            Context::CodeVariable(name) => {
                format!("`{name}` must come from the runbook itself, never from a value")
            }
            Context::DynamicCode(_) => format!(
                "run code made at run time in a step without values, or quote the value for that code: `{{{{ {expression} | shell_quote }}}}`"
            ),
            Context::SshDestination => format!(
                "give the step `host:` and declare the destination under `hosts:` (`hosts: {{db: {{ssh: \"{plain}\"}}}}`); or end the options first: `ssh -- {plain} …`"
            ),
            Context::BeforeOptionsEnd(program) => format!(
                "end the options first: `{program} [options] -- {plain} …` (a value right after the option that takes it, as in `-P {{{{ port }}}}`, is fine already)"
            ),
            Context::Unrecognised => format!(
                "move {plain} to a plain argument of a command, or pass it in an environment variable"
            ),
        }
    }
}

/// A value that landed in a context where its quoting does not hold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// The marker's index.
    pub marker: usize,
    pub context: Context,
}

/// A command that cannot be checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Unparsable {
    /// bash would not parse it either (or the parser disagrees with bash).
    Syntax(String),
    /// Nested deeper than the checker follows.
    TooDeep,
}

impl fmt::Display for Unparsable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unparsable::Syntax(message) => {
                write!(f, "it does not parse as a shell command: {message}")
            }
            Unparsable::TooDeep => write!(f, "it is nested too deeply to check"),
        }
    }
}

/// How deep command substitutions, `eval`s and re-parsed arguments are followed.
const MAX_DEPTH: usize = 16;
/// How deeply brackets may nest before the parser is not trusted with the text.
const MAX_NESTING: usize = 200;

/// Parses `text` (a rendered command with marker words) and returns every marker that
/// landed where its quoting does not hold. Markers of kind `Unknown` are never refused.
pub fn check(text: &str, markers: &Markers) -> Result<Vec<Refusal>, Unparsable> {
    if nesting(text) > MAX_NESTING {
        return Err(Unparsable::TooDeep);
    }
    let mut walker = walk::Walker::new(markers);
    walker.source(text, 0)?;
    let mut refusals = walker.finish(text);
    refusals.retain(|refusal| markers.kind(refusal.marker) != Kind::Unknown);
    Ok(refusals)
}

/// The deepest nesting of brackets, counted crudely (ignoring quoting): a
/// guard against a stack overflow in the recursive-descent parser.
fn nesting(text: &str) -> usize {
    let mut depth: usize = 0;
    let mut deepest = 0;
    for byte in text.bytes() {
        match byte {
            b'(' | b'{' | b'[' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b')' | b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

#[cfg(test)]
mod tests;
