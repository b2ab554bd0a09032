//! A mutation fuzzer on stable Rust, over the loader (YAML parser, structural and
//! semantic checks, include resolution, diagnostics rendering) and the shell-quoting
//! check (static, on templates; and at run time, on rendered commands). The corpus is
//! the shipped runbooks and the invalid fixtures (`tests/fixtures/invalid`); mutants are byte flips, insertions of
//! YAML, Jinja and shell tokens, deletions, duplications and splices between corpus
//! files, from a seeded generator, so every failure is reproducible.
//!
//! `cargo test --test fuzz` runs a short fixed-seed slice (CI). A long run:
//!
//! ```text
//! FUZZ_ITERATIONS=200000 FUZZ_SEED=$RANDOM cargo test --release --test fuzz -- --nocapture
//! ```
//!
//! A panic is a crash: the input is saved under `target/fuzz/crash-*`, and the test
//! fails at the end. An input that takes longer than `FUZZ_HANG_SECONDS` (default 20)
//! is a hang: it is saved as `target/fuzz/hang` and the process aborts. The input being
//! tried is always in `target/fuzz/current`, for what neither can catch (a stack
//! overflow aborts the process).

use runbook::load::library::Library;
use runbook::load::source::{Catalog, Origin, Source};
use runbook::quoting::{Kind, Markers};
use runbook::runbook::Action;
use runbook::template::{Templates, system_clock};
use runbook::ui::style::Styles;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// splitmix64: small, fast, and the same sequence everywhere for a seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, bound: usize) -> usize {
        if bound == 0 {
            0
        } else {
            (self.next() % bound as u64) as usize
        }
    }
}

/// Tokens that matter to the three languages a runbook mixes.
const TOKENS: &[&str] = &[
    "{{ ",
    " }}",
    "{{",
    "}}",
    "{%",
    "%}",
    "{# ",
    " #}",
    "{% if x %}",
    "{% endif %}",
    "{% for a in b %}",
    "{% endfor %}",
    "| safe",
    "| shell_quote",
    "| int",
    "| tojson",
    "\n",
    "\n  ",
    "\n    ",
    "\n  - ",
    "- ",
    ": ",
    ":",
    "'",
    "\"",
    "\\",
    "#",
    "&a ",
    "*a",
    "<<: *a",
    "[",
    "]",
    "{",
    "}",
    ",",
    "|\n",
    ">\n",
    "---\n",
    "...\n",
    "!!str ",
    "? ",
    "\t",
    "\r",
    "\u{feff}",
    "é",
    "\u{0}",
    "$(",
    ")",
    "`",
    "$((",
    "))",
    "((",
    "[[",
    "]]",
    "<<EOF\n",
    "<<'EOF'\n",
    "<<-EOF\n",
    "\nEOF\n",
    "<<<",
    "${",
    "${x:-",
    "a[",
    "]=",
    "; ",
    "&& ",
    "|| ",
    " | ",
    "&",
    "let ",
    "eval ",
    "ssh h ",
    "sh -c ",
    "declare -i ",
    "steps:",
    "run: ",
    "id: ",
    "include: ",
    "with: ",
    "parallel:",
    "params:",
    "vars:",
    "confirm: ",
    "require:",
    "expect:",
    "finally:",
    "lock: ",
    "{{ x }}",
    "{{ steps.a.status }}",
];

fn mutate(rng: &mut Rng, input: &str, corpus: &[String]) -> String {
    let mut bytes = input.as_bytes().to_vec();
    for _ in 0..=rng.below(4) {
        let at = rng.below(bytes.len() + 1);
        match rng.below(7) {
            0 => {
                if let Some(byte) = bytes.get_mut(at) {
                    *byte ^= 1 << rng.below(8);
                }
            }
            1 | 2 => {
                let token = TOKENS[rng.below(TOKENS.len())].as_bytes();
                bytes.splice(at..at, token.iter().copied());
            }
            3 => {
                let end = (at + rng.below(64)).min(bytes.len());
                bytes.drain(at..end);
            }
            4 => {
                let end = (at + rng.below(256)).min(bytes.len());
                let copy = bytes[at..end].to_vec();
                let to = rng.below(bytes.len() + 1);
                bytes.splice(to..to, copy);
            }
            5 => {
                let other = corpus[rng.below(corpus.len())].as_bytes();
                let from = rng.below(other.len());
                let end = (from + rng.below(512)).min(other.len());
                bytes.splice(at..at, other[from..end].iter().copied());
            }
            _ => {
                let byte = rng.below(256) as u8;
                bytes.insert(at.min(bytes.len()), byte);
            }
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

fn corpus(root: &Path) -> (Vec<String>, Vec<String>) {
    let mut runbooks = Vec::new();
    for directory in ["runbooks", "tests/fixtures/invalid"] {
        let mut paths: Vec<PathBuf> = std::fs::read_dir(root.join(directory))
            .expect("corpus directory")
            .filter_map(Result::ok)
            .map(|entry| entry.path())
            .filter(|path| {
                path.extension()
                    .is_some_and(|extension| extension == "yaml")
            })
            .collect();
        paths.sort();
        for path in paths {
            runbooks.push(std::fs::read_to_string(&path).expect("corpus file"));
        }
    }
    // Every command of the shipped runbooks: the corpus of the quoting check.
    let templates = Templates::new(system_clock());
    let catalog = Catalog::new(Vec::new(), true);
    let mut commands = Vec::new();
    for text in &runbooks {
        let library = Library::load(&catalog, &templates, vec![source(text)]);
        if let Some(runbook) = library.root().runbook() {
            for step in runbook.all_steps() {
                if let Action::Run { command } = &step.action {
                    commands.push(command.text.clone());
                }
            }
        }
    }
    (runbooks, commands)
}

fn source(text: &str) -> Source {
    Source {
        stem: "fuzz".to_owned(),
        origin: Origin::Embedded,
        text: text.to_owned(),
    }
}

/// The loader, end to end, as `validate` runs it.
fn load(templates: &Templates, catalog: &Catalog, text: &str) {
    let library = Library::load(catalog, templates, vec![source(text)]);
    let styles = Styles::plain();
    for index in library.reachable(library.root_index()) {
        for diagnostic in &library.entry(index).loaded.diagnostics {
            let _ = diagnostic.render(&styles);
        }
    }
}

/// The quoting check, statically and on a rendered command.
fn quote(templates: &Templates, command: &str, value: &str) {
    let _ = runbook::load::shell_lint::lint(command, &|name| name == "n");
    let context = minijinja::context! { x => value, y => value, n => 5, v => value };
    let _ = templates.render("steps[0].run", command, &context);
    let mut markers = Markers::new(command);
    let marker = markers.push(Kind::Text { extra: 0 }, String::new());
    let _ = runbook::quoting::check(&command.replace("{{ x }}", &marker), &markers);
}

fn environment(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

#[test]
fn mutants_never_crash_or_hang_the_loader_or_the_quoting_check() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let out = root.join("target/fuzz");
    std::fs::create_dir_all(&out).expect("target/fuzz");
    let iterations = environment("FUZZ_ITERATIONS", 1_500);
    let seed = environment("FUZZ_SEED", 20_261_202);
    let hang = Duration::from_secs(environment("FUZZ_HANG_SECONDS", 20));
    let (runbooks, commands) = corpus(&root);
    assert!(
        runbooks.len() > 20 && commands.len() > 50,
        "corpus too small"
    );

    // The watchdog: an input that runs too long is saved and the process aborts.
    let started_at = Arc::new(AtomicU64::new(0));
    let current = Arc::new(Mutex::new(String::new()));
    let epoch = Instant::now();
    {
        let started_at = Arc::clone(&started_at);
        let current = Arc::clone(&current);
        let out = out.clone();
        std::thread::spawn(move || {
            loop {
                std::thread::sleep(Duration::from_millis(200));
                let started = started_at.load(Ordering::Relaxed);
                let now = epoch.elapsed().as_millis() as u64;
                if started > 0 && now.saturating_sub(started) > hang.as_millis() as u64 {
                    let input = current
                        .lock()
                        .map(|input| input.clone())
                        .unwrap_or_default();
                    let _ = std::fs::write(out.join("hang"), &input);
                    eprintln!("HANG: an input ran over {hang:?}; saved as target/fuzz/hang");
                    std::process::abort();
                }
            }
        });
    }

    let templates = Templates::new(system_clock());
    let catalog = Catalog::new(Vec::new(), true);
    let mut rng = Rng(seed);
    let mut crashes = Vec::new();
    let mut slowest = Duration::ZERO;
    let began = Instant::now();
    for iteration in 0..iterations {
        let shell = iteration % 2 == 1;
        let input = if shell {
            let pick = rng.below(commands.len());
            mutate(&mut rng, &commands[pick], &commands)
        } else {
            let pick = rng.below(runbooks.len());
            mutate(&mut rng, &runbooks[pick], &runbooks)
        };
        let value = mutate(&mut rng, "$(touch x) 'a' \"b\"", &commands);
        let _ = std::fs::write(out.join("current"), &input);
        if let Ok(mut slot) = current.lock() {
            slot.clone_from(&input);
        }
        let tick = Instant::now();
        started_at.store(epoch.elapsed().as_millis() as u64 + 1, Ordering::Relaxed);
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            if shell {
                quote(&templates, &input, &value);
            } else {
                load(&templates, &catalog, &input);
            }
        }));
        started_at.store(0, Ordering::Relaxed);
        slowest = slowest.max(tick.elapsed());
        if outcome.is_err() {
            let path = out.join(format!("crash-{seed}-{iteration}"));
            let _ = std::fs::write(&path, &input);
            crashes.push(path.display().to_string());
        }
    }
    eprintln!(
        "fuzz: {iterations} mutants (seed {seed}) in {:.1?}, slowest {slowest:.1?}, {} crashes",
        began.elapsed(),
        crashes.len()
    );
    assert!(
        crashes.is_empty(),
        "crashes, inputs saved:\n{}",
        crashes.join("\n")
    );
}
