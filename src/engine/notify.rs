//! Notify hooks: commands run once the run has ended, for the outcomes they name.

use crate::engine::context::Context;
use crate::engine::event::{RunStatus, StepStatus};
use crate::engine::remote::Script;
use crate::engine::{Engine, Frame};
use crate::runbook::{Notify, NotifyEvent, Runbook};
use std::time::Duration;

impl Engine<'_> {
    pub(crate) async fn notify_hook(
        &self,
        frame: &Frame<'_>,
        index: usize,
        notify: &Notify,
        context: &Context,
    ) {
        let command = match self.render(&notify.run, context) {
            Ok(command) => command,
            Err(error) => {
                self.report(frame.entry, None, &error);
                return;
            }
        };
        let target = match self.target(frame.runbook, notify.host.as_ref(), context) {
            Ok(target) => target,
            Err(error) => {
                self.report(frame.entry, None, &error);
                return;
            }
        };
        let connected = self.connect(&target).await;
        self.connect_help(&connected);
        let results = self
            .execute(
                &target,
                &connected,
                &Script {
                    shell: &frame.runbook.shell,
                    script: &command,
                    env: &frame.exports,
                    workdir: None,
                    interactive: false,
                    timeout: Some(Duration::from_secs(60)),
                    capture: false,
                    on_spawn: None,
                    hold: None,
                },
            )
            .await;
        let failures: Vec<String> = results
            .iter()
            .filter_map(|result| self.member_reason(&target, result))
            .collect();
        let status = if failures.is_empty() {
            "sent".to_owned()
        } else {
            format!("failed ({})", self.mask(&failures.join("; ")))
        };
        self.ui.message(&format!(
            "{} notify[{index}] {status}\n",
            self.ui.styles.dim.apply_to("<==")
        ));
    }

    pub(crate) async fn notify(
        &self,
        runbook: &Runbook,
        frame: &Frame<'_>,
        context: &mut Context,
        status: RunStatus,
    ) {
        if runbook.notify.is_empty() {
            return;
        }
        self.set_outcome(runbook, context, status);
        for (index, notify) in runbook.notify.iter().enumerate() {
            if !fires(notify, status) {
                continue;
            }
            if let Some(when) = &notify.when {
                match self.eval(when, context) {
                    Ok(true) => {}
                    Ok(false) => continue,
                    Err(error) => {
                        self.report(frame.entry, None, &error);
                        continue;
                    }
                }
            }
            self.notify_hook(frame, index, notify, context).await;
        }
    }

    pub(crate) fn summary_line(&self, runbook: &Runbook, status: RunStatus) -> String {
        let rows = self.summary.borrow();
        let failed: Vec<&str> = rows
            .iter()
            .filter(|row| row.status == StepStatus::Failed)
            .map(|row| row.id.as_str())
            .collect();
        let mut line = format!(
            "runbook {} {} after {}",
            runbook.name,
            status.as_str(),
            crate::ui::progress::short(self.started.elapsed())
        );
        if !failed.is_empty() {
            line.push_str(&format!("; failed: {}", failed.join(", ")));
        }
        line
    }

    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    pub(crate) fn describe_notify(
        &self,
        runbook: &Runbook,
        notify: &Notify,
        context: &Context,
    ) -> String {
        let mut context = context.clone();
        self.set_outcome(runbook, &mut context, RunStatus::Success);
        let on: Vec<String> = notify
            .on
            .iter()
            .map(|event| format!("{event:?}").to_lowercase())
            .collect();
        let when = notify
            .when
            .as_ref()
            .map(|when| format!(" when {}", when.text.trim()))
            .unwrap_or_default();
        let host = self
            .describe_target(runbook, notify.host.as_ref(), &context)
            .map(|on| format!(" (on {on})"))
            .unwrap_or_default();
        format!(
            "on {}{when}{host}: $ {}",
            on.join(", "),
            self.render_placeholder(&notify.run, &context).0.trim()
        )
    }
}

fn fires(notify: &Notify, status: RunStatus) -> bool {
    notify.on.iter().any(|event| match event {
        NotifyEvent::Always => true,
        NotifyEvent::Success => status == RunStatus::Success,
        NotifyEvent::Failure => status == RunStatus::Failure,
        NotifyEvent::Aborted => status == RunStatus::Aborted,
        NotifyEvent::Interrupted => {
            matches!(
                status,
                RunStatus::Interrupted | RunStatus::Terminated | RunStatus::HangUp
            )
        }
    })
}
