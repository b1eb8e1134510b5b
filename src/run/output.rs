//! What a program wrote, bounded: the head and the tail of each of its
//! standard output and error, and how many bytes were left out between
//! them, read on threads of their own so that no pipe fills and stalls it
//! (`yes` writes gigabytes a second; badnet keeps 128 KiB of it).

use std::collections::VecDeque;
use std::io::Read;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How much of the head, and as much of the tail, of a stream is kept.
pub const KEPT: usize = 64 * 1024;

/// The head and tail of one stream.
#[derive(Debug, Default)]
pub struct Kept {
    head: Vec<u8>,
    tail: VecDeque<u8>,
    total: u64,
}

impl Kept {
    /// Keeps what fits of `bytes`: the head fills first, then the tail
    /// keeps the last [`KEPT`] bytes.
    pub fn push(&mut self, mut bytes: &[u8]) {
        self.total += bytes.len() as u64;
        let room = KEPT - self.head.len();
        if room > 0 {
            let n = room.min(bytes.len());
            self.head.extend_from_slice(&bytes[..n]);
            bytes = &bytes[n..];
        }
        if bytes.len() >= KEPT {
            self.tail.clear();
            bytes = &bytes[bytes.len() - KEPT..];
        }
        let over = (self.tail.len() + bytes.len()).saturating_sub(KEPT);
        self.tail.drain(..over);
        self.tail.extend(bytes);
    }

    /// How many bytes were written but not kept.
    pub fn left_out(&self) -> u64 {
        self.total - (self.head.len() + self.tail.len()) as u64
    }

    /// The stream as text: its head and tail, with a line between them
    /// that says how much was left out.
    pub fn text(&self) -> String {
        let mut text = String::from_utf8_lossy(&self.head).into_owned();
        if self.left_out() > 0 {
            if !text.ends_with('\n') {
                text.push('\n');
            }
            text.push_str(&format!(
                "[badnet: {} bytes left out; the first and last {} KiB are kept]\n",
                self.left_out(),
                KEPT / 1024
            ));
        }
        let (a, b) = self.tail.as_slices();
        text.push_str(&String::from_utf8_lossy(&[a, b].concat()));
        text
    }

    /// Its last `n` lines (of what was kept).
    pub fn last_lines(&self, n: usize) -> String {
        let text = self.text();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }
}

/// A program's standard output and error, each read to its end on a
/// thread of its own into a [`Kept`].
#[derive(Debug)]
pub struct Streams {
    kept: [Arc<Mutex<Kept>>; 2],
    done: mpsc::Receiver<()>,
    open: usize,
}

impl Streams {
    /// Reads `stdout` and `stderr` (either may be absent) to their ends.
    /// With `ready`, sends on the channel returned the first time a line
    /// of either matches it.
    pub fn read(
        stdout: Option<impl Read + Send + 'static>,
        stderr: Option<impl Read + Send + 'static>,
        ready: Option<regex::Regex>,
    ) -> (Self, mpsc::Receiver<()>) {
        let (done_tx, done) = mpsc::channel();
        let (ready_tx, ready_rx) = mpsc::channel();
        let kept = [(); 2].map(|()| Arc::new(Mutex::new(Kept::default())));
        let pipes: [Option<Box<dyn Read + Send>>; 2] = [
            stdout.map(|p| Box::new(p) as Box<dyn Read + Send>),
            stderr.map(|p| Box::new(p) as Box<dyn Read + Send>),
        ];
        let mut open = 0;
        for (pipe, kept) in pipes.into_iter().zip(&kept) {
            let Some(pipe) = pipe else { continue };
            open += 1;
            let (kept, done, ready, ready_tx) = (
                kept.clone(),
                done_tx.clone(),
                ready.clone(),
                ready_tx.clone(),
            );
            std::thread::spawn(move || {
                drain(pipe, &kept, ready.as_ref(), &ready_tx);
                let _ = done.send(());
            });
        }
        (Self { kept, done, open }, ready_rx)
    }

    /// Waits until both streams have ended (every process that held them
    /// has closed them), at most until `deadline`; whether they have.
    pub fn wait_closed(&mut self, deadline: Instant) -> bool {
        while self.open > 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.done.recv_timeout(left) {
                Ok(()) => self.open -= 1,
                Err(mpsc::RecvTimeoutError::Timeout) => return false,
                Err(mpsc::RecvTimeoutError::Disconnected) => self.open = 0,
            }
        }
        true
    }

    /// Waits for `ready` (from [`Streams::read`]) at most `limit`, or
    /// until `gone` says the program has ended (checked every 20 ms).
    pub fn wait_ready(
        &mut self,
        ready: &mpsc::Receiver<()>,
        limit: Duration,
        mut gone: impl FnMut() -> bool,
    ) -> Readiness {
        let deadline = Instant::now() + limit;
        loop {
            let step = deadline
                .saturating_duration_since(Instant::now())
                .min(Duration::from_millis(20));
            match ready.recv_timeout(step) {
                Ok(()) => return Readiness::Ready,
                // Every reader has ended: nothing more can match.
                Err(mpsc::RecvTimeoutError::Disconnected) => std::thread::sleep(step),
                Err(mpsc::RecvTimeoutError::Timeout) => {}
            }
            if gone() {
                // What it wrote last may still be on its way.
                self.wait_closed(Instant::now() + Duration::from_millis(500));
                return match ready.try_recv() {
                    Ok(()) => Readiness::Ready,
                    Err(_) => Readiness::Exited,
                };
            }
            if Instant::now() >= deadline {
                return Readiness::TimedOut;
            }
        }
    }

    /// What was kept of standard output and error so far.
    pub fn kept(&self) -> [std::sync::MutexGuard<'_, Kept>; 2] {
        self.kept
            .each_ref()
            .map(|k| k.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// What was kept of standard output and error, taken out.
    pub fn take(&self) -> [Kept; 2] {
        self.kept().map(|mut k| std::mem::take(&mut *k))
    }

    /// The last `n` lines of each stream, for a message.
    pub fn last_lines(&self, n: usize) -> String {
        let [out, err] = self.kept();
        let mut text = String::new();
        for (name, k) in [("stdout", &out), ("stderr", &err)] {
            let lines = k.last_lines(n);
            if !lines.trim().is_empty() {
                text.push_str(&format!("\n  its {name} ended with:\n    "));
                text.push_str(&lines.replace('\n', "\n    "));
            }
        }
        text
    }
}

/// Reads `pipe` to its end into `kept`, matching each line against `ready`
/// until one does.
fn drain(
    mut pipe: Box<dyn Read + Send>,
    kept: &Mutex<Kept>,
    mut ready: Option<&regex::Regex>,
    ready_tx: &mpsc::Sender<()>,
) {
    let mut buf = vec![0; KEPT];
    // The line being read, for `ready` (at most KEPT bytes of it).
    let mut line = Vec::new();
    loop {
        let n = match pipe.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => return,
        };
        kept.lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(&buf[..n]);
        if let Some(re) = ready {
            for piece in buf[..n].split_inclusive(|&b| b == b'\n') {
                let room = KEPT.saturating_sub(line.len());
                line.extend_from_slice(&piece[..piece.len().min(room)]);
                if piece.ends_with(b"\n") {
                    let text = String::from_utf8_lossy(&line);
                    if re.is_match(text.trim_end_matches(['\n', '\r'])) {
                        let _ = ready_tx.send(());
                        ready = None;
                        break;
                    }
                    line.clear();
                }
            }
        }
    }
}

/// How a wait for a program to be ready ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Readiness {
    Ready,
    /// It exited first.
    Exited,
    TimedOut,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stream_keeps_its_head_and_tail_and_counts_what_it_left_out() {
        let mut k = Kept::default();
        k.push(b"first\n");
        for _ in 0..100_000 {
            k.push(b"middle line\n");
        }
        k.push(b"last\n");
        let total = 6 + 12 * 100_000 + 5;
        assert_eq!(k.left_out(), total - 2 * KEPT as u64);
        let text = k.text();
        assert!(text.starts_with("first\n"), "{}", &text[..20]);
        assert!(text.ends_with("middle line\nlast\n"));
        assert!(text.contains(&format!("[badnet: {} bytes left out", k.left_out())));
        assert!(text.len() < 2 * KEPT + 200);
        assert_eq!(k.last_lines(1), "last");
    }

    #[test]
    fn a_short_stream_is_kept_whole() {
        let mut k = Kept::default();
        k.push(b"one\ntwo\n");
        assert_eq!((k.text().as_str(), k.left_out()), ("one\ntwo\n", 0));
        let mut big = Kept::default();
        big.push(&vec![b'x'; 3 * KEPT]);
        assert_eq!(big.left_out(), KEPT as u64);
    }

    #[test]
    fn a_ready_line_is_found_on_stderr_too() {
        let (mut s, ready) = Streams::read(
            Some(&b"nothing here\n"[..]),
            Some(&b"warming up\nready to go\n"[..]),
            Some(regex::Regex::new("^ready").unwrap()),
        );
        assert_eq!(
            s.wait_ready(&ready, Duration::from_secs(5), || false),
            Readiness::Ready
        );
        assert!(s.wait_closed(Instant::now() + Duration::from_secs(5)));
        assert_eq!(s.kept()[1].text(), "warming up\nready to go\n");
    }
}
