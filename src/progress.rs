//! Progress of a long command on standard error: a bar with what is done,
//! what is left and a time estimate on a terminal (indicatif), plain lines
//! otherwise. Shared by threads: steps may end in any order.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicUsize, Ordering};

use indicatif::{ProgressBar, ProgressStyle};

/// Steps done of a known total.
pub struct Progress {
    total: usize,
    done: AtomicUsize,
    bar: Option<ProgressBar>,
}

impl Progress {
    /// `total` steps to go.
    pub fn new(total: usize) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(total as u64);
            bar.set_style(
                ProgressStyle::with_template(
                    "{elapsed_precise} [{bar:30}] {pos}/{len}, about {eta} left: {msg}",
                )
                .expect("a valid template")
                .progress_chars("#>-"),
            );
            bar
        });
        Self {
            total,
            done: AtomicUsize::new(0),
            bar,
        }
    }

    /// One more step done: `what`.
    pub fn step(&self, what: &str) {
        let done = self.done.fetch_add(1, Ordering::Relaxed) + 1;
        match &self.bar {
            Some(bar) => {
                bar.set_message(what.to_owned());
                bar.inc(1);
                if done >= self.total {
                    bar.finish();
                }
            }
            None => eprintln!("[{done}/{}] {what}", self.total),
        }
    }
}

impl Progress {
    /// Prints `line` on standard output, above the bar on a terminal.
    pub fn println(&self, line: &str) {
        match &self.bar {
            Some(bar) => bar.suspend(|| println!("{line}")),
            None => println!("{line}"),
        }
    }
}

/// On a terminal, a spinner that says what runs, for how long so far and
/// about how long in all, until dropped; nothing elsewhere, or for a run
/// expected to take under 2 s.
pub struct Spinner(Option<ProgressBar>);

impl Spinner {
    /// Shows `what`, expected to take about `estimate`.
    pub fn start(what: &str, estimate: std::time::Duration) -> Self {
        if estimate < std::time::Duration::from_secs(2) || !std::io::stderr().is_terminal() {
            return Self(None);
        }
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template("{spinner} {elapsed} of about {msg}")
                .expect("a valid template"),
        );
        bar.set_message(format!("{} s: {what}", estimate.as_secs()));
        bar.enable_steady_tick(std::time::Duration::from_millis(200));
        Self(Some(bar))
    }
}

impl Drop for Spinner {
    fn drop(&mut self) {
        if let Some(bar) = self.0.take() {
            bar.finish_and_clear();
        }
    }
}
