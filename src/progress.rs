//! Progress of a long command on standard error: a bar on a terminal,
//! plain lines otherwise.

use std::io::{IsTerminal, Write};

/// Steps done of a known total.
pub struct Progress {
    total: usize,
    done: usize,
    tty: bool,
}

impl Progress {
    /// `total` steps to go.
    pub fn new(total: usize) -> Self {
        Self {
            total,
            done: 0,
            tty: std::io::stderr().is_terminal(),
        }
    }

    /// One more step done: `what`.
    pub fn step(&mut self, what: &str) {
        self.done += 1;
        let mut err = std::io::stderr();
        if self.tty {
            let width = 30;
            let filled = width * self.done / self.total;
            let _ = write!(
                err,
                "\r\x1b[2K[{}{}] {}/{} {what}",
                "#".repeat(filled),
                " ".repeat(width - filled),
                self.done,
                self.total
            );
            if self.done == self.total {
                let _ = writeln!(err);
            }
        } else {
            let _ = writeln!(err, "[{}/{}] {what}", self.done, self.total);
        }
        let _ = err.flush();
    }
}
