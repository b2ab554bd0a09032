//! The terminal: styles by role now; progress bars and prompts join it with the engine.

pub mod style;
