//! "Did you mean …?": the closest known word to a misspelt one.

/// The candidate closest to `word` by edit distance, if it is close enough to be a typo
/// rather than a different word.
pub fn suggest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<String> {
    let word_lower = word.to_lowercase();
    candidates
        .into_iter()
        .map(|candidate| {
            (
                edit_distance(&word_lower, &candidate.to_lowercase()),
                candidate,
            )
        })
        .filter(|(distance, candidate)| {
            let limit = (word.chars().count().max(candidate.chars().count()) / 3).max(1);
            // A shared stem catches abbreviations and wrong endings (`int` → `integer`,
            // `failed` → `failure`) that are many edits apart.
            let common = word_lower
                .chars()
                .zip(candidate.to_lowercase().chars())
                .take_while(|(a, b)| a == b)
                .count();
            *distance <= limit || (common >= 3 && common * 2 >= word.chars().count())
        })
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate.to_owned())
}

/// Optimal string alignment distance, so a swapped pair such as `comfirm` → `confirm` or
/// `defualt` → `default` counts as one edit.
pub fn edit_distance(a: &str, b: &str) -> usize {
    strsim::osa_distance(a, b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_find_their_word() {
        let keys = [
            "confirm",
            "continue_on_error",
            "capture",
            "default",
            "description",
        ];
        assert_eq!(suggest("comfirm", keys).as_deref(), Some("confirm"));
        assert_eq!(suggest("defualt", keys).as_deref(), Some("default"));
        assert_eq!(suggest("Capture", keys).as_deref(), Some("capture"));
        assert_eq!(suggest("xyz", keys), None);
        assert_eq!(
            suggest("int", ["string", "integer", "number"]).as_deref(),
            Some("integer")
        );
        assert_eq!(
            suggest("failed", ["success", "failure", "always"]).as_deref(),
            Some("failure")
        );
    }

    #[test]
    fn distances() {
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("ab", "ba"), 1);
    }
}
