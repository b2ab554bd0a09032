//! Every runbook a run can reach, each loaded and checked once, keyed by the source it
//! was read from (a file's canonical path, a built-in runbook's embedded name), with each
//! include step resolved once. `validate`, `show`, `run` and `resume` all walk this one
//! structure, so the file `validate` checked is the file `run` executes.
//!
//! The walk is linear in the number of runbooks and include steps: cycles are found as
//! strongly connected components of the include graph (by identity, so a file whose
//! `name:` differs from its file name cannot hide one), nesting depth is the longest path
//! through the rest of the graph, and an invalid runbook makes every runbook that
//! includes it invalid, in one pass from the leaves up.

use crate::load::diagnostic::{Report, Severity};
use crate::load::graph::{path_within, strongly_connected};
use crate::load::problem::Problem;
use crate::load::source::{Catalog, Origin, Source, SourceError, SourceId};
use crate::load::with::check_with;
use crate::load::yaml::Span;
use crate::load::{Loaded, suggest};
use crate::runbook::{Action, Runbook};
use crate::template::Templates;
use std::collections::{HashMap, VecDeque};

/// How deeply includes may nest below the runbook that is run (docs/runbook-format.md,
/// "include"). Real procedures use two or three levels; the limit turns a runaway chain
/// into a located error before anything runs, instead of a run that dies half-way.
pub const MAX_INCLUDE_DEPTH: usize = 32;

/// One runbook of the library.
#[derive(Debug)]
pub struct Entry {
    pub loaded: Loaded,
    /// Each runbook name this one includes → the entry it resolved to.
    includes: HashMap<String, usize>,
}

impl Entry {
    pub fn runbook(&self) -> Option<&Runbook> {
        self.loaded.runbook.as_ref()
    }
}

/// The runbooks named on the command line and everything they include.
#[derive(Debug)]
pub struct Library {
    entries: Vec<Entry>,
    roots: Vec<usize>,
}

impl Library {
    /// Loads `roots` and, through their includes, every runbook they can reach; checks
    /// each one, each include step and the include graph as a whole.
    pub fn load(catalog: &Catalog, templates: &Templates, roots: Vec<Source>) -> Library {
        let mut builder = Builder {
            catalog,
            templates,
            entries: Vec::new(),
            index: HashMap::new(),
            edges: Vec::new(),
            pending: Vec::new(),
        };
        let roots: Vec<usize> = roots
            .into_iter()
            .map(|source| builder.add(source))
            .collect();
        let mut next = 0;
        while next < builder.entries.len() {
            builder.resolve_includes(next);
            next += 1;
        }
        builder.check_edges();
        let order = builder.check_cycles();
        builder.check_depth(&order);
        builder.propagate(&order);
        builder.finish(roots)
    }

    /// Loads one runbook named on the command line (a name or a path).
    pub fn load_argument(
        catalog: &Catalog,
        templates: &Templates,
        argument: &str,
    ) -> Result<Library, SourceError> {
        let source = catalog.resolve(argument)?;
        Ok(Library::load(catalog, templates, vec![source]))
    }

    /// The entries of the runbooks named on the command line, in the order given.
    pub fn roots(&self) -> &[usize] {
        &self.roots
    }

    /// The first (usually the only) runbook named on the command line.
    pub fn root(&self) -> &Entry {
        &self.entries[self.roots[0]]
    }

    pub fn root_index(&self) -> usize {
        self.roots[0]
    }

    pub fn entry(&self, index: usize) -> &Entry {
        &self.entries[index]
    }

    /// The runbook an include step of entry `from` names, as it was resolved at load.
    pub fn include(&self, from: usize, name: &str) -> Option<(usize, &Runbook)> {
        let index = *self.entries.get(from)?.includes.get(name)?;
        Some((index, self.entries[index].runbook()?))
    }

    /// `root` and every runbook it can reach, each once, in the order a reader meets
    /// them (breadth first, steps in document order).
    pub fn reachable(&self, root: usize) -> Vec<usize> {
        let mut seen = vec![false; self.entries.len()];
        let mut order = Vec::new();
        let mut queue = VecDeque::from([root]);
        seen[root] = true;
        while let Some(index) = queue.pop_front() {
            order.push(index);
            let Some(runbook) = self.entries[index].runbook() else {
                continue;
            };
            for step in runbook.all_steps() {
                if let Action::Include { runbook: name, .. } = &step.action
                    && let Some(&target) = self.entries[index].includes.get(name)
                    && !seen[target]
                {
                    seen[target] = true;
                    queue.push_back(target);
                }
            }
        }
        order
    }
}

/// An include step and the entry it resolved to.
struct Edge {
    from: usize,
    to: usize,
    /// Position of the include step in `all_steps()` of `from`.
    position: usize,
    /// Where `include:` is written.
    span: Span,
    /// Part of an include cycle.
    cyclic: bool,
}

/// A diagnostic found by the library walk, attached to its file at the end.
struct Pending {
    severity: Severity,
    problem: Problem,
    span: Option<Span>,
    path: String,
    step_id: String,
}

struct Builder<'a> {
    catalog: &'a Catalog,
    templates: &'a Templates,
    entries: Vec<Entry>,
    index: HashMap<SourceId, usize>,
    edges: Vec<Edge>,
    /// Per entry.
    pending: Vec<Vec<Pending>>,
}

impl Builder<'_> {
    fn add(&mut self, source: Source) -> usize {
        let id = source.id();
        if let Some(&index) = self.index.get(&id) {
            return index;
        }
        let loaded = crate::load::load_checked(source, self.templates);
        self.entries.push(Entry {
            loaded,
            includes: HashMap::new(),
        });
        self.pending.push(Vec::new());
        let index = self.entries.len() - 1;
        self.index.insert(id, index);
        index
    }

    fn error(&mut self, entry: usize, position: usize, problem: Problem, span: Option<Span>) {
        self.push(entry, position, Severity::Error, problem, span);
    }

    fn push(
        &mut self,
        entry: usize,
        position: usize,
        severity: Severity,
        problem: Problem,
        span: Option<Span>,
    ) {
        let Some(step) = self.entries[entry]
            .runbook()
            .and_then(|runbook| runbook.all_steps().get(position).copied())
        else {
            return;
        };
        let pending = Pending {
            severity,
            problem,
            span: span.or(Some(step.span)),
            path: step.path.clone(),
            step_id: step.id.clone(),
        };
        self.pending[entry].push(pending);
    }

    /// Resolves each include step of one entry, adding the runbooks it names.
    fn resolve_includes(&mut self, from: usize) {
        let Some(runbook) = self.entries[from].runbook() else {
            return;
        };
        let includes: Vec<(usize, String, Span)> = runbook
            .all_steps()
            .iter()
            .enumerate()
            .filter_map(|(position, step)| match &step.action {
                Action::Include {
                    runbook: name,
                    span,
                    ..
                } if !name.is_empty() => Some((position, name.clone(), *span)),
                _ => None,
            })
            .collect();
        for (position, name, span) in includes {
            let resolved = match self.entries[from].includes.get(&name) {
                Some(&to) => Ok(to),
                None => self.entries[from]
                    .loaded
                    .source
                    .include(&name, self.catalog)
                    .map(|source| {
                        let to = self.add(source);
                        self.entries[from].includes.insert(name.clone(), to);
                        to
                    }),
            };
            match resolved {
                Ok(to) => self.edges.push(Edge {
                    from,
                    to,
                    position,
                    span,
                    cyclic: false,
                }),
                Err(SourceError::NotFound { .. }) => {
                    let names: Vec<String> = self
                        .catalog
                        .list()
                        .into_iter()
                        .map(|source| source.stem)
                        .collect();
                    let suggestion = suggest::suggest(&name, names.iter().map(String::as_str));
                    let problem = Problem::UnknownInclude { name, suggestion };
                    self.error(from, position, problem, Some(span));
                }
                Err(error) => {
                    let problem = Problem::IncludeUnreadable {
                        name,
                        error: error.to_string(),
                    };
                    self.error(from, position, problem, Some(span));
                }
            }
        }
    }

    /// `with:` against the included runbook's params.
    fn check_edges(&mut self) {
        for edge in 0..self.edges.len() {
            let Edge {
                from, to, position, ..
            } = self.edges[edge];
            let mut found = Vec::new();
            if let (Some(runbook), Some(target)) =
                (self.entries[from].runbook(), self.entries[to].runbook())
            {
                let step = runbook.all_steps()[position];
                if let Action::Include {
                    runbook: name,
                    with,
                    span,
                } = &step.action
                {
                    check_with(
                        self.templates,
                        runbook,
                        target,
                        name,
                        with,
                        *span,
                        &mut found,
                    );
                }
            }
            for (severity, problem, span) in found {
                self.push(from, position, severity, problem, span);
            }
        }
    }

    /// Marks the include steps that are part of a cycle, with an error naming it.
    /// Returns the entries in an order where every runbook comes after the ones it
    /// includes (Tarjan's components come out leaves first).
    fn check_cycles(&mut self) -> Vec<usize> {
        let count = self.entries.len();
        let mut adjacency = vec![Vec::new(); count];
        for edge in &self.edges {
            adjacency[edge.from].push(edge.to);
        }
        let component = strongly_connected(&adjacency);
        for edge in 0..self.edges.len() {
            let Edge { from, to, .. } = self.edges[edge];
            if component[from] != component[to] {
                continue;
            }
            self.edges[edge].cyclic = true;
            let mut chain = vec![self.name(from)];
            chain.extend(
                path_within(&adjacency, &component, to, from)
                    .into_iter()
                    .map(|index| self.name(index)),
            );
            let Edge { position, span, .. } = self.edges[edge];
            self.error(from, position, Problem::IncludeCycle { chain }, Some(span));
        }
        let mut order: Vec<usize> = (0..count).collect();
        order.sort_by_key(|&index| component[index]);
        order
    }

    /// An error on every runbook whose includes nest deeper than the limit.
    fn check_depth(&mut self, order: &[usize]) {
        let mut height = vec![0usize; self.entries.len()];
        let mut deepest: Vec<Option<usize>> = vec![None; self.entries.len()];
        let mut outgoing = vec![Vec::new(); self.entries.len()];
        for (index, edge) in self.edges.iter().enumerate() {
            if !edge.cyclic {
                outgoing[edge.from].push(index);
            }
        }
        for &entry in order {
            for &edge in &outgoing[entry] {
                let to = self.edges[edge].to;
                if height[to] + 1 > height[entry] || deepest[entry].is_none() {
                    height[entry] = height[to] + 1;
                    deepest[entry] = Some(edge);
                }
            }
        }
        for &entry in order {
            if height[entry] <= MAX_INCLUDE_DEPTH {
                continue;
            }
            let Some(first) = deepest[entry] else {
                continue;
            };
            let mut chain = vec![self.name(entry)];
            let mut at = Some(first);
            while let Some(edge) = at {
                let to = self.edges[edge].to;
                chain.push(self.name(to));
                at = deepest[to];
            }
            let Edge { position, span, .. } = self.edges[first];
            let problem = Problem::IncludeTooDeep {
                chain,
                limit: MAX_INCLUDE_DEPTH,
            };
            self.error(entry, position, problem, Some(span));
        }
    }

    /// A runbook that includes an invalid one is invalid too, at the include step.
    fn propagate(&mut self, order: &[usize]) {
        let mut errors = vec![0usize; self.entries.len()];
        let mut outgoing = vec![Vec::new(); self.entries.len()];
        for (index, edge) in self.edges.iter().enumerate() {
            if !edge.cyclic {
                outgoing[edge.from].push(index);
            }
        }
        for &entry in order {
            // Too deep is about the chain, which the including runbook reports itself.
            let own = self.entries[entry].loaded.error_count()
                + self.pending[entry]
                    .iter()
                    .filter(|pending| {
                        pending.severity == Severity::Error
                            && !matches!(pending.problem, Problem::IncludeTooDeep { .. })
                    })
                    .count();
            let mut total = own;
            let mut reported = std::collections::HashSet::new();
            for &edge in &outgoing[entry] {
                let Edge {
                    to, position, span, ..
                } = self.edges[edge];
                if errors[to] == 0 || !reported.insert(position) {
                    continue;
                }
                let name = self.name(to);
                // The name when the search path finds this very file by it; else
                // the path (a sibling need not be on the search path).
                let source = &self.entries[to].loaded.source;
                let found_by_name = self
                    .catalog
                    .find(&source.stem)
                    .is_ok_and(|found| found.id() == source.id());
                let validate = match &source.origin {
                    Origin::File(path) if !found_by_name => path.display().to_string(),
                    Origin::File(_) | Origin::Embedded => source.stem.clone(),
                };
                let problem = Problem::IncludeInvalid {
                    name,
                    errors: errors[to],
                    validate,
                };
                self.error(entry, position, problem, Some(span));
                total += 1;
            }
            errors[entry] = total;
        }
    }

    fn name(&self, index: usize) -> String {
        let loaded = &self.entries[index].loaded;
        match loaded.runbook() {
            Some(runbook) if !runbook.name.is_empty() => runbook.name.clone(),
            _ => loaded.source.stem.clone(),
        }
    }

    fn finish(mut self, roots: Vec<usize>) -> Library {
        for (entry, pending) in self.entries.iter_mut().zip(self.pending) {
            if pending.is_empty() {
                continue;
            }
            let loaded = &mut entry.loaded;
            let mut report = Report::new(loaded.source.display_name(), &loaded.source.text);
            for pending in pending {
                match pending.severity {
                    Severity::Error => report.error(
                        pending.problem,
                        pending.span,
                        &pending.path,
                        Some(&pending.step_id),
                    ),
                    Severity::Warning => report.warning(
                        pending.problem,
                        pending.span,
                        &pending.path,
                        Some(&pending.step_id),
                    ),
                }
            }
            loaded.diagnostics.extend(report.into_sorted());
            loaded.sort_diagnostics();
        }
        Library {
            entries: self.entries,
            roots,
        }
    }
}
