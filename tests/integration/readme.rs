//! The README's console samples, run: a sample that no longer matches what the binary
//! prints fails here instead of misleading a newcomer. Each `$ runbook …` line that can
//! run without servers (`list`, a `--dry-run`) is run; the lines under it must appear
//! in its output in order, where `...` stands for any text (a line of its own: any
//! lines) and runs of spaces for any spacing.

use crate::test::Test;

struct Sample {
    env: Vec<(String, String)>,
    args: Vec<String>,
    expected: Vec<String>,
}

fn samples() -> Vec<Sample> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    let mut samples: Vec<Sample> = Vec::new();
    let mut in_console = false;
    for line in readme.lines() {
        if line.starts_with("```") {
            in_console = line == "```console";
            continue;
        }
        if !in_console {
            continue;
        }
        if let Some(command) = line.strip_prefix("$ ") {
            let words: Vec<&str> = command.split_whitespace().collect();
            let position = words.iter().position(|word| *word == "runbook");
            let checkable = position.is_some()
                && !command.contains('…')
                && !command.contains('#')
                && (command.contains("--dry-run") || command.ends_with("runbook list"));
            samples.push(Sample {
                env: position
                    .map(|position| {
                        words[..position]
                            .iter()
                            .filter_map(|word| word.split_once('='))
                            .map(|(name, value)| (name.to_owned(), value.to_owned()))
                            .collect()
                    })
                    .unwrap_or_default(),
                args: if checkable {
                    position
                        .map(|position| {
                            words[position + 1..]
                                .iter()
                                .map(|word| (*word).to_owned())
                                .collect()
                        })
                        .unwrap_or_default()
                } else {
                    Vec::new()
                },
                expected: Vec::new(),
            });
        } else if let Some(sample) = samples.last_mut() {
            sample.expected.push(line.to_owned());
        }
    }
    samples.retain(|sample| !sample.args.is_empty());
    samples
}

/// `expected` as a pattern for one whole line: `...` any text, spaces any spacing.
fn pattern(expected: &str) -> regex::Regex {
    let mut text = String::from("^");
    for (index, part) in expected.trim_end().split("...").enumerate() {
        if index > 0 {
            text.push_str(".*");
        }
        let words: Vec<String> = part.split(' ').map(regex::escape).collect();
        text.push_str(&words.join(" +"));
    }
    text.push_str(" *$");
    regex::Regex::new(&text).expect("pattern")
}

#[test]
fn the_readmes_console_samples_match_what_the_binary_prints() {
    let samples = samples();
    assert!(samples.len() >= 2, "no checkable samples found");
    for sample in samples {
        let mut test = Test::new().args(sample.args.iter().map(String::as_str));
        for (name, value) in &sample.env {
            test = test.env(name, value);
        }
        let outcome = test.run();
        assert_eq!(
            outcome.code,
            0,
            "$ runbook {}\n{}",
            sample.args.join(" "),
            outcome.stderr
        );
        let printed = format!("{}{}", outcome.stdout, outcome.stderr);
        let mut lines = printed.lines();
        for expected in sample
            .expected
            .iter()
            .filter(|line| !line.trim().is_empty() && line.trim() != "...")
        {
            let wanted = pattern(expected);
            assert!(
                lines.any(|line| wanted.is_match(line)),
                "README sample `$ runbook {}`: this line is not in the output (in order):\n{expected}\n--- output\n{printed}",
                sample.args.join(" ")
            );
        }
    }
}
