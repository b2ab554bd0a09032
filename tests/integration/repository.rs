//! Rules about the repository itself, checked like code.

use crate::test::repository;

#[test]
fn code_comments_cite_documents_in_the_repository_only() {
    // The contract lives in docs/; a comment citing a document outside the repository
    // sends a reader nowhere.
    fn walk(directory: &std::path::Path, found: &mut Vec<String>) {
        for entry in std::fs::read_dir(directory).expect("source dir").flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, found);
            } else if path.extension().is_some_and(|extension| extension == "rs") {
                let text = std::fs::read_to_string(&path).expect("source file");
                for (number, line) in text.lines().enumerate() {
                    let comment = line.trim_start().starts_with("//");
                    if comment && (line.contains("SPEC") || line.contains("../shared")) {
                        found.push(format!("{}:{}: {line}", path.display(), number + 1));
                    }
                }
            }
        }
    }
    let mut found = Vec::new();
    walk(&repository().join("src"), &mut found);
    assert!(found.is_empty(), "{}", found.join("\n"));
}
