//! backup-postgres → damage → restore-postgres (swap and in-place) → verify-restore.

use std::process::{Child, Command, Stdio};

use super::{entries, path, run_expecting, temp_dir};
use crate::servers::Postgres;

/// Takes a backup of `chatcard` with the backup-postgres runbook into `dir` and returns
/// the new dump.
pub(super) fn backup(pg: &Postgres, dir: &std::path::Path) -> std::path::PathBuf {
    let before = entries(dir, "", "");
    let database_url = pg.url("chatcard");
    let admin_url = pg.admin_url();
    run_expecting(
        0,
        "backup-postgres",
        &["-p", "schema_only=true"],
        &[
            ("DATABASE_URL", &database_url),
            ("ADMIN_URL", &admin_url),
            ("BACKUP_DIR", path(dir)),
        ],
    );
    // Everything is published under its final name with a checksum; nothing is partial.
    let mut new: Vec<String> = entries(dir, "", "")
        .into_iter()
        .filter(|name| !before.contains(name))
        .collect();
    let stamp = regex::Regex::new("[0-9]{8}T[0-9]{6}Z").expect("regex");
    for name in &mut new {
        *name = stamp.replace(name, "STAMP").into_owned();
    }
    assert_eq!(
        new,
        [
            "chatcard-STAMP.dump",
            "chatcard-STAMP.dump.sha256",
            "chatcard-schema-STAMP.sql",
            "globals-STAMP.sql",
            "globals-STAMP.sql.sha256",
        ]
    );
    let dumps = entries(dir, "chatcard-", "Z.dump");
    dir.join(dumps.last().expect("a dump"))
}

/// The newest roles dump (globals-STAMP.sql) in `dir`.
fn newest_globals(dir: &std::path::Path) -> std::path::PathBuf {
    dir.join(
        entries(dir, "globals-", "Z.sql")
            .pop()
            .expect("globals dump"),
    )
}

/// restore-postgres of `dump` on the server of `admin_url`, unattended, with `extra`
/// params and approvals; the exit code asserted.
fn restore_postgres(
    code: i32,
    admin_url: &str,
    dump: &std::path::Path,
    extra: &[&str],
) -> crate::test::Outcome {
    let backup_file = format!("backup_file={}", path(dump));
    let mut args = vec!["-p", backup_file.as_str()];
    args.extend_from_slice(extra);
    run_expecting(code, "restore-postgres", &args, &[("ADMIN_URL", admin_url)])
}

/// Deletes and changes rows and drops a whole table.
fn damage(pg: &Postgres) {
    pg.sql(
        "chatcard",
        r#"DELETE FROM "Anchor" WHERE id % 3 = 0;
           UPDATE "User" SET email = 'overwritten' || id WHERE id <= 10;
           DROP TABLE "Anchor";
           DELETE FROM "Proof" WHERE id > 2500;"#,
    );
}

/// An application session connected to `chatcard` for the whole restore.
/// An application's session, waited for until the server shows it running.
fn app_session(pg: &Postgres) -> Child {
    let session = Command::new("psql")
        .args([
            "-X",
            "-q",
            "-d",
            &pg.url("chatcard"),
            "-c",
            "SELECT pg_sleep(600)",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("psql");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while pg.sql(
        "postgres",
        "SELECT count(*) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(600)'",
    ) != "1"
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the application session never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    session
}

fn session_ended(mut session: Child) -> bool {
    let ended = session.try_wait().expect("try_wait").is_some();
    let _ = session.kill();
    let _ = session.wait();
    ended
}

#[test]
fn restore_postgres_swap_mode_brings_back_exactly_the_backed_up_data_and_keeps_the_old_database() {
    let pg = Postgres::start();
    pg.load_sample_data("chatcard");
    let original = pg.fingerprint("chatcard");
    let backups = temp_dir();
    let dump = backup(&pg, backups.path());

    damage(&pg);
    let damaged = pg.fingerprint("chatcard");
    assert_ne!(damaged, original);
    let session = app_session(&pg);

    let admin_url = pg.admin_url();
    let outcome = restore_postgres(0, &admin_url, &dump, &["--approve", "swap"]);
    assert!(
        outcome.stderr.contains("verify/row-counts"),
        "{}",
        outcome.stderr
    );

    assert_eq!(
        pg.fingerprint("chatcard"),
        original,
        "restored data differs from the backup"
    );
    assert!(
        session_ended(session),
        "the swap did not end the application's session"
    );
    // The damaged database is kept, closed to connections, for a rollback.
    let old = pg.sql(
        "postgres",
        "SELECT datname || ' ' || datallowconn FROM pg_database WHERE datname LIKE 'chatcard_pre_restore_%'",
    );
    let (old_name, allow) = old.split_once(' ').expect("one pre-restore database");
    assert_eq!(allow, "false");
    pg.sql(
        "postgres",
        &format!("ALTER DATABASE {old_name} ALLOW_CONNECTIONS true"),
    );
    assert_eq!(pg.fingerprint(old_name), damaged);
    assert!(
        !pg.databases()
            .iter()
            .any(|db| db.starts_with("chatcard_restore_")),
        "{:?}",
        pg.databases()
    );
    // verify-restore on its own passes on the restored database...
    run_expecting(
        0,
        "verify-restore",
        &[
            "-p",
            "db_name=chatcard",
            "-p",
            &format!("dump_file={}", path(&dump)),
        ],
        &[("ADMIN_URL", &admin_url)],
    );
    // ...and fails on the damaged one: rows missing against the dump, a table gone.
    let outcome = run_expecting(
        1,
        "verify-restore",
        &[
            "-p",
            &format!("db_name={old_name}"),
            "-p",
            &format!("dump_file={}", path(&dump)),
        ],
        &[("ADMIN_URL", &admin_url)],
    );
    assert!(
        outcome.stderr.contains("COUNT MISMATCH in 2 table(s)"),
        "{}",
        outcome.stderr
    );
    assert!(
        outcome.stdout.contains("missing  <-- MISMATCH"),
        "{}",
        outcome.stdout
    );
    // Sequences continue after the restored rows: the application can insert again.
    pg.sql(
        "chatcard",
        r#"INSERT INTO "User" (email) VALUES ('after-restore@example.com')"#,
    );
}

#[test]
fn restore_postgres_in_place_mode_replaces_the_damaged_database_with_the_backup() {
    let pg = Postgres::start();
    pg.load_sample_data("chatcard");
    let original = pg.fingerprint("chatcard");
    let backups = temp_dir();
    let dump = backup(&pg, backups.path());

    damage(&pg);
    assert_ne!(pg.fingerprint("chatcard"), original);
    let session = app_session(&pg);

    let admin_url = pg.admin_url();
    // The destructive step needs its own approval: --yes is not enough.
    let declined = restore_postgres(3, &admin_url, &dump, &["-p", "mode=in-place", "--yes"]);
    assert!(declined.stderr.contains("--approve"), "{}", declined.stderr);
    assert_ne!(
        pg.fingerprint("chatcard"),
        original,
        "nothing may change without approval"
    );

    restore_postgres(
        0,
        &admin_url,
        &dump,
        &["-p", "mode=in-place", "--approve", "drop-and-recreate"],
    );
    assert_eq!(
        pg.fingerprint("chatcard"),
        original,
        "restored data differs from the backup"
    );
    assert!(
        session_ended(session),
        "dropdb --force did not end the application's session"
    );
    assert_eq!(pg.databases(), ["chatcard", "postgres"]);
    pg.sql(
        "chatcard",
        r#"INSERT INTO "User" (email) VALUES ('after-restore@example.com')"#,
    );
}

#[test]
fn restore_postgres_refuses_a_dump_that_does_not_match_its_checksum_and_changes_nothing() {
    let pg = Postgres::start();
    pg.load_sample_data("chatcard");
    let backups = temp_dir();
    let dump = backup(&pg, backups.path());
    damage(&pg);
    let damaged = pg.fingerprint("chatcard");
    let databases = pg.databases();

    // One flipped byte in the middle of the file.
    let mut bytes = std::fs::read(&dump).expect("read dump");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(&dump, bytes).expect("write dump");

    let admin_url = pg.admin_url();
    let outcome = restore_postgres(
        1,
        &admin_url,
        &dump,
        &["-p", "mode=in-place", "--approve", "drop-and-recreate"],
    );
    assert!(
        outcome.stderr.contains("CHECKSUM MISMATCH"),
        "{}",
        outcome.stderr
    );
    assert_eq!(pg.fingerprint("chatcard"), damaged);
    assert_eq!(pg.databases(), databases);
}

#[test]
fn restore_postgres_onto_a_new_server_creates_the_roles_from_the_globals_dump_and_gives_everything_to_the_owner()
 {
    let backups = temp_dir();
    let (dump, original) = {
        let lost = Postgres::start();
        lost.sql(
            "postgres",
            "CREATE ROLE app LOGIN CONNECTION LIMIT 50; CREATE ROLE reporting NOLOGIN;",
        );
        lost.load_sample_data("chatcard");
        lost.sql(
            "chatcard",
            r#"ALTER TABLE "User" OWNER TO app; ALTER TABLE "Proof" OWNER TO app; ALTER TABLE "Anchor" OWNER TO app;"#,
        );
        (backup(&lost, backups.path()), lost.fingerprint("chatcard"))
        // The old server is gone from here on.
    };
    let globals = newest_globals(backups.path());

    let new = Postgres::start();
    let admin_url = new.admin_url();
    restore_postgres(
        0,
        &admin_url,
        &dump,
        &[
            "-p",
            &format!("globals_file={}", path(&globals)),
            "-p",
            "owner=app",
            "--yes",
            "--approve",
            "swap",
        ],
    );
    assert_eq!(new.fingerprint("chatcard"), original);
    assert_eq!(
        new.sql(
            "postgres",
            "SELECT string_agg(rolname || ':' || rolcanlogin || ':' || rolconnlimit, ' ' ORDER BY rolname) FROM pg_roles WHERE rolname IN ('app', 'reporting')"
        ),
        "app:true:50 reporting:false:-1"
    );
    assert_eq!(
        new.sql(
            "chatcard",
            "SELECT string_agg(DISTINCT tableowner, ',') FROM pg_tables WHERE schemaname = 'public'"
        ),
        "app"
    );
    assert_eq!(
        new.sql(
            "postgres",
            "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'chatcard'"
        ),
        "app"
    );
    // The application role can use its data.
    new.sql(
        "chatcard",
        r#"SET ROLE app; INSERT INTO "User" (email) VALUES ('app@example.com');"#,
    );
}

/// What an application needs of a restored database, checked by logging in as its roles:
/// `app` reads and writes, `reporting` reads but cannot write, `outsider` cannot even
/// connect, and the database's settings, comment and owner are those of the original.
pub(super) fn assert_the_application_can_use(pg: &Postgres, db: &str) {
    pg.sql_as(
        "app",
        db,
        r#"INSERT INTO "User" (email) VALUES ('app-after-restore@example.com')"#,
    );
    assert!(
        pg.sql_as("app", db, r#"SELECT count(*) FROM "Proof""#)
            .parse::<u64>()
            .is_ok()
    );
    assert_eq!(pg.sql_as("app", db, "SHOW work_mem"), "8MB");
    assert!(
        pg.sql_as("reporting", db, r#"SELECT count(*) FROM "User""#)
            .parse::<u64>()
            .is_ok()
    );
    assert_eq!(pg.sql_as("reporting", db, "SHOW statement_timeout"), "5s");
    let denied = pg
        .try_sql_as(
            "reporting",
            db,
            r#"INSERT INTO "User" (email) VALUES ('no')"#,
        )
        .expect_err("reporting must not write");
    assert!(denied.contains("permission denied"), "{denied}");
    let closed = pg
        .try_sql_as("outsider", db, "SELECT 1")
        .expect_err("the database is closed to PUBLIC");
    assert!(
        closed.contains("permission denied for database"),
        "{closed}"
    );
    assert_eq!(
        pg.sql(
            "postgres",
            &format!("SELECT pg_get_userbyid(datdba) || ' ' || shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = '{db}'"),
        ),
        "app the application database"
    );
}

#[test]
fn a_restore_keeps_owners_grants_and_database_settings_so_the_application_can_use_its_data() {
    let pg = Postgres::start();
    pg.load_app_sample_data("chatcard");
    let original = pg.fingerprint("chatcard");
    let backups = temp_dir();
    let dump = backup(&pg, backups.path());
    damage(&pg);

    let admin_url = pg.admin_url();
    let outcome = restore_postgres(
        0,
        &admin_url,
        &dump,
        &["-p", "app_role=app", "--approve", "swap"],
    );
    assert!(
        outcome
            .stdout
            .contains("role app can log in, connect, read and write"),
        "{}",
        outcome.stdout
    );
    assert_eq!(pg.fingerprint("chatcard"), original);
    assert_the_application_can_use(&pg, "chatcard");
}

#[test]
fn a_restore_onto_a_fresh_server_recreates_the_roles_and_the_application_logs_in_and_writes() {
    let backups = temp_dir();
    let (dump, original) = {
        let lost = Postgres::start();
        lost.load_app_sample_data("chatcard");
        (backup(&lost, backups.path()), lost.fingerprint("chatcard"))
    };
    let globals = newest_globals(backups.path());
    let new = Postgres::start();
    let admin_url = new.admin_url();
    restore_postgres(
        0,
        &admin_url,
        &dump,
        &[
            "-p",
            &format!("globals_file={}", path(&globals)),
            "-p",
            "app_role=app",
            "--yes",
            "--approve",
            "swap",
        ],
    );
    assert_eq!(new.fingerprint("chatcard"), original);
    assert_the_application_can_use(&new, "chatcard");
}

#[test]
fn an_existing_role_is_left_as_it_is_when_the_globals_are_restored() {
    let backups = temp_dir();
    let dump = {
        let lost = Postgres::start();
        lost.load_app_sample_data("chatcard");
        lost.sql("postgres", "ALTER ROLE reporting CONNECTION LIMIT 3");
        backup(&lost, backups.path())
    };
    let globals = newest_globals(backups.path());
    let new = Postgres::start();
    // On the new server `reporting` exists already, with a password and other limits.
    new.sql(
        "postgres",
        "CREATE ROLE reporting LOGIN PASSWORD 'kept-secret' CONNECTION LIMIT 7",
    );
    let before = new.sql(
        "postgres",
        "SELECT rolpassword || ' ' || rolconnlimit FROM pg_authid WHERE rolname = 'reporting'",
    );
    let admin_url = new.admin_url();
    restore_postgres(
        0,
        &admin_url,
        &dump,
        &[
            "-p",
            &format!("globals_file={}", path(&globals)),
            "--yes",
            "--approve",
            "swap",
        ],
    );
    assert_eq!(
        new.sql(
            "postgres",
            "SELECT rolpassword || ' ' || rolconnlimit FROM pg_authid WHERE rolname = 'reporting'",
        ),
        before,
        "an existing role was changed"
    );
    assert_eq!(
        new.sql(
            "postgres",
            "SELECT count(*) FROM pg_roles WHERE rolname = 'app'"
        ),
        "1"
    );
}

#[test]
fn an_in_place_restore_that_fails_verification_stays_closed_to_the_application_and_says_so() {
    let pg = Postgres::start();
    pg.load_app_sample_data("chatcard");
    let backups = temp_dir();
    let dump = backup(&pg, backups.path());
    let admin_url = pg.admin_url();
    // Verification fails: the role named as the application's does not exist.
    let outcome = restore_postgres(
        1,
        &admin_url,
        &dump,
        &[
            "-p",
            "mode=in-place",
            "-p",
            "app_role=nosuchrole",
            "--approve",
            "drop-and-recreate",
        ],
    );
    assert!(
        outcome
            .stderr
            .contains("role nosuchrole does not exist on this server"),
        "{}",
        outcome.stderr
    );
    assert!(
        outcome
            .stderr
            .contains("IN-PLACE RESTORE NOT VERIFIED: chatcard holds the restored data"),
        "{}",
        outcome.stderr
    );
    assert!(
        !outcome.stderr.contains("may now be empty"),
        "{}",
        outcome.stderr
    );
    // The application cannot get in (and write into unverified data)...
    let refused = pg
        .try_sql_as("app", "chatcard", "SELECT 1")
        .expect_err("closed to the application");
    assert!(refused.contains("too many connections"), "{refused}");
    // ...and once the operator opens it, the data and the access are all there.
    pg.sql("postgres", "ALTER DATABASE chatcard CONNECTION LIMIT -1");
    assert_the_application_can_use(&pg, "chatcard");
}

#[test]
fn role_passwords_are_backed_up_only_when_asked_privately_and_encrypted_to_a_key_when_given() {
    let pg = Postgres::start();
    pg.load_app_sample_data("chatcard");
    pg.sql("postgres", "ALTER ROLE app PASSWORD 'app-secret-password'");
    let database_url = pg.url("chatcard");
    let admin_url = pg.admin_url();
    let env = |dir: &std::path::Path| -> Vec<(String, String)> {
        vec![
            ("DATABASE_URL".to_owned(), database_url.clone()),
            ("ADMIN_URL".to_owned(), admin_url.clone()),
            ("BACKUP_DIR".to_owned(), path(dir).to_owned()),
        ]
    };
    let globals = |dir: &std::path::Path, suffix: &str| {
        let found = entries(dir, "globals-", suffix);
        dir.join(found.last().expect("a globals file"))
    };
    let run_backup = |dir: &std::path::Path, args: &[&str]| {
        let env = env(dir);
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        run_expecting(0, "backup-postgres", args, &env);
    };
    use std::os::unix::fs::PermissionsExt;

    // By default: no password hashes.
    let plain = temp_dir();
    run_backup(plain.path(), &[]);
    let text = std::fs::read_to_string(globals(plain.path(), "Z.sql")).expect("globals");
    assert!(text.contains("CREATE ROLE app;"), "{text}");
    assert!(!text.contains("SCRAM-SHA-256"), "{text}");

    // Asked for: the hashes, in a file only its owner can read.
    let with = temp_dir();
    run_backup(with.path(), &["-p", "role_passwords=true"]);
    let file = globals(with.path(), "Z.sql");
    let text = std::fs::read_to_string(&file).expect("globals");
    assert!(text.contains("SCRAM-SHA-256"), "{text}");
    let mode = std::fs::metadata(&file)
        .expect("metadata")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600, "{file:?}");

    // Encrypted to a key: only the .age file is kept, and the key's owner can read it.
    let keys = temp_dir();
    let identity = keys.path().join("key.txt");
    let generated = Command::new("age-keygen")
        .args(["-o", path(&identity)])
        .output()
        .expect("age-keygen (apt-get install -y age)");
    let recipient = String::from_utf8_lossy(&generated.stderr)
        .trim()
        .trim_start_matches("Public key: ")
        .to_owned();
    let sealed = temp_dir();
    run_backup(
        sealed.path(),
        &[
            "-p",
            "role_passwords=true",
            "-p",
            &format!("encrypt_to={recipient}"),
        ],
    );
    assert!(entries(sealed.path(), "globals-", "Z.sql").is_empty());
    let encrypted = globals(sealed.path(), "Z.sql.age");
    let bytes = std::fs::read(&encrypted).expect("encrypted globals");
    assert!(!String::from_utf8_lossy(&bytes).contains("SCRAM-SHA-256"));
    let decrypted = Command::new("age")
        .args(["--decrypt", "-i", path(&identity), path(&encrypted)])
        .output()
        .expect("age");
    assert!(String::from_utf8_lossy(&decrypted.stdout).contains("SCRAM-SHA-256"));
}

#[test]
fn verify_restore_counts_tables_with_spaces_inheritance_children_and_partitions_correctly() {
    let pg = Postgres::start();
    pg.load_sample_data("chatcard");
    pg.sql(
        "chatcard",
        r#"CREATE TABLE "Audit Log" (id int, what text);
           INSERT INTO "Audit Log" SELECT g, 'event ' || g FROM generate_series(1, 7) g;
           CREATE TABLE "Event" (id int, at timestamptz);
           CREATE TABLE "SpecialEvent" (extra text) INHERITS ("Event");
           INSERT INTO "Event" SELECT g, now() FROM generate_series(1, 5) g;
           INSERT INTO "SpecialEvent" SELECT g, now(), 'x' FROM generate_series(1, 3) g;
           CREATE TABLE "Metric" (id int, month int) PARTITION BY RANGE (month);
           CREATE TABLE "Metric_h1" PARTITION OF "Metric" FOR VALUES FROM (1) TO (7);
           CREATE TABLE "Metric_h2" PARTITION OF "Metric" FOR VALUES FROM (7) TO (13);
           INSERT INTO "Metric" SELECT g, 1 + g % 12 FROM generate_series(1, 24) g;"#,
    );
    let backups = temp_dir();
    let dump = backup(&pg, backups.path());
    let admin_url = pg.admin_url();
    let outcome = run_expecting(
        0,
        "verify-restore",
        &[
            "-p",
            "db_name=chatcard",
            "-p",
            &format!("dump_file={}", path(&dump)),
        ],
        &[("ADMIN_URL", &admin_url)],
    );
    for (table, rows) in [
        (r#"public."Audit Log""#, 7),
        (r#"public."Event""#, 5),
        (r#"public."SpecialEvent""#, 3),
        (r#"public."Metric_h1""#, 12),
        (r#"public."Metric_h2""#, 12),
    ] {
        // The row-count table: the table as the dump names it, dump rows, restored rows.
        let line = format!("{table:<40} {rows:>12} {rows:>12}\n");
        assert!(
            outcome.stdout.contains(&line),
            "no {line:?} in:\n{}",
            outcome.stdout
        );
    }
}

#[test]
fn a_parallel_restore_that_fails_drops_its_half_restored_copy_and_leaves_the_live_database_alone() {
    let backups = temp_dir();
    let dump = {
        let lost = Postgres::start();
        lost.load_app_sample_data("chatcard");
        lost.sql("postgres", "CREATE ROLE ghost");
        lost.sql("chatcard", r#"ALTER TABLE "Anchor" OWNER TO ghost"#);
        backup(&lost, backups.path())
    };
    // The new server has the database's owner but not `ghost`, and no globals are given:
    // pg_restore fails half-way (in parallel, so not in one transaction).
    let new = Postgres::start();
    new.load_app_sample_data("chatcard");
    let live = new.fingerprint("chatcard");
    let admin_url = new.admin_url();
    let outcome = restore_postgres(1, &admin_url, &dump, &["-p", "jobs=2", "--approve", "swap"]);
    assert!(
        outcome.stderr.contains("restoring with 2 parallel job(s)"),
        "{}",
        outcome.stderr
    );
    assert!(
        outcome.stderr.contains(r#"role "ghost" does not exist"#),
        "{}",
        outcome.stderr
    );
    assert!(outcome.stderr.contains("was dropped"), "{}", outcome.stderr);
    assert!(
        !new.databases()
            .iter()
            .any(|db| db.starts_with("chatcard_restore_")),
        "{:?}",
        new.databases()
    );
    assert_eq!(new.fingerprint("chatcard"), live);
}

#[test]
fn a_parallel_directory_format_dump_is_verified_restored_in_parallel_and_tested_nightly() {
    let pg = Postgres::start();
    pg.load_app_sample_data("chatcard");
    let original = pg.fingerprint("chatcard");
    let backups = temp_dir();
    let database_url = pg.url("chatcard");
    let admin_url = pg.admin_url();
    let outcome = run_expecting(
        0,
        "backup-postgres",
        &["-p", "format=directory", "-p", "jobs=2"],
        &[
            ("DATABASE_URL", &database_url),
            ("ADMIN_URL", &admin_url),
            ("BACKUP_DIR", path(backups.path())),
        ],
    );
    assert!(
        outcome.stderr.contains("with 2 parallel job(s)"),
        "{}",
        outcome.stderr
    );
    let dump = backups.path().join(
        entries(backups.path(), "chatcard-", "Z.dump")
            .pop()
            .expect("a dump"),
    );
    assert!(dump.is_dir(), "{dump:?}");
    assert!(dump.join("toc.dat").exists());

    damage(&pg);
    restore_postgres(
        0,
        &admin_url,
        &dump,
        &["-p", "app_role=app", "-p", "jobs=2", "--approve", "swap"],
    );
    assert_eq!(pg.fingerprint("chatcard"), original);
    assert_the_application_can_use(&pg, "chatcard");

    // The nightly test picks the directory dump like a file and checks every file's sum.
    let toc = dump.join("toc.dat");
    let original_toc = std::fs::read(&toc).expect("toc");
    let mut changed = original_toc.clone();
    changed.push(b'x');
    std::fs::write(&toc, &changed).expect("write");
    let tampered = run_expecting(
        1,
        "nightly-restore-test",
        &[],
        &[
            ("TEST_ADMIN_URL", &admin_url),
            ("BACKUP_DIR", path(backups.path())),
        ],
    );
    assert!(
        tampered.stderr.contains("CHECKSUM MISMATCH"),
        "{}",
        tampered.stderr
    );
    std::fs::write(&toc, &original_toc).expect("restore toc");
    let good = run_expecting(
        0,
        "nightly-restore-test",
        &[],
        &[
            ("TEST_ADMIN_URL", &admin_url),
            ("BACKUP_DIR", path(backups.path())),
        ],
    );
    assert!(
        good.stdout.contains("restore test passed"),
        "{}",
        good.stdout
    );
}

#[test]
fn an_in_place_restore_of_a_large_schema_opens_only_when_verified_with_the_dumps_connection_limit()
{
    let pg = Postgres::start();
    pg.load_app_sample_data("chatcard");
    // Enough tables that the archive's list is far longer than a pipe buffer.
    pg.sql(
        "chatcard",
        "DO $$ BEGIN FOR i IN 1..800 LOOP EXECUTE format('CREATE TABLE extra_%s (id int)', i); END LOOP; END $$;",
    );
    pg.sql(
        "postgres",
        "ALTER DATABASE chatcard CONNECTION LIMIT 50; GRANT CONNECT ON DATABASE chatcard TO app;",
    );
    let backups = temp_dir();
    let dump = backup(&pg, backups.path());
    let admin_url = pg.admin_url();
    restore_postgres(
        0,
        &admin_url,
        &dump,
        &[
            "-p",
            "mode=in-place",
            "-p",
            "app_role=app",
            "--approve",
            "drop-and-recreate",
        ],
    );
    assert_eq!(
        pg.sql(
            "postgres",
            "SELECT pg_get_userbyid(datdba) || ' ' || datconnlimit FROM pg_database WHERE datname = 'chatcard'"
        ),
        "app 50"
    );
    assert_eq!(
        pg.sql(
            "chatcard",
            "SELECT count(*) FROM pg_tables WHERE tablename LIKE 'extra_%'"
        ),
        "800"
    );
}

/// The swap was declined (no `--approve swap` in an unattended run), and resumed later
/// with it: the database the first run restored, named after `now()`, is the one that
/// is swapped in — the stamp is replayed, not computed again.
#[test]
fn a_restore_stopped_at_the_swap_and_resumed_later_swaps_the_database_it_restored() {
    let pg = Postgres::start();
    pg.load_sample_data("chatcard");
    let original = pg.fingerprint("chatcard");
    let backups = temp_dir();
    let dump = backup(&pg, backups.path());
    damage(&pg);
    let state = temp_dir();
    let state_home = state.path().display().to_string();
    let admin_url = pg.admin_url();
    let backup_file = format!("backup_file={}", path(&dump));
    let first = crate::test::Test::new()
        .env("ADMIN_URL", &admin_url)
        .env("XDG_STATE_HOME", &state_home)
        .args([
            "run",
            "restore-postgres",
            "--non-interactive",
            "-p",
            &backup_file,
        ])
        .status(3);
    assert!(first.stderr.contains("swap"), "{}", first.stderr);
    let run_id = first
        .stderr
        .split("(run ")
        .nth(1)
        .and_then(|rest| rest.split(',').next())
        .expect("the run id in the banner")
        .to_owned();
    // Later: a new second, a new `now()`.
    std::thread::sleep(std::time::Duration::from_millis(1_100));
    let resumed = crate::test::Test::new()
        .env("ADMIN_URL", &admin_url)
        .env("XDG_STATE_HOME", &state_home)
        .args(["resume", &run_id, "--non-interactive", "--approve", "swap"])
        .run();
    assert_eq!(resumed.code, 0, "{}", resumed.stderr);
    assert_eq!(
        pg.fingerprint("chatcard"),
        original,
        "the restored data was not swapped in"
    );
}
