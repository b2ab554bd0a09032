//! The stable diagnostic codes (`RB001`…): one table, changed only when a kind of
//! problem is added, apart from the messages in `problem.rs`. docs/json.md lists them.

use crate::load::problem::Problem;

impl Problem {
    /// A stable code for this kind of problem (`RB001`…), for `--format json`, scripts
    /// and the docs (docs/json.md, "Diagnostic codes"). A code is never reused: new
    /// problems get the next free number.
    pub fn code(&self) -> &'static str {
        match self {
            Problem::Yaml(_) => "RB001",
            Problem::UnknownKey { .. } => "RB002",
            Problem::DuplicateKey { .. } => "RB003",
            Problem::NonStringKey => "RB004",
            Problem::WrongType { .. } => "RB005",
            Problem::MissingKey { .. } => "RB006",
            Problem::BadName { .. } => "RB007",
            Problem::NotAChoice { .. } => "RB008",
            Problem::BadDuration { .. } => "RB009",
            Problem::EmptySteps { .. } => "RB010",
            Problem::NoAction { .. } => "RB011",
            Problem::ConflictingKeys { .. } => "RB012",
            Problem::DependsOn { .. } => "RB013",
            Problem::FlagRequires { .. } => "RB014",
            Problem::NameMismatch { .. } => "RB015",
            Problem::DuplicateStepId { .. } => "RB016",
            Problem::DuplicateVariable { .. } => "RB017",
            Problem::BadDefault { .. } => "RB018",
            Problem::BadPattern { .. } => "RB019",
            Problem::UnknownInclude { .. } => "RB020",
            Problem::IncludeCycle { .. } => "RB021",
            Problem::IncludeTooDeep { .. } => "RB022",
            Problem::IncludeUnreadable { .. } => "RB023",
            Problem::RunTime { .. } => "RB024",
            Problem::IncludeInvalid { .. } => "RB025",
            Problem::IncludeUnknownParam { .. } => "RB026",
            Problem::IncludeMissingParam { .. } => "RB027",
            Problem::UndefinedVariable { .. } => "RB028",
            Problem::TemplateSyntax { .. } => "RB029",
            Problem::ExpressionSyntax { .. } => "RB030",
            Problem::SecretInCommand { .. } => "RB031",
            Problem::SecretToPlainParam { .. } => "RB032",
            Problem::UnsafeInterpolation { .. } => "RB033",
            Problem::SecretInLock { .. } => "RB034",
            Problem::ShellSyntax { .. } => "RB035",
            Problem::ManualInParallel => "RB036",
            Problem::InteractiveCapture => "RB037",
            Problem::InteractiveInParallel => "RB038",
            Problem::UnknownHost { .. } => "RB039",
            Problem::ReservedHostName => "RB040",
            Problem::SecretInHost { .. } => "RB041",
            Problem::BadDestination { .. } => "RB042",
            Problem::InteractiveRemote => "RB043",
            Problem::BadPort { .. } => "RB044",
            Problem::ZeroParallel => "RB045",
        }
    }
}
