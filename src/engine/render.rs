//! Rendering templates and evaluating expressions against a run's context. A failure is
//! a `RunError` that says where (file, line, column) and with what values (masked);
//! everything the engine shows passes through the run's masker.

use crate::engine::Engine;
use crate::engine::context::Context;
use crate::engine::error::{Doing, RunError};
use crate::runbook::Located;
use minijinja::value::Value;

impl Engine<'_> {
    /// Renders a template with the context; an error says where and with what values.
    /// Whatever the text derives from a secret joins the secrets first (see `taint`).
    pub(crate) fn render(&self, located: &Located, context: &Context) -> Result<String, RunError> {
        let rendered = self
            .templates
            .render(&located.path, &located.text, &context.to_value())
            .map_err(|error| self.run_error(Doing::Render, located, context, &error))?;
        self.taint(located, context, &rendered);
        Ok(rendered)
    }

    /// Whether a template reads a secret name.
    pub(crate) fn reads_secret(&self, located: &Located, context: &Context) -> bool {
        !context.secrets.is_empty()
            && self
                .templates
                .template_variables(&located.path, &located.text)
                .is_ok_and(|names| names.iter().any(|name| context.is_secret(name)))
    }

    /// Taint tracking (docs/runbook-format.md, "Secrets"): every `{{ … }}` of the
    /// template that reads a secret is evaluated on its own and its value (`pw | upper`,
    /// `pw | urlencode`) becomes a secret, masked in every channel and form. When a
    /// secret is read where the value cannot be told apart — by a `{% … %}` tag, or an
    /// expression over loop variables — the whole rendered text becomes secret. Returns
    /// whether the template read a secret.
    pub(crate) fn taint(&self, located: &Located, context: &Context, rendered: &str) -> bool {
        if context.secrets.is_empty() {
            return false;
        }
        let Ok(names) = self
            .templates
            .template_variables(&located.path, &located.text)
        else {
            return false;
        };
        let secret_names: Vec<&String> = names
            .iter()
            .filter(|name| context.is_secret(name))
            .collect();
        if secret_names.is_empty() {
            return false;
        }
        let root = context.to_value();
        let mut derived: Vec<String> = Vec::new();
        let mut explained = std::collections::HashSet::new();
        let mut whole = false;
        for interpolation in crate::load::shell_lint::interpolations(&located.text) {
            let Ok(variables) = self
                .templates
                .expression_variables(&interpolation.expression)
            else {
                whole = true;
                continue;
            };
            let secret: Vec<String> = variables
                .into_iter()
                .filter(|name| context.is_secret(name))
                .collect();
            if secret.is_empty() {
                continue;
            }
            match self.templates.eval(&interpolation.expression, &root) {
                Ok(value) if !value.is_undefined() => {
                    derived.push(value.to_string());
                    explained.extend(secret);
                }
                _ => whole = true,
            }
        }
        if whole || secret_names.iter().any(|name| !explained.contains(*name)) {
            derived.push(rendered.to_owned());
        }
        self.ui
            .output
            .shared_masker()
            .add(derived.iter().map(String::as_str));
        true
    }

    pub(crate) fn eval(&self, located: &Located, context: &Context) -> Result<bool, RunError> {
        self.templates
            .eval(&located.text, &context.to_value())
            .map(|value| value.is_true())
            .map_err(|error| self.run_error(Doing::Evaluate, located, context, &error))
    }

    /// A located error with the values of the variables the template reads, masked.
    pub(crate) fn run_error(
        &self,
        doing: Doing,
        located: &Located,
        context: &Context,
        error: &minijinja::Error,
    ) -> RunError {
        let mut run_error = RunError::new(doing, located, error);
        run_error.details_mut().detail = self.mask(&run_error.detail);
        let names = match doing {
            Doing::Render | Doing::Destination => self
                .templates
                .template_variables(&located.path, &located.text),
            Doing::Evaluate => self.templates.expression_variables(&located.text),
        };
        let mut names: Vec<String> = names
            .map(|names| names.into_iter().collect())
            .unwrap_or_default();
        names.sort();
        let root = context.to_value();
        let lookup = |name: &str| {
            let mut value = root.clone();
            for part in name.split('.') {
                value = value.get_attr(part).unwrap_or_default();
            }
            value
        };
        let show = |value: &Value| {
            if value.is_undefined() {
                return "undefined".to_owned();
            }
            // Mask before quoting: an escaped secret (`a\'b`) no longer matches the
            // secret. A string is masked raw, then quoted; any other value that holds a
            // secret in any form is not shown at all.
            let text = match value.as_str() {
                Some(raw) => format!("{:?}", Value::from(self.mask(raw))),
                None => {
                    let debug = format!("{value:?}");
                    let display = value.to_string();
                    if self.mask(&display) != display || self.mask(&debug) != debug {
                        crate::mask::MASK.to_owned()
                    } else {
                        debug
                    }
                }
            };
            if text.chars().count() > 60 {
                format!("{}…", text.chars().take(60).collect::<String>())
            } else {
                text
            }
        };
        for name in names {
            let value = lookup(&name);
            // `info.port` undefined: what `info` is says why (the nearest defined
            // ancestor, however deep the lookup).
            if value.is_undefined() {
                let mut parent = name.as_str();
                while let Some((up, _)) = parent.rsplit_once('.') {
                    parent = up;
                    let parent_value = lookup(parent);
                    if parent_value.is_undefined() {
                        continue;
                    }
                    if !run_error.values.iter().any(|(known, _)| known == parent) {
                        run_error
                            .details_mut()
                            .values
                            .push((parent.to_owned(), show(&parent_value)));
                    }
                    break;
                }
            }
            run_error.details_mut().values.push((name, show(&value)));
        }
        run_error
    }

    pub(crate) fn mask(&self, text: &str) -> String {
        self.ui.output.mask(text)
    }

    /// Prints a run-time error located in the file of library entry `entry`.
    pub(crate) fn report(&self, entry: usize, step_id: Option<&str>, error: &RunError) {
        let source = &self.library.entry(entry).loaded.source;
        let diagnostic = error.diagnostic(&source.display_name(), &source.text, step_id);
        self.ui.message(&diagnostic.render(&self.ui.styles));
    }
}
