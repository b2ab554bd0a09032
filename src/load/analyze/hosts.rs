//! `hosts:` and `host:`: destinations that read as destinations and hold no secret,
//! ports and group sizes in range, and references to declared hosts only.

use super::{Analyzer, Scope};
use crate::load::problem::Problem;
use crate::load::suggest::suggest;

impl Analyzer<'_, '_> {
    /// A host under `hosts:`: its destinations are templates over params and vars, on
    /// `ssh`'s command line (so never secret), and must read as destinations.
    pub(super) fn host(&mut self, host: &crate::runbook::Host, scope: &Scope) {
        if host.name == crate::runbook::host::LOCAL {
            self.report
                .error(Problem::ReservedHostName, Some(host.span), &host.path, None);
        }
        for destination in &host.destinations {
            let names = self.template(destination, scope, None);
            if let Some(secret) = names.iter().find_map(|name| scope.secret(name)) {
                let problem = Problem::SecretInHost {
                    name: secret.to_owned(),
                };
                self.report
                    .error(problem, Some(destination.span), &destination.path, None);
            }
            if !destination.text.contains("{{")
                && !destination.text.contains("{%")
                && let Err(why) = crate::process::remote::check_destination(&destination.text)
            {
                let problem = Problem::BadDestination {
                    value: destination.text.clone(),
                    why,
                };
                self.report
                    .error(problem, Some(destination.span), &destination.path, None);
            }
        }
        if let Some(port) = host.port
            && !(1..=65535).contains(&port)
        {
            let problem = Problem::BadPort {
                value: port as usize,
            };
            self.report.error(
                problem,
                Some(host.span),
                &format!("{}.port", host.path),
                None,
            );
        }
        if host.max_parallel == Some(0) {
            self.report.error(
                Problem::ZeroParallel,
                Some(host.span),
                &format!("{}.max_parallel", host.path),
                None,
            );
        }
    }

    /// `host:` must name a declared host, or `local`.
    pub(super) fn host_ref(
        &mut self,
        host: Option<&crate::runbook::HostRef>,
        step_id: Option<&str>,
    ) {
        let Some(host) = host else {
            return;
        };
        if host.is_local() || self.hosts.contains(&host.name) {
            return;
        }
        let problem = Problem::UnknownHost {
            name: host.name.clone(),
            suggestion: suggest(&host.name, self.hosts.iter().map(String::as_str)),
            known: self.hosts.clone(),
        };
        self.report
            .error(problem, Some(host.span), &host.path, step_id);
    }
}
