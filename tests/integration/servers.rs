//! Throwaway PostgreSQL 15 and Redis 7 servers for the end-to-end tests.
//!
//! Every server gets its own temp directory (data, unix socket, logs) and its own free
//! loopback port, runs as the `postgres` / `redis` user when the tests run as root, and is
//! stopped and removed by `Drop` — also when the test panics. The servers are started in
//! the foreground under `setpriv --pdeathsig`, so they die with the test process even if
//! it is killed; servers that a runbook restarts itself (`pg_ctl start`,
//! `redis-server --daemonize yes`) are found through their pid files and stopped too.
//!
//! `scripts/test` installs the packages: a missing binary is a loud failure, not a skip.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const PG_BIN: &str = "/usr/lib/postgresql/15/bin";

pub fn is_root() -> bool {
    nix::unistd::Uid::effective().is_root()
}

/// `program` run as `user` when we are root (`runuser -u USER --`), else as ourselves.
fn as_user(user: &str, program: &str) -> Command {
    let mut command = if is_root() {
        let mut command = Command::new("runuser");
        command.args(["-u", user, "--", program]);
        command
    } else {
        Command::new(program)
    };
    command.current_dir("/");
    command
}

/// A long-running server in the foreground: `setpriv` drops to `user` when we are root and
/// makes the kernel send `signal` to the server when the test thread that started it dies.
fn foreground(user: &str, signal: &str, program: &str) -> Command {
    let mut command = Command::new("setpriv");
    command.arg(format!("--pdeathsig={signal}"));
    if is_root() {
        command.args([
            &format!("--reuid={user}"),
            &format!("--regid={user}"),
            "--init-groups",
        ]);
    }
    command.args(["--", program]).current_dir("/");
    command
}

/// A private directory for one server. As root it is made in /tmp, which the `postgres`
/// and `redis` users can traverse (a `TMPDIR` under /root would not do).
fn server_dir(prefix: &str) -> tempfile::TempDir {
    let builder = tempfile::Builder::new().prefix(prefix).clone();
    if is_root() {
        builder.tempdir_in("/tmp")
    } else {
        builder.tempdir()
    }
    .expect("temp dir")
}

pub fn chown(user: &str, path: &Path) {
    if is_root() {
        let status = Command::new("chown")
            .args(["-R", &format!("{user}:"), &path.display().to_string()])
            .status()
            .expect("chown runs");
        assert!(status.success(), "chown {user} {}", path.display());
    }
}

/// Runs a command to completion and returns its stdout; panics with everything on failure.
pub fn output(command: &mut Command) -> String {
    let out = command
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|error| panic!("cannot run {command:?}: {error} (is it installed?)"));
    assert!(
        out.status.success(),
        "{command:?} failed: {}\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

// ---------------------------------------------------------------------------------------
// Ports

static HANDED_OUT: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());

/// A loopback port that is free now (the kernel picks it: bind port 0) and was not handed
/// to another test of this process. Ports near the demo's defaults (55432…, 56379…) are
/// left to the demo test running in parallel. Callers retry with a new port when the
/// server finds it taken after all (another process may bind it in between).
pub fn free_port() -> u16 {
    loop {
        let listener = TcpListener::bind(("127.0.0.1", 0)).expect("bind a loopback port");
        let port = listener.local_addr().expect("local address").port();
        drop(listener);
        if (55400..55600).contains(&port) || (56300..56500).contains(&port) {
            continue;
        }
        if HANDED_OUT.lock().expect("port set").insert(port) {
            return port;
        }
    }
}

fn wait_until(limit: Duration, what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !ready() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// Ends a process that a runbook daemonized (found through a pid file), after checking
/// that the pid still belongs to a process whose command line mentions `marker`.
fn stop_daemon(pid: i32, marker: &str, signal: nix::sys::signal::Signal) {
    use nix::sys::signal::{Signal, kill};
    use nix::unistd::Pid;
    let alive = || {
        let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        !stat.is_empty()
            && !stat
                .rsplit_once(") ")
                .is_some_and(|(_, rest)| rest.starts_with('Z'))
    };
    let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    if !String::from_utf8_lossy(&cmdline).contains(marker) || !alive() {
        return;
    }
    let _ = kill(Pid::from_raw(pid), signal);
    let deadline = Instant::now() + Duration::from_secs(10);
    while alive() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    if alive() {
        let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
    }
}

// ---------------------------------------------------------------------------------------
// PostgreSQL

#[derive(Default, Clone, Copy)]
pub struct PgOptions {
    /// WAL archiving for point-in-time recovery: `wal_level = replica`, `archive_mode =
    /// on`, an `archive_command` copying into `archive_dir()` (refusing to overwrite).
    /// Also keeps `full_page_writes` and `synchronous_commit` at their defaults.
    pub archive: bool,
}

pub struct Postgres {
    // Dropped after `Drop::drop` has stopped the servers.
    dir: tempfile::TempDir,
    pub port: u16,
    child: Option<Child>,
    options: PgOptions,
}

impl Postgres {
    pub fn start() -> Postgres {
        Postgres::start_with(PgOptions::default())
    }

    pub fn start_with(options: PgOptions) -> Postgres {
        for tool in ["initdb", "postgres", "pg_ctl", "pg_isready"] {
            assert!(
                Path::new(PG_BIN).join(tool).exists(),
                "{PG_BIN}/{tool} is missing: run scripts/test (apt-get install -y postgresql-15)"
            );
        }
        let dir = server_dir("runbook-e2e-pg.");
        let mut server = Postgres {
            dir,
            port: 0,
            child: None,
            options,
        };
        if options.archive {
            fs::create_dir(server.archive_dir()).expect("mkdir archive");
        }
        chown("postgres", server.dir.path());
        output(
            as_user("postgres", &format!("{PG_BIN}/initdb"))
                .arg("-D")
                .arg(server.data_dir())
                .args([
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "-E",
                    "UTF8",
                    "--locale=C.UTF-8",
                    "--no-sync",
                ]),
        );
        let conf = server.data_dir().join("postgresql.conf");
        let initdb_conf = fs::read_to_string(&conf).expect("postgresql.conf");
        for _attempt in 0..10 {
            server.port = free_port();
            fs::write(&conf, format!("{initdb_conf}\n{}", server.settings())).expect("write conf");
            if server.spawn() {
                return server;
            }
        }
        panic!(
            "PostgreSQL did not start on any port; log:\n{}",
            server.log()
        );
    }

    fn settings(&self) -> String {
        let dir = self.dir.path().display();
        let mut settings = format!(
            "# runbook e2e test server\nlisten_addresses = '127.0.0.1'\nport = {}\n\
             unix_socket_directories = '{dir}'\nshared_buffers = 16MB\nfsync = off\n",
            self.port
        );
        if self.options.archive {
            let archive = self.archive_dir();
            let archive = archive.display();
            settings.push_str(&format!(
                "wal_level = replica\narchive_mode = on\n\
                 archive_command = 'test ! -f {archive}/%f && cp %p {archive}/%f'\n\
                 archive_timeout = 60\n"
            ));
        } else {
            settings.push_str("synchronous_commit = off\nfull_page_writes = off\n");
        }
        settings
    }

    /// Starts the postmaster in the foreground; false when the port was taken.
    fn spawn(&mut self) -> bool {
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("open server log");
        let child = foreground("postgres", "SIGQUIT", &format!("{PG_BIN}/postgres"))
            .arg("-D")
            .arg(self.data_dir())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log fd"))
            .stderr(log)
            .spawn()
            .expect("start postgres (setpriv)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|child| child.try_wait().expect("try_wait"))
            {
                self.child = None;
                let log = self.log();
                if log.contains("could not bind") || log.contains("Address already in use") {
                    return false;
                }
                panic!("postgres exited with {status} at start; log:\n{log}");
            }
            let ready = Command::new(format!("{PG_BIN}/pg_isready"))
                .arg("-q")
                .arg("-h")
                .arg(self.dir.path())
                .arg("-p")
                .arg(self.port.to_string())
                .status()
                .expect("pg_isready")
                .success();
            if ready {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "postgres not ready in 60s; log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(25));
        }
        // The server on the TCP port must be this one, not someone else's.
        let data = self.sql("postgres", "SHOW data_directory");
        assert_eq!(
            Path::new(data.trim()),
            self.data_dir(),
            "a foreign server answers on {}",
            self.port
        );
        true
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn archive_dir(&self) -> PathBuf {
        self.dir.path().join("archive")
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("server.log")
    }

    pub fn log(&self) -> String {
        fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// libpq URL of database `db` over TCP on loopback.
    pub fn url(&self, db: &str) -> String {
        format!("postgresql://postgres@127.0.0.1:{}/{db}", self.port)
    }

    pub fn admin_url(&self) -> String {
        self.url("postgres")
    }

    /// Runs SQL with `psql -X -v ON_ERROR_STOP=1 -At` and returns its output.
    pub fn sql(&self, db: &str, sql: &str) -> String {
        psql(&self.url(db), sql)
            .unwrap_or_else(|error| panic!("psql failed on {db}:\n{sql}\n--- stderr\n{error}"))
    }

    /// Whether database `db` exists.
    pub fn has_database(&self, db: &str) -> bool {
        self.sql(
            "postgres",
            &format!("SELECT count(*) FROM pg_database WHERE datname = '{db}'"),
        ) == "1"
    }

    pub fn databases(&self) -> Vec<String> {
        self.sql(
            "postgres",
            "SELECT datname FROM pg_database WHERE NOT datistemplate ORDER BY 1",
        )
        .lines()
        .map(str::to_owned)
        .collect()
    }

    /// Creates database `db` and fills it with the sample schema and data.
    pub fn load_sample_data(&self, db: &str) {
        self.sql("postgres", &format!("CREATE DATABASE {db}"));
        self.sql(db, SAMPLE_SQL);
    }

    /// The sample as a real application has it: the tables owned by the login role
    /// `app`, a read-only `reporting` role granted SELECT on "User", an `outsider` login
    /// role with no access, the database closed to PUBLIC (`REVOKE CONNECT`), a database
    /// setting and a per-role setting in the database. Roles that exist are kept.
    pub fn load_app_sample_data(&self, db: &str) {
        self.sql(
            "postgres",
            &format!(
                r#"DO $$ BEGIN
                     IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'app') THEN CREATE ROLE app LOGIN; END IF;
                     IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'reporting') THEN CREATE ROLE reporting LOGIN; END IF;
                     IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'outsider') THEN CREATE ROLE outsider LOGIN; END IF;
                   END $$;
                   CREATE DATABASE {db} OWNER app;
                   REVOKE CONNECT, TEMPORARY ON DATABASE {db} FROM PUBLIC;
                   GRANT CONNECT ON DATABASE {db} TO reporting;
                   ALTER DATABASE {db} SET work_mem = '8MB';
                   ALTER ROLE reporting IN DATABASE {db} SET statement_timeout = '5s';
                   COMMENT ON DATABASE {db} IS 'the application database';"#
            ),
        );
        self.sql_as("app", db, SAMPLE_SQL);
        self.sql_as("app", db, r#"GRANT SELECT ON "User" TO reporting;"#);
    }

    /// libpq URL of database `db` as login role `role`.
    pub fn url_as(&self, role: &str, db: &str) -> String {
        format!("postgresql://{role}@127.0.0.1:{}/{db}", self.port)
    }

    /// Runs SQL as login role `role`; panics when psql fails.
    pub fn sql_as(&self, role: &str, db: &str, sql: &str) -> String {
        self.try_sql_as(role, db, sql)
            .unwrap_or_else(|error| panic!("psql as {role} on {db} failed:\n{sql}\n{error}"))
    }

    /// Runs SQL as login role `role`: its output, or psql's error text.
    pub fn try_sql_as(&self, role: &str, db: &str, sql: &str) -> Result<String, String> {
        psql(&self.url_as(role, db), sql)
    }

    /// Per table of the sample schema: row count and md5 of all rows in id order. Equal
    /// fingerprints mean equal data.
    pub fn fingerprint(&self, db: &str) -> BTreeMap<String, String> {
        let mut tables = BTreeMap::new();
        for table in ["User", "Proof", "Anchor"] {
            let exists = self.sql(
                db,
                &format!("SELECT to_regclass('public.\"{table}\"') IS NOT NULL"),
            );
            let value = if exists == "t" {
                self.sql(
                    db,
                    &format!(
                        "SELECT count(*) || ' rows, md5 ' || md5(coalesce(string_agg(t::text, E'\\n' ORDER BY t.id), '')) FROM \"{table}\" t"
                    ),
                )
            } else {
                "missing".to_owned()
            };
            tables.insert(table.to_owned(), value);
        }
        tables
    }

    /// Stops every postmaster in this server's directory (the one we started, and any a
    /// runbook started with `pg_ctl start`, e.g. after a point-in-time recovery).
    pub fn stop(&mut self) {
        let mut pid_files = Vec::new();
        for entry in fs::read_dir(self.dir.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            let pid_file = entry.path().join("postmaster.pid");
            if pid_file.exists() {
                pid_files.push((entry.path(), pid_file));
            }
        }
        for (data, pid_file) in pid_files {
            let _ = as_user("postgres", &format!("{PG_BIN}/pg_ctl"))
                .arg("-D")
                .arg(&data)
                .args(["-m", "immediate", "-w", "-t", "20", "stop"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            // If pg_ctl could not do it, end the postmaster ourselves.
            if let Some(pid) = fs::read_to_string(&pid_file).ok().and_then(|text| {
                text.lines()
                    .next()
                    .and_then(|line| line.trim().parse().ok())
            }) {
                stop_daemon(pid, "postgres", nix::sys::signal::Signal::SIGQUIT);
            }
        }
        if let Some(mut child) = self.child.take() {
            if child.try_wait().ok().flatten().is_none() {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(child.id() as i32),
                    nix::sys::signal::Signal::SIGQUIT,
                );
            }
            let _ = child.wait();
        }
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        self.stop();
    }
}

const SAMPLE_SQL: &str = r#"
CREATE TABLE "User" (
  id serial PRIMARY KEY,
  email text NOT NULL UNIQUE,
  name text,
  "createdAt" timestamptz NOT NULL DEFAULT '2025-01-01 00:00:00+00'
);
CREATE TABLE "Proof" (
  id serial PRIMARY KEY,
  "userId" integer NOT NULL REFERENCES "User"(id),
  hash text NOT NULL,
  payload jsonb,
  note text
);
CREATE TABLE "Anchor" (
  id serial PRIMARY KEY,
  "proofId" integer NOT NULL REFERENCES "Proof"(id),
  chain text NOT NULL,
  "txId" text NOT NULL
);
CREATE INDEX ON "Proof" ("userId");
CREATE INDEX ON "Anchor" ("proofId");
INSERT INTO "User" (email, name)
  SELECT 'user' || g || '@example.com',
         CASE g % 4 WHEN 0 THEN 'O''Brien "the ' || g || '"'
                    WHEN 1 THEN E'multi\nline\tname ' || g
                    WHEN 2 THEN E'back\\slash ünïcødé ' || g
                    ELSE NULL END
    FROM generate_series(1, 1000) g;
INSERT INTO "Proof" ("userId", hash, payload, note)
  SELECT 1 + g % 1000, md5(g::text),
         jsonb_build_object('n', g, 'note', E'line one\nline "two"', 'tags', jsonb_build_array('a''b', g % 7)),
         CASE WHEN g % 3 = 0 THEN E'\\. looks like the end of COPY\n\\.' END
    FROM generate_series(1, 3000) g;
INSERT INTO "Anchor" ("proofId", chain, "txId")
  SELECT 1 + g % 3000, (ARRAY['bitcoin', 'ethereum'])[1 + g % 2], md5('tx' || g)
    FROM generate_series(1, 2000) g;
"#;

// ---------------------------------------------------------------------------------------
// Redis

#[derive(Default, Clone, Copy)]
pub struct RedisOptions {
    pub appendonly: bool,
    /// Keep Redis's default save points; otherwise `save ""`.
    pub save_points: bool,
    /// `requirepass`; the helpers then authenticate with `REDISCLI_AUTH`.
    pub password: Option<&'static str>,
}

pub struct Redis {
    dir: tempfile::TempDir,
    pub port: u16,
    child: Option<Child>,
    password: Option<&'static str>,
}

impl Redis {
    pub fn start(options: RedisOptions) -> Redis {
        let dir = server_dir("runbook-e2e-redis.");
        let mut server = Redis {
            dir,
            port: 0,
            child: None,
            password: options.password,
        };
        chown("redis", server.dir.path());
        for _attempt in 0..10 {
            server.port = free_port();
            server.write_config(options);
            if server.spawn() {
                return server;
            }
        }
        panic!(
            "redis-server did not start on any port; log:\n{}",
            server.log()
        );
    }

    fn write_config(&self, options: RedisOptions) {
        let dir = self.dir.path().display();
        let mut conf = format!(
            "bind 127.0.0.1\nport {}\ndir {dir}\ndaemonize no\npidfile {dir}/redis.pid\n\
             logfile {dir}/redis.log\nappendonly {}\nenable-debug-command local\n",
            self.port,
            if options.appendonly { "yes" } else { "no" }
        );
        if !options.save_points {
            conf.push_str("save \"\"\n");
        }
        if let Some(password) = options.password {
            conf.push_str(&format!("requirepass {password}\n"));
        }
        fs::write(self.config_file(), conf).expect("write redis.conf");
        chown("redis", &self.config_file());
    }

    fn spawn(&mut self) -> bool {
        let child = foreground("redis", "SIGTERM", "redis-server")
            .arg(self.config_file())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server (apt-get install -y redis-server)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|child| child.try_wait().expect("try_wait"))
            {
                self.child = None;
                let log = self.log();
                if log.contains("Address already in use")
                    || log.contains("Could not create server TCP")
                {
                    return false;
                }
                panic!("redis-server exited with {status} at start; log:\n{log}");
            }
            if self.try_cli(&["PING"]).as_deref() == Some("PONG") {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "redis not ready in 30s; log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let dir = self.cli(&["CONFIG", "GET", "dir"]);
        assert_eq!(
            dir.lines().last().map(Path::new),
            Some(self.dir.path()),
            "a foreign Redis answers on {}",
            self.port
        );
        true
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// `[("REDISCLI_AUTH", password)]` when the server has one, for runbook runs.
    pub fn auth_env(&self) -> Vec<(&'static str, &'static str)> {
        self.password
            .map(|password| ("REDISCLI_AUTH", password))
            .into_iter()
            .collect()
    }

    pub fn config_file(&self) -> PathBuf {
        self.dir.path().join("redis.conf")
    }

    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("redis.log")).unwrap_or_default()
    }

    /// A command that starts this server again from its config file, daemonized (for
    /// restore-redis's `start_command`).
    pub fn start_command(&self) -> String {
        let conf = self.config_file().display().to_string();
        if is_root() {
            format!("runuser -u redis -- redis-server {conf} --daemonize yes")
        } else {
            format!("redis-server {conf} --daemonize yes")
        }
    }

    /// A command that stops whichever process holds this server's pid file (for
    /// restore-redis's `stop_command`; there is no supervisor to restart it).
    pub fn stop_command(&self) -> String {
        format!("kill \"$(cat {}/redis.pid)\"", self.dir.path().display())
    }

    /// Waits until the server answers PONG (after a runbook or a test restarted it).
    pub fn wait_ready(&self) {
        wait_until(Duration::from_secs(30), "redis PONG", || {
            self.try_cli(&["PING"]).as_deref() == Some("PONG")
        });
    }

    /// `redis-cli -h 127.0.0.1 -p PORT`, authenticated through `REDISCLI_AUTH`.
    fn redis_cli(&self) -> Command {
        let mut command = Command::new("redis-cli");
        command.args(["-h", "127.0.0.1", "-p", &self.port.to_string()]);
        if let Some(password) = self.password {
            command.env("REDISCLI_AUTH", password);
        }
        command
    }

    fn try_cli(&self, args: &[&str]) -> Option<String> {
        let out = self
            .redis_cli()
            .args(args)
            .stdin(Stdio::null())
            .output()
            .ok()?;
        Some(String::from_utf8_lossy(&out.stdout).trim_end().to_owned())
    }

    /// Runs one redis-cli command and returns its reply; an error reply fails the test
    /// (redis-cli itself exits 0 on those).
    pub fn cli(&self, args: &[&str]) -> String {
        let reply = output(self.redis_cli().args(args)).trim_end().to_owned();
        assert!(
            !["ERR", "WRONGTYPE", "NOAUTH", "WRONGPASS"]
                .iter()
                .any(|error| reply.starts_with(error)),
            "redis-cli {args:?}: {reply}"
        );
        reply
    }

    /// `DEBUG DIGEST` of the whole dataset (all databases, values and expiry times).
    pub fn digest(&self) -> String {
        let digest = self.cli(&["DEBUG", "DIGEST"]);
        assert_eq!(digest.len(), 40, "DEBUG DIGEST answered {digest:?}");
        digest
    }

    /// Keys over all databases, from INFO keyspace.
    pub fn key_count(&self) -> u64 {
        self.cli(&["INFO", "keyspace"])
            .lines()
            .filter_map(|line| line.trim().split_once("keys="))
            .filter_map(|(_, rest)| rest.split(',').next()?.parse::<u64>().ok())
            .sum()
    }

    pub fn ttl(&self, key: &str) -> i64 {
        self.cli(&["TTL", key]).parse().expect("TTL is a number")
    }

    pub fn info(&self, field: &str) -> String {
        self.cli(&["INFO", "persistence"])
            .lines()
            .find_map(|line| {
                line.trim()
                    .strip_prefix(&format!("{field}:"))
                    .map(str::to_owned)
            })
            .unwrap_or_else(|| panic!("INFO persistence has no {field}"))
    }

    /// Keys of every type, several with TTLs, values with quotes, newlines and binary-ish
    /// bytes, and one key in database 1; sent as RESP through `redis-cli --pipe`.
    pub fn load_sample_data(&self) {
        let mut commands: Vec<Vec<String>> = Vec::new();
        let c = |parts: &[&str]| {
            parts
                .iter()
                .map(|part| (*part).to_owned())
                .collect::<Vec<_>>()
        };
        for i in 0..2000 {
            let value = format!("token-{i} \"quoted\"\nsecond line\r\n\t'single'");
            if i % 2 == 0 {
                commands.push(c(&["SET", &format!("session:{i}"), &value, "EX", "3600"]));
            } else {
                commands.push(c(&["SET", &format!("session:{i}"), &value]));
            }
        }
        for i in 0..300 {
            commands.push(c(&[
                "HSET",
                &format!("user:{i}"),
                "email",
                &format!("user{i}@example.com"),
                "bio",
                "line one\nline \"two\"",
            ]));
        }
        for i in 0..200 {
            commands.push(c(&["RPUSH", "queue:anchors", &format!("proof-{i}")]));
        }
        commands.push(c(&["SADD", "chains", "bitcoin", "ethereum", "solana"]));
        commands.push(c(&[
            "ZADD",
            "leaderboard",
            "10",
            "alice",
            "20.5",
            "bob",
            "-3",
            "carol",
        ]));
        for i in 0..20 {
            commands.push(c(&[
                "XADD",
                "events",
                "*",
                "type",
                "proof.created",
                "id",
                &i.to_string(),
            ]));
        }
        commands.push(c(&["EXPIRE", "user:1", "7200"]));
        commands.push(c(&["EXPIRE", "queue:anchors", "5000"]));
        commands.push(c(&["SET", "ratelimit:global", "42", "PX", "600000"]));
        commands.push(c(&["SELECT", "1"]));
        commands.push(c(&["SET", "cache:other-db", "1", "EX", "900"]));
        let mut protocol = Vec::new();
        for command in &commands {
            protocol.extend(format!("*{}\r\n", command.len()).into_bytes());
            for arg in command {
                protocol.extend(format!("${}\r\n", arg.len()).into_bytes());
                protocol.extend(arg.as_bytes());
                protocol.extend(b"\r\n");
            }
        }
        let mut child = self
            .redis_cli()
            .arg("--pipe")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("redis-cli --pipe");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(&protocol)
            .expect("write protocol");
        let out = child.wait_with_output().expect("redis-cli --pipe");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && text.contains("errors: 0,"),
            "redis-cli --pipe: {text}"
        );
        // 2000 strings, 300 hashes, list + set + zset + stream + ratelimit, 1 key in db 1.
        assert_eq!(self.key_count(), 2000 + 300 + 5 + 1);
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            if child.try_wait().ok().flatten().is_none() {
                let _ = child.kill();
            }
            let _ = child.wait();
        }
        // A server a runbook started with --daemonize yes.
        if let Some(pid) = fs::read_to_string(self.dir.path().join("redis.pid"))
            .ok()
            .and_then(|text| text.trim().parse().ok())
        {
            stop_daemon(pid, "redis-server", nix::sys::signal::Signal::SIGTERM);
        }
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.stop();
    }
}

// ---------------------------------------------------------------------------------------
// Webhook receiver

/// A tiny HTTP server on loopback that answers 200 to everything and keeps the bodies,
/// to prove that a runbook's `notify` hook fired.
pub struct Webhook {
    pub url: String,
    bodies: Arc<Mutex<Vec<String>>>,
}

impl Webhook {
    pub fn start() -> Webhook {
        let listener = TcpListener::bind(("127.0.0.1", 0)).expect("bind webhook");
        let url = format!("http://{}/hook", listener.local_addr().expect("address"));
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&bodies);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                Webhook::serve(stream, &sink);
            }
        });
        Webhook { url, bodies }
    }

    /// Reads one request and records its body before answering, so the body is there
    /// by the time the client (and the runbook that ran it) has finished.
    fn serve(mut stream: TcpStream, sink: &Mutex<Vec<String>>) -> Option<()> {
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .ok()?;
        let mut request = Vec::new();
        let mut buffer = [0u8; 4096];
        let header_end = loop {
            let n = stream.read(&mut buffer).ok()?;
            if n == 0 {
                return None;
            }
            request.extend_from_slice(&buffer[..n]);
            if let Some(position) = request.windows(4).position(|w| w == b"\r\n\r\n") {
                break position + 4;
            }
        };
        let headers = String::from_utf8_lossy(&request[..header_end]).to_lowercase();
        let length: usize = headers
            .lines()
            .find_map(|line| line.strip_prefix("content-length:"))
            .and_then(|value| value.trim().parse().ok())
            .unwrap_or(0);
        while request.len() < header_end + length {
            let n = stream.read(&mut buffer).ok()?;
            if n == 0 {
                break;
            }
            request.extend_from_slice(&buffer[..n]);
        }
        let body = String::from_utf8_lossy(&request[header_end..]).into_owned();
        sink.lock().expect("bodies").push(body);
        stream
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
            .ok()
    }

    /// Bodies received so far.
    pub fn bodies(&self) -> Vec<String> {
        self.bodies.lock().expect("bodies").clone()
    }
}

/// Runs SQL (from stdin) with `psql -X -q -v ON_ERROR_STOP=1 -At` against `url`: its
/// output, or psql's error text.
fn psql(url: &str, sql: &str) -> Result<String, String> {
    let mut child = Command::new("psql")
        .args([
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-At",
            "-d",
            url,
            "-f",
            "-",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("psql runs (apt-get install -y postgresql-client-15)");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(sql.as_bytes())
        .expect("write SQL");
    let out = child.wait_with_output().expect("psql");
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim_end().to_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

// OpenSSH

/// A real OpenSSH server on a free loopback port, with its own host key, one client key
/// authorized, and an `ssh_config` for the client that names it `alias` — never the
/// machine's own ssh setup. Stopped when dropped. Needs `sshd` (Debian's
/// `openssh-server`). `start` logs in as the current user; `start_as` runs a private
/// sshd as another user (as a host where one logs in as `postgres` would), which logs
/// in as that user only.
pub struct Sshd {
    pub directory: tempfile::TempDir,
    pub port: u16,
    child: Child,
}

fn current_user() -> String {
    nix::unistd::User::from_uid(nix::unistd::getuid())
        .ok()
        .flatten()
        .map_or_else(|| "root".to_owned(), |user| user.name)
}

impl Sshd {
    pub fn start(alias: &str) -> Sshd {
        Sshd::start_as(alias, &current_user())
    }

    pub fn start_as(alias: &str, user: &str) -> Sshd {
        let directory = tempfile::tempdir().expect("temp dir");
        let dir = directory.path();
        let keygen = |path: &Path| {
            let status = Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-f"])
                .arg(path)
                .status()
                .expect("ssh-keygen runs");
            assert!(status.success(), "ssh-keygen failed");
        };
        keygen(&dir.join("host_key"));
        keygen(&dir.join("client_key"));
        std::fs::copy(dir.join("client_key.pub"), dir.join("authorized_keys")).expect("authorize");
        let foreign = user != current_user();
        if foreign {
            // The sshd runs as `user` and reads its host key and authorized keys itself.
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(dir, fs::Permissions::from_mode(0o755)).expect("chmod");
            for name in ["host_key", "host_key.pub", "authorized_keys"] {
                let status = Command::new("chown")
                    .arg(user)
                    .arg(dir.join(name))
                    .status()
                    .expect("chown");
                assert!(status.success(), "chown {name}");
            }
        } else {
            // sshd's privilege separation needs its empty directory.
            let _ = std::fs::create_dir_all("/run/sshd");
        }
        for _attempt in 0..5 {
            let port = free_port();
            std::fs::write(
                dir.join("sshd_config"),
                format!(
                    "Port {port}\nListenAddress 127.0.0.1\nHostKey {dir}/host_key\nPidFile {dir}/sshd.pid\nAuthorizedKeysFile {dir}/authorized_keys\nStrictModes no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\nPubkeyAuthentication yes\nUsePAM no\nPermitRootLogin prohibit-password\nMaxStartups 100\nMaxSessions 100\nLogLevel ERROR\n",
                    dir = dir.display()
                ),
            )
            .expect("sshd_config");
            let host_key = std::fs::read_to_string(dir.join("host_key.pub")).expect("host key");
            let mut fields = host_key.split_whitespace();
            let (kind, key) = (
                fields.next().unwrap_or_default(),
                fields.next().unwrap_or_default(),
            );
            std::fs::write(
                dir.join("known_hosts"),
                format!("[127.0.0.1]:{port} {kind} {key}\n"),
            )
            .expect("known_hosts");
            std::fs::write(
                dir.join("ssh_config"),
                format!(
                    "Host {alias}\n  HostName 127.0.0.1\n  Port {port}\n  User {user}\n  IdentityFile {dir}/client_key\n  IdentitiesOnly yes\n  UserKnownHostsFile {dir}/known_hosts\n  GlobalKnownHostsFile /dev/null\n  StrictHostKeyChecking yes\n  LogLevel ERROR\n",
                    dir = dir.display()
                ),
            )
            .expect("ssh_config");
            let mut command = if foreign {
                let mut command = Command::new("runuser");
                command.args(["-u", user, "--", "/usr/sbin/sshd"]);
                command
            } else {
                Command::new("/usr/sbin/sshd")
            };
            let mut child = command
                .args(["-D", "-e", "-f"])
                .arg(dir.join("sshd_config"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("sshd starts (apt-get install openssh-server)");
            let deadline = Instant::now() + Duration::from_secs(10);
            let mut listening = false;
            while Instant::now() < deadline {
                if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    listening = true;
                    break;
                }
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(25));
            }
            if listening {
                return Sshd {
                    directory,
                    port,
                    child,
                };
            }
            // The port was taken after all: another one.
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("sshd did not start");
    }

    /// The client configuration to pass with `ssh -F` (or `--ssh-config`).
    pub fn config(&self) -> std::path::PathBuf {
        self.directory.path().join("ssh_config")
    }

    /// The fingerprint of the server's host key, as `ssh-keygen -l` prints it
    /// (`SHA256:…`).
    pub fn fingerprint(&self) -> String {
        let output = Command::new("ssh-keygen")
            .arg("-lf")
            .arg(self.directory.path().join("host_key.pub"))
            .output()
            .expect("ssh-keygen -l");
        String::from_utf8_lossy(&output.stdout)
            .split_whitespace()
            .nth(1)
            .unwrap_or_default()
            .to_owned()
    }

    /// Ends every connection to this server (its per-connection processes), as a
    /// network failure or a crashed server would; the listener stays.
    pub fn drop_connections(&self) {
        let listener = self.listener();
        for entry in fs::read_dir("/proc").expect("/proc").filter_map(Result::ok) {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
                continue;
            };
            let stat = fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
            let parent = stat
                .rsplit_once(") ")
                .and_then(|(_, rest)| rest.split_whitespace().nth(1))
                .and_then(|parent| parent.parse::<u32>().ok());
            if parent == Some(listener) {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
        }
    }
}

impl Sshd {
    /// Makes the server read its configuration again (SIGHUP: sshd starts itself anew)
    /// and waits until it listens.
    pub fn reload(&self) {
        let old = self.listener();
        // sshd re-executes itself in place (same pid) and writes its pid file again once
        // it listens under the new configuration: removed first, its return is the sign.
        let pid_file = self.directory.path().join("sshd.pid");
        fs::remove_file(&pid_file).expect("remove sshd.pid");
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(old as i32),
            nix::sys::signal::Signal::SIGHUP,
        );
        let deadline = Instant::now() + Duration::from_secs(10);
        while !pid_file.exists() {
            assert!(Instant::now() < deadline, "sshd did not start anew");
            std::thread::sleep(Duration::from_millis(25));
        }
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "sshd did not come back");
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// The listening sshd's pid (under `runuser`, not the child this harness started).
    fn listener(&self) -> u32 {
        fs::read_to_string(self.directory.path().join("sshd.pid"))
            .ok()
            .and_then(|pid| pid.trim().parse().ok())
            .unwrap_or_else(|| self.child.id())
    }
}

/// One client configuration naming every given server by its alias.
pub fn ssh_config(directory: &Path, servers: &[&Sshd]) -> PathBuf {
    let mut text = String::new();
    for server in servers {
        text.push_str(&fs::read_to_string(server.config()).expect("ssh_config"));
    }
    let path = directory.join("ssh_config");
    fs::write(&path, text).expect("ssh_config");
    path
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.listener() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_private_sshd_answers_on_loopback_with_its_own_keys() {
    let sshd = Sshd::start("db");
    let output = Command::new("ssh")
        .arg("-F")
        .arg(sshd.config())
        .args(["db", "echo", "hello from sshd"])
        .stdin(Stdio::null())
        .output()
        .expect("ssh runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&output.stdout), "hello from sshd\n");
    // A different host key on that port is refused, never prompted for.
    let known_hosts = sshd.directory.path().join("known_hosts");
    std::fs::write(
        &known_hosts,
        format!(
            "[127.0.0.1]:{} ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n",
            sshd.port
        ),
    )
    .expect("known_hosts");
    let refused = Command::new("ssh")
        .arg("-F")
        .arg(sshd.config())
        .args(["db", "true"])
        .stdin(Stdio::null())
        .output()
        .expect("ssh runs");
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("HOST IDENTIFICATION HAS CHANGED"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
}
