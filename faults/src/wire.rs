//! The userspace link: two TUN devices, one in each host, and a forwarder
//! that moves packets between them through a [`Netem`] per direction.
//!
//! Each direction has a thread of its own that waits in `ppoll` (nanosecond
//! timeouts, timer slack 1 ns) for either a packet or the head of its queue
//! to come due, so delays are accurate to tens of microseconds, not to a
//! millisecond timer tick.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::mpsc::{self, Receiver, Sender, TryRecvError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use crate::counters::{CounterSnapshot, Counters};
use crate::gro;
use crate::impairment::Impairment;
use crate::model::Netem;
use crate::{Error, Result};

/// Packets read per wake-up at most, so a flood cannot starve releases.
const BURST: usize = 256;

/// A running forwarder between two TUN descriptors.
#[derive(Debug)]
pub struct Wire {
    directions: [Direction; 2],
}

#[derive(Debug)]
struct Direction {
    control: Sender<Impairment>,
    wake: Arc<OwnedFd>,
    counters: Arc<Counters>,
    thread: Option<JoinHandle<()>>,
}

impl Wire {
    /// Starts forwarding `a -> b` under `forward` and `b -> a` under
    /// `reverse`. `seed` seeds both directions (differently) unless a spec
    /// carries its own.
    pub fn start(
        a: OwnedFd,
        b: OwnedFd,
        forward: &Impairment,
        reverse: &Impairment,
        seed: u64,
    ) -> Result<Self> {
        let (a, b) = (Arc::new(a), Arc::new(b));
        let epoch = Instant::now();
        let fwd = Direction::spawn("bn-wire-fwd", a.clone(), b.clone(), forward, seed, epoch)?;
        let rev = Direction::spawn(
            "bn-wire-rev",
            b,
            a,
            reverse,
            seed.rotate_left(32) ^ 0x5bd1_e995,
            epoch,
        )?;
        Ok(Self {
            directions: [fwd, rev],
        })
    }

    /// Changes the impairment of direction 0 (`a -> b`) or 1 (`b -> a`)
    /// while traffic flows.
    pub fn set(&self, direction: usize, spec: &Impairment) {
        let d = &self.directions[direction];
        if d.control.send(spec.clone()).is_ok() {
            d.wake();
        }
    }

    /// Counters of direction 0 (`a -> b`) or 1 (`b -> a`).
    pub fn counters(&self, direction: usize) -> CounterSnapshot {
        self.directions[direction].counters.snapshot()
    }

    /// Stops both threads and closes the devices.
    pub fn stop(self) {}
}

impl Direction {
    fn spawn(
        name: &str,
        input: Arc<OwnedFd>,
        output: Arc<OwnedFd>,
        spec: &Impairment,
        seed: u64,
        epoch: Instant,
    ) -> Result<Self> {
        // SAFETY: eventfd returns a new descriptor that nothing else owns.
        let raw = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if raw < 0 {
            return Err(Error::sys("eventfd")(io::Error::last_os_error()));
        }
        let wake = Arc::new(unsafe { OwnedFd::from_raw_fd(raw) });
        let counters = Arc::new(Counters::default());
        let (control, commands) = mpsc::channel();
        let netem = Netem::new(spec, seed, counters.clone());
        let waker = wake.clone();
        let thread = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn({
                let counters = counters.clone();
                move || forward(&input, &output, &waker, &commands, netem, &counters, epoch)
            })
            .map_err(Error::sys("spawning the forwarder"))?;
        Ok(Self {
            control,
            wake,
            counters,
            thread: Some(thread),
        })
    }

    fn wake(&self) {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a live u64 to an eventfd we own.
        unsafe { libc::write(self.wake.as_raw_fd(), (&one as *const u64).cast(), 8) };
    }
}

impl Drop for Direction {
    fn drop(&mut self) {
        // Closing the channel and waking the thread tells it to stop.
        let (dead, _) = mpsc::channel();
        self.control = dead;
        self.wake();
        if let Some(t) = self.thread.take() {
            if t.join().is_err() {
                tracing::warn!("a wire forwarder thread panicked");
            }
        }
    }
}

fn forward(
    input: &OwnedFd,
    output: &OwnedFd,
    wake: &OwnedFd,
    commands: &Receiver<Impairment>,
    mut netem: Netem,
    counters: &Counters,
    epoch: Instant,
) {
    // SAFETY: prctl on the calling thread with a plain integer argument.
    unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, 1) };
    let now = || epoch.elapsed().as_nanos() as u64;
    let mut buf = vec![0u8; 65_536];
    loop {
        let t = now();
        let mut due = Vec::new();
        while let Some(packet) = netem.dequeue(t) {
            due.push(packet);
        }
        for frame in gro::coalesce(due) {
            if frame.segments > 1 {
                counters
                    .coalesced
                    .fetch_add(frame.segments as u64, std::sync::atomic::Ordering::Relaxed);
            }
            let iov = [
                libc::iovec {
                    iov_base: frame.hdr.as_ptr() as *mut libc::c_void,
                    iov_len: frame.hdr.len(),
                },
                libc::iovec {
                    iov_base: frame.packet.as_ptr() as *mut libc::c_void,
                    iov_len: frame.packet.len(),
                },
            ];
            // SAFETY: writes two live buffers to a TUN descriptor we hold
            // open; the kernel only reads them.
            let n = unsafe { libc::writev(output.as_raw_fd(), iov.as_ptr(), 2) };
            if n < 0 {
                tracing::trace!("wire write: {}", io::Error::last_os_error());
            }
        }
        let timeout = netem.next_due().map(|due| {
            let wait = due.saturating_sub(now());
            libc::timespec {
                tv_sec: (wait / 1_000_000_000) as libc::time_t,
                tv_nsec: (wait % 1_000_000_000) as libc::c_long,
            }
        });
        let mut fds = [
            libc::pollfd {
                fd: input.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: wake.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        let ts = timeout
            .as_ref()
            .map_or(std::ptr::null(), |t| t as *const libc::timespec);
        // SAFETY: two valid pollfds, an optional timespec that outlives the call.
        let ready = unsafe { libc::ppoll(fds.as_mut_ptr(), 2, ts, std::ptr::null()) };
        if ready < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            tracing::error!("wire ppoll: {e}");
            return;
        }
        if fds[1].revents != 0 {
            let mut counter = 0u64;
            // SAFETY: reads the 8-byte eventfd counter into a live u64.
            unsafe { libc::read(wake.as_raw_fd(), (&mut counter as *mut u64).cast(), 8) };
            loop {
                match commands.try_recv() {
                    Ok(spec) => netem.set(&spec),
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => return,
                }
            }
        }
        if fds[0].revents & libc::POLLIN != 0 {
            for _ in 0..BURST {
                // SAFETY: reads at most buf.len() bytes into buf.
                let n =
                    unsafe { libc::read(input.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
                if n <= 0 {
                    break;
                }
                let n = n as usize;
                if n > gro::VNET_HDR_LEN {
                    netem.enqueue(buf[gro::VNET_HDR_LEN..n].to_vec(), now());
                }
            }
        } else if fds[0].revents & (libc::POLLERR | libc::POLLHUP | libc::POLLNVAL) != 0 {
            tracing::debug!("wire input closed");
            return;
        }
    }
}
