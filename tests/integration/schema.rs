//! `runbook schema` is the committed JSON Schema, byte for byte.

use crate::test::{Test, repository};

#[test]
fn schema_matches_the_committed_file() {
    let committed = std::fs::read_to_string(repository().join("schemas/runbook.schema.json"))
        .expect("schemas/runbook.schema.json is committed");
    let outcome = Test::new().args(["schema"]).status(0);
    assert!(
        outcome.stdout == committed,
        "schemas/runbook.schema.json is stale: run `cargo run -- schema > schemas/runbook.schema.json`"
    );
}

#[test]
fn schema_is_json_and_closed() {
    let outcome = Test::new().args(["schema"]).status(0);
    let schema: serde_json::Value = serde_json::from_str(&outcome.stdout).expect("JSON");
    let step = &schema["$defs"]["step"];
    assert_eq!(step["additionalProperties"], false);
    assert!(step["properties"]["confirm"].is_object());
    assert_eq!(
        schema["$defs"]["runbook"]["required"],
        serde_json::json!(["name", "title", "kind", "steps"])
    );
}

#[test]
fn every_shipped_runbook_points_at_the_schema() {
    for entry in std::fs::read_dir(repository().join("runbooks")).expect("runbooks dir") {
        let path = entry.expect("entry").path();
        let text = std::fs::read_to_string(&path).expect("read");
        assert!(
            text.starts_with("# yaml-language-server: $schema=../schemas/runbook.schema.json\n"),
            "{} lacks the schema line",
            path.display()
        );
    }
}

#[test]
fn completions_are_generated() {
    for shell in ["bash", "zsh", "fish"] {
        let outcome = Test::new().args(["completions", shell]).status(0);
        assert!(outcome.stdout.contains("validate"), "{shell}");
    }
}
