//! Where a command runs (docs/remote.md): this machine, one host, or each member of a
//! group of hosts. Steps, guards and notify hooks all run their commands through
//! [`Engine::execute`], which connects (once per destination per run), runs the command
//! on every member up to the group's `max_parallel`, and tells a lost connection from a
//! command that failed.

use crate::engine::Engine;
use crate::engine::context::Context;
use crate::engine::error::RunError;
use crate::process::remote::{ConnectError, Connection, Endpoint};
use crate::process::shell::{self, Ended, Finished, ShellCommand};
use crate::process::{Program, SshTarget};
use crate::runbook::{HostRef, Runbook};
use futures_util::StreamExt;
use std::path::Path;
use std::time::Duration;

/// Where a command runs, resolved for this use.
#[derive(Clone, Debug)]
pub(crate) enum Target {
    Local,
    Remote(Remote),
}

#[derive(Clone, Debug)]
pub(crate) struct Remote {
    /// The host's name in the runbook.
    pub name: String,
    pub members: Vec<Endpoint>,
    /// Declared as a list: captures are maps by member, output lines are prefixed.
    pub group: bool,
    pub max_parallel: usize,
}

impl Target {
    /// How plans and messages name it: `db (postgres@db1)`.
    pub(crate) fn describe(&self) -> Option<String> {
        match self {
            Target::Local => None,
            Target::Remote(remote) => {
                let members: Vec<String> = remote.members.iter().map(Endpoint::label).collect();
                let mut text = format!("{} ({})", remote.name, members.join(", "));
                if remote.group && remote.max_parallel < remote.members.len() {
                    text.push_str(&format!(", {} at a time", remote.max_parallel));
                }
                Some(text)
            }
        }
    }
}

/// A command to run wherever its target says.
pub(crate) struct Script<'s> {
    pub shell: &'s str,
    pub script: &'s str,
    pub env: &'s [(String, String)],
    pub workdir: Option<&'s Path>,
    pub interactive: bool,
    pub timeout: Option<Duration>,
    pub capture: bool,
    pub on_spawn: Option<&'s dyn Fn(u32)>,
    /// `-q`: hold the output back under this id (the step's).
    pub hold: Option<u64>,
}

/// A member of the target, connected (or not).
pub(crate) struct Connected {
    pub endpoint: Endpoint,
    pub connection: Result<Connection, ConnectError>,
}

/// How the command went on one member (on this machine: the only one, unnamed).
pub(crate) struct MemberResult {
    pub endpoint: Option<Endpoint>,
    /// The command's end, or why it could not start.
    pub result: Result<Finished, String>,
}

impl MemberResult {
    pub(crate) fn ended(&self) -> Option<Ended> {
        self.result.as_ref().ok().map(|finished| finished.ended)
    }

    pub(crate) fn succeeded(&self) -> bool {
        self.ended() == Some(Ended::Exited(0))
    }

    /// The member's destination as written (`deploy@app1`): its key in a group's
    /// capture and in the record. The host's `port:` is the same for every member and
    /// recorded apart.
    pub(crate) fn destination(&self) -> String {
        self.endpoint.as_ref().map_or_else(
            || "this machine".to_owned(),
            |endpoint| endpoint.destination.clone(),
        )
    }

    /// The member's name in messages.
    pub(crate) fn label(&self) -> String {
        self.endpoint
            .as_ref()
            .map_or_else(|| "this machine".to_owned(), Endpoint::label)
    }
}

impl Engine<'_> {
    /// Resolves `host:` for one use: the host's destinations rendered against the
    /// context. A host whose destinations all render empty is this machine, so one
    /// runbook serves a single-host setup (leave the param empty) and a spread one.
    pub(crate) fn target(
        &self,
        runbook: &Runbook,
        host: Option<&HostRef>,
        context: &Context,
    ) -> Result<Target, RunError> {
        let Some(reference) = host.filter(|host| !host.is_local()) else {
            return Ok(Target::Local);
        };
        let Some(host) = runbook.host(&reference.name) else {
            // `validate` refuses unknown hosts; a runbook that got here has none.
            return Ok(Target::Local);
        };
        let mut members = Vec::new();
        for destination in &host.destinations {
            let rendered = self.render(destination, context)?;
            let rendered = rendered.trim();
            if rendered.is_empty() {
                continue;
            }
            // The destination is on `ssh`'s command line and in messages: never a secret
            // (`validate` refuses one it can see; this catches the rest).
            if self.mask(rendered) != rendered {
                return Err(RunError::destination(
                    destination,
                    &self.mask(rendered),
                    "it holds a secret, and a destination is on `ssh`'s command line",
                ));
            }
            if let Err(why) = crate::process::remote::check_destination(rendered) {
                return Err(RunError::destination(
                    destination,
                    &self.mask(rendered),
                    why,
                ));
            }
            let endpoint = Endpoint {
                destination: rendered.to_owned(),
                port: host.port.and_then(|port| u16::try_from(port).ok()),
                forward_agent: host.forward_agent,
            };
            if !members.contains(&endpoint) {
                members.push(endpoint);
            }
        }
        if members.is_empty() {
            return Ok(Target::Local);
        }
        let max_parallel = host
            .max_parallel
            .and_then(|limit| usize::try_from(limit).ok())
            .filter(|limit| *limit > 0)
            .unwrap_or(members.len());
        Ok(Target::Remote(Remote {
            name: host.name.clone(),
            members,
            group: host.group,
            max_parallel,
        }))
    }

    /// Where a plan says a command runs: `None` for this machine.
    pub(crate) fn describe_target(
        &self,
        runbook: &Runbook,
        host: Option<&HostRef>,
        context: &Context,
    ) -> Option<String> {
        let reference = host.filter(|host| !host.is_local())?;
        Some(match self.target(runbook, host, context) {
            Ok(Target::Local) => format!(
                "this machine (host `{}` has no destination)",
                reference.name
            ),
            Ok(target) => target.describe().unwrap_or_default(),
            Err(_) => format!("{} (destination known at run time)", reference.name),
        })
    }

    /// Connects to every member of a remote target (at once; each connection is made
    /// once per run and reused).
    pub(crate) async fn connect(&self, target: &Target) -> Vec<Connected> {
        let Target::Remote(remote) = target else {
            return Vec::new();
        };
        futures_util::future::join_all(remote.members.iter().map(|endpoint| async move {
            Connected {
                endpoint: endpoint.clone(),
                connection: self.connections.connect(endpoint, &self.interrupts).await,
            }
        }))
        .await
    }

    /// Runs `script` on the target: here, or on each connected member, up to the
    /// group's `max_parallel` at once, in member order.
    pub(crate) async fn execute(
        &self,
        target: &Target,
        connected: &[Connected],
        script: &Script<'_>,
    ) -> Vec<MemberResult> {
        let remote = match target {
            Target::Local => {
                let finished = shell::run(
                    &self.shell_command(
                        Program::Local {
                            shell: script.shell,
                        },
                        script,
                        None,
                    ),
                    &self.ui.output,
                    &self.interrupts,
                )
                .await;
                return vec![MemberResult {
                    endpoint: None,
                    result: finished
                        .map_err(|error| format!("cannot start `{}`: {error}", script.shell)),
                }];
            }
            Target::Remote(remote) => remote,
        };
        // Members not started yet stay so once an interrupt came.
        let seen = self.interrupts.count();
        let runs = connected.iter().map(|member| async move {
            let result = match &member.connection {
                Err(error) => Err(format!(
                    "cannot connect to {} ({}): {error}",
                    remote.name,
                    member.endpoint.label()
                )),
                Ok(_) if self.interrupts.count() > seen => {
                    Err("not started: the run was interrupted".to_owned())
                }
                Ok(connection) => self.run_remote(remote, member, connection, script).await,
            };
            MemberResult {
                endpoint: Some(member.endpoint.clone()),
                result,
            }
        });
        futures_util::stream::iter(runs)
            .buffered(remote.max_parallel.max(1))
            .collect()
            .await
    }

    async fn run_remote(
        &self,
        remote: &Remote,
        member: &Connected,
        connection: &Connection,
        script: &Script<'_>,
    ) -> Result<Finished, String> {
        let target = SshTarget {
            options: self
                .connections
                .common(&member.endpoint, &connection.socket),
            destination: member.endpoint.destination.clone(),
            heartbeat: self.options.ssh_heartbeat,
        };
        let prefix = remote
            .group
            .then(|| format!("[{}] ", member.endpoint.destination));
        let program = Program::Ssh {
            shell: script.shell,
            target: &target,
        };
        let mut finished = shell::run(
            &self.shell_command(program, script, prefix.as_deref()),
            &self.ui.output,
            &self.interrupts,
        )
        .await
        .map_err(|error| format!("cannot start `ssh`: {error}"))?;
        // ssh exits 255 for its own failures, and a command may exit 255 too: the
        // master connection tells them apart.
        if finished.ended == Ended::Exited(255)
            && !self.connections.alive(&member.endpoint, connection).await
        {
            self.connections.forget(&member.endpoint).await;
            finished.ended = Ended::ConnectionLost;
        }
        Ok(finished)
    }

    fn shell_command<'s>(
        &self,
        program: Program<'s>,
        script: &'s Script<'s>,
        prefix: Option<&'s str>,
    ) -> ShellCommand<'s> {
        ShellCommand {
            program,
            script: script.script,
            env: script.env,
            workdir: script.workdir,
            interactive: script.interactive,
            timeout: script.timeout,
            capture: script.capture,
            grace: self.options.grace,
            on_spawn: script.on_spawn,
            prefix,
            hold: script.hold,
        }
    }

    /// The reason a member's command failed, for the step's line and the record.
    pub(crate) fn member_reason(&self, target: &Target, member: &MemberResult) -> Option<String> {
        let finished = match &member.result {
            Err(reason) => return Some(reason.clone()),
            Ok(finished) => finished,
        };
        match finished.ended {
            Ended::Exited(0) => None,
            Ended::Exited(code) => Some(format!("exit code {code}")),
            Ended::Signaled(signal) => Some(format!("killed by signal {signal}")),
            Ended::TimedOut => Some("timed out".to_owned()),
            Ended::Interrupted => Some("interrupted".to_owned()),
            Ended::ConnectionLost => Some(match target {
                Target::Remote(remote) => {
                    format!("connection to {} ({}) lost", remote.name, member.label())
                }
                Target::Local => "connection lost".to_owned(),
            }),
        }
    }

    /// Tells the operator how to fix a connection that could not be made.
    pub(crate) fn connect_help(&self, connected: &[Connected]) {
        for member in connected {
            if let Err(error) = &member.connection
                && let Some(help) = error.help()
            {
                self.ui.message(&self.mask(&format!(
                    "{}: {} ({}): {help}\n",
                    self.ui.styles.dim.apply_to("help"),
                    member.endpoint.label(),
                    error
                )));
            }
        }
    }
}
