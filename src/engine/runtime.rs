//! The run's single-threaded tokio runtime, with the signal listener started on it.

use crate::error::Error;
use crate::process::signals::{self, Interrupts};

/// The run's runtime, dropped without waiting: a prompt interrupted by Ctrl-C leaves a
/// thread blocked reading the terminal.
pub struct Runtime(Option<tokio::runtime::Runtime>);

impl Runtime {
    /// A runtime listening for SIGINT, SIGTERM and SIGHUP; the interrupts they raise.
    pub fn start() -> Result<(Runtime, Interrupts), Error> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(Error::Output)?;
        let (trigger, interrupts) = signals::channel();
        runtime.spawn(signals::listen(trigger));
        Ok((Runtime(Some(runtime)), interrupts))
    }

    pub fn block_on<F: std::future::Future>(&self, future: F) -> F::Output {
        // `None` only inside `drop`: the Option exists so drop can take the runtime.
        self.0
            .as_ref()
            .expect("the runtime lives until it is dropped")
            .block_on(future)
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}
