use super::*;
use chrono::TimeZone;
use minijinja::context;

fn fixed_clock() -> Clock {
    Arc::new(|| {
        Utc.with_ymd_and_hms(2025, 1, 15, 14, 30, 0)
            .single()
            .expect("valid")
    })
}

fn render_command(source: &str, value: &str) -> String {
    let templates = Templates::new(fixed_clock());
    templates
        .render("steps[0].run", source, &context! { x => value })
        .expect("renders")
}

/// Runs the rendered command through a real shell and returns what `printf` saw.
fn shell_sees(value: &str) -> String {
    let command = render_command("printf %s {{ x }}", value);
    let output = std::process::Command::new("bash")
        .args(["-euo", "pipefail", "-c", &command])
        .output()
        .expect("bash runs");
    String::from_utf8(output.stdout).expect("utf-8")
}

#[test]
fn hostile_values_reach_the_command_as_one_literal_argument() {
    let hostile = [
        "x'; rm -rf / #",
        "$(id)",
        "`id`",
        "a\nb; touch PWNED",
        "ünïcødé ✓",
        "",
        "'",
        "\"$HOME\"",
        "--help",
        "a b\tc",
        "*",
        "~",
    ];
    for value in hostile {
        assert_eq!(shell_sees(value), value, "value {value:?}");
    }
}

#[test]
fn plain_words_stay_readable() {
    assert_eq!(
        render_command("dropdb {{ x }}", "chatcard"),
        "dropdb chatcard"
    );
    assert_eq!(
        render_command("ls {{ x }}", "/var/backups/a-1.dump"),
        "ls /var/backups/a-1.dump"
    );
    assert_eq!(render_command("echo {{ x }}", "it's"), r"echo 'it'\''s'");
}

#[test]
fn safe_opts_out_and_non_commands_are_not_quoted() {
    assert_eq!(render_command("echo {{ x | safe }}", "a b"), "echo a b");
    let templates = Templates::new(fixed_clock());
    let message = templates
        .render(
            "steps[0].confirm.message",
            "Drop {{ x }}?",
            &context! { x => "my db" },
        )
        .expect("renders");
    assert_eq!(message, "Drop my db?");
}

#[test]
fn shell_quote_adds_a_level_for_a_second_shell() {
    // In a command: quoted for this shell and once more for the one `ssh` or
    // `sh -c` hands it to.
    assert_eq!(
        render_command("sh -c {{ x | shell_quote }}", "a b"),
        r"sh -c ''\''a b'\'''"
    );
    let templates = Templates::new(fixed_clock());
    let var = templates
        .render(
            "vars.opts",
            "--table={{ x | shell_quote }}",
            &context! { x => "a b" },
        )
        .expect("renders");
    assert_eq!(var, "--table='a b'");
    // The second shell receives the value as one word: here, a command name.
    let command = render_command("bash -c {{ x | shell_quote }}", "printf ok; touch x");
    let output = std::process::Command::new("bash")
        .args(["-c", &command])
        .output()
        .expect("bash runs");
    assert!(output.stdout.is_empty());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("printf ok; touch x: command not found")
    );
}

#[test]
fn filters_that_mark_html_safe_do_not_skip_shell_quoting() {
    let templates = Templates::new(fixed_clock());
    let render = |source: &str| {
        templates
            .render("steps[0].run", source, &context! { x => "$(touch p)" })
            .expect("renders")
    };
    assert_eq!(render("echo {{ x | tojson }}"), r#"echo '"$(touch p)"'"#);
    assert_eq!(
        render("echo {{ x | urlencode }}"),
        "echo %24%28touch%20p%29"
    );
    assert_eq!(render("echo {{ x | e }}"), "echo '$(touch p)'");
}

#[test]
fn a_value_where_its_quoting_does_not_hold_is_refused() {
    let templates = Templates::new(fixed_clock());
    for source in [
        r#"echo "{{ x }}""#,
        "(( {{ x }} > 0 ))",
        "cat <<EOF\n{{ x }}\nEOF",
        "ssh host ls {{ x }}",
        r#"echo "{{ x | tojson }}""#,
    ] {
        let error = templates
            .render("steps[0].run", source, &context! { x => "HOME[$(id)]" })
            .expect_err(source);
        assert!(error.to_string().contains("refused"), "{source}: {error}");
    }
    // A number may go into arithmetic; `| safe` is code by design.
    let rendered = templates
        .render(
            "steps[0].run",
            "(( {{ n }} > 0 )) && {{ code | safe }}",
            &context! { n => 5, code => r#"echo "ok""# },
        )
        .expect("renders");
    assert_eq!(rendered, r#"(( 5 > 0 )) && echo "ok""#);
}

#[test]
fn only_command_paths_are_quoted() {
    for path in [
        "steps[0].run",
        "finally[1].parallel[0].run",
        "steps[3].require[0].command",
        "notify[0].run",
    ] {
        assert!(is_command(path), "{path}");
    }
    for path in [
        "vars.run",
        "steps[0].env.run",
        "vars.command",
        "steps[0].confirm.message",
    ] {
        assert!(!is_command(path), "{path}");
    }
}

#[test]
fn booleans_render_as_the_shell_spells_them() {
    let templates = Templates::new(fixed_clock());
    let rendered = templates
        .render(
            "steps[0].run",
            "if {{ a }}; then echo {{ b }}; fi",
            &context! { a => true, b => false },
        )
        .expect("renders");
    assert_eq!(rendered, "if true; then echo false; fi");
}

#[test]
fn undefined_is_an_error() {
    let templates = Templates::new(fixed_clock());
    let error = templates
        .render("steps[0].run", "echo {{ missing }}", &context! {})
        .expect_err("strict");
    assert_eq!(error.kind(), ErrorKind::UndefinedError);
}

#[test]
fn filters() {
    let templates = Templates::new(fixed_clock());
    let render = |source: &str| {
        templates
            .render("vars.x", source, &context! {})
            .expect("renders")
    };
    assert_eq!(render("{{ now() }}"), "2025-01-15T14:30:00Z");
    assert_eq!(
        render("{{ now() | date('%Y%m%dT%H%M%SZ') }}"),
        "20250115T143000Z"
    );
    assert_eq!(render("{{ 0 | date('%Y') }}"), "1970");
    assert_eq!(render("{{ 1536 | bytes }}"), "1.5 KiB");
    assert_eq!(render("{{ 100 | bytes }}"), "100 B");
    assert_eq!(render("{{ 5400 | duration }}"), "1h30m");
    assert_eq!(render("{{ '90m' | duration }}"), "1h30m");
}

#[test]
fn variables_are_listed_without_functions() {
    let templates = Templates::new(fixed_clock());
    let names = templates
        .template_variables("x.run", "{{ now() | date('%Y') }} {{ run.id }} {{ users }} {% for f in files %}{{ f }}{% endfor %}")
        .expect("parses");
    let mut names: Vec<_> = names.into_iter().collect();
    names.sort();
    assert_eq!(names, ["files", "run.id", "users"]);
}
