//! The walk over brush-parser's syntax tree: every word, here-document, arithmetic
//! expression and test of a command, with the quoting context each marker landed in.

use super::commands;
use super::consumers::{
    self, any_simple, collect_functions, dynamic_code, reads_fd0, reads_fd0_from_elsewhere,
};
use super::{Context, Kind, MAX_DEPTH, Markers, Refusal, Unparsable};
use brush_parser::ast::{
    Assignment, AssignmentName, AssignmentValue, BinaryPredicate, Command, CompoundCommand,
    CompoundList, ExtendedTestExpr, IoFileRedirectTarget, IoRedirect, Pipeline, Program,
    SimpleCommand, UnaryPredicate, Word,
};
use brush_parser::word::WordPiece;
use brush_parser::{ParserOptions, word};

#[path = "walk_carriers.rs"]
mod carriers;

/// Stands for text the shell produces at run time (`$HOME`, `$(date)`) when the words
/// of a command are put together for a second shell.
const PLACEHOLDER: &str = "VALUE";

/// One word of a simple command, with what the rules for particular commands need.
pub(super) struct Arg<'w> {
    pub word: &'w Word,
    /// The word after quote removal, when it has no expansions and no markers.
    pub literal: Option<String>,
    /// The word after quote removal with markers kept and expansions as a placeholder:
    /// what a second shell would be given.
    pub value: String,
    pub has_markers: bool,
}

impl Arg<'_> {
    /// The command name it spells, without its directory (`/usr/bin/ssh` → `ssh`).
    pub fn program(&self) -> Option<&str> {
        let literal = self.literal.as_deref()?;
        Some(literal.rsplit('/').next().unwrap_or(literal))
    }

    pub fn is(&self, text: &str) -> bool {
        self.literal.as_deref() == Some(text)
    }

    /// A word starting with `-` (an option, or `--`).
    pub fn is_option(&self) -> bool {
        self.literal
            .as_deref()
            .is_some_and(|text| text.starts_with('-') && text.len() > 1)
    }
}

pub(super) struct Walker<'m> {
    markers: &'m Markers,
    options: ParserOptions,
    refusals: Vec<Refusal>,
    seen: Vec<bool>,
    /// How many shells parse the current text after the first one, and the command that
    /// hands it to the innermost of them.
    reparse: u8,
    reparse_command: String,
    depth: usize,
    /// Shell variables assigned a value (`x={{ v }}`), with the markers they hold: a
    /// value does not stop being one by passing through a variable.
    carriers: std::collections::HashMap<String, Vec<usize>>,
    /// Variables declared integer (`declare -i n`): assigning to them is arithmetic.
    pub integers: std::collections::HashSet<String>,
    /// Variables declared namerefs (`declare -n r`): assigning to them names a variable.
    pub namerefs: std::collections::HashSet<String>,
    /// Of `reparse`, the levels added because this text's *output* becomes a second
    /// shell's script (`… | bash`): there, what `$x` expands to is parsed again. Inside
    /// text a second shell parses (`sh -c '…"$x"…'`), `$x` is expanded by that shell,
    /// as data.
    raised_levels: u8,
    /// Whether the simple command being walked reads a pipeline's output (not first).
    in_consumer_position: bool,
    /// Whether the script replaced its standard input (`exec 0<<<…`, `exec <file`):
    /// a shell started after that reads it.
    stdin_replaced: bool,
    /// Variables assigned the name of a shell (`s=bash`, `f="$BASH"`).
    shell_vars: std::collections::HashSet<String>,
    /// Functions that run their input as a script (`f() { bash; }`).
    input_functions: std::collections::HashSet<String>,
    /// Functions the command defines: a call to one is not the builtin of that name.
    functions: std::collections::HashSet<String>,
    /// The first construct found that runs code made at run time: every value of the
    /// command then needs a level of quoting for that code.
    pub dynamic: Option<String>,
}

impl<'m> Walker<'m> {
    pub fn new(markers: &'m Markers) -> Walker<'m> {
        Walker {
            markers,
            options: ParserOptions::default(),
            refusals: Vec::new(),
            seen: vec![false; markers.len()],
            reparse: 0,
            reparse_command: String::new(),
            depth: 0,
            carriers: std::collections::HashMap::new(),
            integers: std::collections::HashSet::new(),
            namerefs: std::collections::HashSet::new(),
            raised_levels: 0,
            in_consumer_position: false,
            stdin_replaced: false,
            shell_vars: std::collections::HashSet::new(),
            input_functions: std::collections::HashSet::new(),
            functions: std::collections::HashSet::new(),
            dynamic: None,
        }
    }

    /// The refusals, one per marker, plus any marker the walk never reached outside a
    /// comment.
    pub fn finish(mut self, text: &str) -> Vec<Refusal> {
        if let Some(construct) = self.dynamic.clone() {
            for index in 0..self.seen.len() {
                if self.markers.kind(index) == (Kind::Text { extra: 0 }) {
                    self.push(index, Context::DynamicCode(construct.clone()));
                    self.mark_seen(index);
                }
            }
        }
        for index in 0..self.seen.len() {
            if !self.seen[index] && !in_comment(text, &self.markers.word(index)) {
                self.refusals.push(Refusal {
                    marker: index,
                    context: Context::Unrecognised,
                });
            }
        }
        let mut refused = vec![false; self.seen.len()];
        self.refusals.retain(|refusal| {
            let first = !refused[refusal.marker];
            refused[refusal.marker] = true;
            first
        });
        self.refusals.sort_by_key(|refusal| refusal.marker);
        self.refusals
    }

    /// Parses and walks a whole program (a command line, a command substitution).
    pub fn source(&mut self, text: &str, depth: usize) -> Result<(), Unparsable> {
        if depth > MAX_DEPTH {
            return Err(Unparsable::TooDeep);
        }
        let saved = self.depth;
        self.depth = depth;
        let mut parser =
            brush_parser::Parser::new(std::io::Cursor::new(text.as_bytes()), &self.options);
        let program = parser
            .parse_program()
            .map_err(|error| Unparsable::Syntax(error.to_string()))?;
        self.program(&program)?;
        self.depth = saved;
        Ok(())
    }

    /// Text that a second shell parses again (`ssh host WORDS`, `sh -c SCRIPT`, `eval`).
    pub fn reparse(&mut self, command: &str, text: &str) -> Result<(), Unparsable> {
        let saved = (
            self.reparse,
            std::mem::take(&mut self.reparse_command),
            self.raised_levels,
        );
        self.reparse = self.reparse.saturating_add(1);
        self.reparse_command = command.to_owned();
        self.raised_levels = 0;
        let result = self.source(text, self.depth + 1);
        let levels = self.reparse;
        (self.reparse, self.reparse_command, self.raised_levels) = saved;
        match result {
            Err(Unparsable::Syntax(_)) => {
                // The second shell may not be bash; a value is safe there only when it
                // was quoted for it explicitly.
                for index in self.markers.find(text) {
                    self.mark_seen(index);
                    if let Kind::Text { extra } = self.markers.kind(index)
                        && extra < levels
                    {
                        self.push(
                            index,
                            Context::Reparsed {
                                command: command.to_owned(),
                                levels,
                            },
                        );
                    }
                }
                Ok(())
            }
            other => other,
        }
    }

    fn program(&mut self, program: &Program) -> Result<(), Unparsable> {
        // Functions are called by name from anywhere once defined: know them all first.
        for list in &program.complete_commands {
            collect_functions(list, &mut self.functions);
        }
        for list in &program.complete_commands {
            self.list(list)?;
        }
        Ok(())
    }

    fn list(&mut self, list: &CompoundList) -> Result<(), Unparsable> {
        for item in &list.0 {
            self.pipeline(&item.0.first)?;
            for next in &item.0.additional {
                match next {
                    brush_parser::ast::AndOr::And(pipeline)
                    | brush_parser::ast::AndOr::Or(pipeline) => self.pipeline(pipeline)?,
                }
            }
        }
        Ok(())
    }

    /// A pipeline; when a later command runs its input as a script (`… | sh`,
    /// `… | xargs sh -c …`, `… | ssh host`), what the commands before it print is
    /// parsed again, so their values need one more level of quoting.
    fn pipeline(&mut self, pipeline: &Pipeline) -> Result<(), Unparsable> {
        let mut consumer: Option<(usize, String)> = None;
        for (index, command) in pipeline.seq.iter().enumerate().skip(1) {
            match command {
                Command::Simple(simple) => {
                    if let Some(name) = self.stdin_consumer(simple) {
                        consumer = Some((index, name));
                    }
                }
                // `… | { bash; }`, `… | while read -r l; do eval "$l"; done`
                Command::Compound(compound, _) => {
                    let inner = CompoundList(vec![brush_parser::ast::CompoundListItem(
                        brush_parser::ast::AndOrList {
                            first: Pipeline {
                                timed: None,
                                bang: false,
                                seq: vec![Command::Compound(compound.clone(), None)],
                            },
                            additional: Vec::new(),
                        },
                        brush_parser::ast::SeparatorOperator::Sequence,
                    )]);
                    if self.runs_input(&inner) {
                        consumer = Some((index, "a compound command".to_owned()));
                    }
                }
                Command::Function(_) | Command::ExtendedTest(..) => {}
            }
        }
        for (index, command) in pipeline.seq.iter().enumerate() {
            self.in_consumer_position = index > 0;
            match &consumer {
                Some((at, name)) if index < *at => {
                    let name = name.clone();
                    self.raised(&name, |walker| walker.command(command))?;
                }
                _ => self.command(command)?,
            }
        }
        self.in_consumer_position = false;
        Ok(())
    }

    fn stdin_consumer(&self, simple: &SimpleCommand) -> Option<String> {
        use brush_parser::ast::CommandPrefixOrSuffixItem as Item;
        let words = simple.word_or_name.iter().chain(
            simple
                .suffix
                .iter()
                .flat_map(|suffix| &suffix.0)
                .filter_map(|item| match item {
                    Item::Word(word) | Item::AssignmentWord(_, word) => Some(word),
                    Item::IoRedirect(_) | Item::ProcessSubstitution(..) => None,
                }),
        );
        let args: Vec<Arg<'_>> = words.filter_map(|word| self.arg(word).ok()).collect();
        if let Some(name) = args.first().and_then(|arg| arg.literal.as_deref())
            && self.input_functions.contains(name)
        {
            return Some(name.to_owned());
        }
        consumers::stdin_consumer(&literals(&args))
    }

    fn command(&mut self, command: &Command) -> Result<(), Unparsable> {
        match command {
            Command::Simple(simple) => self.simple(simple),
            Command::Compound(compound, redirects) => {
                self.compound(compound)?;
                for redirect in redirects.iter().flat_map(|list| &list.0) {
                    self.redirect(redirect, None)?;
                }
                Ok(())
            }
            Command::Function(function) => {
                self.refuse_in(&function.fname.value, Context::Unrecognised);
                let body = CompoundList(vec![brush_parser::ast::CompoundListItem(
                    brush_parser::ast::AndOrList {
                        first: Pipeline {
                            timed: None,
                            bang: false,
                            seq: vec![Command::Compound(function.body.0.clone(), None)],
                        },
                        additional: Vec::new(),
                    },
                    brush_parser::ast::SeparatorOperator::Sequence,
                )]);
                if self.runs_input(&body) {
                    self.input_functions.insert(function.fname.value.clone());
                }
                self.functions.insert(function.fname.value.clone());
                // Run for every command that does not exist, with its arguments.
                if function.fname.value == "command_not_found_handle" && self.dynamic.is_none() {
                    self.dynamic = Some("`command_not_found_handle`".to_owned());
                }
                self.compound(&function.body.0)?;
                for redirect in function.body.1.iter().flat_map(|list| &list.0) {
                    self.redirect(redirect, None)?;
                }
                Ok(())
            }
            Command::ExtendedTest(test, redirects) => {
                self.extended_test(&test.expr)?;
                for redirect in redirects.iter().flat_map(|list| &list.0) {
                    self.redirect(redirect, None)?;
                }
                Ok(())
            }
        }
    }

    fn compound(&mut self, compound: &CompoundCommand) -> Result<(), Unparsable> {
        match compound {
            CompoundCommand::Arithmetic(arithmetic) => {
                self.arithmetic(&arithmetic.expr.value, "`(( ))`")
            }
            CompoundCommand::ArithmeticForClause(clause) => {
                for expr in [&clause.initializer, &clause.condition, &clause.updater]
                    .into_iter()
                    .flatten()
                {
                    self.arithmetic(&expr.value, "`for (( ))`")?;
                }
                self.list(&clause.body.list)
            }
            CompoundCommand::BraceGroup(group) => self.list(&group.list),
            CompoundCommand::Subshell(subshell) => self.list(&subshell.list),
            CompoundCommand::ForClause(clause) => {
                self.refuse_in(&clause.variable_name, Context::VariableName("for".into()));
                let mut held = Vec::new();
                for value in clause.values.iter().flatten() {
                    self.word(value)?;
                    held.extend(self.held(value));
                }
                self.carry(&clause.variable_name, &held);
                self.list(&clause.body.list)
            }
            CompoundCommand::CaseClause(clause) => {
                self.word(&clause.value)?;
                for case in &clause.cases {
                    for pattern in &case.patterns {
                        self.word(pattern)?;
                    }
                    if let Some(list) = &case.cmd {
                        self.list(list)?;
                    }
                }
                Ok(())
            }
            CompoundCommand::IfClause(clause) => {
                self.list(&clause.condition)?;
                self.list(&clause.then)?;
                for branch in clause.elses.iter().flatten() {
                    if let Some(condition) = &branch.condition {
                        self.list(condition)?;
                    }
                    self.list(&branch.body)?;
                }
                Ok(())
            }
            CompoundCommand::WhileClause(clause) | CompoundCommand::UntilClause(clause) => {
                self.list(&clause.0)?;
                self.list(&clause.1.list)
            }
            CompoundCommand::Coprocess(coprocess) => {
                // Its input is whatever the script writes to it later.
                if self.dynamic.is_none() {
                    self.dynamic = Some("`coproc`".to_owned());
                }
                if let Some(name) = &coprocess.name {
                    self.refuse_in(&name.value, Context::Unrecognised);
                }
                self.command(&coprocess.body)
            }
        }
    }

    fn extended_test(&mut self, test: &ExtendedTestExpr) -> Result<(), Unparsable> {
        match test {
            ExtendedTestExpr::And(left, right) | ExtendedTestExpr::Or(left, right) => {
                self.extended_test(left)?;
                self.extended_test(right)
            }
            ExtendedTestExpr::Not(inner) | ExtendedTestExpr::Parenthesized(inner) => {
                self.extended_test(inner)
            }
            ExtendedTestExpr::UnaryTest(predicate, operand) => match predicate {
                UnaryPredicate::ShellVariableIsSetAndAssigned
                | UnaryPredicate::ShellVariableIsSetAndNameRef => {
                    self.refuse_name(&operand.value, Context::VariableName("`[[ -v ]]`".into()));
                    Ok(())
                }
                _ => self.word(operand),
            },
            ExtendedTestExpr::BinaryTest(predicate, left, right) => {
                if is_arithmetic(predicate) {
                    self.arithmetic(&left.value, "`[[ -eq ]]`")?;
                    self.arithmetic(&right.value, "`[[ -eq ]]`")
                } else {
                    self.word(left)?;
                    self.word(right)
                }
            }
        }
    }

    fn simple(&mut self, simple: &SimpleCommand) -> Result<(), Unparsable> {
        // `echo {{ v }} > >(bash)`, `tee >(sh)`: what this command writes becomes a
        // second shell's script, so its values need one more level.
        if self.feeds_code(simple) {
            return self.raised("a process substitution", |walker| {
                walker.simple_inner(simple)
            });
        }
        self.simple_inner(simple)
    }

    /// Runs `walk` with one more shell parsing the text again, run by `command`.
    fn raised<T>(
        &mut self,
        command: &str,
        walk: impl FnOnce(&mut Self) -> Result<T, Unparsable>,
    ) -> Result<T, Unparsable> {
        let saved = (
            self.reparse,
            std::mem::replace(&mut self.reparse_command, command.to_owned()),
            self.raised_levels,
        );
        self.reparse = self.reparse.saturating_add(1);
        self.raised_levels = self.raised_levels.saturating_add(1);
        let result = walk(self);
        (self.reparse, self.reparse_command, self.raised_levels) = saved;
        result
    }

    /// Whether a process substitution of this command runs what it is given as code.
    fn feeds_code(&self, simple: &SimpleCommand) -> bool {
        use brush_parser::ast::CommandPrefixOrSuffixItem as Item;
        let items = simple
            .prefix
            .iter()
            .flat_map(|prefix| &prefix.0)
            .chain(simple.suffix.iter().flat_map(|suffix| &suffix.0));
        items.into_iter().any(|item| match item {
            Item::ProcessSubstitution(_, subshell) => self.runs_input(&subshell.list),
            Item::IoRedirect(IoRedirect::File(
                _,
                _,
                IoFileRedirectTarget::ProcessSubstitution(_, subshell),
            )) => self.runs_input(&subshell.list),
            _ => false,
        })
    }

    /// Whether a list has a command that runs its input (or a variable) as code: a
    /// shell reading its standard input, `source`, `eval`.
    fn runs_input(&self, list: &CompoundList) -> bool {
        any_simple(list, &mut |simple| {
            self.stdin_consumer(simple).is_some()
                || simple.word_or_name.as_ref().is_some_and(|name| {
                    matches!(
                        name.value.as_str(),
                        "eval" | "source" | "." | "builtin" | "command"
                    )
                })
        })
    }

    fn simple_inner(&mut self, simple: &SimpleCommand) -> Result<(), Unparsable> {
        use brush_parser::ast::CommandPrefixOrSuffixItem as Item;
        // `bash <(…)`, `source <(…)`: the substitution's output is the script.
        let runs_file = simple
            .word_or_name
            .as_ref()
            .and_then(|name| self.arg(name).ok())
            .and_then(|arg| arg.program().map(str::to_owned))
            .is_some_and(|program| {
                consumers::is_shell(&program) || program == "source" || program == "."
            });
        let mut args = Vec::new();
        let mut redirects = Vec::new();
        let prefix = simple.prefix.iter().flat_map(|prefix| &prefix.0);
        for item in prefix {
            match item {
                Item::IoRedirect(redirect) => redirects.push(redirect),
                Item::Word(word) => self.word(word)?,
                Item::AssignmentWord(assignment, _) => self.assignment(assignment)?,
                Item::ProcessSubstitution(_, subshell) => self.list(&subshell.list)?,
            }
        }
        if let Some(name) = &simple.word_or_name {
            self.word(name)?;
            args.push(self.arg(name)?);
        }
        for item in simple.suffix.iter().flat_map(|suffix| &suffix.0) {
            match item {
                Item::IoRedirect(redirect) => redirects.push(redirect),
                Item::Word(word) => {
                    self.word(word)?;
                    args.push(self.arg(word)?);
                }
                Item::AssignmentWord(assignment, word) => {
                    self.assignment(assignment)?;
                    args.push(self.arg(word)?);
                }
                Item::ProcessSubstitution(_, subshell) if runs_file => {
                    self.raised("a script from a process substitution", |walker| {
                        walker.list(&subshell.list)
                    })?;
                }
                Item::ProcessSubstitution(_, subshell) => self.list(&subshell.list)?,
            }
        }
        commands::apply(self, &args, 0)?;
        // `exec 0<<<…`, `exec < file`: every later command reads that.
        if args.first().and_then(Arg::program) == Some("exec")
            && args.len() == 1
            && redirects.iter().any(|redirect| reads_fd0(redirect))
        {
            self.stdin_replaced = true;
        }
        if self.dynamic.is_none() {
            // A script given on standard input by a here-document, a here-string or a
            // pipe is checked where it is written; the step's own input is /dev/null.
            // From a file, another descriptor or a replaced standard input, it is not.
            let checked_input = redirects.iter().any(|redirect| {
                matches!(
                    redirect,
                    IoRedirect::HereDocument(..) | IoRedirect::HereString(..)
                )
            });
            // A pipe may carry a file's content (`cat f | sh`): what reads it as a
            // script runs code the check cannot see.
            let unchecked_input = redirects.iter().any(reads_fd0_from_elsewhere)
                || (self.stdin_replaced && !checked_input)
                || (self.in_consumer_position && !checked_input);
            let shell_var = args.first().is_some_and(|first| {
                first.literal.is_none()
                    && self.shell_vars.iter().any(|name| {
                        first.word.value.contains(&format!("${name}"))
                            || first.word.value.contains(&format!("${{{name}}}"))
                    })
            });
            let own_function = args
                .first()
                .and_then(|first| first.literal.as_deref())
                .is_some_and(|name| self.functions.contains(name));
            let fed = self.in_consumer_position || checked_input;
            self.dynamic = if own_function {
                None
            } else if shell_var {
                Some(format!(
                    "`{}`, a shell named by a variable",
                    args[0].word.value
                ))
            } else {
                dynamic_code(&args, fed, unchecked_input)
            };
        }
        // `read -r x <<< {{ v }}`, `mapfile -t a <<< {{ v }}`: `x`, `a` now hold it.
        if matches!(
            args.first().and_then(Arg::program),
            Some("read" | "mapfile" | "readarray")
        ) {
            let held: Vec<usize> = redirects
                .iter()
                .flat_map(|redirect| match redirect {
                    IoRedirect::HereString(_, word) => self.markers.find(&word.value),
                    IoRedirect::HereDocument(_, here) => self.markers.find(&here.doc.value),
                    _ => Vec::new(),
                })
                .collect();
            let mut names: Vec<String> = args[1..]
                .iter()
                .filter(|arg| !arg.is_option())
                .filter_map(|arg| arg.literal.clone())
                .collect();
            if args.first().and_then(Arg::program) != Some("read") {
                names.push("MAPFILE".to_owned());
            }
            for name in names {
                self.carry(&name, &held);
            }
        }
        let stdin_script = consumers::stdin_consumer(&literals(&args));
        for redirect in redirects {
            self.redirect(redirect, stdin_script.as_deref())?;
        }
        Ok(())
    }

    fn assignment(&mut self, assignment: &Assignment) -> Result<(), Unparsable> {
        let name = match &assignment.name {
            AssignmentName::VariableName(name) => {
                self.refuse_in(name, Context::VariableName("an assignment".into()));
                name
            }
            AssignmentName::ArrayElementName(name, index) => {
                self.refuse_in(name, Context::VariableName("an assignment".into()));
                self.arithmetic(index, "an array subscript")?;
                name
            }
        };
        let text = format!("{:?}", assignment.value);
        let names_shell = text.contains("$BASH")
            || text.contains("${BASH}")
            || text.contains("$SHELL")
            // Also `eval` and `source`: `x=eval; "$x" …` runs it.
            || text
                .split(|c: char| !c.is_ascii_alphanumeric())
                .any(|word| consumers::is_shell(word) || matches!(word, "eval" | "source"));
        if names_shell {
            self.shell_vars.insert(name.clone());
        }
        if commands::is_code_variable(name) {
            self.refuse_in(&text, Context::CodeVariable(name.clone()));
        }
        if self.integers.contains(name) {
            self.refuse_in(&text, Context::Arithmetic("an integer variable"));
        }
        if self.namerefs.contains(name) {
            self.refuse_in(&text, Context::VariableName("a nameref".into()));
        }
        // The variable holds the value itself only where the marker stands in the
        // word directly, not inside a command substitution (`t=$(date -d {{ v }})`
        // holds date's output).
        let held: Vec<usize> = match &assignment.value {
            AssignmentValue::Scalar(word) => self.held(word),
            AssignmentValue::Array(values) => values
                .iter()
                .flat_map(|(_, word)| self.held(word))
                .collect(),
        };
        self.carry(name, &held);
        match &assignment.value {
            AssignmentValue::Scalar(value) => self.word(value),
            AssignmentValue::Array(values) => {
                for (index, value) in values {
                    if let Some(index) = index {
                        self.arithmetic(&index.value, "an array subscript")?;
                    }
                    self.word(value)?;
                }
                Ok(())
            }
        }
    }

    /// A redirection; `stdin_script` names the command when its standard input is a
    /// script that a second shell runs (`ssh host <<'EOF'`, `bash -s <<<…`).
    fn redirect(
        &mut self,
        redirect: &IoRedirect,
        stdin_script: Option<&str>,
    ) -> Result<(), Unparsable> {
        match redirect {
            IoRedirect::File(_, _, target) => match target {
                IoFileRedirectTarget::Filename(word) | IoFileRedirectTarget::Duplicate(word) => {
                    self.word(word)
                }
                IoFileRedirectTarget::Fd(_) => Ok(()),
                IoFileRedirectTarget::ProcessSubstitution(_, subshell) => self.list(&subshell.list),
            },
            IoRedirect::OutputAndError(word, _) => self.word(word),
            IoRedirect::HereString(_, word) => {
                self.word(word)?;
                if let Some(command) = stdin_script {
                    let value = self.arg(word)?.value;
                    self.reparse(command, &value)?;
                }
                Ok(())
            }
            IoRedirect::HereDocument(_, here) => {
                self.refuse_in(&here.here_end.value, Context::HereDocument);
                // In an unquoted here-document bash joins a line ending in `\` with
                // the next, so a delimiter line right after it does not end the body;
                // the parser ends it there. Where they could disagree, refuse.
                if here.requires_expansion && here.doc.value.contains("\\\n") {
                    return Err(Unparsable::Syntax(
                        "a line of an unquoted here-document ends with a backslash, which joins it to the next line: quote the delimiter (<<'EOF')".to_owned(),
                    ));
                }
                if here.requires_expansion {
                    let pieces = word::parse_heredoc(&here.doc.value, &self.options)
                        .map_err(|error| Unparsable::Syntax(error.to_string()))?;
                    for piece in &pieces {
                        match &piece.piece {
                            WordPiece::Text(text) => self.refuse_in(text, Context::HereDocument),
                            other => self.piece(other, true)?,
                        }
                    }
                    if let Some(command) = stdin_script {
                        let value = pieces
                            .iter()
                            .map(|piece| match &piece.piece {
                                WordPiece::Text(text) => text.clone(),
                                WordPiece::EscapeSequence(text) => {
                                    text.trim_start_matches('\\').to_owned()
                                }
                                _ => PLACEHOLDER.to_owned(),
                            })
                            .collect::<String>();
                        self.reparse(command, &value)?;
                    }
                } else {
                    match stdin_script {
                        // A quoted delimiter: the body reaches the second shell as
                        // written, quoting included, and is parsed once, there.
                        Some(_) => {
                            if self.source(&here.doc.value, self.depth + 1).is_err() {
                                self.fine_in(&here.doc.value);
                            }
                        }
                        // Taken literally.
                        None => self.fine_in(&here.doc.value),
                    }
                }
                Ok(())
            }
        }
    }

    /// A word of the command line, piece by piece.
    pub fn word(&mut self, word: &Word) -> Result<(), Unparsable> {
        // Nothing inside a word without markers can hold a value, however nested —
        // unless it reads a variable that holds one.
        if self.markers.find(&word.value).is_empty()
            && (self.carriers.is_empty() || !word.value.contains('$'))
            && !word.value.contains("$(")
            && !word.value.contains('`')
        {
            return Ok(());
        }
        let pieces = word::parse(&word.value, &self.options)
            .map_err(|error| Unparsable::Syntax(error.to_string()))?;
        for piece in &pieces {
            self.piece(&piece.piece, false)?;
        }
        Ok(())
    }

    fn piece(&mut self, piece: &WordPiece, in_double_quotes: bool) -> Result<(), Unparsable> {
        match piece {
            WordPiece::Text(text) => {
                if in_double_quotes {
                    self.refuse_in(text, Context::Quotes("double quotes"));
                } else {
                    self.fine_in(text);
                }
            }
            WordPiece::SingleQuotedText(text) => {
                self.refuse_in(text, Context::Quotes("single quotes"));
            }
            WordPiece::AnsiCQuotedText(text) => self.refuse_in(text, Context::Quotes("`$'…'`")),
            WordPiece::DoubleQuotedSequence(pieces)
            | WordPiece::GettextDoubleQuotedSequence(pieces) => {
                for inner in pieces {
                    self.piece(&inner.piece, true)?;
                }
            }
            WordPiece::TildeExpansion(tilde) => {
                self.refuse_in(&format!("{tilde:?}"), Context::Unrecognised);
            }
            WordPiece::ParameterExpansion(expansion) => {
                use brush_parser::word::{Parameter, ParameterExpr};
                match expansion {
                    // `$x`, `${x}`: the variable's text, as data (or code, for a second
                    // shell: `echo "$x" | bash`).
                    ParameterExpr::Parameter {
                        parameter: Parameter::Named(name),
                        indirect: false,
                    } => {
                        if self.raised_levels > 0 {
                            let context = Context::Reparsed {
                                command: self.reparse_command.clone(),
                                levels: self.reparse,
                            };
                            self.refuse_carried(&format!("${name}"), context);
                        }
                    }
                    // `${x:-d}`, `${x%/}`, `${#x}` only read the variable; but `${x@P}`
                    // and `${!x}` evaluate its value, and subscripts and substring
                    // offsets are arithmetic.
                    other => {
                        let text = format!("{other:?}");
                        self.refuse_in(&text, Context::ParameterExpansion);
                        if text.contains("indirect: true") || text.contains("PromptExpand") {
                            for marker in self.carried(&text, true) {
                                self.push(marker, Context::ParameterExpansion);
                            }
                        }
                        if let ParameterExpr::Substring { offset, length, .. } = other {
                            self.arithmetic(&offset.value, "a substring offset")?;
                            if let Some(length) = length {
                                self.arithmetic(&length.value, "a substring length")?;
                            }
                        }
                        for index in subscripts(&text) {
                            self.arithmetic(&index, "an array subscript")?;
                        }
                    }
                }
            }
            WordPiece::CommandSubstitution(text) => self.source(text, self.depth + 1)?,
            WordPiece::BackquotedCommandSubstitution(text) => {
                self.refuse_in(text, Context::Backquotes);
            }
            WordPiece::EscapeSequence(text) => self.fine_in(text),
            WordPiece::ArithmeticExpression(expression) => {
                self.arithmetic(&expression.value, "`$(( ))`")?;
            }
        }
        Ok(())
    }

    /// Arithmetic: only plain numbers may go there.
    fn arithmetic(&mut self, text: &str, form: &'static str) -> Result<(), Unparsable> {
        self.refuse_in(text, Context::Arithmetic(form));
        // `n={{ v }}; (( n > 0 ))`: arithmetic reads variables by bare name too.
        for marker in self.carried(text, true) {
            self.push(marker, Context::Arithmetic(form));
        }
        Ok(())
    }

    /// The word as the rules for particular commands see it.
    pub fn arg<'w>(&self, word: &'w Word) -> Result<Arg<'w>, Unparsable> {
        let has_markers = !self.markers.find(&word.value).is_empty();
        // `"$BASH"`, `${SHELL}`, `$0`: the shell itself, under another spelling.
        let bare = word.value.trim_matches('"');
        if matches!(
            bare,
            "$BASH" | "${BASH}" | "$SHELL" | "${SHELL}" | "$0" | "${0}"
        ) {
            return Ok(Arg {
                word,
                literal: Some("bash".to_owned()),
                value: "bash".to_owned(),
                has_markers,
            });
        }
        // Most words are plain text: no parse needed to know what they say.
        if !has_markers && !word.value.contains(['\'', '"', '\\', '$', '`', '~']) {
            return Ok(Arg {
                word,
                literal: Some(word.value.clone()),
                value: word.value.clone(),
                has_markers,
            });
        }
        let pieces = word::parse(&word.value, &self.options)
            .map_err(|error| Unparsable::Syntax(error.to_string()))?;
        let mut value = String::new();
        let mut literal = !has_markers;
        unquote(&pieces, &mut value, &mut literal);
        Ok(Arg {
            word,
            literal: literal.then(|| value.clone()),
            value,
            has_markers,
        })
    }

    /// Markers in `text` are where a value may go (given enough quoting for any shell
    /// that parses the text again).
    pub fn fine_in(&mut self, text: &str) {
        for index in self.markers.find(text) {
            self.mark_seen(index);
            if self.reparse > 0
                && let Kind::Text { extra } = self.markers.kind(index)
                && extra < self.reparse
            {
                let context = Context::Reparsed {
                    command: self.reparse_command.clone(),
                    levels: self.reparse,
                };
                self.push(index, context);
            }
        }
    }

    /// A word that names a variable (`[[ -v W ]]`, `unset W`): refused when it holds a
    /// value, directly or through a variable (`$x`).
    pub fn refuse_name(&mut self, text: &str, context: Context) {
        self.refuse_carried(text, context.clone());
        self.refuse_in(text, context);
    }

    /// Where the first value in `text` starts (a byte offset).
    pub fn first_marker(&self, text: &str) -> Option<usize> {
        self.markers.position(text)
    }

    /// Markers in `text` are refused unless they stand for plain numbers.
    pub fn refuse_in(&mut self, text: &str, context: Context) {
        for index in self.markers.find(text) {
            self.mark_seen(index);
            if self.markers.kind(index) != Kind::Plain {
                self.push(index, context.clone());
            }
        }
    }

    fn push(&mut self, marker: usize, context: Context) {
        self.refusals.push(Refusal { marker, context });
    }

    fn mark_seen(&mut self, index: usize) {
        if let Some(seen) = self.seen.get_mut(index) {
            *seen = true;
        }
    }
}

/// The subscripts in the debug form of a parameter expansion (`index: "i + 1"`).
fn subscripts(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("index: \"") {
        let after = &rest[start + 8..];
        let mut end = 0;
        let mut escaped = false;
        for (position, character) in after.char_indices() {
            if escaped {
                escaped = false;
            } else if character == '\\' {
                escaped = true;
            } else if character == '"' {
                end = position;
                break;
            }
        }
        found.push(after[..end].to_owned());
        rest = &after[end..];
    }
    found
}

/// The literal words of a command, `None` where a word holds an expansion or a value.
pub(super) fn literals<'a>(args: &'a [Arg<'_>]) -> Vec<Option<&'a str>> {
    args.iter().map(|arg| arg.literal.as_deref()).collect()
}

/// Quote removal: the text a command receives for the word, with markers kept and
/// expansions as a placeholder; `literal` is cleared when there was an expansion.
fn unquote(
    pieces: &[brush_parser::word::WordPieceWithSource],
    out: &mut String,
    literal: &mut bool,
) {
    for piece in pieces {
        match &piece.piece {
            WordPiece::Text(text) | WordPiece::SingleQuotedText(text) => out.push_str(text),
            // `$'\x65val'` says `eval`: its escapes are not decoded here, so what it
            // spells is unknown.
            WordPiece::AnsiCQuotedText(text) => {
                out.push_str(text);
                *literal = false;
            }
            WordPiece::EscapeSequence(text) => {
                out.push_str(text.strip_prefix('\\').unwrap_or(text))
            }
            WordPiece::DoubleQuotedSequence(inner)
            | WordPiece::GettextDoubleQuotedSequence(inner) => unquote(inner, out, literal),
            _ => {
                out.push_str(PLACEHOLDER);
                *literal = false;
            }
        }
    }
}

fn is_arithmetic(predicate: &BinaryPredicate) -> bool {
    matches!(
        predicate,
        BinaryPredicate::ArithmeticEqualTo
            | BinaryPredicate::ArithmeticNotEqualTo
            | BinaryPredicate::ArithmeticLessThan
            | BinaryPredicate::ArithmeticLessThanOrEqualTo
            | BinaryPredicate::ArithmeticGreaterThan
            | BinaryPredicate::ArithmeticGreaterThanOrEqualTo
    )
}

/// Whether `marker` stands after a `#` that starts a comment on its line (the parser
/// drops comments, so the walk never reaches a value there).
fn in_comment(text: &str, marker: &str) -> bool {
    let Some(position) = text.find(marker) else {
        return false;
    };
    let line_start = text[..position].rfind('\n').map_or(0, |index| index + 1);
    let mut quote: Option<char> = None;
    let mut previous = ' ';
    let mut escaped = false;
    for character in text[line_start..position].chars() {
        if escaped {
            escaped = false;
        } else if let Some(open) = quote {
            if character == open {
                quote = None;
            } else if character == '\\' && open == '"' {
                escaped = true;
            }
        } else if character == '\\' {
            escaped = true;
        } else if character == '\'' || character == '"' {
            quote = Some(character);
        } else if character == '#' && (previous.is_whitespace() || previous == ';') {
            return true;
        }
        previous = character;
    }
    false
}
