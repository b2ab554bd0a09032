//! Tests of the rules for OpenSSH's clients, rsync and git.

use crate::quoting::tests::{context, ok, refused};

#[test]
fn ssh_options_that_run_commands_need_another_level() {
    for command in [
        "ssh -o ProxyCommand={x} db uptime",
        "ssh -oProxyCommand={x} db uptime",
        "ssh -o proxycommand={x} db uptime",
        "ssh -o LocalCommand={x} -o PermitLocalCommand=yes db",
        "ssh -o KnownHostsCommand={x} db",
        "ssh -o RemoteCommand={x} db",
        "ssh -tq -o ProxyCommand={x} db",
        "scp -o ProxyCommand={x} a db:/b",
        "scp a -o ProxyCommand={x} db:/b",
        "sftp -o ProxyCommand={x} db",
        "timeout 5 ssh -o ProxyCommand={x} db uptime",
        // Spelled as OpenSSH still reads it.
        "ssh -o ' ProxyCommand='{x} db",
        "ssh -o =ProxyCommand={x} db",
        "ssh -o '\"ProxyCommand\"='{x} db",
        "ssh -o $'Proxy\\x43ommand='{x} db",
        // `%h` lands in the commands.
        "ssh -o HostName={x} -- db uptime",
        // Behind wrappers and other names of ssh.
        "flock /tmp/lock ssh -o ProxyCommand={x} db",
        "runuser -u root -- ssh -o ProxyCommand={x} db",
        "slogin -o ProxyCommand={x} db",
        "autossh -M 0 -o ProxyCommand={x} db",
        "ssh-copy-id -o ProxyCommand={x} -- db",
        "sftp -D {x} -- db",
        "git -c core.sshCommand={x} fetch",
        "git -c alias.x=!{x} x",
        "git -C /srv/repo -c core.sshCommand={x} fetch",
    ] {
        context(command, "parses again");
        ok(&command.replace("{x}", "{q}"));
    }
    // The option's name chosen by a value: `ProxyCommand=…` would run a command.
    context("ssh -o {x} db uptime", "ssh -o");
    context("scp -o {x} -- a db:/b", "scp -o");
    context("git -c {x} status", "git -c");
    // Values carried in by variables.
    context("h={x}; ssh \"$h\" uptime", "ssh");
    context("p={x}; ssh -o ProxyCommand=\"$p\" db", "parses again");
    context("o=ProxyCommand={x}; ssh -o \"$o\" db", "parses again");
    // Programs that run a variable's value.
    for command in [
        "GIT_SSH_COMMAND={x} git fetch",
        "export RSYNC_RSH={x}; rsync -a -- a db:/b",
    ] {
        context(command, "as code");
    }
    ok("git -c user.name={x} commit -m fix");
    ok("git -c core.sshCommand={q} fetch");
    // Values of other options are data to ssh, and a destination after them is found.
    ok("ssh -o User={x} -- db uptime");
    ok("ssh -o Port={x} -o ConnectTimeout=5 -- db uptime");
    context("ssh -o User=me {x} uptime", "ssh");
    ok("scp -P 22 -i key -- {x} db:/srv/");
}

#[test]
fn rsync_remote_shell_options_need_another_level() {
    for command in [
        "rsync -a -e {x} src db:/dst",
        "rsync -avze {x} src db:/dst",
        "rsync --rsh={x} src db:/dst",
        "rsync --rsh {x} src db:/dst",
        "rsync --rsync-path={x} src db:/dst",
        "rsync -M {x} src db:/dst",
        "rsync --remote-option={x} src db:/dst",
    ] {
        context(command, "parses again");
        ok(&command.replace("{x}", "{q}"));
    }
    // `-e ssh` is rsync's remote shell, not a command of this line; its operands, like
    // any before `--`, may be read as options (`-esh -c …` runs a command).
    context("rsync -a -e ssh {x} db:/srv/", "options of `rsync`");
    ok("rsync -a -e ssh -- {x} db:/srv/");
    ok("rsync -a -e 'ssh -p 2222' -- {x} db:/srv/");
    ok("rsync -a --exclude {x} --timeout=30 -- src db:/srv/");
    context("rsync -a --delete {x} db:/srv/", "options of `rsync`");
}

#[test]
fn operands_of_scp_sftp_and_rsync_need_a_double_dash() {
    for command in [
        "scp {x} /etc/hostname db:/srv/",
        "sftp {x} db",
        "rsync -a {x} db:/srv/",
        "ssh-copy-id {x}",
        // A value inside a cluster of option letters.
        "ssh -{x} db uptime",
        "scp -{x} a db:/srv/",
        "rsync --{x} a db:/srv/",
    ] {
        context(command, "with no `--` before it");
    }
    ok("scp -P {x} -i key -- {x} db:/srv/");
    ok("scp -P{x} -- a db:/srv/");
    ok("sftp -P {x} -- db");
    ok("rsync -a -- {x} {x}");
    // A value inside an operand that starts with text cannot make it an option.
    ok("scp -- a db:{x}/ && rsync -a src db:/srv/{x}");
    ok("scp ./{x} db:/srv/");
    context("h={x}; scp \"$h\" db:/srv/", "with no `--` before it");
}

#[test]
fn sftp_input_is_its_commands() {
    for command in [
        "sftp -- db <<'EOF'\nput {x}\nEOF",
        "sftp -- db <<< {x}",
        "printf 'put %s\\n' {x} | sftp -- db",
    ] {
        let found = refused(command);
        assert!(
            !found.is_empty() && found.iter().all(|context| context.contains("sftp")),
            "{command}: {found:?}"
        );
    }
    ok("sftp -b batch.txt -- {x}");
}
