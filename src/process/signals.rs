//! Ctrl-C and SIGTERM: the tool never dies from them. Each signal bumps a counter that
//! running commands watch: the first terminates the current command's process group
//! (SIGTERM, grace, SIGKILL), the second skips the grace. Then `finally` runs and the run
//! exits 130 or 143.

use tokio::sync::watch;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signal {
    Interrupt,
    Terminate,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct State {
    count: u32,
    first: Option<Signal>,
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

    /// Resolves once more than `seen` signals have arrived.
    pub async fn beyond(&self, seen: u32) {
        let mut receiver = self.receiver.clone();
        // An error means the sender is gone: no signal can come any more.
        if receiver.wait_for(|state| state.count > seen).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// Listens for SIGINT and SIGTERM until dropped, firing the trigger on each.
pub async fn listen(trigger: Trigger) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut interrupt), Ok(mut terminate)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        tracing::warn!("cannot install signal handlers");
        return std::future::pending().await;
    };
    loop {
        tokio::select! {
            _ = interrupt.recv() => trigger.fire(Signal::Interrupt),
            _ = terminate.recv() => trigger.fire(Signal::Terminate),
        }
    }
}
