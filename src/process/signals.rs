//! Ctrl-C, SIGTERM and SIGHUP: the tool never dies from them. Each signal bumps a
//! counter that running commands watch: the first terminates the current command's
//! process group (SIGTERM, grace, SIGKILL), the second skips the grace. Then `finally`
//! runs and the run exits 130, 143 or 129. A hang-up means the operator's terminal or SSH
//! session is gone: nothing more is asked (docs/running.md, "Timeouts and signals").

use tokio::sync::watch;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signal {
    Interrupt,
    Terminate,
    /// SIGHUP: the terminal or SSH session was lost.
    HangUp,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct State {
    count: u32,
    first: Option<Signal>,
    hung_up: bool,
}

/// The receiving side, cloned into everything that waits on a command.
#[derive(Clone, Debug)]
pub struct Interrupts {
    receiver: watch::Receiver<State>,
}

pub struct Trigger {
    sender: watch::Sender<State>,
}

impl Trigger {
    pub fn fire(&self, signal: Signal) {
        self.sender.send_modify(|state| {
            state.count += 1;
            state.first.get_or_insert(signal);
            state.hung_up |= signal == Signal::HangUp;
        });
    }
}

pub fn channel() -> (Trigger, Interrupts) {
    let (sender, receiver) = watch::channel(State::default());
    (Trigger { sender }, Interrupts { receiver })
}

impl Interrupts {
    /// How many signals have arrived so far.
    pub fn count(&self) -> u32 {
        self.receiver.borrow().count
    }

    /// The first signal received, which decides the exit code.
    pub fn first(&self) -> Option<Signal> {
        self.receiver.borrow().first
    }

    /// Whether the terminal is gone (a SIGHUP arrived): nobody can be asked anything.
    pub fn hung_up(&self) -> bool {
        self.receiver.borrow().hung_up
    }

    /// Resolves once more than `seen` signals have arrived.
    pub async fn beyond(&self, seen: u32) {
        let mut receiver = self.receiver.clone();
        // An error means the sender is gone: no signal can come any more.
        if receiver.wait_for(|state| state.count > seen).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// Listens for SIGINT, SIGTERM and SIGHUP until dropped, firing the trigger on each.
pub async fn listen(trigger: Trigger) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut interrupt), Ok(mut terminate), Ok(mut hang_up)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
        signal(SignalKind::hangup()),
    ) else {
        tracing::warn!("cannot install signal handlers");
        return std::future::pending().await;
    };
    loop {
        tokio::select! {
            _ = interrupt.recv() => trigger.fire(Signal::Interrupt),
            _ = terminate.recv() => trigger.fire(Signal::Terminate),
            _ = hang_up.recv() => trigger.fire(Signal::HangUp),
        }
    }
}
